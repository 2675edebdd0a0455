"""`L^p` norms on the pieces of linear regions, exactly: the regions path's norms.

`L^p` norms of `e_{k-1} = f - F` and `e_k = e_{k-1} - g` are integrated exactly on the
same pieces (simplex moments, integer `p`), with the model's remainder carried as a
rigorous error term; the (G2) decrease is bounded below region by region, and the sup norm
is the largest vertex value (plus the remainder).
Pieces are bisected (`region_models.bisect`) where their bounds are loosest, to decide the
decrease or to tighten the enclosures, within a budget; the bounds stay rigorous, only wider.
"""

from __future__ import annotations

import heapq
import itertools
import math
import time
from dataclasses import dataclass
from fractions import Fraction

from flint import arb, ctx, fmpq

from ..engine.lp import p_th_roots
from ..engine.numbers import ball_bounds, to_ball
from ..engine.polytope import ZERO, Polytope, abs_power_integrals, ball_evaluate, \
    ball_power_integrals, ball_row, ball_volume, combine, evaluate, frac, round_dyadic
from ..engine.regions import Region, resolve
from .region_models import MAX_DEPTH, ONE, _fmpq, _model, bisect, rounded

#: bits of the Arb balls in which the moment sums of exact pieces run (the totals keep
#: 120-bit outward-rounded dyadics, `_Totals`): exact rationals there carry thousands of
#: digits on deep networks and cost ten times more
MOMENT_PRECISION = 192


def _is_int(p: Fraction) -> bool:
    return Fraction(p).denominator == 1


@dataclass(eq=False)
class _Piece:
    """One piece of a region with its model of `f` and what it contributes."""

    poly: Polytope
    region: int
    level: int
    delta: fmpq
    prev: dict          # p -> (lo, hi) of ∫|e_{k-1}|^p on the piece
    new: dict           # p -> (lo, hi) of ∫|e_k|^p
    decrease: dict      # p -> (lo, hi) of ∫(|e_{k-1}|^p - |e_k|^p)
    g_power: dict       # p -> lower bound of ∫|g|^p (exact for integer p)
    sup_upper: fmpq     # >= |e_k| on the piece
    sup_vertex: tuple   # the vertex of the largest |model of e_k|


def _piece(target, region: Region, index: int, poly: Polytope, level: int, ps) -> _Piece:
    """Model `f` on the piece and integrate: `e_{k-1} = ℓ1 + ρ`, `e_k = ℓ2 + ρ`, `|ρ| <= δ`."""
    model = _model(target, region, poly)
    delta, g = model.delta, region.g
    l1 = combine((ONE, model.row), (-ONE, region.previous))
    l2 = combine((ONE, l1), (-ONE, g))
    if delta != 0:
        return _ball_piece(region, index, poly, level, ps, delta, l1, l2)
    pmax = max([int(p) for p in ps if _is_int(p)], default=1)
    old_prec = ctx.prec
    ctx.prec = MOMENT_PRECISION
    try:
        a1 = abs_power_integrals(poly, l1, pmax, "e1", balls=True)
        a2 = abs_power_integrals(poly, l2, pmax, "e2", balls=True)
        ag = abs_power_integrals(poly, g, pmax, "g", balls=True) if any(g) else None
        diff = [x - y for x, y in zip(a1, a2)]
    finally:
        ctx.prec = old_prec
    vol = poly.volume()
    prev, new, dec, gpow = {}, {}, {}, {}
    for p in ps:
        if _is_int(p):
            n = int(p)
            prev[p], new[p] = _bounds(a1[n]), _bounds(a2[n])
            dec[p] = _bounds(diff[n]) if ag is not None else (ZERO, ZERO)
            gpow[p] = max(_bounds(ag[n])[0], ZERO) if ag is not None else ZERO
        else:
            prev[p] = _real_power_bounds(poly, l1, p, delta, vol)
            new[p] = _real_power_bounds(poly, l2, p, delta, vol)
            dec[p] = (prev[p][0] - new[p][1], prev[p][1] - new[p][0])
            gpow[p] = _real_power_bounds(poly, g, p, ZERO, vol)[0] if any(g) else ZERO
    values = [abs(evaluate(l2, v)) for v in poly.vertices]
    top = max(range(len(values)), key=values.__getitem__)
    return _Piece(poly, index, level, delta, prev, new, dec, gpow, values[top],
                  poly.vertices[top])


