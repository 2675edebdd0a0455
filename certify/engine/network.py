"""Exact multigrade ReLU networks and the `mgdl-relu/1` file format (docs/cli.md).

A `Network` is a list of `Grade`s; grade 1 reads `x`, grade `k` reads the last hidden layer
of grade `k-1`, and the approximant is the sum of the grade outputs. Weights are rationals
end to end; evaluation runs in any number context of `certify.engine.numbers` (exact, ball,
float), and vectorised in numpy floats for sampling.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Sequence

import numpy as np

from ..errors import NetworkError
from ..fileio import atomic_write_text
from ..limits import MAX_FILE_BYTES, MAX_GRADES, MAX_NESTING, MAX_NUMBER_CHARS, MAX_SAVED_BYTES
from .numbers import EXACT, FMPQ, Context, format_rational, parse_rational
from .realize import MINUS_ONE, ONE, ZERO, Layer

FORMAT = "mgdl-relu/1"
MAX_MAGNITUDE = Fraction(10) ** 300     # weights: float range, as sampling needs


@dataclass(eq=False)
class Grade:
    """One ReLU block and its affine readout `g_k = a_k · Φ_k + b_k`."""

    layers: list[Layer]
    readout_weight: tuple[Fraction, ...]
    readout_bias: Fraction
    _sparse: list | None = field(default=None, repr=False)
    _dense: list | None = field(default=None, repr=False)
    _converted: dict | None = field(default=None, repr=False)

    def shapes(self) -> list[tuple[int, int]]:
        """`(width, inputs)` of every layer, in order."""
        return [(layer.width, layer.inputs) for layer in self.layers]

    @property
    def width(self) -> int:
        """The largest number of neurons in one layer."""
        return max(layer.width for layer in self.layers)

    @property
    def depth(self) -> int:
        """Number of hidden layers."""
        return len(self.layers)

    @property
    def features(self) -> int:
        """Width of the last layer: what the next grade reads."""
        return self.layers[-1].width

    def sparse(self) -> list:
        """Per layer, per neuron: (nonzero columns, their weights, bias) for fast exact evaluation."""
        if self._sparse is None:
            self._sparse = [
                [(tuple(j for j, w in enumerate(row) if w),
                  tuple(w for w in row if w), b) for row, b in zip(layer.weight, layer.bias)]
                for layer in self.layers]
        return self._sparse

    def dense(self) -> list:
        """Per layer (W, b) as float64 arrays, for vectorised sampling."""
        if self._dense is None:
            self._dense = [(np.array([[float(w) for w in row] for row in layer.weight],
                                     dtype=float).reshape(layer.width, layer.inputs),
                            np.array([float(b) for b in layer.bias], dtype=float))
                           for layer in self.layers]
        return self._dense

    def converted(self, ctx: Context) -> tuple[list, tuple, Any]:
        """`sparse()` with every weight converted once into `ctx`'s numbers (cached per
        context: a deep grade is evaluated at many points, and conversion dominated)."""
        if self._converted is None:
            self._converted = {}
        if ctx.name not in self._converted:
            layers = [[(cols, tuple(ctx.convert(w) for w in ws), ctx.convert(b))
                       for cols, ws, b in layer] for layer in self.sparse()]
            self._converted[ctx.name] = (layers,
                                         tuple(ctx.convert(w) for w in self.readout_weight),
                                         ctx.convert(self.readout_bias))
        return self._converted[ctx.name]

    def forward(self, ctx: Context, inputs: Sequence[Any]) -> tuple[list[Any], Any]:
        """Features `Φ_k` and output `g_k` for the given input features, in context `ctx`."""
        layers, readout, bias = self.converted(ctx)
        relu = ctx.relu
        values = list(inputs)
        for layer in layers:          # `ctx.dot` over the sparse rows, inlined: the hot loop
            out = []
            for cols, ws, b in layer:
                total = b
                for w, j in zip(ws, cols):
                    total = total + w * values[j]
                out.append(relu(total))
            values = out
        return values, ctx.dot(readout, values, bias)

    def forward_floats(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Vectorised float features and outputs; `inputs` has shape (m, width_in)."""
        values = inputs
        for weight, bias in self.dense():
            values = np.maximum(values @ weight.T + bias, 0.0)
        a = np.array([float(w) for w in self.readout_weight])
        return values, values @ a + float(self.readout_bias)


