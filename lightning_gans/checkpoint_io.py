"""Checkpoint files that are never half-written: :class:`AtomicCheckpointIO`.

Lightning's ``TorchCheckpointIO`` serialises a checkpoint into memory, writes it to a
temporary file in the system's temporary folder and moves it over the target. When that
folder is on another file system (``/tmp`` on a RAM disk, the run folder on a network disk,
as on most clusters) the move is a copy: a kill or a full disk during it leaves a truncated
``last.ckpt`` and the run cannot resume. :class:`AtomicCheckpointIO` writes the file next to
its target, flushes it to disk (``fsync``) and renames it over the target, which POSIX makes
atomic: at every moment ``last.ckpt`` is either the previous checkpoint or the new one. A
write that fails (a full disk, a folder that is not writable) removes the partial file,
leaves the previous checkpoint as it was, and raises :class:`CheckpointWriteError`, which
the CLI prints as one line.

Every :class:`~lightning_gans.BaseGAN` fit uses it in place of Lightning's default (see
:meth:`~lightning_gans.resume.ExactResume.setup`); a ``CheckpointIO`` plugin of your own is
left as it is.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from lightning_gans.errors import GANError

PARTIAL_SUFFIX = ".partial"
"""A checkpoint being written is ``.<name>.partial`` in the folder of ``<name>``."""


class CheckpointWriteError(GANError, OSError):
    """A checkpoint could not be written (full disk, no permission); the previous one is intact."""


def partial_path(path: Path) -> Path:
    """Where :class:`AtomicCheckpointIO` writes ``path`` before renaming it into place."""
    return path.with_name(f".{path.name}{PARTIAL_SUFFIX}")


class AtomicCheckpointIO(TorchCheckpointIO):
    """``TorchCheckpointIO`` whose local writes are atomic: temporary file in the target's
    folder, ``fsync``, rename. Remote paths (``s3://`` ...) are written as Lightning writes them.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> folder = Path(tempfile.mkdtemp())
        >>> io = AtomicCheckpointIO()
        >>> io.save_checkpoint({"step": 1}, folder / "last.ckpt")
        >>> io.save_checkpoint({"step": 2}, folder / "last.ckpt")  # replaces it in one rename
        >>> io.load_checkpoint(folder / "last.ckpt")["step"], sorted(p.name for p in folder.iterdir())
        (2, ['last.ckpt'])
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any | None = None) -> None:
        if "://" in str(path) and not str(path).startswith("file://"):
            super().save_checkpoint(checkpoint, path, storage_options)
            return
        if storage_options is not None:
            super().save_checkpoint(checkpoint, path, storage_options)  # raises Lightning's TypeError
        target = Path(str(path).removeprefix("file://"))
        partial = partial_path(target)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(partial, "wb") as file:
                self.write(checkpoint, file)
                file.flush()
                os.fsync(file.fileno())
            os.replace(partial, target)
            _fsync_folder(target.parent)
        except (OSError, RuntimeError) as error:  # torch.save reports a failed write as a RuntimeError
            partial.unlink(missing_ok=True)
            reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error).splitlines()[0]
            previous = f"the previous {target.name} is intact" if target.exists() else f"no {target.name} was written"
            raise CheckpointWriteError(
                f"Could not write checkpoint {target}: {reason}; {previous}. Free disk space or make "
                f"{target.parent} writable (or set the checkpoint callback's dirpath elsewhere), then resume with "
                "--ckpt_path last."
            ) from error

    def write(self, checkpoint: dict[str, Any], file: Any) -> None:
        """Serialise ``checkpoint`` into the open ``file`` (streamed, not held in memory twice)."""
        torch.save(checkpoint, file)


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX; a no-op where folders cannot be opened)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
