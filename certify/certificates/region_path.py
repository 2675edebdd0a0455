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

`L^p` norms of `e_{k-1}` and `e_k` and the (G2) decrease are integrated on the same
pieces (`region_norms`; in float intervals first, `region_float`); the models of `f` and
the bisection of parts are `region_models`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from flint import fmpq

from .anchored import _exact_value
from ..engine.numbers import ball_bounds
from ..engine.polytope import Affine, Polytope, combine, evaluate, frac
from . import region_float
from .refine import Evidence, Limits, Outcome, PROVED, REFUTED, UNKNOWN
from ..engine.regions import Region, resolve
from ..engine.residual import MONOTONE, NO_OVERSHOOT, check_point
from .region_models import HALF, MAX_DEPTH, ONE, _model, bisect, rounded, simple_point
from .region_norms import RegionNorms, _is_int, _lower_sum, measure

FACTORS = {MONOTONE: HALF, NO_OVERSHOOT: ONE}


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
