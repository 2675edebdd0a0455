"""The second-order proof of `sign·(f - A_T) >= 0` on a simplex, from the Hessian of `f`.

For `x` in a simplex `T` with vertices `v` (barycentric `λ_v(x)`), Taylor's formula with
integral remainder along the segment `[x, v]` (inside `T`, so inside its cell `C`) gives
`f(v) <= f(x) + ∇f(x)·(v - x) + Λ/2 |v - x|^2` with `Λ >= max(0, sup_C λ_max(∇²f))`;
weighting by `λ_v` and summing (`Σ λ_v (v - x) = 0`), `I_T f(x) <= f(x) + Λ/2 Σ λ_v |v - x|^2`.
The vertices of a Freudenthal simplex are corners of its cell, so they lie on the cell's
circumsphere (centre `c`, radius `R`, `R^2 = d h^2 / 4`) and `Σ λ_v |v - x|^2 =
R^2 - |x - c|^2 <= R^2`. With `ρ = f - A` for an affine `A` (so `I_T A = A`):

    ρ(x) >= I_T ρ(x) - Λ R^2 / 2 >= min_v ρ(v) - Λ R^2 / 2,

and the mirror for `-ρ` with `Λ >= max(0, -inf_C λ_min(∇²f))`. One Hessian enclosure per
cell decides the claim on all its simplices at once, tight where the claim is (where `f`
is concave and `A` interpolates `f`, `Λ = 0`): the hierarchical surplus on a smooth target
is proved in one step where the box-by-box proof (`certify.certificates.anchored_grid`) would have to
bisect towards every vertex. `λ_max <= max_a (H_aa + Σ_{b≠a} |H_ab|)` (Gershgorin) over the
interval Hessian of `C`, in float intervals rounded outward (`certify.intervals`).

Only for targets built from analytic operations (`lp._analytic`: no kinks, no roots), so
that the symbolic second derivatives are the Hessian everywhere on the cube; a cell whose
enclosure is not finite is not decided here.
"""

from __future__ import annotations

import itertools

import numpy as np

from .expression import _Program, _diff
from .intervals import INTERVALS, IntervalArray
from . import vectorised, work_units
from .vectorised import _dn, _up

def _cache(target) -> dict:
    """Per-target cache shared by the builder and the checker in one process."""
    return vectorised.target_cache(target, "curvature")


def _program(target):
    """The compiled Hessian entries `[∂_a ∂_b f for a <= b]`, or None (not analytic)."""
    cache = _cache(target)
    if "program" not in cache:
        from .lp import _analytic
        program = None
        if target.dim >= 2 and _analytic(target.expr):
            symbols = target.symbols
            first = [_diff(target.expr, s, {}) for s in symbols]
            entries = [_diff(first[a], symbols[b], {})
                       for a in range(target.dim) for b in range(a, target.dim)]
            program = _Program({"hess": entries}, symbols, set())
        cache["program"] = program
    return cache["program"]


