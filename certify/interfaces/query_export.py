"""The (G1) question of one grade, written for other verifiers: SMT-LIB 2 and ONNX + VNN-LIB.

For a piecewise-linear target `f` and grade `k`, (G1) fails iff some `x` in [0,1]^d has
`|e_k(x)| > |e_{k-1}(x)|`, with `e_{k-1} = f - F_{k-1}` and `e_k = e_{k-1} - g_k`. Since
`e_k^2 - e_{k-1}^2 = g (g - 2 e_{k-1})`, that is the linear disjunction

    (g > 0  and  2 e_{k-1} < g)   or   (g < 0  and  2 e_{k-1} > g).

A solver that answers *sat* refutes (G1) of the grade; *unsat* proves it.

* SMT-LIB 2 (QF_LRA) is written as plain text, exactly: every weight is its rational, every
  ReLU `h = ite(z > 0, z, 0)`, every `Abs`/`Max`/`Min` of the target a fresh variable.
* ONNX + VNN-LIB: the network up to grade `k` and the target compiled into ReLU layers
  (`|t| = relu(t) + relu(-t)`, `max(a, b) = a + relu(b - a)`, `min(a, b) = a - relu(a - b)`)
  as one float64 ONNX model with output `Y = [F_{k-1}, g_k, f, g_k - 2 e_{k-1}]`; the
  VNN-LIB property asserts the violation on `Y_1` and `Y_3`. ONNX holds floats: a weight that
  is not a float64 (e.g. 1/3) is rounded to nearest, and the file says so.

The target is compiled once into a small DAG (`Node`) that both writers read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from fractions import Fraction

from ..errors import TargetError, UsageError
from ..fileio import atomic_write_bytes, atomic_write_text
from ..engine.network import Network

PL = "piecewise-linear"


# --------------------------------------------------------------------------- target DAG

@dataclass(eq=False)
class Node:
    """`kind` "x" (coordinate `index`), "lin" (`sum c * child + const`) or "relu" (of one child)."""

    kind: str
    index: int = 0
    terms: list = field(default_factory=list)     # [(Fraction, Node)]
    const: Fraction = Fraction(0)


def _lin(terms, const=Fraction(0)) -> Node:
    return Node("lin", terms=[(Fraction(c), n) for c, n in terms if c], const=Fraction(const))


def compile_pl(target) -> Node:
    """The target's expression as a DAG of affine maps and ReLUs; PL targets only."""
    import sympy
    if target.kind != PL:
        raise TargetError(f"{target.name} is {target.kind}; export-query needs a "
                          "piecewise-linear target with rational data",
                          "other targets have no exact linear encoding")
    index = {s: i for i, s in enumerate(target.symbols)}
    memo: dict = {}

    def go(e) -> Node:
        if e in memo:
            return memo[e]
        if e.is_Rational:
            node = _lin([], Fraction(int(e.p), int(e.q)))
        elif e.is_Symbol:
            node = Node("x", index=index[e])
        elif e.is_Add:
            node = _lin([(1, go(a)) for a in e.args])
        elif e.is_Mul:
            consts = [a for a in e.args if not a.free_symbols]
            rest = [a for a in e.args if a.free_symbols]
            c = Fraction(1)
            for a in consts:
                c *= Fraction(int(a.p), int(a.q))
            node = _lin([(c, go(rest[0]))])
        elif e.func is sympy.Abs:
            t = go(e.args[0])
            node = _lin([(1, Node("relu", terms=[(Fraction(1), t)])),
                         (1, Node("relu", terms=[(Fraction(-1), t)]))])
        elif e.func in (sympy.Max, sympy.Min):
            sign = 1 if e.func is sympy.Max else -1
            acc = go(e.args[0])
            for arg in e.args[1:]:
                b = go(arg)
                # max(a, b) = a + relu(b - a);  min(a, b) = a - relu(a - b)
                diff = _lin([(sign, b), (-sign, acc)])
                acc = _lin([(1, acc), (sign, Node("relu", terms=[(Fraction(1), diff)]))])
            node = acc
        else:   # pragma: no cover - the classifier admits nothing else as PL
            raise TargetError(f"{target.name}: cannot encode {e} linearly")
        memo[e] = node
        return node

    return go(target.expr)


