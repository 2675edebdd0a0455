"""Regression tests guarding the theorem (proofs/THEOREM.md), on every example and two more
targets (tests/targets/): `certify check` must prove (G1) and (G2) for every grade, and

- with ratio `N = 2d+2` and margin `θ = 1/(4d)` (inside the theorem's range
  `N > 2d(1+θ)+1`) and the declared Lipschitz constants, every certified sup bound is at
  most the a priori bound `2(1+θ)Λ((1+2d(1+θ))/N)^(k-1)`;
- with the default ratio 2, the certified sup bounds do not increase from grade to grade.

Grade counts are kept small for CI (meshes up to 1/64 in d=1, 1/36 in d=2, 1/8 in d=3).
"""

from __future__ import annotations

import os
from fractions import Fraction

import pytest

from certify.checker import a_priori_bounds, check
from certify.construction import build
from certify.local import recognise
from certify.target import load_target

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUITE = {
    "sine": "examples/sine.py", "runge": "examples/runge.py", "holder": "examples/holder.py",
    "pl2d": "examples/pl2d.py", "peaks2d": "examples/peaks2d.py",
    "smooth3d": "examples/smooth3d.py",
    "bump": "tests/targets/bump.py", "ridge2d": "tests/targets/ridge2d.py",
}
THEOREM_GRADES = {1: 4, 2: 3, 3: 2}
DEFAULT_GRADES = {1: 6, 2: 4, 3: 3}


def load(name):
    return load_target(os.path.join(ROOT, SUITE[name]))


def assert_all_proved(report):
    assert report.verdict == "proved"
    for g in report.grades:
        assert g.monotone == "proved" and g.no_overshoot == "proved", g.to_json()
        assert all(lp.status == ("proved" if g.nontrivial else "not owed")
                   for lp in g.lp), g.to_json()


@pytest.mark.parametrize("name", sorted(SUITE))
def test_theorem_ratio_and_a_priori_bound(name):
    target = load(name)
    d = target.dim
    ratio, margin = 2 * d + 2, Fraction(1, 4 * d)
    assert ratio > 2 * d * (1 + margin) + 1
    network = build(target, THEOREM_GRADES[d], ratio=ratio, margin=margin)
    report = check(target, network)
    assert_all_proved(report)
    if target.lipschitz is None:        # holder: continuous, not Lipschitz
        assert all(g.a_priori is None for g in report.grades)
        return
    q = (1 + 2 * d * (1 + margin)) / ratio
    for k, g in enumerate(report.grades, start=1):
        expected = 2 * (1 + margin) * target.lipschitz * q ** (k - 1)
        assert g.a_priori == expected
        assert g.sup_upper <= g.a_priori, (k, float(g.sup_upper), float(g.a_priori))


@pytest.mark.parametrize("name", sorted(SUITE))
def test_default_ratio_proves_and_sup_bounds_do_not_increase(name):
    target = load(name)
    network = build(target, DEFAULT_GRADES[target.dim])
    report = check(target, network)
    assert_all_proved(report)
    sups = [g.sup_upper for g in report.grades]
    assert all(b <= a for a, b in zip(sups, sups[1:])), [float(s) for s in sups]
    assert all(g.a_priori is None for g in report.grades)      # N = 2 is outside the range


def test_a_priori_bound_needs_the_weights_to_confirm_meta():
    target = load("sine")
    network = build(target, 3, ratio=4, margin=Fraction(1, 4))
    assert a_priori_bounds(target, network, recognise(network)) is not None
    levels = network.meta["levels"]
    forged = dict(network.meta, levels=levels[:-1] + [dict(levels[-1], hats=[])])
    network.meta = forged
    assert a_priori_bounds(target, network, recognise(network)) is None
