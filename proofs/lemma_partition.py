"""Lemma P (Freudenthal facts: barycentric identity, partition of unity, nodal property, stars).

Claims (THEOREM.md, Lemma P):

1. Barycentric identity. On the Freudenthal simplex `T_π = {c + t : 1 >= t_π1 >= … >= t_πd >= 0}`
   (vertices `v_0 = c`, `v_k = c + e_π1 + … + e_πk`) the hat formula of `v_k` equals the
   barycentric coordinate `λ_k` (`λ_0 = 1 - t_π1`, `λ_k = t_πk - t_π(k+1)`, `λ_d = t_πd`),
   and every other lattice node's hat vanishes on `T_π`. z3 over real `t ∈ T_π`, for
   d = 1, 2, 3, every permutation π, `c = 0`, `h = 1`, all nodes in `{-1,0,1,2}^d`
   (the hat formula is invariant under `x ↦ (x - c)/h`, so this is the general case).
2. Support: `φ_z(x) > 0 ⟹ ‖x - z‖_∞ < h` on all of R^d (z3, d = 1..4).
3. Partition of unity: `Σ_z φ_z(x) = 1` for every real x in the cube (z3), grids d=1 with
   5 nodes, d=2 with 5x5 nodes, d=3 with 3x3x3 nodes.
4. Nodal property: `φ_z(z') = [z = z']` exactly (certify.engine.freudenthal.hat, Fractions) on
   the same grids.
5. Stars: `certify.engine.freudenthal.star_simplices(z)` lists exactly the simplices of the grid
   having z as a vertex ((d+1)! for interior nodes), and (z3) every x in the cube with
   `φ_z(x) > 0` lies in one of them; hence `#simplices(S_z)` in the L^p formula is
   `len(star_simplices(z, n))`.
"""

from __future__ import annotations

import itertools
import math
import sys
from fractions import Fraction as F
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import z3

from certify.engine.freudenthal import cell_simplices, hat, nodes, simplex_vertices, star_simplices
from proofs._common import Result, exact, frac, hat_term, in_box, main, refute

GRIDS = [(1, 4), (2, 4), (3, 2)]          # (d, n): n intervals a side, h = 1/n


def _reals(prefix: str, d: int):
    return [z3.Real(f"{prefix}{i}") for i in range(d)]


def in_simplex(x, cell, perm, h) -> z3.BoolRef:
    """x ∈ h·(cell + {1 >= t_π1 >= … >= t_πd >= 0})."""
    t = [(x[i] - frac(h * cell[i])) / frac(h) for i in range(len(cell))]
    chain = [1 >= t[perm[0]]] + [t[perm[k]] >= t[perm[k + 1]] for k in range(len(perm) - 1)]
    return z3.And(*chain, t[perm[-1]] >= 0)


def barycentric(d: int, perm) -> list[str]:
    """Claim 1 for one permutation: returns [] or a list of failures (as obligations)."""
    t = _reals("t", d)
    hyps = [in_simplex(t, (0,) * d, perm, F(1))]
    verts = simplex_vertices(((0,) * d, perm))
    lam = [1 - t[perm[0]]] + [t[perm[k]] - t[perm[k + 1]] for k in range(d - 1)] + [t[perm[-1]]]
    eqs = []
    for z in itertools.product(range(-1, 3), repeat=d):
        target = lam[verts.index(z)] if z in verts else z3.RealVal(0)
        eqs.append(hat_term(z, F(1), t) == target)
    return refute(f"d={d}, π={perm}: φ_(v_k) = λ_k on T_π, φ_z = 0 on T_π for z ∉ vertices "
                  f"(all z in {{-1..2}}^{d})", hyps, z3.And(*eqs), variables=t)


def support(d: int):
    x = _reals("y", d)
    return refute(f"d={d}: φ_0(y) > 0 ⟹ ‖y‖_∞ < 1 on all of R^{d}",
                  [hat_term((0,) * d, F(1), x) > 0], z3.And(*[z3.And(xi < 1, xi > -1) for xi in x]),
                  variables=x)


def partition(d: int, n: int):
    h = F(1, n)
    x = _reals("x", d)
    total = sum(hat_term(tuple(h * k for k in node), h, x) for node in nodes(d, n))
    return refute(f"d={d}, {n + 1}^{d} nodes: Σ_z φ_z(x) = 1 for all real x ∈ [0,1]^{d}",
                  in_box(x), total == 1, variables=x)


def nodal(d: int, n: int):
    h = F(1, n)
    pts = [tuple(h * k for k in node) for node in nodes(d, n)]
    for z in pts:
        for w in pts:
            if hat(z, h, w) != (1 if z == w else 0):
                return False, {"z": z, "z'": w, "phi": hat(z, h, w)}
    return True


def star_lists(d: int, n: int):
    every = [s for c in itertools.product(range(n), repeat=d) for s in cell_simplices(c)]
    for node in nodes(d, n):
        want = {s for s in every if node in simplex_vertices(s)}
        got = star_simplices(node, n)
        if set(got) != want or len(got) != len(want):
            return False, {"node": node, "star_simplices": got, "expected": sorted(want)}
        if all(0 < k < n for k in node) and len(got) != math.factorial(d + 1):
            return False, {"node": node, "count": len(got)}
    return True


def star_cover(d: int, n: int):
    h = F(1, n)
    x = _reals("x", d)
    claims = []
    for node in nodes(d, n):
        z = tuple(h * k for k in node)
        inside = z3.Or(*[in_simplex(x, cell, perm, h) for cell, perm in star_simplices(node, n)])
        claims.append(z3.Implies(hat_term(z, h, x) > 0, inside))
    return refute(f"d={d}, n={n}: x ∈ cube, φ_z(x) > 0 ⟹ x ∈ ∪ star_simplices(z), every node z",
                  in_box(x), z3.And(*claims), variables=x)


def prove() -> Result:
    res = Result("Lemma P (Freudenthal facts, partition of unity)",
                 "φ_z = barycentric coordinate λ_k on each simplex with vertex z (0 elsewhere); "
                 "Σ_z φ_z = 1 on the cube; φ_z(z') = [z = z']; supp φ_z ⊂ z + (-h,h)^d; "
                 "the star of z is the union of star_simplices(z).")
    for d in (1, 2, 3):
        for perm in itertools.permutations(range(d)):
            res.add(barycentric(d, perm))
    for d in (1, 2, 3, 4):
        res.add(support(d))
    for d, n in GRIDS:
        res.add(partition(d, n))
        res.add(exact(f"d={d}, n={n}: φ_z(z') = [z = z'] for all grid nodes (Fractions)",
                      lambda d=d, n=n: nodal(d, n)))
        res.add(exact(f"d={d}, n={n}: star_simplices(z) = simplices with vertex z; (d+1)! if interior",
                      lambda d=d, n=n: star_lists(d, n)))
        res.add(star_cover(d, n))
    return res


if __name__ == "__main__":
    main(prove)
