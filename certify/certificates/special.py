"""Special points: where a claim is most likely to fail, tried before refinement gives up.

A violation of (G1) or no-overshoot can live on a set far smaller than any box the
refinement reaches: around a zero of `e_{k-1}` a grade that should vanish but carries a
tiny bias fails on an interval of width `~sqrt(bias)`, and at an exact rational zero
only there. On a piece where `F_{k-1} = P` and `g_k = G` are affine the claim reads

    m(x) = sign(G(x)) · (c (f(x) - P(x)) - G(x)) >= 0,     c = 2 (G1) or 1 (no-overshoot),

so the points to try are the minimisers of `m`: found by coordinate descent in `mpmath`
(a grid then golden sections along each axis, from the solver's model), then turned into
rationals — the nearest simple ones first (a zero at 1/3 is found exactly), then finer
ones. Also tried: the model rounded to simple rationals, the corners of the region's box.
Nothing here decides anything: every candidate goes to `certify.engine.residual.check_point`.
"""

from __future__ import annotations

import functools
import itertools
from fractions import Fraction
from typing import Callable, Sequence

import mpmath
import sympy

#: digits of the mpmath search (candidates only; decisions are exact or in Arb)
DIGITS = 40
GRID, SECTIONS, ROUNDS = 32, 140, 2
DENOMINATORS = (10, 10 ** 3, 10 ** 6, 10 ** 9, 10 ** 12, 10 ** 18, 10 ** 24)

Point = tuple[Fraction, ...]
AffinePair = Callable[[Sequence], tuple]


@functools.lru_cache(maxsize=32)
def _f_mp(expr, symbols):
    return sympy.lambdify(symbols, expr, modules="mpmath")


def _mp(q: Fraction):
    return mpmath.mpf(q.numerator) / q.denominator


def simple_rationals(value, lo: Fraction, hi: Fraction) -> list[Fraction]:
    """Rationals near `value` in `[lo, hi]`, simplest first (continued fractions)."""
    exact = Fraction(mpmath.nstr(value, DIGITS, strip_zeros=False, min_fixed=-10 ** 6,
                                 max_fixed=10 ** 6))
    out = []
    for den in DENOMINATORS:
        q = exact.limit_denominator(den)
        if lo <= q <= hi and q not in out:
            out.append(q)
    q = min(max(exact, lo), hi)
    if q not in out:
        out.append(q)
    return out


def local_affine(network, grade: int, x: Point):
    """`(F_{k-1}, g_k)` as exact affine maps `(value at x, gradient)` on the linear region
    of the network that contains `x` (neurons at exactly 0 taken inactive)."""
    d = network.dim
    units = [(Fraction(v), tuple(Fraction(int(i == j)) for j in range(d)))
             for i, v in enumerate(x)]
    outputs = []
    for g in network.grades[:grade]:
        for layer in g.sparse():
            new = []
            for cols, ws, b in layer:
                value = sum((w * units[c][0] for c, w in zip(cols, ws)), Fraction(b))
                if value > 0:
                    grad = tuple(sum((w * units[c][1][i] for c, w in zip(cols, ws)), Fraction(0))
                                 for i in range(d))
                    new.append((value, grad))
                else:
                    new.append((Fraction(0), (Fraction(0),) * d))
            units = new
        value = sum((w * u[0] for w, u in zip(g.readout_weight, units)), g.readout_bias)
        grad = tuple(sum((w * u[1][i] for w, u in zip(g.readout_weight, units)), Fraction(0))
                     for i in range(d))
        outputs.append((value, grad))
    prev_v = sum((o[0] for o in outputs[:-1]), Fraction(0))
    prev_g = tuple(sum((o[1][i] for o in outputs[:-1]), Fraction(0)) for i in range(d))
    x = tuple(Fraction(v) for v in x)
    return _Affine(x, prev_v, prev_g), _Affine(x, *outputs[-1])


