"""
The training state of the Accelerate scripts (pretraining and fine-tuning), in the layout transformers' `Trainer`
writes: `output_dir/checkpoint-<step>`, one `accelerator.save_state` folder per saved optimizer step, `<step>` being
the optimizer steps completed. `--resume_from_checkpoint` takes such a folder or `latest`, and
`--checkpoints_total_limit` keeps the newest ones.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from accelerate import Accelerator
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, get_last_checkpoint

from modeling_mae_st.command_line import UsageError


def checkpoint_step(folder: Path) -> int | None:
    """The step of a `checkpoint-<step>` folder, `None` for any other name."""
    prefix, _, step = Path(folder).name.rpartition("-")
    return int(step) if prefix == PREFIX_CHECKPOINT_DIR and step.isdigit() else None


def list_checkpoints(output_dir: Path) -> list[Path]:
    """The `checkpoint-<step>` folders of `output_dir`, oldest (lowest step) first."""
    folders = [path for path in Path(output_dir).glob(f"{PREFIX_CHECKPOINT_DIR}-*") if path.is_dir()]
    return sorted((path for path in folders if checkpoint_step(path) is not None), key=checkpoint_step)


def checkpoint_due(checkpointing_steps: str | None, step: int, end_of_epoch: bool = False) -> bool:
    """
    Whether `--checkpointing_steps` asks for a checkpoint now: after every N-th optimizer step (`"N"`), at the end of
    each pass over the data (`"epoch"`, with `end_of_epoch`), never (`None` or `"0"`).
    """
    if checkpointing_steps == "epoch":
        return end_of_epoch
    if checkpointing_steps in (None, "0") or end_of_epoch:
        return False
    return step % int(checkpointing_steps) == 0


def save_checkpoint(accelerator: Accelerator, output_dir: Path, step: int, total_limit: int | None = None) -> Path:
    """
    `accelerator.save_state` into `output_dir/checkpoint-<step>` (every process takes part), then, on the main
    process, remove the oldest checkpoints beyond `total_limit` (`--checkpoints_total_limit`; `None` keeps all).

    Returns:
        The checkpoint folder.
    """
    folder = Path(output_dir) / f"{PREFIX_CHECKPOINT_DIR}-{step}"
    accelerator.save_state(str(folder))
    if accelerator.is_main_process and total_limit:
        for old in list_checkpoints(output_dir)[:-total_limit]:
            shutil.rmtree(old)
    accelerator.wait_for_everyone()  # no process reads a folder the main process is removing
    return folder


# A file every checkpoint-<step> folder holds: Accelerate's `save_state` writes each process's random states (with
# any sharding of the weights and optimizer), the Trainer its trainer_state.json.
TRAINING_STATE_FILES = ("random_states_0.pkl", "trainer_state.json")


def resolve_checkpoint(value: str, output_dir: Path) -> Path:
    """
    The folder `--resume_from_checkpoint` names: `value` itself, or for `"latest"` the `checkpoint-<step>` folder of
    `output_dir` with the highest step.

    Raises:
        UsageError: no such folder, a folder without training state, or no checkpoint in `output_dir` for
            `"latest"`.
    """
    if value == "latest":
        folder = get_last_checkpoint(str(output_dir)) if Path(output_dir).is_dir() else None
        if folder is None:
            raise UsageError(
                f"--resume_from_checkpoint latest: no {PREFIX_CHECKPOINT_DIR}-<step> folder in {output_dir}"
            )
        return Path(folder)
    if not Path(value).is_dir():
        raise UsageError(f"--resume_from_checkpoint {value}: no such folder")
    if not any((Path(value) / name).is_file() for name in TRAINING_STATE_FILES):
        newest = get_last_checkpoint(value)  # a run's output folder, given for one of its checkpoints
        hint = f"; the newest checkpoint in it is {newest}" if newest else ""
        raise UsageError(
            f"--resume_from_checkpoint {value}: not a {PREFIX_CHECKPOINT_DIR}-<step> folder (no training state "
            f"in it: {', '.join(TRAINING_STATE_FILES)}){hint}"
        )
    return Path(value)
