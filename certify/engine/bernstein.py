"""Cubic polynomials on simplices, exactly: Bernstein coefficients, Gram matrices, and the
float arithmetic with error bounds that carries them (used by `certify.engine.taylor`).

*Exact integration.* On a sub-simplex `t` the cubic `q = T - A` has Bernstein coefficients
`b_γ` (`|γ| = 3`, the blossom of `q` at the vertices of `t`): a fixed rational linear map of
the Taylor coefficients per permutation (`_bernstein_map`). Then `q` lies between the
least and largest `b_γ`, `∫_t q = vol(t) mean(b)`, `∫_t |q| <= vol(t) mean|b|` and
`∫_t q^2 = b^T G b` with the exact Gram matrix `G` of the Bernstein basis.

*Rigour.* Floats with error bounds: a quantity is a pair `(mid, rad)` of float arrays with
the true value in `[mid - rad, mid + rad]`. Inputs are float intervals `[lo, hi]`
(`_to_mid_rad`: `mid` their float mid-point, `rad` the larger distance to an end,
rounded up; Arb balls are first enclosed in such intervals, except the Arb point
coefficients of `_ball_values`: `mid` the float of the ball's mid-point, `rad` its radius
rounded up plus one ulp of `mid`) and exact rationals (the nearest float, one ulp of it). A sum of
`n` products computed in floating point (any order, BLAS, FMA) errs by at most
`γ_n Σ|a_i b_i|`, `γ_n = n u / (1 - n u)`, `u = 2^-53` (Higham, *Accuracy and Stability of
Numerical Algorithms*, §3.1); `_matmul` adds that, and the radii propagated through the
products, to the radius, and inflates the computed radius (itself a rounded sum of
nonnegative terms) by the same factor plus an underflow allowance. End points are read
back as exact rationals (`Fraction(float)`); sums over sub-simplices use `math.fsum`
(correctly rounded) plus half an ulp. Anything non-finite: the caller falls back.
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction
from functools import lru_cache

import numpy as np

from .intervals import step_down, step_up

_U = 2.0 ** -53
_TINY = 2.0 ** -1000          # covers underflow in the radius computations


# --------------------------------------------------------------------------- multi-indices

def _indices(dim: int, degree: int) -> list[tuple[int, ...]]:
    """Multi-indices `α` with `|α| = degree`, in a fixed order."""
    return [a for a in itertools.product(range(degree + 1), repeat=dim) if sum(a) == degree]


@lru_cache(maxsize=None)
def _taylor_indices(dim: int) -> tuple:
    return tuple(a for k in range(4) for a in _indices(dim, k))


def _factorial(alpha) -> int:
    return math.prod(math.factorial(a) for a in alpha)


# --------------------------------------------------------------------------- float balls

def _to_mid_rad(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Float intervals `[lo, hi]` as (mid, rad) float arrays with `[lo, hi]` inside
    `[mid - rad, mid + rad]`; non-finite where they are not enclosures (NaN, overflow).

    `mid = fl(lo/2 + hi/2)` is any float (halving first cannot overflow);
    `rad = max(↑fl(hi - mid), ↑fl(mid - lo))`, `↑ = nextafter(·, inf)`. Proof: for every
    `x` in `[lo, hi]`, `x - mid <= hi - mid` and `mid - x <= mid - lo`, so
    `|x - mid| <= max(hi - mid, mid - lo)` whatever `mid` is (even outside `[lo, hi]`).
    Each difference is correctly rounded (IEEE 754): its exact value lies between the two
    floats around `fl(·)`, so one step up from `fl(·)` bounds it from above (an exactly
    representable difference is exceeded by the step; overflow gives `inf`, which is
    rejected as non-finite). The max of two floats is exact. No ulp of `mid` is owed:
    `rad` is measured from the float `mid` itself, not from the exact `(lo + hi)/2`."""
    with np.errstate(all="ignore"):
        mid = 0.5 * lo + 0.5 * hi
        rad = np.maximum(step_up(hi - mid), step_up(mid - lo))
        bad = ~(np.isfinite(lo) & np.isfinite(hi) & np.isfinite(mid) & np.isfinite(rad))
    return np.where(bad, 0.0, mid), np.where(bad, np.inf, rad)


