"""The theorem's recursion (Lemma 5 ⟹ Theorem G3): symbolic checks (SymPy and z3).

Notation: K = 2d(1+θ), q = 1 + K, h_m = N^{-m}, a_m = W_m / h_m.

Claims (THEOREM.md, Theorem):

1. Lemma 5's sum: `Lip(L_m) · diam(S_z) = (d(1+θ) W_m / h_m) · 2 h_ℓ = K W_m N^{m-ℓ}` (SymPy).
2. From Lemma 5 to the a-recursion: with `ω_f(2h) <= 2Λh`,
   `(2Λ h_ℓ + K Σ_{m<ℓ} W_m N^{m-ℓ}) / h_ℓ = 2Λ + K Σ_{m<ℓ} a_m` (SymPy, symbolic N, ℓ, m).
3. Geometric sum: `1 + (q-1) Σ_{m<ℓ} q^m = q^ℓ` for symbolic q and ℓ (SymPy, both branches
   of its Piecewise answer, q = 1 and q ≠ 1).
4. Induction step (z3, symbolic Λ >= 0, θ >= 0, d >= 1): from `Σ_{m<ℓ} a_m <= 2Λ Σ_{m<ℓ} q^m`
   (the induction hypotheses summed), claim 3 and `a_ℓ <= 2Λ + K Σ_{m<ℓ} a_m`, conclude
   `a_ℓ <= 2Λ q^ℓ`; base case `a_0 <= 2Λ`. As a cross-check, the extremal sequence
   (equality in the recursion) is exactly `2Λ q^ℓ` for ℓ = 0..8 (SymPy).
5. Rate: `(1+θ) W_ℓ = (1+θ) a_ℓ h_ℓ <= 2(1+θ)Λ (q/N)^ℓ` (SymPy identity + z3 monotonicity).
6. Qualitative (G3): with `q' = K/(N-1)`: `Σ_{j=1}^{ℓ} N^{-j} = (1 - N^{-ℓ})/(N-1) <= 1/(N-1)`
   (SymPy); boundedness step `W_m <= B (m < ℓ) ⟹ W_ℓ <= B` for `B = Ω/(1-q')` (z3, symbolic);
   limsup step `0 <= M <= q'M, q' < 1 ⟹ M = 0` (z3); `q' < 1 ⟺ N > 1 + K ⟺ q/N < 1` (z3);
   THEORY's example `N = 2d+2, 0 <= θ <= 1/(4d)` satisfies `N > 2d(1+θ) + 1` (z3, d >= 1).
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sympy as sp
import z3

from proofs._common import Result, exact, main, refute

d_, theta_, Lam_, N_ = sp.symbols("d theta Lambda N", positive=True)
ell, m_, j_ = sp.symbols("ell m j", integer=True, nonnegative=True)


def lipschitz_sum():
    W = sp.Symbol("W_m", positive=True)
    h = lambda k: N_ ** (-k)
    lhs = d_ * (1 + theta_) * W / h(m_) * 2 * h(ell)
    rhs = 2 * d_ * (1 + theta_) * W * N_ ** (m_ - ell)
    return sp.simplify(sp.powsimp(lhs - rhs, force=True)) == 0


def a_recursion():
    W = sp.Function("W")
    K = 2 * d_ * (1 + theta_)
    h = lambda k: N_ ** (-k)
    lhs = (2 * Lam_ * h(ell) + K * sp.Sum(W(m_) * N_ ** (m_ - ell), (m_, 0, ell - 1))) / h(ell)
    rhs = 2 * Lam_ + K * sp.Sum(W(m_) / h(m_), (m_, 0, ell - 1))
    # compare termwise: the summands agree after dividing by h_ℓ
    term_ok = sp.simplify(sp.powsimp(W(m_) * N_ ** (m_ - ell) / h(ell) - W(m_) / h(m_), force=True)) == 0
    const_ok = sp.simplify(2 * Lam_ * h(ell) / h(ell) - 2 * Lam_) == 0
    # and the whole expression for concrete ℓ = 0..5 (finite sums, no Sum objects left)
    concrete_ok = all(sp.simplify((lhs - rhs).subs(ell, k).doit()) == 0 for k in range(6))
    return term_ok and const_ok and concrete_ok


def geometric():
    q = sp.Symbol("q", positive=True)
    s = sp.summation(q ** m_, (m_, 0, ell - 1))
    branches = s.args if isinstance(s, sp.Piecewise) else ((s, True),)
    ok = True
    for expr, cond in branches:
        val = 1 + (q - 1) * expr
        if cond is sp.true or cond == True:  # noqa: E712  (generic branch, q ≠ 1)
            ok &= sp.simplify(val - q ** ell) == 0
        else:                                # the q = 1 branch
            ok &= sp.simplify(val.subs(q, 1) - 1) == 0
    # and for every concrete ℓ = 0..10 as a polynomial identity in q
    ok &= all(sp.expand(1 + (q - 1) * sum(q ** k for k in range(l)) - q ** l) == 0 for l in range(11))
    return bool(ok)


def induction_step():
    Lam, th, d, S, G, Q, a, K = z3.Reals("Lambda theta d S G Q a K")
    hyps = [Lam >= 0, th >= 0, d >= 1, K == 2 * d * (1 + th), G >= 0,
            S <= 2 * Lam * G,                 # Σ_{m<ℓ} a_m <= Σ 2Λ q^m = 2Λ G
            1 + K * G == Q,                   # geometric sum: 1 + (q-1) G = q^ℓ
            a <= 2 * Lam + K * S]             # the recursion at ℓ
    return refute("induction step: a_ℓ <= 2Λ + K Σ a_m, Σ a_m <= 2Λ Σ q^m ⟹ a_ℓ <= 2Λ q^ℓ",
                  hyps, a <= 2 * Lam * Q, variables=[Lam, th, d, S, G, Q, a])


def extremal_sequence():
    K = 2 * d_ * (1 + theta_)
    a = []
    for l in range(9):
        a.append(sp.expand(2 * Lam_ + K * sum(a)))
        if sp.expand(a[-1] - 2 * Lam_ * (1 + K) ** l) != 0:
            return False, {"ell": l, "a": a[-1]}
    return True


def rate():
    K = 2 * d_ * (1 + theta_)
    q = 1 + K
    identity = sp.simplify((1 + theta_) * (2 * Lam_ * q ** ell) * N_ ** (-ell)
                           - 2 * (1 + theta_) * Lam_ * (q / N_) ** ell) == 0
    th, a, B, hl = z3.Reals("theta a B h")
    mono = refute("a_ℓ <= B, h_ℓ > 0, θ >= 0 ⟹ (1+θ) a_ℓ h_ℓ <= (1+θ) B h_ℓ",
                  [th >= 0, a <= B, hl > 0], (1 + th) * a * hl <= (1 + th) * B * hl)
    return identity, mono


def tail_sum():
    s = sp.summation(N_ ** (-j_), (j_, 1, ell))
    closed = (1 - N_ ** (-ell)) / (N_ - 1)
    branches = s.args if isinstance(s, sp.Piecewise) else ((s, True),)
    ok = False
    for expr, cond in branches:
        if cond is sp.true or cond == True:  # noqa: E712
            ok = sp.simplify(expr - closed) == 0
    # N > 1 ⟹ closed form <= 1/(N-1): 1/(N-1) - closed = N^{-ℓ}/(N-1) >= 0
    ok &= sp.simplify(1 / (N_ - 1) - closed - N_ ** (-ell) / (N_ - 1)) == 0
    return bool(ok)


def boundedness():
    Om, K, N, B, T, W = z3.Reals("Omega K N B T W")
    qq = K / (N - 1)
    hyps = [N > 1, K >= 0, Om >= 0, qq < 1, B * (1 - qq) == Om,
            T >= 0, T <= 1 / (N - 1),         # T = Σ_{j=1}^{ℓ} N^{-j}
            W <= Om + K * B * T]              # Lemma 5 with W_m <= B, ω + s <= Ω
    return refute("boundedness: W_ℓ <= Ω + K B Σ N^{-j}, B = Ω/(1-q') ⟹ W_ℓ <= B",
                  hyps, W <= B, variables=[Om, K, N, B, T, W])


def limsup_zero():
    M, qq = z3.Reals("M qprime")
    return refute("0 <= M <= q'M, 0 <= q' < 1 ⟹ M = 0", [M >= 0, qq >= 0, qq < 1, M <= qq * M],
                  M == 0, variables=[M, qq])


def condition():
    K, N = z3.Reals("K N")
    c1 = refute("N > 1, K >= 0: K/(N-1) < 1 ⟺ N > 1 + K ⟺ (1+K)/N < 1",
                [N > 1, K >= 0],
                z3.And((K / (N - 1) < 1) == (N > 1 + K), ((1 + K) / N < 1) == (N > 1 + K)),
                variables=[K, N])
    d, th = z3.Int("d"), z3.Real("theta")
    Nn = 2 * d + 2
    c2 = refute("d >= 1 integer, 0 <= θ <= 1/(4d), N = 2d+2 ⟹ N > 2d(1+θ) + 1",
                [d >= 1, th >= 0, 4 * d * th <= 1], Nn > 2 * d * (1 + th) + 1, variables=[d, th])
    return c1, c2


def prove() -> Result:
    res = Result("Theorem recursion (G3 and the rate)",
                 "W_ℓ <= ω_f(2h_ℓ) + 2d(1+θ) Σ_{m<ℓ} W_m N^{m-ℓ} gives a_ℓ <= 2Λ(1+2d(1+θ))^ℓ and "
                 "‖r_(ℓ+1)‖_∞ <= 2(1+θ)Λ((1+2d(1+θ))/N)^ℓ; W_ℓ → 0 when N > 2d(1+θ)+1.")
    res.add(exact("Lip(L_m)·2h_ℓ = 2d(1+θ) W_m N^(m-ℓ)", lipschitz_sum, "exact (SymPy)"))
    res.add(exact("Lemma 5 recursion / h_ℓ = 2Λ + 2d(1+θ) Σ_{m<ℓ} a_m", a_recursion, "exact (SymPy)"))
    res.add(exact("1 + (q-1) Σ_{m<ℓ} q^m = q^ℓ (symbolic q, ℓ)", geometric, "exact (SymPy)"))
    res.add(exact("base case: a_0 <= ω_f(2)/1 <= 2Λ = 2Λ q^0",
                  lambda: sp.simplify(2 * Lam_ * (1 + 2 * d_ * (1 + theta_)) ** 0 - 2 * Lam_) == 0,
                  "exact (SymPy)"))
    res.add(induction_step())
    res.add(exact("extremal sequence (equality) is 2Λ q^ℓ, ℓ = 0..8: the bound is sharp for the recursion",
                  extremal_sequence, "exact (SymPy)"))
    identity, mono = rate()
    res.add(exact("(1+θ)·2Λ q^ℓ·N^(-ℓ) = 2(1+θ)Λ (q/N)^ℓ", lambda: identity, "exact (SymPy)"))
    res.add(mono)
    res.add(exact("Σ_{j=1}^{ℓ} N^(-j) = (1 - N^(-ℓ))/(N-1) <= 1/(N-1)", tail_sum, "exact (SymPy)"))
    res.add(boundedness())
    res.add(limsup_zero())
    for ob in condition():
        res.add(ob)
    return res


if __name__ == "__main__":
    main(prove)
