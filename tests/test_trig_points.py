"""`intervals._sin_cos_point` takes `s` or `c` themselves where a whole array lies in one
quarter (no `np.where`), and sums only the series a wanted output needs there: the same
floats as the `np.where` form with both series (kept here as the reference), on uniform
and mixed quarters, negative and huge arguments, NaN and infinities, 0-d arrays."""

from __future__ import annotations

import numpy as np
import pytest

from certify.engine import intervals
from certify.engine.intervals import (IntervalArray, _COS_FLOATS, _COS_MAGNITUDES, _HALF_PI,
                                      _SIN_FLOATS, _SIN_MAGNITUDES, _SIN_TERMS,
                                      _TRIG_RANGE, _TRIG_REMAINDER, _U, _dn, _reduce,
                                      _series_at, _up)


def _reference(x):
    """`_sin_cos_point` as it was (every pick by `np.where`, NaN by `np.copyto`)."""
    k, r, bad = _reduce(x, _HALF_PI, _TRIG_RANGE, 0.79)
    point, width = r.lo, _up(r.hi - r.lo)
    square = point * point
    slack = 6 * _SIN_TERMS + 16
    q, q_error = _series_at(square, _SIN_FLOATS, _SIN_MAGNITUDES, slack)
    c, c_error = _series_at(square, _COS_FLOATS, _COS_MAGNITUDES, slack)
    s = point * q
    s_error = _up(_up(np.abs(point) * q_error) + _up(_U * 2 * np.abs(s)))
    extra = _up(_TRIG_REMAINDER + width)
    s_error, c_error = _up(s_error + extra), _up(c_error + extra)
    s = IntervalArray(_dn(s - s_error), _up(s + s_error))
    c = IntervalArray(_dn(c - c_error), _up(c + c_error))
    quarter = k.astype(np.int64) & 3
    odd, half = (quarter & 1).astype(bool), quarter >= 2

    def pick(first, second, negate):
        lo, hi = np.where(odd, second.lo, first.lo), np.where(odd, second.hi, first.hi)
        lo, hi = np.where(negate, -hi, lo), np.where(negate, -lo, hi)
        np.copyto(lo, np.nan, where=bad)
        np.copyto(hi, np.nan, where=bad)
        return IntervalArray(lo, hi)
    return pick(s, c, half), pick(c, s, half != odd)


def _bits(a):
    a = np.asarray(a, dtype=np.float64)
    return np.where(np.isnan(a), 0, a.view(np.int64)), np.isnan(a)


def _inputs():
    rng = np.random.default_rng(9)
    out = []
    for quarter in range(-6, 7):                  # one quarter each (the shortcut)
        centre = quarter * np.pi / 2
        out.append(centre + rng.uniform(-0.7, 0.7, 500))
        out.append(np.full(3, centre))
    out.append(rng.uniform(-20, 20, 2000))          # mixed quarters
    out.append(np.linspace(0, 2 * np.pi, 4097))
    out.append(np.array([0.0, -0.0, np.pi / 4, 1e5, -1e5, 1e5 + 1, np.inf, -np.inf,
                         np.nan, 5e-324, 1e300]))
    out.append(np.concatenate([np.full(50, 0.3), [np.nan]]))     # one quarter and a NaN
    out.append(np.full(40, 2e5))                                  # all out of range
    out.append(np.zeros(0))
    out += [np.float64(0.3), np.array(2.0), np.array(-7.5), np.array(np.inf)]
    return out


@pytest.mark.parametrize("x", _inputs(), ids=lambda x: f"{np.shape(x)}")
def test_sin_cos_points_are_the_reference_floats(x):
    want = _reference(x)
    for wanted in ((True, True), (True, False), (False, True)):
        got = intervals._sin_cos_point(x, wanted)
        for g, w, asked in zip(got, want, wanted):
            assert (g is None) == (not asked)
            for a, b in (((g.lo, w.lo), (g.hi, w.hi)) if asked else ()):
                assert np.shape(a) == np.shape(b)
                (va, na), (vb, nb) = _bits(a), _bits(b)
                assert np.array_equal(na, nb) and np.array_equal(va, vb)


@pytest.mark.parametrize("x", _inputs()[:30:3], ids=lambda x: f"{np.shape(x)}")
def test_sin_and_cos_over_intervals_are_unchanged(x):
    """`IntervalContext.sin` / `cos` (one output wanted) against `sin_cos` (both)."""
    x = np.asarray(x, dtype=float)
    a = IntervalArray(x, _up(x))
    both = intervals.INTERVALS.sin_cos(a)
    for one, other in ((intervals.INTERVALS.sin(a), both[0]), (intervals.INTERVALS.cos(a), both[1])):
        for u, v in ((one.lo, other.lo), (one.hi, other.hi)):
            assert np.array_equal(_bits(u)[0], _bits(v)[0]) and np.array_equal(_bits(u)[1], _bits(v)[1])


def test_the_two_picks_do_not_share_arrays():
    x = np.full(100, 0.3)                           # quarter 0: sin is s, cos is c
    sin, cos = intervals._sin_cos_point(x)
    arrays = [sin.lo, sin.hi, cos.lo, cos.hi]
    assert len({id(a) for a in arrays}) == 4
    assert not any(np.shares_memory(a, b) for i, a in enumerate(arrays) for b in arrays[i + 1:])
