"""The checker: certify (G1), (G2) and sup-norm bounds for every grade of a network.

For each grade `k` (docs/theory.md §5):

1. *Falsify first*: float sampling proposes points where a claim may fail; each is
   re-checked at its exact rational point (`certify.engine.residual`) before it counts.
2. *Prove*: a grade recognised from its weights as hats on a grid goes through the
   locality path (`certify.certificates.local`), simplex by simplex; any other grade through the
   general path (`certify.certificates.general`), the whole grade on the whole cube. Both end in
   counterexample-guided refinement with the solver (`certify.certificates.refine`, `certify.certificates.smt`).
3. *(G2)*: with no overshoot proved, Lemma 2 gives `‖e_{k-1}‖_p^p - ‖e_k‖_p^p >= ‖g_k‖_p^p`,
   bounded below exactly (integer `p`) or in Arb; otherwise the difference of rigorous
   enclosures is used.
4. *Sup norm*: an upper bound from the same enclosures and a lower bound witnessed at an
   exact point; for this toolkit's construction with `N > 2d(1+θ)+1` and a declared
   Lipschitz constant, the theorem's a priori bound beside it.

With `jobs > 1`, a grade's work is split into independent units (`work_units`): f data
blocks over threads; proofs, hard simplices, part of a large grade's integrals and the
grades before a large last grade in forked workers (or, under `check --grades`, those
checked while the last level was built: `check_ahead`); grades of a network with no grid
grade go to workers whole.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from . import general, local

from ..engine import taylor, vectorised, work_units
from ..construction import default_subdivision
from ..errors import UsageError
from ..engine.freudenthal import interpolate, nodes
from ..engine.interpolant import interpolation_error_estimate
from ..engine.lp import p_th_roots
from ..interfaces.progress import all_checked, announce
from .a_priori import a_priori_bounds  # noqa: F401 (re-exported)
from ..engine.realize import max_width
from .refine import Limits, Outcome, PROVED, REFUTED, UNKNOWN
from .report import NOT_OWED, GradeResult, LpResult, Report
from ..engine.residual import (MONOTONE, NO_OVERSHOOT, PointValues, abs_residual_lower, check_point,
                       target_bounds, violated)

if TYPE_CHECKING:
    from ..engine.regions import RegionCache

DEFAULT_PS = (Fraction(1), Fraction(2))
SAMPLES = 4000
CANDIDATES_PER_CLAIM = 6
#: the nodes and edge mid-points of the last grid are sampled up to this many nodes
GRID_SAMPLE_NODES = 20000


@dataclass(frozen=True)
class Options:
    """Validated options of one check."""

    ps: tuple[Fraction, ...] = DEFAULT_PS
    timeout: float = 10.0
    jobs: int = 1
    samples: int = SAMPLES
    seed: int = 0
    falsify: bool = True       # float sampling first; off only to exercise the solver
    regions: bool = True       # the exact regions path for d <= 3 (off: solver path only)

    def __post_init__(self):
        if not self.ps:
            raise UsageError("p: give at least one exponent", "try --p 1 2")
        for p in self.ps:
            if not isinstance(p, Fraction) or p < 1 or p > 64:
                raise UsageError(f"p={p} must be a rational in [1, 64]",
                                 "(G2) is about 1 <= p < inf; try --p 1 2")
        if not (isinstance(self.timeout, (int, float)) and math.isfinite(self.timeout)
                and self.timeout > 0):
            raise UsageError(f"timeout={self.timeout!r} must be a positive number of seconds",
                             "try --timeout 10")
        if isinstance(self.jobs, bool) or not isinstance(self.jobs, int) or self.jobs < 1:
            raise UsageError(f"jobs={self.jobs!r} must be a positive integer", "try --jobs 2")


# --------------------------------------------------------------------------- sampling

def sample_points(network, plan, samples: int, seed: int) -> np.ndarray:
    """Random points, the cube's corners, and the nodes of the finest common grid."""
    dim = network.dim
    rng = np.random.default_rng(seed)
    parts = [rng.random((samples, dim)),
             np.array(list(nodes(dim, 1)), dtype=float)]
    grids = [s.grid for s in plan if s is not None]
    if grids and (grids[-1] + 1) ** dim <= GRID_SAMPLE_NODES:
        n = grids[-1]
        parts.append(np.array(list(nodes(dim, n)), dtype=float) / n)
        # mid-points of grid edges along the axes catch violations between nodes
        parts.append(np.clip((np.array(list(nodes(dim, n)), dtype=float) + 0.5) / n, 0, 1))
    return np.concatenate(parts)


