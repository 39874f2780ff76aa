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

from mae_st_training.arguments import why_not_a_folder
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

    The state is written into `checkpoint-<step>.incomplete` and renamed once every process has written its part, so
    that a run killed while saving leaves no `checkpoint-<step>` for `--resume_from_checkpoint latest` to pick
    half-written (it picked one, and failed on its missing files).

    Returns:
        The checkpoint folder.
    """
    folder = Path(output_dir) / f"{PREFIX_CHECKPOINT_DIR}-{step}"
    incomplete = folder.with_name(folder.name + ".incomplete")
    accelerator.save_state(str(incomplete))
    accelerator.wait_for_everyone()  # every process's part is written
    if accelerator.is_main_process:
        if folder.exists():  # a rerun's checkpoint of the same step
            shutil.rmtree(folder)
        incomplete.rename(folder)
        for old in list_checkpoints(output_dir)[:-total_limit] if total_limit else []:
            shutil.rmtree(old)
    accelerator.wait_for_everyone()  # no process reads a folder the main process is renaming or removing
    return folder


# The file every checkpoint-<step> folder of a kind of run holds: Accelerate's `save_state` writes each process's
# random states (with any sharding of the weights and optimizer), the Trainer its trainer_state.json.
ACCELERATE_STATE_FILE = "random_states_0.pkl"
TRAINER_STATE_FILE = "trainer_state.json"
STATE_FILE_WRITERS = {ACCELERATE_STATE_FILE: "the Accelerate scripts", TRAINER_STATE_FILE: "the Trainer script"}


def resolve_checkpoint(value: str, output_dir: Path, state_file: str = ACCELERATE_STATE_FILE) -> Path:
    """
    The folder `--resume_from_checkpoint` names: `value` itself, or for `"latest"` the `checkpoint-<step>` folder of
    `output_dir` with the highest step.

    Args:
        state_file: the file this script's checkpoints hold ([`ACCELERATE_STATE_FILE`] or [`TRAINER_STATE_FILE`]).

    Raises:
        UsageError: no such folder, a folder without this script's training state (a run's output folder, a
            checkpoint of the other kind of script), or no checkpoint in `output_dir` for `"latest"`.
    """
    if value == "latest":
        folder = get_last_checkpoint(str(output_dir)) if Path(output_dir).is_dir() else None
        if folder is None:
            raise UsageError(
                f"--resume_from_checkpoint latest: no {PREFIX_CHECKPOINT_DIR}-<step> folder in {output_dir}"
            )
        return Path(folder)
    if not Path(value).is_dir():
        raise UsageError(f"--resume_from_checkpoint {value}: {why_not_a_folder(value)}")
    if not (Path(value) / state_file).is_file():
        other = next((name for name in STATE_FILE_WRITERS if (Path(value) / name).is_file()), None)
        if other is not None:
            raise UsageError(
                f"--resume_from_checkpoint {value}: a checkpoint of {STATE_FILE_WRITERS[other]} ({other}), which "
                f"this script cannot resume (its checkpoints hold {state_file})"
            )
        newest = get_last_checkpoint(value)  # a run's output folder, given for one of its checkpoints
        hint = f"; the newest checkpoint in it is {newest}" if newest else ""
        raise UsageError(
            f"--resume_from_checkpoint {value}: not a {PREFIX_CHECKPOINT_DIR}-<step> folder (no training state "
            f"in it: {state_file}){hint}"
        )
    return Path(value)


def check_same_data_order(saved: dict, current: dict, checkpoint: Path) -> None:
    """
    Refuse a resume whose data-order flags (`TrainingProgress.data_order`) differ from those of the run that saved
    `checkpoint`: its position in the data (pass, batches read) means other videos under them. Another batch size
    skipped the rest of a pass, another seed or dataset went on with other videos, silently. A checkpoint of an
    earlier version, which saved none, is not checked; `--max_train_steps` may change.

    Raises:
        UsageError: naming each flag, its value there and here.
    """
    changed = [f"{name} {saved[name]} there, {value} here" for name, value in current.items()
               if name in saved and saved[name] != value]  # fmt: skip
    if changed:
        raise UsageError(
            f"--resume_from_checkpoint {checkpoint}: the run that saved it read its data otherwise "
            f"({'; '.join(changed)}); resume with its flags (only --max_train_steps may change)."
        )


def resume_training(accelerator: Accelerator, checkpoint: Path, progress) -> None:
    """
    Both Accelerate scripts' resume: [`load_training_state`], which restores `progress` (a `loop.TrainingProgress`)
    with the rest, then [`check_same_data_order`] of its saved flags against this run's.
    """
    data_order = progress.data_order  # this run's (the load replaces it with the checkpoint's)
    load_training_state(accelerator, checkpoint)
    check_same_data_order(progress.data_order, data_order, checkpoint)


def load_training_state(accelerator: Accelerator, checkpoint: Path) -> None:
    """
    `accelerator.load_state(checkpoint)`, where a checkpoint of another kind of run (another script, model size,
    streamed or not) is refused in one line naming it and the cause, instead of Accelerate's or torch's traceback.

    Raises:
        UsageError: the saved state does not fit this run's model, optimizer or registered objects, or another
            number of processes saved it (its data order and every process's random state are theirs: 1 -> 2
            processes failed at the first logging step, 2 -> 1 went on silently with another data order).
    """
    saved_processes = len(list(Path(checkpoint).glob("random_states_*.pkl")))  # one per process (Accelerate)
    if saved_processes and saved_processes != accelerator.num_processes:
        raise UsageError(
            f"--resume_from_checkpoint {checkpoint}: {saved_processes} process(es) saved it and this run has "
            f"{accelerator.num_processes}; resume with as many processes as the run that saved it."
        )
    from safetensors import SafetensorError

    try:
        accelerator.load_state(str(checkpoint))
    except SafetensorError as error:  # a weights file cut or overwritten
        raise UsageError(f"--resume_from_checkpoint {checkpoint}: its weights file is damaged ({error})") from None
    except (RuntimeError, ValueError, KeyError) as error:
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        cause = " ".join(lines[:2])
        cause = cause if len(cause) <= 240 else cause[:237] + "..."
        raise UsageError(
            f"--resume_from_checkpoint {checkpoint}: its training state does not fit this run ({cause}). Resume "
            "with the script, model and --streaming choice of the run that saved it."
        ) from None
