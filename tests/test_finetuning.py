"""Fine-tuning: the Accelerate script end to end (`training/run_video_classification.py`) and its recipe."""

import json
import shutil
from pathlib import Path

import pytest
import torch
from accelerate.state import AcceleratorState
from safetensors.torch import load_file, save_file

from conftest import launch_two_cpu_processes
from modeling_mae_st.command_line import UsageError
from modeling_mae_st.configuration_mae_st import MAESTConfig
from modeling_mae_st.finetuning import RECIPE_FIELDS, SIZE_RECIPES, apply_size_recipe
from mae_st_training import run_video_classification as script
from mae_st_training.arguments import FinetuningModelArguments, FinetuningRecipeArguments, parse_finetuning_arguments


def finetune_args(pretrained: Path, data: Path, output: Path, *extra: str) -> list[str]:
    return [
        "--model_name_or_path", str(pretrained), "--train_dir", str(data / "train"),
        "--validation_dir", str(data / "validation"), "--output_dir", str(output),
        "--per_device_train_batch_size", "4", "--per_device_eval_batch_size", "4", "--num_train_epochs", "2",
        "--num_temporal_views", "2", "--logging_steps", "1", "--dataloader_num_workers", "0", *extra,
    ]  # fmt: skip


# ---------------------------------------------------------------------------------------------------------------
# The Accelerate script
# ---------------------------------------------------------------------------------------------------------------


def test_defaults_are_the_official_recipe(tmp_path):
    model, data, training = parse_finetuning_arguments(["--model_name_or_path", "x", "--train_dir", str(tmp_path)])
    # unset: the official value for the checkpoint's size (apply_size_recipe)
    assert (model.drop_path_rate, model.classifier_dropout, model.head_init_std) == (None, None, 2e-5)
    assert (data.rand_augment, data.random_erasing_prob, data.repeat_aug) == ("rand-m7-mstd0.5-inc1", 0.25, 2)
    assert tuple(data.jitter_scales_relative) == (0.08, 1.0)
    assert (data.num_temporal_views, data.num_spatial_crops) == (10, 3)
    assert (training.base_learning_rate, training.warmup_epochs, training.layer_decay) == (2.4e-3, 5, None)
    assert (training.adam_beta1, training.adam_beta2, training.weight_decay) == (0.9, 0.999, 0.05)
    assert (training.mixup, training.cutmix, training.mixup_prob, training.mixup_switch_prob) == (0.8, 1.0, 1.0, 0.5)
    assert (training.label_smoothing, training.max_grad_norm, training.min_learning_rate) == (0.1, 5.0, 1e-6)


def test_unset_recipe_flags_take_the_checkpoint_sizes_official_values_and_given_flags_win(tmp_path):
    required = ["--model_name_or_path", "x", "--train_dir", str(tmp_path)]
    model, _, training = parse_finetuning_arguments(required)
    line = apply_size_recipe(MAESTConfig.from_preset("vit-b"), model, training)
    assert (training.layer_decay, model.drop_path_rate, model.classifier_dropout) == (0.65, 0.1, 0.3)
    assert line.startswith("Fine-tuning recipe for ViT-B from") and "k400_VIT_B_16x4_FT.yaml" in line
    given = [*required, "--layer_decay", "0.9", "--classifier_dropout", "0"]
    model, _, training = parse_finetuning_arguments(given)
    line = apply_size_recipe(MAESTConfig.from_preset("vit-h"), model, training)
    assert (training.layer_decay, model.drop_path_rate, model.classifier_dropout) == (0.9, 0.2, 0.0)
    assert "layer_decay 0.9 (--layer_decay)" in line and "classifier_dropout 0.0 (--classifier_dropout)" in line


def test_recipe_flags_help_states_each_sizes_value():
    fields = {**FinetuningModelArguments.__dataclass_fields__, **FinetuningRecipeArguments.__dataclass_fields__}
    for name in RECIPE_FIELDS:
        assert fields[name].default is None
        for recipe in SIZE_RECIPES.values():
            assert str(getattr(recipe, name)) in fields[name].metadata["help"], name


