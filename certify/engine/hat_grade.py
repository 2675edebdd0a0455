"""Construction grades kept as their hats: the ReLU layers are made only when asked for.

A grade of the construction is, by definition, `realize.grade_layers(d, hats, inputs)`
with the canonical readout `P - Q`. Holding the hats instead of the layers costs a few
hundred bytes per hat instead of several kilobytes, and nothing is lost: `layers` builds
exactly those weights on first use (writing the network, evaluating it exactly at a
counterexample, the regions or general paths), and the locality checker reads the hats
off the grade directly, which is what `realize.recognise_grade` would return for those
very layers (it accepts hats only when rebuilding them gives the layers weight for weight).
Shapes (width, depth, the budget counts of `limits`) follow from the block structure of
`grade_layers` without building it: the first two hats through the generic builders, and
every further hat one more copy of the second hat's block.
"""

from __future__ import annotations

from typing import Sequence

from .network import Grade
from .realize import Hat, _grade_layers_reference, block_depth, grade_layers, readout


class HatGrade(Grade):
    """`Grade` whose layers are `grade_layers(dim, hats, inputs)`, built lazily."""

    def __init__(self, dim: int, hats: Sequence[Hat], inputs: int):
        self.dim, self.inputs = dim, inputs
        self.hats = tuple(h for h in hats if h.c != 0)      # as `grade_layers` keeps them
        self.readout_weight, self.readout_bias = readout(dim)
        self._sparse = self._dense = self._converted = None
        self._layers = None
        self._shapes = None

    def __repr__(self) -> str:
        return f"HatGrade(dim={self.dim}, hats={len(self.hats)}, inputs={self.inputs})"

    @property
    def layers(self):
        """The exact layers (built on first use, then kept)."""
        if self._layers is None:
            self._layers = grade_layers(self.dim, self.hats, self.inputs)
        return self._layers

    def shapes(self) -> list[tuple[int, int]]:
        """`(width, inputs)` of every layer, in order, without building the layers."""
        if self._layers is not None:
            return [(layer.width, layer.inputs) for layer in self._layers]
        if self._shapes is None:
            ref = _grade_layers_reference(self.dim, self.hats[:2], self.inputs)
            shape = [(layer.width, layer.inputs) for layer in ref]
            if len(self.hats) >= 3:           # `realize._grade_layers`: the second block again
                depth = block_depth(self.dim)
                shape = shape[:2 * depth] + shape[depth:2 * depth] * (len(self.hats) - 2) \
                    + shape[-1:]
            self._shapes = shape
        return self._shapes

    @property
    def width(self) -> int:
        return max(w for w, _ in self.shapes())

    @property
    def depth(self) -> int:
        return len(self.shapes())

    @property
    def features(self) -> int:
        return self.shapes()[-1][0]
