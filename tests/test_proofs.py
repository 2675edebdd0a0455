"""The machine-checked lemmas of proofs/ (see proofs/THEOREM.md).

Every script's `prove()` must discharge all its obligations (z3 `unsat` or exact SymPy /
Fraction computation); two scripts also run as subprocesses; and, so that a vacuous encoding
cannot pass, weakened hypotheses must make the solver FIND a counterexample, which is then
re-checked exactly with Fractions. Every z3 call has a timeout (proofs._common.TIMEOUT_MS).
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from dataclasses import replace
from fractions import Fraction as F
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from certify.engine.freudenthal import hat  # noqa: E402
from certify.engine.realize import Hat, Layer, grade_layers, hat_block, readout  # noqa: E402
from proofs import _common  # noqa: E402

SCRIPTS = [
    "lemma_relu_hat",
    "lemma_partition",
    "lemma1_no_overshoot",
    "lemma2_superadditivity",
    "lemma3_signs",
    "lemma4_one_level",
    "lemma5_lipschitz",
    "simplex_moments",
    "recursion",
]


@pytest.mark.parametrize("name", SCRIPTS)
def test_prove(name):
    module = importlib.import_module(f"proofs.{name}")
    result = module.prove()
    assert result.obligations, f"{name} proved nothing"
    assert result.proved, result.report()


@pytest.mark.parametrize("name", ["lemma_relu_hat", "recursion"])
def test_script_runs_alone(name):
    out = subprocess.run([sys.executable, str(ROOT / "proofs" / f"{name}.py")], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "=> PROVED" in out.stdout


def test_main_fails_loudly(capsys):
    """A script whose statement is not proved exits 1 and prints the counterexample."""
    def failing():
        res = _common.Result("dummy", "x*x > 0 for all real x")
        import z3
        x = z3.Real("x")
        res.add(_common.refute("x*x > 0", [], x * x > 0, variables=[x]))
        return res

    with pytest.raises(SystemExit) as exit_info:
        _common.main(failing)
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert "NOT PROVED" in err and "counterexample" in err and "'x': Fraction(0, 1)" in err


# --------------------------------------------------------------------------- weakened hypotheses

def test_lemma1_weakened_has_counterexample():
    """Lemma 1 with c_z allowed up to 2·r: z3 finds an overshoot, re-checked exactly."""
    from proofs.lemma1_no_overshoot import direct, recheck_direct

    h = F(1, 2)
    points = [(F(0), F(0)), (h, F(0)), (h, h)]
    ob = direct(2, points, h, (0, h), slack=2)
    assert ob.status == "refuted", ob
    cex = ob.counterexample
    assert recheck_direct(points, h, cex, slack=2), cex        # genuine for the weak hypothesis
    assert not recheck_direct(points, h, cex, slack=1), cex    # and excluded by the real one


def _nudged(layers: list[Layer], layer: int, row: int, col: int | None, delta: F) -> list[Layer]:
    target = layers[layer]
    if col is None:
        bias = list(target.bias)
        bias[row] += delta
        new = replace(target, bias=tuple(bias))
    else:
        weight = [list(r) for r in target.weight]
        weight[row][col] += delta
        new = replace(target, weight=tuple(tuple(r) for r in weight))
    return layers[:layer] + [new] + layers[layer + 1:]


@pytest.mark.parametrize("where", [(0, 0, 0), (1, 1, 0), (-1, 0, None), (0, 3, None)])
def test_hat_block_nudged_has_counterexample(where):
    """One weight or bias of the hat block nudged by 1/100: z3 finds a point where the block
    differs from the Courant hat, and the point is re-checked exactly with Fractions."""
    from proofs.lemma_relu_hat import block_equals_hat

    z, h = (F(1, 4), F(3, 4)), F(1, 4)
    layers = _nudged(hat_block(z, h), *where, F(1, 100))
    ob = block_equals_hat(layers, z, h)
    assert ob.status == "refuted", ob
    x = [ob.counterexample[f"x{i}"] for i in range(len(z))]
    assert all(isinstance(v, F) for v in x)
    assert _common.layers_exact(layers, x)[0] != hat(z, h, x)
    assert _common.layers_exact(hat_block(z, h), x)[0] == hat(z, h, x)


def test_grade_needs_the_cube():
    """The carriers σ(x_i) = x_i need x >= 0: off the cube the grade is not Σ c φ (sat)."""
    import z3

    d = 2
    hats = [Hat((F(0), F(0)), F(1, 2), F(1)), Hat((F(1, 2), F(0)), F(1, 2), F(-1))]
    layers = grade_layers(d, hats, d)
    x = z3.Reals("x0 x1")
    last = _common.layers_term(layers, x)
    coef, _ = readout(d)
    out = sum(_common.frac(w) * v for w, v in zip(coef, last) if w != 0)
    target = sum(_common.frac(hh.c) * _common.hat_term(hh.z, hh.h, x) for hh in hats)
    model = _common.find_model([out != target], timeout_ms=60_000)
    assert model is not None
    pt = [_common.to_fraction(model.eval(v, model_completion=True)) for v in x]
    assert any(v < 0 for v in pt)
    got = _common.layers_exact(layers, pt)
    assert got[d] - got[d + 1] != sum(hh.c * hat(hh.z, hh.h, pt) for hh in hats)


def test_lemma4_needs_theta_for_clipped_zero_terms():
    """A c_z = 0 term from clipping (0 < lo <= θw) is NOT bounded by w_z alone: (1+θ) is needed."""
    from proofs.lemma3_signs import coefficient
    from proofs.lemma4_one_level import per_term

    ob = per_term("c_z = 0, clipped 0 < lo <= θw", factor=1)
    assert ob.status == "refuted", ob
    w = ob.counterexample
    lo, hi, th, r = w["lo"], w["hi"], w["theta"], w["r"]
    assert th >= 0 and lo <= r <= hi and 0 < lo <= th * (hi - lo)
    assert coefficient(lo, hi, th) == 0 and abs(r) > hi - lo


def test_adaptive_skipping_breaks_lemmas_3_and_4():
    """docs/theory.md says all lemmas hold for any subset of nodes; Lemmas 3 and 4 do not
    (z3 witnesses, re-checked exactly inside `exhibit`)."""
    from proofs import lemma3_signs, lemma4_one_level

    for ob in (lemma3_signs.skip_breaks_bound(), lemma4_one_level.skip_breaks()):
        assert ob.ok and ob.witness is not None and "re-check" in ob.method, ob