def test_readme_states_each_sizes_recipe_defaults_with_its_source():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    for preset, recipe in SIZE_RECIPES.items():
        size = "ViT-" + preset[-1].upper()
        row = f"| {size} | {recipe.layer_decay} | {recipe.drop_path_rate} | {recipe.classifier_dropout} |"
        assert row in readme and f"k400_VIT_{preset[-1].upper()}_16x4_FT.yaml" in readme, row


def test_script_fine_tunes_evaluates_multi_view_and_saves_everything(
    tiny_pretrained, motion_videos, tmp_path, caplog, capsys
):
    output = tmp_path / "run"
    caplog.set_level("INFO")
    results = script.run(
        finetune_args(tiny_pretrained, motion_videos, output, "--checkpointing_steps", "epoch", "--hub_token",
                      "hf_secret_of_the_user", "--report_to", "tensorboard")
    )  # fmt: skip

    assert results["completed_steps"] == 6 and results["skipped_videos"] == 0
    assert results["multi_view"].keys() == {"top1", "top5", "num_videos", "skipped_videos"}
    assert (results["multi_view"]["num_videos"], results["multi_view"]["skipped_videos"]) == (4, 0)
    config = json.loads((output / "config.json").read_text())
    assert config["id2label"] == {"0": "down", "1": "left", "2": "right", "3": "up"}
    assert config["drop_path_rate"] == 0.2 and config["classifier_dropout"] == 0.3
    resolved = json.loads((output / "finetuning_args.json").read_text())["resolved"]
    assert resolved["effective_batch_size"] == 4 * 2  # repeat_aug copies are counted
    assert resolved["learning_rate"] == pytest.approx(2.4e-3 * 8 / 256)
    for name in ("model.safetensors", "video_preprocessor_config.json", "eval_confusion_matrix.png",
                 "eval_per_class_accuracy.csv", "checkpoint-3/model.safetensors"):  # fmt: skip
        assert (output / name).is_file(), name
    card = (output / "README.md").read_text()
    assert "model-index" in card and f"value: {round(results['multi_view']['top1'], 2)}" in card
    assert "Precision: fp32 (no mixed precision), as the official recipes." in card
    # A --hub_token reached finetuning_args.json, the card (both pushed with the model), the log and the trackers;
    # the card's table listed every flag, with the machine's paths (--train_dir, --output_dir ...).
    assert not [path for path in output.rglob("*") if path.is_file() and b"hf_secret" in path.read_bytes()]
    assert "hf_secret" not in caplog.text and "<HUB_TOKEN>" in caplog.text
    assert str(tmp_path) not in card and "`layer_decay` | 0.75 |" in card and "`warmup_steps` |" in card
    assert list((output / "runs").rglob("events.out.tfevents.*"))  # as pretraining's: not pushed to the Hub
    # the run ended on the weights' progress bar: it now says what it measured and where the model is
    printed = capsys.readouterr().out.splitlines()
    assert printed[-2] == (f"Validation (2x3 views): top-1 {results['multi_view']['top1']:.2f}%, top-5 "
                           f"{results['multi_view']['top5']:.2f}% of 4 videos")  # fmt: skip
    assert printed[-1].startswith(f"Model, video processor and card saved to {output.resolve()} (")


