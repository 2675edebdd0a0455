"""Norms on the linear regions in float intervals rounded outward; exact only where needed.

The regions path (`certify.certificates.region_norms`) integrates `|e_{k-1}|^p`,
`|e_k|^p` and `|g_k|^p` over every region. Exact rationals there carry thousands of digits
on a trained network, yet the (G2) decrease is almost always far from 0: this module
computes the integrals of all pieces at once in float64 intervals rounded outward
(`certify.engine.simplex_float`, whose docstring proves the simplex formulas and sums
rigorous), and the caller goes back to the exact path only where these cannot serve: a
non-finite value, or exact data (a piecewise-linear target) whose decrease is within
rounding of 0, or a nonzero `g` whose `∫|g|^p` they cannot tell from 0.

On a piece, `e_{k-1} = ℓ1 + ρ` and `e_k = ℓ2 + ρ` with `ℓ1 = L - F_{k-1}`, `ℓ2 = ℓ1 - g_k`
affine and `|ρ| <= δ`, `L ± δ` a model of `f`:

- the rows of `F_{k-1}`, `g_k` and of a piecewise-linear `f` (`δ = 0`) are the exact rows,
  converted to intervals; vertex values are computed in intervals from the enclosed
  vertices (clipped to the cube);
- any other target on a piece with bounding box `B` (floats outward, clipped to the cube)
  and float centre `m`: `f(x) = f(m) + ∇f(ξ)·(x - m)`, `ξ ∈ B`, with `f(m)` and `∇f(B)`
  enclosed by `Target.box_intervals`; for float `c_0`, `c_i` (the midpoints)
  `|f(x) - c_0 - c·(x - m)| <= max|f(m) - c_0| + Σ_i max|∂_i f(B) - c_i| r_i = δ`
  (`r_i >= |x_i - m_i|`), all rounded up; where the gradient has no finite enclosure, the
  range of `f` over `B` (a constant model); where neither, the Arb model of
  `region_models.model_on_box`;
- `∫|e|^n` lies between `∫|ℓ|^n - n δ ∫|ℓ|^{n-1}` and `Σ_j C(n, j) δ^{n-j} ∫|ℓ|^j`
  (convexity, and `|ℓ + ρ| <= |ℓ| + δ`); the decrease for `p = 2` is
  `∫ℓ1² - ∫ℓ2² ± 2δ∫|g|` (`(ℓ1+ρ)² - (ℓ2+ρ)² = ℓ1² - ℓ2² + 2ρg`); for `p = 1` it is
  `∫|ℓ1| - ∫|ℓ2|` up to `2δ` times the volume outside `{ℓ1, ℓ2 >= δ} ∪ {ℓ1, ℓ2 <= -δ}`
  (there `|ℓ1+ρ| - |ℓ2+ρ| = |ℓ1| - |ℓ2|`; elsewhere they differ by at most `2|ρ|`), that
  volume bounded per simplex through `{min(ℓ1, ℓ2) >= δ}` (`min` is `ℓ2` where `g >= 0`
  on the simplex, `ℓ1` where `g <= 0`, else inclusion-exclusion); a region where `g` is
  exactly 0 decreases by exactly 0;
- the sup bound is `max |ℓ2| + δ` over the vertices.

Floats never prove a claim here: these are enclosures of integrals.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from flint import fmpq

from ..engine.intervals import IntervalArray as IA, _float_bounds
from ..engine.lp import p_th_roots
from ..engine.polytope import frac
from ..engine.regions import resolve
from ..engine.simplex_float import ZERO, absolute, abs_moments, const, down, \
    group_sum, intervals_of, positive_volume, power, simplex_volumes, take, total, up, where


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
        pick = {name: {p: take(iv, index) for p, iv in getattr(self, name).items()}
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
    intervals: the enumeration's float enclosures where it has them (no exact rows then),
    else the exact rows converted; and whether `g` is exactly 0 on the region."""

    def __init__(self, regions):
        self.regions = regions
        self._rows: dict = {}
        unknown = [r for r in regions if r.g_nonzero() is None]
        if unknown:
            resolve(unknown)       # g may vanish: decide that exactly (rows at once)

    def get(self, index: int):
        if index not in self._rows:
            region = self.regions[index]
            if region.g_floats is not None and region.g_nonzero():
                previous, g = (IA(*region.previous_floats), IA(*region.g_floats))
            else:
                previous, g = intervals_of(region.previous), intervals_of(region.g)
            self._rows[index] = (previous, g,
                                 None if region.f is None else intervals_of(region.f),
                                 not region.g_nonzero())
        return self._rows[index]


def _stack(rows: list) -> IA:
    return IA(np.stack([r.lo for r in rows]), np.stack([r.hi for r in rows]))


