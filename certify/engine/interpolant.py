"""The yardstick: the sup error of the best nodal interpolant on the same grid.

`certify check` reports its certified sup bound of grade `k` divided by the sup error of
the P1 nodal interpolant `I_n f` on that grade's grid (mesh `1/n`, Freudenthal simplices):
the price of monotonicity. The interpolation error here is an **estimate** (floats, a dense
lattice of points in every cell plus random points), labelled as such in the report; it
proves nothing and nothing depends on it.
"""

from __future__ import annotations

import itertools
import math
from functools import lru_cache

import numpy as np

#: points per cell side of the sampling lattice, by dimension
LATTICE = {1: 16, 2: 4, 3: 2}
MAX_POINTS = 400_000


def interpolate_floats(nodal: np.ndarray, n: int, points: np.ndarray) -> np.ndarray:
    """`I_n f` at `points` (shape (m, d)) from float nodal values on the grid `n`."""
    if points.shape[1] != 1:
        return _interpolate_simplices(nodal, n, points)
    # the general loop's operations for d = 1 (`local - 0.0` is `local`), without its sort
    scaled = points[:, 0] * n
    cell = np.clip(np.floor(scaled).astype(int), 0, n - 1)
    local = scaled - cell
    out = (1 - local) * nodal[cell]
    out += local * nodal[cell + 1]
    return out


def _interpolate_simplices(nodal: np.ndarray, n: int, points: np.ndarray) -> np.ndarray:
    """`interpolate_floats` in any d: each point's Freudenthal simplex from the order of its
    local coordinates, the barycentric weights their successive differences."""
    m, dim = points.shape
    scaled = points * n
    cell = np.clip(np.floor(scaled).astype(int), 0, n - 1)
    local = scaled - cell
    order = np.argsort(-local, axis=1, kind="stable")
    ordered = np.take_along_axis(local, order, axis=1)
    vertex = cell.copy()
    out = (1 - ordered[:, 0]) * nodal[tuple(vertex.T)]
    rows = np.arange(m)
    for j in range(dim):
        vertex[rows, order[:, j]] += 1
        nxt = ordered[:, j + 1] if j + 1 < dim else 0.0
        out += (ordered[:, j] - nxt) * nodal[tuple(vertex.T)]
    return out


@lru_cache(maxsize=64)
def _estimate(target, n: int) -> float | None:
    dim = target.dim
    axis = np.arange(n + 1) / n
    grid = np.stack(np.meshgrid(*([axis] * dim), indexing="ij"), axis=-1).reshape(-1, dim)
    with np.errstate(all="ignore"):
        nodal = target.floats(grid).reshape((n + 1,) * dim)
    side = LATTICE.get(dim, 2)
    while side > 1 and (n * side + 1) ** dim > MAX_POINTS:
        side //= 2
    fine = np.arange(n * side + 1) / (n * side)
    points = np.stack(np.meshgrid(*([fine] * dim), indexing="ij"), axis=-1).reshape(-1, dim)
    rng = np.random.default_rng(0)
    extra = rng.random((4000, dim))
    with np.errstate(all="ignore"):
        if side == 1:       # the lattice is the grid itself: f there is `nodal` already
            values = np.concatenate([nodal.reshape(-1), target.floats(extra)])
        else:
            values = target.floats(np.concatenate([points, extra]))
        points = np.concatenate([points, extra])
        err = np.abs(values - interpolate_floats(nodal, n, points))
    if not np.all(np.isfinite(err)):
        return None
    return float(err.max())


def interpolation_error_estimate(target, n: int | None) -> float | None:
    """Estimated `max |f - I_n f|` on the grid with `n` intervals a side (None if unknown
    or the grid is too large to sample)."""
    if n is None or n < 1 or (n + 1) ** target.dim > MAX_POINTS:
        return None
    try:
        return _estimate(target, n)
    except (TypeError, ValueError, ArithmeticError):
        return None


# --------------------------------------------------------------------------- the (G1) floor

#: lattice points per simplex edge for the floor estimate, by dimension
FLOOR_LATTICE = {1: 32, 2: 8, 3: 4}
#: bisection steps that place a zero crossing on a lattice edge
BISECTIONS = 48
#: zero crossings of a simplex span R^d when their smallest singular value is above this
#: fraction of the largest (a straight zero set gives ~1e-13, a curved one ~1e-4 and up)
SPAN = 1e-8


