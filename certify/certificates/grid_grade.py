"""Grades recognised from their weights as hats on a grid, and their exact nodal values.

A grade whose weights are, exactly, this toolkit's realisation of hats `c_z φ_z` on a grid
of mesh `1/n` (`realize.recognise_grade`; a grade built in this process hands over its
hats directly) computes `g(x) = a · x + α P(x) - β Q(x) + b`: a piecewise-linear function
whose values at the grid's nodes are sums of the hats' coefficients. `recognise` reads each
grade of a network this way (None where it is not of this kind), and `GridGrade.nodal`
gives those values exactly, as integer numerators over one denominator.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from ..engine.hat_grade import HatArray, HatGrade
from ..engine.nodal import LIMIT, Nodal
from ..engine.realize import Hat, readout, recognise_grade


@dataclass(frozen=True)
class GridGrade:
    """A grade recognised from its weights as hats on the grid of mesh `1/n`."""

    hats: tuple[Hat, ...]       # or the builder's `HatArray` (same hats, as arrays)
    n: int | None              # None: no hats (the grade is affine)
    carrier: tuple[Fraction, ...]
    alpha: Fraction
    beta: Fraction
    bias: Fraction

    #: the hats' nodes as grid indices, shape (hats, d) (`_grid_index`, kept from
    #: recognition); None: computed when asked
    index: np.ndarray | None = field(default=None, compare=False, repr=False)

    def nodal(self, dim: int, grid: int) -> Nodal:
        """Values of `g` at the nodes of the grid with `grid` intervals a side (exact,
        integer numerators over one denominator)."""
        base = self.n or grid
        shape = (base + 1,) * dim
        plain = self.alpha == 1 and self.beta == 1
        if isinstance(self.hats, HatArray):
            if plain and self.n and not any(self.carrier):
                out = self.hats.nodal(self.bias, base)         # the same sums, as arrays
                return out.refine(grid // base) if grid != base else out
            index = self.hats.index                 # nodes `index · h`, `h = 1/base`
        else:
            index = self.index if self.index is not None else \
                _grid_index(self.hats, base, dim)
        if index is None:
            raise ValueError(f"a hat's node is not on the grid n={base}")
        values = [hat.c for hat in self.hats] if plain else \
            [(self.alpha if hat.c > 0 else self.beta) * hat.c for hat in self.hats]
        if any(self.carrier):       # an affine part: not the construction's readout (rare)
            nodes = np.empty(shape, dtype=object)
            for node in itertools.product(range(base + 1), repeat=dim):
                nodes[node] = self.bias + sum((a * Fraction(i, base) for a, i in
                                               zip(self.carrier, node)), Fraction(0))
            for node, value in zip(map(tuple, index.tolist()), values):
                nodes[node] += value
            out = Nodal.of(nodes)
        else:
            flat = np.ravel_multi_index(tuple(index.T), shape)
            out = _hat_sums(values, Fraction(self.bias), flat, shape)
        return out.refine(grid // base) if grid != base else out


def _grid_index(hats, n: int, dim: int) -> np.ndarray | None:
    """The hats' nodes `z = i/n` as grid indices `i` (int64, shape (hats, d)); None when a
    coordinate is not of that form with `0 <= i <= n`. One pass over the coordinates'
    numerators and denominators, then whole arrays."""
    coords = [v for hat in hats for v in hat.z]
    nums = [v.numerator for v in coords]
    dens = [v.denominator for v in coords]
    try:
        if n > LIMIT:
            raise OverflowError(f"n={n}")
        num = np.array(nums, dtype=np.int64)
        den = np.array(dens, dtype=np.int64)
    except OverflowError:           # numbers past int64 (not on any grid we build)
        if any(n % d or not 0 <= a <= d for a, d in zip(nums, dens)):
            return None
        return np.array([a * (n // d) for a, d in zip(nums, dens)],
                        dtype=np.int64).reshape(-1, dim)
    if np.any(n % den) or not np.all((num >= 0) & (num <= den)):
        return None
    return (num * (n // den)).reshape(-1, dim)        # <= n: no overflow


def _hat_sums(values: list, bias: Fraction, flat: np.ndarray, shape) -> Nodal:
    """`bias` plus `values[j]` added at the flat node `flat[j]`, exact, over the least
    common denominator: whole int64 arrays when there is at most one value per node and
    every sum is within `LIMIT`, else Python ints."""
    den = bias.denominator
    nums = [v.numerator for v in values]
    dens = [v.denominator for v in values]
    for d in set(dens):
        den = den * d // math.gcd(den, d)
    start = bias.numerator * (den // bias.denominator)
    adds = None
    if nums and max(map(abs, nums)) * (den // min(dens)) <= LIMIT:
        # every `num · (den / d)` fits: scaled as int64, the scale per distinct denominator
        distinct = sorted(set(dens))
        scale = np.array([den // d for d in distinct], dtype=np.int64)
        if len(distinct) > 1:
            scale = scale[np.searchsorted(np.array(distinct, dtype=np.int64),
                                          np.array(dens, dtype=np.int64))]
        adds = np.array(nums, dtype=np.int64) * scale
        largest = int(np.abs(adds).max())
    elif nums:
        adds = [a * (den // d) for a, d in zip(nums, dens)]
        largest = max(map(abs, adds))
    else:
        largest = 0
    once = not len(flat) or int(np.bincount(flat).max()) <= 1
    if abs(start) + largest <= LIMIT and once:
        # at most one term per node and every sum within int64: whole arrays
        num = np.full(int(np.prod(shape)), start, dtype=np.int64)
        if adds is not None:
            num[flat] += np.asarray(adds, dtype=np.int64)
        return Nodal(num.reshape(shape), den)
    num = np.full(int(np.prod(shape)), start, dtype=object)
    for node, add in zip(flat.tolist(), list(adds) if adds is not None else []):
        num[node] += int(add)
    return Nodal(num.reshape(shape), den).pack()


def recognise(network) -> list[GridGrade | None]:
    """Each grade as a `GridGrade`, or None where its weights are not the construction's."""
    dim = network.dim
    inputs = dim
    out = []
    canonical = readout(dim)
    for grade in network.grades:
        out.append(_recognise_one(dim, grade, inputs, canonical))
        inputs = grade.features
    return out


def _recognise_one(dim, grade, inputs, canonical) -> GridGrade | None:
    if grade.features != dim + 2:
        return None
    if isinstance(grade, HatGrade) and grade.dim == dim and grade.inputs == inputs:
        hats = grade.hats         # its layers are grade_layers(hats): what recognition reads
    else:
        hats = recognise_grade(dim, grade.layers, canonical, inputs)
    if hats is None:
        return None
    array = isinstance(hats, HatArray)      # one mesh, integer nodes: read off the arrays
    n = index = None
    if len(hats):
        h = hats.h if array else hats[0].h
        if not array and not all(hat.h is h or hat.h == h for hat in hats):
            return None
        if h <= 0 or (1 / h).denominator != 1:
            return None
        n = int(1 / h)
        if array:
            if not hats.on_grid(n):
                return None
        else:
            index = _grid_index(hats, n, dim)
            if index is None:
                return None
    w = grade.readout_weight
    return GridGrade(hats if array else tuple(hats), n, tuple(w[:dim]), w[dim], -w[dim + 1],
                     grade.readout_bias, index)
