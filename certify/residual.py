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

from .errors import NotExact
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
    """An exact rational point where a claim fails; anyone can re-evaluate it."""

    claim: str
    x: tuple[Fraction, ...]
    abs_e_prev: tuple[Fraction, Fraction]     # bounds on |e_{k-1}(x)|
    abs_e_new: tuple[Fraction, Fraction]      # bounds on |e_k(x)|
    g: Fraction

    def to_json(self) -> dict:
        return {
            "claim": self.claim,
            "x": [format_rational(v) for v in self.x],
            "abs_e_prev": _interval_text(self.abs_e_prev, "up"),
            "abs_e_new": _interval_text(self.abs_e_new, "down"),
            "g": format_rational(self.g),
        }

    def describe(self) -> str:
        xs = ", ".join(format_rational(v) for v in self.x)
        return (f"{self.claim} fails at x = ({xs}): |e_prev| <= "
                f"{decimal_bound(self.abs_e_prev[1], 'up', 15)}, |e_new| >= "
                f"{decimal_bound(self.abs_e_new[0], 'down', 15)}, g = "
                f"{decimal_bound(self.g, 'down', 15)}")


def _abs_bounds(lo: Fraction, hi: Fraction) -> tuple[Fraction, Fraction]:
    if lo >= 0:
        return lo, hi
    if hi <= 0:
        return -hi, -lo
    return Fraction(0), max(-lo, hi)


def _interval_text(bounds: tuple[Fraction, Fraction], direction: str) -> str:
    """An exact rational when the bounds agree, else the bound the claim relies on."""
    lo, hi = bounds
    if lo == hi:
        return format_rational(lo)
    return decimal_bound(hi if direction == "up" else lo, direction, digits=12)


def counterexample(claim: str, v: PointValues) -> Counterexample:
    """Package a decided violation (caller has checked `violated`)."""
    prev = _abs_bounds(v.r_lo, v.r_hi)
    new = _abs_bounds(v.r_lo - v.g, v.r_hi - v.g)
    return Counterexample(claim, v.x, prev, new, v.g)


def check_point(target, network, grade: int, x: Sequence[Fraction],
                claim: str) -> Counterexample | None:
    """The counterexample at `x` if `claim` certainly fails there, else None."""
    v = values_at(target, network, grade, x)
    return counterexample(claim, v) if violated(claim, v) else None


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
