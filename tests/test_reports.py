"""Reports a script can trust.

- Every refutation re-read from the report's own fields with plain `fractions` code shows
  its violation; at the witness, `f` is re-evaluated with `mpmath` and the network with
  plain `Fraction` arithmetic from its JSON (no `certify` code), and the values lie in the
  reported enclosures.
- A trivial grade (`g ≡ 0`, even when its weights are not zero) owes no (G2) decrease:
  status "not owed", never "proved" and never "refuted".
- Sup bounds are carried forward under (G1).
"""

from __future__ import annotations

import json
from fractions import Fraction

import mpmath
import pytest
import sympy

from certify.certificates.checker import check
from certify.interfaces.cli import run
from certify.construction import build
from certify.engine.network import Grade, Network, network_to_json, write_network
from certify.engine.realize import Hat, grade_layers, readout
from certify.target import load_target, target_from_function

from checker_helpers import example, residual_at_hat, set_coefficient, with_readout
from conftest import WITNESSES
from test_general_path import P, tent_network


# --------------------------------------------------------------------------- plain re-reading

def plain_outputs(doc: dict, x) -> list[Fraction]:
    """Grade outputs of an `mgdl-relu/1` document at `x`, in plain `Fraction` arithmetic."""
    h = [Fraction(v) for v in x]
    out = []
    for grade in doc["grades"]:
        for layer in grade["layers"]:
            h = [max(sum((Fraction(w) * v for w, v in zip(row, h)), Fraction(0)) + Fraction(b),
                     Fraction(0)) for row, b in zip(layer["weight"], layer["bias"])]
        read = grade["readout"]
        out.append(sum((Fraction(w) * v for w, v in zip(read["weight"], h)), Fraction(0))
                   + Fraction(read["bias"]))
    return out


def assert_witness_shows_violation(w: dict) -> None:
    """From the report's fields alone: the enclosures separate as the claim requires."""
    prev_up, new_down = Fraction(w["abs_e_prev"]), Fraction(w["abs_e_new"])
    prev_lo, prev_hi = map(Fraction, w["abs_e_prev_interval"])
    new_lo, new_hi = map(Fraction, w["abs_e_new_interval"])
    gap, g = Fraction(w["gap"]), Fraction(w["g"])
    assert 0 <= prev_lo <= prev_hi <= prev_up and new_down <= new_lo <= new_hi
    assert gap > 0 and g != 0
    if w["exact"] and prev_lo == prev_hi:      # an exact value written exactly
        assert prev_up == prev_lo
    e_lo, e_hi = map(Fraction, w["e_prev_interval"])
    n_lo, n_hi = map(Fraction, w["e_new_interval"])
    assert e_lo <= e_hi and n_lo <= n_hi
    if w["claim"] == "monotone":
        assert new_down > prev_up                 # |e_new| > |e_prev|, visibly
        assert new_lo - prev_hi >= gap
    else:
        assert w["claim"] == "no_overshoot"       # e_new on the other side of 0 from g
        assert (n_hi <= -gap) if g > 0 else (n_lo >= gap)


def assert_independently_true(w: dict, expr, symbols, doc: dict) -> None:
    """Re-evaluate the witness with mpmath (f) and plain fractions (the network)."""
    x = [Fraction(v) for v in w["x"]]
    assert all(0 <= v <= 1 for v in x)
    outs = plain_outputs(doc, x)
    k = next(i for i in range(1, len(outs) + 1) if Fraction(w["g"]) == outs[i - 1])
    previous = sum(outs[:k - 1], Fraction(0))
    with mpmath.workdps(60):
        fx = sympy.lambdify(symbols, expr, "mpmath")(*[mpmath.mpf(v.numerator) / v.denominator
                                                       for v in x])
        e_prev = mpmath.mpf(fx) - mpmath.mpf(previous.numerator) / previous.denominator
        g = mpmath.mpf(outs[k - 1].numerator) / outs[k - 1].denominator
        slack = mpmath.mpf(10) ** -50
        lo, hi = (mpmath.mpf(Fraction(v).numerator) / Fraction(v).denominator
                  for v in w["e_prev_interval"])
        assert lo - slack <= e_prev <= hi + slack
        if w["claim"] == "monotone":
            assert abs(e_prev - g) > abs(e_prev)
        else:
            assert g * (e_prev - g) < 0


