"""`--jobs`: the anchored grid prover's batches over forked processes give the serial
answers (chunks of independent rows), and small batches stay in the process."""

from __future__ import annotations

import itertools
import multiprocessing
import os
import signal
from fractions import Fraction

import numpy as np
import pytest

from certify.certificates import anchored_grid, box_data, proof_rounds
from certify.engine import vectorised, work_units
from certify.target import load_target
from checker_helpers import example


def test_chunked_keeps_order_and_stays_serial_below_the_threshold():
    items = list(range(37))
    pid = multiprocessing.current_process().pid
    square = lambda chunk: [v * v for v in chunk]
    assert work_units.chunked(square, items, 10) == [square(items)]      # jobs 1: one chunk
    with work_units.workers(2):
        parts = work_units.chunked(square, items, 10)
        assert len(parts) > 1 and sum(parts, []) == square(items)
        assert work_units.chunked(square, items, 100) == [square(items)]
        where = work_units.chunked(lambda c: [multiprocessing.current_process().pid], items, 10)
    assert any(p != [pid] for p in where)


def _proofs(target, values, n, perm, cells, signs):
    vectorised.clear_cache()                  # every per-target cache, anchored_grid's too
    grid = anchored_grid.Grid(target, n)
    proved = grid.proves_cells(perm, cells, signs, values)
    boxes = {key: (data.keys, data.table[data.rows])        # the rows in key order
             for key, data in anchored_grid._cache(target).items() if key[0] == "boxes"}
    nodes = anchored_grid._cache(target)[("f nodes", n)]
    return proved, boxes, nodes


def test_grid_proofs_over_processes_equal_the_serial_ones(monkeypatch):
    target = load_target(example("peaks2d"))
    n = 8
    # the interpolant of f's own nodal values (rounded): some simplices proved, some not
    values = np.empty((n + 1,) * 2, dtype=object)
    for node in itertools.product(range(n + 1), repeat=2):
        values[node] = Fraction(round(float(target.ball(tuple(Fraction(i, n) for i in node))
                                            .mid()) * 64), 64)
    cells = np.array(list(itertools.product(range(n), repeat=2)), dtype=np.int64)
    signs = np.array([1 if (a + b) % 3 else -1 for a, b in cells.tolist()], dtype=np.int64)
    perm = (0, 1)
    serial = _proofs(target, values, n, perm, cells, signs)
    monkeypatch.setattr(box_data, "PARALLEL_BOXES", 2)
    monkeypatch.setattr(anchored_grid, "PARALLEL_NODES", 2)
    with work_units.workers(2):
        parallel = _proofs(target, values, n, perm, cells, signs)
    # the simplices themselves over forked workers too: the same answers; the Arb
    # residuals they computed come back, rows of float f data do not (`box_data.news`):
    # those kept here (computed here) are the serial run's rows
    monkeypatch.setattr(proof_rounds, "PARALLEL_CELLS", 2)
    with work_units.workers(2):
        split = _proofs(target, values, n, perm, cells, signs)
    assert np.array_equal(serial[0], split[0])
    assert split[1].keys() <= serial[1].keys()
    for key in split[1]:
        (a_keys, a), (b_keys, b) = serial[1][key], split[1][key]
        at = np.searchsorted(a_keys, b_keys)
        assert np.array_equal(a_keys[at], b_keys) and len(b_keys) < len(a_keys)
        assert np.array_equal(a[at], b, equal_nan=True)
    assert np.array_equal(serial[0], parallel[0])
    assert serial[1].keys() == parallel[1].keys()
    assert any(len(keys) >= 2 for keys, _ in serial[1].values())    # the batches ran
    for key in serial[1]:
        (a_keys, a), (b_keys, b) = serial[1][key], parallel[1][key]
        assert np.array_equal(a_keys, b_keys)
        assert np.array_equal(a, b, equal_nan=True)
    for a, b in zip(serial[2], parallel[2]):
        assert np.array_equal(a, b, equal_nan=True)


def test_strided_parts_put_back_by_index_give_the_serial_results():
    square = lambda index: index * index
    (index, values), = work_units.strided(square, 11, 4)         # jobs 1: one part, here
    assert np.array_equal(index, np.arange(11)) and np.array_equal(values, square(index))
    with work_units.workers(2):
        parts = work_units.strided(square, 11, 4)
        assert len(work_units.strided(square, 3, 4)) == 1          # below the threshold
        pids = work_units.strided(lambda index: os.getpid(), 11, 4)
    assert len(parts) == 2 and pids[0][1] == os.getpid() != pids[1][1]
    out = np.empty(11, dtype=np.int64)
    for index, values in parts:
        out[index] = values
    assert np.array_equal(out, np.arange(11) ** 2)


