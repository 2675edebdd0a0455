"""The linear regions of a multigrade ReLU network on the cube, exactly.

A ReLU network is affine on each cell of the arrangement cut by its neurons: split the cube
layer by layer, neuron by neuron, by the hyperplane where the neuron's pre-activation (an
affine function of `x` on the current cell) vanishes. Every cell then carries an activation
pattern and, exactly, the affine maps of the grade outputs on it. Regions of grade `k`
refine those of grade `k-1`, so one pass through the network yields the regions of every
grade in turn (`grade_regions`).

A piecewise-linear target with rational data (Abs, Max, Min of affine functions) is compiled
into the same kind of ReLU units (`pl_units`) and split first, so `f` is affine on every
region too and every claim becomes a statement about affine functions on polytopes.

Everything is exact (`flint.fmpq`, `flint.fmpq_mat`); coverage is exact because each split
keeps both closed sides. A budget on the number of regions turns a network too large for
this path into a `RegionBudget` exception, which the checker reads as "use the solver".
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import sympy
from flint import fmpq, fmpq_mat

from .polytope import ZERO, Affine, Polytope, combine, cube, q

#: default largest number of regions one network may have on this path
MAX_REGIONS = 60_000
#: the largest input dimension the regions path takes
MAX_DIMENSION = 3


class RegionBudget(Exception):
    """The network has more linear regions than the budget allows (or time ran out)."""


@dataclass(eq=False)
class Region:
    """One linear region of grades `1..k` (and of a piecewise-linear target, if given)."""

    poly: Polytope
    features: fmpq_mat | None     # Φ_k as rows (c_1..c_d, c_0), one per feature
    previous: Affine              # F_{k-1} = g_1 + … + g_{k-1}
    g: Affine                     # g_k
    f: Affine | None              # f, when the target is piecewise linear


# --------------------------------------------------------------------------- PL targets

@dataclass(frozen=True)
class Unit:
    """`u = relu(Σ coeffs_i v_i + c_0)` over the variables `x_1..x_d, u_1..u_{j-1}`."""

    coeffs: tuple          # fmpq per variable so far, then the constant


def pl_units(expr, symbols) -> tuple[list[Unit], tuple]:
    """Compile a piecewise-linear SymPy expression into ReLU units and an output row.

    `Abs(a) = relu(a) + relu(-a)`, `Max(a, b) = a + relu(b - a)`, `Min(a, b) = a - relu(a - b)`;
    sums and rational multiples are affine. Returns `(units, output)`, the output an affine
    combination of `x_1..x_d, u_1..u_m` and a constant.
    """
    d = len(symbols)
    units: list[Unit] = []

    def size():
        return d + len(units)

    def pad(row):
        return tuple(row[:-1]) + (ZERO,) * (size() + 1 - len(row)) + (row[-1],)

    def add(a, b, s=1):
        a, b = pad(a), pad(b)
        return tuple(x + s * y for x, y in zip(a, b))

    def scale(a, s):
        return tuple(s * x for x in a)

    def unit(row):
        units.append(Unit(pad(row)))
        out = [ZERO] * (size() + 1)
        out[size() - 1] = fmpq(1)
        return tuple(out)

    def walk(e):
        if e.is_Rational:
            return tuple([ZERO] * size()) + (fmpq(int(e.p), int(e.q)),)
        if e.is_Symbol:
            out = [ZERO] * (size() + 1)
            out[symbols.index(e)] = fmpq(1)
            return tuple(out)
        if e.is_Add:
            out = walk(e.args[0])
            for a in e.args[1:]:
                out = add(out, walk(a))
            return out
        if e.is_Mul:
            consts = [a for a in e.args if not a.free_symbols]
            rest = [a for a in e.args if a.free_symbols]
            if len(rest) != 1 or not all(c.is_Rational for c in consts):
                raise ValueError(f"not piecewise linear: {e}")
            c = sympy.Mul(*consts)
            return scale(walk(rest[0]), fmpq(int(c.p), int(c.q)))
        if e.func == sympy.Abs:
            a = walk(e.args[0])
            plus = unit(a)
            minus = unit(scale(a, fmpq(-1)))
            return add(plus, minus)
        if e.func in (sympy.Max, sympy.Min):
            out = walk(e.args[0])
            for arg in e.args[1:]:
                b = walk(arg)
                if e.func == sympy.Max:
                    out = add(out, unit(add(b, out, -1)))
                else:
                    out = add(out, unit(add(out, b, -1)), -1)
            return out
        raise ValueError(f"not piecewise linear: {e}")

    output = pad(walk(expr))
    return units, output


# --------------------------------------------------------------------------- enumeration

class _Weights:
    """A layer's weight matrix `W = N / D` (`N` an `fmpz_mat`, `D` an integer), converted
    once: `W F` is computed as `N (F's numerators) / (D · F's denominator)`, one integer
    matrix product, some four times faster than the product of `fmpq_mat`s."""

    def __init__(self, w: fmpq_mat):
        self.numerators, self.denominator = w.numer_denom()

    def pre_activations(self, features: fmpq_mat, bias: list) -> tuple[list, np.ndarray]:
        """The rows `W F + b` (exact, as tuples) and float copies of them for the sign
        filter: each coefficient `fl(fl(P) / fl(D))` from the integer product `P` and common
        denominator `D`, within 3 units of roundoff of the exact value (`polytope`'s filter
        allows far more), each constant correctly rounded from the exact sum with the bias."""
        numerators, denominator = features.numer_denom()
        product = self.numerators * numerators
        common = self.denominator * denominator
        exact = fmpq_mat(product) / common
        rows = [tuple(row[:-1]) + (row[-1] + b,) for row, b in zip(_rows(exact), bias)]
        try:
            scale = float(common)
            ints = np.array([float(int(c)) for c in product.entries()])
        except OverflowError:
            scale = math.inf
        if not math.isfinite(scale) or scale == 0:
            return rows, np.array([[float(c) for c in row] for row in rows])
        with np.errstate(all="ignore"):
            floats = ints.reshape(len(rows), -1) / scale
        floats[:, -1] = [float(row[-1]) for row in rows]
        return rows, floats


class _Layers:
    """A network's layers as exact `fmpq_mat`s, converted once."""

    def __init__(self, network):
        self.grades = []
        for grade in network.grades:
            layers = []
            for layer in grade.layers:
                w = fmpq_mat([[q(v) for v in row] for row in layer.weight])
                layers.append((_Weights(w), [q(b) for b in layer.bias]))
            readout = fmpq_mat([[q(v) for v in grade.readout_weight]])
            self.grades.append((layers, readout, q(grade.readout_bias)))