def refuted_cases():
    """(name, target, network) wrong on purpose: both claims, exact and enclosed f, both paths."""
    sine = load_target(example("sine"))
    pl2d = load_target(example("pl2d"))
    s6 = build(sine, 6)
    p3 = build(pl2d, 3)
    r = residual_at_hat(sine, s6, 6, 0)
    return [
        ("sine past 2e", sine, set_coefficient(s6, 6, 0, Fraction(5, 2) * r)),
        ("sine past e", sine, set_coefficient(s6, 6, 0, Fraction(6, 5) * r)),
        ("sine bias +1e-9", sine, with_readout(s6, 6, 1, Fraction(1, 10 ** 9))),
        ("pl2d past 2e", pl2d,
         set_coefficient(p3, 3, 0, Fraction(5, 2) * residual_at_hat(pl2d, p3, 3, 0))),
    ]


@pytest.mark.parametrize("falsify", [True, False])
def test_refutations_show_their_violation(falsify):
    seen = 0
    for name, target, network in refuted_cases():
        report = check(target, network, falsify=falsify)
        assert "refuted" in {g.monotone for g in report.grades} | {
            g.no_overshoot for g in report.grades}, name
        doc = json.loads(json.dumps(network_to_json(network)))
        for grade in report.to_json()["grades"]:
            for key in ("counterexample", "no_overshoot_counterexample"):
                w = grade[key]
                if w is None:
                    continue
                seen += 1
                assert_witness_shows_violation(w)
                assert_independently_true(w, target.expr, target.symbols, doc)
    assert seen >= 4


def test_general_path_refutation_shows_its_violation(tmp_path):
    path = tmp_path / "identity.py"
    path.write_text("def f(x1):\n    return x1\n")
    target = load_target(str(path))
    network = tent_network(P + Fraction(1, 10 ** 7), Fraction(1, 10 ** 4))
    report = check(target, network)
    w = report.to_json()["grades"][-1]["counterexample"]
    assert_witness_shows_violation(w)
    assert w["exact"]
    assert_independently_true(w, target.expr, target.symbols,
                              json.loads(json.dumps(network_to_json(network))))


def test_printed_witness_shows_the_gap(tmp_path, capsys):
    target = load_target(example("sine"))
    bad = with_readout(build(target, 6), 6, 1, Fraction(1, 10 ** 9))
    path = tmp_path / "bad.json"
    write_network(bad, str(path))
    assert run(["check", "--target", example("sine"), "--network", str(path)]) == 1
    line = next(s for s in capsys.readouterr().out.splitlines() if "fails at x" in s)
    assert "gap >= " in line
    prev, new = line.split("|e_prev| ")[1].split(" |e_new|")[0].split(" < ")
    assert Fraction(new.split()[0]) > Fraction(prev.split()[-1])


def test_zz_every_witness_of_the_session_shows_its_violation():
    """Every counterexample any test of this session reported (recorded by conftest)."""
    assert WITNESSES
    for w in WITNESSES:
        assert_witness_shows_violation(w)


# --------------------------------------------------------------------------- trivial grades

def one_grade(dim: int, hats, bias) -> Network:
    weight, _ = readout(dim)
    return Network(dim, [Grade(grade_layers(dim, hats, dim), weight, Fraction(bias))], {})


def partition_of_unity() -> Network:
    """φ_0 + φ_1 - 1 ≡ 0 on [0, 1], with nonzero weights."""
    one = Fraction(1)
    return one_grade(1, [Hat((Fraction(0),), one, one), Hat((one,), one, one)], -1)


def opposite_hats() -> Network:
    """c φ_z - c φ_z at one node ≡ 0."""
    z, h, c = (Fraction(1, 2),), Fraction(1, 2), Fraction(1, 3)
    return one_grade(1, [Hat(z, h, c), Hat(z, h, -c)], 0)


def then_half_hat(network: Network) -> Network:
    """The trivial grade followed by `φ_{1/4}/2` (mesh 1/8): below sin 2πx >= 0.7 on its star."""
    weight, _ = readout(1)
    hat = Hat((Fraction(1, 4),), Fraction(1, 8), Fraction(1, 2))
    inputs = network.grades[0].features
    return Network(1, list(network.grades) + [
        Grade(grade_layers(1, [hat], inputs), weight, Fraction(0))], {})


@pytest.mark.parametrize("network", [partition_of_unity(), opposite_hats()],
                         ids=["partition-of-unity", "opposite-hats"])
@pytest.mark.parametrize("f", [lambda x1: sympy.Rational(1, 2), lambda x1: sympy.sin(x1)],
                         ids=["constant", "sine"])
