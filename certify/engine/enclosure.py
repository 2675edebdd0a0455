"""Rigorous enclosures of a residual `f - A` on the simplices of a level triangulation.

On each simplex `T` of level `ℓ` the approximant built so far is affine (level `ℓ` refines
every coarser level), so the residual is `f - A_T` with `A_T` exact. Its range over `T` is
enclosed sub-box by sub-box, each sub-box `B` of side `h/k` that meets `T`, by the
mean-value form

    (f - A_T)(B) ⊂ f(m) - A_T(m) + Σ_i (∂_i f(B) - a_i) · (B_i - m_i)

intersected with the naive `f(B) - A_T(B)`; all in Arb balls, end points read back as
exact rationals. The slack of the mean-value form is second order in the sub-box size, so
it shrinks with the mesh. The `f` data of a sub-box is shared by all simplices of its cell.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from fractions import Fraction
from typing import Sequence

from flint import arb

from .freudenthal import Index, Simplex, simplex_vertices
from .numbers import BALL, ball_bounds, box_ball, radius_ball, to_ball


@dataclass(frozen=True)
class SubBox:
    """Enclosure data of `f` on one sub-box `B` of a cell (local index `sub`)."""

    sub: Index
    lo: tuple[Fraction, ...]
    hi: tuple[Fraction, ...]
    f_mid: arb            # f at the midpoint
    grad: tuple | None    # ∂_i f over B, or None when not finite (kinks, roots at 0)
    f_box: arb            # naive enclosure of f over B


def sub_box(target, lo: Sequence[Fraction], hi: Sequence[Fraction], sub: Index = ()) -> SubBox:
    """The enclosure data of `f` on the box `[lo, hi]`."""
    f_mid, grad = target.mean_value(lo, hi)
    if grad is not None and not all(g.is_finite() for g in grad):
        grad = None
    f_box = target.evaluate(BALL, [box_ball(a, b) for a, b in zip(lo, hi)])
    return SubBox(sub, tuple(lo), tuple(hi), f_mid, tuple(grad) if grad is not None else None,
                  f_box)


def sub_boxes(target, cell: Index, h: Fraction, k: int) -> list[SubBox]:
    """The `k^d` sub-boxes of a cell with their enclosure data."""
    out = []
    step = h / k
    for sub in itertools.product(range(k), repeat=len(cell)):
        lo = tuple(c * h + s * step for c, s in zip(cell, sub))
        out.append(sub_box(target, lo, tuple(v + step for v in lo), sub))
    return out


def meets(sub: Index, perm: Sequence[int]) -> bool:
    """Does sub-box `sub` (integer index within a cell) meet the simplex `t_π1 >= … >= t_πd`?

    Greedy from the bottom of the chain: sub-box `j` spans `[j, j+1]` in units of `h/k`.
    """
    level = None
    for axis in reversed(perm):
        low = sub[axis] if level is None else max(sub[axis], level)
        if low > sub[axis] + 1:
            return False
        level = low
    return True


@dataclass(frozen=True)
class Affine:
    """`A(x) = value0 + Σ_i grad_i (x_i - origin_i)`, exact."""

    origin: tuple[Fraction, ...]
    value0: Fraction
    grad: tuple[Fraction, ...]

    def __call__(self, x: Sequence[Fraction]) -> Fraction:
        return self.value0 + sum((g * (xi - o) for g, xi, o in zip(self.grad, x, self.origin)),
                                 Fraction(0))


def affine_on_simplex(simplex: Simplex, h: Fraction, values) -> Affine:
    """The affine function on `simplex` taking nodal `values` (indexable by node index) at its vertices."""
    cell, perm = simplex
    vertices = simplex_vertices(simplex)
    vals = [Fraction(values[v]) for v in vertices]
    grad = [Fraction(0)] * len(cell)
    for j, axis in enumerate(perm):
        grad[axis] = (vals[j + 1] - vals[j]) / h
    return Affine(tuple(c * h for c in cell), vals[0], tuple(grad))


def residual_ball(box: SubBox, affine: Affine) -> arb:
    """A ball containing `f - A` over the sub-box."""
    mid = [(a + b) / 2 for a, b in zip(box.lo, box.hi)]
    rad = [(b - a) / 2 for a, b in zip(box.lo, box.hi)]
    a_mid = to_ball(affine(mid))
    spread = sum((abs(g) * r for g, r in zip(affine.grad, rad)), Fraction(0))
    naive = box.f_box - a_mid + radius_ball(spread)
    if box.grad is None:
        return naive
    value = box.f_mid - a_mid
    for gi, ai, ri in zip(box.grad, affine.grad, rad):
        value += (gi - to_ball(ai)) * radius_ball(ri)
    if not value.is_finite():
        return naive
    if value.overlaps(naive):
        return value.intersection(naive)
    return value   # both contain the truth, so they overlap; kept for safety


def simplex_residual_bounds(simplex: Simplex, h: Fraction, values, boxes: list[SubBox],
                            k: int) -> tuple[Fraction, Fraction]:
    """Exact rationals `lo <= min_T (f - A_T)` and `hi >= max_T (f - A_T)`."""
    affine = affine_on_simplex(simplex, h, values)
    _, perm = simplex
    lo = hi = None
    for box in boxes:
        if not meets(box.sub, perm):
            continue
        b_lo, b_hi = ball_bounds(residual_ball(box, affine))
        lo = b_lo if lo is None or b_lo < lo else lo
        hi = b_hi if hi is None or b_hi > hi else hi
    assert lo is not None
    return lo, hi