def _identity_features(dim: int) -> fmpq_mat:
    return fmpq_mat([[fmpq(1) if j == i else ZERO for j in range(dim + 1)]
                     for i in range(dim)])


def _rows(m: fmpq_mat) -> list[tuple]:
    return [tuple(r) for r in m.tolist()]


class _Clock:
    """Region and time budget of one enumeration; time counts only while enumerating
    (`resume` when work starts again after a `yield`)."""

    def __init__(self, max_regions: int, seconds: float | None):
        self.max_regions = max_regions
        self.seconds = seconds
        self.spent = 0.0
        self.since = time.monotonic()

    def resume(self) -> None:
        self.since = time.monotonic()

    def pause(self) -> None:
        self.spent += time.monotonic() - self.since

    def check(self, count: int) -> None:
        if count > self.max_regions:
            raise RegionBudget(f"more than {self.max_regions} linear regions")
        if self.seconds is not None and \
                self.spent + time.monotonic() - self.since > self.seconds:
            raise RegionBudget(f"more than {self.seconds:g} s spent enumerating regions")


def _split_layer(poly: Polytope, pre: list, label, clock: _Clock, others: int,
                 floats: np.ndarray | None = None):
    """Split one cell by every neuron of a layer (pre-activation rows `pre`); return
    `(piece, active pattern)` per resulting cell. A neuron that is `>= 0` on a piece is
    active there, one that is `<= 0` inactive (on the hyperplane both agree).

    Signs at the cell's vertices are decided for all neurons at once (float filter, exact
    where close); a neuron of one sign there has that sign on every piece of the cell, so
    only the neurons whose hyperplane crosses the cell are handled piece by piece.
    """
    if floats is None:
        floats = np.array([[float(c) for c in row] for row in pre])
    signs = poly.sign_matrix(pre, floats)
    matrix = np.array(signs)
    positive, negative = (matrix > 0).any(axis=1), (matrix < 0).any(axis=1)
    # no vertex below 0: active where some vertex is above (all zero: inactive)
    base = [None if p and n else bool(p and not n) for p, n in zip(positive.tolist(),
                                                                   negative.tolist())]
    cutting = [i for i, b in enumerate(base) if b is None]
    pieces = [(poly, base)]
    for index in cutting:
        nxt = []
        for piece, pattern in pieces:
            piece_signs = signs[index] if piece is poly else piece.signs(pre[index],
                                                                          floats[index])
            upper, lower = piece.split(piece_signs, pre[index], label + (index,))
            if upper is not None:
                nxt.append((upper, _with(pattern, index, True)))
            if lower is not None:
                nxt.append((lower, _with(pattern, index, False)))
        pieces = nxt
        clock.check(others + len(pieces))
    return pieces


