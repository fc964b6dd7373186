"""Restarts: which checkpoint every rank resumes from, and a test hook that kills a rank.

Under ``torchrun --max-restarts R`` a dead rank makes torchrun stop the group and start it
again; every new rank then calls :func:`resume_state` on the shared checkpoint directory, and
rank 0's choice of file is the one every rank reads, so all ranks continue from the same step.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

from sgdlab.errors import CheckpointError
from sgdlab.training import checkpoint, dist


def resume_state(
    directory: str | os.PathLike, *, warn=print
) -> tuple[Path | None, dict[str, Any] | None]:
    """(path, state) of the newest valid checkpoint in ``directory``; (None, None) if it has
    none (a new run).

    Rank 0 chooses the file and tells the others its name; every rank reads and verifies it
    (a multi-node run needs the directory on a filesystem every node sees).
    """
    choice: tuple[str, str | None] = ("new", None)
    if dist.is_main():
        if not checkpoint.list_checkpoints(directory):
            warn(f"no checkpoint in {directory} yet: starting a new run there")
        else:
            try:
                choice = ("path", str(checkpoint.latest_valid(directory, warn=warn)[0]))
            except CheckpointError as e:
                choice = ("error", str(e))
    kind, value = dist.broadcast_object(choice)
    if kind == "error":
        raise CheckpointError(value)
    return (None, None) if kind == "new" else (Path(value), checkpoint.load(value))


def fault_step() -> int | None:
    """Test hook: ``SGDLAB_FAULT_KILL=RANK:STEP`` makes rank RANK SIGKILL itself when it reaches
    global step STEP (before the step), in the first attempt of an elastic job only."""
    spec = os.environ.get("SGDLAB_FAULT_KILL")
    if not spec or os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") != "0":
        return None
    return int(spec.split(":")[1])


def fault_kill(step: int, at: int, world: dist.World) -> None:
    """``kill -9`` of this process if it is the hook's rank and ``step`` ≥ ``at``."""
    if step >= at and world.rank == int(os.environ["SGDLAB_FAULT_KILL"].split(":")[0]):
        print(
            f"sgdlab-fault: kill -9 of rank {world.rank} at step {step}",
            file=sys.stderr,
            flush=True,
        )
        os.kill(os.getpid(), signal.SIGKILL)