def test_trivial_grade_owes_no_decrease(network, f):
    target = target_from_function(f, "t")
    report = check(target, network)
    g = report.grades[0]
    assert g.nontrivial is False
    assert g.monotone == "proved"
    assert [lp.status for lp in g.lp] == ["not owed"] * len(g.lp)
    assert all(lp["status"] == "not owed" for lp in g.to_json()["lp"])
    assert g.verdict == "proved" and report.verdict == "proved" and report.exit_status == 0


def test_trivial_then_nontrivial_grade():
    target = load_target(example("sine"))
    report = check(target, then_half_hat(opposite_hats()))
    first, second = report.grades
    assert [lp.status for lp in first.lp] == ["not owed"] * 2
    assert second.nontrivial and [lp.status for lp in second.lp] == ["proved"] * 2
    assert report.verdict == "proved"


# --------------------------------------------------------------------------- sup bounds

def test_sup_bounds_carried_forward_under_g1():
    target = load_target(example("peaks2d"))
    report = check(target, build(target, 4))
    sups = [g.sup_upper for g in report.grades]
    assert all(g.monotone == "proved" for g in report.grades)
    assert all(b <= a for a, b in zip(sups, sups[1:]))
    assert all(g.sup_lower <= g.sup_upper for g in report.grades)


# --------------------------------------------------------------------------- L^p enclosures

@pytest.mark.parametrize("name", ["sine", "runge", "holder"])
def test_one_dimensional_norms_are_tight_and_contain_the_true_norm(name):
    target = load_target(example(name))
    network = build(target, 6)       # surplus residuals: e_k changes sign inside segments
    report = check(target, network)
    n = int(1 / Fraction(network.meta["levels"][-1]["mesh"]))    # grade 6's grid
    f = sympy.lambdify(target.symbols, target.expr, "mpmath")
    nodes = [Fraction(j, n) for j in range(n + 1)]
    outs = [network.exact_outputs((x,)) for x in nodes]
    for g in report.grades:
        F = [sum(o[:g.grade], Fraction(0)) for o in outs]
        for r in g.lp:
            assert r.norm_upper <= Fraction(1001, 1000) * r.norm_lower, (g.grade, r.p)
            p = int(r.p)
            with mpmath.workdps(30):
                total = mpmath.mpf(0)
                for j in range(n):
                    a, b = nodes[j], nodes[j + 1]
                    slope = (F[j + 1] - F[j]) / (b - a)

                    def e(x, j=j, a=a, slope=slope):
                        return abs(f(x) - (mpmath.mpf(F[j].numerator) / F[j].denominator
                                           + mpmath.mpf(slope.numerator) / slope.denominator
                                           * (x - mpmath.mpf(a.numerator) / a.denominator)))
                    cuts = [a] + [c for c in (Fraction(1, 3),) if a < c < b] + [b]
                    total += mpmath.quad(lambda x: e(x) ** p, [
                        mpmath.mpf(c.numerator) / c.denominator for c in cuts])
                norm = total ** (mpmath.mpf(1) / p)
            assert float(r.norm_lower) * (1 - 1e-9) <= norm <= float(r.norm_upper) * (1 + 1e-9)


def test_two_dimensional_norms_of_an_analytic_target_are_tight():
    target = load_target(example("peaks2d"))
    report = check(target, build(target, 3))       # Taylor models (certify.engine.taylor)
    for g in report.grades:
        for r in g.lp:
            assert 0 < r.norm_lower <= r.norm_upper
            assert r.norm_upper <= Fraction(101, 100) * r.norm_lower, (g.grade, r.p)


def test_piecewise_linear_target_in_two_dimensions_has_exact_norms():
    target = load_target(example("pl2d"))
    report = check(target, build(target, 4))      # grade 4: 2048 triangles
    for g in report.grades:
        for r in g.lp:
            assert r.norm_upper <= Fraction(1001, 1000) * r.norm_lower, (g.grade, r.p)


def test_exact_range_of_a_piecewise_linear_residual_on_a_segment():
    from certify.engine.pl_integral import segment_range
    target = target_from_function(lambda x1: sympy.Abs(x1 - sympy.Rational(1, 3)), "kink")
    assert target.kind == "piecewise-linear"
    half = Fraction(1, 2)
    assert segment_range(target, Fraction(0), half, lambda x: Fraction(x) / 2) == (
        Fraction(-1, 6), Fraction(1, 3))