def _models(target, pieces, box_lo, box_hi):
    """Affine models `c0 + c·(x - m) ± δ` of a non-PL `f` on each piece's box (floats):
    returns `(m, c, c0, delta)` (see the module docstring)."""
    from .region_models import model_on_box
    n, d = box_lo.shape
    lo, hi = np.clip(box_lo, 0.0, 1.0), np.clip(box_hi, 0.0, 1.0)
    with np.errstate(all="ignore"):
        m = (lo + hi) / 2
        m = np.minimum(np.maximum(m, lo), hi)
        r = np.maximum(up(m - lo), up(hi - m))
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
        delta = np.maximum(up(f_mid.hi - c0), up(c0 - f_mid.lo))
        c = np.zeros((n, d))
        for i, g in enumerate(grad):
            ci = (g.lo + g.hi) / 2
            dev = np.maximum(up(g.hi - ci), up(ci - g.lo))
            delta = up(delta + up(dev * r[:, i]))
            c[:, i] = ci
        ok &= np.isfinite(delta) & np.isfinite(c).all(axis=1) & np.isfinite(c0)
        rng = f_box.finite() & ~ok                       # a cusp: the range of f on B
        c0_box = (f_box.lo + f_box.hi) / 2
        delta_box = np.maximum(up(f_box.hi - c0_box), up(c0_box - f_box.lo))
        rng &= np.isfinite(c0_box) & np.isfinite(delta_box)
    c = np.where(ok[:, None], c, 0.0)
    c0 = np.where(ok, c0, c0_box)
    delta = np.where(ok, delta, delta_box)
    C = IA(c.copy(), c.copy())
    C0 = IA(c0.copy(), c0.copy())
    for i in np.nonzero(~ok & ~rng)[0]:            # the Arb model of region_models
        poly = pieces[i][0]
        b_lo, b_hi = poly.bounding_box()
        model = model_on_box(target, b_lo, b_hi)
        row = intervals_of(model.row)
        m[i] = 0.0
        C.lo[i], C.hi[i] = row.lo[:d], row.hi[:d]
        C0.lo[i], C0.hi[i] = row.lo[d], row.hi[d]
        delta[i] = _float_bounds(frac(model.delta))[1]
    return m, C, C0, delta


def _vertex_values(target, pieces: list, data: list):
    """At every vertex of every piece (in order), intervals of the model of `f`, of
    `F_{k-1}` and of `g`, from the vertices enclosed (one ulp outward, clipped to the cube)
    and the rows `data` (`RowCache.get` per piece): `(V, owner, starts, fv, Fv, gv, delta)`,
    `owner` the piece of each vertex, `starts` each piece's first vertex, `delta` the
    model's remainder per piece."""
    n, d = len(pieces), pieces[0][0].dim
    floats = [poly.floats() for poly, _, _ in pieces]
    counts = np.array([len(F) for F in floats])
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    Vf = np.concatenate(floats)
    V = IA(np.maximum(down(Vf), 0.0), np.minimum(up(Vf), 1.0))
    owner = np.repeat(np.arange(n), counts)
    prev_rows, g_rows = _stack([x[0] for x in data]), _stack([x[1] for x in data])
    if data[0][2] is not None:
        f_rows = _stack([x[2] for x in data])
        m = np.zeros((n, d))
        C, C0 = IA(f_rows.lo[:, :d], f_rows.hi[:, :d]), IA(f_rows.lo[:, d], f_rows.hi[:, d])
        delta = np.zeros(n)
    else:
        m, C, C0, delta = _models(target, pieces, np.minimum.reduceat(V.lo, starts, axis=0),
                                  np.maximum.reduceat(V.hi, starts, axis=0))
    fv = take(C0, owner)
    Fv = IA(prev_rows.lo[owner, d], prev_rows.hi[owner, d])
    gv = IA(g_rows.lo[owner, d], g_rows.hi[owner, d])
    for i in range(d):
        x = IA(V.lo[:, i], V.hi[:, i])
        fv = fv + IA(C.lo[owner, i], C.hi[owner, i]) * (x - IA(m[owner, i], m[owner, i]))
        Fv = Fv + IA(prev_rows.lo[owner, i], prev_rows.hi[owner, i]) * x
        gv = gv + IA(g_rows.lo[owner, i], g_rows.hi[owner, i]) * x
    return V, owner, starts, fv, Fv, gv, delta


