"""`L^p` integrals from Taylor models (`certify.engine.taylor`): they contain the exact integrals
(exact rationals for polynomial targets, high-precision quadrature for transcendental
ones), are tight, and a slightly wrong value falls outside them."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import mpmath
import numpy as np
import pytest
import sympy

from certify.engine import bernstein, taylor, work_units
from certify.construction import build
from certify.engine.freudenthal import cell_simplices, simplex_vertices
from certify.certificates.checker import check
from certify.target import load_target, target_from_expression

from checker_helpers import example


def _grid(target, n, shift):
    """Nodal values `f(node) + shift(node)` (exact) on the grid of `n` cells an edge."""
    xs = target.symbols
    nodes = np.empty((n + 1,) * target.dim, dtype=object)
    for index in itertools.product(range(n + 1), repeat=target.dim):
        point = [sympy.Rational(i, n) for i in index]
        value = sympy.nsimplify(target.expr.subs(dict(zip(xs, point))))
        nodes[index] = Fraction(int(value.p), int(value.q)) + shift(index)
    return nodes


def _simplices(dim, n):
    """Vertex indices of every simplex of the grid with `n` cells an edge."""
    for cell in itertools.product(range(n), repeat=dim):
        for simplex in cell_simplices(cell):
            yield simplex_vertices(simplex)


def _exact_integrals(target, nodes, n):
    """Exact `∫e` and `∫e^2` over [0,1]^d, `e = f - F` (polynomial `f`), by the simplex
    moment formula `∫_Δ λ^α = α! / (|α| + d)!` in barycentric coordinates."""
    dim, xs = target.dim, target.symbols
    lam = sympy.symbols(f"l1:{dim + 1}")
    first = second = sympy.Integer(0)
    for vertices in _simplices(dim, n):
        points = [[sympy.Rational(c, n) for c in v] for v in vertices]
        x = [points[0][i] + sum(lam[j] * (points[j + 1][i] - points[0][i]) for j in range(dim))
             for i in range(dim)]
        values = [nodes[v] for v in vertices]
        affine = sympy.Rational(values[0].numerator, values[0].denominator) + sum(
            lam[j] * sympy.Rational(values[j + 1] - values[0]) for j in range(dim))
        e = sympy.expand(target.expr.subs(dict(zip(xs, x)), simultaneous=True) - affine)
        jac = sympy.Rational(1, n ** dim)        # |det| of the edge matrix of a Kuhn simplex
        for power, acc in ((1, "first"), (2, "second")):
            poly = sympy.Poly(sympy.expand(e ** power), *lam)
            total = sum(c * math.prod(math.factorial(a) for a in m)
                        / sympy.factorial(sum(m) + dim) for m, c in poly.terms())
            if acc == "first":
                first += jac * total
            else:
                second += jac * total
    return Fraction(str(first)), Fraction(str(second))


def _exact_and_found(target, nodes, n):
    """`(p, exact ∫|e|^p, found bounds)` for p = 1, 2 (e > 0), each exact value inside."""
    first, second = _exact_integrals(target, nodes, n)
    found = _run(target, nodes, n)
    for p, exact in ((1, first), (2, second)):
        low, high = found[p]
        assert low <= exact <= high, (p, low, exact, high)
        yield p, exact, (low, high)


def _run(target, nodes, n, ps=(Fraction(1), Fraction(2))):
    dim = target.dim
    perms = list(itertools.permutations(range(dim)))
    shape = (len(perms),) + (n,) * dim
    lo, hi = np.full(shape, -np.inf), np.full(shape, np.inf)       # no other information
    return taylor.grade_integrals(target, nodes, n, perms, lo, hi, ps)


@pytest.mark.parametrize("expr, n", [("x1**4 - x1/3", 8),                  # d = 1
                                     ("x1**3 - x1*x2**2/2 + x2/3", 4),
                                     ("x1*x2*x3 + x1**2 - x3**3/2", 2),
                                     ("x1**4*x2 + x2**2", 4)])     # quartic: a remainder
def test_polynomial_targets_contain_the_exact_integrals(expr, n):
    target = target_from_expression(expr)
    # e = f - F = (f - interpolant) + 1/4 > 0: ∫|e| = ∫e, exactly known
    nodes = _grid(target, n, lambda index: Fraction(-1, 4))
    for p, exact, (low, high) in _exact_and_found(target, nodes, n):
        assert high <= low * Fraction(10001, 10000)
        # a slightly wrong enclosure would be caught
        assert not low <= exact * Fraction(1001, 1000) <= high


def test_sign_changing_residual_squares_are_exact_and_absolute_values_bounded():
    target = target_from_expression("x1**3 - x1*x2**2/2 + x2/3")
    n = 4
    nodes = _grid(target, n, lambda index: Fraction((-1) ** sum(index), 50))
    first, second = _exact_integrals(target, nodes, n)
    found = _run(target, nodes, n)
    assert found[2][0] <= second <= found[2][1]
    assert found[2][1] <= found[2][0] * Fraction(10001, 10000)
    assert found[1][0] <= found[1][1] and abs(first) <= found[1][1]
    assert found[1][1] <= found[1][0] * Fraction(105, 100)


def test_transcendental_target_contains_the_quadrature():
    target = target_from_expression("sin(3*x1)*exp(x2)")
    n = 2
    f = sympy.lambdify(target.symbols, target.expr, "mpmath")
    nodes = np.empty((n + 1, n + 1), dtype=object)
    for i, j in itertools.product(range(n + 1), repeat=2):
        nodes[i, j] = Fraction(mpmath.nstr(f(mpmath.mpf(i) / n, mpmath.mpf(j) / n), 12)) \
            - Fraction(1, 10)
    found = _run(target, nodes, n, ps=(Fraction(2),))
    total = mpmath.mpf(0)
    with mpmath.workdps(20):
        for vertices in _simplices(2, n):
            (a0, b0), (a1, b1), (a2, b2) = [(mpmath.mpf(u) / n, mpmath.mpf(v) / n)
                                             for u, v in vertices]
            v0, v1, v2 = [mpmath.mpf(nodes[v].numerator) / nodes[v].denominator
                          for v in vertices]

            def e2(s, t):                      # x = P0 + s (P1 - P0) + t (P2 - P1)
                x, y = a0 + s * (a1 - a0) + t * (a2 - a1), b0 + s * (b1 - b0) + t * (b2 - b1)
                return (f(x, y) - (v0 + s * (v1 - v0) + t * (v2 - v1))) ** 2
            total += mpmath.quad(lambda s: mpmath.quad(lambda t: e2(s, t), [0, s]),
                                 [0, 1]) / n ** 2
    low, high = found[2]
    assert float(low) <= float(total) * (1 + 1e-12) and float(total) <= float(high) * (1 + 1e-12)
    assert high <= low * Fraction(1001, 1000)


@pytest.mark.parametrize("blocks", [False, True])
def test_one_dimensional_norms_are_tight(blocks, monkeypatch):
    """d = 1, split cells or (past MAX_CELLS, forced here on coarse grids) blocks of cells
    sharing one expansion: the norms are within 0.1%, and within the enclosures of the Arb
    path (`certify.engine.lp`). (Forcing blocks also starves the coarse grades of sub-cells: only
    containment is asserted there.)"""
    target = load_target(example("sine"))
    network = build(target, 7)
    if blocks:
        monkeypatch.setitem(taylor.MAX_SUBCELLS, 1, 64)
        monkeypatch.setitem(taylor.MAX_CELLS, 1, 32)
    report = check(target, network)
    monkeypatch.setattr(taylor, "_PROGRAMS", {})
    monkeypatch.setattr(taylor, "applies", lambda target: False)
    monkeypatch.setattr(taylor, "_program", lambda target: None)
    reference = check(target, network)                  # certified 1-D integrals of lp
    for g, ref in zip(report.grades, reference.grades):
        for r, q in zip(g.lp, ref.lp):
            if not blocks or g.grade == len(report.grades):     # the grade in blocks
                assert r.norm_upper <= Fraction(1001, 1000) * r.norm_lower, (g.grade, r.p)
            assert r.norm_lower <= q.norm_upper and q.norm_lower <= r.norm_upper


def test_non_analytic_targets_are_left_to_the_other_enclosures():
    assert not taylor.applies(target_from_expression("Abs(x1 - x2) + x1"))
    assert not taylor.applies(target_from_expression("sqrt(x1 + x2 + 1)"))
    assert taylor.applies(target_from_expression("exp(-x1**2 - x2**2)"))


def test_checked_norms_in_three_dimensions_are_tight():
    target = load_target(example("smooth3d"))      # peaks2d: tests/test_reports.py
    report = check(target, build(target, 2))
    for g in report.grades:
        for r in g.lp:
            assert r.norm_lower > 0
            assert r.norm_upper <= Fraction(101, 100) * r.norm_lower, (g.grade, r.p)


@pytest.mark.parametrize("expr, n", [("x1**3 - x1*x2**2/2 + x2/3", 8),
                                     ("x1*x2*x3 + x1**2 - x3**3/2", 2),
                                     ("x1**4*x2 + x2**2", 4)])
def test_blocks_of_cells_sharing_one_expansion_contain_the_exact_integrals(expr, n,
                                                                          monkeypatch):
    target = target_from_expression(expr)
    monkeypatch.setitem(taylor.MAX_SUBCELLS, target.dim, 1)
    monkeypatch.setitem(taylor.MAX_CELLS, target.dim, (n // 2) ** target.dim)
    assert taylor.split_for(target.dim, n) == (1, 2)
    nodes = _grid(target, n, lambda index: Fraction(-1, 4))
    for p, exact, (low, high) in _exact_and_found(target, nodes, n):
        if sympy.Poly(target.expr, *target.symbols).total_degree() <= 3:    # no remainder
            assert high <= low * Fraction(1001, 1000)


@pytest.mark.parametrize("lost", ["every other cell", "every cell"])
def test_cells_the_float_intervals_cannot_enclose_are_done_in_arb(lost, monkeypatch):
    """Float-interval results that are not finite (NaN: "not enclosed") fall back to Arb
    cell by cell; the bounds still contain the exact integrals."""
    target = target_from_expression("x1**3 - x1*x2**2/2 + x2/3")
    original, calls = taylor._DerivativeProgram.intervals, []

    def spoiled(self, key, x):
        out = original(self, key, x)
        count = len(np.broadcast_to(x[0].lo, np.shape(x[0].lo)))
        drop = np.arange(count) % 2 == 0 if lost == "every other cell" else np.ones(count, bool)
        return [type(v)(np.where(drop, np.nan, v.lo), np.where(drop, np.nan, v.hi)) for v in out]

    def counted(self, key, x):
        calls.append(key)
        return original_balls(self, key, x)
    original_balls = taylor._DerivativeProgram.balls
    monkeypatch.setattr(taylor, "_PROGRAMS", {})          # nothing kept from other tests
    monkeypatch.setattr(taylor, "VALUE_MARGIN", 0)     # no Arb point coefficients else
    monkeypatch.setattr(taylor._DerivativeProgram, "intervals", spoiled)
    monkeypatch.setattr(taylor._DerivativeProgram, "balls", counted)
    n = 4
    nodes = _grid(target, n, lambda index: Fraction(-1, 4))
    results = list(_exact_and_found(target, nodes, n))
    cells = (n * taylor.split_for(2, n)[0]) ** 2
    assert calls.count("point") == (cells if lost == "every cell" else cells // 2)
    for p, exact, (low, high) in results:
        assert high <= low * Fraction(10001, 10000)


def test_float_intervals_become_mid_rad_pairs_that_contain_them():
    rng = np.random.default_rng(1)
    lo = np.concatenate([rng.normal(size=200) * 10.0 ** rng.integers(-300, 300, 200),
                         [0.0, -1e308, 5e-324, np.nan, -np.inf]])
    hi = np.concatenate([lo[:200] + np.abs(rng.normal(size=200)) * 10.0 ** rng.integers(
        -320, 300, 200), [0.0, 1e308, 5e-324, 1.0, 0.0]])
    hi = np.maximum(lo, hi)
    mid, rad = bernstein._to_mid_rad(lo, hi)
    for a, b, m, r in zip(lo.tolist(), hi.tolist(), mid.tolist(), rad.tolist()):
        if not (math.isfinite(a) and math.isfinite(b)):
            assert r == math.inf
            continue
        assert math.isfinite(r)
        assert Fraction(m) - Fraction(r) <= Fraction(a) and Fraction(b) <= Fraction(m) + Fraction(r)
    assert not np.isfinite(rad[-2:]).any()


def test_point_coefficients_on_fine_one_dimensional_grids_are_as_tight_as_arb():
    """d = 1, 8192 expansions: the remainder is below the float intervals' few ulps of
    |f|, so the coefficients at the centres come from Arb (one ulp or so) and still contain
    f(z); the expansions are kept for the next grade on the same grid."""
    target = load_target(example("sine"))
    program = taylor._program(target)
    E = 8192
    cm, cr, remainder = program.expansions_on(E, 1)
    assert program.expansions_on(E, 1)[0] is cm
    assert np.all(cr[:, 0] <= 4 * 2.0 ** -52)
    with mpmath.workdps(40):
        for c in (0, 1, 2047, 4095, 6000, 8191):
            z = mpmath.mpf(2 * c + 1) / (2 * E)
            exact = [mpmath.sin(2 * mpmath.pi * z), 2 * mpmath.pi * mpmath.cos(2 * mpmath.pi * z)]
            for j, value in enumerate(exact):
                assert abs(mpmath.mpf(cm[c, j]) - value) <= mpmath.mpf(cr[c, j])


@pytest.mark.parametrize("blocks", [False, True])
def test_integrals_in_parts_equal_the_whole(blocks, monkeypatch):
    """`--jobs` splits a grade's integrals into parts of its rounds (`integral_part`), one
    in a forked worker: joined (`joined_integrals`, exact sums rounded once) they are the
    very bounds of `grade_integrals`, with one piece per coarse simplex (`m = 1`: each
    round a unit) and with several (`m > 1`: all rounds one unit)."""
    target = target_from_expression("x1**4*x2 + x2**2 - x1/3")
    n = 8
    if blocks:
        monkeypatch.setitem(taylor.MAX_SUBCELLS, target.dim, 1)
        monkeypatch.setitem(taylor.MAX_CELLS, target.dim, (n // 2) ** target.dim)
        assert taylor.split_for(target.dim, n)[0] == 1
    else:
        assert taylor.split_for(target.dim, n)[0] > 1
    nodes = _grid(target, n, lambda index: Fraction(index[0] - index[1], 97))
    perms = list(itertools.permutations(range(target.dim)))
    shape = (len(perms),) + (n,) * target.dim
    lo, hi = np.full(shape, -np.inf), np.full(shape, np.inf)
    ps = (Fraction(1), Fraction(2))
    whole = taylor.grade_integrals(target, nodes, n, perms, lo, hi, ps)
    units = taylor.integral_units(target.dim, n)
    assert units == (2 ** target.dim * 2 if blocks else 1)
    parts = [taylor.integral_part(target, nodes, n, perms, lo, hi, ps, drawn)
             for drawn in (range(0, units, 3), [i for i in range(units) if i % 3])]
    assert whole is not None and taylor.joined_integrals(parts) == whole
    # a part left out does not tile the simplices: never taken for the whole
    with pytest.raises(AssertionError):
        taylor.joined_integrals(parts[:1] if blocks else parts[1:])
    # the units dealt (`work_units.Deal`) to a forked worker and to this process, whoever
    # draws which: the same whole
    with work_units.workers(2):
        deal = work_units.Deal(units)
        try:
            child = work_units.ahead(lambda: taylor.integral_part(target, nodes, n, perms, lo,
                                                                  hi, ps, deal))
            mine = taylor.integral_part(target, nodes, n, perms, lo, hi, ps, deal)
            assert taylor.joined_integrals([mine, child.result()]) == whole
        finally:
            deal.close()
