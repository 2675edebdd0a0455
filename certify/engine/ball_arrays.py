"""Arb balls in numpy object arrays: a target's compiled program over many points at once.

`BallArrays` is an evaluation context whose values are object arrays of `arb` balls, one
per point. Every operation gives each element exactly what the scalar Arb context
(`expression._CONTEXTS["ball"]`) gives that point: the arithmetic of the compiled program
(`+ - * /`, unary `-`) is numpy's elementwise loop calling the very `arb` operation on the
very operands, in the same order; elementary functions, powers, `abs`, the kink factors
`sgn` and `step`, `max`, `min` call the scalar context's own method on each element (for
the Arb context, whose elementary functions are the ball's own methods, that method
itself); constants are the scalar context's. Arb is deterministic, so each ball is the one
a point-by-point run gives, bit for bit.

`node_balls` runs the program on the nodes of a dyadic grid this way: on a whole block of
grid rows as an open mesh (every coordinate an axis of its own, numpy broadcasting), a part
of f in fewer coordinates (`sin(πx1)` in `sin(πx1) cos(πx2)`) is computed once per row or
column instead of once per node, and no interpreter runs per node; what the grid prover
asks for each node (`anchored_grid.Grid._node_floats`) is unchanged. `float_ends` reads
the float intervals of many balls the same way, in numpy's loops over the object arrays.
"""

from __future__ import annotations

import numpy as np
from flint import arb

from .intervals import step_down as _dn, step_up as _up
from .numbers import BallContext, Context
from .work_units import row_mesh

#: the scalar context's one-argument methods applied elementwise, with their result counts
_UNARY = {"relu": 1, "sin": 1, "cos": 1, "sin_cos": 2, "tan": 1, "exp": 1, "log": 1,
          "atan": 1, "sinh": 1, "cosh": 1, "tanh": 1, "abs": 1, "sgn": 1, "step": 1}
#: elementary functions that `BallContext` computes as `self.convert(a).sin()` etc.: where a
#: context keeps them and its `convert` returns a ball as it is, on balls the ball's own
#: method is the same call
_METHODS = ("sin", "cos", "tan", "exp", "log", "atan", "sinh", "cosh", "tanh")
#: elementwise `arb(x)`: exact for Python ints and floats, a ball containing an `fmpq`
to_balls = np.frompyfunc(arb, 1, 1)
#: elementwise `ball.rad()`
_RAD = np.frompyfunc(arb.rad, 1, 1)
_TYPE = np.frompyfunc(type, 1, 1)
#: nodes per block of a mesh run (the intermediate arrays hold one ball per node)
BLOCK_NODES = 1 << 15


class BallArrays(Context):
    """Arb balls over object arrays, elementwise as the scalar context `scalar`."""

    name = "ball arrays"

    def __init__(self, scalar: Context):
        self.scalar = scalar
        self._maps = {name: np.frompyfunc(getattr(scalar, name), 1, count)
                      for name, count in _UNARY.items()}
        probe = arb(1)
        if isinstance(scalar, BallContext) and scalar.convert(probe) is probe:
            for name in _METHODS:       # not overridden: `self.convert(a).name()`
                if getattr(type(scalar), name) is getattr(BallContext, name):
                    self._maps[name] = _own_method(getattr(arb, name), self._maps[name])
            if type(scalar).sin_cos in (Context.sin_cos, BallContext.sin_cos):
                # (self.sin(a), self.cos(a)), or the same with `a` converted once
                sin, cos = self._maps["sin"], self._maps["cos"]
                self._maps["sin_cos"] = lambda a: (sin(a), cos(a))
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
    def sgn(self, a): return self._maps["sgn"](a)
    def step(self, a): return self._maps["step"](a)
    def max(self, a, b): return self._max(a, b)
    def min(self, a, b): return self._min(a, b)

    def pow(self, a, exponent):
        return np.frompyfunc(lambda x: self.scalar.pow(x, exponent), 1, 1)(a)

    def cpow(self, a, exponent):
        return np.frompyfunc(lambda x: self.scalar.cpow(x, exponent), 1, 1)(a)


def _own_method(method, scalar_map):
    """`scalar_map` over an object array, as the ball's own `method` on each element (no
    Python frame per element) where every element is a ball (`arb`; python-flint's methods
    convert other operands, so that is checked first), else `scalar_map` itself."""
    fast = np.frompyfunc(method, 1, 1)

    def apply(a):
        return fast(a) if np.all(_TYPE(a) == arb) else scalar_map(a)
    return apply


_ARRAYS: dict = {}


