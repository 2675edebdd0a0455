"""Arb balls in numpy object arrays: a target's compiled program over many points at once.

`BallArrays` is an evaluation context whose values are object arrays of `arb` balls, one
per point. Every operation gives each element exactly what the scalar Arb context
(`expression._CONTEXTS["ball"]`) gives that point: the arithmetic of the compiled program
(`+ - * /`, unary `-`) is numpy's elementwise loop calling the very `arb` operation on the
very operands, in the same order; elementary functions, powers, `abs`, `max`, `min` call
the scalar context's own method on each element; constants are the scalar context's. Arb
is deterministic, so each ball is the one a point-by-point run gives, bit for bit.

`node_balls` runs the program on the nodes of a dyadic grid this way: on a whole block of
grid rows as an open mesh (every coordinate an axis of its own, numpy broadcasting), a part
of f in fewer coordinates (`sin(πx1)` in `sin(πx1) cos(πx2)`) is computed once per row or
column instead of once per node, and no interpreter runs per node; what the grid prover
asks for each node (`anchored_grid.Grid._node_floats`) is unchanged.
"""

from __future__ import annotations

import numpy as np
from flint import arb

from .numbers import Context
from .work_units import row_mesh

#: the scalar context's one-argument methods applied elementwise, with their result counts
_UNARY = {"relu": 1, "sin": 1, "cos": 1, "sin_cos": 2, "tan": 1, "exp": 1, "log": 1,
          "atan": 1, "sinh": 1, "cosh": 1, "tanh": 1, "abs": 1}
#: nodes per block of a mesh run (the intermediate arrays hold one ball per node)
BLOCK_NODES = 1 << 15


class BallArrays(Context):
    """Arb balls over object arrays, elementwise as the scalar context `scalar`."""

    name = "ball arrays"

    def __init__(self, scalar: Context):
        self.scalar = scalar
        self._maps = {name: np.frompyfunc(getattr(scalar, name), 1, count)
                      for name, count in _UNARY.items()}
        self._max = np.frompyfunc(scalar.max, 2, 1)
        self._min = np.frompyfunc(scalar.min, 2, 1)

    def convert(self, q):
        return self.scalar.convert(q)

    def pi(self):
        return self.scalar.pi()

    def E(self):
        return self.scalar.E()

    def relu(self, a): return self._maps["relu"](a)
    def sin(self, a): return self._maps["sin"](a)
    def cos(self, a): return self._maps["cos"](a)
    def sin_cos(self, a): return self._maps["sin_cos"](a)
    def tan(self, a): return self._maps["tan"](a)
    def exp(self, a): return self._maps["exp"](a)
    def log(self, a): return self._maps["log"](a)
    def atan(self, a): return self._maps["atan"](a)
    def sinh(self, a): return self._maps["sinh"](a)
    def cosh(self, a): return self._maps["cosh"](a)
    def tanh(self, a): return self._maps["tanh"](a)
    def abs(self, a): return self._maps["abs"](a)
    def max(self, a, b): return self._max(a, b)
    def min(self, a, b): return self._min(a, b)

    def pow(self, a, exponent):
        return np.frompyfunc(lambda x: self.scalar.pow(x, exponent), 1, 1)(a)

    def cpow(self, a, exponent):
        return np.frompyfunc(lambda x: self.scalar.cpow(x, exponent), 1, 1)(a)


def balls_of(values) -> np.ndarray:
    """A flat object array holding the given balls."""
    values = list(values)
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _value(program, context: BallArrays, xs: list, shape: tuple) -> np.ndarray:
    """The program's `value` (its first output) on the points `xs` (broadcastable object
    arrays), as a flat object array of `prod(shape)` balls."""
    out = program.run("value", context, xs)[0]
    if not isinstance(out, np.ndarray):           # f does not depend on the point
        out = balls_of([out]).reshape(())
    return np.broadcast_to(out, shape).reshape(-1)


def node_balls(program, scalar: Context, n: int, dim: int, ids: np.ndarray) -> list:
    """The balls of f (the program's `value`, as `scalar` computes it point by point) at
    the nodes with flat C-order indices `ids` of the grid with `n` intervals a side, `n` a
    power of two: the point `i/n` is the exact ball `arb(i)/n` on each axis. In d >= 2
    over blocks of whole rows as open meshes where `ids` fill at least half of the rows
    they span, else (and in d = 1) over the nodes themselves."""
    ids = np.asarray(ids, dtype=np.int64).reshape(-1)
    if not len(ids):
        return []
    context = BallArrays(scalar)
    axis = balls_of([arb(i) / n for i in range(n + 1)])
    per_row = (n + 1) ** (dim - 1)
    first, last = int(ids.min()) // per_row, int(ids.max()) // per_row + 1
    if dim == 1 or 2 * len(ids) < (last - first) * per_row:
        index = np.unravel_index(ids, (n + 1,) * dim)
        out = np.empty(len(ids), dtype=object)
        for a in range(0, len(ids), BLOCK_NODES):
            part = slice(a, a + BLOCK_NODES)
            xs = [axis[i[part]] for i in index]
            out[part] = _value(program, context, xs, (len(xs[0]),))
        return out.tolist()
    out = np.empty(len(ids), dtype=object)
    rows = max(1, BLOCK_NODES // per_row)
    for a in range(first, last, rows):
        b = min(a + rows, last)
        xs = row_mesh(axis[a:b], axis, dim)
        values = _value(program, context, xs, (b - a,) + (n + 1,) * (dim - 1))
        sel = np.nonzero((ids >= a * per_row) & (ids < b * per_row))[0]
        out[sel] = values[ids[sel] - a * per_row]
    return out.tolist()
