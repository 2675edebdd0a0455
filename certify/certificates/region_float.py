"""Norms on the linear regions in float intervals rounded outward; exact only where needed.

The regions path (`certify.certificates.region_path`) integrates `|e_{k-1}|^p`,
`|e_k|^p` and `|g_k|^p` over every region. Exact rationals there carry thousands of digits
on a trained network, yet the (G2) decrease is almost always far from 0: this module
computes every piece's integrals for all pieces at once in float64 intervals
(`certify.engine.intervals.IntervalArray`: each operation rounded outward with one
`nextafter` step, so every interval encloses the exact real it stands for, from IEEE 754
alone) and returns `None`-free rigorous enclosures; the caller goes back to the exact path
only where these cannot decide (a decrease within rounding of 0 on exact data).

Why the enclosures are rigorous (integer `p`, every step an interval operation):

- *inputs*: an exact rational `q` becomes `[down(q̃), up(q̃)]` with `q̃ = float(q)`, which
  python-flint and Python round to nearest (one step outward then encloses `q`); exact
  zeros stay `[0, 0]`. Vertices, the rows of `F_{k-1}`, `g_k` and of a piecewise-linear
  `f` are converted so, their vertex values then computed in intervals;
- *model of f* (any other target) on a piece with bounding box `B` (floats outward,
  clipped to the cube) and float centre `m`: `f(x) = f(m) + ∇f(ξ)·(x - m)`, `ξ ∈ B`, with
  `f(m)` and `∇f(B)` enclosed by `Target.box_intervals`; for float `c_0`, `c_i` (the
  midpoints) `|f(x) - c_0 - c·(x - m)| <= max|f(m) - c_0| + Σ_i max|∂_i f(B) - c_i| r_i
  = δ` (`r_i >= |x_i - m_i|`), all rounded up; where the gradient has no finite
  enclosure, the range of `f` over `B` (a constant model); where neither, the Arb model
  of `region_path.model_on_box`;
- *simplex integrals*: a piece is triangulated exactly (`Polytope.simplex_indices`, from
  its labels). For `ℓ` affine with vertex values `a_i` on a simplex `S`,
  `∫_S ℓ^j = vol(S) d! j!/(j+d)! h_j(a)` (`h_j` complete homogeneous), which is `∫|ℓ|^j`
  for even `j`. For odd `j`, where `ℓ` changes sign: with one vertex `L` alone on its
  side (sign `σ`), the part `σℓ >= 0` is the simplex spanned by `v_L` and the points
  `v_L + t_i (v_i - v_L)`, `t_i = a_L / (a_L - a_i)`, of volume `vol(S) Π t_i`, on which
  `ℓ` has values `a_L, 0, …, 0`, so `∫_S |ℓ|^j = ∫_S (-σℓ)^j + 2 vol(S) Π t_i d! j!/(j+d)!
  (σ a_L)^j`; with two vertices on each side (d = 3), `S` is first cut through the zero
  of `ℓ` on one edge into two simplices that each have a lone vertex. A vertex value whose
  interval contains 0 (not exactly 0) is replaced by 0: `ℓ` changes by at most
  `ε = max|a_i|` of those on `S` (barycentric), so `∫|ℓ|^j` moves by at most
  `vol(S) j (M + ε)^{j-1} ε`, `M` the largest `|a_i|`, which is added on both sides;
- *sums*: per piece and in total `np.bincount` sums in float, widened by
  `8 n u Σ|x_i| + n 10^-300` (`n` terms: recursive summation errs by at most
  `γ_{n-1} Σ|x_i|`, any order; underflow at most `2^-1074` a term), then one step outward;
- *remainders*: with `e = ℓ + ρ`, `|ρ| <= δ`: `∫|e|^n` between `∫|ℓ|^n - n δ ∫|ℓ|^{n-1}`
  and `Σ_j C(n, j) δ^{n-j} ∫|ℓ|^j`; the decrease for `p = 2` is `∫ℓ1² - ∫ℓ2² ± 2δ∫|g|`
  (`ℓ1 - ℓ2 = g`); for `p = 1` it is `∫|ℓ1| - ∫|ℓ2|` up to `2δ` times the volume outside
  `{ℓ1, ℓ2 >= δ} ∪ {ℓ1, ℓ2 <= -δ}` (there `|ℓ1+ρ| - |ℓ2+ρ| = |ℓ1| - |ℓ2|`), whose part
  on a simplex is bounded below by the volumes of `{min(ℓ1, ℓ2) >= δ}` (`min` is `ℓ2` where
  `g >= 0` on `S`, `ℓ1` where `g <= 0`, else inclusion-exclusion) computed as above; the
  sup bound is `max |ℓ2| + δ` at the vertices.

Anything non-finite (overflow, a division by an interval containing 0) makes the whole
computation return `None` and the exact path runs instead. Floats never prove a claim
here: these are bounds on integrals, used as enclosures.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ..engine.intervals import IntervalArray as IA, _float_bounds
from ..engine.lp import p_th_roots
from ..engine.polytope import frac

_U = 2.0 ** -53


def _dn(x):
    return np.nextafter(x, -np.inf)


def _up(x):
    return np.nextafter(x, np.inf)


def _const(q) -> IA:
    lo, hi = _float_bounds(Fraction(q))
    return IA(np.float64(lo), np.float64(hi))


#: `d! j! / (j + d)!` as intervals, d <= 3, j <= 16
_MOMENT = {d: [_const(Fraction(math.factorial(d) * math.factorial(j), math.factorial(j + d)))
               for j in range(17)] for d in (1, 2, 3)}
_ONE, _ZERO = IA(np.float64(1.0), np.float64(1.0)), IA(np.float64(0.0), np.float64(0.0))


def _take(a: IA, index) -> IA:
    return IA(a.lo[index], a.hi[index])


def _where(mask, a: IA, b: IA) -> IA:
    return IA(np.where(mask, a.lo, b.lo), np.where(mask, a.hi, b.hi))


def _signed(a: IA, s) -> IA:
    """`s a` for an array `s` of ±1 (exact)."""
    return IA(np.where(s > 0, a.lo, -a.hi), np.where(s > 0, a.hi, -a.lo))


def _abs(a: IA) -> IA:
    low = np.where(a.lo > 0, a.lo, np.where(a.hi < 0, -a.hi, 0.0))
    return IA(low, np.maximum(np.abs(a.lo), np.abs(a.hi)))


def _clip01(a: IA) -> IA:
    """Intersect with [0, 1] (for quantities known to lie there)."""
    return IA(np.clip(a.lo, 0.0, 1.0), np.clip(a.hi, 0.0, 1.0))


def _power(a: IA, j: int) -> IA:
    out = _ONE
    for _ in range(j):
        out = out * a
    return out


def intervals_of(values) -> IA:
    """Intervals enclosing exact rationals (fmpq or Fraction); exact zeros stay 0."""
    x = np.array([float(v) for v in values], dtype=float)
    lo, hi = _dn(x), _up(x)
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
        lo = _dn(lo - (8 * _U * count * slo + count * 1e-300))
        hi = _up(hi + (8 * _U * count * shi + count * 1e-300))
    return IA(lo, hi)


def total(a: IA) -> IA:
    return group_sum(a, np.zeros(len(a.lo), dtype=np.int64), 1)


# --------------------------------------------------------------------------- simplices

def _det(D) -> IA:
    """Determinant of `D[i][j]` (interval arrays), d <= 3."""
    n = len(D)
    if n == 1:
        return D[0][0]
    if n == 2:
        return D[0][0] * D[1][1] - D[0][1] * D[1][0]
    a, b, c = D
    return (a[0] * (b[1] * c[2] - b[2] * c[1]) - a[1] * (b[0] * c[2] - b[2] * c[0])
            + a[2] * (b[0] * c[1] - b[1] * c[0]))


def simplex_volumes(V: IA, S: np.ndarray) -> IA:
    """Volumes of the simplices `S` (rows of vertex indices into `V`, shape (n, d))."""
    d = S.shape[1] - 1
    cols = [IA(V.lo[S[:, 0], i], V.hi[S[:, 0], i]) for i in range(d)]
    D = [[IA(V.lo[S[:, k], i], V.hi[S[:, k], i]) - cols[i] for i in range(d)]
         for k in range(1, d + 1)]
    return _abs(_det(D)) * _const(Fraction(1, math.factorial(d)))


def _moments(vol: IA, vals: list, pmax: int) -> list:
    """`[∫_S ℓ^j]_{j <= pmax}` from the vertex values `vals` (one interval array each)."""
    d = len(vals) - 1
    h = [_ONE] + [_ZERO] * pmax
    for a in vals:
        for m in range(1, pmax + 1):
            h[m] = h[m] + a * h[m - 1]
    return [vol * _MOMENT[d][j] * h[j] for j in range(pmax + 1)]


def _columns(A: IA, index) -> list:
    return [IA(A.lo[index, c], A.hi[index, c]) for c in range(A.lo.shape[1])]


def _lone(vol: IA, A: IA, lone: np.ndarray, sigma: np.ndarray):
    """`(vol(S) Π t_i, σ a_L)` for the lone vertex `lone` of each row of `A`: the volume of
    the part `σℓ >= 0` and the value of `σℓ` at its apex."""
    rows = np.arange(len(lone))
    aL = IA(A.lo[rows, lone], A.hi[rows, lone])
    T = _ONE
    for c in range(A.lo.shape[1]):
        a = IA(A.lo[:, c], A.hi[:, c])
        exact_zero = (a.lo == 0) & (a.hi == 0)
        t = _clip01(aL / (aL - a))
        keep = (c == lone) | exact_zero
        T = T * _where(keep, _ONE, t)
    return vol * T, _signed(aL, sigma)


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
    result = {j: _signed(moments[j], s) for j in odd}     # one sign (class A)
    lone_class = (npos > 0) & (nneg > 0) & ((npos == 1) | (nneg == 1))
    if lone_class.any():
        idx = np.nonzero(lone_class)[0]
        sigma = np.where(npos[idx] == 1, 1.0, -1.0)
        lone = np.where(npos[idx] == 1, np.argmax(pos[idx], axis=1),
                        np.argmax(neg[idx], axis=1))
        part, apex = _lone(_take(vol, idx), _take(B, idx), lone, sigma)
        for j in odd:
            value = _signed(_take(moments[j], idx), -sigma) + \
                IA(np.float64(2.0), np.float64(2.0)) * part * _MOMENT[k - 1][j] * _power(apex, j)
            result[j] = _scatter(result[j], idx, value)
    split = (npos >= 2) & (nneg >= 2)
    if split.any():
        idx = np.nonzero(split)[0]
        result_split = _two_two(_take(vol, idx), _take(B, idx), pos[idx], neg[idx], odd)
        for j in odd:
            result[j] = _scatter(result[j], idx, result_split[j])
    for j in odd:
        value = result[j]
        if eps.any():
            M = np.maximum(np.abs(B.lo), np.abs(B.hi)).max(axis=1)
            slack = (vol * IA(np.float64(j), np.float64(j))
                     * _power(IA(M, M) + IA(eps, eps), j - 1) * IA(eps, eps)).hi
            value = IA(_dn(value.lo - slack), _up(value.hi + slack))
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
    zero = _ZERO
    out = {}
    pieces = (
        (vol * t, [a_p1, a_p2, zero, a_n2], a_n2, [a_p1, a_p2], -1.0),
        (vol * u, [zero, a_p2, a_n1, a_n2], a_p2, [a_n1, a_n2], 1.0),
    )
    pmax = max(odd)
    for j in odd:
        out[j] = _ZERO
    for sub_vol, values, apex, others, sigma in pieces:
        values = [v if v is not zero else IA(np.zeros(len(rows)), np.zeros(len(rows)))
                  for v in values]
        moments = _moments(sub_vol, values, pmax)
        T = _ONE
        for a in others:
            T = T * _clip01(apex / (apex - a))
        part = sub_vol * T
        signed_apex = apex if sigma > 0 else -apex
        for j in odd:
            m = moments[j] if sigma < 0 else -moments[j]         # ∫(-σℓ)^j, j odd
            out[j] = out[j] + m + IA(np.float64(2.0), np.float64(2.0)) * part \
                * _MOMENT[3][j] * _power(signed_apex, j)
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
        v = _take(vol, idx)
        part, _ = _lone(v, _take(A, idx), lone, sigma)
        lo[idx] = np.where(sigma > 0, part.lo, (v - part).lo)
    split = certain & (npos >= 2) & (nneg >= 2)
    if split.any():
        idx = np.nonzero(split)[0]
        v, B = _take(vol, idx), _take(A, idx)
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


# --------------------------------------------------------------------------- pieces

@dataclass
class Batch:
    """The integrals of a list of pieces `(polytope, region index, level)`, as arrays."""

    pieces: list
    delta: np.ndarray           # upper bounds on the model remainders (0: f exact)
    prev: dict                  # p -> IA of ∫|e_{k-1}|^p per piece
    new: dict                   # p -> IA of ∫|e_k|^p
    dec: dict                   # p -> IA of ∫(|e_{k-1}|^p - |e_k|^p)
    gpow: dict                  # p -> lower bounds of ∫|g|^p
    sup: np.ndarray             # upper bounds of |e_k| on the piece
    key: np.ndarray             # the largest |ℓ2| at a vertex (upper end), for the witness
    best: np.ndarray            # index of that vertex in the piece's polytope

    def finite(self) -> bool:
        arrays = [self.delta, self.sup] + [a for d in (self.prev, self.new, self.dec)
                                           for iv in d.values() for a in (iv.lo, iv.hi)]
        return all(np.isfinite(a).all() for a in arrays)

    def select(self, keep: np.ndarray) -> "Batch":
        index = np.nonzero(keep)[0]
        pick = {name: {p: _take(iv, index) for p, iv in getattr(self, name).items()}
                for name in ("prev", "new", "dec")}
        return Batch([self.pieces[i] for i in index], self.delta[index], pick["prev"],
                     pick["new"], pick["dec"], {p: a[index] for p, a in self.gpow.items()},
                     self.sup[index], self.key[index], self.best[index])

    @staticmethod
    def join(a: "Batch", b: "Batch") -> "Batch":
        def cat(x, y):
            return IA(np.concatenate([x.lo, y.lo]), np.concatenate([x.hi, y.hi]))
        return Batch(a.pieces + b.pieces, np.concatenate([a.delta, b.delta]),
                     {p: cat(a.prev[p], b.prev[p]) for p in a.prev},
                     {p: cat(a.new[p], b.new[p]) for p in a.new},
                     {p: cat(a.dec[p], b.dec[p]) for p in a.dec},
                     {p: np.concatenate([a.gpow[p], b.gpow[p]]) for p in a.gpow},
                     np.concatenate([a.sup, b.sup]), np.concatenate([a.key, b.key]),
                     np.concatenate([a.best, b.best]))


class RowCache:
    """The rows of `F_{k-1}`, `g_k` (and a piecewise-linear `f`) of each region as
    intervals, converted once."""

    def __init__(self, regions):
        self.regions = regions
        self._rows: dict = {}

    def get(self, index: int):
        if index not in self._rows:
            region = self.regions[index]
            self._rows[index] = (intervals_of(region.previous), intervals_of(region.g),
                                 None if region.f is None else intervals_of(region.f),
                                 not any(region.g))
        return self._rows[index]


def _stack(rows: list) -> IA:
    return IA(np.stack([r.lo for r in rows]), np.stack([r.hi for r in rows]))


def _models(target, pieces, box_lo, box_hi):
    """Affine models `c0 + c·(x - m) ± δ` of a non-PL `f` on each piece's box (floats):
    returns `(m, c, c0, delta)` (see the module docstring)."""
    from .region_path import model_on_box
    n, d = box_lo.shape
    lo, hi = np.clip(box_lo, 0.0, 1.0), np.clip(box_hi, 0.0, 1.0)
    with np.errstate(all="ignore"):
        m = (lo + hi) / 2
        m = np.minimum(np.maximum(m, lo), hi)
        r = np.maximum(_up(m - lo), _up(hi - m))
        mid = [IA(m[:, i], m[:, i]) for i in range(d)]
        box = [IA(lo[:, i], hi[:, i]) for i in range(d)]
        try:
            f_mid, f_box, grad = target.box_intervals(mid, box)
        except (ArithmeticError, ValueError, ZeroDivisionError):
            f_mid = f_box = IA(np.full(n, np.nan), np.full(n, np.nan))
            grad = [f_mid] * d

        def full(a: IA) -> IA:
            return IA(np.broadcast_to(np.asarray(a.lo, float), (n,)).copy(),
                      np.broadcast_to(np.asarray(a.hi, float), (n,)).copy())

        f_mid, f_box, grad = full(f_mid), full(f_box), [full(g) for g in grad]
        ok = f_mid.finite() & np.all([g.finite() for g in grad], axis=0)
        c0 = (f_mid.lo + f_mid.hi) / 2
        delta = np.maximum(_up(f_mid.hi - c0), _up(c0 - f_mid.lo))
        c = np.zeros((n, d))
        for i, g in enumerate(grad):
            ci = (g.lo + g.hi) / 2
            dev = np.maximum(_up(g.hi - ci), _up(ci - g.lo))
            delta = _up(delta + _up(dev * r[:, i]))
            c[:, i] = ci
        ok &= np.isfinite(delta) & np.isfinite(c).all(axis=1) & np.isfinite(c0)
        rng = f_box.finite() & ~ok                       # a cusp: the range of f on B
        c0_box = (f_box.lo + f_box.hi) / 2
        delta_box = np.maximum(_up(f_box.hi - c0_box), _up(c0_box - f_box.lo))
        rng &= np.isfinite(c0_box) & np.isfinite(delta_box)
    c = np.where(ok[:, None], c, 0.0)
    c0 = np.where(ok, c0, c0_box)
    delta = np.where(ok, delta, delta_box)
    C = IA(c.copy(), c.copy())
    C0 = IA(c0.copy(), c0.copy())
    for i in np.nonzero(~ok & ~rng)[0]:            # the Arb model of region_path
        poly = pieces[i][0]
        b_lo, b_hi = poly.bounding_box()
        model = model_on_box(target, b_lo, b_hi)
        row = intervals_of(model.row)
        m[i] = 0.0
        C.lo[i], C.hi[i] = row.lo[:d], row.hi[:d]
        C0.lo[i], C0.hi[i] = row.lo[d], row.hi[d]
        delta[i] = _float_bounds(frac(model.delta))[1]
    return m, C, C0, delta


def evaluate(target, rows: RowCache, pieces: list, ps: list) -> Batch:
    """The integrals of every piece (see the module docstring)."""
    n = len(pieces)
    d = pieces[0][0].dim
    pmax = max([int(p) for p in ps] + [2])
    counts, floats, simplices = [], [], []
    offset = 0
    for poly, _, _ in pieces:
        F = poly.floats()
        floats.append(F)
        counts.append(len(F))
        simplices.append(np.asarray(poly.simplex_indices(), dtype=np.int64).reshape(-1, d + 1)
                         + offset)
        offset += len(F)
    counts = np.array(counts)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    Vf = np.concatenate(floats)
    V = IA(np.maximum(_dn(Vf), 0.0), np.minimum(_up(Vf), 1.0))
    S = np.concatenate(simplices)
    owner_v = np.repeat(np.arange(n), counts)
    owner_s = np.repeat(np.arange(n), [len(s) for s in simplices])
    regions = [r for _, r, _ in pieces]
    data = [rows.get(r) for r in regions]
    prev_rows = _stack([x[0] for x in data])
    g_rows = _stack([x[1] for x in data])
    g_zero = np.array([x[3] for x in data], dtype=bool)
    with np.errstate(all="ignore"):
        if data[0][2] is not None:
            f_rows = _stack([x[2] for x in data])
            m = np.zeros((n, d))
            C, C0 = IA(f_rows.lo[:, :d], f_rows.hi[:, :d]), IA(f_rows.lo[:, d], f_rows.hi[:, d])
            delta = np.zeros(n)
        else:
            box_lo = np.minimum.reduceat(V.lo, starts, axis=0)
            box_hi = np.maximum.reduceat(V.hi, starts, axis=0)
            m, C, C0, delta = _models(target, pieces, box_lo, box_hi)
        fv = _take(C0, owner_v)
        Fv = IA(prev_rows.lo[owner_v, d], prev_rows.hi[owner_v, d])
        gv = IA(g_rows.lo[owner_v, d], g_rows.hi[owner_v, d])
        for i in range(d):
            x = IA(V.lo[:, i], V.hi[:, i])
            shifted = x - IA(m[owner_v, i], m[owner_v, i])
            fv = fv + IA(C.lo[owner_v, i], C.hi[owner_v, i]) * shifted
            Fv = Fv + IA(prev_rows.lo[owner_v, i], prev_rows.hi[owner_v, i]) * x
            gv = gv + IA(g_rows.lo[owner_v, i], g_rows.hi[owner_v, i]) * x
        e1 = fv - Fv
        e2 = e1 - gv
        vol = simplex_volumes(V, S)

        def at(values: IA) -> IA:
            return IA(values.lo[S], values.hi[S])

        sums = {}
        for name, values in (("e1", e1), ("e2", e2), ("g", gv)):
            moments = abs_moments(vol, at(values), pmax)
            sums[name] = [group_sum(mj, owner_s, n) for mj in moments]
        a1, a2, ag = sums["e1"], sums["e2"], sums["g"]
        D = IA(delta, delta)
        outside = None
        if any(int(p) == 1 for p in ps) and delta.any():
            outside = _outside(vol, S, e1, e2, gv, delta[owner_v], owner_s, n)
        prev, new, dec, gpow = {}, {}, {}, {}
        for p in ps:
            k = int(p)
            b1, b2 = _with_remainder(a1, k, D), _with_remainder(a2, k, D)
            if k == 2:
                dec[p] = _widen(a1[2] - a2[2], (IA(np.float64(2.0), np.float64(2.0))
                                                * D * ag[1]).hi)
            elif k == 1:
                slack = np.zeros(n) if outside is None else \
                    (IA(np.float64(2.0), np.float64(2.0)) * D * IA(outside, outside)).hi
                dec[p] = _widen(a1[1] - a2[1], slack)
            else:
                dec[p] = b1 - b2
            zero = IA(np.zeros(n), np.zeros(n))
            dec[p] = _where(g_zero, zero, dec[p])
            prev[p], new[p] = b1, b2
            gpow[p] = np.where(g_zero, 0.0, np.maximum(ag[k].lo, 0.0))
        size = _abs(e2).hi
        sup_v = _up(size + delta[owner_v])
        sup = np.maximum.reduceat(sup_v, starts)
        order = np.lexsort((-size, owner_v))
        first = order[np.searchsorted(owner_v[order], np.arange(n))]
        key = size[first]
        best = first - starts
    return Batch(pieces, delta, prev, new, dec, gpow, sup, key, best)


def _widen(a: IA, slack: np.ndarray) -> IA:
    return IA(_dn(a.lo - slack), _up(a.hi + slack))


def _with_remainder(a: list, n: int, D: IA) -> IA:
    """`∫|ℓ + ρ|^n` for `|ρ| <= δ`, from `a_j ∋ ∫|ℓ|^j`."""
    lower = (a[n] - IA(np.float64(n), np.float64(n)) * D * a[n - 1]).lo
    upper = _ZERO
    for j in range(n + 1):
        upper = upper + _const(math.comb(n, j)) * _power(D, n - j) * a[j]
    return IA(np.maximum(lower, 0.0), upper.hi)


def _outside(vol, S, e1, e2, gv, delta_v, owner_s, n) -> np.ndarray:
    """Per piece, an upper bound on the volume outside `{ℓ1, ℓ2 >= δ} ∪ {ℓ1, ℓ2 <= -δ}`."""
    D = IA(delta_v, delta_v)

    def pv(values: IA) -> np.ndarray:
        return positive_volume(vol, IA(values.lo[S], values.hi[S])).lo

    g_pos = (gv.lo[S] >= 0).all(axis=1)
    g_neg = (gv.hi[S] <= 0).all(axis=1)
    plus1, plus2 = pv(e1 - D), pv(e2 - D)
    minus1, minus2 = pv(-e1 - D), pv(-e2 - D)
    both_plus = np.maximum(_dn(_dn(plus1 + plus2) - vol.hi), 0.0)
    both_minus = np.maximum(_dn(_dn(minus1 + minus2) - vol.hi), 0.0)
    good_plus = np.where(g_pos, plus2, np.where(g_neg, plus1, both_plus))
    good_minus = np.where(g_pos, minus1, np.where(g_neg, minus2, both_minus))
    out = np.maximum(_up(_up(vol.hi - good_plus) - good_minus), 0.0)
    return group_sum(IA(out, out), owner_s, n).hi


# --------------------------------------------------------------------------- measure

class FloatNorms:
    """Norm enclosures of `e_k` (the `NormEnclosure` interface) and of `e_{k-1}` and the
    decrease, summed from a `Batch` (the interface of `region_path.RegionNorms`)."""

    exact = False

    def __init__(self, batch: Batch, ps):
        self.ps = list(ps)
        self._prev = {p: total(batch.prev[p]) for p in self.ps}
        self._new = {p: total(batch.new[p]) for p in self.ps}
        self._dec = {p: total(batch.dec[p]) for p in self.ps}

    @staticmethod
    def _bounds(iv: IA) -> tuple[Fraction, Fraction]:
        return Fraction(float(iv.lo[0])), Fraction(float(iv.hi[0]))

    def finite(self) -> bool:
        return all(np.isfinite(iv.lo).all() and np.isfinite(iv.hi).all()
                   for d in (self._prev, self._new, self._dec) for iv in d.values())

    def integral(self, p) -> tuple[Fraction, Fraction]:
        lo, hi = self._bounds(self._new[Fraction(p)])
        return max(lo, Fraction(0)), hi

    def norm(self, p) -> tuple[Fraction, Fraction]:
        return p_th_roots(*self.integral(p), Fraction(p))

    def previous(self, p) -> tuple[Fraction, Fraction]:
        lo, hi = self._bounds(self._prev[Fraction(p)])
        return max(lo, Fraction(0)), hi

    def decrease(self, p) -> tuple[Fraction, Fraction]:
        return self._bounds(self._dec[Fraction(p)])

    def undecided(self) -> list:
        return [p for p in self.ps if not (self._dec[p].lo[0] > 0 or self._dec[p].hi[0] <= 0)]

    def tight(self, ratio: float = 1.05) -> bool:
        for p in self.ps:
            lo, hi = float(self._new[p].lo[0]), float(self._new[p].hi[0])
            if hi > 0 and (lo <= 0 or hi / lo > ratio ** float(p)):
                return False
        return True


def measure(target, regions: list, ps, need_decrease: bool, seconds: float,
            tighten_seconds: float, max_steps: int, tighten_steps: int, max_depth: int):
    """Pieces covering the cube with rigorous float integrals, bisected (exactly, across the
    longest side of the bounding box) where the model of `f` is loosest — to decide the
    decrease when `need_decrease`, then to tighten `‖e_k‖_p` — in rounds, within the step
    and time budgets. Returns `(batch, norms)`, or None where floats give no finite
    enclosure (the caller then runs the exact path)."""
    from .region_path import bisect
    ps = [Fraction(p) for p in ps]
    rows = RowCache(regions)
    batch = evaluate(target, rows, [(r.poly, i, 0) for i, r in enumerate(regions)], ps)
    if not batch.finite():
        return None
    norms = FloatNorms(batch, ps)
    if not batch.delta.any():
        return (batch, norms) if norms.finite() else None
    phases = [("decide", seconds, max_steps)] if need_decrease else []
    phases.append(("tighten", tighten_seconds, tighten_steps))
    for phase, budget, steps_left in phases:
        deadline = time.monotonic() + budget
        while steps_left > 0 and time.monotonic() < deadline:
            focus = norms.undecided() if phase == "decide" else ps
            if not focus or phase == "tighten" and norms.tight():
                break
            part = batch.dec if phase == "decide" else batch.new
            width = sum(part[p].hi - part[p].lo for p in focus)
            levels = np.array([level for _, _, level in batch.pieces])
            eligible = (batch.delta > 0) & (levels < max_depth)
            if not eligible.any():
                break
            count = int(min(steps_left, max(32, eligible.sum() // 8), eligible.sum()))
            order = np.argsort(-np.where(eligible, width, -1.0), kind="stable")[:count]
            chosen = np.zeros(len(batch.pieces), dtype=bool)
            chosen[order] = True
            children = []
            for i in order:
                poly, region, level = batch.pieces[i]
                for child in bisect(poly, level):
                    if child is not None:
                        children.append((child, region, level + 1))
            steps_left -= count
            fresh = evaluate(target, rows, children, ps)
            if not fresh.finite():
                return None
            batch = Batch.join(batch.select(~chosen), fresh)
            norms = FloatNorms(batch, ps)
    return (batch, norms) if norms.finite() else None


def lower_total(values: np.ndarray) -> Fraction:
    """A lower bound on the sum of non-negative floats, as a Fraction (0 if not finite)."""
    iv = total(IA(values, values))
    lo = float(iv.lo[0])
    return Fraction(lo) if math.isfinite(lo) and lo > 0 else Fraction(0)
