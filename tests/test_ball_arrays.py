"""A target's program over object arrays of Arb balls (`ball_arrays`) gives at every point the
very ball a run of the scalar Arb context on that point gives: `node_balls` (whole grid rows
at once as open meshes; the grid prover's node data), `vectorised._box_balls` (the Arb f
data of sub-boxes) and `taylor._centre_balls` (the Taylor coefficients at cell centres) do
not change what they compute, only how fast."""

from __future__ import annotations

import itertools
import os

import numpy as np
import pytest
from flint import arb

from certify.engine import ball_arrays
from certify.engine.expression import _CONTEXTS
from certify.target import load_target

ROOT = os.path.join(os.path.dirname(__file__), os.pardir)
BALL = _CONTEXTS["ball"]


TARGETS = ["examples/sine.py", "examples/peaks2d.py", "examples/smooth3d.py",
           "tests/targets/kink.py", "tests/targets/cusp2d.py", "tests/targets/kink3d.py",
           "tests/targets/ridge2d.py", "tests/targets/bump.py", "tests/targets/cusp3d.py",
           "examples/pl2d.py", "examples/holder.py", "examples/runge.py"]


def same(a, b) -> bool:
    """The very same ball (mid-point and radius), or both NaN."""
    return (a.mid(), a.rad()) == (b.mid(), b.rad()) or (a.is_nan() and b.is_nan())


@pytest.mark.parametrize("path", TARGETS)
def test_node_balls_equal_point_by_point_runs(path, monkeypatch):
    target = load_target(os.path.join(ROOT, path))
    dim = target.dim
    n = {1: 64, 2: 16, 3: 4}[dim]
    size = (n + 1) ** dim
    rng = np.random.default_rng(5)
    monkeypatch.setattr(ball_arrays, "BLOCK_NODES", 50)    # several blocks of rows
    axis = [arb(i) / n for i in range(n + 1)]
    for ids in (np.arange(size), np.arange(1, size, 2), np.sort(rng.choice(size, 7)),
                rng.permutation(size)[: size // 2 + 5]):
        got = ball_arrays.node_balls(target._program, BALL, n, dim, ids)
        nodes = zip(*(a.tolist() for a in np.unravel_index(ids, (n + 1,) * dim)))
        want = [target._program.run("value", BALL, [axis[i] for i in node])[0]
                for node in nodes]
        assert len(got) == len(want)
        for a, b in zip(got, want):
            assert same(a, b), (a, b)


@pytest.mark.parametrize("path", TARGETS)
def test_box_balls_equal_box_by_box_runs(path):
    from certify.engine import vectorised
    target = load_target(os.path.join(ROOT, path))
    m = {1: 16, 2: 6, 3: 3}[target.dim]            # 6, 3: sides not dyadic
    mids, sides = vectorised._axis_balls(m)
    boxes = list(itertools.product(range(m), repeat=target.dim))
    got = vectorised._box_balls(target, boxes, mids.__getitem__, sides.__getitem__)
    for k, box in enumerate(boxes):
        value, over, grad = target.box_balls([mids[i] for i in box], [sides[i] for i in box])
        assert same(got[0][k], value) and same(got[1][k], over)
        assert all(same(g[k], w) for g, w in zip(got[2], grad))


@pytest.mark.parametrize("path", TARGETS)
def test_centre_balls_equal_point_by_point_runs(path):
    from flint import fmpq

    from certify.engine import taylor
    program = taylor._program(load_target(os.path.join(ROOT, path)))
    if program is None:                               # not analytic: no Taylor models
        return
    dim = len(program.low[0])
    E = {1: 32, 2: 6, 3: 3}[dim]
    cells = np.indices((E,) * dim).reshape(dim, -1).T
    got = taylor._centre_balls(program, cells, E).tolist()
    want = [b for cell in cells.tolist()
            for b in program.balls("point", [arb(fmpq(2 * c + 1, 2 * E)) for c in cell])]
    assert len(got) == len(want)
    assert all(same(a, b) for a, b in zip(got, want))
