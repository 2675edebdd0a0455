"""The grid prover's node data (`anchored_grid.Grid._node_floats`) from object arrays of Arb
balls (`ball_arrays.node_balls`, `float_ends`, `offsets_from`) are the very floats the
point-by-point path gave: each ball from one run of the scalar Arb context at the node,
`float(ball.mid())`, `float(ball.rad())` and `ball - arb(c)` per node."""

from __future__ import annotations

import itertools
import os
import random
from fractions import Fraction

import numpy as np
import pytest
from flint import arb

from certify.certificates import anchored_grid
from certify.engine import ball_arrays
from certify.engine.expression import _CONTEXTS
from certify.engine.intervals import step_down, step_up
from certify.target import load_target, target_from_expression

ROOT = os.path.join(os.path.dirname(__file__), os.pardir)
BALL = _CONTEXTS["ball"]


def _ball_floats(balls, mids):
    """The float intervals around balls, point by point, as `vectorised._ball_floats` was
    written before it read them from object arrays (the reference)."""
    rads = np.array([float(b.rad()) for b in balls], dtype=float)
    with np.errstate(all="ignore"):
        rad = step_up(rads)
        return step_down(step_down(mids) - rad), step_up(step_up(mids) + rad)


def _reference(grid, ids):
    """`_node_floats` as it was written point by point (the old path)."""
    n, dim = grid.n, grid.dim
    nodes = zip(*(a.tolist() for a in np.unravel_index(np.asarray(ids), (n + 1,) * dim)))
    if n & (n - 1) == 0:
        axis = [arb(i) / n for i in range(n + 1)]
        balls = [grid.target._program.run("value", BALL, [axis[i] for i in node])[0]
                 for node in nodes]
    else:
        balls = [grid.vertices.ball(tuple(Fraction(i, n) for i in node)) for node in nodes]
    mids = np.array([float(b.mid()) for b in balls], dtype=float)
    f_lo, f_hi = _ball_floats(balls, mids)
    centre = np.where(np.isfinite(mids), mids, 0.0)
    offsets = [b - arb(c) for b, c in zip(balls, centre.tolist())]
    e_lo, e_hi = _ball_floats(offsets, np.array([float(b.mid()) for b in offsets]))
    bad = ~(np.isfinite(f_lo) & np.isfinite(f_hi) & np.isfinite(e_lo) & np.isfinite(e_hi))
    e_lo, e_hi = np.where(bad, np.nan, e_lo), np.where(bad, np.nan, e_hi)
    return f_lo, f_hi, centre, e_lo, e_hi


