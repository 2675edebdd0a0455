"""Vectorised enclosures of f on arbitrary sets of sub-boxes (`vectorised.index_rows`, the finer
levels of `anchored_grid`) and of f - A at grid nodes (`anchored_grid.Grid._vertex_data`) contain
what Arb computes, and a wrong network is still refuted."""

import itertools
import os
from fractions import Fraction

import numpy as np
import pytest
from flint import ctx as flint_ctx
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from certify.certificates import anchored_grid
from certify.certificates.anchored_grid import Grid
from certify.certificates.box_data import BoxData
from certify.engine import vectorised, work_units
from certify.engine.nodal import Nodal
from certify.engine.expression import _CONTEXTS
from certify.engine.numbers import ball_bounds, to_ball
from certify.target import load_target

BALL = _CONTEXTS["ball"]
ROOT = os.path.join(os.path.dirname(__file__), os.pardir)
_TARGETS = {}


def _target(path):
    if path not in _TARGETS:
        _TARGETS[path] = load_target(os.path.join(ROOT, path))
    return _TARGETS[path]


def _inside(ball, lo, hi) -> bool:
    """The (tight, 200-bit) ball lies within the float interval [lo, hi]."""
    low, high = ball_bounds(ball)
    return Fraction(float(lo)) <= low and high <= Fraction(float(hi))


PATHS = ["examples/peaks2d.py", "examples/smooth3d.py", "examples/runge.py", "tests/targets/bump.py",
         "tests/targets/cusp3d.py"]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(PATHS), m=st.sampled_from([64, 96, 128, 4096]),
       seed=st.integers(0, 2 ** 16))
@example(path="examples/peaks2d.py", m=4096, seed=0)      # a fine level: boxes of side 2^-12
@example(path="tests/targets/cusp3d.py", m=96, seed=3)    # a kink, m not a power of two
def test_index_rows_contain_arb(path, m, seed):
    """At random sub-boxes of side 1/m (any set of indices), f at the mid-point, f at a point of
    the box and the usable gradient lie in the float enclosures."""
    target = _target(path)
    rng = np.random.default_rng(seed)
    index = rng.integers(0, m, size=(target.dim, 12))
    fm, fb, grads, ok = vectorised.index_rows(target, m, index)
    old = flint_ctx.prec
    flint_ctx.prec = 200
    try:
        for i, column in enumerate(index.T.tolist()):
            mid = [Fraction(2 * j + 1, 2 * m) for j in column]
            assert _inside(target.ball(mid), fm[0][i], fm[1][i]), (column, fm[0][i], fm[1][i])
            x = [Fraction(j, m) + Fraction(int(rng.integers(0, 97)), 97 * m) for j in column]
            assert _inside(target.ball(x), fb[0][i], fb[1][i])
            if ok[i]:
                _, box = target._balls([Fraction(j, m) for j in column],
                                       [Fraction(j + 1, m) for j in column])
                for axis, g in enumerate(target._program.run("grad", BALL, box)):
                    if g.is_finite():
                        g_lo, g_hi = ball_bounds(g)
                        # both enclose ∇f(B): they overlap
                        assert Fraction(float(grads[axis][0][i])) <= g_hi
                        assert g_lo <= Fraction(float(grads[axis][1][i]))
    finally:
        flint_ctx.prec = old


def test_box_data_does_not_depend_on_the_batch():
    """The rows of a sub-box are the same whichever other sub-boxes were asked with it, and the
    same as the slab computation of the first level (`vectorised.rows`)."""
    target = _target("examples/peaks2d.py")
    m = 128
    one = BoxData(target, m)
    index = np.array([[5, 7], [127, 0], [64, 64], [5, 7]])
    first = one.gather(index)
    other = BoxData(target, m)
    other.gather(np.array([[1, 2], [64, 64]]))
    second = other.gather(index[::-1])
    for a, b in zip(first, second):
        assert np.array_equal(np.asarray(a), np.asarray(b)[::-1])
    slab = vectorised.rows(target, m, 5, 6)
    assert slab[0][0][7] == first[0][0] and slab[1][1][7] == first[3][0]


@pytest.mark.parametrize("path,m", [("examples/peaks2d.py", 128), ("examples/smooth3d.py", 64),
                                    ("tests/targets/cusp3d.py", 96), ("tests/targets/kink3d.py", 64)])
