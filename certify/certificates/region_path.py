"""The regions path: any network on a cube of dimension d <= 3, decided region by region.

On a linear region `R` of grades `1..k` (`certify.engine.regions`) the previous approximant
`F = F_{k-1}` and the grade output `g = g_k` are affine. Split `R` by `g = 0`; on the part
where `g >= 0` (sign `s = +1`) or `g <= 0` (`s = -1`), with `c = 1/2` for (G1) and `c = 1`
for no-overshoot,

    the claim holds on the part  ⟺  s (f - F - c g) >= 0 on it

(at `g = 0` the claim holds trivially, and by continuity the closed part is what counts).
`f` is replaced by an affine *model* `L ± δ` on the part: exact (`δ = 0`) for a
piecewise-linear target, whose kinks are regions too; for any other target the first-order
Taylor model at the centre of the part's bounding box with a rigorous Arb remainder (or its
range when the gradient is unbounded), refined by bisection where it cannot decide; where
the margin vanishes at a vertex (a grid node where `e_{k-1}` and `g` both vanish), the
mean-value form anchored at that vertex decides instead (`_anchored_proves`). An
affine function's extremes on a polytope are at its vertices, so every decision is a
comparison of exact rationals at vertices. A vertex (or a point just inside the part, when
`g` vanishes at the vertex) where the model shows a violation is re-checked at its exact
point with the network's own weights (`certify.engine.residual.check_point`) before it counts.

`L^p` norms of `e_{k-1} = f - F` and `e_k = e_{k-1} - g` are integrated exactly on the
same pieces (simplex moments, integer `p`), with the model's remainder carried as a
rigorous error term; the (G2) decrease is bounded below region by region, and the sup norm
is the largest vertex value (plus the remainder).
"""

from __future__ import annotations

import heapq
import itertools
import math
import time
from dataclasses import dataclass
from fractions import Fraction
from typing import Sequence

import numpy as np
from flint import arb, ctx, fmpq

from .anchored import _exact_value
from ..engine.lp import p_th_roots
from ..engine.numbers import BALL, ball_bounds, to_ball
from ..engine.polytope import ZERO, Affine, Polytope, abs_power_integrals, ball_evaluate, \
    ball_power_integrals, ball_row, ball_volume, combine, evaluate, frac, round_dyadic
from . import region_float
from .refine import Evidence, Limits, Outcome, PROVED, REFUTED, UNKNOWN
from ..engine.regions import Region, resolve
from ..engine.residual import MONOTONE, NO_OVERSHOOT, check_point

HALF, ONE = fmpq(1, 2), fmpq(1)
FACTORS = {MONOTONE: HALF, NO_OVERSHOOT: ONE}
#: bits of the Arb balls in which the moment sums of exact pieces run (the totals keep
#: 120-bit outward-rounded dyadics, `_Totals`): exact rationals there carry thousands of
#: digits on deep networks and cost ten times more
MOMENT_PRECISION = 192
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


# --------------------------------------------------------------------------- claims

@dataclass
class _Budget:
    deadline: float
    pieces: int
    used: int = 0

    def spent(self) -> bool:
        return self.used >= self.pieces or time.monotonic() > self.deadline


def _violation_point(poly: Polytope, g: Affine, h: Affine, sign: int, delta: fmpq, index: int):
    """An exact point of `poly` where the model shows the claim violated near vertex
    `index`: the vertex itself if `g` is nonzero there, else a point towards the centroid
    (`g` is nonzero inside the part) where the model's bound is still negative."""
    v = poly.vertices[index]
    if evaluate(g, v) != 0:
        return v
    c = poly.centroid_point()
    a = sign * evaluate(h, v) + delta
    b = sign * evaluate(h, c) + delta
    if b < 0:
        return c
    t = -a / (2 * (b - a))
    return tuple(x + t * (y - x) for x, y in zip(v, c))


