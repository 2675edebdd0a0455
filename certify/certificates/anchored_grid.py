"""The vertex-anchored proof (`certify.certificates.anchored`) for many simplices of one grid at once.

`anchored.Prover.proves` decides `sign·(f - A_T) >= 0` on one simplex `T` in Arb, box by
box. The surplus builder asks this for thousands of simplices per level, and the checker
asks it again for every simplex of a hat's star, so here the same proof runs on all of
them together in numpy intervals rounded outward (`certify.engine.vectorised`: one `nextafter`
per operation, rigorous by IEEE 754 alone). A *work item* is a simplex `T = (cell, π)`
with one sub-box `B` of its cell (side `h/k`, meeting `T`); per item,

    mean value:  f(m) - A(t_m) - Σ_j |∇_πj f(B) h - D_j| / (2k)      (∩ the naive form)
    anchored:    ρ(v) + μ · min(0, min_w (h ∇f(B)·(o_w - o_v) - (A(w) - A(v))))

bound `sign·ρ` from below (`ρ = f - A`, `D_j` the nodal differences along the chain of
`T`, the anchored form only where one vertex `v` of `T` is a corner of `B`, `μ` the
spread of Lemma P.2). An item whose bound is >= 0 is done; the others split into the
`2^d` children meeting `T`, down to the same depth and box budget per simplex as the Arb
prover; a simplex is proved when all its items are. `f(B)`, `f(m)` and `∇f(B)` on the
first subdivision come from the shared `vectorised.f_data`; on finer ones they are
computed the same way (float intervals rounded outward, Arb where those are not finite)
only for the boxes asked for, and cached per grid. `ρ(v) = f(v) - A(v)`
is exact (an interval of one rational) where the target or SymPy gives `f(v)` exactly
and the Arb ball would straddle 0.

Before any box, the second-order proof (`certify.engine.curvature`: one Hessian bound per cell)
decides what it can. Only boxes meeting the interior of `T` are used (`_meets`).

The result for a simplex depends only on the target, the grid and the exact nodal values
at its vertices, never on which other simplices were asked with it: what the builder
proved here, the checker proves again from the weights. `Grid.applies` is False when the
vectorised f data is unavailable (an enclosure failed); callers then use the Arb prover.
"""

from __future__ import annotations

import functools
import itertools
from fractions import Fraction

import numpy as np

from ..engine import ball_arrays, curvature, vectorised, work_units
from .anchored import BOX_BUDGET, DEPTH, START, Prover, VertexValues
from . import proof_rounds
from .box_data import BoxData
from ..engine.expression import _CONTEXTS
from ..engine.nodal import Nodal
from ..engine.numbers import ball_bounds, to_ball
from ..engine.vectorised import _dn, _up, nodal_interval
from ..engine.rounding import (down as _down, down_dyadic as _down_dyadic,
                               dyadic_ends as _dyadic_ends, split as _split,
                               up_dyadic as _up_dyadic, upward as _upward)

#: a simplex whose float bounds miss 0 by less than this is handed to the Arb prover
NEAR = 2.0 ** -36
#: on the finer sub-box levels, a box whose float bound is within this of 0 is decided on
#: its Arb data (float and Arb enclosures differ by some ulps of |f| and |∇f| h, far less)
NEAR_BOX = 2.0 ** -30

#: `Grid._lower` bounds work items in blocks of this many
BLOCK = 32768
#: batches of at least this many nodes (Arb balls, about 14 µs each) are split over the
#: processes of `work_units.workers(jobs)`; smaller ones stay here (a fork costs some
#: 10-50 ms in a large process)
PARALLEL_NODES = 32768
BALL = _CONTEXTS["ball"]

def _cache(target) -> dict:
    """Per-target cache shared by the builder and the checker in one process."""
    return vectorised.target_cache(target, "anchored_grid")