def _bounds(ball) -> tuple[fmpq, fmpq]:
    lo, hi = ball_bounds(ball)
    return _fmpq(lo), _fmpq(hi)


def _ball_piece(region, index, poly, level, ps, delta, l1, l2) -> _Piece:
    """`_piece` for a model with a remainder: integrals in Arb balls (rigorous; the
    remainder already makes them inexact). Bounds are kept as balls `(lower, upper)`: the
    lower end of the first and the upper end of the second are what count."""
    g = region.g
    pmax = max([int(p) for p in ps if _is_int(p)] + [2])
    a1 = ball_power_integrals(poly, l1, pmax, label="e1")
    a2 = ball_power_integrals(poly, l2, pmax, label="e2")
    ag = ball_power_integrals(poly, g, pmax, label="g") if any(g) else [arb(0)] * (pmax + 1)
    db = arb(delta)
    balls = poly.balls()
    l1b, l2b = ball_row(l1), ball_row(l2)
    v1 = [ball_evaluate(l1b, v) for v in balls]
    v2 = [ball_evaluate(l2b, v) for v in balls]
    prev, new, dec, gpow = {}, {}, {}, {}
    for p in ps:
        if _is_int(p):
            n = int(p)
            b1, b2 = _ball_power_bounds(a1, n, db), _ball_power_bounds(a2, n, db)
            if n == 2:      # (ℓ1+ρ)² - (ℓ2+ρ)² = ℓ1² - ℓ2² + 2ρg
                core = a1[2] - a2[2]          # ∫|ℓ|² = ∫ℓ²: the integrals above
                dec[p] = (core - 2 * db * ag[1], core + 2 * db * ag[1])
            elif n == 1:
                dec[p] = _p1_decrease(poly, g, db, a1, a2, v1, v2, l1, l2)
            else:
                dec[p] = (b1[0] - b2[1], b1[1] - b2[0])
            gpow[p] = ag[n]
        else:
            vol = _bounds(a1[0])[0]
            b1 = _real_power_bounds(poly, l1, p, delta, vol)
            b2 = _real_power_bounds(poly, l2, p, delta, vol)
            dec[p] = (b1[0] - b2[1], b1[1] - b2[0])
            gpow[p] = _real_power_bounds(poly, g, p, ZERO, vol)[0] if any(g) else ZERO
        prev[p], new[p] = b1, b2
    top = max(range(len(v2)), key=lambda i: abs(v2[i]).mid())
    largest = abs(v2[0])
    for v in v2[1:]:
        largest = largest.max(abs(v))
    sup = _bounds(largest + db)[1]
    return _Piece(poly, index, level, delta, prev, new, dec, gpow, sup, poly.vertices[top])


def _ball_power_bounds(a: list, n: int, delta: arb) -> tuple[arb, arb]:
    """`∫|ℓ + ρ|^n` for `|ρ| <= δ`, from balls `a_j ∋ ∫|ℓ|^j`: by convexity
    `|ℓ+ρ|^n >= |ℓ|^n - n δ |ℓ|^{n-1}`, and `(|ℓ| + δ)^n` expanded above."""
    lower = (a[n] - n * delta * a[n - 1]).max(arb(0))
    upper = sum((math.comb(n, j) * delta ** (n - j) * a[j] for j in range(n + 1)), arb(0))
    return lower, upper