def test_scattered_rows_gathered_by_axis_are_the_same(path, m):
    """Many scattered sub-boxes are computed with each coordinate's distinct values once
    (`certify.engine.gathered`): the same floats as in batches too small for that, also
    where a kink or a cusp sends rows to Arb."""
    target, rng = _target(path), np.random.default_rng(m)
    coarse = rng.integers(0, m // 8, (300, target.dim))
    index = (coarse[:, None, :] * 8 + rng.integers(0, 8, (300, 4, target.dim))).reshape(
        -1, target.dim).T
    whole = vectorised.index_rows(target, m, index)
    parts = [vectorised.index_rows(target, m, index[:, i:i + 100])
             for i in range(0, index.shape[1], 100)]

    def arrays(data):
        return [data[0][0], data[0][1], data[1][0], data[1][1], data[3]] + \
            [x for g in data[2] for x in g]
    for got, want in zip(arrays(whole), zip(*[arrays(p) for p in parts])):
        assert np.array_equal(got, np.concatenate(want), equal_nan=True)


def _flat(data):
    return [data[0][0], data[0][1], data[1][0], data[1][1], data[3]] + \
        [x for g in data[2] for x in g]


@pytest.mark.parametrize("path,m", [("examples/peaks2d.py", 96), ("examples/sine.py", 8192),
                                    ("tests/targets/cusp3d.py", 24)])
def test_f_data_in_blocks_is_the_same(path, m, monkeypatch):
    """Slabs and scattered sub-boxes computed in cache-sized blocks (`BLOCK_BOXES`), in this
    thread or over `workers` threads, give the same floats as one pass over them all, cusps
    sent to Arb included."""
    target = _target(path)
    index = np.random.default_rng(m).integers(0, m, (target.dim, 3000))
    whole_rows = vectorised.rows(target, m, 0, m)
    whole_index = vectorised.index_rows(target, m, index)
    monkeypatch.setattr(work_units, "BLOCK_BOXES", 700)
    for jobs in (1, 2):                 # in this thread, then over two threads
        with work_units.workers(jobs):
            got = [vectorised.rows(target, m, 0, m), vectorised.index_rows(target, m, index)]
        for data, want in zip(got, [whole_rows, whole_index]):
            for a, b in zip(_flat(data), _flat(want)):
                assert np.array_equal(a, b, equal_nan=True)


@pytest.mark.parametrize("path,n", [("examples/peaks2d.py", 8), ("examples/smooth3d.py", 4),
                                    ("examples/sine.py", 16)])
def test_vertex_residuals_contain_arb_and_are_no_wider(path, n):
    """ρ(v) = f(v) - A(v) at every node: the interval contains Arb's ball of it (96 bits) and is
    no wider than the float interval of f(v) minus A(v) (what the grid used before)."""
    target = _target(path)
    shape = (n + 1,) * target.dim
    values = np.empty(shape, dtype=object)
    rng = np.random.default_rng(7)
    for node in itertools.product(range(n + 1), repeat=target.dim):
        x = target.ball(tuple(Fraction(i, n) for i in node))
        # A(v) near f(v): exact floats, non-float rationals, and exact values
        mode = int(rng.integers(0, 3))
        if mode == 0:
            values[node] = Fraction(float(x.mid()))
        elif mode == 1:
            values[node] = Fraction(round(float(x.mid()) * 3 * 2 ** 52), 3 * 2 ** 52)
        else:
            values[node] = Fraction(round(float(x.mid()) * 2 ** 40), 2 ** 40)
    grid = Grid(target, n)
    ids = np.arange(values.size)
    a_lo, a_hi, r_lo, r_hi = grid._vertex_data(ids, values)
    # the construction's exact nodal values (`Nodal`) give the same intervals
    same = grid._vertex_data(ids, Nodal.of(values))
    assert all(np.array_equal(x, y) for x, y in zip((a_lo, a_hi, r_lo, r_hi), same))
    f_lo, f_hi = anchored_grid._cache(target)[("f nodes", n)][:2]
    old = flint_ctx.prec
    flint_ctx.prec = 200                # a reference ball far tighter than the 96-bit one
    try:
        reference = [ball_bounds(target.ball(tuple(Fraction(i, n) for i in node))
                                 - to_ball(values[node]))
                     for node in itertools.product(range(n + 1), repeat=target.dim)]
    finally:
        flint_ctx.prec = old
    for j, node in enumerate(itertools.product(range(n + 1), repeat=target.dim)):
        point = tuple(Fraction(i, n) for i in node)
        lo, hi = reference[j]
        if lo <= 0 <= hi and grid.vertices.exact(point) is not None:   # f(v) known exactly
            lo = hi = grid.vertices.exact(point) - values[node]
        assert Fraction(float(r_lo[j])) <= lo and hi <= Fraction(float(r_hi[j])), node
        assert r_lo[j] >= np.nextafter(f_lo[j] - a_hi[j], -np.inf)
        assert r_hi[j] <= np.nextafter(f_hi[j] - a_lo[j], np.inf)


@pytest.mark.parametrize("name,k", [("peaks2d", 4), ("smooth3d", 3)])
def test_a_wrong_network_is_still_refuted(name, k):
    """A hat's coefficient past twice the residual (grade k of a built network, proved
    before the edit): the check, which runs the grid proofs above, refutes it."""
    from certify.certificates.checker import check
    from certify.construction import build
    from checker_helpers import example as example_path, residual_at_hat, set_coefficient
    target = load_target(example_path(name))
    network = build(target, k)
    assert check(target, network).verdict == "proved"
    bad = set_coefficient(network, k, 0, Fraction(5, 2) * residual_at_hat(target, network, k, 0))
    report = check(target, bad)
    assert report.verdict == "refuted" and report.exit_status == 1


@pytest.mark.parametrize("path,n", [("examples/peaks2d.py", 8), ("examples/sine.py", 32)])
def test_node_values_taken_from_the_coarser_grid_are_the_same(path, n):
    """f at the nodes of the grid 2n: computed afresh, or partly taken from the grid n."""
    target = _target(path)
    shape = (2 * n + 1,) * target.dim
    values = np.full(shape, Fraction(0), dtype=object)
    vectorised.clear_cache()
    Grid(target, 2 * n)._vertex_data(np.arange(values.size), values)
    fresh = [a.copy() for a in anchored_grid._cache(target)[("f nodes", 2 * n)]]
    vectorised.clear_cache()
    coarse = np.full((n + 1,) * target.dim, Fraction(0), dtype=object)
    Grid(target, n)._vertex_data(np.arange(coarse.size)[::3], coarse)
    Grid(target, 2 * n)._vertex_data(np.arange(values.size), values)
    reused = anchored_grid._cache(target)[("f nodes", 2 * n)]
    assert all(np.array_equal(a, b, equal_nan=True) for a, b in zip(fresh, reused))
