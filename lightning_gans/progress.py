"""Progress of long work (embedding real images, evaluations, sampling): counts and time left.

On a terminal it is a tqdm bar; in a log file (no terminal) it is a line when the work
starts, a line every ``every_seconds`` while it runs, and a line when it ends, so a
non-interactive job never sits silent for minutes.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


def format_duration(seconds: float) -> str:
    """``"0.4s"``, ``"42s"``, ``"3m05s"``, ``"1h02m"``."""
    if seconds < 10:
        return f"{max(seconds, 0):.1f}s"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class Progress:
    """Count ``total`` units of work under ``description``.

    Args:
        total: how many units (images, samples) the work has.
        description: what is being done, e.g. ``"[FidelityMetrics] real images"``.
        unit: the name of one unit.
        enabled: ``False`` prints nothing (e.g. on DDP ranks other than 0).
        every_seconds: in a log file, how often a progress line is written.
        stream: where to write (default ``sys.stderr``).
    """

    def __init__(
        self,
        total: int,
        description: str,
        unit: str = "images",
        enabled: bool = True,
        every_seconds: float = 30.0,
        stream: TextIO | None = None,
    ) -> None:
        self.total = max(int(total), 0)
        self.description = description
        self.unit = unit
        self.enabled = enabled
        self.every_seconds = every_seconds
        self.stream = stream or sys.stderr
        self.count = 0
        self.start = time.monotonic()
        self._last_line = self.start
        self._bar = None
        if not enabled:
            return
        if self.stream.isatty():
            from tqdm.auto import tqdm

            self._bar = tqdm(total=self.total, desc=description, unit=f" {unit}", leave=False, file=self.stream)
        else:
            self._write(f"{description}: 0/{self.total} {unit}")

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(success=exc[0] is None)

    def update(self, n: int) -> None:
        """``n`` more units are done."""
        self.count += n
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(n)
            return
        now = time.monotonic()
        if now - self._last_line >= self.every_seconds and self.count < self.total:
            self._last_line = now
            self._write(self.status(now))

    def status(self, now: float | None = None) -> str:
        """``"<description>: 2300/10000 images (23%), 4m10s elapsed, ~13m57s left"``."""
        elapsed = (now or time.monotonic()) - self.start
        done = self.count / self.total if self.total else 1.0
        left = f", ~{format_duration(elapsed * (1 - done) / done)} left" if 0 < done < 1 else ""
        return (
            f"{self.description}: {self.count}/{self.total} {self.unit} ({100 * done:.0f}%), "
            f"{format_duration(elapsed)} elapsed{left}"
        )

    def close(self, success: bool = True) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif success:
            self._write(
                f"{self.description}: {self.count}/{self.total} {self.unit} "
                f"in {format_duration(time.monotonic() - self.start)}"
            )
        self.enabled = False

    def _write(self, line: str) -> None:
        print(line, file=self.stream, flush=True)
