"""The `mgdl-relu/1` text of construction grades, written from their hats and read back.

Writing: a construction grade is `realize.grade_layers(d, hats, inputs)`, whose blocks after
the second differ from it only in the first layer (`z`, `h`, and the coefficient entering
`P` or `Q`), so the JSON text of a grade is a few fixed strings and, per hat, one short
string made from `z / h` and `c` (`layer_texts`). `network.network_text` writes it so.

Reading (`read_saved`): a network file that `certify build -o` wrote lists its hats in
`meta`. `meta` is never trusted, but it proposes hats: the file is read without parsing
its layers exactly when its text *is* the text written for the network of those hats,
character for character, up to `meta`. The layers then hold exactly those weights (the
text is the writer's, whose numbers `network.read_network` reads back as the values they
were written from), and the grades are `HatGrade`s of the proposed hats, which the checker
reads as hats without rebuilding their layers. Any difference, however small, and the
file takes the general reader, which parses and validates every number.
"""

from __future__ import annotations

import json
from fractions import Fraction
from typing import Iterator, Sequence

import numpy as np

from ..limits import MAX_FILE_BYTES, MAX_GRADES
from .hat_grade import HatArray, HatGrade
from .network import _PLAIN, FORMAT, Network, _plain_rational, number_text
from .realize import ONE, ZERO, Hat, _grade_layers_reference, _shifts, block_depth, readout


def row_text(values) -> str:
    """The JSON text of a row of weights, every number a string `number_text(w)` (digits,
    `-` and `/`, which JSON strings hold as they are: `'"' + s + '"'` is what the
    encoder writes)."""
    return '["' + '","'.join(map(number_text, values)) + '"]' if len(values) else "[]"


def layer_text(weight: str, bias: str) -> str:
    """The JSON text of a layer from the texts of its rows (`weight`, joined by commas)
    and of its bias."""
    return '{"weight":[' + weight + '],"bias":' + bias + "}"


def _of(layer) -> str:
    return layer_text(",".join(map(row_text, layer.weight)), row_text(layer.bias))


