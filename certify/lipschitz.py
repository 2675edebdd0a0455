"""The max-norm Lipschitz constant a target file claims, proved (or refuted) on the cube.

`LIPSCHITZ = L` is used by the construction's error bounds, so it is never taken on trust:
`verify_lipschitz` proves `ess sup ||∇f||_1 <= L` over [0,1]^d by bisection. Each generation
of boxes is first tried at once in float intervals rounded outward
(`certify.engine.intervals`; an undecided kink factor is its hull, which covers every
choice of it). Boxes far from the claim either way in floats are bisected without more ado;
the others are tried one by one with Arb enclosures, kink factors enumerated, and a box
whose mid-point has `||∇f(x)||_1 > L` in Arb refutes the claim. A piecewise-linear f is
checked exactly, piece by piece (`piecewise_linear_slope`).
"""

from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np
from flint import arb

from .errors import NotExact
from .engine.expression import _CONTEXTS, _IV, _Iv, _Program, _ball_of, box_balls
from .engine.intervals import INTERVALS, IntervalArray, step_up
from .engine.numbers import ball_bounds


_NEAR = 2.0 ** -20               # relative distance from the claim at which floats defer


def _float_sort(program: _Program, boxes: list, claimed: Fraction) -> tuple[np.ndarray, np.ndarray]:
    """`(cleared, split)` over boxes `(lo, hi)`, all at once in floats.

    *cleared*: float intervals rounded outward prove `||∇f||_1 <= claimed` on the box (the
    end points are dyadic bisections of [0, 1], hence exact floats; any that is not, and any
    enclosure that is not finite, leaves the box to Arb; the sum of the `max(|lo|, |hi|)` is
    rounded up at each addition and compared with a float not above `claimed`).
    *split*: the float enclosure exceeds the claim by more than a relative `2^-20` and plain
    floats at the box's mid-point find `||∇f||_1` below it by as much, so neither Arb's proof
    on the whole box nor its refutation at the mid-point is tried: the box is bisected. Floats
    only choose what Arb tries here; nothing is concluded from them but *cleared*."""
    lo = np.array([[float(a) for a in box[0]] for box in boxes])
    hi = np.array([[float(b) for b in box[1]] for box in boxes])
    exact = np.array([all(Fraction(float(v)) == v for v in box[0] + box[1]) for box in boxes])
    nothing = np.zeros(len(boxes), dtype=bool)
    bound = float(claimed)
    if Fraction(bound) > claimed:
        bound = float(np.nextafter(bound, -np.inf))
    try:
        with np.errstate(all="ignore"):
            grad = program.run("grad", INTERVALS,
                               [IntervalArray(lo[:, j], hi[:, j]) for j in range(lo.shape[1])])
            total = np.zeros(len(boxes))
            for g in grad:
                total = step_up(total + np.maximum(np.abs(g.lo), np.abs(g.hi)))
            mid = program.run("grad", _CONTEXTS["float"], list(((lo + hi) / 2).T))
            at_mid = sum(np.abs(np.broadcast_to(g, total.shape)) for g in mid)
    except (ArithmeticError, ValueError, TypeError, AttributeError, NotExact):
        return nothing, nothing
    cleared = exact & (total <= bound)        # NaN compares False: not cleared
    split = (np.isfinite(total) & (total > bound * (1 + _NEAR))
             & np.isfinite(at_mid) & (at_mid < bound * (1 - _NEAR)))
    return cleared, split & ~cleared


class _AnyKink(type(_CONTEXTS["exact"])):
    """EXACT whose kink factors all take the values in `choices`, whatever their argument."""

    def __init__(self):
        self.choices, self.used = (), 0

    def _pick(self, values):
        i, self.used = self.used, self.used + 1
        return Fraction(values[self.choices[i] if i < len(self.choices) else 0])

    def sgn(self, a): return self._pick((-1, 1))
    def step(self, a): return self._pick((0, 1))