def test_a_torch_compile_run_trains_like_the_eager_run(tiny_pretrained, motion_videos, tmp_path):
    # as in pretraining: the model compiled in `accelerator.prepare` (aot_eager: inductor's tracing without its C++
    # code generation); no dropout, drop path or mixing, whose random draws a compiled graph makes differently
    common = ("--max_train_steps", "2", "--eval_strategy", "no", "--num_temporal_views", "1", "--num_spatial_crops",
              "1", "--drop_path_rate", "0", "--classifier_dropout", "0", "--mixup", "0", "--cutmix", "0")  # fmt: skip
    script.run(finetune_args(tiny_pretrained, motion_videos, tmp_path / "eager", *common))
    torch._dynamo.utils.counters.clear()
    AcceleratorState._reset_state(reset_partial_state=True)  # a fresh process's state, which reads dynamo_backend
    try:
        script.run(finetune_args(tiny_pretrained, motion_videos, tmp_path / "compiled", *common, "--torch_compile",
                                 "--torch_compile_backend", "aot_eager"))  # fmt: skip
    finally:  # the next tests' Accelerator must not inherit the compiling state
        AcceleratorState._reset_state(reset_partial_state=True)
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] > 0
    eager, compiled = (load_file(tmp_path / name / "model.safetensors") for name in ("eager", "compiled"))
    assert eager.keys() == compiled.keys()
    for name, weight in eager.items():
        torch.testing.assert_close(compiled[name], weight, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("num_workers", ["0", "1"])
def test_resuming_from_a_mid_epoch_checkpoint_gives_the_same_weights(
    tiny_pretrained, motion_videos, tmp_path, num_workers
):
    # Each video's augmentation is seeded by (seed, epoch, index), in the main process as in workers; the checkpoint
    # restores the RNG that dropout, drop path and mixup draw from.
    common = ("--checkpointing_steps", "4", "--dataloader_num_workers", num_workers, "--eval_strategy", "no",
              "--num_temporal_views", "1", "--num_spatial_crops", "1")  # fmt: skip
    script.run(finetune_args(tiny_pretrained, motion_videos, tmp_path / "full", *common))
    script.run(
        finetune_args(tiny_pretrained, motion_videos, tmp_path / "resumed", *common, "--resume_from_checkpoint",
                      str(tmp_path / "full" / "checkpoint-4"))
    )  # fmt: skip
    full = load_file(tmp_path / "full" / "model.safetensors")
    resumed = load_file(tmp_path / "resumed" / "model.safetensors")
    assert all(torch.equal(full[name], resumed[name]) for name in full)
    if num_workers == "0":  # resumed in its own folder, the run's records cover it all (the card's loss curve too)
        losses = [(r["step"], r["loss"]) for r in json.loads((tmp_path / "full" / "all_results.json").read_text())[
            "history"] if "loss" in r]  # fmt: skip
        script.run(finetune_args(tiny_pretrained, motion_videos, tmp_path / "full", *common, "--resume_from_checkpoint",
                                 "latest"))  # fmt: skip
        history = json.loads((tmp_path / "full" / "all_results.json").read_text())["history"]
        assert [(r["step"], r["loss"]) for r in history if "loss" in r] == losses
    if num_workers == "0":  # the checkpoint's batch size, not another (which skipped the rest of the pass)
        checkpoint = str(tmp_path / "full" / "checkpoint-4")
        other = finetune_args(tiny_pretrained, motion_videos, tmp_path / "other", *common, "--resume_from_checkpoint",
                              checkpoint, "--per_device_train_batch_size", "2")  # fmt: skip
        with pytest.raises(UsageError, match="per_device_train_batch_size 4 there, 2 here"):
            script.run(other)


def test_a_broken_file_in_a_label_folder_is_skipped_counted_and_logged(
    tiny_pretrained, motion_videos, tmp_path, caplog
):
    data = tmp_path / "data"
    shutil.copytree(motion_videos / "train", data / "train")
    (data / "train" / "left" / "broken.mp4").write_bytes(b"not a video" * 20)
    args = finetune_args(tiny_pretrained, data, tmp_path / "run", "--num_train_epochs", "1",
                         "--max_bad_video_fraction", "0.1")  # 1 of 13  # fmt: skip
    args[args.index("--validation_dir") : args.index("--validation_dir") + 2] = []
    with caplog.at_level("WARNING"):
        results = script.run(args)
    assert results["skipped_videos"] >= 1 and any("broken.mp4" in name for name in results["skipped_video_names"])
    assert "broken.mp4" in caplog.text


def test_a_resumed_run_names_the_videos_skipped_before_its_checkpoint(tiny_pretrained, motion_videos, tmp_path):
    """skipped_video_names listed only the videos skipped since the resume (the names were not checkpointed)."""
    data = tmp_path / "data"
    shutil.copytree(motion_videos / "train", data / "train")
    for index in range(4):  # 16 videos at 4 a step: 4 steps, checkpoints at 2 and 4
        (data / "train" / "left" / f"broken_{index}.mp4").write_bytes(b"not a video" * 20)
    common = ("--num_train_epochs", "1", "--max_bad_video_fraction", "0.5", "--checkpointing_steps", "2",
              "--eval_strategy", "no", "--num_temporal_views", "1", "--num_spatial_crops", "1")  # fmt: skip
    arguments = {name: finetune_args(tiny_pretrained, data, tmp_path / "run", *common, *extra)
                 for name, extra in (("full", ()), ("resumed", ("--resume_from_checkpoint", "latest")))}  # fmt: skip
    for argv in arguments.values():  # (no validation videos here)
        argv[argv.index("--validation_dir") : argv.index("--validation_dir") + 2] = []
    full = script.run(arguments["full"])
    shutil.rmtree(tmp_path / "run" / "checkpoint-4")  # latest: the one at step 2
    resumed = script.run(arguments["resumed"])
    assert sorted(resumed["skipped_video_names"]) == sorted(full["skipped_video_names"])
    assert len(full["skipped_video_names"]) == 4


def test_bad_inputs_fail_clearly_before_training(tiny_pretrained, motion_videos, tmp_path):
    empty = tmp_path / "empty" / "left"
    empty.mkdir(parents=True)
    with pytest.raises(ValueError, match="No video files"):
        script.run(["--model_name_or_path", str(tiny_pretrained), "--train_dir", str(empty.parent)])

    # a mistyped split name used to be taken for "no validation split"
    with pytest.raises(ValueError, match=r"--validation_split_name: .* has no split 'valdation' \(splits: \['train', "):
        script.run(["--model_name_or_path", str(tiny_pretrained), "--dataset_name", str(motion_videos),
                     "--validation_split_name", "valdation", "--output_dir", str(tmp_path / "w")])  # fmt: skip

    with pytest.raises(ValueError, match="no label column 'category'"):
        script.run(["--model_name_or_path", str(tiny_pretrained), "--train_file", str(motion_videos / "train.jsonl"),
                     "--label_column_name", "category", "--output_dir", str(tmp_path / "x")])  # fmt: skip

    with pytest.raises(ValueError, match="built for 4-frame clips of 32x32"):
        script.run(["--model_name_or_path", str(tiny_pretrained), "--train_dir", str(motion_videos / "train"),
                     "--num_frames", "8", "--output_dir", str(tmp_path / "y")])  # fmt: skip

    # a checkpoint that lacks an encoder weight must not be fine-tuned from random values (official strict=False)
    incomplete = tmp_path / "incomplete"
    shutil.copytree(tiny_pretrained, incomplete)
    weights = load_file(incomplete / "model.safetensors")
    del weights["mae_st.embeddings.position_embeddings.spatial"]
    save_file(weights, incomplete / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(ValueError, match=r"lacks encoder weights .*position_embeddings\.spatial"):
        script.run(["--model_name_or_path", str(incomplete), "--train_dir", str(motion_videos / "train"),
                     "--output_dir", str(tmp_path / "z")])  # fmt: skip


@pytest.mark.parametrize("source", ["jsonl", "csv", "dataset", "streaming", "shards", "streamed shards"])
def test_labels_come_from_index_files_datasets_and_shards_too(source, tiny_pretrained, motion_videos, tmp_path):
    import datasets

    from modeling_mae_st.data import load_video_folder
    from modeling_mae_st.shards import write_video_shards

    if "shards" in source:
        write_video_shards(motion_videos, tmp_path / "shards", max_videos_per_shard=5)
        data = ["--dataset_name", str(tmp_path / "shards")]
        data += ["--streaming", "--max_train_steps", "2"] if source == "streamed shards" else []
    elif source in ("jsonl", "csv"):
        suffix = ".jsonl" if source == "jsonl" else ".csv"
        data = [
            "--train_file",
            str(motion_videos / f"train{suffix}"),
            "--validation_file",
            str(motion_videos / f"val{suffix}"),
        ]
    else:
        saved = tmp_path / "saved"
        splits = load_video_folder(motion_videos)
        splits = datasets.DatasetDict({name: split.rename_column("video", "clip") for name, split in splits.items()})
        splits.save_to_disk(str(saved))
        data = ["--dataset_name", str(saved), "--video_column_name", "clip"]
        data += ["--streaming", "--max_train_steps", "2"] if source == "streaming" else []
    output = tmp_path / "run"
    results = script.run(
        ["--model_name_or_path", str(tiny_pretrained), *data, "--output_dir", str(output),
         "--per_device_train_batch_size", "4", "--num_train_epochs", "1", "--num_temporal_views", "1",
         "--num_spatial_crops", "1", "--dataloader_num_workers", "0"]
    )  # fmt: skip
    names = json.loads((output / "config.json").read_text())["id2label"]
    # the official CSV layout has label ids only; the others name the classes
    assert names == (
        {"0": "0", "1": "1", "2": "2", "3": "3"}
        if source == "csv"
        else {"0": "down", "1": "left", "2": "right", "3": "up"}
    )
    assert results["completed_steps"] >= 2 and "multi_view" in results


def test_accumulation_over_an_uneven_pass_schedules_every_step_and_resumes_exactly(
    tiny_pretrained, motion_videos, tmp_path
):
    # 12 videos at 4 per batch: 3 batches a pass, which Accelerate takes as ceil(3 / 2) = 2 optimizer steps (the
    # last one from a single batch), so 2 passes are 4 steps; the checkpoint at step 3 is in the second pass.
    common = ("--gradient_accumulation_steps", "2", "--warmup_epochs", "0.5", "--checkpointing_steps", "3",
              "--eval_strategy", "no", "--num_temporal_views", "1", "--num_spatial_crops", "1")  # fmt: skip
    full = script.run(finetune_args(tiny_pretrained, motion_videos, tmp_path / "full", *common))
    resolved = json.loads((tmp_path / "full" / "finetuning_args.json").read_text())["resolved"]
    assert (resolved["steps_per_epoch"], resolved["max_train_steps"], full["completed_steps"]) == (2, 4, 4)
    history = json.loads((tmp_path / "full" / "all_results.json").read_text())["history"]
    steps = [record for record in history if "lr" in record]
    assert len(steps) == 4 and steps[-1]["lr"] == pytest.approx(1e-6)  # the cosine ends on the last step, at the floor
    assert all(record["clips_per_second"] > 0 and 0 <= record["data_wait_fraction"] < 1 for record in steps)
    assert all(record["tflops"] > 0 for record in steps)  # achieved TFLOP/s, as pretraining logs it
    script.run(
        finetune_args(tiny_pretrained, motion_videos, tmp_path / "resumed", *common, "--resume_from_checkpoint",
                      str(tmp_path / "full" / "checkpoint-3"))
    )  # fmt: skip
    weights = [load_file(tmp_path / run / "model.safetensors") for run in ("full", "resumed")]
    assert all(torch.equal(weights[0][name], weights[1][name]) for name in weights[0])


def test_two_processes_stay_in_step_when_one_has_no_decodable_video_in_training_and_evaluation(
    tiny_pretrained, motion_videos, tmp_path
):
    # One video per process and batch, a quarter of them broken: a process whose video fails runs a placeholder at
    # weight 0 (or both skip), and evaluation gathers one row per video asked for, dropping the broken ones.
    data = tmp_path / "data"
    shutil.copytree(motion_videos / "train", data / "train")
    shutil.copytree(motion_videos / "validation", data / "validation")
    for index in range(4):
        (data / "train" / "left" / f"zz_broken_{index}.mp4").write_text("not a video\n")
    (data / "validation" / "up" / "zz_broken.mp4").write_text("not a video\n")
    (data / "validation" / "down" / "zz_broken.mp4").write_text("not a video\n")
    output = tmp_path / "ddp"
    launch_two_cpu_processes(
        script.__file__,
        finetune_args(tiny_pretrained, data, output, "--per_device_train_batch_size", "1",
                      "--per_device_eval_batch_size", "1", "--num_train_epochs", "1", "--num_temporal_views", "1",
                      "--num_spatial_crops", "1", "--max_bad_video_fraction", "1"),
    )  # fmt: skip
    results = json.loads((output / "all_results.json").read_text())
    assert results["completed_steps"] == 8  # 16 videos, 1 per process and step: every requested step is done
    per_process = results["skipped_videos_per_process"]
    assert sum(per_process.values()) == results["skipped_videos"] >= 4 and set(per_process) == {"0", "1"}
    # every process's skipped videos by name (the main process's alone were listed)
    names = sorted(Path(name).name for name in results["skipped_video_names"])
    assert names == [f"zz_broken_{index}.mp4" for index in range(4)]
    table = (output / "eval_per_class_accuracy.csv").read_text().splitlines()[1:]
    assert sum(int(row.split(",")[1]) for row in table) == 4  # the 4 decodable validation videos, each once


def test_two_processes_fine_tune_on_streamed_shards_each_reading_its_own_part(tiny_pretrained, motion_videos, tmp_path):
    """Streamed fine-tuning went through Accelerate's dispatch of one stream, which crashed on 2 processes (a batch
    holds names and counts, not only tensors). Now each process reads its own part of the training and validation
    streams; the validation parts are uneven (3 and 2 videos, one broken), and evaluation gathers every video once."""
    from modeling_mae_st.shards import write_video_shards

    data = tmp_path / "data"
    shutil.copytree(motion_videos / "train", data / "train")
    shutil.copytree(motion_videos / "validation", data / "validation")
    (data / "train" / "left" / "zz_broken.mp4").write_text("not a video\n")
    (data / "validation" / "up" / "zz_broken.mp4").write_text("not a video\n")
    write_video_shards(data, tmp_path / "shards", num_shards=1)
    output = tmp_path / "streamed"
    launch_two_cpu_processes(script.__file__, [
        "--model_name_or_path", str(tiny_pretrained), "--dataset_name", str(tmp_path / "shards"), "--streaming",
        "--max_train_steps", "4", "--output_dir", str(output), "--per_device_train_batch_size", "2",
        "--per_device_eval_batch_size", "2", "--num_temporal_views", "1", "--num_spatial_crops", "1",
        "--dataloader_num_workers", "1", "--max_bad_video_fraction", "1", "--logging_steps", "1",
    ])  # fmt: skip
    results = json.loads((output / "all_results.json").read_text())
    assert results["completed_steps"] == 4
    # 4 steps of 2 videos on each process pass over each part of the 13 training videos (7 and 6): the broken one
    # is met, skipped and counted
    assert results["skipped_videos"] >= 1 and set(results["skipped_videos_per_process"]) == {"0", "1"}
    table = (output / "eval_per_class_accuracy.csv").read_text().splitlines()[1:]
    assert sum(int(row.split(",")[1]) for row in table) == 4  # the 4 decodable validation videos, each once
    assert json.loads((output / "config.json").read_text())["id2label"]["3"] == "up"


def test_streamed_fine_tuning_resumes_exactly(tiny_pretrained, motion_videos, tmp_path):
    """A resumed streamed fine-tuning ended on other weights than the uninterrupted run's. The stream's position is
    saved with the training state, and the stream's DataLoader no longer draws from the RNG dropout and mixup use."""
    from modeling_mae_st.shards import write_video_shards

    write_video_shards(motion_videos, tmp_path / "shards", max_videos_per_shard=5)
    common = ["--model_name_or_path", str(tiny_pretrained), "--dataset_name", str(tmp_path / "shards"), "--streaming",
              "--max_train_steps", "4", "--per_device_train_batch_size", "2", "--checkpointing_steps", "2",
              "--eval_strategy", "no", "--num_temporal_views", "1", "--num_spatial_crops", "1",
              "--dataloader_num_workers", "1", "--shuffle_buffer_size", "4", "--logging_steps", "1"]  # fmt: skip
    script.run([*common, "--output_dir", str(tmp_path / "full")])
    script.run([*common, "--output_dir", str(tmp_path / "resumed"), "--resume_from_checkpoint",
                str(tmp_path / "full" / "checkpoint-2")])  # fmt: skip
    weights = [load_file(tmp_path / run / "model.safetensors") for run in ("full", "resumed")]
    assert all(torch.equal(weights[0][name], weights[1][name]) for name in weights[0])
    losses = [
        [record["loss"] for record in json.loads((tmp_path / run / "all_results.json").read_text())["history"]
         if "loss" in record and record["step"] > 2]
        for run in ("full", "resumed")
    ]  # fmt: skip
    assert losses[0] == losses[1] and len(losses[0]) == 2