def interpolate_floats(values: np.ndarray, points: np.ndarray) -> np.ndarray:
    """The piecewise-linear interpolant of nodal `values` (grid with `n` intervals a side,
    Freudenthal simplices) at float `points` of shape (m, d); floats, for sampling only."""
    n = values.shape[0] - 1
    m, dim = points.shape
    scaled = points * n
    cell = np.clip(np.floor(scaled), 0, n - 1).astype(np.int64)
    local = scaled - cell
    perm = np.argsort(-local, axis=1, kind="stable")
    ordered = np.take_along_axis(local, perm, axis=1)
    rows = np.arange(m)
    index = cell.copy()
    total = (1.0 - ordered[:, 0]) * values[tuple(index.T)]
    for j in range(dim):
        index[rows, perm[:, j]] += 1
        weight = ordered[:, j] - (ordered[:, j + 1] if j + 1 < dim else 0.0)
        total = total + weight * values[tuple(index.T)]
    return total


class Sampler:
    """Float residuals of every grade at the sample points: candidates and sup witnesses.

    When every grade is recognised as hats on a grid (`plan`), its outputs are the
    interpolants of the plan's nodal values: the same values as pushing the points through
    every layer, at a cost linear in points and grades. Sampling only proposes candidates,
    each re-checked exactly, so this weakens nothing.
    """

    def __init__(self, target, network, points: np.ndarray, plan=None):
        self.points = points
        with np.errstate(all="ignore"):
            self.f = target.floats(points)
            if plan and all(step is not None for step in plan):
                self.outputs = np.stack(
                    [interpolate_floats(step.g.floats()[0].reshape(step.g.shape), points)
                     for step in plan],
                    axis=1)
            else:
                self.outputs = network.outputs_floats(points)
        self.cumulative = np.cumsum(self.outputs, axis=1)

    def residual(self, k: int) -> np.ndarray:
        """Float `e_k` at the points (`e_0 = f`)."""
        return self.f - (self.cumulative[:, k - 1] if k else 0.0)

    def candidates(self, k: int, claim: str) -> list[tuple[Fraction, ...]]:
        """Points where the claim looks violated in floats, worst first."""
        r, g = self.residual(k - 1), self.outputs[:, k - 1]
        factor = 2.0 if claim == MONOTONE else 1.0
        score = g * (factor * r - g)
        with np.errstate(all="ignore"):
            bad = np.flatnonzero(np.isfinite(score) & (score < 0))
        order = bad[np.argsort(score[bad])][:CANDIDATES_PER_CLAIM]
        return [tuple(Fraction(float(v)) for v in self.points[i]) for i in order]

    def sup_witness(self, k: int) -> tuple[Fraction, ...]:
        e = np.abs(self.residual(k))
        e[~np.isfinite(e)] = -1
        return tuple(Fraction(float(v)) for v in self.points[int(np.argmax(e))])


# --------------------------------------------------------------------------- one grade

@dataclass
class _State:
    """What every grade check needs; shared with worker processes by fork."""

    target: object
    network: object
    plan: list
    recognised: list
    sampler: Sampler
    options: Options
    regions: RegionCache | None = None


_STATE: _State | None = None
#: under `--jobs`, a last grade on a grid of at least this many cells is checked apart
APART_CELLS = 16384


@dataclass
class GradeData:
    """Result of one grade before combination with its neighbours (picklable)."""

    result: GradeResult
    integral: dict            # p -> (lower, upper) of ‖e_k‖_p^p
    g_power_lower: dict       # p -> lower bound of ‖g_k‖_p^p
    g_power_safe: dict        # p -> the same over pieces where no overshoot is proved
    g_zero: bool | None
    region_norms: object = None   # regions path: `‖e_{k-1}‖_p^p` and the decrease, enclosed


def _limits(options: Options, dim: int) -> Limits:
    # a refinement may spend at most six solver timeouts of wall clock before it says unknown
    return Limits(timeout=options.timeout, depth={1: 8, 2: 5, 3: 3}.get(dim, 2),
                  queries=400, seconds=6 * options.timeout)


