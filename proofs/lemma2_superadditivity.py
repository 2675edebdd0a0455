"""Lemma 2 (exact L^p decrease): the pointwise facts behind it.

Claims (THEOREM.md, Lemma 2):

1. Betweenness gives the exact split: if `e` lies between 0 and `e_prev` and `g = e_prev - e`,
   then `|e_prev| = |e| + |g|` (z3, linear).
2. Superadditivity `(a + b)^p >= a^p + b^p` for `a, b >= 0`:
   * integer p = 1..4: all coefficients of `(a+b)^p - a^p - b^p` (and of
     `(a+b+c)^p - a^p - b^p - c^p`) are nonnegative (SymPy), and z3 finds no counterexample
     (nonlinear real arithmetic);
   * every real p >= 1 (SymPy, symbolic p): with `g(t) = (1+t)^p - 1 - t^p`, `g(0) = 0`,
     `g'(t) = p((1+t)^(p-1) - t^(p-1)) = p t^(p-1)((1 + 1/t)^(p-1) - 1)` and
     `(1 + 1/t)^(p-1) = exp((p-1) log(1 + 1/t)) >= 1` because SymPy's assumption system
     proves `(p-1) log(1 + 1/t) >= 0` for `p >= 1, t > 0`; so g is nondecreasing on
     `[0, ∞)` (mean value theorem) and `g >= 0`; finally `(a+b)^p - a^p - b^p = a^p g(b/a)`
     for `a > 0` (SymPy identity; `a = 0` is trivial).
3. The level form needs every nonzero term `c_z φ_z(x)` to have the sign of `r(x)`:
   under Lemma 1's hypotheses, `|Σ c_i φ_i| = Σ |c_i| φ_i` (z3, k = 3 terms).
Integrating the pointwise inequality `|e_{j-1}|^p = (|e_j| + |g_j|)^p >= |e_j|^p + |g_j|^p`
gives `‖e_{j-1}‖_p^p - ‖e_j‖_p^p >= ‖g_j‖_p^p`.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sympy as sp
import z3

from proofs._common import Result, exact, lies_between_zero_and, main, refute
from proofs.lemma1_no_overshoot import coefficient_hypothesis


def split():
    e, prev = z3.Reals("e e_prev")
    g = prev - e
    return refute("e between 0 and e_prev ⟹ |e_prev| = |e| + |e_prev - e|",
                  [lies_between_zero_and(e, prev)], z3.Abs(prev) == z3.Abs(e) + z3.Abs(g),
                  variables=[e, prev])


def coefficients_nonnegative(p: int, k: int):
    xs = sp.symbols(f"a0:{k}", nonnegative=True)
    poly = sp.Poly(sp.expand(sum(xs) ** p - sum(x ** p for x in xs)), *xs)
    bad = [(m, c) for m, c in zip(poly.monoms(), poly.coeffs()) if c < 0]
    return (not bad) or (False, {"p": p, "negative": bad})


def superadditive_z3(p: int):
    a, b = z3.Reals("a b")
    return refute(f"p={p}: a, b >= 0 ⟹ (a+b)^{p} >= a^{p} + b^{p}", [a >= 0, b >= 0],
                  (a + b) ** p >= a ** p + b ** p, variables=[a, b])


def real_p():
    """The one-variable argument for real p >= 1, each step a SymPy fact."""
    t, a, b = sp.symbols("t a b", positive=True)
    q = sp.Symbol("q", nonnegative=True)           # q = p - 1 >= 0
    p = q + 1
    g = (1 + t) ** p - 1 - t ** p
    facts = {}
    facts["g'(t) = p((1+t)^(p-1) - t^(p-1))"] = sp.simplify(sp.diff(g, t) - p * ((1 + t) ** q - t ** q)) == 0
    facts["(1+t)^(p-1) - t^(p-1) = t^(p-1)((1+1/t)^(p-1) - 1)"] = \
        sp.simplify(t ** q * ((1 + 1 / t) ** q - 1) - ((1 + t) ** q - t ** q)) == 0
    facts["(p-1)·log(1+1/t) >= 0 (so (1+1/t)^(p-1) = exp(..) >= 1)"] = \
        bool((q * sp.log(1 + 1 / t)).is_nonnegative)
    facts["(1+1/t)^(p-1) = exp((p-1) log(1+1/t))"] = \
        sp.simplify(sp.exp(q * sp.log(1 + 1 / t)) - (1 + 1 / t) ** q) == 0
    facts["t^(p-1) > 0 and p > 0"] = bool((t ** q).is_positive) and bool(p.is_positive)
    facts["g(0) = 0"] = sp.simplify(g.subs(t, 0)) == 0
    facts["(a+b)^p - a^p - b^p = a^p g(b/a)"] = \
        sp.simplify(a ** p * g.subs(t, b / a) - ((a + b) ** p - a ** p - b ** p)) == 0
    bad = [k for k, ok in facts.items() if not ok]
    return (not bad) or (False, {"failed steps": bad})


def one_sign(k: int = 3):
    r = z3.Real("r")
    phis = [z3.Real(f"phi{i}") for i in range(k)]
    cs = [z3.Real(f"c{i}") for i in range(k)]
    hyps = [ph >= 0 for ph in phis] + [coefficient_hypothesis(c, ph, r) for c, ph in zip(cs, phis)]
    total = z3.Sum([c * ph for c, ph in zip(cs, phis)])
    return refute(f"Lemma 1 hypotheses ⟹ |Σ c_i φ_i| = Σ |c_i| φ_i (k={k}; all terms share r's sign)",
                  hyps, z3.Abs(total) == z3.Sum([z3.Abs(c) * ph for c, ph in zip(cs, phis)]),
                  variables=[r] + phis + cs)


def prove() -> Result:
    res = Result("Lemma 2 (exact L^p decrease, pointwise)",
                 "|e_(j-1)| = |e_j| + |g_j| under betweenness, and (a+b)^p >= a^p + b^p for a,b >= 0, "
                 "p >= 1; hence ‖e_(j-1)‖_p^p - ‖e_j‖_p^p >= ‖g_j‖_p^p and ‖L‖_p^p >= Σ|c_z|^p‖φ_z‖_p^p.")
    res.add(split())
    for p in range(1, 5):
        for k in (2, 3):
            res.add(exact(f"p={p}: coefficients of (a_1+..+a_{k})^{p} - Σ a_i^{p} are all >= 0",
                          lambda p=p, k=k: coefficients_nonnegative(p, k), "exact (SymPy)"))
    for p in range(2, 5):
        res.add(superadditive_z3(p))
    res.add(exact("real p >= 1: g(t) = (1+t)^p - 1 - t^p has g(0)=0, g' >= 0; (a+b)^p - a^p - b^p = a^p g(b/a)",
                  real_p, "exact (SymPy, symbolic p)"))
    res.add(one_sign(3))
    return res


if __name__ == "__main__":
    main(prove)