def _exact_mid_rad(values) -> tuple[np.ndarray, np.ndarray]:
    """Exact rationals as (nearest float, one ulp of it)."""
    mid = np.array([v.numerator / v.denominator if type(v) is Fraction else float(v)
                    for v in values], dtype=float)       # int / int: correctly rounded
    rad = np.abs(mid) * 2.0 ** -52 + 2.0 ** -1074
    return mid, rad


def _gamma(n: int) -> float:
    return n * _U / (1 - n * _U)


def _inflate(rad: np.ndarray, n: int) -> np.ndarray:
    """A radius computed as a rounded sum of `n` nonnegative products, made an upper bound."""
    return rad * (1 + 2 * _gamma(n + 2)) + _TINY


def _matmul(am, ar, bm, br):
    """`(am ± ar) @ (bm ± br)` as (mid, rad)."""
    n = am.shape[-1]
    mid = am @ bm
    aa, ab = np.abs(am), np.abs(bm)
    rad = aa @ br + ar @ ab + ar @ br + _gamma(n) * (aa @ ab)
    return mid, _inflate(rad, 4 * n)


def _matmul_exact(am, bm, br):
    """`_matmul(am, 0, bm, br)` (`am` exact floats) without the products of the zero
    radius: they are exact zeros, so the radius is the same float."""
    n = am.shape[-1]
    mid = am @ bm
    aa = np.abs(am)
    rad = aa @ br + _gamma(n) * (aa @ np.abs(bm))
    return mid, _inflate(rad, 4 * n)


def _rowdot(am, ar, bm, br):
    """Row-wise `Σ_j a_ij b_ij` as (mid, rad)."""
    n = am.shape[-1]
    mid = np.sum(am * bm, axis=-1)
    aa, ab = np.abs(am), np.abs(bm)
    rad = np.sum(aa * br + ar * ab + ar * br, axis=-1) + _gamma(n + 1) * np.sum(aa * ab, axis=-1)
    return mid, _inflate(rad, 4 * n + 4)


def _down(mid, rad):
    return step_down(step_down(mid - rad))


def _up(mid, rad):
    return step_up(step_up(mid + rad))


# --------------------------------------------------------------------------- Bernstein maps

def _polar_count(alpha) -> int:
    return math.perm(3, sum(alpha))


def _bernstein_rows(dim: int, vertices) -> list:
    """`W` with `b = c @ W`: the blossom of each monomial `u^α` (`|α| <= 3`) at the
    vertices, for each Bernstein index `γ` (`|γ| = 3`), as exact rationals
    (`_bernstein_ints`)."""
    num, den = _bernstein_ints(dim, vertices)
    return _fraction_rows(num, den)


def _fraction_rows(num: np.ndarray, den: list) -> list:
    return [[Fraction(int(v), d) for v in row] for row, d in zip(num.tolist(), den)]


def _bernstein_ints(dim: int, vertices) -> tuple[np.ndarray, list]:
    """`W` of `_bernstein_rows` as integer numerators (int64, shape (A, G)) over one
    denominator per row (`_polar_count(α) scale^|α|`, Python ints). The polar form
    (symmetric multi-affine, 3 arguments) of `u^α` at three points is the mean over the
    ordered choices of `|α|` distinct points, one per factor of `u^α`, of the product of
    their coordinates on those factors' axes; the vertices are scaled to integer points
    first, and the sums run for all `α` and `γ` at once. Padding the factors of `u^α` to three with a coordinate 1, the sum over the ordered
    choices of `|α|` distinct arguments is the sum over all `3!` orders of the three
    arguments divided by `(3 - |α|)!` (each choice extends to that many orders): exact
    integers throughout (coordinates of a few bits, products of three)."""
    gammas = _indices(dim + 1, 3)
    scale = math.lcm(*(Fraction(c).denominator for v in vertices for c in v))
    integer = [[int(Fraction(c) * scale) for c in v] + [1] for v in vertices]
    if max(abs(c) for v in integer for c in v) >= 2 ** 20:
        raise OverflowError("vertex coordinates too large for int64 polar sums")
    args = np.array([[integer[j] for j, g in enumerate(gamma) for _ in range(g)]
                     for gamma in gammas], dtype=np.int64)           # (G, 3, dim + 1)
    axes, den, spare = _polar_axes(dim)
    orders = _ORDERS
    product = np.ones((len(gammas), len(axes), len(orders)), dtype=np.int64)
    for t in range(3):
        product *= args[:, orders[None, :, t], axes[:, None, t]]
    total = product.sum(axis=2).T                                     # (A, G)
    num = total // spare[:, None]
    return num, [d * scale ** p for d, p in den]


