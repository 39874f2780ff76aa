"""Tests of `training/run_pretraining.py` and `modeling_mae_st/optimization.py`: tiny models, real encoded videos."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import pytest
import torch
from accelerate.state import AcceleratorState, GradientState, PartialState
from safetensors.torch import load_file

from conftest import REPO_ROOT, launch_two_cpu_processes
from modeling_mae_st import MAESTConfig, MAESTForPreTraining, MAESTForVideoClassification
from modeling_mae_st.command_line import UsageError
from modeling_mae_st.flops import count_training_flops
from modeling_mae_st.optimization import (
    build_adamw,
    get_warmup_cosine_schedule,
    param_groups_layer_decay,
    param_groups_weight_decay,
    scaled_learning_rate,
)
from modeling_mae_st.synthetic import make_synthetic_pretraining_videos
from mae_st_training import arguments, run_pretraining




TINY_MODEL = dict(
    image_size=32, num_frames=4, tubelet_size=2, pred_t_dim=4, hidden_size=32, num_hidden_layers=2,
    num_attention_heads=2, intermediate_size=64, decoder_hidden_size=32, decoder_num_hidden_layers=1,
    decoder_num_attention_heads=2, decoder_intermediate_size=64,
)  # fmt: skip
TINY_OVERRIDES = ",".join(f"{key}={value}" for key, value in TINY_MODEL.items())


def tiny_arguments(data_dir: Path, output_dir: Path, max_train_steps: int, **overrides) -> list[str]:
    arguments = {
        "dataset_name": data_dir, "output_dir": output_dir, "preset": "vit-b", "config_overrides": TINY_OVERRIDES,
        "per_device_train_batch_size": 2, "repeat_aug": 2, "dataloader_num_workers": 0, "num_visualization_clips": 1,
        "learning_rate": 1e-3, "warmup_epochs": 1, "logging_steps": 1, "visualization_steps": 1000,
        "checkpointing_steps": 0, "max_train_steps": max_train_steps, **overrides,
    }  # fmt: skip
    return [f"--{key}={value}" for key, value in arguments.items()]


def run_in_process(arguments: list[str]) -> Path:
    """`run(arguments)` with a fresh Accelerate state, as a new process would have."""
    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()
    return run_pretraining.run(arguments)


def log_history(output_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (output_dir / "log_history.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def video_dir(tmp_path_factory) -> Path:
    """Nine short unlabeled videos: one held out for the pictures, eight to train on (3 steps per pass at 2 x 2)."""
    folder = tmp_path_factory.mktemp("videos")
    make_synthetic_pretraining_videos(folder, num_videos=9, num_frames=16, size=(48, 32), seed=0)
    return folder


@pytest.fixture(scope="module")
def half_broken_dir(video_dir, tmp_path_factory) -> Path:
    """The nine videos of `video_dir` (the first held out) and eight text files named .mp4, which sort after them."""
    folder = tmp_path_factory.mktemp("half_broken")
    for video in sorted(video_dir.iterdir()):
        (folder / video.name).symlink_to(video)
    for index in range(8):
        (folder / f"video_broken_{index}.mp4").write_text("not a video\n")
    return folder


# ---------------------------------------------------------------------------------------------------------------
# optimization.py
# ---------------------------------------------------------------------------------------------------------------


def tiny_config(**kwargs) -> MAESTConfig:
    return MAESTConfig(**{**TINY_MODEL, **kwargs})


def test_weight_decay_groups_skip_biases_and_norms_but_decay_tokens_and_position_tables():
    model = MAESTForPreTraining(tiny_config())
    no_decay, decay = param_groups_weight_decay(model, weight_decay=0.05)
    names = {id(param): name for name, param in model.named_parameters()}
    decayed = {names[id(param)] for param in decay["params"]}
    undecayed = {names[id(param)] for param in no_decay["params"]}
    assert (no_decay["weight_decay"], decay["weight_decay"]) == (0.0, 0.05)
    assert decayed | undecayed == set(names.values()) and not decayed & undecayed
    assert all(name.endswith(".bias") or "norm" in name for name in undecayed)
    for name in ("mae_st.embeddings.cls_token", "mae_st.embeddings.position_embeddings.spatial",
                 "decoder.mask_token", "mae_st.layers.0.attention.q_proj.weight"):  # fmt: skip
        assert name in decayed


def test_layer_decay_scales_each_encoder_layer_and_leaves_position_tables_undecayed():
    model = MAESTForVideoClassification(tiny_config(num_labels=3))
    groups = param_groups_layer_decay(model, weight_decay=0.05, layer_decay=0.75)
    names = {id(param): name for name, param in model.named_parameters()}
    scale_of = {names[id(p)]: (group["lr_scale"], group["weight_decay"]) for group in groups for p in group["params"]}
    depth = model.config.num_hidden_layers
    assert scale_of["mae_st.embeddings.patch_embeddings.projection.weight"] == (0.75 ** (depth + 1), 0.05)
    assert scale_of["mae_st.embeddings.position_embeddings.spatial"] == (0.75 ** (depth + 1), 0.0)
    assert scale_of["mae_st.embeddings.cls_token"] == (0.75 ** (depth + 1), 0.0)
    assert scale_of["mae_st.layers.0.mlp.fc1.weight"] == (0.75**depth, 0.05)
    assert scale_of[f"mae_st.layers.{depth - 1}.mlp.fc1.bias"] == (0.75, 0.0)
    assert scale_of["classifier.weight"] == (1.0, 0.05)
    assert scale_of["mae_st.layernorm.weight"] == (1.0, 0.0)


def test_adamw_is_fused_where_the_device_has_a_fused_kernel():
    model = MAESTForPreTraining(tiny_config())
    optimizer = build_adamw(param_groups_weight_decay(model, 0.05), 1e-3)
    assert optimizer.defaults["fused"]
    with torch.device("meta"):
        meta_model = torch.nn.Linear(2, 2)
    assert not build_adamw(param_groups_weight_decay(meta_model), 1e-3).defaults["fused"]


def official_lr(epoch: float, lr: float, min_lr: float, warmup_epochs: float, epochs: float) -> float:
    """facebookresearch/mae_st `util/lr_sched.py::adjust_learning_rate`, for reference."""
    if epoch < warmup_epochs:
        return lr * epoch / warmup_epochs
    return min_lr + (lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * (epoch - warmup_epochs) / (epochs - warmup_epochs)))


def test_warmup_cosine_schedule_matches_the_official_per_iteration_schedule():
    model = torch.nn.Linear(2, 2)
    groups = param_groups_weight_decay(model)
    groups[1]["lr_scale"] = 0.5  # a layer-decayed group follows the same curve at half height
    for group in groups:
        group["lr"] = 1e-3 * group["lr_scale"]
    optimizer = torch.optim.AdamW(groups)
    steps_per_epoch, warmup_epochs, epochs = 10, 2, 7
    scheduler = get_warmup_cosine_schedule(optimizer, warmup_epochs * steps_per_epoch, epochs * steps_per_epoch, 1e-5)
    for step in range(epochs * steps_per_epoch):
        expected = official_lr(step / steps_per_epoch, 1e-3, 1e-5, warmup_epochs, epochs)
        assert optimizer.param_groups[0]["lr"] == pytest.approx(expected, rel=1e-9, abs=1e-15)
        assert optimizer.param_groups[1]["lr"] == pytest.approx(0.5 * expected, rel=1e-9, abs=1e-15)
        optimizer.step()
        scheduler.step()


def test_learning_rate_scales_linearly_with_the_video_batch():
    assert scaled_learning_rate(1.6e-3, 512) == pytest.approx(3.2e-3)
    with pytest.raises(ValueError, match="effective_batch_size"):
        scaled_learning_rate(1.6e-3, 0)


# ---------------------------------------------------------------------------------------------------------------
# run_pretraining.py
# ---------------------------------------------------------------------------------------------------------------


def test_too_few_visible_tokens_are_warned_about(caplog):
    AcceleratorState._reset_state(reset_partial_state=True)
    PartialState()  # the script's logger is Accelerate's, which needs a state
    with caplog.at_level(logging.WARNING):
        assert run_pretraining.warn_if_few_visible_tokens(64, 0.9) == 6  # the official int(64 * 0.1)
    assert "sees 6 of 64 tokens" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert run_pretraining.warn_if_few_visible_tokens(1568, 0.9) == 156  # the paper's clips
        assert run_pretraining.warn_if_few_visible_tokens(256, 0.9) == 25  # the quick start's
    assert caplog.text == ""
    AcceleratorState._reset_state(reset_partial_state=True)


def test_unknown_preset_fails_before_any_work(tmp_path, video_dir):
    with pytest.raises(ValueError, match="Unknown preset 'vit-xl'"):
        run_in_process(tiny_arguments(video_dir, tmp_path / "out", 1, preset="vit-xl", config_overrides=""))
    assert not (tmp_path / "out").exists()


def test_missing_data_path_fails_before_any_work(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:  # a user's mistake: one line naming the flag, status 2
        run_in_process(tiny_arguments(tmp_path / "no-such-folder", tmp_path / "out", 1))
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.endswith("no-such-folder: no such file or folder\n")
    assert not (tmp_path / "out").exists()


def test_too_few_videos_for_one_batch_is_one_line_and_exit_status_2(tmp_path, video_dir, capsys):
    """A user's mistake found while setting up (after the data loaded): one line through the console command."""
    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()
    argv = tiny_arguments(video_dir, tmp_path / "out", 1, per_device_train_batch_size=16)
    with pytest.raises(SystemExit) as exit_info:
        arguments.pretrain_command(argv)
    error = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert error == (
        "mae-st-pretrain: error: 8 training videos cannot fill one batch of 16 videos on each of 1 processes.\n"
    )