def arrays_of(scalar: Context) -> BallArrays:
    """The one `BallArrays` context over `scalar` (programs keep their constants per
    context, so a context made anew for every run would make them anew, and keep them)."""
    if id(scalar) not in _ARRAYS:
        _ARRAYS[id(scalar)] = (scalar, BallArrays(scalar))
    return _ARRAYS[id(scalar)][1]


def balls_of(values) -> np.ndarray:
    """A flat object array holding the given balls."""
    values = list(values)
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def outputs(program, key: str, context: BallArrays, xs: list, shape: tuple) -> list:
    """The program's outputs `key` on the points `xs` (broadcastable object arrays), each
    as a flat object array of `prod(shape)` balls."""
    out = []
    for value in program.run(key, context, xs):
        if not isinstance(value, np.ndarray):     # an output that does not depend on the point
            value = balls_of([value]).reshape(())
        out.append(np.broadcast_to(value, shape).reshape(-1))
    return out


def _value(program, context: BallArrays, xs: list, shape: tuple) -> np.ndarray:
    """The program's `value` (its first output) on the points `xs`, as `outputs`."""
    return outputs(program, "value", context, xs, shape)[0]


def node_balls(program, scalar: Context, n: int, dim: int, ids: np.ndarray) -> np.ndarray:
    """The balls of f (the program's `value`, as `scalar` computes it point by point) at
    the nodes with flat C-order indices `ids` of the grid with `n` intervals a side, `n` a
    power of two: the point `i/n` is the exact ball `arb(i)/n` on each axis (in d = 1 made
    only for the indices asked, as `arb` of the float `i/n`: `i/n` is a float, `arb` of a
    float is exact, and Arb's quotient of exact balls that is exact has radius 0, so it is
    the same ball). In d >= 2 over blocks of whole rows as open meshes where
    `ids` fill at least half of the rows they span, else (and in d = 1) over the nodes
    themselves. A flat object array."""
    ids = np.asarray(ids, dtype=np.int64).reshape(-1)
    out = np.empty(len(ids), dtype=object)
    if not len(ids):
        return out
    context = arrays_of(scalar)
    if dim == 1:
        for a in range(0, len(ids), BLOCK_NODES):
            part = ids[a:a + BLOCK_NODES]
            out[a:a + len(part)] = _value(program, context, [to_balls(part / n)], (len(part),))
        return out
    axis = balls_of([arb(i) / n for i in range(n + 1)])
    per_row = (n + 1) ** (dim - 1)
    first, last = int(ids.min()) // per_row, int(ids.max()) // per_row + 1
    if 2 * len(ids) < (last - first) * per_row:
        index = np.unravel_index(ids, (n + 1,) * dim)
        for a in range(0, len(ids), BLOCK_NODES):
            part = slice(a, a + BLOCK_NODES)
            xs = [axis[i[part]] for i in index]
            out[part] = _value(program, context, xs, (len(xs[0]),))
        return out
    rows = max(1, BLOCK_NODES // per_row)
    for a in range(first, last, rows):
        b = min(a + rows, last)
        xs = row_mesh(axis[a:b], axis, dim)
        values = _value(program, context, xs, (b - a,) + (n + 1,) * (dim - 1))
        sel = np.nonzero((ids >= a * per_row) & (ids < b * per_row))[0]
        out[sel] = values[ids[sel] - a * per_row]
    return out


def mid_rad_floats(balls: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The floats of each ball's mid-point and radius, for a flat object array of balls:
    numpy's cast of an object array to float64 calls `float(ball)` on each element, the
    float of the mid-point (python-flint rounds `arb_midref(b)`, as `float(b.mid())` does,
    without making the mid-point ball), and `_RAD` is `ball.rad()`."""
    return balls.astype(np.float64), _RAD(balls).astype(np.float64)


def float_ends(balls: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`(mids, lo, hi)` of a flat object array of balls: the float of each mid-point
    (`mid_rad_floats`) and the float interval around the ball, the radius stepped up and
    the ends stepped outward (see `certify.engine.vectorised`'s docstring)."""
    mids, rads = mid_rad_floats(balls)
    with np.errstate(all="ignore"):
        rad = _up(rads)
        return mids, _dn(_dn(mids) - rad), _up(_up(mids) + rad)


def offsets_from(balls: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """The balls `ball - arb(c)` for float `centres` (elementwise; `arb` of a float is exact).
    Where every element is a ball, `ball - c` itself: python-flint converts the float `c`
    to the exact ball `arb(c)` and subtracts, the same operation on the same operands, so
    the same ball, without an object array of `arb(c)` made first."""
    if np.all(_TYPE(balls) == arb):
        return balls - centres
    return balls - to_balls(centres)
