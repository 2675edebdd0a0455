"""Lemma 5 (oscillation carried down): the Lipschitz constant of `L_ℓ = Σ c_z φ_z`.

Claims (THEOREM.md, Lemma 5):

1. On a Freudenthal simplex with vertex path `v_0, …, v_d` (`v_k - v_{k-1} = h e_πk`), the
   affine function `L = Σ_k c_k λ_k` has `∂L/∂x_πk = (c_k - c_{k-1})/h` (SymPy, symbolic c,
   symbolic h > 0 and cell, d = 1, 2, 3, every permutation). Consecutive path vertices share
   an edge, so Lemma 3 bounds each difference.
2. `|c_k - c_{k-1}| <= B` for k = 1..d ⟹ `‖∇L‖_1 <= d B`, and Hölder
   `|∇L · v| <= ‖∇L‖_1 ‖v‖_∞` (z3, d = 1..3): so L is `dB/h`-Lipschitz in the max-norm on
   each simplex, hence on the convex cube (a segment crosses finitely many simplices).
3. Global cross-check on whole grids (z3, linear: concrete nodal values): for nodal values
   whose edge differences are at most B = 1, `|L(x) - L(x')| <= (d B / h) ‖x - x'‖_∞` for all
   real x, x' in the cube (d = 1, 2; several value patterns, including ones attaining the bound).
   With B = (1+θ) W_ℓ (Lemma 3) this is the stated constant `d (1+θ) W_ℓ / h_ℓ`. The factor d
   is attained (z3 exhibits a violation of 0.9·d/h for checkerboard values, d = 2).
"""

from __future__ import annotations

import itertools
import sys
from fractions import Fraction as F
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sympy as sp
import z3

from certify.engine.freudenthal import nodes
from proofs._common import Result, exact, exhibit, frac, hat_term, in_box, main, refute


def gradient(d: int):
    h = sp.Symbol("h", positive=True)
    x = sp.symbols(f"x0:{d}", real=True)
    cell = sp.symbols(f"k0:{d}", integer=True)
    c = sp.symbols(f"c0:{d + 1}", real=True)
    for perm in itertools.permutations(range(d)):
        t = [(x[i] - h * cell[i]) / h for i in range(d)]
        lam = [1 - t[perm[0]]] + [t[perm[k]] - t[perm[k + 1]] for k in range(d - 1)] + [t[perm[-1]]]
        L = sum(ci * li for ci, li in zip(c, lam))
        for k in range(1, d + 1):
            if sp.simplify(sp.diff(L, x[perm[k - 1]]) - (c[k] - c[k - 1]) / h) != 0:
                return False, {"perm": perm, "k": k, "dL": sp.diff(L, x[perm[k - 1]])}
    return True


def l1_and_hoelder(d: int):
    B = z3.Real("B")
    diffs = [z3.Real(f"g{k}") for k in range(d)]       # h·∂L/∂x_πk = c_k - c_{k-1}
    v = [z3.Real(f"v{k}") for k in range(d)]
    m = z3.Real("m")                                    # ‖v‖_∞
    hyps = [z3.Abs(g) <= B for g in diffs] + [z3.Abs(vi) <= m for vi in v]
    dot = z3.Sum([g * vi for g, vi in zip(diffs, v)])
    concl = z3.And(z3.Sum([z3.Abs(g) for g in diffs]) <= d * B, z3.Abs(dot) <= d * B * m)
    return refute(f"d={d}: |c_k - c_(k-1)| <= B ⟹ ‖h∇L‖_1 <= dB and |h∇L·v| <= dB‖v‖_∞",
                  hyps, concl, variables=diffs + v + [B, m])


PATTERNS = {
    "checkerboard 0/1": lambda node: F(sum(node) % 2),       # attains ‖∇L‖_1 = d/h
    "ramp k_0": lambda node: F(node[0]),
    "staircase min(k)": lambda node: F(min(node)),
}


def edge_bounded(d: int, n: int, values: dict) -> bool:
    """Every edge of the Freudenthal grid joins nodes k, k + e_S (S a nonempty index set)."""
    for node in values:
        for s in itertools.product((0, 1), repeat=d):
            if any(s):
                other = tuple(a + b for a, b in zip(node, s))
                if other in values and abs(values[other] - values[node]) > 1:
                    return False
    return True


def global_lipschitz(d: int, n: int, name: str):
    h = F(1, n)
    values = {node: PATTERNS[name](node) for node in nodes(d, n)}
    assert edge_bounded(d, n, values), name
    x = [z3.Real(f"x{i}") for i in range(d)]
    y = [z3.Real(f"y{i}") for i in range(d)]
    m = z3.Real("m")
    Lx = z3.Sum([frac(v) * hat_term(tuple(h * k for k in node), h, x) for node, v in values.items() if v])
    Ly = z3.Sum([frac(v) * hat_term(tuple(h * k for k in node), h, y) for node, v in values.items() if v])
    hyps = in_box(x) + in_box(y) + [z3.Abs(xi - yi) <= m for xi, yi in zip(x, y)]
    return refute(f"d={d}, n={n}, values '{name}' (edge differences <= 1): "
                  f"|L(x) - L(y)| <= (d/h)‖x - y‖_∞ on the cube", hyps,
                  z3.Abs(Lx - Ly) <= frac(F(d) / h) * m, variables=x + y + [m])


def sharp(d: int = 2, n: int = 2, factor=F(9, 10)):
    """The factor d cannot be lowered: checkerboard values violate a (factor·d/h) bound."""
    h = F(1, n)
    values = {node: PATTERNS["checkerboard 0/1"](node) for node in nodes(d, n)}
    x = [z3.Real(f"x{i}") for i in range(d)]
    y = [z3.Real(f"y{i}") for i in range(d)]
    m = z3.Real("m")
    Lx = z3.Sum([frac(v) * hat_term(tuple(h * k for k in node), h, x) for node, v in values.items() if v])
    Ly = z3.Sum([frac(v) * hat_term(tuple(h * k for k in node), h, y) for node, v in values.items() if v])
    hyps = in_box(x) + in_box(y) + [z3.Abs(xi - yi) <= m for xi, yi in zip(x, y)]
    return exhibit(f"d={d}: the constant d is attained (checkerboard values violate a {factor}·d/h bound)",
                   hyps + [z3.Abs(Lx - Ly) > frac(factor * d / h) * m], variables=x + y + [m])


def prove() -> Result:
    res = Result("Lemma 5 (Lipschitz constant of L_ℓ)",
                 "on each simplex ∂L/∂x_πk = (c_k - c_(k-1))/h, so with |c_z - c_z'| <= (1+θ)W on "
                 "edges L_ℓ is d(1+θ)W_ℓ/h_ℓ-Lipschitz in the max-norm.")
    for d in (1, 2, 3):
        res.add(exact(f"d={d}: ∂L/∂x_πk = (c_k - c_(k-1))/h on every Freudenthal simplex "
                      f"(symbolic c, h, cell)", lambda d=d: gradient(d), "exact (SymPy)"))
    for d in (1, 2, 3):
        res.add(l1_and_hoelder(d))
    for d, n in ((1, 4), (2, 2), (2, 3)):
        for name in PATTERNS:
            if d == 1 and name == "staircase min(k)":
                continue                                     # same as the ramp in d = 1
            res.add(global_lipschitz(d, n, name))
    res.add(sharp())
    return res


if __name__ == "__main__":
    main(prove)