class _Affine:
    """`v + grad · (y - origin)`."""

    def __init__(self, origin, value, grad):
        self.origin, self.value0, self.grad = origin, value, grad

    def __call__(self, y):
        return self.value0 + sum((gi * (yi - oi) for gi, yi, oi in
                                  zip(self.grad, y, self.origin)), Fraction(0))


def _mp_affine(a):
    """An affine map (anything with origin, value0, grad) evaluated in mpmath."""
    origin = [_mp(Fraction(o)) for o in a.origin]
    grad = [_mp(Fraction(g)) for g in a.grad]
    value = _mp(Fraction(a.value0))
    return lambda y: value + mpmath.fsum(g * (v - o) for g, v, o in zip(grad, y, origin))


def candidates(target, claim_factor: int, box, model: Point, affines) -> list[Point]:
    """Rational points worth an exact check, most promising first (see the module doc)."""
    lo, hi = [Fraction(v) for v in box[0]], [Fraction(v) for v in box[1]]
    d = len(lo)
    out: list[Point] = []

    def add(p):
        p = tuple(min(max(Fraction(v), Fraction(0)), Fraction(1)) for v in p)
        if p not in out:
            out.append(p)

    with mpmath.workdps(DIGITS):
        try:
            f = _f_mp(target.expr, target.symbols)
            P, G = (_mp_affine(a) for a in affines)
        except Exception:             # noqa: BLE001 - no mpmath form: model and corners only
            f = None
        if f is not None:
            def m(y):
                try:
                    gv = G(y)
                    if gv == 0:
                        return mpmath.inf
                    value = claim_factor * (mpmath.mpf(f(*y)) - P(y)) - gv
                    return value if gv > 0 else -value
                except (ValueError, ZeroDivisionError, TypeError, OverflowError):
                    return mpmath.inf
            for point in _descend(m, [_mp(v) for v in model], [_mp(v) for v in lo],
                                  [_mp(v) for v in hi]):
                options = [simple_rationals(v, a, b) for v, a, b in zip(point, lo, hi)]
                for level in range(max(len(o) for o in options)):
                    add(tuple(o[min(level, len(o) - 1)] for o in options))
    for level in range(3):
        add(tuple(Fraction(v).limit_denominator(DENOMINATORS[level]) for v in model))
    if d <= 3:
        for corner in itertools.product(*zip(lo, hi)):
            add(corner)
    return out


def _descend(m, x, lo, hi) -> list[list]:
    """Coordinate descent on `m` within the box; the point after each axis step."""
    points = []
    x = [min(max(v, a), b) for v, a, b in zip(x, lo, hi)]
    for _ in range(ROUNDS):
        for i in range(len(x)):
            x[i] = _line_minimum(lambda t: m(x[:i] + [t] + x[i + 1:]), x[i], lo[i], hi[i])
            points.append(list(x))
    return points[::-1]


def _line_minimum(phi, start, a, b):
    """A grid over `[a, b]` (and `start`), then golden sections around the best node."""
    if b <= a:
        return a
    step = (b - a) / GRID
    nodes = [a + j * step for j in range(GRID + 1)] + [start]
    values = [phi(t) for t in nodes]
    best = min(range(len(nodes)), key=values.__getitem__)
    centre = nodes[best]
    left, right = max(a, centre - step), min(b, centre + step)
    ratio = (mpmath.sqrt(5) - 1) / 2
    c, d = right - ratio * (right - left), left + ratio * (right - left)
    fc, fd = phi(c), phi(d)
    for _ in range(SECTIONS):
        if fc <= fd:
            right, d, fd = d, c, fc
            c = right - ratio * (right - left)
            fc = phi(c)
        else:
            left, c, fc = c, d, fd
            d = left + ratio * (right - left)
            fd = phi(d)
    found = (left + right) / 2
    return found if phi(found) <= values[best] else centre
