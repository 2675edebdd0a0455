"""The surplus scheme: hierarchical surplus, kept only as far as the sign can be proved.

Level `ℓ` starts from the hierarchical surplus `s_z = r_ℓ(z)` at every node (the residual at
the node, rounded toward zero to a multiple of 2^-48): with every surplus kept, the level
would add the nodal interpolant of `r_ℓ`, second order where `r_ℓ` is smooth. A
coefficient is kept only as far as no overshoot — `g = Σ c_z φ_z` between 0 and `r_ℓ` —
is *proved* on every simplex of its star by the second-order proof (`certify.engine.curvature`,
smooth targets) or the vertex-anchored proof (`certify.certificates.anchored_grid`, or
`certify.certificates.anchored` where that does not apply), the same proofs the checker runs
from the weights; no overshoot implies (G1), and with Lemma 2 the (G2) decrease. Where a proof
fails, the offending coefficients shrink toward the balanced value `b_z` (or toward 0 where
`b_z` is 0 or of the other sign; never past it) by a `SHRINK_RULES` schedule of the excess,
and are re-proved, to a fixed point. A coefficient between 0 and `b_z` satisfies
Lemma 1's hypothesis on its whole star, so a simplex whose coefficients are all such is
safe without a proof (the checker proves it as it proves the balanced scheme).
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
from flint import arb, fmpq

from .engine.freudenthal import simplex_vertices
from .engine.nodal import Nodal
from .engine.numbers import MAX_BINARY_EXPONENT, ball_bounds, to_ball
from .engine.vectorised import _perm_offsets

#: how much of a failing coefficient's excess over its balanced value the n-th retry keeps
#: (none after the last): halving (quick to settle), or small steps first (keeps more where
#: a whole surplus barely fails, e.g. where the residual is convex and positive);
#: `construction` may try both on a level and keep the one with the smaller sup bound
SHRINK_RULES = ((Fraction(1), Fraction(1, 2), Fraction(1, 4), Fraction(1, 8)),
                (Fraction(1), Fraction(15, 16), Fraction(7, 8), Fraction(3, 4), Fraction(1, 2)))

#: at most this part of a surplus is given up to the second-order margin at the start
MARGIN_CAP = Fraction(1)


def _units(value, bits: int) -> int:
    """`value` rounded toward zero to a multiple of `2^-bits`, in units of `2^-bits`: an
    integer (exact, and some 30x cheaper than a `Fraction`). A float `a`: `abs(a) * 2^bits` is exact in IEEE arithmetic
    (scaling by a power of two only shifts the exponent) unless it overflows, so its floor is
    exact; an overflow (or a non-finite `a`) takes the rational path, as before."""
    if isinstance(value, float):
        scaled = abs(value) * 2.0 ** bits
        if math.isfinite(scaled):
            rounded = math.floor(scaled)
            return rounded if value > 0 else -rounded
    value = Fraction(value)                  # raises on inf/nan, as Fraction(a) did
    rounded = abs(value.numerator) * 2 ** bits // value.denominator
    return rounded if value > 0 else -rounded


def surplus_units(residuals, shape, bits: int, refine=None) -> dict:
    """`{node: r(z)}` in units of `2^-bits` (integers) from intervals of `f(z) - F(z)`
    (flattened over the grid), rounded toward zero past the enclosure (0 where it contains
    0). Where the two ends of a float interval round to different multiples of `2^-bits`,
    `refine(node)` (the same rounding of exact rational bounds: `arb_residual_units`)
    decides, so the result does not depend on float rounding. Float arrays are done as whole arrays (`floor(|a|·2^bits)` is
    exact: a power-of-two scaling), nodes needing `refine`, non-finite or huge ends one by
    one as before."""
    lo, hi = residuals
    nodes = list(itertools.product(*(range(m) for m in shape)))
    lo, hi = np.asarray(lo), np.asarray(hi)
    if lo.dtype != np.float64 or hi.dtype != np.float64:
        return _surplus_units_scalar(nodes, lo.tolist(), hi.tolist(), bits, refine)
    fscale = 2.0 ** bits
    with np.errstate(all="ignore"):
        ua, ub = np.floor(np.abs(lo) * fscale), np.floor(np.abs(hi) * fscale)
    pos = lo > 0
    neg = ~pos & (hi < 0)
    big = float(2 ** 62)
    special = (pos | neg) & ~((ua < big) & (ub < big))      # also catches inf and NaN
    if refine is not None:
        special |= (pos | neg) & (ua != ub)
    units = np.where(pos, ua, np.where(neg, -ub, 0.0))
    units[special] = 0.0
    out = dict(zip(nodes, units.astype(np.int64).tolist()))
    where = np.nonzero(special)[0].tolist()
    if where:
        out.update(_surplus_units_scalar([nodes[i] for i in where], lo[where].tolist(),
                                         hi[where].tolist(), bits, refine))
    return out


def _surplus_units_scalar(nodes, lo, hi, bits: int, refine) -> dict:
    """`surplus_units` node by node (exact rationals, or the float ends it cannot do at
    once)."""
    scale = 2 ** bits
    out = {}
    for node, a, b in zip(nodes, lo, hi):
        if refine is not None and (a > 0 or b < 0) \
                and math.floor(abs(a) * scale) != math.floor(abs(b) * scale):
            out[node] = refine(node)
            continue
        if a > 0:
            out[node] = _units(a, bits)
        elif b < 0:
            out[node] = _units(b, bits)
        else:
            out[node] = 0
    return out


def arb_residual(vertices, n: int, node, value: Fraction) -> tuple[Fraction, Fraction]:
    """Exact rational bounds of `f(z) - value` at the node `z = node/n` from an Arb ball,
    exact where `f(z)` is known exactly and the ball contains 0."""
    point = tuple(Fraction(int(i), n) for i in node)
    a, b = ball_bounds(vertices.ball(point) - to_ball(value))
    if a <= 0 <= b:
        exact = vertices.exact(point)
        if exact is not None:
            a = b = exact - value
    return a, b


def arb_residual_units(vertices, n: int, node, num: int, den: int, bits: int) -> int:
    """`arb_residual`'s bounds of `f(z) - num/den`, rounded as `surplus_units` rounds them
    (toward zero past the bounds, in units of `2^-bits`; 0 where they contain 0), read
    from the Arb ball's mid-point and radius as integers (`mid ∓ rad = (M ∓ R)·2^e`)
    instead of `Fraction`s; where the ball contains 0 (the exact value may decide) or its
    exponents are extreme, `arb_residual` itself."""
    point = tuple(Fraction(int(i), n) for i in node)
    ball = vertices.ball(point) - arb(fmpq(num, den))     # = ... - to_ball(num/den)
    if ball.is_finite():
        mm, me = ball.mid().man_exp()
        rm, re = ball.rad().man_exp()
        mm, me, rm, re = int(mm), int(me), int(rm), int(re)
        limit = MAX_BINARY_EXPONENT // 2
        if -limit < min(me, re) and max(me + mm.bit_length(), re + rm.bit_length()) < limit:
            e = min(me, re)
            mid, rad = mm << (me - e), rm << (re - e)
            if mid - rad > 0:
                return _scaled_floor(mid - rad, e + bits)
            if mid + rad < 0:
                return -_scaled_floor(-(mid + rad), e + bits)
    a, b = arb_residual(vertices, n, node, Fraction(num, den))
    return _units(a, bits) if a > 0 else _units(b, bits) if b < 0 else 0


def _scaled_floor(value: int, shift: int) -> int:
    """`floor(value · 2^shift)` for an integer `value >= 0`."""
    return value << shift if shift >= 0 else value >> -shift


def arb_residuals(vertices, values) -> tuple:
    """`residuals` for `coefficients_and_nodal` from Arb balls (where `anchored_grid` does not
    apply): exact rational bounds of `f(z) - F(z)`, exact where `f(z)` is known exactly."""
    n = values.shape[0] - 1
    lo, hi = [], []
    for node in itertools.product(range(n + 1), repeat=values.ndim):
        a, b = arb_residual(vertices, n, node, values[node])
        lo.append(a)
        hi.append(b)
    return np.array(lo, dtype=object), np.array(hi, dtype=object)


def _safe(c: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Where `c` is between 0 and the balanced value `b` (Lemma 1's hypothesis on the whole
    star), elementwise."""
    return (c == 0) | ((b != 0) & ((c > 0) == (b > 0)) & (np.abs(c) <= np.abs(b)))


