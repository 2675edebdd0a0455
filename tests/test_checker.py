"""The checker proves what holds and refutes what does not, with exact witnesses.

Every refutation below is re-checked independently (`checker_helpers.certainly_violated`)
at the reported exact rational point. Networks wrong on purpose are made from correct ones
by editing weights; each check is also run with float sampling switched off, so that the
solver path (counterexample-guided refinement) has to find the violation itself.
"""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import example, given, settings, strategies as st

from certify.certificates.checker import check
from certify.construction import build
from certify.engine.freudenthal import nodes
from certify.target import load_target

from checker_helpers import (certainly_violated, example as example_path, hat_of,
                             largest_ratio, residual_at_hat, set_coefficient, with_readout)

GRADES = {"sine": 6, "runge": 6, "holder": 6, "pl2d": 4, "peaks2d": 4, "smooth3d": 4}


@pytest.fixture(scope="module")
def built():
    cache = {}

    def get(name, grades=None):
        key = (name, grades)
        if key not in cache:
            target = load_target(example_path(name))
            cache[key] = (target, build(target, grades or GRADES[name]))
        return cache[key]
    return get


def assert_refuted(target, network, report, k, claim):
    grade = report.grades[k - 1]
    witness = grade.counterexample if claim == "monotone" else (
        grade.no_overshoot_counterexample or grade.counterexample)
    assert getattr(grade, claim) == "refuted"
    assert witness is not None
    assert certainly_violated(target, network, k, witness.x, claim)
    return witness


@pytest.mark.parametrize("name", sorted(GRADES))
def test_every_example_is_proved(built, name):
    target, network = built(name)
    report = check(target, network)
    assert report.verdict == "proved", [g.to_json() for g in report.grades]
    for g in report.grades:
        assert g.path == "local"
        assert g.monotone == g.no_overshoot == "proved"
        assert g.sup_lower <= g.sup_upper
        # (G2) is proved at a nontrivial grade, "not owed" at a trivial one (g ≡ 0)
        assert all(lp.status == ("proved" if g.nontrivial else "not owed") for lp in g.lp)
        if g.nontrivial:
            assert all(lp.decrease_lower > 0 for lp in g.lp)
    sups = [g.sup_upper for g in report.grades]
    assert all(b <= a for a, b in zip(sups, sups[1:]))     # carried forward under (G1)
    assert sups[-1] < sups[0]


# --------------------------------------------------------------------------- wrong on purpose

@pytest.mark.parametrize("name,k", [("sine", 6), ("pl2d", 3), ("peaks2d", 3)])
@pytest.mark.parametrize("falsify", [True, False])
def test_coefficient_past_twice_the_residual_breaks_g1(built, name, k, falsify):
    target, network = built(name, k)
    r = residual_at_hat(target, network, k, 0)
    bad = set_coefficient(network, k, 0, Fraction(5, 2) * r)
    report = check(target, bad, falsify=falsify)
    assert report.verdict == "refuted" and report.exit_status == 1
    assert_refuted(target, bad, report, k, "monotone")
    assert_refuted(target, bad, report, k, "no_overshoot")


@pytest.mark.parametrize("name,k", [("sine", 6), ("pl2d", 3)])
@pytest.mark.parametrize("falsify", [True, False])
def test_coefficient_past_the_residual_breaks_no_overshoot_only(built, name, k, falsify):
    target, network = built(name, k)
    r = residual_at_hat(target, network, k, 0)
    bad = set_coefficient(network, k, 0, Fraction(6, 5) * r)
    report = check(target, bad, falsify=falsify)
    assert report.grades[k - 1].monotone == "proved"
    witness = assert_refuted(target, bad, report, k, "no_overshoot")
    z, _, _, _ = hat_of(network, k, 0)
    if falsify:
        assert witness.x == z          # found at the node itself


@pytest.mark.parametrize("name,k", [("sine", 6), ("pl2d", 3)])
def test_flipped_sign_is_refuted(built, name, k):
    target, network = built(name, k)
    _, cp, cn, _ = hat_of(network, k, 0)
    c = cp if cp else -cn
    bad = set_coefficient(network, k, 0, -c)
    report = check(target, bad)
    assert report.verdict == "refuted"
    assert_refuted(target, bad, report, k, "monotone")


def _grid_points(network, n):
    return [tuple(Fraction(i, n) for i in node) for node in nodes(network.dim, n)]


@pytest.mark.parametrize("name,k", [("sine", 6), ("pl2d", 3)])
def test_readout_scaled_past_two_over_rho_is_refuted(built, name, k):
    target, network = built(name, k)
    mesh = Fraction(network.meta["levels"][k - 1]["mesh"])        # grade k's level
    points = _grid_points(network, int(1 / mesh) * (2 if network.dim == 1 else 1))
    rho, where = largest_ratio(target, network, k, points)
    assert 0 < rho <= 1                  # Lemma 1 at exact points
    scale = Fraction(2) / rho * Fraction(101, 100)
    bad = with_readout(network, k, scale)
    report = check(target, bad)
    assert report.verdict == "refuted"
    assert_refuted(target, bad, report, k, "monotone")


@pytest.mark.parametrize("falsify", [True, False])
def test_readout_bias_nudged_where_residual_changes_sign(built, falsify):
    target, network = built("sine", 6)
    bad = with_readout(network, 6, 1, Fraction(1, 10 ** 9))
    report = check(target, bad, falsify=falsify)
    assert report.verdict == "refuted"
    assert_refuted(target, bad, report, 6, "monotone")


def test_readout_scaled_by_three_halves_keeps_g1(built):
    target, network = built("sine", 6)
    points = _grid_points(network, 64)
    overshooting = 0
    for k in range(4, 7):
        bad = with_readout(network.truncated(k), k, Fraction(3, 2))
        report = check(target, bad)
        assert report.grades[-1].monotone == "proved"          # 0 <= 1.5 g <= 2 e
        rho, _ = largest_ratio(target, network, k, points)
        if rho > Fraction(2, 3):                               # 1.5 g > e somewhere
            assert_refuted(target, bad, report, k, "no_overshoot")
            overshooting += 1
    assert overshooting


@settings(max_examples=4, deadline=None)
@given(st.fractions(min_value=0, max_value=1, max_denominator=16))
@example(Fraction(0))
@example(Fraction(1))
def test_shrinking_a_coefficient_keeps_everything_proved(built, factor):
    target, network = built("sine", 5)
    _, cp, cn, _ = hat_of(network, 5, 3)
    c = cp if cp else -cn
    report = check(target, set_coefficient(network, 5, 3, factor * c))
    assert report.grades[-1].monotone == report.grades[-1].no_overshoot == "proved"
