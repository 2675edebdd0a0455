"""The locality path: grades recognised as hats on a grid are checked simplex by simplex.

A grade whose weights are, exactly, this toolkit's realisation of hats `c_z φ_z` on a grid
of mesh `1/n` (whatever its readout over the final layer `[x, P, Q]`) computes

    g(x) = a · x + α P(x) - β Q(x) + b,   P = Σ_{c>0} c φ_z,   Q = Σ_{c<0} |c| φ_z,

a piecewise-linear function with known nodal values on that grid. If every grade so far is
of this kind, `F_{k-1}` and `g_k` are affine on every simplex of the common refinement
(mesh `1/M`, `M` the lcm of the grids), and each claim reduces to simplices `T`:

- where `g_k ≡ 0` on `T` there is nothing to prove;
- where `g_k` has one sign on `T`, rigorous bounds on `f - F_k` (no overshoot) or
  `f - F_{k-1} - g_k/2` (monotone) over `T` prove the claim outright;
- what remains goes to counterexample-guided refinement with the solver on `T`.

Only simplices where `g_k` is nonzero — the stars of the grade's hats — cost more than one
enclosure; the sup norm and `L^p` enclosures of `e_k` use the same simplex bounds.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import cached_property
from fractions import Fraction

import numpy as np

from . import anchored_grid, grid_norms, smt

from ..engine import lp, taylor, vectorised, work_units
from .anchored import Prover
from ..engine.enclosure import affine_on_simplex, residual_ball, simplex_residual_bounds, sub_box, \
    sub_boxes
from ..engine.freudenthal import cell_simplices, simplex_vertices, \
    simplex_volume
from ..engine.lp import NormEnclosure, simplex_power_lower
from ..engine.nodal import Nodal
from ..engine.numbers import ball_bounds
from .grid_grade import GridGrade, recognise
from .refine import REFUTED, Evidence, Limits, Outcome, refine
from ..engine.residual import MONOTONE, NO_OVERSHOOT

#: what callers use: a network's grades recognised (`recognise`, from `grid_grade`), the
#: common grids (`grid_plan`) and one grade's check (`check_grade`)
__all__ = ["GridGrade", "GridStep", "Pending", "check_grade", "grid_plan", "recognise"]

#: the largest common grid (nodes) the locality path will build; beyond it, general path
MAX_GRID_NODES = 2_000_000


@dataclass
class GridStep:
    """Grade `grade` on the common grid: `F_{k-1}` and `g_k` as nodal values."""

    grade: int
    grid: int
    previous: Nodal
    g: Nodal
    hats: int
    trivial: bool

    @cached_property
    def total(self) -> Nodal:
        """`F_k = F_{k-1} + g_k` (exact nodal values), computed once per grade."""
        return self.previous + self.g

    @cached_property
    def signs(self) -> np.ndarray:
        """The exact sign of `g_k` at every node (int8)."""
        return self.g.signs()

    def simplex_sign(self, simplex) -> int:
        """`_sign` of `g_k`'s vertex values on `simplex`, from the exact node signs."""
        return _sign([int(self.signs[v]) for v in simplex_vertices(simplex)])

    @cached_property
    def half(self) -> Nodal:
        """`F_{k-1} + g_k / 2`, whose residual (G1) compares with (exact, computed once)."""
        return self.previous + self.g.halved()


