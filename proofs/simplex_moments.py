"""Exact L^p formulas: simplex moments and the norm of a Courant hat (SymPy, exact).

Claims (THEOREM.md, Lemma M):

1. Moments. For a d-simplex T with barycentric coordinates λ_0..λ_d and a multi-index α,
   `∫_T λ^α = vol(T) · d! · α! / (|α| + d)!`. Checked by exact iterated integration for
   d = 1, 2, 3 and every α with |α| <= 3 (d = 3: |α| <= 2), over the standard simplex and over
   Freudenthal simplices of the grid (every permutation, a non-origin cell, mesh h = 1/3;
   the barycentric coordinates along the vertex path are checked to be barycentric:
   `Σ λ = 1`, `λ_j(v_i) = δ_ij`, and `vol(T) = h^d/d!` = certify's `simplex_volume`).
2. Powers of an affine function. `∫_T (Σ_j a_j λ_j)^p = vol(T) d! p!/(p+d)! h_p(a)` with
   `h_p` the complete homogeneous symmetric polynomial, for symbolic a, d = 1, 2, 3, p = 1..3
   (d = 3: p <= 2).
3. Hat norms. `‖φ_z‖_p^p = #simplices(S_z) · h^d · Γ(p+1)/Γ(p+d+1)`, by integrating the Courant
   hat piece by piece over EVERY simplex of the grid (on each simplex the hat is affine,
   Lemma P, so it equals the interpolant of its vertex values, which is cross-checked
   against `certify.engine.freudenthal.hat` at the centroid), for p = 1, 2, 3, d = 1 (n = 4) and
   d = 2 (n = 3), interior, edge and corner nodes, and for the non-integer p = 3/2 on d = 1
   and two d = 2 corners (all nodes with `--extended`: SymPy needs seconds per star there);
   the count of simplices where the hat is nonzero equals `len(star_simplices(z, n))`.
"""

from __future__ import annotations

import itertools
import math
import sys
from fractions import Fraction as F
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sympy as sp

from certify.engine.freudenthal import cell_simplices, hat, simplex_vertices, simplex_volume, star_simplices
from proofs._common import Result, exact, main


def xs(d: int):
    return sp.symbols(f"x0:{d}", real=True)


def _integrate(expr, var, lower, upper):
    """Exact ∫_lower^upper expr d(var): antiderivative by `Poly.integrate` for polynomials
    (fast), SymPy's `integrate` otherwise (e.g. non-integer powers)."""
    if expr.is_polynomial(var):
        anti = sp.Poly(sp.expand(expr), var).integrate().as_expr()
        return sp.expand(anti.subs(var, upper) - anti.subs(var, lower))
    return sp.integrate(expr, (var, lower, upper))


def integrate_freudenthal(expr, x, simplex, h):
    """∫ over h·(cell + {1 >= t_π1 >= … >= t_πd >= 0}) by exact iterated integration in x."""
    cell, perm = simplex
    h = sp.Rational(h.numerator, h.denominator)
    d = len(cell)
    out = expr
    for k in reversed(range(d)):                   # innermost x_πd, outermost x_π1
        axis = perm[k]
        lower = h * cell[axis]
        upper = lower + (h if k == 0 else x[perm[k - 1]] - h * cell[perm[k - 1]])
        out = _integrate(out, x[axis], lower, upper)
    return sp.expand(out) if out.is_polynomial() else out


def integrate_standard(expr, x):
    """∫ over {x >= 0, Σ x <= 1}, exact iterated integration."""
    d = len(x)
    out = expr
    for k in reversed(range(d)):
        out = _integrate(out, x[k], 0, 1 - sum(x[:k]))
    return sp.expand(out)


def barycentric_freudenthal(x, simplex, h):
    """λ_0..λ_d along the vertex path: λ_0 = 1 - t_π1, λ_k = t_πk - t_π(k+1), λ_d = t_πd."""
    cell, perm = simplex
    h = sp.Rational(h.numerator, h.denominator)
    t = [(x[i] - h * cell[i]) / h for i in range(len(cell))]
    d = len(cell)
    return [1 - t[perm[0]]] + [t[perm[k]] - t[perm[k + 1]] for k in range(d - 1)] + [t[perm[-1]]]