@dataclass(eq=False)
class Network:
    """A multigrade ReLU network on `[0,1]^dim`."""

    dim: int
    grades: list[Grade]
    meta: dict = field(default_factory=dict)

    def grade_outputs(self, ctx: Context, x: Sequence[Any], upto: int | None = None) -> list[Any]:
        """`[g_1(x), …, g_n(x)]` in context `ctx` (the first `upto` grades if given)."""
        if ctx is EXACT:
            return self.exact_outputs(x, upto)
        values = [ctx.convert(v) for v in x]
        outs = []
        for grade in self.grades[:upto]:
            values, out = grade.forward(ctx, values)
            outs.append(out)
        return outs

    def outputs_floats(self, points: np.ndarray) -> np.ndarray:
        """Float grade outputs at many points: shape (m, n_grades)."""
        values = np.asarray(points, dtype=float)
        cols = []
        for grade in self.grades:
            values, out = grade.forward_floats(values)
            cols.append(out)
        return np.stack(cols, axis=1) if cols else np.zeros((len(values), 0))

    def exact_outputs(self, x: Sequence[Fraction], upto: int | None = None) -> list[Fraction]:
        """Exact grade outputs at a rational point (the first `upto` grades if given)."""
        values = [FMPQ.convert(v) for v in x]        # Fraction's arithmetic, faster
        outs = []
        for grade in self.grades[:upto]:
            values, out = grade.forward(FMPQ, values)
            outs.append(Fraction(int(out.p), int(out.q)))
        return outs

    def truncated(self, grades: int) -> "Network":
        """The network made of the first `grades` grades."""
        return Network(self.dim, self.grades[:grades], dict(self.meta))


# --------------------------------------------------------------------------- reading

def _rational(value: Any, where: str) -> Fraction:
    if isinstance(value, str) and len(value) > MAX_NUMBER_CHARS:
        raise NetworkError(f"{where}: a number of {len(value):,} characters (at most "
                           f"{MAX_NUMBER_CHARS:,})")
    try:
        q = parse_rational(value, where)
    except ValueError as exc:
        raise NetworkError(str(exc)) from None
    if abs(q) > MAX_MAGNITUDE:
        raise NetworkError(f"{where}: {str(value)[:30]} is larger than 1e300 in magnitude",
                           "weights must stay within float range (sampling uses floats)")
    return q


#: a plain integer or fraction "p" / "p/q", the form this toolkit writes
_PLAIN = re.compile(r"-?[0-9]{1,80}(?:/[0-9]{1,80})?")


def _plain_rational(value: Any) -> Fraction | None:
    """The exact value of a JSON float, a JSON integer or a plain "p" / "p/q" string well
    inside the bounds `_rational` enforces, read without its checks (the hot path of a
    large network file); None for anything else, which `_rational` then reads or refuses.
    Same value as `parse_rational`: a float is its binary value, "p/q" is `p/q`."""
    kind = type(value)
    if kind is float:
        return Fraction(value) if -1e299 < value < 1e299 else None
    if kind is int:
        return Fraction(value) if -10 ** 299 < value < 10 ** 299 else None
    if kind is str and _PLAIN.fullmatch(value):
        num, _, den = value.partition("/")
        if not den:
            return Fraction(int(num))
        d = int(den)
        if d:                       # |p/q| < 10^80: far inside the magnitude bound
            return Fraction(int(num), d)
    return None


def _vector(data: Any, length: int | None, where: str) -> tuple[Fraction, ...]:
    if not isinstance(data, list):
        raise NetworkError(f"{where}: expected a list, got {type(data).__name__}")
    if length is not None and len(data) != length:
        raise NetworkError(f"{where}: expected {length} entries, got {len(data)}")
    out = []
    memo = _PLAIN_MEMO
    for i, v in enumerate(data):
        q = memo.get(v) if type(v) is str else None        # "0", "1", ... repeat a lot
        if q is None:
            q = _plain_rational(v)
            if q is None:
                q = _rational(v, f"{where}[{i}]")
            elif type(v) is str and len(memo) < 65536:
                memo[v] = q                                 # Fractions are immutable
        out.append(q)
    return tuple(out)


