"""Shortcuts in `certify.engine.intervals` that skip work whose result is known: `_reduce`
without the `np.where`s when no argument is out of range or below 0, a product with a
point interval from its two distinct products, `_sin_or_cos` without the `np.where`s when
no interval holds an extremum. Each against the full form it replaced (kept here as the
reference), bit for bit, on arrays and 0-d values, with NaN, infinities and signed zeros."""

from __future__ import annotations

import math

import numpy as np
import pytest

from certify.engine import intervals
from certify.engine.intervals import (IntervalArray, _HALF_PI, _LN2, _TRIG_RANGE, _dn,
                                      _lift, _up)


def _reduce_reference(x, constant, reach, radius):
    x = np.asarray(x, dtype=float)
    bad = ~(np.abs(x) <= reach)
    x = np.where(bad, 0.0, x)
    k = np.rint(x / float(constant.lo))
    low, high = k * constant.lo, k * constant.hi
    positive = k >= 0
    t = IntervalArray(_dn(np.where(positive, low, high)), _up(np.where(positive, high, low)))
    r = IntervalArray.point(x) - t
    return k, r, bad | ~((np.abs(r.lo) <= radius) & (np.abs(r.hi) <= radius))


def _mul_reference(self, o):
    o = _lift(o)
    a, b, c, d = self.lo * o.lo, self.lo * o.hi, self.hi * o.lo, self.hi * o.hi
    return IntervalArray(_dn(np.minimum(np.minimum(a, b), np.minimum(c, d))),
                         _up(np.maximum(np.maximum(a, b), np.maximum(c, d))))


def _sin_or_cos_reference(a, which, ends=None):
    want = (which == 0, which == 1)
    lo_ends, hi_ends = ends or (intervals._sin_cos_point(a.lo, want),
                                intervals._sin_cos_point(a.hi, want))
    lo_end, hi_end = lo_ends[which], hi_ends[which]
    lo = np.minimum(lo_end.lo, hi_end.lo)
    hi = np.maximum(lo_end.hi, hi_end.hi)
    peak, trough = (math.pi / 2, -math.pi / 2) if which == 0 else (0.0, math.pi)
    wide = ~(a.hi - a.lo < 6.0)
    hi = np.where(wide | intervals._contains_point(a.lo, a.hi, peak, 2 * math.pi), 1.0, hi)
    lo = np.where(wide | intervals._contains_point(a.lo, a.hi, trough, 2 * math.pi), -1.0, lo)
    return IntervalArray(np.maximum(lo, -1.0), np.minimum(hi, 1.0))


def _same(a, b) -> bool:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and bool(np.all((a.view(np.int64) == b.view(np.int64))
                                              | (np.isnan(a) & np.isnan(b))))


def _points():
    rng = np.random.default_rng(12)
    return [rng.uniform(0, 6.3, 3000), rng.uniform(-50, 50, 3000), np.full(7, 0.25),
            np.linspace(0, 1, 1025) * 2 * np.pi, np.array([0.0, -0.0, 1e5, 2e5, -3e5, np.inf,
                                                           -np.inf, np.nan, 5e-324]),
            rng.uniform(-700, 700, 500), np.zeros(0), np.float64(2.5), np.array(-1.0),
            np.array(np.nan)]


@pytest.fixture(autouse=True)
def _quiet():
    with np.errstate(all="ignore"):         # infinities and NaN on purpose
        yield


@pytest.mark.parametrize("x", _points(), ids=lambda x: f"{np.shape(x)}")
def test_reduce_is_the_full_form(x):
    for constant, reach, radius in ((_HALF_PI, _TRIG_RANGE, 0.79), (_LN2, 700.0, 0.36)):
        got = intervals._reduce(x, constant, reach, radius)
        want = _reduce_reference(x, constant, reach, radius)
        assert _same(got[0], want[0]) and _same(got[1].lo, want[1].lo)
        assert _same(got[1].hi, want[1].hi) and np.array_equal(got[2], want[2])


def _intervals():
    rng = np.random.default_rng(13)
    lo = rng.uniform(-3, 3, 400)
    lo[:8] = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e308, -1e308, 5e-324]
    hi = lo + rng.uniform(0, 1, 400)
    scalars = [IntervalArray(np.float64(a), np.float64(b)) for a, b in
               ((1.5, 1.5), (-2.0, 3.0), (0.0, 0.0), (-0.0, 0.0), (np.inf, np.inf))]
    return [IntervalArray(lo, hi), IntervalArray(-hi, -lo), IntervalArray(lo, lo)] + scalars


def test_products_with_points_are_the_four_product_form():
    xs = _intervals()
    points = [IntervalArray.point(x.lo) for x in xs] + [IntervalArray.point(np.float64(3.0))]
    for p in points:
        for x in xs + points:
            for a, b in ((p, x), (x, p)):
                try:
                    got, want = a * b, _mul_reference(a, b)
                except ValueError:              # shapes that do not broadcast
                    continue
                assert _same(got.lo, want.lo) and _same(got.hi, want.hi)


@pytest.mark.parametrize("x", _points()[:7], ids=lambda x: f"{np.shape(x)}")
def test_sin_and_cos_over_intervals_are_the_full_form(x):
    x = np.asarray(x, dtype=float)
    for width in (0.0, 1e-3, 0.7, 3.5, 7.0):
        a = IntervalArray(x, _up(x + width))
        for which in (0, 1):
            got, want = intervals._sin_or_cos(a, which), _sin_or_cos_reference(a, which)
            assert _same(got.lo, want.lo) and _same(got.hi, want.hi)
