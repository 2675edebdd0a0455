"""Shorter paths to the same floats (issue 12, sine 16): each against the form it replaced,
kept here as the reference, bit for bit, with NaN, infinities, signed zeros and the ends of
the cube.

- `intervals.IntervalContext.sin_cos`: one `(wide, reach)` of the argument for sin and cos,
  and the extremum tests skipped where no interval of the array can hold the extremum;
  `_series_at`'s first Horner step without arrays of the leading coefficient;
- `vectorised.rows`: blocks written into the unit's arrays (no per-block arrays joined);
- `interpolant.interpolate_floats` in d = 1 without the sort of the general loop, and
  `_estimate` taking f at the grid nodes from the nodal values it already has;
- `ball_arrays.offsets_from`: `ball - c` with the float itself (python-flint makes the
  exact `arb(c)` of it), not an array of `arb(c)` made first.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
from flint import arb

from certify.engine import ball_arrays, interpolant, intervals, vectorised, work_units
from certify.engine.intervals import INTERVALS, IntervalArray, _up
from certify.target import load_target

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(__file__)), "examples")


def _same(a, b) -> bool:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and bool(np.all((a.view(np.int64) == b.view(np.int64))
                                              | (np.isnan(a) & np.isnan(b))))


@pytest.fixture(autouse=True)
def _quiet():
    with np.errstate(all="ignore"):         # infinities and NaN on purpose
        yield


# --------------------------------------------------------------------------- sin_cos

def _sin_or_cos_reference(a, which):
    """`_sin_or_cos` as it was: its own end points and extremum tests."""
    want = (which == 0, which == 1)
    lo_end = intervals._sin_cos_point(a.lo, want)[which]
    hi_end = intervals._sin_cos_point(a.hi, want)[which]
    lo = np.minimum(lo_end.lo, hi_end.lo)
    hi = np.maximum(lo_end.hi, hi_end.hi)
    peak, trough = (math.pi / 2, -math.pi / 2) if which == 0 else (0.0, math.pi)
    wide = ~(a.hi - a.lo < 6.0)

    def contains(offset):
        first = np.ceil((a.lo - offset) / (2 * math.pi) - 1e-9)
        return offset + first * 2 * math.pi <= a.hi + 1e-9 * (1.0 + np.abs(a.hi))
    hi = np.where(wide | contains(peak), 1.0, hi)
    lo = np.where(wide | contains(trough), -1.0, lo)
    return IntervalArray(np.maximum(lo, -1.0), np.minimum(hi, 1.0))


def _arguments():
    rng = np.random.default_rng(21)
    x = np.concatenate([rng.uniform(-50, 50, 2000), np.linspace(0, 2 * np.pi, 513),
                        [0.0, -0.0, 1e5, 2e5, -3e5, np.inf, -np.inf, np.nan, 5e-324,
                         math.pi / 2, -math.pi / 2, math.pi]])
    return [x, np.float64(0.25), np.array(-1.0), np.array(np.nan), np.zeros(0),
            np.full(9, 0.5)]


@pytest.mark.parametrize("x", _arguments(), ids=lambda x: f"{np.shape(x)}")
@pytest.mark.parametrize("width", [0.0, 1e-12, 0.7, 3.5, 7.0])
def test_sin_cos_shares_the_extremum_tests(x, width):
    x = np.asarray(x, dtype=float)
    a = IntervalArray(x, _up(x + width))
    sin, cos = INTERVALS.sin_cos(a)
    for got, which in ((sin, 0), (cos, 1), (INTERVALS.sin(a), 0), (INTERVALS.cos(a), 1)):
        want = _sin_or_cos_reference(a, which)
        assert _same(got.lo, want.lo) and _same(got.hi, want.hi)


@pytest.mark.parametrize("centre", [math.pi / 2, -math.pi / 2, 0.0, math.pi, 2 * math.pi,
                                    5 * math.pi / 2, 1e4 * math.pi + math.pi / 2, 0.3])
def test_extremum_tests_skipped_only_where_all_false(centre):
    """Arrays near an extremum, so that the skip (`_none_contain`) is taken on some and not
    on others, with edges at the tests' slack: sin and cos as the element-wise form."""
    rng = np.random.default_rng(24)
    spacing = np.spacing(abs(centre) + 1.0)
    for offset in (-1e-6, -1e-9, -3e-9, -spacing, 0.0, spacing, 1e-9, 3e-9, 1e-6, 0.01):
        for span in (0.0, 1e-12, 1e-7, 0.05):
            lo = centre + offset + np.sort(rng.uniform(-span, 0.0, 64))
            for width in (0.0, 2 * spacing, 1e-9):
                a = IntervalArray(lo, _up(lo + width))
                sin, cos = INTERVALS.sin_cos(a)
                for got, which in ((sin, 0), (cos, 1), (INTERVALS.sin(a), 0),
                                   (INTERVALS.cos(a), 1)):
                    want = _sin_or_cos_reference(a, which)
                    assert _same(got.lo, want.lo) and _same(got.hi, want.hi)
    for lo in (np.array([centre, np.nan]), np.array([-np.inf, centre]),
               np.array([centre, np.inf]), np.array([-0.0, 0.0]), np.array([centre])):
        a = IntervalArray(lo, lo)
        for which in (0, 1):
            want = _sin_or_cos_reference(a, which)
            got = intervals._sin_or_cos(a, which)
            assert _same(got.lo, want.lo) and _same(got.hi, want.hi)


