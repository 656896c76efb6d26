"""``python tests/fault_cli.py ARGS``: ``python -m lightning_gans ARGS`` with a fault in the
checkpoint writer, chosen by the environment (for tests/test_faults.py):

``FAULT=slow_save``: the second checkpoint write writes half of its bytes, then sleeps, so the
test can kill the process while ``last.ckpt`` is being replaced.
"""

import io
import os
import time

from lightning_gans.checkpoint_io import AtomicCheckpointIO
from lightning_gans.cli import main

fault = os.environ.get("FAULT", "")
writes = 0
write = AtomicCheckpointIO.write


def faulty_write(self, checkpoint, file):
    global writes
    writes += 1
    if writes < 2:
        return write(self, checkpoint, file)
    if fault == "slow_save":
        buffer = io.BytesIO()
        write(self, checkpoint, buffer)
        data = buffer.getvalue()
        file.write(data[: len(data) // 2])
        file.flush()
        time.sleep(600)
    return write(self, checkpoint, file)


AtomicCheckpointIO.write = faulty_write

if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
