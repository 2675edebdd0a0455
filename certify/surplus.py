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

from .engine import ball_arrays
from .engine.nodal import LIMIT, Nodal
from .engine.expression import _CONTEXTS
from .engine.gathered import distinct
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
BALL = _CONTEXTS["ball"]


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


def surplus_units(residuals, shape, bits: int, refine=None, refine_many=None) -> np.ndarray:
    """`r(z)` in units of `2^-bits` (integers: a flat int64 array in C order over the grid,
    object where one does not fit) from intervals of `f(z) - F(z)` (flattened over the
    grid), rounded toward zero past the enclosure (0 where it contains 0). Where the two
    ends of a float interval round to different multiples of `2^-bits`, `refine(node)` (the
    same rounding of exact rational bounds: `arb_residual_units`) decides, so the result
    does not depend on float rounding. Float arrays are done as whole arrays
    (`floor(|a|·2^bits)` is exact: a power-of-two scaling), nodes needing `refine`,
    non-finite or huge ends one by one as before; `refine_many(nodes)`, where given,
    is `[refine(node) for node in nodes]` for all nodes needing it at once."""
    lo, hi = residuals
    lo, hi = np.asarray(lo), np.asarray(hi)
    if lo.dtype != np.float64 or hi.dtype != np.float64:
        where = np.arange(lo.size)
        return int_array(_surplus_units_scalar(_nodes(where, shape), lo.tolist(), hi.tolist(),
                                               bits, refine, refine_many))
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
    out = units.astype(np.int64)
    where = np.nonzero(special)[0]
    if len(where):
        rest = _surplus_units_scalar(_nodes(where, shape), lo[where].tolist(),
                                     hi[where].tolist(), bits, refine, refine_many)
        if any(abs(u) > LIMIT for u in rest):
            out = out.astype(object)
        out[where] = rest
    return out


def _nodes(flat: np.ndarray, shape) -> list[tuple]:
    """Node index tuples (Python ints) of flat C-order indices."""
    return list(zip(*(axis.tolist() for axis in np.unravel_index(flat, shape))))


def int_array(values) -> np.ndarray:
    """Integers as a flat int64 array where all fit within `LIMIT`, else an object array."""
    values = list(values)
    if values and max(map(abs, values)) > LIMIT:
        out = np.empty(len(values), dtype=object)
        out[:] = values
        return out
    return np.array(values, dtype=np.int64).reshape(-1)