def _falsify(state: _State, k: int) -> dict[str, Outcome]:
    found = {}
    for claim in (MONOTONE, NO_OVERSHOOT):
        if claim == NO_OVERSHOOT and MONOTONE in found:
            found[claim] = Outcome(REFUTED, found[MONOTONE].witness)
            continue
        for point in state.sampler.candidates(k, claim):
            if _holds_on_plan(state, k, point, claim):
                continue
            witness = check_point(state.target, state.network, k, point, claim)
            if witness is not None:
                found[claim] = Outcome(REFUTED, witness)
                break
    return found


def _holds_on_plan(state: _State, k: int, point, claim: str) -> bool:
    """Is a sampling candidate certainly not a counterexample? Judged, for a grade on the
    grid plan, from the plan's exact nodal values (the network's own, read from its
    weights) instead of through every layer: the same values and the same enclosure of
    `f` as `check_point`, so nothing it would report is skipped. Counterexamples are still
    confirmed through the network itself."""
    values = _plan_values(state, k, point)
    return values is not None and not violated(claim, values)


def _plan_values(state: _State, k: int, point) -> PointValues | None:
    """`f`'s enclosure, `F_{k-1}` and `g_k` at the rational `point`, exactly from the plan's
    nodal values (the network's, read from its weights); None off the plan."""
    step = state.plan[k - 1]
    if step is None:
        return None
    h = Fraction(1, step.grid)
    x = tuple(Fraction(v) for v in point)
    lo, hi = target_bounds(state.target, x)
    return PointValues(x, lo, hi, interpolate(step.previous, h, x), interpolate(step.g, h, x))


def check_one(k: int, state: _State | None = None) -> GradeData:
    """Check grade `k` (1-based)."""
    state = state or _STATE
    start = time.perf_counter()
    target, network, options = state.target, state.network, state.options
    grade = network.grades[k - 1]
    limits = _limits(options, network.dim)
    found = _falsify(state, k) if options.falsify else {}
    open_claims = tuple(c for c in (MONOTONE, NO_OVERSHOOT) if c not in found)
    step = state.plan[k - 1]
    notes = []
    try:
        if step is not None:
            path, hats = "local", step.hats
            ev = local.check_grade(target, network, step, options.ps,
                                   default_subdivision(network.dim), limits, open_claims)
        elif state.regions is not None and _regions_ready(state, k, notes):
            path, hats = "regions", None
            from . import region_path       # the regions path's modules, when first used
            ev = region_path.check_grade(target, network, k, state.regions.get(k), options.ps,
                                         limits, open_claims)
        else:
            path, hats = "general", None
            ev = general.check_grade(target, network, k, options.ps, limits, open_claims)
            if any(o.witness is not None and o.witness.g != 0 for o in found.values()):
                ev.g_zero = False
            if ev.g_zero is None and not any(ev.g_power_lower.values()):
                ev.g_zero = general.is_zero(network, k, options.timeout)
                if ev.g_zero:
                    notes.append("g is identically zero (solver)")
    except ArithmeticError as exc:      # an enclosure blew up: nothing is claimed
        return _gave_up(k, state, found, start, f"enclosure failed: {exc}")
    outcomes = dict(ev.outcomes, **found)
    for claim in (MONOTONE, NO_OVERSHOOT):
        for reason in outcomes[claim].reasons[:3]:
            notes.append(f"{claim}: {reason}")
    witness_point = state.sampler.sup_witness(k)
    sup_lower = _sup_lower(state, k, witness_point)
    exact_witness = getattr(ev, "sup_witness", None)
    if exact_witness is not None:
        lower = abs_residual_lower(target, network, k, exact_witness)
        if lower > sup_lower:
            witness_point, sup_lower = exact_witness, lower
    integral = {p: ev.norms.integral(p) for p in options.ps}
    lp = [LpResult(p, *ev.norms.norm(p), None, UNKNOWN, "") for p in options.ps]
    counter = outcomes[MONOTONE].witness
    result = GradeResult(
        grade=k, width=grade.width, depth=grade.depth, hats=hats, path=path,
        monotone=outcomes[MONOTONE].status, no_overshoot=outcomes[NO_OVERSHOOT].status,
        sup_upper=ev.sup_upper, sup_lower=sup_lower, sup_witness=witness_point, lp=lp,
        nontrivial=None if ev.g_zero is None else not ev.g_zero,
        counterexample=counter,
        no_overshoot_counterexample=outcomes[NO_OVERSHOOT].witness
        if outcomes[NO_OVERSHOOT].witness is not counter else None,
        seconds=time.perf_counter() - start, queries=ev.queries, notes=notes,
        regions=getattr(ev, "regions", None),
        regions_seconds=state.regions.seconds_by_grade.get(k) if path == "regions" else None)
    if any(ev.g_power_lower.values()):
        result.nontrivial = True
    if step is not None:        # the yardstick: nodal interpolation on this grade's grid
        result.interp_error = interpolation_error_estimate(target, step.grid)
    return GradeData(result, integral, ev.g_power_lower, ev.g_power_safe, ev.g_zero,
                     getattr(ev, "region_norms", None))


