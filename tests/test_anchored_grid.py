"""The vertex-anchored proof on a whole grid at once (certify.certificates.anchored_grid) against the
Arb prover one simplex at a time (certify.certificates.anchored): never proves a false claim."""

import itertools
import os
from fractions import Fraction as F

import numpy as np
import pytest

from certify.certificates.anchored import Prover
from certify.certificates.anchored_grid import Grid
from certify.engine.freudenthal import cell_simplices, simplex_vertices
from certify.target import load_target

ROOT = os.path.join(os.path.dirname(__file__), os.pardir)


def _target(path):
    return load_target(os.path.join(ROOT, path))


def _interpolant(target, n, scale):
    """Nodal values `scale·f(z)` rounded to 2^-40 (a rational approximation)."""
    shape = (n + 1,) * target.dim
    values = np.empty(shape, dtype=object)
    for node in itertools.product(range(n + 1), repeat=target.dim):
        x = float(target.ball(tuple(F(i, n) for i in node)).mid())
        values[node] = F(round(scale * x * 2 ** 40), 2 ** 40)
    return values


def _sampled_sign_holds(target, simplex, n, values, sign) -> bool:
    """Float sampling (a sanity check, never a proof): sign·(f - A) >= -1e-9 on T."""
    vertices = [np.array(v, dtype=float) / n for v in simplex_vertices(simplex)]
    vals = [float(values[v]) for v in simplex_vertices(simplex)]
    rng = np.random.default_rng(0)
    weights = rng.dirichlet(np.ones(len(vertices)), size=200)
    points = weights @ np.array(vertices)
    f = target.floats(points)
    a = weights @ np.array(vals)
    return bool((sign * (f - a) >= -1e-9).all())


@pytest.mark.parametrize("path,n", [("examples/sine.py", 8), ("tests/targets/wave.py", 16),
                                    ("examples/peaks2d.py", 4), ("examples/smooth3d.py", 2)])
@pytest.mark.parametrize("scale", [F(1, 2), F(1), F(21, 20)])
def test_grid_proofs_are_sound_and_match_the_arb_prover(path, n, scale):
    target = _target(path)
    values = _interpolant(target, n, float(scale))
    grid = Grid(target, n)
    assert grid.applies
    prover = Prover(target, F(1, n))
    simplices, signs = [], []
    for cell in itertools.product(range(n), repeat=target.dim):
        for simplex in cell_simplices(cell):
            for sign in (1, -1):
                simplices.append(simplex)
                signs.append(sign)
    got = grid.proves(simplices, signs, values)
    arb = [prover.proves(s, values, g) for s, g in zip(simplices, signs)]
    for simplex, sign, ok in zip(simplices, signs, got):
        if ok:
            assert _sampled_sign_holds(target, simplex, n, values, sign), (simplex, sign)
    if scale > 1:       # sign·(f - A)(v) = -sign·f(v)/20 < 0 at such a vertex: never proved
        for simplex, sign, ok in zip(simplices, signs, got):
            if any(sign * values[v] > F(1, 100) for v in simplex_vertices(simplex)):
                assert not ok, (simplex, sign)
    # the same proof in floats: it agrees with Arb on nearly every simplex
    agree = sum(a == b for a, b in zip(got, arb))
    assert agree >= 0.95 * len(got), (agree, len(got))


def test_an_exact_zero_residual_is_proved():
    """sin 2πx interpolated at its zeros and peaks: ρ(v) = 0 exactly at the vertices."""
    target = _target("examples/sine.py")
    values = np.array([F(0), F(1), F(0), F(-1), F(0)], dtype=object)
    grid = Grid(target, 4)
    simplices = [((i,), (0,)) for i in range(4)]
    assert grid.proves(simplices, [1, 1, -1, -1], values) == [True] * 4
    assert grid.proves(simplices, [-1, -1, 1, 1], values) == [False] * 4
    over = values.copy()
    over[1] = F(1) + F(1, 2 ** 30)            # A(1/4) above f(1/4) = 1
    assert grid.proves(simplices[:2], [1, 1], over) == [False, False]


def test_unique_nodes_equals_numpy_unique():
    """`anchored_grid._unique_nodes` (marking the grid) gives what `np.unique` gives."""
    from certify.certificates.anchored_grid import _unique_nodes
    rng = np.random.default_rng(7)
    for shape in [(5,), (9, 9), (4, 4, 4)]:
        for count in (0, 1, 7, 300):
            linear = rng.integers(0, int(np.prod(shape)), size=count)
            ids, back = _unique_nodes(linear, shape)
            want_ids, want_back = np.unique(linear, return_inverse=True)
            assert np.array_equal(ids, want_ids) and np.array_equal(back, want_back.ravel())