@pytest.mark.parametrize("flag", ["train_split_name", "validation_split_name"])
def test_a_split_name_the_data_does_not_have_is_one_line(flag, tmp_path, video_dir, capsys):
    """A mistyped --validation_split_name was taken for "no validation split": the pictures' clips were then held
    out of the training videos without a word."""
    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()
    with pytest.raises(SystemExit) as exit_info:
        arguments.pretrain_command(tiny_arguments(video_dir, tmp_path / "out", 1, **{flag: "valdation"}))
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == (
        f"mae-st-pretrain: error: --{flag}: {video_dir} has no split 'valdation' (splits: ['train']).\n"
    )


def test_pretraining_reads_a_folder_of_index_files_unlabeled(tmp_path, synthetic_dataset_dir):
    """The package's own synthetic layout (class folders beside train/val .csv and .jsonl index files) crashed the
    run: the JSONL class names reached the collate function as strings."""
    output_dir = run_in_process(tiny_arguments(synthetic_dataset_dir, tmp_path / "out", 2))
    assert [entry["step"] for entry in log_history(output_dir)] == [1, 2]


def test_empty_data_folder_fails_before_training(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="No video files"):
        run_in_process(tiny_arguments(tmp_path / "empty", tmp_path / "out", 1))
    assert not (tmp_path / "out" / "log_history.jsonl").exists()


