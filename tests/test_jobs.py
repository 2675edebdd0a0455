"""`--jobs`: the anchored grid prover's batches over forked processes give the serial
answers (chunks of independent rows), and small batches stay in the process."""

from __future__ import annotations

import itertools
import multiprocessing
from fractions import Fraction

import numpy as np

from certify.certificates import anchored_grid, box_data
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
    assert np.array_equal(serial[0], parallel[0])
    assert serial[1].keys() == parallel[1].keys()
    assert any(len(keys) >= 2 for keys, _ in serial[1].values())    # the batches ran
    for key in serial[1]:
        (a_keys, a), (b_keys, b) = serial[1][key], parallel[1][key]
        assert np.array_equal(a_keys, b_keys)
        assert np.array_equal(a, b, equal_nan=True)
    for a, b in zip(serial[2], parallel[2]):
        assert np.array_equal(a, b, equal_nan=True)


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
