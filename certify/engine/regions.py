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

Every region, vertex and affine map is exact (`flint.fmpq`); coverage is exact because each
split keeps both closed sides. Floats only decide which neurons need no split: a layer's
pre-activations on all regions come from one batched float product with a proven error
bound (`certify.engine.activations`), and a sign is taken from a float only where the value
exceeds that bound; everything else (the rows of the hyperplanes that split a region, the
signs too close to call) is computed exactly, from exact features kept lazily per region. A budget on the number of regions turns a network too large for
this path into a `RegionBudget` exception, which the checker reads as "use the solver".
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import sympy
from flint import fmpq

from .activations import Chain, Layer, batched_vertex_signs, extend, identity_chain, \
    identity_floats, materialize, output_rows, readout_numerators
from .intervals import step_down, step_up
from .polytope import ZERO, Affine, Polytope, combine, cube, evaluate, q

#: default largest number of regions one network may have on this path
MAX_REGIONS = 60_000
#: the largest input dimension the regions path takes
MAX_DIMENSION = 3


class RegionBudget(Exception):
    """The network has more linear regions than the budget allows (or time ran out)."""


class Region:
    """One linear region of grades `1..k` (and of a piecewise-linear target, if given).

    `previous` (`F_{k-1} = g_1 + … + g_{k-1}`) and `g` (`g_k`) are exact affine rows,
    computed on first use (`resolve` does many regions at once); `previous_floats` and
    `g_floats` are float enclosures `(lo, hi)` of their coefficients, known from the
    enumeration (`certify.engine.activations` error bounds), so that callers that decide
    in floats never need the exact rows."""

    __slots__ = ("poly", "features", "f", "_previous", "_g", "_chain", "_parent", "_readout",
                 "_sum", "_nonzero", "previous_floats", "g_floats")

    def __init__(self, poly: Polytope, features, previous: Affine | None, g: Affine | None,
                 f: Affine | None, chain=None, parent=None, readout=None,
                 previous_floats=None, g_floats=None):
        self.poly, self.features, self.f = poly, features, f
        self._previous, self._g = previous, g
        self._chain, self._parent, self._readout = chain, parent, readout
        self._sum = self._nonzero = None
        self.previous_floats, self.g_floats = previous_floats, g_floats

    @property
    def previous(self) -> Affine:
        if self._previous is None:
            resolve([self])
        return self._previous

    @property
    def g(self) -> Affine:
        if self._g is None:
            resolve([self])
        return self._g

    def g_nonzero(self) -> bool | None:
        """Is `g` certainly not identically 0 (from the float enclosure)? None: unknown."""
        if self._g is not None:
            return any(self._g)
        if self._nonzero is None and self.g_floats is not None:
            lo, hi = self.g_floats
            self._nonzero = bool(((lo > 0) | (hi < 0)).any())
        return True if self._nonzero else None


def resolve(regions) -> None:
    """Compute the exact rows of the regions that lack them, many at once: the grade
    outputs are pulled back through the layers together (`activations.output_rows`), the
    previous approximant is the parent region's `previous + g` (computed once per parent)."""
    todo = [r for r in regions if r._g is None]
    if not todo:
        return
    parents = list({id(r._parent): r._parent for r in todo
                    if r._parent is not None and r._parent._sum is None}.values())
    resolve(parents)
    for parent in parents:
        parent._sum = combine((fmpq(1), parent.previous), (fmpq(1), parent.g))
    groups: dict = {}
    for r in todo:
        groups.setdefault(id(r._readout), []).append(r)
    for group in groups.values():
        readout, bias = group[0]._readout
        for r, row in zip(group, output_rows([r._chain for r in group], readout, bias)):
            r._g = row
            d = len(row) - 1
            r._previous = (ZERO,) * (d + 1) if r._parent is None else r._parent._sum


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


def _split_cell(poly: Polytope, signs: np.ndarray, rows: dict, label, clock: _Clock,
                others: int) -> list:
    """Split one cell by a layer's neurons; return `(piece, active pattern)` per piece.

    `signs` are the certain float signs at the vertices (0 where undecided); `rows` holds the
    exact pre-activation rows of every neuron that is undecided somewhere or changes sign
    on the cell, whose undecided signs are settled here exactly. A neuron of one sign at
    every vertex has it on every piece (convexity): `>= 0` with some `> 0` is active, else
    inactive (on the hyperplane both agree). The neurons that change sign are split one by
    one, each piece after the first deciding its signs again (float filter, exact where
    close).
    """
    signs = signs.astype(np.int64)
    for i, row in rows.items():
        for j in np.nonzero(signs[i] == 0)[0]:
            v = evaluate(row, poly.vertices[j])
            signs[i, j] = (v > 0) - (v < 0)
    positive, negative = (signs > 0).any(axis=1), (signs < 0).any(axis=1)
    pattern = positive & ~negative
    cutting = np.nonzero(positive & negative)[0].tolist()
    pieces = [(poly, pattern)]
    for index in cutting:
        row = rows[index]
        nxt = []
        for piece, pat in pieces:
            piece_signs = signs[index].tolist() if piece is poly else \
                piece.signs(row, np.array([float(c) for c in row]))
            upper, lower = piece.split(piece_signs, row, label + (index,))
            if upper is not None:
                nxt.append((upper, _with(pat, index, True)))
            if lower is not None:
                nxt.append((lower, _with(pat, index, False)))
        pieces = nxt
        clock.check(others + len(pieces))
    return pieces


