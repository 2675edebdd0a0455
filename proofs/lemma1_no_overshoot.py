"""Lemma 1 (sign-preserving, no overshoot), in real arithmetic.

Hypotheses, for every node z: `c_z = 0`, or `0 < c_z <= r` on `S_z`, or `r <= c_z < 0` on
`S_z`. Only their pointwise consequence at the point x is used (which makes the proved
statement stronger): `φ_z(x) > 0` (i.e. x ∈ S_z) implies `c_z <= r(x)` resp. `r(x) <= c_z`.
Conclusion: with `e_0 = r`, `e_j = e_{j-1} - c_{z_j} φ_{z_j}` along a sequence of *distinct*
nodes, every `e_j(x)` lies (closed) between 0 and `e_{j-1}(x)`.

Three encodings, all z3 (real arithmetic):

* abstract (nonlinear, `c_i · φ_i` is a product): k = 1..4 hats, the values `φ_i = φ_{z_i}(x)`
  real variables with only the facts the proof uses, `φ_i >= 0` and `Σ φ_i <= 1` (a sub-sum of
  the partition of unity, Lemma P), and any order. Nodes with `φ_z(x) = 0` leave `e`
  unchanged, and at most d+1 hats are positive at a point (Lemma P: the vertices of a
  simplex containing x), so k <= 4 covers every grid and every node order for d <= 3.
* direct (nonlinear): the actual hat formulas around a point where stars overlap, x a real
  variable: d = 1, three consecutive nodes (h = 1/4), in two orders; d = 2, the three
  vertices of one Freudenthal simplex, x in the whole cell.
* linearised (linear, fast, whole grids): the problem is homogeneous in (r, c), so r ∈ {-1,0,1}
  after scaling by 1/|r|, and `u_z = c_z φ_z(x)/|r|` lies between 0 and `sign(r) φ_z(x)`, with
  `u_z = 0` where `φ_z(x) = 0` (this reduction is itself proved by z3 below). Then the actual
  hat formulas on whole grids (d=1: 5 nodes; d=2: 3x3 and 5x5; d=3: 3x3x3), all nodes, in
  lexicographic order (and reversed order for the smaller grids), x a real variable in the cube.

`prove(extended=True)` (or `python proofs/lemma1_no_overshoot.py --extended`) adds slower
nonlinear instances (abstract k = 5; direct d = 1 with 5 nodes on [0,1]; direct d = 2 with the
four corners of a cell; reversed order on the larger grids), each a few seconds to a minute.

`slack` weakens the hypothesis to `c_z <= slack · r` (resp. `slack · r <= c_z`); with
slack = 2 the solver must find a counterexample (tests/test_proofs.py re-checks it exactly).
"""

from __future__ import annotations

import sys
from fractions import Fraction as F
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import z3

from certify.engine.freudenthal import hat, nodes
from proofs._common import Result, exhibit, frac, hat_term, in_box, lies_between_zero_and, main, refute


def coefficient_hypothesis(c, phi, r, slack=1) -> z3.BoolRef:
    """`c = 0`, or `c > 0` and (x ∈ S_z ⟹ c <= slack·r), or `c < 0` and (x ∈ S_z ⟹ slack·r <= c)."""
    s = frac(slack)
    return z3.Or(c == 0,
                 z3.And(c > 0, z3.Implies(phi > 0, c <= s * r)),
                 z3.And(c < 0, z3.Implies(phi > 0, s * r <= c)))


def _chain(r, cs, phis):
    es = [r]
    for c, phi in zip(cs, phis):
        es.append(es[-1] - c * phi)
    return es


def abstract(k: int, slack=1):
    r = z3.Real("r")
    phis = [z3.Real(f"phi{i}") for i in range(k)]
    cs = [z3.Real(f"c{i}") for i in range(k)]
    hyps = [p >= 0 for p in phis] + [z3.Sum(phis) <= 1]
    hyps += [coefficient_hypothesis(c, p, r, slack) for c, p in zip(cs, phis)]
    es = _chain(r, cs, phis)
    concl = z3.And(*[lies_between_zero_and(es[j], es[j - 1]) for j in range(1, k + 1)])
    name = f"abstract, k={k} hats (φ_i >= 0, Σφ_i <= 1): e_j between 0 and e_(j-1), j=1..{k}"
    if slack != 1:
        name += f" [WEAKENED: c <= {slack}·r]"
    return refute(name, hyps, concl, variables=[r] + phis + cs)


def grid_order(d: int, n: int, reverse: bool = False):
    order = sorted(nodes(d, n))
    return order[::-1] if reverse else order


def direct(d: int, points, h, box, slack=1, label=""):
    """The actual hat formulas at `points` (a node sequence), x ∈ box^d, r and c_z real."""
    x = [z3.Real(f"x{i}") for i in range(d)]
    r = z3.Real("r")
    cs = [z3.Real(f"c{i}") for i in range(len(points))]
    phis = [hat_term(z, h, x) for z in points]
    hyps = in_box(x, *box) + [coefficient_hypothesis(c, p, r, slack) for c, p in zip(cs, phis)]
    es = _chain(r, cs, phis)
    concl = z3.And(*[lies_between_zero_and(es[j], es[j - 1]) for j in range(1, len(es))])
    name = (f"direct d={d}, nodes {[tuple(map(str, z)) for z in points]}, h={h}, "
            f"x ∈ [{box[0]},{box[1]}]^{d}: e_j between 0 and e_(j-1)") + label
    if slack != 1:
        name += f" [WEAKENED: c <= {slack}·r]"
    return refute(name, hyps, concl, variables=x + [r] + cs)


