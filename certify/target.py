"""Target functions: load a SymPy-written `f`, refuse what is not continuous on the cube,
and evaluate it fast in every number model.

`load_target` executes the file, traces `f` with real symbols `x1..xd`, checks the traced
expression (supported operations only, no jumps, and every division / root / log proved
harmless on the closed cube by interval bisection), classifies it, and compiles `f` and its
gradient once into plain Python code that calls context methods. Nothing calls SymPy at
evaluation time. The gradient is our own symbolic derivative: kinks give `Sgn`/`Step`
factors whose ball value is `[-1, 1]` / `[0, 1]` where the kink may lie in the box, so a
ball gradient always encloses Clarke's generalized gradient and the mean-value form stays
sound for every Lipschitz target.
"""

from __future__ import annotations

import builtins
import inspect
import itertools
import os
from collections import deque
from dataclasses import dataclass, field
from fractions import Fraction
from functools import reduce
from typing import Sequence

import numpy as np
import sympy
from flint import arb

from .errors import NotExact, TargetError
from .numbers import (BallContext, Context, ExactContext, FloatContext, ball_bounds,
                      parse_rational)

# kink factors of our derivatives: Sgn = d|u|/du, Step = weight of a Max/Min argument
Sgn = sympy.Function("_certify_sgn")
Step = sympy.Function("_certify_step")

_UNARY = {sympy.sin: "sin", sympy.cos: "cos", sympy.tan: "tan", sympy.atan: "atan",
          sympy.sinh: "sinh", sympy.cosh: "cosh", sympy.tanh: "tanh", sympy.exp: "exp",
          sympy.log: "log", sympy.Abs: "abs", Sgn: "sgn", Step: "step"}
_JUMPS = (sympy.sign, sympy.floor, sympy.ceiling, sympy.frac, sympy.Heaviside, sympy.Mod,
          sympy.DiracDelta)
_COMPLEX = (sympy.re, sympy.im, sympy.arg, sympy.conjugate)
_CONDITIONS = (sympy.logic.boolalg.BooleanFunction, sympy.logic.boolalg.BooleanAtom,
               sympy.core.relational.Relational)
_ALLOWED = "+ - * / powers sqrt exp log sin cos tan atan sinh cosh tanh Abs Max Min pi E"
_BUDGET, _MIN_WIDTH = 2000, Fraction(1, 2 ** 20)     # domain proofs: boxes, finest box side
_ONE = arb(1)


def _ball_of(q) -> arb:
    """A ball containing the rational `q` (exact when `q` is dyadic); faster than to_ball."""
    if type(q) is not Fraction:
        q = Fraction(q)
    return arb(q.numerator) if q.denominator == 1 else arb(q.numerator) / q.denominator


def _root(a: arb, e: Fraction) -> arb:
    """`a**e`, `a` a ball of positive numbers."""
    r = a.sqrt() if e.denominator == 2 else a.root(e.denominator)
    return r ** e.numerator


def _root_top(b: arb, e: Fraction) -> arb:
    """A ball above `t**e` for every `0 <= t <= upper(b)` (`e > 0`)."""
    t = b if b > 0 else b.abs_upper()
    return arb(0) if t.is_zero() else _root(t, e)


# --------------------------------------------------------------------------- contexts

class _Exact(ExactContext):
    """EXACT plus the kink factors (undefined exactly at a kink) and proven-base roots."""

    def sgn(self, a):
        if a == 0:
            raise NotExact("f is not differentiable at this point (a kink)")
        return Fraction(1 if a > 0 else -1)

    def step(self, a):
        if a == 0:
            raise NotExact("f is not differentiable at this point (a kink)")
        return Fraction(1 if a > 0 else 0)

    cpow = ExactContext.pow


