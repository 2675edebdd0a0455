"""`--expr`: a target written as a formula, parsed (never evaluated as Python).

A small recursive-descent parser over a whitelist: numbers (read as exact rationals),
the variables `x1..xd`, the constants `pi` and `E`, the operators `+ - * / ** ^` and
parentheses, and the functions sqrt exp log sin cos tan atan sinh cosh tanh Abs Max Min.
Anything else is refused with its position. Sizes are bounded (length, nesting, digits,
numeric powers) so that no formula can make SymPy compute for long.
"""

from __future__ import annotations

import re

import sympy

from .errors import TargetError

MAX_LENGTH, MAX_DEPTH, MAX_NUMBER, MAX_POWER, MAX_DIM = 2_000, 60, 40, 1_000, 32

FUNCTIONS = {"sqrt": sympy.sqrt, "exp": sympy.exp, "log": sympy.log, "sin": sympy.sin,
             "cos": sympy.cos, "tan": sympy.tan, "atan": sympy.atan, "sinh": sympy.sinh,
             "cosh": sympy.cosh, "tanh": sympy.tanh, "Abs": sympy.Abs, "abs": sympy.Abs,
             "Max": sympy.Max, "max": sympy.Max, "Min": sympy.Min, "min": sympy.Min}
_ARITY = {"Max": 2, "max": 2, "Min": 2, "min": 2}
CONSTANTS = {"pi": sympy.pi, "E": sympy.E}
_TOKEN = re.compile(r"\s*(?:(?P<number>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)"
                    r"|(?P<name>[A-Za-z_][A-Za-z_0-9]*)|(?P<op>\*\*|[-+*/^(),]))")


def _tokens(text: str) -> list[tuple[str, str, int]]:
    out, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if not m:
            raise TargetError(f"--expr: unexpected character {text[pos:].lstrip()[0]!r} at "
                              f"position {len(text) - len(text[pos:].lstrip()) + 1}",
                              "use numbers, x1..xd, pi, E, + - * / ** ( ) and "
                              + " ".join(sorted(set(FUNCTIONS) - {"abs", "max", "min"})))
        kind = m.lastgroup
        out.append((kind, m.group(kind), m.start(kind) + 1))
        pos = m.end()
    out.append(("end", "", len(text) + 1))
    return out


class _Parser:
    def __init__(self, text: str):
        self.tokens = _tokens(text)
        self.i = 0
        self.depth = 0
        self.symbols: dict[int, sympy.Symbol] = {}

    def peek(self):
        return self.tokens[self.i]

    def take(self, value: str | None = None):
        tok = self.tokens[self.i]
        if value is not None and tok[1] != value:
            shown = tok[1] or "the end"
            raise TargetError(f"--expr: expected {value!r} at position {tok[2]}, found {shown!r}")
        self.i += 1
        return tok

    def nested(self):
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise TargetError(f"--expr: nested more than {MAX_DEPTH} deep")

    def expr(self):
        self.nested()
        value = self.term()
        while self.peek()[1] in ("+", "-"):
            op = self.take()[1]
            right = self.term()
            value = value + right if op == "+" else value - right
        self.depth -= 1
        return value

    def term(self):
        value = self.unary()
        while self.peek()[1] in ("*", "/"):
            op = self.take()[1]
            right = self.unary()
            value = value * right if op == "*" else value / right
        return value

    def unary(self):
        if self.peek()[1] in ("+", "-"):
            op = self.take()[1]
            self.nested()
            value = self.unary()
            self.depth -= 1
            return -value if op == "-" else value
        return self.power()

    def power(self):
        base = self.atom()
        if self.peek()[1] in ("**", "^"):
            pos = self.take()[2]
            self.nested()
            exponent = self.unary()
            self.depth -= 1
            if exponent.is_number and (not exponent.is_real or abs(exponent) > MAX_POWER):
                raise TargetError(f"--expr: exponent {sympy.sstr(exponent)[:30]} at position "
                                  f"{pos} is too large (at most {MAX_POWER})")
            if base.is_number and exponent.is_number and abs(base) > MAX_POWER:
                raise TargetError(f"--expr: numeric power at position {pos} is too large")
            return base ** exponent
        return base

    def atom(self):
        kind, text, pos = self.take()
        if kind == "number":
            if len(text) > MAX_NUMBER or "e" in text.lower() and \
                    abs(int(re.split("[eE]", text)[1])) > MAX_NUMBER:
                raise TargetError(f"--expr: number {text[:20]!r} at position {pos} is too "
                                  f"long (at most {MAX_NUMBER} characters and exponents)")
            return sympy.Rational(text)
        if kind == "name":
            if text in CONSTANTS:
                return CONSTANTS[text]
            m = re.fullmatch(r"x([1-9]\d*)", text)
            if m:
                index = int(m.group(1))
                if index > MAX_DIM:
                    raise TargetError(f"--expr: {text} at position {pos}: at most {MAX_DIM} "
                                      "coordinates")
                return self.symbols.setdefault(index, sympy.Symbol(f"x{index}", real=True))
            if text in FUNCTIONS:
                self.take("(")
                args = [self.expr()]
                while self.peek()[1] == ",":
                    self.take()
                    args.append(self.expr())
                self.take(")")
                arity = _ARITY.get(text, 1)
                if len(args) != arity:
                    raise TargetError(f"--expr: {text} at position {pos} takes {arity} "
                                      f"argument{'s' if arity > 1 else ''}, got {len(args)}")
                return FUNCTIONS[text](*args)
            raise TargetError(f"--expr: unknown name {text!r} at position {pos}",
                              "variables are x1..xd; functions: "
                              + " ".join(sorted(set(FUNCTIONS) - {"abs", "max", "min"})))
        if text == "(":
            value = self.expr()
            self.take(")")
            return value
        raise TargetError(f"--expr: unexpected {text or 'end'!r} at position {pos}")


def parse_formula(text: str) -> tuple[int, tuple, sympy.Expr]:
    """(dim, symbols x1..xd, expression) of a formula; TargetError (one line) if refused.

    The dimension is the largest variable index used (at least 1)."""
    if not isinstance(text, str) or not text.strip():
        raise TargetError("--expr is empty", "e.g. --expr 'sin(2*pi*x1)'")
    if len(text) > MAX_LENGTH:
        raise TargetError(f"--expr has {len(text):,} characters (at most {MAX_LENGTH:,})")
    parser = _Parser(text)
    try:
        expr = parser.expr()
    except TargetError:
        raise
    except (TypeError, ValueError, ArithmeticError, AttributeError, RecursionError) as exc:
        message = " ".join(str(exc).split())[:80]
        raise TargetError(f"--expr is not a real number expression ({message})") from None
    kind, rest, pos = parser.peek()
    if kind != "end":
        raise TargetError(f"--expr: unexpected {rest!r} at position {pos}")
    dim = max(parser.symbols, default=1)
    symbols = tuple(sympy.Symbol(f"x{i}", real=True) for i in range(1, dim + 1))
    return dim, symbols, sympy.sympify(expr)
