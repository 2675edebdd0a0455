"""This toolkit's construction, level by level, one grade per level that does something.

Level `ℓ` (mesh `N^-ℓ`) subtracts `Σ c_z φ_z` over the nodes `z` of its grid. Two
coefficient rules (`scheme`):

- `balanced` (docs/theory.md §3, the theorem's construction): certified bounds
  `lo_z <= r_ℓ <= hi_z` on the star of `z` give

      c_z = max(0, lo_z - θ w_z)  if lo_z > 0,   min(0, hi_z + θ w_z)  if hi_z < 0,   else 0,

  rounded toward zero to a short dyadic (which keeps `0 < c_z <= r_ℓ` on the star and the
  margin);
- `surplus` (the default, `certify.surplus`): the hierarchical surplus `r_ℓ(z)`, kept only
  as far as no overshoot is proved simplex by simplex, else shrunk toward the balanced value.

No wasted grades: a level whose coefficients are all zero is skipped (it changes nothing)
and the next grade realises the next level that does something. A trivial grade is emitted
only when the residual is certified zero or the budget of levels is spent. `meta` records
the level of every grade and the levels skipped before it; the checker re-verifies the
mesh of every grade from its weights. With `tol > 0` a node whose star bounds lie within
`tol` of 0 gets no hat (adaptivity; Lemmas 3-5 then need THEOREM.md's correction).

The approximant is kept as exact nodal values on the current grid, so the residual on a
simplex is `f` minus an exact affine function and the cost of a hat does not depend on
how many hats came before it: a level costs time proportional to its own nodes.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Callable, Sequence

import numpy as np

from .certificates import anchored_grid, level_ahead

from .engine import curvature, vectorised, work_units
from . import surplus as surplus_rule
from .certificates.anchored import Prover
from .engine.enclosure import simplex_residual_bounds, sub_boxes
from .errors import UsageError
from .engine.freudenthal import cell_simplices, mesh, nodes, refine, star_simplices
from .engine.nodal import Nodal
from .engine.hat_grade import HatArray, HatGrade
from .engine.network import Network
from .engine.numbers import format_rational
from .engine.realize import Hat

CONSTRUCTION = "certify-balanced-contraction/1"
SURPLUS_CONSTRUCTION = "certify-surplus/1"
SCHEMES = ("surplus", "balanced")
DEFAULT_SCHEME = "surplus"
#: identifiers written to `meta["construction"]` per scheme
CONSTRUCTIONS = {"balanced": CONSTRUCTION, "surplus": SURPLUS_CONSTRUCTION}

#: Default margin θ. The checker's no-overshoot query has slack `θ·w_z` on each star, so
#: a sub-box of side about `h/(2·θ·…)` already proves it; θ = 1/4 keeps that to a few
#: sub-boxes per cell while costing a factor (1+θ) in Lemma 4. For the theorem's a priori
#: rate use N = 2d+2 and θ <= 1/(4d).
DEFAULT_MARGIN = Fraction(1, 4)
DEFAULT_RATIO = 2
#: coefficients are rounded toward zero to multiples of 2^-COEFFICIENT_BITS
COEFFICIENT_BITS = 48
#: levels that may be skipped (all coefficients zero) beyond the requested grades
LEVEL_SLACK = 4
#: per dimension, how often the first proof of the whole surpluses may halve boxes (None:
#: as deep as the checker); a full surplus that a shallow proof misses rarely survives
FIRST_DEPTH = {2: 0, 3: 0}
#: per dimension, the shrink rules (`surplus.SHRINK_RULES`) tried on every level; the one
#: with the smaller certified sup bound after the level is kept (both in d = 1: runge 10
#: grades 2.2e-5 -> 7.2e-6, bump 4.6e-6 -> 7.1e-7; elsewhere the first, the second costing
#: several times the build time in d = 2 for ~20%)
SHRINK_RULES = {1: surplus_rule.SHRINK_RULES}
#: the same where the second-order start applies (`certify.engine.curvature`): in d = 3 small
#: steps, a failing coefficient being then usually close to provable (halving lost half of
#: it: smooth3d 5 grades 0.0041 -> 0.00173); not for kinks (kink3d 0.0157 -> 0.0211, 4x
#: the build time)
SMOOTH_SHRINK_RULES = {3: surplus_rule.SHRINK_RULES[1:]}
#: no level whose grid has more nodes than this is built (the locality path's limit)
MAX_LEVEL_NODES = 2_000_000


def default_subdivision(dim: int) -> int:
    """Sub-boxes per cell side used for star bounds: enough for tight bounds, cheap in d=3."""
    return {1: 4, 2: 2}.get(dim, 1)


def _text(value) -> str:
    return format_rational(value) if isinstance(value, Fraction) else repr(value)


@dataclass(frozen=True)
class Parameters:
    """Validated construction parameters."""

    ratio: int = DEFAULT_RATIO
    margin: Fraction = DEFAULT_MARGIN
    subdivision: int | None = None
    scheme: str = DEFAULT_SCHEME
    tol: Fraction = Fraction(0)

    def __post_init__(self):
        if isinstance(self.ratio, bool) or not isinstance(self.ratio, int) or self.ratio < 2:
            raise UsageError(f"ratio={self.ratio!r} must be an integer >= 2",
                             "the mesh shrinks by this factor per level; try --ratio 2")
        if not isinstance(self.margin, Fraction) or self.margin < 0 or self.margin > 4:
            raise UsageError(f"margin={_text(self.margin)} must be a rational in [0, 4]",
                             "try --margin 1/4")
        if self.subdivision is not None and (not isinstance(self.subdivision, int)
                                             or not 1 <= self.subdivision <= 64):
            raise UsageError(f"subdivision={self.subdivision!r} must be an integer in [1, 64]")
        if self.scheme not in SCHEMES:
            raise UsageError(f"scheme={self.scheme!r} is not a coefficient rule",
                             "try --scheme surplus or --scheme balanced")
        if not isinstance(self.tol, Fraction) or self.tol < 0:
            raise UsageError(f"tol={_text(self.tol)} must be a rational >= 0", "try --tol 1/1000")


@dataclass
class LevelRecord:
    """What one grade of the construction did, for `meta` and for the theory's bounds."""

    level: int
    mesh: Fraction
    hats: Sequence[Hat]              # a `HatArray` from `build_levels`
    oscillation: Fraction            # W_ℓ = max_z w_z (certified)
    seconds: float = 0.0
    stars: int = 0
    skipped: list[int] = field(default_factory=list)   # zero levels before this one
    trivial: str | None = None       # why a grade without hats was emitted
    grade: int = 0
    final_sup: float | None = None   # last record: the checker's sup bound of the residual


