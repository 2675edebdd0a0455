"""Vertex-anchored proofs of one sign of a residual on a simplex.

A residual `ρ = f - A` (`A` affine on a simplex `T`) that is *interpolated* at the
vertices of `T` vanishes there (or nearly): the mean-value form centred at a sub-box
midpoint then never proves `ρ >= 0` on the sub-boxes touching a vertex, whatever their
size. Anchoring the mean-value form at the vertex `v` itself does:

    ρ(x) = ρ(v) + Σ_j μ_j ∇ρ(ξ)·E_j,   x = v + Σ_j μ_j E_j ∈ T ∩ B,  μ_j >= 0,

with `E_j` the edges of `T` from `v`, `ξ` on the segment `[v, x] ⊂ B` (B a box with corner
`v`) and `Σ_j μ_j = 1 - λ_v(x) = spread((x - v)/h) <= μ_max(B)` (Lemma P.2). So
`ρ >= ρ(v) + μ_max · min(0, min_j D_j)` with `D_j ⊇ (∇f(B) - ∇A)·E_j`: positive slopes
along the edges out of `v` prove the sign near `v` exactly where the midpoint form cannot.

`Prover.proves` combines both forms box by box over `T` and splits boxes it cannot decide,
to a fixed depth and box budget. It is deterministic: the builder (`certify.surplus`)
keeps a coefficient only where this proof succeeds, and the checker's locality path
(`certify.certificates.local`) calls the same proof from the network's weights, so whatever the
builder proved the checker proves again — it never reads what the builder claimed.
Vertex values of `f` are Arb balls, replaced by exact rationals where the target or
SymPy evaluates `f` exactly there (`sin(π) = 0`), so that `ρ(v) = 0` can be proved.
"""

from __future__ import annotations

import itertools
from fractions import Fraction
from typing import Sequence

import sympy
from flint import arb

from ..engine.enclosure import Affine, affine_on_simplex, meets, residual_ball, sub_box
from ..engine.freudenthal import Simplex, simplex_vertices
from ..engine.numbers import ball_bounds, to_ball

#: first subdivision of a cell per side, by dimension, and how often a box may be halved
START = {1: 4, 2: 2}
DEPTH = {1: 5, 2: 4, 3: 2}
#: at most this many boxes per simplex proof
BOX_BUDGET = 200


class VertexValues:
    """`f` at grid nodes: an Arb ball, and the exact rational value where one is known."""

    def __init__(self, target):
        self.target = target
        self._balls: dict = {}
        self._exact: dict = {}

    def ball(self, point: tuple[Fraction, ...]) -> arb:
        if point not in self._balls:
            self._balls[point] = self.target.ball(point)
        return self._balls[point]

    def exact(self, point: tuple[Fraction, ...]) -> Fraction | None:
        """The exact value of `f` at `point`, or None (transcendental or not decided)."""
        if point not in self._exact:
            self._exact[point] = _exact_value(self.target, point)
        return self._exact[point]


def _exact_value(target, point) -> Fraction | None:
    try:
        if target.kind != "general":
            return Fraction(target.exact(point))
        value = target.expr.subs(dict(zip(target.symbols,
                                           (sympy.Rational(v.numerator, v.denominator)
                                            for v in point))))
        if isinstance(value, sympy.Rational):     # SymPy's own exact evaluation, e.g. sin(pi)
            return Fraction(int(value.p), int(value.q))
    except Exception:     # noqa: BLE001 - no exact value is not an error: the ball stands
        return None
    return None


