"""This toolkit's construction on the example targets, `certify build`, and network files.

- every grade has width <= 3d+2 and its exact output is Σ c_z φ_z of the hats in `meta`;
- Lemma 1 (no overshoot) at a few thousand exact rational points: g_k lies between 0 and
  e_{k-1}; transcendental targets are enclosed in Arb balls, and a ball that decides a
  violation fails the test (undecided comparisons are counted and must be rare);
- float sup norms of the residual do not increase from grade to grade;
- `certify build` writes a valid mgdl-relu/1 file or refuses bad input with status 2 and a
  single stderr line; `read_network` / `network_from_json` refuse malformed networks naming
  grade, layer and entry.
"""

from __future__ import annotations

import itertools
import json
import os
import random
from fractions import Fraction as F

import numpy as np
import pytest

from certify.interfaces.cli import run
from certify.construction import CONSTRUCTIONS, DEFAULT_SCHEME, build
from certify.errors import NetworkError, NotExact
from certify.engine.freudenthal import hat
from certify.engine.network import FORMAT, network_from_json, network_to_json, read_network
from certify.engine.numbers import EXACT, ball_bounds
from certify.engine.realize import max_width
from certify.target import load_target

EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "examples")
GRADES = {1: 6, 2: 4, 3: 3}
#: exact rational points per target for Lemma 1 (about 2000 in all)
POINTS = {"sine": 500, "runge": 500, "holder": 500, "pl2d": 220, "peaks2d": 220,
          "smooth3d": 70}
NAMES = sorted(POINTS)


def example_path(name: str) -> str:
    return os.path.join(EXAMPLES, f"{name}.py")


@pytest.fixture(scope="module")
def built() -> dict:
    out = {}
    for name in NAMES:
        target = load_target(example_path(name))
        out[name] = (target, build(target, GRADES[target.dim]))
    return out


def meta_hats(network) -> list[list[tuple[tuple[F, ...], F, F]]]:
    """Per grade, the recorded hats `(z, h, c)` parsed from `meta["levels"]`."""
    out = []
    previous = -1
    for k, level in enumerate(network.meta["levels"]):
        assert level["grade"] == k + 1 and level["level"] > previous
        assert F(level["mesh"]) == F(1, 2 ** level["level"])
        previous = level["level"]
        h = F(level["mesh"])
        out.append([(tuple(F(v) for v in item["node"]), h, F(item["c"]))
                    for item in level["hats"]])
    return out