def test_vertex_ids_equal_ravel_multi_index():
    """`anchored_grid._vertex_ids` gives the flat ids of `cells[:, None] + offsets`."""
    from certify.certificates.anchored_grid import _vertex_ids
    from certify.engine.vectorised import _perm_offsets
    rng = np.random.default_rng(3)
    for dim, n in [(1, 9), (2, 6), (3, 4)]:
        shape = (n + 1,) * dim
        cells = rng.integers(0, n, size=(25, dim))
        for perm in itertools.permutations(range(dim)):
            verts = cells[:, None, :] + np.array(_perm_offsets(perm))[None, :, :]
            want = np.ravel_multi_index(tuple(verts.reshape(-1, dim).T), shape)
            assert np.array_equal(_vertex_ids(cells, perm, shape), want)


def test_proof_memo_reuses_only_the_same_exact_question():
    """`proof_memo`: a proved simplex is answered again only for the same sign, a depth at
    least as large and the same exact vertex values (over any power of two); one vertex
    changed by 2^-44, another sign or a shallower depth is proved anew."""
    from certify.certificates.proof_memo import ProofMemo
    from certify.engine.nodal import Nodal
    target = _target("examples/peaks2d.py")
    rng = np.random.default_rng(5)
    n = 6
    num = rng.integers(-2 ** 40, 2 ** 40, size=(n + 1, n + 1))
    values = Nodal(num, 2 ** 44)
    cells = np.array([[1, 2], [3, 3], [0, 5]])
    signs = np.array([1, -1, 1])
    memo, reader = ProofMemo.of(target, n, (1, 0), values)
    memo.store(reader, cells[:2], signs[:2], 3)
    assert memo.known(reader, cells, signs, 3).tolist() == [True, True, False]
    assert memo.known(reader, cells, signs, 4).tolist() == [True, True, False]
    assert memo.known(reader, cells, signs, 2).tolist() == [False, False, False]
    assert memo.known(reader, cells, -signs, 3).tolist() == [False, False, False]
    same, reread = ProofMemo.of(target, n, (1, 0), Nodal(num * 4, 2 ** 46))
    assert same is memo and memo.known(reread, cells, signs, 3).tolist() == [True, True, False]
    moved = num.copy()
    moved[2, 3] += 1            # the last vertex of (cell (1, 2), chain (1, 0)): (1,2) (1,3) (2,3)
    _, other = ProofMemo.of(target, n, (1, 0), Nodal(moved, 2 ** 44))
    assert memo.known(other, cells, signs, 3).tolist() == [False, True, False]
    big = Nodal(num.astype(object) * 2 ** 70, 2 ** 114)    # Python-int numerators
    _, wide = ProofMemo.of(target, n, (1, 0), big)
    assert memo.known(wide, cells, signs, 3).tolist() == [True, True, False]
    assert ProofMemo.of(target, n, (1, 0), Nodal(num, 3 * 2 ** 44)) is None


def test_dyadic_ends_round_as_the_fractions():
    """`_arb_residual`'s integer path gives the floats `_down` / `_upward` give for the
    exact end points of the ball (`ball_bounds`), on balls near 0, tiny and ordinary."""
    import random
    from flint import arb, fmpq
    from certify.engine.rounding import (down as _down, down_dyadic as _down_dyadic,
                                         dyadic_ends as _dyadic_ends, up_dyadic as _up_dyadic,
                                         upward as _upward)
    from certify.engine.numbers import ball_bounds
    rng = random.Random(3)
    for _ in range(3000):
        x = F(rng.randint(-10 ** 30, 10 ** 30),
              rng.choice([3, 7, 2 ** rng.randint(0, 200), 10 ** rng.randint(0, 40)]))
        b = arb(fmpq(x.numerator, x.denominator))
        b = rng.choice([b - b, b]) + arb(0, rng.choice([0.0, 2.0 ** -1070, 1e-20, 3.5]))
        lo_n, hi_n, k = _dyadic_ends(b)
        lo, hi = ball_bounds(b)
        assert (F(lo_n) * F(2) ** k, F(hi_n) * F(2) ** k) == (lo, hi)
        assert (_down_dyadic(lo_n, k), _up_dyadic(hi_n, k)) == (_down(lo), _upward(hi))