def _on_grid(program, key: str, dim: int, count: int, interval) -> list | None:
    """The program's outputs `key` over the grid of `count^dim` points or cells, as flat
    float arrays `(lo, hi)` in C order; `interval(index)` the float interval `(lo, hi)` of
    a coordinate from its integer index (float arrays). Run over blocks of whole rows of the first
    axis (`work_units.blockwise`), each block as an open mesh (every coordinate an axis of
    its own, so a part of f in fewer coordinates is computed once per row): numpy
    broadcasting gives every point the operations and floats of one flat pass, and every
    operation is elementwise, so the data do not depend on the blocks. None where an output
    is not an interval array (a constant)."""
    per_row = count ** (dim - 1)
    block = per_row * max(1, work_units.BLOCK_BOXES // per_row)
    with np.errstate(all="ignore"):
        axis_lo, axis_hi = interval(np.arange(count, dtype=float))

    def run(a, b):
        first, stop = a // per_row, b // per_row
        with np.errstate(all="ignore"):
            xs = [IntervalArray(lo, hi) for lo, hi in
                  zip(work_units.row_mesh(axis_lo[first:stop], axis_lo, dim),
                      work_units.row_mesh(axis_hi[first:stop], axis_hi, dim))]
            values = program.run(key, INTERVALS, xs)
        if not all(isinstance(value, IntervalArray) for value in values):
            return None
        shape = (stop - first,) + (count,) * (dim - 1)
        return [(np.broadcast_to(v.lo, shape).astype(float).reshape(-1),
                 np.broadcast_to(v.hi, shape).astype(float).reshape(-1)) for v in values]
    parts = work_units.blockwise(run, count ** dim, block)
    if any(part is None for part in parts):
        return None
    return [(np.concatenate([p[j][0] for p in parts]), np.concatenate([p[j][1] for p in parts]))
            for j in range(len(parts[0]))]


def applies(target) -> bool:
    """Is the second-order proof available for this target (d >= 2, analytic)?"""
    return _program(target) is not None


def bounds(target, n: int):
    """Per cell of the grid with `n` intervals a side, `(upper, lower)`: float arrays of shape
    `(n,)*d` with `upper >= max(0, sup λ_max(∇²f))` and `lower >= max(0, -inf λ_min(∇²f))`
    on the cell (`inf` where the enclosure is not finite); None when not `applies`."""
    cache = _cache(target)
    key = ("bounds", n)
    if key in cache:
        return cache[key]
    program = _program(target)
    if program is None:
        return None
    dim = target.dim

    def box(index):              # [i/n, (i+1)/n], rounded outward, never below 0
        lo, hi = index / n, (index + 1) / n
        if n & (n - 1):
            lo, hi = np.maximum(_dn(lo), 0.0), _up(hi)
        return lo, hi
    try:
        out = _on_grid(program, "hess", dim, n, box)
    except (ArithmeticError, ValueError, AttributeError, TypeError):     # no enclosure: no proof
        out = None
    if out is None:
        cache[key] = None
        return None
    count = n ** dim
    entry = {}
    for (a, b), value in zip(((a, b) for a in range(dim) for b in range(a, dim)), out):
        entry[a, b] = entry[b, a] = value
    upper = np.full(count, -np.inf)
    lower = np.full(count, -np.inf)
    with np.errstate(all="ignore"):
        for a in range(dim):
            up, dn = entry[a, a][1], -entry[a, a][0]
            for b in range(dim):
                if b != a:
                    size = np.maximum(np.abs(entry[a, b][0]), np.abs(entry[a, b][1]))
                    up, dn = _up(up + size), _up(dn + size)
            upper, lower = np.maximum(upper, up), np.maximum(lower, dn)
    upper = np.where(np.isfinite(upper), np.maximum(upper, 0.0), np.inf)
    lower = np.where(np.isfinite(lower), np.maximum(lower, 0.0), np.inf)
    result = (upper.reshape((n,) * dim), lower.reshape((n,) * dim))
    cache[key] = result
    return result


def slack(target, n: int):
    """`(upper, lower)` per cell: `Λ R^2 / 2` for each sign (rounded up), the least
    `min_v sign·ρ(v)` the proof needs; None when not `applies`."""
    cache = _cache(target)
    key = ("slack", n)
    if key in cache:
        return cache[key]
    both = bounds(target, n)
    if both is None:
        return None
    half_r2 = _up(target.dim / (8.0 * n * n))            # R^2 / 2 = d h^2 / 8
    with np.errstate(all="ignore"):        # exactly 0 where Λ = 0 (f concave / convex)
        out = tuple(np.where(np.isfinite(b), np.where(b == 0, 0.0, _up(b * half_r2)), np.inf)
                    for b in both)
    for array in out:
        array.flags.writeable = False           # shared: read only
    cache[key] = out
    return out


def proves(target, n: int, cells: np.ndarray, signs: np.ndarray, rho: np.ndarray):
    """`[sign·(f - A_T) >= 0 proved]` for the simplices `(cell, π)` (`cells` of shape
    (N, d)) whose vertices, in the order of the chain of `π`, have `sign·ρ(v_i) >= rho[:, i]`
    (float lower bounds, shape (N, d+1)): a bool array (all False when not `applies`).

    `Σ_v λ_v |v - x|^2 <= Σ_v λ_v |v - p|^2` for any point `p` (the weighted mean `x`
    minimises it), so `sign·ρ(x) >= min_v (sign·ρ(v) - Λ |v - p|^2 / 2)`; tried with `p`
    the centre of the cell (`|v - p|^2 = R^2`) and with `p` each vertex `v_j` (along the
    chain `|v_i - v_j|^2 = |i - j| h^2`), which lets one vertex sit at `ρ = 0`."""
    need = slack(target, n)
    out = np.zeros(len(cells), dtype=bool)
    if need is None or not len(cells):
        return out
    signs = np.asarray(signs)
    at = tuple(np.asarray(cells, dtype=np.int64).T)
    centre = np.where(signs > 0, need[0][at], need[1][at])            # Λ R^2 / 2
    big = np.where(signs > 0, bounds(target, n)[0][at], bounds(target, n)[1][at])
    rho = np.where(np.isnan(rho), -np.inf, rho)
    with np.errstate(all="ignore"):
        edge = np.where(np.isfinite(big), np.where(big == 0, 0.0, _up(big * _up(0.5 / (n * n)))),
                        np.inf)                                               # Λ h^2 / 2
        ok = (rho >= centre[:, None]).all(axis=1)
        count = rho.shape[1]
        # Λ h^2 / 2 times |i - j|, per distance along the chain (rounded up)
        apart = [0.0] + [np.where(edge == 0, 0.0, _up(edge * k)) for k in range(1, count)]
        for j in range(count):
            fine = np.ones(len(cells), dtype=bool)
            for i in range(count):
                fine &= rho[:, i] >= apart[abs(i - j)]
            ok |= fine
        ok |= _best_point(rho, edge, ~ok)
    return (signs != 0) & ok


def _best_point(rho: np.ndarray, edge: np.ndarray, ask: np.ndarray) -> np.ndarray:
    """Where `ask`: is `rho[:, i] >= edge |v_i - p|^2` for all `i` at some point `p` (cell
    units, the simplex put on the chain `v_i = (1,…,1,0,…,0)`, `i` ones: distances do not
    depend on the order of the axes)? That is, do the balls around `v_i` of radii
    `sqrt(rho_i / edge)` meet. `p` is sought in floats (a few Frank-Wolfe steps on the dual,
    `max_μ Σ μ_i (R^2 - s_i) - |Σ μ_i (v_i - c)|^2`, `p = c + Σ μ_i (v_i - c)`); the
    inequalities are then checked at that `p` with rounding outward, so `p` needs no proof."""
    out = np.zeros(len(rho), dtype=bool)
    rows = np.nonzero(ask & np.isfinite(edge) & (edge > 0) & (rho >= 0).all(axis=1))[0]
    if not len(rows):
        return out
    count = rho.shape[1]
    dim = count - 1
    chain = np.tril(np.ones((count, dim)), -1)                  # v_i: the first i axes 1
    u = chain - 0.5
    r, e = rho[rows], edge[rows]
    a = dim / 4.0 - r / e[:, None]
    mu = np.full((len(rows), count), 1.0 / count)
    for step in range(40):
        q = mu @ u
        pick = np.argmax(a - 2.0 * q @ u.T, axis=1)
        gamma = 2.0 / (step + 2.0)
        mu *= 1.0 - gamma
        mu[np.arange(len(rows)), pick] += gamma
    p = 0.5 + mu @ u
    fine = np.ones(len(rows), dtype=bool)
    with np.errstate(all="ignore"):
        for i in range(count):
            gap = _up(np.abs(chain[i][None, :] - p))
            dist = np.zeros(len(rows))
            for axis in range(dim):
                dist = _up(dist + _up(gap[:, axis] * gap[:, axis]))
            fine &= r[:, i] >= _up(e * dist)
    out[rows] = fine
    return out


def node_slack(target, n: int):
    """`(upper, lower)` per node of the grid (shape `(n+1,)*d`): the largest cell `slack`
    over the cells around the node, None when not `applies`."""
    need = slack(target, n)
    if need is None:
        return None
    dim = target.dim
    out = []
    for cell in need:
        node = np.zeros((n + 1,) * dim)
        for shift in itertools.product((0, 1), repeat=dim):
            where = tuple(slice(s, s + n) for s in shift)
            node[where] = np.maximum(node[where], cell)
        out.append(node)
    return tuple(out)


def node_values(target, n: int):
    """Float intervals `(lo, hi)` of `f` at the nodes of the grid `n` (shape `(n+1,)*d`),
    None where not all finite (cached)."""
    cache = _cache(target)
    key = ("nodes", n)
    if key not in cache:
        dim = target.dim

        def point(index):
            x = index / n
            return (x, x) if not n & (n - 1) else (np.maximum(_dn(x), 0.0),
                                                   np.minimum(_up(x), 1.0))
        try:
            out = _on_grid(target._program, "value", dim, n + 1, point)
        except (ArithmeticError, ValueError, AttributeError):
            out = None
        if out is not None:
            lo, hi = (a.reshape((n + 1,) * dim) for a in out[0])
            out = (lo, hi) if np.isfinite(lo).all() and np.isfinite(hi).all() else None
        cache[key] = out
    return cache[key]


def tighten(target, n: int, nodal, bounds: dict) -> None:
    """Intersect the simplex bounds `{perm: (lo, hi)}` of `f - A` (float arrays over the
    cells; `nodal` the float intervals of `A` at the nodes) with the second-order ones,
    `min_v ρ(v) - Λ_+ R^2/2 <= ρ <= max_v ρ(v) + Λ_- R^2/2` (module docstring), in place."""
    need = slack(target, n)
    f = node_values(target, n) if need is not None else None
    if f is None:
        return
    vlo, vhi = nodal
    with np.errstate(all="ignore"):
        rho_lo, rho_hi = _dn(f[0] - vhi), _up(f[1] - vlo)
        for perm, (lo, hi) in bounds.items():
            least = most = None
            for off in vectorised._perm_offsets(perm):
                sl = tuple(slice(o, o + n) for o in off)
                least = rho_lo[sl] if least is None else np.minimum(least, rho_lo[sl])
                most = rho_hi[sl] if most is None else np.maximum(most, rho_hi[sl])
            low = np.where(np.isfinite(need[0]), _dn(least - need[0]), -np.inf)
            high = np.where(np.isfinite(need[1]), _up(most + need[1]), np.inf)
            bounds[perm] = (np.maximum(lo, low), np.minimum(hi, high))