def piecewise_linear_slope(program: _Program, dim: int, most: int = 12):
    """For a piecewise-linear f: the largest ||∇f||_1 over every choice of its kink factors
    (exact; each piece's gradient is one of them), or +inf past `most` kinks."""
    ctx = _AnyKink()

    def norm(choices):
        ctx.choices, ctx.used = choices, 0
        return sum(abs(Fraction(g)) for g in program.run("grad", ctx, [Fraction(0)] * dim))
    try:
        first = norm(())
        if ctx.used > most:
            return float("inf")
        return max([first] + [norm(c) for c in itertools.product((0, 1), repeat=ctx.used)])
    except (ArithmeticError, NotExact, TypeError, ValueError):
        return float("inf")


LIPSCHITZ_BOXES = 4000          # bisection budget of verify_lipschitz
_MIN_WIDTH = Fraction(1, 2 ** 20)   # the finest box side it bisects to
_MAX_KINKS = 8                  # undecided kink factors enumerated on one box


class _KinkChoice(type(_CONTEXTS["ball"])):
    """BALL whose undecided kink factors (a Sgn or Step whose argument's ball holds 0) take
    the values given in `choices`: at almost every point each factor is exactly one of
    them, so the largest gradient over all choices bounds the essential supremum."""

    def __init__(self):
        self.choices, self.undecided = (), 0

    def _pick(self, values):
        i, self.undecided = self.undecided, self.undecided + 1
        return values[self.choices[i] if i < len(self.choices) else 0]

    def sgn(self, a):
        return super().sgn(a) if a > 0 or a < 0 else self._pick((-arb(1), arb(1)))

    def step(self, a):
        return super().step(a) if a > 0 or a < 0 else self._pick((arb(0), arb(1)))


_CHOICE = _KinkChoice()


class _Undecided(Exception):
    """A kink factor whose argument's sign is not decided on the box."""


class _IntervalKinks(type(_IV)):
    """The interval context (exact end points: tight at the cube's faces) with kink factors
    decided by sign, or `_Undecided`."""

    def sgn(self, a):
        if a.lo > 0:
            return self.convert(1)
        if a.hi < 0:
            return self.convert(-1)
        raise _Undecided

    def step(self, a):
        if a.lo > 0:
            return self.convert(1)
        if a.hi < 0:
            return self.convert(0)
        raise _Undecided

    def cpow(self, a, e):
        return self.pow(a, e, clip=True)


_INTERVAL_KINKS = _IntervalKinks()


def _interval_norm_upper(program: _Program, lo, hi) -> Fraction | None:
    """||∇f||_1 bounded with interval end points over [lo, hi], None if undecided."""
    try:
        grad = program.run("grad", _INTERVAL_KINKS,
                           [_Iv(_ball_of(a), _ball_of(b)) for a, b in zip(lo, hi)])
        return sum(max(abs(ball_bounds(g.lo)[0]), abs(ball_bounds(g.hi)[1])) for g in grad)
    except (_Undecided, ArithmeticError, ValueError, ZeroDivisionError, TypeError,
            AttributeError, NotExact):
        return None


def _gradient_norm_upper(program: _Program, box) -> Fraction | None:
    """An upper bound of ||∇f||_1 at almost every point of the box, None if not finite."""
    def norm(choices):
        _CHOICE.choices, _CHOICE.undecided = choices, 0
        grad = program.run("grad", _CHOICE, box)
        if not all(g.is_finite() for g in grad):
            return None
        return sum(ball_bounds(abs(g))[1] for g in grad)
    first = norm(())
    kinks = _CHOICE.undecided
    if first is None or kinks == 0:
        return first
    if kinks > _MAX_KINKS:
        grad = program.run("grad", _CONTEXTS["ball"], box)
        return sum(ball_bounds(abs(g))[1] for g in grad) if all(g.is_finite() for g in grad) \
            else None
    bounds = [norm(c) for c in itertools.product((0, 1), repeat=kinks)]
    return None if None in bounds else max(bounds)


