"""`L^p` norms of piecewise-linear functions and of enclosed residuals, rigorously.

Lemma 2 turns (G2) into integrals of `|g|^p` for the grade output `g`, which is affine on
each simplex. On a simplex `T` with vertex values `a_0..a_d` of one sign, in barycentric
coordinates `g = Σ a_j λ_j` and the simplex moment formula
`∫_T λ^α = vol(T) d! α! / (|α| + d)!` gives, for an integer `p`,

    ∫_T |g|^p = vol(T) · d! p! / (p + d)! · h_p(|a_0|, …, |a_d|),

`h_p` the complete homogeneous symmetric polynomial: an exact rational. For a real `p`,
superadditivity of `t^p` gives the lower bound `vol(T) d! Γ(p+1)/Γ(p+d+1) Σ |a_j|^p`,
computed in Arb and rounded down. Residual norms are enclosed piece by piece from bounds
`m <= |e| <= M` on pieces of known volume.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Iterable, Sequence

from flint import arb

from .numbers import ball_bounds, to_ball


def complete_homogeneous(values: Sequence[Fraction], p: int) -> Fraction:
    """`h_p(values) = Σ_{|α| = p} values^α`, by the recurrence over variables."""
    h = [Fraction(1)] + [Fraction(0)] * p
    for a in values:
        for m in range(1, p + 1):          # h_m(new) = h_m(old) + a h_{m-1}(new)
            h[m] += a * h[m - 1]
    return h[p]


def moment_factor(dim: int, p) -> arb:
    """`d! Γ(p+1) / Γ(p+d+1)` as a ball (exact rational for integer `p`)."""
    p = to_ball(Fraction(p))
    return arb(math.factorial(dim)) * (p + 1).gamma() / (p + dim + 1).gamma()


def hat_norm_p(simplices: int, h: Fraction, dim: int, p) -> arb:
    """`‖φ_z‖_p^p = (number of simplices of S_z) · h^d · Γ(p+1)/Γ(p+d+1)`."""
    p = to_ball(Fraction(p))
    return arb(simplices) * to_ball(Fraction(h) ** dim) * (p + 1).gamma() / (p + dim + 1).gamma()


def is_integer(p: Fraction) -> bool:
    return Fraction(p).denominator == 1


def simplex_power_lower(values: Sequence[Fraction], volume: Fraction, p: Fraction) -> Fraction:
    """A rational lower bound on `∫_T |g|^p` for `g` affine with vertex `values`.

    Exact for integer `p` when the values have one sign; 0 when they change sign (the
    bound is then not needed: Lemma 3 makes construction grades one-signed per simplex).
    """
    if all(v >= 0 for v in values):
        absolute = list(values)
    elif all(v <= 0 for v in values):
        absolute = [-v for v in values]
    else:
        return Fraction(0)
    if not any(absolute):
        return Fraction(0)
    dim = len(values) - 1
    if is_integer(p):
        p = int(p)
        return (Fraction(volume) * math.factorial(dim) * math.factorial(p)
                / math.factorial(p + dim) * complete_homogeneous(absolute, p))
    total = sum((to_ball(a) ** to_ball(p) for a in absolute if a), arb(0))
    lower, _ = ball_bounds(total * moment_factor(dim, p) * to_ball(volume))
    return max(lower, Fraction(0))


def power_bounds(lo: Fraction, hi: Fraction, p: Fraction) -> tuple[Fraction, Fraction]:
    """Bounds on `|e|^p` when `lo <= e <= hi` (exact for integer `p`)."""
    m = Fraction(0) if lo <= 0 <= hi else min(abs(lo), abs(hi))
    M = max(abs(lo), abs(hi))
    if is_integer(p):
        return m ** int(p), M ** int(p)
    low, _ = ball_bounds(to_ball(m) ** to_ball(p)) if m else (Fraction(0), None)
    _, high = ball_bounds(to_ball(M) ** to_ball(p)) if M else (None, Fraction(0))
    return max(low, Fraction(0)), high


class NormEnclosure:
    """Accumulates `∫|e|^p` over pieces with `lo <= e <= hi`, for several `p` at once.

    Sums are kept as Arb balls (rigorous, fast) and read back as exact end points.
    """

    def __init__(self, ps: Iterable[Fraction]):
        self.ps = [Fraction(p) for p in ps]
        self.lower = {p: arb(0) for p in self.ps}
        self.upper = {p: arb(0) for p in self.ps}

    def add(self, volume: Fraction, lo: Fraction, hi: Fraction) -> None:
        vol = to_ball(volume)
        m = Fraction(0) if lo <= 0 <= hi else min(abs(lo), abs(hi))
        M = max(abs(lo), abs(hi))
        for p in self.ps:
            if m:
                self.lower[p] += vol * _power(m, p)
            if M:
                self.upper[p] += vol * _power(M, p)

    def integral(self, p: Fraction) -> tuple[Fraction, Fraction]:
        """Bounds on `‖e‖_p^p`."""
        lo, _ = ball_bounds(self.lower[p])
        _, hi = ball_bounds(self.upper[p])
        return max(lo, Fraction(0)), hi

    def norm(self, p: Fraction) -> tuple[Fraction, Fraction]:
        """Bounds on `‖e‖_p`."""
        return p_th_roots(*self.integral(p), p)


def p_th_roots(lo: Fraction, hi: Fraction, p: Fraction) -> tuple[Fraction, Fraction]:
    """Bounds on `t^(1/p)` for `lo <= t <= hi`, rounded outward."""
    inv = 1 / to_ball(Fraction(p))
    low = ball_bounds(to_ball(lo) ** inv)[0] if lo > 0 else Fraction(0)
    high = ball_bounds(to_ball(hi) ** inv)[1] if hi > 0 else Fraction(0)
    return max(low, Fraction(0)), high


def _power(a: Fraction, p: Fraction) -> arb:
    if is_integer(p):
        return to_ball(a) ** int(p)
    return to_ball(a) ** to_ball(p)
