"""`transformers.Trainer` fine-tuning and `pipeline("video-classification")` on the fine-tuned folder."""

import json
import random
import shutil
import warnings
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import (
    AutoConfig,
    AutoModelForVideoClassification,
    AutoVideoProcessor,
    TrainingArguments,
    pipeline,
)

from conftest import launch_two_cpu_processes
from mae_st_training import arguments
from mae_st_training import run_video_classification_trainer as trainer_script
from modeling_mae_st.command_line import UsageError
from modeling_mae_st.data import TooManyBadVideosError, VideoClipTransform
from modeling_mae_st.flops import count_training_flops
from modeling_mae_st.mixup import VideoMixup
from modeling_mae_st.optimization import warmup_cosine_factor
from modeling_mae_st.video_processing_mae_st import MAESTVideoProcessor


def trainer_args(pretrained: Path, data: Path, output: Path, *extra: str) -> list[str]:
    return [
        "--model_name_or_path", str(pretrained), "--train_dir", str(data / "train"),
        "--validation_dir", str(data / "validation"), "--output_dir", str(output),
        "--per_device_train_batch_size", "4", "--per_device_eval_batch_size", "4", "--num_train_epochs", "2",
        "--eval_strategy", "epoch", "--save_strategy", "epoch", "--report_to", "none",
        "--dataloader_num_workers", "0", "--use_cpu", "--seed", "0", *extra,
    ]  # fmt: skip


@pytest.fixture(scope="module")
def trainer_run(tiny_pretrained, motion_videos, tmp_path_factory):
    output = tmp_path_factory.mktemp("trainer_run")
    results = trainer_script.run(trainer_args(tiny_pretrained, motion_videos, output))
    return output, results


def test_the_trainer_folder_is_complete_for_the_next_tool(trainer_run):
    # save_model alone wrote model.safetensors readable by its owner only (0600) and no remote code
    output, _ = trainer_run
    assert (output / "model.safetensors").stat().st_mode & 0o044 == 0o044
    processor = json.loads((output / "video_preprocessor_config.json").read_text())
    config = json.loads((output / "config.json").read_text())
    assert (processor["num_frames"], processor["crop_size"]) == (config["num_frames"], config["image_size"])
    assert (output / "modeling_mae_st.py").is_file()


def broken_video(path: Path) -> Path:
    """A text file named like a video: every decoder refuses it."""
    path.write_text("not a video\n")
    return path


def collate(processor: MAESTVideoProcessor, videos: list[Path], labels: list[int]) -> dict:
    rows = VideoClipTransform(processor)({"video": [str(v) for v in videos], "label": labels})
    examples = [dict(zip(rows, values, strict=True)) for values in zip(*rows.values(), strict=True)]
    return trainer_script.collate_for_trainer(examples, clip_shape=(4, 3, 32, 32))


def test_collator_keeps_a_row_per_clip_and_the_trainer_trains_on_the_decoded_ones_mixed(motion_videos, tmp_path):
    processor = MAESTVideoProcessor(mode="train", num_frames=4, crop_size=32, short_side_size=36,
                                    train_jitter_scales=(36, 46), repeat_aug=2)  # fmt: skip
    videos = sorted((motion_videos / "train").glob("*/*.mp4"))[:3]
    batch = collate(processor, [videos[0], broken_video(tmp_path / "broken.mp4"), *videos[1:]], [0, 3, 1, 2])
    assert batch["pixel_values"].shape == (8, 4, 3, 32, 32)  # 4 videos x repeat_aug 2, the broken one's rows zero
    assert batch["labels"].tolist() == [0, 0, -100, -100, 1, 1, 2, 2] and not batch["pixel_values"][2:4].any()
    assert (batch["decoded"], batch["num_skipped"]) == ([True, False, True, True], 1)
    assert batch["skipped_videos"] == [str(tmp_path / "broken.mp4")]

    seen = {}

    class Recorder(torch.nn.Module):
        def forward(self, pixel_values, labels):
            seen["pixel_values"], seen["labels"] = pixel_values, labels
            return {"loss": pixel_values.sum() * 0 + 1}

    args = TrainingArguments(output_dir=str(tmp_path), report_to="none", use_cpu=True)
    trainer = trainer_script.VideoClassificationTrainer(model=Recorder(), args=args, mixup=VideoMixup(num_labels=4))
    assert trainer.compute_loss(Recorder().train(), batch) == 1.0
    assert seen["labels"].shape == (6, 4) and torch.allclose(seen["labels"].sum(-1), torch.ones(6))
    assert trainer.bad_videos.num_skipped == 1
    trainer.compute_loss(Recorder().eval(), batch)  # evaluation: every row, class indices
    assert seen["labels"].tolist() == [0, 0, -100, -100, 1, 1, 2, 2]

    # no video decoded: one zero clip at weight 0
    nothing = collate(processor, [broken_video(tmp_path / "a.mp4"), broken_video(tmp_path / "b.mp4")], [0, 1])
    assert nothing["pixel_values"].shape == (2, 4, 3, 32, 32) and nothing["labels"].tolist() == [-100, -100]
    assert trainer.compute_loss(Recorder().train(), nothing) == 0.0
    assert seen["pixel_values"].shape == (1, 4, 3, 32, 32) and trainer.bad_videos.num_skipped == 3


