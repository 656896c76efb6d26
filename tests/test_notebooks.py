"""The notebooks in ``notebooks/`` run from top to bottom, so they never rot.

Each notebook is executed with nbclient at its fast settings (``LIGHTNING_GANS_NOTEBOOK_FAST=1``
shortens training), from a copy in a temporary working directory: the saved notebooks, whose
outputs come from a run at full settings, are never touched. A second check reads the saved
notebooks themselves: every code cell was executed, in order, without errors, and the plots
are in the file.
"""

from __future__ import annotations

import os
import sys
import time

import pytest
from helpers import NOTEBOOKS as NOTEBOOK_DIR

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOKS = [
    "01_quickstart.ipynb",
    "02_theory.ipynb",
    "03_mode_collapse.ipynb",
    "04_your_own_variant.ipynb",
]
CELL_TIMEOUT_S = 300  # per cell; a fast run of a whole notebook takes well under a minute
MAX_NOTEBOOK_BYTES = 1_000_000


def _this_python_kernel_manager():
    """A kernel manager for ipykernel in *this* interpreter.

    ``kernel_name="python3"`` alone would pick whatever ``python3`` kernel spec is installed
    (possibly another environment's); on a clean machine where only ``pip install -e ".[dev]"``
    ran there is none and jupyter_client falls back to ipykernel's own spec. This always uses
    the running interpreter, which is the one that has lightning_gans installed.
    """
    from ipykernel.kernelspec import RESOURCES, get_kernel_dict
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
    from jupyter_client.manager import KernelManager

    class ThisPython(KernelSpecManager):
        def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
            spec = get_kernel_dict()
            spec["argv"][0] = sys.executable
            fields = {k: v for k, v in spec.items() if KernelSpec.class_traits().get(k) is not None}
            return KernelSpec(resource_dir=RESOURCES, **fields)

    return KernelManager(kernel_name="python3", kernel_spec_manager=ThisPython())


def _code_cells(nb):
    return [cell for cell in nb.cells if cell.cell_type == "code"]


def _outputs(nb, output_type=None):
    return [o for cell in _code_cells(nb) for o in cell.outputs if output_type is None or o.output_type == output_type]


def _images(nb) -> int:
    return sum("image/png" in o.get("data", {}) for o in _outputs(nb))


def _plots(cell) -> bool:
    return "plt.show()" in cell.source


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs(name, tmp_path, monkeypatch):
    """The notebook executes without errors at its fast settings, plots, and writes nothing
    into its working directory."""
    source = NOTEBOOK_DIR / name
    nb = nbformat.read(source, as_version=4)
    for cell in _code_cells(nb):  # start clean: only this run's outputs count
        cell.outputs = []
        cell.execution_count = None
    workdir = tmp_path / "cwd"
    workdir.mkdir()

    monkeypatch.setenv("LIGHTNING_GANS_NOTEBOOK_FAST", "1")
    monkeypatch.setenv("WANDB_MODE", "disabled")
    # conftest.py sets MPLBACKEND=Agg for the test process; the kernel must keep its inline
    # backend, or plt.show() produces no image outputs.
    monkeypatch.delenv("MPLBACKEND", raising=False)
    # One intra-op thread unless told otherwise: the fast settings use tiny networks, and on a
    # shared 2-core machine several busy-waiting OpenMP threads make training several times slower.
    monkeypatch.setenv("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS", "1"))

    client = nbclient.NotebookClient(
        nb,
        km=_this_python_kernel_manager(),
        timeout=CELL_TIMEOUT_S,
        resources={"metadata": {"path": str(workdir)}},
    )
    start = time.monotonic()
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as error:  # name the notebook, keep the traceback
        pytest.fail(f"{name} failed at its fast settings:\n{error}")
    elapsed = time.monotonic() - start

    assert not _outputs(nb, "error"), f"{name}: a cell errored"
    assert _images(nb) >= 1, f"{name} produced no image/png output"
    assert [p.name for p in workdir.iterdir()] == [], f"{name} wrote into its working directory"
    print(f"{name}: {elapsed:.1f} s at fast settings, {_images(nb)} images")


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_saved_notebook_was_executed(name):
    """The notebook in the repository was run top to bottom (at full settings) and keeps its
    outputs: every code cell executed in order, no errors, an image wherever a cell plots."""
    path = NOTEBOOK_DIR / name
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    cells = _code_cells(nb)
    assert cells, f"{name} has no code cells"
    counts = [cell.execution_count for cell in cells]
    assert all(isinstance(c, int) for c in counts), f"{name}: unexecuted code cells (execution counts {counts})"
    assert counts == list(range(1, len(cells) + 1)), f"{name} was not run top to bottom in one kernel: {counts}"
    assert not _outputs(nb, "error"), f"{name} was saved with an error output"
    parameters = cells[0]
    assert "parameters" in parameters.metadata.get("tags", []) and "LIGHTNING_GANS_NOTEBOOK_FAST" in parameters.source
    for i, cell in enumerate(cells):
        if _plots(cell):
            assert any("image/png" in o.get("data", {}) for o in cell.outputs), (
                f"{name}: code cell {i} plots but has no image"
            )
    assert _images(nb) >= 1
    assert path.stat().st_size < MAX_NOTEBOOK_BYTES, f"{name} is {path.stat().st_size} bytes; lower the figure dpi"
