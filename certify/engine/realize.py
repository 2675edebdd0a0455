"""ReLU realisation of Courant hats and of whole construction grades (docs/theory.md §2-3).

A grade of the construction is one deep block of fixed width `3d + 2`. Every layer keeps
the same first `d + 2` neurons: the input carriers `x_1..x_d` (`σ(x_i) = x_i` on the cube)
and the two nonnegative accumulators `P`, `Q`. A hat for node `z`, mesh `h` then takes

    layer A      u_i = σ(y_i), v_i = σ(-y_i),  y = (x - z)/h           (2d neurons)
    tree layers  max(a, b) = a + σ(b - a), pairwise, ⌈log2 d⌉ layers     (<= 2d neurons)
    layer φ      φ = σ(1 - U - V)                                       (1 neuron)

and the next layer adds `c φ` into `P` (`c > 0`) or `|c| φ` into `Q` (`c < 0`). A final
layer holds only carriers, `P` and `Q`; the readout is `P - Q`.

`grade_layers` builds that block; `recognise_grade` reads hats back from weights alone by
rebuilding the canonical block from what the weights say and comparing exactly, so a
checker never has to trust `meta`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Sequence

ZERO = Fraction(0)
ONE = Fraction(1)


@dataclass(frozen=True)
class Layer:
    """`h -> σ(W h + b)`, exact: `weight` has one row per neuron."""

    weight: tuple[tuple[Fraction, ...], ...]
    bias: tuple[Fraction, ...]

    @property
    def width(self) -> int:
        return len(self.bias)

    @property
    def inputs(self) -> int:
        return len(self.weight[0]) if self.weight else 0


@dataclass(frozen=True)
class Hat:
    """One term `c φ_z` of a grade: node `z` (a point), mesh `h`, coefficient `c`."""

    z: tuple[Fraction, ...]
    h: Fraction
    c: Fraction


class _LayerBuilder:
    """Collects sparse rows for one layer, then emits it densely."""

    def __init__(self, inputs: int):
        self.inputs = inputs
        self.rows: list[tuple[dict[int, Fraction], Fraction]] = []

    def add(self, terms: dict[int, Fraction], bias: Fraction = ZERO) -> int:
        self.rows.append((terms, bias if type(bias) is Fraction else Fraction(bias)))
        return len(self.rows) - 1

    def build(self) -> Layer:
        weight = []
        zeros = [ZERO] * self.inputs
        for terms, _ in self.rows:
            row = zeros.copy()
            for col, w in terms.items():        # one entry per column: no sum needed
                row[col] = w if type(w) is Fraction else ZERO + w
            weight.append(tuple(row))
        return Layer(tuple(weight), tuple(b for _, b in self.rows))


def tree_depth(dim: int) -> int:
    """`⌈log2 d⌉`: layers of the pairwise max tree."""
    return math.ceil(math.log2(dim)) if dim > 1 else 0


def block_depth(dim: int) -> int:
    """Layers one hat occupies in a grade: layer A, the tree, layer φ."""
    return 2 + tree_depth(dim)


def max_width(dim: int) -> int:
    """The fixed width `W(d) = 3d + 2` of every construction grade."""
    return 3 * dim + 2


MINUS_ONE = -ONE


def _neg(w):
    """`-w`, without building a new Fraction for the common weight 1."""
    return MINUS_ONE if w is ONE else -w


def _combine(terms: Sequence[tuple[int, Fraction]]) -> dict[int, Fraction]:
    out: dict[int, Fraction] = {}
    for col, w in terms:
        out[col] = out[col] + w if col in out else w
    return out


def _hat_layers(builder_for, z, h, x_cols, keep):
    """Emit the layers of one hat into fresh builders.

    `builder_for()` opens the next layer (and copies the pass-through neurons `keep` into
    it, returning their new columns); `x_cols` gives the current columns of `x_i`. Returns
    the column of `φ` in the last layer and the pass-through columns there.
    """
    dim = len(z)
    layer, kept = builder_for(keep)
    us, vs = [], []
    inv = 1 / h
    shifts = [z[i] / h for i in range(dim)]
    for i in range(dim):
        us.append(layer.add({x_cols(kept)[i]: inv}, -shifts[i]))
    for i in range(dim):
        vs.append(layer.add({x_cols(kept)[i]: -inv}, shifts[i]))
    # values as linear combinations of the current layer's neurons
    groups = [[[(c, ONE)] for c in us], [[(c, ONE)] for c in vs]]
    while any(len(g) > 1 for g in groups):
        nxt, kept = builder_for(kept)
        new_groups = []
        for group in groups:
            reduced = []
            for j in range(0, len(group), 2):
                a = group[j]
                if j + 1 == len(group):
                    reduced.append([(nxt.add(_combine(a)), ONE)])
                    continue
                b = group[j + 1]
                keep_a = nxt.add(_combine(a))
                diff = nxt.add(_combine(list(b) + [(col, _neg(w)) for col, w in a]))
                reduced.append([(keep_a, ONE), (diff, ONE)])
            new_groups.append(reduced)
        groups = new_groups
        layer = nxt
    last, kept = builder_for(kept)
    phi = last.add(_combine([(c, _neg(w)) for c, w in groups[0][0]] +
                            [(c, _neg(w)) for c, w in groups[1][0]]), ONE)
    return phi, kept, last


def hat_block(z: Sequence[Fraction], h: Fraction) -> list[Layer]:
    """The stand-alone ReLU block of one hat: input `x ∈ R^d`, last layer the single neuron `φ_z(x)`.

    Valid on all of `R^d` (no carriers are needed: the first layer reads `x` directly).
    """
    z = tuple(Fraction(v) for v in z)
    h = Fraction(h)
    dim = len(z)
    builders: list[_LayerBuilder] = []

    def builder_for(keep):
        inputs = dim if not builders else len(builders[-1].rows)
        builders.append(_LayerBuilder(inputs))
        return builders[-1], keep

    _hat_layers(builder_for, z, h, lambda kept: list(range(dim)), keep=None)
    return [b.build() for b in builders]


#: grades built recently: id of the first layer -> (layers, dim, inputs, hats). Layers are
#: immutable, so a grade whose layers are these very objects computes these hats;
#: `recognise_grade` then skips re-reading and rebuilding it (`certify check --grades N`
#: builds, then recognises, the same grades). A network edited afterwards has other layer
#: objects and is recognised from its weights as usual.
_BUILT: dict = {}
_BUILT_MAX = 256


def grade_layers(dim: int, hats: Sequence[Hat], inputs: int,
                 keep_zero: bool = False) -> list[Layer]:
    """The layers of one construction grade realising `Σ c φ_z` over `hats`, in order.

    The grade reads a vector of length `inputs` whose first `dim` entries are `x` (the
    input itself for grade 1, the previous grade's carriers after that). Zero
    coefficients are skipped unless `keep_zero` (a block whose accumulator weights are
    both 0, as when a coefficient of a built grade is set to 0). Its readout is
    `readout(dim)`.
    """
    layers = _grade_layers(dim, hats, inputs, keep_zero)
    if len(_BUILT) >= _BUILT_MAX:
        _BUILT.pop(next(iter(_BUILT)))
    _BUILT[id(layers[0])] = (list(layers), dim, inputs,
                             [h for h in hats if h.c != 0 or keep_zero])
    return layers


def _built_hats(dim: int, layers: Sequence[Layer], inputs: int) -> list[Hat] | None:
    """The hats of a grade built in this process from these very layer objects, or None."""
    entry = _BUILT.get(id(layers[0])) if layers else None
    if entry is None or entry[1] != dim or entry[2] != inputs or len(entry[0]) != len(layers):
        return None
    if not all(a is b for a, b in zip(entry[0], layers)):
        return None
    return list(entry[3])


def _grade_layers(dim: int, hats: Sequence[Hat], inputs: int,
                  keep_zero: bool = False) -> list[Layer]:
    """The layers of `_grade_layers_reference`, fast: hats after the second differ from the
    second only in the first layer of their block (`z`, `h`, and the previous coefficient
    entering `P` or `Q`); their max-tree and `φ` layers are the same (immutable) objects.
    (`grade_text.layer_texts` writes these layers' text in the same shape.)"""
    hats = [h for h in hats if h.c != 0 or keep_zero]
    if len(hats) < 3:
        return _grade_layers_reference(dim, hats, inputs, keep_zero)
    ref = _grade_layers_reference(dim, hats[:2], inputs, keep_zero)
    depth = block_depth(dim)
    first = ref[depth]                       # layer A of the second hat: the template
    width = first.inputs                     # rows of a φ layer: carriers, P, Q, φ
    phi_col = dim + 2
    layers = list(ref[:2 * depth])
    shared = layers[depth + 1:2 * depth]     # the second hat's tree and φ layers
    carriers = tuple(first.weight[:dim])
    zeros = [ZERO] * width
    plain_p, plain_q = zeros.copy(), zeros.copy()
    plain_p[dim], plain_q[dim + 1] = ONE, ONE
    plain_p, plain_q = tuple(plain_p), tuple(plain_q)

    def accumulators(c):
        row = list(plain_p if c > 0 else plain_q)
        row[phi_col] = c if c > 0 else -c
        return (tuple(row), plain_q) if c > 0 else (plain_p, tuple(row))

    # dictionaries keyed by (numerator, denominator): hashing a Fraction costs a modular
    # inverse, hashing two ints nothing
    slopes = {(hats[1].h.numerator, hats[1].h.denominator): tuple(first.weight[dim + 2:])}
    head = (ZERO,) * (dim + 2)
    # (z_i / h, -z_i / h) per coordinate object and mesh: a level's hats share their
    # coordinates (`HatArray`, `recognise_grade`), so each pair is made once
    shift_of: dict = {}
    for previous, hat in zip(hats[1:], hats[2:]):
        h = hat.h
        key = (h.numerator, h.denominator)
        if key not in slopes:
            inv = 1 / h
            slopes[key] = tuple(tuple(inv if j == i else ZERO for j in range(width))
                                for i in range(dim)) \
                + tuple(tuple(-inv if j == i else ZERO for j in range(width)) for i in range(dim))
        pairs = []
        for v in hat.z:
            pair = shift_of.get((id(v), key))
            if pair is None:        # v stays alive in `hats` meanwhile: its id is its own
                shift, negated = _shifts((v,), h)
                pair = shift_of[id(v), key] = (shift[0], negated[0])
            pairs.append(pair)
        layers.append(Layer(carriers + accumulators(previous.c) + slopes[key],
                            head + tuple(n for _, n in pairs) + tuple(s for s, _ in pairs)))
        layers.extend(shared)
    final = ref[-1]
    layers.append(Layer(tuple(final.weight[:dim]) + accumulators(hats[-1].c), tuple(final.bias)))
    return layers


def _shifts(z: Sequence[Fraction], h: Fraction):
    """`(z / h, -z / h)` as tuples, exactly; integer Fractions made without a gcd where `z`
    is a node of the grid of mesh `h = 1/m` (the construction's case)."""
    out, neg = [], []
    for v in z:
        q, r = divmod(h.denominator, v.denominator) if h.numerator == 1 else (0, 1)
        if r:
            s = v / h
            out.append(s)
            neg.append(-s)
        else:
            i = v.numerator * q
            out.append(Fraction(i))
            neg.append(Fraction(-i))
    return tuple(out), tuple(neg)


def _grade_layers_reference(dim: int, hats: Sequence[Hat], inputs: int,
                            keep_zero: bool = False) -> list[Layer]:
    """Every hat through the generic layer builders (the definition `_grade_layers` keeps)."""
    hats = [h for h in hats if h.c != 0 or keep_zero]
    builders: list[_LayerBuilder] = []
    pending: list[tuple[int, Fraction]] = []        # (φ column, c) to add into P or Q next

    def open_layer(keep):
        inputs_now = inputs if not builders else len(builders[-1].rows)
        layer = _LayerBuilder(inputs_now)
        first = not builders
        for i in range(dim):
            layer.add({i: ONE})
        p_terms: dict[int, Fraction] = {} if first else {dim: ONE}
        q_terms: dict[int, Fraction] = {} if first else {dim + 1: ONE}
        for col, c in pending:
            target = p_terms if c > 0 else q_terms
            size = c if c > 0 else -c
            target[col] = target[col] + size if col in target else size
        pending.clear()
        layer.add(p_terms)
        layer.add(q_terms)
        builders.append(layer)
        return layer, None

    for item in hats:
        phi, _, _ = _hat_layers(open_layer, item.z, item.h, lambda kept: list(range(dim)), None)
        pending.append((phi, item.c))
    open_layer(None)
    return [b.build() for b in builders]


def readout(dim: int) -> tuple[tuple[Fraction, ...], Fraction]:
    """Readout of a construction grade over its last layer `[x_1..x_d, P, Q]`: `P - Q`."""
    return tuple([ZERO] * dim + [ONE, -ONE]), ZERO


def recognise_grade(dim: int, layers: Sequence[Layer], read: tuple, inputs: int) -> list[Hat] | None:
    """The hats a grade realises, read from its weights alone, or `None` if it is not a
    construction grade (in which case the checker takes the general path).

    Reads each block's `z`, `h` from its first layer and `c` from the accumulator row
    after it, rebuilds the canonical grade from those hats and accepts only an exact match
    of every weight, bias and the readout.
    """
    depth = block_depth(dim)
    if (len(layers) - 1) % depth or tuple(read[0]) != readout(dim)[0] or read[1] != 0:
        return None
    known = _built_hats(dim, layers, inputs)
    if known is not None:
        return known
    hats = []
    # a grade's blocks share their mesh and each axis takes few coordinates: `h` and each
    # `z_i` are made once per distinct value (keyed by integers: hashing a Fraction costs a
    # modular inverse), and the hats share them, as the construction's own hats do
    meshes: dict = {}
    coordinates: dict = {}
    try:
        for j in range(0, len(layers) - 1, depth):
            first = layers[j]
            scale = first.weight[dim + 2][0]
            key = (scale.numerator, scale.denominator)
            h = meshes.get(key)
            if h is None:
                if scale <= 0:
                    return None
                h = meshes[key] = 1 / scale
            z = []
            for i in range(dim):
                b = first.bias[dim + 2 + i]
                key = (b.numerator, b.denominator, h.numerator, h.denominator)
                v = coordinates.get(key)
                if v is None:
                    v = coordinates[key] = -b * h
                z.append(v)
            z = tuple(z)
            after = layers[j + depth]
            phi_col = dim + 2
            c_pos = after.weight[dim][phi_col]
            c_neg = after.weight[dim + 1][phi_col]
            if c_pos != 0 and c_neg != 0:
                return None
            hats.append(Hat(z, h, c_pos if c_pos else -c_neg))
    except IndexError:
        return None
    if grade_layers(dim, hats, inputs, keep_zero=True) != list(layers):
        return None
    return hats
