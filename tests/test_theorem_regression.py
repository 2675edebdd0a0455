"""Regression tests guarding the theorem (proofs/THEOREM.md), on every example and the
targets in tests/targets/ (smooth, oscillating, kinks and Hölder cusps in d = 1-3): `certify check` must prove (G1) and (G2) for every grade, and

- with ratio `N = 2d+2` and margin `θ = 1/(4d)` (inside the theorem's range
  `N > 2d(1+θ)+1`) and the declared Lipschitz constants, every certified sup bound is at
  most the a priori bound `2(1+θ)Λ((1+2d(1+θ))/N)^(k-1)`;
- with the default ratio 2, under both coefficient rules (`surplus`, the default, and
  `balanced`), the certified sup bounds do not increase from grade to grade, no grade is
  trivial while the residual is nonzero, and `surplus` ends no worse than `balanced`;
- the a priori bound reads each grade's level from `meta` and is refused when the weights
  contradict it.

Grade counts are kept small for CI. Skipped (all-zero) levels make grade `k` realise a
level `ℓ_k >= k-1`; the a priori bound of grade `k` is that of its level.
"""

from __future__ import annotations

import os
from fractions import Fraction

import pytest

from certify.certificates.checker import a_priori_bounds, check
from certify.construction import build
from certify.certificates.local import recognise
from certify.target import load_target

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUITE = {
    "sine": "examples/sine.py", "runge": "examples/runge.py", "holder": "examples/holder.py",
    "pl2d": "examples/pl2d.py", "peaks2d": "examples/peaks2d.py",
    "smooth3d": "examples/smooth3d.py",
    "bump": "tests/targets/bump.py", "ridge2d": "tests/targets/ridge2d.py",
    "wave": "tests/targets/wave.py", "kink": "tests/targets/kink.py",
    "cusp2d": "tests/targets/cusp2d.py", "kink3d": "tests/targets/kink3d.py",
    "cusp3d": "tests/targets/cusp3d.py",
}
THEOREM_GRADES = {1: 4, 2: 2, 3: 1}      # skipped levels make these fine
DEFAULT_GRADES = {1: 6, 2: 3, 3: 2}


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
    network = build(target, THEOREM_GRADES[d], ratio=ratio, margin=margin, scheme="balanced")
    report = check(target, network)
    assert_all_proved(report)
    if target.lipschitz is None:        # holder: continuous, not Lipschitz
        assert all(g.a_priori is None for g in report.grades)
        return
    q = (1 + 2 * d * (1 + margin)) / ratio
    levels = [level["level"] for level in network.meta["levels"]]
    assert levels[0] >= 0 and all(b > a for a, b in zip(levels, levels[1:]))
    for k, (g, ell) in enumerate(zip(report.grades, levels), start=1):
        assert ell >= k - 1
        expected = 2 * (1 + margin) * target.lipschitz * q ** ell
        assert g.a_priori == expected
        assert g.sup_upper <= g.a_priori, (k, float(g.sup_upper), float(g.a_priori))


@pytest.mark.parametrize("name", sorted(SUITE))
def test_default_ratio_both_schemes_prove_and_surplus_is_no_worse(name):
    target = load(name)
    finals = {}
    for scheme in ("surplus", "balanced"):
        network = build(target, DEFAULT_GRADES[target.dim], scheme=scheme)
        # a surplus network ending above balanced is replaced by the balanced one, and says so
        assert network.meta["scheme"] == scheme or "fallback" in network.meta
        report = check(target, network)
        assert_all_proved(report)
        sups = [g.sup_upper for g in report.grades]
        assert all(b <= a for a, b in zip(sups, sups[1:])), [float(s) for s in sups]
        assert all(g.a_priori is None for g in report.grades)  # N = 2 is outside the range
        for g, level in zip(report.grades, network.meta["levels"]):   # no wasted grade
            assert g.nontrivial and level["hats"] and "trivial" not in level, (scheme, g.grade)
        finals[scheme] = sups[-1]
    # surplus starts where balanced starts, so never ends above it; holder: both are held by
    # the cusp and agree to ~1e-10 (the enclosures differ)
    assert finals["surplus"] <= finals["balanced"] * (1 + Fraction(1, 10 ** 6)), \
        {k: float(v) for k, v in finals.items()}


def test_a_priori_bound_needs_the_weights_to_confirm_meta():
    target = load("sine")
    network = build(target, 3, ratio=4, margin=Fraction(1, 4), scheme="balanced")
    bounds = a_priori_bounds(target, network, recognise(network))
    assert bounds is not None
    levels = network.meta["levels"]
    assert levels[0]["level"] >= 1 and levels[0]["skipped"]     # sin 2πx: level 0 is zero
    original = network.meta
    forged_hats = dict(original, levels=levels[:-1] + [dict(levels[-1], hats=[])])
    # a level that the weights' mesh contradicts, and a level pretending to be finer
    forged_level = dict(original, levels=[dict(levels[0], level=levels[0]["level"] + 1)]
                        + levels[1:])
    backwards = dict(original, levels=[levels[1], levels[0]] + levels[2:])
    for forged in (forged_hats, forged_level, backwards,
                   dict(original, tol="1/100"), dict(original, construction="other")):
        network.meta = forged
        assert a_priori_bounds(target, network, recognise(network)) is None
    network.meta = original
    assert a_priori_bounds(target, network, recognise(network)) == bounds


def test_surplus_network_gets_no_a_priori_bound():
    target = load("sine")
    network = build(target, 3, ratio=4, margin=Fraction(1, 4))
    assert network.meta["scheme"] == "surplus"
    assert a_priori_bounds(target, network, recognise(network)) is None