def test_strided_groups_keep_each_group_in_one_part_and_cover_every_index():
    groups = np.array([7, 7, 2, 5, 2, 7, 0, 5, 5])     # cells, say: several items each
    with work_units.workers(2):
        parts = work_units.strided(lambda index: index * 10, len(groups), 4, groups)
    assert len(parts) == 2
    owner = {}
    for j, (index, values) in enumerate(parts):
        assert np.array_equal(values, index * 10)
        for i in index.tolist():
            assert owner.setdefault(int(groups[i]), j) == j     # one part per group
    assert sorted(np.concatenate([index for index, _ in parts]).tolist()) == list(range(9))
    (index, _), = work_units.strided(len, len(groups), 4, groups)  # jobs 1: one part, in order
    assert np.array_equal(index, np.arange(9))


def test_a_deal_gives_each_index_to_one_process_the_free_one_drawing_more():
    """`work_units.Deal`: every index drawn exactly once over this process and a forked
    child; the child, slowed down, draws fewer; an empty deal gives nothing; a deal past
    what a pipe holds is refused rather than blocking."""
    import select
    import time
    started_read, started_write = os.pipe()
    with work_units.workers(2):
        deal = work_units.Deal(200)
        try:
            def slow():
                drawn = []
                for i in deal:
                    drawn.append(i)
                    if len(drawn) == 1:
                        os.write(started_write, b"1")     # drawing: the parent may start
                    time.sleep(0.002)
                return drawn
            child = work_units.ahead(slow)
            assert select.select([started_read], [], [], 30)[0]   # (however slow the fork)
            mine = list(deal)
            theirs = child.result()
        finally:
            deal.close()
            os.close(started_read)
            os.close(started_write)
    assert sorted(mine + theirs) == list(range(200))
    assert 0 < len(theirs) < len(mine) and mine == sorted(mine) and theirs == sorted(theirs)
    empty = work_units.Deal(0)
    assert list(empty) == [] and list(empty) == []
    empty.close()
    assert list(empty) == []                # closed: nothing more to draw
    with pytest.raises(ValueError, match="count=16385"):
        work_units.Deal(work_units.Deal.MAX + 1)


def test_balanced_bounds_computed_ahead_are_kept_as_computed_here(monkeypatch):
    """`level_ahead.balanced_bounds`: the simplex bounds a background worker computed are
    the ones computed here, and once taken they are given without computing again."""
    import time
    from certify.certificates import level_ahead
    from certify.engine.nodal import Nodal
    target = load_target(example("peaks2d"))
    n, k = 16, 2
    rng = np.random.default_rng(3)
    values = Nodal.of(np.array([Fraction(int(v), 2 ** 20) for v in
                                rng.integers(-2 ** 20, 2 ** 20, (n + 1) ** 2)],
                               dtype=object).reshape(n + 1, n + 1))
    vectorised.clear_cache()
    here = vectorised.residual_bounds(target, values, n, k)
    vectorised.clear_cache()
    monkeypatch.setattr(level_ahead, "AHEAD_NODES", 16)
    monkeypatch.setattr(level_ahead, "BALANCED_AHEAD_NODES", 16)
    with work_units.workers(2):
        assert level_ahead.balanced_wanted(target, n, k)
        worker = level_ahead.balanced_bounds(target, values, n, k)
        assert worker is not None
        while not worker.ready():
            time.sleep(0.01)
        level_ahead.take_bounds(target, worker, values, n, k)
    monkeypatch.setattr(vectorised, "residual_bounds_from", None)     # computes nothing
    kept = vectorised.residual_bounds(target, values, n, k)
    assert kept.keys() == here.keys()
    for perm in here:
        for a, b in zip(here[perm], kept[perm]):
            assert np.array_equal(a, b) and not b.flags.writeable


def test_balanced_bounds_a_worker_failed_to_compute_are_computed_here(monkeypatch):
    """An error in `balanced_bounds`'s worker leaves nothing kept (the bounds are then
    computed here, the same); a worker that died is an internal error, never a verdict."""
    from certify.certificates import level_ahead

    class Failed:
        pid = 1

        def __init__(self, error):
            self.error = error

        def ready(self):
            return True

        def result(self):
            raise self.error

        def cancel(self):
            pass
    target = load_target(example("peaks2d"))
    vectorised.clear_cache()
    level_ahead.take_bounds(target, Failed(MemoryError()), None, 16, 2)
    assert not vectorised.target_cache(target, "residual bounds")
    with pytest.raises(work_units.WorkerError):
        level_ahead.take_bounds(target, Failed(work_units.WorkerError("died")), None, 16, 2)