def _anchored_proves(target, region, poly: Polytope, sign: int, factor, anchor: int) -> bool:
    """The claim `sign (f - F - factor g) >= 0` on `poly` from the mean-value form anchored
    at the vertex `v` where it is tightest: `f(x) = f(v) + ∇f(ξ)·(x - v)`, `ξ` in the
    bounding box `B`, so the margin is at least `m(v) + Σ_i min(a_i (x_i - v_i))` over the
    enclosure `a` of `sign (∇f(B) - ∇F - factor ∇g)`; that bound is concave in `x`, so its
    least value on `poly` is at a vertex. Decides pieces whose margin vanishes (to rounding)
    at a vertex, e.g. a grid node where `e_{k-1}` and `g_k` both vanish, which a model with
    a constant remainder never does."""
    if region.f is not None:
        return False
    v = [frac(x) for x in poly.vertices[anchor]]
    lo, hi = poly.bounding_box()
    try:
        at_v = target.ball(v)
        _, grad_box = target.mean_value([frac(x) for x in lo], [frac(x) for x in hi])
        if not at_v.is_finite() or not all(g.is_finite() for g in grad_box):
            return False
    except (ArithmeticError, ValueError, ZeroDivisionError):
        return False
    d = poly.dim
    f_lo, f_hi = ball_bounds(at_v)
    rest = frac(evaluate(region.previous, poly.vertices[anchor])) + \
        frac(factor) * frac(evaluate(region.g, poly.vertices[anchor]))
    margin = f_lo - rest if sign > 0 else rest - f_hi
    if margin < 0 and f_lo <= rest <= f_hi:      # margin 0 to rounding: f(v) exact? (sin(π))
        exact = _exact_value(target, tuple(v))
        if exact is not None:
            margin = sign * (exact - rest)
    if margin < 0:
        return False
    slopes = []
    for i, g in enumerate(grad_box):
        g_lo, g_hi = ball_bounds(g)
        fixed = frac(region.previous[i]) + frac(factor) * frac(region.g[i])
        a = (g_lo - fixed, g_hi - fixed) if sign > 0 else (fixed - g_hi, fixed - g_lo)
        slopes.append(a)
    for w in poly.vertices:
        bound = margin
        for i in range(d):
            step = frac(w[i]) - v[i]
            bound += min(slopes[i][0] * step, slopes[i][1] * step)
        if bound < 0:
            return False
    return True


def _check_part(target, network, grade, region, part, sign, claim, budget):
    """Prove `claim` on one part (`sign·g >= 0`) of a region, or refute it; bisect where the
    model of `f` is too coarse. Returns `(status, witness, reason)`."""
    stack = [(part, 0)]
    factor = FACTORS[claim]
    max_depth = MAX_DEPTH.get(part.dim, 12)
    status, reason = PROVED, None
    while stack:
        poly, level = stack.pop()
        budget.used += 1
        model = _model(target, region, poly)
        h = combine((ONE, model.row), (-ONE, region.previous), (-factor, region.g))
        values = [sign * evaluate(h, v) for v in poly.vertices]
        worst = min(range(len(values)), key=values.__getitem__)
        if values[worst] - model.delta >= 0:
            continue                                     # proved on this piece
        if values[worst] + model.delta < 0:
            point = _violation_point(poly, region.g, h, sign, model.delta, worst)
            witness = check_point(target, network, grade, [frac(x) for x in point], claim)
            if witness is not None:
                short = simple_point(point, lambda x: check_point(target, network, grade, x,
                                                                  claim) is not None)
                if short != witness.x:
                    witness = check_point(target, network, grade, short, claim) or witness
                return REFUTED, witness, None
        if model.delta == 0:          # exact data that the network's weights do not confirm
            status, reason = UNKNOWN, "region data not confirmed by the network's weights"
            continue
        if _anchored_proves(target, region, poly, sign, factor, worst):
            continue
        if level >= max_depth:
            status, reason = UNKNOWN, "enclosure of f too wide at the finest piece"
            continue
        if budget.spent():
            return UNKNOWN, None, f"budget spent ({budget.used} pieces)"
        for child in bisect(poly, level):
            if child is not None:
                stack.append((child, level + 1))
    return status, None, reason


#: regions whose exact rows are made at once when the claims are decided exactly
CHUNK = 256


def g_is_zero(region: Region) -> bool:
    """Is `g` identically 0 on the region? From the float enclosure where it shows a
    nonzero coefficient, else exactly."""
    nonzero = region.g_nonzero()
    return not (nonzero if nonzero is not None else any(region.g))


def check_claims(target, network, grade: int, regions: list[Region], limits: Limits,
                 claims=(MONOTONE, NO_OVERSHOOT)) -> tuple[dict[str, Outcome], set]:
    """(G1) monotone and no-overshoot on every region, and the indices of the regions where
    no-overshoot is proved on both sides of `g = 0` (Lemma 2 applies there). Exact rows
    and the split by `g = 0` are made only for the regions a claim is decided on."""
    outcomes = {claim: Outcome() for claim in (MONOTONE, NO_OVERSHOOT)}
    resolve([r for r in regions if r.g_nonzero() is None])
    zero = [g_is_zero(r) for r in regions]
    safe = {i for i, z in enumerate(zero) if z}
    split: dict = {}

    def sides(index: int) -> list:
        if index not in split:
            region = regions[index]
            upper, lower = region.poly.split_by(region.g, "g")
            split[index] = [(p, s) for p, s in ((upper, 1), (lower, -1)) if p is not None]
        return split[index]

    for claim in (MONOTONE, NO_OVERSHOOT):
        outcome = outcomes[claim]
        if claim not in claims:
            outcome.status = UNKNOWN          # decided by the caller (sampling found it)
            continue
        if claim == NO_OVERSHOOT and outcomes[MONOTONE].status == REFUTED:
            outcome.status, outcome.witness = REFUTED, outcomes[MONOTONE].witness
            continue
        budget = _Budget(time.monotonic() + limits.seconds, 200_000)
        todo = [i for i, z in enumerate(zero) if not z]
        proved = region_float.claims_proved(target, regions, todo, frac(FACTORS[claim]))
        if claim == NO_OVERSHOOT:
            safe.update(i for i, ok in zip(todo, proved) if ok)
        todo = [i for i, ok in zip(todo, proved) if not ok]     # the exact path decides
        for start in range(0, len(todo), CHUNK):
            chunk = todo[start:start + CHUNK]
            resolve([regions[i] for i in chunk])
            for index in chunk:
                region = regions[index]
                statuses = []
                for poly, sign in sides(index):
                    status, witness, reason = _check_part(target, network, grade, region, poly,
                                                          sign, claim, budget)
                    statuses.append(status)
                    if reason and reason not in outcome.reasons:
                        outcome.reasons.append(reason)
                    if status == REFUTED:
                        outcome.status, outcome.witness = REFUTED, witness
                        break
                    if status == UNKNOWN:
                        outcome.status = UNKNOWN
                if outcome.status == REFUTED or budget.spent():
                    if budget.spent() and outcome.status == PROVED:
                        outcome.status = UNKNOWN
                        outcome.reasons.append(f"budget spent ({budget.used} pieces)")
                    break
                if claim == NO_OVERSHOOT and all(s == PROVED for s in statuses):
                    safe.add(index)
            if outcome.status == REFUTED or budget.spent():
                break
    return outcomes, safe