def test_pretraining_skips_a_broken_video_logs_saves_everything_and_pushes_without_training_state(
    tmp_path, video_dir, monkeypatch
):
    data_dir = tmp_path / "videos"
    data_dir.mkdir()
    for video in sorted(video_dir.iterdir())[:8]:
        (data_dir / video.name).symlink_to(video)
    (data_dir / "video_9999.mp4").write_bytes(b"not a video at all")
    pushed = {}

    def create_repo(self, repo_id, **kwargs):
        pushed["repo_id"] = repo_id
        from huggingface_hub import RepoUrl

        return RepoUrl(f"https://huggingface.co/{repo_id}")

    def create_commit(self, repo_id, operations, **kwargs):
        pushed["files"] = sorted(operation.path_in_repo for operation in operations)

    from huggingface_hub import HfApi

    monkeypatch.setattr(HfApi, "create_repo", create_repo)
    monkeypatch.setattr(HfApi, "create_commit", create_commit)
    output_dir = tmp_path / "out"
    # One video held out, 8 to train on (one broken) at 2 per step: 4 steps per pass read the broken one once.
    run_in_process(
        tiny_arguments(data_dir, output_dir, 4, checkpointing_steps=2, visualization_steps=2, report_to="tensorboard",
                       max_bad_video_fraction=0.2)
        + ["--push_to_hub", "--hub_model_id=me/mae-st-tiny", "--hub_token=hf_secret_of_the_user"]
    )
    history = log_history(output_dir)
    assert [entry["step"] for entry in history] == [1, 2, 3, 4]
    assert history[-1]["skipped_videos"] == 1
    assert all(math.isfinite(entry["loss"]) and entry["clips_per_second"] > 0 for entry in history)
    assert all(0 <= entry["data_wait_fraction"] < 1 for entry in history)
    clip_flops = count_training_flops(MAESTConfig(**TINY_MODEL), 0.9)  # achieved FLOP/s = clips/s x counted FLOPs
    assert all(entry["tflops"] == pytest.approx(entry["clips_per_second"] * clip_flops / 1e12) for entry in history)
    for name in ("model.safetensors", "config.json", "video_preprocessor_config.json", "README.md",
                 "reconstruction.png", "reconstructions/step_0000002.png", "checkpoint-2", "checkpoint-4"):  # fmt: skip
        assert (output_dir / name).exists(), name
    assert list((output_dir / "runs").rglob("events.out.tfevents.*"))  # scalars and pictures for TensorBoard
    assert "Precision: fp32 (no mixed precision), as the official recipes." in (output_dir / "README.md").read_text()
    reloaded = MAESTForPreTraining.from_pretrained(output_dir)
    assert reloaded.config.hidden_size == 32 and reloaded.config.mask_ratio == 0.9
    assert pushed["repo_id"] == "me/mae-st-tiny"
    assert {"model.safetensors", "config.json", "README.md", "reconstruction.png"} <= set(pushed["files"])
    assert not [name for name in pushed["files"] if name.startswith(("checkpoint-", "data_order"))]
    # the token reached TensorBoard's hparams.yml and events (tokens are now shown as <HUB_TOKEN>)
    assert not [path for path in output_dir.rglob("*") if path.is_file() and b"hf_secret" in path.read_bytes()]
    assert "| 2 | " in (output_dir / "README.md").read_text()  # the loss table by optimizer step