def _regions_ready(state: _State, k: int, notes: list) -> bool:
    """Can the regions path take grade `k`? False (with a note) when the network has more
    linear regions than the budget: the general path then decides what it can."""
    from ..engine.regions import RegionBudget
    try:
        state.regions.get(k)
        return True
    except RegionBudget as exc:
        notes.append(f"regions path closed: {exc}; solver path used")
        return False


def _sup_lower(state: _State, k: int, x) -> Fraction:
    """A rigorous lower bound on `|e_k(x)|`: exactly from the plan's nodal values (they are
    the network's, read from its weights) when the grade is on the grid plan, else through
    the network in Arb."""
    values = _plan_values(state, k, x)
    if values is None:
        return abs_residual_lower(state.target, state.network, k, x)
    lo, hi = values.r_lo - values.g, values.r_hi - values.g
    return lo if lo >= 0 else -hi if hi <= 0 else Fraction(0)


def _gave_up(k: int, state: _State, found: dict, start: float, why: str) -> GradeData:
    """A grade whose enclosures failed: refutations found by sampling stand, all else unknown."""
    grade = state.network.grades[k - 1]
    status = {c: (found[c].status if c in found else UNKNOWN) for c in (MONOTONE, NO_OVERSHOOT)}
    counter = found[MONOTONE].witness if MONOTONE in found else None
    other = found[NO_OVERSHOOT].witness if NO_OVERSHOOT in found else None
    ps = state.options.ps
    result = GradeResult(
        grade=k, width=grade.width, depth=grade.depth, hats=None, path="none",
        monotone=status[MONOTONE], no_overshoot=status[NO_OVERSHOOT],
        sup_upper=None, sup_lower=Fraction(0), sup_witness=None,
        lp=[LpResult(p, Fraction(0), None, None, UNKNOWN, why) for p in ps], nontrivial=None,
        counterexample=counter, no_overshoot_counterexample=other if other is not counter
        else None, seconds=time.perf_counter() - start, notes=[why])
    zero = {p: Fraction(0) for p in ps}
    return GradeData(result, {p: (Fraction(0), None) for p in ps}, zero, dict(zero), None)


# --------------------------------------------------------------------------- (G2), a priori

def _settle_lp(data: GradeData, previous_integral: dict) -> None:
    """Decide (G2) of a grade from Lemma 2 or from the enclosures of both residual norms,
    then tighten the enclosure of `‖e_k‖_p^p` with what was proved: `e_k = e_{k-1}` for a
    trivial grade, `‖e_k‖_p^p <= ‖e_{k-1}‖_p^p - decrease` once a decrease is proved."""
    result = data.result
    for lp in result.lp:
        p = lp.p
        prev_lo, prev_hi = previous_integral[p]
        now_lo, now_hi = data.integral[p]
        if data.region_norms is not None:      # the same residual enclosed on the regions
            own_lo, own_hi = data.region_norms.previous(p)
            prev_lo = max(prev_lo, own_lo)
            prev_hi = own_hi if prev_hi is None else min(prev_hi, own_hi)
        _decide_decrease(result, lp, data, prev_lo, prev_hi, now_lo, now_hi)
        _regions_decrease(result, lp, data)
        if now_hi is None or prev_hi is None:
            # an enclosure failed on one side: only (G1) can carry an upper bound over
            if now_hi is None and prev_hi is not None and result.monotone == PROVED:
                now_hi = prev_hi
            if now_hi is not None:
                data.integral[p] = (now_lo, now_hi)
                lp.norm_lower, lp.norm_upper = p_th_roots(now_lo, now_hi, p)
            continue
        if result.nontrivial is False:
            now_lo, now_hi = max(now_lo, prev_lo), min(now_hi, prev_hi)
        elif lp.status == PROVED and lp.decrease_lower is not None:
            now_hi = min(now_hi, prev_hi - lp.decrease_lower)
        elif result.monotone == PROVED:
            now_hi = min(now_hi, prev_hi)
        now_hi = max(now_hi, now_lo)        # never below the rigorous lower bound
        data.integral[p] = (now_lo, now_hi)
        lp.norm_lower, lp.norm_upper = p_th_roots(now_lo, now_hi, p)