def _row(data: Any, length: int, seen: dict, where: str,
         i: int | None = None) -> tuple[Fraction, ...]:
    """`_vector` of the weight row `i` of a layer (its bias if `i` is None); `seen` holds
    the rows of number strings read so far in this file: a construction repeats its rows
    (50 000 distinct among 1.6 million in a 75 000-hat file), and a repeated one is the
    same tuple again, kept once in memory."""
    if type(data) is list:
        try:
            known = seen.get(tuple(data))
        except TypeError:                   # an unhashable entry: refused by `_vector`
            known = None
        if known is not None and len(known) == length:
            return known
    out = _vector(data, length, f"{where}, bias" if i is None else f"{where}, weight[{i}]")
    # rows of strings only: an equal key is then the same strings (a string never equals a
    # number), so the same value; rows with JSON numbers are read each time
    if all(type(v) is str for v in data):
        seen[tuple(data)] = out
    return out


#: plain number strings already read (a file's weights repeat: most are "0", "1", "-1").
#: Those three are the very objects the construction's layers hold (`realize`), so that
#: comparing a read layer with a rebuilt one (`realize.recognise_grade`) finds most entries
#: equal by identity, without a `Fraction` comparison each
_PLAIN_MEMO: dict[str, Fraction] = {"0": ZERO, "1": ONE, "-1": MINUS_ONE}


def network_from_json(data: Any, force: bool = False) -> Network:
    """Validate a parsed `mgdl-relu/1` document and build the exact network.

    Every refusal names the grade, layer and entry, e.g. `grade 2, layer 1, weight[3][0]`.
    """
    if not isinstance(data, dict):
        raise NetworkError("network file: the top level must be a JSON object")
    if data.get("format") != FORMAT:
        raise NetworkError(f"network file: format must be {FORMAT!r}, got {data.get('format')!r}")
    dim = data.get("dim")
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        raise NetworkError(f"network file: dim must be a positive integer, got {dim!r}")
    grades_data = data.get("grades")
    if not isinstance(grades_data, list) or not grades_data:
        raise NetworkError("network file: grades must be a non-empty list")
    if len(grades_data) > MAX_GRADES and not force:
        raise NetworkError(f"network file: {len(grades_data):,} grades (budget {MAX_GRADES})",
                           "pass --force to read it anyway (see docs/cli.md, Limits)")
    meta = data.get("meta", {})
    if not isinstance(meta, dict):
        raise NetworkError("network file: meta must be a JSON object")
    grades = []
    inputs = dim
    seen: dict = {}                         # rows of number strings read so far (`_row`)
    for k, g in enumerate(grades_data, start=1):
        where = f"grade {k}"
        if not isinstance(g, dict) or not isinstance(g.get("layers"), list) or not g["layers"]:
            raise NetworkError(f"{where}: needs a non-empty list 'layers'")
        layers = []
        for l, layer in enumerate(g["layers"], start=1):
            lw = f"{where}, layer {l}"
            if not isinstance(layer, dict):
                raise NetworkError(f"{lw}: expected an object with 'weight' and 'bias'")
            rows = layer.get("weight")
            if not isinstance(rows, list) or not rows:
                raise NetworkError(f"{lw}: weight must be a non-empty list of rows")
            weight = tuple(_row(row, inputs, seen, lw, i) for i, row in enumerate(rows))
            bias = _row(layer.get("bias"), len(rows), seen, lw)
            layers.append(Layer(weight, bias))
            inputs = len(rows)
        ro = g.get("readout")
        if not isinstance(ro, dict):
            raise NetworkError(f"{where}, readout: expected an object with 'weight' and 'bias'")
        weight = _vector(ro.get("weight"), inputs, f"{where}, readout weight")
        bias = _rational(ro.get("bias"), f"{where}, readout bias")
        grades.append(Grade(layers, weight, bias))
    return Network(dim, grades, meta)