def coefficient(lo: Fraction, hi: Fraction, margin: Fraction) -> Fraction:
    """`c_z` from certified star bounds, rounded toward zero to a multiple of 2^-48."""
    units = coefficient_units(lo, hi, margin)
    return Fraction(units, 2 ** COEFFICIENT_BITS) if units else Fraction(0)


def coefficient_units(lo: Fraction, hi: Fraction, margin: Fraction) -> int:
    """`coefficient(lo, hi, margin)` in units of 2^-48, from integer numerators and
    denominators (no `Fraction` arithmetic): `lo - θ(hi - lo) = (lo(1+θ) - θ hi)`, and
    `hi + θ(hi - lo) = (hi(1+θ) - θ lo)`, over the positive denominator `b q v`."""
    if lo > 0:
        first, second = lo, hi
    elif hi < 0:
        first, second = hi, lo
    else:
        return 0
    a, b = _ratio(first)
    p, q = _ratio(second)
    u, v = _ratio(margin)
    num = a * q * (v + u) - u * p * b           # (first(1+θ) - θ second) · (b q v)
    if (num <= 0) if lo > 0 else (num >= 0):    # max(0, ·) resp. min(0, ·)
        return 0
    rounded = abs(num) * 2 ** COEFFICIENT_BITS // (b * q * v)
    return rounded if num > 0 else -rounded


