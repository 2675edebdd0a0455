"""The Freudenthal (Kuhn) triangulation of the cube and its Courant hats (docs/theory.md §2).

Level `ℓ` has mesh `h = N^-ℓ`; its nodes are `h·k` for integer vectors `k` in `[0, n]^d`,
`n = N^ℓ`. A cell `c + [0,1]^d` (in units of `h`) splits into `d!` simplices, one per
permutation `π`, with vertices `c, c + e_π1, c + e_π1 + e_π2, …`. Nodes are handled as
integer index vectors; `h` converts them to points.

Everything here is exact: rational points in, rationals out.
"""

from __future__ import annotations

import itertools
from fractions import Fraction
from functools import lru_cache
from typing import Iterator, Sequence

import numpy as np

Index = tuple[int, ...]
Simplex = tuple[Index, tuple[int, ...]]   # (cell corner, permutation)


def level_size(level: int, ratio: int) -> int:
    """`n = N^ℓ`: the number of mesh intervals per side at a level."""
    return ratio ** level


def mesh(level: int, ratio: int) -> Fraction:
    """`h_ℓ = N^-ℓ`."""
    return Fraction(1, ratio ** level)


def nodes(dim: int, n: int) -> Iterator[Index]:
    """All node indices of a grid with `n` intervals per side, in lexicographic order."""
    return itertools.product(range(n + 1), repeat=dim)


def hat(z: Sequence[Fraction], h: Fraction, x: Sequence[Fraction]) -> Fraction:
    """The Courant hat `φ_z(x) = σ(1 - max(0, y) + min(0, y))`, `y = (x - z)/h`, exactly."""
    y = [(xi - zi) / h for xi, zi in zip(x, z)]
    value = 1 - max(0, *y) + min(0, *y)
    return Fraction(value) if value > 0 else Fraction(0)


def hat_floats(z: Sequence[float], h: float, points: np.ndarray) -> np.ndarray:
    """Vectorised float version of `hat` for sampling and plots; `points` has shape (m, d)."""
    y = (points - np.asarray(z, dtype=float)) / float(h)
    upper = np.maximum(0.0, y.max(axis=1))
    lower = np.minimum(0.0, y.min(axis=1))
    return np.maximum(1.0 - upper + lower, 0.0)


# --------------------------------------------------------------------------- simplices

def simplex_vertices(simplex: Simplex) -> list[Index]:
    """The `d+1` vertex indices of a simplex, along its monotone path."""
    cell, perm = simplex
    vertex = list(cell)
    out = [tuple(vertex)]
    for axis in perm:
        vertex[axis] += 1
        out.append(tuple(vertex))
    return out


def cell_simplices(cell: Index) -> list[Simplex]:
    """The `d!` simplices of one cell."""
    return [(cell, perm) for perm in itertools.permutations(range(len(cell)))]


@lru_cache(maxsize=None)
def _star_pattern(dim: int) -> tuple[tuple[Index, tuple[int, ...]], ...]:
    """Offsets `k - c` and permutations of the `(d+1)!` simplices around an interior node."""
    pattern = []
    for perm in itertools.permutations(range(dim)):
        for prefix in range(dim + 1):
            offset = [0] * dim
            for axis in perm[:prefix]:
                offset[axis] = 1
            pattern.append((tuple(offset), perm))
    return tuple(pattern)


def star_simplices(node: Index, n: int) -> list[Simplex]:
    """The simplices of the level triangulation (with `n` intervals a side) that contain `node`.

    An interior node has `(d+1)!` of them, a boundary node fewer; their union is the star.
    """
    out = []
    for offset, perm in _star_pattern(len(node)):
        cell = tuple(k - o for k, o in zip(node, offset))
        if all(0 <= c < n for c in cell):
            out.append((cell, perm))
    return out