# --------------------------------------------------------------------------- norms

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


@dataclass
class RegionEvidence(Evidence):
    """`Evidence` of the regions path, with what it adds: the number of regions, a sup
    witness (a vertex) and the norm data of both residuals."""

    regions: int = 0
    sup_witness: tuple | None = None
    region_norms: RegionNorms | None = None


def check_grade(target, network, grade: int, regions: list[Region], ps, limits: Limits,
                claims=(MONOTONE, NO_OVERSHOOT)) -> RegionEvidence:
    """Run the regions path for grade `grade` on its linear regions."""
    outcomes, safe = check_claims(target, network, grade, regions, limits, claims)
    lemma2 = outcomes[NO_OVERSHOOT].status == PROVED or \
        (outcomes[MONOTONE].status == PROVED and len(safe) > 0)
    floats = _float_evidence(target, regions, ps, limits, lemma2, outcomes, safe)
    if floats is not None:
        return floats
    pieces, totals = measure(target, regions, ps, not lemma2, limits.seconds / 2,
                             min(limits.seconds / 10, 3.0), max(8 * len(regions), 4000))
    ps = [Fraction(p) for p in ps]
    g_all = {p: _lower_sum(pc.g_power[p] for pc in pieces) for p in ps}
    g_safe = {p: _lower_sum(pc.g_power[p] for pc in pieces if pc.region in safe) for p in ps}
    top = max(pieces, key=lambda pc: pc.sup_upper)
    witness = max(pieces, key=lambda pc: pc.sup_upper - pc.delta)
    norms = RegionNorms(totals, exact=all(pc.delta == 0 for pc in pieces))
    return RegionEvidence(
        outcomes, rounded(top.sup_upper, "up"), norms, g_all, g_safe,
        g_zero=all(g_is_zero(r) for r in regions), regions=len(regions),
        sup_witness=tuple(x.limit_denominator(2 ** 64) for x in
                          (frac(c) for c in witness.sup_vertex)), region_norms=norms)


def _float_evidence(target, regions, ps, limits, lemma2, outcomes, safe):
    """The norms of `check_grade` from float intervals (`region_float`), or None where
    those cannot serve: a non-integer `p`, a non-finite enclosure, or exact data (a
    piecewise-linear target) whose decrease the floats leave undecided, or a nonzero `g`
    whose `∫|g|^p` they cannot tell from 0 — the exact path then decides."""
    ps = [Fraction(p) for p in ps]
    if not regions or not all(_is_int(p) and p >= 1 for p in ps):
        return None
    result = region_float.measure(
        target, regions, ps, not lemma2, limits.seconds / 2, min(limits.seconds / 10, 3.0),
        max(8 * len(regions), 4000), max(1000, len(regions)),
        MAX_DEPTH.get(regions[0].poly.dim, 12))
    if result is None:
        return None
    batch, norms = result
    g_zero = all(g_is_zero(r) for r in regions)
    g_all = {p: region_float.lower_total(batch.gpow[p]) for p in ps}
    if not batch.delta.any() and not lemma2 and norms.undecided():
        return None
    if not g_zero and not all(g_all.values()):
        return None
    in_safe = np.array([region in safe for _, region, _ in batch.pieces], dtype=bool)
    g_safe = {p: region_float.lower_total(np.where(in_safe, batch.gpow[p], 0.0)) for p in ps}
    top = Fraction(float(batch.sup.max()))
    i = int(np.argmax(batch.key))
    vertex = batch.pieces[i][0].vertices[int(batch.best[i])]
    return RegionEvidence(
        outcomes, top, norms, g_all, g_safe, g_zero=g_zero, regions=len(regions),
        sup_witness=tuple(x.limit_denominator(2 ** 64) for x in (frac(c) for c in vertex)),
        region_norms=norms)
