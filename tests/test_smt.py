"""The SMT layer encodes networks and targets exactly, and never turns a timeout into a proof."""

from __future__ import annotations

import os
import subprocess
import sys
from fractions import Fraction

from hypothesis import given, settings, strategies as st

from flint import arb

from certify.certificates import smt

from certify.engine import vectorised
from certify.certificates.checker import check
from certify.certificates.refine import Limits, refine
from certify.engine.network import network_from_json
from certify.engine.numbers import EXACT
from certify.target import target_from_function

from test_general_path import tent_network

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir)

small = st.fractions(min_value=-3, max_value=3, max_denominator=8)


def network(weights, dim=2):
    w1, b1, w2, b2, a = weights
    return network_from_json({"format": "mgdl-relu/1", "dim": dim, "meta": {}, "grades": [
        {"layers": [{"weight": [[str(v) for v in row] for row in w1], "bias": [str(v) for v in b1]},
                    {"weight": [[str(v) for v in row] for row in w2], "bias": [str(v) for v in b2]}],
         "readout": {"weight": [str(v) for v in a], "bias": "1/3"}}]})


weights = st.tuples(st.lists(st.lists(small, min_size=2, max_size=2), min_size=3, max_size=3),
                    st.lists(small, min_size=3, max_size=3),
                    st.lists(st.lists(small, min_size=3, max_size=3), min_size=2, max_size=2),
                    st.lists(small, min_size=2, max_size=2),
                    st.lists(small, min_size=2, max_size=2))


@settings(max_examples=25, deadline=None)
@given(weights, st.tuples(small, small))
def test_network_encoding_is_exact(w, x):
    net = network(w)
    xs = [smt.var("x1"), smt.var("x2")]
    outputs, side = smt.network_terms(net.grades, xs)
    out = smt.var("out")
    expected = net.grade_outputs(EXACT, list(x))[0]
    fixed = [xs[0] == smt.const(x[0]), xs[1] == smt.const(x[1]), out == outputs[0]]
    answer = smt.solve(side + fixed, [out], 5)
    assert isinstance(answer, smt.Sat) and answer.model["out"] == expected
    assert isinstance(smt.solve(side + fixed + [outputs[0] != smt.const(expected)], [], 5),
                      smt.Unsat)


def test_piecewise_linear_target_encoding():
    import sympy
    target = target_from_function(lambda a, b: sympy.Abs(a - b) / 4 + sympy.Max(a, 2 * b) - 1,
                                  "pl")
    xs = [smt.var("x1"), smt.var("x2")]
    term = smt.sympy_term(target.expr, dict(zip(target.symbols, xs)))
    for point in [(Fraction(1, 3), Fraction(3, 4)), (Fraction(9, 10), Fraction(1, 5))]:
        y = smt.var("y")
        answer = smt.solve([xs[0] == smt.const(point[0]), xs[1] == smt.const(point[1]),
                            y == term], [y], 5)
        assert answer.model["y"] == target.exact(point)


def test_a_solver_that_gives_up_yields_unknown_never_proved(monkeypatch):
    # every solver call times out: the checker must say unknown (exit 3), not proved
    monkeypatch.setattr(smt, "solve", lambda *a, **k: smt.Unknown("timeout"))
    target = target_from_function(lambda x: x, "identity")
    report = check(target, tent_network(Fraction(3, 10), Fraction(1, 10)), falsify=False,
                   regions=False)       # the solver path (the regions path needs no solver)
    g = report.grades[-1]
    assert g.monotone == "unknown" and g.no_overshoot == "unknown"
    assert report.verdict == "unknown" and report.exit_status == 3


def test_budget_spent_is_unknown():
    target = target_from_function(lambda x: x, "identity")
    net = tent_network(Fraction(3, 10), Fraction(1, 10))
    root = ((Fraction(0),), (Fraction(1),))
    terms = lambda xs: (smt.const(0), smt.const(1), [])      # g = 1 > 2 e somewhere
    outcome = refine(target, net, 2, "monotone", [root], lambda xs: [], terms,
                     Limits(timeout=5, queries=0))
    assert outcome.status == "unknown" and "budget" in outcome.reasons[0]


def test_claim_violation_matches_the_pointwise_definition():
    for g, r, mono, over in [(1, 1, False, False), (1, Fraction(1, 3), True, True),
                             (1, Fraction(2, 3), False, True), (-1, Fraction(-2, 3), False, True),
                             (0, 5, False, False)]:
        for claim, expected in (("monotone", mono), ("no_overshoot", over)):
            formula = smt.claim_violation(claim, smt.const(r), smt.const(0), smt.const(g))
            answer = smt.solve([formula], [], 5)
            assert isinstance(answer, smt.Sat) == expected, (claim, g, r)


def test_a_failing_enclosure_yields_unknown_not_a_crash(monkeypatch):
    from certify.construction import build
    target = target_from_function(lambda x: x * x, "square")
    network = build(target, 4)
    real = type(target).mean_value

    def failing(self, lo, hi):
        if lo[0] >= Fraction(1, 2):
            raise ArithmeticError("no finite enclosure")
        return real(self, lo, hi)
    monkeypatch.setattr(type(target), "mean_value", failing)
    real_balls = type(target).box_balls

    def failing_balls(self, mid, box):         # the vectorised path's enclosures of f
        if box[0] >= arb(1) / 2:
            raise ArithmeticError("no finite enclosure")
        return real_balls(self, mid, box)
    monkeypatch.setattr(type(target), "box_balls", failing_balls)
    real_many = type(target).boxes_balls

    def failing_many(self, mids, sides):       # ... and of many sub-boxes at once
        if any(b >= arb(1) / 2 for b in sides[0]):
            raise ArithmeticError("no finite enclosure")
        return real_many(self, mids, sides)
    monkeypatch.setattr(type(target), "boxes_balls", failing_many)
    vectorised.clear_cache()                   # forget what the build enclosed
    report = check(target, network)
    assert report.verdict == "unknown" and report.exit_status == 3
    bad = [g for g in report.grades if g.path == "none"]
    assert bad and all(g.monotone == "unknown" and g.sup_upper is None for g in bad)
    assert all(lp.status == "unknown" for g in bad for lp in g.lp)
    report.to_json()                 # serialisable with the missing bounds
    from certify.certificates.report import plain_row
    [plain_row(g) for g in report.grades]


def test_z3_is_imported_at_the_first_solver_question_only():
    """A check that asks no solver question does not import z3; the first formula does."""
    code = ("import sys; from certify.certificates import checker, smt; "
            "assert 'z3' not in sys.modules; x = smt.var('x'); "
            "assert 'z3' in sys.modules and smt.z3 is sys.modules['z3']; "
            "assert isinstance(smt.solve([x > smt.const(1)], [x], 5), smt.Sat)")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
