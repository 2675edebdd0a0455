"""The float-first norms of the regions path (`certify.certificates.region_float`).

- the float interval integrals of `|ℓ|^j` over polytopes (every sign pattern of the
  simplex formulas, d = 1..3) contain the exact rational integrals;
- the lower bound on the volume of `{ℓ >= 0}` is below the exact volume;
- a trained network with a grade made wrong on purpose is refuted with the float
  enclosures deciding (G2), its (G1) counterexample re-checked exactly;
- a decrease that is exactly 0 (floats cannot decide it) falls back to the exact path,
  which refutes (G2) exactly;
- on a trained fixture the float enclosures contain the exact path's values.
"""

from __future__ import annotations

import os
import random
from fractions import Fraction

import numpy as np
import pytest
import sympy
from flint import fmpq
from hypothesis import example, given, settings, strategies as st

import certify.certificates.region_path as region_path
from certify.certificates.checker import check
from certify.certificates.region_float import FloatNorms
from certify.engine.network import Grade, Network, read_network
from certify.engine.polytope import abs_power_integrals, box, evaluate, frac
from certify.engine.realize import Layer
from certify.engine.residual import MONOTONE
from certify.engine.simplex_float import abs_moments, intervals_of, positive_volume, \
    simplex_volumes
from certify.target import load_target, target_from_function

from checker_helpers import certainly_violated

F = Fraction
HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "mgdl")


def _polytope(dim: int, rng: random.Random):
    """A box cut by one or two random rational hyperplanes (a polytope with many vertices)."""
    lo = [fmpq(rng.randint(0, 3), 8) for _ in range(dim)]
    hi = [a + fmpq(rng.randint(1, 4), 8) for a in lo]
    poly = box(lo, hi)
    for n in range(rng.randint(0, 2)):
        row = tuple(fmpq(rng.randint(-5, 5), rng.randint(1, 7)) for _ in range(dim))
        centre = poly.centroid_point()
        row = row + (-evaluate(row + (fmpq(0),), centre),)
        if any(row[:-1]):
            upper, lower = poly.split_by(row, ("cut", n))
            poly = upper if upper is not None else lower
    return poly


def _float_integrals(poly, row, pmax):
    V = intervals_of([x for v in poly.vertices for x in v])
    d = poly.dim
    from certify.engine.intervals import IntervalArray as IA
    V = IA(V.lo.reshape(-1, d), V.hi.reshape(-1, d))
    S = np.asarray(poly.simplex_indices(), dtype=np.int64)
    values = intervals_of([evaluate(row, v) for v in poly.vertices])
    A = IA(values.lo[S], values.hi[S])
    vol = simplex_volumes(V, S)
    moments = abs_moments(vol, A, pmax)
    sums = [(float(np.sum(m.lo)), float(np.sum(m.hi))) for m in moments]
    return sums, vol, A


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10 ** 6), st.sampled_from([1, 2, 3]), st.integers(-3, 3))
@example(0, 1, 0)
@example(1, 2, 1)
@example(2, 3, -2)          # a cut through two vertices on each side (d = 3)
@example(11, 3, 0)
@example(199, 1, 0)         # ℓ identically 0
def test_float_integrals_contain_the_exact_ones(seed, dim, tilt):
    rng = random.Random(seed)
    poly = _polytope(dim, rng)
    row = tuple(fmpq(rng.randint(-9, 9), rng.randint(1, 5)) for _ in range(dim))
    centre = poly.centroid_point()
    row = row + (-evaluate(row + (fmpq(0),), centre) + fmpq(tilt, 40),)   # crosses P
    exact = abs_power_integrals(poly, row, 3)
    sums, vol, A = _float_integrals(poly, row, 3)
    for j, (lo, hi) in enumerate(sums):
        # the per-simplex intervals are summed here in float, so allow that rounding
        slack = 1e-12 * max(1.0, abs(hi))
        assert lo - slack <= float(exact[j]) <= hi + slack, (j, lo, float(exact[j]), hi)
        assert hi - lo <= 1e-9 * max(1.0, float(exact[j])) + 1e-12
    # the volume of {ℓ >= 0} from below
    upper, _ = poly.split_by(row, "zero")
    positive = float(upper.volume()) if upper is not None else 0.0
    if not any(row):                      # ℓ = 0: split_by puts P on the side <= 0
        positive = float(poly.volume())
    assert float(np.sum(positive_volume(vol, A).lo)) <= positive + 1e-12