def layer_texts(dim: int, hats: Sequence[Hat], inputs: int) -> Iterator[str]:
    """The JSON text of the layers of `grade_layers(dim, hats, inputs)`, in order, in
    pieces that joined by commas make the text `network.network_text` writes for them
    (`{"weight":[rows],"bias":row}` a layer, every number a string `number_text(w)`): the
    shape of `realize._grade_layers`, each block after the second one piece, made from
    `z / h` and `c` alone (from the integer arrays themselves for a `HatArray` on a grid
    `h = 1/n`)."""
    array = isinstance(hats, HatArray) and hats.h.numerator == 1
    if not array:
        hats = [h for h in hats if h.c != 0]         # as `grade_layers` drops them
    ref = _grade_layers_reference(dim, hats[:2], inputs)
    if len(hats) < 3:
        yield from map(_of, ref)
        return
    depth = block_depth(dim)
    first = ref[depth]                       # layer A of the second hat: the template
    width = first.inputs
    phi = dim + 2
    yield from map(_of, ref[:2 * depth])
    shared = "," + ",".join(map(_of, ref[depth + 1:2 * depth]))   # tree and φ layers
    carriers = ",".join(map(row_text, first.weight[:dim])) + ","

    def plain(one):                          # a row of 0s with 1 at `one`
        return [ONE if j == one else ZERO for j in range(width)]

    def split(one):                          # that row's text around column φ
        row = [number_text(w) for w in plain(one)]
        row[phi] = "\0"
        return ('["' + '","'.join(row) + '"]').split("\0")
    p_row, q_row = row_text(plain(dim)), row_text(plain(dim + 1))
    (p_pre, p_post), (q_pre, q_post) = split(dim), split(dim + 1)

    def accumulators(positive: bool, size: str) -> str:
        """The rows `P`, `Q` adding `c φ` into `P` (`c > 0`) or `|c| φ` into `Q`, `size`
        the text of `|c|`."""
        if positive:
            return p_pre + size + p_post + "," + q_row
        return p_row + "," + q_pre + size + q_post

    def slope_rows(inv: Fraction) -> str:
        return "," + ",".join(
            [row_text([inv if j == i else ZERO for j in range(width)]) for i in range(dim)]
            + [row_text([-inv if j == i else ZERO for j in range(width)]) for i in range(dim)])
    def closing(positive: bool, size: str) -> str:
        """The last layer: the carriers and `P`, `Q` with the last hat's coefficient."""
        return layer_text(",".join(map(row_text, ref[-1].weight[:dim])) + ","
                          + accumulators(positive, size), row_text(ref[-1].bias))
    head = '{"weight":[' + carriers
    bias = '],"bias":["' + '","'.join(["0"] * (dim + 2)) + '","'
    tail = '"]}' + shared
    if array:
        rows = slope_rows(Fraction(hats.h.denominator))
        sizes = _coefficient_texts(hats.units.tolist(), hats.bits)
        for (positive, size), node in zip(sizes[1:], hats.index[2:].tolist()):
            yield (head + accumulators(positive, size) + rows + bias
                   + '","'.join([str(-i) for i in node] + [str(i) for i in node]) + tail)
        yield closing(*sizes[-1])
        return
    slopes: dict = {}
    shift_of: dict = {}
    for previous, hat in zip(hats[1:], hats[2:]):
        h = hat.h
        key = (h.numerator, h.denominator)
        rows = slopes.get(key)
        if rows is None:
            rows = slopes[key] = slope_rows(1 / h)
        negated, shifted = [], []
        for v in hat.z:
            pair = shift_of.get((id(v), key))
            if pair is None:        # v stays alive in `hats` meanwhile: its id is its own
                s, n = _shifts((v,), h)
                pair = shift_of[id(v), key] = (number_text(s[0]), number_text(n[0]))
            shifted.append(pair[0])
            negated.append(pair[1])
        c = previous.c
        yield (head + accumulators(c > 0, number_text(abs(c))) + rows + bias
               + '","'.join(negated + shifted) + tail)
    c = hats[-1].c
    yield closing(c > 0, number_text(abs(c)))


def _coefficient_texts(units: list, bits: int) -> list[tuple[bool, str]]:
    """`(c > 0, number_text(|c|))` of each coefficient `c = u 2^-bits` (`u != 0`): the
    fraction in lowest terms, `p` or `p/2^e`, as `format_rational` writes it."""
    out = []
    for u in units:
        size = -u if u < 0 else u
        shift = min((size & -size).bit_length() - 1, bits)
        p, e = size >> shift, bits - shift
        out.append((u > 0, str(p) if e == 0 else f"{p}/{1 << e}"))
    return out


def readout_text(weight, bias) -> str:
    """The JSON text of a grade's readout object (`json.dumps`, compact)."""
    return json.dumps({"weight": [number_text(w) for w in weight], "bias": number_text(bias)},
                      separators=(",", ":"))


# --------------------------------------------------------------------------- reading

#: how every file `network_text` writes begins (its `dim` follows)
SAVED_HEAD = '{"format":' + json.dumps(FORMAT) + ',"dim":'
_META = '],"meta":'


def may_be_saved(head: bytes) -> bool:
    """Whether a file whose first bytes are `head` (at least `len(SAVED_HEAD)` of them) may
    be one `read_saved` reads: it begins as `network_text` writes. A larger file that does
    not is refused before it is read whole."""
    return head.startswith(SAVED_HEAD.encode())