def _meets(sub: np.ndarray, perm) -> np.ndarray:
    """Rows of sub-box indices (shape (N, d)) whose box meets the *interior* of the simplex
    `t_π1 >= … >= t_πd`: the indices do not increase along the chain `π`. The boxes that
    meet the simplex only on its boundary can be left out: the others cover its interior,
    so by continuity of `f - A` a bound on them holds on the closed simplex too."""
    ok = np.ones(len(sub), dtype=bool)
    for a, b in zip(perm, perm[1:]):
        ok &= sub[:, a] >= sub[:, b]
    return ok


def _unique_nodes(linear: np.ndarray, shape) -> tuple[np.ndarray, np.ndarray]:
    """`np.unique(linear, return_inverse=True)` for flat node indices of a grid of `shape`
    (sorted ids, and each entry's position among them), by marking the grid's nodes
    instead of sorting: linear in the entries and the nodes."""
    mark = np.zeros(int(np.prod(shape)), dtype=bool)
    mark[linear] = True
    ids = np.flatnonzero(mark)
    where = np.zeros(mark.size, dtype=np.int64)
    where[ids] = np.arange(len(ids))
    return ids, where[linear]


def _vertex_ids(cells: np.ndarray, perm, shape) -> np.ndarray:
    """Flat (C order) node indices of the vertices of the simplices `(cell, perm)`, `cells`
    of shape (N, d): N·(d+1) entries, simplex by simplex along the chain `perm` (what
    `np.ravel_multi_index` gives for `cells[:, None] + offsets`, without that array)."""
    strides = np.array([int(np.prod(shape[a + 1:])) for a in range(len(shape))],
                       dtype=np.int64)
    steps = np.array(vectorised._perm_offsets(perm), dtype=np.int64) @ strides
    return ((np.asarray(cells, dtype=np.int64) @ strides)[:, None] + steps[None, :]).ravel()


