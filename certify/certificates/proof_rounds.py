"""A round of the grid prover's proofs, for every permutation at once, split over workers.

The surplus builder asks `anchored_grid.Grid` to prove, round after round, the simplices
`(cell, π)` around the nodes whose coefficients changed: for each permutation `π` of the
coordinates (2 in d = 2, 6 in d = 3) a batch of cells. Here the batches of one round are
proved together (`proves_perms`): the simplices proved before for the same exact vertex
values are taken from `proof_memo`, and under `--jobs` the rest of all permutations is
split in one go over forked workers (`work_units.strided`: one fork per round, not one
per permutation; a fork of a large process costs its page copies, some tens of ms).

The simplices go to the workers by stripes of cells across the first coordinate,
alternately: a worker then computes the Arb residuals at the vertices of its own cells
(some 20 µs each, where the float enclosure touches 0), which only the cells along a
stripe's edge share with another worker, and the finer sub-boxes of its own cells, which
only the simplices of one cell share. The workers send back their answers and the Arb
residuals and Arb rows of f data they computed (`box_data.news`), kept here as if
computed here.

Each simplex's answer depends on its own cell, sign, depth and exact vertex values alone
(`anchored_grid`), and every value kept depends on its key alone, so the answers do not
depend on how the simplices were grouped, split or where they ran.
"""

from __future__ import annotations

import os

import numpy as np

from ..engine import work_units
from . import box_data
from .proof_memo import ProofMemo

#: rounds of at least this many simplices to prove (over all permutations) are split over
#: the forked workers of `work_units.workers(jobs)` (some 2-10 µs each, where a fork of a
#: large process costs some 30-100 ms in page copies, in the child and in the parent)
PARALLEL_CELLS = 32768
#: the same for a first round (`depth` 0: no box halved), whose simplices cost some 1 µs
#: each (peaks2d `--grades 8`: 130 424 of them took 0.10 s in one process and 0.15 s
#: split, 522 990 took 0.52 s in one and 0.32 s split)
PARALLEL_SHALLOW_CELLS = 262144
#: the stripes of cells (across the first coordinate) dealt to the workers in turn (one
#: per row of cells on grids of fewer rows)
STRIPES = 16

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
    threshold = PARALLEL_CELLS if depth else PARALLEL_SHALLOW_CELLS
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
    # by stripes of cells (see the module docstring): the simplices of one cell share its
    # finer sub-boxes (split by simplex, a quarter of a deep round's f data in d = 2 was
    # computed in both workers), neighbouring cells their vertices
    stripe = np.concatenate([np.take(b[1], b[4], axis=0)[:, 0] for b in batches]) \
        * min(STRIPES, grid.n) // grid.n if work_units.may_fork(total, threshold) else None
    for index, (answers, found) in work_units.strided(part, total, threshold, stripe):
        for j, (perm, cells, signs, out, live, _) in enumerate(batches):
            out[live[index[(index >= starts[j]) & (index < starts[j + 1])] - starts[j]]] \
                = answers[j]
        if found:
            box_data.merge(grid.target, cache, found)

