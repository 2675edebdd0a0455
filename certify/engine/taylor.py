"""`L^p` integrals of `e = f - A` on every simplex of a grid, from cubic Taylor models of `f`.

`certify.engine.lp` integrates `|e|^p` one simplex at a time by nested Arb integration (about 10 ms
a triangle, none in d = 3). This module does a whole grade at once, for an analytic `f`
in d = 2, 3 and `p = 1, 2`:

*Model.* Each grid cell is cut into `m^d` sub-cells of side `s = h/m` (`m` a power of two;
the Freudenthal triangulation of the finer grid refines the coarse one); on fine grids
`m = 1` and blocks of `k^d` cells share one expansion instead (`split_for`). About the
centre `z` of a sub-cell (block), `f(z + u) = T(u) + R(u)` with
`T = Σ_{|α|<=3} D^α f(z) u^α / α!` and `|R| <= r = Σ_{|α|=4} max_B |D^α f| ρ^4 / α!` over
the sub-cell (block) `B` of half-side `ρ` (Lagrange remainder); the derivatives are
SymPy's, compiled by `certify.expression` and evaluated for all sub-cells (blocks) of a
grade at once in float intervals rounded outward (`certify.intervals`), in Arb for the few
where that gives no finite enclosure and, for the coefficients at `z`, where the float
intervals' few ulps of `|f|` are not small beside `r` (fine grids in d = 1), so that the
models are as tight as Arb's (`_DerivativeProgram`, `_expansions`). They depend on `f` and
the expansion grid only, and are kept for the next grades on the same grid.

*Exact integration* of the cubic model against the affine pieces, and the rigorous float
arithmetic that carries it, are `certify.engine.bernstein`'s.

*Bounds on e.* `∫e ∈ ∫q ± r vol`, `∫e^2 ∈ ∫q^2 ± (2 r ∫|q| + r^2 vol)`. For `p = 1`:
where `-ε <= e` (`ε = max(0, r - min b)`), `∫e <= ∫|e| <= ∫e + 2ε vol` (likewise `e <= ε`),
exact for a one-signed `e`; always `|∫e| <= ∫|e| <= min(∫|q| + r vol, sqrt(vol ∫e^2))`.
Sub-simplex bounds are summed per coarse simplex and intersected with the
piecewise-constant bounds `lo <= e <= hi` there.
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
from flint import arb, fmpq

from .bernstein import (_TINY, _U, _bernstein_map, _exact_mid_rad, _factorial, _gamma, _indices,
                        _inflate, _matmul, _refine_absolute, _simplex_bounds, _taylor_indices,
                        _to_mid_rad)
from .intervals import IntervalArray, step_down, step_up

#: sub-cells per grade (the derivative programs run once over all of them, in float
#: intervals): cells are split while there are fewer than this; unsplit grids up to MAX_CELLS
MAX_SUBCELLS = {1: 8192, 2: 1024, 3: 512}
MAX_CELLS = {1: 16384, 2: 8192, 3: 4096}
#: on finer grids, blocks of up to MAX_BLOCK^d cells share one expansion
MAX_BLOCK = 8
#: sub-cells per coarse cell edge at most
MAX_SPLIT = 16



# --------------------------------------------------------------------------- derivatives

class _Unsupported(Exception):
    pass


class _DerivativeProgram:
    """`D^α f / α!` for `|α| <= 3` at points (`"point"`) and for `|α| = 4` over boxes
    (`"box"`): SymPy's derivatives compiled once by `certify.expression` into a program that
    runs in any number context (float intervals for whole grids, Arb balls for the rest)."""

    def __init__(self, target):
        import sympy
        from .expression import _Program, _diff
        dim, xs = target.dim, list(target.symbols)
        self.low = _taylor_indices(dim)
        self.high = _indices(dim, 4)
        partial = {(0,) * dim: target.expr}

        def partial_of(alpha):
            """`D^α f`, from `D^(α - e_i) f` (`i` the last axis of `α`): one symbolic
            derivative each (`expression._diff`; no kinks in an analytic target), common
            factors pulled out of sums (`sympy.factor_terms`: fewer occurrences of each
            variable, so tighter interval bounds over a box)."""
            if alpha not in partial:
                i = max(j for j, a in enumerate(alpha) if a)
                lower = tuple(a - (j == i) for j, a in enumerate(alpha))
                partial[alpha] = sympy.factor_terms(_diff(partial_of(lower), xs[i], {}))
            return partial[alpha]

        def derivative(alpha):
            return partial_of(alpha) / _factorial(alpha)
        try:
            self.program = _Program({"point": [derivative(a) for a in self.low],
                                     "box": [derivative(a) for a in self.high]},
                                    xs, set(target._program.proven))
        except TypeError as exc:            # an operation the compiler does not know
            raise _Unsupported(str(exc)) from None
        #: `_expansions` by expansion grid `E` (they depend on f and E only; successive
        #: grades often share E), the last few
        self.expansions: dict = {}

    def expansions_on(self, E: int, dim: int):
        """`_expansions` on the grid of `E` cells an edge, kept for the next grades."""
        if E not in self.expansions:
            expansion = np.indices((E,) * dim).reshape(dim, -1).T
            found = _expansions(self, expansion, E)
            for array in found or ():
                array.flags.writeable = False           # shared: read only
            if len(self.expansions) >= 4:
                self.expansions.pop(next(iter(self.expansions)))
            self.expansions[E] = found
        return self.expansions[E]

    def intervals(self, key: str, x) -> list:
        from .intervals import INTERVALS
        return self.program.run(key, INTERVALS, x)

    def balls(self, key: str, x) -> list:
        from .expression import _CONTEXTS
        return self.program.run(key, _CONTEXTS["ball"], x)


_PROGRAMS: dict = {}


def _program(target):
    from .lp import _analytic
    key = (target.expr, target.symbols)
    if key not in _PROGRAMS:
        program = None
        if target.dim in (1, 2, 3) and _analytic(target.expr):
            try:
                program = _DerivativeProgram(target)
            except _Unsupported:
                program = None
        _PROGRAMS[key] = program
    return _PROGRAMS[key]


def applies(target) -> bool:
    return _program(target) is not None


# --------------------------------------------------------------------------- one grade

def split_for(dim: int, n: int) -> tuple[int, int] | None:
    """`(m, k)`: cells split into `m^d` sub-cells (`m` the largest power of two within
    MAX_SUBCELLS), or, on fine grids, `m = 1` and blocks of `k^d` cells sharing one Taylor
    expansion (`k` the least power of two dividing `n` that keeps MAX_CELLS expansions);
    None past MAX_BLOCK."""
    if n ** dim <= MAX_SUBCELLS[dim]:
        m = 1
        while 2 * m <= MAX_SPLIT and (2 * m * n) ** dim <= MAX_SUBCELLS[dim]:
            m *= 2
        return m, 1
    k = 1
    while (n // k) ** dim > MAX_CELLS[dim]:
        if n % (2 * k) or 2 * k > MAX_BLOCK:
            return None
        k *= 2
    return 1, k


def grade_integrals(target, total, n: int, perms: list, lo: np.ndarray, hi: np.ndarray,
                    ps) -> dict | None:
    """Bounds `(low, high)` on `∫|e|^p` over [0,1]^d for each `p` in `ps` that is 1 or 2,
    `e = f - F`, `F` the piecewise-linear function with nodal values `total` on the
    Freudenthal grid of `n` cells an edge; `lo[pi][cell] <= e <= hi[pi][cell]` on the
    simplex `(cell, perms[pi])`. None when the target or the grid is out of scope."""
    return joined_integrals([integral_part(target, total, n, perms, lo, hi, ps)])


def integral_part(target, total, n: int, perms: list, lo, hi, ps, units=None):
    """Part of `grade_integrals` (to be `joined_integrals`): the pieces of the units drawn
    from `units` (indices below `integral_units`, any iterable: a `work_units.Deal` shared
    with other processes draws them as it goes), of all units if None. Where every coarse
    simplex gets one piece (`m = 1`: the sums are then the same wherever their one term
    was added) each (corner, permutation) round is a unit, otherwise all rounds are one.
    Per `p`, the exact sums of its simplices' bounds (`_exact_sum`), the
    simplices it covered (packed bits), and whether each got its `m^d` pieces. None where
    `grade_integrals` gives None."""
    with np.errstate(all="ignore"):          # overflow gives inf: checked, then None
        return _grade_integrals(target, total, n, perms, lo, hi, ps, units)


def integral_units(dim: int, n: int) -> int:
    """Into how many units `integral_part` splits a grade on the grid of `n` cells a side
    (its rounds where each gives every coarse simplex one piece, else 1)."""
    split = split_for(dim, n)
    if split is None or split[0] != 1:
        return 1
    return split[1] ** dim * math.factorial(dim)


def joined_integrals(found: list) -> dict | None:
    """`grade_integrals` from all its parts (`integral_part`): the exact sums added and
    rounded once, as one `_fsum` over all simplices rounds them."""
    if not found or any(f is None for f in found):
        return None
    covered = [np.unpackbits(f[1]).astype(bool)[:f[2]] for f in found]
    if any(not f[3] for f in found) or not np.all(np.sum(covered, axis=0) == 1):
        raise AssertionError("sub-simplices do not tile the coarse simplices")
    out = {}
    for p in found[0][0]:
        low = float(sum((f[0][p][0] for f in found), Fraction(0)))      # correctly rounded
        high = float(sum((f[0][p][1] for f in found), Fraction(0)))
        out[p] = (_bound_down(low), _bound_up(high))
    return out


def _grade_integrals(target, total, n, perms, lo, hi, ps, drawn=None):
    program = _program(target)
    wanted = [p for p in ps if p in (1, 2)]
    dim = target.dim
    split = split_for(dim, n)
    if program is None or not wanted or split is None:
        return None
    m, k = split
    N = n * m                      # Freudenthal grid of the pieces integrated
    s = Fraction(1, N)
    E = N // k                     # grid of the expansions, side k s
    expansions = program.expansions_on(E, dim)
    if expansions is None:
        return None
    cm, cr, remainder = expansions
    expansion = np.indices((E,) * dim).reshape(dim, -1).T       # (cells, dim), row-major
    centre_t = (2 * expansion + 1) * (k / (2 * m))          # centres times n: exact floats
    alphas = _taylor_indices(dim)
    linear = [alphas.index(tuple(int(i == j) for i in range(dim))) for j in range(dim)]
    nodal = _nodal(total)
    lookup = np.full(dim ** dim, -1, dtype=np.int64)
    for i, p in enumerate(perms):
        lookup[sum(a * dim ** j for j, a in enumerate(p))] = i
    n_coarse = len(perms) * n ** dim
    sums = {p: (np.zeros(n_coarse), np.zeros(n_coarse)) for p in wanted}
    counts = np.zeros(n_coarse, dtype=np.int64)
    rounds = list(itertools.product(itertools.product(range(k), repeat=dim),
                                    itertools.permutations(range(dim))))
    units = [[r] for r in rounds] if m == 1 else [rounds]
    drawn = range(len(units)) if drawn is None else drawn
    for corner, fine in (r for i in drawn for r in units[i]):
        grid = expansion * k + np.array(corner, dtype=np.int64)      # sub-cell indices
        coarse = grid // m
        local = grid % m
        Wm, Wr, Gm, Gr, vol = _bernstein_map(dim, fine, s, corner, k)
        offset = np.zeros(dim, dtype=np.int64)
        for i, axis in enumerate(fine):
            offset[axis] = dim - i                      # centroid offset times (d + 1)
        key = local * (dim + 1) + offset                 # centroid in the coarse cell
        order = np.argsort(-key, axis=1, kind="stable")
        codes = order @ (dim ** np.arange(dim))
        owner = lookup[codes]
        flat_coarse = np.ravel_multi_index(coarse.T, (n,) * dim)
        simplex_id = owner * n ** dim + flat_coarse
        a0m, a0r, gm, gr = _affine_at_centres(nodal, n, centre_t - coarse, coarse, order, dim)
        qm, qr = cm.copy(), cr.copy()
        qm[:, 0] = cm[:, 0] - a0m
        qr[:, 0] = cr[:, 0] + a0r + np.abs(qm[:, 0]) * _U
        for j in range(dim):
            col = linear[j]
            qm[:, col] = cm[:, col] - gm[:, j]
            qr[:, col] = cr[:, col] + gr[:, j] + np.abs(qm[:, col]) * _U
        bm, br = _matmul(qm, qr, Wm, Wr)
        i2, p1 = _simplex_bounds(bm, br, vol, remainder, Gm, Gr)
        found = {}
        if 2 in wanted:
            found[2] = i2
        if 1 in wanted:
            found[1] = _refine_absolute(qm, qr, p1, dim, fine, s, remainder) if k == 1 else p1
        if m == 1:
            # unsplit cells: each expansion block's sub-simplex of this corner and
            # permutation is a different coarse simplex (ids distinct; the tiling check
            # below would see a repeat), so plain indexing adds exactly as `np.add.at`
            for p, (low, high) in found.items():
                sums[p][0][simplex_id] += low
                sums[p][1][simplex_id] += high
            counts[simplex_id] += 1
            continue
        for p, (low, high) in found.items():
            np.add.at(sums[p][0], simplex_id, low)
            np.add.at(sums[p][1], simplex_id, high)
        np.add.at(counts, simplex_id, 1)
    mine = counts > 0
    tiled = bool(np.all(counts[mine] == m ** dim))
    grow = 1 + 2 * _gamma(m ** dim + 2)
    lo_flat = np.asarray(lo, dtype=float).reshape(n_coarse)[mine]   # floats already: exact
    hi_flat = np.asarray(hi, dtype=float).reshape(n_coarse)[mine]
    sums = {p: (low[mine], high[mine]) for p, (low, high) in sums.items()}
    least = np.where((lo_flat <= 0) & (hi_flat >= 0), 0.0,
                     np.minimum(np.abs(lo_flat), np.abs(hi_flat)))
    most = np.maximum(np.abs(lo_flat), np.abs(hi_flat))
    coarse_vol = float(Fraction(1, n ** dim * math.factorial(dim)))
    out = {}
    for p in wanted:
        low = np.maximum(step_down(sums[p][0] / grow), 0.0)
        high = step_up(sums[p][1] * grow)
        crude_lo = np.maximum(least ** int(p) * coarse_vol * (1 - 16 * _U) - _TINY, 0.0)
        crude_hi = most ** int(p) * coarse_vol * (1 + 16 * _U) + _TINY
        low = np.maximum(low, crude_lo)
        high = np.maximum(np.minimum(high, crude_hi), low)
        if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
            return None
        out[p] = (_exact_sum(low), _exact_sum(high))
    return out, np.packbits(mine), n_coarse, tiled


def _expansions(program, expansion: np.ndarray, E: int):
    """`(cm, cr, remainder)` for the expansion cells `expansion` (rows of indices on the
    grid of `E` cells an edge): the Taylor coefficients `D^α f(z) / α!` at the centres
    `z = (2c + 1) / (2E)` as (mid, rad) arrays of shape (cells, K), and upper bounds
    `r = (1/(2E))^4 Σ_{|α|=4} max_B |D^α f / α!|` over the cells `B`. All cells at once in
    float intervals (`certify.intervals`); cells where that gives no finite enclosure
    (or the whole grid, if the program does not run there) in Arb, one by one. None when
    Arb gives none either."""
    count, dim = expansion.shape
    exact = E & (E - 1) == 0                # power of two: centres and ends are floats
    index = expansion.T.astype(float)
    centre = _grid_points(2 * index + 1, 2 * E, exact)
    box = [IntervalArray(a.lo, b.hi) for a, b in
           zip(_grid_points(index, E, exact), _grid_points(index + 1, E, exact))]
    try:
        with np.errstate(all="ignore"):
            coefficients = _interval_rows(program.intervals("point", centre), count)
            bounds = _interval_rows(program.intervals("box", box), count)
    except (ArithmeticError, TypeError, ValueError, AttributeError):
        coefficients = (np.full((count, len(program.low)), np.nan),) * 2
        bounds = (np.full((count, len(program.high)), np.nan),) * 2
    cm, cr = _to_mid_rad(*coefficients)
    remainder = _remainder(*bounds, E)
    redo = ~(np.all(np.isfinite(cr), axis=1) & np.isfinite(remainder))
    if redo.any():
        rows = np.flatnonzero(redo)
        coefficients, bounds = _ball_rows(program, expansion[rows], E)
        cm[rows], cr[rows] = _to_mid_rad(*coefficients)
        remainder[rows] = _remainder(*bounds, E)
    if not (np.all(np.isfinite(cr)) and np.all(np.isfinite(remainder))):
        return None
    # the coefficients carry the float intervals' error (some ulps of |f|, far more than
    # Arb's) straight into every integral: where that error is not small beside the
    # remainder (fine grids, d = 1), the point coefficients in Arb instead
    rows = np.flatnonzero(cr[:, 0] * VALUE_MARGIN > remainder)
    if len(rows):
        vm, vr = _ball_values(program, expansion[rows], E)
        better = vr < cr[rows]
        sub_m, sub_r = cm[rows], cr[rows]
        sub_m[better], sub_r[better] = vm[better], vr[better]
        cm[rows], cr[rows] = sub_m, sub_r
    return cm, cr, remainder


#: the point coefficients are recomputed in Arb where the radius of `f(z)` in float
#: intervals exceeds 1/VALUE_MARGIN of the remainder bound
VALUE_MARGIN = 64


def _ball_values(program, expansion: np.ndarray, E: int):
    """The point coefficients at the centres `(2c + 1)/(2E)` in Arb, as (mid, rad) float
    arrays of shape (cells, K): `m̂`, `r̂` the
    floats of the ball's mid-point and radius (each within one ulp, whatever the rounding
    direction), `rad = ↑(↑r̂ + ↑(|m̂| 2^-52 + 2^-1074))` (one ulp of `m̂` is at most
    `|m̂| 2^-52`, or `2^-1074` below the normal range; each `↑` covers a rounding of the
    sum); `rad = inf` where the ball is not finite. The balls are those of the scalar Arb
    context, point by point (`_centre_balls`)."""
    from .ball_arrays import mid_rad_floats
    mid, rad = mid_rad_floats(_centre_balls(program, expansion, E))
    with np.errstate(all="ignore"):
        up = lambda x: np.nextafter(x, np.inf)       # noqa: E731
        rad = up(up(rad) + up(np.abs(mid) * 2.0 ** -52 + 2.0 ** -1074))
        # a ball is finite exactly when its mid-point and radius are (`arb.is_finite`);
        # both are then finite floats unless beyond the largest float, excluded as well
        ok = np.isfinite(mid) & np.isfinite(rad)
    shape = (len(expansion), -1)
    return np.where(ok, mid, 0.0).reshape(shape), np.where(ok, rad, np.inf).reshape(shape)


def _centre_balls(program, expansion: np.ndarray, E: int) -> np.ndarray:
    """The point coefficients' balls at the centres `(2c + 1)/(2E)` of the cells
    `expansion`, cell by cell (each cell's `K` in a row), as a flat object array: one run of
    the program over all cells in object arrays (`ball_arrays`: each ball the scalar Arb
    context's, bit for bit), or point by point where that context lacks an operation of
    the program."""
    from .ball_arrays import arrays_of, balls_of, outputs, to_balls
    from .expression import _CONTEXTS
    count = len(expansion)
    if E & (E - 1) == 0 and E < 2 ** 52:    # dyadic centres: `arb` of the float is exact,
        # the same ball as `arb(fmpq(2c + 1, 2E))` (the one exact ball of that value)
        axes = [to_balls(column) for column in ((2 * expansion + 1) / (2 * E)).T]
    else:
        axes = [balls_of(arb(fmpq(2 * c + 1, 2 * E)) for c in column)
                for column in expansion.T.tolist()]
    try:
        columns = outputs(program.program, "point", arrays_of(_CONTEXTS["ball"]), axes,
                          (count,))
    except (AttributeError, TypeError):
        return balls_of(b for k in range(count)
                        for b in program.balls("point", [axis[k] for axis in axes]))
    return np.stack(columns, axis=1).reshape(-1)


def _grid_points(numerator: np.ndarray, denominator: int, exact: bool) -> list:
    """Per axis, `IntervalArray`s around `numerator / denominator` (integers as floats):
    the float itself when it is exact, else one step either side of the correctly rounded
    quotient."""
    out = []
    for row in numerator:
        value = row / denominator
        out.append(IntervalArray(value, value) if exact else
                   IntervalArray(np.nextafter(value, -np.inf), np.nextafter(value, np.inf)))
    return out


def _interval_rows(values: list, count: int):
    """Program outputs (`IntervalArray`s, some maybe scalar constants) as (lo, hi) arrays
    of shape (count, outputs)."""
    lo = np.stack([np.broadcast_to(np.asarray(v.lo, dtype=float), (count,)) for v in values], 1)
    hi = np.stack([np.broadcast_to(np.asarray(v.hi, dtype=float), (count,)) for v in values], 1)
    return lo, hi


def _ball_rows(program, expansion: np.ndarray, E: int):
    """`(coefficients, bounds)` as (lo, hi) float arrays for these cells, from Arb balls
    around the exact centres and cells (`vectorised._ball_floats` encloses each ball)."""
    from .vectorised import _ball_floats
    half = arb(0, arb(fmpq(1, 2 * E)))
    points, boxes = [], []
    for cell in expansion.tolist():
        centre = [arb(fmpq(2 * c + 1, 2 * E)) for c in cell]
        points.append(program.balls("point", centre))
        boxes.append(program.balls("box", [c + half for c in centre]))

    def floats(rows):
        lo, hi = _ball_floats([b for row in rows for b in row])
        return lo.reshape(len(rows), -1), hi.reshape(len(rows), -1)
    return floats(points), floats(boxes)


def _remainder(lo: np.ndarray, hi: np.ndarray, E: int) -> np.ndarray:
    """`(1/(2E))^4 Σ_j max(|lo_j|, |hi_j|)` per row, rounded up (one `nextafter` per
    operation; `max |[lo, hi]|` is exact); `inf`/NaN where the bounds are not finite."""
    with np.errstate(all="ignore"):
        top = np.maximum(np.abs(lo), np.abs(hi))
        total = top[:, 0]
        for j in range(1, top.shape[1]):
            total = np.nextafter(total + top[:, j], np.inf)
        scale = float(Fraction(1, 2 * E) ** 4)              # correctly rounded: one step up
        total = np.nextafter(np.nextafter(total, np.inf) * np.nextafter(scale, np.inf), np.inf)
    return np.where(np.isfinite(total), total, np.inf)


#: `_fsum` works through its values in blocks of this many
FSUM_BLOCK = 65536


def _bound_down(total: float) -> Fraction:
    """Below the exact sum whose correctly rounded float is `total`."""
    return max(Fraction(0), Fraction(total) - Fraction(abs(total)) * Fraction(1, 2 ** 52)
               - Fraction(1, 2 ** 1074))


def _bound_up(total: float) -> Fraction:
    return Fraction(total) + Fraction(abs(total)) * Fraction(1, 2 ** 52) + Fraction(1, 2 ** 1074)


def _fsum(values: np.ndarray) -> float:
    """`math.fsum(values)` (the correctly rounded sum) of finite floats: `_exact_sum`
    rounded once (int / int is correctly rounded in CPython)."""
    values = np.asarray(values, dtype=float).ravel()
    if len(values) >= 1 << 26 or not np.all(np.isfinite(values)):
        return math.fsum(values.tolist())
    return float(_exact_sum(values))


def _exact_sum(values: np.ndarray) -> Fraction:
    """The exact sum of finite floats: each `x = M 2^(e-53)` (`np.frexp`, `M` an integer
    below 2^53) is split as `M = H 2^27 + L` (`H`, `L` below 2^27), and `H`, `L` are
    summed per exponent `e` in float64 (`np.bincount`), exactly while fewer than 2^26 of
    them are added; the sums are joined in Python integers."""
    values = np.asarray(values, dtype=float).ravel()
    if len(values) >= 1 << 26:
        return sum(map(Fraction, values.tolist()), Fraction(0))
    mantissa, exponent = np.frexp(values)
    first = int(exponent.min(initial=0))
    size = int(exponent.max(initial=0)) - first + 1
    highs, lows = np.zeros(size), np.zeros(size)
    # in blocks (arrays that stay in cache: several times faster on a million values);
    # every partial sum is an integer below 2^26 · 2^27, so adding the blocks' sums is
    # exact as well
    for start in range(0, len(values), FSUM_BLOCK):
        whole = np.ldexp(mantissa[start:start + FSUM_BLOCK], 53)   # exact, |M| < 2^53
        high = np.floor(np.ldexp(whole, -27))               # exact: a power-of-two scaling
        low = whole - np.ldexp(high, 27)                    # exact, 0 <= low < 2^27
        index = (exponent[start:start + FSUM_BLOCK] - first).astype(np.int64)
        highs += np.bincount(index, weights=high, minlength=size)
        lows += np.bincount(index, weights=low, minlength=size)
    highs, lows = highs.tolist(), lows.tolist()
    total = 0                               # the sum times 2^(53 - first)
    for i, (h, l) in enumerate(zip(highs, lows)):
        if h or l:
            total += ((int(h) << 27) + int(l)) << i
    shift = first - 53
    return Fraction(total << shift) if shift >= 0 else Fraction(total, 1 << -shift)


def _affine_at_centres(nodal, n: int, t, coarse, order, dim: int):
    """`A(z)` and `∇A` (mid, rad) at each expansion centre `z`, `A` the interpolant on the
    coarse simplex `(coarse cell, order)` (extended affinely), with `t = z n - cell` given
    (exact floats: `m`, `k` are powers of two): `A = v_0 + Σ_j (v_{j+1} - v_j) t_{π_j}`.
    Nodal values are rounded to floats with one ulp; each float operation adds its
    rounding error to the radius."""
    vm, vr = nodal
    shape = vm.shape
    vm, vr = vm.ravel(), vr.ravel()             # vertices by linear index
    stride = np.array([math.prod(shape[a + 1:]) for a in range(dim)], dtype=np.int64)
    rows = np.arange(len(coarse))
    vertex = np.ravel_multi_index(tuple(coarse.T), shape)
    value_m, value_r = vm[vertex], vr[vertex]
    prev_m, prev_r = value_m, value_r
    gm = np.zeros((len(coarse), dim))
    gr = np.zeros((len(coarse), dim))
    for j in range(dim):
        axis = order[:, j]
        vertex = vertex + stride[axis]
        next_m, next_r = vm[vertex], vr[vertex]
        step_m = next_m - prev_m
        step_r = next_r + prev_r + np.abs(step_m) * _U
        gm[rows, axis] = step_m * n
        gr[rows, axis] = step_r * n + np.abs(step_m * n) * _U
        t_axis = t[rows, axis]
        term_m = step_m * t_axis
        term_r = step_r * np.abs(t_axis) + np.abs(term_m) * _U
        value_m, value_r = value_m + term_m, value_r + term_r
        value_r = value_r + np.abs(value_m) * _U
        prev_m, prev_r = next_m, next_r
    return value_m, _inflate(value_r, 4 * dim + 4), gm, _inflate(gr, 4)


def _nodal(nodes):
    """Nodal values (exact rationals, or a `nodal.Nodal`) as (mid, rad) float arrays of the
    grid's shape: the nearest float and one ulp of it (`bernstein._exact_mid_rad`)."""
    if hasattr(nodes, "floats"):            # a Nodal: whole-array integer work
        mid = nodes.floats()[0]
        return mid.reshape(nodes.shape), (np.abs(mid) * 2.0 ** -52 + 2.0 ** -1074
                                           ).reshape(nodes.shape)
    flat = [v if type(v) is Fraction else Fraction(v)
            for v in np.asarray(nodes, dtype=object).ravel().tolist()]
    mid, rad = _exact_mid_rad(flat)
    shape = np.asarray(nodes, dtype=object).shape
    return mid.reshape(shape), rad.reshape(shape)