def multi_indices(n_vars: int, max_order: int):
    for alpha in itertools.product(range(max_order + 1), repeat=n_vars):
        if sum(alpha) <= max_order:
            yield alpha


def moment_formula(vol, d, alpha):
    return vol * math.factorial(d) * sp.prod([sp.factorial(a) for a in alpha]) / sp.factorial(sum(alpha) + d)


def moments_standard(d: int, max_order: int):
    x = xs(d)
    lam = [1 - sum(x)] + list(x)
    vol = sp.Rational(1, math.factorial(d))
    for alpha in multi_indices(d + 1, max_order):
        got = integrate_standard(sp.prod([l ** a for l, a in zip(lam, alpha)]), x)
        if got != moment_formula(vol, d, alpha):
            return False, {"alpha": alpha, "integral": got, "formula": moment_formula(vol, d, alpha)}
    return True


def moments_freudenthal(d: int, max_order: int, h=F(1, 3)):
    x = xs(d)
    cell = tuple([1] + [0] * (d - 1))
    for perm in itertools.permutations(range(d)):
        simplex = (cell, perm)
        lam = barycentric_freudenthal(x, simplex, h)
        verts = [[sp.Rational(h.numerator * k, h.denominator) for k in v] for v in simplex_vertices(simplex)]
        if sp.expand(sum(lam)) != 1:
            return False, {"simplex": simplex, "sum λ": sum(lam)}
        for i, v in enumerate(verts):
            for j, l in enumerate(lam):
                if l.subs(dict(zip(x, v))) != (1 if i == j else 0):
                    return False, {"simplex": simplex, "λ_j(v_i)": (j, i)}
        vol = integrate_freudenthal(sp.Integer(1), x, simplex, h)
        if vol != sp.Rational(h.numerator ** d, h.denominator ** d) / math.factorial(d) or \
                F(str(vol)) != simplex_volume(d, h):
            return False, {"simplex": simplex, "volume": vol}
        for alpha in multi_indices(d + 1, max_order):
            got = integrate_freudenthal(sp.prod([l ** a for l, a in zip(lam, alpha)]), x, simplex, h)
            if got != moment_formula(vol, d, alpha):
                return False, {"simplex": simplex, "alpha": alpha, "integral": got}
    return True


def complete_homogeneous(a, p):
    return sum(sp.prod([ai ** k for ai, k in zip(a, alpha)])
               for alpha in itertools.product(range(p + 1), repeat=len(a)) if sum(alpha) == p)


def power_formula(d: int, max_p: int):
    x = xs(d)
    a = sp.symbols(f"a0:{d + 1}", real=True)
    lam = [1 - sum(x)] + list(x)
    vol = sp.Rational(1, math.factorial(d))
    for p in range(1, max_p + 1):
        got = integrate_standard(sp.expand(sum(ai * l for ai, l in zip(a, lam)) ** p), x)
        want = sp.expand(vol * math.factorial(d) * sp.factorial(p) / sp.factorial(p + d)
                         * complete_homogeneous(a, p))
        if sp.expand(got - want) != 0:
            return False, {"d": d, "p": p, "integral": got, "formula": want}
    # once more on a Freudenthal simplex of the grid (d >= 2)
    if d >= 2:
        h = F(1, 2)
        simplex = (tuple([1] + [0] * (d - 1)), tuple(reversed(range(d))))
        lam = barycentric_freudenthal(x, simplex, h)
        vol = sp.Rational(1, 2 ** d * math.factorial(d))
        for p in range(1, max_p + 1):
            got = integrate_freudenthal(sp.expand(sum(ai * l for ai, l in zip(a, lam)) ** p), x, simplex, h)
            want = sp.expand(vol * math.factorial(d) * sp.factorial(p) / sp.factorial(p + d)
                             * complete_homogeneous(a, p))
            if sp.expand(got - want) != 0:
                return False, {"d": d, "p": p, "simplex": simplex, "integral": got}
    return True