def test_the_trainer_gets_uint8_clips_and_finishes_them_with_their_random_erasing(motion_videos, tmp_path):
    """The fine-tuning recipe's clips reach the Trainer uint8 with their erasing draws; the model sees the float
    clips that the processor would have erased itself, the broken video's rows left out."""
    processor = MAESTVideoProcessor(mode="train", num_frames=4, crop_size=32, short_side_size=36,
                                    train_jitter_scales=(36, 46), repeat_aug=2, do_rand_augment=True,
                                    do_random_erasing=True, random_erasing_prob=1.0)  # fmt: skip
    uint8_processor = processor.with_settings(return_uint8=True)
    videos = sorted((motion_videos / "train").glob("*/*.mp4"))[:2]
    rngs = [random.Random(seed) for seed in range(3)]
    examples = VideoClipTransform(uint8_processor)(
        {"video": [str(videos[0]), str(broken_video(tmp_path / "broken.mp4")), str(videos[1])], "label": [0, 1, 2]},
        rngs=rngs,
    )
    examples = [dict(zip(examples, values, strict=True)) for values in zip(*examples.values(), strict=True)]
    batch = trainer_script.collate_for_trainer(examples, clip_shape=(4, 3, 32, 32))
    assert batch["pixel_values"].dtype == torch.uint8 and len(batch["random_erasing"]) == 4
    expected = torch.cat([processor.process_video(str(video), rng=random.Random(seed))
                          for video, seed in ((videos[0], 0), (videos[1], 2))])  # fmt: skip
    seen = {}

    class Recorder(torch.nn.Module):
        def forward(self, pixel_values, labels):
            seen["pixel_values"] = pixel_values
            return {"loss": pixel_values.sum() * 0 + 1}

    args = TrainingArguments(output_dir=str(tmp_path), report_to="none", use_cpu=True)
    trainer = trainer_script.VideoClassificationTrainer(model=Recorder(), args=args, train_processor=uint8_processor)
    trainer.compute_loss(Recorder().train(), batch)
    torch.testing.assert_close(seen["pixel_values"], expected, rtol=0, atol=0)


def test_a_micro_batch_loss_is_its_mean_divided_by_the_accumulation_steps(motion_videos, tmp_path):
    # A model taking **kwargs (as MAESTForVideoClassification) made the Trainer take the loss as normalized by
    # num_items_in_batch: it was neither divided by the accumulation steps nor kept from x num_processes.
    class Constant(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.ones(()))

        def forward(self, pixel_values, labels, **kwargs):
            return {"loss": self.weight * 3.0}

    args = TrainingArguments(output_dir=str(tmp_path), report_to="none", use_cpu=True, gradient_accumulation_steps=2)
    trainer = trainer_script.VideoClassificationTrainer(model=Constant(), args=args)
    trainer.current_gradient_accumulation_steps = 2  # as the training loop sets it
    processor = MAESTVideoProcessor(mode="eval", num_frames=4, crop_size=32, short_side_size=32)
    batch = collate(processor, sorted((motion_videos / "train").glob("*/*.mp4"))[:2], [0, 1])
    loss = trainer.training_step(trainer.model, batch, num_items_in_batch=torch.tensor(2))
    assert loss.item() == trainer.model.weight.grad.item() == 1.5


