"""Construction grades kept as their hats: the ReLU layers are made only when asked for.

A grade of the construction is, by definition, `realize.grade_layers(d, hats, inputs)`
with the canonical readout `P - Q`. Holding the hats instead of the layers costs a few
hundred bytes per hat instead of several kilobytes, and nothing is lost: `layers` builds
exactly those weights on first use (writing the network, evaluating it exactly at a
counterexample, the regions or general paths), and the locality checker reads the hats
off the grade directly, which is what `realize.recognise_grade` would return for those
very layers (it accepts hats only when rebuilding them gives the layers weight for weight).
Shapes (width, depth, the budget counts of `limits`) follow from the block structure of
`grade_layers` without building it: the first two hats through the generic builders, and
every further hat one more copy of the second hat's block.

A level of the construction hands its hats over as a `HatArray`: node indices and
coefficients as integer arrays, `Hat` objects (a `Fraction` per coordinate and
coefficient) made only when someone iterates over them; the locality checker reads the
arrays themselves (`HatArray.nodal`, `HatArray.on_grid`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence as _Sequence
from fractions import Fraction
from typing import Sequence

import numpy as np

from .gathered import distinct
from .network import Grade
from .nodal import LIMIT, Nodal
from .realize import Hat, _grade_layers_reference, block_depth, grade_layers, readout


class HatArray(_Sequence):
    """The hats `c_i φ_{z_i}` of one level as arrays: `index` (shape (count, d), int64) the
    nodes `z_i = index_i · h` on the level grid of mesh `h`, `units` (int64, or object where
    one does not fit) the coefficients `c_i = units_i · 2^-bits`; zero coefficients are
    dropped (as `grade_layers` drops them). A sequence of `Hat`s: `hats[i]` makes one,
    iterating makes (and keeps) them all, with one `Fraction` per distinct coordinate, the
    same numbers a list of `Hat`s would hold."""

    def __init__(self, index: np.ndarray, units: np.ndarray, bits: int, h: Fraction):
        index = np.asarray(index, dtype=np.int64)
        units = np.asarray(units)
        if units.dtype != object:
            units = units.astype(np.int64, copy=False)
        if index.ndim != 2 or len(index) != len(units):
            raise ValueError(f"index of shape {index.shape} does not match {len(units)} units")
        live = units != 0
        if not live.all():
            index, units = index[live], units[live]
        self.index, self.units, self.bits, self.h = index, units.reshape(-1), int(bits), h
        self._hats: list | None = None

    def __reduce__(self):
        return HatArray, (self.index, self.units, self.bits, self.h)

    def __len__(self) -> int:
        return len(self.units)

    def __repr__(self) -> str:
        return f"HatArray(hats={len(self)}, h={self.h}, bits={self.bits})"

    def __getitem__(self, key):
        if self._hats is not None:
            return self._hats[key]
        if isinstance(key, slice):
            return [self._hat(i) for i in range(*key.indices(len(self)))]
        i = range(len(self))[key]              # IndexError as a list gives it
        return self._hat(i)

    def __iter__(self):
        return iter(self.hats())

    def _hat(self, i: int) -> Hat:
        hn, hd = self.h.numerator, self.h.denominator
        return Hat(tuple(Fraction(int(v) * hn, hd) for v in self.index[i]), self.h,
                   Fraction(int(self.units[i]), 1 << self.bits))

    def hats(self) -> list[Hat]:
        """All hats as `Hat`s, in order (made once, then kept)."""
        if self._hats is None:
            hn, hd, h = self.h.numerator, self.h.denominator, self.h
            axis = {i: Fraction(i * hn, hd) for i in distinct(self.index).tolist()}
            scale = 1 << self.bits
            self._hats = [Hat(tuple([axis[i] for i in node]), h, Fraction(u, scale))
                          for node, u in zip(self.index.tolist(), self.units.tolist())]
        return self._hats

    def on_grid(self, n: int) -> bool:
        """Whether every node is on the grid with `n` intervals a side (`z = i/n`,
        `0 <= i <= n`)."""
        if not len(self):
            return True
        if self.h * n != int(self.h * n):
            return False
        step = int(self.h * n)              # z = index · h = (index · step) / n
        return bool(self.index.min() >= 0) and int(self.index.max()) * step <= n

    def nodal(self, bias: Fraction, n: int) -> Nodal:
        """`bias + Σ c_i φ_{z_i}` at the nodes of the grid with `n = 1/h` intervals a side,
        over the denominator `lcm(den bias, den c_i)` (the `Fraction`s' least common
        denominator), exactly as that sum in `Fraction`s."""
        if self.h * n != 1:
            raise ValueError(f"n={n} is not 1/h for h={self.h}")
        dim = self.index.shape[1]
        shape = (n + 1,) * dim
        units = self.units
        bias = Fraction(bias)
        if len(self):
            ored = int(np.bitwise_or.reduce(np.abs(units))) if units.dtype != object \
                else _or(units.tolist())
            zeros = (ored & -ored).bit_length() - 1     # least trailing zeros of the units
            m = max(self.bits - zeros, 0)               # the c_i's denominators: 2^m at most
        else:
            m = 0
        den = bias.denominator * (1 << m) // math.gcd(bias.denominator, 1 << m)
        start = bias.numerator * (den // bias.denominator)
        factor = den >> m                                # c_i · den = (u_i >> (bits - m)) · factor
        shift = self.bits - m
        if units.dtype != object and (int(np.abs(units).max(initial=0)) >> shift) * factor \
                + abs(start) <= LIMIT:
            num = np.full(math.prod(shape), start, dtype=np.int64)
            if len(self):
                flat = np.ravel_multi_index(tuple(self.index.T), shape)
                num[flat] += (units >> shift) * factor
            return Nodal(num.reshape(shape), den)
        num = np.full(shape, start, dtype=object)
        for node, u in zip(self.index.tolist(), units.tolist()):
            num[tuple(node)] += (int(u) >> shift) * factor
        return Nodal(num, den).pack()


def _or(values) -> int:
    """The bitwise or of `|v|` over Python ints."""
    out = 0
    for v in values:
        out |= abs(int(v))
    return out


class HatGrade(Grade):
    """`Grade` whose layers are `grade_layers(dim, hats, inputs)`, built lazily."""

    def __init__(self, dim: int, hats: Sequence[Hat], inputs: int):
        self.dim, self.inputs = dim, inputs
        # as `grade_layers` keeps them (a `HatArray` holds no zero coefficient)
        self.hats = hats if isinstance(hats, HatArray) else tuple(h for h in hats if h.c != 0)
        self.readout_weight, self.readout_bias = readout(dim)
        self._sparse = self._dense = self._converted = None
        self._layers = None
        self._shapes = None

    def __repr__(self) -> str:
        return f"HatGrade(dim={self.dim}, hats={len(self.hats)}, inputs={self.inputs})"

    @property
    def layers(self):
        """The exact layers (built on first use, then kept)."""
        if self._layers is None:
            self._layers = grade_layers(self.dim, self.hats, self.inputs)
        return self._layers

    def shapes(self) -> list[tuple[int, int]]:
        """`(width, inputs)` of every layer, in order, without building the layers."""
        if self._layers is not None:
            return [(layer.width, layer.inputs) for layer in self._layers]
        if self._shapes is None:
            ref = _grade_layers_reference(self.dim, self.hats[:2], self.inputs)
            shape = [(layer.width, layer.inputs) for layer in ref]
            if len(self.hats) >= 3:           # `realize._grade_layers`: the second block again
                depth = block_depth(self.dim)
                shape = shape[:2 * depth] + shape[depth:2 * depth] * (len(self.hats) - 2) \
                    + shape[-1:]
            self._shapes = shape
        return self._shapes

    @property
    def width(self) -> int:
        shapes = self.shapes()
        if self._layers is None and len(self.hats) >= 3:
            # the second block's shapes repeat: its first copy and the readout have them all
            shapes = shapes[:2 * block_depth(self.dim)] + shapes[-1:]
        return max(w for w, _ in shapes)

    @property
    def depth(self) -> int:
        return len(self.shapes())

    @property
    def features(self) -> int:
        return self.shapes()[-1][0]