_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"')


#: bytes per block of `_nesting`: numpy passes over a whole file of tens of megabytes ran
#: about 3x slower than over blocks that stay in cache
NESTING_BLOCK = 1 << 20


def _nesting(text: str) -> int:
    """The deepest bracket nesting of a JSON text (strings skipped), without recursion: a
    running sum over the brackets outside strings (numpy, block by block, the parity of
    quotes and the depth carried from one block to the next). Without a backslash every
    `"` opens or closes a string; with one, the strings are cut out by a regular
    expression."""
    if "\\" in text:
        text = _STRINGS.sub('""', text)
    data = text.encode("utf-8", "surrogatepass")
    deepest = depth = inside = 0
    for start in range(0, len(data), NESTING_BLOCK):
        codes = np.frombuffer(data, dtype=np.uint8, offset=start,
                              count=min(NESTING_BLOCK, len(data) - start))
        odd = np.bitwise_xor.accumulate((codes == 34).view(np.uint8)) ^ np.uint8(inside)
        step = ((codes == 91) | (codes == 123)).astype(np.int8) \
            - ((codes == 93) | (codes == 125)).astype(np.int8)      # [ { minus ] }
        running = np.cumsum(np.where(odd == 0, step, 0), dtype=np.int64) + depth
        deepest = max(deepest, int(running.max()))
        depth, inside = int(running[-1]), int(odd[-1])
    return deepest


def _json_loads(text: str):
    """The value of a JSON text, numbers read by `_json_int` / `_json_float` and NaN or
    Infinity kept as strings (refused where a number is wanted)."""
    return json.loads(text, parse_constant=lambda c: c, parse_int=_json_int,
                      parse_float=_json_float)


def _meta_value(text: str):
    """`_json_loads` of the text of a document's `meta`, refused (ValueError) where the
    document would be nested more than MAX_NESTING deep: the `meta` of `{"meta": ...}`, one
    level down, as `read_network` counts."""
    if _nesting(text) + 1 > MAX_NESTING:
        raise ValueError("nested too deep")
    return _json_loads(text)


def _json_int(text: str):
    """A JSON integer; past MAX_NUMBER_CHARS digits it stays text (refused where used)."""
    return int(text) if len(text) <= MAX_NUMBER_CHARS else text


def _json_float(text: str):
    """A JSON float as its binary value, unless that overflows or underflows to 0: then the
    text, read later as the exact decimal it writes (and bounded there)."""
    if len(text) > MAX_NUMBER_CHARS:
        return text
    value = float(text)
    if math.isinf(value) or (value == 0 and any(c in "123456789" for c in
                                                text.lower().split("e")[0])):
        return text
    return value


def read_network(path: str, force: bool = False) -> Network:
    """Read and validate a network file; any problem is a one-line `NetworkError`.

    Bounded before parsing: file size, text (no binary), nesting depth; numbers are kept as
    strings by the JSON parser and read exactly, each at most `MAX_NUMBER_CHARS` long.
    A file `certify build -o` wrote is read as its hats (`grade_text.read_saved`), within
    the larger budget `MAX_SAVED_BYTES` (its text is compared, never parsed number by
    number). A path ending in `.onnx` is read as an ONNX model
    (`certify.interfaces.onnx_import`).
    """
    if path.lower().endswith(".onnx"):
        from ..interfaces.onnx_import import read_onnx
        return read_onnx(path)
    from .grade_text import SAVED_HEAD, may_be_saved, read_saved

    def too_large():
        return NetworkError(f"network file {path} has {size:,} bytes (budget "
                            f"{MAX_FILE_BYTES:,}; {MAX_SAVED_BYTES:,} for a file certify "
                            "build -o wrote, unedited)", "pass --force to read it anyway")
    try:
        size = os.path.getsize(path)
        if size > MAX_SAVED_BYTES and not force:
            raise too_large()
        with open(path, "rb") as handle:
            # past the general budget only a file `build -o` wrote is read: one that does
            # not begin as those do is refused from its first bytes, not read whole first
            if size > MAX_FILE_BYTES and not force and \
                    not may_be_saved(handle.read(len(SAVED_HEAD))):
                raise too_large()
            handle.seek(0)
            raw = handle.read()
    except OSError as exc:
        raise NetworkError(f"cannot read network file {path}: {exc.strerror}") from None
    if b"\0" in raw:
        raise NetworkError(f"{path} is a binary file, not a JSON network file",
                           "name ONNX models *.onnx")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NetworkError(f"{path} is not UTF-8 text (byte {exc.start}); not a network "
                           "file") from None
    del raw                                 # the text alone from here (files of 100s of MB)
    saved = read_saved(text, _meta_value, force)   # a construction's own file, as written
    if saved is not None:
        return saved
    if size > MAX_FILE_BYTES and not force:
        raise too_large()
    if _nesting(text) > MAX_NESTING:
        raise NetworkError(f"{path}: JSON nested more than {MAX_NESTING} deep; not a network "
                           "file")
    try:
        data = _json_loads(text)
    except json.JSONDecodeError as exc:
        raise NetworkError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except (ValueError, RecursionError) as exc:
        raise NetworkError(f"{path}: not a usable JSON file ({type(exc).__name__})") from None
    return network_from_json(data, force)