def _series_reference(r, coefficients, magnitudes, slack):
    """`_series_at` as it was: arrays of `c_n` and `|c_n|` first, `|r|` made here."""
    p = np.full_like(r, coefficients[-1], dtype=np.float64)
    a = np.abs(r)
    m = np.full_like(r, magnitudes[-1], dtype=np.float64)
    for c, mag in zip(reversed(coefficients[:-1]), reversed(magnitudes[:-1])):
        p *= r
        p += c
        m *= a
        m += mag
    m *= slack * intervals._U
    m += 1e-300
    return p, m


@pytest.mark.parametrize("series", [(intervals._SIN_FLOATS, intervals._SIN_MAGNITUDES, 70),
                                    (intervals._COS_FLOATS, intervals._COS_MAGNITUDES, 70),
                                    (intervals._EXP_FLOATS, intervals._EXP_FLOATS, 76),
                                    ([0.5], [0.5], 3), ([0.5, -2.0], [0.5, 2.0], 5)])
def test_series_first_step_is_the_full_form(series):
    rng = np.random.default_rng(25)
    points = [rng.uniform(-0.8, 0.8, 999), rng.uniform(-1e3, 1e3, 99) ** 3,
              np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 5e-324, -5e-324, 1e308, 0.79]),
              np.float64(0.3), np.array(-0.25), np.zeros(0), np.full((3, 4), 0.125)]
    for r in points:
        want = _series_reference(r, *series)
        for a in (None, np.abs(r)):
            got = intervals._series_at(r, *series, a=a)
            assert _same(got[0], want[0]) and _same(got[1], want[1])


# --------------------------------------------------------------------------- rows

