"""This toolkit's construction: the balanced contraction, grade by grade (docs/theory.md §3).

Grade `ℓ+1` realises level `ℓ`: for each node `z` of the level-`ℓ` grid, certified bounds
`lo_z <= r_ℓ <= hi_z` on its star give the coefficient

    c_z = max(0, lo_z - θ w_z)  if lo_z > 0,   min(0, hi_z + θ w_z)  if hi_z < 0,   else 0,

rounded toward zero to a short dyadic (which keeps `0 < c_z <= r_ℓ` on the star and the
margin), and the grade subtracts `Σ c_z φ_z`.

The approximant is kept as exact nodal values on the current grid, so the residual on a
simplex is `f` minus an exact affine function and the cost of a hat does not depend on
how many hats came before it: a level costs time proportional to its own nodes.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable

import numpy as np

from . import vectorised
from .enclosure import simplex_residual_bounds, sub_boxes
from .errors import UsageError
from .freudenthal import cell_simplices, mesh, nodes, refine, star_simplices
from .network import Grade, Network
from .numbers import format_rational
from .realize import Hat, grade_layers, readout

CONSTRUCTION = "certify-balanced-contraction/1"

#: Default margin θ. The checker's no-overshoot query has slack `θ·w_z` on each star, so
#: a sub-box of side about `h/(2·θ·…)` already proves it; θ = 1/4 keeps that to a few
#: sub-boxes per cell while costing a factor (1+θ) in Lemma 4. For the theorem's a priori
#: rate use N = 2d+2 and θ <= 1/(4d).
DEFAULT_MARGIN = Fraction(1, 4)
DEFAULT_RATIO = 2
#: coefficients are rounded toward zero to multiples of 2^-COEFFICIENT_BITS
COEFFICIENT_BITS = 48


def default_subdivision(dim: int) -> int:
    """Sub-boxes per cell side used for star bounds: enough for tight bounds, cheap in d=3."""
    return {1: 4, 2: 2}.get(dim, 1)


def _text(value) -> str:
    return format_rational(value) if isinstance(value, Fraction) else repr(value)


@dataclass(frozen=True)
class Parameters:
    """Validated construction parameters."""

    ratio: int = DEFAULT_RATIO
    margin: Fraction = DEFAULT_MARGIN
    subdivision: int | None = None

    def __post_init__(self):
        if isinstance(self.ratio, bool) or not isinstance(self.ratio, int) or self.ratio < 2:
            raise UsageError(f"ratio={self.ratio!r} must be an integer >= 2",
                             "the mesh shrinks by this factor per level; try --ratio 2")
        if not isinstance(self.margin, Fraction) or self.margin < 0 or self.margin > 4:
            raise UsageError(f"margin={_text(self.margin)} must be a rational in [0, 4]",
                             "try --margin 1/4")
        if self.subdivision is not None and (not isinstance(self.subdivision, int)
                                             or not 1 <= self.subdivision <= 64):
            raise UsageError(f"subdivision={self.subdivision!r} must be an integer in [1, 64]")


@dataclass
class LevelRecord:
    """What one level of the construction did, for `meta` and for the theory's bounds."""

    level: int
    mesh: Fraction
    hats: list[Hat]
    oscillation: Fraction            # W_ℓ = max_z w_z (certified)
    seconds: float = 0.0
    stars: int = 0


def coefficient(lo: Fraction, hi: Fraction, margin: Fraction) -> Fraction:
    """`c_z` from certified star bounds, rounded toward zero to a multiple of 2^-48."""
    w = hi - lo
    if lo > 0:
        c = max(Fraction(0), lo - margin * w)
    elif hi < 0:
        c = min(Fraction(0), hi + margin * w)
    else:
        return Fraction(0)
    scale = 2 ** COEFFICIENT_BITS
    rounded = math.floor(abs(c) * scale)
    return Fraction(rounded if c > 0 else -rounded, scale)


def star_bounds(target, values: np.ndarray, h: Fraction, k: int) -> dict:
    """`{node: (lo_z, hi_z)}` for every node of the grid that `values` lives on."""
    fast = vectorised.star_bounds(target, values, h, k)
    if fast is not None:
        return fast
    dim = values.ndim
    n = values.shape[0] - 1
    simplex_bounds = {}
    for cell in itertools.product(range(n), repeat=dim):
        boxes = sub_boxes(target, cell, h, k)
        for simplex in cell_simplices(cell):
            simplex_bounds[simplex] = simplex_residual_bounds(simplex, h, values, boxes, k)
    out = {}
    for node in nodes(dim, n):
        bounds = [simplex_bounds[s] for s in star_simplices(node, n)]
        out[node] = (min(b[0] for b in bounds), max(b[1] for b in bounds))
    return out


def build_levels(target, grades: int, params: Parameters = Parameters(),
                 progress: Callable[[LevelRecord], None] | None = None) -> list[LevelRecord]:
    """Run the construction for `grades` levels and return what each level chose."""
    if isinstance(grades, bool) or not isinstance(grades, int) or grades < 1:
        raise UsageError(f"grades={grades!r} must be a positive integer", "try --grades 6")
    dim = target.dim
    k = params.subdivision or default_subdivision(dim)
    values = np.full((2,) * dim, Fraction(0), dtype=object)     # F_0 = 0 on the level-0 grid
    records = []
    for level in range(grades):
        start = time.perf_counter()
        if level:
            values = refine(values, params.ratio)
        h = mesh(level, params.ratio)
        bounds = star_bounds(target, values, h, k)
        hats = []
        updated = values.copy()
        for node, (lo, hi) in bounds.items():
            c = coefficient(lo, hi, params.margin)
            if c:
                hats.append(Hat(tuple(Fraction(i) * h for i in node), h, c))
                updated[node] = values[node] + c
        values = updated
        oscillation = max(hi - lo for lo, hi in bounds.values())
        record = LevelRecord(level, h, hats, oscillation, time.perf_counter() - start,
                             stars=len(bounds))
        records.append(record)
        if progress:
            progress(record)
    return records


def network_from_levels(target, records: list[LevelRecord], params: Parameters) -> Network:
    """Realise each level as one fixed-width grade and record the construction in `meta`."""
    dim = target.dim
    grades = []
    inputs = dim
    weight, bias = readout(dim)
    for record in records:
        layers = grade_layers(dim, record.hats, inputs)
        grades.append(Grade(layers, weight, bias))
        inputs = layers[-1].width
    meta = {
        "construction": CONSTRUCTION,
        "target": target.name,
        "ratio": params.ratio,
        "margin": format_rational(params.margin),
        "subdivision": params.subdivision or default_subdivision(dim),
        "levels": [{
            "grade": r.level + 1, "level": r.level, "mesh": format_rational(r.mesh),
            "oscillation": format_rational(r.oscillation),
            "hats": [{"node": [format_rational(v) for v in hat.z], "c": format_rational(hat.c)}
                     for hat in r.hats],
        } for r in records],
    }
    return Network(dim, grades, meta)


def build(target, grades: int, ratio: int = DEFAULT_RATIO, margin=DEFAULT_MARGIN,
          subdivision: int | None = None,
          progress: Callable[[LevelRecord], None] | None = None) -> Network:
    """The construction's network with `grades` grades for `target`."""
    params = Parameters(ratio, Fraction(margin), subdivision)
    records = build_levels(target, grades, params, progress)
    return network_from_levels(target, records, params)