def test_a_plain_trainer_gives_the_same_loss_and_step_whatever_the_gradient_accumulation(tmp_path):
    """The model's `forward(**kwargs)` made the Trainer take it for one that divides its loss by
    `num_items_in_batch`, so it stopped dividing by the accumulation steps: 2 steps gave twice the loss and the
    gradients (the model now says `accepts_loss_kwargs = False`)."""
    from transformers import Trainer

    from conftest import TINY
    from modeling_mae_st import MAESTConfig, MAESTForVideoClassification

    generator = torch.Generator().manual_seed(0)
    samples = [{"pixel_values": torch.randn(4, 3, 32, 32, generator=generator), "labels": i % 3} for i in range(8)]
    runs = {}
    for batch_size, accumulation in ((8, 1), (4, 2), (2, 4)):
        torch.manual_seed(0)
        model = MAESTForVideoClassification(MAESTConfig(**TINY, num_labels=3))
        args = TrainingArguments(output_dir=str(tmp_path / str(accumulation)), per_device_train_batch_size=batch_size,
                                 gradient_accumulation_steps=accumulation, max_steps=1, learning_rate=0.1,
                                 lr_scheduler_type="constant", max_grad_norm=0, report_to="none", use_cpu=True,
                                 save_strategy="no", seed=0)  # fmt: skip
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        result = Trainer(model=model, args=args, train_dataset=samples, optimizers=(optimizer, None)).train()
        runs[accumulation] = result.training_loss, model.classifier.weight.detach().clone()
    for accumulation in (2, 4):
        assert runs[accumulation][0] == pytest.approx(runs[1][0], rel=1e-5)
        torch.testing.assert_close(runs[accumulation][1], runs[1][1], rtol=1e-4, atol=1e-6)


def test_the_trainers_default_column_removal_is_named_in_the_error(motion_videos, tmp_path):
    """With `remove_unused_columns` left on, the Trainer dropped the `video` column and the transform failed with a
    bare KeyError: 'video'."""
    from transformers import Trainer

    from conftest import TINY
    from modeling_mae_st import MAESTConfig, MAESTForVideoClassification
    from modeling_mae_st.data import collate_video_clips, load_video_folder, with_video_transform

    processor = MAESTVideoProcessor(mode="train", num_frames=4, crop_size=32, short_side_size=36,
                                    train_jitter_scales=(36, 46))  # fmt: skip
    dataset = with_video_transform(load_video_folder(motion_videos)["train"], VideoClipTransform(processor))
    model = MAESTForVideoClassification(MAESTConfig(**TINY, num_labels=4))
    args = TrainingArguments(output_dir=str(tmp_path), max_steps=1, report_to="none", use_cpu=True)
    trainer = Trainer(model=model, args=args, train_dataset=dataset, data_collator=collate_video_clips)
    with pytest.raises(KeyError, match=r"set TrainingArguments\(remove_unused_columns=False\)"):
        trainer.train()


def test_trainer_trains_evaluates_with_compute_metrics_and_checkpoints(trainer_run):
    output, results = trainer_run
    assert {"eval_top1", "eval_top5", "train_loss"} <= set(results)
    assert sorted(p.name for p in output.glob("checkpoint-*")) == ["checkpoint-3", "checkpoint-6"]
    config = json.loads((output / "config.json").read_text())
    assert config["id2label"] == {"0": "down", "1": "left", "2": "right", "3": "up"}
    assert (output / "video_preprocessor_config.json").is_file()


def test_the_trainer_counts_its_flops_and_logs_the_speed_under_mae_st_finetunes_names(
    tiny_pretrained, motion_videos, tmp_path
):
    """`total_flos` was 6 x parameters x the pixels of `pixel_values` (each pixel taken for a token: thousands of
    times the step's FLOPs), and the training logs had no clips/s, TFLOP/s or data wait, which mae-st-finetune logs."""
    results = trainer_script.run(
        trainer_args(tiny_pretrained, motion_videos, tmp_path, "--num_train_epochs", "1", "--logging_steps", "1",
                     "--repeat_aug", "2", "--eval_strategy", "no")
    )  # fmt: skip
    clip_flops = count_training_flops(
        AutoConfig.from_pretrained(tmp_path), 0.0, num_frames=4, image_size=32, task="video-classification"
    )
    state = json.loads((tmp_path / "trainer_state.json").read_text())
    assert state["global_step"] == 3  # 12 videos, 4 a step, 2 clips each: 24 clips a step
    assert results["total_flos"] == state["total_flos"] == 3 * 4 * 2 * clip_flops
    logs = [record for record in state["log_history"] if "loss" in record]
    assert [record["step"] for record in logs] == [1, 2, 3]
    for record in logs:
        assert record["clips_per_second"] > 0 and 0 <= record["data_wait_fraction"] < 1
        assert record["tflops"] == pytest.approx(record["clips_per_second"] * clip_flops / 1e12, rel=1e-9)


def test_trainer_resumes_from_a_checkpoint(trainer_run, tiny_pretrained, motion_videos, tmp_path):
    output, _ = trainer_run
    resumed = trainer_script.run(
        trainer_args(
            tiny_pretrained, motion_videos, tmp_path, "--resume_from_checkpoint", str(output / "checkpoint-3")
        )
    )
    state = json.loads((tmp_path / "trainer_state.json").read_text())
    assert state["global_step"] == 6 and "eval_top1" in resumed
    full, again = load_file(output / "model.safetensors"), load_file(tmp_path / "model.safetensors")
    assert all(torch.equal(full[name], again[name]) for name in full)