#: the `3!` orders of three arguments
_ORDERS = np.array(list(itertools.permutations(range(3))), dtype=np.int64)


@lru_cache(maxsize=None)
def _polar_axes(dim: int):
    """Per `α` of `_taylor_indices(dim)`: its factors' axes padded to three with the
    coordinate `dim` (= 1), `(_polar_count(α), |α|)` and `(3 - |α|)!`."""
    alphas = _taylor_indices(dim)
    axes = np.array([[i for i, a in enumerate(alpha) for _ in range(a)]
                     + [dim] * (3 - sum(alpha)) for alpha in alphas], dtype=np.int64)
    den = [(_polar_count(alpha), sum(alpha)) for alpha in alphas]
    spare = np.array([math.factorial(3 - sum(alpha)) for alpha in alphas], dtype=np.int64)
    return axes, den, spare


def _ratio_matrix(num: np.ndarray, den: list) -> tuple[np.ndarray, np.ndarray]:
    """`_exact_matrix` of the rationals `num[i, j] / den[i]`: the quotient of two exact
    floats (both below 2^53) is correctly rounded, as `int / int` is for the `Fraction`."""
    d = np.array([float(v) for v in den])[:, None]
    if np.abs(num).max(initial=0) >= 2 ** 53 or d.max(initial=1) >= 2 ** 53:
        return _exact_matrix(_fraction_rows(num, den))
    mid = num.astype(float) / d
    return mid, np.abs(mid) * 2.0 ** -52 + 2.0 ** -1074


@lru_cache(maxsize=None)
def _gram(dim: int, vol: Fraction) -> list:
    """`G` with `∫_t q^2 = b^T G b` for the cubic Bernstein basis on a simplex of volume
    `vol`: `∫ B_γ B_γ' = (3!/γ!)(3!/γ'!) vol d! (γ+γ')! / (6+d)!`."""
    gammas = _indices(dim + 1, 3)
    multinomial = [Fraction(6, _factorial(g)) for g in gammas]
    return [[multinomial[i] * multinomial[j] * vol * math.factorial(dim)
             * _factorial(tuple(a + b for a, b in zip(gi, gj))) / math.factorial(6 + dim)
             for j, gj in enumerate(gammas)] for i, gi in enumerate(gammas)]


@lru_cache(maxsize=None)
def _exact_gram(dim: int, vol: Fraction):
    """`_exact_matrix(_gram(dim, vol))`, once per volume (every sub-simplex of a grade
    has the same)."""
    mid, rad = _exact_matrix(_gram(dim, vol))
    mid.flags.writeable = rad.flags.writeable = False            # shared: read only
    return mid, rad


@lru_cache(maxsize=None)
def _bernstein_map(dim: int, perm: tuple, s: Fraction, corner=None, k: int = 1):
    """(Wm, Wr, Gm, Gr, vol): `b = c @ W` maps Taylor coefficients about the centre of a
    block of `k^d` sub-cells of side `s` to the Bernstein coefficients on the simplex `perm`
    of its sub-cell `corner`; `∫_t q^2 = b^T G b`. `W`, `G` as (mid, rad) float matrices
    of exact rationals; the row of `u^α` scales like `s^|α|` (`_scaled`; computed once for
    `s = 1`)."""
    corner = tuple(corner) if corner is not None else (0,) * dim
    (num, den), G, vol, (Wu, Gu) = _unit_bernstein_map(dim, perm, corner, k)
    powers = [sum(alpha) for alpha in _taylor_indices(dim)]
    return (*_scaled(Wu, lambda: _fraction_rows(num, den), powers, s),
            *_scaled(Gu, G, [dim] * len(G), s), vol * s ** dim)


def _scaled(unit, rows, powers, s: Fraction):
    """`rows[i] s^powers[i]` as (mid, rad) floats, from `unit = _exact_matrix(rows)`
    (`rows` may be a function giving them: only the last case below needs them).
    For `s = 2^-e` in floats: `mid 2^-ej` is exact unless it falls below `2^-1022`, where it
    errs by at most `2^-1075`; `|w 2^-ej - mid 2^-ej| = 2^-ej |w - mid| <= 2^-ej rad`, whose
    float product errs the same way, covered by one step up, and `2^-1074` covers `mid`'s
    rounding. Other `s`: exactly in rationals, then rounded (`_exact_matrix`)."""
    mid, rad = unit
    e = s.denominator.bit_length() - 1
    if s.numerator == 1 and s.denominator == 1 << e and e * max(powers) <= 900:
        factor = np.array([math.ldexp(1.0, -e * p) for p in powers])[:, None]
        with np.errstate(under="ignore"):
            return mid * factor, step_up(rad * factor) + 2.0 ** -1074
    rows = rows() if callable(rows) else rows
    return _exact_matrix([[w * s ** p for w in row] for row, p in zip(rows, powers)])


