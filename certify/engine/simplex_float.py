"""Integrals of `|ℓ|^j` over simplices, for many simplices at once, in float64 intervals
rounded outward (`certify.engine.intervals.IntervalArray`: every operation one `nextafter`
step outward, so each interval encloses the exact real it stands for, from IEEE 754 alone).

- *inputs*: an exact rational `q` becomes `[down(q̃), up(q̃)]` with `q̃ = float(q)`, which
  python-flint and Python round to nearest (one step outward then encloses `q`); exact
  zeros stay `[0, 0]` (`intervals_of`);
- *simplex integrals*: for `ℓ` affine with vertex values `a_i` on a simplex `S`,
  `∫_S ℓ^j = vol(S) d! j!/(j+d)! h_j(a)` (`h_j` complete homogeneous), which is `∫|ℓ|^j`
  for even `j`. For odd `j`, where `ℓ` changes sign: with one vertex `L` alone on its
  side (sign `σ`), the part `σℓ >= 0` is the simplex spanned by `v_L` and the points
  `v_L + t_i (v_i - v_L)`, `t_i = a_L / (a_L - a_i)` (in `(0, 1]`: the values have opposite
  signs or `a_i = 0`), of volume `vol(S) Π t_i`, on which `ℓ` has the values `a_L, 0, …, 0`,
  so `∫_S |ℓ|^j = ∫_S (-σℓ)^j + 2 vol(S) Π t_i d! j!/(j+d)! (σ a_L)^j`; with two vertices
  on each side (d = 3), `S` is first cut through the zero `c` of `ℓ` on an edge `p1 n1`
  into `(p1, p2, c, n2)` and `(c, p2, n1, n2)` (volumes `t vol(S)`, `(1-t) vol(S)`), each
  with a lone vertex. A vertex value whose interval contains 0 (not exactly 0) is replaced
  by 0: `ℓ` changes by at most `ε = max|a_i|` of those on `S` (an affine function is
  bounded by its vertex values), so `∫|ℓ|^j` moves by at most `vol(S) j (M + ε)^{j-1} ε`,
  `M` the largest `|a_i|`, which is added on both sides. The same cuts bound the volume of
  `{ℓ >= 0}` from below (`positive_volume`; 0 where a vertex value is undecided);
- *sums* (`group_sum`): `np.bincount` sums in float, widened by `8 n u Σ|x_i| + n 10^-300`
  (`n` terms: recursive summation errs by at most `γ_{n-1} Σ|x_i| <= 2(n-1) u Σ|x_i|` in
  any order, and `Σ|x_i|` is at most twice its float sum; underflow costs at most
  `2^-1074` a term), then one step outward.

Anything non-finite (overflow, a division by an interval containing 0) stays NaN or
infinite; callers test `finite` and then compute exactly instead.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from .intervals import IntervalArray as IA, _float_bounds, step_down, step_up
from .polytope import determinant

_U = 2.0 ** -53


down, up = step_down, step_up


def const(q) -> IA:
    lo, hi = _float_bounds(Fraction(q))
    return IA(np.float64(lo), np.float64(hi))


#: `d! j! / (j + d)!` as intervals, d <= 3, j <= 16
_MOMENT = {d: [const(Fraction(math.factorial(d) * math.factorial(j), math.factorial(j + d)))
               for j in range(17)] for d in (1, 2, 3)}
ONE, ZERO = IA(np.float64(1.0), np.float64(1.0)), IA(np.float64(0.0), np.float64(0.0))


def take(a: IA, index) -> IA:
    return IA(a.lo[index], a.hi[index])


def where(mask, a: IA, b: IA) -> IA:
    return IA(np.where(mask, a.lo, b.lo), np.where(mask, a.hi, b.hi))


def signed(a: IA, s) -> IA:
    """`s a` for an array `s` of ±1 (exact)."""
    return IA(np.where(s > 0, a.lo, -a.hi), np.where(s > 0, a.hi, -a.lo))


def absolute(a: IA) -> IA:
    low = np.where(a.lo > 0, a.lo, np.where(a.hi < 0, -a.hi, 0.0))
    return IA(low, np.maximum(np.abs(a.lo), np.abs(a.hi)))


def _clip01(a: IA) -> IA:
    """Intersect with [0, 1] (for quantities known to lie there)."""
    return IA(np.clip(a.lo, 0.0, 1.0), np.clip(a.hi, 0.0, 1.0))


def power(a: IA, j: int) -> IA:
    out = ONE
    for _ in range(j):
        out = out * a
    return out


def intervals_of(values) -> IA:
    """Intervals enclosing exact rationals (fmpq or Fraction); exact zeros stay 0."""
    x = np.array([float(v) for v in values], dtype=float)
    lo, hi = down(x), up(x)
    zero = x == 0
    if zero.any():
        exact = np.array([not v for v in values], dtype=bool)
        lo = np.where(zero & exact, 0.0, lo)
        hi = np.where(zero & exact, 0.0, hi)
    return IA(lo, hi)


def group_sum(a: IA, groups: np.ndarray, n: int) -> IA:
    """Enclosures of the sums of `a` over each of `n` groups (see the module docstring)."""
    with np.errstate(all="ignore"):
        count = np.bincount(groups, minlength=n).astype(float)
        lo = np.bincount(groups, a.lo, minlength=n)
        hi = np.bincount(groups, a.hi, minlength=n)
        slo = np.bincount(groups, np.abs(a.lo), minlength=n)
        shi = np.bincount(groups, np.abs(a.hi), minlength=n)
        lo = down(lo - (8 * _U * count * slo + count * 1e-300))
        hi = up(hi + (8 * _U * count * shi + count * 1e-300))
    return IA(lo, hi)


def total(a: IA) -> IA:
    return group_sum(a, np.zeros(len(a.lo), dtype=np.int64), 1)


# --------------------------------------------------------------------------- simplices

def simplex_volumes(V: IA, S: np.ndarray) -> IA:
    """Volumes of the simplices `S` (rows of vertex indices into `V`, shape (n, d))."""
    d = S.shape[1] - 1
    cols = [IA(V.lo[S[:, 0], i], V.hi[S[:, 0], i]) for i in range(d)]
    D = [[IA(V.lo[S[:, k], i], V.hi[S[:, k], i]) - cols[i] for i in range(d)]
         for k in range(1, d + 1)]
    return absolute(determinant(D)) * const(Fraction(1, math.factorial(d)))


def _moments(vol: IA, vals: list, pmax: int) -> list:
    """`[∫_S ℓ^j]_{j <= pmax}` from the vertex values `vals` (one interval array each)."""
    d = len(vals) - 1
    h = [ONE] + [ZERO] * pmax
    for a in vals:
        for m in range(1, pmax + 1):
            h[m] = h[m] + a * h[m - 1]
    return [vol * _MOMENT[d][j] * h[j] for j in range(pmax + 1)]


def _lone(vol: IA, A: IA, lone: np.ndarray, sigma: np.ndarray):
    """`(vol(S) Π t_i, σ a_L)` for the lone vertex `lone` of each row of `A`: the volume of
    the part `σℓ >= 0` and the value of `σℓ` at its apex."""
    rows = np.arange(len(lone))
    aL = IA(A.lo[rows, lone], A.hi[rows, lone])
    T = ONE
    for c in range(A.lo.shape[1]):
        a = IA(A.lo[:, c], A.hi[:, c])
        exact_zero = (a.lo == 0) & (a.hi == 0)
        t = _clip01(aL / (aL - a))
        keep = (c == lone) | exact_zero
        T = T * where(keep, ONE, t)
    return vol * T, signed(aL, sigma)


def _classify(A: IA):
    """Signs of the vertex values after replacing the uncertain ones by 0, and `ε`."""
    pos, neg = A.lo > 0, A.hi < 0
    zero = (A.lo == 0) & (A.hi == 0)
    uncertain = ~(pos | neg | zero)
    eps = np.where(uncertain, np.maximum(np.abs(A.lo), np.abs(A.hi)), 0.0).max(axis=1)
    B = IA(np.where(uncertain, 0.0, A.lo), np.where(uncertain, 0.0, A.hi))
    return B, pos, neg, eps


def abs_moments(vol: IA, A: IA, pmax: int) -> list:
    """`[∫_S |ℓ|^j]_{j <= pmax}` for every simplex: `vol` its volume, `A` its vertex values
    (shape (n, d+1)). See the module docstring for the formulas."""
    n, k = A.lo.shape
    full = _moments(vol, [IA(A.lo[:, c], A.hi[:, c]) for c in range(k)], pmax)
    out = list(full)                           # even j: exact as it stands
    odd = [j for j in range(1, pmax + 1) if j % 2]
    if not odd:
        return out
    B, pos, neg, eps = _classify(A)
    moments = _moments(vol, [IA(B.lo[:, c], B.hi[:, c]) for c in range(k)], pmax)
    npos, nneg = pos.sum(axis=1), neg.sum(axis=1)
    s = np.where(nneg == 0, 1.0, -1.0)
    result = {j: signed(moments[j], s) for j in odd}     # one sign (class A)
    lone_class = (npos > 0) & (nneg > 0) & ((npos == 1) | (nneg == 1))
    if lone_class.any():
        idx = np.nonzero(lone_class)[0]
        sigma = np.where(npos[idx] == 1, 1.0, -1.0)
        lone = np.where(npos[idx] == 1, np.argmax(pos[idx], axis=1),
                        np.argmax(neg[idx], axis=1))
        part, apex = _lone(take(vol, idx), take(B, idx), lone, sigma)
        for j in odd:
            value = signed(take(moments[j], idx), -sigma) + \
                IA(np.float64(2.0), np.float64(2.0)) * part * _MOMENT[k - 1][j] * power(apex, j)
            result[j] = _scatter(result[j], idx, value)
    split = (npos >= 2) & (nneg >= 2)
    if split.any():
        idx = np.nonzero(split)[0]
        result_split = _two_two(take(vol, idx), take(B, idx), pos[idx], neg[idx], odd)
        for j in odd:
            result[j] = _scatter(result[j], idx, result_split[j])
    for j in odd:
        value = result[j]
        if eps.any():
            M = np.maximum(np.abs(B.lo), np.abs(B.hi)).max(axis=1)
            slack = (vol * IA(np.float64(j), np.float64(j))
                     * power(IA(M, M) + IA(eps, eps), j - 1) * IA(eps, eps)).hi
            value = IA(down(value.lo - slack), up(value.hi + slack))
        out[j] = IA(np.maximum(value.lo, 0.0), value.hi)
    return out


def _scatter(base: IA, idx, value: IA) -> IA:
    lo, hi = base.lo.copy(), base.hi.copy()
    lo[idx], hi[idx] = value.lo, value.hi
    return IA(lo, hi)


def _two_two(vol: IA, B: IA, pos, neg, odd) -> dict:
    """d = 3, two vertices on each side: cut at the zero `c` of `ℓ` on the edge `p1 n1`
    into `(p1, p2, c, n2)` (volume `t vol`, lone `n2`) and `(c, p2, n1, n2)` (volume
    `(1 - t) vol`, lone `p2`), `t = a_p1 / (a_p1 - a_n1)`."""
    rows = np.arange(len(vol.lo))
    order_p = np.argsort(~pos, axis=1, kind="stable")
    order_n = np.argsort(~neg, axis=1, kind="stable")
    p1, p2, n1, n2 = order_p[:, 0], order_p[:, 1], order_n[:, 0], order_n[:, 1]

    def col(i):
        return IA(B.lo[rows, i], B.hi[rows, i])

    a_p1, a_p2, a_n1, a_n2 = col(p1), col(p2), col(n1), col(n2)
    gap = a_p1 - a_n1
    t = _clip01(a_p1 / gap)
    u = _clip01(-a_n1 / gap)
    zero = ZERO
    out = {}
    pieces = (
        (vol * t, [a_p1, a_p2, zero, a_n2], a_n2, [a_p1, a_p2], -1.0),
        (vol * u, [zero, a_p2, a_n1, a_n2], a_p2, [a_n1, a_n2], 1.0),
    )
    pmax = max(odd)
    for j in odd:
        out[j] = ZERO
    for sub_vol, values, apex, others, sigma in pieces:
        values = [v if v is not zero else IA(np.zeros(len(rows)), np.zeros(len(rows)))
                  for v in values]
        moments = _moments(sub_vol, values, pmax)
        T = ONE
        for a in others:
            T = T * _clip01(apex / (apex - a))
        part = sub_vol * T
        signed_apex = apex if sigma > 0 else -apex
        for j in odd:
            m = moments[j] if sigma < 0 else -moments[j]         # ∫(-σℓ)^j, j odd
            out[j] = out[j] + m + IA(np.float64(2.0), np.float64(2.0)) * part \
                * _MOMENT[3][j] * power(signed_apex, j)
    return out


def positive_volume(vol: IA, A: IA) -> IA:
    """A lower bound (in `.lo`) on the volume of `{ℓ >= 0}` on each simplex; 0 where a
    vertex value is too close to 0 to tell."""
    n, k = A.lo.shape
    pos, neg = A.lo > 0, A.hi < 0
    zero = (A.lo == 0) & (A.hi == 0)
    certain = (pos | neg | zero).all(axis=1)
    npos, nneg = pos.sum(axis=1), neg.sum(axis=1)
    lo = np.where(certain & (nneg == 0), vol.lo, 0.0)
    lone_class = certain & (npos > 0) & (nneg > 0) & ((npos == 1) | (nneg == 1))
    if lone_class.any():
        idx = np.nonzero(lone_class)[0]
        sigma = np.where(npos[idx] == 1, 1.0, -1.0)
        lone = np.where(npos[idx] == 1, np.argmax(pos[idx], axis=1),
                        np.argmax(neg[idx], axis=1))
        v = take(vol, idx)
        part, _ = _lone(v, take(A, idx), lone, sigma)
        lo[idx] = np.where(sigma > 0, part.lo, (v - part).lo)
    split = certain & (npos >= 2) & (nneg >= 2)
    if split.any():
        idx = np.nonzero(split)[0]
        v, B = take(vol, idx), take(A, idx)
        rows = np.arange(len(idx))
        order_p = np.argsort(~pos[idx], axis=1, kind="stable")
        order_n = np.argsort(~neg[idx], axis=1, kind="stable")

        def col(i):
            return IA(B.lo[rows, i], B.hi[rows, i])

        a_p1, a_p2 = col(order_p[:, 0]), col(order_p[:, 1])
        a_n1, a_n2 = col(order_n[:, 0]), col(order_n[:, 1])
        gap = a_p1 - a_n1
        v1, v2 = v * _clip01(a_p1 / gap), v * _clip01(-a_n1 / gap)
        T1 = _clip01(a_n2 / (a_n2 - a_p1)) * _clip01(a_n2 / (a_n2 - a_p2))
        T2 = _clip01(a_p2 / (a_p2 - a_n1)) * _clip01(a_p2 / (a_p2 - a_n2))
        lo[idx] = (v1 - v1 * T1 + v2 * T2).lo
    return IA(np.maximum(np.nan_to_num(lo, nan=0.0), 0.0), vol.hi)