def test_an_epoch_is_one_pass_over_the_videos_whatever_repeat_aug(tmp_path, video_dir):
    # 8 training videos, 2 per step: one pass is 4 steps, at --repeat_aug 2 as at 1 (the clips of a video are seen
    # together). The epoch counted passes x repeat_aug before, which made this run 2 steps long.
    arguments = [argument for argument in tiny_arguments(video_dir, tmp_path / "out", 1, num_train_epochs=1)
                 if not argument.startswith("--max_train_steps")]  # fmt: skip
    history = log_history(run_in_process(arguments))
    assert [(entry["step"], entry["epoch"]) for entry in history] == [(1, 0.25), (2, 0.5), (3, 0.75), (4, 1.0)]


def test_a_torch_compile_run_trains_like_the_eager_run(tmp_path, video_dir):
    # --torch_compile compiles the model in `accelerator.prepare`; aot_eager traces forward and backward as inductor
    # does but skips its C++ code generation (minutes on CPU; inductor itself gave a 2.6e-7 weight difference).
    eager = run_in_process(tiny_arguments(video_dir, tmp_path / "eager", 2))
    torch._dynamo.utils.counters.clear()
    compiled = run_in_process(
        tiny_arguments(video_dir, tmp_path / "compiled", 2, torch_compile=True, torch_compile_backend="aot_eager")
    )
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] > 0  # the model did run compiled
    assert [entry["loss"] for entry in log_history(compiled)] == pytest.approx(
        [entry["loss"] for entry in log_history(eager)], rel=1e-5
    )
    eager_weights, compiled_weights = (load_file(path / "model.safetensors") for path in (eager, compiled))
    assert eager_weights.keys() == compiled_weights.keys()  # saved without the compiled wrapper's prefix
    for name, weight in eager_weights.items():
        torch.testing.assert_close(compiled_weights[name], weight, rtol=1e-5, atol=1e-6)