def _decide_decrease(result, lp, data, prev_lo, prev_hi, now_lo, now_hi) -> None:
    p = lp.p
    if result.nontrivial is False:
        # g_k ≡ 0 (decided exactly): e_k = e_{k-1}, and (G2) asks nothing of this grade
        lp.decrease_lower, lp.status, lp.method = Fraction(0), NOT_OWED, "trivial grade (g = 0)"
    elif result.path == "none":
        lp.status = UNKNOWN
    elif result.no_overshoot == PROVED and data.g_power_lower[p] > 0:
        exact = p.denominator == 1 and result.path == "local"
        lp.decrease_lower, lp.status = data.g_power_lower[p], PROVED
        lp.method = "Lemma 2, exact" if exact else "Lemma 2"
    elif result.monotone == PROVED and data.g_power_safe[p] > 0:
        # |e_k| <= |e_{k-1}| everywhere, and |e_{k-1}| = |e_k| + |g_k| where no overshoot
        lp.decrease_lower, lp.status = data.g_power_safe[p], PROVED
        lp.method = "(G1) + Lemma 2 on pieces without overshoot"
    elif now_hi is not None and prev_lo - now_hi > 0:
        lp.decrease_lower, lp.status, lp.method = prev_lo - now_hi, PROVED, "enclosures"
    elif prev_hi is not None and now_lo >= prev_hi and result.nontrivial is True:
        # refuted only for a grade PROVED nontrivial (exact nodal values, an exact witness
        # with g != 0, or a rigorous ‖g‖_p^p > 0): a trivial grade owes no decrease
        lp.decrease_lower, lp.status, lp.method = None, REFUTED, "enclosures"
    else:
        lp.status, lp.method = UNKNOWN, "enclosures too wide"


def _carry_sup(result, before) -> None:
    """Under proved (G1), `|e_k| <= |e_{k-1}|` pointwise, so `sup|e_k| <= sup|e_{k-1}|`:
    the grade's sup bound is the smaller of its own and the previous grade's."""
    if result.monotone != PROVED or before is None or before.sup_upper is None:
        return
    if result.sup_upper is None or before.sup_upper < result.sup_upper:
        result.sup_upper = before.sup_upper


def _regions_decrease(result, lp, data) -> None:
    """The regions path encloses the decrease itself (exactly for a piecewise-linear
    target): keep the larger proved lower bound, refute a nontrivial grade whose decrease
    is at most 0."""
    if data.region_norms is None or result.nontrivial is False:
        return
    lo, hi = data.region_norms.decrease(lp.p)
    exact = data.region_norms.exact
    if lo > 0 and (lp.status != PROVED or lp.decrease_lower is None or lo >= lp.decrease_lower):
        lp.decrease_lower, lp.status = lo, PROVED
        lp.method = "regions, exact" if exact else "regions"
    elif hi <= 0 and result.nontrivial is True:
        if lp.status == PROVED:        # two rigorous results disagree: claim nothing
            lp.status, lp.method = UNKNOWN, "internal disagreement on the decrease"
        else:
            lp.decrease_lower, lp.status = None, REFUTED
            lp.method = "regions, exact: no decrease" if exact else \
                "regions: decrease enclosed in (-inf, 0]"


# --------------------------------------------------------------------------- whole network

def check(target, network, p: Sequence = DEFAULT_PS, timeout: float = 10.0, jobs: int = 1,
          on_grade: Callable[[Report], None] | None = None, samples: int = SAMPLES,
          falsify: bool = True, scheduler: str | None = None,
          regions: bool = True, earlier=None) -> Report:
    """Certify every grade of `network` against `target`; returns the `Report`.

    `on_grade(report)` is called each time a grade is finished (in grade order), so that a
    caller can print its row and rewrite the report file. The enclosures of `f` on every
    grid are computed first, in independent blocks over `jobs` threads or on the Dask
    cluster at `scheduler`; then grades run, over `jobs` processes when none is on a grid.
    `earlier`: the first grades checked already (`check_ahead`), taken where they are
    the very questions asked here.
    """
    with work_units.workers(jobs, scheduler, work_units.forks_pay(target.dim)):
        return _check(target, network, p, timeout, jobs, on_grade, samples, falsify, regions,
                      earlier)