def _order(root: Node) -> list[Node]:
    """Nodes children first (iterative: deep targets must not hit the recursion limit)."""
    seen, order, stack = set(), [], [(root, False)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        stack.extend((child, False) for _, child in node.terms if id(child) not in seen)
    return order


def _check_grade(network: Network, grade: int) -> None:
    if not 1 <= grade <= len(network.grades):
        raise UsageError(f"--grade={grade} is out of range",
                         f"the network has grades 1..{len(network.grades)}")


# --------------------------------------------------------------------------- SMT-LIB

def _num(q: Fraction) -> str:
    q = Fraction(q)
    p = f"(- {-q.numerator})" if q.numerator < 0 else str(q.numerator)
    return p if q.denominator == 1 else f"(/ {p} {q.denominator})"


def _sum(terms: list[tuple[Fraction, str]], const: Fraction) -> str:
    parts = [name if c == 1 else f"(* {_num(c)} {name})" for c, name in terms if c]
    if const or not parts:
        parts.append(_num(const))
    return parts[0] if len(parts) == 1 else f"(+ {' '.join(parts)})"


def smtlib_query(target, network: Network, grade: int) -> str:
    """SMT-LIB 2 (QF_LRA) text: *sat* iff (G1) of `grade` fails somewhere on [0,1]^d."""
    _check_grade(network, grade)
    root = compile_pl(target)
    d = network.dim
    lines = [f"; certify export-query: (G1) of grade {grade}, target {target.name}, d={d}",
             "; sat: some x in [0,1]^d has |e_k(x)| > |e_{k-1}(x)| ((G1) is false);",
             "; unsat: (G1) holds. Every number is exact.",
             "(set-logic QF_LRA)"]
    xs = [f"x{i + 1}" for i in range(d)]
    for x in xs:
        lines += [f"(declare-const {x} Real)", f"(assert (and (<= 0 {x}) (<= {x} 1)))"]
    features, outputs = xs, []
    for k, g in enumerate(network.grades[:grade], start=1):
        for l, layer in enumerate(g.layers, start=1):
            names = []
            for n, (row, b) in enumerate(zip(layer.weight, layer.bias), start=1):
                h = f"h{k}_{l}_{n}"
                z = _sum(list(zip(row, features)), b)
                lines += [f"(declare-const {h} Real)", f"(assert (= {h} (ite (> {z} 0) {z} 0)))"]
                names.append(h)
            features = names
        out = f"g{k}"
        lines += [f"(declare-const {out} Real)",
                  f"(assert (= {out} {_sum(list(zip(g.readout_weight, features)), g.readout_bias)}))"]
        outputs.append(out)
    names: dict[int, str] = {}
    for i, node in enumerate(_order(root)):
        if node.kind == "x":
            names[id(node)] = xs[node.index]
            continue
        v = f"t{i}"
        z = _sum([(c, names[id(child)]) for c, child in node.terms], node.const)
        body = z if node.kind == "lin" else f"(ite (> {z} 0) {z} 0)"
        lines += [f"(declare-const {v} Real)", f"(assert (= {v} {body}))"]
        names[id(node)] = v
    f_name = names[id(root)]
    previous = _sum([(Fraction(1), o) for o in outputs[:-1]], Fraction(0))
    g = outputs[-1]
    lines += ["(declare-const e_prev Real)", f"(assert (= e_prev (- {f_name} {previous})))",
              f"(assert (or (and (> {g} 0) (< (* 2 e_prev) {g})) "
              f"(and (< {g} 0) (> (* 2 e_prev) {g}))))",
              "(check-sat)", "(exit)"]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- ONNX + VNN-LIB

class _OnnxBuilder:
    """Gemm/Relu/Concat nodes with float64 initialisers; counts inexact weights."""

    def __init__(self):
        import onnx
        from onnx import helper, numpy_helper
        self.onnx, self.helper, self.numpy_helper = onnx, helper, numpy_helper
        self.nodes, self.inits, self.count, self.inexact = [], [], 0, 0

    def name(self, stem: str) -> str:
        self.count += 1
        return f"{stem}_{self.count}"

    def array(self, values, shape) -> str:
        import numpy as np
        flat = [Fraction(v) for v in values]
        self.inexact += sum(Fraction(float(v)) != v for v in flat)
        name = self.name("w")
        self.inits.append(self.numpy_helper.from_array(
            np.array([float(v) for v in flat], dtype=np.float64).reshape(shape), name))
        return name

    def gemm(self, source: str, weight_rows, bias) -> str:
        """`source (1, n) -> (1, m)`: `weight_rows` is m rows of n entries."""
        m, n = len(weight_rows), len(weight_rows[0])
        w = self.array([v for row in weight_rows for v in row], (m, n))
        b = self.array(bias, (m,))
        out = self.name("gemm")
        self.nodes.append(self.helper.make_node("Gemm", [source, w, b], [out], transB=1))
        return out

    def relu(self, source: str) -> str:
        out = self.name("relu")
        self.nodes.append(self.helper.make_node("Relu", [source], [out]))
        return out

    def concat(self, sources: list[str]) -> str:
        if len(sources) == 1:
            return sources[0]
        out = self.name("cat")
        self.nodes.append(self.helper.make_node("Concat", sources, [out], axis=1))
        return out


def onnx_query_model(target, network: Network, grade: int):
    """(ONNX ModelProto with input X (1, d) and output Y (1, 4), number of inexact weights)."""
    _check_grade(network, grade)
    root = compile_pl(target)
    b = _OnnxBuilder()
    helper, d = b.helper, network.dim
    zero_x = [[Fraction(0)] * d]
    features, readouts = "X", []
    for g in network.grades[:grade]:
        for layer in g.layers:
            features = b.relu(b.gemm(features, [list(r) for r in layer.weight], list(layer.bias)))
        readouts.append(b.gemm(features, [list(g.readout_weight)], [g.readout_bias]))
    previous = (b.gemm(b.concat(readouts[:-1]), [[Fraction(1)] * (grade - 1)], [0])
                if grade > 1 else b.gemm("X", zero_x, [0]))
    names: dict[int, str] = {}
    for node in _order(root):
        if node.kind == "x":
            unit = [[Fraction(int(j == node.index)) for j in range(d)]]
            names[id(node)] = b.gemm("X", unit, [0])
            continue
        if node.terms:
            z = b.gemm(b.concat([names[id(c)] for _, c in node.terms]),
                       [[c for c, _ in node.terms]], [node.const])
        else:
            z = b.gemm("X", zero_x, [node.const])
        names[id(node)] = b.relu(z) if node.kind == "relu" else z
    f, g = names[id(root)], readouts[-1]
    # g - 2 e_prev = g - 2 f + 2 F_{k-1}
    margin = b.gemm(b.concat([previous, g, f]), [[2, 1, -2]], [0])
    y = b.concat([previous, g, f, margin])
    b.nodes.append(helper.make_node("Identity", [y], ["Y"]))
    double = b.onnx.TensorProto.DOUBLE
    graph = helper.make_graph(
        b.nodes, f"g1_violation_grade{grade}",
        [helper.make_tensor_value_info("X", double, [1, d])],
        [helper.make_tensor_value_info("Y", double, [1, 4])], b.inits)
    model = helper.make_model(graph, producer_name="certify export-query",
                              opset_imports=[helper.make_opsetid("", 13)])
    model.doc_string = (f"(G1) of grade {grade} for {target.name}: Y = [F_(k-1), g_k, f, "
                        f"g_k - 2 e_(k-1)]; {b.inexact} weights rounded to float64")
    b.onnx.checker.check_model(model)
    return model, b.inexact


def vnnlib_property(target, network: Network, grade: int, inexact: int) -> str:
    """The VNN-LIB property: X in [0,1]^d and the (G1) violation on Y_1 and Y_3."""
    d = network.dim
    lines = [f"; certify export-query: (G1) of grade {grade}, target {target.name}, d={d}",
             "; network outputs Y_0 = F_(k-1), Y_1 = g_k, Y_2 = f, Y_3 = g_k - 2 (f - F_(k-1))",
             "; the violation |e_k| > |e_(k-1)| is  (Y_1 > 0 and Y_3 > 0) or (Y_1 < 0 and Y_3 < 0)",
             "; strict inequalities: a tool that reads them as non-strict over-approximates",
             "; (its unsat still proves (G1); a sat point must be re-checked exactly).",
             f"; {inexact} weights of the ONNX model were rounded to float64"
             + ("" if inexact else " (none: the weights are exact; float evaluation still rounds)")]
    lines += [f"(declare-const X_{i} Real)" for i in range(d)]
    lines += [f"(declare-const Y_{i} Real)" for i in range(4)]
    for i in range(d):
        lines += [f"(assert (>= X_{i} 0.0))", f"(assert (<= X_{i} 1.0))"]
    lines.append("(assert (or (and (> Y_1 0.0) (> Y_3 0.0)) (and (< Y_1 0.0) (< Y_3 0.0))))")
    return "\n".join(lines) + "\n"


def export_query(target, network: Network, grade: int, fmt: str, directory: str) -> list[str]:
    """Write the files of one format into `directory` (created if its parent exists)."""
    if network.dim != target.dim:
        raise UsageError(f"--network has dim={network.dim} but --target has d={target.dim}")
    _check_grade(network, grade)
    compile_pl(target)                     # refuse a non-PL target before creating anything
    parent = os.path.dirname(os.path.abspath(directory))
    if not os.path.isdir(parent):
        raise UsageError(f"-o={directory}: directory {parent} does not exist")
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise UsageError(f"-o={directory} exists and is not a directory")
    stem = os.path.join(directory, f"g1_grade{grade}")
    if fmt == "smtlib":
        text = smtlib_query(target, network, grade)
        os.makedirs(directory, exist_ok=True)
        atomic_write_text(stem + ".smt2", text)
        return [stem + ".smt2"]
    if fmt == "vnnlib":
        model, inexact = onnx_query_model(target, network, grade)
        data = model.SerializeToString()
        text = vnnlib_property(target, network, grade, inexact)
        os.makedirs(directory, exist_ok=True)
        atomic_write_bytes(stem + ".onnx", data)
        atomic_write_text(stem + ".vnnlib", text)
        return [stem + ".onnx", stem + ".vnnlib"]
    raise UsageError(f"--format={fmt} is not smtlib or vnnlib")
