"""
The command lines of the three training commands, in one vocabulary: `mae-st-pretrain` (run_pretraining.py),
`mae-st-finetune` (run_video_classification.py, Accelerate) and `mae-st-finetune-trainer`
(run_video_classification_trainer.py, `transformers.Trainer`).

A concept has one flag, with one unit, in every command, named as in transformers' `TrainingArguments` and its
examples where they have a name for it (`--dataloader_num_workers`, `--video_column_name`, `--report_to`,
`--eval_strategy`, `--torch_compile`, ...). In particular:

- `--num_train_epochs` and `--warmup_epochs` count passes over the videos, as `TrainingArguments` does; each pass
  gives `--repeat_aug` clips per video, so the paper's "400 effective epochs" of pretraining (the official
  `--epochs 100 --repeat_aug 4`) are `--num_train_epochs 100` here.
- `--learning_rate` left unset means `--base_learning_rate` x effective batch / 256 (the official rule); a value
  replaces it.
- `--report_to none` (the default) writes the log files only.

This module imports the standard library and `HfArgumentParser` only, and each command parses its arguments before
importing its script: `--help` and a mistyped flag answer before torch is loaded.
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import importlib
import json
import math
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transformers import HfArgumentParser


def field_like(owner: type, name: str, **changes) -> dataclasses.Field:
    """A new field with the default and help of `owner`'s field `name` (a subclass or sibling changing only some
    of them), `changes` replacing `default` or `metadata`."""
    spec = owner.__dataclass_fields__[name]
    return field(default=changes.get("default", spec.default), metadata=changes.get("metadata", spec.metadata))


# ---------------------------------------------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class PretrainingModelArguments:
    """Which model to pretrain: a checkpoint to continue from, a config, or a preset (first given wins)."""

    model_name_or_path: str | None = field(
        default=None,
        metadata={"help": "Continue pretraining a checkpoint: a local folder or a Hub id (MAESTForPreTraining)."},
    )
    config_name: str | None = field(
        default=None, metadata={"help": "A config.json file or folder, or a Hub id, to train from scratch."}
    )
    preset: str = field(
        default="vit-l",
        metadata={"help": "Model size to train from scratch, a `MAESTConfig.from_preset` name: vit-b, vit-l, ..."},
    )
    config_overrides: str | None = field(
        default=None,
        metadata={
            "help": "Config values to change, as 'key=value,key=value' (e.g. 'mask_ratio=0.75,image_size=112'). "
            "The recipe's model values are the config defaults: mask_ratio 0.9, norm_pix_loss, pred_t_dim 8, "
            "decoder_hidden_size 512, decoder_num_hidden_layers 4, num_frames 16, image_size 224."
        },
    )


@dataclass
class FinetuningModelArguments:
    """The checkpoint to fine-tune and the classifier's regularization."""

    model_name_or_path: str = field(
        metadata={
            "help": "Folder written by our pretraining, a converted official or PySlowFast checkpoint folder, a "
            "fine-tuned folder, or a Hub id."
        }
    )
    drop_path_rate: float | None = field(
        default=None,
        metadata={"help": "Stochastic depth of the encoder; unset: the official value for the checkpoint's size "
                  "(ViT-B 0.1, ViT-L/H 0.2)."},
    )
    classifier_dropout: float | None = field(
        default=None,
        metadata={"help": "Dropout before the head; unset: the official value for the checkpoint's size "
                  "(ViT-B/L 0.3, ViT-H 0.5)."},
    )
    head_init_std: float = field(
        default=2e-5, metadata={"help": "Std of the trunc-normal init of a new head's weights (official)."}
    )
    ignore_mismatched_sizes: bool = field(
        default=True,
        metadata={"help": "Replace a fine-tuned head whose number of labels differs from the data's."},
    )


# ---------------------------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class VideoDataArguments:
    """Where the videos come from and how clips are cut from them (both pretraining and fine-tuning)."""

    dataset_name: str | None = field(
        default=None,
        metadata={
            "help": "A folder of videos (flat, or class/split subfolders), a folder with train.csv/val.csv or "
            ".jsonl index files, one index file, a folder saved with `save_to_disk`, .tar shards (a folder, a glob, "
            "hf://...; see mae-st-make-shards), or a Hub dataset id."
        },
    )
    dataset_config_name: str | None = field(default=None, metadata={"help": "Config name of a Hub dataset."})
    train_split_name: str = field(default="train", metadata={"help": "Training split of --dataset_name."})
    validation_split_name: str | None = field(
        default="validation", metadata={"help": "Validation split of --dataset_name, if it has one."}
    )
    video_column_name: str | None = field(
        default=None,
        metadata={"help": "Column with the video path or video cell; unset: 'video' (datasets), 'path' (files)."},
    )
    sampling_rate: int = field(
        default=4, metadata={"help": "Stride between clip frames at 30 fps (official; 16 frames span 2.1 s)."}
    )
    repeat_aug: int = field(
        default=4, metadata={"help": "Clips per decoded video, each with its own window and augmentation."}
    )
    max_bad_video_fraction: float = field(
        default=0.05,
        metadata={
            "help": "Stop when more than this fraction of the videos read cannot be decoded (judged from the first "
            "100 videos of each process on, or from its whole pass when that is shorter)."
        },
    )
    streaming: bool = field(
        default=False,
        metadata={
            "help": "Stream --dataset_name (a Hub dataset, an index file, .tar shards) instead of "
            "reading it whole: a stream has no length, so give --max_train_steps (the Trainer's --max_steps; "
            "pretraining: --warmup_steps too)."
        },
    )
    shuffle_buffer_size: int = field(
        default=1000, metadata={"help": "With --streaming: videos in each process's shuffle buffer (0: in order)."}
    )


@dataclass
class PretrainingDataArguments(VideoDataArguments):
    dataset_name: str | None = field(
        default=None,
        metadata={
            "help": VideoDataArguments.__dataclass_fields__["dataset_name"].metadata["help"]
            + " Without it the quick start runs (synthetic videos, tiny model)."
        },
    )
    num_visualization_clips: int = field(
        default=2,
        metadata={
            "help": "Held-out clips shown in the reconstruction pictures, on which the run also measures its error on "
            "hidden patches against the visible-average predictor's: the first videos of the validation split, or "
            "else the first videos of the training split, which are then left out of training."
        },
    )


