"""Simplices already proved on a grid, kept with the exact vertex values they were proved for.

`anchored_grid.Grid.proves_cells` decides `sign·(f - A_T) >= 0` on simplices `T = (cell,
π)`; its answer depends only on the target, the grid, `T`, the sign, the depth and the
exact nodal values at the vertices of `T` (never on the other simplices asked with it;
a proof at a smaller depth is found the same way at a larger one, which only allows more
halvings). The surplus builder proves the simplices around every hat with the level's
final nodal values `F_k`, and `certify check --grades` asks the same questions again
about `F_k` in the same process: here a proved simplex is recorded with its vertex values
(integer numerators over `2^e`; values over different powers of two are compared over
the larger one, exactly), the sign and the depth, and a later question with the same
exact values, the same sign and a depth at least as large is answered `True` without
being proved again. Only exact integer
comparisons decide a reuse; anything else (values that are not integer numerators over a
power of two) is simply not recorded. The records live in the per-target cache of
`vectorised.target_cache`, so they never outlive the target they were proved for.
"""

from __future__ import annotations

import numpy as np

from ..engine import vectorised
from ..engine.gathered import distinct


class ProofMemo:
    """The proved simplices of one permutation `perm` on the grid of `n` cells a side."""

    def __init__(self, n: int, dim: int):
        self.n, self.dim = n, dim
        self.depth = None               # the arrays over the cells, made by the first store

    def _allocate(self) -> None:
        cells = self.n ** self.dim
        self.depth = np.full(cells, -1, dtype=np.int8)      # -1: nothing recorded
        self.sign = np.zeros(cells, dtype=np.int8)
        self.exponent = np.zeros(cells, dtype=np.int16)
        self.num = np.zeros((cells, self.dim + 1), dtype=np.int64)  # object once one needs it

    @staticmethod
    def of(target, n: int, perm, values) -> "tuple[ProofMemo, _Reader] | None":
        """The memo of `(n, perm)` for this target and a reader of `values`' vertex
        records, or None when `values` are not integer numerators over a power of two."""
        num, den = getattr(values, "num", None), getattr(values, "den", None)
        if num is None or den & (den - 1) or den.bit_length() > 1000:
            return None
        key = ("proved", n, tuple(perm))
        cache = vectorised.target_cache(target, "proof memo")
        if key not in cache:
            cache[key] = ProofMemo(n, num.ndim)
        return cache[key], _Reader(num, den.bit_length() - 1, tuple(perm), n)

    def known(self, reader, cells: np.ndarray, signs: np.ndarray, depth: int) -> np.ndarray:
        """Which of the simplices `(cells[i], perm)` with `signs[i]` were proved already, at
        a depth at most `depth`, for the same exact vertex values."""
        if self.depth is None:
            return np.zeros(len(cells), dtype=bool)
        flat = reader.flat(cells)
        seen = self.depth[flat]
        ask = np.nonzero((seen >= 0) & (seen <= depth) & (self.sign[flat] == signs))[0]
        out = np.zeros(len(cells), dtype=bool)
        if len(ask):
            at = flat[ask]
            out[ask] = _equal(np.take(self.num, at, axis=0), self.exponent[at].astype(np.int64),
                              reader.numerators(np.take(cells, ask, axis=0)), reader.e)
        return out

    def store(self, reader, cells: np.ndarray, signs: np.ndarray, depth: int) -> None:
        """Record the simplices `(cells[i], perm)` as proved for `signs[i]` and `depth`."""
        if not len(cells):
            return
        if self.depth is None:
            self._allocate()
        flat = reader.flat(cells)
        num = reader.numerators(cells)
        if num.dtype == object and self.num.dtype != object:
            self.num = self.num.astype(object)
        self.depth[flat] = depth
        self.sign[flat] = signs
        self.exponent[flat] = reader.e
        self.num[flat] = num


def _equal(a: np.ndarray, ea: np.ndarray, b: np.ndarray, eb: int) -> np.ndarray:
    """Per row: are the values `a / 2^ea` and `b / 2^eb` the same (exact integers; rows
    of different exponents compared over the larger one in Python integers)."""
    same = ea == eb
    if same.all():                  # the usual case: one exponent, no rows to gather
        return np.all(a == b, axis=1)
    out = np.zeros(len(a), dtype=bool)
    if same.any():
        out[same] = np.all(a[same] == b[same], axis=1)
    for e in distinct(ea[~same]).tolist():
        rows = np.flatnonzero(ea == e)
        top = max(e, eb)
        x = a[rows].astype(object) * (1 << (top - e))
        y = b[rows].astype(object) * (1 << (top - eb))
        out[rows] = np.all(x == y, axis=1)
    return out


class _Reader:
    """Vertex numerators of simplices from one nodal array `num / 2^e`."""

    def __init__(self, num: np.ndarray, e: int, perm, n: int):
        self.num, self.e, self.perm, self.n = num.reshape(-1), e, perm, n
        self.shape = num.shape

    def flat(self, cells: np.ndarray) -> np.ndarray:
        return np.ravel_multi_index(tuple(cells.T), (self.n,) * len(self.shape))

    def numerators(self, cells: np.ndarray) -> np.ndarray:
        """Per simplex (row): the numerators at its vertices, along the chain of `perm`."""
        from .anchored_grid import _vertex_ids
        return self.num[_vertex_ids(cells, self.perm, self.shape).reshape(len(cells), -1)]