def options_of(p, timeout, jobs, samples=SAMPLES, falsify=True, regions=True) -> Options:
    """The `Options` of a `check` with these arguments."""
    return Options(tuple(Fraction(v) for v in p), timeout, jobs, samples, falsify=falsify,
                   regions=regions)


def grade_state(target, network, options: Options) -> _State:
    """What every grade's check needs (`check_one`): the hats recognised, the grid plan,
    the f data of its grids, the samples, the regions cache where a grade is off the grid."""
    announce("recognising hats and sampling the residuals")
    recognised = local.recognise(network)
    plan = local.grid_plan(network, recognised)
    vectorised.prefetch(target, [s.grid for s in plan if s is not None],
                        default_subdivision(network.dim))
    sampler = Sampler(target, network, sample_points(network, plan, options.samples,
                                                     options.seed), plan)
    regions = None
    if options.regions and any(s is None for s in plan):
        from ..engine.regions import MAX_DIMENSION, RegionCache
        if network.dim <= MAX_DIMENSION:
            regions = RegionCache(network, target, seconds=_limits(options, network.dim).seconds)
    return _State(target, network, plan, recognised, sampler, options, regions)


def _check(target, network, p, timeout, jobs, on_grade, samples, falsify,
           regions=True, earlier=None) -> Report:
    global _STATE
    if network.dim != target.dim:
        raise UsageError(f"network dim={network.dim} but target {target.name} has "
                         f"d={target.dim}", "check the network against its own target")
    options = options_of(p, timeout, jobs, samples, falsify, regions)
    state = grade_state(target, network, options)
    recognised, plan = state.recognised, state.plan
    bounds = a_priori_bounds(target, network, recognised)
    widths = [g.width for g in network.grades]
    report = Report(network.dim, target.name, info={
        "grades_checked": len(network.grades),
        "a_priori_applies": bounds is not None,
        **({"lipschitz_not_established": target.lipschitz_note}
           if getattr(target, "lipschitz_note", None) else {}),
        "p": [str(v) for v in options.ps],
        "structure": {
            # shapes chain: enforced when the network was read (NetworkError otherwise)
            "widths": widths, "fixed_width": max(widths),
            "hat_grades": sum(gg is not None for gg in recognised),
            "within_3d_plus_2": max(widths) <= max_width(network.dim)}})
    announce("enclosing f for the L^p norms")
    f_norms = general.enclose_target(target, options.ps)
    previous = {q: f_norms.integral(q) for q in options.ps}
    indices = range(1, len(network.grades) + 1)
    if jobs > 1 and len(network.grades) > 1 and all(s is None for s in plan):
        # no grade on a grid: whole grades are the work units
        _STATE = state
        with work_units.fork_pool(min(jobs, len(network.grades))) as pool:
            for data in pool.imap(check_one, indices):
                previous = _finish(report, data, previous, bounds, on_grade)
        _STATE = None
    else:
        # grades in order, each split into work units (`work_units.workers`); a large last
        # grade on a grid is checked here while a forked worker checks the others
        step, count = plan[-1], len(network.grades)

        def one(k):
            announce(f"checking grade {k}/{count} (depth {network.grades[k - 1].depth})")
            return check_one(k, state)
        if earlier is not None:         # the first grades checked meanwhile (`check_ahead`)
            rest = [one(k) for k in range(earlier.count + 1, count + 1)]
            grades = (earlier.taken(state) or [one(k) for k in indices[:earlier.count]]) + rest
            all_checked()
        elif count > 1 and step is not None and step.grid ** network.dim >= APART_CELLS \
                and work_units.may_fork(2, 2):
            taylor.applies(target)      # its program compiled once, for both processes
            last, before = work_units.forked([lambda: one(count),
                                              lambda: [one(k) for k in indices[:-1]]])
            grades = before + [last]
            all_checked()
        else:
            grades = map(one, indices)
        for data in grades:
            previous = _finish(report, data, previous, bounds, on_grade)
    report.complete = True
    return report


def _finish(report, data: GradeData, previous, bounds, on_grade):
    _settle_lp(data, previous)
    _carry_sup(data.result, report.grades[-1] if report.grades else None)
    if bounds is not None:
        data.result.a_priori = bounds[data.result.grade - 1]
    report.grades.append(data.result)
    if on_grade:
        on_grade(report)
    return data.integral