def verify_lipschitz(program: _Program, dim: int, claimed: Fraction,
                     budget: int = LIPSCHITZ_BOXES) -> tuple[Fraction | None, str | None]:
    """Prove `ess sup ||∇f||_1 <= claimed` over [0,1]^d by bisection with Arb enclosures of
    the gradient (kink factors enumerated, `_KinkChoice`): (the verified constant, None),
    or (None, why not).

    For a continuous, piecewise smooth f on the convex cube that bound is the max-norm
    Lipschitz constant: |f(x)-f(y)| <= L ||x-y||_inf. A claim that is tight where the
    constants are not dyadic (3/2 = 1/3 + ...) cannot be met by balls exactly; it is then
    verified as `claimed (1 + 2^-64)`, and that slightly larger constant is the one used.
    """
    slack = claimed * (1 + Fraction(1, 2 ** 64))
    used = claimed
    zero, one = Fraction(0), Fraction(1)
    generation, count = [((zero,) * dim, (one,) * dim)], 0
    while generation:
        # breadth first, one generation at a time: the order (and so the budget's count
        # and the first refuting box) is that of a first-in first-out queue
        cleared, hopeless = _float_sort(program, generation, claimed)
        children = []
        for (lo, hi), done, bisect in zip(generation, cleared, hopeless):
            count += 1
            if count > budget:
                return None, (f"LIPSCHITZ={claimed} not established: ess sup ||grad f||_1 <= "
                              f"{claimed} not proved within {budget} boxes")
            if done:
                continue
            split = _halves(dim, lo, hi, claimed) if bisect else \
                _examine(program, dim, claimed, slack, lo, hi)
            if isinstance(split, str):
                return None, split
            if split is None:
                continue
            if split is True:
                used = slack
                continue
            children += split
        generation = children
    return used, None


def _examine(program: _Program, dim: int, claimed: Fraction, slack: Fraction, lo, hi):
    """One box floats did not clear, in Arb: None if `||∇f||_1 <= claimed` on it, True if
    only `<= slack`, a message if the claim is false or cannot be established near it,
    else its two halves."""
    ball = _CONTEXTS["ball"]
    upper = _interval_norm_upper(program, lo, hi)
    if upper is None or upper > claimed:
        _, box = box_balls(lo, hi)
        try:
            ball_upper = _gradient_norm_upper(program, box)
        except (ArithmeticError, ValueError, ZeroDivisionError):
            ball_upper = None
        if ball_upper is not None and (upper is None or ball_upper < upper):
            upper = ball_upper
    if upper is not None and upper <= slack:
        return True if upper > claimed else None
    mid = tuple((a + b) / 2 for a, b in zip(lo, hi))
    try:
        at = program.run("grad", ball, [_ball_of(v) for v in mid])
        if all(g.is_finite() for g in at):
            lower = sum(max(ball_bounds(abs(g))[0], 0) for g in at)
            if lower > claimed:
                return (f"LIPSCHITZ={claimed} is false: ||grad f(x)||_1 >= "
                        f"{float(lower):.6g} at x=({', '.join(map(str, mid))})")
    except (ArithmeticError, ValueError, ZeroDivisionError):
        pass
    return _halves(dim, lo, hi, claimed)


def _halves(dim: int, lo, hi, claimed=None):
    """The two halves of the box across its longest side, or a message if it is too small."""
    i = max(range(dim), key=lambda j: hi[j] - lo[j])
    if hi[i] - lo[i] < _MIN_WIDTH:
        mid = tuple((a + b) / 2 for a, b in zip(lo, hi))
        return (f"LIPSCHITZ={claimed} not established: no enclosure of the "
                f"gradient of f within it near x=({', '.join(map(str, mid))})")
    m = (lo[i] + hi[i]) / 2
    return [(lo, hi[:i] + (m,) + hi[i + 1:]), (lo[:i] + (m,) + lo[i + 1:], hi)]