def _with(pattern: np.ndarray, index: int, value: bool) -> np.ndarray:
    out = pattern.copy()
    out[index] = value
    return out


@dataclass(eq=False)
class _Cell:
    """A region during enumeration: its polytope, exact features (lazily), the region of
    the previous grade it lies in, and `f` (piecewise-linear target)."""

    poly: Polytope
    chain: Chain
    parent: Region | None
    f: Affine | None


_down, _up = step_down, step_up


def grade_regions(network, target=None, max_regions: int = MAX_REGIONS,
                  seconds: float | None = None) -> Iterator[list[Region]]:
    """Yield, for `k = 1, 2, …`, the linear regions of grades `1..k` (refining those of
    `k-1`), each with exact `F_{k-1}`, `g_k` (and `f` for a piecewise-linear target).

    Each layer is decided for all regions at once in floats with proven error bounds
    (`certify.engine.activations`); exact rows are made only for the neurons that come
    near a region's vertices or split it, and each grade's output is read back exactly.
    Raises `RegionBudget` past `max_regions` regions or `seconds` of wall clock.
    """
    d = network.dim
    clock = _Clock(max_regions, seconds)
    start = target_regions(target, clock) if target is not None else [(cube(d), None)]
    root = identity_chain(d)
    cells = [_Cell(poly, root, None, f) for poly, f in start]
    F = np.repeat(identity_floats(d)[None], len(cells), axis=0)
    E = np.zeros_like(F)
    # float enclosure (lo, hi) of the rows of F_{k-1}, per cell
    Q_lo, Q_hi = np.zeros((len(cells), d + 1)), np.zeros((len(cells), d + 1))
    for k, grade in enumerate(network.grades, start=1):
        for l, source in enumerate(grade.layers):
            layer = Layer(source.weight, source.bias)
            P, T = layer.propagate(F, E)
            signs, positive, need = batched_vertex_signs(P, T, [c.poly for c in cells])
            busy = need.any(axis=1).tolist()
            nxt: list[_Cell] = []
            parents, patterns = [], []
            for r, cell in enumerate(cells):
                if not busy[r]:             # every neuron of one certain sign: no split
                    nxt.append(_Cell(cell.poly, extend(cell.chain, layer, positive[r]),
                                     cell.parent, cell.f))
                    parents.append(r)
                    patterns.append(positive[r])
                    continue
                rows = layer.exact_rows(materialize(cell.chain), np.nonzero(need[r])[0].tolist())
                for poly, pattern in _split_cell(cell.poly, signs[r], rows, ("n", k, l), clock,
                                                 len(nxt)):
                    nxt.append(_Cell(poly, extend(cell.chain, layer, pattern), cell.parent,
                                     cell.f))
                    parents.append(r)
                    patterns.append(pattern)
            cells = nxt
            clock.check(len(cells))
            mask = np.array(patterns, dtype=bool)[:, :, None]
            F = np.where(mask, P[parents], 0.0)
            E = np.where(mask, T[parents], 0.0)
            Q_lo, Q_hi = Q_lo[parents], Q_hi[parents]
        readout = (readout_numerators(grade.readout_weight), q(grade.readout_bias))
        # g_k in floats: the readout is one more layer (no ReLU), T bounds its error
        G, T = Layer((grade.readout_weight,), (grade.readout_bias,)).propagate(F, E)
        with np.errstate(all="ignore"):
            G_lo, G_hi = _down(G[:, 0, :] - T[:, 0, :]), _up(G[:, 0, :] + T[:, 0, :])
        regions = [Region(c.poly, None, None, None, c.f, c.chain, c.parent, readout,
                          (Q_lo[r], Q_hi[r]), (G_lo[r], G_hi[r]))
                   for r, c in enumerate(cells)]
        for cell, region in zip(cells, regions):
            cell.parent = region
        with np.errstate(all="ignore"):
            Q_lo, Q_hi = _down(Q_lo + G_lo), _up(Q_hi + G_hi)
        clock.check(len(cells))
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
