"""Residual enclosures for every simplex of a grid at once: numpy intervals, rounded outward.

`enclosure.py` encloses `f - A_T` one simplex at a time in Arb; this module computes the
same mean-value / naive enclosures for all simplices of a grid in a few numpy passes. It
is rigorous by IEEE 754 alone, with no trust in any floating-point library function:

*f data.* `f(m)`, `∇f(B)` and `f(B)` on every sub-box `B` (side `1/(n k)`) are computed
for all sub-boxes at once by the target's program in `certify.engine.intervals` (float intervals
rounded outward, elementary functions from their series with proven remainders); small
grids, and any sub-box where that gives no finite enclosure, are computed in Arb on balls
containing the exact rational box (as `enclosure.sub_box` does), then turned into float
intervals:
a ball `mid ± rad` becomes `[↓(↓m̂ - ↑r̂), ↑(↑m̂ + ↑r̂)]`, where `m̂, r̂` are the floats
nearest to (or truncated from) `mid, rad` and `↓x, ↑x` are the next floats below and above
`x` (`intervals.step_down`, `step_up`).
Converting an exact binary number to float64 errs by less than one unit in the last
place (ulp), so `↓m̂ <= mid <= ↑m̂` and `rad <= ↑r̂`. f data depends on the target and the
geometry only, never on a network: it is cached per `(target, n, k)` and shared by
`certify build` and `certify check` in one process, so a network edited in between
cannot reuse anything stale.

*Directed rounding.* Every `+`, `-`, `*` of two floats is correctly rounded (IEEE 754),
so its exact result lies within one ulp of the computed one: `↓(a ∘ b) <= a ∘ b <=
↑(a ∘ b)`. Each interval operation below computes its lower end point as `↓` of the
rounded result from lower data, its upper end point as `↑` of upper data (interval
arithmetic with outward rounding emulated by one step to the next float per operation;
underflow to subnormals or zero still errs by less than the spacing that step covers). Products
by the exact scalars `t_m = (s + 1/2)/k` and `1/(2k)` (k a power of two, so both are
exact) keep their sign pattern. Absolute values and max/min of end points are exact.

*The enclosure.* On a cell with local coordinate `t = (x - c h)/h ∈ [0,1]^d`, the simplex
`t_π1 >= … >= t_πd` has vertex values `v_0..v_d` (exact rationals, enclosed in float
intervals: exact when the float equals the rational, else one ulp either side) and

    A(t) = v_0 + Σ_j D_j t_πj,   D_j = v_{j+1} - v_j,   ∂A/∂x_πj = D_j / h.

For a sub-box with local mid-point `t_m` and half-side `1/(2k)` (`ρ = h/(2k)` in `x`):

    naive:  f(B) - A(t_m) + [-S, S],        S = Σ_j |D_j| / (2k)
    mean:   f(m) - A(t_m) + [-T, T],        T = Σ_j |∇_πj f(B) h - D_j| / (2k)

(`|∇f(B) - a| ρ = |∇f(B) h - D| / (2k)`); both contain `(f - A)(B)`, so their
intersection does. `h = 1/n` is enclosed as `[↓ĥ, ↑ĥ]` unless exact. A simplex's bounds
are the min / max over the sub-boxes that meet it (`enclosure.meets`). The result is
read back as exact rationals (`Fraction(float)` is exact), so everything downstream is
unchanged; the only loss against Arb is a few ulps of `|f|`.

Anything non-finite (an enclosure blew up, an overflow) makes the caller fall back to the
per-simplex Arb path, which then behaves as before (including raising ArithmeticError).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from fractions import Fraction

import numpy as np
from flint import arb

from .ball_arrays import balls_of, float_ends
from .enclosure import meets
from .gathered import GATHER, axis_inputs, spread
from .intervals import IntervalArray, step_down as _dn, step_up as _up
from .nodal import Nodal
from . import work_units


def applies(k: int) -> bool:
    """Sub-box mid-points `(s + 1/2)/k` are exact floats only for `k` a power of two."""
    return k >= 1 and k & (k - 1) == 0


# --------------------------------------------------------------------------- f data

_CACHES: dict = {}                  # {owner: {key: value}} for the current target
_CACHE_TARGET: list = [None]


def target_cache(target, owner: str) -> dict:
    """The cache of `owner` (a module name) for `target`: one dict per owner, all of them
    emptied together when another target comes (what is computed from f is kept only for
    the target of the run; builder and checker share it in one process)."""
    if _CACHE_TARGET[0] is not target:
        _CACHES.clear()
        _CACHE_TARGET[0] = target
    return _CACHES.setdefault(owner, {})


class FData:
    """Float intervals of `f(m)`, `f(B)` and `∇f(B)` on the `m^d` sub-boxes of side `1/m`."""

    def __init__(self, fm, fb, grad, grad_ok):
        self.fm = fm            # (lo, hi), arrays of shape (m,)*d
        self.fb = fb
        self.grad = grad        # per axis (lo, hi); zeros where not grad_ok
        self.grad_ok = grad_ok

    def scaled_gradient(self, h_lo: float, h_hi: float) -> list:
        """Per axis, float intervals `(lo, hi)` of `∇_a f(B) h` on every sub-box, `h` in
        `[h_lo, h_hi]` (`[↓min(g_lo h_lo, g_lo h_hi), ↑max(g_hi h_lo, g_hi h_hi)]`): they
        depend on the sub-box and `h` alone, so they are computed once per grid."""
        cache = self.__dict__.setdefault("_scaled", {})
        if (h_lo, h_hi) not in cache:
            with np.errstate(all="ignore"):
                cache[h_lo, h_hi] = [(_dn(np.minimum(g_lo * h_lo, g_lo * h_hi)),
                                      _up(np.maximum(g_hi * h_lo, g_hi * h_hi)))
                                     for g_lo, g_hi in self.grad]
        return cache[h_lo, h_hi]

    @property
    def finite(self) -> bool:
        """Whether every end point is finite (read once: the arrays are not changed after
        `_compute`, and every residual bound of the grid asks)."""
        if "_finite" not in self.__dict__:
            arrays = [*self.fm, *self.fb] + [a for g in self.grad for a in g]
            self._finite = all(bool(np.isfinite(a).all()) for a in arrays)
        return self._finite


def _ball_floats(balls):
    """(lo, hi) float arrays enclosing each ball (see the module docstring), of a list or
    an object array of balls (`ball_arrays.float_ends`)."""
    if not isinstance(balls, np.ndarray):
        balls = balls_of(balls)
    return float_ends(balls)[1:]


def _axis_balls(m: int):
    """Per index `i < m`: Arb balls of the mid-point `(i + 1/2)/m` and of the side
    `[i/m, (i+1)/m]` (kept >= 0, as `Target._balls` does: coordinates are >= 0 on the cube).
    Each ball contains the exact rational point or interval (Arb rounds outward)."""
    ends = [arb(i) / m for i in range(m + 1)]
    mids = [arb(2 * i + 1) / (2 * m) for i in range(m)]
    sides = [ends[i].union(ends[i + 1]) for i in range(m)]
    sides = [b if b >= 0 else b.nonnegative_part() for b in sides]
    return mids, sides


#: grids of fewer sub-boxes than this are done in Arb (as fast there, and coarse grids
#: keep the enclosures, hence the coefficients of a build, they always had)
MIN_VECTOR_BOXES = 4096


def _joined(parts):
    """One f data tuple `(fm, fb, grads, ok)` of the blocks `parts`, in order."""
    if len(parts) == 1:
        return parts[0]
    cat = np.concatenate
    return ((cat([p[0][0] for p in parts]), cat([p[0][1] for p in parts])),
            (cat([p[1][0] for p in parts]), cat([p[1][1] for p in parts])),
            [(cat([p[2][a][0] for p in parts]), cat([p[2][a][1] for p in parts]))
             for a in range(len(parts[0][2]))],
            cat([p[3] for p in parts]))


def rows(target, m: int, first: int, stop: int):
    """One work unit: f data (float intervals) for the sub-boxes of side `1/m` whose first
    index is in [first, stop) (`index_rows` on that slab, in C order). Each block's data
    go straight into the unit's arrays (no per-block arrays joined at the end: no second
    copy of the unit's data alive while it is made)."""
    dim = target.dim
    per_row = m ** (dim - 1)
    count = (stop - first) * per_row
    block = per_row * max(1, work_units.BLOCK_BOXES // per_row)       # whole rows
    pair = lambda: (np.empty(count), np.empty(count))                 # noqa: E731
    out = (pair(), pair(), [pair() for _ in range(dim)], np.empty(count, dtype=bool))

    def fill(a, b):
        data = _slab(target, m, first + a // per_row, first + b // per_row)
        for (lo, hi), (to_lo, to_hi) in zip([data[0], data[1], *data[2]],
                                            [out[0], out[1], *out[2]]):
            to_lo[a:b], to_hi[a:b] = lo, hi
        out[3][a:b] = data[3]
    work_units.blockwise(fill, count, block)
    return out


def _slab(target, m: int, first: int, stop: int):
    """`rows` of one block."""
    dim = target.dim
    shape = (stop - first,) + (m,) * (dim - 1)
    if dim > 1 and m ** dim >= MIN_VECTOR_BOXES:
        # the slab is a whole grid: each coordinate as an axis of an open mesh, so a part of
        # f that depends on fewer coordinates (sin(pi x1) in sin(pi x1) cos(pi x2)) is computed
        # once per row, not per sub-box; numpy broadcasting gives every sub-box the same
        # operations on the same floats, so the data are identical to the flat path's
        mesh = work_units.row_mesh(np.arange(first, stop), np.arange(m), dim)
        return index_rows(target, m, mesh, shape)
    index = np.indices(shape).reshape(dim, -1)
    index[0] += first
    return index_rows(target, m, index)


def index_rows(target, m: int, index, mesh_shape: tuple | None = None):
    """f data (float intervals, gradient usable flags) for the sub-boxes of side `1/m` with
    the given integer indices (`index` of shape (d, N), one column per sub-box).

    Same enclosures as `enclosure.sub_box` (mid-point value, gradient over the box, value
    over the box; a gradient with a non-finite entry is not used), from two runs of the
    target's program over all these sub-boxes at once in `certify.engine.intervals`: the
    inputs are the exact float points `(i + 1/2)/m` and boxes `[i/m, (i+1)/m]` (exact for
    `m` a power of two, else rounded outward and kept >= 0), every operation rounds outward
    and every elementary function adds a proven remainder, so each float interval contains
    the exact value (module docstring). The sub-boxes where that gives no finite enclosure
    are computed again in Arb, one by one (balls containing the exact rational box). The
    data of a sub-box depends on its index and the grid alone, never on the other indices
    asked with it; grids of fewer than `MIN_VECTOR_BOXES` sub-boxes are done all in Arb.
    With `mesh_shape`, `index` is an open mesh (one broadcastable integer array per axis,
    `rows`) of the sub-boxes of that shape, taken in C order.
    """
    dim = target.dim
    if mesh_shape is None:
        index = np.asarray(index).reshape(dim, -1)
        if m ** dim < MIN_VECTOR_BOXES:     # by the grid, never the unit: same data anywhere
            return _rows_arb(target, m, list(map(tuple, index.T.tolist())))
        if index.shape[1] > work_units.BLOCK_BOXES:
            return _joined(work_units.blockwise(
                lambda a, b: index_rows(target, m, index[:, a:b]), index.shape[1]))
        axes, count = index.astype(float), index.shape[1]
    else:
        axes, count = [a.astype(float) for a in index], math.prod(mesh_shape)
    spread_by = None
    if mesh_shape is None and dim > 1 and count >= 256:
        # scattered sub-boxes: each coordinate's distinct values once (`gathered`)
        distinct = [np.unique(row, return_inverse=True) for row in index]
        if 2 * sum(len(values) for values, _ in distinct) <= count:
            axes, spread_by = [values.astype(float) for values, _ in distinct], \
                [inverse.reshape(-1) for _, inverse in distinct]
    lo, hi = _axis_interval(axes, m, 0), _axis_interval(axes, m, 1)
    mid = _axis_interval([2 * a + 1 for a in axes], 2 * m, 0)
    with np.errstate(all="ignore"):
        box = [IntervalArray(a[0], b[1]) for a, b in zip(lo, hi)]
        mid = [IntervalArray(a, b) for a, b in mid]
        if spread_by is None:
            value, f_box, grad = target.box_intervals(mid, box)
        else:
            value, f_box, grad = target.box_intervals(
                axis_inputs(mid, spread_by), axis_inputs(box, spread_by), GATHER)
            value, f_box, grad = spread(value), spread(f_box), [spread(g) for g in grad]
    parts = [value, f_box, *grad]
    shape = mesh_shape or (count,)
    parts = [(np.array(np.broadcast_to(p.lo, shape)).reshape(-1),      # own, writable copies
              np.array(np.broadcast_to(p.hi, shape)).reshape(-1)) for p in parts]
    fm, fb, grads = parts[0], parts[1], parts[2:]
    finite = [np.isfinite(a) & np.isfinite(b) for a, b in parts]
    ok = np.logical_and.reduce(finite[2:]) if dim else np.ones(count, dtype=bool)
    redo = ~(finite[0] & finite[1] & ok)
    if redo.any():          # Arb on the sub-boxes the float intervals could not enclose
        where = np.nonzero(redo)[0]
        if mesh_shape is not None:
            index = np.stack([np.broadcast_to(a, mesh_shape).reshape(-1) for a in index])
        slow = _rows_arb(target, m, list(map(tuple, index[:, where].T.tolist())))
        fm[0][where], fm[1][where] = slow[0]
        fb[0][where], fb[1][where] = slow[1]
        for axis in range(dim):
            grads[axis][0][where], grads[axis][1][where] = slow[2][axis]
        ok[where] = slow[3]
    return fm, fb, grads, ok


def _axis_interval(index: np.ndarray, m: int, offset: int):
    """Per axis, float intervals `[lo, hi]` around `(index + offset) / m` (exact when `m` is
    a power of two; never below 0, as the cube's coordinates)."""
    exact = m & (m - 1) == 0
    out = []
    for row in index:
        value = (row + offset) / m
        if exact:
            out.append((value, value))
        else:
            out.append((np.maximum(_dn(value), 0.0), _up(value)))
    return out


def _rows_arb(target, m: int, indices):
    """f data in Arb for the given sub-box indices (the fallback of `rows`)."""
    mids, sides = _axis_balls(m)
    return box_rows(target, indices, mids.__getitem__, sides.__getitem__)


def box_rows(target, indices, mid, side):
    """f data (float intervals, gradient usable flags) in Arb for the sub-boxes with these
    indices, `mid(i)` / `side(i)` the balls of the mid-point / side of index `i` on an axis:
    the balls of `Target.box_balls`, sub-box by sub-box (`Target.boxes_balls`)."""
    dim = target.dim
    fm, fb, grad = _box_balls(target, [tuple(i) for i in indices], mid, side)
    finite = np.logical_and.reduce([np.frompyfunc(arb.is_finite, 1, 1)(g).astype(bool)
                                    for g in grad]) if dim else np.ones(len(fm), dtype=bool)
    zero = arb(0)
    grads = [np.where(finite, g, zero) for g in grad]
    return (_ball_floats(fm), _ball_floats(fb), [_ball_floats(g) for g in grads],
            np.asarray(finite, dtype=bool))


def _box_balls(target, indices: list, mid, side) -> tuple:
    """`Target.boxes_balls` of the sub-boxes with these indices."""
    from .ball_arrays import balls_of
    return target.boxes_balls([balls_of(mid(i[a]) for i in indices) for a in range(target.dim)],
                              [balls_of(side(i[a]) for i in indices) for a in range(target.dim)])


def f_data(target, m: int) -> FData | None:
    """f data on the sub-boxes of side `1/m`, cached for the current target; None when an
    enclosure failed (ArithmeticError): callers then use the Arb path."""
    cache = target_cache(target, "f data")
    if m in cache:
        return cache[m]
    try:
        data = _compute(target, m)
    except ArithmeticError:         # an enclosure failed: the Arb path decides (and says so)
        data = None
    cache[m] = data
    return data


def _compute(target, m: int) -> FData:
    dim = target.dim
    if work_units.scheduler() is not None:
        client = work_units.dask_client(work_units.scheduler())
        units = work_units.slabs(m, 16)
        futures = client.map(rows, [target] * len(units), [m] * len(units),
                             [a for a, _ in units], [b for _, b in units], pure=False)
        parts = client.gather(futures)
    else:                   # in blocks, over the `workers` threads if there are some
        parts = [rows(target, m, 0, m)]
    shape = (m,) * dim

    def join(select):           # one part: its own arrays (`rows` makes fresh ones)
        if len(parts) == 1:
            return select(parts[0]).reshape(shape)
        return np.concatenate([select(p) for p in parts]).reshape(shape)

    data = FData((join(lambda p: p[0][0]), join(lambda p: p[0][1])),
                 (join(lambda p: p[1][0]), join(lambda p: p[1][1])),
                 [(join(lambda p, a=a: p[2][a][0]), join(lambda p, a=a: p[2][a][1]))
                  for a in range(dim)],
                 join(lambda p: p[3]))
    for axis in range(dim):
        lo, hi = data.grad[axis]
        lo[~data.grad_ok] = 0.0
        hi[~data.grad_ok] = 0.0
    return data


def clear_cache() -> None:
    _CACHES.clear()
    _INTERVALS.clear()
    _CACHE_TARGET[0] = None


def prefetch(target, grids, k: int) -> None:
    """Compute (under the current `workers`) the f data of every grid the checker will use."""
    if applies(k):
        for n in sorted(set(grids)):
            f_data(target, n * k)


# --------------------------------------------------------------------------- nodal values

#: `nodal_interval` keeps the intervals of this many large value arrays (read-only): a
#: level's nodal values are asked for by its star bounds and again by its node residuals
KEEP_INTERVALS = 2
#: arrays of fewer values are not kept (computing them is cheaper than comparing)
KEEP_FROM = 4096
_INTERVALS: list = []


def nodal_interval(values):
    """Float intervals around exact nodal values (`nodal.Nodal.interval`): the float itself
    where it is the value, else its two neighbours. `values`: a `Nodal`, or an array of
    exact rationals (made a `Nodal` first). Large arrays' intervals are kept (read-only,
    `KEEP_INTERVALS`) by their exact values, compared in full (a copy of the numerators
    is kept: callers change theirs in place), and given again for the same values."""
    values = Nodal.of(values)
    if values.size < KEEP_FROM:
        return values.interval()
    flat = values.num.reshape(-1)
    for i, (den, num, out) in enumerate(_INTERVALS):
        if den == values.den and num.size == flat.size and num.dtype == flat.dtype \
                and np.array_equal(num, flat):
            _INTERVALS.insert(0, _INTERVALS.pop(i))
            return tuple(a.reshape(values.shape) for a in out)
    out = tuple(a.reshape(-1) for a in values.interval())
    for array in out:
        array.flags.writeable = False
    _INTERVALS.insert(0, (values.den, flat.copy(), out))
    del _INTERVALS[KEEP_INTERVALS:]
    return tuple(a.reshape(values.shape) for a in out)


# --------------------------------------------------------------------------- enclosures

def _perm_offsets(perm):
    offsets, vertex = [(0,) * len(perm)], [0] * len(perm)
    for axis in perm:
        vertex[axis] += 1
        offsets.append(tuple(vertex))
    return offsets


#: residual bounds kept for the grid last computed on, most recently used first: the
#: builder asks again for the same nodal values (the balanced reference of every shrink
#: rule, the last trial of a rule, the final approximant); of the other grids only the
#: most recent (the approximant a level ended with, which the checker asks for again in
#: the same process) is kept
KEEP_BOUNDS = 4


def residual_bounds(target, values: np.ndarray, n: int, k: int, found=None):
    """`{perm: (lo, hi)}`, float arrays over the cells `(n,)*d`: rigorous bounds of
    `f - A_T` on every simplex `T = (cell, perm)` of the grid with `n` intervals a side,
    `A` the piecewise-linear interpolant of the exact nodal `values`. None when not
    applicable or not finite (use the Arb path).

    The result depends on the target, `n`, `k` and the exact values alone, so it is kept
    (`KEEP_BOUNDS` per grid, by exact value: `_canonical`) and given again, read-only, to
    whoever asks for the same values; `found`, what this call gave in another process
    (`level_ahead`), is kept as if computed here."""
    if not applies(k):
        return None
    values = Nodal.of(values)
    memo = target_cache(target, "residual bounds").setdefault((n, k), [])
    key = _canonical(values)
    for i, (other, out) in enumerate(memo):
        if _same(key, other):
            memo.insert(0, memo.pop(i))
            return out
    out = found
    if out is None:
        data = f_data(target, n * k)
        if data is None or not data.finite:
            return None
        nodal = nodal_interval(values)
        out = residual_bounds_from(data, nodal, n, k)
        if out is not None:         # ∩ the second-order bounds (smooth targets, d >= 2)
            from . import curvature
            curvature.tighten(target, n, nodal, out)
    for lo, hi in (out or {}).values():
        lo.flags.writeable = hi.flags.writeable = False
    memo.insert(0, (key, out))
    del memo[KEEP_BOUNDS:]
    for grid, other in target_cache(target, "residual bounds").items():
        if grid != (n, k):          # another level's grid: its most recent bounds only
            del other[1:]
    return out


def _canonical(values: Nodal) -> tuple:
    """`(den, num)` of the values in lowest terms where `den` is a power of two and the
    numerators are int64 (a copy: the caller may change its array), else as they are."""
    num, den = values.num, values.den
    if num.dtype == np.int64 and not den & (den - 1) and num.size:
        common = int(np.bitwise_or.reduce(num.ravel())) | den
        shift = (common & -common).bit_length() - 1
        if shift:
            return den >> shift, num >> shift
    return den, num.copy()


def _same(a: tuple, b: tuple) -> bool:
    """Whether two `_canonical` forms are the same values (a sparse sample first)."""
    if a[0] != b[0] or a[1].shape != b[1].shape:
        return False
    x, y = a[1].ravel(), b[1].ravel()
    step = max(1, x.size // 64)
    return bool(np.array_equal(x[::step], y[::step]) and np.array_equal(x, y))


#: `residual_bounds_from` works on blocks of this many cells (whole rows): its ~80 passes
#: per sub-box then stay in cache (some 15-20% faster than over a whole grid; every
#: operation is elementwise, so the floats are the same)
BLOCK_CELLS = 1 << 14


def residual_bounds_from(data: FData, nodal, n: int, k: int):
    """`residual_bounds` from f data and nodal float intervals (see the docstring), in
    blocks of whole rows of cells (`BLOCK_CELLS`)."""
    vlo, vhi = nodal
    dim = vlo.ndim
    h = 1.0 / n
    h_lo, h_hi = (h, h) if Fraction(h) == Fraction(1, n) else (_dn(h), _up(h))
    half = 1.0 / (2 * k)                          # exact: k is a power of two
    gh = data.scaled_gradient(h_lo, h_hi)
    rows = max(1, BLOCK_CELLS // n ** (dim - 1))
    out = {}
    with np.errstate(all="ignore"):
        for perm in itertools.permutations(range(dim)):
            lo_t, hi_t = np.empty((n,) * dim), np.empty((n,) * dim)
            for first in range(0, n, rows):
                stop = min(n, first + rows)
                lo_t[first:stop], hi_t[first:stop] = _bounds_block(
                    data, gh, vlo, vhi, perm, n, k, half, first, stop)
            if not (np.isfinite(lo_t).all() and np.isfinite(hi_t).all()):
                return None
            out[perm] = (lo_t, hi_t)
    return out


def _bounds_block(data: FData, gh, vlo, vhi, perm, n: int, k: int, half: float,
                  first: int, stop: int):
    """`residual_bounds_from`'s `(lo, hi)` of the simplex `perm` of the cells whose first
    index is in `[first, stop)`."""
    dim = vlo.ndim

    def cells(off):             # the block's cells shifted by a vertex offset
        return (slice(first + off[0], stop + off[0]),) + tuple(slice(o, o + n) for o in off[1:])
    verts = [(vlo[cells(off)], vhi[cells(off)]) for off in _perm_offsets(perm)]
    diffs = [(_dn(verts[j + 1][0] - verts[j][1]), _up(verts[j + 1][1] - verts[j][0]))
             for j in range(dim)]
    spread = None
    for d_lo, d_hi in diffs:
        part = _up(np.maximum(np.abs(d_lo), np.abs(d_hi)) * half)
        spread = part if spread is None else _up(spread + part)
    lo_t = hi_t = None
    for sub in itertools.product(range(k), repeat=dim):
        if not meets(sub, perm):
            continue
        sl = (slice(first * k + sub[0], stop * k, k),) + tuple(slice(s, None, k)
                                                               for s in sub[1:])
        a_lo, a_hi = verts[0]
        for j, axis in enumerate(perm):
            t = (sub[axis] + 0.5) / k          # exact, >= 0
            a_lo = _dn(a_lo + _dn(diffs[j][0] * t))
            a_hi = _up(a_hi + _up(diffs[j][1] * t))
        fb_lo, fb_hi = data.fb[0][sl], data.fb[1][sl]
        lo = _dn(_dn(fb_lo - a_hi) - spread)
        hi = _up(_up(fb_hi - a_lo) + spread)
        term = None
        for j, axis in enumerate(perm):
            gh_lo, gh_hi = gh[axis][0][sl], gh[axis][1][sl]
            e = np.maximum(np.abs(_dn(gh_lo - diffs[j][1])),
                           np.abs(_up(gh_hi - diffs[j][0])))
            part = _up(e * half)
            term = part if term is None else _up(term + part)
        fm_lo, fm_hi = data.fm[0][sl], data.fm[1][sl]
        mv_lo = _dn(_dn(fm_lo - a_hi) - term)
        mv_hi = _up(_up(fm_hi - a_lo) + term)
        ok = data.grad_ok[sl]
        lo = np.where(ok, np.maximum(lo, mv_lo), lo)
        hi = np.where(ok, np.minimum(hi, mv_hi), hi)
        lo_t = lo if lo_t is None else np.minimum(lo_t, lo)
        hi_t = hi if hi_t is None else np.maximum(hi_t, hi)
    return lo_t, hi_t


def star_bounds(target, values: np.ndarray, h: Fraction, k: int):
    """`{node: (lo_z, hi_z)}` as `construction.star_bounds`, or None (use the Arb path);
    the bounds are floats (exact numbers, as good as the `Fraction`s of the same value)."""
    n = values.shape[0] - 1
    if Fraction(h) != Fraction(1, n):
        return None
    bounds = residual_bounds(target, values, n, k)
    if bounds is None:
        return None
    dim = values.ndim
    shape = (n + 1,) * dim
    node_lo = np.full(shape, np.inf)
    node_hi = np.full(shape, -np.inf)
    for perm, (lo_t, hi_t) in bounds.items():
        offsets = _perm_offsets(perm)
        for off in offsets:           # the cell's simplex `perm` contains these vertices
            sl = tuple(slice(o, o + n) for o in off)
            node_lo[sl] = np.minimum(node_lo[sl], lo_t)
            node_hi[sl] = np.maximum(node_hi[sl], hi_t)
    return StarBounds(node_lo.ravel(), node_hi.ravel(), shape)


class StarBounds(Mapping):
    """`{node: (lo_z, hi_z)}` (floats, nodes in lexicographic order), read from flat float
    arrays `lo`, `hi` in that order (kept for whole-array work on them); no per-node
    entries are made unless asked for (a level's callers mostly use the arrays)."""

    def __init__(self, lo: np.ndarray, hi: np.ndarray, shape: tuple):
        self.lo, self.hi, self.shape = lo, hi, tuple(shape)

    def __getitem__(self, node):
        try:
            i = int(np.ravel_multi_index(tuple(node), self.shape))
        except (ValueError, TypeError):
            raise KeyError(node) from None
        return float(self.lo[i]), float(self.hi[i])

    def __iter__(self):
        return itertools.product(*(range(m) for m in self.shape))

    def __len__(self) -> int:
        return self.lo.size

    def values(self) -> list:
        return list(zip(self.lo.tolist(), self.hi.tolist()))

    def items(self) -> list:
        return list(zip(self, self.values()))
