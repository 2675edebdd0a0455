"""`L^p` norms of piecewise-linear functions and of enclosed residuals, rigorously.

Lemma 2 turns (G2) into integrals of `|g|^p` for the grade output `g`, which is affine on
each simplex. On a simplex `T` with vertex values `a_0..a_d` of one sign, in barycentric
coordinates `g = Σ a_j λ_j` and the simplex moment formula
`∫_T λ^α = vol(T) d! α! / (|α| + d)!` gives, for an integer `p`,

    ∫_T |g|^p = vol(T) · d! p! / (p + d)! · h_p(|a_0|, …, |a_d|),

`h_p` the complete homogeneous symmetric polynomial: an exact rational. For a real `p`,
superadditivity of `t^p` gives the lower bound `vol(T) d! Γ(p+1)/Γ(p+d+1) Σ |a_j|^p`,
computed in Arb and rounded down. Residual norms are enclosed piece by piece from bounds
`m <= |e| <= M` on pieces of known volume.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Iterable, Sequence

from flint import arb

from . import pl_integral
from .freudenthal import simplex_vertices
from .numbers import ball_bounds, to_ball


def complete_homogeneous(values: Sequence[Fraction], p: int) -> Fraction:
    """`h_p(values) = Σ_{|α| = p} values^α`, by the recurrence over variables."""
    h = [Fraction(1)] + [Fraction(0)] * p
    for a in values:
        for m in range(1, p + 1):          # h_m(new) = h_m(old) + a h_{m-1}(new)
            h[m] += a * h[m - 1]
    return h[p]


def moment_factor(dim: int, p) -> arb:
    """`d! Γ(p+1) / Γ(p+d+1)` as a ball (exact rational for integer `p`)."""
    p = to_ball(Fraction(p))
    return arb(math.factorial(dim)) * (p + 1).gamma() / (p + dim + 1).gamma()


def hat_norm_p(simplices: int, h: Fraction, dim: int, p) -> arb:
    """`‖φ_z‖_p^p = (number of simplices of S_z) · h^d · Γ(p+1)/Γ(p+d+1)`."""
    p = to_ball(Fraction(p))
    return arb(simplices) * to_ball(Fraction(h) ** dim) * (p + 1).gamma() / (p + dim + 1).gamma()


def is_integer(p: Fraction) -> bool:
    return Fraction(p).denominator == 1


def simplex_power_lower(values: Sequence[Fraction], volume: Fraction, p: Fraction) -> Fraction:
    """A rational lower bound on `∫_T |g|^p` for `g` affine with vertex `values`.

    Exact for integer `p` when the values have one sign; 0 when they change sign (the
    bound is then not needed: Lemma 3 makes construction grades one-signed per simplex).
    """
    if all(v >= 0 for v in values):
        absolute = list(values)
    elif all(v <= 0 for v in values):
        absolute = [-v for v in values]
    else:
        return Fraction(0)
    if not any(absolute):
        return Fraction(0)
    dim = len(values) - 1
    if is_integer(p):
        p = int(p)
        return (Fraction(volume) * math.factorial(dim) * math.factorial(p)
                / math.factorial(p + dim) * complete_homogeneous(absolute, p))
    total = sum((to_ball(a) ** to_ball(p) for a in absolute if a), arb(0))
    lower, _ = ball_bounds(total * moment_factor(dim, p) * to_ball(volume))
    return max(lower, Fraction(0))


def power_bounds(lo: Fraction, hi: Fraction, p: Fraction) -> tuple[Fraction, Fraction]:
    """Bounds on `|e|^p` when `lo <= e <= hi` (exact for integer `p`)."""
    m = Fraction(0) if lo <= 0 <= hi else min(abs(lo), abs(hi))
    M = max(abs(lo), abs(hi))
    if is_integer(p):
        return m ** int(p), M ** int(p)
    low, _ = ball_bounds(to_ball(m) ** to_ball(p)) if m else (Fraction(0), None)
    _, high = ball_bounds(to_ball(M) ** to_ball(p)) if M else (None, Fraction(0))
    return max(low, Fraction(0)), high


class NormEnclosure:
    """Accumulates `∫|e|^p` over pieces with `lo <= e <= hi`, for several `p` at once.

    Sums are kept as Arb balls (rigorous, fast) and read back as exact end points.
    """

    def __init__(self, ps: Iterable[Fraction]):
        self.ps = [Fraction(p) for p in ps]
        self.lower = {p: arb(0) for p in self.ps}
        self.upper = {p: arb(0) for p in self.ps}
        self.nested = 0          # simplices integrated by nested integration so far

    def add(self, volume: Fraction, lo: Fraction, hi: Fraction, ps=None) -> None:
        """A piece of `volume` on which `lo <= e <= hi` (piecewise-constant bounds)."""
        vol = to_ball(volume)
        m = Fraction(0) if lo <= 0 <= hi else min(abs(lo), abs(hi))
        M = max(abs(lo), abs(hi))
        for p in self.ps if ps is None else ps:
            if m:
                self.lower[p] += vol * _power(m, p)
            if M:
                self.upper[p] += vol * _power(M, p)

    def add_integral(self, p: Fraction, low: Fraction, high: Fraction) -> None:
        """A piece whose `∫|e|^p` is known to lie in `[low, high]`."""
        self.lower[p] += to_ball(low)
        self.upper[p] += to_ball(high)

    def add_simplex(self, target, simplex, h: Fraction, affine, volume: Fraction,
                    lo: Fraction, hi: Fraction) -> None:
        """The Freudenthal simplex `(cell, perm)` of mesh `h` where `e = f - affine`:
        exact integrals for a piecewise-linear target in d = 2 (`certify.engine.pl_integral`),
        else certified nested integrals where possible (`simplex_power_integral`, d <= 2),
        intersected with the piecewise-constant bounds from `lo <= e <= hi`. Returns the
        bounds on `e` over the simplex (exact for a piecewise-linear target in d = 2)."""
        cell, perm = simplex
        if TIGHT and len(cell) == 2 and target.kind == "piecewise-linear":
            exact = pl_integral.residual_integrals(
                target, [tuple(Fraction(v) * h for v in vertex)
                         for vertex in simplex_vertices(simplex)], affine, self.ps)
            if exact is not None:
                integrals, e_lo, e_hi = exact
                for p in integrals:
                    self.add_integral(p, integrals[p], integrals[p])
                rest = [p for p in self.ps if p not in integrals]
                if rest:
                    self.add(volume, e_lo, e_hi, rest)
                return e_lo, e_hi
        self.nested += 1
        nested = TIGHT and len(cell) <= MAX_NESTED_DIM and self.nested <= MAX_NESTED_SIMPLICES
        sign = 1 if lo >= 0 else -1 if hi <= 0 else 0
        m = Fraction(0) if lo <= 0 <= hi else min(abs(lo), abs(hi))
        M = max(abs(lo), abs(hi))
        crude = []
        for p in self.ps:
            tight = (simplex_power_integral(target, [c * h for c in cell], perm, h, affine, p,
                                            sign)
                     if nested else None)
            if tight is None:
                crude.append(p)
                continue
            low = max(tight[0], volume * m ** int(p))
            high = min(tight[1], volume * M ** int(p))
            self.add_integral(p, low, max(low, high))
        if crude:
            self.add(volume, lo, hi, crude)
        return lo, hi

    def add_segment(self, target, a: Fraction, b: Fraction, value_a: Fraction,
                    slope: Fraction, lo: Fraction, hi: Fraction) -> None:
        """The piece `[a, b]` of the line where `e = f - A`, `A` affine (`value_a` at `a`):
        certified integrals for integer `p` (`interval_power_integral`), intersected with
        the piecewise-constant bounds from `lo <= e <= hi`; those alone otherwise. Returns
        bounds on `e` over the segment (exact for a piecewise-linear target)."""
        crude = []
        for p in self.ps:
            tight = (interval_power_integral(target, a, b, value_a, slope, p, lo, hi)
                     if TIGHT else None)
            if tight is None:
                crude.append(p)
                continue
            m = Fraction(0) if lo <= 0 <= hi else min(abs(lo), abs(hi))
            M = max(abs(lo), abs(hi))
            low = max(tight[0], (b - a) * m ** int(p))
            high = min(tight[1], (b - a) * M ** int(p))
            self.add_integral(p, low, max(low, high))
        if crude:
            self.add(b - a, lo, hi, crude)
        if TIGHT:
            exact = pl_integral.segment_range(target, a, b,
                                              lambda x: value_a + slope * (Fraction(x) - a))
            if exact is not None:
                return exact
        return lo, hi

    def integral(self, p: Fraction) -> tuple[Fraction, Fraction]:
        """Bounds on `‖e‖_p^p`."""
        lo, _ = ball_bounds(self.lower[p])
        _, hi = ball_bounds(self.upper[p])
        return max(lo, Fraction(0)), hi

    def norm(self, p: Fraction) -> tuple[Fraction, Fraction]:
        """Bounds on `‖e‖_p`."""
        return p_th_roots(*self.integral(p), p)


def p_th_roots(lo: Fraction, hi: Fraction, p: Fraction) -> tuple[Fraction, Fraction]:
    """Bounds on `t^(1/p)` for `lo <= t <= hi`, rounded outward."""
    inv = 1 / to_ball(Fraction(p))
    low = ball_bounds(to_ball(lo) ** inv)[0] if lo > 0 else Fraction(0)
    high = ball_bounds(to_ball(hi) ** inv)[1] if hi > 0 else Fraction(0)
    return max(low, Fraction(0)), high


def _power(a: Fraction, p: Fraction) -> arb:
    if is_integer(p):
        return to_ball(a) ** int(p)
    return to_ball(a) ** to_ball(p)


# --------------------------------------------------------------------------- 1-D integrals

class _Unsupported(Exception):
    """The expression has an operation with no rigorous complex-analytic extension here."""


def _acb_program(expr, symbols):
    """`expr` as a function `(z, analytic) -> acb`: rationals exact, functions with branch
    cuts or kinks (log, sqrt, Abs, Max, Min) checked for analyticity as `acb.integral` needs."""
    import sympy
    from flint import acb, fmpq

    def build(e):
        if e.is_Symbol:
            index = symbols.index(e)
            return lambda z, a: z[index]
        if e.is_Rational:
            value = acb(fmpq(int(e.p), int(e.q)))
            return lambda z, a: value
        if e is sympy.pi:
            return lambda z, a: acb.pi()
        if e is sympy.E:
            return lambda z, a: acb(1).exp()
        args = [build(t) for t in e.args]
        if e.is_Add:
            return lambda z, a: sum((f(z, a) for f in args[1:]), args[0](z, a))
        if e.is_Mul:
            def mul(z, a):
                out = args[0](z, a)
                for f in args[1:]:
                    out = out * f(z, a)
                return out
            return mul
        if e.is_Pow:
            base, ex = args[0], e.args[1]
            if ex.is_Integer:
                n = int(ex)
                return lambda z, a: base(z, a) ** n
            if ex.is_Rational:
                q = acb(fmpq(int(ex.p), int(ex.q)))
                if ex == sympy.Rational(1, 2):
                    return lambda z, a: base(z, a).sqrt(analytic=a)
                return lambda z, a: (q * base(z, a).log(analytic=a)).exp()
            power = args[1]
            return lambda z, a: (power(z, a) * base(z, a).log(analytic=a)).exp()
        entire = {sympy.sin: "sin", sympy.cos: "cos", sympy.exp: "exp", sympy.sinh: "sinh",
                  sympy.cosh: "cosh", sympy.tan: "tan", sympy.tanh: "tanh"}
        if e.func in entire:            # entire or meromorphic: poles give non-finite balls
            name, u = entire[e.func], args[0]
            return lambda z, a: getattr(u(z, a), name)()
        if e.func is sympy.log:
            u = args[0]
            return lambda z, a: u(z, a).log(analytic=a)
        if e.func is sympy.Abs:
            u = args[0]
            return lambda z, a: u(z, a).real_abs(analytic=a)
        if e.func in (sympy.Max, sympy.Min):
            method = "real_max" if e.func is sympy.Max else "real_min"

            def extreme(z, a):
                out = args[0](z, a)
                for f in args[1:]:
                    out = getattr(out, method)(f(z, a), analytic=a)
                return out
            return extreme
        raise _Unsupported(str(e.func))

    return build(expr)


_PROGRAMS: dict = {}


def _program_for(target):
    key = (target.expr, target.symbols)
    if key not in _PROGRAMS:
        try:
            _PROGRAMS[key] = _acb_program(target.expr, list(target.symbols))
        except _Unsupported:
            _PROGRAMS[key] = None
    return _PROGRAMS[key]


#: certified integrals where available (switched off only to compare, in bench/bench_norms.py)
TIGHT = True

#: nested certified integration up to this dimension (its cost grows like a power of d)
MAX_NESTED_DIM = 2
#: and on at most this many simplices per enclosure (about 10 ms each); the rest crude
MAX_NESTED_SIMPLICES = 128

#: work limit of one rigorous integral (integrand evaluations), and its tolerances
EVAL_LIMIT = 4000


def interval_power_integral(target, a: Fraction, b: Fraction, value_a: Fraction,
                            slope: Fraction, p: Fraction, lo: Fraction | None = None,
                            hi: Fraction | None = None) -> tuple[Fraction, Fraction] | None:
    """Rigorous bounds on `∫_a^b |f(x) - A(x)|^p dx`, `A(x) = value_a + slope (x - a)`, for
    `d = 1` and integer `p`, by Arb's certified integration (`acb.integral`) of analytic
    integrands only: `e^p` for even `p`; `(±e)^p` where the sign of `e` is known (from
    `lo <= e <= hi` or `_Line.range`); for `p = 1` and a sign change, `_segment_absolute`.
    None when it cannot be done (then callers fall back on piecewise-constant bounds)."""
    if not is_integer(p) or target.dim != 1:
        return None
    programs = _segment_programs(target)
    if programs is None:
        return None
    n = int(p)
    line = _Line(programs, a, b, value_a, slope)
    known = (lo, hi) if lo is not None and hi is not None else (None, None)
    try:
        if n % 2 == 0:
            low, high = line.integral(n, 1, a, b)
        elif n == 1:
            low, high = _segment_absolute(line, a, b, known, None, SPLIT_DEPTH_1D)
        else:
            e_lo, e_hi = line.range(a, b, known)
            sign = 1 if e_lo is not None and e_lo >= 0 else \
                -1 if e_hi is not None and e_hi <= 0 else 0
            if not sign:
                return None
            low, high = line.integral(n, sign, a, b)
    except (ArithmeticError, ValueError, ZeroDivisionError):
        return None
    return max(low, Fraction(0)), high


#: a sign-changing segment (p = 1) is halved at most this deep, until its bounds are
#: within this (relative) of each other
SPLIT_DEPTH_1D, SPLIT_WIDTH_1D = 10, Fraction(1, 2000)


def _segment_absolute(line, u: Fraction, v: Fraction, known, slack, depth: int):
    """Bounds on `∫_u^v |e|`. With `-ε <= e` on `[u, v]` (`_Line.range`),
    `∫e <= ∫|e| <= ∫e + 2ε(v - u)` (likewise `e <= ε`): exact for a one-signed `e`, and
    robust to rounding where `e` touches 0. Else `|∫e| <= ∫|e| <= sqrt((v - u) ∫e^2)`
    (Cauchy-Schwarz), and the two halves are summed, recursively while the bounds are
    wider than `slack` (`SPLIT_WIDTH_1D` of the whole; the same on every level: the pieces
    left with a sign change are few, and their excess shrinks like their length squared)."""
    e_lo, e_hi = line.range(u, v, known)
    first = line.integral(1, 1, u, v)
    length = v - u
    low = first[0] if first[0] > 0 else -first[1] if first[1] < 0 else Fraction(0)
    high = None
    if e_lo is not None and e_hi is not None:
        sign = 1 if e_hi >= -e_lo else -1
        eps = max(Fraction(0), -e_lo if sign > 0 else e_hi)
        signed = first if sign > 0 else (-first[1], -first[0])
        low, high = max(low, signed[0]), signed[1] + 2 * eps * length
        room = SPLIT_WIDTH_1D * max(low, Fraction(0)) if slack is None else slack
        if high - low <= room:
            return low, high
    square = line.integral(2, 1, u, v)[1]
    cauchy = _sqrt_upper(length * square)
    high = cauchy if high is None else min(high, cauchy)
    if slack is None:
        slack = SPLIT_WIDTH_1D * high
    if depth == 0 or high - low <= slack:
        return low, high
    m = (u + v) / 2
    parts = [_segment_absolute(line, s, t, (None, None), slack, depth - 1)
             for s, t in ((u, m), (m, v))]
    return max(low, sum(max(p[0], Fraction(0)) for p in parts)), \
        min(high, sum(p[1] for p in parts))


def _sqrt_upper(value: Fraction) -> Fraction:
    return ball_bounds(to_ball(max(value, Fraction(0))).sqrt())[1] if value > 0 else Fraction(0)


_SEGMENT_PROGRAMS: dict = {}


def _segment_programs(target):
    """(program of f, of f', of f'') for `acb` evaluation (the derivatives None unless f
    is analytic), None if f is unsupported."""
    key = (target.expr, target.symbols)
    if key not in _SEGMENT_PROGRAMS:
        f = _program_for(target)
        df = d2f = None
        if f is not None and _analytic(target.expr):
            import sympy
            x = target.symbols[0]
            try:
                df = _acb_program(sympy.diff(target.expr, x), list(target.symbols))
                d2f = _acb_program(sympy.diff(target.expr, x, 2), list(target.symbols))
            except _Unsupported:
                df = d2f = None
        _SEGMENT_PROGRAMS[key] = None if f is None else (f, df, d2f)
    return _SEGMENT_PROGRAMS[key]


class _Line:
    """`e = f - A` on a segment, for analytic integrals and sign tests on sub-segments."""

    def __init__(self, programs, a, b, value_a, slope):
        from flint import acb
        self.f, self.df, self.d2f = programs
        self.a, self.v0, self.s = _acb_of(a), _acb_of(value_a), _acb_of(slope)
        self.s_real = to_ball(slope)
        self.acb = acb

    def e(self, z, analytic):
        return self.f([z], analytic) - self.v0 - self.s * (z - self.a)

    def integral(self, n: int, sign: int, u: Fraction, v: Fraction):
        """Bounds on `∫_u^v (sign e)^n` (analytic integrand)."""
        def integrand(z, analytic):
            value = self.e(z, analytic)
            return (value if sign > 0 else -value) ** n
        result = self.acb.integral(integrand, _acb_of(u), _acb_of(v), rel_tol=arb(2) ** -24,
                                   abs_tol=arb(2) ** -90, eval_limit=EVAL_LIMIT)
        if not result.is_finite():
            raise ArithmeticError("an integral did not converge")
        return ball_bounds(result.real)

    def range(self, u: Fraction, v: Fraction, known=(None, None)):
        """Rational bounds `(lower, upper)` on `e` over `[u, v]` (None: unbounded), from
        `known`, the naive ball of `e`, the mean-value forms about the mid-point and both
        end points (`e(c) + (f'(I) - s)(I - c)`), and curvature: where `f'' <= 0` on
        `[u, v]`, `e` is concave and `e >= min(e(u), e(v))` (convex likewise)."""
        from flint import fmpq
        lower, upper = known
        w = v - u
        half = arb(0, arb(fmpq(w.numerator, 2 * w.denominator)))
        box = self.acb(to_ball((u + v) / 2) + half)

        def meet(ball):
            nonlocal lower, upper
            if ball.is_finite():
                low, high = ball_bounds(ball)
                lower = low if lower is None else max(lower, low)
                upper = high if upper is None else min(upper, high)
        try:
            meet(self.e(box, False).real)
            if self.df is not None:
                slope = self.df([box], False).real - self.s_real
                reach = slope * (half + to_ball(w / 2))        # slope times [0, w]
                ends = (self.e(_acb_of(u), False).real, self.e(_acb_of(v), False).real)
                meet(self.e(_acb_of((u + v) / 2), False).real + slope * half)
                meet(ends[0] + reach)
                meet(ends[1] - reach)
                curvature = self.d2f([box], False).real if self.d2f is not None else arb(0, 1)
                if curvature.is_finite() and all(end.is_finite() for end in ends):
                    if curvature <= 0:
                        least = min(ball_bounds(end)[0] for end in ends)
                        lower = least if lower is None else max(lower, least)
                    if curvature >= 0:
                        most = max(ball_bounds(end)[1] for end in ends)
                        upper = most if upper is None else min(upper, most)
        except (ArithmeticError, ValueError, ZeroDivisionError):
            pass
        return lower, upper


def _acb_of(q):
    from flint import acb, fmpq
    q = Fraction(q)
    return acb(fmpq(q.numerator, q.denominator))


def simplex_power_integral(target, origin, perm, h: Fraction, affine, p: Fraction,
                           sign: int) -> tuple[Fraction, Fraction] | None:
    """Rigorous bounds on `∫_T |f - A|^p` over the Freudenthal simplex
    `T = {h >= t_π(0) >= ... >= t_π(d-1) >= 0}`, `t = x - origin`, by nested certified
    integration (`acb.integral`, analyticity checked on every ball at every level, so the
    inner integrals are analytic in the outer variables). Integer `p`; for odd `p > 1` the
    sign of `f - A` on `T` must be known (`sign` = ±1); for `p = 1` without it, `T` is cut
    into halves of its edges until `|∫e| <= ∫|e| <= sqrt(vol ∫e^2)` (Cauchy-Schwarz, piece
    by piece) is tight. None when it cannot be done."""
    if not is_integer(p):
        return None
    n = int(p)
    vertex = [Fraction(v) for v in origin]
    vertices = [tuple(vertex)]
    for axis in perm:
        vertex[axis] += Fraction(h)
        vertices.append(tuple(vertex))
    if n % 2 and not sign:
        # halve down to pieces of side about SPLIT_MESH: coarse simplices are few
        depth = 0
        while Fraction(h) / 2 ** depth > SPLIT_MESH:
            depth += 1
        return _first_absolute(target, vertices, affine, depth) if n == 1 else None
    bounds = _nested(target, vertices, affine, n, sign)
    return None if bounds is None else (max(bounds[0], Fraction(0)), bounds[1])


#: where e changes sign (p = 1), simplices are halved down to this side at most, and
#: only while the bounds differ by more than SPLIT_WIDTH (relative)
SPLIT_MESH, SPLIT_WIDTH = Fraction(1, 4), Fraction(1, 100)


def _first_absolute(target, vertices, affine, depth: int):
    first = _nested(target, vertices, affine, 1, 1)
    second = _nested(target, vertices, affine, 2, 1)
    if first is None or second is None:
        return None
    volume = _volume(vertices)
    low = first[0] if first[0] > 0 else -first[1] if first[1] < 0 else Fraction(0)
    _, high = ball_bounds((to_ball(volume) * to_ball(max(second[1], Fraction(0)))).sqrt())
    if depth == 0 or high - low <= SPLIT_WIDTH * high or len(vertices) != 3:
        return low, high
    parts = [_first_absolute(target, piece, affine, depth - 1) for piece in _halves(vertices)]
    if any(part is None for part in parts):
        return low, high
    return max(low, sum(p[0] for p in parts)), min(high, sum(p[1] for p in parts))


def _halves(tri):
    """The four triangles of the midpoint subdivision."""
    a, b, c = tri
    mid = lambda u, v: tuple((x + y) / 2 for x, y in zip(u, v))   # noqa: E731
    ab, bc, ca = mid(a, b), mid(b, c), mid(c, a)
    return [(a, ab, ca), (ab, b, bc), (ca, bc, c), (ab, bc, ca)]


def _volume(vertices) -> Fraction:
    d = len(vertices) - 1
    rows = [[v[i] - vertices[0][i] for i in range(d)] for v in vertices[1:]]
    return abs(_det(rows)) / math.factorial(d)


def _det(rows) -> Fraction:
    if len(rows) == 1:
        return rows[0][0]
    return sum(((-1) ** j * rows[0][j] * _det([r[:j] + r[j + 1:] for r in rows[1:]])
                for j in range(len(rows))), Fraction(0))


def _nested(target, vertices, affine, n: int, sign: int):
    """Bounds on `∫_T (sign (f - A))^n` over the simplex with these vertices, by nested
    certified integration over `x = v_0 + Σ t_j (v_{j+1} - v_j)`, `1 >= t_0 >= ... >= 0`
    (Jacobian `d! vol(T)`); may be negative."""
    from flint import acb, fmpq
    if not _analytic(target.expr):
        return None
    f = _program_for(target)
    if f is None:
        return None
    d = len(vertices) - 1

    def ball(q):
        q = Fraction(q)
        return acb(fmpq(q.numerator, q.denominator))

    base = [ball(v) for v in vertices[0]]
    steps = [[ball(b - a) for a, b in zip(u, v)] for u, v in zip(vertices, vertices[1:])]
    grad = [ball(v) for v in affine.grad]
    a_origin = [ball(v) for v in affine.origin]
    v0 = ball(affine.value0)
    jacobian = ball(_volume(vertices) * math.factorial(d))
    tol = arb(2) ** -14

    def residual(t, analytic):
        x = list(base)
        for tj, step in zip(t, steps):
            x = [xi + tj * si for xi, si in zip(x, step)]
        value = f(x, analytic) - v0
        for gi, xi, ai in zip(grad, x, a_origin):
            value -= gi * (xi - ai)
        return (value if sign >= 0 else -value) ** n

    def level(j, t, analytic):
        upper = acb(1) if j == 0 else t[j - 1]

        def integrand(s, a):
            return (residual(t + [s], a or analytic) if j == d - 1
                    else level(j + 1, t + [s], a or analytic))
        return acb.integral(integrand, acb(0), upper, rel_tol=tol, abs_tol=arb(2) ** -40,
                            eval_limit=EVAL_LIMIT // 4)

    try:
        return ball_bounds((level(0, [], False) * jacobian).real)
    except (ArithmeticError, ValueError, ZeroDivisionError):
        return None


def _analytic(expr) -> bool:
    """Is `expr` built only from operations analytic (or meromorphic) in every variable?
    Nested integration needs it: kinks and branch cuts stall the outer integrals."""
    import sympy
    allowed = (sympy.sin, sympy.cos, sympy.exp, sympy.sinh, sympy.cosh, sympy.tan, sympy.tanh)
    for e in sympy.preorder_traversal(expr):
        if e.is_Atom or e.is_Add or e.is_Mul or e.func in allowed:
            continue
        if e.is_Pow and e.args[1].is_Integer:
            continue
        return False
    return True
