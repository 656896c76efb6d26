"""The few places where ``lightning_gans`` relies on names its dependencies do not promise.

Each use says why no public API serves. ``tests/test_compat.py`` checks every name here, so
an upgrade that removes one fails loudly there instead of deep inside a run.
"""

from __future__ import annotations

import csv
from typing import Any

from lightning.pytorch.loggers import CSVLogger


def csv_logger_continue(logger: CSVLogger, header: list[str], rows: list[dict[str, Any]]) -> None:
    """Put back the rows of ``metrics.csv`` that an interrupted run logged, so a resumed run
    appends to them.

    Why private: Lightning's CSV experiment writer (``_ExperimentWriter``) deletes an existing
    ``metrics.csv`` when it opens a folder and has no option to append; it then appends to the
    file it finds and keeps the header in ``metrics_keys``. We rewrite the file after it is
    opened and tell the writer its header.
    """
    experiment = logger.experiment  # opening the writer deletes the old file
    if not rows:
        return
    with open(experiment.metrics_file_path, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    experiment.metrics_keys = list(header)
