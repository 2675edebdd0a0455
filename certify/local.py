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
from fractions import Fraction

import numpy as np

from . import smt
from .enclosure import affine_on_simplex, residual_ball, simplex_residual_bounds, sub_box, \
    sub_boxes
from .freudenthal import cell_simplices, refine as refine_values, simplex_vertices, \
    simplex_volume
from .lp import NormEnclosure, simplex_power_lower
from .numbers import ball_bounds
from .realize import Hat, readout, recognise_grade
from .refine import REFUTED, Evidence, Limits, Outcome, refine
from .residual import MONOTONE, NO_OVERSHOOT

#: the largest common grid (nodes) the locality path will build; beyond it, general path
MAX_GRID_NODES = 2_000_000


@dataclass(frozen=True)
class GridGrade:
    """A grade recognised from its weights as hats on the grid of mesh `1/n`."""

    hats: tuple[Hat, ...]
    n: int | None              # None: no hats (the grade is affine)
    carrier: tuple[Fraction, ...]
    alpha: Fraction
    beta: Fraction
    bias: Fraction

    def nodal(self, dim: int, grid: int) -> np.ndarray:
        """Values of `g` at the nodes of the grid with `grid` intervals a side."""
        base = self.n or grid
        values = np.empty((base + 1,) * dim, dtype=object)
        for index in itertools.product(range(base + 1), repeat=dim):
            values[index] = self.bias + sum((a * Fraction(i, base) for a, i in
                                             zip(self.carrier, index)), Fraction(0))
        for hat in self.hats:
            index = tuple(int(v * base) for v in hat.z)
            values[index] += (self.alpha if hat.c > 0 else self.beta) * hat.c
        return refine_values(values, grid // base) if grid != base else values



def recognise(network) -> list[GridGrade | None]:
    """Each grade as a `GridGrade`, or None where its weights are not the construction's."""
    dim = network.dim
    inputs = dim
    out = []
    canonical = readout(dim)
    for grade in network.grades:
        out.append(_recognise_one(dim, grade, inputs, canonical))
        inputs = grade.features
    return out


def _recognise_one(dim, grade, inputs, canonical) -> GridGrade | None:
    if grade.features != dim + 2:
        return None
    hats = recognise_grade(dim, grade.layers, canonical, inputs)
    if hats is None:
        return None
    meshes = {hat.h for hat in hats}
    n = None
    if meshes:
        if len(meshes) != 1:
            return None
        h = meshes.pop()
        if h <= 0 or (1 / h).denominator != 1:
            return None
        n = int(1 / h)
        for hat in hats:
            if any((v * n).denominator != 1 or not 0 <= v <= 1 for v in hat.z):
                return None
    w = grade.readout_weight
    return GridGrade(tuple(hats), n, tuple(w[:dim]), w[dim], -w[dim + 1], grade.readout_bias)


@dataclass
class GridStep:
    """Grade `grade` on the common grid: `F_{k-1}` and `g_k` as nodal values."""

    grade: int
    grid: int
    previous: np.ndarray
    g: np.ndarray
    hats: int
    trivial: bool


def grid_plan(network, recognised) -> list[GridStep | None]:
    """Nodal values of `F_{k-1}` and `g_k` per grade, while every grade so far is on a grid."""
    dim = network.dim
    steps: list[GridStep | None] = []
    grid = 1
    values = np.full((2,) * dim, Fraction(0), dtype=object)
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
            values = refine_values(values, new_grid // grid)
            grid = new_grid
        g = gg.nodal(dim, grid)
        # g is affine on every simplex of this grid, so g ≡ 0 iff every exact nodal value is 0
        # (decided from what the grade computes, not from how its weights look)
        trivial = not any(v != 0 for v in g.flat)
        steps.append(GridStep(k, grid, values, g, len(gg.hats), trivial))
        values = values + g
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
    total = step.previous + step.g
    half = step.previous + step.g / 2
    norms = NormEnclosure(ps)
    g_lower = {Fraction(p): Fraction(0) for p in ps}
    g_safe = dict(g_lower)
    sup = Fraction(0)
    hard = {MONOTONE: [], NO_OVERSHOOT: []}
    for cell in itertools.product(range(step.grid), repeat=dim):
        boxes = sub_boxes(target, cell, h, subdivision)
        for simplex in cell_simplices(cell):
            lo, hi = simplex_residual_bounds(simplex, h, total, boxes, subdivision)
            if dim == 1:       # certified integrals of |f - A|^p on the segment (certify.lp)
                a = cell[0] * h
                norms.add_segment(target, a, a + h, total[cell], (total[cell[0] + 1]
                                                                  - total[cell]) / h, lo, hi)
            else:
                norms.add_simplex(target, simplex, h, affine_on_simplex(simplex, h, total),
                                  vol, lo, hi)
            sup = max(sup, -lo, hi)
            gv = [step.g[v] for v in simplex_vertices(simplex)]
            if not any(gv):
                continue
            sign = _sign(gv)
            for p in g_lower:
                part = simplex_power_lower(gv, vol, p)
                g_lower[p] += part
                if _decided(sign, lo, hi):
                    g_safe[p] += part
            if _decided(sign, lo, hi):
                continue
            hard[NO_OVERSHOOT].append(simplex)
            if sign:
                mlo, mhi = simplex_residual_bounds(simplex, h, half, boxes, subdivision)
                if _decided(sign, mlo, mhi):
                    continue
            hard[MONOTONE].append(simplex)
    outcomes = {}
    for claim in (MONOTONE, NO_OVERSHOOT):
        outcome = Outcome()
        if claim not in claims:
            pass
        elif claim == NO_OVERSHOOT and outcomes[MONOTONE].status == REFUTED:
            outcome = Outcome(REFUTED, outcomes[MONOTONE].witness)   # monotone ⇒ stronger fails
        else:
            for simplex in hard[claim]:
                outcome.merge(_refine_simplex(target, network, step, simplex, claim, limits))
                if outcome.status == REFUTED:
                    break
        outcomes[claim] = outcome
    return Evidence(outcomes, sup, norms, g_lower, g_safe, g_zero=step.trivial)


def _refine_simplex(target, network, step: GridStep, simplex, claim: str,
                    limits: Limits) -> Outcome:
    """Counterexample-guided refinement of one claim on one simplex."""
    dim = network.dim
    h = Fraction(1, step.grid)
    cell, perm = simplex
    previous = affine_on_simplex(simplex, h, step.previous)
    g = affine_on_simplex(simplex, h, step.g)
    sign = _sign([step.g[v] for v in simplex_vertices(simplex)])
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