@dataclass
class FinetuningDataArguments(VideoDataArguments):
    """Labeled videos: exactly one of --train_dir, --train_file, --dataset_name."""

    train_dir: str | None = field(default=None, metadata={"help": "Folder with one sub-folder of videos per label."})
    validation_dir: str | None = field(default=None, metadata={"help": "Same layout as --train_dir."})
    train_file: str | None = field(
        default=None, metadata={"help": "CSV or JSON lines with a path and a label column."}
    )
    validation_file: str | None = field(default=None, metadata={"help": "Same format as --train_file."})
    label_column_name: str = field(default="label", metadata={"help": "Column with the label (name or index)."})
    max_train_samples: int | None = field(default=None, metadata={"help": "Keep only this many training videos."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Keep only this many validation videos."})
    num_frames: int | None = field(default=None, metadata={"help": "Frames per clip; unset: the model's."})
    image_size: int | None = field(default=None, metadata={"help": "Crop size; unset: the model's image_size."})
    short_side_size: int | None = field(
        default=None,
        metadata={"help": "Short side before the evaluation crop; unset: image_size x 256 / 224 (official 256)."},
    )
    # two values each (`--jitter_scales_relative 0.5 1.0`): lists, which HfArgumentParser reads with nargs; it reads
    # a tuple field as one string
    train_jitter_scales: list[int] | None = field(
        default=None,
        metadata={"help": "Training short-side jitter, two sizes; unset: image_size x (256, 320) / 224 (official "
                  "256 320)."},
    )  # fmt: skip
    jitter_scales_relative: list[float] = field(
        default_factory=lambda: [0.08, 1.0],
        metadata={"help": "Area range of the random resized crop, two fractions (official 0.08 1.0)."},
    )
    jitter_aspect_relative: list[float] = field(
        default_factory=lambda: [0.75, 1.3333],
        metadata={"help": "Aspect range of the random resized crop, two ratios (official 0.75 1.3333)."},
    )
    rand_augment: str | None = field(
        default="rand-m7-mstd0.5-inc1",
        metadata={"help": "RandAugment policy applied to all frames of a clip alike; 'none' turns it off."},
    )
    random_erasing_prob: float = field(default=0.25, metadata={"help": "Random erasing probability (official)."})
    repeat_aug: int = field(
        default=2, metadata={"help": "Augmented clips per decoded video (official fine-tuning: 2)."}
    )
    num_temporal_views: int = field(
        default=10, metadata={"help": "Clips per video in the final test (official test script: 10; paper: 7)."}
    )
    num_spatial_crops: int = field(default=3, metadata={"help": "Crops per clip in the final test (official)."})
    horizontal_flip: bool = field(
        default=True,
        metadata={"help": "Mirror training clips (official); turn off when labels depend on left/right motion."},
    )


# ---------------------------------------------------------------------------------------------------------------
# Training: the fields of `TrainingArguments` the Accelerate scripts use, under its names, plus the recipes'
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class TrainingLoopArguments:
    """Optimization, schedule, logging and saving of an Accelerate training script."""

    output_dir: str | None = field(default=None, metadata={"help": "Where checkpoints, logs and the model go."})
    per_device_train_batch_size: int = field(
        default=2, metadata={"help": "Videos per process and step (official); each gives --repeat_aug clips."}
    )
    gradient_accumulation_steps: int = field(default=1, metadata={"help": "Batches per optimizer step."})
    learning_rate: float | None = field(
        default=None,
        metadata={"help": "Peak lr; unset: --base_learning_rate x effective batch / 256 (the official rule)."},
    )
    base_learning_rate: float = field(default=1e-3, metadata={"help": "lr per 256 samples of the effective batch."})
    min_learning_rate: float = field(default=0.0, metadata={"help": "Floor of the half-cosine schedule."})
    weight_decay: float = field(default=0.05, metadata={"help": "AdamW weight decay, not on biases and norms."})
    adam_beta1: float = field(default=0.9, metadata={"help": "AdamW beta1 (official)."})
    adam_beta2: float = field(default=0.999, metadata={"help": "AdamW beta2."})
    max_grad_norm: float = field(default=1.0, metadata={"help": "Gradient clipping norm; 0 disables."})
    num_train_epochs: float = field(default=1, metadata={"help": "Passes over the training videos."})
    warmup_epochs: float = field(default=0, metadata={"help": "Passes of linear warmup before the half-cosine."})
    max_train_steps: int | None = field(
        default=None, metadata={"help": "Optimizer steps of the run; overrides --num_train_epochs (the schedule too)."}
    )
    seed: int = field(default=0, metadata={"help": "Seed of initialization, shuffling, augmentation and masks."})
    mixed_precision: str | None = field(
        default=None,
        metadata={
            "help": "no, fp16 or bf16; unset: `accelerate config` / launch flags.",
            "choices": ["no", "fp16", "bf16"],
        },
    )
    torch_compile: bool = field(default=False, metadata={"help": "Compile the model with torch.compile."})
    torch_compile_backend: str | None = field(
        default=None, metadata={"help": "torch.compile's backend with --torch_compile; unset: inductor."}
    )
    dataloader_num_workers: int = field(default=4, metadata={"help": "Video decoding workers per process."})
    logging_steps: int = field(
        default=10, metadata={"help": "Log loss, lr, clips/s and skipped videos every N steps."}
    )
    report_to: str = field(
        default="none",
        metadata={"help": "Trackers: tensorboard, trackio, wandb, all, or none (the log files only)."},
    )
    checkpointing_steps: str | None = field(
        default=None,
        metadata={
            "help": "Save the training state to output_dir/checkpoint-<step> every N optimizer steps, or 'epoch' "
            "at the end of each pass; 0 or unset: never."
        },
    )
    checkpoints_total_limit: int | None = field(
        default=None, metadata={"help": "Keep only the newest N checkpoint-<step> folders."}
    )
    resume_from_checkpoint: str | None = field(
        default=None, metadata={"help": "A checkpoint-<step> folder, or 'latest' for the newest one in output_dir."}
    )
    push_to_hub: bool = field(default=False, metadata={"help": "Upload the final folder to the Hub."})
    hub_model_id: str | None = field(
        default=None, metadata={"help": "Hub repository, e.g. 'me/mae-st-vit-l-k400'; unset: output_dir's name."}
    )
    hub_token: str | None = field(default=None, metadata={"help": "Hub token; unset: the stored login."})
    hub_private_repo: bool = field(default=False, metadata={"help": "Create the Hub repository private."})


@dataclass
class PretrainingArguments(TrainingLoopArguments):
    """The official pretraining recipe (facebookresearch/mae_st `main_pretrain.py`, PRETRAIN.md, ViT-L)."""

    output_dir: str | None = field(
        default=None, metadata={"help": "Where checkpoints, logs, pictures and the model go (needs --dataset_name)."}
    )
    base_learning_rate: float = field(
        default=1.6e-3,
        metadata={
            "help": "lr per 256 videos of the effective batch, over processes and accumulation; the repeated clips "
            "do not count (official)."
        },
    )
    adam_beta2: float = field(default=0.95, metadata={"help": "AdamW beta2 (official)."})
    max_grad_norm: float = field(default=0.02, metadata={"help": "Gradient clipping norm (official); 0 disables."})
    num_train_epochs: float = field(
        default=100,
        metadata={"help": "Passes over the videos, each with --repeat_aug clips per video (official --epochs 100)."},
    )
    warmup_epochs: float = field(default=5, metadata={"help": "Passes of linear warmup (official)."})
    dataloader_num_workers: int = field(
        default=10, metadata={"help": "Video decoding workers per process (official)."}
    )
    checkpointing_steps: str | None = field_like(TrainingLoopArguments, "checkpointing_steps", default="1000")
    visualization_steps: int = field(
        default=1000, metadata={"help": "Save (and log) a reconstruction picture every N steps; 0: only at the end."}
    )
    warmup_steps: int | None = field(
        default=None, metadata={"help": "Steps of linear warmup; overrides --warmup_epochs (needed with --streaming)."}
    )
    record_data_order: bool = field(
        default=False,
        metadata={
            "help": "Write output_dir/data_order/process_<i>.json: the videos each process read, in order, and a "
            "hash of its final weights (to audit sharding and synchronization across processes)."
        },
    )


@dataclass
class FinetuningRecipeArguments:
    """
    The official fine-tuning recipe (facebookresearch/mae_st FINETUNE.md, ViT-L on Kinetics-400), shared by the
    Accelerate script and the Trainer script (where these fields replace `TrainingArguments`' own defaults).
    """

    learning_rate: float | None = field_like(TrainingLoopArguments, "learning_rate")
    base_learning_rate: float = field(
        default=2.4e-3,
        metadata={"help": "lr per 256 clips of the effective batch, the repeated clips counted (official)."},
    )
    min_learning_rate: float = field(default=1e-6, metadata={"help": "Floor of the half-cosine schedule (official)."})
    warmup_epochs: float = field(default=5, metadata={"help": "Passes of linear warmup (official)."})
    num_train_epochs: float = field(default=50, metadata={"help": "Passes over the training videos (official)."})
    weight_decay: float = field(default=0.05, metadata={"help": "AdamW weight decay (official)."})
    adam_beta2: float = field(default=0.999, metadata={"help": "AdamW beta2 (official)."})
    max_grad_norm: float = field(default=5.0, metadata={"help": "Gradient clipping norm (official); 0 disables."})
    seed: int = field(default=0, metadata={"help": "Seed of initialization, shuffling and augmentation."})
    dataloader_num_workers: int = field(default=4, metadata={"help": "Video decoding workers per process."})
    report_to: str = field_like(TrainingLoopArguments, "report_to")
    layer_decay: float | None = field(
        default=None,
        metadata={
            "help": "Layer-wise lr decay; unset: the official value for the checkpoint's size (ViT-B 0.65, ViT-L "
            "0.75, ViT-H 0.8). It lowers the lr of every encoder block, the top one included; on the 4-block model of "
            "benchmarks/pretraining_helps.py, 1.0 fine-tuned the pretrained encoder far better (98.3%% against 87.8%% "
            "top-1), so compare both on a validation split for small models."
        },
    )
    mixup: float = field(default=0.8, metadata={"help": "Mixup alpha (official); 0 disables."})
    cutmix: float = field(default=1.0, metadata={"help": "CutMix alpha (official); 0 disables."})
    mixup_prob: float = field(default=1.0, metadata={"help": "Probability of mixing a batch (official)."})
    mixup_switch_prob: float = field(default=0.5, metadata={"help": "Probability of CutMix over mixup (official)."})
    label_smoothing: float = field(default=0.1, metadata={"help": "Label smoothing (official)."})


@dataclass
class FinetuningArguments(FinetuningRecipeArguments, TrainingLoopArguments):
    """The Accelerate fine-tuning script's training arguments: the loop's, with the fine-tuning recipe's values."""

    output_dir: str | None = field(
        default="mae-st-finetuned", metadata={"help": "Where checkpoints and the model go."}
    )
    per_device_eval_batch_size: int = field(default=2, metadata={"help": "Videos per process in evaluation."})
    eval_strategy: str = field(
        default="epoch",
        metadata={
            "help": "Single-view validation after each pass ('epoch'; with --streaming, which has no passes, after "
            "the last step) or never ('no').",
            "choices": ["epoch", "no"],
        },
    )


# ---------------------------------------------------------------------------------------------------------------
# The pretraining quick start: `mae-st-pretrain` without --dataset_name
# ---------------------------------------------------------------------------------------------------------------

QUICKSTART_DIR = "mae-st-quickstart"
# A tiny model on synthetic videos, a few minutes on 2 CPU cores (README's quick start gives the measured figures).
# Its values replace those of the arguments left at their defaults; everything else stays the official recipe (mask
# ratio 0.9, clipping 0.02, AdamW, warmup then cosine), except two choices measured on clips of the generator that the
# final check never sees (README):
# - position tables that start as sine-cosine values (`position_embedding_init=sincos`). From the official random
#   tables (std 0.02) this model predicted each clip's average colour everywhere (0.99x the error of that trivial
#   predictor at step 400); from sine-cosine tables it was at 0.46x by step 300.
# - pixel targets (`norm_pix_loss=False`, the official choice for visualization models): pictures need no per-patch
#   statistics.
QUICKSTART_MODEL = dict(
    image_size=64, patch_size=8, num_frames=8, tubelet_size=2, pred_t_dim=8, hidden_size=128, num_hidden_layers=3,
    num_attention_heads=2, intermediate_size=512, decoder_hidden_size=64, decoder_num_hidden_layers=2,
    decoder_num_attention_heads=2, decoder_intermediate_size=256, norm_pix_loss=False, position_embedding_init="sincos",
)  # fmt: skip
QUICKSTART_ARGUMENTS = {
    "output_dir": f"./{QUICKSTART_DIR}",
    "preset": "vit-b",
    "config_overrides": ",".join(f"{key}={value}" for key, value in QUICKSTART_MODEL.items()),
    "per_device_train_batch_size": 4,
    "learning_rate": 3e-3,  # the base lr would give 1.6e-3 * 4 / 256 = 2.5e-5, far too small for a few minutes
    "num_train_epochs": 20,  # 800 steps of 4 videos x 4 clips (held-out 0.95x at step 200, 0.52x at 400, 0.45x at 800)
    "warmup_epochs": 1.25,
    "logging_steps": 25,
    "visualization_steps": 200,
    "num_visualization_clips": 8,  # all 8 held-out videos: the held-out error is measured on the pictured clips
    "checkpointing_steps": None,
    "dataloader_num_workers": 1,
}


def apply_quickstart_defaults(*arguments) -> None:
    """Give every argument still at its default its quick-start value (explicit flags keep theirs)."""
    for args in arguments:
        for spec in dataclasses.fields(args):
            if spec.name in QUICKSTART_ARGUMENTS and getattr(args, spec.name) == spec.default:
                setattr(args, spec.name, QUICKSTART_ARGUMENTS[spec.name])


# ---------------------------------------------------------------------------------------------------------------
# Parsing: a user's mistake is one line and exit status 2
# ---------------------------------------------------------------------------------------------------------------

# Flags renamed when the three commands took one vocabulary: a user's old command line gets the new name in its error.
RENAMED_FLAGS = {
    "--max_bad_fraction": "--max_bad_video_fraction",
    "--video_column": "--video_column_name",
    "--train_split": "--train_split_name",
    "--preprocessing_num_workers": "--dataloader_num_workers",
    "--eval_every_epoch": "--eval_strategy epoch|no",
    "--with_tracking": "--report_to (trackers are on unless it is 'none')",
}


# Where the Trainer has its own name for a concept the Accelerate scripts name after the Accelerate examples, both
# stay (training/README.md); a flag of the other family gets this command's name in its error.
ACCELERATE_TO_TRAINER_FLAGS = {
    "--max_train_steps": "--max_steps",
    "--checkpointing_steps": "--save_strategy steps --save_steps N",
    "--checkpoints_total_limit": "--save_total_limit",
    "--mixed_precision": "--bf16 or --fp16",
}
TRAINER_TO_ACCELERATE_FLAGS = {
    "--max_steps": "--max_train_steps",
    "--save_steps": "--checkpointing_steps",
    "--save_strategy": "--checkpointing_steps",
    "--save_total_limit": "--checkpoints_total_limit",
    "--bf16": "--mixed_precision bf16",
    "--fp16": "--mixed_precision fp16",
}


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Each option's default once: appended as "(default: ...)" unless its help already says which one is
    (some of `TrainingArguments`' helps do, e.g. "'random' (default)")."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if re.search(r"\(default\b", action.help or ""):
            return action.help
        return super()._get_help_string(action)


class CommandLineParser(HfArgumentParser):
    """`HfArgumentParser` whose errors are one line (`<prog>: error: <cause>`, exit status 2): the usage of fifty
    flags would bury the cause. `--help` shows each default once, and the quick-start value where it differs."""

    def __init__(
        self,
        dataclass_types,
        prog: str,
        description: str,
        quick_start: dict | None = None,
        other_names: dict[str, str] | None = None,
    ):
        super().__init__(dataclass_types, prog=prog, description=description, formatter_class=HelpFormatter)
        self.other_names = other_names or {}  # the other script family's flag -> this command's
        for action in self._actions:
            if quick_start and action.dest in quick_start:
                # the formatter adds no "(default: ...)" of its own to a help that already shows the default
                action.help += f" (default: %(default)s; quick start: {quick_start[action.dest]})"

    argument_file: str | None = None  # the file of flags being parsed, which every error then names

    def error(self, message: str):
        if self.argument_file and not message.startswith("argument file"):
            message = f"argument file {self.argument_file}: {message}"
        words = {word.split("=")[0] for word in message.split()}
        renamed = [f"{old} is now {new}" for old, new in RENAMED_FLAGS.items() if old in words]
        renamed += [f"here {other} is {new}" for other, new in self.other_names.items() if other in words]
        if renamed:
            message += f" ({'; '.join(renamed)})"
        self.exit(2, f"{self.prog}: error: {message}\n")

    def parse(self, argv: Sequence[str] | None) -> tuple:
        """The dataclasses from `argv` (the command line by default), or from a single .json/.yaml file of values."""
        argv = sys.argv[1:] if argv is None else list(argv)
        if argv and argv[0].endswith((".json", ".yaml", ".yml")):
            if len(argv) > 1:
                self.error(f"argument file {argv[0]}: must be the only argument (put the other flags in it)")
            argv = self.arguments_of_file(argv[0])  # (from here on, errors name the file)
        try:
            *parsed, unknown = self.parse_args_into_dataclasses(args=argv, return_remaining_strings=True)
        except ValueError as error:  # a dataclass's own check (TrainingArguments: --report_to, --save_steps ...)
            self.error(" ".join(str(error).split()))
        if unknown:
            self.error(f"unrecognized arguments: {' '.join(unknown)}")
        return tuple(parsed)

    def arguments_of_file(self, path: str) -> list[str]:
        """
        A .json/.yaml file of `flag: value` as command-line arguments, so that argparse checks its values as it
        checks the command line's (parsed as a dict, "false" counted as true, "two" steps failed later with a
        traceback, and "256 320" became a list of characters).
        """
        import yaml

        if not Path(path).is_file():
            self.error(f"argument file {path}: no such file")
        self.argument_file = path
        text = Path(path).read_text(encoding="utf-8")
        try:
            values = json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
        except (ValueError, yaml.YAMLError) as error:
            cause = str(error).splitlines()[0] if str(error) else type(error).__name__
            self.error(f"argument file {path}: not valid {'JSON' if path.endswith('.json') else 'YAML'} ({cause})")
        if not isinstance(values, dict):
            self.error(f"argument file {path}: must map flag names to values, got a {type(values).__name__}")
        argv = []
        for name, value in values.items():
            if value is None:  # unset: the default
                continue
            if isinstance(value, bool):
                argv += [f"--{name}", str(value).lower()]
            elif isinstance(value, (list, tuple)):
                argv += [f"--{name}", *(str(item) for item in value)]
            elif isinstance(value, dict):  # (TrainingArguments' dict flags take JSON)
                argv += [f"--{name}", json.dumps(value)]
            else:
                argv += [f"--{name}", str(value)]
        return argv


def without_tokens(values: dict) -> dict:
    """
    `values` (and the dicts inside it) with every `*_token` that is set replaced by `<HUB_TOKEN>` (the key in capitals),
    as transformers' `TrainingArguments.to_dict` does: what logs, trackers, saved arguments and model cards show of
    a run's flags. A token given with `--hub_token` used to land in `finetuning_args.json`, the model card pushed
    with the model and the trackers' configuration.
    """
    return {
        key: without_tokens(value) if isinstance(value, dict)
        else f"<{key.upper()}>" if key.endswith("_token") and value is not None
        else value
        for key, value in values.items()
    }  # fmt: skip


def looks_local(name: str) -> bool:
    """Whether a dataset or model name is a path rather than a Hub id ("name" or "owner/name")."""
    return name.startswith((".", "/", "~")) or name.count("/") > 1 or name.endswith((".csv", ".jsonl", ".json"))


def hub_dataset_id(name: str | None) -> str | None:
    """
    The Hub dataset id `--dataset_name` names, for a model card's `datasets:` metadata, or `None` for local data:
    `owner/name` of an `hf://datasets/owner/name/...` URL, the name itself when it is no path, URL, glob or existing
    file or folder.
    """
    if not name:
        return None
    if name.startswith("hf://datasets/"):
        owner_and_name = name.removeprefix("hf://datasets/").split("/")[:2]
        return "/".join(owner_and_name) if len(owner_and_name) == 2 else None
    if "://" in name or looks_local(name) or glob.has_magic(name) or Path(name).expanduser().exists():
        return None
    return name


def video_data_problems(data_args: VideoDataArguments) -> list[str]:
    """What is wrong with the video arguments all three training commands share, one sentence per problem."""
    problems = [
        f"--{name} must be at least 1, got {value}"
        for name, value in (("sampling_rate", data_args.sampling_rate), ("repeat_aug", data_args.repeat_aug))
        if value < 1
    ]
    if not 0 <= data_args.max_bad_video_fraction <= 1:
        problems.append(f"--max_bad_video_fraction must be between 0 and 1, got {data_args.max_bad_video_fraction}")
    if data_args.shuffle_buffer_size < 0:
        problems.append(f"--shuffle_buffer_size must be at least 0, got {data_args.shuffle_buffer_size}")
    return problems


def resume_problems(resume_from_checkpoint: str | None, output_dir: str | None) -> list[str]:
    """`--resume_from_checkpoint` naming no folder, or `latest` with no `checkpoint-<step>` folder in `--output_dir`,
    found before the model and the data load (they were found after them, 118 lines of log later)."""
    if resume_from_checkpoint not in (None, "latest") and not Path(resume_from_checkpoint).expanduser().is_dir():
        return [f"--resume_from_checkpoint {resume_from_checkpoint}: {why_not_a_folder(resume_from_checkpoint)}"]
    if resume_from_checkpoint != "latest" or not output_dir:
        return []
    folders = [path for path in Path(output_dir).expanduser().glob("checkpoint-*")
               if path.name.removeprefix("checkpoint-").isdigit()]  # fmt: skip
    return [] if folders else [f"--resume_from_checkpoint latest: no checkpoint-<step> folder in {output_dir}"]


def output_dir_problems(output_dir: str | None, architecture: str) -> list[str]:
    """
    An `--output_dir` that cannot take this command's model (`architecture`, e.g. `"MAESTForPreTraining"`): a file is
    there, or another kind of model, whose card, results and pictures would stay beside the new one (and be pushed
    with it). The same kind (a rerun, a resume) is fine.
    """
    if not output_dir:
        return []
    folder = Path(output_dir).expanduser()
    if folder.exists() and not folder.is_dir():
        return [f"--output_dir {output_dir}: a file, not a folder"]
    try:
        saved = json.loads((folder / "config.json").read_text()).get("architectures") or []
    except (OSError, ValueError, AttributeError):  # no saved model there (or no readable config of one)
        return []
    if saved and architecture not in saved:
        return [f"--output_dir {output_dir} holds a {saved[0]} (config.json), whose card, results and pictures would "
                f"stay beside this command's {architecture}: give a new or empty folder"]  # fmt: skip
    return []


def why_not_a_folder(value: str | Path) -> str:
    """Why `value`, which is no folder, cannot be one: "no such folder", or "a file, not a folder"."""
    return "a file, not a folder" if Path(value).expanduser().exists() else "no such folder"


def training_loop_problems(args: TrainingLoopArguments, data_args: VideoDataArguments) -> list[str]:
    """What is wrong with the arguments both Accelerate scripts share, one sentence per problem."""
    problems = video_data_problems(data_args) + [
        f"--{name} must be at least 1, got {value}"
        for name, value in (("logging_steps", args.logging_steps),)
        if value < 1
    ]
    if args.checkpointing_steps not in (None, "epoch") and not args.checkpointing_steps.isdigit():
        problems.append(
            f"--checkpointing_steps must be a number of steps or 'epoch', got {args.checkpointing_steps!r}"
        )
    if args.max_train_steps is not None and args.max_train_steps < 1:
        problems.append(f"--max_train_steps must be at least 1, got {args.max_train_steps}")
    return problems + resume_problems(args.resume_from_checkpoint, args.output_dir) + training_number_problems(args)


# The optimizer's, the schedule's and the loader's numbers, as every training command names them: (flag, what it
# must be, test).
TRAINING_NUMBER_RANGES = (
    ("per_device_train_batch_size", "at least 1", lambda value: value >= 1),
    ("per_device_eval_batch_size", "at least 1", lambda value: value >= 1),
    ("gradient_accumulation_steps", "at least 1", lambda value: value >= 1),
    ("dataloader_num_workers", "at least 0 (0: decode in the training process)", lambda value: value >= 0),
    ("seed", "in [0, 2**32)", lambda value: 0 <= value < 2**32),
    ("checkpoints_total_limit", "at least 1 (unset: keep every checkpoint)", lambda value: value >= 1),
    ("visualization_steps", "at least 0 (0: only at the end)", lambda value: value >= 0),
    ("learning_rate", "above 0", lambda value: value > 0),
    ("base_learning_rate", "above 0", lambda value: value > 0),
    ("min_learning_rate", "at least 0", lambda value: value >= 0),
    ("weight_decay", "at least 0", lambda value: value >= 0),
    ("layer_decay", "in (0, 1]", lambda value: 0 < value <= 1),
    ("adam_beta1", "in [0, 1)", lambda value: 0 <= value < 1),
    ("adam_beta2", "in [0, 1)", lambda value: 0 <= value < 1),
    ("max_grad_norm", "at least 0 (0: no clipping)", lambda value: value >= 0),
    ("num_train_epochs", "above 0", lambda value: value > 0),
    ("warmup_epochs", "at least 0", lambda value: value >= 0),
    ("warmup_steps", "at least 0", lambda value: value >= 0),
    # the fine-tuning recipe's regularization (drop path, dropout and smoothing are probabilities; the Beta
    # distributions of mixup and cutmix need a positive alpha, 0 turning them off)
    ("drop_path_rate", "in [0, 1)", lambda value: 0 <= value < 1),
    ("classifier_dropout", "in [0, 1)", lambda value: 0 <= value < 1),
    ("head_init_std", "at least 0", lambda value: value >= 0),
    ("label_smoothing", "in [0, 1)", lambda value: 0 <= value < 1),
    ("mixup", "at least 0 (0: off)", lambda value: value >= 0),
    ("cutmix", "at least 0 (0: off)", lambda value: value >= 0),
    ("mixup_prob", "in [0, 1]", lambda value: 0 <= value <= 1),
    ("mixup_switch_prob", "in [0, 1]", lambda value: 0 <= value <= 1),
)


def training_number_problems(args: Any) -> list[str]:
    """The [`TRAINING_NUMBER_RANGES`] that `args` (any training command's arguments) breaks, one sentence each; a flag
    the command lacks or leaves unset is not checked."""
    return [
        f"--{name} must be {allowed}, got {value}"
        for name, allowed, test in TRAINING_NUMBER_RANGES
        # (inf passed every "above 0" and "at least 0": --learning_rate inf ended in a NaN loss's traceback)
        if (value := getattr(args, name, None)) is not None and not (test(value) and math.isfinite(value))
    ]


def parse_pretraining_arguments(
    argv: Sequence[str] | None = None, prog: str = "mae-st-pretrain"
) -> tuple[PretrainingModelArguments, PretrainingDataArguments, PretrainingArguments]:
    """
    `mae-st-pretrain`'s arguments, the quick-start values applied when no --dataset_name is given.

    Raises:
        SystemExit: status 0 after --help, 2 with one line for a user's mistake.
    """
    parser = CommandLineParser(
        (PretrainingModelArguments, PretrainingDataArguments, PretrainingArguments),
        prog=prog,
        description="Pretrain MAE-ST with Accelerate: the official recipe, or without --dataset_name a quick start "
        "(tiny model, synthetic videos, a few minutes on CPU). See training/README.md.",
        quick_start=QUICKSTART_ARGUMENTS,
        other_names=TRAINER_TO_ACCELERATE_FLAGS,
    )
    model_args, data_args, training_args = parser.parse(argv)
    if data_args.dataset_name is None:
        apply_quickstart_defaults(model_args, data_args, training_args)
    problems = training_loop_problems(training_args, data_args) + output_dir_problems(
        training_args.output_dir, "MAESTForPreTraining"
    )
    if training_args.output_dir is None:
        problems.append("--output_dir is required with --dataset_name")
    overrides = model_args.config_overrides
    pairs = [item.partition("=") for item in (overrides or "").split(",") if overrides]
    if not all(key.strip() and value for key, _, value in pairs):
        problems.append(f"--config_overrides must be key=value pairs separated by commas (e.g. "
                        f"'mask_ratio=0.75,image_size=112'), got {overrides!r}")  # fmt: skip
    if data_args.num_visualization_clips < 1:
        problems.append(f"--num_visualization_clips must be at least 1, got {data_args.num_visualization_clips}")
    if data_args.dataset_name and looks_local(data_args.dataset_name) and "://" not in data_args.dataset_name:
        if not glob.glob(str(Path(data_args.dataset_name).expanduser())):  # a path, or a glob of shards
            problems.append(f"--dataset_name {data_args.dataset_name}: no such file or folder")
    if data_args.streaming:
        missing = [flag for flag, value in (("--max_train_steps", training_args.max_train_steps),
                                            ("--warmup_steps", training_args.warmup_steps)) if value is None]  # fmt: skip
        if missing:
            problems.append(f"--streaming needs {' and '.join(missing)}: the length of a streamed pass is unknown")
        if training_args.checkpointing_steps == "epoch":
            problems.append("--checkpointing_steps epoch cannot be used with --streaming (passes end at different "
                            "steps in each process): give a number of steps")
    if problems:
        parser.error("; ".join(problems))
    return model_args, data_args, training_args


def finetuning_data_problems(model_args: FinetuningModelArguments, data_args: FinetuningDataArguments) -> list[str]:
    """What is wrong with the data and model arguments both fine-tuning scripts share, one sentence per problem."""
    problems = []
    sources = [name for name in ("train_dir", "train_file", "dataset_name") if getattr(data_args, name)]
    if len(sources) != 1:
        problems.append(
            "give exactly one of --train_dir, --train_file, --dataset_name"
            + (f" (got {', '.join('--' + name for name in sources)})" if sources else "")
        )
    for name in ("train_dir", "validation_dir", "train_file", "validation_file"):
        value = getattr(data_args, name)
        if value and not Path(value).expanduser().exists():
            problems.append(f"--{name} {value}: no such file or folder")
    for name in ("dataset_name", "model_name_or_path"):
        value = getattr(data_args if name == "dataset_name" else model_args, name)
        if value and looks_local(value) and not Path(value).expanduser().exists():
            problems.append(f"--{name} {value}: no such file or folder")
    # the clips' settings (the video processor checks them too, but only once torch is imported); unset is None,
    # so a 0 would otherwise pass for "the model's" or "all"
    for name in ("num_frames", "image_size", "short_side_size", "max_train_samples", "max_eval_samples"):
        value = getattr(data_args, name)
        if value is not None and value < 1:
            problems.append(f"--{name} must be at least 1, got {value}")
    if not 0 <= data_args.random_erasing_prob <= 1:
        problems.append(f"--random_erasing_prob must be between 0 and 1, got {data_args.random_erasing_prob}")
    if data_args.num_temporal_views < 1:
        problems.append(f"--num_temporal_views must be at least 1, got {data_args.num_temporal_views}")
    if data_args.num_spatial_crops not in (1, 3):
        problems.append(f"--num_spatial_crops must be 1 (center) or 3 (left, center, right), got "
                        f"{data_args.num_spatial_crops}")  # fmt: skip
    ranges = (
        ("train_jitter_scales", data_args.train_jitter_scales, "two short sides in pixels, 0 < low <= high", None),
        ("jitter_scales_relative", data_args.jitter_scales_relative, "two fractions of the frame's area, "
         "0 < low <= high <= 1", 1),
        ("jitter_aspect_relative", data_args.jitter_aspect_relative, "two aspect ratios, 0 < low <= high", None),
    )  # fmt: skip
    for name, values, what, most in ranges:
        if values is not None and (
            len(values) != 2 or not 0 < values[0] <= values[1] or (most is not None and values[1] > most)
        ):
            problems.append(f"--{name} must be {what}, got {' '.join(str(value) for value in values)}")
    return problems


def streaming_problems(data_args: VideoDataArguments, steps_flag: str, steps: int | None) -> list[str]:
    """A fine-tuning stream without a step count (the Trainer's `--max_steps`, the Accelerate script's
    `--max_train_steps`), found before the model loads (it was found after)."""
    if data_args.streaming and steps is None:
        return [f"--streaming needs {steps_flag}: the length of a streamed pass is unknown"]
    return []


def parse_finetuning_arguments(
    argv: Sequence[str] | None = None, prog: str = "mae-st-finetune"
) -> tuple[FinetuningModelArguments, FinetuningDataArguments, FinetuningArguments]:
    """
    `mae-st-finetune`'s arguments.

    Raises:
        SystemExit: status 0 after --help, 2 with one line for a user's mistake.
    """
    parser = CommandLineParser(
        (FinetuningModelArguments, FinetuningDataArguments, FinetuningArguments),
        prog=prog,
        description="Fine-tune a MAE-ST encoder into a video classifier with Accelerate (the official recipe). "
        "See training/README.md.",
        other_names=TRAINER_TO_ACCELERATE_FLAGS,
    )
    model_args, data_args, training_args = parser.parse(argv)
    problems = (
        finetuning_data_problems(model_args, data_args)
        + training_loop_problems(training_args, data_args)
        + training_number_problems(model_args)
        + streaming_problems(data_args, "--max_train_steps", training_args.max_train_steps)
        + output_dir_problems(training_args.output_dir, "MAESTForVideoClassification")
    )
    if problems:
        parser.error("; ".join(problems))
    return model_args, data_args, training_args


def _finetuning_training_arguments() -> type:
    """`TrainingArguments` with the fine-tuning recipe's fields and defaults (see `FinetuningRecipeArguments`)."""
    from transformers import TrainingArguments

    @dataclass
    class FinetuningTrainingArguments(FinetuningRecipeArguments, TrainingArguments):
        __doc__ = TrainingArguments.__doc__
        # mae-st-finetune's defaults where the Trainer's differ (the Trainer's 8 videos per step scaled the lr 4x;
        # evaluation is skipped without validation data, as there)
        output_dir: str | None = field_like(FinetuningArguments, "output_dir")
        per_device_train_batch_size: int = field_like(FinetuningArguments, "per_device_train_batch_size")
        per_device_eval_batch_size: int = field_like(FinetuningArguments, "per_device_eval_batch_size")
        logging_steps: float = field_like(TrainingArguments, "logging_steps", default=10)
        eval_strategy: str = field_like(TrainingArguments, "eval_strategy", default="epoch")  # no, steps or epoch
        # a switch, as in the other commands (the Trainer's takes a value: "--hub_private_repo" alone was refused)
        hub_private_repo: bool = field_like(TrainingLoopArguments, "hub_private_repo")
        # every parameter takes part in every step: DDP's search for unused ones (the Trainer's default for a model
        # without gradient checkpointing) is an extra pass over the graph a step, and a warning from every process
        ddp_find_unused_parameters: bool | None = field_like(TrainingArguments, "ddp_find_unused_parameters",
                                                             default=False)  # fmt: skip

    FinetuningTrainingArguments.__qualname__ = FinetuningTrainingArguments.__name__  # picklable (training_args.bin)
    return FinetuningTrainingArguments


def __getattr__(name: str):
    # `TrainingArguments` imports torch: the Trainer script's class is built on first use, so that this module (and
    # the other commands' --help) stays light.
    if name == "FinetuningTrainingArguments":
        globals()[name] = _finetuning_training_arguments()
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# The Trainer's flags that the Trainer script's recipe replaces (its optimizer, schedule and mixing), each with what
# to give instead.
TRAINER_FLAGS_THE_RECIPE_REPLACES = {
    "warmup_steps": "warmup (give --warmup_epochs)",
    "lr_scheduler_type": "warmup and half-cosine schedule (--warmup_epochs, --min_learning_rate)",
    "lr_scheduler_kwargs": "warmup and half-cosine schedule (--warmup_epochs, --min_learning_rate)",
    "optim": "AdamW with layer-wise lr decay (--adam_beta1, --adam_beta2, --weight_decay, --layer_decay)",
    "optim_args": "AdamW with layer-wise lr decay (--adam_beta1, --adam_beta2, --weight_decay, --layer_decay)",
    "adam_epsilon": "AdamW, whose epsilon is the official 1e-8",
    "label_smoothing_factor": "label smoothing, applied with mixup (give --label_smoothing)",
}


TRAINER_DESCRIPTION = (
    "Fine-tune a MAE-ST encoder into a video classifier with transformers' Trainer (the official recipe's defaults). "
    "See training/README.md."
)


def parse_trainer_arguments(argv: Sequence[str] | None = None, prog: str = "mae-st-finetune-trainer") -> tuple:
    """
    `mae-st-finetune-trainer`'s arguments: `(FinetuningModelArguments, FinetuningDataArguments,
    FinetuningTrainingArguments)`, the last being `TrainingArguments` with the fine-tuning recipe's defaults.

    Raises:
        SystemExit: status 0 after --help, 2 with one line for a user's mistake.
    """
    parser = CommandLineParser(
        (FinetuningModelArguments, FinetuningDataArguments, __getattr__("FinetuningTrainingArguments")),
        prog=prog,
        description=TRAINER_DESCRIPTION,
        other_names=ACCELERATE_TO_TRAINER_FLAGS,
    )
    model_args, data_args, training_args = parser.parse(argv)
    problems = (
        video_data_problems(data_args)
        + finetuning_data_problems(model_args, data_args)
        + training_number_problems(training_args)
        + training_number_problems(model_args)
        + output_dir_problems(training_args.output_dir, "MAESTForVideoClassification")
        + resume_problems(training_args.resume_from_checkpoint, training_args.output_dir)
        + streaming_problems(data_args, "--max_steps", training_args.max_steps if training_args.max_steps > 0 else None)
    )
    if training_args.max_steps == 0 or training_args.max_steps < -1:  # (0 was the schedule's ValueError)
        problems.append(f"--max_steps must be at least 1, or -1 for --num_train_epochs; got {training_args.max_steps}")
    from transformers import TrainingArguments
    from transformers.integrations.integration_utils import (  # (loaded with TrainingArguments)
        INTEGRATION_TO_CALLBACK,
        get_available_reporting_integrations,
    )

    for name, instead in TRAINER_FLAGS_THE_RECIPE_REPLACES.items():  # set, they were ignored without a word
        if getattr(training_args, name) != TrainingArguments.__dataclass_fields__[name].default:
            problems.append(f"--{name}: this command trains with the fine-tuning recipe's {instead}")

    for tracker in training_args.report_to or []:  # "all" and "none" are resolved by now
        if tracker not in INTEGRATION_TO_CALLBACK:
            problems.append(f"--report_to {tracker}: not a tracker the Trainer knows; one of all, none, "
                            f"{', '.join(INTEGRATION_TO_CALLBACK)}")  # fmt: skip
        elif tracker not in get_available_reporting_integrations():  # (the Trainer's own error was a traceback)
            problems.append(f"--report_to {tracker}: its package is not installed here (pip install {tracker})")
    if problems:
        parser.error("; ".join(problems))
    return model_args, data_args, training_args


# ---------------------------------------------------------------------------------------------------------------
# The console commands: parse (light), then import the script and run it
# ---------------------------------------------------------------------------------------------------------------


def run_command(prog: str, parse: Callable, run: Callable | str, argv: Sequence[str] | None = None) -> None:
    """
    Parse `argv` with `parse` (so that --help and a mistyped flag answer before torch loads), then `run(argv)`, a
    user's mistake found while running reported as one line with exit status 2 (a bug keeps its traceback).

    Args:
        run: the script's `run`, or the name of the script module that defines it (imported only after parsing).
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    parse(argv, prog=prog)
    from modeling_mae_st.command_line import exit_on_user_error  # the package imports torch: only now

    if isinstance(run, str):
        run = importlib.import_module(run).run
    with exit_on_user_error(prog):
        run(argv)


def pretrain_command(argv: Sequence[str] | None = None) -> None:
    """`mae-st-pretrain`."""
    run_command("mae-st-pretrain", parse_pretraining_arguments, "mae_st_training.run_pretraining", argv)


def finetune_command(argv: Sequence[str] | None = None) -> None:
    """`mae-st-finetune`."""
    run_command("mae-st-finetune", parse_finetuning_arguments, "mae_st_training.run_video_classification", argv)


# `TrainingArguments` imports torch (seconds), so `mae-st-finetune-trainer --help` prints this file, the parser's own
# help written for the transformers release it names on its first line (tests/test_arguments.py checks that it is the
# live parser's; `write_trainer_help()` rewrites it). Under another transformers release the live parser answers.
TRAINER_HELP_FILE = Path(__file__).with_name("finetune_trainer_help.txt")
HELP_COLUMNS = 120  # the width the help file is written at


def trainer_help_text() -> str:
    """The live `mae-st-finetune-trainer --help` text, `HELP_COLUMNS` wide (imports torch)."""
    import os
    from unittest import mock

    with mock.patch.dict(os.environ, {"COLUMNS": str(HELP_COLUMNS)}):
        parser = CommandLineParser(
            (FinetuningModelArguments, FinetuningDataArguments, __getattr__("FinetuningTrainingArguments")),
            prog="mae-st-finetune-trainer",
            description=TRAINER_DESCRIPTION,
        )
        return parser.format_help()


def write_trainer_help() -> Path:
    """Rewrite `TRAINER_HELP_FILE` for the installed transformers release."""
    from importlib.metadata import version

    TRAINER_HELP_FILE.write_text(f"# transformers {version('transformers')}\n" + trainer_help_text())
    return TRAINER_HELP_FILE


def cached_trainer_help() -> str | None:
    """The help file's text, if it was written for the installed transformers release."""
    from importlib.metadata import version

    if not TRAINER_HELP_FILE.is_file():
        return None
    first, _, text = TRAINER_HELP_FILE.read_text().partition("\n")
    return text if first == f"# transformers {version('transformers')}" else None


def finetune_trainer_command(argv: Sequence[str] | None = None) -> None:
    """`mae-st-finetune-trainer`."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if any(word in ("-h", "--help") for word in argv) and (text := cached_trainer_help()) is not None:
        sys.stdout.write(text)
        raise SystemExit(0)
    run_command(
        "mae-st-finetune-trainer", parse_trainer_arguments, "mae_st_training.run_video_classification_trainer", argv
    )
