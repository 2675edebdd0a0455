"""The general path: any network, the whole grade on the whole cube.

For a grade that is not recognised as hats on a grid (a trained network, a network edited
by hand) the solver sees the whole network up to grade `k` — every ReLU a variable equal
to `max(pre, 0)` — together with `f` (exact when piecewise linear, else enclosed box by
box) and is asked for a point of the cube where the claim fails; refinement splits the
cube where a model is spurious.

Norms and the sup bound come from a uniform grid of boxes: on each box the grade outputs
are enclosed by interval propagation in Arb balls (outward rounded), `f` by its
enclosure, so `|e_k|` and `|g_k|` get rigorous bounds box by box.
"""

from __future__ import annotations

import itertools
from fractions import Fraction

from . import smt
from ..engine.lp import NormEnclosure, power_bounds
from ..engine.numbers import BALL, ball_bounds, box_ball
from flint import arb

from .refine import Evidence, Limits, Outcome, REFUTED, children, refine
from ..engine.residual import MONOTONE, NO_OVERSHOOT


def boxes_per_side(dim: int) -> int:
    """Resolution of the norm grid: 64 boxes in d=1, 32^2 in d=2, 8^3 in d=3, coarser above."""
    return {1: 64, 2: 32, 3: 8}.get(dim, 4)


def check_claims(target, network, grade: int, limits: Limits,
                 claims=(MONOTONE, NO_OVERSHOOT)) -> dict[str, Outcome]:
    """Prove or refute (G1) monotone and no-overshoot for grade `grade` on the whole cube."""
    dim = network.dim
    root = (tuple(Fraction(0) for _ in range(dim)), tuple(Fraction(1) for _ in range(dim)))

    def region(xs):
        return []

    def terms(xs):
        outputs, side = smt.network_terms(network.grades[:grade], xs)
        previous = smt.linear([1] * (grade - 1), outputs[:-1]) if grade > 1 else smt.const(0)
        side += [x >= 0 for x in xs] + [x <= 1 for x in xs]
        return previous, outputs[-1], side

    roots = children(root) if dim <= 3 else [root]

    def cheap_for(claim):
        k = 2 if claim == MONOTONE else 1

        def cheap(box):
            lo, hi = box
            outs = network.grade_outputs(BALL, [box_ball(a, b) for a, b in zip(lo, hi)],
                                         upto=grade)
            try:
                prev_lo, prev_hi = ball_bounds(sum(outs[:-1], arb(0)))
                g_lo, g_hi = ball_bounds(outs[-1])
                f_lo, f_hi = target.enclose(lo, hi)
            except ArithmeticError:
                return False
            if g_lo >= 0:
                return k * (f_lo - prev_hi) - g_hi >= 0
            if g_hi <= 0:
                return k * (f_hi - prev_lo) - g_lo <= 0
            return False
        return cheap

    outcomes = {MONOTONE: Outcome(), NO_OVERSHOOT: Outcome()}
    if MONOTONE in claims:
        outcomes[MONOTONE] = refine(target, network, grade, MONOTONE, roots, region, terms,
                                    limits, cheap=cheap_for(MONOTONE))
    if outcomes[MONOTONE].status == REFUTED:
        outcomes[NO_OVERSHOOT] = Outcome(REFUTED, outcomes[MONOTONE].witness)
    elif NO_OVERSHOOT in claims:
        outcomes[NO_OVERSHOOT] = refine(target, network, grade, NO_OVERSHOOT, roots, region,
                                        terms, limits, cheap=cheap_for(NO_OVERSHOOT))
    return outcomes


def is_zero(network, grade: int, timeout: float) -> bool | None:
    """Is `g_grade ≡ 0` on the cube? True/False when the solver decides, None otherwise."""
    xs = [smt.var(f"x{i + 1}") for i in range(network.dim)]
    outputs, side = smt.network_terms(network.grades[:grade], xs)
    side += [x >= 0 for x in xs] + [x <= 1 for x in xs]
    answer = smt.solve(side + [outputs[-1] != 0], xs, timeout)
    if isinstance(answer, smt.Unsat):
        return True
    if isinstance(answer, smt.Sat):
        return False
    return None


def enclose_grade(target, network, grade: int, ps):
    """Sup bound and `L^p` enclosures of `e_grade`, lower bounds on `‖g_grade‖_p^p`, and
    `Σ_B vol(B) max(0, min_B|e_{k-1}|^p - max_B|e_k|^p)`, a lower bound on the `L^p`
    decrease once (G1) is proved (each box then contributes at least 0)."""
    dim = network.dim
    m = boxes_per_side(dim)
    vol = Fraction(1, m ** dim)
    norms = NormEnclosure(ps)
    g_lower = {Fraction(p): Fraction(0) for p in ps}
    safe = dict(g_lower)
    sup = Fraction(0)
    g_zero = True
    for index in itertools.product(range(m), repeat=dim):
        lo = tuple(Fraction(i, m) for i in index)
        hi = tuple(Fraction(i + 1, m) for i in index)
        outs = network.grade_outputs(BALL, [box_ball(a, b) for a, b in zip(lo, hi)],
                                     upto=grade)
        total = sum(outs[1:], outs[0])
        t_lo, t_hi = ball_bounds(total)
        g_lo, g_hi = ball_bounds(outs[-1])
        f_lo, f_hi = target.enclose(lo, hi)
        e_lo, e_hi = f_lo - t_hi, f_hi - t_lo
        norms.add(vol, e_lo, e_hi)
        sup = max(sup, -e_lo, e_hi)
        if g_lo != 0 or g_hi != 0:
            g_zero = False
        prev_lo, prev_hi = ball_bounds(sum(outs[:-1], arb(0)))
        p_lo, p_hi = f_lo - prev_hi, f_hi - prev_lo
        for p in g_lower:
            g_lower[p] += vol * power_bounds(g_lo, g_hi, p)[0]
            gain = power_bounds(p_lo, p_hi, p)[0] - power_bounds(e_lo, e_hi, p)[1]
            if gain > 0:
                safe[p] += vol * gain
    return sup, norms, g_lower, safe, g_zero


def enclose_target(target, ps) -> NormEnclosure:
    """`L^p` enclosures of `e_0 = f` on the same grid of boxes."""
    dim = target.dim
    m = boxes_per_side(dim)
    norms = NormEnclosure(ps)
    for index in itertools.product(range(m), repeat=dim):
        lo = tuple(Fraction(i, m) for i in index)
        hi = tuple(Fraction(i + 1, m) for i in index)
        norms.add(Fraction(1, m ** dim), *target.enclose(lo, hi))
    return norms


def check_grade(target, network, grade: int, ps, limits: Limits,
                claims=(MONOTONE, NO_OVERSHOOT)) -> Evidence:
    """Run the general path for one grade."""
    outcomes = check_claims(target, network, grade, limits, claims)
    sup, norms, g_lower, safe, g_zero = enclose_grade(target, network, grade, ps)
    return Evidence(outcomes, sup, norms, g_lower, safe, g_zero=True if g_zero else None)
