"""`ball_arrays.node_balls` (a target's program over object arrays of Arb balls, whole grid
rows at once as open meshes) gives at every node the very ball a run of the scalar Arb
context on that node gives: the grid prover's node data do not change."""

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


@pytest.mark.parametrize("path", ["examples/sine.py", "examples/peaks2d.py",
                                  "examples/smooth3d.py", "tests/targets/kink.py",
                                  "tests/targets/cusp2d.py", "tests/targets/kink3d.py",
                                  "tests/targets/ridge2d.py", "tests/targets/bump.py",
                                  "tests/targets/cusp3d.py", "examples/pl2d.py",
                                  "examples/holder.py", "examples/runge.py"])
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
            assert (a.mid(), a.rad()) == (b.mid(), b.rad()) or \
                (a.is_nan() and b.is_nan()), (a, b)