def hat_norm(d: int, n: int, node, p):
    """‖φ_z‖_p^p by integration over every simplex of the grid vs the closed formula."""
    h = F(1, n)
    x = xs(d)
    z = tuple(h * k for k in node)
    total = sp.Integer(0)
    nonzero = 0
    for cell in itertools.product(range(n), repeat=d):
        for simplex in cell_simplices(cell):
            verts = simplex_vertices(simplex)
            values = [hat(z, h, tuple(h * k for k in v)) for v in verts]
            if not any(values):
                continue                                   # hat ≡ 0 on this simplex
            nonzero += 1
            lam = barycentric_freudenthal(x, simplex, h)
            piece = sum(sp.Rational(v.numerator, v.denominator) * l for v, l in zip(values, lam))
            centroid = [sum(F(v[i]) for v in verts) * h / (d + 1) for i in range(d)]
            if piece.subs(dict(zip(x, [sp.Rational(c.numerator, c.denominator) for c in centroid]))) \
                    != sp.Rational(*(lambda q: (q.numerator, q.denominator))(hat(z, h, centroid))):
                return False, {"node": node, "simplex": simplex, "reason": "interpolant ≠ hat at centroid"}
            total += integrate_freudenthal(piece ** p, x, simplex, h)
    count = len(star_simplices(node, n))
    formula = count * sp.Rational(h.numerator, h.denominator) ** d * sp.gamma(p + 1) / sp.gamma(p + d + 1)
    if nonzero != count or sp.simplify(total - formula) != 0:
        return False, {"node": node, "p": p, "integral": total, "formula": formula,
                       "simplices hit": nonzero, "star_simplices": count}
    return True


HAT_CASES = [(1, 4, (2,)), (1, 4, (0,)), (1, 4, (4,)),
             (2, 3, (1, 1)), (2, 3, (0, 1)), (2, 3, (0, 0)), (2, 3, (3, 0)), (2, 3, (3, 3))]


def prove(extended: bool = False) -> Result:
    res = Result("Lemma M (simplex moments, exact L^p norms)",
                 "∫_T λ^α = vol(T) d! α!/(|α|+d)!; ∫_T (Σ a_j λ_j)^p = vol(T) d! p!/(p+d)! h_p(a); "
                 "‖φ_z‖_p^p = #simplices(S_z)·h^d·Γ(p+1)/Γ(p+d+1).")
    for d, order in ((1, 3), (2, 3), (3, 2)):
        res.add(exact(f"d={d}: ∫ λ^α over the standard simplex, all |α| <= {order}",
                      lambda d=d, o=order: moments_standard(d, o), "exact (SymPy)"))
        res.add(exact(f"d={d}: barycentric coords, volume h^d/d! and ∫ λ^α (|α| <= {order}) over "
                      f"Freudenthal simplices of cell (1,0..), h=1/3, every permutation",
                      lambda d=d, o=order: moments_freudenthal(d, o), "exact (SymPy)"))
    for d, max_p in ((1, 3), (2, 3), (3, 2)):
        res.add(exact(f"d={d}: ∫_T (Σ a_j λ_j)^p = vol d! p!/(p+d)! h_p(a), symbolic a, p <= {max_p}",
                      lambda d=d, m=max_p: power_formula(d, m), "exact (SymPy)"))
    for d, n, node in HAT_CASES:
        powers = [1, 2, 3]
        if extended or d == 1 or node in ((3, 0), (3, 3)):
            powers.append(sp.Rational(3, 2))   # non-polynomial: slow in SymPy for most d=2 stars
        for p in powers:
            res.add(exact(f"d={d}, n={n}, node {node} ({len(star_simplices(node, n))} simplices), p={p}: "
                          f"‖φ_z‖_p^p = #simplices·h^d·Γ(p+1)/Γ(p+d+1)",
                          lambda d=d, n=n, node=node, p=p: hat_norm(d, n, node, p), "exact (SymPy)"))
    return res


if __name__ == "__main__":
    main(lambda: prove(extended="--extended" in sys.argv[1:]))
