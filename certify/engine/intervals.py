"""Interval arrays in float64, rounded outward: a number model for whole grids at once.

`IntervalArray` holds end-point arrays `lo <= hi`; `INTERVALS` is a number context
(`certify.engine.numbers.Context`) whose operations take and return them, so a target's compiled
program (`certify.engine.expression`) runs once over every sub-box of a grid, where the ball
context (Arb) runs once per sub-box. It is the third model of the mpmath pattern used
across `certify`: exact rationals, Arb balls, and these arrays, one algorithm for all.

*Rigour from IEEE 754 alone.* `+ - * /` and `sqrt` are correctly rounded, so the exact
result of one operation lies within half an ulp of the computed one, and one step outward
to the next float (`step_down`, `step_up`: `nextafter` computed by a multiply-add) encloses
it, also through underflow (the step is at least the subnormal spacing); an overflowed end
point becomes `inf` or NaN, which callers reject. Elementary functions are NOT taken from the platform's
libm, whose accuracy no standard guarantees: each is a Taylor series evaluated in this
interval arithmetic after an argument reduction by an enclosed constant (`ln 2`, `π/2`),
plus a proven bound on the series' remainder, added outward. Monotonicity (or the
location of extrema, for sin and cos) turns enclosures at the two end points into one over
the interval.

Outside the ranges where that is done (an argument past `|x| = 700` for exp or `1e5` for
sin, a division by an interval that contains 0, a log or a root of a negative number) the
end points are NaN. Callers read a non-finite element as "not enclosed here" and compute
it in Arb instead (`certify.engine.vectorised`).
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from flint import arb

from .numbers import Context, ball_bounds


# One step outward from a rounded result, by a multiply and two adds instead of `nextafter`
# (a tenth of its cost on large arrays). For a float `r`, `δ = fl(|r| c) + 2^-1074` with
# `c = 2^-53 (1 + 2^-51)` is more than half an ulp of `r` (when `|r| c` is normal,
# `fl(|r| c) >= |r| c` rounded at a float boundary `2^(e-53)(1 + 2^-51)`; when it is
# subnormal, `fl` errs by at most `2^-1075` and the added `2^-1074` covers it) and, for
# normal `r`, less than 3/2 of one, so `fl(r ± δ)` is exactly `nextafter(r, ±inf)`
# (tests compare the two on random floats of every binade and at its edges). A correctly
# rounded result errs by at most half an ulp of itself, so the step encloses the exact
# value. Past the largest float the step gives `inf`; from `∓inf` inward it gives NaN
# (`inf - inf`), which callers read as "not enclosed here", as they read division by 0.
_HALF_ULP = 2.0 ** -53 * (1 + 2.0 ** -51)
_SUBNORMAL = 2.0 ** -1074


def step_down(x):
    """The float next below each rounded float `x` (a lower bound of what it rounds)."""
    t = np.absolute(x, dtype=np.float64)
    t *= -_HALF_ULP
    t -= _SUBNORMAL
    t += x
    return t


def step_up(x):
    """The float next above each rounded float `x` (an upper bound of what it rounds)."""
    t = np.absolute(x, dtype=np.float64)
    t *= _HALF_ULP
    t += _SUBNORMAL
    t += x
    return t


_dn, _up = step_down, step_up


class IntervalArray:
    """Arrays `lo <= hi` (any broadcastable shapes) enclosing one real number each."""

    __slots__ = ("lo", "hi")
    __array_priority__ = 1000

    def __init__(self, lo, hi):
        self.lo, self.hi = lo, hi

    @staticmethod
    def point(x) -> "IntervalArray":
        """The exact float array `x` as degenerate intervals."""
        return IntervalArray(x, x)

    def __neg__(self):
        return IntervalArray(-self.hi, -self.lo)

    def __add__(self, o):
        o = _lift(o)
        return IntervalArray(_dn(self.lo + o.lo), _up(self.hi + o.hi))

    __radd__ = __add__

    def __sub__(self, o):
        o = _lift(o)
        return IntervalArray(_dn(self.lo - o.hi), _up(self.hi - o.lo))

    def __rsub__(self, o):
        return _lift(o) - self

    def __mul__(self, o):
        o = _lift(o)
        # by a point (one array for both ends: the sub-box mid-points) two of the four
        # products are the other two again, and the min / max of equal floats is that float
        if self.lo is self.hi:
            a, b = self.lo * o.lo, self.lo * o.hi
            return IntervalArray(_dn(np.minimum(a, b)), _up(np.maximum(a, b)))
        if o.lo is o.hi:
            a, c = self.lo * o.lo, self.hi * o.lo
            return IntervalArray(_dn(np.minimum(a, c)), _up(np.maximum(a, c)))
        a, b, c, d = self.lo * o.lo, self.lo * o.hi, self.hi * o.lo, self.hi * o.hi
        # np.minimum / np.maximum propagate NaN (0 * inf), which callers reject
        return IntervalArray(_dn(np.minimum(np.minimum(a, b), np.minimum(c, d))),
                             _up(np.maximum(np.maximum(a, b), np.maximum(c, d))))

    __rmul__ = __mul__

    def __truediv__(self, o):
        return self * _lift(o).reciprocal()

    def __rtruediv__(self, o):
        return _lift(o) * self.reciprocal()

    def reciprocal(self) -> "IntervalArray":
        """`1/x`: decreasing on each side of 0; NaN where the interval contains 0."""
        ok = (self.lo > 0) | (self.hi < 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            lo, hi = _dn(1.0 / self.hi), _up(1.0 / self.lo)
        return IntervalArray(np.where(ok, lo, np.nan), np.where(ok, hi, np.nan))

    def square(self) -> "IntervalArray":
        """`x^2`, tight where the interval contains 0 (unlike `x * x`)."""
        low = np.where(self.lo > 0, self.lo, np.where(self.hi < 0, -self.hi, 0.0))
        high = np.maximum(-self.lo, self.hi)
        return IntervalArray(_dn(low * low), _up(high * high))

    def finite(self) -> np.ndarray:
        """Where both end points are finite numbers (a usable enclosure)."""
        return np.isfinite(self.lo) & np.isfinite(self.hi)


def _lift(o) -> IntervalArray:
    if isinstance(o, IntervalArray):
        return o
    return INTERVALS.convert(o)


def _float_bounds(q: Fraction) -> tuple[float, float]:
    """Floats `lo <= q <= hi`, equal where `q` is a float (`float(Fraction)` is correctly
    rounded; one step outward then encloses)."""
    try:
        f = float(q)
    except OverflowError:
        return (-math.inf, -1.7976931348623157e308) if q < 0 else \
            (1.7976931348623157e308, math.inf)
    if Fraction(f) == q:
        return f, f
    return float(_dn(f)), float(_up(f))


def _constant(ball: arb) -> IntervalArray:
    lo, hi = ball_bounds(ball)
    return IntervalArray(np.float64(_float_bounds(lo)[0]), np.float64(_float_bounds(hi)[1]))


_LN2 = _constant(arb(2).log())
_PI = _constant(arb.pi())
_HALF_PI = _constant(arb.pi() / 2)
_QUARTER_PI = _constant(arb.pi() / 4)
_E = _constant(arb.const_e())


def _coefficients(values) -> list[IntervalArray]:
    out = []
    for q in values:
        lo, hi = _float_bounds(Fraction(q))
        out.append(IntervalArray(np.float64(lo), np.float64(hi)))
    return out


def _horner(t: IntervalArray, coefficients: list[IntervalArray]) -> IntervalArray:
    """`Σ_j c_j t^j` in interval arithmetic (`coefficients` from c_0 up)."""
    acc = coefficients[-1]
    for c in reversed(coefficients[:-1]):
        acc = acc * t + c
    return acc


_U = 2.0 ** -53                 # unit roundoff of float64


def _series_at(r, coefficients: list[float], magnitudes: list[float], slack: float, a=None):
    """`(p, bound)`: `p` the float Horner value of `Σ c_j r^j` at the float points `r`,
    `bound` a proven bound on its error, from the a priori analysis of Horner's rule
    (Higham, *Accuracy and Stability*, (5.3)): `|p - P(r)| <= γ_{2n+1} Σ|c_j||r|^j` with
    the stored coefficients off by one rounding each; the magnitude sum is computed the same
    way, so it is doubled (`slack` counts the roundings, with room to spare). `a`: `|r|`, if
    known. On float arrays the first products are `r·c_n`, `|r|·|c_n|` (IEEE products
    commute: the floats of `c_n·r`, without an array of `c_n` made first)."""
    a = np.abs(r) if a is None else a
    pairs = list(zip(reversed(coefficients[:-1]), reversed(magnitudes[:-1])))
    if isinstance(r, np.ndarray) and r.ndim and r.dtype == np.float64 and pairs:
        (c, mag), pairs = pairs[0], pairs[1:]
        p, m = r * coefficients[-1] + c, a * magnitudes[-1] + mag
    else:
        p = np.full_like(r, coefficients[-1], dtype=np.float64)
        m = np.full_like(r, magnitudes[-1], dtype=np.float64)
    for c, mag in pairs:
        p *= r                          # in place: the same roundings as p = p * r + c
        p += c
        m *= a
        m += mag
    m *= slack * _U
    m += 1e-300
    return p, m


def _widen(v: IntervalArray, r: float) -> IntervalArray:
    """`v + [-r, r]`, rounded outward."""
    return IntervalArray(_dn(v.lo - r), _up(v.hi + r))


def _nan_where(v: IntervalArray, bad) -> IntervalArray:
    return IntervalArray(np.where(bad, np.nan, v.lo), np.where(bad, np.nan, v.hi))


# --------------------------------------------------------------------------- exp and log

def _reduce(x, constant: IntervalArray, reach: float, radius: float):
    """`x = k c + r` at float points: `k` an integer (as a float), `r` enclosed using the
    enclosure of the constant `c`; `bad` where `|x| > reach` or `|r|` may exceed `radius`
    (the bound the series' remainders assume)."""
    x = np.asarray(x, dtype=float)
    bad = ~(np.abs(x) <= reach)
    if np.any(bad):
        x = np.where(bad, 0.0, x)
    k = np.rint(x / float(constant.lo))
    low, high = k * constant.lo, k * constant.hi
    if np.any(k < 0):               # (else `np.where(k >= 0, ...)` picks low, high as they are)
        positive = k >= 0
        low, high = np.where(positive, low, high), np.where(positive, high, low)
    t = IntervalArray(_dn(low), _up(high))
    r = IntervalArray.point(x) - t
    return k, r, bad | ~((np.abs(r.lo) <= radius) & (np.abs(r.hi) <= radius))


_EXP_TERMS = 17                 # |r| <= 0.36: remainder <= 0.36^18/18! e^0.36 < 4e-24
_EXP_FLOATS = [1.0 / math.factorial(j) for j in range(_EXP_TERMS + 1)]
_EXP_REMAINDER = 4e-24
_EXP_RANGE = 700.0


def _exp_point(x) -> IntervalArray:
    """`exp(x)` at float points: `x = k ln2 + r`, `|r| <= 0.36` enclosed in `[r_lo, r_hi]`,
    `exp(r)` by its series at `r_lo` (a priori rounding bound, `_series_at`), plus the
    series' remainder, plus `(r_hi - r_lo) max exp' <= 1.5 (r_hi - r_lo)`; then `2^k`."""
    k, r, bad = _reduce(x, _LN2, _EXP_RANGE, 0.36)
    p, error = _series_at(r.lo, _EXP_FLOATS, _EXP_FLOATS, 4 * _EXP_TERMS + 8)
    error = _up(_up(error + _EXP_REMAINDER) + _up(1.5 * _up(r.hi - r.lo)))
    scale = k.astype(np.int64)
    out = IntervalArray(_dn(np.ldexp(_dn(p - error), scale)),
                        _up(np.ldexp(_up(p + error), scale)))
    return _nan_where(out, bad)


_LOG_TERMS = 15                 # |s| <= 0.1716: remainder <= 2 |s|^33 / (33 (1 - s^2)) < 1e-25
_LOG_COEFFS = _coefficients(Fraction(2, 2 * j + 1) for j in range(_LOG_TERMS + 1))
_LOG_REMAINDER = 1e-25
_SQRT_HALF = 0.7071067811865476  # any split point in [0.70, 0.71] keeps |s| <= 0.1716


def _log_point(x) -> IntervalArray:
    """`log(x)` at float points `x > 0`: `x = m 2^e` exactly (frexp), `m` in [0.707, 1.415),
    `log m = 2 atanh(s)`, `s = (m-1)/(m+1)`, by its series."""
    x = np.asarray(x, dtype=float)
    bad = ~((x > 0) & np.isfinite(x))
    m, e = np.frexp(np.where(bad, 1.0, x))
    low = m < _SQRT_HALF
    m = np.where(low, 2.0 * m, m)                  # exact
    e = np.where(low, e - 1, e).astype(float)
    s = IntervalArray.point(m - 1.0) / IntervalArray(_dn(m + 1.0), _up(m + 1.0))  # m-1 exact
    series = _widen(s * _horner(s.square(), _LOG_COEFFS), _LOG_REMAINDER)
    out = series + IntervalArray(np.where(e >= 0, _dn(e * _LN2.lo), _dn(e * _LN2.hi)),
                                 np.where(e >= 0, _up(e * _LN2.hi), _up(e * _LN2.lo)))
    return _nan_where(out, bad)


# --------------------------------------------------------------------------- sin and cos

_SIN_TERMS = 9                  # |r| <= 0.79: remainders 0.79^21/21!, 0.79^20/20! < 1e-20
_SIN_FLOATS = [(-1) ** j / math.factorial(2 * j + 1) for j in range(_SIN_TERMS + 1)]
_COS_FLOATS = [(-1) ** j / math.factorial(2 * j) for j in range(_SIN_TERMS + 1)]
_SIN_MAGNITUDES = [abs(c) for c in _SIN_FLOATS]
_COS_MAGNITUDES = [abs(c) for c in _COS_FLOATS]
_TRIG_REMAINDER = 1e-20
_TRIG_RANGE = 1e5


def _sin_cos_point(x, want: tuple = (True, True)) -> tuple:
    """`(sin x, cos x)` at float points: `x = k π/2 + r`, `|r| <= 0.79` enclosed in
    `[r_lo, r_hi]`; `sin r = r Q(r^2)`, `cos r = C(r^2)` at `r_lo` by Horner's rule in
    `t = fl(r^2)` with an a priori bound (`_series_at`; `t`'s own rounding adds at most
    `n u` times the magnitude sum, one more rounding for the factor `r`), the remainders,
    and `(r_hi - r_lo)` for the slope `<= 1`. `want`: which of the two to make (None for
    the other); where the points of an array all lie in even (or all in odd) quarters,
    only the series that gives them is summed (each element's floats come from its own
    operations, so they are the same)."""
    k, r, bad = _reduce(x, _HALF_PI, _TRIG_RANGE, 0.79)
    point, width = r.lo, _up(r.hi - r.lo)
    square = point * point
    slack = 6 * _SIN_TERMS + 16
    quarter = k.astype(np.int64) & 3    # k mod 4 (two's complement: -1 & 3 = 3)
    odd, half = (quarter & 1).astype(bool), quarter >= 2
    uniform = bool(np.ndim(odd)) and (bool(odd.all()) or not odd.any())
    all_odd = uniform and bool(odd.all())
    # sin x takes s where the quarter is even, c where odd; cos x the other way round
    need_s = not uniform or (want[0] and not all_odd) or (want[1] and all_odd)
    need_c = not uniform or (want[0] and all_odd) or (want[1] and not all_odd)
    extra = _up(_TRIG_REMAINDER + width)
    s = c = None
    size = np.abs(square)               # |r^2| for both series' error bounds
    if need_s:
        q, q_error = _series_at(square, _SIN_FLOATS, _SIN_MAGNITUDES, slack, size)
        s = point * q
        s_error = _up(_up(np.abs(point) * q_error) + _up(_U * 2 * np.abs(s)))
        s_error = _up(s_error + extra)
        s = IntervalArray(_dn(s - s_error), _up(s + s_error))
    if need_c:
        c, c_error = _series_at(square, _COS_FLOATS, _COS_MAGNITUDES, slack, size)
        c_error = _up(c_error + extra)
        c = IntervalArray(_dn(c - c_error), _up(c + c_error))
    some_bad = bool(np.any(bad))

    def select(second, first, end: str):
        """`np.where(odd, second.end, first.end)`, or the one array itself where the
        quarters are uniform: the same values."""
        if uniform:
            return getattr(second if all_odd else first, end)
        return np.where(odd, getattr(second, end), getattr(first, end))

    def pick(first, second, negate):
        """`first` where the quarter is even, else `second`; negated where `negate`; NaN
        where the argument was not reduced (new arrays where anything changes: `s` and
        `c` serve both picks)."""
        lo, hi = select(second, first, "lo"), select(second, first, "hi")
        if np.ndim(negate) and negate.all():
            lo, hi = -hi, -lo
        elif np.any(negate):
            lo, hi = np.where(negate, -hi, lo), np.where(negate, -lo, hi)
        if some_bad:
            lo, hi = np.where(bad, np.nan, lo), np.where(bad, np.nan, hi)
        return IntervalArray(lo, hi)

    # sin x = (s, c, -s, -c) and cos x = (c, -s, -c, s) by the quarter k mod 4
    return (pick(s, c, half) if want[0] else None,
            pick(c, s, half != odd) if want[1] else None)


def _contains_point(a, b, offset: float, period: float, reach=None):
    """Where `[a, b]` may contain `offset + j·period` for an integer `j` (decided in floats
    with a slack far above their rounding error for |x| <= 1e5: a "may" errs only outward).
    `reach`: `_reach(b)`, if already known (it depends on `b` alone)."""
    return _next_point(a, offset, period) <= (_reach(b) if reach is None else reach)


def _next_point(a, offset: float, period: float):
    """`_contains_point`'s `offset + j·period`, `j = ceil((a - offset)/period - 1e-9)`: in
    floats a nondecreasing function of `a` (each operation, `- offset`, `/ period` with
    `period > 0`, `- 1e-9`, `ceil`, `· period`, `+ offset`, is nondecreasing in its
    argument, and so is their composition)."""
    return offset + np.ceil((a - offset) / period - 1e-9) * period


def _none_contain(offset: float, period: float, least, most) -> bool:
    """True when `_contains_point` is False at every element: `least = min a` and `most =
    max _reach(b)` over the arrays. `_next_point` is nondecreasing, so each element's
    `_next_point(a_i) >= _next_point(least) > most >= _reach(b_i)`: the same floats, every
    test False. NaN anywhere makes `least` or `most` NaN and the answer False (then the
    elements are tested one by one, as always)."""
    return least is not None and bool(_next_point(least, offset, period) > most)


def _reach(b):
    """`b` plus `_contains_point`'s slack: `b + 1e-9 (1 + |b|)`."""
    return b + 1e-9 * (1.0 + np.abs(b))


def _sin_or_cos(a: IntervalArray, which: int, ends=None, shared=None) -> IntervalArray:
    """sin (`which = 0`) or cos (1) over intervals: end points, then ±1 where an extremum
    may lie inside. `ends`: `_sin_cos_point` at `a.lo` and at `a.hi`, if already known;
    `shared`: `_extremum_tests(a)`, if already known (sin and cos of one argument test the
    same interval: the same floats, computed once)."""
    want = (which == 0, which == 1)
    lo_ends, hi_ends = ends or (_sin_cos_point(a.lo, want), _sin_cos_point(a.hi, want))
    lo_end, hi_end = lo_ends[which], hi_ends[which]
    lo = np.minimum(lo_end.lo, hi_end.lo)
    hi = np.maximum(lo_end.hi, hi_end.hi)
    peak, trough = (math.pi / 2, -math.pi / 2) if which == 0 else (0.0, math.pi)
    wide, reach, least, most = shared or _extremum_tests(a)
    # where no interval of the array can hold the extremum, the tests are all False
    top = wide if _none_contain(peak, 2 * math.pi, least, most) else \
        wide | _contains_point(a.lo, a.hi, peak, 2 * math.pi, reach)
    bottom = wide if _none_contain(trough, 2 * math.pi, least, most) else \
        wide | _contains_point(a.lo, a.hi, trough, 2 * math.pi, reach)
    hi = np.where(top, 1.0, hi) if np.any(top) else hi          # (no extremum: as it is)
    lo = np.where(bottom, -1.0, lo) if np.any(bottom) else lo
    return IntervalArray(np.maximum(lo, -1.0), np.minimum(hi, 1.0))


def _extremum_tests(a: IntervalArray) -> tuple:
    """`(wide, reach, least, most)` of `_sin_or_cos`: where the interval is too wide to
    test (6 or more, or NaN), `_reach` of its upper ends, and (for arrays of more than one
    element, else None) the least lower end and the greatest reach (`_none_contain`)."""
    reach = _reach(a.hi)
    least = most = None
    if np.size(a.lo) > 1 and np.shape(a.lo) == np.shape(reach):
        least, most = np.min(a.lo), np.max(reach)
    return ~(a.hi - a.lo < 6.0), reach, least, most


# --------------------------------------------------------------------------- atan

_ATAN_TERMS = 32                # |u| <= 0.4143: remainder <= |u|^67/67 < 1e-27
_ATAN_COEFFS = _coefficients(Fraction((-1) ** j, 2 * j + 1) for j in range(_ATAN_TERMS + 1))
_ATAN_REMAINDER = 1e-27


def _atan_point(x) -> IntervalArray:
    """`atan(x)` at float points: `atan a = π/2 - atan(1/a)` for `a > 1`, then
    `atan t = π/4 + atan((t-1)/(t+1))` for `t > 0.4142`, then the series."""
    x = np.asarray(x, dtype=float)
    bad = ~np.isfinite(x)
    a = np.abs(np.where(bad, 0.0, x))
    big = a > 1.0
    t = _where(big, IntervalArray.point(np.where(big, a, 1.0)).reciprocal(),
               IntervalArray.point(a))
    mid = t.hi > 0.41421356
    u = _where(mid, (t - 1.0) / (t + 1.0), t)
    core = _widen(u * _horner(u.square(), _ATAN_COEFFS), _ATAN_REMAINDER)
    core = _where(mid, core + _QUARTER_PI, core)
    core = _where(big, _HALF_PI - core, core)
    core = _where(x < 0, -core, core)
    return _nan_where(core, bad)


def _where(cond, a: IntervalArray, b: IntervalArray) -> IntervalArray:
    return IntervalArray(np.where(cond, a.lo, b.lo), np.where(cond, a.hi, b.hi))


# --------------------------------------------------------------------------- the context

def _increasing(point):
    """An increasing function over intervals from its point enclosures."""
    def apply(self, a):
        return IntervalArray(point(a.lo).lo, point(a.hi).hi)
    return apply


def _sinh_point(x):
    return (_exp_point(x) - _exp_point(-np.asarray(x, dtype=float))) * 0.5


def _cosh_point(x):
    return (_exp_point(x) + _exp_point(-np.asarray(x, dtype=float))) * 0.5


def _tanh_point(x):
    x = np.clip(np.asarray(x, dtype=float), -20.0, 20.0)
    p, m = _exp_point(x), _exp_point(-x)
    return (p - m) / (p + m)


class IntervalContext(Context):
    """The number context of `IntervalArray`s (see the module docstring)."""

    name = "intervals"

    def convert(self, q):
        if isinstance(q, IntervalArray):
            return q
        lo, hi = _float_bounds(Fraction(q))
        return IntervalArray(np.float64(lo), np.float64(hi))

    def relu(self, a):
        return IntervalArray(np.maximum(a.lo, 0.0), np.maximum(a.hi, 0.0))

    def pi(self): return _PI
    def E(self): return _E

    exp = _increasing(_exp_point)
    atan = _increasing(_atan_point)
    sinh = _increasing(_sinh_point)

    def log(self, a):
        return _nan_where(IntervalArray(_log_point(a.lo).lo, _log_point(a.hi).hi),
                          ~(a.lo > 0))

    def sin(self, a): return _sin_or_cos(a, 0)
    def cos(self, a): return _sin_or_cos(a, 1)

    def sin_cos(self, a):
        ends = (_sin_cos_point(a.lo), _sin_cos_point(a.hi))   # one series pass serves both
        shared = _extremum_tests(a)
        return _sin_or_cos(a, 0, ends, shared), _sin_or_cos(a, 1, ends, shared)

    def tan(self, a):
        # increasing between poles; a pole inside (cos may vanish) gives NaN
        lo_sc, hi_sc = ends = _sin_cos_point(a.lo), _sin_cos_point(a.hi)
        c = _sin_or_cos(a, 1, ends)                # the same end points: one series pass
        out = IntervalArray((lo_sc[0] / lo_sc[1]).lo, (hi_sc[0] / hi_sc[1]).hi)
        return _nan_where(out, ~((c.lo > 0) | (c.hi < 0)) | ~(a.hi - a.lo < 3.0))

    def cosh(self, a):
        lo_end, hi_end = _cosh_point(a.lo), _cosh_point(a.hi)
        straddles = (a.lo < 0) & (a.hi > 0)
        low = np.where(straddles, 1.0, np.where(a.lo >= 0, lo_end.lo, hi_end.lo))
        return IntervalArray(low, np.maximum(lo_end.hi, hi_end.hi))

    def tanh(self, a):
        low = np.where(a.lo < -20.0, -1.0, _tanh_point(a.lo).lo)
        high = np.where(a.hi > 20.0, 1.0, _tanh_point(a.hi).hi)
        return IntervalArray(np.maximum(low, -1.0), np.minimum(high, 1.0))

    def abs(self, a):
        low = np.where(a.lo >= 0, a.lo, np.where(a.hi <= 0, -a.hi, 0.0))
        return IntervalArray(low, np.maximum(-a.lo, a.hi))

    def max(self, a, b):
        return IntervalArray(np.maximum(a.lo, b.lo), np.maximum(a.hi, b.hi))

    def min(self, a, b):
        return IntervalArray(np.minimum(a.lo, b.lo), np.minimum(a.hi, b.hi))

    # kink factors of the derivative programs (certify.engine.expression): Clarke-sound
    def sgn(self, a):
        return IntervalArray(np.where(a.lo > 0, 1.0, -1.0), np.where(a.hi < 0, -1.0, 1.0))

    def step(self, a):
        return IntervalArray(np.where(a.lo > 0, 1.0, 0.0), np.where(a.hi < 0, 0.0, 1.0))

    def pow(self, a, e, clip: bool = False):
        e = Fraction(e)
        if e.denominator == 1:
            n = int(e)
            if n < 0:
                return self.pow(a, -e).reciprocal()
            return _integer_power(a, n)
        if clip:          # a base proved >= 0 on the cube: negative parts are overestimation
            a = IntervalArray(np.maximum(a.lo, 0.0), np.maximum(a.hi, 0.0))
        if e < 0:
            return self.pow(a, -e, clip).reciprocal()
        bad = ~(a.lo >= 0)
        if e.denominator == 2:
            root = IntervalArray(np.maximum(_dn(np.sqrt(np.maximum(a.lo, 0.0))), 0.0),
                                 _up(np.sqrt(np.maximum(a.hi, 0.0))))
            return _nan_where(_integer_power(root, e.numerator), bad)
        # x^e = exp(e log x), increasing for e > 0; 0 at x = 0
        positive, scale = a.lo > 0, self.convert(e)
        low = _exp_point((_log_point(np.where(positive, a.lo, 1.0)) * scale).lo).lo
        high = _exp_point((_log_point(np.where(a.hi > 0, a.hi, 1.0)) * scale).hi).hi
        return _nan_where(IntervalArray(np.where(positive, np.maximum(low, 0.0), 0.0),
                                        np.where(a.hi > 0, high, 0.0)), bad)

    def cpow(self, a, e):
        return self.pow(a, e, clip=True)


def _power_nonnegative(x, n: int, step):
    """`x^n` for `x >= 0` by repeated squaring, each product rounded by `step`."""
    result = np.ones_like(x)
    base = x
    while n:
        if n & 1:
            result = step(result * base)
        n >>= 1
        if n:
            base = step(base * base)
    return result


def _integer_power(a: IntervalArray, n: int) -> IntervalArray:
    if n == 0:
        return IntervalArray(np.ones_like(a.lo), np.ones_like(a.hi))
    if n == 1:
        return a
    if n % 2 == 0:
        low = np.where(a.lo > 0, a.lo, np.where(a.hi < 0, -a.hi, 0.0))
        high = np.maximum(-a.lo, a.hi)
        return IntervalArray(_power_nonnegative(low, n, _dn), _power_nonnegative(high, n, _up))
    # odd: increasing; x^n = -(-x)^n for x < 0
    lo = np.where(a.lo >= 0, _power_nonnegative(np.abs(a.lo), n, _dn),
                  -_power_nonnegative(np.abs(a.lo), n, _up))
    hi = np.where(a.hi >= 0, _power_nonnegative(np.abs(a.hi), n, _up),
                  -_power_nonnegative(np.abs(a.hi), n, _dn))
    return IntervalArray(lo, hi)


INTERVALS = IntervalContext()