def evaluate(target, rows: RowCache, pieces: list, ps: list) -> Batch:
    """The integrals of every piece (see the module docstring)."""
    n = len(pieces)
    d = pieces[0][0].dim
    pmax = max([int(p) for p in ps] + [2])
    simplices = []
    offset = 0
    for poly, _, _ in pieces:
        simplices.append(np.asarray(poly.simplex_indices(), dtype=np.int64).reshape(-1, d + 1)
                         + offset)
        offset += len(poly.floats())
    S = np.concatenate(simplices)
    owner_s = np.repeat(np.arange(n), [len(s) for s in simplices])
    data = [rows.get(r) for _, r, _ in pieces]
    g_zero = np.array([x[3] for x in data], dtype=bool)
    with np.errstate(all="ignore"):
        V, owner_v, starts, fv, Fv, gv, delta = _vertex_values(target, pieces, data)
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
            dec[p] = where(g_zero, zero, dec[p])
            prev[p], new[p] = b1, b2
            gpow[p] = np.where(g_zero, 0.0, np.maximum(ag[k].lo, 0.0))
        size = absolute(e2).hi
        sup_v = up(size + delta[owner_v])
        sup = np.maximum.reduceat(sup_v, starts)
        order = np.lexsort((-size, owner_v))
        first = order[np.searchsorted(owner_v[order], np.arange(n))]
        key = size[first]
        best = first - starts
    return Batch(pieces, delta, prev, new, dec, gpow, sup, key, best)


def _widen(a: IA, slack: np.ndarray) -> IA:
    return IA(down(a.lo - slack), up(a.hi + slack))


def _with_remainder(a: list, n: int, D: IA) -> IA:
    """`∫|ℓ + ρ|^n` for `|ρ| <= δ`, from `a_j ∋ ∫|ℓ|^j`."""
    lower = (a[n] - IA(np.float64(n), np.float64(n)) * D * a[n - 1]).lo
    upper = ZERO
    for j in range(n + 1):
        upper = upper + const(math.comb(n, j)) * power(D, n - j) * a[j]
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
    both_plus = np.maximum(down(down(plus1 + plus2) - vol.hi), 0.0)
    both_minus = np.maximum(down(down(minus1 + minus2) - vol.hi), 0.0)
    good_plus = np.where(g_pos, plus2, np.where(g_neg, plus1, both_plus))
    good_minus = np.where(g_pos, minus1, np.where(g_neg, minus2, both_minus))
    out = np.maximum(up(up(vol.hi - good_plus) - good_minus), 0.0)
    return group_sum(IA(out, out), owner_s, n).hi


# --------------------------------------------------------------------------- measure

def halve(poly, level: int) -> tuple:
    """Cut a polytope across the longest side of its bounding box, at a dyadic plane
    `x_i = c` near the middle (chosen in floats: any plane that crosses the polytope keeps
    the pieces exact and covering; a dyadic `c` keeps the new vertices short)."""
    V = poly.floats()
    lo, hi = V.min(axis=0), V.max(axis=0)
    i = int(np.argmax(hi - lo))
    c = fmpq(*float((lo[i] + hi[i]) / 2).as_integer_ratio())
    return poly.split_at(i, c, ("bisect", level, i, c))


class FloatNorms:
    """Norm enclosures of `e_k` (the `NormEnclosure` interface) and of `e_{k-1}` and the
    decrease, summed from a `Batch` (the interface of `region_norms.RegionNorms`)."""

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
                for child in halve(poly, level):
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


# --------------------------------------------------------------------------- claims

def claims_proved(target, regions: list, indices: list, factor: Fraction) -> np.ndarray:
    """Which of the regions `indices` the claim `s (f - F - factor g) >= 0` (`s` the sign
    of `g`) is proved on in floats: `g` certainly of one sign `s` at every vertex (so on
    the whole region, and the region is the claim's only part), and
    `s (L - F - factor g) - δ >= 0` certainly at every vertex (an affine function's least
    value on a polytope is at a vertex; `f >= L - δ` and `f <= L + δ` on the region, the
    model of `evaluate`). Everything else is left to the exact path, which is also the
    only one that refutes (at exact points)."""
    if not indices:
        return np.zeros(0, dtype=bool)
    rows = RowCache(regions)
    pieces = [(regions[i].poly, i, 0) for i in indices]
    data = [rows.get(i) for i in indices]
    with np.errstate(all="ignore"):
        _, _, starts, fv, Fv, gv, delta = _vertex_values(target, pieces, data)
        h = fv - Fv - const(factor) * gv
        positive = np.minimum.reduceat((gv.lo > 0).astype(np.int8), starts) == 1
        negative = np.minimum.reduceat((gv.hi < 0).astype(np.int8), starts) == 1
        low = np.minimum.reduceat(h.lo, starts)            # s = +1: min of h
        high = np.maximum.reduceat(h.hi, starts)           # s = -1: max of h
        margin = np.where(positive, down(low - delta), np.where(negative,
                                                                down(-high - delta), -1.0))
    return (positive | negative) & (margin >= 0)