def recheck_direct(points, h, cex: dict, slack=1) -> bool:
    """Exact re-check of a model of `direct`: True iff it satisfies the (possibly weakened)
    hypotheses and violates the conclusion, with φ computed by certify's `hat` in Fractions."""
    d = len(points[0])
    x = [cex[f"x{i}"] for i in range(d)]
    r = cex["r"]
    cs = [cex[f"c{i}"] for i in range(len(points))]
    if not all(isinstance(v, F) for v in x + [r] + cs):
        return False
    phis = [hat(z, h, x) for z in points]
    for c, p in zip(cs, phis):
        ok = c == 0 or (c > 0 and (p == 0 or c <= slack * r)) or (c < 0 and (p == 0 or slack * r <= c))
        if not ok:
            return False
    e = r
    for c, p in zip(cs, phis):
        nxt = e - c * p
        if not ((e >= 0 and 0 <= nxt <= e) or (e <= 0 and e <= nxt <= 0)):
            return True                     # genuine overshoot (or sign change)
        e = nxt
    return False


def reduction():
    """The linearisation is sound: for r ≠ 0, φ >= 0 and an admissible c, u = cφ/|r| lies between
    0 and sign(r)·φ, and u = 0 when φ = 0; for r = 0 an admissible c has cφ = 0."""
    r, c, phi = z3.Reals("r c phi")
    hyps = [phi >= 0, coefficient_hypothesis(c, phi, r)]
    u = c * phi / z3.If(r > 0, r, -r)
    sgn_phi = z3.If(r > 0, phi, -phi)
    concl = z3.And(z3.Implies(r != 0, z3.Or(z3.And(0 <= u, u <= sgn_phi), z3.And(sgn_phi <= u, u <= 0))),
                   z3.Implies(r != 0, z3.Implies(phi == 0, u == 0)),
                   z3.Implies(r == 0, c * phi == 0))
    return refute("linearisation: admissible c ⟹ u = cφ/|r| between 0 and sign(r)φ (u = 0 off the star)",
                  hyps, concl, variables=[r, c, phi])


def linearised(d: int, n: int, reverse: bool = False):
    h = F(1, n)
    order = grid_order(d, n, reverse)
    x = [z3.Real(f"x{i}") for i in range(d)]
    s = z3.Real("sign_r")
    us = [z3.Real("u_" + "_".join(map(str, node))) for node in order]
    phis = [hat_term(tuple(h * k for k in node), h, x) for node in order]
    hyps = in_box(x) + [z3.Or(s == 1, s == -1, s == 0)]
    for u, p in zip(us, phis):
        sp = z3.If(s == 1, p, z3.If(s == -1, -p, z3.RealVal(0)))
        hyps.append(z3.Or(z3.And(p == 0, u == 0),
                          z3.And(p > 0, z3.Or(z3.And(0 <= u, u <= sp), z3.And(sp <= u, u <= 0)))))
    es = [s]
    for u in us:
        es.append(es[-1] - u)
    concl = z3.And(*[lies_between_zero_and(es[j], es[j - 1]) for j in range(1, len(es))])
    return refute(f"linearised grid d={d}, {n + 1}^{d} nodes, h={h}, "
                  f"{'reversed' if reverse else 'lexicographic'} order, x ∈ [0,1]^{d}: "
                  f"e_j between 0 and e_(j-1) for all j", hyps, concl, variables=x + [s] + us)


def repeated_node_overshoots():
    """Distinctness is needed: the same hat subtracted twice overshoots (witness, re-checked)."""
    z, h = (F(0),), F(1, 4)
    points = [z, z]
    x, r = z3.Real("x0"), z3.Real("r")
    c0, c1 = z3.Reals("c0 c1")
    phi = hat_term(z, h, [x])
    hyps = in_box([x]) + [coefficient_hypothesis(c, phi, r) for c in (c0, c1)] + [c0 == c1]
    es = _chain(r, [c0, c1], [phi, phi])
    bad = z3.Not(z3.And(*[lies_between_zero_and(es[j], es[j - 1]) for j in (1, 2)]))
    return exhibit("distinctness is needed: node 0 used twice (same c) overshoots (witness)",
                   hyps + [bad], variables=[x, r, c0, c1],
                   recheck=lambda w: recheck_direct(points, h, w))


def prove(extended: bool = False) -> Result:
    res = Result("Lemma 1 (no overshoot)",
                 "if each c_z is 0 or has the sign of r and |c_z| <= |r| on S_z, then along any "
                 "sequence of distinct nodes e_j lies between 0 and e_(j-1) pointwise.")
    for k in range(1, 5 + extended):
        res.add(abstract(k))
    q = F(1, 4)
    res.add(direct(1, [(F(0),), (q,), (2 * q,)], q, (0, 2 * q)))
    res.add(direct(1, [(q,), (2 * q,), (F(0),)], q, (0, 2 * q)))
    h = F(1, 2)
    res.add(direct(2, [(F(0), F(0)), (h, F(0)), (h, h)], h, (0, h)))
    res.add(reduction())
    res.add(repeated_node_overshoots())
    for d, n, reverse in [(1, 4, False), (1, 4, True), (2, 2, False), (2, 2, True),
                          (2, 4, False), (3, 2, False)]:
        res.add(linearised(d, n, reverse))
    if extended:
        res.add(linearised(2, 4, True))
        res.add(linearised(3, 2, True))
    if extended:
        res.add(direct(1, [(k * q,) for k in range(5)], q, (0, 1)))
        res.add(direct(2, [(F(0), F(0)), (F(0), h), (h, F(0)), (h, h)], h, (0, h)))
    return res


if __name__ == "__main__":
    main(lambda: prove(extended="--extended" in sys.argv[1:]))