def _ratio(value) -> tuple[int, int]:
    """`(numerator, denominator)` of an exact number (a float exactly)."""
    if type(value) is float:
        return value.as_integer_ratio()
    if isinstance(value, (Fraction, int)):
        return value.numerator, value.denominator
    return Fraction(value).as_integer_ratio()


def star_bounds(target, values, h: Fraction, k: int,
                boxes_out: dict | None = None) -> dict:
    """`{node: (lo_z, hi_z)}` for every node of the grid that `values` lives on.

    With `boxes_out`, the sub-box data of every cell is also stored there by `(lo, hi)`
    when the Arb path runs (the vectorised path keeps none; the prover then makes its own).
    """
    fast = vectorised.star_bounds(target, values, h, k)
    if fast is not None:
        return fast
    dim = values.ndim
    n = values.shape[0] - 1
    simplex_bounds = {}
    for cell in itertools.product(range(n), repeat=dim):
        boxes = sub_boxes(target, cell, h, k)
        if boxes_out is not None:
            for box in boxes:
                boxes_out[(box.lo, box.hi)] = box
        for simplex in cell_simplices(cell):
            simplex_bounds[simplex] = simplex_residual_bounds(simplex, h, values, boxes, k)
    out = {}
    for node in nodes(dim, n):
        bounds = [simplex_bounds[s] for s in star_simplices(node, n)]
        out[node] = (min(b[0] for b in bounds), max(b[1] for b in bounds))
    return out


def _balanced(bounds: dict, skip, margin: Fraction) -> dict:
    """`{node: c_z}` of the balanced rule (`Fraction`s; see `_balanced_units`)."""
    units = _balanced_units(bounds, _skip_mask(bounds, skip), margin).tolist()
    return {node: _fraction(u) for node, u in zip(bounds, units)}


def _skip_mask(bounds: dict, skip) -> np.ndarray | None:
    """A set of nodes to skip as a flat bool array in the order of `bounds` (None: none)."""
    if skip is None or isinstance(skip, np.ndarray) or not skip:
        return skip if isinstance(skip, np.ndarray) else None
    return np.array([node in skip for node in bounds], dtype=bool)


def _balanced_units(bounds: dict, skip: np.ndarray | None, margin: Fraction) -> np.ndarray:
    """`c_z` of the balanced rule in units of 2^-48 (`coefficient_units`), a flat array in
    the order of `bounds` (C order over the grid; int64, object where one does not fit),
    0 where `skip` (a flat bool array, or None); float bounds (`vectorised.StarBounds`) as
    whole arrays where that decides (`_balanced_floats`), else node by node, so large
    levels are split over `work_units.workers(jobs)`."""
    units = None
    if isinstance(bounds, vectorised.StarBounds):
        units = _balanced_floats(bounds.lo, bounds.hi, margin)
    if units is None:
        items = list(bounds.values())

        def chunk(part):
            return [coefficient_units(lo, hi, margin) for lo, hi in part]

        units = itertools.chain.from_iterable(work_units.chunked(chunk, items,
                                                                 BALANCED_CHUNK))
    out = surplus_rule.int_array(units)
    if skip is not None:
        out[skip] = 0
    return out


