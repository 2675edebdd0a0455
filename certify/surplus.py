"""The surplus scheme: hierarchical surplus, kept only as far as the sign can be proved.

Level `ℓ` starts from the hierarchical surplus `s_z = r_ℓ(z)` at every node (the residual at
the node, rounded toward zero to a multiple of 2^-48): with every surplus kept, the level
would add the nodal interpolant of `r_ℓ`, second order where `r_ℓ` is smooth. A
coefficient is kept only as far as no overshoot — `g = Σ c_z φ_z` between 0 and `r_ℓ` —
is *proved* on every simplex of its star by `certify.anchored.Prover`, the same proof the
checker runs from the weights; no overshoot implies (G1), and with Lemma 2 the (G2)
decrease. Where a proof fails, the offending coefficients shrink toward the balanced value
`b_z` (or toward 0 where `b_z` is 0 or of the other sign; never past it), halving the
excess, and are re-proved, to a fixed point. A coefficient between 0 and `b_z` satisfies
Lemma 1's hypothesis on its whole star, so a simplex whose coefficients are all such is
safe without a proof (the checker proves it as it proves the balanced scheme).
"""

from __future__ import annotations

import math
from fractions import Fraction

from .anchored import Prover, simplex_sign
from .freudenthal import simplex_vertices, star_simplices
from .numbers import ball_bounds, to_ball

#: a failing coefficient is halved toward its safe value this many times, then set to it
SHRINK_STEPS = 4


def toward_zero(value: Fraction, bits: int) -> Fraction:
    """`value` rounded toward zero to a multiple of `2^-bits`."""
    scale = 2 ** bits
    rounded = math.floor(abs(value) * scale)
    return Fraction(rounded if value > 0 else -rounded, scale)


def surplus(prover: Prover, point, value: Fraction, bits: int) -> Fraction:
    """`r(z) = f(z) - F(z)`, rounded toward zero (never past the true value)."""
    lo, hi = ball_bounds(prover.vertices.ball(point) - to_ball(value))
    if lo > 0:
        return toward_zero(lo, bits)
    if hi < 0:
        return toward_zero(hi, bits)
    exact = prover.vertices.exact(point)
    return toward_zero(exact - value, bits) if exact is not None else Fraction(0)


def _safe(c: Fraction, b: Fraction) -> bool:
    """`c` between 0 and the balanced value `b` (Lemma 1's hypothesis on the whole star)."""
    return c == 0 or (b != 0 and (c > 0) == (b > 0) and abs(c) <= abs(b))


def coefficients(prover: Prover, values, balanced: dict, skip: set, bits: int) -> dict:
    """`{node: c_z}` of one level (see the module docstring).

    `values`: nodal values of `F` on the level grid; `balanced`: `{node: b_z}`; nodes in
    `skip` (adaptivity) get 0.
    """
    h = prover.h
    n = values.shape[0] - 1
    c, goal, fails = {}, {}, {}
    for node, b in balanced.items():
        if node in skip:
            c[node] = goal[node] = Fraction(0)
            continue
        s = surplus(prover, tuple(Fraction(i) * h for i in node), values[node], bits)
        if b != 0 and ((s > 0) != (b > 0) or abs(s) < abs(b)):
            s = b                      # the surplus is at least the balanced value
        c[node] = s
        goal[node] = b if s != 0 and b != 0 and (b > 0) == (s > 0) else Fraction(0)
    changed = {node for node in c if not _safe(c[node], balanced[node])}
    while changed:
        simplices = {s for node in changed for s in star_simplices(node, n)}
        bad = set()
        for simplex in simplices:
            vertices = simplex_vertices(simplex)
            unsafe = [v for v in vertices if not _safe(c[v], balanced[v])]
            if not unsafe:
                continue
            sign = simplex_sign([c[v] for v in vertices])
            local = {v: values[v] + c[v] for v in vertices}
            if sign == 0 or not prover.proves(simplex, local, sign):
                bad.update(unsafe)
        for node in bad:
            fails[node] = fails.get(node, 0) + 1
            if fails[node] >= SHRINK_STEPS:
                c[node] = goal[node]
            else:
                c[node] = goal[node] + toward_zero((c[node] - goal[node]) / 2, bits)
        changed = bad
    return c
