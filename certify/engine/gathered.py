"""Float intervals of one coordinate kept once per distinct value, gathered only when mixed.

The sub-boxes a proof asks for (`vectorised.index_rows`) are scattered, but their
coordinates along one axis take few distinct values. A part of `f` that depends on one
coordinate (`sin(pi x1)` in `sin(pi x1) cos(pi x2)`) need only be computed once per
distinct value: a `Gathered` holds the intervals of the distinct values and the index that
spreads them over the sub-boxes, and stays so through every operation with constants or
with values of the same index; anything else is spread first (`full`). Every interval
operation is elementwise, so computing on the distinct values and then spreading gives the
same floats as spreading first: the results are those of `INTERVALS` bit for bit.
"""

from __future__ import annotations

import numpy as np

from .intervals import INTERVALS, IntervalArray


class Gathered(IntervalArray):
    """Intervals `[lo, hi]` of distinct values, spread over the sub-boxes by `index`.

    A subclass of `IntervalArray` only so that Python tries its reflected operators first
    (`C * x1` with `C` a constant); it is never used where an `IntervalArray` is expected."""

    __slots__ = ("index",)

    def __init__(self, values: IntervalArray, index: np.ndarray):
        super().__init__(values.lo, values.hi)
        self.index = index

    def plain(self) -> IntervalArray:
        return IntervalArray(self.lo, self.hi)

    def full(self) -> IntervalArray:
        return IntervalArray(np.asarray(self.lo)[self.index], np.asarray(self.hi)[self.index])

    def _apply(self, other, op):
        """`op(self, other)`, kept gathered when `other` is a constant or shares the index."""
        if isinstance(other, Gathered):
            if other.index is self.index:
                return Gathered(op(self.plain(), other.plain()), self.index)
            return op(self.full(), other.full())
        if isinstance(other, IntervalArray) and np.ndim(other.lo) != 0:
            return op(self.full(), other)
        return Gathered(op(self.plain(), other), self.index)

    def __neg__(self):
        return Gathered(-self.plain(), self.index)

    def __add__(self, o): return self._apply(o, lambda a, b: a + b)
    def __radd__(self, o): return self._apply(o, lambda a, b: b + a)
    def __sub__(self, o): return self._apply(o, lambda a, b: a - b)
    def __rsub__(self, o): return self._apply(o, lambda a, b: b - a)
    def __mul__(self, o): return self._apply(o, lambda a, b: a * b)
    def __rmul__(self, o): return self._apply(o, lambda a, b: b * a)
    def __truediv__(self, o): return self._apply(o, lambda a, b: a / b)
    def __rtruediv__(self, o): return self._apply(o, lambda a, b: b / a)


def spread(value):
    """A program's output as a plain `IntervalArray` over the sub-boxes."""
    return value.full() if isinstance(value, Gathered) else value


class _GatherContext:
    """`INTERVALS` for programs run on `Gathered` inputs: a method whose interval arguments
    share one index (or are constants) runs on the distinct values; others on spread ones."""

    name = "intervals"

    def __getattr__(self, name):
        method = getattr(INTERVALS, name)
        if not callable(method):
            return method

        def run(*args):
            gathered = [a for a in args if isinstance(a, Gathered)]
            if not gathered:
                return method(*args)
            index = gathered[0].index
            same = all(g.index is index for g in gathered) and not any(
                isinstance(a, IntervalArray) and not isinstance(a, Gathered)
                and np.ndim(a.lo) != 0 for a in args)
            if not same:
                return method(*[spread(a) for a in args])
            out = method(*[a.plain() if isinstance(a, Gathered) else a for a in args])
            if isinstance(out, tuple):
                return tuple(Gathered(o, index) for o in out)
            return Gathered(out, index)
        return run


GATHER = _GatherContext()


def axis_inputs(columns: list, index: np.ndarray) -> list:
    """Per axis, `columns[j]` (intervals indexed by the axis' coordinate value) as
    `Gathered` over the sub-boxes whose integer coordinates are `index[j]`."""
    return [Gathered(col, idx) for col, idx in zip(columns, index)]


def distinct(values) -> np.ndarray:
    """`np.unique(values)` (the distinct values, sorted) by one sort. numpy 2's plain
    `np.unique` hashes first, some 10x slower on the 10^5-10^6 scattered indices asked in a
    proof, and its first call imports `numpy.ma` (some 10 ms of every run)."""
    values = np.sort(np.asarray(values).reshape(-1), kind="stable")
    keep = np.ones(len(values), dtype=bool)
    keep[1:] = values[1:] != values[:-1]
    return values[keep]
