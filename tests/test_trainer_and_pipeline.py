"""`transformers.Trainer` fine-tuning and `pipeline("video-classification")` on the fine-tuned folder."""

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import TrainingArguments, pipeline

from mae_st_training import run_video_classification_trainer as trainer_script
from modeling_mae_st.data import VideoClipTransform
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


def test_collator_flattens_repeated_clips_and_the_trainer_mixes_into_soft_labels(motion_videos, tmp_path):
    processor = MAESTVideoProcessor(mode="train", num_frames=4, crop_size=32, short_side_size=36,
                                    train_jitter_scales=(36, 46), repeat_aug=2)  # fmt: skip
    transform = VideoClipTransform(processor)
    videos = sorted((motion_videos / "train").glob("*/*.mp4"))[:3]
    rows = transform({"video": [str(v) for v in videos], "label": [0, 1, 2]})
    examples = [dict(zip(rows, values, strict=True)) for values in zip(*rows.values(), strict=True)]
    batch = trainer_script.collate_for_trainer(examples)
    assert set(batch) == {"pixel_values", "labels"}
    assert batch["pixel_values"].shape == (6, 4, 3, 32, 32)  # 3 videos x repeat_aug 2
    assert batch["labels"].tolist() == [0, 0, 1, 1, 2, 2]

    seen = {}

    class Recorder(torch.nn.Module):
        def forward(self, pixel_values, labels):
            seen["labels"] = labels
            return {"loss": pixel_values.sum() * 0}

    args = TrainingArguments(output_dir=str(tmp_path), report_to="none", use_cpu=True)
    trainer = trainer_script.VideoClassificationTrainer(model=Recorder(), args=args, mixup=VideoMixup(num_labels=4))
    trainer.compute_loss(Recorder().train(), batch)
    assert seen["labels"].shape == (6, 4) and torch.allclose(seen["labels"].sum(-1), torch.ones(6))
    trainer.compute_loss(Recorder().eval(), batch)
    assert seen["labels"].tolist() == [0, 0, 1, 1, 2, 2]


def test_trainer_trains_evaluates_with_compute_metrics_and_checkpoints(trainer_run):
    output, results = trainer_run
    assert {"eval_top1", "eval_top5", "train_loss"} <= set(results)
    assert sorted(p.name for p in output.glob("checkpoint-*")) == ["checkpoint-3", "checkpoint-6"]
    config = json.loads((output / "config.json").read_text())
    assert config["id2label"] == {"0": "down", "1": "left", "2": "right", "3": "up"}
    assert (output / "video_preprocessor_config.json").is_file()


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


def test_schedule_spans_the_trainers_own_step_count_with_accumulation_over_an_uneven_pass(
    tiny_pretrained, motion_videos, tmp_path
):
    # 12 videos at 4 per batch: 3 batches a pass, which the Trainer takes as ceil(3 / 2) = 2 optimizer steps; 2 passes
    # are 4 steps, and the warmup of half a pass is 1 step. Each step logs the lr it used (of the first parameter
    # group, layer-decayed: compared as a fraction of the peak, which step 1 reaches).
    trainer_script.run(
        trainer_args(tiny_pretrained, motion_videos, tmp_path, "--gradient_accumulation_steps", "2",
                     "--warmup_epochs", "0.5", "--logging_steps", "1", "--eval_strategy", "no", "--save_strategy", "no")
    )  # fmt: skip
    state = json.loads((tmp_path / "trainer_state.json").read_text())
    logged = [entry["learning_rate"] for entry in state["log_history"] if "learning_rate" in entry]
    peak = 2.4e-3 * (4 * 2 * 2) / 256  # base lr x (videos x accumulation x repeat_aug) / 256
    factors = [warmup_cosine_factor(step, 1, 4, 1e-6 / peak) for step in range(4)]
    assert state["max_steps"] == 4 and [lr / logged[1] for lr in logged] == pytest.approx(factors)


def test_pipeline_classifies_a_video_file_with_our_processor(trainer_run, demo_video):
    output, _ = trainer_run
    classifier = pipeline("video-classification", model=str(output))
    assert isinstance(classifier.video_processor, MAESTVideoProcessor)
    predictions = classifier(str(demo_video), top_k=4)
    assert [p["label"] for p in predictions] and {p["label"] for p in predictions} == {"down", "left", "right", "up"}
    assert sum(p["score"] for p in predictions) == pytest.approx(1.0, abs=1e-4)
