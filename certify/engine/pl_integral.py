"""Exact `L^p` integrals and extremes of a piecewise-linear residual on a triangle (d = 2),
and exact extremes on a segment (d = 1).

For a piecewise-linear target with rational data (kinks only where the argument of an
`Abs`, or two arguments of a `Max`/`Min`, are equal, all of them affine), every triangle
`T` of the grid is cut by those kink lines into convex polygons on which `f` is affine;
`e = f - A` is then affine on each, with exact rational values at its vertices. Cutting
once more along `e = 0` and fanning into triangles of one sign, the simplex moment formula
(`certify.engine.lp.complete_homogeneous`) gives `∫_T |e|^p` exactly for integer `p`, and
`min_T e`, `max_T e` are attained at vertices: exact too. Anything else returns None.
"""

from __future__ import annotations

import functools
import math
from fractions import Fraction
from typing import Sequence

import sympy


Point = tuple[Fraction, Fraction]


@functools.lru_cache(maxsize=16)
def kink_lines(expr, symbols) -> tuple | None:
    """`(a1, a2, b)` for each line `a·x + b = 0` where `f` may bend; None if a kink
    argument is not affine with rational coefficients."""
    lines = []
    for e in sympy.preorder_traversal(expr):
        if e.func is sympy.Abs:
            diffs = [e.args[0]]
        elif e.func in (sympy.Max, sympy.Min):
            diffs = [a - b for i, a in enumerate(e.args) for b in e.args[i + 1:]]
        else:
            continue
        for u in diffs:
            try:
                poly = sympy.Poly(sympy.expand(u), *symbols)
            except sympy.PolynomialError:
                return None
            if poly.total_degree() > 1 or poly.domain not in (sympy.ZZ, sympy.QQ):
                return None
            coeffs = [Fraction(str(poly.coeff_monomial(s))) for s in symbols]
            const = Fraction(str(poly.coeff_monomial(1)))
            if any(coeffs):
                lines.append((*coeffs, const))
    return tuple(lines)


def _value(line, x: Point) -> Fraction:
    return line[0] * x[0] + line[1] * x[1] + line[2]


def clip(polygon: list[Point], line) -> tuple[list[Point], list[Point]]:
    """The parts of a convex polygon where `line <= 0` and `line >= 0` (exact)."""
    neg, pos = [], []
    n = len(polygon)
    for i in range(n):
        p, q = polygon[i], polygon[(i + 1) % n]
        vp, vq = _value(line, p), _value(line, q)
        if vp <= 0:
            neg.append(p)
        if vp >= 0:
            pos.append(p)
        if (vp < 0 < vq) or (vq < 0 < vp):
            t = vp / (vp - vq)
            cut = (p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1]))
            neg.append(cut)
            pos.append(cut)
    return neg, pos


def _area(a: Point, b: Point, c: Point) -> Fraction:
    return abs((b[0] - a[0]) * (c[1] - a[1]) - (c[0] - a[0]) * (b[1] - a[1])) / 2


def residual_integrals(target, triangle: Sequence[Point], affine, ps):
    """`({p: ∫_T |f - A|^p}, min_T (f - A), max_T (f - A))`, exact, or None."""
    from .lp import complete_homogeneous, is_integer
    if target.kind != "piecewise-linear" or target.dim != 2:
        return None
    lines = kink_lines(target.expr, target.symbols)
    if lines is None:
        return None
    pieces = [list(triangle)]
    for line in lines:
        nxt = []
        for poly in pieces:
            for part in clip(poly, line):
                if len(part) >= 3:
                    nxt.append(part)
        pieces = nxt
    ints = [int(p) for p in ps if is_integer(p)]
    totals = {p: Fraction(0) for p in ints}
    lo = hi = None
    cache: dict = {}

    def e(x: Point) -> Fraction:
        if x not in cache:
            cache[x] = target.exact(x) - affine(x)
        return cache[x]

    for poly in pieces:
        # f is affine on poly (no kink line crosses it): fan into triangles, then split
        # each along e = 0 so that every part has one sign
        for k in range(1, len(poly) - 1):
            tri = [poly[0], poly[k], poly[k + 1]]
            if _area(*tri) == 0:
                continue
            values = [e(v) for v in tri]
            lo = min([lo] + values if lo is not None else values)
            hi = max([hi] + values if hi is not None else values)
            parts = [tri]
            if min(values) < 0 < max(values):
                a, b = affine_of(tri, values)
                parts = [p for p in clip(tri, (a[0], a[1], b)) if len(p) >= 3]
            for part in parts:
                for j in range(1, len(part) - 1):
                    sub = [part[0], part[j], part[j + 1]]
                    area = _area(*sub)
                    if area == 0:
                        continue
                    vals = [abs(e(v)) for v in sub]
                    for p in ints:
                        totals[p] += (area * 2 * math.factorial(p) / math.factorial(p + 2)
                                      * complete_homogeneous(vals, p))
    if lo is None:
        return None
    return {Fraction(p): v for p, v in totals.items()}, lo, hi


def affine_of(tri: Sequence[Point], values: Sequence[Fraction]):
    """`(gradient, constant)` of the affine function with `values` at the triangle's vertices."""
    (x0, y0), (x1, y1), (x2, y2) = tri
    v0, v1, v2 = values
    det = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)
    gx = ((v1 - v0) * (y2 - y0) - (v2 - v0) * (y1 - y0)) / det
    gy = ((x1 - x0) * (v2 - v0) - (x2 - x0) * (v1 - v0)) / det
    return (gx, gy), v0 - gx * x0 - gy * y0


def segment_range(target, a: Fraction, b: Fraction, affine) -> tuple[Fraction, Fraction] | None:
    """`(min, max)` of `f - A` on `[a, b]`, exact, for a piecewise-linear target in d = 1:
    `f - A` is affine between the kinks of `f`, so its extremes are at `a`, `b` or a kink."""
    if target.kind != "piecewise-linear" or target.dim != 1:
        return None
    lines = kink_lines(target.expr, target.symbols)
    if lines is None:
        return None
    points = {a, b}
    for slope, const in lines:
        x = -const / slope
        if a < x < b:
            points.add(x)
    values = [target.exact((x,)) - affine(x) for x in points]
    return min(values), max(values)
