"""The yardstick: the sup error of the best nodal interpolant on the same grid.

`certify check` reports its certified sup bound of grade `k` divided by the sup error of
the P1 nodal interpolant `I_n f` on that grade's grid (mesh `1/n`, Freudenthal simplices):
the price of monotonicity. The interpolation error here is an **estimate** (floats, a dense
lattice of points in every cell plus random points), labelled as such in the report; it
proves nothing and nothing depends on it.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

#: points per cell side of the sampling lattice, by dimension
LATTICE = {1: 16, 2: 4, 3: 2}
MAX_POINTS = 400_000


def interpolate_floats(nodal: np.ndarray, n: int, points: np.ndarray) -> np.ndarray:
    """`I_n f` at `points` (shape (m, d)) from float nodal values on the grid `n`."""
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
    points = np.concatenate([points, rng.random((4000, dim))])
    with np.errstate(all="ignore"):
        err = np.abs(target.floats(points) - interpolate_floats(nodal, n, points))
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
