"""Exact convex polytopes in dimension d <= 3: split by a hyperplane, triangulate, integrate.

A linear region of a ReLU network is a convex polytope cut out of the cube by the
hyperplanes of its neurons. Here a polytope is its list of vertices (exact rationals,
`flint.fmpq`) and, for every vertex, the set of *labels* of the constraints tight there
(a cube facet, a neuron's hyperplane). Labels are complete — a vertex carries every
constraint tight at it — so the combinatorics need no floating point:

- two vertices span an edge iff no third vertex is tight at every constraint they share
  (the face they span then has exactly two vertices; a 2-face has at least three);
- splitting by an affine function `a` adds a vertex on every edge whose ends have
  opposite signs, at the exact zero of `a` on it.

Integrals of `|a|^p` over a polytope, for `a` affine of one sign, use the simplex moment
formula on a triangulation (cone from a vertex over the facets that miss it).

Affine functions are `Affine` rows `(c_1, …, c_d, c_0)` meaning `c·x + c_0`.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Sequence

import numpy as np
from flint import arb, fmpq

from .numbers import to_fmpq

Affine = tuple  # (c_1, ..., c_d, c_0) of fmpq
ZERO = fmpq(0)


#: unit roundoff of float64
_U = 2.0 ** -53


def _filter_bound(V: np.ndarray, row: np.ndarray) -> np.ndarray:
    """A bound on |exact - float| for `row · (v, 1)` at every float vertex `v`.

    Inputs are within 3 units of roundoff of the exact values (vertices correctly rounded,
    row coefficients correctly rounded from exact rows, `certify.engine.regions`), a
    product adds u and a sum of `d+1` terms at most `(d+1) u` of the sum of magnitudes, so
    `(d+6) u Σ|a_j v_j|` (first order) bounds the error; we take 16 (d+4) u, with an
    absolute 1e-290 below which nothing is trusted (underflow). A non-finite bound fails every comparison, so
    the exact path decides.
    """
    d = V.shape[1]
    return 16 * (d + 4) * _U * (np.abs(V) @ np.abs(row[:-1]) + abs(row[-1])) + 1e-290


q = to_fmpq         # an exact `fmpq` from a Fraction, int or fmpq


def frac(value: fmpq) -> Fraction:
    """The `Fraction` of an `fmpq` (for the rest of the package)."""
    return Fraction(int(value.p), int(value.q))


def round_dyadic(x: fmpq, direction: str, bits: int = 120) -> fmpq:
    """`x` rounded outward (`"down"` or `"up"`) to a dyadic of `bits` significant bits.

    Exact sums over thousands of pieces would carry the least common multiple of every
    denominator; sums of outward-rounded terms stay small and remain rigorous bounds.
    """
    if x == 0:
        return x
    p, q = int(x.p), int(x.q)
    shift = bits - (abs(p).bit_length() - q.bit_length())
    n, d = (p << shift, q) if shift >= 0 else (p, q << -shift)
    m = n // d if direction == "down" else -((-n) // d)
    return fmpq(m, 1 << shift) if shift >= 0 else fmpq(m << -shift)


def evaluate(row: Affine, point: Sequence[fmpq]) -> fmpq:
    """`c·x + c_0` exactly."""
    total = row[-1]
    for c, x in zip(row, point):
        if c:
            total += c * x
    return total


def is_zero(row: Affine) -> bool:
    return not any(row)


def combine(*terms: tuple) -> Affine:
    """`Σ s_i a_i` for pairs `(s_i, a_i)` of a scalar and an affine row."""
    size = len(terms[0][1])
    out = [ZERO] * size
    for s, row in terms:
        if s:
            for j in range(size):
                if row[j]:
                    out[j] += s * row[j]
    return tuple(out)


@dataclass(eq=False)
class Polytope:
    """A full-dimensional convex polytope: exact vertices and their tight-constraint labels."""

    vertices: list            # list of tuples of fmpq
    labels: list              # list of frozensets, one per vertex
    _floats: np.ndarray | None = field(default=None, repr=False)
    _balls: list | None = field(default=None, repr=False)
    _edges: list | None = field(default=None, repr=False)
    _volumes: list | None = field(default=None, repr=False)
    _simplices: list | None = field(default=None, repr=False)

    @property
    def dim(self) -> int:
        return len(self.vertices[0])

    def edges(self) -> list[tuple[int, int]]:
        """Index pairs of the vertices joined by an edge (cached)."""
        if self._edges is None:
            self._edges = self._find_edges()
        return self._edges

    def _find_edges(self) -> list[tuple[int, int]]:
        """Two vertices span an edge iff they share at least `d - 1` labels and no third
        vertex is tight at every label they share."""
        n = len(self.vertices)
        if self.dim == 1:
            return [(0, 1)]
        labels, least = self.labels, self.dim - 1
        out = []
        for i in range(n):
            for j in range(i + 1, n):
                common = labels[i] & labels[j]
                if len(common) < least:
                    continue
                if not any(common <= labels[k] for k in range(n) if k != i and k != j):
                    out.append((i, j))
        return out

    def floats(self) -> np.ndarray:
        """The vertices as a float array (correctly rounded), cached: for sign filters."""
        if self._floats is None:
            self._floats = np.array([[float(x) for x in v] for v in self.vertices])
        return self._floats

    def signs(self, row: Affine, row_floats: np.ndarray | None = None) -> list[int]:
        """The exact sign of the affine function `row` at every vertex.

        Decided in floats where the value exceeds a proven bound on the rounding error
        (`_filter_bound`), exactly in rationals at the others.
        """
        if row_floats is None:
            row_floats = np.array([float(c) for c in row])
        V = self.floats()
        with np.errstate(all="ignore"):
            approx = V @ row_floats[:-1] + row_floats[-1]
            bound = _filter_bound(V, row_floats)
        out = []
        for i, (a, b) in enumerate(zip(approx, bound)):
            if a > b:
                out.append(1)
            elif a < -b:
                out.append(-1)
            else:
                v = evaluate(row, self.vertices[i])
                out.append((v > 0) - (v < 0))
        return out

    def split(self, signs: Sequence[int], row: Affine, label
              ) -> tuple["Polytope | None", "Polytope | None"]:
        """The parts where the affine function `row` (with these exact vertex `signs`) is
        `>= 0` and `<= 0`.

        A part that is not full-dimensional is None; when the function has one sign the
        polytope itself is returned on that side (an identically zero function: `<= 0`).
        """
        pos = [i for i, s in enumerate(signs) if s > 0]
        neg = [i for i, s in enumerate(signs) if s < 0]
        if not neg:
            return (self, None) if pos else (None, self)
        if not pos:
            return None, self
        zero = [i for i, s in enumerate(signs) if s == 0]
        tag = frozenset((label,))           # hashed once (a label may hold an fmpq: slow)
        new_vertices, new_labels = [], []
        exact: dict[int, fmpq] = {}
        for i, j in self.edges():
            if signs[i] * signs[j] < 0:
                for k in (i, j):
                    if k not in exact:
                        exact[k] = evaluate(row, self.vertices[k])
                vi, vj = exact[i], exact[j]
                t = vi / (vi - vj)
                a, b = self.vertices[i], self.vertices[j]
                new_vertices.append(tuple(x + t * (y - x) for x, y in zip(a, b)))
                new_labels.append((self.labels[i] & self.labels[j]) | tag)
        on = [self.vertices[i] for i in zero] + new_vertices
        on_labels = [self.labels[i] | tag for i in zero] + new_labels
        F = self.floats()
        on_floats = [F[i] for i in zero] + [[float(x) for x in v] for v in new_vertices]
        parts = []
        for side in (pos, neg):
            part = Polytope([self.vertices[i] for i in side] + on,
                            [self.labels[i] for i in side] + on_labels)
            part._floats = np.array([F[i] for i in side] + on_floats)
            parts.append(part)
        return parts[0], parts[1]

    def split_by(self, row: Affine, label) -> tuple["Polytope | None", "Polytope | None"]:
        """`split` by the affine function `row`."""
        return self.split(self.signs(row), row, label)

    def split_at(self, axis: int, c: fmpq, label) -> tuple["Polytope | None", "Polytope | None"]:
        """`split_by` the function `x_axis - c`: its signs at the vertices are exact
        comparisons of one coordinate with `c`, no product or float filter needed."""
        row = tuple(fmpq(1) if j == axis else ZERO for j in range(self.dim)) + (-c,)
        signs = [(v[axis] > c) - (v[axis] < c) for v in self.vertices]
        return self.split(signs, row, label)

    def bounding_box(self) -> tuple[tuple[fmpq, ...], tuple[fmpq, ...]]:
        cols = list(zip(*self.vertices))
        return tuple(min(c) for c in cols), tuple(max(c) for c in cols)

    def simplex_indices(self) -> list[tuple[int, ...]]:
        """A triangulation as vertex-index tuples (cones from vertex 0 over far facets),
        cached."""
        if self._simplices is None:
            self._simplices = self._triangulate()
        return self._simplices

    def _triangulate(self) -> list[tuple[int, ...]]:
        d = self.dim
        if d == 1:
            return [(0, 1)]
        edges = self.edges()
        if d == 2:
            return [(0, i, j) for i, j in edges if i != 0 and j != 0]
        if d != 3:
            raise ValueError("triangulation is implemented for d <= 3")
        out = []
        for facet in self._facets():
            if 0 in facet:
                continue
            w0 = min(facet)
            for i, j in edges:
                if i in facet and j in facet and w0 != i and w0 != j:
                    out.append((0, w0, i, j))
        return out

    def simplices(self) -> list[tuple]:
        """A triangulation: tuples of `d+1` vertices."""
        return [tuple(self.vertices[i] for i in s) for s in self.simplex_indices()]

    def balls(self) -> list[tuple]:
        """The vertices as Arb balls (each contains the exact vertex), cached."""
        if self._balls is None:
            self._balls = [tuple(arb(x) for x in v) for v in self.vertices]
        return self._balls

    def _facets(self) -> list[frozenset]:
        """Vertex-index sets of the 2-faces of a 3-polytope (labels tight at >= 3 vertices)."""
        by_label: dict = {}
        for index, labels in enumerate(self.labels):
            for label in labels:
                by_label.setdefault(label, set()).add(index)
        return list({frozenset(s) for s in by_label.values() if len(s) >= 3})

    def simplex_volumes(self) -> list[fmpq]:
        """The volumes of the simplices of `simplex_indices()` (cached)."""
        if self._volumes is None:
            self._volumes = [simplex_volume([self.vertices[i] for i in s])
                             for s in self.simplex_indices()]
        return self._volumes

    def volume(self) -> fmpq:
        return sum(self.simplex_volumes(), ZERO)

    def centroid_point(self) -> tuple:
        """The vertex average: an interior point of a full-dimensional polytope."""
        n = fmpq(len(self.vertices))
        return tuple(sum(c, ZERO) / n for c in zip(*self.vertices))


def cube(dim: int) -> Polytope:
    """`[0,1]^dim` with its facets labelled `("cube", i, 0|1)`."""
    vertices, labels = [], []
    for corner in itertools.product((0, 1), repeat=dim):
        vertices.append(tuple(fmpq(c) for c in corner))
        labels.append(frozenset(("cube", i, c) for i, c in enumerate(corner)))
    return Polytope(vertices, labels)


def box(lo: Sequence[fmpq], hi: Sequence[fmpq]) -> Polytope:
    """The box `[lo, hi]` (for tests and sub-boxes)."""
    vertices, labels = [], []
    for corner in itertools.product((0, 1), repeat=len(lo)):
        vertices.append(tuple(hi[i] if c else lo[i] for i, c in enumerate(corner)))
        labels.append(frozenset(("box", i, c) for i, c in enumerate(corner)))
    return Polytope(vertices, labels)


def determinant(rows: list[list]):
    """The determinant of a d x d matrix, d <= 3, in whatever numbers it holds (fmpq, arb,
    float `IntervalArray`s: only `+`, `-` and `*` are used)."""
    n = len(rows)
    if n == 1:
        return rows[0][0]
    if n == 2:
        return rows[0][0] * rows[1][1] - rows[0][1] * rows[1][0]
    a, b, c = rows
    return (a[0] * (b[1] * c[2] - b[2] * c[1]) - a[1] * (b[0] * c[2] - b[2] * c[0])
            + a[2] * (b[0] * c[1] - b[1] * c[0]))


def simplex_volume(simplex: Sequence) -> fmpq:
    """`|det(v_1 - v_0, …, v_d - v_0)| / d!`."""
    v0 = simplex[0]
    rows = [[x - y for x, y in zip(v, v0)] for v in simplex[1:]]
    return abs(determinant(rows)) / math.factorial(len(v0))


#: `d! j! / (j + d)!`, the simplex moment factor, for d <= 3 and j <= 64
_MOMENT = {d: [fmpq(math.factorial(d) * math.factorial(j), math.factorial(j + d))
               for j in range(65)] for d in (1, 2, 3)}


def _moment_sums(poly: Polytope, values: list, pmax: int, balls: bool = False) -> list:
    """`[Σ_S vol(S) d! j!/(j+d)! h_j(values on S)]` over the triangulation of `poly`: the
    integrals of `a^j` for the affine `a` with these exact vertex `values` (in Arb balls
    of the current precision when `balls`)."""
    nonzero = [v != 0 for v in values]
    if balls:
        one, zero = arb(1), arb(0)
        values = [arb(v) for v in values]
        volumes = [arb(v) for v in poly.simplex_volumes()]
    else:
        one, zero = fmpq(1), ZERO
        volumes = poly.simplex_volumes()
    totals = [zero] * (pmax + 1)
    for s, vol in zip(poly.simplex_indices(), volumes):
        h = [one] + [zero] * pmax               # h_j(vals) for every j at once
        for i in s:
            if nonzero[i]:
                a = values[i]
                for m in range(1, pmax + 1):
                    h[m] += a * h[m - 1]
        moment = _MOMENT[len(s) - 1]
        for j in range(pmax + 1):
            totals[j] += vol * moment[j] * h[j]
    return totals


def abs_power_integrals(poly: Polytope, row: Affine, pmax: int, label="zero",
                        balls: bool = False) -> list:
    """`[∫_P |a|^j for j = 0..pmax]`: split `P` where `a` changes sign, then the simplex
    moment formula on each one-signed part (vertex values computed once; the new vertices
    of a split lie on `a = 0`). Exact rationals; with `balls`, the split and the vertex
    values stay exact and the moment sums run in Arb balls (rigorous enclosures, far
    cheaper where the exact rationals carry thousands of digits)."""
    values = [evaluate(row, v) for v in poly.vertices]
    if not any(v < 0 for v in values):
        return _moment_sums(poly, values, pmax, balls)
    if not any(v > 0 for v in values):
        return _moment_sums(poly, [-v for v in values], pmax, balls)
    signs = [(v > 0) - (v < 0) for v in values]
    upper, lower = poly.split(signs, row, label)
    known = dict(zip(poly.vertices, values))
    totals = None
    for part, sign in ((upper, 1), (lower, -1)):
        if part is None:
            continue
        part_values = [sign * known.get(v, ZERO) for v in part.vertices]
        sums = _moment_sums(part, part_values, pmax, balls)
        totals = sums if totals is None else [a + b for a, b in zip(totals, sums)]
    return totals


def abs_power_integral(poly: Polytope, row: Affine, p: int, label="zero") -> fmpq:
    """`∫_P |a|^p` exactly, integer `p >= 0`."""
    return abs_power_integrals(poly, row, p, label)[p]


# --------------------------------------------------------------------------- in Arb balls

def ball_row(row: Affine) -> tuple:
    return tuple(arb(c) for c in row)


def ball_evaluate(row_b: tuple, point_b: tuple) -> arb:
    total = row_b[-1]
    for c, x in zip(row_b, point_b):
        total += c * x
    return total


def ball_power_integrals(poly: Polytope, row: Affine, pmax: int, absolute: bool = True,
                         label="zero") -> list[arb]:
    """Arb enclosures of `[∫_P |a|^j]` (or `∫_P a^j` when not `absolute`), j = 0..pmax.

    The split where `a` changes sign is exact; the moment formula runs in balls, so the
    result is rigorous and cheap where exact rationals would carry thousands of digits.
    """
    parts = [(poly, 1)]
    if absolute:
        upper, lower = poly.split(poly.signs(row), row, label)
        parts = [(part, sign) for part, sign in ((upper, 1), (lower, -1)) if part is not None]
    row_b = ball_row(row)
    totals = [arb(0)] * (pmax + 1)
    for part, sign in parts:
        balls = part.balls()
        values = [ball_evaluate(row_b, v) for v in balls]
        for s in part.simplex_indices():
            v0 = balls[s[0]]
            vol = abs(determinant([[x - y for x, y in zip(balls[i], v0)] for i in s[1:]])) \
                / math.factorial(len(v0))
            h = [arb(1)] + [arb(0)] * pmax
            for i in s:
                a = values[i] if sign > 0 else -values[i]
                for m in range(1, pmax + 1):
                    h[m] += a * h[m - 1]
            d = len(s) - 1
            for j in range(pmax + 1):
                totals[j] += vol * arb(_MOMENT[d][j]) * h[j]
    return totals


def ball_volume(poly: Polytope) -> arb:
    """The volume of a polytope as an Arb ball."""
    balls = poly.balls()
    total = arb(0)
    for s in poly.simplex_indices():
        v0 = balls[s[0]]
        total += abs(determinant([[x - y for x, y in zip(balls[i], v0)] for i in s[1:]]))
    return total / math.factorial(poly.dim)
