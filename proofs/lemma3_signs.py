"""Lemma 3 (neighbours agree in sign), over real variables.

Setting: nodes z, z' whose stars share a point p (true for the two ends of an edge of the
triangulation: the midpoint of the edge has φ_z = φ_z' = 1/2, checked exactly below), a
value ρ = r(p), certified bounds `lo_z <= ρ <= hi_z`, `lo_z' <= ρ <= hi_z'`, `θ >= 0` and the
coefficients of docs/theory.md §3:

    c = max(0, lo - θw) if lo > 0;  min(0, hi + θw) if hi < 0;  0 otherwise   (w = hi - lo).

Claims (z3, θ symbolic, nonlinear real arithmetic):

1. `c_z c_z' >= 0`.
2. `|c_z - c_z'| <= (1+θ) max(w_z, w_z')` (hence `<= (1+θ) W_ℓ`), one query per sign pattern
   of `(c_z, c_z')` (the nine patterns are exhaustive), plus the two sub-cases of "positive
   next to zero" that the written proof must treat (straddling bounds `lo' <= 0 <= hi'`,
   and `0 < lo' <= θw'` clipped to 0).
3. With the *optional adaptivity* of docs/theory.md §3 (a node may be skipped, c = 0, when
   `max(|lo|, |hi|) <= tol`), claim 2 is FALSE: z3 exhibits a counterexample (re-checked
   exactly); the corrected bound `|c_z - c_z'| <= max((1+θ) max(w_z, w_z'), tol)` is proved,
   and so is the original bound when a node may be skipped only if also
   `max(|lo_z|, |hi_z|) <= (1+θ) w_z` (a proposed fix). Claim 1 survives adaptivity.
"""

from __future__ import annotations

import itertools
import sys
from fractions import Fraction as F
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import z3

from certify.engine.freudenthal import cell_simplices, hat, simplex_vertices
from proofs._common import Result, exact, exhibit, main, refute


def coef_term(lo, hi, theta):
    """docs/theory.md §3 coefficient as a z3 term."""
    w = hi - lo
    pos = z3.If(lo - theta * w > 0, lo - theta * w, 0)
    neg = z3.If(hi + theta * w < 0, hi + theta * w, 0)
    return z3.If(lo > 0, pos, z3.If(hi < 0, neg, z3.RealVal(0)))


def coefficient(lo: F, hi: F, theta: F) -> F:
    """docs/theory.md §3 coefficient, exactly (for re-checking witnesses)."""
    w = hi - lo
    if lo > 0:
        return max(F(0), lo - theta * w)
    if hi < 0:
        return min(F(0), hi + theta * w)
    return F(0)


def setting(skip: bool = False, restricted: bool = False):
    lo1, hi1, lo2, hi2, theta, rho, tol = z3.Reals("lo1 hi1 lo2 hi2 theta rho tol")
    s1, s2 = z3.Bools("skip1 skip2")
    hyps = [theta >= 0, lo1 <= rho, rho <= hi1, lo2 <= rho, rho <= hi2]
    c1, c2 = coef_term(lo1, hi1, theta), coef_term(lo2, hi2, theta)
    if skip:
        hyps += [tol >= 0]
        for s, lo, hi in ((s1, lo1, hi1), (s2, lo2, hi2)):
            hyps.append(z3.Implies(s, z3.And(z3.Abs(lo) <= tol, z3.Abs(hi) <= tol)))
            if restricted:     # proposed fix: skip only where the star is already within (1+θ)w
                hyps.append(z3.Implies(s, z3.And(z3.Abs(lo) <= (1 + theta) * (hi - lo),
                                                 z3.Abs(hi) <= (1 + theta) * (hi - lo))))
        c1, c2 = z3.If(s1, z3.RealVal(0), c1), z3.If(s2, z3.RealVal(0), c2)
    w1, w2 = hi1 - lo1, hi2 - lo2
    wmax = z3.If(w1 > w2, w1, w2)
    vars_ = [lo1, hi1, lo2, hi2, theta, rho] + ([tol, s1, s2] if skip else [])
    return dict(hyps=hyps, c1=c1, c2=c2, w1=w1, w2=w2, wmax=wmax, theta=theta, rho=rho,
                lo1=lo1, hi1=hi1, lo2=lo2, hi2=hi2, tol=tol, vars=vars_)


def sign_claim(skip=False):
    s = setting(skip)
    return refute("c_z · c_z' >= 0" + (" (with adaptive skipping)" if skip else ""),
                  s["hyps"], s["c1"] * s["c2"] >= 0, variables=s["vars"])


SIGN_PATTERNS = {("<", "<"): "both negative", ("<", "="): "negative next to zero",
                 ("<", ">"): "opposite signs (impossible)", ("=", "<"): "zero next to negative",
                 ("=", "="): "both zero", ("=", ">"): "zero next to positive",
                 (">", "<"): "opposite signs (impossible)", (">", "="): "positive next to zero",
                 (">", ">"): "both positive"}


def _sign(c, rel):
    return {"<": c < 0, "=": c == 0, ">": c > 0}[rel]


