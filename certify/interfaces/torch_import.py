"""Networks trained in PyTorch, converted exactly to a `certify.engine.network.Network`.

MGDL trains grade by grade: grade 1 reads `x`, grade `k` reads the last hidden layer of the
frozen grade `k-1`, and each grade ends in a scalar linear readout. `from_torch` takes the
per-grade modules in that shape and turns every weight into the exact rational its binary
float denotes (`Fraction(float)`: float32 and float64 values are both dyadic rationals), so
the certificate is about the network that was trained, not about a rounded copy of it.

PyTorch is an optional dependency (`pip install 'certify[torch]'`); it is imported lazily.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any, Sequence

from ..errors import NetworkError
from ..engine.network import Grade, Network
from ..engine.realize import Layer


def _torch():
    try:
        import torch
    except ImportError:
        raise NetworkError("from_torch needs PyTorch",
                           "pip install 'certify[torch]' (torch==2.13.0, CPU)") from None
    return torch


def _exact(values: Any, where: str) -> list:
    """Nested lists of exact rationals from a tensor; NaN and infinities refused by name."""
    def convert(v, path):
        if isinstance(v, list):
            return [convert(u, f"{path}[{i}]") for i, u in enumerate(v)]
        v = float(v)
        if not math.isfinite(v):
            raise NetworkError(f"{where}{path}: {v!r} is not a finite number")
        return Fraction(v)
    return convert(values.detach().cpu().tolist(), "")


def _split_grade(grade: Any, k: int):
    """(hidden modules, readout) of one grade: a pair, or an object with .hidden/.readout."""
    if isinstance(grade, (tuple, list)) and len(grade) == 2:
        return grade
    hidden, readout = getattr(grade, "hidden", None), getattr(grade, "readout", None)
    if hidden is None or readout is None:
        raise NetworkError(f"grade {k}: expected (hidden, readout) or a module with "
                           f"attributes .hidden and .readout, got {type(grade).__name__}")
    return hidden, readout


def _layers(hidden: Any, inputs: int, k: int, nn) -> list[Layer]:
    """Alternating Linear, ReLU modules (Identity/Flatten/Dropout in eval are skipped)."""
    modules = list(hidden) if isinstance(hidden, (nn.Sequential, list, tuple)) else [hidden]
    modules = [m for m in modules if not isinstance(m, (nn.Identity, nn.Flatten, nn.Dropout))]
    if not modules or len(modules) % 2:
        raise NetworkError(f"grade {k}: hidden part must alternate Linear and ReLU and end "
                           f"with ReLU, got {[type(m).__name__ for m in modules]}")
    layers = []
    for i in range(0, len(modules), 2):
        linear, relu = modules[i], modules[i + 1]
        where = f"grade {k}, layer {i // 2 + 1}"
        if not isinstance(linear, nn.Linear) or not isinstance(relu, nn.ReLU):
            raise NetworkError(f"{where}: expected Linear then ReLU, got "
                               f"{type(linear).__name__} then {type(relu).__name__}")
        if linear.in_features != inputs:
            raise NetworkError(f"{where}: reads {linear.in_features} inputs, but "
                               f"{inputs} come in", "grade k reads grade k-1's last layer")
        weight = _exact(linear.weight, f"{where}, weight")
        bias = (_exact(linear.bias, f"{where}, bias") if linear.bias is not None
                else [Fraction(0)] * linear.out_features)
        layers.append(Layer(tuple(tuple(row) for row in weight), tuple(bias)))
        inputs = linear.out_features
    return layers


def from_torch(grades: Sequence[Any], dim: int, meta: dict | None = None) -> Network:
    """The exact `Network` of per-grade PyTorch modules.

    `grades[k]` is a pair `(hidden, readout)` (or a module with attributes `.hidden` and
    `.readout`): `hidden` an `nn.Sequential` of `Linear, ReLU, Linear, ReLU, ...`, `readout` an
    `nn.Linear` with one output. Grade 1 reads `x` of length `dim`; grade k reads grade k-1's
    last hidden layer. Any other structure is a `NetworkError` naming the grade and layer.
    """
    torch = _torch()
    nn = torch.nn
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        raise NetworkError(f"from_torch: dim={dim!r} must be a positive integer")
    if not grades:
        raise NetworkError("from_torch: grades must be a non-empty list")
    result = []
    inputs = dim
    for k, grade in enumerate(grades, start=1):
        hidden, readout = _split_grade(grade, k)
        layers = _layers(hidden, inputs, k, nn)
        width = layers[-1].width
        if not isinstance(readout, nn.Linear) or readout.out_features != 1 \
                or readout.in_features != width:
            raise NetworkError(f"grade {k}, readout: expected Linear({width}, 1), got {readout}")
        weight = _exact(readout.weight, f"grade {k}, readout weight")[0]
        bias = (_exact(readout.bias, f"grade {k}, readout bias")[0]
                if readout.bias is not None else Fraction(0))
        result.append(Grade(layers, tuple(weight), bias))
        inputs = width
    return Network(dim, result, dict(meta or {}))