def test_trainer_runs_repeat_and_resume_mid_pass_to_the_same_weights(tiny_pretrained, motion_videos, tmp_path):
    """Two runs of one command differed (the new head was drawn before the Trainer seeded), and a run resumed
    mid-pass differed from the uninterrupted one from the first step after the checkpoint (the clips came from
    torch's global generator). 12 videos at 4 a step: 3 steps a pass, checkpoints at steps 2 and 4."""
    common = ("--save_strategy", "steps", "--save_steps", "2", "--eval_strategy", "no")
    runs = {}
    # (one worker count for all: it sets the torch threads, whose sums differ in the last bits)
    for name, extra in (("full", ()), ("again", ()), ("resumed", ("--resume_from_checkpoint", str(tmp_path / "full" /
                        "checkpoint-2")))):  # fmt: skip
        trainer_script.run(trainer_args(tiny_pretrained, motion_videos, tmp_path / name, *common, *extra))
        runs[name] = load_file(tmp_path / name / "model.safetensors")
    for name in ("again", "resumed"):
        assert all(torch.equal(runs["full"][key], runs[name][key]) for key in runs["full"]), name


def test_resuming_with_a_model_the_checkpoint_does_not_fit_is_one_line(trainer_run, motion_videos, tmp_path):
    """A checkpoint of another model size failed in torch's load_state_dict with a traceback."""
    from conftest import TINY
    from modeling_mae_st import MAESTConfig, MAESTForPreTraining

    output, _ = trainer_run
    wider = tmp_path / "wider"
    MAESTForPreTraining(MAESTConfig(**{**TINY, "hidden_size": 48})).save_pretrained(wider)
    argv = trainer_args(wider, motion_videos, tmp_path / "out",
                        "--resume_from_checkpoint", str(output / "checkpoint-3"))  # fmt: skip
    with pytest.raises(UsageError, match=r"checkpoint-3: its weights do not fit the model of --model_name_or_path "
                                         r"\(mae_st.embeddings.cls_token is \[1, 1, 32\] there, \[1, 1, 48\] here\)"):
        trainer_script.run(argv)  # fmt: skip


def test_schedule_spans_the_trainers_own_step_count_with_accumulation_over_an_uneven_pass(
    tiny_pretrained, motion_videos, tmp_path
):
    # 12 videos at 4 per batch: 3 batches a pass, which the Trainer takes as ceil(3 / 2) = 2 optimizer steps; 2 passes
    # are 4 steps, and the warmup of half a pass is 1 step. Each step logs the lr it used, the schedule's full lr
    # (the head's, as mae-st-finetune logs it; it was the first group's, which layer decay scales down).
    trainer_script.run(
        trainer_args(tiny_pretrained, motion_videos, tmp_path, "--gradient_accumulation_steps", "2",
                     "--warmup_epochs", "0.5", "--logging_steps", "1", "--eval_strategy", "no", "--save_strategy", "no")
    )  # fmt: skip
    state = json.loads((tmp_path / "trainer_state.json").read_text())
    logged = [entry["learning_rate"] for entry in state["log_history"] if "learning_rate" in entry]
    peak = 2.4e-3 * (4 * 2 * 2) / 256  # base lr x (videos x accumulation x repeat_aug) / 256
    factors = [warmup_cosine_factor(step, 1, 4, 1e-6 / peak) for step in range(4)]
    assert state["max_steps"] == 4 and [lr / peak for lr in logged] == pytest.approx(factors, rel=1e-3)


def test_pipeline_classifies_a_video_file_with_our_processor(trainer_run, demo_video):
    output, _ = trainer_run
    classifier = pipeline("video-classification", model=str(output))
    assert isinstance(classifier.video_processor, MAESTVideoProcessor)
    predictions = classifier(str(demo_video), top_k=4)
    assert [p["label"] for p in predictions] and {p["label"] for p in predictions} == {"down", "left", "right", "up"}
    assert sum(p["score"] for p in predictions) == pytest.approx(1.0, abs=1e-4)


