"""`L^p` enclosures and the exact (G2) sums of a grid grade, over all its simplices at once.

The locality path (`certify.certificates.local`) knows `F_k` by its exact nodal values and
has float bounds `lo <= e_k <= hi` on every simplex. Here those become: the certified
integrals of `certify.engine.lp` piece by piece (work units under `--jobs`), or the
piecewise-constant bounds summed in outward-rounded floats; and the exact lower bounds of
`‖g_k‖_p^p` for integer `p` from integer power sums of `g_k`'s nodal numerators
(`simplex_power_lower` without its common factor).
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
from flint import arb

from ..engine import work_units
from ..engine.enclosure import affine_on_simplex
from ..engine.intervals import step_down, step_up
from ..engine.lp import NormEnclosure
from ..engine.nodal import Nodal
from ..engine.numbers import ball_bounds, to_ball
from ..engine.taylor import _fsum

_PIECES = None      # what forked workers need for the certified integrals (inherited)

#: past this many pieces (by dimension) a grade's norms come from the (rigorous, wider)
#: piecewise-constant bounds: the certified integrals only tighten the report and cost
#: about 0.5 ms a segment in d = 1 (`lp.interval_power_integral`), 10 ms a simplex in d = 2
#: (nested integration), 0.35 ms a triangle for a piecewise-linear target ("pl", exact)
MAX_CERTIFIED_PIECES = {1: 4096, 2: 512, "pl": 8192}


def add_certified_norms(target, step, norms, vol: Fraction, perms, lo, hi) -> None:
    """The certified integrals of `certify.engine.lp` piece by piece (`step` a
    `local.GridStep`), as the Arb loop does, with
    the vectorised bounds `lo <= e <= hi` of each piece. Under `work_units.workers(jobs)`
    slabs of cells are work units in forked processes; each returns rational end points of
    its partial sums (lower end of the lower sum, upper end of the upper sum), added here."""
    global _PIECES
    total = step.total
    n, jobs = step.grid, work_units.jobs()
    _PIECES = (target, step, total, vol, perms, lo, hi, norms.ps)
    try:
        if jobs > 1 and n >= 64 and not work_units.in_pool_worker():
            bounds = np.linspace(0, n, 4 * jobs + 1).astype(int)
            slabs = [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
            with work_units.fork_pool(jobs) as pool:
                parts = pool.map(_certified_slab, slabs)
            for lower, upper in parts:
                for p in norms.ps:
                    norms.lower[p] += to_ball(lower[p])
                    norms.upper[p] += to_ball(upper[p])
        else:
            _certified_pieces(norms, 0, n)
    finally:
        _PIECES = None


def _certified_slab(slab: tuple[int, int]):
    part = NormEnclosure(_PIECES[7])
    _certified_pieces(part, *slab)
    return ({p: ball_bounds(part.lower[p])[0] for p in part.ps},
            {p: ball_bounds(part.upper[p])[1] for p in part.ps})


def _certified_pieces(norms, first: int, stop: int) -> None:
    """Add the pieces of the cells whose first index is in [first, stop)."""
    target, step, total, vol, perms, lo, hi, _ = _PIECES
    h = Fraction(1, step.grid)
    dim = step.g.ndim
    for pi, perm in enumerate(perms):
        for cell in itertools.product(range(first, stop), *[range(step.grid)] * (dim - 1)):
            a, b = Fraction(float(lo[pi][cell])), Fraction(float(hi[pi][cell]))
            if dim == 1:
                x0 = cell[0] * h
                norms.add_segment(target, x0, x0 + h, total[cell],
                                  (total[cell[0] + 1] - total[cell]) / h, a, b)
            else:
                simplex = (cell, perm)
                norms.add_simplex(target, simplex, h, affine_on_simplex(simplex, h, total),
                                  vol, a, b)


def common_numerators(values: Nodal) -> tuple[np.ndarray, int]:
    """(|v| * D exactly, D): D the common denominator; int64 where the numerators are
    (`Nodal` keeps them below 2^62 in absolute value), else Python ints (object array)."""
    if values.num.dtype == np.int64:
        return np.abs(values.num), values.den
    return np.abs(values.num).astype(object), values.den


def power_sums(verts: list, one_signed: np.ndarray, decided: np.ndarray,
                p: int) -> tuple[int, int]:
    """Exact `Σ_T h_p(|a_T|)` (integers) over the one-signed simplices, and over those of
    them that are decided (`simplex_power_lower` without the common factor); `h_p` the
    complete homogeneous symmetric polynomial of degree `p` of the vertex values."""
    if not one_signed.any():
        return 0, 0
    values = [v[one_signed] for v in verts]
    if p in (1, 2) and all(v.dtype == np.int64 for v in values):
        chosen = decided[one_signed]
        safe = _int64_power_sum([v[chosen] for v in values], p)
        return safe + _int64_power_sum([v[~chosen] for v in values], p), safe
    count = len(values[0])
    h = [np.array([1] * count, dtype=object)] + \
        [np.array([0] * count, dtype=object) for _ in range(p)]
    for a in values:
        for m in range(1, p + 1):          # h_m(new) = h_m(old) + a h_{m-1}(new)
            h[m] = h[m] + a * h[m - 1]
    every = sum(h[p].tolist())
    safe = sum(h[p][decided[one_signed]].tolist())
    return every, safe


def _int64_power_sum(values: list, p: int) -> int:
    """`Σ_T h_p(a_T)` for `p` 1 or 2, exactly, for nonnegative int64 vertex values below
    2^62 (`a_T` the row of `values`), in int64 arithmetic that cannot overflow. Each value
    is read as its four 16-bit limbs, `a = Σ_l a_l 2^(16 l)`; `h_1 = S = Σ_i a_i` and
    `2 h_2 = S^2 + Σ_i a_i^2`, where a sum of squares `Σ_T (Σ_l s_l 2^(16 l))^2 =
    Σ_{l,m} 2^(16(l+m)) Σ_T s_l s_m` (`s_l = Σ_i a_il`, each below `(d+1) 2^16`); each
    inner sum is taken over at most `2^30/(d+1)^2` rows, so it stays below 2^62; the
    partial sums are joined in Python integers."""
    vertices = len(values)
    rows = max(1, (1 << 30) // (vertices * vertices))
    total = 0
    for start in range(0, len(values[0]), rows):
        part = [np.ascontiguousarray(v[start:start + rows], dtype="<i8").view("<u2")
                for v in values]
        limb = [[a[l::4].astype(np.int64) for l in range(4)] for a in part]
        sums = [sum(x[l] for x in limb) for l in range(4)]
        if p == 1:
            total += sum(int(sums[l].sum()) << (16 * l) for l in range(4))
            continue
        twice = 0
        for l in range(4):
            for m in range(l, 4):
                scale = (1 if l == m else 2) << (16 * (l + m))
                twice += scale * sum(int(np.dot(x[l], x[m])) for x in [sums] + limb)
        total += twice // 2
    return total


def add_norms(norms, vol: Fraction, lo: np.ndarray, hi: np.ndarray, ps=None) -> None:
    """`norms.add(vol, lo, hi)` for every piece: integer `p` summed in floats rounded
    outward (`math.fsum` is correctly rounded, then one `nextafter`), others piece by piece."""
    with np.errstate(all="ignore"):
        m = np.where((lo <= 0) & (hi >= 0), 0.0, np.minimum(np.abs(lo), np.abs(hi))).ravel()
        big = np.maximum(np.abs(lo), np.abs(hi)).ravel()
        ball_vol = to_ball(vol)
        for p in norms.ps if ps is None else ps:
            if p.denominator != 1 or not 1 <= p <= 64:
                for a, b in zip(lo.ravel().tolist(), hi.ravel().tolist()):
                    piece = NormEnclosure([p])
                    piece.add(vol, Fraction(a), Fraction(b))
                    norms.lower[p] += piece.lower[p]
                    norms.upper[p] += piece.upper[p]
                continue
            low, high = m, big
            for _ in range(int(p) - 1):
                low = np.maximum(step_down(low * m), 0.0)
                high = step_up(high * big)
            # `_fsum`: `math.fsum`'s correctly rounded sum from whole arrays (fsum itself
            # walks a numpy array one float64 object at a time)
            s_lo = max(float(np.nextafter(_fsum(low), -np.inf)), 0.0)
            s_hi = float(np.nextafter(_fsum(high), np.inf))
            if not math.isfinite(s_hi):
                raise ArithmeticError("an L^p enclosure overflowed")
            norms.lower[p] += ball_vol * arb(s_lo)
            norms.upper[p] += ball_vol * arb(s_hi)
