"""Every notebook in notebooks/ runs top to bottom in a fresh kernel without errors.

The kernel is started with this interpreter (`sys.executable`, the project's venv), whatever
kernelspecs the machine has, and with the working directory `notebooks/`, so notebooks can
load `../examples/*.py`. The committed notebooks carry no outputs.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

from jupyter_client.kernelspec import KernelSpec, KernelSpecManager  # noqa: E402
from jupyter_client.manager import KernelManager  # noqa: E402

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))
CELL_TIMEOUT = 300


class _ThisInterpreter(KernelSpecManager):
    """Every kernel name resolves to an ipykernel run by the interpreter running the tests."""

    def get_kernel_spec(self, kernel_name):
        # the kernel imports the `certify` of this checkout, not whichever one is installed
        path = os.pathsep.join(p for p in (str(NOTEBOOKS.parent), os.environ.get("PYTHONPATH"))
                               if p)
        return KernelSpec(argv=[sys.executable, "-m", "ipykernel_launcher", "-f",
                                "{connection_file}"],
                          display_name="certify (test interpreter)", language="python",
                          metadata={}, env={"PYTHONPATH": path})


def _execute(path: Path):
    nb = nbformat.read(str(path), as_version=4)
    probe = nbformat.v4.new_code_cell("import os, sys\nprint(sys.executable)\nprint(os.getcwd())")
    nb.cells.insert(0, probe)
    km = KernelManager(kernel_name="python3", kernel_spec_manager=_ThisInterpreter())
    client = nbclient.NotebookClient(nb, km=km, timeout=CELL_TIMEOUT, allow_errors=False,
                                     resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute()
    return nb


def test_there_are_notebooks():
    assert PATHS, "no notebooks found"


@pytest.mark.parametrize("path", PATHS, ids=[p.name for p in PATHS])
def test_notebook_is_stripped_and_names_its_lemma(path):
    cells = json.loads(path.read_text())["cells"]       # as stored, before nbformat mends it
    assert all("id" in cell for cell in cells), f"{path.name}: every cell needs an id"
    nb = nbformat.read(str(path), as_version=4)
    nbformat.validate(nb)
    first = nb.cells[0]
    assert first.cell_type == "markdown"
    assert "Lemma" in first.source and "proofs/" in first.source
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, \
                f"{path.name}: commit notebooks without outputs"


@pytest.mark.parametrize("path", PATHS, ids=[p.name for p in PATHS])
def test_notebook_runs(path):
    start = time.perf_counter()
    nb = _execute(path)      # raises CellExecutionError (with the traceback) on any error
    seconds = time.perf_counter() - start
    probe = "".join(o.get("text", "") for o in nb.cells[0].outputs).split("\n")
    assert Path(probe[0]).resolve() == Path(sys.executable).resolve()
    assert Path(probe[1]).resolve() == NOTEBOOKS
    errors = [o for cell in nb.cells if cell.cell_type == "code"
              for o in cell.outputs if o.output_type == "error"]
    assert not errors
    print(f"{path.name}: {seconds:.1f}s")