def test_resumed_run_reproduces_the_losses_and_weights_of_an_uninterrupted_run(tmp_path, video_dir):
    # 8 training videos at 2 per step: 4 steps per pass. The checkpoint at step 6 is in the middle of the second
    # pass and the resumed run crosses into the third; one decoding worker exercises the per-video seeding.
    common = {"dataloader_num_workers": 1, "checkpointing_steps": 6}
    uninterrupted = run_in_process(tiny_arguments(video_dir, tmp_path / "full", 10, **common))
    resumed = run_in_process(
        tiny_arguments(video_dir, tmp_path / "resumed", 10, resume_from_checkpoint=uninterrupted / "checkpoint-6",
                       **common)
    )  # fmt: skip
    full_losses = [entry["loss"] for entry in log_history(uninterrupted)]
    resumed_losses = [entry["loss"] for entry in log_history(resumed)]
    assert [entry["step"] for entry in log_history(resumed)] == [7, 8, 9, 10]
    assert resumed_losses == full_losses[6:]
    full_weights, resumed_weights = (load_file(path / "model.safetensors") for path in (uninterrupted, resumed))
    assert all(torch.equal(full_weights[name], resumed_weights[name]) for name in full_weights)


def test_a_resume_with_other_data_order_flags_is_one_line(tmp_path, video_dir):
    """Another batch size skipped the rest of the pass, another seed or dataset went on with other videos: all
    silently. --max_train_steps may change."""
    run_in_process(tiny_arguments(video_dir, tmp_path / "full", 3, checkpointing_steps=2))
    checkpoint = tmp_path / "full" / "checkpoint-2"
    for change, message in (({"per_device_train_batch_size": 4}, "per_device_train_batch_size 2 there, 4 here"),
                            ({"seed": 5}, "seed 0 there, 5 here")):  # fmt: skip
        with pytest.raises(UsageError, match=f"checkpoint-2: the run that saved it read its data .*{message}"):
            run_in_process(tiny_arguments(video_dir, tmp_path / "x", 3, resume_from_checkpoint=checkpoint, **change))
    run_in_process(tiny_arguments(video_dir, tmp_path / "longer", 4, resume_from_checkpoint=checkpoint))


def test_checkpointing_every_pass_saves_at_each_pass_end_and_resumes_there(tmp_path, video_dir):
    """--checkpointing_steps epoch never saved a checkpoint (only fine-tuning looked at the end of a pass)."""
    common = {"checkpointing_steps": "epoch"}
    uninterrupted = run_in_process(tiny_arguments(video_dir, tmp_path / "full", 6, **common))
    assert sorted(path.name for path in uninterrupted.glob("checkpoint-*")) == ["checkpoint-4"]  # 4 steps a pass
    resumed = run_in_process(
        tiny_arguments(video_dir, tmp_path / "resumed", 6, resume_from_checkpoint=uninterrupted / "checkpoint-4",
                       **common)
    )  # fmt: skip
    full_weights, resumed_weights = (load_file(path / "model.safetensors") for path in (uninterrupted, resumed))
    assert all(torch.equal(full_weights[name], resumed_weights[name]) for name in full_weights)


def test_batches_with_no_decodable_video_are_skipped_and_every_step_is_still_done_and_resumable(
    tmp_path, half_broken_dir
):
    # 16 training videos, half broken, 2 per step: whole batches fail, so a pass gives fewer than its 8 steps; the
    # run still does all 12, and a resume from step 6 (second pass, after skipped batches) reproduces it.
    common = {"max_bad_video_fraction": 1.0, "checkpointing_steps": 6}
    full = run_in_process(tiny_arguments(half_broken_dir, tmp_path / "full", 12, **common))
    resumed = run_in_process(
        tiny_arguments(half_broken_dir, tmp_path / "resumed", 12, resume_from_checkpoint=full / "checkpoint-6",
                       **common)
    )  # fmt: skip
    history = log_history(full)
    assert [entry["step"] for entry in history] == list(range(1, 13))
    assert history[-1]["skipped_videos"] == history[-1]["skipped_videos_per_process"]["0"] >= 8
    assert [entry["loss"] for entry in log_history(resumed)] == [entry["loss"] for entry in history[6:]]
    full_weights, resumed_weights = (load_file(path / "model.safetensors") for path in (full, resumed))
    assert all(torch.equal(full_weights[name], resumed_weights[name]) for name in full_weights)