def bound_claim(pattern: tuple[str, str] | None = None, subcase: str | None = None):
    """The bound on one sign pattern of (c_z, c_z') (the 9 patterns are exhaustive), or on a
    sub-case of 'positive next to zero' as in the written proof."""
    s = setting()
    hyps = list(s["hyps"])
    th = s["theta"]
    if pattern is not None:
        hyps += [_sign(s["c1"], pattern[0]), _sign(s["c2"], pattern[1])]
        case = f"c_z {pattern[0]} 0, c_z' {pattern[1]} 0: {SIGN_PATTERNS[pattern]}"
    elif subcase == "straddle":
        hyps += [s["c1"] > 0, s["lo2"] <= 0, s["hi2"] >= 0]
        case = "positive next to zero by straddling (lo' <= 0 <= hi')"
    else:
        hyps += [s["c1"] > 0, s["lo2"] > 0, s["lo2"] - th * s["w2"] <= 0]
        case = "positive next to zero by clipping (0 < lo' <= θw')"
    return refute(f"|c_z - c_z'| <= (1+θ) max(w_z, w_z')  [{case}]", hyps,
                  z3.Abs(s["c1"] - s["c2"]) <= (1 + th) * s["wmax"], variables=s["vars"])


def _recheck_skip(w: dict) -> bool:
    """Exact re-check of a skipping counterexample to the uncorrected bound."""
    lo1, hi1, lo2, hi2, th, rho, tol = (w[k] for k in ("lo1", "hi1", "lo2", "hi2", "theta", "rho", "tol"))
    s1, s2 = w["skip1"], w["skip2"]
    if not (th >= 0 and tol >= 0 and lo1 <= rho <= hi1 and lo2 <= rho <= hi2):
        return False
    for s, lo, hi in ((s1, lo1, hi1), (s2, lo2, hi2)):
        if s is True and not (abs(lo) <= tol and abs(hi) <= tol):
            return False
    c1 = F(0) if s1 is True else coefficient(lo1, hi1, th)
    c2 = F(0) if s2 is True else coefficient(lo2, hi2, th)
    return abs(c1 - c2) > (1 + th) * max(hi1 - lo1, hi2 - lo2)


def skip_breaks_bound():
    s = setting(skip=True)
    return exhibit("with adaptive skipping, |c_z - c_z'| <= (1+θ) max(w_z, w_z') FAILS (witness)",
                   s["hyps"] + [z3.Not(z3.Abs(s["c1"] - s["c2"]) <= (1 + s["theta"]) * s["wmax"])],
                   variables=s["vars"], recheck=_recheck_skip)


def skip_corrected():
    s = setting(skip=True)
    bound = (1 + s["theta"]) * s["wmax"]
    bound = z3.If(bound > s["tol"], bound, s["tol"])
    return refute("with adaptive skipping: |c_z - c_z'| <= max((1+θ) max(w_z, w_z'), tol)",
                  s["hyps"], z3.Abs(s["c1"] - s["c2"]) <= bound, variables=s["vars"])


def skip_restricted():
    s = setting(skip=True, restricted=True)
    return refute("skipping only nodes with max(|lo|,|hi|) <= (1+θ)w: |c_z - c_z'| <= (1+θ) max(w_z, w_z')",
                  s["hyps"], z3.Abs(s["c1"] - s["c2"]) <= (1 + s["theta"]) * s["wmax"], variables=s["vars"])


def edges_share_a_point(d: int, h: F = F(1, 2)):
    """Every edge [z, z'] of a Freudenthal simplex: midpoint m has φ_z(m) = φ_z'(m) = 1/2 > 0."""
    for cell in itertools.product(range(2), repeat=d):
        for simplex in cell_simplices(cell):
            verts = [tuple(h * k for k in v) for v in simplex_vertices(simplex)]
            for a, b in itertools.combinations(verts, 2):
                m = tuple((ai + bi) / 2 for ai, bi in zip(a, b))
                if not (hat(a, h, m) == hat(b, h, m) == F(1, 2)):
                    return False, {"edge": (a, b), "midpoint": m}
    return True


def prove() -> Result:
    res = Result("Lemma 3 (neighbours agree in sign)",
                 "for nodes sharing an edge: c_z c_z' >= 0 and |c_z - c_z'| <= (1+θ) max(w_z, w_z') "
                 "<= (1+θ) W_ℓ (without adaptive skipping; with it, max(.., tol)).")
    for d in (1, 2, 3):
        res.add(exact(f"d={d}: the ends of every edge have a common star point (midpoint, φ = 1/2 each)",
                      lambda d=d: edges_share_a_point(d)))
    res.add(sign_claim())
    for pattern in SIGN_PATTERNS:
        res.add(bound_claim(pattern))
    for subcase in ("straddle", "clip"):
        res.add(bound_claim(subcase=subcase))
    res.add(sign_claim(skip=True))
    res.add(skip_breaks_bound())
    res.add(skip_corrected())
    res.add(skip_restricted())
    return res


if __name__ == "__main__":
    main(prove)