def _same_floats(a, b) -> bool:
    """Bit for bit (NaN where NaN, the sign of zero too)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and bool(np.all((a.view(np.int64) == b.view(np.int64))
                                              | (np.isnan(a) & np.isnan(b))))


TARGETS = ["examples/sine.py", "examples/peaks2d.py", "examples/smooth3d.py",
           "examples/runge.py", "examples/holder.py", "tests/targets/kink.py",
           "tests/targets/cusp2d.py", "tests/targets/bump.py", "tests/targets/wave.py"]


@pytest.mark.parametrize("path", TARGETS)
def test_node_floats_are_the_point_by_point_floats(path):
    target = load_target(os.path.join(ROOT, path))
    dim = target.dim
    rng = np.random.default_rng(11)
    for n in {1: (64, 48), 2: (16, 12), 3: (4, 6)}[dim]:       # dyadic, and not
        grid = anchored_grid.Grid(target, n)
        size = (n + 1) ** dim
        for ids in (np.arange(size), np.arange(1, size, 2), np.sort(rng.choice(size, 5)),
                    rng.permutation(size)[: size // 2 + 3], np.zeros(0, dtype=np.int64)):
            got, want = grid._node_floats(ids), _reference(grid, ids)
            assert all(_same_floats(a, b) for a, b in zip(got, want)), (path, n, ids[:5])


def test_zeros_roots_and_kinks():
    """Exact zeros (sin(pi x) at x = 0, 1), roots of balls touching 0, kinks (non-finite
    balls are in `test_float_ends_on_random_balls`)."""
    for text in ("sin(pi*x1)", "sqrt(x1)", "x1**(1/3)", "abs(x1 - 1/3)", "x1**2 - x1",
                 "exp(-1/(x1 + 1/100))"):
        target = target_from_expression(text)
        for n in (8, 6):
            grid = anchored_grid.Grid(target, n)
            ids = np.arange(n + 1)
            got, want = grid._node_floats(ids), _reference(grid, ids)
            assert all(_same_floats(a, b) for a, b in zip(got, want)), text


def test_float_ends_on_random_balls():
    """`float_ends` against `float(b.mid())` and `_ball_floats` on arbitrary balls: every
    binade, exact and inexact mid-points, zero, huge and tiny radii, infinities and NaN."""
    rnd = random.Random(3)
    balls = [arb(0), arb(1), arb(-1), arb("nan"), arb("inf"), arb("-inf"),
             arb(0, 1), arb(1, "inf"), arb(2) ** 2000, -arb(2) ** -2000, arb(1) / 3]
    for _ in range(3000):
        mid = rnd.uniform(-1, 1) * 2.0 ** rnd.randint(-1070, 1020)
        rad = rnd.random() * 2.0 ** rnd.randint(-1074, 1020) if rnd.random() < 0.8 else 0.0
        ball = arb(mid, rad)
        balls += [ball, ball / 7, ball.sin(), ball * arb(2) ** rnd.randint(-1100, 1100)]
    array = ball_arrays.balls_of(balls)
    mids, lo, hi = ball_arrays.float_ends(array)
    want_mids = np.array([float(b.mid()) for b in balls], dtype=float)
    want_lo, want_hi = _ball_floats(balls, want_mids)
    assert _same_floats(mids, want_mids)
    assert _same_floats(lo, want_lo) and _same_floats(hi, want_hi)
    centres = np.where(np.isfinite(mids), mids, 0.0)
    got = ball_arrays.offsets_from(array, centres)
    for a, b, c in zip(got.tolist(), balls, centres.tolist()):
        want = b - arb(c)
        assert (a.mid(), a.rad()) == (want.mid(), want.rad()) or (a.is_nan() and want.is_nan())


def test_own_methods_are_the_context_methods():
    """The Arb context's elementary functions over object arrays are the ball's own methods,
    and a non-ball element sends the array through the context's method."""
    context = ball_arrays.BallArrays(BALL)
    xs = ball_arrays.balls_of([arb(i) / 7 - 1 for i in range(15)] + [arb(0, 0.5)])
    for name in ball_arrays._METHODS + ("sin_cos",):
        got = getattr(context, name)(xs)
        want = [getattr(BALL, name)(x) for x in xs.tolist()]
        if name == "sin_cos":
            got, want = list(zip(*got)), want
        for a, b in zip(list(got), want):
            for u, v in zip(a if name == "sin_cos" else [a], b if name == "sin_cos" else [b]):
                assert (u.mid(), u.rad()) == (v.mid(), v.rad()) or (u.is_nan() and v.is_nan())
    mixed = np.empty(2, dtype=object)
    mixed[:] = [arb(1) / 3, Fraction(1, 3)]
    got = context.sin(mixed)
    assert [(b.mid(), b.rad()) for b in got] == [(b.mid(), b.rad()) for b in
                                                 (BALL.sin(arb(1) / 3), BALL.sin(Fraction(1, 3)))]


def test_node_balls_in_one_dimension_use_only_the_asked_coordinates():
    target = load_target(os.path.join(ROOT, "examples/sine.py"))
    n = 2 ** 10
    ids = np.array([3, 1023, 0, 1024, 511], dtype=np.int64)
    got = ball_arrays.node_balls(target._program, BALL, n, 1, ids)
    for ball, i in zip(got, ids.tolist()):
        want = target._program.run("value", BALL, [arb(i) / n])[0]
        assert (ball.mid(), ball.rad()) == (want.mid(), want.rad())
    assert list(itertools.chain(ball_arrays.node_balls(target._program, BALL, n, 1,
                                                       np.zeros(0, dtype=np.int64)))) == []


def test_coordinate_balls_from_floats_are_the_quotients():
    """`arb(i / n)` (a float, exact) is the ball `arb(i) / n` on dyadic grids."""
    rng = np.random.default_rng(2)
    for n in (1, 2, 64, 2 ** 12, 2 ** 20, 2 ** 30):
        ids = np.unique(np.concatenate([np.arange(min(n, 4096) + 1),
                                        rng.integers(0, n + 1, 2000), [n - 1, n]]))
        got = ball_arrays.to_balls(ids / n)
        for ball, i in zip(got.tolist(), ids.tolist()):
            want = arb(i) / n
            assert (ball.mid(), ball.rad()) == (want.mid(), want.rad()) and ball.rad() == 0