def _p1_decrease(poly, g, delta, a1, a2, v1, v2, l1, l2) -> tuple[arb, arb]:
    """`∫(|ℓ1+ρ| - |ℓ2+ρ|)`: exactly `s ∫g` where both keep the sign `s` with margin `δ`;
    else within `2δ vol` of `∫|ℓ1| - ∫|ℓ2|`."""
    for s in (1, -1):
        if all(s * x - delta >= 0 for x in v1) and all(s * x - delta >= 0 for x in v2):
            exact = s * ball_power_integrals(poly, g, 1, absolute=False)[1]
            return exact, exact
    # Where ℓ1 and ℓ2 share a sign s with margin δ, |ℓ1+ρ| - |ℓ2+ρ| = s g = |ℓ1| - |ℓ2|
    # exactly; elsewhere it is within 2|ρ| of |ℓ1| - |ℓ2|. So the slack is 2δ times the
    # volume of the piece outside those two sub-polytopes.
    core = a1[1] - a2[1]
    outside = a1[0]
    exact_delta = _fmpq(_bounds(delta)[1])
    for s in (1, -1):
        part = poly
        for row in (l1, l2):
            shifted = combine((fmpq(s), row), (-ONE, (ZERO,) * (len(row) - 1) + (exact_delta,)))
            part = part.split_by(shifted, ("margin", s))[0]
            if part is None:
                break
        if part is not None:
            outside -= ball_volume(part)
    slack = 2 * delta * outside.max(arb(0))
    return core - slack, core + slack


def _real_power_bounds(poly, row, p, delta, vol) -> tuple[fmpq, fmpq]:
    """Crude bounds on `∫|ℓ + ρ|^p` for a non-integer `p`: `vol · (min, max)^p`."""
    values = [evaluate(row, v) for v in poly.vertices]
    crosses = any(v > 0 for v in values) and any(v < 0 for v in values)
    big = max(abs(v) for v in values) + delta
    small = ZERO if crosses else min(abs(v) for v in values) - delta
    pp = to_ball(Fraction(p))
    hi = ball_bounds(to_ball(frac(big)) ** pp * to_ball(frac(vol)))[1] if big > 0 else Fraction(0)
    lo = ball_bounds(to_ball(frac(small)) ** pp * to_ball(frac(vol)))[0] if small > 0 \
        else Fraction(0)
    return (_fmpq(lo) if lo > 0 else ZERO), _fmpq(hi)


class _Totals:
    """Sums of piece contributions: exact pieces in outward-rounded dyadics, modelled
    pieces in Arb balls; a piece can be taken back and replaced by its halves."""

    def __init__(self, ps):
        self.ps = ps
        self.prev = {p: [ZERO, ZERO, arb(0), arb(0)] for p in ps}
        self.new = {p: [ZERO, ZERO, arb(0), arb(0)] for p in ps}
        self.decrease = {p: [ZERO, ZERO, arb(0), arb(0)] for p in ps}

    def add(self, piece: _Piece, sign: int = 1) -> None:
        """Add (or, with `sign = -1`, take back) a piece's bounds."""
        for p in self.ps:
            for acc, (lo, hi) in ((self.prev[p], piece.prev[p]), (self.new[p], piece.new[p]),
                                  (self.decrease[p], piece.decrease[p])):
                if isinstance(lo, arb):
                    acc[2] += sign * lo
                    acc[3] += sign * hi
                else:
                    acc[0] += sign * round_dyadic(lo, "down")
                    acc[1] += sign * round_dyadic(hi, "up")

    @staticmethod
    def bounds(acc) -> tuple[fmpq, fmpq]:
        """The enclosure `(lo, hi)` an accumulator stands for, exact rationals."""
        lo, hi = acc[0], acc[1]
        if acc[2] != 0 or acc[2].rad() != 0:
            lo = lo + _bounds(acc[2])[0]
        if acc[3] != 0 or acc[3].rad() != 0:
            hi = hi + _bounds(acc[3])[1]
        return lo, hi

    def undecided(self) -> list:
        """The exponents whose decrease enclosure still straddles 0."""
        out = []
        for p in self.ps:
            lo, hi = self.bounds(self.decrease[p])
            if not (lo > 0 or hi <= 0):
                out.append(p)
        return out

    def decided(self) -> bool:
        return not self.undecided()

    def tight(self, ratio: float = 1.05) -> bool:
        for p in self.ps:
            lo, hi = self.bounds(self.new[p])
            if hi > 0 and (lo <= 0 or float(hi / lo) > ratio ** float(p)):
                return False
        return True