def test_a_batch_whose_videos_all_fail_runs_at_weight_zero_every_step_is_done_and_skips_are_counted(
    tiny_pretrained, motion_videos, tmp_path
):
    # In order, the first and the last batch are broken files only (4 each): the collator raised there, ending the
    # run at step 0.
    data = tmp_path / "data"
    shutil.copytree(motion_videos / "train", data / "train")
    for name in ("down/0_broken_0", "down/0_broken_1", "down/0_broken_2", "down/0_broken_3", "up/zz_broken_0",
                 "up/zz_broken_1", "up/zz_broken_2", "up/zz_broken_3"):  # fmt: skip
        broken_video(data / "train" / f"{name}.mp4")
    output = tmp_path / "run"
    args = trainer_args(tiny_pretrained, data, output, "--num_train_epochs", "1", "--logging_steps", "1",
                        "--train_sampling_strategy", "sequential", "--save_strategy", "steps", "--save_steps", "2",
                        "--eval_strategy", "no", "--max_bad_video_fraction", "0.5")  # fmt: skip
    args[args.index("--validation_dir") : args.index("--validation_dir") + 2] = []
    results = trainer_script.run(args)
    state = json.loads((output / "trainer_state.json").read_text())
    assert state["global_step"] == state["max_steps"] == 5  # 20 videos, 4 per batch
    logs = [entry for entry in state["log_history"] if "loss" in entry]
    assert logs[0]["loss"] == logs[-1]["loss"] == 0.0 and all(entry["loss"] > 0 for entry in logs[1:-1])
    assert [entry["skipped_videos"] for entry in logs] == [4, 4, 4, 4, 8]
    assert results["skipped_videos"] == 8 and results["skipped_videos_per_process/0"] == 8
    model = AutoModelForVideoClassification.from_pretrained(output)
    assert all(torch.isfinite(parameter).all() for parameter in model.parameters())

    # a resume from step 2 counts the 4 videos skipped before it too
    resumed = trainer_script.run([*args, "--resume_from_checkpoint", str(output / "checkpoint-2")])
    assert resumed["skipped_videos"] == 8

    with pytest.raises(TooManyBadVideosError, match="more than --max_bad_video_fraction 0.0 allows"):
        trainer_script.run([*args, "--max_bad_video_fraction", "0"])

    # logged once for the 5 steps, the loss is the mean of the 3 that trained: the Trainer's mean counted the 2
    # skipped ones as 0 (0.83 where every step was near 1.39)
    window = list(args)
    window[window.index(str(output))], window[window.index("--logging_steps") + 1] = str(tmp_path / "window"), "5"
    trainer_script.run(window)
    (logged,) = [entry for entry in json.loads((tmp_path / "window" / "trainer_state.json").read_text())["log_history"]
                 if "loss" in entry]  # fmt: skip
    assert logged["loss"] == pytest.approx(sum(entry["loss"] for entry in logs[1:-1]) / 3, rel=1e-3)


def test_two_processes_stay_in_step_when_one_has_no_decodable_video_and_evaluate_the_decoded_videos(
    tiny_pretrained, motion_videos, tmp_path
):
    # In order at 2 videos per process and step, process 0's first batch and process 1's last are all broken; the
    # validation split has 2 broken videos among 6, so batches of the two processes decode different numbers of videos.
    data = tmp_path / "data"
    shutil.copytree(motion_videos, data, ignore=shutil.ignore_patterns("*.csv", "*.jsonl"))
    for name in ("train/down/0_broken_0", "train/down/0_broken_1", "train/up/zz_broken_0", "train/up/zz_broken_1",
                 "validation/down/0_broken", "validation/up/zz_broken"):  # fmt: skip
        broken_video(data / f"{name}.mp4")
    output = tmp_path / "ddp"
    launch_two_cpu_processes(
        trainer_script.__file__,
        trainer_args(tiny_pretrained, data, output, "--per_device_train_batch_size", "2",
                     "--per_device_eval_batch_size", "2", "--num_train_epochs", "1", "--train_sampling_strategy",
                     "sequential", "--save_strategy", "steps", "--save_steps", "2", "--eval_strategy", "no",
                     "--max_bad_video_fraction", "0.5"),
    )  # fmt: skip
    results = json.loads((output / "all_results.json").read_text())
    assert json.loads((output / "trainer_state.json").read_text())["global_step"] == 4  # 16 videos, 2 x 2 a step
    assert results["skipped_videos"] == 4
    assert (results["skipped_videos_per_process/0"], results["skipped_videos_per_process/1"]) == (2, 2)
    at_step_2 = json.loads((output / "checkpoint-2" / trainer_script.SKIPPED_VIDEOS_FILE).read_text())
    assert at_step_2 == {"videos_per_process": [4, 4], "skipped_videos_per_process": [2, 0]}
    assert (results["eval_num_videos"], results["eval_skipped_videos"]) == (4, 2)

    # the accuracy is the saved model's over exactly the 4 decodable validation videos
    model = AutoModelForVideoClassification.from_pretrained(output).eval()
    processor = AutoVideoProcessor.from_pretrained(output)
    videos = sorted((motion_videos / "validation").glob("*/*.mp4"))
    with torch.no_grad():
        pixel_values = processor(videos=[str(v) for v in videos], return_tensors="pt")["pixel_values"]
        logits = model(pixel_values=pixel_values).logits
    labels = torch.tensor([model.config.label2id[video.parent.name] for video in videos])
    assert results["eval_top1"] == pytest.approx(100.0 * (logits.argmax(-1) == labels).float().mean().item())


