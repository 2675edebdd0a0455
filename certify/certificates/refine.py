"""Counterexample-guided refinement: prove a claim on a region box by box, or refute it.

On a box `B` the target is replaced by a variable `y` constrained by a rigorous enclosure
of `f` over `B` (its range and its mean-value cone), or by `f` itself when the target is
piecewise linear with rational data, and the solver is asked for a point of the region
where the claim fails. *unsat* proves the claim on the region ∩ `B`. A model is re-checked
at its exact rational point with the network's own weights (`certify.engine.residual`): a
genuine violation is a counterexample, a spurious one means the enclosure was too coarse,
and `B` is split in two along every axis. Depth and query limits, and the solver's
timeout, turn what is left open into *unknown* — never into *proved*.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable, Sequence

from . import smt, special
from ..engine.numbers import ball_bounds
from ..engine.residual import MONOTONE, Counterexample, check_point

PROVED, REFUTED, UNKNOWN = "proved", "refuted", "unknown"
#: special-point searches one refinement may run (each a few hundred mpmath evaluations)
SPECIAL_SEARCHES = 3


@dataclass
class Limits:
    """Budgets of one refinement: solver seconds per call, box depth, number of calls."""

    timeout: float = 10.0
    depth: int = 6
    queries: int = 400
    seconds: float = 120.0     # wall-clock budget of one refinement


@dataclass
class Outcome:
    """What refinement established for one claim on one region."""

    status: str = PROVED
    witness: Counterexample | None = None
    queries: int = 0
    reasons: list[str] = field(default_factory=list)

    def merge(self, other: "Outcome") -> None:
        self.queries += other.queries
        self.reasons += other.reasons
        if self.status == REFUTED:
            return
        if other.status == REFUTED:
            self.status, self.witness = REFUTED, other.witness
        elif other.status == UNKNOWN:
            self.status = UNKNOWN


@dataclass
class Evidence:
    """What one path (locality or general) established for one grade."""

    outcomes: dict[str, Outcome]               # claim -> outcome
    sup_upper: Fraction                        # rigorous bound on ‖e_k‖_∞
    norms: object                              # `lp.NormEnclosure` of e_k
    g_power_lower: dict                        # p -> lower bound on ‖g_k‖_p^p
    g_power_safe: dict                         # the same over pieces without overshoot
    g_zero: bool | None = None                 # g_k ≡ 0 shown (None: not decided)

    @property
    def queries(self) -> int:
        return sum(o.queries for o in self.outcomes.values())


Box = tuple[tuple[Fraction, ...], tuple[Fraction, ...]]


def f_constraints(target, xs: Sequence, y, box: Box) -> list:
    """`y` is a value of `f` at `x ∈ box`: exact for piecewise-linear targets, else enclosed."""
    if target.kind == "piecewise-linear":
        return [y == smt.sympy_term(target.expr, dict(zip(target.symbols, xs)))]
    lo, hi = box
    f_lo, f_hi = target.enclose(lo, hi)
    f_mid, grad = target.mean_value(lo, hi)
    mid = [(a + b) / 2 for a, b in zip(lo, hi)]
    mid_bounds = grad_bounds = None
    if f_mid.is_finite() and grad is not None and all(g.is_finite() for g in grad):
        mid_bounds = ball_bounds(f_mid)
        grad_bounds = [ball_bounds(g) for g in grad]
    return smt.enclosure_constraints(y, xs, f_lo, f_hi, mid, mid_bounds, grad_bounds)


def box_constraints(xs: Sequence, box: Box) -> list:
    lo, hi = box
    return [c for x, a, b in zip(xs, lo, hi) for c in (x >= smt.const(a), x <= smt.const(b))]


def children(box: Box) -> list[Box]:
    """The `2^d` halves of a box."""
    lo, hi = box
    mid = [(a + b) / 2 for a, b in zip(lo, hi)]
    out = []
    for choice in itertools.product((0, 1), repeat=len(lo)):
        out.append((tuple(lo[i] if c == 0 else mid[i] for i, c in enumerate(choice)),
                    tuple(mid[i] if c == 0 else hi[i] for i, c in enumerate(choice))))
    return out


def refine(target, network, grade: int, claim: str, roots: Sequence[Box],
           region: Callable[[Sequence], list], terms: Callable[[Sequence], tuple],
           limits: Limits, cheap: Callable[[Box], bool] | None = None,
           meets: Callable[[Box], bool] | None = None,
           affine: Callable[[Sequence[Fraction]], tuple] | None = None) -> Outcome:
    """Prove `claim` for grade `grade` on `region` (within the union of `roots`), or refute it.

    `region(xs)` gives the linear constraints of the region, `terms(xs)` the pair
    `(F_{k-1}(x), g_k(x))` as solver terms plus side constraints, `cheap(box)` an optional
    enclosure-only proof on a box, `meets(box)` whether a box meets the region at all,
    `affine(x)` the pair `(F_{k-1}, g_k)` as affine maps on the piece containing `x`
    (default: the network's linear region at `x`), used to search special points
    (`certify.certificates.special`) before a box at the finest depth is given up.
    """
    outcome = Outcome()
    exact_target = target.kind == "piecewise-linear"
    stack = [(box, 0) for box in roots]
    xs = [smt.var(f"x{i + 1}") for i in range(network.dim)]
    y = smt.var("y")
    base = region(xs)
    previous, g, side = terms(xs)
    deadline = time.monotonic() + limits.seconds
    specials = 0
    while stack:
        box, depth = stack.pop()
        if meets is not None and not meets(box):
            continue
        if cheap is not None and not exact_target and cheap(box):
            continue
        if outcome.queries >= limits.queries or time.monotonic() > deadline:
            outcome.status = UNKNOWN
            outcome.reasons.append(f"budget spent ({outcome.queries} solver calls)")
            return outcome
        outcome.queries += 1
        constraints = base + side + box_constraints(xs, box) + f_constraints(target, xs, y, box)
        constraints.append(smt.claim_violation(claim, y, previous, g))
        answer = smt.solve(constraints, xs, limits.timeout)
        if isinstance(answer, smt.Unsat):
            continue
        if isinstance(answer, smt.Unknown):
            if depth < limits.depth:        # a smaller box is an easier query: split it
                stack.extend((child, depth + 1) for child in children(box))
                continue
            outcome.status = UNKNOWN
            outcome.reasons.append(f"solver: {answer.reason}")
            continue
        point = [answer.model[str(x)] for x in xs]
        witness = check_point(target, network, grade, point, claim)
        if witness is None:
            witness = _probe_box(target, network, grade, claim, box)
        if witness is not None:
            outcome.status, outcome.witness = REFUTED, witness
            return outcome
        if not exact_target and depth >= limits.depth and specials < SPECIAL_SEARCHES:
            specials += 1
            witness = _special_points(target, network, grade, claim, roots, box, point,
                                      affine, deadline)
            if witness is not None:
                outcome.status, outcome.witness = REFUTED, witness
                return outcome
        if exact_target or depth >= limits.depth:
            outcome.status = UNKNOWN
            outcome.reasons.append(
                "spurious model at the finest box" if not exact_target else
                "exact model not confirmed by the network's own weights")
            continue
        stack.extend((child, depth + 1) for child in children(box))
    return outcome


def _probe_box(target, network, grade, claim, box: Box) -> Counterexample | None:
    """Try the centre of a box too: spurious models often sit on an edge of the box."""
    lo, hi = box
    centre = [(a + b) / 2 for a, b in zip(lo, hi)]
    return check_point(target, network, grade, centre, claim)


def _special_points(target, network, grade, claim, roots, box: Box, model, affine,
                    deadline: float) -> Counterexample | None:
    """Exact checks at the special points of the root box holding `box` (`certify.certificates.special`)."""
    lo, hi = box
    root = next((r for r in roots if all(a <= b and c <= e for a, b, c, e in
                                          zip(r[0], lo, hi, r[1]))), box)
    model = tuple(min(max(Fraction(v), a), b) for v, a, b in zip(model, root[0], root[1]))
    try:
        pieces = affine(model) if affine is not None else special.local_affine(network, grade,
                                                                                model)
    except ArithmeticError:
        return None
    factor = 2 if claim == MONOTONE else 1
    for point in special.candidates(target, factor, root, model, pieces):
        if time.monotonic() > deadline:
            return None
        witness = check_point(target, network, grade, point, claim)
        if witness is not None:
            return witness
    return None
