"""Exact numbers rounded outward to floats: rationals, dyadic integers and Arb balls.

`down(q) <= q <= upward(q)` for a rational `q`; `dyadic_ends(ball)` gives a ball's exact
end points as integers times a power of two, and `down_dyadic` / `up_dyadic` round those
to the very floats `down` / `upward` give for the same rationals, without making
`Fraction`s; `split(values)` writes each rational as its nearest float plus a remainder
enclosed in floats. The grid prover (`certificates.anchored_grid`) reads its exact vertex
values and Arb residuals through these.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from .intervals import step_down as _dn, step_up as _up


def down(q: Fraction) -> float:
    """A float <= the rational `q`."""
    x = float(q)
    return x if Fraction(x) <= q else float(_dn(x))


def dyadic_ends(ball) -> tuple[int, int, int] | None:
    """The exact end points of a finite Arb ball as `(lo, hi, k)`: `lo·2^k` and `hi·2^k`
    are `ball_bounds(ball)` (mid-point ∓ radius, both dyadic), in integers; None for a
    ball `ball_bounds` should decide (not finite, or exponents far out of range)."""
    if not ball.is_finite():
        return None
    m, e = ball.mid().man_exp()
    r, f = ball.rad().man_exp()
    m, e, r, f = int(m), int(e), int(r), int(f)
    if not (-4000 < e < 4000 and -4000 < f < 4000):
        return None
    k = min(e, f)
    m, r = m << (e - k), r << (f - k)
    return m - r, m + r, k


def nearest_dyadic(n: int, k: int) -> float:
    """`float(Fraction(n·2^k))`: the float nearest `n·2^k` (int -> float and int / int
    are correctly rounded; OverflowError past the floats, as for the Fraction)."""
    return float(n << k) if k >= 0 else n / (1 << -k)


def compare_dyadic(x: float, n: int, k: int) -> int:
    """The sign of `x - n·2^k`, exactly (`x` a finite float `a/b`, `b` a power of two)."""
    a, b = x.as_integer_ratio()
    left, right = (a, (n << k) * b) if k >= 0 else (a << -k, n * b)
    return (left > right) - (left < right)


def down_dyadic(n: int, k: int) -> float:
    """`down(Fraction(n·2^k))` in integers: the same float."""
    x = nearest_dyadic(n, k)
    return x if compare_dyadic(x, n, k) <= 0 else float(_dn(x))


def up_dyadic(n: int, k: int) -> float:
    """`upward(Fraction(n·2^k))` in integers: the same float."""
    x = nearest_dyadic(n, k)
    return x if compare_dyadic(x, n, k) >= 0 else float(_up(x))


def split(values) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per rational `q`: `(a, δ_lo, δ_hi)`, `a` the float nearest `q` and `δ_lo <= q - a <=
    δ_hi` floats (`q - a` exact in Fractions, then rounded outward); `values` an array of
    rationals or a `Nodal`."""
    if hasattr(values, "remainders"):
        split = values.remainders()
        if split is not None:
            a, delta = split
            with np.errstate(all="ignore"):
                return a, _dn(delta), _up(delta)
        values = values.fractions()
    values = list(np.asarray(values, dtype=object).ravel())
    a = np.array([float(q) for q in values], dtype=float)
    delta = np.array([float(q - Fraction(x)) for q, x in zip(values, a.tolist())], dtype=float)
    with np.errstate(all="ignore"):
        return a, _dn(delta), _up(delta)


def upward(q: Fraction) -> float:
    """A float >= the rational `q`."""
    x = float(q)
    return x if Fraction(x) >= q else float(_up(x))