def _lattice(dim: int, side: int) -> tuple[np.ndarray, np.ndarray]:
    """Increments `a` (shape (m, d), `Σ a <= 1`) of a lattice on the chain simplex, and
    the index pairs of neighbouring lattice points (one step of one increment)."""
    points = [c for c in itertools.product(range(side + 1), repeat=dim) if sum(c) <= side]
    where = {c: i for i, c in enumerate(points)}
    pairs = []
    for c, i in where.items():
        for j in range(dim):
            nxt = tuple(v + (t == j) for t, v in enumerate(c))
            if nxt in where:
                pairs.append((i, where[nxt]))
    return np.array(points, dtype=float) / side, np.array(pairs, dtype=np.int64)


def _chain_points(cells: np.ndarray, perm, increments: np.ndarray, n: int) -> np.ndarray:
    """Lattice points of the simplices `(cell, perm)`: shape (cells, m, d)."""
    steps = np.cumsum(increments[:, ::-1], axis=1)[:, ::-1]     # t_perm[i] = Σ_{j>=i} a_j
    local = np.zeros_like(steps)
    local[:, list(perm)] = steps
    return (cells[:, None, :] + local[None]) / n


def _spans(crossings: np.ndarray) -> bool:
    """Do these points (shape (m, d)) affinely span R^d (numerically)?"""
    if len(crossings) <= crossings.shape[1]:
        return False
    centred = crossings - crossings.mean(axis=0)
    s = np.linalg.svd(centred, compute_uv=False)
    return bool(s[0] > 0 and s[-1] > SPAN * s[0])


def floor_simplices(target, n: int) -> list[tuple[tuple[int, ...], tuple[int, ...], float]] | None:
    """`(cell, perm, max |f|)` for the simplices of the grid `n` on which, by the float
    estimate, the zero set of `f` is not contained in a hyperplane (Proposition F (a)):
    every grade that keeps (G1) and is affine there vanishes there. Floats, lattice
    points and bisection: an **estimate** (it can miss a crossing or misjudge flatness).
    None when the grid is too large to sample or `f` is not finite in floats."""
    dim = target.dim
    side = FLOOR_LATTICE.get(dim, 4)
    increments, pairs = _lattice(dim, side)
    if n < 1 or n ** dim * math.factorial(dim) * len(increments) > 16 * MAX_POINTS * 4:
        return None
    cells = np.stack(np.meshgrid(*([np.arange(n)] * dim), indexing="ij"), -1).reshape(-1, dim)
    a, b = pairs[:, 0], pairs[:, 1]
    out = []
    with np.errstate(all="ignore"):
        for perm in itertools.permutations(range(dim)):
            points = _chain_points(cells, perm, increments, n)
            values = target.floats(points.reshape(-1, dim)).reshape(points.shape[:2])
            if not np.all(np.isfinite(values)):
                return None
            for i in np.nonzero((values.max(axis=1) > 0) & (values.min(axis=1) < 0))[0]:
                v = values[i]
                change = (v[a] > 0) != (v[b] > 0)
                lo, hi, flo = points[i][a[change]], points[i][b[change]], v[a[change]]
                for _ in range(BISECTIONS):        # f(lo) and f(hi) stay on opposite sides
                    mid = (lo + hi) / 2
                    fm = target.floats(mid)
                    same = (fm > 0) == (flo > 0)
                    lo = np.where(same[:, None], mid, lo)
                    flo = np.where(same, fm, flo)
                    hi = np.where(same[:, None], hi, mid)
                if _spans((lo + hi) / 2):
                    out.append((tuple(int(c) for c in cells[i]), tuple(perm),
                                float(np.abs(v).max())))
    return out


def g1_floor_estimate(target, n: int | None) -> float | None:
    """Estimated floor of the sup error that (G1) allows on the grid `n` (THEOREM.md §15):
    the largest `|f|` on a `floor_simplices` simplex (0 if there is none). A grade keeping
    (G1) vanishes wherever the residual does, hence on the zero set of `f`; affine on a
    simplex where that set is not in a hyperplane, it is 0 there and the residual stays `f`.
    An estimate, never used as a bound."""
    if n is None:
        return None
    found = floor_simplices(target, n)
    if found is None:
        return None
    return max((peak for _, _, peak in found), default=0.0)
