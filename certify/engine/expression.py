"""SymPy expressions compiled for every number model: the engine behind `certify.target`.

A traced target expression is compiled once into plain Python code that calls the methods
of a number context (`certify.engine.numbers`): exact rationals, Arb balls, floats, and an
exact-endpoint interval type used at load time to prove that divisions, roots and logs are
harmless on the closed cube. Nothing calls SymPy at evaluation time. The gradient is our
own symbolic derivative: kinks give `Sgn`/`Step` factors whose ball value is `[-1, 1]` /
`[0, 1]` where the kink may lie in the box, so a ball gradient always encloses Clarke's
generalized gradient and the mean-value form stays sound for every Lipschitz target.
"""

from __future__ import annotations

from fractions import Fraction
from functools import reduce
from typing import Sequence

import numpy as np
import sympy
from flint import arb

from ..errors import NotExact
from .numbers import BallContext, Context, ExactContext, FloatContext

# kink factors of our derivatives: Sgn = d|u|/du, Step = weight of a Max/Min argument
Sgn = sympy.Function("_certify_sgn")
Step = sympy.Function("_certify_step")

_UNARY = {sympy.sin: "sin", sympy.cos: "cos", sympy.tan: "tan", sympy.atan: "atan",
          sympy.sinh: "sinh", sympy.cosh: "cosh", sympy.tanh: "tanh", sympy.exp: "exp",
          sympy.log: "log", sympy.Abs: "abs", Sgn: "sgn", Step: "step"}
_ONE = arb(1)



def _ball_of(q) -> arb:
    """A ball containing the rational `q` (exact when `q` is dyadic); faster than to_ball."""
    if type(q) is not Fraction:
        q = Fraction(q)
    return arb(q.numerator) if q.denominator == 1 else arb(q.numerator) / q.denominator


def box_balls(lo, hi) -> tuple[list, list]:
    """(mid-point balls, box balls) of the rational box [lo, hi]; a box starting at >= 0
    is kept >= 0 (a root or log of a coordinate stays defined on it)."""
    a = [_ball_of(v) for v in lo]
    b = [_ball_of(v) for v in hi]
    box = [x.union(y) for x, y in zip(a, b)]
    box = [x if x >= 0 or v < 0 else x.nonnegative_part() for x, v in zip(box, lo)]
    return [(x + y) / 2 for x, y in zip(a, b)], box


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
        # sin u and cos u of one argument (f and its gradient have both) come from one
        # `ctx.sin_cos(u)`, which a context may compute in one pass
        trig: dict = {}
        for e in exprs:
            for node in sympy.preorder_traversal(e):
                if node.func in (sympy.sin, sympy.cos) and node.free_symbols:
                    trig.setdefault(node.args[0], {})[node.func] = node

        def sub(e):
            if e in self.names:
                return self.names[e]
            if not e.free_symbols:
                return self._const(e)
            pair = trig.get(e.args[0]) if e.func in (sympy.sin, sympy.cos) else None
            if e not in memo and pair is not None and len(pair) == 2:
                argument = sub(e.args[0])
                for node in (pair[sympy.sin], pair[sympy.cos]):
                    memo[node] = f"t{len(memo)}"
                lines.append(f"    {memo[pair[sympy.sin]]}, {memo[pair[sympy.cos]]} = "
                             f"ctx.sin_cos({argument})")
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

#: f'(u) of each elementary f, from u and e = f(u)
_OUTER = {sympy.exp: lambda u, e: e, sympy.log: lambda u, e: 1 / u,
          sympy.sin: lambda u, e: sympy.cos(u), sympy.cos: lambda u, e: -sympy.sin(u),
          sympy.tan: lambda u, e: 1 + e ** 2, sympy.atan: lambda u, e: 1 / (1 + u ** 2),
          sympy.sinh: lambda u, e: sympy.cosh(u), sympy.cosh: lambda u, e: sympy.sinh(u),
          sympy.tanh: lambda u, e: 1 - e ** 2, sympy.Abs: lambda u, e: Sgn(u)}


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
        outer = _OUTER[e.func](u, e)          # only this function's derivative is built
        out = outer * d(u)
    memo[e] = out
    return out
