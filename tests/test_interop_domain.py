"""`--domain`: a target and a network on [-1, 1]^2 are certified there; a network wrong on
purpose is refuted with a witness in [-1, 1]^2 that re-checks at the user's point."""

from __future__ import annotations

import json
from fractions import Fraction

import pytest

from certify.interfaces.cli import run
from certify.construction import build
from certify.interfaces.domain import Domain
from certify.errors import UsageError
from certify.engine.network import Grade, Network, read_network, write_network
from certify.engine.realize import Layer
from certify.target import load_target

TARGET = """from sympy import Abs, Max
def f(x1, x2):
    return Abs(x1 - x2 / 2) / 2 + Max(x1, 0) / 4
"""


def _user_f(x):
    x1, x2 = x
    return abs(x1 - x2 / 2) / 2 + max(x1, 0) / 4


@pytest.fixture(scope="module")
def box_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("box")
    target = folder / "t.py"
    target.write_text(TARGET)
    net = folder / "net.json"
    assert run(["build", "--target", str(target), "--grades", "3", "--domain", "-1", "1",
                "-o", str(net), "--quiet"]) == 0
    return target, net


def test_built_network_lives_on_the_box(box_files):
    target, net = box_files
    network = read_network(str(net))
    assert network.meta["domain"] == [["-1", "1"], ["-1", "1"]]
    # it is the construction for f o phi on [0,1]^2, read in the user's coordinates
    domain = Domain.parse([Fraction(-1), Fraction(1)])
    unit = build(domain.load_target(str(target)), 3)
    for x in [(Fraction(1), Fraction(-1)), (Fraction(-1, 3), Fraction(2, 7)), (0, 0)]:
        assert network.exact_outputs(x) == unit.exact_outputs(domain.to_unit(x))


def test_certified_on_the_box(box_files, tmp_path):
    target, net = box_files
    report = tmp_path / "r.json"
    assert run(["check", "--target", str(target), "--network", str(net), "--domain", "-1",
                "1", "--report", str(report), "--quiet"]) == 0
    data = json.loads(report.read_text())
    assert data["verdict"] == "proved" and data["domain"] == [["-1", "1"], ["-1", "1"]]
    for g in data["grades"]:
        assert all(-1 <= Fraction(v) <= 1 for v in g["sup_witness"])
    # zero levels are skipped, so grade 1 already does something: by (G1) its residual's
    # L^1 norm on [-1, 1]^2 is at most that of f, the exact value 4/3
    lp1 = next(lp for lp in data["grades"][0]["lp"] if lp["p"] == "1")
    assert Fraction(lp1["norm_lower"]) <= Fraction(4, 3)
    assert Fraction(lp1["norm_lower"]) <= Fraction(lp1["norm_upper"])


def test_wrong_network_refuted_with_a_witness_in_the_box(box_files, tmp_path):
    target, net = box_files
    network = read_network(str(net))
    last = network.grades[-1]
    wrong = Grade(last.layers, tuple(8 * w for w in last.readout_weight), 8 * last.readout_bias)
    bad = Network(network.dim, network.grades[:-1] + [wrong], network.meta)
    path = tmp_path / "bad.json"
    write_network(bad, str(path))
    report = tmp_path / "r.json"
    assert run(["check", "--target", str(target), "--network", str(path), "--domain", "-1",
                "1", "--report", str(report), "--quiet"]) == 1
    data = json.loads(report.read_text())
    g = data["grades"][-1]
    assert g["monotone"] == "refuted"
    x = tuple(Fraction(v) for v in g["counterexample"]["x"])
    assert all(-1 <= v <= 1 for v in x)
    outs = bad.exact_outputs(x)
    e_prev = _user_f(x) - sum(outs[:-1])
    assert abs(e_prev - outs[-1]) > abs(e_prev)


def test_domain_maps_are_exact_and_inverse():
    d = Domain.parse([Fraction(-1), Fraction(1), Fraction(0), Fraction(3)])
    u = (Fraction(1, 3), Fraction(2, 5))
    assert d.to_user(u) == (Fraction(-1, 3), Fraction(6, 5))
    assert d.to_unit(d.to_user(u)) == u
    assert d.volume(2) == 6
    net = Network(2, [Grade([Layer(((Fraction(1), Fraction(-2)),), (Fraction(1, 2),))],
                            (Fraction(1),), Fraction(0))])
    unit = d.network_in(net)
    assert unit.exact_outputs(u) == net.exact_outputs(d.to_user(u))
    back = d.network_out(unit)
    assert back.grades[0].layers[0].weight == net.grades[0].layers[0].weight


def test_domain_target_composition(tmp_path):
    path = tmp_path / "t.py"
    path.write_text("from sympy import log\nLIPSCHITZ = 1\ndef f(x1):\n    return log(x1)\n")
    target = Domain.parse([Fraction(1), Fraction(3)]).load_target(str(path))
    assert target.lipschitz == 2          # L times the box's width
    assert abs(float(target.ball([Fraction(1, 2)]).mid()) - 0.6931471805599453) < 1e-12


@pytest.mark.parametrize("values,needle", [([1], "2 or 2[*]d"), ([1, 1], "empty"),
                                           ([0, 1, 0, 1, 0, 1], "3 intervals")])
def test_bad_domains(values, needle, tmp_path):
    with pytest.raises(UsageError, match=needle):
        d = Domain.parse([Fraction(v) for v in values])
        d.box(2)


def test_bad_domain_on_the_command_line(box_files, capsys, tmp_path):
    target, net = box_files
    report = tmp_path / "r.json"
    assert run(["check", "--target", str(target), "--network", str(net), "--domain", "1",
                "--report", str(report)]) == 2
    assert "--domain" in capsys.readouterr().err and not report.exists()
    assert load_target(str(target)).dim == 2
