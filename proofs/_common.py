"""Shared helpers for the machine-checked lemmas in `proofs/`.

Every proof script states its claims as *obligations*. An obligation is discharged either

* by asking z3 for a counterexample to the claim and getting `unsat` (`refute`), always
  with a timeout, or
* by an exact computation (SymPy / `fractions.Fraction`) whose outcome is a boolean
  (`exact`).

A script collects its obligations in a `Result`. `main(prove)` prints it and exits 0 when
every obligation was discharged, 1 (loudly, with the counterexample) otherwise. Nothing here
ever samples: `unknown` from z3 (e.g. a timeout) counts as a failure, not as a proof.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable, Iterable, Sequence

import z3

#: Per-query solver timeout (milliseconds). Every z3 call in `proofs/` goes through `refute`
#: or `find_model`, so every call is bounded by this.
TIMEOUT_MS = 60_000


# --------------------------------------------------------------------------- results

@dataclass
class Obligation:
    """One claim and how it was settled."""

    claim: str
    status: str                      # 'proved' | 'refuted' | 'unknown'
    method: str                      # 'z3 unsat' | 'exact' | ...
    seconds: float = 0.0
    counterexample: dict | None = None
    note: str = ""
    witness: dict | None = None      # for existence claims ('exhibit'): the model found

    @property
    def ok(self) -> bool:
        return self.status == "proved"


@dataclass
class Result:
    """Outcome of one proof script: the statement and the obligations that establish it."""

    name: str
    statement: str
    obligations: list[Obligation] = field(default_factory=list)

    @property
    def proved(self) -> bool:
        return bool(self.obligations) and all(o.ok for o in self.obligations)

    def add(self, obligation: Obligation) -> Obligation:
        self.obligations.append(obligation)
        return obligation

    def failures(self) -> list[Obligation]:
        return [o for o in self.obligations if not o.ok]

    def report(self) -> str:
        lines = [f"== {self.name}", f"   {self.statement}"]
        for o in self.obligations:
            mark = "PROVED " if o.ok else o.status.upper()
            lines.append(f"   [{mark}] {o.claim}  ({o.method}, {o.seconds:.2f}s)")
            if o.note:
                lines.append(f"            {o.note}")
            if o.counterexample is not None:
                lines.append(f"            counterexample: {o.counterexample}")
            if o.witness is not None:
                lines.append(f"            witness: {o.witness}")
        lines.append(f"   => {'PROVED' if self.proved else 'NOT PROVED'}")
        return "\n".join(lines)


# --------------------------------------------------------------------------- z3 numbers

def to_fraction(value: z3.ExprRef) -> Fraction | str:
    """An exact `Fraction` for a rational z3 value; a decimal string (marked `~`) otherwise."""
    if z3.is_int_value(value):
        return Fraction(value.as_long())
    if z3.is_rational_value(value):
        return Fraction(value.numerator_as_long(), value.denominator_as_long())
    if z3.is_true(value):
        return True  # type: ignore[return-value]
    if z3.is_false(value):
        return False  # type: ignore[return-value]
    if z3.is_algebraic_value(value):
        return "~" + value.as_decimal(20)
    return str(value)


def model_dict(model: z3.ModelRef, variables: Iterable[z3.ExprRef] | None = None) -> dict:
    """`{name: exact value}` for the given variables (all constants of the model if None)."""
    if variables is None:
        decls = sorted(model.decls(), key=lambda d: d.name())
        return {d.name(): to_fraction(model[d]) for d in decls if d.arity() == 0}
    out = {}
    for v in variables:
        out[str(v)] = to_fraction(model.eval(v, model_completion=True))
    return out


def frac(x) -> z3.ArithRef:
    """A z3 real constant for an exact rational."""
    x = Fraction(x)
    return z3.RealVal(f"{x.numerator}/{x.denominator}")


# --------------------------------------------------------------------------- z3 queries

def _solver(hypotheses: Sequence[z3.BoolRef], timeout_ms: int, logic: str | None):
    s = z3.SolverFor(logic) if logic else z3.Solver()
    s.set("timeout", int(timeout_ms))
    s.add(*hypotheses)
    return s


def refute(claim: str, hypotheses: Sequence[z3.BoolRef], conclusion: z3.BoolRef, *,
           variables: Iterable[z3.ExprRef] | None = None, timeout_ms: int = TIMEOUT_MS,
           logic: str | None = None) -> Obligation:
    """Prove `hypotheses ⟹ conclusion` by asking z3 for a model of `hypotheses ∧ ¬conclusion`.

    `unsat` → proved; `sat` → refuted, with the model as counterexample; `unknown` (timeout,
    incompleteness) → unknown, never proved.
    """
    s = _solver(list(hypotheses) + [z3.Not(conclusion)], timeout_ms, logic)
    t0 = time.perf_counter()
    answer = s.check()
    seconds = time.perf_counter() - t0
    if answer == z3.unsat:
        return Obligation(claim, "proved", "z3 unsat", seconds)
    if answer == z3.sat:
        return Obligation(claim, "refuted", "z3 sat", seconds,
                          counterexample=model_dict(s.model(), variables))
    return Obligation(claim, "unknown", "z3 unknown", seconds,
                      note=f"reason: {s.reason_unknown()}")


def exhibit(claim: str, constraints: Sequence[z3.BoolRef], *,
            variables: Iterable[z3.ExprRef] | None = None, timeout_ms: int = TIMEOUT_MS,
            recheck: Callable[[dict], bool] | None = None) -> Obligation:
    """Prove an existence claim (e.g. "the weakened statement is false") by a z3 model.

    `sat` → proved, the model kept as `witness` and, if `recheck` is given, re-checked
    exactly (a failed re-check makes the obligation fail); `unsat`/`unknown` → not proved.
    """
    s = _solver(constraints, timeout_ms, None)
    t0 = time.perf_counter()
    answer = s.check()
    seconds = time.perf_counter() - t0
    if answer == z3.sat:
        w = model_dict(s.model(), variables)
        if recheck is not None and not recheck(w):
            return Obligation(claim, "refuted", "z3 sat, exact re-check FAILED", seconds, witness=w)
        return Obligation(claim, "proved", "z3 sat" + (" + exact re-check" if recheck else ""),
                          seconds, witness=w)
    status = "refuted" if answer == z3.unsat else "unknown"
    return Obligation(claim, status, f"z3 {answer}", seconds, note="no witness exists" if
                      answer == z3.unsat else f"reason: {s.reason_unknown()}")


def find_model(constraints: Sequence[z3.BoolRef], *, timeout_ms: int = TIMEOUT_MS,
               logic: str | None = None) -> z3.ModelRef | None:
    """A model of `constraints`, or None if unsat; raises on `unknown` (never guesses)."""
    s = _solver(constraints, timeout_ms, logic)
    answer = s.check()
    if answer == z3.sat:
        return s.model()
    if answer == z3.unsat:
        return None
    raise RuntimeError(f"z3 returned unknown: {s.reason_unknown()}")


def exact(claim: str, check: Callable[[], bool | tuple[bool, object]], method: str = "exact") -> Obligation:
    """Discharge `claim` by an exact computation returning True (or `(False, witness)`)."""
    t0 = time.perf_counter()
    out = check()
    seconds = time.perf_counter() - t0
    ok, witness = (out, None) if isinstance(out, bool) else out
    if ok:
        return Obligation(claim, "proved", method, seconds)
    return Obligation(claim, "refuted", method, seconds,
                      counterexample=witness if isinstance(witness, dict) else {"witness": witness})


# --------------------------------------------------------------------------- z3 building blocks

def relu(t: z3.ArithRef) -> z3.ArithRef:
    """`σ(t) = max(t, 0)` as a z3 term."""
    return z3.If(t >= 0, t, 0)


def zmax(terms: Sequence) -> z3.ArithRef:
    out = terms[0]
    for t in terms[1:]:
        out = z3.If(t > out, t, out)
    return out


def zmin(terms: Sequence) -> z3.ArithRef:
    out = terms[0]
    for t in terms[1:]:
        out = z3.If(t < out, t, out)
    return out


def hat_term(z: Sequence, h, x: Sequence[z3.ArithRef]) -> z3.ArithRef:
    """The Courant hat formula `σ(1 - max(0, y) + min(0, y))`, `y = (x - z)/h`, as a z3 term.

    This is docs/theory.md §2 written out directly (not through certify's code).
    """
    y = [(xi - frac(zi)) / frac(h) for xi, zi in zip(x, z)]
    zero = z3.RealVal(0)
    return relu(1 - zmax([zero] + y) + zmin([zero] + y))


def layers_term(layers, x: Sequence[z3.ArithRef]) -> list[z3.ArithRef]:
    """Push z3 terms through exact ReLU layers `v ↦ σ(W v + b)` (no simplification)."""
    v = list(x)
    for layer in layers:
        nxt = []
        for row, b in zip(layer.weight, layer.bias):
            s = frac(b)
            for w, vi in zip(row, v):
                if w != 0:
                    s = s + frac(w) * vi
            nxt.append(relu(s))
        v = nxt
    return v


def layers_exact(layers, x: Sequence[Fraction]) -> list[Fraction]:
    """Evaluate exact ReLU layers at a rational point (for re-checking counterexamples)."""
    v = [Fraction(t) for t in x]
    for layer in layers:
        v = [max(sum((w * vi for w, vi in zip(row, v)), Fraction(b)), Fraction(0))
             for row, b in zip(layer.weight, layer.bias)]
    return v


def in_box(x: Sequence[z3.ArithRef], lo=0, hi=1) -> list[z3.BoolRef]:
    return [z3.And(xi >= frac(lo), xi <= frac(hi)) for xi in x]


def lies_between_zero_and(e: z3.ArithRef, prev: z3.ArithRef) -> z3.BoolRef:
    """`e` lies (closed) between 0 and `prev`: `0 <= e <= prev` or `prev <= e <= 0`."""
    return z3.Or(z3.And(prev >= 0, e >= 0, e <= prev), z3.And(prev <= 0, e <= 0, e >= prev))


# --------------------------------------------------------------------------- entry point

def main(prove: Callable[[], Result]) -> None:
    """Run `prove()`, print the report, exit 0 if proved and 1 (loudly) otherwise."""
    t0 = time.perf_counter()
    result = prove()
    print(result.report())
    print(f"   ({time.perf_counter() - t0:.2f}s)")
    if not result.proved:
        print(f"\n!!! {result.name}: NOT PROVED", file=sys.stderr)
        for o in result.failures():
            print(f"!!! {o.status}: {o.claim}", file=sys.stderr)
            if o.counterexample is not None:
                print(f"!!!   counterexample: {o.counterexample}", file=sys.stderr)
            if o.note:
                print(f"!!!   {o.note}", file=sys.stderr)
        sys.exit(1)
    sys.exit(0)
