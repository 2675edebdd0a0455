"""`curvature.bounds` and `curvature.node_values` run the target's programs over blocks of
grid rows as open meshes (`curvature._on_grid`): the same floats as one flat pass over
every point, whatever the blocks."""

from __future__ import annotations

import os

import numpy as np
import pytest

from certify.engine import curvature, work_units
from certify.engine.intervals import INTERVALS, IntervalArray
from certify.engine.vectorised import _dn, _up
from certify.target import load_target

ROOT = os.path.join(os.path.dirname(__file__), os.pardir)


def _flat(program, key, dim, count, interval):
    """One pass over the flat grid (what `_on_grid` replaced)."""
    index = np.indices((count,) * dim).reshape(dim, -1).astype(float)
    xs = [IntervalArray(*interval(row)) for row in index]
    with np.errstate(all="ignore"):
        out = program.run(key, INTERVALS, xs)
    size = index.shape[1]
    return [(np.broadcast_to(v.lo, (size,)).astype(float),
             np.broadcast_to(v.hi, (size,)).astype(float)) for v in out]


@pytest.mark.parametrize("path", ["examples/peaks2d.py", "examples/smooth3d.py",
                                  "tests/targets/ridge2d.py", "tests/targets/wave.py"])
@pytest.mark.parametrize("n", [6, 8, 16])
def test_grid_runs_equal_one_flat_pass(path, n, monkeypatch):
    target = load_target(os.path.join(ROOT, path))
    dim = target.dim
    if dim == 3 and n == 16:
        n = 12

    def point(index):
        x = index / n
        return (x, x) if not n & (n - 1) else (np.maximum(_dn(x), 0.0), np.minimum(_up(x), 1.0))

    def box(index):
        lo, hi = index / n, (index + 1) / n
        return (lo, hi) if not n & (n - 1) else (np.maximum(_dn(lo), 0.0), _up(hi))
    runs = [(target._program, "value", n + 1, point)]
    if curvature.applies(target):
        runs.append((curvature._program(target), "hess", n, box))
    for block in (1 << 16, 7):              # one block, and several of whole rows
        monkeypatch.setattr(work_units, "BLOCK_BOXES", block)
        for program, key, count, interval in runs:
            got = curvature._on_grid(program, key, dim, count, interval)
            want = _flat(program, key, dim, count, interval)
            assert len(got) == len(want)
            for (a, b), (c, d) in zip(got, want):
                np.testing.assert_array_equal(a, c)
                np.testing.assert_array_equal(b, d)