def launch_two_processes(data_dir: Path, output_dir: Path, max_train_steps: int, **overrides) -> None:
    """Pretrain in 2 CPU processes (gloo) with `accelerate launch`."""
    launch_two_cpu_processes(
        REPO_ROOT / "training" / "run_pretraining.py",
        tiny_arguments(data_dir, output_dir, max_train_steps, record_data_order=True, **overrides),
        timeout=240,
    )


def test_when_one_process_passes_the_bad_video_limit_every_process_stops_with_one_line(tmp_path, video_dir):
    """The process past --max_bad_video_fraction stopped alone; the other died in the collective it never reached,
    with gloo's traceback ("Connection closed by peer")."""
    data = tmp_path / "data"
    data.mkdir()
    for video in sorted(video_dir.iterdir()):
        (data / video.name).symlink_to(video)
    for index in range(2):  # 10 training videos: 5 a process, no padding
        (data / f"video_broken_{index}.mp4").write_text("not a video\n")
    result = launch_two_cpu_processes(
        REPO_ROOT / "training" / "run_pretraining.py",
        tiny_arguments(data, tmp_path / "out", 5, per_device_train_batch_size=1, max_bad_video_fraction=0),
        timeout=240,
        check=False,
    )
    # one line from each process (the progress bar may come before it on its line)
    errors = [line.split("mae-st-pretrain: error: ")[1] for line in result.stderr.splitlines()
              if "mae-st-pretrain: error: " in line]  # fmt: skip
    assert result.returncode != 0 and len(errors) == 2, result.stderr[-3000:]
    assert "Connection closed by peer" not in result.stderr and "[rank" not in result.stderr, result.stderr[-3000:]
    assert any("more than --max_bad_video_fraction 0.0 allows; first ones: " in line for line in errors), errors


def test_two_process_run_over_half_broken_videos_stays_in_step_and_does_every_step(tmp_path, half_broken_dir):
    # One video per process and step: a process whose video fails runs a placeholder at weight 0 while the other
    # trains; a step where both fail is skipped by both. Before, the processes' collectives went out of step.
    output_dir = tmp_path / "ddp"
    launch_two_processes(half_broken_dir, output_dir, 12, per_device_train_batch_size=1, max_bad_video_fraction=1.0)
    history = log_history(output_dir)
    assert [entry["step"] for entry in history] == list(range(1, 13))
    records = [json.loads((output_dir / "data_order" / f"process_{i}.json").read_text()) for i in range(2)]
    assert records[0]["weights_sha256"] == records[1]["weights_sha256"]
    # every batch read holds one video: the empty ones are the skipped videos, counted per process and in total
    skipped = [sum(1 for batch in record["videos"] if not batch) for record in records]
    assert history[-1]["skipped_videos_per_process"] == {"0": skipped[0], "1": skipped[1]}
    assert history[-1]["skipped_videos"] == sum(skipped) > 0
    read = [Path(name).name for record in records for batch in record["videos"] for name in batch]
    assert read and all(name.startswith("video_0") for name in read)  # only decoded videos were trained on
    assert MAESTForPreTraining.from_pretrained(output_dir).config.hidden_size == 32


def test_two_process_cpu_run_shards_the_videos_and_keeps_the_weights_identical(tmp_path, video_dir):
    output_dir = tmp_path / "ddp"
    launch_two_processes(video_dir, output_dir, 4, per_device_train_batch_size=1)
    records = [json.loads((output_dir / "data_order" / f"process_{i}.json").read_text()) for i in range(2)]
    # 4 steps of 1 video per process: each process read 4 videos, none read by the other (a pass is 4 steps).
    read = [[name for batch in record["videos"] for name in batch] for record in records]
    assert [len(names) for names in read] == [4, 4]
    assert not set(read[0]) & set(read[1])
    assert records[0]["weights_sha256"] == records[1]["weights_sha256"]
    assert [entry["step"] for entry in log_history(output_dir)] == [1, 2, 3, 4]
