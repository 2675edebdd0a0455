"""The SMT layer: every call to a solver goes through this module (z3 today).

Formulas are built by the checker from a handful of constructors — rational constants,
real variables, sums, products by constants, `relu`, `ite`, comparisons — and handed to
`solve`, which answers `Unsat`, `Sat(model)` with an exact rational model, or `Unknown`
when the timeout ran out. A second back end (cvc5) would implement the same few
functions; nothing outside this module imports z3.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from fractions import Fraction
from typing import Iterable, Sequence

import sympy


class _LazyZ3:
    """z3 imported at its first use (a check that asks no solver question does not pay the
    0.05 s of its import); the first attribute read puts the module itself in its place."""

    def __getattr__(self, name):
        import z3 as module
        globals()["z3"] = module
        return getattr(module, name)


z3 = _LazyZ3()


#: z3 contexts are not thread safe; the checker is single-threaded per process.
_LOCK = threading.Lock()


@dataclass(frozen=True)
class Unsat:
    """The formula has no model: the property it negates is proved."""


@dataclass(frozen=True)
class Sat:
    """A model, each variable's value an exact rational."""

    model: dict[str, Fraction]


@dataclass(frozen=True)
class Unknown:
    """The solver gave up (timeout or incompleteness); never read as proved or refuted."""

    reason: str


# --------------------------------------------------------------------------- terms

def const(q) -> z3.ArithRef:
    """The exact rational constant `q`."""
    q = Fraction(q)
    return z3.Q(q.numerator, q.denominator)


def var(name: str) -> z3.ArithRef:
    """A real variable."""
    return z3.Real(name)


def linear(coeffs: Sequence, terms: Sequence, offset=0) -> z3.ArithRef:
    """`offset + Σ coeffs_i terms_i` with rational coefficients; zero coefficients dropped."""
    parts = [const(c) * t for c, t in zip(coeffs, terms) if Fraction(c) != 0]
    offset = Fraction(offset)
    if offset or not parts:
        parts.append(const(offset))
    return parts[0] if len(parts) == 1 else z3.Sum(parts)


def relu(t) -> z3.ArithRef:
    """`max(t, 0)`."""
    return z3.If(t > 0, t, const(0))


def ite(cond, a, b):
    """`a if cond else b`."""
    return z3.If(cond, a, b)


def all_of(*conds):
    return z3.And(*conds)


def any_of(*conds):
    return z3.Or(*conds)


# --------------------------------------------------------------------------- encodings

def network_terms(grades, inputs: Sequence, prefix: str = "n") -> tuple[list, list]:
    """Encode grades of a `Network` on input terms: (grade output terms, constraints).

    Every neuron gets its own variable constrained to `max(pre, 0)`, which keeps the
    formula linear in size (no term sharing blow-up through deep blocks).
    """
    constraints, outputs = [], []
    values = list(inputs)
    for k, grade in enumerate(grades):
        for l, layer in enumerate(grade.sparse()):
            new = []
            for j, (cols, ws, b) in enumerate(layer):
                pre = linear(ws, [values[c] for c in cols], b)
                v = var(f"{prefix}_{k}_{l}_{j}")
                constraints.append(v == relu(pre))
                new.append(v)
            values = new
        outputs.append(linear(grade.readout_weight, values, grade.readout_bias))
    return outputs, constraints


def sympy_term(expr, symbol_terms: dict):
    """A SymPy expression as an exact z3 term (the checker encodes piecewise-linear ones)."""
    if expr.is_Symbol:
        return symbol_terms[expr]
    if expr.is_Rational:
        return const(Fraction(int(expr.p), int(expr.q)))
    args = [sympy_term(a, symbol_terms) for a in expr.args]
    if expr.is_Add:
        return z3.Sum(args)
    if expr.is_Mul:
        out = args[0]
        for a in args[1:]:
            out = out * a
        return out
    if expr.is_Pow and expr.exp.is_Integer and expr.exp > 0:
        out = args[0]
        for _ in range(int(expr.exp) - 1):
            out = out * args[0]
        return out
    if expr.func == sympy.Abs:
        return z3.If(args[0] >= 0, args[0], -args[0])
    if expr.func in (sympy.Max, sympy.Min):
        out = args[0]
        for a in args[1:]:
            out = z3.If(a > out, a, out) if expr.func == sympy.Max else z3.If(a < out, a, out)
        return out
    raise ValueError(f"no exact SMT encoding for {expr.func.__name__}")


def enclosure_constraints(y, xs: Sequence, lo_f: Fraction, hi_f: Fraction, mid: Sequence,
                          f_mid: tuple[Fraction, Fraction] | None,
                          grad: Sequence[tuple[Fraction, Fraction]] | None) -> list:
    """Constraints saying `y` is a value `f(x)` may take on a box, from rigorous data:
    the naive range `[lo_f, hi_f]` and, when the gradient is bounded, the mean-value cone
    `f(m) + Σ G_i (x_i - m_i)`, `G_i ∈ [gl_i, gu_i]`, which is linear with one `If` per axis.
    """
    out = [y >= const(lo_f), y <= const(hi_f)]
    if f_mid is not None and grad is not None:
        low, high = [const(f_mid[0])], [const(f_mid[1])]
        for x, m, (gl, gu) in zip(xs, mid, grad):
            delta = x - const(m)
            low.append(z3.If(delta >= 0, const(gl) * delta, const(gu) * delta))
            high.append(z3.If(delta >= 0, const(gu) * delta, const(gl) * delta))
        out += [y >= z3.Sum(low), y <= z3.Sum(high)]
    return out


# --------------------------------------------------------------------------- solving

def _value(model, v) -> Fraction:
    val = model.eval(v, model_completion=True)
    if z3.is_rational_value(val):
        return Fraction(val.numerator_as_long(), val.denominator_as_long())
    if z3.is_algebraic_value(val):      # nonlinear model: a nearby rational, re-checked later
        return Fraction(val.approx(30).as_fraction())
    raise ValueError(f"cannot read {val} as a rational")


def solve(constraints: Iterable, variables: Sequence, timeout: float) -> Unsat | Sat | Unknown:
    """Ask whether the linear real `constraints` are satisfiable, within `timeout` seconds.

    Every query of the checker is linear real arithmetic with `If` (piecewise-linear
    targets, enclosures, ReLU networks), so the solver runs in QF_LRA.
    `variables` are the terms whose model values are returned (by their names).
    """
    constraints = list(constraints)
    with _LOCK:
        solver = z3.SolverFor("QF_LRA")
        solver.set("timeout", max(1, int(timeout * 1000)))
        solver.add(*constraints)
        answer = solver.check()
        if answer == z3.unsat:
            return Unsat()
        if answer == z3.sat:
            model = solver.model()
            return Sat({str(v): _value(model, v) for v in variables})
        reason = solver.reason_unknown() or "unknown"
        if "interrupted from keyboard" in reason:
            # z3 catches Ctrl-C itself and gives up: that is the user's interrupt, not an
            # unknown claim; re-raise it so the run stops (exit 130, report incomplete)
            raise KeyboardInterrupt(reason)
        return Unknown(reason)


def claim_violation(claim: str, f_value, previous, g):
    """The negation of a claim at one point: `g>0 ∧ k(y-F) < g  ∨  g<0 ∧ k(y-F) > g`,
    `k = 2` for (G1) monotone, `k = 1` for no-overshoot (see `certify.engine.residual`)."""
    from ..engine.residual import MONOTONE
    k = 2 if claim == MONOTONE else 1
    r = f_value - previous
    return z3.Or(z3.And(g > 0, k * r < g), z3.And(g < 0, k * r > g))
