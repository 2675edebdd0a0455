"""`certify plot`: render real pictures and check them; refuse bad usage with exit status 2."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from certify.interfaces.cli import run
from certify.errors import UsageError
from certify.interfaces.plot import free_coordinates, parse_slices, triangulation_segments

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _target(name: str) -> str:
    return str(EXAMPLES / f"{name}.py")


def _assert_picture(path: Path, width: int, height: int) -> None:
    assert path.is_file()
    image = imread(str(path))
    assert image.shape[:2] == (height, width)
    pixels = image[..., :3].reshape(-1, 3)
    assert float(pixels.std()) > 0.0
    assert len(np.unique(pixels, axis=0)) > 2          # more than background and one ink
    assert not [p for p in os.listdir(path.parent) if p.startswith(".tmp-")]


@pytest.mark.parametrize("name, extra, size", [
    ("sine", ["--grades", "5"], (900, 600)),                          # d=1: curves
    ("pl2d", ["--grades", "3"], (1400, 350)),                         # d=2: 4 heat maps
    ("smooth3d", ["--grades", "2", "--slice", "x3=1/2"], (1050, 350)),  # d=3 sliced: 3 maps
])
def test_plot_renders(tmp_path, capsys, name, extra, size):
    out = tmp_path / f"{name}.png"
    assert run(["plot", "--target", _target(name), *extra, "-o", str(out)]) == 0
    _assert_picture(out, *size)
    assert f"wrote {out}" in capsys.readouterr().err


def test_plot_from_network_file_and_one_dimensional_slice(tmp_path):
    net = tmp_path / "peaks.json"
    assert run(["build", "--target", _target("peaks2d"), "--grades", "3", "--quiet",
                "-o", str(net)]) == 0
    out = tmp_path / "peaks.png"
    assert run(["plot", "--target", _target("peaks2d"), "--network", str(net),
                "-o", str(out)]) == 0
    _assert_picture(out, 1400, 350)
    curve = tmp_path / "peaks_x2.png"
    assert run(["plot", "--target", _target("peaks2d"), "--network", str(net),
                "--slice", "x2=0.25", "-o", str(curve)]) == 0
    _assert_picture(curve, 900, 600)


def _refused(capsys, argv, *words):
    assert run(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("certify: error:")
    for word in words:
        assert word in err
    return err


def test_three_dimensions_need_a_slice(tmp_path, capsys):
    out = tmp_path / "s3.png"
    _refused(capsys, ["plot", "--target", _target("smooth3d"), "--grades", "2", "-o", str(out)],
             "d=3", "--slice")
    assert not out.exists() and not list(tmp_path.iterdir())


@pytest.mark.parametrize("text, word", [
    ("x4=0.5", "x4"), ("x0=0.5", "x0"), ("x3=2", "outside"), ("x3=-1/2", "outside"),
    ("x3=abc", "abc"), ("y3=0.5", "xI=VALUE"), ("x3=1/0", "x3=1/0"), ("x3=nan", "nan"),
])
def test_bad_slices(tmp_path, capsys, text, word):
    out = tmp_path / "s3.png"
    _refused(capsys, ["plot", "--target", _target("smooth3d"), "--grades", "2",
                      "--slice", text, "-o", str(out)], "--slice", word)
    assert not out.exists()


def test_other_refusals(tmp_path, capsys):
    sine = _target("sine")
    _refused(capsys, ["plot", "--target", _target("smooth3d"), "--grades", "1", "--slice",
                      "x3=1/2", "--slice", "x3=1/4", "-o", str(tmp_path / "a.png")], "twice")
    _refused(capsys, ["plot", "--target", _target("smooth3d"), "--grades", "1", "--slice",
                      "x1=0", "--slice", "x2=0", "--slice", "x3=0",
                      "-o", str(tmp_path / "a.png")], "all 3 coordinates")
    _refused(capsys, ["plot", "--target", sine, "--grades", "2",
                      "-o", str(tmp_path / "missing" / "a.png")], "does not exist")
    _refused(capsys, ["plot", "--target", sine, "--grades", "2",
                      "-o", str(tmp_path / "a.pdf")], ".png")
    _refused(capsys, ["plot", "--target", sine, "--grades", "0",
                      "-o", str(tmp_path / "a.png")], "--grades")
    net = tmp_path / "pl2d.json"
    assert run(["build", "--target", _target("pl2d"), "--grades", "1", "--quiet",
                "-o", str(net)]) == 0
    _refused(capsys, ["plot", "--target", sine, "--network", str(net),
                      "-o", str(tmp_path / "a.png")], "dim 2", "d=1")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pl2d.json"]


def test_slice_helpers():
    assert parse_slices(["x3=0.5", " x1 = 1/3 "], 3) == {3: Fraction(1, 2), 1: Fraction(1, 3)}
    assert free_coordinates(4, {2: Fraction(0), 4: Fraction(1)}) == [1, 3]
    with pytest.raises(UsageError, match="--slice x4=0.5"):
        free_coordinates(4, {})
    with pytest.raises(UsageError, match="3 coordinates remain free"):
        free_coordinates(4, {1: Fraction(1, 2)})


def test_triangulation_segments_of_a_slice():
    # level mesh 1/2 in the plane: 3 + 3 axis lines and the diagonals x1 - x2 in {-1/2, 0, 1/2}
    plane = triangulation_segments(Fraction(1, 2))
    assert len(plane) == 9
    assert [(0.0, 0.0), (1.0, 1.0)] in plane
    # a slice x3 = 1/4 adds the traces of x_a - x3 = m/2: lines at 1/4 and 3/4
    sliced = triangulation_segments(Fraction(1, 2), [Fraction(1, 4)])
    assert [(0.25, 0.0), (0.25, 1.0)] in sliced and len(sliced) == 13
