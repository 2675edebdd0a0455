"""The f data of the grid prover's finer sub-boxes, computed when first asked and kept.

A proof that refines a simplex into sub-boxes of side `1/m` asks for scattered sub-boxes;
`BoxData` computes the missing ones together (`vectorised.index_rows`: float intervals
rounded outward, Arb where they give no finite enclosure) and keeps every row, looked up
by the sub-box's linear index. A row depends on its sub-box alone, so it does not matter
which other sub-boxes were asked with it, nor where it was computed.
"""

from __future__ import annotations

import numpy as np
from flint import arb

from ..engine import vectorised, work_units
from ..engine.gathered import distinct

#: batches of at least this many sub-boxes are chunked over the processes of
#: `work_units.workers(jobs)` when they are computed in Arb (float intervals run over its
#: threads, in `vectorised.index_rows`)
PARALLEL_BOXES = 131072


class BoxData:
    """f data (float intervals) of sub-boxes of side `1/m`, computed on demand and kept.

    The rows come from `vectorised.index_rows` (the target's program in float intervals
    rounded outward over all missing sub-boxes at once, Arb for the sub-boxes it cannot
    enclose): the same enclosures, and the same soundness argument, as the first level's
    `vectorised.f_data`. Rows are appended to `table` as they are computed (its capacity
    grown by half when full); the sub-boxes' linear indices are kept sorted in `keys`, with
    each one's row in `rows` (merging new keys copies two integer arrays, not the table)."""

    def __init__(self, target, m: int, in_arb: bool = False):
        self.target, self.m, self.in_arb = target, m, in_arb
        self.keys = np.zeros(0, dtype=np.int64)          # sorted linear sub-box indices
        self.rows = np.zeros(0, dtype=np.int64)          # each key's row of `table`
        self.table = np.zeros((0, 5 + 2 * target.dim))
        self.size = 0                                    # rows of `table` in use
        self._mids: dict = {}
        self._sides: dict = {}

    def _mid(self, i: int):
        """A ball containing `(i + 1/2)/m` (as `vectorised._axis_balls`)."""
        if i not in self._mids:
            self._mids[i] = arb(2 * i + 1) / (2 * self.m)
        return self._mids[i]

    def _side(self, i: int):
        """A ball containing `[i/m, (i+1)/m]`, kept >= 0 (as `vectorised._axis_balls`)."""
        if i not in self._sides:
            ball = (arb(i) / self.m).union(arb(i + 1) / self.m)
            self._sides[i] = ball if ball >= 0 else ball.nonnegative_part()
        return self._sides[i]

    def _linear(self, index: np.ndarray) -> np.ndarray:
        return np.ravel_multi_index(tuple(index.T), (self.m,) * index.shape[1])

    def gather(self, index: np.ndarray):
        """Arrays (fm_lo, fm_hi, fb_lo, fb_hi, g_lo (N,d), g_hi (N,d), ok) for rows of
        global sub-box indices (shape (N, d))."""
        index = np.asarray(index, dtype=np.int64)
        dim = index.shape[1]
        linear = self._linear(index)
        pos = np.searchsorted(self.keys, linear)
        found = pos < len(self.keys)
        found[found] = self.keys[pos[found]] == linear[found]
        if not found.all():
            missing = distinct(linear[~found])
            self._compute(missing)
            pos = np.searchsorted(self.keys, linear)
        table = self.table[self.rows[pos]]
        return (table[:, 0], table[:, 1], table[:, 2], table[:, 3],
                table[:, 4:4 + dim], table[:, 4 + dim:4 + 2 * dim], table[:, 4 + 2 * dim] > 0)

    def _compute(self, missing: np.ndarray) -> None:
        # each row depends on its key alone: under `work_units.workers(jobs)` large batches
        # run over threads (float intervals, `index_rows`) or are chunked over forked
        # processes (Arb), with the same rows as here
        tables = [self._table(missing)] if not self.in_arb else \
            work_units.chunked(self._table, missing, PARALLEL_BOXES)
        self._append(missing, np.concatenate(tables))

    def _append(self, missing: np.ndarray, new: np.ndarray) -> None:
        """Keep the rows `new` of the sorted new keys `missing`."""
        start, end = self.size, self.size + len(new)
        if end > len(self.table):
            grown = np.empty((max(end, len(self.table) * 3 // 2), self.table.shape[1]))
            grown[:start] = self.table[:start]
            self.table = grown
        self.table[start:end] = new
        self.size = end
        # `missing` is sorted and new: merged into the sorted keys (a copy, no sort)
        at = np.searchsorted(self.keys, missing)
        self.keys = np.insert(self.keys, at, missing)
        self.rows = np.insert(self.rows, at, np.arange(start, end, dtype=np.int64))

    def since(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        """`(keys, rows)` of the rows computed after the table held `size` rows, keys
        sorted: what a forked worker (`anchored_grid`) sends back to be kept (`add`)."""
        new = self.rows >= size
        return self.keys[new], self.table[self.rows[new]]

    def add(self, keys: np.ndarray, rows: np.ndarray) -> None:
        """Keep the rows of sorted keys computed elsewhere (`since`): those not kept yet."""
        pos = np.searchsorted(self.keys, keys)
        known = pos < len(self.keys)
        known[known] = self.keys[pos[known]] == keys[known]
        if not known.all():
            self._append(keys[~known], rows[~known])

    def _table(self, linear: np.ndarray) -> np.ndarray:
        index = np.array(np.unravel_index(linear, (self.m,) * self.target.dim))
        if self.in_arb:
            fm, fb, g, ok = vectorised.box_rows(self.target, map(tuple, index.T.tolist()),
                                                self._mid, self._side)
        else:
            fm, fb, g, ok = vectorised.index_rows(self.target, self.m, index)
        good = ok.copy()
        for lo, hi in g:
            good &= np.isfinite(lo) & np.isfinite(hi)
        return np.column_stack([*fm, *fb]
                               + [np.where(good, lo, 0.0) for lo, _ in g]
                               + [np.where(good, hi, 0.0) for _, hi in g]
                               + [good.astype(float)])


def marks(cache: dict) -> dict:
    """How much each kept table of the grid prover's cache (`anchored_grid._cache`: its
    `BoxData` and its memos of Arb residuals) holds now: taken before a fork, so that a
    forked worker can send back what it added (`news`) and the parent keep it (`merge`)."""
    return {key: value.size if isinstance(value, BoxData) else len(value)
            for key, value in cache.items()
            if isinstance(value, BoxData) or (isinstance(key, tuple) and key[0] == "arb residuals")}


def news(cache: dict, before: dict) -> list:
    """What the tables of `cache` gained since `marks` gave `before` (in a forked worker),
    each a function of its key alone: new Arb residuals and rows computed in Arb (some
    tens of µs each). Rows of float intervals are not sent: sending and merging them cost
    the parent more than computing again the few it asks for later (peaks2d `--grades 8`,
    the second round of the last level at `--jobs 2`: 32 MB sent, 0.16 s to receive and
    0.16 s to merge, against 0.55 s for the whole round without them)."""
    out = []
    for key, value in cache.items():
        if isinstance(value, BoxData) and value.in_arb:
            out.append((key, value.m, value.in_arb, value.since(before.get(key, 0))))
        elif isinstance(key, tuple) and key[0] == "arb residuals":
            out.append((key, None, None, list(value.items())[before.get(key, 0):]))
    return out


def merge(target, cache: dict, found: list) -> None:
    """Keep in `cache` what a worker's `news` found (the same rows and values as computing
    them here: each depends on its key alone)."""
    for key, m, in_arb, data in found:
        if m is None:
            cache.setdefault(key, {}).update(data)
        else:
            if key not in cache:
                cache[key] = BoxData(target, m, in_arb)
            cache[key].add(*data)