@lru_cache(maxsize=None)
def _unit_bernstein_map(dim: int, perm: tuple, corner: tuple, k: int):
    s = Fraction(1)
    centre = [Fraction(k, 2)] * dim
    vertex = [Fraction(c) for c in corner]
    vertices = [tuple(v - c for v, c in zip(vertex, centre))]
    for axis in perm:
        vertex[axis] += s
        vertices.append(tuple(v - c for v, c in zip(vertex, centre)))
    vol = s ** dim / math.factorial(dim)
    (num, den), G = _bernstein_ints(dim, vertices), _gram(dim, vol)
    return (num, den), G, vol, (_ratio_matrix(num, den), _exact_gram(dim, vol))


def _simplex_bounds(bm, br, vol: Fraction, r, Gm, Gr):
    """From Bernstein coefficients `b` (mid, rad; last axis) of `q` on simplices of volume
    `vol` and the remainder bounds `r` (`|e - q| <= r`): `(∫e^2 bounds, ∫|e| bounds)`, each a
    pair of float arrays (see the module docstring)."""
    B = bm.shape[-1]
    v = float(vol)
    vr = abs(v) * 2.0 ** -52                         # vol as a float: one ulp
    ones_m, ones_r = np.full((B, 1), 1.0 / B), np.full((B, 1), 2.0 ** -52 / B)
    mean_m, mean_r = _matmul(bm, br, ones_m, ones_r)
    mean_m, mean_r = mean_m[..., 0], mean_r[..., 0]
    gbm, gbr = _matmul(bm, br, Gm, Gr)
    sq_m, sq_r = _rowdot(gbm, gbr, bm, br)
    absb = _up(np.abs(bm), br)
    abs_m, abs_r = _matmul_exact(absb, ones_m, ones_r)
    absq = _up(abs_m[..., 0], abs_r[..., 0]) * (v + vr)          # ∫|q| <= vol mean|b|
    absq = _up(absq, 4 * _U * absq)
    # the least / largest of `_down(bm, br)` / `_up(bm, br)`: both step monotonically
    # from `bm ∓ br`, so they are taken once, of the least / largest difference (the same
    # floats, from one row instead of every coefficient)
    bmin = _down(np.min(bm - br, axis=-1), 0.0)
    bmax = _up(np.max(bm + br, axis=-1), 0.0)
    e_lo, e_hi = _down(bmin, r), _up(bmax, r)
    # ∫e = vol mean(b) ± r vol
    least, most = _down(mean_m, mean_r), _up(mean_m, mean_r)     # mean(b) in between
    rv = _up(r * (v + vr), _U * r * v)
    i1_lo = _down(least * v, np.abs(least) * (vr + _U * v) + rv)
    i1_hi = _up(most * v, np.abs(most) * (vr + _U * v) + rv)
    # ∫e^2 = ∫q^2 ± (2 r ∫|q| + r^2 vol)
    cross = _up(2 * r * absq + r * r * (v + vr), 8 * _U * (2 * r * absq + r * r * v))
    i2_lo = np.maximum(_down(_down(sq_m, sq_r), cross), 0.0)
    i2_hi = _up(_up(sq_m, sq_r), cross)
    # ∫|e|: |∫e| below; above, the least of four bounds
    low = np.where(i1_lo > 0, i1_lo, np.where(i1_hi < 0, -i1_hi, 0.0))
    eps_pos = np.maximum(-e_lo, 0.0)             # -ε <= e
    eps_neg = np.maximum(e_hi, 0.0)              # e <= ε
    two_v = 2 * (v + vr)
    candidates = [
        _up(i1_hi, _up(eps_pos * two_v, 4 * _U * eps_pos * two_v)),
        _up(-i1_lo, _up(eps_neg * two_v, 4 * _U * eps_neg * two_v)),
        _up(absq, rv),
        _up(np.sqrt(_up(i2_hi * (v + vr), 4 * _U * i2_hi * v)),
            4 * _U * np.sqrt(np.abs(i2_hi * v))),
    ]
    high = np.maximum(np.minimum.reduce(candidates), low)
    return (i2_lo, i2_hi), (low, high)


