"""`vectorised.residual_bounds_from` works on blocks of whole rows of cells; every operation
is elementwise, so the bounds are the floats of one pass over the whole grid, whatever the
blocks (one row, several rows, a last block that is shorter, one block for all)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from certify.engine import vectorised
from certify.engine.nodal import Nodal
from certify.target import load_target

ROOT = os.path.join(os.path.dirname(__file__), os.pardir)


@pytest.mark.parametrize("path,n", [("examples/sine.py", 64), ("examples/runge.py", 24),
                                    ("tests/targets/kink.py", 32), ("examples/peaks2d.py", 12),
                                    ("tests/targets/cusp2d.py", 8), ("examples/smooth3d.py", 6),
                                    ("examples/pl2d.py", 7)])
def test_blocks_give_the_floats_of_one_pass(path, n, monkeypatch):
    target = load_target(os.path.join(ROOT, path))
    dim = target.dim
    k = {1: 4, 2: 2}.get(dim, 1)
    vectorised.clear_cache()
    data = vectorised.f_data(target, n * k)
    rng = np.random.default_rng(n)
    values = Nodal(rng.integers(-2 ** 50, 2 ** 50, size=(n + 1,) * dim), 2 ** 50)
    nodal = values.interval()
    monkeypatch.setattr(vectorised, "BLOCK_CELLS", 10 ** 9)
    whole = vectorised.residual_bounds_from(data, nodal, n, k)
    for cells in (1, n ** (dim - 1), 3 * n ** (dim - 1) + 1, 5 * n ** dim // 7):
        monkeypatch.setattr(vectorised, "BLOCK_CELLS", cells)
        got = vectorised.residual_bounds_from(data, nodal, n, k)
        assert got.keys() == whole.keys()
        for perm in whole:
            for a, b in zip(got[perm], whole[perm]):
                assert np.array_equal(a.view(np.int64), b.view(np.int64)), (path, cells, perm)