class _Ball(BallContext):
    """BALL with tight `abs` and powers on balls that straddle 0, kink factors and `cpow`."""

    def convert(self, q):
        return q if isinstance(q, arb) else _ball_of(q)

    def abs(self, a):
        if a >= 0:
            return a
        return -a if a <= 0 else arb(0).union(a.abs_upper())

    def pow(self, a, e):
        if e.denominator == 1:
            n = int(e)
            if n < 0:
                return _ONE / self.pow(a, -e)
            if n % 2 == 0 and not (a > 0 or a < 0):
                return arb(0).union(a.abs_upper() ** n)
            return a ** n
        if e < 0:
            return _ONE / self.pow(a, -e)
        if a > 0:
            return _root(a, e)
        return self.cpow(a, e) if a >= 0 else arb.nan()

    def cpow(self, a, e):
        """`a**e` for a base proved >= 0 on the cube: negative parts of `a` are overestimation."""
        if e < 0:
            return _ONE / self.cpow(a, -e)
        return _root(a, e) if a > 0 else arb(0).union(_root_top(a, e))

    def sgn(self, a):
        return _ONE if a > 0 else -_ONE if a < 0 else arb(0, 1)

    def step(self, a):
        return _ONE if a > 0 else arb(0) if a < 0 else arb(0.5, 0.5)


class _Float(FloatContext):
    """FLOAT with kink factors; `cpow` clips rounding noise below 0."""

    def sgn(self, a): return np.sign(a)
    def step(self, a): return np.heaviside(a, 0.5)
    def cpow(self, a, e): return np.power(np.maximum(a, 0.0), float(e))


_NAN = arb.nan()


class _Iv:
    """The interval `[lower(lo), upper(hi)]` with Arb-ball end points: exact end points stay
    exact, so signs on the boundary of the cube are decided (mid-radius balls cannot)."""

    __slots__ = ("lo", "hi")

    def __init__(self, lo: arb, hi: arb):
        self.lo, self.hi = lo, hi

    def __neg__(self): return _Iv(-self.hi, -self.lo)
    def __add__(self, o): return _Iv(self.lo + o.lo, self.hi + o.hi)
    def __sub__(self, o): return _Iv(self.lo - o.hi, self.hi - o.lo)

    def __mul__(self, o):
        ps = (self.lo * o.lo, self.lo * o.hi, self.hi * o.lo, self.hi * o.hi)
        return _Iv(reduce(arb.min, ps), reduce(arb.max, ps))

    def __truediv__(self, o):
        if not (o.lo > 0 or o.hi < 0):
            return _Iv(_NAN, _NAN)
        return self * _Iv(_ONE / o.hi, _ONE / o.lo)


def _inc(fn):
    return lambda self, a: _Iv(fn(a.lo), fn(a.hi))


class _Interval(Context):
    """Interval arithmetic (`_Iv`) for the domain proofs at load time."""

    name = "interval"

    def convert(self, q):
        b = _ball_of(q)
        return _Iv(b, b)

    def pi(self): return _Iv(arb.pi(), arb.pi())
    def E(self): return _Iv(arb.const_e(), arb.const_e())
    exp, atan, sinh, tanh = (_inc(f) for f in (arb.exp, arb.atan, arb.sinh, arb.tanh))

    def log(self, a): return _Iv(a.lo.log(), a.hi.log()) if a.lo > 0 else _Iv(_NAN, _NAN)

    def _piece(self, a, fn, slope):
        """`fn` on `a`, monotone where `slope` (the derivative's ball) has a sign."""
        hull = a.lo.union(a.hi)
        s = slope(hull)
        if s > 0:
            return _Iv(fn(a.lo), fn(a.hi))
        if s < 0:
            return _Iv(fn(a.hi), fn(a.lo))
        v = fn(hull)
        return _Iv(v, v)

    def sin(self, a): return self._piece(a, arb.sin, arb.cos)
    def cos(self, a): return self._piece(a, arb.cos, lambda h: -h.sin())
    def cosh(self, a): return self._piece(a, arb.cosh, arb.sinh)

    def tan(self, a):
        hull = a.lo.union(a.hi)
        c = hull.cos()
        return _Iv(a.lo.tan(), a.hi.tan()) if c > 0 or c < 0 else _Iv(_NAN, _NAN)

    def abs(self, a):
        if a.lo >= 0:
            return a
        return -a if a.hi <= 0 else _Iv(arb(0), (-a.lo).max(a.hi))

    def max(self, a, b): return _Iv(a.lo.max(b.lo), a.hi.max(b.hi))
    def min(self, a, b): return _Iv(a.lo.min(b.lo), a.hi.min(b.hi))

    def pow(self, a, e, clip=False):
        if e.denominator == 1:
            n = int(e)
            if n < 0:
                return self.convert(1) / self.pow(a, -e)
            if n % 2 == 1 or a.lo >= 0:
                return _Iv(a.lo ** n, a.hi ** n)
            if a.hi <= 0:
                return _Iv(a.hi ** n, a.lo ** n)
            return _Iv(arb(0), (-a.lo).max(a.hi) ** n)
        if not (a.lo >= 0 or clip):
            return _Iv(_NAN, _NAN)
        if e < 0:
            return self.convert(1) / self.pow(a, -e, clip)
        return _Iv(_root(a.lo, e) if a.lo > 0 else arb(0), _root_top(a.hi, e))

    def cpow(self, a, e): return self.pow(a, e, clip=True)


