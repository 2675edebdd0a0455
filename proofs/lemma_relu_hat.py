"""Lemma R (ReLU realisation of the Courant hat, width 3d + 2).

Claims (THEOREM.md, Lemma R):

1. For d = 1..4, the block `certify.engine.realize.hat_block(0, 1)` computes
   `σ(1 - max(0, y) + min(0, y))` at EVERY `y ∈ R^d` (z3: output ≠ formula is unsat).
2. `hat_block(z, h)` is `hat_block(0, 1)` precomposed with `x ↦ (x - z)/h`: its layers after
   the first coincide exactly with those of `hat_block(0, 1)`, and its first layer is the
   first layer of `hat_block(0, 1)` composed with that affine map (exact comparison, for
   several (z, h)). Hence claim 1 holds for every node and mesh. As a cross-check the
   equality is also proved directly by z3 for a few concrete (z, h).
3. Widths: layer A has 2d neurons, tree layers <= 2d, the last layer 1; depth 2 + ⌈log2 d⌉.
4. `grade_layers` (carriers + P + Q + one hat after another) has width exactly 3d + 2 and
   its readout `P - Q` equals `Σ c_z φ_z(x)` on the whole cube (z3), both for grade 1
   (input x) and for a later grade (input `[x, P_prev, Q_prev]`, any P_prev, Q_prev >= 0).
"""

from __future__ import annotations

import sys
from fractions import Fraction as F
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import z3

from certify.engine.realize import Hat, block_depth, grade_layers, hat_block, max_width, readout, tree_depth
from proofs._common import Result, exact, frac, hat_term, in_box, layers_term, main, refute

CONCRETE = [
    ((F(1, 4), F(3, 4)), F(1, 4)),
    ((F(1, 2), F(0), F(1)), F(1, 2)),
    ((F(2, 3),), F(1, 3)),
]


def block_equals_hat(layers, z, h, *, box: tuple | None = None, label: str = ""):
    """Obligation: the block's single output equals the hat formula at every x (in `box` if given)."""
    d = len(z)
    x = z3.Reals(" ".join(f"x{i}" for i in range(d)))
    out = layers_term(layers, x)
    assert len(out) == 1, "a hat block ends in a single neuron"
    hyps = in_box(x, *box) if box else []
    where = "all of R^%d" % d if box is None else f"[{box[0]},{box[1]}]^{d}"
    return refute(label or f"hat_block(z={tuple(map(str, z))}, h={h}) = Courant hat on {where}",
                  hyps, out[0] == hat_term(z, h, x), variables=x)


def affine_reduction(z, h) -> bool | tuple[bool, object]:
    """`hat_block(z, h)` = `hat_block(0, 1)` ∘ (x ↦ (x - z)/h), layer by layer, exactly."""
    d = len(z)
    ref = hat_block((F(0),) * d, F(1))
    got = hat_block(z, h)
    if len(ref) != len(got) or ref[1:] != got[1:]:
        return False, "layers after the first differ"
    for (row0, b0), (row, b) in zip(zip(ref[0].weight, ref[0].bias), zip(got[0].weight, got[0].bias)):
        # neuron σ(row0 · y + b0) with y = (x - z)/h  ==  σ((row0/h) · x + b0 - row0·z/h)
        if tuple(w / h for w in row0) != tuple(row):
            return False, ("weight", row0, row)
        if b0 - sum(w * zi for w, zi in zip(row0, z)) / h != b:
            return False, ("bias", b0, b)
    return True


def widths_ok(d: int) -> bool | tuple[bool, object]:
    layers = hat_block((F(0),) * d, F(1))
    widths = [layer.width for layer in layers]
    ok = (len(layers) == block_depth(d) == 2 + tree_depth(d) and widths[0] == 2 * d
          and all(w <= 2 * d for w in widths) and widths[-1] == 1)
    return ok or (False, {"d": d, "widths": widths})


def sample_hats(d: int) -> list[Hat]:
    """A few hats of mixed sign (and one zero coefficient, which the grade must skip)."""
    h = F(1, 2)
    zs = [(F(0),) * d, (F(1, 2),) * d, tuple(F(i % 2) for i in range(d)), (F(1),) * d]
    cs = [F(3, 2), F(-2, 3), F(0), F(1, 5)]
    return [Hat(z, h, c) for z, c in zip(zs, cs)]


def grade_realises(d: int, later: bool):
    hats = sample_hats(d)
    inputs = d + 2 if later else d
    layers = grade_layers(d, hats, inputs)
    x = z3.Reals(" ".join(f"x{i}" for i in range(d)))
    hyps = in_box(x)
    vec = list(x)
    if later:
        p, q = z3.Reals("P_prev Q_prev")
        vec += [p, q]
        hyps += [p >= 0, q >= 0]
    last = layers_term(layers, vec)
    coef, bias = readout(d)
    out = frac(bias) + sum(frac(w) * v for w, v in zip(coef, last) if w != 0)
    target = sum(frac(hh.c) * hat_term(hh.z, hh.h, x) for hh in hats)
    widths = [layer.width for layer in layers]
    width_ok = max(widths) == max_width(d) == 3 * d + 2
    depth_ok = len(layers) == block_depth(d) * sum(1 for hh in hats if hh.c != 0) + 1
    ob = refute(f"d={d}: grade_layers readout P - Q = Σ c_z φ_z on [0,1]^{d}"
                + (" (later grade, input [x, P_prev, Q_prev])" if later else " (grade 1)"),
                hyps, out == target, variables=vec)
    return ob, width_ok and depth_ok, widths


def prove() -> Result:
    res = Result("Lemma R (ReLU hat block, width 3d+2)",
                 "hat_block(z,h) computes the Courant hat φ_z on all of R^d (d=1..4); a grade "
                 "realises Σ c_z φ_z on the cube with width exactly 3d+2.")
    for d in range(1, 5):
        zero = (F(0),) * d
        res.add(block_equals_hat(hat_block(zero, F(1)), zero, F(1)))
        res.add(exact(f"d={d}: layer widths 2d, <=2d, ..., 1; depth 2+ceil(log2 d)",
                      lambda d=d: widths_ok(d)))
    for z, h in CONCRETE + [((F(1, 3), F(5, 7), F(0), F(1, 2)), F(1, 8))]:
        res.add(exact(f"hat_block(z={tuple(map(str, z))}, h={h}) = hat_block(0,1) ∘ ((x-z)/h)",
                      lambda z=z, h=h: affine_reduction(z, h)))
    for z, h in CONCRETE:
        res.add(block_equals_hat(hat_block(z, h), z, h))
    for d in (1, 2, 3):
        for later in (False, True) if d == 2 else (False,):
            ob, shape_ok, widths = grade_realises(d, later)
            res.add(ob)
            res.add(exact(f"d={d}: grade width = max layer width = 3d+2 = {3 * d + 2}; "
                          f"depth = block_depth·#hats + 1",
                          lambda s=shape_ok, w=widths: s or (False, {"widths": w})))
    return res


if __name__ == "__main__":
    main(prove)
