"""Where the work runs: blocks here or over threads, Arb chunks over forked processes, f data
on a Dask cluster.

Inside `workers(jobs, scheduler)`:

- `blockwise(function, count)` runs `function(start, stop)` over cache-sized blocks of
  `range(count)`: the first here, the others over `jobs` threads (numpy lets go of the
  interpreter lock inside each operation on a block);
- `chunked(function, items, threshold)` runs `function` over contiguous chunks of a list,
  and `strided(function, count, threshold)` over the index sets `range(j, count, jobs)`
  (or over groups of items dealt in turn), one here and the others each in a forked
  child (`forked`): Arb work and the grid prover's cells, which hold the interpreter lock;
- `ahead(task)` starts `task` in a forked child and goes on (`Ahead.result()` waits for
  it): the next levels' data while a level is built, the grades built so far while the
  last level is built (a `background` worker, at a lower priority), the other grades
  while the last is checked, a grade's integrals while it is scanned (their rounds dealt,
  `Deal`, to whichever process is free: the scanning one joins when its scan is done);
- `workers(forks=False)` (`forks_pay`: 1-D targets) forks nothing, and while forked
  workers hold the other cores `blockwise` uses no threads;
- with a `scheduler`, `vectorised` sends the f data of whole grids to that Dask cluster
  (`dask_client`, `slabs`).

Every unit's result depends on its own items alone, so results do not depend on where or in
which blocks they ran; a forked child never uses its parent's threads and never forks
again; an error in a child is raised in the parent, a child that dies is a `WorkerError`.
"""

from __future__ import annotations

import os
import pickle
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np

_JOBS = 1
_FORKS = True                # whether units may go to forked children (`workers(forks=)`)
_SCHEDULER = None
_THREADS = None              # a pool of `_JOBS` threads inside `workers(jobs > 1)`
_CLIENTS: dict = {}
_LIVE: set = set()           # the forked children running now (their pids)
_EXITING: set = set()        # children that sent their result, reaped later (`_reap`)


@contextmanager
def workers(jobs: int = 1, scheduler: str | None = None, forks: bool = True):
    """Inside this block, f data is computed in blocks over `jobs` threads (numpy lets go
    of the interpreter lock inside every operation on a block), Arb work in chunks over
    `jobs` forked processes (`chunked`; not with `forks=False`, see `forks_pay`), or the
    f data of whole grids on the Dask cluster whose scheduler is at `scheduler` (needs
    `dask[distributed]`). The units are independent blocks of sub-boxes; results do not
    depend on where they ran."""
    global _JOBS, _SCHEDULER, _THREADS, _FORKS
    previous = _JOBS, _SCHEDULER, _THREADS, _FORKS
    _JOBS, _SCHEDULER, _FORKS = max(1, int(jobs)), scheduler, bool(forks)
    _THREADS = ThreadPoolExecutor(_JOBS) if _JOBS > 1 and scheduler is None else None
    try:
        yield
    finally:
        if _THREADS is not None:
            _THREADS.shutdown()
        _JOBS, _SCHEDULER, _THREADS, _FORKS = previous
        _reap(block=True)


#: the smallest dimension whose work units are forked: in d = 1 every unit measured (a
#: level's f data and node balls, a round of proofs, the check of the last grade) costs
#: about as much as the page copies a fork of the process makes, or less (sine
#: `--grades 16`: slower under `--jobs 2` with forks), so 1-D runs use threads only
FORK_DIMENSION = 2


def forks_pay(dim: int) -> bool:
    """Whether work units of a `dim`-dimensional target go to forked workers (`workers`'s
    `forks`)."""
    return dim >= FORK_DIMENSION


def jobs() -> int:
    """Processes the current `workers` block allows (1 outside any)."""
    return _JOBS


def _forget_threads() -> None:
    """In a forked child: the parent's threads did not come along, so its pool is not used
    (a task handed to it would wait forever); the child works serially (one job)."""
    global _THREADS, _JOBS
    _THREADS, _JOBS = None, 1
    _LIVE.clear()
    _EXITING.clear()                # the parent's children: not this one's to reap


def _reap(block: bool = False) -> None:
    """Reap the children that sent their result and are exiting (`_EXITING`): the exit
    of a child of a large process (its page tables torn down, 6-16 ms for peaks2d
    `--grades 8`) is not waited for where its result is taken, but here, before the
    next fork (`block=False`: those done by then) and when the `workers` block ends."""
    for pid in list(_EXITING):
        try:
            done, _ = os.waitpid(pid, 0 if block else os.WNOHANG)
        except ChildProcessError:
            done = pid
        if done:
            _EXITING.discard(pid)


os.register_at_fork(after_in_child=_forget_threads)


class WorkerError(RuntimeError):
    """A forked worker ended without giving its result (killed, or its result could not be
    sent): the run stops with an internal error, never with a verdict."""