def read_saved(text: str, meta_of, force: bool = False):
    """`Network` of `text` when it is, character for character up to `meta`, the text
    `network_text` writes for the construction grades whose hats `meta` lists; None
    otherwise (the caller then reads the file in general). `meta_of(s)` parses the JSON
    text `s` as the general reader parses values."""
    if not text.startswith(SAVED_HEAD) or not text.endswith("}"):
        return None
    start = text.find(',"grades":[', len(SAVED_HEAD), len(SAVED_HEAD) + 40)
    split = text.rfind(_META)
    if start < 0 or split < start or not text[len(SAVED_HEAD):start].isdigit():
        return None
    if len(text) - split > MAX_FILE_BYTES and not force:
        return None         # meta is parsed as JSON: within the general reader's budget
    dim = int(text[len(SAVED_HEAD):start])
    try:
        meta = meta_of(text[split + len(_META):-1])
        hats = _proposed(meta, dim)
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError,
            ZeroDivisionError, OverflowError):
        return None
    if hats is None or not hats or dim < 1 or (len(hats) > MAX_GRADES and not force):
        return None
    grades, inputs = [], dim
    for level in hats:
        grades.append(HatGrade(dim, level, inputs))
        inputs = grades[-1].features
    position = start + len(',"grades":[')
    tail = '],"readout":' + readout_text(*readout(dim)) + "}"
    for k, grade in enumerate(grades):
        head = '{"layers":[' if k == 0 else ',{"layers":['
        if not text.startswith(head, position):
            return None
        position += len(head)
        for i, piece in enumerate(layer_texts(dim, grade.hats, grade.inputs)):
            if i:
                if text[position:position + 1] != ",":
                    return None
                position += 1
            if not text.startswith(piece, position):
                return None
            position += len(piece)
        if not text.startswith(tail, position):
            return None
        position += len(tail)
    if position != split:
        return None
    return Network(dim, grades, meta)


def _proposed(meta, dim: int) -> list | None:
    """The hats `meta["levels"]` lists, one `HatArray` per level (nodes on the level's grid
    `h = 1/n`, dyadic coefficients), or None; every number a plain `p` / `p/q`. The
    layers' numbers are then `n`, the node indices and the coefficients, all within the
    general reader's bounds (at most 80 digits each, `_PLAIN`)."""
    if not isinstance(meta, dict) or not isinstance(meta.get("levels"), list):
        return None
    out = []
    for level in meta["levels"]:
        h = _plain(level["mesh"])
        if h is None or h <= 0 or h.numerator != 1:
            return None
        n = h.denominator
        indices: dict = {}                   # coordinate text -> index on the grid

        def index_of(text):
            """`z n` for the plain "p" / "p/q" text of `z`, which must be an integer."""
            i = indices.get(text)
            if i is None:
                if type(text) is not str or not _PLAIN.fullmatch(text):
                    raise ValueError(text)
                num, _, den = text.partition("/")
                i, rest = divmod(int(num) * n, int(den) if den else 1)
                if rest:
                    raise ValueError(text)
                indices[text] = i
            return i
        index, numerators, exponents = [], [], []
        for hat in level["hats"]:
            node, c = hat["node"], hat["c"]
            if type(c) is not str or not _PLAIN.fullmatch(c) or not isinstance(node, list) \
                    or len(node) != dim:
                return None
            num, _, den = c.partition("/")
            d = int(den) if den else 1
            if d <= 0 or d & (d - 1):            # not dyadic
                return None
            index.append([index_of(v) for v in node])
            numerators.append(int(num))
            exponents.append(d.bit_length() - 1)
        bits = max(exponents, default=0)
        units = [u << (bits - e) for u, e in zip(numerators, exponents)]
        fits = all(-2 ** 62 < u < 2 ** 62 for u in units)
        index = np.array(index, dtype=np.int64).reshape(-1, dim)
        out.append(HatArray(index, np.array(units, dtype=np.int64 if fits else object), bits, h))
    return out


def _plain(value) -> Fraction | None:
    """A plain "p" / "p/q" string as its value, None for anything else."""
    return _plain_rational(value) if type(value) is str else None
