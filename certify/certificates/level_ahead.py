"""The next level's f data, computed ahead in a forked worker while this level is built.

Under `--jobs`, the builder's level on the grid of `n` cells a side is followed by the one
on `2n` (ratio 2). What that level needs first and does not depend on the coefficients
still being chosen can be computed meanwhile, in a forked worker (`work_units.ahead`):

- the f data of its sub-boxes (`vectorised.f_data`, for its star bounds and as the grid
  prover's first subdivision);
- the Arb balls of f at its nodes, as the grid prover keeps them (`anchored_grid`),
  except at the nodes it takes from the grid `m/2` (those of even indices);
- its second-order bounds (`curvature.bounds`, `slack`, `node_values`).

Each of these depends on the target, the grid and the point or box alone, so the values
taken back are the very floats the level would have computed itself; the parent puts them
in its caches (`take`) before the level starts, and computes anything missing as before.

Within a level, the simplex bounds of its balanced coefficients (`balanced_bounds`: what
`surplus._cap` compares with once the proof rounds are done) are computed meanwhile in a
background worker, and kept if it has finished by then (`take_bounds`).
"""

from __future__ import annotations

import numpy as np

from ..engine import curvature, vectorised, work_units
from . import anchored_grid

#: levels whose grid has at least this many nodes are computed ahead (smaller ones cost
#: less than the fork)
AHEAD_NODES = 32768
#: levels whose grid has at least this many nodes have their balanced bounds computed
#: meanwhile (`balanced_bounds`): on smaller ones the proof rounds end before the worker
#: (peaks2d `--grades 8`, level 7: the worker not done, its fork some 0.05 s lost)
BALANCED_AHEAD_NODES = 131072


def wanted(target, m: int, k: int) -> bool:
    """Whether the level on the grid `m` is worth computing ahead here (`--jobs`, large)."""
    return (m + 1) ** target.dim >= AHEAD_NODES and work_units.may_fork(2, 2) \
        and vectorised.applies(k)


def start(target, m: int, k: int) -> list:
    """Forked workers computing the grid `m`'s data (`compute`: the node balls in one, the
    rest in the other), none unless `wanted`."""
    if not wanted(target, m, k):
        return []
    return [work_units.ahead(lambda part=part: compute(target, m, k, part))
            for part in ("nodes", "boxes")]


def compute(target, m: int, k: int, part: str = "all") -> dict:
    """The grid `m`'s f data and curvature bounds (`part` "boxes"), node balls ("nodes"),
    or all (see the module docstring), as `{(owner, key): value}` of the caches they
    belong in."""
    out = {}
    if part != "boxes":
        out[("anchored_grid", ("f nodes", m))] = _node_floats(target, m)
    if part == "nodes":
        return out
    for n in {m * k, m * anchored_grid.START.get(target.dim, 1)}:
        out[("f data", n)] = vectorised.f_data(target, n)
    if curvature.applies(target):
        curvature.slack(target, m)
        curvature.node_values(target, m)
        store = vectorised.target_cache(target, "curvature")
        for key in (("bounds", m), ("slack", m), ("nodes", m)):
            if key in store:
                out[("curvature", key)] = store[key]
    return out


def _node_floats(target, m: int) -> tuple:
    """`anchored_grid.node_floats` at the nodes of the grid `m`, as the grid prover keeps
    them (an array over all nodes), NaN at the nodes of even indices (a quarter in d = 2):
    those are the nodes of the grid `m/2`, whose balls the prover takes from there."""
    shape = (m + 1,) * target.dim
    ids = np.arange(int(np.prod(shape)))
    if m % 2 == 0:
        ids = ids[~np.logical_and.reduce([i % 2 == 0 for i in np.unravel_index(ids, shape)])]
    out = tuple(np.full(int(np.prod(shape)), np.nan) for _ in range(5))
    for store, values in zip(out, anchored_grid.node_floats(target, m, ids)):
        store[ids] = values
    return out


def balanced_wanted(target, n: int, k: int) -> bool:
    """Whether the level on the grid `n` has its balanced bounds computed meanwhile."""
    return wanted(target, n, k) and (n + 1) ** target.dim >= BALANCED_AHEAD_NODES


def balanced_bounds(target, nodal, n: int, k: int):
    """The simplex bounds of the balanced level (nodal values `nodal`), the reference of
    `surplus._cap` (which asks for them once the level's proof rounds are done), computed
    meanwhile in a background worker (it takes the cycles the rounds leave: the waits for
    their workers), where `balanced_wanted`; `take_bounds` keeps them."""
    return work_units.ahead(lambda: vectorised.residual_bounds(target, nodal, n, k),
                            background=True)


def take_bounds(target, worker, nodal, n: int, k: int) -> None:
    """Keep in this process what `balanced_bounds`'s worker computed, if it has finished
    (the same floats: they depend on the exact values alone); else it is ended, and the
    bounds are computed here when asked for."""
    if worker is None:
        return
    try:
        if worker.ready():
            bounds = worker.result()
            vectorised.residual_bounds(target, nodal, n, k, found=bounds)
    except work_units.WorkerError:      # it died: an internal error, as in `found`
        raise
    except Exception:                   # noqa: BLE001 (computed here when asked for)
        pass
    finally:
        worker.cancel()


def found(workers: list) -> dict:
    """What the workers `start` made found; where one raised, nothing of its part (this
    process then computes those data itself, and meets the same error if the level needs
    them). A worker that died is `work_units.WorkerError`: an internal error, never a
    verdict."""
    out = {}
    try:
        for worker in workers:
            try:
                out.update(worker.result())
            except work_units.WorkerError:
                raise
            except Exception:                          # noqa: BLE001 (computed here instead)
                pass
    finally:
        for worker in workers:
            worker.cancel()
    return out


def take(target, found: dict | None) -> None:
    """Put what `compute` found in this process's caches, where not there yet (each value
    depends on its key alone: the same floats as computing it here)."""
    for (owner, key), value in (found or {}).items():
        cache = vectorised.target_cache(target, owner)
        if key in cache:
            continue
        if owner == "curvature" and key[0] == "slack":
            for array in value:
                array.flags.writeable = False           # shared: read only, as made
        cache[key] = value