def may_fork(count: int, threshold: int) -> bool:
    """Whether `count` items at a `threshold` go to forked workers here."""
    return (_JOBS > 1 and _FORKS and count >= max(threshold, 2) and _SCHEDULER is None
            and not in_pool_worker())


def in_pool_worker() -> bool:
    """Whether this process is a (daemonic) worker of a `multiprocessing` pool, which may
    not start processes of its own. `multiprocessing` is imported here, when first asked
    (under `--jobs`): some 4 ms of every run otherwise."""
    import multiprocessing
    return multiprocessing.current_process().daemon


def fork_pool(jobs: int):
    """A `multiprocessing` pool of `jobs` forked processes (whole grades, hard simplices)."""
    import multiprocessing
    return multiprocessing.get_context("fork").Pool(jobs)


def _child(task, write: int) -> None:
    """In a forked child: run `task`, send `(True, result)` or `(False, exception)` down the
    pipe `write`, and leave at once (`os._exit`: nothing of the parent's is flushed or run
    at exit)."""
    status = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_DFL)     # Ctrl-C: the parent reports it
        try:
            outcome = (True, task())
        except BaseException as exc:                     # noqa: BLE001 (sent to the parent)
            outcome = (False, exc)
        try:
            data = pickle.dumps(outcome, pickle.HIGHEST_PROTOCOL)
        except Exception as exc:                         # noqa: BLE001
            data = pickle.dumps((False, WorkerError(f"worker result not sent: {exc!r}")))
        with os.fdopen(write, "wb") as out:
            out.write(data)
    except BaseException:                                # noqa: BLE001
        status = 70
    finally:
        os._exit(status)


class Ahead:
    """`task()` running in a child forked now (it inherits this process's memory, so nothing
    is pickled but its result), while this process goes on: `result()` waits for it and
    gives its result; an exception in the child is raised there, a child that ended
    without a result raises `WorkerError`. `cancel()` ends it (killed if still running).
    The parent's caches are not changed by the child."""

    def __init__(self, task, background: bool = False):
        _reap()
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read)
            _child(task, write)
        os.close(write)
        self.pid, self.read = pid, read
        if not background:      # (a background worker takes what the others leave)
            _LIVE.add(pid)

    def ready(self) -> bool:
        """Whether the child has begun to send its result (its task is done): `result()`
        then waits only for the sending."""
        import select
        return self.read is not None and bool(select.select([self.read], [], [], 0)[0])

    def result(self):
        try:
            with os.fdopen(self.read, "rb") as handle:
                self.read = None
                data = handle.read()
            _LIVE.discard(self.pid)
            if not data:
                _, status = os.waitpid(self.pid, 0)
                self.pid = None
                raise WorkerError(f"worker process ended without a result (wait status "
                                  f"{status})")
            # the child wrote its result whole and is exiting: reaped later (`_reap`)
            _EXITING.add(self.pid)
            self.pid = None
            try:
                ok, value = pickle.loads(data)
            except Exception as exc:                     # noqa: BLE001
                raise WorkerError(f"worker's result unreadable: {exc!r}") from None
            if not ok:
                raise value
            return value
        finally:
            self.cancel()

    def cancel(self) -> None:
        _LIVE.discard(self.pid)
        if self.read is not None:
            os.close(self.read)
            self.read = None
        if self.pid is not None:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
            self.pid = None


class Deal:
    """The indices `0 .. count-1`, dealt one at a time to whichever process draws next
    (iterating over the deal): this one and the children it forks after making the deal.
    Each index goes to exactly one of them, and the process that is free draws the next,
    so the parts come out balanced whatever each index costs and whenever each process
    starts drawing. For units of like cost (a grade's rounds of integrals): units of
    unlike cost dealt in order can leave a costly one to the end, and cutting work into
    units spends the vectorised passes each unit pays (a round of grid proofs dealt by
    stripes of cells, largest first, took 10-20% longer than split in two at once).

    The indices wait in a pipe, written whole when the deal is made (its write end closed
    before any fork: the pipe ends once they are drawn); a draw reads one 4-byte index,
    and Linux gives a read of 4 bytes from a pipe holding a multiple of 4 whole. Nothing
    is locked, so a child that dies holds nothing up; the indices it drew are missing,
    which the caller must detect (`taylor.joined_integrals` checks that every coarse
    simplex is covered once)."""

    #: a pipe holds 64 KiB (unless the system cuts new pipes down to a page)
    MAX = 16384

    def __init__(self, count: int):
        """Raises `OSError` where the pipe cannot hold them all (the caller then works
        without a deal), never blocks."""
        if not 0 <= count <= self.MAX:
            raise ValueError(f"count={count}: a Deal holds at most {self.MAX} indices")
        self.read, write = os.pipe()
        data = np.arange(count, dtype="<u4").tobytes()
        try:
            os.set_blocking(write, False)
            if data and os.write(write, data) != len(data):
                raise BlockingIOError(f"a pipe took part of {count} indices")
        except OSError:
            self.close()
            raise
        finally:
            os.close(write)

    def __iter__(self):
        while self.read is not None:
            data = os.read(self.read, 4)
            if not data:
                return
            if len(data) != 4:
                raise WorkerError(f"a Deal's pipe gave {len(data)} bytes for an index")
            yield int.from_bytes(data, "little")

    def close(self) -> None:
        if self.read is not None:
            os.close(self.read)
            self.read = None