_CONTEXTS = {"exact": _Exact(), "ball": _Ball(), "float": _Float(), "interval": _Interval()}
_IV = _CONTEXTS["interval"]


def _adapt(ctx: Context) -> Context:
    if isinstance(ctx, (_Exact, _Ball, _Float, _Interval)):
        return ctx
    for kind, base in ((ExactContext, "exact"), (BallContext, "ball"), (FloatContext, "float")):
        if isinstance(ctx, kind):
            return _CONTEXTS[base]
    raise TypeError(f"unsupported number context {ctx!r}")


# --------------------------------------------------------------------------- compiler

class _Program:
    """Compiled code for a list of named expression lists, with one constant table per
    context (rationals converted by `ctx.convert`, constant sub-expressions hoisted)."""

    def __init__(self, outputs: dict, symbols: Sequence, proven: set):
        self.names = {s: f"x{i + 1}" for i, s in enumerate(symbols)}
        self.proven = proven
        self.env: dict = {}
        self.table_lines: list = []
        self.table_memo: dict = {}
        self.fns = {key: self._function(key, exprs) for key, exprs in outputs.items()}
        src = "def _table(ctx):\n    C = []\n" + "".join(
            f"    C.append({line})\n" for line in self.table_lines) + "    return C\n"
        exec(compile(src, "<certify target constants>", "exec"), self.env)
        self.tables: dict = {}

    def _q(self, q: Fraction) -> str:
        name = f"Q{len(self.env)}"
        self.env[name] = Fraction(q)
        return name

    def _const(self, e) -> str:
        if e not in self.table_memo:
            if e.is_Rational:
                code = f"ctx.convert({self._q(Fraction(int(e.p), int(e.q)))})"
            elif e is sympy.pi:
                code = "ctx.pi()"
            elif e is sympy.E:
                code = "ctx.E()"
            else:
                code = self._op(e, self._const)
            self.table_lines.append(code)
            self.table_memo[e] = f"C[{len(self.table_lines) - 1}]"
        return self.table_memo[e]

    def _op(self, e, sub) -> str:
        """Python code for node `e` whose operands are named by `sub`."""
        if e.is_Add:
            pos = [sub(t) for t in e.args if not t.as_coeff_Mul()[0] < 0]
            neg = [sub(-t) for t in e.args if t.as_coeff_Mul()[0] < 0]
            code = " + ".join(pos) if pos else f"-{neg.pop(0)}"
            return code + "".join(f" - {n}" for n in neg)
        if e.is_Mul:
            coeff, factors = e.as_coeff_mul()
            num, den = [], []
            for fac in factors:
                if fac.is_Pow and fac.exp.is_Rational and fac.exp < 0:
                    den.append(fac.base if fac.exp == -1 else fac.base ** -fac.exp)
                else:
                    num.append(fac)
            sign = "-" if coeff < 0 else ""
            coeff = abs(coeff)
            if coeff.p != 1 or not num:
                num.insert(0, sympy.Integer(coeff.p))
            if coeff.q != 1:
                den.insert(0, sympy.Integer(coeff.q))
            return sign + " * ".join(map(sub, num)) + "".join(f" / {sub(d)}" for d in den)
        if e.is_Pow:
            base, ex = e.args
            if ex.is_Rational:
                if ex == -1:
                    return f"{sub(sympy.Integer(1))} / {sub(base)}"
                method = "pow" if ex.q == 1 or base not in self.proven else "cpow"
                return f"ctx.{method}({sub(base)}, {self._q(Fraction(int(ex.p), int(ex.q)))})"
            return f"ctx.exp({sub(ex * sympy.log(base, evaluate=False))})"
        if e.func in _UNARY:
            return f"ctx.{_UNARY[e.func]}({sub(e.args[0])})"
        if e.func in (sympy.Max, sympy.Min):
            name = "max" if e.func is sympy.Max else "min"
            return reduce(lambda acc, a: f"ctx.{name}({acc}, {sub(a)})", e.args[1:], sub(e.args[0]))
        raise TypeError(f"cannot compile {e}")   # validation refuses these first

    def _function(self, key, exprs):
        lines, memo = [], {}

        def sub(e):
            if e in self.names:
                return self.names[e]
            if not e.free_symbols:
                return self._const(e)
            if e not in memo:
                code = self._op(e, sub)
                memo[e] = f"t{len(memo)}"
                lines.append(f"    {memo[e]} = {code}")
            return memo[e]

        outs = [sub(e) for e in exprs]
        unpack = f"    {', '.join(self.names.values())}, = x\n" if self.names else ""
        src = (f"def _{key}(ctx, C, x):\n{unpack}" + "\n".join(lines)
               + f"\n    return [{', '.join(outs)}]\n")
        exec(compile(src, f"<certify target {key}>", "exec"), self.env)
        return self.env[f"_{key}"]

    def run(self, key, ctx, x):
        table = self.tables.get(ctx)
        if table is None:
            try:
                table = self.env["_table"](ctx)
            except NotExact as exc:
                table = exc
            self.tables[ctx] = table
        if isinstance(table, NotExact):
            raise table
        return self.fns[key](ctx, table, x)


