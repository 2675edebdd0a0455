"""ONNX models in, exact `mgdl-relu/1` networks out.

A multigrade network exported from PyTorch (or built by hand) is a graph from one input `x`
to one scalar output per grade: grade k's hidden layers read grade k-1's last hidden layer.
The graph is read symbolically, never run: every tensor is either a constant (initialiser or
`Constant` node) or an exact affine map `W h + b` of a hidden layer `h` (the input `x` is
hidden layer 0), and `Relu` of such a map makes a new hidden layer. Accepted operators are the
ones such exports contain: Gemm, MatMul, Add, Relu, Identity, Flatten, Reshape (of a vector),
Constant. Every float32/float64 weight becomes the exact rational its binary value denotes.

Anything else — another operator or activation, a vector output, layers that do not form a
chain, NaN weights, a truncated or fuzzed file — is a one-line `NetworkError` naming the node.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from ..errors import NetworkError
from ..engine.network import Grade, Network
from ..engine.realize import Layer

_ZERO = Fraction(0)
_PASS = ("Identity", "Flatten", "Reshape")
_MAX_ENTRIES = 5_000_000   # refuse absurd tensors before converting them


def _onnx():
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:   # pragma: no cover - onnx is a base dependency
        raise NetworkError("reading ONNX needs the onnx package", "pip install onnx") from None
    return onnx, numpy_helper


@dataclass
class _Affine:
    """`weight @ h_source + bias`, exact; `weight` has one row per output entry."""

    source: int
    weight: list
    bias: list

    @property
    def width(self) -> int:
        return len(self.bias)


@dataclass
class _Const:
    """A constant tensor as nested lists of exact rationals, with its shape."""

    shape: tuple
    values: Any          # nested lists of Fraction (or a Fraction for a scalar)


def _exact_array(array, where: str) -> _Const:
    """Exact rationals of a float32/float64/integer numpy array; NaN/inf refused by entry."""
    import numpy as np
    if array.size > _MAX_ENTRIES:
        raise NetworkError(f"{where}: {array.size} entries is too many")
    if array.dtype.kind == "f":
        if array.dtype not in (np.float32, np.float64):
            raise NetworkError(f"{where}: element type {array.dtype} is not float32 or float64")
        bad = np.argwhere(~np.isfinite(array))
        if len(bad):
            index = tuple(int(i) for i in bad[0])
            raise NetworkError(f"{where}: entry {list(index)} is {array[index]!r}, not finite")
        values = array.astype(np.float64).tolist()
    elif array.dtype.kind in "iu":
        values = array.tolist()
    else:
        raise NetworkError(f"{where}: element type {array.dtype} is not a number type")

    def exact(v):
        return [exact(u) for u in v] if isinstance(v, list) else Fraction(v)
    return _Const(tuple(array.shape), exact(values))


def _flat(values) -> list:
    return [u for v in values for u in _flat(v)] if isinstance(values, list) else [values]


def _vector(const: _Const, length: int, where: str) -> list:
    """A bias-like constant broadcast to `length` entries: a scalar, or shape (..., length)
    with every other dimension 1 (what broadcasting against a (batch, length) row gives)."""
    flat = _flat(const.values)
    if len(flat) == 1:
        return flat * length
    if const.shape and const.shape[-1] == length and len(flat) == length:
        return flat
    raise NetworkError(f"{where}: shape {list(const.shape)} does not broadcast to {length}")


def _matrix(const: _Const, where: str) -> list:
    if len(const.shape) != 2:
        raise NetworkError(f"{where}: expected a matrix, got shape {list(const.shape)}")
    return const.values


def _transpose(m: list) -> list:
    return [list(col) for col in zip(*m)] if m else m


def _compose(outer: list, inner: _Affine) -> tuple[list, list]:
    """`outer @ (W h + b)` as (outer W, outer b), exactly."""
    weight = [[sum((r[j] * inner.weight[j][i] for j in range(len(r)) if r[j]), _ZERO)
               for i in range(len(inner.weight[0]))] for r in outer]
    bias = [sum((r[j] * inner.bias[j] for j in range(len(r)) if r[j]), _ZERO) for r in outer]
    return weight, bias


class _Reader:
    """Walks the nodes in order, keeping a symbolic value per tensor name."""

    def __init__(self, graph, numpy_helper):
        self.values: dict[str, Any] = {}
        self.layers: list[tuple[int, Layer]] = []   # hidden layer i+1: (parent id, layer)
        self.numpy_helper = numpy_helper
        for init in graph.initializer:
            self.values[init.name] = self._tensor(init, f"initializer {init.name!r}")
        inputs = [i for i in graph.input if i.name not in self.values]
        if len(inputs) != 1:
            raise NetworkError(f"ONNX graph: expected one input x, got {len(inputs)} "
                               f"({', '.join(i.name for i in inputs) or 'none'})")
        self.input = inputs[0]
        self.dim = self._input_dim(inputs[0])
        self.values[inputs[0].name] = "x"

    def _tensor(self, tensor, where: str) -> _Const:
        if tensor.data_location == 1:   # TensorProto.EXTERNAL: never open other files
            raise NetworkError(f"{where}: external tensor data is not supported")
        size = 1
        for d in tensor.dims:
            size *= max(int(d), 0)
        if size > _MAX_ENTRIES:
            raise NetworkError(f"{where}: {size} entries is too many")
        try:
            array = self.numpy_helper.to_array(tensor)
        except Exception as exc:   # noqa: BLE001 - malformed tensors raise many types
            raise NetworkError(f"{where}: unreadable tensor ({type(exc).__name__})") from None
        return _exact_array(array, where)

    @staticmethod
    def _input_dim(value_info) -> int | None:
        dims = value_info.type.tensor_type.shape.dim
        if not dims or not dims[-1].HasField("dim_value"):
            return None
        return int(dims[-1].dim_value) or None

    def _affine(self, name: str, where: str) -> _Affine:
        """The value `name` as an affine map of a hidden layer (x itself: the identity)."""
        value = self.values.get(name)
        if value is None:
            raise NetworkError(f"{where}: input {name!r} is not produced by any earlier node")
        if isinstance(value, _Const):
            raise NetworkError(f"{where}: input {name!r} is a constant where a layer was expected")
        if value == "x" or isinstance(value, int):
            source = 0 if value == "x" else value
            width = self.dim if source == 0 else self.layers[source - 1][1].width
            if width is None:
                raise NetworkError(f"{where}: the input's width is unknown")
            eye = [[Fraction(int(i == j)) for j in range(width)] for i in range(width)]
            return _Affine(source, eye, [_ZERO] * width)
        return value

    def _const(self, name: str, where: str) -> _Const:
        value = self.values.get(name)
        if not isinstance(value, _Const):
            raise NetworkError(f"{where}: input {name!r} must be a constant (an initializer)")
        return value

    def _is_const(self, name: str) -> bool:
        return isinstance(self.values.get(name), _Const)

    def _linear(self, act: _Affine, weight: list, bias: list, where: str) -> _Affine:
        """`weight @ act + bias` (weight: out x in rows), composed exactly."""
        if not weight or any(len(r) != act.width for r in weight):
            raise NetworkError(f"{where}: weight reads {len(weight[0]) if weight else 0} "
                               f"inputs, but {act.width} come in")
        if act.weight and all(act.weight[i][j] == (i == j) for i in range(act.width)
                              for j in range(len(act.weight[0]))) \
                and len(act.weight) == len(act.weight[0]) and not any(act.bias):
            w, b = weight, [_ZERO] * len(weight)
        else:
            w, b = _compose(weight, act)
        return _Affine(act.source, w, [u + v for u, v in zip(b, bias)])

    def node(self, index: int, node) -> None:
        op = node.op_type
        where = f"node {index} {node.name or op!r} ({op})" if node.name else f"node {index} ({op})"
        ins, outs = list(node.input), list(node.output)
        if node.domain not in ("", "ai.onnx"):
            raise NetworkError(f"{where}: operator domain {node.domain!r} is not supported")
        if len(outs) != 1:
            raise NetworkError(f"{where}: expected one output, got {len(outs)}")
        attrs = {a.name: a for a in node.attribute}
        if op != "Constant" and not ins:
            raise NetworkError(f"{where}: has no inputs")
        if op == "Constant":
            if "value" not in attrs:
                raise NetworkError(f"{where}: only Constant with a 'value' tensor is supported")
            result = self._tensor(attrs["value"].t, where)
        elif op in _PASS:
            if not ins or self._is_const(ins[0]):
                raise NetworkError(f"{where}: {op} of a constant is not supported")
            value = self._affine(ins[0], where)
            if op == "Reshape":
                shape = self._const(ins[1], where) if len(ins) > 1 else None
                self._check_reshape(shape, value.width, where)
            result = value if not isinstance(self.values[ins[0]], (int, str)) \
                else self.values[ins[0]]
        elif op == "Relu":
            value = self._affine(ins[0], where)
            layer = Layer(tuple(tuple(r) for r in value.weight), tuple(value.bias))
            self.layers.append((value.source, layer))
            result = len(self.layers)
        elif op == "Gemm":
            result = self._gemm(ins, attrs, where)
        elif op == "MatMul":
            if len(ins) != 2 or not self._is_const(ins[1]) or self._is_const(ins[0]):
                raise NetworkError(f"{where}: MatMul must be (layer, constant matrix)")
            weight = _transpose(_matrix(self._const(ins[1], where), where))
            result = self._linear(self._affine(ins[0], where), weight,
                                  [_ZERO] * len(weight), where)
        elif op == "Add":
            if len(ins) != 2 or self._is_const(ins[0]) == self._is_const(ins[1]):
                raise NetworkError(f"{where}: Add must be (layer, constant)")
            layer_in, const_in = (ins[0], ins[1]) if self._is_const(ins[1]) else (ins[1], ins[0])
            value = self._affine(layer_in, where)
            bias = _vector(self._const(const_in, where), value.width, where)
            result = _Affine(value.source, value.weight, [u + v for u, v in zip(value.bias, bias)])
        else:
            raise NetworkError(f"{where}: operator {op} is not supported",
                               "accepted: Gemm, MatMul, Add, Relu, Identity, Flatten, Reshape")
        self.values[outs[0]] = result

    def _check_reshape(self, shape: _Const | None, width: int, where: str) -> None:
        if shape is None or len(shape.shape) != 1:
            raise NetworkError(f"{where}: Reshape needs a constant 1-D shape")
        sizes = [int(v) for v in shape.values if v not in (0, 1, -1)]
        if sizes not in ([], [width]):
            raise NetworkError(f"{where}: Reshape to {[int(v) for v in shape.values]} does "
                               f"not keep a vector of {width}")

    def _gemm(self, ins, attrs, where) -> _Affine:
        if len(ins) < 2 or self._is_const(ins[0]) or not self._is_const(ins[1]):
            raise NetworkError(f"{where}: Gemm must be (layer, constant matrix[, constant])")
        if attrs.get("transA") is not None and attrs["transA"].i:
            raise NetworkError(f"{where}: Gemm with transA=1 is not supported")
        alpha, beta = (float(attrs[a].f) if a in attrs else 1.0 for a in ("alpha", "beta"))
        if not (math.isfinite(alpha) and math.isfinite(beta)):
            raise NetworkError(f"{where}: alpha={alpha!r}, beta={beta!r} must be finite")
        alpha, beta = Fraction(alpha), Fraction(beta)
        matrix = _matrix(self._const(ins[1], where), where)
        trans_b = attrs.get("transB") is not None and attrs["transB"].i
        weight = matrix if trans_b else _transpose(matrix)
        if alpha != 1:
            weight = [[alpha * w for w in row] for row in weight]
        bias = [_ZERO] * len(weight)
        if len(ins) > 2 and ins[2]:
            bias = [beta * v for v in _vector(self._const(ins[2], where), len(weight), where)]
        return self._linear(self._affine(ins[0], where), weight, bias, where)

    # ------------------------------------------------------------------ structure

    def network(self, outputs) -> Network:
        """Grades from the outputs: each a scalar readout of a hidden layer on one chain."""
        if self.dim is None:
            self.dim = next((len(layer.weight[0]) for parent, layer in self.layers
                             if parent == 0), None)
        readouts = []
        for k, out in enumerate(outputs, start=1):
            where = f"output {k} {out.name!r}"
            value = self.values.get(out.name)
            if not isinstance(value, (_Affine, int)):
                raise NetworkError(f"{where}: not an affine readout of a hidden layer")
            value = self._affine(out.name, where)
            if value.width != 1:
                raise NetworkError(f"{where}: has {value.width} entries; one scalar per grade "
                                   f"is expected")
            if value.source == 0:
                raise NetworkError(f"{where}: reads x directly; a grade needs a hidden layer")
            readouts.append(value)
        if not readouts:
            raise NetworkError("ONNX graph: no outputs")
        grades, previous = [], 0
        for k, readout in enumerate(readouts, start=1):
            chain, node = [], readout.source
            while node != previous:
                if node == 0 or node < previous:
                    raise NetworkError(f"output {k}: its layers do not read grade {k - 1}'s last "
                                       f"hidden layer", "outputs must be in grade order")
                chain.append(node)
                node = self.layers[node - 1][0]
            if not chain:
                raise NetworkError(f"output {k}: reads the same hidden layer as grade {k - 1}",
                                   "each grade needs hidden layers of its own")
            layers = [self.layers[i - 1][1] for i in reversed(chain)]
            grades.append(Grade(layers, tuple(readout.weight[0]), readout.bias[0]))
            previous = readout.source
        if self.dim is None or len(grades[0].layers[0].weight[0]) != self.dim:
            raise NetworkError(f"ONNX graph: input {self.input.name!r} has width {self.dim}, "
                               f"grade 1 reads {len(grades[0].layers[0].weight[0])}")
        return Network(self.dim, grades, {"imported_from": "onnx"})


def network_from_onnx_bytes(data: bytes, name: str = "model.onnx") -> Network:
    """The exact network of a serialized ONNX model; `NetworkError` (one line) otherwise."""
    onnx, numpy_helper = _onnx()
    try:
        model = onnx.load_model_from_string(data)
    except Exception as exc:   # noqa: BLE001 - protobuf raises various types on bad bytes
        raise NetworkError(f"{name}: not a readable ONNX model ({type(exc).__name__})") from None
    graph = model.graph
    if not graph.node:
        raise NetworkError(f"{name}: the ONNX graph has no nodes")
    try:
        reader = _Reader(graph, numpy_helper)
        for index, node in enumerate(graph.node):
            reader.node(index, node)
        network = reader.network(graph.output)
    except NetworkError as exc:
        raise NetworkError(f"{name}: {exc.message}", exc.hint) from None
    except (RecursionError, MemoryError, OverflowError) as exc:
        raise NetworkError(f"{name}: cannot read the ONNX graph ({type(exc).__name__})") from None
    network.meta["source"] = name
    return network


def read_onnx(path: str) -> Network:
    """Read an ONNX file as an exact network; any problem is a one-line `NetworkError`."""
    import os
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise NetworkError(f"cannot read network file {path}: {exc.strerror}") from None
    return network_from_onnx_bytes(data, os.path.basename(path))