def test_children_that_sent_their_result_are_reaped_by_the_end_of_the_block():
    """A child's exit is not waited for where its result is taken (`work_units._reap`),
    but no child is left behind (a zombie) once the `workers` block ends."""
    with work_units.workers(2):
        children = [work_units.ahead(lambda k=k: k * k) for k in range(3)]
        pids = [child.pid for child in children]
        assert [child.result() for child in children] == [0, 1, 4]
    assert not work_units._EXITING
    for pid in pids:
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)


def test_a_deal_the_pipe_cannot_hold_is_refused_not_blocking(monkeypatch):
    """A system short of pipe buffers gives new pipes a page: the indices past it would
    block the write for ever (nobody reads yet). The write does not block; the deal is
    refused (`OSError`, its pipe closed), and the grade's integrals are then computed in
    one process."""
    real_write, opened = os.write, []
    real_pipe = os.pipe

    def pipe():
        fds = real_pipe()
        opened.extend(fds)
        return fds
    monkeypatch.setattr(os, "pipe", pipe)
    monkeypatch.setattr(os, "write", lambda fd, data: real_write(fd, data[:4096]))
    with pytest.raises(OSError):
        work_units.Deal(3072)
    for fd in opened:                       # both ends closed
        with pytest.raises(OSError):
            os.fstat(fd)
    monkeypatch.undo()
    from certify import construction
    from certify.certificates import local
    target = load_target(example("peaks2d"))
    network = construction.build(target, 3)
    serial = _report(network, target, 1)
    monkeypatch.setattr(local, "INTEGRALS_APART", 16)

    tried = []

    def refused(self, count):
        tried.append(count)
        raise OSError("no pipe buffers")
    monkeypatch.setattr(work_units.Deal, "__init__", refused)
    assert _report(network, target, 2) == serial and tried


def _fails_in_the_child(index):
    if os.getpid() != _PARENT[0]:
        raise ValueError("f is not defined at x=0 (a worker's error)")
    return index


def _dies_in_the_child(index):
    if os.getpid() != _PARENT[0]:
        os.kill(os.getpid(), signal.SIGKILL)
    return index


_PARENT = [os.getpid()]


def test_a_worker_error_or_crash_is_raised_never_a_result():
    """An exception in a forked worker is raised here as it was; a worker that dies gives
    `WorkerError` (the command line's internal error, exit 4), never an answer."""
    _PARENT[0] = os.getpid()
    with work_units.workers(2):
        with pytest.raises(ValueError, match="worker's error"):
            work_units.strided(_fails_in_the_child, 10, 2)
        with pytest.raises(work_units.WorkerError, match="without a result"):
            work_units.strided(_dies_in_the_child, 10, 2)
        with pytest.raises(work_units.WorkerError):
            work_units.chunked(lambda items: _dies_in_the_child(0), list(range(10)), 2)
        assert work_units.strided(lambda index: index, 10, 2)[1][1].tolist() == [1, 3, 5, 7, 9]


def test_a_forked_worker_never_forks_again():
    with work_units.workers(2):
        nested = work_units.strided(lambda index: len(work_units.strided(len, 10, 2)), 10, 2)
    assert [found for _, found in nested] == [2, 1]


def test_nodal_intervals_under_jobs_equal_the_serial_ones():
    values = np.array([Fraction(i, 3 + i % 5) for i in range(-50, 50)] + [Fraction(1, 2 ** 60)]
                      + [Fraction(3, 4)], dtype=object).reshape(17, 6)
    serial = vectorised.nodal_interval(values)
    with work_units.workers(2):
        parallel = vectorised.nodal_interval(values)
    for a, b in zip(serial, parallel):
        assert a.shape == b.shape == values.shape and np.array_equal(a, b)
    assert (serial[0] == serial[1]).any() and (serial[0] < serial[1]).any()


def test_balanced_coefficients_over_processes_equal_the_serial_ones(monkeypatch):
    from certify import construction
    bounds = {(i, j): (Fraction(i - 20, 7 + j), Fraction(i - 17, 5 + j))
              for i in range(40) for j in range(3)}
    skip = {(3, 1), (30, 2)}
    serial = construction._balanced(bounds, skip, Fraction(1, 4))
    monkeypatch.setattr(construction, "BALANCED_CHUNK", 8)
    with work_units.workers(2):
        parallel = construction._balanced(bounds, skip, Fraction(1, 4))
    assert list(serial.items()) == list(parallel.items())
    assert all(type(c) is Fraction for c in parallel.values())
    assert any(serial.values()) and serial[(3, 1)] == 0


def test_blockwise_runs_blocks_in_order_here_or_over_threads():
    import threading
    ranges = lambda a, b: (a, b, threading.current_thread() is threading.main_thread())
    serial = work_units.blockwise(ranges, 20, 6)
    assert [r[:2] for r in serial] == [(0, 6), (6, 12), (12, 18), (18, 20)]
    assert all(r[2] for r in serial)
    assert work_units.blockwise(ranges, 0, 6) == [(0, 0, True)]
    with work_units.workers(2):
        threaded = work_units.blockwise(ranges, 20, 6)
    assert [r[:2] for r in threaded] == [r[:2] for r in serial]
    assert threaded[0][2] and not all(r[2] for r in threaded)    # the first block here


