"""Any box domain: `--domain a b` (one interval for every coordinate) or `a1 b1 ... ad bd`.

The checker works on [0,1]^d. A target and a network that live on the box
`B = [a1,b1] x ... x [ad,bd]` are carried there exactly by the affine map
`phi(u) = a + w*u` (w = b - a): the target becomes `f o phi` (a SymPy substitution, so its
kind and exactness are kept, and a max-norm Lipschitz constant L becomes `L * max w`), and
`phi` is folded into grade 1's first layer (`W phi(u) + c = (W diag w) u + (W a + c)`),
exactly. Pointwise claims and sup norms are the same on both sides; the report is carried
back: witnesses `x = phi(u)`, `L^p` norms times `vol(B)^(1/p)` (rounded outward), decreases
of p-th powers times `vol(B)`, and the box stored under `"domain"`.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
from fractions import Fraction
from typing import Sequence

from ..errors import UsageError
from ..engine.network import Grade, Network
from ..engine.numbers import ball_bounds, format_rational
from ..engine.realize import Layer


class Domain:
    """The box `[lo_i, hi_i]`; `Domain(None)` is [0,1]^d itself and changes nothing."""

    def __init__(self, bounds: Sequence[tuple[Fraction, Fraction]] | None):
        self.bounds = None if bounds is None else [(Fraction(a), Fraction(b)) for a, b in bounds]
        for i, (a, b) in enumerate(self.bounds or [], start=1):
            if not a < b:
                raise UsageError(f"--domain: coordinate {i} has [{format_rational(a)}, "
                                 f"{format_rational(b)}], an empty interval",
                                 "give lower < upper")

    @classmethod
    def parse(cls, values: Sequence[Fraction] | None) -> "Domain":
        """From the command line's numbers: None, `[a, b]` or `[a1, b1, ..., ad, bd]`."""
        if not values:
            return cls(None)
        if len(values) % 2:
            raise UsageError(f"--domain takes 2 or 2*d numbers, got {len(values)}",
                             "e.g. --domain -1 1, or --domain 0 1 -2 2 for d=2")
        return cls([(values[i], values[i + 1]) for i in range(0, len(values), 2)])

    @property
    def is_unit(self) -> bool:
        return self.bounds is None

    def box(self, dim: int) -> list[tuple[Fraction, Fraction]]:
        """The intervals of all `dim` coordinates (one interval repeats)."""
        if self.bounds is None:
            return [(Fraction(0), Fraction(1))] * dim
        if len(self.bounds) == 1:
            return self.bounds * dim
        if len(self.bounds) != dim:
            raise UsageError(f"--domain gives {len(self.bounds)} intervals but d={dim}",
                             "give one interval for all coordinates, or one per coordinate")
        return list(self.bounds)

    def volume(self, dim: int) -> Fraction:
        vol = Fraction(1)
        for a, b in self.box(dim):
            vol *= b - a
        return vol

    # ---------------------------------------------------------------- maps

    def to_user(self, u: Sequence[Fraction]) -> tuple[Fraction, ...]:
        """`phi(u)`: a point of [0,1]^d in the user's coordinates."""
        return tuple(a + (b - a) * Fraction(v) for v, (a, b) in zip(u, self.box(len(u))))

    def to_unit(self, x: Sequence[Fraction]) -> tuple[Fraction, ...]:
        """`phi^{-1}(x)`."""
        return tuple((Fraction(v) - a) / (b - a) for v, (a, b) in zip(x, self.box(len(x))))

    # ---------------------------------------------------------------- target

    def load_target(self, path: str):
        """The target file composed with `phi`, checked and classified on [0,1]^d."""
        from ..target import load_target, load_target_function, target_from_function
        if self.is_unit:
            return load_target(path)
        import sympy
        name, f, lipschitz = load_target_function(path)
        try:
            signature = inspect.signature(f)
        except (TypeError, ValueError):
            signature = None
        dim = None if signature is None else sum(
            p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
            for p in signature.parameters.values())
        if not dim:
            return load_target(path)   # let the loader refuse it with its own message
        box = self.box(dim)

        def composed(*u):
            return f(*(sympy.Rational(a.numerator, a.denominator)
                       + sympy.Rational((b - a).numerator, (b - a).denominator) * v
                       for v, (a, b) in zip(u, box)))
        composed.__signature__ = signature
        if lipschitz is not None:
            from ..target import _lipschitz
            scale = max(b - a for a, b in box)
            lipschitz = _lipschitz(lipschitz, name) * scale
        return target_from_function(composed, name, lipschitz, path)

    # ---------------------------------------------------------------- network

    def _fold(self, network: Network, scale, shift) -> Network:
        """Grade 1's first layer composed with `x -> shift + scale * x` (per coordinate)."""
        first = network.grades[0]
        layer = first.layers[0]
        weight = tuple(tuple(w * s for w, s in zip(row, scale)) for row in layer.weight)
        bias = tuple(c + sum((w * t for w, t in zip(row, shift)), Fraction(0))
                     for row, c in zip(layer.weight, layer.bias))
        grade = Grade([Layer(weight, bias), *first.layers[1:]], first.readout_weight,
                      first.readout_bias)
        return Network(network.dim, [grade, *network.grades[1:]], dict(network.meta))

    def network_in(self, network: Network) -> Network:
        """A network on the box as the same function of `u` on [0,1]^d."""
        if self.is_unit:
            return network
        box = self.box(network.dim)
        return self._fold(network, [b - a for a, b in box], [a for a, _ in box])

    def network_out(self, network: Network) -> Network:
        """A network on [0,1]^d as the same function of `x` on the box (`u = (x - a)/w`)."""
        if self.is_unit:
            return network
        box = self.box(network.dim)
        out = self._fold(network, [1 / (b - a) for a, b in box], [-a / (b - a) for a, b in box])
        out.meta["domain"] = self.to_json(network.dim)
        return out

    # ---------------------------------------------------------------- report

    def to_json(self, dim: int) -> list[list[str]]:
        return [[format_rational(a), format_rational(b)] for a, b in self.box(dim)]

    def _root_bounds(self, vol: Fraction, p: Fraction) -> tuple[Fraction, Fraction]:
        """Rationals `lo <= vol^(1/p) <= hi`."""
        from flint import arb
        ball = arb(vol.numerator) / vol.denominator
        ball = ball ** (arb(p.denominator) / p.numerator)
        return ball_bounds(ball)

    def report(self, report):
        """The report of the unit-cube check, in the user's coordinates (a copy)."""
        if self.is_unit:
            return report
        out = copy.copy(report)
        out.info = {**report.info, "domain": self.to_json(report.dim)}
        vol = self.volume(report.dim)
        out.grades = [self._grade(g, vol) for g in report.grades]
        return out

    def _grade(self, g, vol: Fraction):
        g = copy.copy(g)
        if g.sup_witness is not None:
            g.sup_witness = self.to_user(g.sup_witness)
        for name in ("counterexample", "no_overshoot_counterexample"):
            witness = getattr(g, name)
            if witness is not None:
                setattr(g, name, dataclasses.replace(witness, x=self.to_user(witness.x)))
        lps = []
        for lp in g.lp:
            lp = copy.copy(lp)
            lo, hi = self._root_bounds(vol, lp.p)
            if lp.norm_lower is not None:
                lp.norm_lower = lp.norm_lower * (lo if lp.norm_lower >= 0 else hi)
            if lp.norm_upper is not None:
                lp.norm_upper = lp.norm_upper * (hi if lp.norm_upper >= 0 else lo)
            if lp.decrease_lower is not None:
                lp.decrease_lower = lp.decrease_lower * vol
            lps.append(lp)
        g.lp = lps
        return g
