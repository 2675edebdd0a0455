"""The second-order proof (`certify.engine.curvature`) and the interior-box rule of
`certify.certificates.anchored_grid`: what they prove is true, and they can refuse."""

import itertools
import os
import sys
from fractions import Fraction as F

import numpy as np

from certify.certificates.anchored_grid import Grid, _meets
from certify.construction import build
from certify.engine import curvature
from certify.engine.freudenthal import simplex_vertices
from certify.target import load_target, target_from_expression

EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "examples")


def _nodal(target, n, shift=F(0)):
    """Exact nodal values `f(z) + shift` of a polynomial target on the grid `n`."""
    out = np.empty((n + 1,) * target.dim, dtype=object)
    for node in itertools.product(range(n + 1), repeat=target.dim):
        out[node] = target.exact(tuple(F(i, n) for i in node)) + shift
    return out


def _all_cells(n, dim):
    return np.array(list(itertools.product(range(n), repeat=dim)), dtype=np.int64)


def test_concave_interpolant_proved_convex_refused():
    """`f - I_T f >= 0` for concave `f` is proved on every simplex; for convex `f` the same
    claim is false inside every simplex and is never proved, its mirror always."""
    for text, true_sign in (("-(x1**2 + x2**2) + x1*x2/2", 1), ("x1**2 + x2**2 - x1*x2/2", -1)):
        target = target_from_expression(text)
        assert curvature.applies(target)
        n = 8
        values = _nodal(target, n)
        grid = Grid(target, n)
        cells = _all_cells(n, 2)
        for perm in itertools.permutations(range(2)):
            ones = np.ones(len(cells), dtype=np.int64)
            assert grid._curvature(perm, cells, true_sign * ones, values).all()
            assert not grid._curvature(perm, cells, -true_sign * ones, values).any()
            assert not grid.proves_cells(perm, cells, -true_sign * ones, values).any()


def test_not_for_kinks():
    """No second-order proof where `f` has kinks (the symbolic Hessian misses them)."""
    assert not curvature.applies(target_from_expression("abs(x1 - 1/3) + x2**2"))
    assert not curvature.applies(target_from_expression("x1**2"))      # d = 1: not used


def test_proved_claims_hold_at_sample_points():
    """On smooth3d with nodal values a little below / above `f`, every simplex the
    second-order proof decides satisfies the claim at sample points (floats, with slack)."""
    target = load_target(os.path.join(EXAMPLES, "smooth3d.py"))
    n = 8
    rng = np.random.default_rng(3)
    nodes = np.stack(np.meshgrid(*[np.arange(n + 1) / n] * 3, indexing="ij"), -1)
    exact = target.floats(nodes.reshape(-1, 3)).reshape((n + 1,) * 3)
    grid = Grid(target, n)
    cells = _all_cells(n, 3)
    decided = 0
    for sign in (1, -1):
        values = np.empty(exact.shape, dtype=object)
        for node in np.ndindex(exact.shape):
            values[node] = F(float(exact[node] - sign * rng.uniform(0, 2e-3)))
        for perm in itertools.permutations(range(3)):
            ok = grid._curvature(perm, cells, np.full(len(cells), sign), values)
            decided += int(ok.sum())
            for cell in cells[ok][:40]:
                verts = np.array([[float(F(c, n)) for c in v]
                                  for v in simplex_vertices((tuple(int(i) for i in cell), perm))])
                weights = rng.dirichlet(np.ones(4), size=50)
                points = weights @ verts
                a = weights @ np.array([float(values[tuple(int(round(c * n)) for c in v)])
                                        for v in verts])
                assert (sign * (target.floats(points) - a) >= -1e-12).all()
    assert decided > 0


def test_interior_boxes_cover_the_simplex():
    """The boxes `_meets` keeps (those meeting the simplex's interior) cover it."""
    rng = np.random.default_rng(0)
    for dim, k in ((2, 4), (3, 4)):
        subs = np.array(list(itertools.product(range(k), repeat=dim)))
        for perm in itertools.permutations(range(dim)):
            kept = subs[_meets(subs, perm)]
            for _ in range(200):
                x = np.sort(rng.uniform(0, 1, dim))[::-1]     # x_π0 >= x_π1 >= ...
                point = np.empty(dim)
                point[list(perm)] = x
                inside = ((kept <= point * k) & (point * k <= kept + 1)).all(axis=1)
                assert inside.any()


def test_mutation_past_the_surplus_is_refuted_in_3d():
    """On smooth3d (where the second-order proof runs), a coefficient pushed past the
    residual at its node is refuted by the checker, not proved."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from checker_helpers import residual_at_hat, set_coefficient
    from certify.certificates.checker import check
    target = load_target(os.path.join(EXAMPLES, "smooth3d.py"))
    network = build(target, 2)
    assert check(target, network).verdict == "proved"
    r = residual_at_hat(target, network, 2, 0)
    bad = set_coefficient(network, 2, 0, F(17, 16) * r)
    assert check(target, bad).grades[1].no_overshoot == "refuted"
