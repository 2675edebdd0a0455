"""Residuals at exact rational points, and the claims (G1) and no-overshoot decided there.

At a rational point `x` the grade outputs of a network are exact rationals (its weights
are), and `f(x)` is either exact (piecewise-linear and polynomial targets) or enclosed in
an Arb ball. A claim is *violated at x* only when the enclosure decides it: this is the
one place where a counterexample becomes a counterexample, whoever proposed it (float
sampling, an SMT model). Everything is evaluated with the network's own weights, never
with a recognised or recorded structure.

Claims for grade `k`, with `r = e_{k-1}` and `g = g_k`:

- MONOTONE (G1): `g (2 r - g) >= 0`, i.e. `|e_k| <= |e_{k-1}|`;
- NO_OVERSHOOT: `g (r - g) >= 0`, i.e. `e_k` lies between 0 and `e_{k-1}`.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Sequence

from ..errors import NotExact
from .numbers import BALL, EXACT, ball_bounds, to_ball, decimal_bound, format_rational

MONOTONE = "monotone"
NO_OVERSHOOT = "no_overshoot"
CLAIMS = (MONOTONE, NO_OVERSHOOT)


@dataclass(frozen=True)
class PointValues:
    """`f(x) ∈ [f_lo, f_hi]`, the previous approximant `F_{k-1}(x)` and `g_k(x)`, exactly."""

    x: tuple[Fraction, ...]
    f_lo: Fraction
    f_hi: Fraction
    previous: Fraction
    g: Fraction

    @property
    def r_lo(self) -> Fraction:
        return self.f_lo - self.previous

    @property
    def r_hi(self) -> Fraction:
        return self.f_hi - self.previous


def target_bounds(target, x: Sequence[Fraction]) -> tuple[Fraction, Fraction]:
    """Exact `f(x)` as a degenerate interval when available, else a rigorous ball."""
    if target.kind != "general":
        try:
            value = target.exact(x)
            return value, value
        except (NotExact, ZeroDivisionError, ValueError):
            pass
    return ball_bounds(target.ball(x))


def values_at(target, network, grade: int, x: Sequence[Fraction]) -> PointValues:
    """Everything needed to judge grade `grade` (1-based) at the rational point `x`."""
    x = tuple(Fraction(v) for v in x)
    outs = network.grade_outputs(EXACT, x, upto=grade)
    lo, hi = target_bounds(target, x)
    return PointValues(x, lo, hi, sum(outs[:-1], Fraction(0)), outs[-1])


def violated(claim: str, v: PointValues) -> bool:
    """Is `claim` certainly false at `v.x` (decided by the enclosure of `f`)?"""
    g = v.g
    factor = 2 if claim == MONOTONE else 1
    if g > 0:
        return factor * v.r_hi < g
    if g < 0:
        return factor * v.r_lo > g
    return False


@dataclass(frozen=True)
class Counterexample:
    """An exact rational point where a claim fails; anyone can re-evaluate it.

    `e_prev` encloses `e_{k-1}(x)` (a degenerate interval when `f(x)` is exact), `g` is
    `g_k(x)` exactly and `e_new = e_prev - g` encloses `e_k(x)`. The enclosures separate:
    for MONOTONE `min|e_new| > max|e_prev|`, for NO_OVERSHOOT `e_new` lies strictly on the
    other side of 0 from `g`; `gap` is the certified margin of that separation.
    """

    claim: str
    x: tuple[Fraction, ...]
    abs_e_prev: tuple[Fraction, Fraction]     # bounds on |e_{k-1}(x)|
    abs_e_new: tuple[Fraction, Fraction]      # bounds on |e_k(x)|
    g: Fraction
    e_prev: tuple[Fraction, Fraction] | None = None   # bounds on e_{k-1}(x), signed

    @property
    def exact(self) -> bool:
        """Are the residual values exact rationals (f exact at x)?"""
        return self.abs_e_prev[0] == self.abs_e_prev[1]

    @property
    def e_new(self) -> tuple[Fraction, Fraction] | None:
        if self.e_prev is None:
            return None
        return self.e_prev[0] - self.g, self.e_prev[1] - self.g

    @property
    def gap(self) -> Fraction:
        """MONOTONE: `|e_new| - |e_prev| >= gap`; NO_OVERSHOOT: `-sign(g) e_new >= gap`."""
        if self.claim == MONOTONE or self.e_prev is None:
            return self.abs_e_new[0] - self.abs_e_prev[1]
        lo, hi = self.e_new
        return -hi if self.g > 0 else lo

    def _digits(self) -> int:
        """Enough significant digits that the printed enclosures still separate."""
        for digits in range(12, 400, 4):
            if self._separated_text(digits):
                return digits
        return 400

    def _separated_text(self, digits: int) -> bool:
        if self.claim == MONOTONE or self.e_prev is None:
            return (Fraction(_bound(self.abs_e_new[0], "down", digits))
                    > Fraction(_bound(self.abs_e_prev[1], "up", digits)))
        lo, hi = self.e_new
        if self.g > 0:
            return Fraction(_bound(hi, "up", digits)) < 0
        return Fraction(_bound(lo, "down", digits)) > 0

    def _gap_text(self, digits: int) -> str:
        """The gap as shown by the printed bounds (so the fields agree with each other)."""
        if self.claim == MONOTONE or self.e_prev is None:
            shown = (Fraction(_bound(self.abs_e_new[0], "down", digits))
                     - Fraction(_bound(self.abs_e_prev[1], "up", digits)))
        else:
            lo, hi = self.e_new
            shown = (-Fraction(_bound(hi, "up", digits)) if self.g > 0
                     else Fraction(_bound(lo, "down", digits)))
        return _bound(shown, "down", digits)

    def to_json(self) -> dict:
        n = self._digits()
        out = {
            "claim": self.claim,
            "x": [format_rational(v) for v in self.x],
            # one bound each, the one the claim relies on: |e_prev| <= abs_e_prev and
            # abs_e_new <= |e_new| (exact rationals when f is exact at x)
            "abs_e_prev": _bound(self.abs_e_prev[1], "up", n),
            "abs_e_new": _bound(self.abs_e_new[0], "down", n),
            "abs_e_prev_interval": _interval(self.abs_e_prev, n),
            "abs_e_new_interval": _interval(self.abs_e_new, n),
            "g": format_rational(self.g),
            "exact": self.exact,
            "gap": self._gap_text(n),
        }
        if self.e_prev is not None:
            out["e_prev_interval"] = _interval(self.e_prev, n)
            out["e_new_interval"] = _interval(self.e_new, n)
        return out

    def describe(self) -> str:
        n = self._digits()
        xs = ", ".join(format_rational(v) for v in self.x)
        g = _bound(self.g, "down", n) if self.g < 0 else _bound(self.g, "up", n)
        head = f"{self.claim} fails at x = ({xs}): "
        if self.claim == MONOTONE or self.e_prev is None:
            prev, new = _bound(self.abs_e_prev[1], "up", n), _bound(self.abs_e_new[0], "down", n)
            # "=" only where the printed number is the exact value
            r1 = "=" if self.exact and Fraction(prev) == self.abs_e_prev[1] else "<="
            r2 = "=" if self.exact and Fraction(new) == self.abs_e_new[0] else "<="
            return (f"{head}|e_prev| {r1} {prev} < {new} {r2} |e_new|, "
                    f"gap >= {self._gap_text(n)}, g = {g}")
        lo, hi = self.e_new
        side = f"e_new <= {_bound(hi, 'up', n)} < 0 < g" if self.g > 0 else \
            f"g < 0 < {_bound(lo, 'down', n)} <= e_new"
        return (f"{head}e_prev in {_interval_text(self.e_prev, n)}, g = {g}, so {side} "
                f"(overshoot >= {self._gap_text(n)})")


#: exact rationals up to this many characters are written as they are, longer ones rounded
EXACT_CHARS = 64


def _bound(q: Fraction, direction: str, digits: int) -> str:
    """`q` exactly when short, else a decimal bound of `digits` significant digits."""
    text = format_rational(q)
    if len(text) <= max(digits, EXACT_CHARS):
        return text
    try:
        return decimal_bound(q, direction, digits)
    except (ValueError, OverflowError):     # beyond float range: the exact value
        return text


def _interval(bounds: tuple[Fraction, Fraction], digits: int) -> list[str]:
    lo, hi = bounds
    return [_bound(lo, "down", digits), _bound(hi, "up", digits)]


def _interval_text(bounds: tuple[Fraction, Fraction], digits: int) -> str:
    lo, hi = _interval(bounds, digits)
    return lo if lo == hi else f"[{lo}, {hi}]"


def _abs_bounds(lo: Fraction, hi: Fraction) -> tuple[Fraction, Fraction]:
    if lo >= 0:
        return lo, hi
    if hi <= 0:
        return -hi, -lo
    return Fraction(0), max(-lo, hi)


def _separates(claim: str, prev: tuple, new: tuple, g: Fraction, r_lo, r_hi) -> bool:
    if claim == MONOTONE:
        return new[0] > prev[1]
    return (r_hi - g < 0) if g > 0 else (r_lo - g > 0)


#: precisions (bits) tried, in turn, until the enclosures of a witness separate
WITNESS_PRECISIONS = (256, 1024, 4096)


def counterexample(claim: str, v: PointValues, target=None) -> Counterexample | None:
    """Package a decided violation (caller has checked `violated`).

    When `f(x)` is only enclosed, the residual enclosures may still overlap although the
    claim is decided (e.g. `e_prev` straddles 0 with a width above `g`); `f(x)` is then
    re-enclosed at higher precision until they separate (None if they never do).
    """
    r_lo, r_hi = v.r_lo, v.r_hi
    precisions = iter(WITNESS_PRECISIONS if target is not None else ())
    while True:
        prev = _abs_bounds(r_lo, r_hi)
        new = _abs_bounds(r_lo - v.g, r_hi - v.g)
        if _separates(claim, prev, new, v.g, r_lo, r_hi):
            return Counterexample(claim, v.x, prev, new, v.g, (r_lo, r_hi))
        prec = next(precisions, None)
        if prec is None:
            return None
        f_lo, f_hi = _precise_target_bounds(target, v.x, prec)
        r_lo, r_hi = max(r_lo, f_lo - v.previous), min(r_hi, f_hi - v.previous)


def _precise_target_bounds(target, x, prec: int) -> tuple[Fraction, Fraction]:
    """`f(x)` enclosed at `prec` bits (a fresh compiled copy: constants at that precision)."""
    from flint import ctx
    old = ctx.prec
    try:
        ctx.prec = prec
        rebuild, args = target.__reduce__()
        return ball_bounds(rebuild(*args).ball(x))
    finally:
        ctx.prec = old


def check_point(target, network, grade: int, x: Sequence[Fraction],
                claim: str) -> Counterexample | None:
    """The counterexample at `x` if `claim` certainly fails there, else None."""
    v = values_at(target, network, grade, x)
    return counterexample(claim, v, target) if violated(claim, v) else None


def abs_residual_lower(target, network, grade: int, x: Sequence[Fraction]) -> Fraction:
    """A rigorous lower bound on `|e_grade(x)|` (for witnessed sup-norm lower bounds).

    The network is evaluated in Arb balls at the exact point: rigorous, and much faster
    than exact rationals through thousands of layers.
    """
    x = tuple(Fraction(v) for v in x)
    outs = network.grade_outputs(BALL, [to_ball(v) for v in x], upto=grade)
    F_lo, F_hi = ball_bounds(sum(outs[1:], outs[0]))
    f_lo, f_hi = target_bounds(target, x)
    return _abs_bounds(f_lo - F_hi, f_hi - F_lo)[0]