# --------------------------------------------------------------------------- derivatives

def _diff(e, s, memo: dict):
    """d e / d s, with kink factors `Sgn`/`Step` for Abs/Max/Min (Clarke-sound)."""
    if s not in e.free_symbols:
        return sympy.Integer(0)
    if e == s:
        return sympy.Integer(1)
    if e in memo:
        return memo[e]
    d = lambda a: _diff(a, s, memo)
    args = e.args
    if e.is_Add:
        out = sympy.Add(*map(d, args))
    elif e.is_Mul:
        out = sympy.Add(*[sympy.Mul(*args[:i], d(a), *args[i + 1:]) for i, a in enumerate(args)])
    elif e.is_Pow:
        base, ex = args
        if s not in ex.free_symbols:
            out = ex * base ** (ex - 1) * d(base)
        else:
            out = e * (d(ex) * sympy.log(base) + ex * d(base) / base)
    elif e.func in (sympy.Max, sympy.Min):
        sgn = 1 if e.func is sympy.Max else -1
        out = sympy.Add(*[d(a) * sympy.Mul(*[Step(sgn * (a - b)) for j, b in enumerate(args)
                                             if j != i]) for i, a in enumerate(args)])
    else:
        u = args[0]
        outer = {sympy.exp: e, sympy.log: 1 / u, sympy.sin: sympy.cos(u),
                 sympy.cos: -sympy.sin(u), sympy.tan: 1 + e ** 2, sympy.atan: 1 / (1 + u ** 2),
                 sympy.sinh: sympy.cosh(u), sympy.cosh: sympy.sinh(u),
                 sympy.tanh: 1 - e ** 2, sympy.Abs: Sgn(u)}[e.func]
        out = outer * d(u)
    memo[e] = out
    return out


# --------------------------------------------------------------------------- checks

def _short(e, limit: int = 70) -> str:
    text = sympy.sstr(e).replace("\n", " ")
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _point(symbols, pt) -> str:
    return ", ".join(f"{s}={q}" for s, q in zip(symbols, pt))