def _surplus_units_scalar(nodes, lo, hi, bits: int, refine, refine_many=None) -> list:
    """`surplus_units` node by node (exact rationals, or the float ends it cannot do at
    once), in the order of `nodes`; the nodes needing `refine` through `refine_many`
    together where it is given."""
    scale = 2 ** bits
    out, asked = [], []
    for node, a, b in zip(nodes, lo, hi):
        if refine is not None and (a > 0 or b < 0) \
                and math.floor(abs(a) * scale) != math.floor(abs(b) * scale):
            if refine_many is None:
                out.append(refine(node))
            else:
                asked.append(len(out))
                out.append(None)
        elif a > 0:
            out.append(_units(a, bits))
        elif b < 0:
            out.append(_units(b, bits))
        else:
            out.append(0)
    if asked:
        for j, units in zip(asked, refine_many([nodes[j] for j in asked])):
            out[j] = units
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
    exponents are extreme, `arb_residual` itself. For `n` a power of two the ball of `f(z)`
    is made from the exact balls `arb(i)/n` of the coordinates: the balls `Target.ball`
    makes of the same dyadic rationals, so the same ball of `f` (as the grid prover's node
    floats make it), without a `Fraction` per coordinate."""
    if n & (n - 1):
        f = vertices.ball(tuple(Fraction(int(i), n) for i in node))
    else:
        f = vertices.target.evaluate(BALL, [arb(int(i)) / n for i in node])
    units = _ball_units(f - arb(fmpq(num, den)), bits)     # f - to_ball(num/den)
    return _fallback_units(vertices, n, node, num, den, bits) if units is None else units


def arb_residual_units_many(vertices, n: int, nodes: list, nums: list, den: int,
                            bits: int) -> list[int]:
    """`[arb_residual_units(vertices, n, node, num, den, bits)]` over the nodes at once: for
    `n` a power of two the balls of `f` come from `ball_arrays.node_balls` (the ball a run
    of the program on `arb(i)/n` gives, as `target.evaluate` above), and `f - arb(fmpq(num,
    den))` elementwise over object arrays (the same Arb operations on the same operands):
    the same balls, hence the same units; other grids node by node."""
    if n & (n - 1) or not nodes:
        return [arb_residual_units(vertices, n, node, num, den, bits)
                for node, num in zip(nodes, nums)]
    dim = len(nodes[0])
    ids = np.ravel_multi_index(tuple(np.array(nodes, dtype=np.int64).reshape(-1, dim).T),
                               (n + 1,) * dim)
    f = ball_arrays.node_balls(vertices.target._program, BALL, n, dim, ids)
    values = np.empty(len(nums), dtype=object)
    values[:] = nums
    balls = f - ball_arrays.to_balls(_FMPQ(values, den))
    out = []
    for node, num, ball in zip(nodes, nums, balls.tolist()):
        units = _ball_units(ball, bits)
        out.append(_fallback_units(vertices, n, node, num, den, bits) if units is None
                   else units)
    return out


#: elementwise `fmpq(num, den)`
_FMPQ = np.frompyfunc(fmpq, 2, 1)


def _ball_units(ball, bits: int) -> int | None:
    """A ball's bounds rounded toward zero in units of `2^-bits` past the ball, read from
    its mid-point and radius as integers (`mid ∓ rad = (M ∓ R)·2^e`); None where the ball
    contains 0 or is not finite or its exponents are extreme."""
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
    return None


def _fallback_units(vertices, n: int, node, num: int, den: int, bits: int) -> int:
    """`arb_residual_units` where the ball does not decide: `arb_residual`'s exact bounds."""
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


def _with(values: Nodal, c: np.ndarray, bits: int) -> Nodal:
    """The nodal array `F + Σ c_z φ_z` on the level grid (`c` flat, in units of `2^-bits`)."""
    where = np.flatnonzero(c != 0)
    return values.with_units(np.unravel_index(where, values.shape), c[where], bits)


def balanced_nodal(values, balanced, bits: int) -> Nodal:
    """The nodal array of the balanced level, `F + Σ b_z φ_z` (`balanced` in units of
    `2^-bits`): `_cap`'s reference, as `coefficients_and_nodal` makes it."""
    return _with(Nodal.of(values).for_units(bits),
                 _packed(np.asarray(balanced).reshape(-1)), bits)