def _rows_reference(target, m, first, stop):
    """`rows` as it was: per block its own arrays (`index_rows`), joined afterwards."""
    per_row = m ** (target.dim - 1)
    block = per_row * max(1, work_units.BLOCK_BOXES // per_row)
    parts = work_units.blockwise(
        lambda a, b: vectorised._slab(target, m, first + a // per_row, first + b // per_row),
        (stop - first) * per_row, block)
    return vectorised._joined(parts)


def _flat(data):
    fm, fb, grads, ok = data
    return [fm[0], fm[1], fb[0], fb[1]] + [x for g in grads for x in g] + [ok.astype(float)]


@pytest.mark.parametrize("name, m", [("sine", 4), ("sine", 4096), ("holder", 4096),
                                     ("peaks2d", 64), ("smooth3d", 16)])
@pytest.mark.parametrize("block", [700, 1 << 14])
def test_rows_write_blocks_in_place(name, m, block, monkeypatch):
    monkeypatch.setattr(work_units, "BLOCK_BOXES", block)
    target = load_target(os.path.join(EXAMPLES, f"{name}.py"))
    for first, stop in ((0, m), (1, m - 1)):
        got, want = _flat(vectorised.rows(target, m, first, stop)), \
            _flat(_rows_reference(target, m, first, stop))
        assert len(got) == len(want)
        assert all(_same(a, b) for a, b in zip(got, want))


# --------------------------------------------------------------------------- interpolant

def test_interpolation_in_one_dimension_is_the_general_loop():
    rng = np.random.default_rng(22)
    for n in (1, 3, 64, 1000):
        nodal = rng.standard_normal(n + 1)
        nodal[:4] = [np.inf, -0.0, np.nan, 0.0][:len(nodal[:4])]
        points = np.concatenate([rng.random(3000), np.arange(n + 1) / n,
                                 [0.0, -0.0, 1.0, 1.0 - 2 ** -53, 5e-324]])[:, None]
        got = interpolant.interpolate_floats(nodal, n, points)
        assert _same(got, interpolant._interpolate_simplices(nodal, n, points))


def _estimate_reference(target, n):
    """`_estimate` as it was: f evaluated again at every lattice point."""
    dim = target.dim
    axis = np.arange(n + 1) / n
    grid = np.stack(np.meshgrid(*([axis] * dim), indexing="ij"), axis=-1).reshape(-1, dim)
    nodal = target.floats(grid).reshape((n + 1,) * dim)
    side = interpolant.LATTICE.get(dim, 2)
    while side > 1 and (n * side + 1) ** dim > interpolant.MAX_POINTS:
        side //= 2
    fine = np.arange(n * side + 1) / (n * side)
    points = np.stack(np.meshgrid(*([fine] * dim), indexing="ij"), axis=-1).reshape(-1, dim)
    points = np.concatenate([points, np.random.default_rng(0).random((4000, dim))])
    err = np.abs(target.floats(points) - interpolant._interpolate_simplices(nodal, n, points))
    return float(err.max()) if np.all(np.isfinite(err)) else None


@pytest.mark.parametrize("name, n", [("sine", 7), ("sine", 2 ** 15), ("sine", 2 ** 17),
                                     ("holder", 3 ** 11), ("peaks2d", 300),
                                     ("smooth3d", 40)])
def test_interpolation_estimate_is_unchanged(name, n, monkeypatch):
    monkeypatch.setattr(interpolant, "MAX_POINTS", 140_000)   # side 1 for sine 2^17 too
    target = load_target(os.path.join(EXAMPLES, f"{name}.py"))
    assert interpolant._estimate.__wrapped__(target, n) == _estimate_reference(target, n)


# --------------------------------------------------------------------------- offsets

def test_offsets_from_floats_are_the_balls_of_arb_floats():
    specials = [arb(0), arb(1) / 3, -arb(1) / 3, arb("1e-320"), arb("1e400"), arb("nan"),
                arb("inf"), -arb("inf"), arb(2) ** -1080, arb(1) / 7 * 2 ** 1100,
                arb(0.5), arb(-0.0), arb(5, 3)]
    rng = np.random.default_rng(23)
    balls = ball_arrays.balls_of(specials + [arb(float(v)).sin() for v in
                                             rng.uniform(-9, 9, 500)])
    mids = ball_arrays.mid_rad_floats(balls)[0]
    for centres in (np.where(np.isfinite(mids), mids, 0.0), np.zeros(len(balls)),
                    rng.standard_normal(len(balls))):
        got = ball_arrays.offsets_from(balls, centres)
        want = balls - ball_arrays.to_balls(centres)
        for a, b in zip(got, want):
            assert type(a) is arb
            assert (a.is_nan() and b.is_nan()) or (a.mid() == b.mid() and a.rad() == b.rad())
    # elements that are not balls take the old path
    mixed = np.empty(2, dtype=object)
    mixed[:] = [arb(1) / 3, 2]
    got = ball_arrays.offsets_from(mixed, np.array([0.25, 0.5]))
    assert all(type(a) is arb for a in got) and got[1] == arb(1.5)