def sample_points(name: str, dim: int, count: int, finest: int) -> list[tuple[F, ...]]:
    """Corners, nodes and midpoints of the finest grid (faces and kinks of every hat), then
    seeded random rational points with assorted denominators."""
    rng = random.Random(name)
    half = [tuple(F(k, 2 * finest) for k in index)
            for index in itertools.product(range(2 * finest + 1), repeat=dim)]
    points = list(itertools.product((F(0), F(1)), repeat=dim))
    points += rng.sample(half, min(len(half), count // 4))
    if name == "holder":
        points.append((F(1, 3),))                      # the cusp: f = 0 exactly
    while len(points) < count:
        q = rng.choice([3, 7, 10, 12, 96, rng.randrange(2, 2000)])
        points.append(tuple(F(rng.randrange(0, q + 1), q) for _ in range(dim)))
    return points


def f_bounds(target, x) -> tuple[F, F]:
    """Exact `(lo, hi)` with `lo <= f(x) <= hi`: exact where f has a rational value there
    (pl2d through `target.exact`), otherwise the end points of a rigorous Arb ball."""
    if target.kind != "general":
        value = target.exact(x)
        return value, value
    try:
        value = F(target.evaluate(EXACT, x))
        return value, value
    except NotExact:
        return ball_bounds(target.ball(x))


def lemma1(g: F, lo: F, hi: F) -> str:
    """Is `g` between 0 and `e` for every `e` in `[lo, hi]`?  "ok" when proved for all of
    them, "violated" when it fails for all of them, else "undecided"."""
    if min(F(0), hi) <= g <= max(F(0), lo):
        return "ok"
    if g < min(F(0), lo) or g > max(F(0), hi):
        return "violated"
    return "undecided"


# --------------------------------------------------------------------------- structure

@pytest.mark.parametrize("name", NAMES)
def test_structure_and_width(built, name):
    target, network = built[name]
    d = target.dim
    assert network.dim == d and len(network.grades) == GRADES[d]
    assert network.meta["construction"] == CONSTRUCTIONS[DEFAULT_SCHEME]
    inputs = d
    for k, grade in enumerate(network.grades, start=1):
        assert grade.width <= max_width(d) == 3 * d + 2, f"grade {k}"
        assert all(layer.width <= max_width(d) for layer in grade.layers), f"grade {k}"
        for layer in grade.layers:
            assert layer.inputs == inputs, f"grade {k}: shapes do not chain"
            inputs = layer.width
        assert len(grade.readout_weight) == grade.features
    assert all(len(level) > 0 for level in meta_hats(network)), "a wasted grade"


@pytest.mark.parametrize("name", NAMES)
def test_outputs_match_meta_and_lemma1(built, name):
    target, network = built[name]
    d, grades = target.dim, len(network.grades)
    levels = meta_hats(network)
    finest = int(1 / F(network.meta["levels"][-1]["mesh"]))
    points = sample_points(name, d, POINTS[name], finest)
    nonzero = ball_checks = undecided = 0
    for x in points:
        outs = network.exact_outputs(x)
        assert len(outs) == grades
        for k, level in enumerate(levels):
            expected = sum((c * hat(z, h, x) for z, h, c in level), F(0))
            assert outs[k] == expected, f"{name}: grade {k + 1} at x={x}"
        lo, hi = f_bounds(target, x)
        approx = F(0)
        for k, g in enumerate(outs, start=1):
            e_lo, e_hi = lo - approx, hi - approx       # encloses e_{k-1}(x) = f - F_{k-1}
            verdict = lemma1(g, e_lo, e_hi)
            assert verdict != "violated", \
                f"{name}: grade {k} overshoots at x={x}: g={g}, e_prev in [{e_lo}, {e_hi}]"
            if lo == hi:                                # exact: e_k between 0 and e_{k-1}
                e_new = e_lo - g
                assert min(F(0), e_lo) <= e_new <= max(F(0), e_lo), (name, k, x)
                assert verdict == "ok"
            elif g:
                ball_checks += 1
                undecided += verdict == "undecided"
            nonzero += g != 0
            approx += g
    assert nonzero >= len(points) // 10, f"{name}: too few points see a hat"
    assert undecided <= max(1, ball_checks // 100), \
        f"{name}: {undecided} of {ball_checks} ball comparisons undecided"


@pytest.mark.parametrize("name", NAMES)
def test_float_sup_norms_nonincreasing(built, name):
    target, network = built[name]
    side = {1: 2049, 2: 129, 3: 25}[target.dim]
    axis = np.linspace(0.0, 1.0, side)
    points = np.array(list(itertools.product(axis, repeat=target.dim)), dtype=float)
    f = target.floats(points)
    residuals = f[:, None] - np.cumsum(network.outputs_floats(points), axis=1)
    residuals = np.concatenate([f[:, None], residuals], axis=1)
    sup = np.abs(residuals).max(axis=0)
    assert np.all(np.isfinite(sup))
    assert np.all(sup[1:] <= sup[:-1] + 1e-12), f"{name}: sup norms {sup}"
    assert np.all(np.abs(residuals[:, 1:]) <= np.abs(residuals[:, :-1]) + 1e-9)
    assert sup[-1] < sup[0], f"{name}: no grade reduced the sup norm {sup}"


# --------------------------------------------------------------------------- certify build

def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("certify: error: ") and err.endswith("\n"), err
    assert err.count("\n") == 1, f"expected one line on stderr, got {err!r}"
    return err


def test_build_writes_valid_network(tmp_path, capsys, built):
    out = tmp_path / "sine.json"
    assert run(["build", "--target", example_path("sine"), "--grades", "6",
                "-o", str(out)]) == 0
    assert "error" not in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["sine.json"]     # no temp files left
    data = json.loads(out.read_text())
    assert data["format"] == FORMAT == "mgdl-relu/1" and data["dim"] == 1
    network = read_network(str(out))
    assert len(network.grades) == 6 and all(g.width <= max_width(1) for g in network.grades)
    assert network_from_json(data).meta == network.meta
    _, reference = built["sine"]
    assert network_to_json(network) == network_to_json(reference)
    for x in [(F(0),), (F(1, 3),), (F(5, 7),), (F(1),)]:
        assert network.exact_outputs(x) == reference.exact_outputs(x)


BAD_TARGETS = [
    ("recip", "def f(x1):\n    return 1/x1\n", ["1/x1", "x1=0"]),
    ("log", "from sympy import log\ndef f(x1):\n    return log(x1)\n", ["log(x1)"]),
    ("sign", "from sympy import sign\ndef f(x1):\n    return sign(x1)\n", ["sign(x1)"]),
    ("floor", "from sympy import floor\ndef f(x1):\n    return floor(x1)\n", ["floor(x1)"]),
    ("heaviside", "from sympy import Heaviside\ndef f(x1):\n    return Heaviside(x1)\n",
     ["Heaviside(x1)"]),
    ("no_f", "def g(x1):\n    return x1\n", ["does not define f"]),
    ("syntax", "def f(x1)\n    return x1\n", ["syntax error", "line 1"]),
    ("arity0", "def f():\n    return 1\n", ["arity 0"]),
    ("raises", "def f(x1):\n    raise RuntimeError('boom')\n", ["RuntimeError", "boom"]),
    ("sqrt", "from sympy import sqrt, Rational\ndef f(x1):\n"
             "    return sqrt(x1 - Rational(1, 2))\n", ["sqrt(x1 - 1/2)"]),
]


@pytest.mark.parametrize("name, source, expected", BAD_TARGETS, ids=[b[0] for b in BAD_TARGETS])
def test_build_refuses_bad_target(tmp_path, capsys, name, source, expected):
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    out = tmp_path / "out.json"
    assert run(["build", "--target", str(path), "--grades", "2", "-o", str(out)]) == 2
    err = one_error_line(capsys)
    for fragment in expected:
        assert fragment in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{name}.py"]


BAD_USAGE = [
    (["--grades", "0"], "--grades"),
    (["--grades", "2", "--ratio", "1"], "ratio"),
    (["--grades", "2", "--margin", "-1"], "margin"),
    (["--grades", "2", "--margin", "abc"], "abc"),
    (["--grades", "two"], "--grades"),
]


@pytest.mark.parametrize("args, expected", BAD_USAGE, ids=[" ".join(b[0]) for b in BAD_USAGE])
def test_build_refuses_bad_usage(tmp_path, capsys, args, expected):
    out = tmp_path / "out.json"
    assert run(["build", "--target", example_path("sine"), "-o", str(out)] + args) == 2
    assert expected in one_error_line(capsys)
    assert not any(tmp_path.iterdir())


def test_build_refuses_missing_output_directory(tmp_path, capsys):
    out = tmp_path / "missing" / "out.json"
    assert run(["build", "--target", example_path("sine"), "--grades", "2",
                "-o", str(out)]) == 2
    err = one_error_line(capsys)
    assert "does not exist" in err and "missing" in err
    assert not any(tmp_path.iterdir())


# --------------------------------------------------------------------------- network files

def base_document() -> dict:
    """A valid two-grade network on [0,1]^2: grade 1 is 2 -> 3, grade 2 is 3 -> 2 -> 1."""
    return {
        "format": FORMAT, "dim": 2,
        "grades": [
            {"layers": [{"weight": [["1", "0"], ["0", "1"], ["2", "-1/3"]],
                         "bias": ["0", "0", "1/2"]}],
             "readout": {"weight": ["0", "0", "1"], "bias": "0"}},
            {"layers": [{"weight": [["1", "0", "0"], ["0", "1", 0.5]], "bias": ["0", 0]},
                        {"weight": [["1", "-1"]], "bias": ["1/4"]}],
             "readout": {"weight": ["2"], "bias": "-1"}},
        ],
        "meta": {},
    }


def test_base_document_is_valid():
    network = network_from_json(base_document())
    x = (F(1, 2), F(3, 4))
    g1 = max(2 * x[0] - x[1] / 3 + F(1, 2), F(0))
    g2 = 2 * max(x[0] - x[1] + F(1, 4), F(0)) - 1
    assert network.exact_outputs(x) == [g1, g2]


def _set(path, value):
    def mutate(doc):
        node = doc
        for key in path[:-1]:
            node = node[key]
        if value is _DELETE:
            del node[path[-1]]
        else:
            node[path[-1]] = value
    return mutate


_DELETE = object()
W21 = ("grades", 1, "layers", 0, "weight")
BAD_NETWORKS = [  # id, mutation, fragments the message must contain
    ("nan-string", _set(W21 + (1, 2), "nan"),
     ["grade 2, layer 1, weight[1][2]", "not a finite number"]),
    ("nan-float", _set(W21 + (1, 2), float("nan")),
     ["grade 2, layer 1, weight[1][2]", "not a finite number"]),
    ("infinity", _set(("grades", 0, "layers", 0, "bias", 2), "Infinity"),
     ["grade 1, layer 1, bias[2]", "not a finite number"]),
    ("minus-inf-float", _set(("grades", 1, "layers", 1, "bias", 0), float("-inf")),
     ["grade 2, layer 2, bias[0]", "not a finite number"]),
    ("ragged-row", _set(W21 + (1,), ["0", "1"]),
     ["grade 2, layer 1, weight[1]", "expected 3 entries, got 2"]),
    ("bias-length", _set(("grades", 1, "layers", 1, "bias"), ["0", "0"]),
     ["grade 2, layer 2, bias", "expected 1 entries, got 2"]),
    ("no-chain", _set(W21, [["1", "0"], ["0", "1"]]),
     ["grade 2, layer 1, weight[0]", "expected 3 entries, got 2"]),
    ("no-chain-in-grade", _set(("grades", 1, "layers", 1, "weight"), [["1", "-1", "0"]]),
     ["grade 2, layer 2, weight[0]", "expected 2 entries, got 3"]),
    ("format", _set(("format",), "mgdl-relu/2"), ["format", "mgdl-relu/1"]),
    ("dim-0", _set(("dim",), 0), ["dim", "positive integer"]),
    ("dim-chain", _set(("dim",), 3), ["grade 1, layer 1, weight[0]", "expected 3 entries"]),
    ("grades-missing", _set(("grades",), _DELETE), ["grades", "non-empty list"]),
    ("grades-empty", _set(("grades",), []), ["grades", "non-empty list"]),
    ("layers-empty", _set(("grades", 1, "layers"), []), ["grade 2", "layers"]),
    ("readout-length", _set(("grades", 1, "readout", "weight"), ["1", "1"]),
     ["grade 2, readout weight", "expected 1 entries, got 2"]),
    ("readout-missing", _set(("grades", 0, "readout"), _DELETE), ["grade 1, readout"]),
    ("not-a-number", _set(W21 + (0, 1), "abc"),
     ["grade 2, layer 1, weight[0][1]", "'abc' is not a rational number"]),
    ("zero-denominator", _set(("grades", 0, "layers", 0, "weight", 2, 1), "1/0"),
     ["grade 1, layer 1, weight[2][1]", "not a rational number"]),
    ("readout-bias", _set(("grades", 1, "readout", "bias"), "1/x"),
     ["grade 2, readout bias", "not a rational number"]),
    ("boolean", _set(W21 + (0, 0), True), ["grade 2, layer 1, weight[0][0]"]),
    ("null", _set(W21 + (0, 0), None), ["grade 2, layer 1, weight[0][0]"]),
]


@pytest.mark.parametrize("mutation, fragments", [b[1:] for b in BAD_NETWORKS],
                         ids=[b[0] for b in BAD_NETWORKS])
def test_network_from_json_refuses(mutation, fragments):
    doc = base_document()
    mutation(doc)
    with pytest.raises(NetworkError) as info:
        network_from_json(doc)
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message


@pytest.mark.parametrize("literal, where", [
    ("NaN", ("grades", 1, "layers", 0, "weight", 1, 2)),
    ("Infinity", ("grades", 0, "layers", 0, "bias", 1)),
    ("-Infinity", ("grades", 1, "readout", "weight", 0)),
])
def test_read_network_refuses_json_constants(tmp_path, literal, where):
    """JSON `NaN` / `Infinity` literals (not strings) in a file are refused by position."""
    doc = base_document()
    _set(where, "PLACEHOLDER")(doc)
    path = tmp_path / "net.json"
    path.write_text(json.dumps(doc).replace('"PLACEHOLDER"', literal))
    with pytest.raises(NetworkError) as info:
        read_network(str(path))
    message = str(info.value)
    grade = f"grade {where[1] + 1}"
    assert message.startswith(grade) and literal in message and "not a finite" in message
    if "layers" in where:
        assert f"{grade}, layer {where[3] + 1}" in message


def test_read_network_round_trip_and_bad_files(tmp_path):
    path = tmp_path / "net.json"
    path.write_text(json.dumps(base_document()))
    network = read_network(str(path))
    assert network.exact_outputs((F(1, 3), F(1, 5))) == \
        network_from_json(base_document()).exact_outputs((F(1, 3), F(1, 5)))
    path.write_text('{"format": "mgdl-relu/1", "dim": 1')
    with pytest.raises(NetworkError, match="not valid JSON"):
        read_network(str(path))
    with pytest.raises(NetworkError, match="cannot read network file"):
        read_network(str(tmp_path / "absent.json"))


# --------------------------------------------------------------------------- schemes, levels

def _sympy_target(expr_of, name):
    from certify.target import target_from_function
    return target_from_function(expr_of, name)


def test_surplus_is_second_order_on_sine_and_skips_zero_levels(built):
    """sin 2πx: levels 0 and 1 have no nonzero surplus (the nodes are zeros of f) and level 2
    no nonzero balanced coefficient (every star touches a zero), so grade 1 realises level 3,
    where `balanced` starts; every later grade halves the mesh and quarters the sup error."""
    target, network = built["sine"]
    levels = network.meta["levels"]
    assert levels[0]["level"] == 3 and levels[0]["skipped"] == [0, 1, 2]
    assert [level["level"] for level in levels] == list(range(3, 3 + len(levels)))
    axis = np.linspace(0.0, 1.0, 8193)[:, None]
    err = np.abs(target.floats(axis)[:, None] - np.cumsum(network.outputs_floats(axis), axis=1))
    sup = err.max(axis=0)
    assert all(b < a / 3 for a, b in zip(sup[1:], sup[2:])), sup        # second order
    h = 2.0 ** -levels[-1]["level"]
    assert sup[-1] <= 3 * (h * h / 8 * 4 * np.pi ** 2)                  # within 3x of interp


def test_residual_zero_gives_trivial_grades_and_says_why():
    from sympy import Rational
    target = _sympy_target(lambda x1: x1 / 2 + Rational(1, 4), "affine")
    network = build(target, 3)
    levels = network.meta["levels"]
    assert levels[0]["level"] == 0 and len(levels[0]["hats"]) == 2     # interpolated at once
    # "residual is zero" when the star bounds are exactly 0; the vectorised enclosures
    # widen outward, so then the zero levels run out the level budget instead
    assert levels[1]["trivial"] in ("residual is zero", "level budget spent")
    assert levels[2]["trivial"] == levels[1]["trivial"]
    for x in [(F(0),), (F(1, 3),), (F(1),)]:
        assert sum(network.exact_outputs(x)) == x[0] / 2 + F(1, 4)


def test_tolerance_skips_nodes_and_spends_the_level_budget():
    target = load_target(example_path("sine"))
    network = build(target, 2, tol=2)              # every star residual is within 2 of 0
    levels = network.meta["levels"]
    assert all(not level["hats"] and level["trivial"] == "level budget spent"
               for level in levels)
    assert network.meta["tol"] == "2"
    some = build(target, 3, tol=F(1, 100))
    full = build(target, 3)
    hats = [len(level["hats"]) for level in some.meta["levels"]]
    assert 0 < sum(hats) and all(hats)
    assert sum(hats) <= sum(len(level["hats"]) for level in full.meta["levels"])


def test_mutation_past_the_surplus_is_refuted():
    """A surplus coefficient pushed past the residual at its node overshoots there: the
    checker refutes no-overshoot with a witness at the node, and (G1) past twice it."""
    import sys
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from checker_helpers import certainly_violated, hat_of, residual_at_hat, set_coefficient
    from certify.certificates.checker import check
    target = load_target(example_path("sine"))
    network = build(target, 3)
    assert check(target, network).verdict == "proved"
    r = residual_at_hat(target, network, 3, 0)
    z, _, _, _ = hat_of(network, 3, 0)
    for factor, claim in ((F(17, 16), "no_overshoot"), (F(5, 2), "monotone")):
        bad = set_coefficient(network, 3, 0, factor * r)
        report = check(target, bad)
        grade = report.grades[2]
        assert getattr(grade, claim) == "refuted"
        witness = (grade.no_overshoot_counterexample or grade.counterexample
                   if claim == "no_overshoot" else grade.counterexample)
        if claim == "monotone":
            assert report.verdict == "refuted" and report.exit_status == 1
        assert certainly_violated(target, bad, 3, witness.x, claim)


def test_build_scheme_and_tol_flags(tmp_path, capsys):
    out = tmp_path / "net.json"
    assert run(["build", "--target", example_path("sine"), "--grades", "2", "--scheme",
                "balanced", "--tol", "1/1000", "-o", str(out), "--quiet"]) == 0
    meta = read_network(str(out)).meta
    assert meta["scheme"] == "balanced" and meta["tol"] == "1/1000"
    assert run(["build", "--target", example_path("sine"), "--grades", "2", "--scheme",
                "best", "-o", str(tmp_path / "x.json")]) == 2
    assert "--scheme" in one_error_line(capsys)
    assert run(["build", "--target", example_path("sine"), "--grades", "2", "--tol", "-1",
                "-o", str(tmp_path / "x.json")]) == 2
    assert "tol" in one_error_line(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.json"]


def test_surplus_falls_back_to_balanced_where_it_would_end_above_it():
    """Next to a Hölder cusp in d = 3 the surplus trajectory ends (3 grades) with a larger
    certified sup bound than `balanced`: the build returns the balanced network and says why."""
    target = load_target(os.path.join(os.path.dirname(__file__), "targets", "cusp3d.py"))
    network = build(target, 3)
    assert network.meta["scheme"] == "balanced" and "fallback" in network.meta
    assert "surplus ended with certified sup" in network.meta["fallback"]
    plain = build(target, 3, scheme="balanced")
    assert network.meta["levels"] == plain.meta["levels"]
    assert "fallback" not in plain.meta