def locate(point: Sequence[Fraction], h: Fraction, n: int) -> tuple[Simplex, list[Fraction]]:
    """The simplex containing `point` and its barycentric coordinates (along the vertex path)."""
    scaled = [Fraction(x) / h for x in point]
    cell = tuple(min(max(int(s // 1), 0), n - 1) for s in scaled)
    local = [s - c for s, c in zip(scaled, cell)]
    perm = tuple(sorted(range(len(local)), key=lambda i: -local[i]))
    ordered = [local[i] for i in perm]
    weights = [1 - ordered[0]] if ordered else [Fraction(1)]
    weights += [ordered[j] - ordered[j + 1] for j in range(len(ordered) - 1)]
    weights += [ordered[-1]] if ordered else []
    return (cell, perm), weights


def interpolate(values: np.ndarray, h: Fraction, point: Sequence[Fraction]) -> Fraction:
    """The P1 (piecewise-linear) interpolant of nodal `values` at `point`, exactly."""
    n = values.shape[0] - 1
    simplex, weights = locate(point, h, n)
    return sum((w * values[v] for w, v in zip(weights, simplex_vertices(simplex))), Fraction(0))


def refine_pattern(dim: int, n: int, ratio: int):
    """How `refine` builds a grid `ratio` times finer than one with `n` intervals a side:
    `[(fine slices, [(weight, coarse slices), ...])]`, one entry per local pattern (a fine
    offset within a coarse cell, for all cells at once), with integer weights summing to
    `ratio` (a single term `(ratio, ·)` where the fine nodes are coarse nodes): the fine
    values are `Σ weight · coarse[slices] / ratio`, exactly."""
    out = []
    for local in itertools.product(range(ratio + 1), repeat=dim):
        cells = [slice(0, n) if l < ratio else slice(n - 1, n) for l in local]
        target = tuple(slice(l, l + n * ratio, ratio) if l < ratio else slice(n * ratio, None)
                       for l in local)
        perm = sorted(range(dim), key=lambda i: -local[i])
        ordered = [local[i] for i in perm]
        vertex = [0] * dim
        terms = [(ratio - ordered[0], tuple(vertex))]
        for j, axis in enumerate(perm):
            vertex[axis] += 1
            nxt = ordered[j + 1] if j + 1 < dim else 0
            if ordered[j] != nxt:
                terms.append((ordered[j] - nxt, tuple(vertex)))
        out.append((target, [(w, tuple(slice(c.start + o, c.stop + o)
                                          for c, o in zip(cells, off)))
                             for w, off in terms if w]))
    return out


def refine(values, ratio: int):
    """Nodal values of the same piecewise-linear function on the grid `ratio` times finer.

    Exact because level `ℓ+1` refines level `ℓ`: every fine node lies in one coarse simplex,
    where the function is affine. Cost is proportional to the number of fine nodes.
    `values`: an object array of exact rationals, or a `certify.engine.nodal.Nodal`
    (integer numerators over one denominator; refined as such, much faster).
    """
    if not isinstance(values, np.ndarray):
        return values.refine(ratio)             # a Nodal
    dim = values.ndim
    n = values.shape[0] - 1
    fine = np.empty((n * ratio + 1,) * dim, dtype=object)
    # one local pattern at a time, for all cells at once: the same weights as the per-node
    # loop below, as object-array slices
    for target, parts in refine_pattern(dim, n, ratio):
        if len(parts) == 1:                     # a coarse node: its value, no arithmetic
            fine[target] = values[parts[0][1]]
            continue
        total = None
        for w, source in parts:
            part = values[source]
            part = part if w == 1 else part * w
            total = part if total is None else total + part
        fine[target] = total / ratio
    return fine


def _refine_nodewise(values: np.ndarray, ratio: int) -> np.ndarray:
    """`refine` node by node (the reference the vectorised version is tested against)."""
    dim = values.ndim
    n = values.shape[0] - 1
    fine = np.empty((n * ratio + 1,) * dim, dtype=object)
    for index in itertools.product(range(n * ratio + 1), repeat=dim):
        cell = tuple(min(k // ratio, n - 1) for k in index)
        local = [k - c * ratio for k, c in zip(index, cell)]      # integers in [0, ratio]
        perm = sorted(range(dim), key=lambda i: -local[i])
        ordered = [local[i] for i in perm]
        vertex = list(cell)
        total = Fraction(ratio - ordered[0]) * values[tuple(vertex)]
        for j, axis in enumerate(perm):
            vertex[axis] += 1
            nxt = ordered[j + 1] if j + 1 < dim else 0
            if ordered[j] != nxt:
                total += (ordered[j] - nxt) * values[tuple(vertex)]
        fine[index] = total / ratio
    return fine


def simplex_count(node: Index, n: int) -> int:
    """Number of simplices in the star of `node` (`(d+1)!` for an interior node)."""
    return len(star_simplices(node, n))


def simplex_volume(dim: int, h: Fraction) -> Fraction:
    """Volume of one simplex of mesh `h`: `h^d / d!`."""
    from math import factorial
    return Fraction(h) ** dim / factorial(dim)