def measure(target, regions: list[Region], ps, need_decrease: bool, seconds: float,
            tighten_seconds: float, max_steps: int) -> tuple[list[_Piece], _Totals]:
    """Pieces covering the cube with rigorous integrals, bisected where they are loosest —
    to decide the decrease when `need_decrease`, else to tighten the norm enclosures —
    until decided, tight, or out of budget (the bounds stay rigorous, only wider)."""
    ps = [Fraction(p) for p in ps]
    resolve(regions)                      # the exact rows of every region, at once
    totals = _Totals(ps)
    pieces = [_piece(target, region, i, region.poly, 0, ps) for i, region in enumerate(regions)]
    for piece in pieces:
        totals.add(piece)
    if not any(piece.delta for piece in pieces):
        return pieces, totals
    max_depth = MAX_DEPTH.get(regions[0].poly.dim, 12)
    replaced: set[int] = set()
    phases = [("decide", seconds)] if need_decrease else []
    phases.append(("tighten", tighten_seconds))
    for phase, budget in phases:
        deadline = time.monotonic() + budget
        focus = totals.undecided() if phase == "decide" else ps

        def key(pc, focus=focus, phase=phase):
            part = pc.decrease if phase == "decide" else pc.new
            return -sum(float(part[p][1] - part[p][0]) for p in focus)

        counter = itertools.count()
        heap = [(key(pc), next(counter), pc) for pc in pieces
                if pc.delta and id(pc) not in replaced]
        heapq.heapify(heap)
        steps = 0
        while heap and steps < max_steps and time.monotonic() < deadline:
            if steps % 16 == 0:
                if phase == "decide" and totals.decided() or phase == "tighten" and \
                        totals.tight():
                    break
                if phase == "decide" and totals.undecided() != focus:
                    focus = totals.undecided()
                    heap = [(key(pc, focus), next(counter), pc) for _, _, pc in heap]
                    heapq.heapify(heap)
            _, _, pc = heapq.heappop(heap)
            if pc.level >= max_depth:
                continue
            steps += 1
            totals.add(pc, -1)
            replaced.add(id(pc))
            for child in bisect(pc.poly, pc.level):
                if child is None:
                    continue
                new = _piece(target, regions[pc.region], pc.region, child, pc.level + 1, ps)
                totals.add(new)
                pieces.append(new)
                heapq.heappush(heap, (key(new, focus), next(counter), new))
    return [pc for pc in pieces if id(pc) not in replaced], totals


@dataclass
class RegionNorms:
    """Norm enclosures of `e_k` in the `NormEnclosure` interface, plus what the regions
    establish beyond it: `‖e_{k-1}‖_p^p` on the same pieces and a direct enclosure of the
    decrease `‖e_{k-1}‖_p^p - ‖e_k‖_p^p`."""

    totals: _Totals
    exact: bool = False       # every piece exact (a piecewise-linear target)

    def integral(self, p) -> tuple[Fraction, Fraction]:
        lo, hi = self.totals.bounds(self.totals.new[Fraction(p)])
        return rounded(max(lo, ZERO), "down"), rounded(hi, "up")

    def norm(self, p) -> tuple[Fraction, Fraction]:
        return p_th_roots(*self.integral(p), Fraction(p))

    def previous(self, p) -> tuple[Fraction, Fraction]:
        lo, hi = self.totals.bounds(self.totals.prev[Fraction(p)])
        return rounded(max(lo, ZERO), "down"), rounded(hi, "up")

    def decrease(self, p) -> tuple[Fraction, Fraction]:
        """Bounds on the decrease; a bound that is exactly 0 stays 0 (it decides)."""
        lo, hi = self.totals.bounds(self.totals.decrease[Fraction(p)])
        return rounded(lo, "down"), rounded(hi, "up")


# --------------------------------------------------------------------------- one grade

def _lower_sum(values) -> Fraction:
    """A lower bound on a sum of exact rationals and balls (each ball by its lower end)."""
    exact, balls = ZERO, arb(0)
    for v in values:
        if isinstance(v, arb):
            balls += v
        else:
            exact += round_dyadic(v, "down")
    total = exact + (_bounds(balls)[0] if balls != 0 or balls.rad() != 0 else ZERO)
    return rounded(total if total > 0 else ZERO, "down")
