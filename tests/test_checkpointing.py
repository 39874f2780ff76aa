"""The Accelerate scripts' training-state layout (training/checkpointing.py): checkpoint-<step>, resume, pruning."""

import shutil
from pathlib import Path

import pytest
import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState, GradientState

from mae_st_training.checkpointing import (
    TRAINER_STATE_FILE,
    checkpoint_due,
    checkpoint_step,
    list_checkpoints,
    load_training_state,
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


def test_a_save_cut_short_leaves_no_checkpoint_for_latest_to_pick(accelerator, tmp_path, monkeypatch):
    """A run killed while saving left a half-written checkpoint-<step>, which `latest` picked and failed on."""
    model = accelerator.prepare(torch.nn.Linear(3, 2))
    save_checkpoint(accelerator, tmp_path, 2)

    def killed(folder):  # the weights written, the job killed before the rest
        Path(folder).mkdir(parents=True)
        (Path(folder) / "model.safetensors").write_bytes(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(accelerator, "save_state", killed)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(accelerator, tmp_path, 4)
    assert resolve_checkpoint("latest", tmp_path) == tmp_path / "checkpoint-2"
    monkeypatch.undo()
    assert save_checkpoint(accelerator, tmp_path, 2).is_dir() and model is not None  # a rerun's step: replaced


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
    assert resolve_checkpoint(str(trainer), tmp_path, TRAINER_STATE_FILE) == trainer
    # each script's checkpoints are its own (the Trainer failed on "No such file or directory: .../trainer_state.json")
    with pytest.raises(UsageError, match=r"checkpoint-6: a checkpoint of the Trainer script \(trainer_state.json\)"):
        resolve_checkpoint(str(trainer), tmp_path)
    with pytest.raises(UsageError, match=r"checkpoint-4: a checkpoint of the Accelerate scripts \(random_states_0"):
        resolve_checkpoint(str(accelerated), tmp_path, TRAINER_STATE_FILE)
    with pytest.raises(UsageError, match=r"run: not a checkpoint-<step> folder .*; the newest checkpoint in it is "):
        resolve_checkpoint(str(tmp_path / "run"), tmp_path)


def test_a_checkpoint_of_another_kind_of_run_is_refused_in_one_line(tmp_path):
    """A streamed run resumed from a run's checkpoint that was not streamed (one registered object fewer), or a
    pretraining run from a fine-tuning checkpoint (other sizes), raised Accelerate's or torch's traceback."""
    from mae_st_training.loop import TrainingProgress

    def accelerator_with(model, *registered):
        AcceleratorState._reset_state(reset_partial_state=True)
        GradientState._reset_state()
        accelerator = Accelerator(cpu=True)
        prepared = accelerator.prepare(model)
        for state in registered:
            accelerator.register_for_checkpointing(state)
        return accelerator, prepared

    saver, _ = accelerator_with(torch.nn.Linear(3, 2), TrainingProgress())
    folder = save_checkpoint(saver, tmp_path, 4)
    other_objects, _ = accelerator_with(torch.nn.Linear(3, 2), TrainingProgress(), TrainingProgress())
    with pytest.raises(UsageError, match=r"checkpoint-4: its training state does not fit this run \(Number of custom"):
        load_training_state(other_objects, folder)
    other_sizes, _ = accelerator_with(torch.nn.Linear(5, 2), TrainingProgress())
    with pytest.raises(UsageError, match=r"does not fit this run \(Error\(s\) in loading state_dict .*size mismatch"):
        load_training_state(other_sizes, folder)
    same, _ = accelerator_with(torch.nn.Linear(3, 2), TrainingProgress())
    load_training_state(same, folder)
    weights = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(b"junk")  # (was safetensors' traceback)
    with pytest.raises(UsageError, match=r"checkpoint-4: its weights file is damaged \(Error while deserializing"):
        load_training_state(same, folder)
    (folder / "model.safetensors").write_bytes(weights)
    # as if 2 processes had saved it (one random state each): 1 -> 2 failed at the first logging step, 2 -> 1 went on
    # with another data order
    shutil.copy(folder / "random_states_0.pkl", folder / "random_states_1.pkl")
    with pytest.raises(UsageError, match=r"checkpoint-4: 2 process\(es\) saved it and this run has 1; resume with as"):
        load_training_state(same, folder)