# --------------------------------------------------------------------------- writing

def _once_per_object(make):
    """`make` as a function made once per object, keyed by identity: the caller keeps every
    object it is given alive meanwhile, so no id is reused."""
    done: dict = {}

    def get(obj):
        out = done.get(id(obj))
        if out is None:
            out = done[id(obj)] = make(obj)
        return out
    return get


def number_text(w: Fraction) -> str:
    """How a weight is written: `format_rational` (most weights of a construction are
    realize's ZERO, written without a call)."""
    return "0" if w is ZERO or not w else format_rational(w)


def network_to_json(network: Network) -> dict:
    """The `mgdl-relu/1` document, every number an exact string: the definition, from the
    layers themselves (`network_text` writes its text faster)."""
    text = number_text
    # a construction grade shares layer and row objects between its hats (`realize`):
    # each distinct object is formatted once (all stay alive meanwhile)
    row_text = _once_per_object(lambda row: [text(w) for w in row])
    layer_text = _once_per_object(lambda layer: {"weight": [row_text(r) for r in layer.weight],
                                                 "bias": row_text(layer.bias)})

    grades = []
    for grade in network.grades:
        layers = [layer_text(layer) for layer in grade.layers]
        grades.append({"layers": layers,
                       "readout": {"weight": [text(w) for w in grade.readout_weight],
                                   "bias": text(grade.readout_bias)}})
    return {"format": FORMAT, "dim": network.dim, "grades": grades, "meta": network.meta}


def network_text(network: Network) -> str:
    """`json.dumps(network_to_json(network), separators=(",", ":"))`, the same text, made
    faster: a construction grade's layers are written from its hats
    (`grade_text.layer_texts`), and the text of every other layer and row object is made
    once (shared rows are common), by the pieces of `grade_text` (`row_text`,
    `layer_text`, `readout_text`), so both write one format."""
    from .grade_text import layer_text, layer_texts, readout_text, row_text
    from .hat_grade import HatGrade

    def dumps(value):
        return json.dumps(value, separators=(",", ":"))

    row_json = _once_per_object(row_text)
    layer_json = _once_per_object(lambda layer: layer_text(
        ",".join(map(row_json, layer.weight)), row_json(layer.bias)))
    grades = []
    for grade in network.grades:          # every layer and row stays alive: ids are their own
        layers = layer_texts(grade.dim, grade.hats, grade.inputs) \
            if isinstance(grade, HatGrade) else map(layer_json, grade.layers)
        grades.append('{"layers":[' + ",".join(layers) + '],"readout":'
                      + readout_text(grade.readout_weight, grade.readout_bias) + "}")
    return (dumps({"format": FORMAT, "dim": network.dim})[:-1]
            + ',"grades":[' + ",".join(grades) + '],"meta":' + dumps(network.meta) + "}")


def write_network(network: Network, path: str) -> None:
    """Write atomically: a killed run never leaves half a file."""
    atomic_write_text(path, network_text(network))