def _with(pattern: list, index: int, value: bool) -> list:
    out = list(pattern)
    out[index] = value
    return out


def target_regions(target, clock: _Clock) -> list[tuple[Polytope, Affine | None]]:
    """The cube split by a piecewise-linear target's kinks, with `f` affine on each piece;
    one piece with `f = None` for any other target."""
    d = target.dim
    if target.kind != "piecewise-linear":
        return [(cube(d), None)]
    units, output = pl_units(target.expr, list(target.symbols))
    variables = [tuple(fmpq(1) if j == i else ZERO for j in range(d + 1)) for i in range(d)]
    cells = [(cube(d), [])]                       # (poly, unit value rows so far)
    for index, u in enumerate(units):
        nxt = []
        for poly, values in cells:
            rows = variables + values
            pre = combine(*[(c, r) for c, r in zip(u.coeffs[:-1], rows)],
                          (u.coeffs[-1], (ZERO,) * d + (fmpq(1),)))
            upper, lower = poly.split_by(pre, ("target", index))
            if upper is not None:
                nxt.append((upper, values + [pre]))
            if lower is not None:
                nxt.append((lower, values + [(ZERO,) * (d + 1)]))
        cells = nxt
        clock.check(len(cells))
    out = []
    for poly, values in cells:
        rows = variables + values
        f = combine(*[(c, r) for c, r in zip(output[:-1], rows)],
                    (output[-1], (ZERO,) * d + (fmpq(1),)))
        out.append((poly, f))
    return out


def grade_regions(network, target=None, max_regions: int = MAX_REGIONS,
                  seconds: float | None = None) -> Iterator[list[Region]]:
    """Yield, for `k = 1, 2, …`, the linear regions of grades `1..k` (refining those of
    `k-1`), each with exact `F_{k-1}`, `g_k` (and `f` for a piecewise-linear target).

    Raises `RegionBudget` past `max_regions` regions or `seconds` of wall clock.
    """
    d = network.dim
    clock = _Clock(max_regions, seconds)
    layers = _Layers(network)
    zero_row = (ZERO,) * (d + 1)
    start = target_regions(target, clock) if target is not None else [(cube(d), None)]
    regions = [Region(poly, _identity_features(d), zero_row, zero_row, f)
               for poly, f in start]
    for k, (grade_layers, readout, readout_bias) in enumerate(layers.grades, start=1):
        for l, (w, bias) in enumerate(grade_layers):
            nxt: list[Region] = []
            for region in regions:
                pre, floats = w.pre_activations(region.features, bias)
                cells = _split_layer(region.poly, pre, ("n", k, l), clock, len(nxt), floats)
                for poly, pattern in cells:
                    feats = fmpq_mat([list(r) if on else list(zero_row)
                                      for r, on in zip(pre, pattern)])
                    nxt.append(Region(poly, feats, region.previous, region.g, region.f))
            regions = nxt
            clock.check(len(regions))
        for region in regions:
            g_m = readout * region.features
            g = tuple(g_m.tolist()[0])
            g = g[:-1] + (g[-1] + readout_bias,)
            region.previous = combine((fmpq(1), region.previous), (fmpq(1), region.g))
            region.g = g
        clock.pause()
        yield regions
        clock.resume()


class RegionCache:
    """The regions of each grade in turn, computed once and on demand (`get(k)`).

    Grades are usually asked for in order; asking for an earlier grade restarts the
    enumeration. A `RegionBudget` is remembered: the path is then closed for this network.
    """

    def __init__(self, network, target=None, max_regions: int = MAX_REGIONS,
                 seconds: float | None = None):
        self.network, self.target = network, target
        self.max_regions, self.seconds = max_regions, seconds
        self._iter = None
        self._k = 0
        self._regions = None
        self.failure: str | None = None
        self.seconds_spent = 0.0
        self.seconds_by_grade: dict[int, float] = {}     # enumeration time of each grade

    def get(self, k: int) -> list[Region]:
        if self.failure is not None:
            raise RegionBudget(self.failure)
        if self._iter is None or k < self._k:
            self._iter = grade_regions(self.network, self.target, self.max_regions,
                                       self.seconds)
            self._k = 0
        start = time.monotonic()
        try:
            while self._k < k:
                step = time.monotonic()
                self._regions = next(self._iter)
                self._k += 1
                self.seconds_by_grade[self._k] = time.monotonic() - step
        except RegionBudget as exc:
            self.failure = str(exc)
            raise
        finally:
            self.seconds_spent += time.monotonic() - start
        return self._regions
