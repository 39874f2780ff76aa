"""The Accelerate scripts' training-state layout (training/checkpointing.py): checkpoint-<step>, resume, pruning."""

import pytest
import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState, GradientState

from mae_st_training.checkpointing import (
    checkpoint_due,
    checkpoint_step,
    list_checkpoints,
    resolve_checkpoint,
    save_checkpoint,
)
from modeling_mae_st.command_line import UsageError


@pytest.fixture
def accelerator():
    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()
    return Accelerator(cpu=True)


def test_saves_checkpoint_step_folders_keeps_the_newest_and_resumes_from_the_latest(accelerator, tmp_path):
    model = accelerator.prepare(torch.nn.Linear(3, 2))
    weights_at = {}
    for step in (1, 2, 9, 10):  # 10 after 9: steps compare as numbers, not as names
        with torch.no_grad():
            model.weight.fill_(step)
        weights_at[step] = model.weight.clone()
        folder = save_checkpoint(accelerator, tmp_path, step, total_limit=2)
        assert folder == tmp_path / f"checkpoint-{step}"
    assert [path.name for path in list_checkpoints(tmp_path)] == ["checkpoint-9", "checkpoint-10"]

    latest = resolve_checkpoint("latest", tmp_path)
    assert (latest, checkpoint_step(latest)) == (tmp_path / "checkpoint-10", 10)
    with torch.no_grad():
        model.weight.zero_()
    accelerator.load_state(str(resolve_checkpoint(str(tmp_path / "checkpoint-9"), tmp_path)))
    assert torch.equal(model.weight, weights_at[9])


def test_without_a_limit_every_checkpoint_stays(accelerator, tmp_path):
    model = accelerator.prepare(torch.nn.Linear(2, 2))
    for step in (3, 6, 9):
        save_checkpoint(accelerator, tmp_path, step)
    assert [checkpoint_step(path) for path in list_checkpoints(tmp_path)] == [3, 6, 9]
    assert model.weight.shape == (2, 2)


@pytest.mark.parametrize(
    "checkpointing_steps,step,end_of_epoch,due",
    [
        ("4", 8, False, True),
        ("4", 6, False, False),
        ("4", 8, True, False),  # the step's own call saved it already
        ("epoch", 8, False, False),
        ("epoch", 7, True, True),
        ("0", 8, False, False),
        (None, 8, True, False),
    ],
)
def test_checkpoint_due_follows_checkpointing_steps(checkpointing_steps, step, end_of_epoch, due):
    assert checkpoint_due(checkpointing_steps, step, end_of_epoch) is due


def test_resolving_a_missing_checkpoint_is_a_usage_error_naming_the_flag(tmp_path):
    (tmp_path / "checkpoint-final").mkdir()  # not a step: never taken for a checkpoint
    with pytest.raises(UsageError, match="--resume_from_checkpoint latest: no checkpoint-<step> folder in"):
        resolve_checkpoint("latest", tmp_path)
    with pytest.raises(UsageError, match="--resume_from_checkpoint latest"):
        resolve_checkpoint("latest", tmp_path / "not_yet_written")
    with pytest.raises(UsageError, match="--resume_from_checkpoint .*nowhere: no such folder"):
        resolve_checkpoint(str(tmp_path / "nowhere"), tmp_path)


def test_a_folder_without_training_state_is_refused_naming_its_newest_checkpoint(tmp_path):
    """A run's output folder given for one of its checkpoints: said at once (it used to fail inside Accelerate's
    load_state with "No such file or directory: .../optimizer.bin")."""
    accelerated, trainer = tmp_path / "run" / "checkpoint-4", tmp_path / "trainer_run" / "checkpoint-6"
    accelerated.mkdir(parents=True)
    trainer.mkdir(parents=True)
    (accelerated / "random_states_0.pkl").write_bytes(b"state")  # what every Accelerate save_state writes
    (trainer / "trainer_state.json").write_text("{}")
    assert resolve_checkpoint(str(accelerated), tmp_path) == accelerated
    assert resolve_checkpoint(str(trainer), tmp_path) == trainer
    with pytest.raises(UsageError, match=r"run: not a checkpoint-<step> folder .*; the newest checkpoint in it is "):
        resolve_checkpoint(str(tmp_path / "run"), tmp_path)
