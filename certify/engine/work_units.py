"""Where the work runs: blocks here or over threads, Arb chunks over forked processes, f data
on a Dask cluster.

Inside `workers(jobs, scheduler)`:

- `blockwise(function, count)` runs `function(start, stop)` over cache-sized blocks of
  `range(count)`: the first here, the others over `jobs` threads (numpy lets go of the
  interpreter lock inside each operation on a block);
- `chunked(function, items, threshold)` runs `function` over contiguous chunks of a list in
  `jobs` forked processes (Arb work, which holds the interpreter lock);
- with a `scheduler`, `vectorised` sends the f data of whole grids to that Dask cluster
  (`dask_client`, `slabs`).

Every unit's result depends on its own items alone, so results do not depend on where or in
which blocks they ran; a forked child never uses its parent's threads.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np

_JOBS = 1
_SCHEDULER = None
_THREADS = None              # a pool of `_JOBS` threads inside `workers(jobs > 1)`
_CLIENTS: dict = {}


@contextmanager
def workers(jobs: int = 1, scheduler: str | None = None):
    """Inside this block, f data is computed in blocks over `jobs` threads (numpy lets go
    of the interpreter lock inside every operation on a block), Arb work in chunks over
    `jobs` forked processes (`chunked`), or the f data of whole grids on the Dask cluster
    whose scheduler is at `scheduler` (needs `dask[distributed]`). The units are
    independent blocks of sub-boxes; results do not depend on where they ran."""
    global _JOBS, _SCHEDULER, _THREADS
    previous = _JOBS, _SCHEDULER, _THREADS
    _JOBS, _SCHEDULER = max(1, int(jobs)), scheduler
    _THREADS = ThreadPoolExecutor(_JOBS) if _JOBS > 1 and scheduler is None else None
    try:
        yield
    finally:
        if _THREADS is not None:
            _THREADS.shutdown()
        _JOBS, _SCHEDULER, _THREADS = previous


def jobs() -> int:
    """Processes the current `workers` block allows (1 outside any)."""
    return _JOBS


_MAPPED = None               # (function, items) for forked `chunked` workers (inherited)


def _forget_threads() -> None:
    """In a forked child: the parent's threads did not come along, so its pool is not used
    (a task handed to it would wait forever); the child works serially."""
    global _THREADS
    _THREADS = None


os.register_at_fork(after_in_child=_forget_threads)


def _run_chunk(bounds: tuple[int, int]):
    function, items = _MAPPED
    return function(items[bounds[0]:bounds[1]])


def chunked(function, items, threshold: int) -> list:
    """`[function(chunk) for chunk]` over contiguous chunks of the list `items`, in order.

    Under `workers(jobs)` with `jobs > 1` and at least `threshold` items, the chunks run in
    `jobs` forked processes (the function and items are inherited, not pickled; only the
    results are); otherwise one chunk runs here. For a `function` whose result on each item
    depends on that item alone, the concatenated results are the same either way. Never
    forks inside a daemon worker, nor under a Dask scheduler (threads)."""
    global _MAPPED
    count = len(items)
    if (_JOBS < 2 or count < max(threshold, 2) or _SCHEDULER is not None
            or multiprocessing.current_process().daemon):
        return [function(items)]
    _MAPPED = (function, items)
    try:
        with multiprocessing.get_context("fork").Pool(_JOBS) as pool:
            return pool.map(_run_chunk, slabs(count, 4 * _JOBS))
    finally:
        _MAPPED = None


def dask_client(address: str):
    """A Dask client for `address`, kept for the process (connecting costs seconds)."""
    if address not in _CLIENTS:
        try:
            from distributed import Client
        except ImportError:
            from ..errors import UsageError
            raise UsageError(f"scheduler={address} needs Dask",
                             "pip install 'certify[dask]' (dask[distributed])") from None
        _CLIENTS[address] = Client(address, timeout=30)
    return _CLIENTS[address]


def slabs(m: int, parts: int) -> list[tuple[int, int]]:
    """`parts` contiguous ranges `[first, stop)` of `range(m)`, as even as they can be
    (fewer when `m` is small): `chunked`'s pieces, the Dask units' slabs of first sub-box
    indices."""
    bounds = np.linspace(0, m, max(1, min(parts, m)) + 1).astype(int)
    return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def scheduler() -> str | None:
    """The Dask scheduler of the current `workers` block (None outside one)."""
    return _SCHEDULER


#: sub-boxes per block of one program run: numpy passes over arrays of about a million
#: floats run 2-3x slower per element than over blocks of this size, which stay in cache
#: (every operation is elementwise, so the data do not depend on the blocks)
BLOCK_BOXES = 1 << 16


def blockwise(function, count: int, block: int | None = None) -> list:
    """`[function(start, stop)]` over the blocks `[start, stop)` of `range(count)`, in order.

    Blocks hold `block` items (default `BLOCK_BOXES`: smaller blocks, to give every thread
    some, measured slower under `--jobs 2`). The first block runs in this thread (lazy
    tables, such as those of the target's program, are made once), the others over the
    `workers` threads when there are some and this is the main thread. numpy lets
    go of the interpreter lock inside each operation, so elementwise work on large blocks
    runs in parallel; for a `function` whose result on a block depends on that block alone,
    the results are the same wherever and in whatever blocks they ran."""
    if block is None:
        block = BLOCK_BOXES
    starts = list(range(0, count, max(1, block))) or [0]
    stops = starts[1:] + [count]
    first = [function(starts[0], stops[0])]
    if _THREADS is None or threading.current_thread() is not threading.main_thread():
        return first + [function(a, b) for a, b in zip(starts[1:], stops[1:])]
    return first + list(_THREADS.map(function, starts[1:], stops[1:]))


def row_mesh(rows, axis, dim: int) -> list:
    """A block of whole grid rows as an open mesh: `rows` (the block's values of the first
    coordinate) along axis 0 and `axis` (the values of every other coordinate) along each
    other axis, each shaped to broadcast against the rest. A part of f in fewer coordinates
    is then computed once per row or column, and every point gets the operations and
    floats of a flat pass over all of them."""
    return [(rows if j == 0 else axis).reshape([-1 if i == j else 1 for i in range(dim)])
            for j in range(dim)]