def test_the_trainer_command_offline_with_push_to_hub_is_one_line(tiny_pretrained, motion_videos, tmp_path, capsys):
    """The Trainer creates its Hub repository when it starts; offline (as every test runs) that fails at once."""
    argv = trainer_args(tiny_pretrained, motion_videos, tmp_path / "out", "--push_to_hub")
    with pytest.raises(SystemExit) as exit_info:
        arguments.finetune_trainer_command(argv)
    stderr = capsys.readouterr().err
    assert exit_info.value.code == 2 and "Traceback" not in stderr, stderr
    assert stderr.splitlines()[-1].startswith(
        "mae-st-finetune-trainer: error: --push_to_hub: the Trainer could not create its Hub repository (Cannot reach"
    )


def test_the_trainer_pushes_the_complete_folder_with_its_card_and_no_token(
    tiny_pretrained, motion_videos, tmp_path, monkeypatch
):
    """With --push_to_hub the Trainer uploaded the final model before the script wrote its remote code, with the
    Trainer's draft card ("More information needed") and before the final evaluation; its training_args.bin, in
    every checkpoint and in the upload, held the --hub_token. Only the Hub's calls are replaced."""
    from huggingface_hub import HfApi, RepoUrl, get_token

    monkeypatch.setenv("HF_TOKEN", "hf_stored_login")  # restored after the test; the script sets it
    uploads = []

    class Done:  # what the Trainer reads of an upload: its (finished) future and commit
        oid, commit_url, pr_url = "0" * 40, "https://huggingface.co/me/clf/commit/0", None

        def done(self):
            return True

    def upload_folder(self, *, folder_path, ignore_patterns=(), **kwargs):
        files = [path.relative_to(folder_path).as_posix() for path in Path(folder_path).rglob("*") if path.is_file()]
        card = Path(folder_path) / "README.md"
        uploads.append({"files": {name for name in files if not name.startswith(("_", "checkpoint-"))},
                        "token": kwargs.get("token") or get_token(),
                        "card": card.read_text() if card.is_file() else ""})  # fmt: skip
        return Done()

    monkeypatch.setattr(HfApi, "create_repo", lambda self, repo_id, **kwargs: RepoUrl(f"https://hf.co/{repo_id}"))
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    output = tmp_path / "out"
    argv = trainer_args(tiny_pretrained, motion_videos, output, "--push_to_hub", "--hub_model_id", "me/clf",
                        "--hub_token", "hf_secret_of_the_user", "--logging_steps", "1")  # fmt: skip
    results = trainer_script.run(argv)

    final = uploads[-1]
    assert {"modeling_mae_st.py", "video_preprocessor_config.json", "eval_results.json", "README.md"} <= final["files"]
    assert all(upload["token"] == "hf_secret_of_the_user" for upload in uploads)
    assert "More information needed" not in final["card"] and "AutoModelForVideoClassification" in final["card"]
    assert f"top-1 {results['eval_top1']:.2f}%" in final["card"] and "| step | loss |" in final["card"]
    assert str(tmp_path) not in final["card"] and "`layer_decay` | 0.75 |" in final["card"]
    assert not [path for path in output.rglob("*") if path.is_file() and b"hf_secret" in path.read_bytes()]
    assert (output / "checkpoint-3" / "modeling_mae_st.py").is_file()  # every saved folder loads with remote code


