"""Refinement tries special points before giving up (`certify.certificates.special`).

A grade that should vanish near a zero of `e_{k-1}` but carries a tiny readout bias fails
(G1) only on an interval of width ~sqrt(bias) around that zero: far below any box the
refinement reaches and any sample. The minimiser of the claim's margin on the piece,
rounded to simple rationals, finds it — exactly at x = 1/3 for (x - 1/3)^2.
"""

from __future__ import annotations

from fractions import Fraction

import pytest
import sympy

from certify.certificates.checker import check
from certify.construction import build
from certify.engine.network import network_from_json
from certify.target import target_from_function

from checker_helpers import certainly_violated, with_readout
from test_reports import assert_witness_shows_violation


@pytest.fixture(scope="module")
def third():
    target = target_from_function(lambda x1: (x1 - sympy.Rational(1, 3)) ** 2, "third")
    return target, build(target, 5)


@pytest.fixture(scope="module")
def root_two():
    target = target_from_function(lambda x1: (x1 - sympy.sqrt(2) / 3) ** 2, "root_two")
    return target, build(target, 5)


@pytest.mark.parametrize("k", [2, 5])
@pytest.mark.parametrize("falsify", [True, False])
def test_bias_raised_by_1e13_at_a_rational_zero_is_refuted_exactly(third, k, falsify):
    target, network = third
    assert target.kind == "polynomial"
    bad = with_readout(network.truncated(k), k, 1, Fraction(1, 10 ** 13))
    report = check(target, bad, falsify=falsify)
    g = report.grades[-1]
    assert g.monotone == "refuted" and report.exit_status == 1
    assert g.counterexample.x == (Fraction(1, 3),)          # fails exactly there
    assert g.counterexample.exact
    assert_witness_shows_violation(g.counterexample.to_json())
    assert certainly_violated(target, bad, k, g.counterexample.x, "monotone")


@pytest.mark.parametrize("k", [3, 5])
def test_bias_raised_by_1e9_at_an_irrational_zero_is_refuted(root_two, k):
    target, network = root_two
    bad = with_readout(network.truncated(k), k, 1, Fraction(1, 10 ** 9))
    report = check(target, bad, falsify=False)
    g = report.grades[-1]
    assert g.monotone == "refuted"
    x = g.counterexample.x[0]
    assert abs(float(x) - 2 ** 0.5 / 3) < 1e-4
    assert_witness_shows_violation(g.counterexample.to_json())
    assert certainly_violated(target, bad, k, g.counterexample.x, "monotone")


@pytest.mark.parametrize("regions, path", [(False, "general"), (True, "regions")])
def test_general_path_constant_grade_at_a_zero_is_refuted(third, regions, path):
    target, _ = third
    network = network_from_json({"format": "mgdl-relu/1", "dim": 1, "meta": {}, "grades": [
        {"layers": [{"weight": [["1"]], "bias": ["0"]}],
         "readout": {"weight": ["0"], "bias": "1e-13"}}]})
    report = check(target, network, falsify=False, regions=regions)
    g = report.grades[0]
    assert g.path == path and g.monotone == "refuted"
    assert g.counterexample.x == (Fraction(1, 3),)


def test_unperturbed_networks_stay_proved(third, root_two):
    for target, network in (third, root_two):
        assert check(target, network).verdict == "proved"