#: sub-simplices whose `∫|e|` bounds differ by more than this (relative) are cut into
#: `2^(d REFINE_DEPTH[d])` pieces of the same cubic (no new evaluations of f)
REFINE_WIDTH, REFINE_DEPTH = 1e-3, {1: 4, 2: 2, 3: 0}   # d = 3: the remainder dominates


def _refine_absolute(qm, qr, p1, dim: int, perm: tuple, s: Fraction, remainder):
    """`∫|e|` bounds on sub-simplices where they are loose (a sign change of `e`), replaced
    by the sums over the Freudenthal pieces of side `s / 2^REFINE_DEPTH` inside (the
    Bernstein coefficients of the same cubic `q` there, the same remainder), intersected
    with the bounds before."""
    low, high = p1
    rows = np.flatnonzero(high - low > REFINE_WIDTH * high)
    if not len(rows) or not REFINE_DEPTH[dim]:
        return low, high
    Wm, Wr, Gm, Gr, vol, count = _descendant_maps(dim, perm, s, REFINE_DEPTH[dim])
    B = Gm.shape[0]
    bm, br = _matmul(qm[rows], qr[rows], Wm, Wr)
    bm, br = bm.reshape(len(rows), count, B), br.reshape(len(rows), count, B)
    _, (child_lo, child_hi) = _simplex_bounds(bm, br, vol, remainder[rows, None], Gm, Gr)
    grow = 1 + 2 * _gamma(count + 2)            # sums of `count` nonnegative floats
    sum_lo = step_down(np.sum(child_lo, axis=1) / grow)
    sum_hi = step_up(np.sum(child_hi, axis=1) * grow)
    low, high = low.copy(), high.copy()
    low[rows] = np.maximum(low[rows], np.maximum(sum_lo, 0.0))
    high[rows] = np.maximum(np.minimum(high[rows], sum_hi), low[rows])
    return low, high


@lru_cache(maxsize=None)
def _descendant_maps(dim: int, perm: tuple, s: Fraction, depth: int):
    """(Wm, Wr, Gm, Gr, vol, count): the Bernstein maps of the `count = 2^(d depth)`
    Freudenthal simplices of side `s / 2^depth` inside the simplex `perm` of a sub-cell of
    side `s` (columns side by side), their common Gram matrix and volume; (mid, rad) floats
    of exact rationals, the row of `u^α` scaling like `s^|α|` (`_scaled`; computed once
    for `s = 1`)."""
    W, G, vol, count, (Wu, Gu) = _unit_descendant_maps(dim, perm, depth)
    powers = [sum(alpha) for alpha in _taylor_indices(dim)]
    return (*_scaled(Wu, W, powers, s), *_scaled(Gu, G, [dim] * len(G), s),
            vol * s ** dim, count)


@lru_cache(maxsize=None)
def _unit_descendant_maps(dim: int, perm: tuple, depth: int):
    s = Fraction(1)
    k = 2 ** depth
    side = s / k
    centre = [s / 2] * dim
    blocks = []
    for corner in itertools.product(range(k), repeat=dim):
        for sub in itertools.permutations(range(dim)):
            key = [corner[i] * (dim + 1) for i in range(dim)]
            for j, axis in enumerate(sub):
                key[axis] += dim - j                  # centroid times (d + 1) k / s
            if not all(key[perm[j]] > key[perm[j + 1]] for j in range(dim - 1)):
                continue
            vertex = [c * side for c in corner]
            vertices = [tuple(x - c for x, c in zip(vertex, centre))]
            for axis in sub:
                vertex[axis] += side
                vertices.append(tuple(x - c for x, c in zip(vertex, centre)))
            blocks.append(_bernstein_rows(dim, vertices))
    if len(blocks) != k ** dim:
        raise AssertionError("descendants do not tile the simplex")
    W = [sum((block[a] for block in blocks), []) for a in range(len(blocks[0]))]
    vol = side ** dim / math.factorial(dim)
    G = _gram(dim, vol)
    return W, G, vol, len(blocks), (_exact_matrix(W), _exact_matrix(G))


def _exact_matrix(rows):
    flat = [v for row in rows for v in row]
    mid, rad = _exact_mid_rad(flat)
    shape = (len(rows), len(rows[0]))
    return mid.reshape(shape), rad.reshape(shape)