def _start(s: int, b: int, margin: float | None, fscale: float) -> tuple[int, int]:
    """`(c_z, goal_z)` of one node at the start (see `coefficients_and_nodal`), exactly:
    `s` the surplus, `b` the balanced value (units), `margin` the node's slack or None."""
    if margin is not None and s != 0 and margin > 0 and np.isfinite(margin):
        # |s| - min(margin, |s|·CAP), rounded toward zero, never below 0: in units,
        # |s| - min(ceil(margin·2^bits), ceil(|s|·CAP)) (margin·2^bits is exact,
        # a power-of-two scaling, or inf on overflow, when the cap is the smaller)
        size = abs(s)
        cap = -(-size * MARGIN_CAP.numerator // MARGIN_CAP.denominator)
        scaled = margin * fscale
        short = size - (cap if scaled >= cap else min(math.ceil(scaled), cap))
        s = 0 if short <= 0 else (short if s > 0 else -short)
    if b != 0 and ((s > 0) != (b > 0) or abs(s) < abs(b)):
        s = b                      # the surplus is at least the balanced value
    return s, (b if s != 0 and b != 0 and (b > 0) == (s > 0) else 0)


def _starts(r: np.ndarray, b: np.ndarray, margin: np.ndarray | None, bits: int):
    """`_start` over flat arrays: `(c, goal)`. Where the numbers are int64 below 2^52 (and
    the cap is `|s|` itself), the same steps as whole-array operations, every comparison
    exact (int64, or floats compared with integers below 2^53, which floats hold exactly);
    elsewhere `_start` node by node."""
    fscale = 2.0 ** bits
    size = np.abs(r)
    plain = (r.dtype == np.int64 and b.dtype == np.int64 and MARGIN_CAP == 1)
    small = (size < 2 ** 52) if plain else np.zeros(r.shape, dtype=bool)
    s = r.copy()
    if margin is not None and plain:
        with np.errstate(all="ignore"):
            m = margin.astype(np.float64)
            use = small & (r != 0) & (m > 0) & np.isfinite(m)
            scaled = m * fscale
            # cap = |s|; min(ceil(scaled), cap) where scaled < cap (< 2^52: ceil exact)
            cut = np.where(use & (scaled < size), np.ceil(np.where(use, scaled, 0.0)), 0.0)
            cut = np.where(use & ~(scaled < size), size, cut.astype(np.int64))
        short = size - cut
        s = np.where(use, np.where(short <= 0, 0, np.where(r > 0, short, -short)), r)
    if plain:
        take = (b != 0) & (((s > 0) != (b > 0)) | (np.abs(s) < np.abs(b)))
        s = np.where(take, b, s)
        goal = np.where((s != 0) & (b != 0) & ((b > 0) == (s > 0)), b, 0)
    else:
        s, goal = s.astype(object), np.zeros(r.shape, dtype=object)
    rest = np.flatnonzero(~small)
    if len(rest):
        if s.dtype != object:
            s, goal = s.astype(object), goal.astype(object)
        ms = None if margin is None else margin[rest].tolist()
        for j, i in enumerate(rest.tolist()):
            s[i], goal[i] = _start(int(r[i]), int(b[i]), None if ms is None else ms[j],
                                   fscale)
        s, goal = _packed(s), _packed(goal)
    return s, goal


def _packed(values: np.ndarray) -> np.ndarray:
    """An int array as int64 where every value fits within `LIMIT` (else as it is)."""
    if values.dtype == object and (not values.size or max(map(abs, values.tolist())) <= LIMIT):
        return values.astype(np.int64)
    return values


def coefficients_and_nodal(prove, values, residuals, balanced, skip, bits: int,
                           bounds=None, first_depth: int | None = None, refine=None,
                           rule=SHRINK_RULES[0], slack=None,
                           first: dict | None = None,
                           prove_many=None) -> tuple[np.ndarray, Nodal]:
    """`(c, nodal)` of one level (see the module docstring): the coefficients and
    the nodal array `F + Σ c_z φ_z` they end with.

    `prove(perm, cells, signs, nodal, depth)` proves `sign·(f - A_T) >= 0` on the simplices
    `(cell, perm)` (`cells` of shape (N, d); `A` the interpolant of the nodal array `nodal`),
    all at once (`prove_many([(perm, cells, signs)], nodal, depth)`, where given: the
    same for several permutations together, a list of bool arrays), halving boxes at most
    `depth` times (None: its default; the first round,
    with every surplus whole, uses `first_depth`: a full surplus is rarely provable where a
    shallow proof fails), and returns a bool array; `values`: nodal values of `F` on the
    level grid (a `Nodal`, or an array of rationals); `residuals`: float intervals of
    `f - F` at its nodes, or the surpluses `surplus_units` makes of them (an array: the
    same for every rule tried on a level, so computed once); `balanced`: the `b_z` in
    units of `2^-bits`; nodes where `skip` (adaptivity; a bool array or None) get 0;
    `refine`: see `surplus_units`. Per-node arrays are flat, in C order over the grid,
    int64 (object where a number does not fit). With
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
    that round's failing nodes there and the others take them instead of proving again;
    it also sets `first["any rule"]` when no coefficient failed at all (the rule was never
    used: the others would give the same result, and need not be tried).

    Coefficients, goals and excesses are integers in units of `2^-bits` throughout (the
    balanced values are given so, as `construction.coefficient_units` makes them), so the
    arithmetic and comparisons are exact and the result is the one the same rules give in
    `Fraction`s; the trial nodal values are a `Nodal` (integer numerators over one
    denominator). Returns `c` in units of `2^-bits` (integers) and the final trial values.
    """
    values = Nodal.of(values)
    shape, dim = values.shape, values.ndim
    n = shape[0] - 1
    units = _packed(np.asarray(balanced).reshape(-1))
    r = residuals if isinstance(residuals, np.ndarray) else surplus_units(residuals, shape,
                                                                           bits, refine)
    margin = None
    if slack is not None:
        margin = np.where(r > 0, slack[0].reshape(-1), slack[1].reshape(-1))
    c, goal = _starts(_packed(r), units, margin, bits)
    if skip is not None and np.any(skip):
        skip = np.asarray(skip, dtype=bool).reshape(-1)
        c, goal = _packed(np.where(skip, 0, c)), _packed(np.where(skip, 0, goal))
    fails = np.zeros(c.size, dtype=np.int64)
    excess = np.zeros(c.size, dtype=c.dtype)
    has_excess = np.zeros(c.size, dtype=bool)
    keep_num = np.array([Fraction(k).numerator for k in rule] + [0], dtype=np.int64)
    keep_den = np.array([Fraction(k).denominator for k in rule] + [1], dtype=np.int64)
    # per node: unsafe (needs a proof), the sign of c, and F + c (the trial nodal values)
    unsafe = np.zeros(shape, dtype=bool)
    sign = np.zeros(shape, dtype=np.int8)
    base = values.for_units(bits)          # F, over a denominator that 2^-bits divides
    trial = base.copy()
    flat_unsafe, flat_sign = unsafe.reshape(-1), sign.reshape(-1)

    def mark(idx):
        if not len(idx):
            return
        cv, bv = c[idx], units[idx]
        flat_unsafe[idx] = ~_safe(cv, bv)
        flat_sign[idx] = (cv > 0).astype(np.int8) - (cv < 0).astype(np.int8)
        trial.put_units(np.unravel_index(idx, shape), base, cv, bits)   # F(z) + c_z·2^-bits

    mark(np.arange(c.size))
    # flat (C order) indices: of a cell among the n^d cells, of a node among the nodes
    cell_strides = np.array([n ** (dim - 1 - a) for a in range(dim)], dtype=np.int64)
    node_strides = np.array([(n + 1) ** (dim - 1 - a) for a in range(dim)], dtype=np.int64)
    perms = []                  # per permutation: vertex offsets, and as flat node steps
    for perm in itertools.permutations(range(dim)):
        offsets = np.array(_perm_offsets(perm), dtype=np.int64)
        perms.append((perm, offsets, offsets @ node_strides))

    def settle(changed, depth=None, known=None):
        """Prove the stars of `changed` nodes (flat indices), shrinking what fails, to a
        fixed point; the first round halves boxes at most `depth` times (None: the prover's
        default). With `known` (a dict), the first round's failing nodes are taken from
        `known["bad"]` where present, else found and stored there."""
        nonlocal c, excess
        while len(changed):
            if known is not None and "bad" in known:
                bad = known["bad"]
            else:
                bad = failing(changed, depth)
                if known is not None:
                    known["bad"] = bad
            known = None
            if not len(bad):
                break
            fails[bad] += 1
            new = bad[~has_excess[bad]]
            diff = c[new] - goal[new]
            if excess.dtype != object and (diff.dtype == object or np.abs(diff).max(
                    initial=0) > LIMIT // max(1, int(keep_num.max()))):
                excess = excess.astype(object)
            excess[new] = diff
            has_excess[new] = True
            # excess·kept rounded toward zero, in units: floor(|excess|·kept), signed,
            # kept = rule[fails] (0 past the rule's end)
            at = np.minimum(fails[bad], len(rule))
            ex = excess[bad]
            num, den = keep_num[at], keep_den[at]
            if ex.dtype == object:
                num, den = num.astype(object), den.astype(object)
            size = np.abs(ex) * num // den
            value = goal[bad] + np.where(ex > 0, size, -size)
            if c.dtype != object and value.dtype == object:
                c = c.astype(object)
            c[bad] = value
            mark(bad)
            changed, depth = bad, None

    def failing(changed, depth):
        """The unsafe vertices (sorted flat indices) of the simplices around `changed`
        nodes whose proof fails."""
        moved = np.stack(np.unravel_index(changed, shape), axis=1)
        bad, asks = [], []
        for perm, offsets, steps in perms:
            near = np.zeros(n ** dim, dtype=bool)      # cells whose simplex has a moved vertex
            for off in offsets:
                cells = moved - off
                inside = np.all((cells >= 0) & (cells < n), axis=1)
                near[np.compress(inside, cells, axis=0) @ cell_strides] = True
            cells = np.flatnonzero(near)                 # C order, as np.argwhere gives
            if not len(cells):
                continue
            cells = np.stack(np.unravel_index(cells, (n,) * dim), axis=1)
            verts = (cells @ node_strides)[:, None] + steps[None, :]     # (K, d+1) node ids
            vu, vs = flat_unsafe[verts], flat_sign[verts]
            keep = vu.any(axis=1)                # all vertices safe: Lemma 1, no proof
            # (np.compress: numpy's boolean indexing of short rows is several times slower)
            cells, verts, vu, vs = (np.compress(keep, a, axis=0) for a in (cells, verts, vu, vs))
            nonzero = (vs != 0).any(axis=1)
            s = np.where(nonzero & (vs >= 0).all(axis=1), 1,
                         np.where(nonzero & (vs <= 0).all(axis=1), -1, 0))
            ask = np.nonzero(s != 0)[0]
            asks.append((perm, np.take(cells, ask, axis=0), s[ask], ask, verts, vu))
        # every permutation's simplices proved together (one split over workers)
        asked = [(perm, cells, s) for perm, cells, s, ask, _, _ in asks if len(ask)]
        proved = iter(prove_many(asked, trial, depth) if prove_many is not None else
                      [prove(perm, cells, s, trial, depth) for perm, cells, s in asked])
        for perm, cells, s, ask, verts, vu in asks:
            ok = np.zeros(len(verts), dtype=bool)
            if len(ask):
                ok[ask] = next(proved)
            failed = ~ok
            if failed.any():
                bad.append(np.compress(failed, verts, axis=0)[np.compress(failed, vu, axis=0)])
        return distinct(np.concatenate(bad)) if bad else np.zeros(0, dtype=np.int64)

    settle(np.flatnonzero(flat_unsafe), first_depth, first)
    if bounds is not None:
        def revert(idx):
            c[idx] = goal[idx]
            mark(idx)
            settle(idx)
        _cap(lambda: c, goal, lambda: trial.copy(), _with(base, units, bits), bounds,
             revert, shape)
    if first is not None:
        # no coefficient ever failed: `rule` was never read, so every rule gives this result
        first["any rule"] = not fails.any()
    return c, trial


def _cap(coefficients, goal: np.ndarray, nodal, reference_nodal, bounds, revert,
         shape) -> None:
    """Never a larger certified sup bound than `balanced` on this level.

    Near a cusp the naive enclosure `f(B) - A(B)` (no mean-value form where `∇f` is
    unbounded) widens with the slope of `A`, so larger coefficients can give a larger
    *certified* sup bound although the residual is smaller. `B` = the balanced level's
    bound (max over simplices, as the checker computes it); while some simplex's bound
    exceeds `B`, its vertices whose coefficient is not the balanced one are set to it (a
    simplex with only balanced vertices has its balanced bound, so this ends, at worst at
    `balanced` itself), and their stars are re-proved (`revert(flat indices)`).
    `coefficients()`: the current flat coefficients; `nodal()`: the nodal array
    `F + Σ c_z φ_z` of them; `reference_nodal`: that of `balanced`.
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
        c = coefficients()
        found = []
        for perm, sup in current.items():
            cells = np.argwhere(sup > limit)
            if not len(cells):
                continue
            offsets = np.array(_perm_offsets(perm), dtype=np.int64)
            verts = (cells[:, None, :] + offsets[None, :, :]).reshape(-1, len(shape))
            found.append(np.ravel_multi_index(tuple(verts.T), shape))
        if not found:
            return
        idx = distinct(np.concatenate(found))
        idx = idx[c[idx] != goal[idx]]
        if not len(idx):
            return
        revert(idx)