def test_a_failed_final_upload_of_the_trainer_is_one_line_and_leaves_the_folder_complete(
    tiny_pretrained, motion_videos, tmp_path, monkeypatch, capsys
):
    from huggingface_hub import HfApi, RepoUrl
    from huggingface_hub.errors import HfHubHTTPError

    def upload_folder(self, **kwargs):  # the connection dropped: the HTTP client's own error, not an OSError
        raise HfHubHTTPError.__bases__[0]("Connection reset by peer")

    monkeypatch.setattr(HfApi, "create_repo", lambda self, repo_id, **kwargs: RepoUrl(f"https://hf.co/{repo_id}"))
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    output = tmp_path / "out"
    argv = trainer_args(tiny_pretrained, motion_videos, output, "--push_to_hub", "--hub_model_id", "me/clf",
                        "--save_strategy", "no", "--num_train_epochs", "1")  # fmt: skip
    with pytest.raises(SystemExit) as exit_info:
        arguments.finetune_trainer_command(argv)
    stderr = capsys.readouterr().err
    assert exit_info.value.code == 2 and "Traceback" not in stderr, stderr
    assert stderr.splitlines()[-1].startswith(
        f"mae-st-finetune-trainer: error: --push_to_hub: uploading {output} to me/clf failed (Connection reset by "
        "peer)."
    )
    assert {"model.safetensors", "modeling_mae_st.py", "README.md", "eval_results.json"} <= {
        path.name for path in output.iterdir()
    }


@pytest.mark.parametrize("source", ["shards", "index file"])
def test_the_trainer_streams_shards_and_index_files(source, tiny_pretrained, motion_videos, tmp_path):
    """A stream crashed the Trainer script (`IterableDataset` has no `with_transform`), and a streamed index of class
    names stopped on labels it could not name."""
    from modeling_mae_st.shards import write_video_shards

    if source == "shards":
        write_video_shards(motion_videos, tmp_path / "shards", max_videos_per_shard=5)
        data = ["--dataset_name", str(tmp_path / "shards"), "--eval_strategy", "steps", "--eval_steps", "2"]
    else:
        data = ["--train_file", str(motion_videos / "train.jsonl"),
                "--validation_file", str(motion_videos / "val.jsonl")]  # fmt: skip
    output = tmp_path / "run"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = trainer_script.run(
            ["--model_name_or_path", str(tiny_pretrained), *data, "--streaming", "--max_steps", "3",
             "--output_dir", str(output), "--per_device_train_batch_size", "2", "--per_device_eval_batch_size", "2",
             "--report_to", "none", "--dataloader_num_workers", "1", "--seed", "0", "--logging_steps", "1"]
        )  # fmt: skip
    # without --use_cpu the Trainer page-locked batches on a machine without a GPU, and torch warned for each loader
    assert not [warning for warning in caught if "pin_memory" in str(warning.message)]
    state = json.loads((output / "trainer_state.json").read_text())
    assert state["global_step"] == 3
    # warmup: 5 of the 50 epochs, so 10% of the 3 steps (none), then the cosine; a stream's warmup was the whole run
    learning_rates = [record["learning_rate"] for record in state["log_history"] if "learning_rate" in record]
    assert len(learning_rates) == 3 and learning_rates[0] > learning_rates[1] > learning_rates[2]
    assert json.loads((output / "config.json").read_text())["id2label"] == {
        "0": "down", "1": "left", "2": "right", "3": "up"
    }  # fmt: skip
    assert results["eval_num_videos"] == 4 and results["eval_skipped_videos"] == 0


def test_the_trainer_commands_defaults_are_mae_st_finetunes(tmp_path):
    """The Trainer's own defaults (8 videos per step, which scaled the lr 4x, logging every 500 steps, no
    evaluation, ./trainer_output) stood where the README promised mae-st-finetune's."""
    required = ["--model_name_or_path", "x", "--train_dir", str(tmp_path)]
    _, _, trainer = arguments.parse_trainer_arguments(required)
    _, _, accelerate = arguments.parse_finetuning_arguments(required)
    for name in ("output_dir", "per_device_train_batch_size", "per_device_eval_batch_size", "logging_steps",
                 "eval_strategy", "num_train_epochs", "weight_decay", "max_grad_norm", "seed", "warmup_epochs"):
        assert getattr(trainer, name) == getattr(accelerate, name), name
    assert trainer.ddp_find_unused_parameters is False  # every parameter is used: no extra pass a step under DDP
    switch = ["--hub_private_repo"]  # a switch in both (the Trainer's wanted a value)
    assert arguments.parse_trainer_arguments([*required, *switch])[2].hub_private_repo is True
    assert arguments.parse_finetuning_arguments([*required, *switch])[2].hub_private_repo is True