def test_a_forked_child_does_not_use_the_parents_threads():
    """Grades checked in forked processes (`checker`) call `blockwise` there: the parent's
    thread pool did not come along, so the child runs its blocks itself instead of waiting
    forever for threads that are not there."""
    ctx = multiprocessing.get_context("fork")
    with work_units.workers(2):
        work_units.blockwise(lambda a, b: a, 8, 2)          # the pool's threads started
        with ctx.Pool(1) as pool:
            got = pool.apply_async(work_units.blockwise, (_start, 8, 2)).get(timeout=60)
    assert got == [0, 2, 4, 6]


def _start(a, b):
    return a


def _report(network, target, jobs):
    from certify.certificates import checker
    data = checker.check(target, network, timeout=5, jobs=jobs).to_json()
    for grade in data["grades"]:
        grade.pop("seconds", None)
    return data


def test_a_build_and_check_over_forked_workers_equal_the_serial_ones(monkeypatch):
    """peaks2d 5 built and checked with every batch split over forked workers (thresholds
    lowered so that the small grids split too): the same network, byte for byte, and the
    same report as in one process."""
    from certify import construction
    from certify.engine.network import network_to_json
    target = load_target(example("peaks2d"))
    vectorised.clear_cache()
    serial = construction.build(target, 5)
    serial_report = _report(serial, target, 1)
    from certify.certificates import checker, level_ahead, local
    for module, name in [(proof_rounds, "PARALLEL_CELLS"), (proof_rounds, "PARALLEL_SHALLOW_CELLS"),
                         (anchored_grid, "PARALLEL_NODES"),
                         (box_data, "PARALLEL_BOXES"), (level_ahead, "AHEAD_NODES"),
                         (checker, "APART_CELLS"), (local, "INTEGRALS_APART")]:
        monkeypatch.setattr(module, name, 16)
    forks, ahead = [], []
    original, original_take = work_units.forked, level_ahead.take
    monkeypatch.setattr(work_units, "forked",
                        lambda tasks: forks.append(len(tasks)) or original(tasks))
    monkeypatch.setattr(level_ahead, "take",
                        lambda target, found: ahead.extend(found) or original_take(target, found))
    vectorised.clear_cache()
    with work_units.workers(2):
        split = construction.build(target, 5)
    split_report = _report(split, target, 2)
    assert forks and all(count == 2 for count in forks)      # the split ran, in two parts
    # the last level's f data and node balls came from a forked worker
    assert ("f data", 64) in ahead and ("anchored_grid", ("f nodes", 32)) in ahead
    assert network_to_json(split) == network_to_json(serial)
    assert split_report == serial_report


def test_a_worker_that_dies_is_an_internal_error_on_the_command_line(monkeypatch, tmp_path,
                                                                      capsys):
    from certify.interfaces.cli import run
    monkeypatch.setattr(proof_rounds, "PARALLEL_CELLS", 2)
    original = anchored_grid.Grid._prove_cells
    parent = os.getpid()

    def dies(self, *args):
        if os.getpid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)
        return original(self, *args)
    monkeypatch.setattr(anchored_grid.Grid, "_prove_cells", dies)
    vectorised.clear_cache()
    report = tmp_path / "r.json"
    status = run(["check", "--target", example("peaks2d"), "--grades", "3", "--jobs", "2",
                  "--quiet", "--report", str(report)])
    assert status == 4 and not report.exists()
    assert "internal error: WorkerError" in capsys.readouterr().err


def test_data_computed_ahead_that_failed_are_computed_here(monkeypatch):
    """A level's data whose worker raised are computed here (the same network); a worker
    that died is an internal error (`WorkerError`), never a network."""
    from certify import construction
    from certify.certificates import level_ahead
    from certify.engine.network import network_to_json
    target = load_target(example("peaks2d"))
    vectorised.clear_cache()
    serial = network_to_json(construction.build(target, 3))
    monkeypatch.setattr(level_ahead, "AHEAD_NODES", 16)

    def raises(target, m, k, part):
        raise ArithmeticError("no enclosure")
    monkeypatch.setattr(level_ahead, "compute", raises)
    vectorised.clear_cache()
    with work_units.workers(2):
        assert network_to_json(construction.build(target, 3)) == serial
    monkeypatch.setattr(level_ahead, "compute",
                        lambda target, m, k, part: os.kill(os.getpid(), signal.SIGKILL))
    vectorised.clear_cache()
    with work_units.workers(2), pytest.raises(work_units.WorkerError):
        construction.build(target, 3)