class Prover:
    """Proves `sign·(f - A_T) >= 0` on simplices of one grid of mesh `h` (see module doc)."""

    def __init__(self, target, h: Fraction, vertices: VertexValues | None = None):
        self.target = target
        self.h = Fraction(h)
        self.dim = target.dim
        self.vertices = vertices or VertexValues(target)
        self._boxes: dict = {}

    def remember(self, boxes: dict | None) -> None:
        """Reuse sub-box data already computed for this grid (keyed by `(lo, hi)`)."""
        if boxes:
            self._boxes.update(boxes)

    def _box(self, lo: tuple, hi: tuple):
        key = (lo, hi)
        if key not in self._boxes:
            self._boxes[key] = sub_box(self.target, lo, hi)
        return self._boxes[key]

    def _vertex_residual(self, point, affine: Affine, sign: int) -> tuple[Fraction, Fraction]:
        """Exact bounds of `sign·(f - A)(point)`."""
        a = affine(point)
        lo, hi = ball_bounds(self.vertices.ball(point) - to_ball(a))
        if lo < 0 <= hi or lo <= 0 < hi:
            exact = self.vertices.exact(point)
            if exact is not None:
                lo = hi = exact - a
        return (lo, hi) if sign > 0 else (-hi, -lo)

    def _anchored_lower(self, box, affine: Affine, sign: int, vertex, others) -> Fraction | None:
        """Lower bound of `sign·ρ` on `T ∩ box` anchored at the vertex `vertex` (a box corner)."""
        if box.grad is None:
            return None
        lo_v, _ = self._vertex_residual(vertex, affine, sign)
        slopes = [g - to_ball(a) for g, a in zip(box.grad, affine.grad)]
        worst = Fraction(0)
        for other in others:
            d = sum((s * to_ball(o - v) for s, o, v in zip(slopes, other, vertex)), arb(0))
            if not d.is_finite():
                return None
            d_lo, d_hi = ball_bounds(d)
            worst = min(worst, d_lo if sign > 0 else -d_hi)
        # μ_max: the spread of 0 and (x - v)/h over the box
        ys_lo = [(a - v) / self.h for a, v in zip(box.lo, vertex)]
        ys_hi = [(b - v) / self.h for b, v in zip(box.hi, vertex)]
        mu = min(Fraction(1), max([Fraction(0)] + ys_hi) - min([Fraction(0)] + ys_lo))
        return lo_v + mu * worst

    def proves(self, simplex: Simplex, values, sign: int) -> bool:
        """Is `sign·(f - A) >= 0` on the simplex, `A` affine with nodal `values` there?

        `values` is indexable by node index (the nodal values of `F_k` on the grid).
        """
        if sign == 0:
            return False
        affine = affine_on_simplex(simplex, self.h, values)
        cell, perm = simplex
        points = [tuple(Fraction(i) * self.h for i in v) for v in simplex_vertices(simplex)]
        start = START.get(self.dim, 1)
        depth_limit = DEPTH.get(self.dim, 2)
        stack = [(sub, start) for sub in itertools.product(range(start), repeat=self.dim)
                 if meets(sub, perm)]
        used = 0
        while stack:
            sub, k = stack.pop()
            used += 1
            if used > BOX_BUDGET:
                return False
            step = self.h / k
            lo = tuple(c * self.h + s * step for c, s in zip(cell, sub))
            hi = tuple(v + step for v in lo)
            try:
                box = self._box(lo, hi)
                # at a vertex of T the residual may vanish: anchor there first
                corners = [p for p in points
                           if all(x in (a, b) for x, a, b in zip(p, lo, hi))]
                if len(corners) == 1:
                    others = [p for p in points if p != corners[0]]
                    bound = self._anchored_lower(box, affine, sign, corners[0], others)
                    if bound is not None and bound >= 0:
                        continue
                b_lo, b_hi = ball_bounds(residual_ball(box, affine))
                if (b_lo if sign > 0 else -b_hi) >= 0:
                    continue
            except ArithmeticError:
                pass
            if k >= start * 2 ** depth_limit:
                return False
            for child in itertools.product((0, 1), repeat=self.dim):
                fine = tuple(2 * s + c for s, c in zip(sub, child))
                if meets(fine, perm):
                    stack.append((fine, 2 * k))
        return True


def proves(target, simplex: Simplex, h: Fraction, values, sign: int,
           vertices: VertexValues | None = None) -> bool:
    """One-off `Prover(target, h).proves(simplex, values, sign)`."""
    return Prover(target, h, vertices).proves(simplex, values, sign)


def simplex_sign(values: Sequence) -> int:
    """+1 / -1 if all values are >= 0 / <= 0 (not all zero), 0 if mixed or all zero."""
    if not any(values):
        return 0
    if all(v >= 0 for v in values):
        return 1
    if all(v <= 0 for v in values):
        return -1
    return 0