def _check_structure(expr) -> None:
    """Refuse jumps, conditions, complex values, infinities and unknown functions."""
    if isinstance(expr, _CONDITIONS):
        raise TargetError(f"target f returns a condition, not a number: {_short(expr)}")
    for node in sympy.preorder_traversal(expr):
        if node.is_Symbol or node.is_Rational or node is sympy.pi or node is sympy.E:
            continue
        if node.is_Add or node.is_Mul or node.is_Pow or node.func in _UNARY \
                or node.func in (sympy.Max, sympy.Min):
            if node.func not in (Sgn, Step):
                continue
        if node in (sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
            raise TargetError(f"target f is not finite on the cube: it traces to {_short(expr)}")
        if node is sympy.I or node.func in _COMPLEX or node.is_Number and not node.is_real:
            raise TargetError(f"target f is not real: {_short(node)} is complex")
        if isinstance(node, sympy.Piecewise):
            raise TargetError(f"target f is not continuous on the cube: {_short(node)} may jump"
                              " (write kinks with Abs/Max/Min instead of Piecewise)")
        if node.func in _JUMPS:
            raise TargetError(f"target f is not continuous on the cube: {_short(node)} has a "
                              "jump (use Abs/Max/Min for kinks)")
        if isinstance(node, _CONDITIONS):
            raise TargetError(f"target f is not continuous on the cube: {_short(node)} is a "
                              "condition")
        name = getattr(node.func, "__name__", type(node).__name__)
        raise TargetError(f"target f uses {name} ({_short(node)}), which is not supported "
                          f"(allowed: {_ALLOWED})")


def _conditions(expr):
    """(kind, u, op) for every sub-expression that needs `u` nonzero/positive/nonnegative,
    innermost first."""
    out = []
    for node in sympy.postorder_traversal(expr):
        if node.is_Pow:
            base, ex = node.args
            if not ex.is_Rational:
                out.append(("positive", base, node))
            elif ex.q != 1:
                out.append(("positive" if ex < 0 else "nonneg", base, node))
            elif ex < 0:
                out.append(("nonzero", base, node))
        elif node.func is sympy.log:
            out.append(("positive", node.args[0], node))
        elif node.func is sympy.tan:
            out.append(("nonzero", sympy.cos(node.args[0]), node))
    return list(dict.fromkeys(out))


class _Prover:
    """Proves domain conditions on [0,1]^d by interval bisection, or finds a witness."""

    def __init__(self, symbols):
        self.symbols = symbols
        self.dim = len(symbols)
        self.proven: set = set()

    def check(self, kind, u, op):
        prog = _Program({"v": [u]}, self.symbols, self.proven)
        good = {"nonzero": lambda v: v.lo > 0 or v.hi < 0, "positive": lambda v: v.lo > 0,
                "nonneg": lambda v: v.lo >= 0}[kind]
        seen = {}
        zero, one = Fraction(0), Fraction(1)
        for corner in itertools.islice(itertools.product((zero, one), repeat=self.dim), 64):
            self._test(kind, u, op, prog, corner, seen)
        queue, count = deque([((zero,) * self.dim, (one,) * self.dim)]), 0
        while queue:
            lo, hi = queue.popleft()
            count += 1
            v = prog.run("v", _IV, [_Iv(_ball_of(a), _ball_of(b)) for a, b in zip(lo, hi)])[0]
            if good(v):
                continue
            self._test(kind, u, op, prog, tuple((a + b) / 2 for a, b in zip(lo, hi)), seen)
            i = max(range(self.dim), key=lambda j: hi[j] - lo[j])
            if count >= _BUDGET or hi[i] - lo[i] <= _MIN_WIDTH:
                what = {"nonzero": "nonzero", "positive": "positive", "nonneg": "nonnegative"}
                raise TargetError(f"target f: cannot prove {_short(u)} is {what[kind]} on the "
                                  f"cube (needed by {_short(op)})")
            m = (lo[i] + hi[i]) / 2
            queue.append((lo, hi[:i] + (m,) + hi[i + 1:]))
            queue.append((lo[:i] + (m,) + lo[i + 1:], hi))
        if kind != "nonzero":
            self.proven.add(u)

    def _sign(self, u, prog, pt):
        try:
            v = prog.run("v", _CONTEXTS["exact"], list(pt))[0]
            return (v > 0) - (v < 0)
        except (NotExact, ZeroDivisionError, ValueError, ArithmeticError):
            pass
        v = prog.run("v", _IV, [_Iv(_ball_of(q), _ball_of(q)) for q in pt])[0]
        if v.lo > 0 or v.hi < 0:
            return 1 if v.lo > 0 else -1
        try:
            val = u.xreplace({s: sympy.Rational(q.numerator, q.denominator)
                              for s, q in zip(self.symbols, pt)})
            return 0 if val.is_zero else 1 if val.is_positive else -1 if val.is_negative else None
        except Exception:     # sympy could not decide: no witness here
            return None

    def _test(self, kind, u, op, prog, pt, seen):
        s = self._sign(u, prog, pt)
        if s is None:
            return
        where = _point(self.symbols, pt)
        head = f"target f is not {'real' if kind == 'nonneg' else 'finite'} on [0,1]^{self.dim}"
        if kind == "nonzero":
            verb = "has a pole" if op.func is sympy.tan else "divides by zero"
            if s == 0:
                raise TargetError(f"{head}: {_short(op)} {verb} at {where}")
            seen.setdefault(s, where)
            if -s in seen:
                raise TargetError(f"{head}: {_short(op)} {verb} somewhere: {_short(u)} changes "
                                  f"sign between {seen[-s]} and {where}")
        elif s < 0 or s == 0 and kind == "positive":
            rel = ">" if kind == "positive" else ">="
            raise TargetError(f"{head}: {_short(op)} needs {_short(u)} {rel} 0, which fails "
                              f"at {where}")


def _classify(expr, symbols) -> str:
    def linear(e):
        if e.is_Rational or e.is_Symbol:
            return True
        if e.is_Add or e.func in (sympy.Abs, sympy.Max, sympy.Min):
            return all(map(linear, e.args))
        if e.is_Mul:
            consts = [a for a in e.args if not a.free_symbols]
            rest = [a for a in e.args if a.free_symbols]
            return all(c.is_Rational for c in consts) and len(rest) == 1 and linear(rest[0])
        return False

    if linear(expr):
        return "piecewise-linear"
    try:
        if expr.is_polynomial(*symbols) and sympy.Poly(expr, *symbols).domain in (sympy.ZZ,
                                                                                 sympy.QQ):
            return "polynomial"
    except sympy.PolynomialError:
        pass
    return "general"


# --------------------------------------------------------------------------- target

@dataclass(frozen=True)
class Target:
    """A checked, compiled target `f` on [0,1]^dim."""

    path: str
    name: str
    dim: int
    expr: sympy.Expr
    symbols: tuple
    kind: str
    lipschitz: Fraction | None
    _program: _Program = field(repr=False, compare=False, default=None)

    def __reduce__(self):
        """Pickle by expression (compiled code is rebuilt), e.g. for worker processes."""
        return _rebuild, (self.path, self.name, self.dim, self.expr, self.symbols, self.kind,
                          self.lipschitz, frozenset(self._program.proven))

    @property
    def derivatives(self) -> tuple:
        """The partial derivatives as SymPy expressions (kinks as `Sgn`/`Step` factors)."""
        return tuple(self._program.derivatives)

    def _inputs(self, ctx, x):
        if len(x) != self.dim:
            raise ValueError(f"f takes {self.dim} coordinates, got {len(x)}")
        if isinstance(ctx, BallContext):
            return [v if isinstance(v, arb) else _ball_of(v) for v in x]
        if isinstance(ctx, ExactContext):
            return [Fraction(v) for v in x]
        return [v if isinstance(v, (float, np.ndarray)) else float(v) for v in x]

    def evaluate(self, ctx, x):
        """f(x) in context `ctx` (EXACT raises NotExact for a transcendental value)."""
        ctx = _adapt(ctx)
        return self._program.run("value", ctx, self._inputs(ctx, x))[0]

    def gradient(self, ctx, x) -> list:
        """∇f at x (BALL: x may be boxes; entries non-finite where f may be non-smooth)."""
        ctx = _adapt(ctx)
        try:
            return self._program.run("grad", ctx, self._inputs(ctx, x))
        except ZeroDivisionError:
            raise NotExact("f is not differentiable at this point") from None

    def exact(self, x) -> Fraction:
        """The exact value at a rational point (piecewise-linear and polynomial targets)."""
        if self.kind == "general":
            raise NotExact(f"{self.name}: a general target has no exact values")
        return Fraction(self.evaluate(_CONTEXTS["exact"], x))

    def ball(self, x) -> arb:
        """A rigorous Arb enclosure of f at the rational point x."""
        return self.evaluate(_CONTEXTS["ball"], [_ball_of(v) for v in x])

    @staticmethod
    def _balls(lo, hi):
        """(midpoint balls, box balls) of [lo, hi]; a box starting at >= 0 is kept >= 0."""
        a = [_ball_of(v) for v in lo]
        b = [_ball_of(v) for v in hi]
        box = [x.union(y) for x, y in zip(a, b)]
        box = [x if x >= 0 or v < 0 else x.nonnegative_part() for x, v in zip(box, lo)]
        return [(x + y) / 2 for x, y in zip(a, b)], box

    def mean_value(self, lo, hi):
        """(f at the box midpoint, ∇f over the box), as balls."""
        mid, box = self._balls(lo, hi)
        run, ball = self._program.run, _CONTEXTS["ball"]
        return run("value", ball, mid)[0], run("grad", ball, box)

    def enclose(self, lo, hi) -> tuple[Fraction, Fraction]:
        """Exact rationals bounding f over the box [lo, hi]: naive ∩ mean-value form."""
        result = self._enclosure(lo, hi)
        if result is not None:
            return ball_bounds(result)
        return self._split(list(map(Fraction, lo)), list(map(Fraction, hi)), 0)

    def _enclosure(self, lo, hi):
        """The ball of f over [lo, hi] (naive ∩ mean-value form), None if not finite."""
        mid, box = self._balls(lo, hi)
        run, ball = self._program.run, _CONTEXTS["ball"]
        out = run("both", ball, box)
        naive, grad = out[0], out[1:]
        result = naive if naive.is_finite() else None
        if all(g.is_finite() for g in grad):
            mv = run("value", ball, mid)[0]
            for g, x, m in zip(grad, box, mid):
                mv += g * (x - m)
            if mv.is_finite():
                if result is not None and not mv.overlaps(result):
                    raise ArithmeticError(f"{self.name}: disjoint enclosures on {lo}..{hi}")
                result = mv if result is None else mv.intersection(result)
        return result

    def _split(self, lo, hi, depth):
        """Enclosure by bisection when the box is too wide for a finite ball."""
        if depth >= 8:
            raise ArithmeticError(f"{self.name}: no finite enclosure on the box {lo}..{hi}")
        i = max(range(self.dim), key=lambda j: hi[j] - lo[j])
        m = (lo[i] + hi[i]) / 2
        parts = []
        for a, b in ((lo, hi[:i] + [m] + hi[i + 1:]), (lo[:i] + [m] + lo[i + 1:], hi)):
            result = self._enclosure(a, b)
            parts.append(ball_bounds(result) if result is not None
                         else self._split(a, b, depth + 1))
        return min(p[0] for p in parts), max(p[1] for p in parts)

    def floats(self, points) -> np.ndarray:
        """f at each row of `points` (shape (n, d)), in float64; for sampling only."""
        points = np.asarray(points, dtype=float).reshape(-1, self.dim)
        with np.errstate(all="ignore"):
            value = self.evaluate(_CONTEXTS["float"], tuple(points.T))
        return np.broadcast_to(np.asarray(value, dtype=float), (len(points),)).copy()


# --------------------------------------------------------------------------- loading

def _lipschitz(value, where: str) -> Fraction | None:
    """LIPSCHITZ as an exact rational; a SymPy constant such as 2*pi is rounded up."""
    if value is None:
        return None
    try:
        if isinstance(value, sympy.Basic):
            if isinstance(value, sympy.Rational):
                q = Fraction(int(value.p), int(value.q))
            elif isinstance(value, sympy.Float):
                q = Fraction(sympy.Rational(value).p, sympy.Rational(value).q)
            elif value.is_number and value.is_real and not value.free_symbols:
                prog = _Program({"v": [value]}, (), set())
                q = ball_bounds(prog.run("v", _CONTEXTS["ball"], [])[0])[1]
            else:
                raise ValueError(f"{value} is not a real constant")
        elif isinstance(value, (np.integer, np.floating)):
            q = parse_rational(value.item(), "LIPSCHITZ")
        else:
            q = parse_rational(value, "LIPSCHITZ")
    except (ValueError, TypeError, ArithmeticError) as exc:
        raise TargetError(f"{where}: LIPSCHITZ = {value!r} is not a finite number ({exc})") \
            from None
    if q <= 0:
        raise TargetError(f"{where}: LIPSCHITZ = {value!r} must be positive")
    return q


def _trace(f, name: str):
    """(dim, symbols, expr) of the callable `f`, with floats read as exact rationals."""
    if not callable(f):
        raise TargetError(f"{name}: f is not a function")
    try:
        params = list(inspect.signature(f).parameters.values())
    except (TypeError, ValueError):
        raise TargetError(f"{name}: cannot read the parameters of f") from None
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        raise TargetError(f"{name}: f takes *args; give it one parameter per coordinate")
    if any(p.kind is p.KEYWORD_ONLY and p.default is p.empty for p in params):
        raise TargetError(f"{name}: f has a required keyword-only parameter")
    dim = sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)
    if dim == 0:
        raise TargetError(f"{name}: f takes no arguments (arity 0); "
                          "give it one parameter per coordinate")
    symbols = sympy.symbols(f"x1:{dim + 1}", real=True)
    try:
        result = f(*symbols)
    except Exception as exc:
        message = str(exc).replace("\n", " ")
        hint = " (f branches on its argument: write kinks with Abs/Max/Min)" \
            if "truth value" in message else " (use sympy functions, not math or numpy)" \
            if isinstance(exc, (TypeError, AttributeError)) else ""
        raise TargetError(f"{name}: f raised {type(exc).__name__} while tracing: {message}{hint}") \
            from None
    if isinstance(result, bool):
        raise TargetError(f"target f returns a condition, not a number: {result}")
    try:
        expr = sympy.sympify(result, strict=True)
    except (sympy.SympifyError, TypeError, ValueError):
        raise TargetError(f"target f returns {type(result).__name__}, not a number or "
                          "SymPy expression") from None
    if not isinstance(expr, sympy.Basic) or isinstance(expr, sympy.MatrixBase):
        raise TargetError(f"target f returns {type(result).__name__}, not one number")
    if expr.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
        raise TargetError(f"target f is not finite on the cube: it traces to {_short(expr)}")
    floats = expr.atoms(sympy.Float)
    if floats:
        expr = expr.xreplace({x: sympy.Rational(x) for x in floats})
    stray = expr.free_symbols - set(symbols)
    if stray:
        raise TargetError(f"target f uses the symbol {sorted(map(str, stray))[0]}, which is not "
                          "one of its arguments (build f from its parameters)")
    return dim, symbols, expr


