"""`certify.engine.nodal.Nodal`: exact nodal values as integers over one denominator.

Property-based (hypothesis) with pinned examples: round trips to `Fraction`, float
conversion and its exactness flags against `float(Fraction)`, refinement against the
`Fraction` version, overflow of int64 numerators to Python ints, non-dyadic denominators.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import example, given, settings, strategies as st

from certify.engine import freudenthal, vectorised
from certify.engine.nodal import LIMIT, Nodal

DENS = st.one_of(st.sampled_from([1, 2, 2 ** 48, 2 ** 62, 2 ** 70, 3, 3 * 2 ** 48, 10,
                                  2 ** 1022, 2 ** 1023, 2 ** 1100]),
                 st.integers(1, 10 ** 30))
NUMS = st.one_of(st.integers(-2 ** 64, 2 ** 64), st.integers(-1000, 1000),
                 st.sampled_from([0, 2 ** 53, 2 ** 53 + 1, -(2 ** 53) - 1, 2 ** 62, 2 ** 62 + 1,
                                  2 ** 63, 3 * 2 ** 60, -(2 ** 63)]))


def _reference(values):
    """`(floats, exact)` the way the `Fraction` path computes them."""
    floats = [float(v) for v in values]
    exact = [Fraction(x) == v for x, v in zip(floats, values)]
    return np.array(floats), np.array(exact)


@settings(max_examples=200, deadline=None)
@given(st.lists(NUMS, min_size=1, max_size=12), DENS)
@example([2 ** 53 + 1, 2 ** 54, 1, -3], 1)               # inexact / exact beyond 2^53
@example([2 ** 62 + 1, 2 ** 63 + 2, 5], 2 ** 48)          # object numerators, dyadic
@example([1, 2, 3, 1 << 200], 3)                          # non-dyadic, exact where v/3 is
@example([7, -7], 2 ** 1100)                              # dyadic past the scaling range
@example([0], 10)
def test_floats_round_trip_and_exactness(nums, den):
    values = [Fraction(v, den) for v in nums]
    array = np.array(nums, dtype=object)
    nodal = Nodal(array, den)
    assert list(nodal.fractions()) == values
    assert [nodal[i] for i in range(len(nums))] == values
    floats, exact = nodal.floats()
    ref_floats, ref_exact = _reference(values)
    assert np.array_equal(floats, ref_floats) and np.array_equal(exact, ref_exact)
    lo, hi = nodal.interval()
    assert all(Fraction(a) <= v <= Fraction(b) for a, b, v in zip(lo, hi, values))
    assert np.array_equal((lo == hi), exact)
    # the Fraction path of `vectorised.nodal_interval` gives the same intervals
    old = vectorised.nodal_interval(np.array(values, dtype=object))
    assert np.array_equal(old[0], lo) and np.array_equal(old[1], hi)
    assert Nodal.of(np.array(values, dtype=object)).fractions().tolist() == values


@settings(max_examples=200, deadline=None)
@given(st.lists(NUMS, min_size=1, max_size=12), DENS, st.booleans())
@example([2 ** 53 + 1, -(2 ** 63) - 3, 5], 2 ** 48, False)     # object numerators, dyadic
@example([2 ** 53 + 1, 3, -7], 2 ** 60, True)                  # int64 numerators
@example([7, -7], 2 ** 1100, False)                             # past the scaling range
def test_remainders_equal_the_fraction_split(nums, den, pack):
    """`Nodal.remainders` (what `anchored_grid._split` uses for dyadic values) gives the
    nearest float and `float(q - Fraction(x))` exactly as the `Fraction` path does."""
    nodal = Nodal(np.array(nums, dtype=object), den)
    if pack:
        nodal = nodal.pack()
    values = [Fraction(v, den) for v in nums]
    split = nodal.remainders()
    if den & (den - 1) or den.bit_length() - 1 > 1022:
        assert split is None
        return
    floats = [float(v) for v in values]
    rest = [float(v - Fraction(x)) for v, x in zip(values, floats)]
    assert np.array_equal(split[0], floats) and np.array_equal(split[1], rest)


@pytest.mark.parametrize("nums, dtype", [([1, -2, LIMIT], np.int64),
                                         ([1, -2, LIMIT + 1], object),
                                         ([-(LIMIT + 1)], object)])
def test_int64_where_the_numerators_fit(nums, dtype):
    nodal = Nodal(np.array(nums, dtype=object), 4).pack()
    assert nodal.num.dtype == dtype
    assert nodal.fractions().tolist() == [Fraction(v, 4) for v in nums]


def test_int64_numerators_overflow_to_python_ints():
    nodal = Nodal(np.array([LIMIT, -LIMIT, 3], dtype=np.int64), 2 ** 48)
    assert nodal.num.dtype == np.int64
    bigger = nodal.over(2 ** 50)
    assert bigger.num.dtype == object and bigger.fractions().tolist() == \
        nodal.fractions().tolist()
    refined = nodal.refine(2)
    assert refined.num.dtype == object and refined.den == 2 ** 49
    added = nodal.with_units((np.array([0]),), [LIMIT], 48)
    assert added.num.dtype == object
    assert added[0] == Fraction(LIMIT, 2 ** 48) * 2 and added[1] == nodal[1]
    assert nodal.num.dtype == np.int64 and nodal[0] == Fraction(LIMIT, 2 ** 48)  # unchanged
    # and back to int64 when the values fit again
    assert Nodal(np.array([2 ** 70, 2 ** 71], dtype=object), 2 ** 20).pack().num.dtype == object
    assert Nodal(np.array([2 ** 10, 2 ** 11], dtype=object), 2 ** 20).pack().num.dtype == np.int64


def _rationals(draw, shape, dens):
    out = np.empty(shape, dtype=object)
    for index in np.ndindex(shape):
        out[index] = Fraction(draw(st.integers(-2 ** 66, 2 ** 66)), draw(dens))
    return out


@settings(max_examples=40, deadline=None)
@given(st.data(), st.integers(1, 3), st.sampled_from([2, 3]),
       st.sampled_from([st.just(2 ** 48), st.sampled_from([1, 2, 2 ** 60]),
                        st.integers(1, 50)]))
def test_refine_equals_the_fraction_refine(data, dim, ratio, dens):
    values = _rationals(data.draw, (2,) * dim, dens)
    nodal = Nodal.of(values)
    fine = nodal.refine(ratio)
    assert fine.fractions().tolist() == freudenthal.refine(values, ratio).tolist()
    assert freudenthal.refine(nodal, ratio).fractions().tolist() == fine.fractions().tolist()
    again = fine.refine(2)
    assert again.fractions().tolist() == freudenthal._refine_nodewise(
        freudenthal.refine(values, ratio), 2).tolist()
    lo, hi = vectorised.nodal_interval(again)
    old = vectorised.nodal_interval(again.fractions())
    assert np.array_equal(lo, old[0]) and np.array_equal(hi, old[1])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-2 ** 60, 2 ** 60), min_size=6, max_size=6),
       st.lists(st.integers(-2 ** 70, 2 ** 70), min_size=3, max_size=3),
       st.sampled_from([1, 3, 2 ** 40, 2 ** 55, 7 * 2 ** 50]))
@example([LIMIT // 2, 0, 1, 2, 3, 4], [LIMIT, -1, 0], 2 ** 48)
def test_with_units_and_put_units(nums, units, den):
    grid = Nodal(np.array(nums, dtype=object).reshape(2, 3), den).pack()
    index = (np.array([0, 1, 1]), np.array([2, 0, 1]))
    out = grid.with_units(index, units, 48)
    expect = grid.fractions()
    for i, j, u in zip(*index, units):
        expect[i, j] += Fraction(u, 2 ** 48)
    assert out.fractions().tolist() == expect.tolist()
    assert out.den % 2 ** 48 == 0
    trial = out.copy()
    base = grid.for_units(48)
    trial.put_units(index, base, [0, 0, 0], 48)         # back to the base values there
    assert trial.fractions().tolist() == grid.fractions().tolist()
    with pytest.raises(ValueError):
        Nodal(np.zeros(2, dtype=np.int64), 3).put_units((np.array([0]),), grid.ravel(), [1], 48)


def test_indexing_and_shape():
    nodal = Nodal(np.arange(12, dtype=np.int64).reshape(3, 4), 6)
    assert nodal.shape == (3, 4) and nodal.ndim == 2 and nodal.size == 12 and len(nodal) == 3
    assert nodal[1, 2] == Fraction(6, 6) and isinstance(nodal[(2, 3)], Fraction)
    row = nodal[1]
    assert isinstance(row, Nodal) and row.fractions().tolist() == \
        [Fraction(v, 6) for v in range(4, 8)]
    picked = nodal.ravel()[np.array([11, 0])]
    assert picked.fractions().tolist() == [Fraction(11, 6), Fraction(0)]
    assert Nodal.zeros((2, 2)).fractions().tolist() == [[0, 0], [0, 0]]
    with pytest.raises(ValueError):
        Nodal(np.zeros(2, dtype=np.int64), 0)
    with pytest.raises(TypeError):
        Nodal(np.zeros(2), 1)
    with pytest.raises(ValueError):
        nodal.over(9)


@settings(max_examples=100, deadline=None)
@given(st.lists(NUMS, min_size=3, max_size=3), DENS, st.lists(NUMS, min_size=3, max_size=3),
       DENS)
@example([0, 0, 0], 1, [1, -1, 0], 10 ** 400)           # int64 zeros over a huge denominator
@example([LIMIT, -LIMIT, 1], 2 ** 48, [LIMIT, LIMIT, -1], 2 ** 48)     # int64 sum overflows
@example([1, 2, 3], 3, [5, 0, -7], 2 ** 48)              # non-dyadic and dyadic together
def test_sum_halved_and_signs(a_nums, a_den, b_nums, b_den):
    a = Nodal(np.array(a_nums, dtype=object), a_den).pack()
    b = Nodal(np.array(b_nums, dtype=object), b_den).pack()
    total = a + b
    expected = [Fraction(x, a_den) + Fraction(y, b_den) for x, y in zip(a_nums, b_nums)]
    assert total.fractions().tolist() == expected
    assert (a + b.halved()).fractions().tolist() == \
        [Fraction(x, a_den) + Fraction(y, 2 * b_den) for x, y in zip(a_nums, b_nums)]
    assert total.signs().tolist() == [(v > 0) - (v < 0) for v in expected]
    assert Nodal.zeros((3,)).over(10 ** 400).fractions().tolist() == [0, 0, 0]


# ----------------------------------------------------------------- balanced coefficients in floats

#: floats that make exact boundary cases likely: small integers times 2^-e, and extremes
FLOATS = st.one_of(
    st.builds(lambda m, e: m * 2.0 ** -e, st.integers(-2 ** 20, 2 ** 20), st.integers(40, 60)),
    st.floats(-10, 10, allow_nan=False),
    st.floats(-1e-12, 1e-12, allow_nan=False),
    st.sampled_from([0.0, -0.0, 5e-324, -5e-324, 2.0 ** -1022, 1e300]))
UNIT = 2.0 ** -48


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(FLOATS, FLOATS).map(sorted), min_size=1, max_size=30),
       st.sampled_from([Fraction(1, 4), Fraction(0), Fraction(1, 3), Fraction(4),
                        Fraction(3, 7)]))
@example([(k * UNIT, k * UNIT) for k in (1, 2, 3, 2 ** 20)]       # c on multiples of 2^-48
         + [(5 * UNIT, 4 * UNIT), (1.0, 1.0), (-3 * UNIT, -3 * UNIT), (0.5, 2.5),
            (float(np.nextafter(UNIT, 1)), UNIT), (float(np.nextafter(UNIT, 0)), UNIT)],
         Fraction(1, 4))
def test_balanced_floats_equal_the_exact_coefficients(pairs, margin):
    from certify.construction import _balanced_floats, coefficient_units
    lo = np.array([p[0] for p in pairs])
    hi = np.array([p[1] for p in pairs])
    fast = _balanced_floats(lo, hi, margin)
    assert fast == [coefficient_units(float(a), float(b), margin) for a, b in pairs]


# ----------------------------------------------------------------- surpluses from Arb balls

@settings(max_examples=60, deadline=None)
@given(st.integers(0, 64), st.integers(-2 ** 62, 2 ** 62), st.sampled_from([1, 3, 2 ** 48,
                                                                           2 ** 60, 2 ** 200]),
       st.sampled_from([0, 1, 2, 3, 4, 8, 1]))
@example(0, 0, 1, 0)             # f(0) = 0 = F(0): the ball contains 0, the exact value decides
@example(32, 0, 1, 0)            # sin(pi) = 0 exactly
@example(16, 1, 1, 0)            # sin(pi/2) - 1 = 0
def test_arb_residual_units_equal_the_rounded_bounds(i, num, den, shift):
    import math
    import os
    from certify import surplus
    from certify.certificates.anchored import VertexValues
    from certify.target import load_target
    target = load_target(os.path.join(os.path.dirname(__file__), os.pardir, "examples",
                                      "sine.py"))
    vertices = VertexValues(target)
    n = 64
    if den == 3:        # next to f(z) itself: tiny balls, near and across multiples of 2^-48
        value = Fraction(math.sin(2 * math.pi * i / n)) + Fraction(num % 4096 - 2048, 2 ** 60)
    else:
        value = Fraction(num, den) * 2 ** shift if abs(num) < 2 ** 50 else Fraction(num, den)
    a, b = surplus.arb_residual(vertices, n, (i,), value)
    expected = surplus._units(a, 48) if a > 0 else surplus._units(b, 48) if b < 0 else 0
    assert surplus.arb_residual_units(vertices, n, (i,), value.numerator, value.denominator,
                                      48) == expected
    assert math.floor(abs(a) * 2 ** 48) >= 0


#: integers near where `_equal_floats` changes method (2^53, 2^68) and near multiples of 2^16
BIG = st.one_of(st.integers(-2 ** 69, 2 ** 69),
                st.builds(lambda e, d, s: s * (2 ** e + d), st.integers(52, 70),
                          st.integers(-2 ** 17, 2 ** 17), st.sampled_from([1, -1])),
                st.builds(lambda k, d: k * 2 ** 16 + d, st.integers(-2 ** 52, 2 ** 52),
                          st.integers(-3, 3)))


@settings(max_examples=300, deadline=None)
@given(st.lists(BIG, min_size=1, max_size=40))
@example([2 ** 68 - 1, 5])                     # rounds to 2^68: the exact comparison
@example([2 ** 67 + 2 ** 14, 2 ** 67 + 2 ** 15, -(2 ** 67) - 2 ** 14 - 1, 2 ** 53 + 1])
@example([0, -1, 1, 2 ** 16 - 1, -(2 ** 16)])
def test_equal_floats_is_the_integer_comparison(nums):
    from certify.engine.nodal import _INT, _equal_floats
    num = np.empty(len(nums), dtype=object)
    num[:] = nums
    scaled = num.astype(np.float64)
    assert np.array_equal(_equal_floats(num, scaled), (num == _INT(scaled)).astype(bool))
    assert _equal_floats(num, scaled).tolist() == [float(v) == v for v in nums]


def test_nodal_interval_keeps_large_arrays_by_their_values():
    """`vectorised.nodal_interval` gives kept intervals only for the same exact values: a
    change in place, another denominator or dtype, another shape of the same values."""
    rng = np.random.default_rng(4)
    num = rng.integers(-2 ** 60, 2 ** 60, size=(65, 65))
    values = Nodal(num.copy(), 2 ** 58)
    first = vectorised.nodal_interval(values)
    want = values.interval()
    assert all(np.array_equal(a, b) for a, b in zip(first, want))
    assert not first[0].flags.writeable
    again = vectorised.nodal_interval(Nodal(num.copy().reshape(-1), 2 ** 58))
    assert again[0].shape == (65 * 65,) and np.array_equal(again[0], want[0].reshape(-1))
    values.num[3, 4] += 2 ** 52                    # in place: not the kept values any more
    changed = vectorised.nodal_interval(values)
    assert all(np.array_equal(a, b) for a, b in zip(changed, values.interval()))
    assert not np.array_equal(changed[1], first[1])
    other = Nodal(num.astype(object) * 2 ** 40, 2 ** 98)     # Python ints, same values
    assert all(np.array_equal(a, b) for a, b in zip(vectorised.nodal_interval(other),
                                                    other.interval()))
