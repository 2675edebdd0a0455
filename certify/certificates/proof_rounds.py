"""A round of the grid prover's proofs, for every permutation at once, split over workers.

The surplus builder asks `anchored_grid.Grid` to prove, round after round, the simplices
`(cell, π)` around the nodes whose coefficients changed: for each permutation `π` of the
coordinates (2 in d = 2, 6 in d = 3) a batch of cells. Here the batches of one round are
proved together (`proves_perms`): the simplices proved before for the same exact vertex
values are taken from `proof_memo`, and under `--jobs` the rest of all permutations is
split in one go over forked workers (`work_units.strided`: one fork per round, not one
per permutation; a fork of a large process costs its page copies, some tens of ms).

Before such a split, the Arb residuals of the vertices whose float enclosure touches 0
(some 20 µs each, and the strides of cells of every worker share most vertices) are
computed once, in chunks over the workers (`prime`), and kept where every worker finds
them. The simplices of one cell go to one worker (they share the cell's finer sub-boxes).
The workers send back their answers and the Arb residuals and Arb rows of f data they
computed (`box_data.news`), kept here as if computed here.

Each simplex's answer depends on its own cell, sign, depth and exact vertex values alone
(`anchored_grid`), and every value kept depends on its key alone, so the answers do not
depend on how the simplices were grouped, split or where they ran.
"""

from __future__ import annotations

import itertools
import os
from fractions import Fraction

import numpy as np

from ..engine import curvature, work_units
from . import box_data
from .proof_memo import ProofMemo

#: rounds of at least this many simplices to prove (over all permutations) are split over
#: the forked workers of `work_units.workers(jobs)` (some 2-10 µs each, where a fork of a
#: large process costs some 30-100 ms in page copies)
PARALLEL_CELLS = 32768
#: Arb residuals at vertices (some 20 µs each) computed before such a split are chunked
#: over the workers from this many on
PARALLEL_RESIDUALS = 4096


def proves_perms(grid, asks: list, values, depth: int | None = None) -> list[np.ndarray]:
    """`[grid.proves_cells(perm, cells, signs, values, depth) for perm, cells, signs in
    asks]`, all permutations' simplices proved (and split over workers) together."""
    depth = grid.depth if depth is None else min(depth, grid.depth)
    batches = []                     # per ask: (perm, cells, signs, out, live, memo)
    for perm, cells, signs in asks:
        perm = tuple(perm)
        cells = np.asarray(cells, dtype=np.int64).reshape(-1, grid.dim)
        signs = np.asarray(signs, dtype=np.int64).reshape(-1)
        out = np.zeros(len(cells), dtype=bool)
        live = np.nonzero(signs != 0)[0]
        # simplices proved before (by the builder) for these exact vertex values
        memo = ProofMemo.of(grid.target, grid.n, perm, values) if len(live) else None
        if memo is not None:
            known = memo[0].known(memo[1], np.take(cells, live, axis=0), signs[live], depth)
            out[live[known]] = True
            live = live[~known]
        batches.append((perm, cells, signs, out, live, memo))
    if sum(len(b[4]) for b in batches):
        _prove_parts(grid, batches, values, depth)
    for perm, cells, signs, out, live, memo in batches:
        if memo is not None:
            new = live[out[live]]
            memo[0].store(memo[1], np.take(cells, new, axis=0), signs[new], depth)
    return [b[3] for b in batches]


def _prove_parts(grid, batches: list, values, depth: int) -> None:
    """`grid._prove_cells` on the live simplices of every batch, over the strides of their
    concatenation (`work_units.strided`: under `--jobs`, a large round over forked
    workers)."""
    sizes = [len(b[4]) for b in batches]
    starts = np.concatenate(([0], np.cumsum(sizes)))
    total = int(starts[-1])
    cache, parent = grid.cache, os.getpid()
    if work_units.may_fork(total, PARALLEL_CELLS):
        prime(grid, [(perm, np.take(cells, live, axis=0))
                     for perm, cells, _, _, live, _ in batches], values)
    before = box_data.marks(cache) if work_units.jobs() > 1 else {}

    def part(index):
        answers = []
        for j, (perm, cells, signs, out, live, _) in enumerate(batches):
            mine = live[index[(index >= starts[j]) & (index < starts[j + 1])] - starts[j]]
            if len(mine):
                grid._prove_cells(perm, cells, signs, values, depth, mine, out)
            answers.append(out[mine])
        found = box_data.news(cache, before) if os.getpid() != parent else None
        return answers, found
    # the simplices of one cell in one part: they share the cell's finer sub-boxes, whose
    # f data would otherwise be computed in both (a quarter of a deep round's, in d = 2)
    by_cell = np.concatenate([np.take(b[1], b[4], axis=0) for b in batches]) \
        @ (grid.n ** np.arange(grid.dim, dtype=np.int64)) \
        if work_units.may_fork(total, PARALLEL_CELLS) else None
    for index, (answers, found) in work_units.strided(part, total, PARALLEL_CELLS, by_cell):
        for j, (perm, cells, signs, out, live, _) in enumerate(batches):
            out[live[index[(index >= starts[j]) & (index < starts[j + 1])] - starts[j]]] \
                = answers[j]
        if found:
            box_data.merge(grid.target, cache, found)


def prime(grid, asks: list, values) -> None:
    """Before the simplices `(cell, perm)` of `asks` (`[(perm, cells)]`) are split over
    forked workers: the Arb residuals `grid._vertex_data` will ask for at their vertices,
    computed here (in chunks over the workers, `work_units.chunked`) and kept in the
    grid's memo, so that the workers, whose strides of cells share most vertices, do not
    each compute them all again. Those of the plain enclosure (the second-order proof's)
    where that proof runs: a superset of the sharp one's (the sharp interval lies inside
    the plain one). Each is a function of its node and value alone: the same floats
    wherever computed."""
    ids = grid.vertex_ids(asks)
    keys: list = []
    grid._vertex_data(ids, values, plain=curvature.applies(grid.target), arb=keys)
    memo = grid.cache.setdefault(("arb residuals", grid.n), {})
    missing = [key for key in keys if key not in memo]

    def chunk(part):
        return [grid._arb_residual(node, Fraction(num, den)) for node, num, den in part]
    found = work_units.chunked(chunk, missing, PARALLEL_RESIDUALS)
    memo.update(zip(missing, itertools.chain.from_iterable(found)))