class Grid:
    """Anchored proofs on the simplices of the grid with `n` intervals a side."""

    def __init__(self, target, n: int, vertices: VertexValues | None = None):
        self.target, self.n, self.dim = target, n, target.dim
        self.k0 = START.get(self.dim, 1)
        self.depth = DEPTH.get(self.dim, 2)
        self.vertices = vertices or _cache(target).setdefault("vertices", VertexValues(target))
        self._prover = None
        base = vectorised.f_data(target, n * self.k0) if vectorised.applies(self.k0) else None
        self.applies = base is not None and base.finite
        self._base = base
        h = 1.0 / n
        self._h = (h, h) if Fraction(h) == Fraction(1, n) else (_dn(h), _up(h))

    # ----------------------------------------------------------------- f data
    def _f_data(self, k: int, index: np.ndarray, in_arb: bool = False):
        if k == self.k0:
            b = self._base
            at = tuple(index.T)
            g_lo = np.stack([b.grad[a][0][at] for a in range(self.dim)], axis=1)
            g_hi = np.stack([b.grad[a][1][at] for a in range(self.dim)], axis=1)
            return (b.fm[0][at], b.fm[1][at], b.fb[0][at], b.fb[1][at], g_lo, g_hi,
                    b.grad_ok[at])
        key = ("arb boxes" if in_arb else "boxes", self.n * k)
        cache = _cache(self.target)
        if key not in cache:
            cache[key] = BoxData(self.target, self.n * k, in_arb)
        return cache[key].gather(index)

    def residuals(self, values: np.ndarray):
        """Float intervals `(lo, hi)` of `f(z) - values[z]` at every node (flattened), exact
        where `f(z)` is known exactly and the enclosure would touch 0."""
        ids = np.arange(values.size)
        return self._vertex_data(ids, values)[2:]

    def _vertex_data(self, ids: np.ndarray, values: np.ndarray, plain: bool = False):
        """Float intervals of `A(v)` and of `ρ(v) = f(v) - A(v)` at the nodes with linear
        indices `ids`: `ρ` exact (an interval around one rational) where `f(v)` is known
        exactly and the enclosure would touch 0.

        `f(v)` is the Arb ball of the node (`VertexValues.ball`, 96 bits), kept per node as
        its float interval `[f_lo, f_hi]` (`vectorised._ball_floats`) and as an exact float
        `c` (near the ball's centre) with a float interval `[e_lo, e_hi]` around `f(v) - c`
        (the ball `f(v) - c` computed in Arb, converted outward the same way), so `f(v) ∈
        [c + e_lo, c + e_hi]` exactly. With `A(v) ∈ [a_lo, a_hi]`, the plain enclosure is
        `[↓(f_lo - a_hi), ↑(f_hi - a_lo)]`; the sharp one `[↓(↓(c - a_hi) + e_lo),
        ↑(↑(c - a_lo) + e_hi)]`, each operation rounded outward (IEEE 754, as in
        `vectorised`): `c` and `A(v)` agree to a few ulps, so `c - a` loses nothing and `ρ`
        keeps the ball's precision, not that of a float of `f`. Where `A(v)` is not a float
        and that matters, it is split as `a + δ` (`_split`) and `ρ ∈ (c - a) - δ + [e_lo,
        e_hi]`, rounded outward the same way. The sharp interval is intersected with the
        plain one (both contain `ρ(v)`). Where the result touches 0, `ρ(v)` is the Arb ball
        `f(v) - A(v)` (`_arb_residual`, exact where that touches 0 and the target or SymPy
        gives `f(v)` exactly).

        `plain`: the plain enclosure, and Arb where it touches 0 (what this grid always
        gave): for the second-order proof, whose float search for a point (`curvature.
        _best_point`) may take another path on other last bits of `ρ`, so that its
        results, hence the networks built, stay as they were."""
        shape = (self.n + 1,) * self.dim
        cache = _cache(self.target)
        key = ("f nodes", self.n)
        if key not in cache:
            size = int(np.prod(shape))
            cache[key] = tuple(np.full(size, np.nan) for _ in range(5))
        f_lo, f_hi, centre, e_lo, e_hi = cache[key]
        missing = ids[np.isnan(f_lo[ids])]
        coarse_key = ("f nodes", self.n // 2)
        if len(missing) and self.n % 2 == 0 and coarse_key in cache:
            # a node of even indices is the node of halved indices on the grid n/2: the same
            # point, hence the same ball of f (and the same floats); taken from there
            index = np.unravel_index(missing, shape)
            even = np.logical_and.reduce([i % 2 == 0 for i in index])
            half = np.ravel_multi_index(tuple(i[even] // 2 for i in index),
                                        (self.n // 2 + 1,) * self.dim)
            known = ~np.isnan(cache[coarse_key][0][half])
            take = missing[even][known]
            for store, source in zip(cache[key], cache[coarse_key]):
                store[take] = source[half[known]]
            missing = ids[np.isnan(f_lo[ids])]
        if len(missing):
            parts = work_units.chunked(self._node_floats, missing, PARALLEL_NODES)
            for j, store in enumerate((f_lo, f_hi, centre, e_lo, e_hi)):
                store[missing] = np.concatenate([p[j] for p in parts])
        flat = Nodal.of(values).ravel()
        exact = flat[ids]                            # exact rationals: a Nodal
        if 2 * len(ids) >= flat.size:   # most nodes: the intervals of all, which are kept
            # (`nodal_interval`; the star bounds made them, or the sup bounds use them next)
            a_lo, a_hi = (a.reshape(-1)[ids] for a in nodal_interval(flat))
        else:
            a_lo, a_hi = nodal_interval(exact)
        with np.errstate(all="ignore"):
            r_lo, r_hi = _dn(f_lo[ids] - a_hi), _up(f_hi[ids] - a_lo)
            coarse = ~((r_lo > 0) | (r_hi < 0))
            if not plain:
                c, el, eh = centre[ids], e_lo[ids], e_hi[ids]
                r_lo = np.maximum(_dn(_dn(c - a_hi) + el), r_lo)
                r_hi = np.minimum(_up(_up(c - a_lo) + eh), r_hi)
                # where A(v) is not a float and the interval matters (it, or the plain one,
                # touches 0): A(v) = a + δ, `a` its nearest float, δ enclosed in floats, so
                # that ρ = (c - a) - δ + (f - c) keeps the ball's precision
                sharpen = np.nonzero((a_lo != a_hi) & (coarse | ~((r_lo > 0) | (r_hi < 0))))[0]
                if len(sharpen):
                    a, d_lo, d_hi = _split(exact[sharpen])
                    c, el, eh = c[sharpen], el[sharpen], eh[sharpen]
                    r_lo[sharpen] = np.maximum(r_lo[sharpen], _dn(_dn(_dn(c - a) - d_hi) + el))
                    r_hi[sharpen] = np.minimum(r_hi[sharpen], _up(_up(_up(c - a) - d_lo) + eh))
        touch = np.nonzero(~((r_lo > 0) | (r_hi < 0)))[0]
        if len(touch):
            memo = _cache(self.target).setdefault(("arb residuals", self.n), {})
            for j, key in zip(touch.tolist(), _touch_keys(touch, ids, exact)):
                # integer keys (node, num, den): no Fraction made for a known one
                if key not in memo:
                    memo[key] = self._arb_residual(key[0], Fraction(key[1], key[2]))
                r_lo[j], r_hi[j] = memo[key]
        return a_lo, a_hi, r_lo, r_hi

    def _arb_residual(self, node: int, value: Fraction) -> tuple[float, float]:
        """Floats around `f(v) - value` at the node with linear index `node`, from Arb's ball
        of it, exact where that touches 0 and the target or SymPy gives `f(v)` exactly
        (`_vertex_data` keeps them per node and value: the provers ask again for the same
        nodal values)."""
        index = []
        for _ in range(self.dim):                       # C order: the last axis fastest
            node, i = divmod(node, self.n + 1)
            index.append(i)
        point = tuple(Fraction(i, self.n) for i in reversed(index))
        ball = self.vertices.ball(point) - to_ball(value)
        ends = _dyadic_ends(ball)
        if ends is None:
            lo, hi = ball_bounds(ball)
        else:
            lo, hi, k = ends                             # the end points times 2^-k
        if lo <= 0 <= hi:
            f = self.vertices.exact(point)
            if f is not None:
                lo = hi = f - value
                ends = None
        if ends is None:
            return _down(lo), _upward(hi)
        return _down_dyadic(lo, k), _up_dyadic(hi, k)

    def _node_floats(self, ids):
        """`node_floats` of this grid's nodes `ids` (one chunk of work)."""
        return node_floats(self.target, self.n, ids, self.vertices)

    # ----------------------------------------------------------------- proofs
    def proves(self, simplices, signs, values, depth: int | None = None) -> list[bool]:
        """`[sign·(f - A_T) >= 0 proved on T]` for `T` in `simplices` (`(cell, perm)`),
        `A` the interpolant of the exact nodal `values` (an array of Fractions of shape
        `(n+1,)*d`). A sign of 0 is never proved. `depth` (at most the default) halves
        boxes fewer times: a cheaper, weaker attempt (what it proves, the default proves)."""
        out = [False] * len(simplices)
        groups: dict = {}
        for i, ((cell, perm), sign) in enumerate(zip(simplices, signs)):
            if sign:
                groups.setdefault(tuple(perm), []).append(i)
        for perm, ids in groups.items():
            proved = self.proves_cells(perm, np.array([simplices[i][0] for i in ids]),
                                       np.array([signs[i] for i in ids]), values, depth)
            for i, ok in zip(ids, proved.tolist()):
                out[i] = ok
        return out

    def proves_cells(self, perm, cells: np.ndarray, signs: np.ndarray, values,
                     depth: int | None = None) -> np.ndarray:
        """`proves` for the simplices `(cell, perm)`, `cells` of shape (N, d): a bool array
        (`proof_rounds.proves_perms`, which also splits large batches over workers)."""
        return proof_rounds.proves_perms(self, [(perm, cells, signs)], values, depth)[0]

    def proves_perms(self, asks: list, values, depth: int | None = None) -> list:
        """`[proves_cells(perm, cells, signs, values, depth) for perm, cells, signs in asks]`
        proved together (`proof_rounds.proves_perms`: one split over workers)."""
        return proof_rounds.proves_perms(self, asks, values, depth)

    @property
    def cache(self) -> dict:
        """The per-target cache of this prover's data (f data, node balls, Arb residuals)."""
        return _cache(self.target)

    def _prove_cells(self, perm, cells, signs, values, depth, live, out) -> None:
        """Set `out[i]` for `i` in `live`: the proofs of `proves_cells`."""
        # the second-order proof (`certify.engine.curvature`) first: one Hessian bound per cell
        done = self._curvature(tuple(perm), np.take(cells, live, axis=0), signs[live], values)
        out[live[done]] = True
        live = live[~done]
        if not len(live):
            return
        proved, close = self._prove_perm(tuple(perm), np.take(cells, live, axis=0), signs[live],
                                         values, depth)
        out[live] = proved
        for j in np.nonzero(close)[0].tolist():
            # a near miss may be rounding (an exact zero residual): Arb decides it
            i = int(live[j])
            out[i] = self._arb().proves((tuple(int(v) for v in cells[i]), tuple(perm)),
                                        values, int(signs[i]))

    def _curvature(self, perm, cells, signs, values) -> np.ndarray:
        """`curvature.proves` for the simplices `(cell, perm)`, from the same vertex data
        `ρ(v)` as the box-by-box proof."""
        if not curvature.applies(self.target):
            return np.zeros(len(cells), dtype=bool)
        shape = (self.n + 1,) * self.dim
        ids, back = _unique_nodes(_vertex_ids(cells, perm, shape), shape)
        _, _, r_lo, r_hi = self._vertex_data(ids, values, plain=True)
        lo = r_lo[back].reshape(len(cells), self.dim + 1)
        hi = r_hi[back].reshape(len(cells), self.dim + 1)
        rho = np.where((signs > 0)[:, None], lo, -hi)
        return curvature.proves(self.target, self.n, cells, signs, rho)

    def _arb(self) -> Prover:
        if self._prover is None:
            self._prover = Prover(self.target, Fraction(1, self.n), self.vertices)
        return self._prover

    def _prove_perm(self, perm, cells, signs, values, depth: int) -> np.ndarray:
        dim, count = self.dim, len(cells)
        cells = np.asarray(cells, dtype=np.int64).reshape(count, dim)
        sign = np.asarray(signs, dtype=np.int64)
        # nodal intervals of A and vertex residuals ρ(v), per simplex vertex
        shape = (self.n + 1,) * dim
        ids, back = _unique_nodes(_vertex_ids(cells, perm, shape), shape)
        a_lo, a_hi, r_lo, r_hi = self._vertex_data(ids, values)
        a_lo, a_hi = a_lo[back].reshape(count, dim + 1), a_hi[back].reshape(count, dim + 1)
        rho_lo = r_lo[back].reshape(count, dim + 1)
        rho_hi = r_hi[back].reshape(count, dim + 1)
        proved = np.ones(count, dtype=bool)
        failed = np.zeros(count, dtype=bool)
        refuted = np.zeros(count, dtype=bool)
        used = np.zeros(count, dtype=np.int64)
        near = np.zeros(count)          # the worst bound of the last round a simplex ran
        k = self.k0
        subs = np.array([s for s in itertools.product(range(k), repeat=dim)],
                        dtype=np.int64).reshape(-1, dim)
        subs = subs[_meets(subs, perm)]
        item_t = np.repeat(np.arange(count), len(subs))
        item_sub = np.tile(subs, (count, 1))
        children = np.array(list(itertools.product((0, 1), repeat=dim)), dtype=np.int64)
        while len(item_t):
            # `item_t` stays sorted (a repeat of 0..count-1, then masks and repeats):
            # per-simplex counts and minima by bincount / reduceat, not ufunc.at
            used += np.bincount(item_t, minlength=count)
            over = used > BOX_BUDGET
            failed |= over
            if failed.any():
                keep = ~failed[item_t]
                item_t, item_sub = item_t[keep], np.compress(keep, item_sub, axis=0)
            if not len(item_t):
                break
            lower = self._lower(perm, k, item_t, item_sub, cells, sign, a_lo, a_hi, rho_lo,
                                rho_hi)
            if k != self.k0:
                # a bound within NEAR_BOX of 0 may be decided by the last bits of the float
                # data: the box is decided on its Arb data, as before those levels were
                # vectorised (farther from 0, floats and Arb decide alike)
                redo = np.nonzero(~(np.abs(lower) >= NEAR_BOX))[0]
                if len(redo):
                    box_refuted = self._refuted
                    lower[redo] = self._lower(perm, k, item_t[redo], item_sub[redo], cells,
                                              sign, a_lo, a_hi, rho_lo, rho_hi, True)
                    box_refuted[redo] = self._refuted
                    self._refuted = box_refuted
            bad = ~(lower >= 0)
            # a box where the claim certainly fails ends its simplex's proof at once
            if self._refuted.any():
                refuted[item_t[self._refuted]] = True
                failed |= refuted
                bad &= ~failed[item_t]
            item_t, item_sub = item_t[bad], np.compress(bad, item_sub, axis=0)
            worst = np.zeros(count)
            if len(item_t):
                starts = np.flatnonzero(np.concatenate(([True], item_t[1:] != item_t[:-1])))
                least = np.minimum.reduceat(np.where(np.isnan(lower[bad]), -np.inf,
                                                     lower[bad]), starts)
                worst[item_t[starts]] = np.minimum(worst[item_t[starts]], least)
            near = np.where(failed, near, worst)
            if not len(item_t):
                break
            if k >= self.k0 * 2 ** depth:
                failed[item_t] = True
                break
            k *= 2
            item_t = np.repeat(item_t, len(children))
            item_sub = (2 * np.repeat(item_sub, len(children), axis=0)
                        + np.tile(children, (len(item_sub), 1)))
            meet = _meets(item_sub, perm)
            if not meet.all():
                item_t, item_sub = item_t[meet], np.compress(meet, item_sub, axis=0)
        proved &= ~failed
        return proved, failed & ~refuted & (near >= -NEAR)

    def _lower(self, perm, k, item_t, sub, cells, sign, a_lo, a_hi, rho_lo, rho_hi,
               in_arb: bool = False) -> np.ndarray:
        """Lower bounds of `sign·(f - A)` on each item's box (rigorous; NaN means none): item
        `i` is the sub-box `sub[i]` of the simplex `item_t[i]` (the simplices' `cells`,
        `sign`, nodal intervals `a_lo`, `a_hi` and vertex residuals `rho_lo`, `rho_hi`);
        `self._refuted`: where the claim certainly fails on the box. Every item is bounded
        on its own, so items are gathered and bounded in blocks of `BLOCK` (arrays that
        stay in cache: some 2x faster per item than a million at once, the same floats);
        on the finer levels the f data of all items is asked for first (new sub-boxes are
        computed together)."""
        count = len(sub)
        data = None
        rows = functools.partial(np.take, axis=0)   # = x[t], row by row (numpy's fancy
        if k != self.k0:                            # indexing of short rows is ~10x slower)
            data = self._f_data(k, rows(cells, item_t) * k + sub, in_arb)
        best = np.empty(count)
        refuted = np.empty(count, dtype=bool)
        for start in range(0, count, BLOCK):
            part = slice(start, start + BLOCK)
            t = item_t[part]
            block = tuple(x[part] for x in data) if data is not None else \
                self._f_data(k, rows(cells, t) * k + sub[part])
            best[part], refuted[part] = self._lower_block(
                perm, k, sub[part], sign[t], rows(a_lo, t), rows(a_hi, t), rows(rho_lo, t),
                rows(rho_hi, t), block)
        self._refuted = refuted
        return best

    def _lower_block(self, perm, k, sub, sign, a_lo, a_hi, rho_lo, rho_hi, data):
        """`_lower` for one block of items, `data` their f data (`_f_data`): the lower
        bounds, and where the claim certainly fails."""
        dim = self.dim
        h_lo, h_hi = self._h
        half = 1.0 / (2 * k)                               # exact: k is a power of two
        fm_lo, fm_hi, fb_lo, fb_hi, g_lo, g_hi, ok = data
        with np.errstate(all="ignore"):
            diffs = [(_dn(a_lo[:, j + 1] - a_hi[:, j]), _up(a_hi[:, j + 1] - a_lo[:, j]))
                     for j in range(dim)]
            # A at the box mid-point
            m_lo, m_hi = a_lo[:, 0], a_hi[:, 0]
            for j, axis in enumerate(perm):
                t = (sub[:, axis] + 0.5) / k                # exact, >= 0
                m_lo = _dn(m_lo + _dn(diffs[j][0] * t))
                m_hi = _up(m_hi + _up(diffs[j][1] * t))
            spread = np.zeros(len(sub))
            term = np.zeros(len(sub))
            gh = []
            for axis in range(dim):
                gl, gu = g_lo[:, axis], g_hi[:, axis]
                gh.append((_dn(np.minimum(gl * h_lo, gl * h_hi)),
                           _up(np.maximum(gu * h_lo, gu * h_hi))))
            for j, axis in enumerate(perm):
                d_lo, d_hi = diffs[j]
                spread = _up(spread + _up(np.maximum(np.abs(d_lo), np.abs(d_hi)) * half))
                e = np.maximum(np.abs(_dn(gh[axis][0] - d_hi)), np.abs(_up(gh[axis][1] - d_lo)))
                term = _up(term + _up(e * half))
            lo = _dn(_dn(fb_lo - m_hi) - spread)
            hi = _up(_up(fb_hi - m_lo) + spread)
            mv_lo = _dn(_dn(fm_lo - m_hi) - term)
            mv_hi = _up(_up(fm_hi - m_lo) + term)
            lo = np.where(ok, np.maximum(lo, mv_lo), lo)
            hi = np.where(ok, np.minimum(hi, mv_hi), hi)
            best = np.where(sign > 0, lo, -hi)
            # an upper bound of sign·ρ below 0: the claim is false on the whole box
            refuted = np.where(sign > 0, hi, -lo) < 0
            if k < 2:
                return best, refuted     # every vertex is a corner of the cell: no anchor
            offsets = vectorised._perm_offsets(perm)
            for i, o in enumerate(offsets):
                corner = ok.copy()
                for axis in range(dim):
                    corner &= sub[:, axis] == (0 if o[axis] == 0 else k - 1)
                if not corner.any():
                    continue
                idx = np.nonzero(corner)[0]
                s = sign[idx]
                worst = np.zeros(len(idx))
                for w, ow in enumerate(offsets):
                    if w == i:
                        continue
                    d_lo = d_hi = np.zeros(len(idx))
                    for axis in range(dim):
                        step = ow[axis] - o[axis]
                        if step > 0:
                            d_lo = _dn(d_lo + gh[axis][0][idx])
                            d_hi = _up(d_hi + gh[axis][1][idx])
                        elif step < 0:
                            d_lo = _dn(d_lo - gh[axis][1][idx])
                            d_hi = _up(d_hi - gh[axis][0][idx])
                    # minus (A(w) - A(v))
                    aw_lo, aw_hi = a_lo[idx, w], a_hi[idx, w]
                    av_lo, av_hi = a_lo[idx, i], a_hi[idx, i]
                    diff_lo, diff_hi = _dn(aw_lo - av_hi), _up(aw_hi - av_lo)
                    d_lo, d_hi = _dn(d_lo - diff_hi), _up(d_hi - diff_lo)
                    worst = np.minimum(worst, np.where(s > 0, d_lo, -d_hi))
                    # at x = v + (w - v)/k (in T and in B): sign·ρ(x) <= sign·ρ(v) + (sign·D)/k,
                    # an upper bound; below 0 the claim is false there (the proof can stop)
                    step_k = 1.0 / k                                # exact
                    up_x = np.where(s > 0, _up(rho_hi[idx, i] + _up(d_hi * step_k)),
                                    _up(-rho_lo[idx, i] + _up(-d_lo * step_k)))
                    refuted[idx] |= up_x < 0
                mu = min(1.0, (1.0 / k) * ((0 in o) + (1 in o)))     # exact: k a power of 2
                r = np.where(s > 0, rho_lo[idx, i], -rho_hi[idx, i])
                # exact zeros stay exact (an outward step past 0 would lose ρ(v) = 0)
                term = np.where(worst == 0, 0.0, _dn(mu * worst))
                anchored = np.where(term == 0, r, _dn(r + term))
                best[idx] = np.maximum(best[idx], np.where(np.isnan(anchored), -np.inf,
                                                           anchored))
        return best, refuted


def _touch_keys(touch: np.ndarray, ids: np.ndarray, exact) -> list[tuple[int, int, int]]:
    """`(node, numerator, denominator)` of the entries `touch` of the nodes `ids` with the
    exact values `exact` (a Nodal): the keys of `_vertex_data`'s memo of Arb residuals."""
    den = exact.den
    return [(node, num, den) for node, num in zip(ids[touch].tolist(),
                                                 exact.num.ravel()[touch].tolist())]


def node_floats(target, n: int, ids, vertices: VertexValues | None = None):
    """Per node of the grid `n` (linear indices `ids`): the float interval of `f` from its
    Arb ball, and `(c, e_lo, e_hi)` with `f ∈ [c + e_lo, c + e_hi]` (see
    `Grid._vertex_data`). For `n` a power of two the balls come from
    `ball_arrays.node_balls` (the point `i/n` is the exact ball `arb(i)/n`, the one
    `Target.ball` makes of the rational: the same ball of f, without a Fraction per node);
    the floats are read from the object arrays (`ball_arrays.float_ends`: the same floats as
    point by point)."""
    dim = target.dim
    if n & (n - 1) == 0:
        balls = ball_arrays.node_balls(target._program, BALL, n, dim, ids)
    else:
        vertices = vertices or _cache(target).setdefault("vertices", VertexValues(target))
        nodes = zip(*(axis.tolist() for axis in
                      np.unravel_index(np.asarray(ids), (n + 1,) * dim)))
        balls = ball_arrays.balls_of(vertices.ball(tuple(Fraction(i, n) for i in node))
                                     for node in nodes)
    mids, f_lo, f_hi = ball_arrays.float_ends(balls)
    centre = np.where(np.isfinite(mids), mids, 0.0)
    _, e_lo, e_hi = ball_arrays.float_ends(ball_arrays.offsets_from(balls, centre))
    bad = ~(np.isfinite(f_lo) & np.isfinite(f_hi) & np.isfinite(e_lo) & np.isfinite(e_hi))
    # a ball that is not finite: NaN ends, so `_vertex_data` asks Arb (which raises)
    e_lo, e_hi = np.where(bad, np.nan, e_lo), np.where(bad, np.nan, e_hi)
    return f_lo, f_hi, centre, e_lo, e_hi