@pytest.mark.parametrize("values", [
    (F(1), F(-1), F(-2), F(3)),             # two on each side
    (F(1), F(0), F(-2), F(3)),               # a vertex exactly on the hyperplane
    (F(1, 10 ** 330), F(-1), F(-2), F(3)),   # one too close to 0 to tell in floats
    (F(5), F(1), F(2), F(3)),                # one sign
])
def test_simplex_formulas_on_a_tetrahedron(values):
    # the standard simplex and the affine ℓ with these vertex values: the exact
    # integrals of |ℓ| and |ℓ|^3 against the float enclosures
    simplex = [(0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1)]
    a0, a1, a2, a3 = values
    row = tuple(fmpq(x.numerator, x.denominator) for x in (a1 - a0, a2 - a0, a3 - a0, a0))
    tet = box([fmpq(0)] * 3, [fmpq(1)] * 3).split_by(
        (fmpq(-1), fmpq(-1), fmpq(-1), fmpq(1)), "face")[0]
    assert sorted(tuple(int(c) for c in v) for v in tet.vertices) == sorted(simplex)
    exact = abs_power_integrals(tet, row, 3)
    sums, _, _ = _float_integrals(tet, row, 3)
    for j in (1, 3):
        lo, hi = sums[j]
        assert lo - 1e-15 <= float(exact[j]) <= hi + 1e-15


def _load(name, target):
    return (load_target(os.path.join(HERE, f"{target}.py")),
            read_network(os.path.join(HERE, f"{name}.json")))


def test_overshooting_trained_grade_is_refuted_with_float_norms():
    # grade 2 of a trained width-32 network, readout tripled: |e_2| ~ 2|e_1|. (G1) is
    # refuted at an exact point, (G2) by the float enclosures (no exact fallback needed)
    target, network = _load("pl2d_3g", "pl2d")
    grades = list(network.grades)
    g2 = grades[1]
    grades[1] = Grade(g2.layers, tuple(3 * w for w in g2.readout_weight), 3 * g2.readout_bias)
    mutant = Network(network.dim, grades[:2], {})
    report = check(target, mutant, p=[1, 2], timeout=10, falsify=False)
    g = report.grades[1]
    assert g.path == "regions" and g.monotone == "refuted"
    assert certainly_violated(target, mutant, 2, g.counterexample.x, MONOTONE)
    assert all(lp.status == "refuted" for lp in g.lp)
    assert all(lp.method == "regions: decrease enclosed in (-inf, 0]" for lp in g.lp)