def target_from_function(f, name: str = "<function>", lipschitz=None,
                         path: str | None = None) -> Target:
    """Check, classify and compile the callable `f` (what `load_target` does after loading)."""
    dim, symbols, expr = _trace(f, name)
    _check_structure(expr)
    prover = _Prover(symbols)
    for kind, u, op in _conditions(expr):
        prover.check(kind, u, op)
    return Target(path if path is not None else name, name, dim, expr, tuple(symbols),
                  _classify(expr, symbols), _lipschitz(lipschitz, name),
                  _compile(expr, symbols, prover.proven))


def _compile(expr, symbols, proven) -> _Program:
    """The value / gradient / both programs of a checked expression."""
    derivatives = [_diff(expr, s, {}) for s in symbols]
    program = _Program({"value": [expr], "grad": derivatives, "both": [expr, *derivatives]},
                       symbols, proven)
    program.derivatives = derivatives
    return program


def _rebuild(path, name, dim, expr, symbols, kind, lipschitz, proven) -> Target:
    """Unpickle a Target: recompile, without re-running the checks."""
    return Target(path, name, dim, expr, symbols, kind, lipschitz,
                  _compile(expr, symbols, proven))


def load_target(path: str) -> Target:
    """Load, check and compile the target file `path`; TargetError (one line) if unusable."""
    name = os.path.basename(path)
    try:
        with open(path, encoding="utf-8") as handle:
            source = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise TargetError(f"cannot read target file {path}: {exc.__class__.__name__}: "
                          f"{getattr(exc, 'strerror', None) or exc}") from None
    namespace = {"__name__": "__certify_target__", "__file__": os.path.abspath(path),
                 "__builtins__": builtins}
    try:
        exec(compile(source, os.path.abspath(path), "exec"), namespace)
    except SyntaxError as exc:
        raise TargetError(f"{name}: syntax error at line {exc.lineno}: {exc.msg}") from None
    except (Exception, SystemExit) as exc:
        message = str(exc).replace("\n", " ")
        raise TargetError(f"{name}: loading raised {type(exc).__name__}: {message}") from None
    if "f" not in namespace:
        raise TargetError(f"{name} does not define f", "write def f(x1, ..., xd): ...")
    return target_from_function(namespace["f"], name, namespace.get("LIPSCHITZ"), path)