def test_the_trainer_drops_a_passs_last_partial_batch_and_refuses_fewer_videos_than_a_batch(
    tiny_pretrained, motion_videos, tmp_path, capsys
):
    # 12 training videos at 5 per step: mae-st-finetune makes 2 steps a pass (the official drop_last); so does this
    argv = trainer_args(tiny_pretrained, motion_videos, tmp_path / "out", "--per_device_train_batch_size", "5",
                        "--num_train_epochs", "1", "--eval_strategy", "no", "--save_strategy", "no")  # fmt: skip
    trainer_script.run(argv)
    state = json.loads((tmp_path / "out" / "trainer_state.json").read_text())
    assert state["global_step"] == 2
    last = capsys.readouterr().out.splitlines()[-1]  # where the model is, as the other commands say
    assert last == f"Model, video processor and card saved to {(tmp_path / 'out').resolve()}"
    argv[argv.index("5")] = "13"
    with pytest.raises(UsageError, match="The training split has 12 videos, fewer than one batch of 13"):
        trainer_script.run(argv)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--streaming"], "--streaming needs --max_steps: the length of a streamed pass is unknown"),
        (["--eval_strategy", "steps", "--eval_steps", "2"], "--eval_strategy steps: there is no validation data"),
    ],
)
def test_the_trainer_commands_stream_and_evaluation_mistakes_are_one_line(
    extra, message, tiny_pretrained, motion_videos, tmp_path, capsys
):
    argv = ["--model_name_or_path", str(tiny_pretrained), "--train_file", str(motion_videos / "train.jsonl"),
            "--output_dir", str(tmp_path / "out"), "--report_to", "none", "--use_cpu", *extra]  # fmt: skip
    with pytest.raises(SystemExit) as exit_info:
        arguments.finetune_trainer_command(argv)
    stderr = capsys.readouterr().err
    assert exit_info.value.code == 2 and "Traceback" not in stderr, stderr
    assert stderr.splitlines()[-1].startswith(f"mae-st-finetune-trainer: error: {message}"), stderr


def test_two_processes_stream_shards_through_the_trainer_each_reading_its_own_part(
    tiny_pretrained, motion_videos, tmp_path
):
    """On 2 processes a streamed Trainer run crashed in Accelerate's dispatch (a batch holds names and counts). Each
    process now reads its own part of the training stream; the validation stream is dispatched as clips and labels."""
    from modeling_mae_st.shards import write_video_shards

    data = tmp_path / "data"
    shutil.copytree(motion_videos, data, ignore=shutil.ignore_patterns("*.csv", "*.jsonl"))
    broken_video(data / "train" / "down" / "zz_broken.mp4")
    broken_video(data / "validation" / "up" / "zz_broken.mp4")
    write_video_shards(data, tmp_path / "shards", num_shards=2)
    output = tmp_path / "streamed"
    launch_two_cpu_processes(trainer_script.__file__, [
        "--model_name_or_path", str(tiny_pretrained), "--dataset_name", str(tmp_path / "shards"), "--streaming",
        "--max_steps", "4", "--output_dir", str(output), "--per_device_train_batch_size", "2",
        "--per_device_eval_batch_size", "2", "--eval_strategy", "steps", "--eval_steps", "4", "--save_steps", "2",
        "--report_to", "none", "--dataloader_num_workers", "1", "--use_cpu", "--max_bad_video_fraction", "1",
    ])  # fmt: skip
    results = json.loads((output / "all_results.json").read_text())
    assert json.loads((output / "trainer_state.json").read_text())["global_step"] == 4
    # 13 training videos in 2 shards, one per process (7 and 6): 4 steps of 2 videos pass over both parts
    assert results["skipped_videos"] == 1
    positions = json.loads((output / "checkpoint-2" / trainer_script.STREAM_POSITION_FILE).read_text())["positions"]
    assert positions == [[0, 4], [0, 4]]  # each process read 4 videos of its own part by step 2
    assert (results["eval_num_videos"], results["eval_skipped_videos"]) == (4, 1)


def test_a_streamed_trainer_run_resumes_exactly(tiny_pretrained, motion_videos, tmp_path):
    from modeling_mae_st.shards import write_video_shards

    write_video_shards(motion_videos, tmp_path / "shards", max_videos_per_shard=5)
    common = ["--model_name_or_path", str(tiny_pretrained), "--dataset_name", str(tmp_path / "shards"), "--streaming",
              "--max_steps", "4", "--per_device_train_batch_size", "2", "--save_steps", "2", "--eval_strategy", "no",
              "--report_to", "none", "--dataloader_num_workers", "1", "--use_cpu",
              "--shuffle_buffer_size", "4"]  # fmt: skip
    trainer_script.run([*common, "--output_dir", str(tmp_path / "full")])
    trainer_script.run([*common, "--output_dir", str(tmp_path / "resumed"), "--resume_from_checkpoint",
                        str(tmp_path / "full" / "checkpoint-2")])  # fmt: skip
    weights = [load_file(tmp_path / run / "model.safetensors") for run in ("full", "resumed")]
    assert all(torch.equal(weights[0][name], weights[1][name]) for name in weights[0])