def _balanced_floats(lo: np.ndarray, hi: np.ndarray, margin: Fraction) -> list | None:
    """`[coefficient_units(lo_i, hi_i, margin)]` for float arrays of star bounds, computed in
    floats where a proven error bound decides the result, exactly (`coefficient_units`)
    elsewhere; None where `margin` is not a small rational (then node by node).

    With `θ = u/v`, `c·2^48 = s = (first·(v+u) - second·u)·2^48 / v` (`first, second` =
    `lo, hi` where `lo > 0`, `hi, lo` where `hi < 0`). In floats: two products and a
    difference, each with relative error <= 2^-53 (or, in the subnormal range, absolute
    <= 2^-1075), an exact scaling by 2^48 and one division (relative <= 2^-53), so the
    float `ŝ` is within `(2^-52 (|p1| + |p2|) + 2^-1074) 2^48 / v + 2^-53 |ŝ|` of `s` (to
    first order); `E` below doubles each term, which also covers its own rounding. Where
    `[ŝ - E, ŝ + E]` lies on one side of 0 and strictly inside one interval `(k, k+1)`,
    the result (0 on the wrong side, else `±k`) is known; the other nodes (and anything
    non-finite or beyond 2^52 units) are done exactly."""
    u, v = margin.numerator, margin.denominator
    if v + u > 2 ** 20:
        return None
    lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
    pos = lo > 0
    neg = ~pos & (hi < 0)
    first, second = np.where(pos, lo, hi), np.where(pos, hi, lo)
    with np.errstate(all="ignore"):
        p1, p2 = first * float(v + u), second * float(u)
        s = (p1 - p2) * 2.0 ** COEFFICIENT_BITS / v
        err = ((np.abs(p1) + np.abs(p2)) * 2.0 ** -50 + 2.0 ** -1000) \
            * (2.0 ** COEFFICIENT_BITS / v) + np.abs(s) * 2.0 ** -51
        below, above = s - err, s + err
        mag_lo = np.where(pos, below, -above)          # |s| in [mag_lo, mag_hi] where it counts
        mag_hi = np.where(pos, above, -below)
        zero = np.where(pos, above <= 0, below >= 0)   # the max(0, ·) / min(0, ·) gives 0
        floor_lo, floor_hi = np.floor(mag_lo), np.floor(mag_hi)
        # a rounded end strictly inside (k, k+1) puts the exact end there too (rounding is
        # monotone and k, k+1 are floats); an end equal to k may have been rounded up to it
        known = (~(pos | neg)) | zero | ((mag_lo > 0) & (mag_lo > floor_lo)
                                         & (floor_lo == floor_hi) & (mag_hi < 2.0 ** 52))
        known &= np.isfinite(err) | ~(pos | neg)
    units = np.where(zero | ~(pos | neg), 0.0, np.where(pos, floor_lo, -floor_lo))
    units = np.where(known, units, 0.0).astype(np.int64).tolist()
    for i in np.nonzero(~known)[0].tolist():
        units[i] = coefficient_units(float(lo[i]), float(hi[i]), margin)
    return units


_ZERO = Fraction(0)


def _fraction(units: int) -> Fraction:
    """A coefficient in units of 2^-48 as a `Fraction` (one immutable zero for all zeros)."""
    return Fraction(units, 2 ** COEFFICIENT_BITS) if units else _ZERO


#: levels of at least this many nodes compute their balanced coefficients over the workers
BALANCED_CHUNK = 32768