def grid_plan(network, recognised) -> list[GridStep | None]:
    """Nodal values of `F_{k-1}` and `g_k` per grade, while every grade so far is on a grid."""
    dim = network.dim
    steps: list[GridStep | None] = []
    grid = 1
    values = Nodal.zeros((2,) * dim)
    alive = True
    for k, gg in enumerate(recognised, start=1):
        if not alive or gg is None:
            alive = False
            steps.append(None)
            continue
        new_grid = grid if gg.n is None else grid * gg.n // math.gcd(grid, gg.n)
        if (new_grid + 1) ** dim > MAX_GRID_NODES:
            alive = False
            steps.append(None)
            continue
        if new_grid != grid:
            values = values.refine(new_grid // grid)
            grid = new_grid
        g = gg.nodal(dim, grid)
        # g is affine on every simplex of this grid, so g ≡ 0 iff every exact nodal value is 0
        # (decided from what the grade computes, not from how its weights look)
        trivial = not g.num.any()
        step = GridStep(k, grid, values, g, len(gg.hats), trivial)
        steps.append(step)
        values = step.total
    return steps


def _sign(values) -> int:
    if all(v >= 0 for v in values):
        return 1
    if all(v <= 0 for v in values):
        return -1
    return 0


def _decided(sign: int, lo: Fraction, hi: Fraction) -> bool:
    return (sign > 0 and lo >= 0) or (sign < 0 and hi <= 0)


def check_grade(target, network, step: GridStep, ps, subdivision: int,
                limits: Limits, claims=(MONOTONE, NO_OVERSHOOT)) -> Evidence:
    """Run the locality path for one grade (see the module docstring)."""
    dim = network.dim
    h = Fraction(1, step.grid)
    vol = simplex_volume(dim, h)
    norms = NormEnclosure(ps)
    g_lower = {Fraction(p): Fraction(0) for p in ps}
    g_safe = dict(g_lower)
    sup = Fraction(0)
    hard = {MONOTONE: [], NO_OVERSHOOT: []}
    prover = Prover(target, h)
    pending: list[Pending] = []
    fast = _scan_vectorised(target, step, subdivision, vol, norms, g_lower, g_safe, pending)
    cells = () if fast is not None else itertools.product(range(step.grid), repeat=dim)
    if fast is not None:
        sup = fast
    else:
        total, half = step.total, step.half
    for cell in cells:
        boxes = sub_boxes(target, cell, h, subdivision)
        prover.remember({(box.lo, box.hi): box for box in boxes})
        for simplex in cell_simplices(cell):
            lo, hi = simplex_residual_bounds(simplex, h, total, boxes, subdivision)
            if dim == 1:       # certified integrals of |f - A|^p on the segment (certify.engine.lp)
                a = cell[0] * h
                lo, hi = norms.add_segment(target, a, a + h, total[cell],
                                           (total[cell[0] + 1] - total[cell]) / h, lo, hi)
            else:
                lo, hi = norms.add_simplex(target, simplex, h,
                                           affine_on_simplex(simplex, h, total), vol, lo, hi)
            sup = max(sup, -lo, hi)
            gv = [step.g[v] for v in simplex_vertices(simplex)]
            if not any(gv):
                continue
            sign = _sign(gv)
            # the vertex-anchored proof (certify.certificates.anchored) where the residual is interpolated
            decided = _decided(sign, lo, hi) or (sign != 0 and prover.proves(simplex, total, sign))
            for p in g_lower:
                part = simplex_power_lower(gv, vol, p)
                g_lower[p] += part
                if decided:
                    g_safe[p] += part
            if decided:
                continue
            hard[NO_OVERSHOOT].append(simplex)
            if sign:
                mlo, mhi = simplex_residual_bounds(simplex, h, half, boxes, subdivision)
                if _decided(sign, mlo, mhi) or prover.proves(simplex, half, sign):
                    continue
            hard[MONOTONE].append(simplex)
    if pending:
        _anchored_pass(prover, step, pending[0], hard)
    outcomes = {}
    for claim in (MONOTONE, NO_OVERSHOOT):
        outcome = Outcome()
        if claim not in claims:
            pass
        elif claim == NO_OVERSHOOT and outcomes[MONOTONE].status == REFUTED:
            outcome = Outcome(REFUTED, outcomes[MONOTONE].witness)   # monotone ⇒ stronger fails
        else:
            outcome = _settle_hard(target, network, step, hard[claim], claim, subdivision,
                                   limits)
        outcomes[claim] = outcome
    return Evidence(outcomes, sup, norms, g_lower, g_safe, g_zero=step.trivial)


def _anchored_pass(prover, step: GridStep, pending: Pending, hard: dict) -> None:
    """Fill `hard` (in the cell loop's order) with the simplices the scan left open that the
    vertex-anchored proof (`certify.certificates.anchored_grid`, all at once per
    permutation) does not decide: no overshoot (which implies (G1)) with `F_k`, else (G1)
    with `F_{k-1} + g_k/2`. The (G2) safe sums stay as the scan left them (a lower bound
    either way)."""
    perms = list(itertools.permutations(range(step.g.ndim)))
    count = len(pending.cells)
    overshoot_ok = np.zeros(count, dtype=bool)
    monotone_ok = np.zeros(count, dtype=bool)
    signed = pending.sign != 0
    grid = anchored_grid.Grid(prover.target, step.grid, prover.vertices) if signed.any() \
        else None

    def prove(mask, values, out):
        for pi, perm in enumerate(perms):
            index = np.flatnonzero(mask & (pending.perm == pi))
            if not len(index):
                continue
            if grid.applies:
                out[index] = grid.proves_cells(perm, pending.cells[index],
                                               pending.sign[index], values)
            else:
                out[index] = [prover.proves((tuple(c), perm), values, int(g)) for c, g in
                              zip(pending.cells[index].tolist(), pending.sign[index].tolist())]

    if signed.any():
        prove(signed, step.total, overshoot_ok)
        prove(signed & ~pending.settled & ~overshoot_ok, step.half, monotone_ok)
    monotone_ok |= overshoot_ok
    for i in np.flatnonzero(~overshoot_ok | ~(pending.settled | monotone_ok)).tolist():
        simplex = (tuple(pending.cells[i].tolist()), perms[int(pending.perm[i])])
        if not overshoot_ok[i]:
            hard[NO_OVERSHOOT].append(simplex)
        if not (pending.settled[i] or monotone_ok[i]):
            hard[MONOTONE].append(simplex)


@dataclass
class Pending:
    """Simplices `(cells[i], perms[perm[i]])` the scan left open, as arrays: whether the
    (G1) enclosure settled each (`settled`) and the sign of `g_k` on it (0: mixed)."""

    cells: np.ndarray
    perm: np.ndarray
    settled: np.ndarray
    sign: np.ndarray

    @staticmethod
    def ordered(parts: list) -> "Pending":
        """The parts joined in the cell loop's order: by cell, then by permutation."""
        cells = np.concatenate([p.cells for p in parts])
        perm = np.concatenate([p.perm for p in parts])
        # one key per simplex: the cell's row-major index (mixed radix, each digit below its
        # radix) then the permutation; keys are distinct, so one argsort gives lexsort's order
        # (a merge of the parts' sorted runs)
        key = np.zeros(len(cells), dtype=np.int64)
        for axis, top in zip(cells.T, cells.max(axis=0, initial=0) + 1):
            key = key * int(top) + axis
        order = np.argsort(key * (int(perm.max(initial=0)) + 1) + perm, kind="stable")
        return Pending(cells[order], perm[order],
                       np.concatenate([p.settled for p in parts])[order],
                       np.concatenate([p.sign for p in parts])[order])


def _scan_vectorised(target, step: GridStep, subdivision: int, vol: Fraction, norms,
                     g_lower: dict, g_safe: dict, pending: list) -> Fraction | None:
    """The cell loop of `check_grade` for all simplices at once (`certify.engine.vectorised`):
    fills `norms`, `g_lower`, `g_safe` exactly as the loop would, appends to `pending` the
    simplices it leaves open (in the loop's order), and returns the sup bound; None
    (nothing touched) when not applicable."""
    n = step.grid
    total = vectorised.residual_bounds(target, step.total, n, subdivision)
    if total is None:
        return None
    dim = step.g.ndim
    signs = step.signs
    half = numerators = None
    perms = list(itertools.permutations(range(dim)))
    found = []                       # a `Pending` per permutation
    los, his = [], []
    # on a large grid under `--jobs`, the grade's integrals begun in a forked worker
    # meanwhile, their rounds dealt (`work_units.Deal`) to the worker and, once its scan
    # is done, to this process as well (from the same bounds: the same floats wherever
    # they are computed, and exact sums joined: `taylor.joined_integrals`)
    deal = integrals = None
    if lp.TIGHT and dim in (1, 2, 3) and n ** dim >= INTEGRALS_APART \
            and work_units.may_fork(2, 2):
        try:
            deal = work_units.Deal(taylor.integral_units(dim, n))
        except OSError:                     # (a system short of pipes: all here, after)
            deal = None
        if deal is not None:
            integrals = work_units.ahead(lambda: _integrals(target, step, perms, total,
                                                            norms.ps, deal))
    try:
        for pi, perm in enumerate(perms):
            lo, hi = total[perm]
            los.append(lo)
            his.append(hi)
            vs = [signs[tuple(slice(o, o + n) for o in off)] for off in vectorised._perm_offsets(perm)]
            nonzero = np.any([v != 0 for v in vs], axis=0)
            if not nonzero.any():
                continue
            positive = np.all([v >= 0 for v in vs], axis=0)
            negative = np.all([v <= 0 for v in vs], axis=0)
            sign = np.where(positive, 1, np.where(negative, -1, 0))
            decided = ((sign > 0) & (lo >= 0)) | ((sign < 0) & (hi <= 0))
            exact_ps = [p for p in g_lower if p.denominator == 1 and p <= 64]
            if exact_ps:
                if numerators is None:
                    numerators = grid_norms.common_numerators(step.g)
                verts = [numerators[0][tuple(slice(o, o + n) for o in off)]
                         for off in vectorised._perm_offsets(perm)]
                one_signed = nonzero & (positive | negative)
                for p in exact_ps:
                    every, safe = grid_norms.power_sums(verts, one_signed, decided, int(p))
                    scale = vol * math.factorial(dim) * math.factorial(int(p)) \
                        / math.factorial(int(p) + dim) / Fraction(numerators[1]) ** int(p)
                    g_lower[p] += scale * every
                    g_safe[p] += scale * safe
            others = [p for p in g_lower if p not in exact_ps]
            for cell in zip(*np.nonzero(nonzero)) if others else ():
                cell = tuple(int(c) for c in cell)
                simplex = (cell, perm)
                gv = [step.g[v] for v in simplex_vertices(simplex)]
                ok = bool(decided[cell])
                for p in others:
                    part = simplex_power_lower(gv, vol, p)
                    g_lower[p] += part
                    if ok:
                        g_safe[p] += part
            undecided = nonzero & ~decided
            if not undecided.any():
                continue
            if half is None:
                half = vectorised.residual_bounds(target, step.half, n, subdivision)
            if half is None:
                half_decided = np.zeros_like(undecided)
            else:               # `_decided` on the float end points (exact comparisons with 0)
                half_lo, half_hi = half[perm]
                half_decided = ((sign > 0) & (half_lo >= 0)) | ((sign < 0) & (half_hi <= 0))
            cells = np.argwhere(undecided)              # row-major: the loop's cell order
            found.append(Pending(cells, np.full(len(cells), pi), half_decided[undecided],
                                 sign[undecided].astype(np.int8)))
        if found:
            pending.append(Pending.ordered(found))
        modelled = None
        if integrals is not None:
            mine = _integrals(target, step, perms, total, norms.ps, deal)
            modelled = _joined([mine, integrals.result()])
        elif lp.TIGHT and dim in (1, 2, 3):
            modelled = _joined([_integrals(target, step, perms, total, norms.ps)])
    finally:
        if integrals is not None:
            integrals.cancel()
        if deal is not None:
            deal.close()
    lo, hi = np.stack(los), np.stack(his)
    if modelled:
        for p, (low, high) in modelled.items():
            norms.add_integral(p, low, high)
        rest = [p for p in norms.ps if p not in modelled]
        if rest:
            grid_norms.add_norms(norms, vol, lo, hi, rest)
    elif lp.TIGHT and dim <= lp.MAX_NESTED_DIM and step.grid ** dim * len(perms) <= \
            grid_norms.MAX_CERTIFIED_PIECES["pl" if target.kind == "piecewise-linear" else min(dim, 2)]:
        grid_norms.add_certified_norms(target, step, norms, vol, perms, lo, hi)
    else:
        grid_norms.add_norms(norms, vol, lo, hi)
    return max(Fraction(0), Fraction(float(max(-lo.min(), hi.max()))))


#: under `--jobs`, a grade on a grid of at least this many cells has its integrals
#: (`taylor.grade_integrals`) computed in a forked worker while its simplices are scanned
INTEGRALS_APART = 16384


def _integrals(target, step: GridStep, perms, total: dict, ps, deal=None):
    """`taylor.integral_part` of the grade from its simplex bounds `total` (the whole, or
    the units drawn from `deal`, a `work_units.Deal`); None where they cannot be computed
    (the enclosures of `grid_norms` stand)."""
    lo = np.stack([total[perm][0] for perm in perms])
    hi = np.stack([total[perm][1] for perm in perms])
    try:
        return taylor.integral_part(target, step.total, step.grid, perms, lo, hi, ps, deal)
    except (ArithmeticError, ValueError, ZeroDivisionError):
        return None


def _joined(parts: list):
    """`taylor.joined_integrals` of the parts `_integrals` gave."""
    try:
        return taylor.joined_integrals(parts)
    except (ArithmeticError, ValueError, ZeroDivisionError):
        return None


_HARD = None        # what forked workers need to settle hard simplices (inherited)


def _settle_hard(target, network, step: GridStep, simplices: list, claim: str,
                 subdivision: int, limits: Limits) -> Outcome:
    """Settle the simplices the first enclosure left open, in order, until one is refuted.

    Under `work_units.workers(jobs)` they are independent work units: contiguous chunks
    go to `jobs` forked processes, and the outcomes are merged in the same order with the
    same stop at the first refutation, so the result is the serial one."""
    global _HARD
    jobs = work_units.jobs()
    if jobs > 1 and len(simplices) >= 8 and not work_units.in_pool_worker():
        outcome = Outcome()
        bounds = np.linspace(0, len(simplices), min(len(simplices), 4 * jobs) + 1).astype(int)
        chunks = [simplices[a:b] for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
        _HARD = (target, network, step, claim, subdivision, limits)
        try:
            with work_units.fork_pool(jobs) as pool:
                for results in pool.imap(_settle_chunk, chunks):
                    for result in results:
                        outcome.merge(result)
                        if outcome.status == REFUTED:
                            return outcome
        finally:
            _HARD = None
        return outcome
    _HARD = (target, network, step, claim, subdivision, limits)
    try:
        outcome = Outcome()
        for result in _settle_chunk(simplices):
            outcome.merge(result)
        return outcome
    finally:
        _HARD = None


def _settle_chunk(simplices: list) -> list[Outcome]:
    """Outcomes of consecutive hard simplices, up to the first refuted one."""
    target, network, step, claim, subdivision, limits = _HARD
    out, finer = [], {}
    for simplex in simplices:
        if _finer_decides(target, step, simplex, claim, subdivision, finer):
            continue
        out.append(_refine_simplex(target, network, step, simplex, claim, limits))
        if out[-1].status == REFUTED:
            break
    return out


#: sub-boxes per cell side for the second, finer enclosure of a simplex left undecided
FINER = {1: 16, 2: 4, 3: 4}


def _finer_decides(target, step: GridStep, simplex, claim: str, subdivision: int,
                   cache: dict) -> bool:
    """Prove `claim` on `simplex` from enclosures on finer sub-boxes (Arb, as in
    `enclosure`): `f - F_{k-1} - g` (no overshoot) or `f - F_{k-1} - g/2` (G1) has the
    sign of `g` there. Cheaper than the solver for most simplices the first pass left open;
    False (the solver decides) when `g` changes sign on it or the enclosure is too wide."""
    vertices = simplex_vertices(simplex)
    sign = step.simplex_sign(simplex)
    finer = FINER.get(len(simplex[0]), 2)
    if not sign or finer <= subdivision:
        return False
    factor = Fraction(1) if claim == NO_OVERSHOOT else Fraction(1, 2)
    values = {v: step.previous[v] + factor * step.g[v] for v in vertices}
    h = Fraction(1, step.grid)
    cell = simplex[0]
    try:
        if cell not in cache:
            cache.clear()                   # hard simplices come cell by cell
            cache[cell] = sub_boxes(target, cell, h, finer)
        lo, hi = simplex_residual_bounds(simplex, h, values, cache[cell], finer)
    except ArithmeticError:
        return False
    return _decided(sign, lo, hi)


def _refine_simplex(target, network, step: GridStep, simplex, claim: str,
                    limits: Limits) -> Outcome:
    """Counterexample-guided refinement of one claim on one simplex."""
    dim = network.dim
    h = Fraction(1, step.grid)
    cell, perm = simplex
    previous = affine_on_simplex(simplex, h, step.previous)
    g = affine_on_simplex(simplex, h, step.g)
    sign = step.simplex_sign(simplex)
    factor = Fraction(1) if claim == NO_OVERSHOOT else Fraction(1, 2)
    shifted = type(previous)(previous.origin, previous.value0 + factor * g.value0,
                             tuple(a + factor * b for a, b in zip(previous.grad, g.grad)))
    origin = [c * h for c in cell]

    def region(xs):
        t = [xs[i] - smt.const(origin[i]) for i in range(dim)]
        out = [t[perm[0]] <= smt.const(h), t[perm[-1]] >= 0]
        out += [t[perm[j]] >= t[perm[j + 1]] for j in range(dim - 1)]
        return out

    def terms(xs):
        def affine(a):
            return smt.linear(a.grad, xs, a.value0 - sum(
                (gi * oi for gi, oi in zip(a.grad, a.origin)), Fraction(0)))
        return affine(previous), affine(g), []

    def meets(box):
        lo, hi = box
        # the simplex is {0 <= t_π(d) <= ... <= t_π(1) <= h}: test the box's corner order
        t_lo = [lo[i] - origin[i] for i in range(dim)]
        t_hi = [hi[i] - origin[i] for i in range(dim)]
        level = None
        for axis in reversed(perm):
            low = t_lo[axis] if level is None else max(t_lo[axis], level)
            if low > t_hi[axis]:
                return False
            level = low
        return level <= h and all(v >= 0 for v in t_hi)

    def cheap(box):
        if not sign:
            return False
        try:
            blo, bhi = ball_bounds(residual_ball(sub_box(target, *box), shifted))
        except ArithmeticError:
            return False
        return _decided(sign, blo, bhi)

    root = (tuple(origin), tuple(o + h for o in origin))
    return refine(target, network, step.grade, claim, [root], region, terms, limits,
                  cheap=cheap, meets=meets, affine=lambda x: (previous, g))