def ahead(task, background: bool = False) -> Ahead | None:
    """`task` in a forked worker (`Ahead`) under `workers(jobs > 1)`, else None;
    `background`: a worker at a lower priority, which does not keep `blockwise` from
    using threads."""
    return Ahead(task, background) if may_fork(2, 2) else None


def forked(tasks: list) -> list:
    """`[task() for task in tasks]`: the first here, each other one in a child forked now
    (`Ahead`), all at once. What a child raised is raised here; children still running
    when this raises are ended."""
    children = []
    try:
        for task in tasks[1:]:
            children.append(Ahead(task))
        results = [tasks[0]()] if tasks else []
        return results + [child.result() for child in children]
    finally:
        for child in children:
            child.cancel()


def chunked(function, items, threshold: int) -> list:
    """`[function(chunk) for chunk]` over contiguous chunks of the list `items`, in order.

    Under `workers(jobs)` with `jobs > 1` and at least `threshold` items, there are `jobs`
    chunks, the first run here and the others in forked children (`forked`: the function
    and items are inherited, not pickled; only the results are); otherwise one chunk runs
    here. For a `function` whose result on each item depends on that item alone, the
    concatenated results are the same either way. Never forks inside a forked worker, nor
    under a Dask scheduler (threads)."""
    if not may_fork(len(items), threshold):
        return [function(items)]
    return forked([lambda a=a, b=b: function(items[a:b]) for a, b in slabs(len(items), _JOBS)])


def strided(function, count: int, threshold: int, groups: np.ndarray | None = None) -> list:
    """`[(index, function(index))]` over the index arrays `range(j, count, parts)`: `parts`
    = `jobs` under `workers(jobs)` with at least `threshold` items (the first here, the
    others in forked children, as `chunked`), else one part, here. Strides spread the
    costly items (cells near a kink, say) over the parts; for a `function` whose result on
    each index depends on that index alone, the results put back by index are the same
    either way. With `groups` (an integer per item), the strides are over the groups:
    items of one group go to one part (the index `i` to part `groups[i] % parts`), so that
    what they share (a cell's sub-boxes) is computed once."""
    parts = _JOBS if may_fork(count, threshold) else 1
    if groups is None or parts == 1:
        index = [np.arange(j, count, parts) for j in range(parts)]
    else:
        part = np.asarray(groups, dtype=np.int64) % parts
        index = [np.flatnonzero(part == j) for j in range(parts)]
    if parts == 1:
        return [(index[0], function(index[0]))]
    return list(zip(index, forked([lambda i=i: function(i) for i in index])))


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
#: (every operation is elementwise, so the data do not depend on the blocks); 2^15 rather
#: than 2^16: a program's arrays then stay in a core's L2, and more blocks lie within one
#: quarter period, where `intervals` sums one series instead of two (f data of every level,
#: best of four: sine `--grades 16` 0.56 -> 0.41 s, smooth3d 6 0.13 -> 0.13, peaks2d 8
#: 0.18 -> 0.18; 2^14 gave 0.41, 0.11 and 0.20)
BLOCK_BOXES = 1 << 15


def blockwise(function, count: int, block: int | None = None) -> list:
    """`[function(start, stop)]` over the blocks `[start, stop)` of `range(count)`, in order.

    Blocks hold `block` items (default `BLOCK_BOXES`: smaller blocks, to give every thread
    some, measured slower under `--jobs 2`). The first block runs in this thread (lazy
    tables, such as those of the target's program, are made once), the others over the
    `workers` threads when there are some and this is the main thread. numpy lets
    go of the interpreter lock inside each operation, so elementwise work on large blocks
    runs in parallel; for a `function` whose result on a block depends on that block alone,
    the results are the same wherever and in whatever blocks they ran. While a forked
    worker runs, the blocks run here (threads would only contend with it for the cores)."""
    if block is None:
        block = BLOCK_BOXES
    starts = list(range(0, count, max(1, block))) or [0]
    stops = starts[1:] + [count]
    first = [function(starts[0], stops[0])]
    if _THREADS is None or threading.current_thread() is not threading.main_thread() \
            or len(_LIVE) >= _JOBS - 1:     # forked workers have the other cores
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