def level_coefficients(target, values: Nodal, h: Fraction, params: Parameters,
                       k: int, start: bool = False) -> tuple[np.ndarray, dict]:
    """`(c, star bounds)` of one level under `params.scheme`: `c` the coefficients `c_z` in
    units of 2^-48 (integers), a flat array in C order over the level grid (int64, object
    where one does not fit), `values` the exact nodal values of `F` on the level grid.

    With `start` (no grade built yet), `surplus` leaves a level alone (all zero) where every
    balanced coefficient is zero: it starts at the level where `balanced` starts, not on a
    coarser grid whose interpolant would spend a grade for little (smooth3d's level 0)."""
    boxes = {} if params.scheme == "surplus" else None
    bounds = star_bounds(target, values, h, k, boxes)
    skip = np.array([max(-lo, hi) <= params.tol for lo, hi in bounds.values()],
                    dtype=bool) if params.tol else None
    balanced = _balanced_units(bounds, skip, params.margin)
    if params.scheme == "balanced" or (start and not np.any(balanced != 0)):
        return balanced, bounds
    grid = anchored_grid.Grid(target, values.shape[0] - 1)
    if grid.applies and Fraction(h) == Fraction(1, grid.n):
        prove, residuals = grid.proves_cells, grid.residuals(values)
        prove_many = grid.proves_perms
    else:                    # the Arb prover, simplex by simplex (the checker does the same)
        prove_many = None
        prover = Prover(target, h, grid.vertices)
        prover.remember(boxes)

        def prove(perm, cells, signs, nodal, depth=None):
            return np.array([prover.proves((tuple(int(i) for i in cell), tuple(perm)), nodal,
                                           int(sign)) for cell, sign in zip(cells, signs)],
                            dtype=bool)
        residuals = surplus_rule.arb_residuals(grid.vertices, values)
    n = values.shape[0] - 1
    # the bounds `surplus._cap` asks for first (the balanced level's), computed meanwhile
    # in a background worker under `--jobs`, taken at the first ask
    reference, ahead = None, []
    if prove_many is not None and level_ahead.balanced_wanted(target, n, k):
        reference = surplus_rule.balanced_nodal(values, balanced, COEFFICIENT_BITS)
        ahead.append(level_ahead.balanced_bounds(target, reference, n, k))

    def simplex_bounds(nodal):      # the checker's simplex bounds, whose max is its sup
        while ahead:
            level_ahead.take_bounds(target, ahead.pop(), reference, n, k)
        return vectorised.residual_bounds(target, nodal, n, k) if h == Fraction(1, n) else None

    def refine(node):               # r(z) in units of 2^-48 from f's Arb ball at the node
        return surplus_rule.arb_residual_units(grid.vertices, n, node, int(values.num[node]),
                                               values.den, COEFFICIENT_BITS)

    def refine_many(nodes):         # `refine` at many nodes at once
        return surplus_rule.arb_residual_units_many(
            grid.vertices, n, nodes, [int(values.num[node]) for node in nodes], values.den,
            COEFFICIENT_BITS)

    # second-order margins (`certify.engine.curvature`), where the grid prover (which proves them) runs
    slack = curvature.node_slack(target, n) \
        if grid.applies and Fraction(h) == Fraction(1, grid.n) else None
    # the surpluses r(z) in units of 2^-48, once for every rule tried
    surpluses = surplus_rule.surplus_units(residuals, values.shape, COEFFICIENT_BITS, refine,
                                           refine_many)
    best, best_sup = None, None              # the shrink rule with the smaller sup bound
    rules = (SMOOTH_SHRINK_RULES if slack is not None else SHRINK_RULES).get(
        target.dim, surplus_rule.SHRINK_RULES[:1])
    first: dict = {}                          # the first proof round, the same for every rule
    try:
        for rule in rules:
            c, nodal = surplus_rule.coefficients_and_nodal(
                prove, values, surpluses, balanced, skip, COEFFICIENT_BITS, simplex_bounds,
                FIRST_DEPTH.get(target.dim), refine, rule, slack, first, prove_many)
            out = simplex_bounds(nodal)
            sup = None if out is None else max(max(float(-lo.min()), float(hi.max()))
                                               for lo, hi in out.values())
            if best is None or (sup is not None and best_sup is not None and sup < best_sup):
                best, best_sup, best_nodal = c, sup, nodal
            if sup is None or first.get("any rule"):  # (the other rules: the same result)
                break
    finally:
        for worker in filter(None, ahead):  # (never asked for)
            worker.cancel()
    if len(rules) > 1:
        simplex_bounds(best_nodal)  # its bounds the most recent (kept for the checker)
    return best, bounds


