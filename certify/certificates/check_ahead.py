"""Under `--jobs`, the grades built so far checked in a forked worker while the last level
is built (`certify check --grades N`).

`check --grades N` builds `N` grades, then checks them. The check of grade `k` asks only
about grades `1..k` (their hats, the grid plan up to `k`, the samples' values of `F_k`),
so once grade `N-1` is built, grades `1..N-1` can be checked in a forked worker
(`work_units.ahead`, at a lower priority: the build is the longer path) while this
process builds the last level; `check` then checks grade `N` and takes the others'
results (`Earlier.taken`).

They are taken only where they answer the very questions the whole network's check asks:
the same options and sample points (the samples include the nodes of the last grid only
when it is small, and are made from the whole network's plan), a grid plan with every
grade on its grid (the samples' values are then interpolants, grade by grade), and the
same plan for those grades (a grade's step depends on grades `1..k` alone). Otherwise
they are checked again here: the report is the one of a check in one process.
"""

from __future__ import annotations

import hashlib
import os
import pickle

import numpy as np

from ..engine import work_units

#: the next-to-last grade's grid must have at least this many cells for its grades to be
#: checked ahead (smaller checks cost less than the fork)
AHEAD_CELLS = 16384
#: the worker's scheduling priority below this process's (`os.nice`): it uses what the
#: build leaves of the cores
NICE = 5


class Earlier:
    """The check of grades `1..count` running in a forked worker (`start`)."""

    def __init__(self, worker, count: int):
        self.worker, self.count = worker, count

    def taken(self, state) -> list | None:
        """The workers' `GradeData` of grades `1..count` where they answer the questions of
        `state` (the whole network's check; see the module docstring), else None."""
        found = self.worker.result()
        if found is None:
            return None
        options, points, plan, data = found
        if options != state.options or not np.array_equal(points, state.sampler.points) \
                or any(step is None for step in state.plan) \
                or plan != _digest(state.plan[:len(plan)]):
            return None
        return data

    def cancel(self) -> None:
        self.worker.cancel()


def _digest(plan) -> list[bytes]:
    """Per grid plan step: a digest of its grade, grid, hats and exact nodal values."""
    return [hashlib.sha256(pickle.dumps((step.grade, step.grid, step.hats, step.trivial,
                                         step.previous.num, step.previous.den, step.g.num,
                                         step.g.den))).digest() for step in plan]


def wanted(target, records: list, grades: int) -> bool:
    """Whether grades `records` (all but the last of `grades`) are worth checking ahead."""
    if len(records) != grades - 1 or not records or not work_units.may_fork(2, 2):
        return False
    from .checker import GRID_SAMPLE_NODES
    n = records[-1].mesh.denominator if records[-1].mesh.numerator == 1 else 0
    # on a smaller grid the whole network's samples would include its last grid's nodes,
    # not those of this one: other samples, so the result would not be taken
    return n ** target.dim >= AHEAD_CELLS and (n + 1) ** target.dim > GRID_SAMPLE_NODES


def start(target, records: list, params, check_options: dict) -> Earlier | None:
    """A forked worker checking the grades of `records` as `check(target, network,
    **check_options)` would, or None unless `wanted` (`check_options`: `p`, `timeout`,
    `jobs`)."""
    from . import checker
    from ..construction import network_from_levels
    from ..engine import taylor

    records = list(records)
    taylor.applies(target)              # its program compiled once, for both processes

    def task():
        from ..interfaces import progress
        progress._SINK = None           # no progress lines from the worker
        os.nice(NICE)
        network = network_from_levels(target, records, params, written=False)
        options = checker.options_of(**check_options)
        state = checker.grade_state(target, network, options)
        if any(step is None for step in state.plan):
            return None
        data = [checker.check_one(k, state) for k in range(1, len(records) + 1)]
        return options, state.sampler.points, _digest(state.plan), data
    worker = work_units.ahead(task, background=True)
    return Earlier(worker, len(records)) if worker is not None else None