def _with(values: Nodal, c: dict, bits: int) -> Nodal:
    """The nodal array `F + Σ c_z φ_z` on the level grid (`c` in units of `2^-bits`)."""
    where = [node for node, value in c.items() if value]
    return values.with_units(_index(where, values.ndim), [c[node] for node in where], bits)


def _index(nodes, dim: int) -> tuple:
    """A tuple of index arrays (as `np.nonzero` gives) for a list of nodes."""
    return tuple(np.array(nodes, dtype=np.int64).reshape(-1, dim).T)


def coefficients_and_nodal(prove, values, residuals, balanced: dict, skip: set, bits: int,
                           bounds=None, first_depth: int | None = None, refine=None,
                           rule=SHRINK_RULES[0], slack=None,
                           first: dict | None = None) -> tuple[dict, Nodal]:
    """`({node: c_z}, nodal)` of one level (see the module docstring): the coefficients and
    the nodal array `F + Σ c_z φ_z` they end with.

    `prove(perm, cells, signs, nodal, depth)` proves `sign·(f - A_T) >= 0` on the simplices
    `(cell, perm)` (`cells` of shape (N, d); `A` the interpolant of the nodal array `nodal`),
    all at once, halving boxes at most `depth` times (None: its default; the first round,
    with every surplus whole, uses `first_depth`: a full surplus is rarely provable where a
    shallow proof fails), and returns a bool array; `values`: nodal values of `F` on the
    level grid (a `Nodal`, or an array of rationals); `residuals`: float intervals of
    `f - F` at its nodes, or the surpluses `surplus_units` makes of them (a dict: the
    same for every rule tried on a level, so computed once); `balanced`: `{node: b_z}` in units of `2^-bits`; nodes in `skip` (adaptivity) get 0; `refine`: see `surplus_units`. With
    `bounds(nodal)` (the checker's simplex bounds of `f - A`, `{perm: (lo, hi)}` over the
    cells, or None), nodes are also set back to their balanced value until the level's
    certified sup bound is no larger than the balanced level's (see `_cap`). With `slack`
    (`curvature.node_slack`: per node, for each sign, the vertex margin the second-order
    proof needs on the cells around it), each surplus starts that much short of `r(z)`
    (never past 0): where `f` is not concave (resp. convex) a whole surplus overshoots, and
    one short by the margin is proved at once by `curvature.proves`.

    `first`: a dict shared by the rules tried on one level (same other arguments): every
    rule starts from the same coefficients and proves the same simplices in its first
    round (the rules differ only once a coefficient has failed), so the first rule keeps
    that round's failing nodes there and the others take them instead of proving again.

    Coefficients, goals and excesses are integers in units of `2^-bits` throughout (the
    balanced values are given so, as `construction.coefficient_units` makes them), so the
    arithmetic and comparisons are exact and the result is the one the same rules give in
    `Fraction`s; the trial nodal values are a `Nodal` (integer numerators over one
    denominator). Returns `c` in units of `2^-bits` (integers) and the final trial values.
    """
    values = Nodal.of(values)
    shape, dim = values.shape, values.ndim
    n = shape[0] - 1
    fscale = 2.0 ** bits
    cap_num, cap_den = MARGIN_CAP.numerator, MARGIN_CAP.denominator
    units = balanced
    for node, b in units.items():
        if not isinstance(b, int):
            raise TypeError(f"balanced value {b!r} at node={node} is not an integer (units "
                            f"of 2^-{bits})")
    r = residuals if isinstance(residuals, dict) else surplus_units(residuals, shape, bits,
                                                                     refine)
    c, goal, fails, excess = {}, {}, {}, {}
    for node, b in units.items():
        if node in skip:
            c[node] = goal[node] = 0
            continue
        s = r[node]
        if slack is not None and s != 0:
            margin = float(slack[0][node] if s > 0 else slack[1][node])
            if margin > 0 and np.isfinite(margin):
                # |s| - min(margin, |s|·CAP), rounded toward zero, never below 0: in units,
                # |s| - min(ceil(margin·2^bits), ceil(|s|·CAP)) (margin·2^bits is exact,
                # a power-of-two scaling, or inf on overflow, when the cap is the smaller)
                size = abs(s)
                cap = -(-size * cap_num // cap_den)
                scaled = margin * fscale
                short = size - (cap if scaled >= cap else min(math.ceil(scaled), cap))
                s = 0 if short <= 0 else (short if s > 0 else -short)
        if b != 0 and ((s > 0) != (b > 0) or abs(s) < abs(b)):
            s = b                      # the surplus is at least the balanced value
        c[node] = s
        goal[node] = b if s != 0 and b != 0 and (b > 0) == (s > 0) else 0
    # per node: unsafe (needs a proof), the sign of c, and F + c (the trial nodal values)
    unsafe = np.zeros(shape, dtype=bool)
    sign = np.zeros(shape, dtype=np.int8)
    base = values.for_units(bits)          # F, over a denominator that 2^-bits divides
    trial = base.copy()

    def mark(nodes):
        nodes = list(nodes)
        if not nodes:
            return
        at = _index(nodes, dim)
        cs = [c[node] for node in nodes]
        cv, bv = np.array(cs), np.array([units[node] for node in nodes])
        unsafe[at] = ~_safe(cv, bv)
        sign[at] = (cv > 0).astype(np.int8) - (cv < 0).astype(np.int8)
        trial.put_units(at, base, cs, bits)        # F(z) + c_z·2^-bits, exactly

    mark(c)
    perms = [(perm, np.array(_perm_offsets(perm), dtype=np.int64))
             for perm in itertools.permutations(range(dim))]

    def settle(changed, depth=None, known=None):
        """Prove the stars of `changed` nodes, shrinking what fails, to a fixed point; the
        first round halves boxes at most `depth` times (None: the prover's default). With
        `known` (a dict), the first round's failing nodes are taken from `known["bad"]`
        where present, else found and stored there."""
        while changed:
            if known is not None and "bad" in known:
                bad = set(known["bad"])
            else:
                bad = failing(changed, depth)
                if known is not None:
                    known["bad"] = frozenset(bad)
            known = None
            for node in bad:
                fails[node] = fails.get(node, 0) + 1
                if node not in excess:
                    excess[node] = c[node] - goal[node]
                kept = Fraction(rule[fails[node]] if fails[node] < len(rule) else 0)
                # excess·kept rounded toward zero, in units: floor(|excess|·kept), signed
                size = abs(excess[node]) * kept.numerator // kept.denominator
                c[node] = goal[node] + (size if excess[node] > 0 else -size)
            mark(bad)
            changed, depth = bad, None

    def failing(changed, depth):
        """The unsafe vertices of the simplices around `changed` nodes whose proof fails."""
        moved = np.array(sorted(changed), dtype=np.int64).reshape(-1, dim)
        bad = set()
        for perm, offsets in perms:
            near = np.zeros((n,) * dim, dtype=bool)      # cells whose simplex has a moved vertex
            for off in offsets:
                cells = moved - off
                inside = np.all((cells >= 0) & (cells < n), axis=1)
                near[tuple(cells[inside].T)] = True
            cells = np.argwhere(near)
            if not len(cells):
                continue
            verts = cells[:, None, :] + offsets[None, :, :]         # (K, d+1, d)
            at = tuple(np.moveaxis(verts, 2, 0))
            vu, vs = unsafe[at], sign[at]
            keep = vu.any(axis=1)                # all vertices safe: Lemma 1, no proof
            cells, verts, vu, vs = cells[keep], verts[keep], vu[keep], vs[keep]
            nonzero = (vs != 0).any(axis=1)
            s = np.where(nonzero & (vs >= 0).all(axis=1), 1,
                         np.where(nonzero & (vs <= 0).all(axis=1), -1, 0))
            ok = np.zeros(len(cells), dtype=bool)
            ask = np.nonzero(s != 0)[0]
            if len(ask):
                ok[ask] = prove(perm, cells[ask], s[ask], trial, depth)
            failed = ~ok
            if failed.any():
                for v in verts[failed][vu[failed]].tolist():
                    bad.add(tuple(v))
        return bad

    settle({node for node in c if unsafe[node]}, first_depth, first)
    if bounds is not None:
        _cap(c, goal, lambda: trial.copy(), _with(base, balanced, bits), bounds,
             lambda nodes: (mark(nodes), settle(nodes)))
    return c, trial


def _cap(c: dict, goal: dict, nodal, reference_nodal, bounds, settle) -> None:
    """Never a larger certified sup bound than `balanced` on this level.

    Near a cusp the naive enclosure `f(B) - A(B)` (no mean-value form where `∇f` is
    unbounded) widens with the slope of `A`, so larger coefficients can give a larger
    *certified* sup bound although the residual is smaller. `B` = the balanced level's
    bound (max over simplices, as the checker computes it); while some simplex's bound
    exceeds `B`, its vertices whose coefficient is not the balanced one are set to it (a
    simplex with only balanced vertices has its balanced bound, so this ends, at worst at
    `balanced` itself), and their stars are re-proved (`settle`). `nodal()`: the nodal
    array `F + Σ c_z φ_z` of the current `c`; `reference_nodal`: that of `balanced`.
    """
    def sup_by_simplex(nodal):
        out = bounds(nodal)
        if out is None:
            return None
        return {perm: np.maximum(-lo, hi) for perm, (lo, hi) in out.items()}

    reference = sup_by_simplex(reference_nodal)
    if reference is None:
        return
    limit = max(float(a.max()) for a in reference.values())
    while True:
        current = sup_by_simplex(nodal())
        if current is None:
            return
        revert = set()
        for perm, sup in current.items():
            for cell in zip(*np.nonzero(sup > limit)):
                for v in simplex_vertices((tuple(int(i) for i in cell), perm)):
                    if c[v] != goal[v]:
                        revert.add(v)
        if not revert:
            return
        for node in revert:
            c[node] = goal[node]
        settle(revert)