def _widest(bounds) -> Fraction:
    """`max(hi - lo)` over `(lo, hi)` pairs, exactly, from integer numerators and
    denominators (one `Fraction` at the end instead of one per pair). Float bounds
    (`vectorised.StarBounds`): only the pairs whose float difference (relative error
    <= 2^-53) comes within 2^-50 of the largest are compared exactly."""
    if isinstance(bounds, vectorised.StarBounds):
        with np.errstate(all="ignore"):
            width = bounds.hi - bounds.lo
        top = float(width.max()) if width.size else np.nan
        if np.isfinite(top):
            near = np.nonzero(width >= top - abs(top) * 2.0 ** -50 - 2.0 ** -1000)[0]
            bounds = list(zip(bounds.lo[near].tolist(), bounds.hi[near].tolist()))
        else:
            bounds = bounds.values()
    elif isinstance(bounds, dict):
        bounds = bounds.values()
    best_num, best_den = None, 1
    for lo, hi in bounds:
        a, b = _ratio(lo)
        p, q = _ratio(hi)
        num, den = p * b - a * q, q * b          # hi - lo, den > 0
        if best_num is None or num * best_den > best_num * den:
            best_num, best_den = num, den
    return Fraction(best_num, best_den)


def _all_zero(bounds) -> bool:
    """Whether every star bound is `[0, 0]` (float bounds as whole arrays)."""
    if isinstance(bounds, vectorised.StarBounds):
        return bool(np.all(bounds.lo == 0) and np.all(bounds.hi == 0))
    return all(lo == 0 == hi for lo, hi in bounds.values())


def build_levels(target, grades: int, params: Parameters = Parameters(),
                 progress: Callable[[LevelRecord], None] | None = None) -> list[LevelRecord]:
    """Run the construction until `grades` grades are filled; one record per grade."""
    if isinstance(grades, bool) or not isinstance(grades, int) or grades < 1:
        raise UsageError(f"grades={grades!r} must be a positive integer", "try --grades 6")
    dim = target.dim
    k = params.subdivision or default_subdivision(dim)
    values = Nodal.zeros((2,) * dim)                     # F_0 = 0 on the level-0 grid
    records: list[LevelRecord] = []
    skipped: list[int] = []
    level, last_w, reason = -1, None, None
    start = time.perf_counter()

    def emit(record):
        record.grade = len(records) + 1
        records.append(record)
        if progress:
            progress(record)

    following: dict = {}    # under --jobs: later levels' f data by grid, computed meanwhile
    try:
        while len(records) < grades:
            level += 1
            if (level > grades - 1 + LEVEL_SLACK
                    or (params.ratio ** level + 1) ** dim > MAX_LEVEL_NODES):
                reason = "level budget spent"
                break
            if level:
                values = refine(values, params.ratio)
            n = values.shape[0] - 1
            level_ahead.take(target, level_ahead.found(following.pop(n, [])))
            # the next two levels' data (those still to come), so that a large level's
            # workers have two levels' time
            for ahead in (1, 2):
                m = n * params.ratio ** ahead
                if m not in following and len(records) + ahead < grades \
                        and params.ratio == 2:
                    following[m] = level_ahead.start(target, m, k)
            h = mesh(level, params.ratio)
            coefficients, bounds = level_coefficients(target, values, h, params, k,
                                                      start=not records and level < LEVEL_SLACK)
            last_w = _widest(bounds)
            if _all_zero(bounds):
                reason = "residual is zero"
                break
            kept = np.flatnonzero(coefficients != 0)          # C order: the nodes' order
            if not len(kept):
                skipped.append(level)
                continue
            index = np.unravel_index(kept, values.shape)
            units = coefficients[kept]
            # the hats as arrays: `Hat` objects only for whoever iterates over them
            hats = HatArray(np.stack(index, axis=1), units, COEFFICIENT_BITS, h)
            values = values.with_units(index, units, COEFFICIENT_BITS)
            emit(LevelRecord(level, h, hats, last_w, time.perf_counter() - start,
                             stars=len(bounds), skipped=skipped))
            skipped, start = [], time.perf_counter()
    finally:
        for worker in itertools.chain.from_iterable(following.values()):
            worker.cancel()
    while len(records) < grades:      # nothing left to do: trivial grades, said why
        last = max(level - 1 if reason == "level budget spent" else level, 0)
        emit(LevelRecord(last, mesh(last, params.ratio), [],
                         last_w if last_w is not None else Fraction(0),
                         time.perf_counter() - start, skipped=skipped, trivial=reason))
        skipped, start = [], time.perf_counter()
    n = values.shape[0] - 1
    final = vectorised.residual_bounds(target, values, n, k)
    if final is not None:
        records[-1].final_sup = max(max(float(-lo.min()), float(hi.max()))
                                    for lo, hi in final.values())
    return records


