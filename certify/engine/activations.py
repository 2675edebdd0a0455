"""Pre-activations of one layer on many linear regions at once: floats with proven error
bounds for every neuron, exact rationals only where a neuron's hyperplane comes near a region.

On a linear region the features `F_l` of layer `l` (one row `(c_1, …, c_d, c_0)` per
neuron) are affine in `x`, and the next layer's pre-activations are `P = W F_l + b`. Most
neurons keep one sign on a region, and deciding that needs no exact arithmetic: `P` is
computed in float64 for all regions of a layer at once (one batched matrix product), with an
elementwise bound `T >= |P̃ - P|` carried from layer to layer (`propagate`), and the sign of
`P` at every vertex is certain where the float value exceeds a bound on its error
(`vertex_signs`). Exact rows are made only for the neurons whose sign is not certain at some
vertex or that change sign on the region (the hyperplanes that split it): `Chain` keeps each
region's activation patterns since the last layer where its exact features were needed and
computes them on demand (`materialize`); a grade's output on a region is read backwards
from the readout (`output_row`), one row-vector product per layer.

Error analysis (u = 2^-53, γ_n = n u / (1 - n u) <= 2 n u for n u <= 1/2; a float product
`fl(A B)` of an `m × n` and an `n × k` matrix satisfies `|fl(A B) - A B| <= γ_n |A| |B|`
for any order of summation, with or without fused multiply-add):

- weights and biases are rounded to nearest: `|W̃ - W| <= EW := 2u |W̃|` where `W̃ != W`
  (0 where the float is the weight, e.g. a network trained in float64), the same for `b`;
- with `|F̃ - F| <= E`, `P̃ = fl(W̃ F̃ + b̃)` differs from `P = W F + b` by at most
  `γ_{n+1}(|W̃||F̃| + |b̃|) + EW |F̃| + (|W̃| + EW) E + Eb`; the bound is itself a float sum
  of non-negative terms, computed below its value by at most a factor `1 - γ_{n+4}`, so
  it is multiplied by `1 + 4 γ_{n+4}`; `1e-290` is added for underflow (each product that
  underflows loses less than 2^-1074);
- at a vertex `v` (float `ṽ`, correctly rounded, `|ṽ - v| <= 2u|ṽ|`) the float value
  `fl(P̃ · (ṽ, 1))` is within `(γ_{d+1} + 2u) |P̃| (|ṽ|, 1) + T ((1 + 2u)|ṽ|, 1)` of
  `P · (v, 1)`; we take `16 (d + 4) u` for the first factor (as `polytope._filter_bound`),
  `1 + 2^-40` for the second, and the same final factor and `1e-290`.

A non-finite value or bound (overflow) decides nothing: every comparison with NaN is false,
so such a neuron goes to the exact path. Inactive neurons contribute exact zeros (float and
bound both 0).
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from flint import fmpq, fmpq_mat, fmpz, fmpz_mat

from .numbers import to_fmpq

_U = 2.0 ** -53
_TINY = 1e-290
#: largest number of float entries (regions x neurons x vertices) of one batch of signs
_BATCH = 1 << 22


def _gamma(n: int) -> float:
    return 2.0 * n * _U


def _float(value: Fraction) -> tuple[float, float]:
    """The float nearest `value` and a bound on the rounding error (0 if exact)."""
    try:
        x = float(value)
    except OverflowError:
        return math.nan, math.inf
    if not math.isfinite(x):
        return math.nan, math.inf
    if x.as_integer_ratio() == (value.numerator, value.denominator):
        return x, 0.0
    return x, 2 * _U * abs(x) + 2.0 ** -1074


class Layer:
    """One ReLU layer `relu(W F + b)`: exact (`fmpz_mat` numerators over one denominator)
    and in floats with error bounds."""

    def __init__(self, weight, bias):
        w = [[v if type(v) is Fraction else Fraction(v) for v in row] for row in weight]
        b = [v if type(v) is Fraction else Fraction(v) for v in bias]
        self.n_out, self.n_in = len(w), len(w[0])
        denominator = math.lcm(*{v.denominator for row in w for v in row})
        self.numerators = fmpz_mat(self.n_out, self.n_in,
                                   [v.numerator * (denominator // v.denominator)
                                    for row in w for v in row])
        self.denominator = fmpz(denominator)
        self._rows = None
        self.bias = [to_fmpq(v) for v in b]
        bden = 1
        for v in b:
            bden = math.lcm(bden, v.denominator)
        self.bias_denominator = fmpz(bden)
        self.bias_numerators = [int(v * bden) for v in b]
        self.bias_column = fmpz_mat(self.n_out, 1, self.bias_numerators)
        wf = [[_float(v) for v in row] for row in w]
        bf = [_float(v) for v in b]
        self.wf = np.array([[x for x, _ in row] for row in wf], dtype=float)
        self.werr = np.array([[e for _, e in row] for row in wf], dtype=float)
        self.bf = np.array([x for x, _ in bf], dtype=float)
        self.berr = np.array([e for _, e in bf], dtype=float)
        self.wabs = np.abs(self.wf)
        self.wbound = self.wabs + self.werr

    # ----------------------------------------------------------------- floats

    def propagate(self, F: np.ndarray, E: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`(P̃, T)` for float features `F` and error bounds `E`, shape `(R, n_in, d+1)`:
        `P̃ = fl(W̃ F + b̃)` and `T >= |P̃ - (W F_exact + b)|` elementwise."""
        with np.errstate(all="ignore"):
            P = np.matmul(self.wf, F)
            P[:, :, -1] += self.bf
            absF = np.abs(F)
            S = np.matmul(self.wabs, absF)
            S[:, :, -1] += np.abs(self.bf)
            T = _gamma(self.n_in + 1) * S + np.matmul(self.werr, absF) \
                + np.matmul(self.wbound, E)
            T[:, :, -1] += self.berr
            T = T * (1 + 4 * _gamma(self.n_in + 4)) + _TINY
            T[~np.isfinite(P)] = np.inf
        return P, T

    # ----------------------------------------------------------------- exact

    def rows(self) -> list:
        if self._rows is None:
            self._rows = [list(r) for r in self.numerators.tolist()]
        return self._rows

    def apply(self, value: tuple, active) -> tuple:
        """The exact features `D (W F + b)` of this layer from the previous layer's exact
        `value = (numerators, denominator)`, `D` the 0/1 pattern `active`: over the common
        denominator `scale`, `s1 W F + s2 b e_last` in whole-matrix products, then the rows
        of the inactive neurons set to 0."""
        num, den = value
        common = self.denominator * den
        scale = math.lcm(int(common), int(self.bias_denominator))
        s1 = fmpz(scale // int(common))
        s2 = fmpz(scale // int(self.bias_denominator))
        cols = num.ncols()
        product = self.numerators * num
        if s1 != 1:
            product = product * s1
        last = fmpz_mat(1, cols, [0] * (cols - 1) + [1])
        out = product + (self.bias_column * s2) * last
        for i in range(self.n_out):
            if not active[i]:
                for j in range(cols):
                    out[i, j] = 0
        return out, fmpz(scale)

    def exact_rows(self, value: tuple, indices) -> dict:
        """The exact pre-activation rows `W_i F + b_i` (tuples of fmpq) of the neurons
        `indices`, from the previous layer's exact features."""
        num, den = value
        rows = self.rows()
        sub = fmpz_mat([rows[i] for i in indices])
        product = (sub * num).tolist()
        common = self.denominator * den
        out = {}
        for i, row in zip(indices, product):
            exact = [fmpq(x, common) for x in row]
            exact[-1] += self.bias[i]
            out[int(i)] = tuple(exact)
        return out


def vertex_signs(P: np.ndarray, T: np.ndarray, V: np.ndarray) -> np.ndarray:
    """Certain signs (`1`, `-1`; `0` = not decided in floats) of the pre-activations at the
    vertices: `P`, `T` of shape `(R, n, d+1)`, `V` the float vertices with a trailing 1,
    `(R, m, d+1)`. Returns `(R, n, m)` int8."""
    d = V.shape[2] - 1
    absV = np.abs(V)
    scaled = absV.copy()
    scaled[:, :, :-1] *= 1 + 2.0 ** -40
    with np.errstate(all="ignore"):
        approx = np.matmul(P, V.transpose(0, 2, 1))
        bound = 16 * (d + 4) * _U * np.matmul(np.abs(P), absV.transpose(0, 2, 1)) \
            + np.matmul(T, scaled.transpose(0, 2, 1))
        bound = bound * (1 + 4 * _gamma(d + 4)) + _TINY
        return np.where(approx > bound, 1, np.where(approx < -bound, -1, 0)).astype(np.int8)


def batched_vertex_signs(P: np.ndarray, T: np.ndarray, polys: list) -> tuple:
    """`vertex_signs` for every region, in batches. Returns the signs (one `(n, m_r)` array
    per region), which neurons are certainly positive somewhere (`(R, n)`), and which need
    exact rows (`(R, n)`: undecided at some vertex, or of both signs)."""
    R, n, cols = P.shape
    out = []
    positive = np.zeros((R, n), dtype=bool)
    need = np.zeros((R, n), dtype=bool)
    start = 0
    while start < R:
        m = 0
        stop = start
        while stop < R:
            m_next = max(m, len(polys[stop].vertices))
            if stop > start and (stop - start + 1) * n * m_next > _BATCH:
                break
            m = m_next
            stop += 1
        V = np.ones((stop - start, m, cols))
        for r in range(start, stop):
            fl = polys[r].floats()
            V[r - start, :len(fl), :-1] = fl
            V[r - start, len(fl):, :-1] = fl[0]          # padding: copies of vertex 0
        signs = vertex_signs(P[start:stop], T[start:stop], V)
        pos, neg = (signs > 0).any(axis=2), (signs < 0).any(axis=2)
        positive[start:stop] = pos
        need[start:stop] = (signs == 0).any(axis=2) | (pos & neg)
        for r in range(start, stop):
            out.append(signs[r - start, :, :len(polys[r].vertices)])
        start = stop
    return out, positive, need


class Chain:
    """A region's exact features at its current layer, kept lazily: the exact value at some
    earlier layer and the activation patterns since (`materialize` computes and caches)."""

    __slots__ = ("parent", "layer", "active", "value", "depth")

    def __init__(self, parent, layer: Layer | None, active, value=None):
        self.parent, self.layer, self.active, self.value = parent, layer, active, value
        # layers since the last exact value: a deep network's chains are cut short
        # (`extend`), so neither a split nor a grade output walks back further than that
        self.depth = 0 if parent is None else \
            (1 if parent.value is not None else parent.depth + 1)


#: longest chain of patterns kept without exact features (deep, narrow networks)
MAX_CHAIN = 16


def extend(parent: Chain, layer: Layer, active) -> Chain:
    """The chain of a region after one more layer, made exact when it grows too long."""
    chain = Chain(parent, layer, active)
    if chain.depth >= MAX_CHAIN:
        materialize(chain)
        chain.depth = 0
    return chain


def identity_chain(dim: int) -> Chain:
    """The input features `x_1..x_d`: rows of the identity with a zero constant."""
    entries = [1 if j == i else 0 for i in range(dim) for j in range(dim + 1)]
    return Chain(None, None, None, (fmpz_mat(dim, dim + 1, entries), fmpz(1)))


def identity_floats(dim: int) -> np.ndarray:
    return np.hstack([np.eye(dim), np.zeros((dim, 1))])


def materialize(chain: Chain) -> tuple:
    """The exact features of `chain` as `(numerators, denominator)`, cached on it."""
    pending = []
    node = chain
    while node.value is None:
        pending.append(node)
        node = node.parent
    value = node.value
    for node in reversed(pending):
        value = node.layer.apply(value, node.active)
    chain.value = value
    return value


def output_row(chain: Chain, readout: tuple, readout_bias: fmpq) -> tuple:
    """The exact affine row of `readout · F + readout_bias` for the features `F` of `chain`:
    the readout row is pulled back through the layers since the last exact value,
    `a · D (W F' + b) = (a ⊙ D) W F' + (a ⊙ D) · b`."""
    numerators, denominator = readout
    v = numerators                       # fmpz_mat 1 x n
    den = denominator
    constant_num, constant_den = fmpz(0), fmpz(1)
    node = chain
    while node.value is None:
        layer = node.layer
        entries = v.entries()
        zero = fmpz(0)
        masked = [x if a else zero for x, a in zip(entries, node.active)]
        v = fmpz_mat(1, len(masked), masked)
        # constant += (v · b) / den = (v · bN) / (den · bD)
        c = (v * layer.bias_column).entries()[0]
        cd = den * layer.bias_denominator
        constant_num = constant_num * cd + c * constant_den
        constant_den = constant_den * cd
        v = v * layer.numerators
        den = den * layer.denominator
        node = node.parent
    num, fden = node.value
    row = (v * num).entries()
    common = den * fden
    out = [fmpq(x, common) for x in row]
    out[-1] += fmpq(constant_num, constant_den) + readout_bias
    return tuple(out)


def output_rows(chains: list, readout: tuple, readout_bias: fmpq) -> list:
    """`output_row` for many chains that end at the same layer, pulled back together: the
    rows of all regions still walking form one matrix, multiplied by each layer's weights
    at once (one large integer product is cheaper per row than many small ones)."""
    numerators, denominator = readout
    n = numerators.ncols()
    base = numerators.entries()
    out: list = [None] * len(chains)
    walking = list(range(len(chains)))
    nodes = list(chains)
    rows = [base] * len(chains)            # each a list of fmpz: the pulled-back readout
    constants = [fmpz(0)] * len(chains)
    den, constant_den = fmpz(denominator), fmpz(1)
    zero = fmpz(0)
    while walking:
        still = []
        for r in walking:
            node = nodes[r]
            if node.value is None:
                still.append(r)
                continue
            num, fden = node.value
            row = (fmpz_mat(1, n, rows[r]) * num).entries()
            common = den * fden
            exact = [fmpq(x, common) for x in row]
            exact[-1] += fmpq(constants[r], constant_den) + readout_bias
            out[r] = tuple(exact)
        walking = still
        if not walking:
            break
        layer = nodes[walking[0]].layer
        flat = []
        for r in walking:
            flat.extend(x if a else zero for x, a in zip(rows[r], nodes[r].active))
        V = fmpz_mat(len(walking), n, flat)
        biases = (V * layer.bias_column).entries()
        cd = den * layer.bias_denominator
        for r, c in zip(walking, biases):
            constants[r] = constants[r] * cd + c * constant_den
        constant_den = constant_den * cd
        product = (V * layer.numerators).entries()
        n = layer.n_in
        den = den * layer.denominator
        for i, r in enumerate(walking):
            rows[r] = product[i * n:(i + 1) * n]
            nodes[r] = nodes[r].parent
    return out


def readout_numerators(weights) -> tuple:
    """A readout row as `(fmpz_mat 1 x n numerators, denominator)`."""
    m = fmpq_mat([[to_fmpq(v) for v in weights]])
    num, den = m.numer_denom()
    return num, fmpz(den)