def test_decrease_exactly_zero_falls_back_to_exact():
    # f = |x - 1/2|, grade 1 computes 0, grade 2 computes 2f: e_2 = -e_1, so the
    # decrease is exactly 0 for every p; floats straddle 0, the exact path refutes (G2)
    # for p = 1 (its p = 2 moments run in Arb balls: left unknown, never proved)
    target = target_from_function(lambda x1: sympy.Abs(x1 - sympy.Rational(1, 2)), "vee")
    half = F(1, 2)
    zero = Grade([Layer(((F(1),),), (F(0),))], (F(0),), F(0))
    vee = Grade([Layer(((F(1),), (F(-1),)), (-half, half))], (F(2), F(2)), F(0))
    network = Network(1, [zero, vee], {})
    calls = []
    original = region_path.measure

    def spy(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    region_path.measure = spy
    try:
        report = check(target, network, p=[1, 2], timeout=5, falsify=False)
    finally:
        region_path.measure = original
    g = report.grades[1]
    assert g.path == "regions" and g.nontrivial is True
    assert g.monotone == "proved" and g.no_overshoot == "refuted"
    p1, p2 = g.lp
    assert (p1.status, p1.method) == ("refuted", "regions, exact: no decrease")
    assert p2.status in ("refuted", "unknown")
    assert calls            # the exact path ran


def test_float_norms_contain_the_exact_norms_on_a_trained_fixture():
    target, network = _load("pl1d_4g", "pl1d")
    from certify.certificates.refine import Limits
    from certify.engine.regions import grade_regions
    limits = Limits(timeout=5, seconds=30)
    for k, regions in enumerate(grade_regions(network, target), start=1):
        floats = region_path.check_grade(target, network, k, regions, [1, 2, 3], limits)
        assert isinstance(floats.region_norms, FloatNorms)
        pieces, totals = region_path.measure(target, regions, [1, 2, 3], True, 10, 1, 4000)
        exact = region_path.RegionNorms(totals, exact=True)
        for p in (1, 2, 3):
            for name in ("integral", "previous", "decrease"):
                lo, hi = getattr(floats.region_norms, name)(p)
                elo, ehi = getattr(exact, name)(p)
                assert lo <= elo and ehi <= hi, (k, p, name)
                assert hi - lo <= F(1, 10 ** 11)          # norms here are about 1e-2
        top = max(abs(frac(evaluate(r.f, v) - evaluate(r.previous, v) - evaluate(r.g, v)))
                  for r in regions for v in r.poly.vertices)
        assert top <= floats.sup_upper <= top * (1 + F(1, 10 ** 9))


def test_enumeration_float_rows_enclose_the_exact_rows():
    # the regions carry float enclosures of F_{k-1} and g_k from the enumeration; the
    # exact rows are computed only on demand (`resolve`) and must lie inside them
    from certify.engine.regions import grade_regions, resolve
    target, network = _load("pl2d_3g", "pl2d")
    for k, regions in enumerate(grade_regions(network, target), start=1):
        sample = regions[::5]
        assert all(r._g is None for r in sample)          # nothing exact yet
        resolve(sample)
        for r in sample:
            for exact, (lo, hi) in ((r.g, r.g_floats), (r.previous, r.previous_floats)):
                for c, a, b in zip(exact, lo, hi):
                    assert Fraction(float(a)) <= frac(c) <= Fraction(float(b)), k


@pytest.mark.parametrize("floats", [True, False])
def test_claims_proved_in_floats_agree_with_the_exact_path(monkeypatch, floats):
    # f = |x - 1/3| + 1/10 and g_1 = f/2 (two regions, g > 0): (G1) and no overshoot hold
    # everywhere; in floats no region goes to the exact path, and without the float
    # test the exact path proves the same
    target = target_from_function(
        lambda x1: sympy.Abs(x1 - sympy.Rational(1, 3)) + sympy.Rational(1, 10), "vee")
    third, half = F(1, 3), F(1, 2)
    network = Network(1, [Grade([Layer(((F(1),), (F(-1),)), (-third, third))],
                                (half, half), F(1, 20))], {})
    calls = []
    original = region_path._check_part
    monkeypatch.setattr(region_path, "_check_part",
                        lambda *a: calls.append(1) or original(*a))
    if not floats:
        import certify.certificates.region_float as region_float
        monkeypatch.setattr(region_float, "claims_proved",
                            lambda t, r, idx, f: np.zeros(len(idx), dtype=bool))
    report = check(target, network, p=[1, 2], timeout=5, falsify=False)
    g = report.grades[0]
    assert (g.path, g.monotone, g.no_overshoot) == ("regions", "proved", "proved")
    assert all(lp.status == "proved" for lp in g.lp)
    assert bool(calls) is not floats


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 3), st.integers(0, 10 ** 6), st.integers(0, 2),
       st.integers(-2, 18))
@example(2, 0, 0, 0)           # at the box's lower face: nothing on one side
@example(2, 1, 1, 4)           # at a vertex coordinate: zero signs on the plane
def test_split_at_an_axis_is_split_by_its_row(dim, seed, axis, sixteenths):
    """`Polytope.split_at(i, c)` (exact coordinate comparisons) gives the very parts of
    `split_by` the row `x_i - c` (signs from the float filter and exact fallback)."""
    poly = _polytope(dim, random.Random(seed))
    axis %= dim
    c = fmpq(sixteenths, 16)
    row = tuple(fmpq(1) if j == axis else fmpq(0) for j in range(dim)) + (-c,)
    fast = poly.split_at(axis, c, ("bisect", 0, axis, c))
    slow = poly.split_by(row, ("bisect", 0, axis, c))
    for a, b in zip(fast, slow):
        assert (a is None) == (b is None)
        if a is not None:
            assert a.vertices == b.vertices and a.labels == b.labels
            assert np.array_equal(a.floats(), b.floats())
