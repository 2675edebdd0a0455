"""Affine models of `f` on the parts of linear regions, and their bisection: the ground
shared by the regions path's claims (`region_path`) and norms (`region_norms`).

On a part of a region, `f` is replaced by an affine model `L ± δ`: exact (`δ = 0`) for a
piecewise-linear target, whose kinks are regions too; for any other target the first-order
Taylor model at the centre of the part's bounding box with a rigorous Arb remainder (or its
range when the gradient is unbounded). Where a model cannot decide, the part is halved
(`bisect`), at most `MAX_DEPTH` times.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Sequence

from flint import fmpq

from ..engine.numbers import BALL, ball_bounds
from ..engine.polytope import ZERO, Affine, Polytope, frac, round_dyadic
from ..engine.regions import Region

HALF, ONE = fmpq(1, 2), fmpq(1)
#: bisections of one part before its claim is left unknown, by dimension
MAX_DEPTH = {1: 40, 2: 24, 3: 15}


# --------------------------------------------------------------------------- models of f

@dataclass(frozen=True)
class Model:
    """`f(x) ∈ [L(x) - δ, L(x) + δ]` for every `x` of a box (`L` affine, exact)."""

    row: Affine
    delta: fmpq


def _fmpq(x: Fraction) -> fmpq:
    return fmpq(x.numerator, x.denominator)


def rounded(x, direction: str, bits: int = 96) -> Fraction:
    """`x` rounded outward (`"down"` or `"up"`) to `bits` significant bits, as a Fraction:
    exact integrals over deep networks have thousands of digits, a bound needs far fewer."""
    return frac(round_dyadic(x if isinstance(x, fmpq) else _fmpq(Fraction(x)), direction,
                             bits))


def simple_point(point: Sequence[fmpq], accept) -> tuple[Fraction, ...]:
    """A point with short coordinates near `point` that `accept` still accepts (for
    witnesses a person can read), else `point` itself."""
    exact = tuple(frac(x) for x in point)
    for bound in (2 ** 4, 2 ** 8, 2 ** 16, 2 ** 32, 2 ** 64):
        candidate = tuple(min(max(x.limit_denominator(bound), Fraction(0)), Fraction(1))
                          for x in exact)
        if candidate != exact and accept(candidate):
            return candidate
    return exact


def model_on_box(target, lo: Sequence[fmpq], hi: Sequence[fmpq]) -> Model:
    """A rigorous affine model of a non-PL `f` on the box `[lo, hi]`.

    Taylor at the centre `m`: `f(x) = f(m) + ∇f(ξ)·(x - m)` with `ξ` in the box, so with
    `c` the midpoint of `∇f(m)` and `G_i` an enclosure of `∂_i f` over the box,
    `|f(x) - f̃(m) - c·(x - m)| <= rad f(m) + Σ_i max|G_i - c_i| r_i`. When `∇f` has no
    finite enclosure (a cusp) the range of `f` over the box is used: `L` constant.
    """
    lo_f = [frac(v) for v in lo]
    hi_f = [frac(v) for v in hi]
    d = len(lo)
    mid = [(a + b) / 2 for a, b in zip(lo_f, hi_f)]
    radius = [(b - a) / 2 for a, b in zip(lo_f, hi_f)]
    try:
        f_mid, grad_box = target.mean_value(lo_f, hi_f)
        grad_mid = target.gradient(BALL, mid)
        usable = f_mid.is_finite() and all(g.is_finite() for g in grad_box) \
            and all(g.is_finite() for g in grad_mid)
    except (ArithmeticError, ValueError, ZeroDivisionError):
        usable = False
    if usable:
        f_lo, f_hi = ball_bounds(f_mid)
        delta = (f_hi - f_lo) / 2
        coeffs = []
        for g_box, g_mid, r in zip(grad_box, grad_mid, radius):
            m_lo, m_hi = ball_bounds(g_mid)
            c = (m_lo + m_hi) / 2
            b_lo, b_hi = ball_bounds(g_box)
            delta += max(abs(b_hi - c), abs(c - b_lo)) * r
            coeffs.append(c)
        const = (f_lo + f_hi) / 2 - sum(c * m for c, m in zip(coeffs, mid))
        return Model(tuple(_fmpq(c) for c in coeffs) + (_fmpq(const),), _fmpq(delta))
    f_lo, f_hi = target.enclose(lo_f, hi_f)          # ArithmeticError propagates
    return Model((ZERO,) * d + (_fmpq((f_lo + f_hi) / 2),), _fmpq((f_hi - f_lo) / 2))


def _model(target, region: Region, poly: Polytope) -> Model:
    if region.f is not None:
        return Model(region.f, ZERO)
    lo, hi = poly.bounding_box()
    return model_on_box(target, lo, hi)


def bisect(poly: Polytope, depth: int) -> tuple[Polytope | None, Polytope | None]:
    """Halve a polytope across the longest side of its bounding box (an exact plane)."""
    lo, hi = poly.bounding_box()
    i = max(range(poly.dim), key=lambda j: hi[j] - lo[j])
    mid = (lo[i] + hi[i]) / 2
    row = tuple(ONE if j == i else ZERO for j in range(poly.dim)) + (-mid,)
    return poly.split_by(row, ("bisect", depth, i, mid))
