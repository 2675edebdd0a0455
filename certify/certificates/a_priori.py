"""The theorem's a priori bound per grade, for networks of this toolkit's balanced
construction whose weights confirm what `meta` declares (docs/theory.md §5)."""

from __future__ import annotations

from fractions import Fraction

from ..construction import CONSTRUCTION
from ..errors import UsageError
from ..engine.numbers import parse_rational

#: the declared construction is re-run (to see that it gives these very hats) only up to
#: this many hats, estimated as `limits.construction_hats`: past it the bound is not given
REBUILD_HATS = 100_000


def a_priori_bounds(target, network, recognised) -> list[Fraction | None] | None:
    """The theorem's bound `2(1+θ)Λ((1+2d(1+θ))/N)^ℓ_k` per grade, `ℓ_k` its level, when it applies.

    Applies when `meta` says this toolkit's balanced construction without adaptivity
    (`tol` 0), the declared levels are nondecreasing integers (strictly increasing over
    grades with hats: skipped levels are all-zero levels of the construction), the
    weights confirm them (every grade recognised with the canonical readout, a grade with
    hats on the mesh `N^-ℓ_k` of its declared level, its hats equal to those recorded),
    `N > 2d(1+θ)+1`, the target's `LIPSCHITZ` is verified, and re-running the balanced
    construction with the stated N, θ gives these hats at these levels (`meta` is a hint
    only: that is also what shows the skipped levels had no coefficient).
    """
    meta = network.meta or {}
    if meta.get("construction") != CONSTRUCTION or target.lipschitz is None:
        return None
    try:
        ratio = int(str(meta["ratio"])) if len(str(meta["ratio"])) <= 7 else 0
        theta = parse_rational(meta["margin"], "meta.margin")
        tol = parse_rational(meta.get("tol", "0"), "meta.tol")
        levels = meta["levels"]
        subdivision = meta.get("subdivision")
        subdivision = None if subdivision is None else int(str(subdivision)[:3])
    except (KeyError, TypeError, ValueError):
        return None
    d = network.dim
    if not isinstance(levels, list) or not 2 <= ratio <= 10 ** 6 or not 0 <= theta <= 4:
        return None
    if tol != 0 or ratio <= 2 * d * (1 + theta) + 1 or len(levels) != len(network.grades):
        return None
    declared = []
    previous = -1
    for gg, level in zip(recognised, levels):
        if gg is None or any(gg.carrier) or gg.alpha != 1 or gg.beta != 1 or gg.bias != 0:
            return None
        try:
            ell = level["level"]
            recorded = {(tuple(parse_rational(v) for v in hat["node"]), parse_rational(hat["c"]))
                        for hat in level["hats"]}
        except (KeyError, TypeError, ValueError):
            return None
        if isinstance(ell, bool) or not isinstance(ell, int) or ell < max(previous, 0):
            return None
        if gg.n is not None and (ell == previous or gg.n != ratio ** ell):
            return None
        if recorded != {(hat.z, hat.c) for hat in gg.hats}:
            return None
        declared.append(ell)
        previous = ell
    if not _rebuilt_equal(target, network, ratio, theta, subdivision, recognised, declared):
        return None
    lam = target.lipschitz
    q = (1 + 2 * d * (1 + theta)) / ratio
    return [2 * (1 + theta) * lam * q ** ell for ell in declared]


def _rebuilt_equal(target, network, ratio, theta, subdivision, recognised, levels) -> bool:
    """`meta` is a hint only: the balanced construction is re-run with the ratio, margin and
    subdivision it states, and the bound applies only if that gives these very hats at
    these levels."""
    from ..construction import Parameters, build_levels
    from ..limits import construction_hats
    if construction_hats(network.dim, len(network.grades), ratio) > REBUILD_HATS:
        return False
    try:
        params = Parameters(ratio, theta, subdivision, scheme="balanced")
        records = build_levels(target, len(network.grades), params)
    except (UsageError, ArithmeticError, ValueError, TypeError):
        return False
    return len(records) == len(levels) and all(
        gg is not None and r.level == ell
        and {(h.z, h.c) for h in gg.hats} == {(h.z, h.c) for h in r.hats}
        for gg, r, ell in zip(recognised, records, levels))
