"""`certify.engine.intervals`: float interval arrays rounded outward must contain the true value.

Every function is checked against mpmath at 40 digits: at float points over wide ranges
(with hypothesis, and pinned points where the argument reduction or a series is at its
edge), and over intervals at points inside them; a non-finite end point means "not
enclosed" and is allowed only outside the documented ranges. Then the target programs:
the f data of `certify.engine.vectorised` from these intervals must contain f and its gradient at
points of every sub-box, and agree with the Arb path it replaces.
"""

from __future__ import annotations

import math
from fractions import Fraction

import mpmath
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from flint import ctx as flint_ctx

from certify.engine import vectorised
from certify.errors import NotExact
from certify.engine.numbers import BALL, ball_bounds
from certify.engine.intervals import INTERVALS, IntervalArray, step_down, step_up
from certify.target import load_target

mpmath.mp.dps = 40

FUNCTIONS = {
    "exp": (INTERVALS.exp, mpmath.exp, 60.0),
    "log": (INTERVALS.log, mpmath.log, None),
    "sin": (INTERVALS.sin, mpmath.sin, 1000.0),
    "cos": (INTERVALS.cos, mpmath.cos, 1000.0),
    "atan": (INTERVALS.atan, mpmath.atan, 1e6),
    "sinh": (INTERVALS.sinh, mpmath.sinh, 40.0),
    "cosh": (INTERVALS.cosh, mpmath.cosh, 40.0),
    "tanh": (INTERVALS.tanh, mpmath.tanh, 40.0),
    "cbrt": (lambda a: INTERVALS.pow(a, Fraction(1, 3)), mpmath.cbrt, None),
    "pow 5/2": (lambda a: INTERVALS.pow(a, Fraction(5, 2)), lambda x: x ** 2.5, None),
    "pow -3": (lambda a: INTERVALS.pow(a, Fraction(-3)), lambda x: x ** -3, 1e3),
    "pow 4": (lambda a: INTERVALS.pow(a, Fraction(4)), lambda x: x ** 4, 1e3),
}


def _contains(out: IntervalArray, values) -> None:
    for lo, hi, v in zip(np.atleast_1d(out.lo), np.atleast_1d(out.hi), values):
        assert np.isfinite(lo) and np.isfinite(hi), (lo, hi, v)
        assert mpmath.mpf(float(lo)) <= v <= mpmath.mpf(float(hi)), (lo, hi, v)


def _points(name: str, scale: float | None, rng) -> np.ndarray:
    if scale is None:            # positive arguments over many magnitudes
        return np.concatenate([10 ** rng.uniform(-30, 30, 400), rng.uniform(0.01, 4, 400),
                               [1.0, 1 + 2 ** -52, 1 - 2 ** -53, 0.7071067811865476, 2.0]])
    return np.concatenate([rng.uniform(-scale, scale, 800), rng.uniform(-2, 2, 200),
                           [0.0, 1e-300, -1e-20, math.pi, math.pi / 2, -math.pi / 4, 1.0,
                            0.4142135623730950, 0.41421356237309515]])


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_points_are_enclosed(name):
    fn, exact, scale = FUNCTIONS[name]
    xs = _points(name, scale, np.random.default_rng(sorted(FUNCTIONS).index(name)))
    if name == "pow -3":
        xs = xs[np.abs(xs) > 1e-3]
    out = fn(IntervalArray.point(xs))
    _contains(out, [exact(mpmath.mpf(float(x))) for x in xs])
    width = np.abs(out.hi - out.lo) / np.maximum(np.abs(out.hi), 1e-300)
    assert np.median(width) < 1e-12        # tight, not merely correct


@pytest.mark.parametrize("name", ["exp", "sin", "cos", "cosh", "tanh", "atan", "log"])
@given(a=st.floats(-30, 30), width=st.floats(0, 4), inner=st.floats(0, 1))
@example(a=1.5707963267948966, width=1e-9, inner=0.5)     # a maximum of sin inside
@example(a=3.141592653589793, width=0.0, inner=0.0)       # a zero of sin at the end
@example(a=-1e-300, width=2e-300, inner=0.5)              # straddles 0
@settings(max_examples=60, deadline=None)
def test_intervals_are_enclosed(name, a, width, inner):
    fn, exact, _ = FUNCTIONS[name]
    if name == "log":
        a = abs(a) + 1e-3
    b = a + width
    out = fn(IntervalArray(np.array([a]), np.array([b])))
    x = mpmath.mpf(a) + inner * (mpmath.mpf(b) - mpmath.mpf(a))
    _contains(out, [exact(x)])


def test_outside_the_ranges_is_not_enclosed_rather_than_wrong():
    assert not INTERVALS.exp(IntervalArray.point(np.array([800.0]))).finite().any()
    assert not INTERVALS.log(IntervalArray(np.array([-1.0]), np.array([1.0]))).finite().any()
    assert not (IntervalArray.point(np.array([1.0])) /
                IntervalArray(np.array([-1.0]), np.array([1.0]))).finite().any()
    assert not INTERVALS.sin(IntervalArray.point(np.array([1e7]))).finite().any()


def test_arithmetic_rounds_outward():
    third = INTERVALS.convert(Fraction(1, 3))
    assert third.lo < third.hi and Fraction(float(third.lo)) < Fraction(1, 3) < \
        Fraction(float(third.hi))
    one = third * INTERVALS.convert(3)
    assert one.lo < 1 < one.hi
    tenth = INTERVALS.convert(Fraction(1, 10))
    total = tenth + tenth + tenth             # 0.1 + 0.1 + 0.1 != 0.3 in floats
    assert Fraction(float(total.lo)) <= Fraction(3, 10) <= Fraction(float(total.hi))
    assert INTERVALS.convert(Fraction(1, 4)).lo == 0.25 == INTERVALS.convert(Fraction(1, 4)).hi