def network_from_levels(target, records: list[LevelRecord], params: Parameters,
                        fallback: str | None = None, written: bool = True) -> Network:
    """Realise each record as one fixed-width grade and record the construction in `meta`
    (`fallback`: why the requested scheme's network was not used). `meta`'s text of every
    hat (`levels[k]["hats"]`, a few µs a hat) is read by a file's readers and by the
    checker's a-priori argument, which only the balanced construction (`CONSTRUCTION`)
    has: with `written=False` (a network checked in-process, never written) it is left out
    for the other schemes."""
    dim = target.dim
    hat_record = written or CONSTRUCTIONS[params.scheme] == CONSTRUCTION
    grades = []
    inputs = dim
    for record in records:
        grades.append(HatGrade(dim, record.hats, inputs))     # layers made when asked for
        inputs = grades[-1].features
    meta = {
        "construction": CONSTRUCTIONS[params.scheme],
        "scheme": params.scheme,
        "target": target.name,
        "ratio": params.ratio,
        "margin": format_rational(params.margin),
        "tol": format_rational(params.tol),
        "subdivision": params.subdivision or default_subdivision(dim),
        **({"fallback": fallback} if fallback else {}),
        "levels": [{
            "grade": k, "level": r.level, "mesh": format_rational(r.mesh),
            "skipped": list(r.skipped),
            "oscillation": format_rational(r.oscillation),
            **({"hats": _hat_texts(r.hats)} if hat_record else {}),
            **({"trivial": r.trivial} if r.trivial else {}),
        } for k, r in enumerate(records, start=1)],
    }
    return Network(dim, grades, meta)


def _hat_texts(hats: list[Hat]) -> list[dict]:
    """`meta`'s `{"node": [...], "c": ...}` of each hat; the text of a coordinate is made
    once per `Fraction` object (a level's hats share their coordinates: `HatArray.hats`)."""
    texts: dict = {}

    def text(v):
        key = id(v)
        if key not in texts:
            texts[key] = (v, format_rational(v))     # v kept alive: its id stays its own
        return texts[key][1]
    return [{"node": [text(v) for v in hat.z], "c": format_rational(hat.c)} for hat in hats]


def build(target, grades: int, ratio: int = DEFAULT_RATIO, margin=DEFAULT_MARGIN,
          subdivision: int | None = None,
          progress: Callable[[LevelRecord], None] | None = None,
          scheme: str = DEFAULT_SCHEME, tol=0) -> Network:
    """The construction's network with `grades` grades for `target`."""
    params = Parameters(ratio, Fraction(margin), subdivision, scheme, Fraction(tol))
    records = build_levels(target, grades, params, progress)
    if params.scheme == "surplus":
        # never worse than balanced: where the surplus network would end with a larger
        # certified sup bound (next to a Hölder cusp, where the enclosure is ruled by f's
        # range over the cusp's cell), the balanced network is returned, and meta says why
        plain = replace(params, scheme="balanced")
        other = build_levels(target, grades, plain)
        mine, theirs = records[-1].final_sup, other[-1].final_sup
        if mine is not None and theirs is not None and mine > theirs:
            return network_from_levels(
                target, other, plain,
                fallback=f"surplus ended with certified sup {mine:.6g} > balanced {theirs:.6g}")
    return network_from_levels(target, records, params)