def _edges_of_every_binade() -> np.ndarray:
    """Powers of two from the smallest normal to the largest, the floats either side of
    each, random mantissas in every binade, both signs, and the subnormals near 0."""
    rng = np.random.default_rng(12)
    powers = np.ldexp(1.0, np.arange(-1022, 1024))
    mantissas = np.ldexp(1.0 + rng.integers(0, 2 ** 52, (20, powers.size)) / 2.0 ** 52,
                         np.arange(-1022, 1024))
    subnormal = np.ldexp(np.concatenate([np.arange(0, 4000), rng.integers(0, 2 ** 52, 4000)]),
                         -1074)
    with np.errstate(over="ignore"):
        positive = np.concatenate([powers, np.nextafter(powers, 0), np.nextafter(powers, np.inf),
                                   mantissas.ravel(), subnormal])
    positive = positive[np.isfinite(positive)]
    return np.concatenate([positive, -positive])


def test_steps_are_nextafter_for_normal_floats_and_enclose_below():
    """`step_up`/`step_down` (a multiply-add) equal `nextafter` wherever `|x| c` is normal
    (so outward rounding, hence every network, is what `nextafter` gave) and step at least
    as far everywhere else (subnormals, 0): still outward, never inward."""
    x = _edges_of_every_binade()
    with np.errstate(over="ignore"):
        up, down = step_up(x), step_down(x)
        next_up, next_down = np.nextafter(x, np.inf), np.nextafter(x, -np.inf)
    normal = np.abs(x) >= 2.0 ** -960
    assert np.array_equal(up[normal], next_up[normal])
    assert np.array_equal(down[normal], next_down[normal])
    assert np.all(up >= next_up) and np.all(down <= next_down)
    with np.errstate(over="ignore", invalid="ignore"):
        assert step_up(1.7976931348623157e308) == np.inf
        assert np.isnan(step_up(-np.inf)) and np.isnan(step_down(np.inf))   # not enclosed
    assert step_up(np.inf) == np.inf and step_down(-np.inf) == -np.inf


def test_sin_cos_in_one_pass_is_sin_and_cos():
    """`sin_cos` (what compiled targets call when f or its gradient has both sin u and
    cos u) gives exactly `sin` and `cos`, also across the quarter boundaries and extrema."""
    lo = np.linspace(-20.0, 20.0, 4001)
    for width in (0.0, 1e-3, 0.5, 7.0):
        a = IntervalArray(lo, lo + width)
        s, c = INTERVALS.sin_cos(a)
        for got, want in ((s, INTERVALS.sin(a)), (c, INTERVALS.cos(a))):
            assert np.array_equal(got.lo, want.lo) and np.array_equal(got.hi, want.hi)

def _inside(ball, lo, hi) -> bool:
    """The (tight, 200-bit) ball lies within the float interval [lo, hi]."""
    low, high = ball_bounds(ball)
    return Fraction(float(lo)) <= low and high <= Fraction(float(hi))


@pytest.mark.parametrize("path, m", [("examples/sine.py", 64), ("examples/peaks2d.py", 12),
                                     ("examples/smooth3d.py", 5), ("examples/holder.py", 48),
                                     ("examples/runge.py", 40), ("tests/targets/bump.py", 30)])
def test_f_data_contains_f_and_gradient(path, m, monkeypatch):
    """`vectorised.rows` (float intervals, Arb fallback): at random points of each sub-box,
    f lies in the box enclosure, f at the mid-point in the mid enclosure, and the gradient
    in the gradient enclosure where that is marked usable."""
    target = load_target(path)
    monkeypatch.setattr(vectorised, "MIN_VECTOR_BOXES", 0)
    fm, fb, grads, ok = vectorised.rows(target, m, 0, m)
    rng = np.random.default_rng(1)
    flat = list(np.ndindex(*(m,) * target.dim))
    old = flint_ctx.prec
    flint_ctx.prec = 200
    try:
        for i in rng.choice(len(flat), size=min(len(flat), 40), replace=False):
            index = flat[i]
            assert _inside(target.ball([Fraction(2 * j + 1, 2 * m) for j in index]),
                           fm[0][i], fm[1][i])
            x = [Fraction(j, m) + Fraction(int(rng.integers(0, 97)), 97 * m) for j in index]
            assert _inside(target.ball(x), fb[0][i], fb[1][i])
            if not ok[i]:
                continue
            try:
                gradient = target.gradient(BALL, x)
            except NotExact:            # a kink exactly at x: nothing to compare
                continue
            for axis, g in enumerate(gradient):
                if g.is_finite():
                    assert _inside(g, grads[axis][0][i], grads[axis][1][i])
    finally:
        flint_ctx.prec = old


def test_f_data_falls_back_to_arb_where_floats_fail(monkeypatch):
    """A sub-box the float intervals cannot enclose is computed in Arb: same data."""
    target = load_target("examples/sine.py")
    expected = vectorised._rows_arb(target, 16, [(i,) for i in range(16)])
    monkeypatch.setattr(vectorised, "MIN_VECTOR_BOXES", 0)
    nan = IntervalArray(np.full(16, np.nan), np.full(16, np.nan))
    monkeypatch.setattr(type(target), "box_intervals", lambda self, mid, box: (nan, nan, [nan]))
    got = vectorised.rows(target, 16, 0, 16)
    assert np.array_equal(got[1][0], expected[1][0]) and np.array_equal(got[3], expected[3])
