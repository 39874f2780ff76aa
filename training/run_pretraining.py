#!/usr/bin/env python
"""
Pretrain MAE-ST (masked spatiotemporal autoencoding) with 🤗 Accelerate.

    mae-st-pretrain                                   # quick start: tiny model, synthetic videos, CPU, < 5 minutes
    mae-st-pretrain --dataset_name /data/kinetics     # the official ViT-L recipe on your videos
    accelerate launch --num_processes 8 -m mae_st_training.run_pretraining --dataset_name /data/kinetics ...

The defaults are the official recipe (facebookresearch/mae_st `main_pretrain.py`, `PRETRAIN.md`): ViT-L, mask ratio
0.9, normalized-pixel targets, 8 predicted frames, a decoder 512 wide and 4 deep, AdamW (0.9, 0.95) with weight decay
0.05 (none on biases and norms), lr = 1.6e-3 x batch / 256, linear warmup then half-cosine per step, gradient
clipping 0.02, and 4 clips per video (repeated augmentation). Epochs are *effective* epochs, as the paper counts
them: video passes x `repeat_aug` (the official `--epochs 100 --repeat_aug 4` is 400 here).

The script reads top to bottom: arguments, accelerator, model, data, optimizer and schedule, resume, loop, save.
See training/README.md for multi-GPU (DDP), FSDP, DeepSpeed, resuming and pushing to the Hub.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.logging import get_logger
from accelerate.utils import DataLoaderConfiguration, DistributedType, ProjectConfiguration, set_seed
from tqdm.auto import tqdm
from transformers import HfArgumentParser

from mae_st_training.loop import LoggingWindow, agree_on_batch, placeholder_clip
from modeling_mae_st import MAESTConfig, MAESTForPreTraining
from modeling_mae_st.configuration_mae_st import PRESETS
from modeling_mae_st.data import (
    BadVideoTracker,
    TooManyBadVideosError,
    build_video_dataloader,
    example_seed,
    load_video_dataset,
)
from modeling_mae_st.flops import count_training_flops
from modeling_mae_st.hub import DEFAULT_IGNORE_PATTERNS, default_video_processor, push_to_hub, save_for_hub
from modeling_mae_st.model_card import RunFacts, build_model_card, describe_hardware
from modeling_mae_st.optimization import (
    build_adamw,
    get_warmup_cosine_schedule,
    param_groups_weight_decay,
    scaled_learning_rate,
)
from modeling_mae_st.synthetic import make_synthetic_pretraining_videos
from modeling_mae_st.video_decoding import VideoDecodingError
from modeling_mae_st.visualization import visualize_reconstruction


logger = get_logger(__name__)

QUICKSTART_DIR = "mae-st-quickstart"


# ---------------------------------------------------------------------------------------------------------------
# Arguments
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class ModelArguments:
    """Which model to pretrain: a preset, a config file, or a checkpoint to continue from (first given wins)."""

    model_name_or_path: str | None = field(
        default=None,
        metadata={"help": "Continue pretraining a checkpoint: a local folder or a Hub id (MAESTForPreTraining)."},
    )
    config_name: str | None = field(
        default=None, metadata={"help": "A config.json file or folder, or a Hub id, to train from scratch."}
    )
    preset: str = field(
        default="vit-l",
        metadata={"help": f"Model size to train from scratch, one of {sorted(PRESETS)} (default: the paper's ViT-L)."},
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
class DataArguments:
    """Where the videos come from and how clips are cut from them."""

    dataset_name: str | None = field(
        default=None,
        metadata={
            "help": "A folder of videos (flat, or class/split subfolders), a folder with train.csv/val.csv or "
            ".jsonl index files, one index file, a folder saved with `save_to_disk`, or a Hub dataset id. "
            "Without it the quick start runs (synthetic videos, tiny model)."
        },
    )
    dataset_config_name: str | None = field(default=None, metadata={"help": "Config name of a Hub dataset."})
    train_split: str = field(default="train", metadata={"help": "Split to pretrain on."})
    video_column: str = field(default="video", metadata={"help": "Column holding video paths or bytes."})
    sampling_rate: int = field(
        default=4, metadata={"help": "Stride between clip frames at 30 fps (official 4: 16 frames span 2.1 s)."}
    )
    repeat_aug: int = field(
        default=4,
        metadata={"help": "Clips per decoded video, each with its own window and augmentation (official 4)."},
    )
    num_visualization_clips: int = field(
        default=2,
        metadata={
            "help": "Held-out clips shown in the reconstruction pictures: the first videos of the validation "
            "split, or else the first videos of the training split, which are then left out of training."
        },
    )
    max_bad_fraction: float = field(
        default=0.05, metadata={"help": "Stop when more than this fraction of the videos read cannot be decoded."}
    )
    dataloader_num_workers: int = field(default=10, metadata={"help": "Decoding workers per process (official 10)."})


@dataclass
class PretrainingArguments:
    """Optimization, schedule, logging and saving."""

    output_dir: str | None = field(
        default=None, metadata={"help": f"Where everything is written (quick start: ./{QUICKSTART_DIR})."}
    )
    per_device_train_batch_size: int = field(
        default=2,
        metadata={"help": "Videos per process and step (official 2); each gives `repeat_aug` clips."},
    )
    gradient_accumulation_steps: int = field(default=1, metadata={"help": "Steps per optimizer update."})
    base_learning_rate: float = field(
        default=1.6e-3,
        metadata={
            "help": "lr = base_learning_rate x effective batch / 256, the effective batch counting videos over "
            "processes and accumulation, not the repeated-augmentation clips (official 1.6e-3)."
        },
    )
    learning_rate: float | None = field(default=None, metadata={"help": "Absolute peak lr; overrides the scaling."})
    min_learning_rate: float = field(default=0.0, metadata={"help": "Floor of the cosine (official 0)."})
    weight_decay: float = field(default=0.05, metadata={"help": "AdamW weight decay, not on biases and norms."})
    adam_beta1: float = field(default=0.9, metadata={"help": "AdamW beta1 (official 0.9)."})
    adam_beta2: float = field(default=0.95, metadata={"help": "AdamW beta2 (official 0.95)."})
    max_grad_norm: float = field(default=0.02, metadata={"help": "Gradient clipping norm (official 0.02)."})
    num_train_epochs: float = field(
        default=400,
        metadata={"help": "Effective epochs, video passes x repeat_aug (official --epochs 100 x repeat_aug 4)."},
    )
    warmup_epochs: float = field(
        default=20, metadata={"help": "Effective epochs of linear warmup (official --warmup_epochs 5 x 4)."}
    )
    max_train_steps: int | None = field(
        default=None, metadata={"help": "Optimizer steps of the run; overrides num_train_epochs (the schedule too)."}
    )
    seed: int = field(default=0, metadata={"help": "Seed of initialization, shuffling, augmentation and masks."})
    mixed_precision: str | None = field(
        default=None, metadata={"help": "'no', 'fp16' or 'bf16'; default: `accelerate config` / launch flags."}
    )
    logging_steps: int = field(default=10, metadata={"help": "Log loss, lr, clips/s and skipped videos every N steps."})
    report_to: str = field(
        default="none", metadata={"help": "'tensorboard', 'trackio', 'wandb', 'all' or 'none' (log file only)."}
    )
    visualization_steps: int = field(
        default=1000, metadata={"help": "Save (and log) a reconstruction picture every N steps (0: only at the end)."}
    )
    checkpointing_steps: int = field(
        default=1000, metadata={"help": "Save the full training state (`save_state`) every N steps; 0: never."}
    )
    checkpoints_total_limit: int | None = field(
        default=None, metadata={"help": "Keep only the newest N training-state checkpoints."}
    )
    resume_from_checkpoint: str | None = field(
        default=None,
        metadata={"help": "A checkpoint-<step> folder, or 'latest' for the newest one in output_dir."},
    )
    push_to_hub: bool = field(default=False, metadata={"help": "Upload the final folder to the Hub."})
    hub_model_id: str | None = field(default=None, metadata={"help": "Hub repository, e.g. 'me/mae-st-vit-l-k400'."})
    hub_private_repo: bool = field(default=False, metadata={"help": "Create the Hub repository private."})
    record_data_order: bool = field(
        default=False,
        metadata={
            "help": "Write output_dir/data_order/process_<i>.json: the videos each process read, in order, and a "
            "hash of its final weights (to audit sharding and synchronization across processes)."
        },
    )


# The quick start (no --dataset_name): a tiny model on synthetic videos, about 110 steps, a few minutes on 2 CPU cores.
# Its values replace those of the arguments left at their defaults; everything else stays the official recipe, except
# pixel targets (`norm_pix_loss=False`, the official choice for visualization models), whose loss and pictures show
# progress within minutes.
QUICKSTART_MODEL = dict(
    image_size=64, patch_size=8, num_frames=8, tubelet_size=2, pred_t_dim=8, hidden_size=128, num_hidden_layers=3,
    num_attention_heads=2, intermediate_size=512, decoder_hidden_size=64, decoder_num_hidden_layers=2,
    decoder_num_attention_heads=2, decoder_intermediate_size=256, norm_pix_loss=False,
)  # fmt: skip
# A small, fast model and many steps: with learned position tables that start random, a model needs several hundred
# steps before its predictions depend on where a patch is; fewer give the clip's average colour everywhere.
QUICKSTART_ARGUMENTS = {
    "output_dir": f"./{QUICKSTART_DIR}",
    "preset": "vit-b",
    "config_overrides": ",".join(f"{key}={value}" for key, value in QUICKSTART_MODEL.items()),
    "per_device_train_batch_size": 4,
    "learning_rate": 3e-3,  # the base lr would give 1.6e-3 * 4 / 256 = 2.5e-5, far too small for a few minutes
    "num_train_epochs": 100,
    "warmup_epochs": 5,
    "logging_steps": 25,
    "visualization_steps": 250,
    "checkpointing_steps": 0,
    "dataloader_num_workers": 1,
}
QUICKSTART_DATA = {
    "num_videos": 160, "num_frames": 32, "size": (96, 64), "seed": 0, "texture_scale": 4.0, "noise_amplitude": 0,
    "bit_rate": 1_000_000,
}  # fmt: skip
QUICKSTART_PROCESSOR = {"short_side_size": QUICKSTART_MODEL["image_size"]}


def apply_quickstart_defaults(*arguments) -> None:
    """Give every argument still at its default its quick-start value (explicit flags keep theirs)."""
    for args in arguments:
        for spec in dataclasses.fields(args):
            if spec.name in QUICKSTART_ARGUMENTS and getattr(args, spec.name) == spec.default:
                setattr(args, spec.name, QUICKSTART_ARGUMENTS[spec.name])


# In benchmarks/pretraining_helps.py, pretraining on 6 or 16 visible tokens per clip gave a worse start for
# fine-tuning than random weights; 25 gave a better one. The paper's clips leave 156 visible.
FEW_VISIBLE_TOKENS = 25


def warn_if_few_visible_tokens(num_patches: int, mask_ratio: float) -> int:
    """Log a warning when the encoder would see fewer than `FEW_VISIBLE_TOKENS` tokens per clip; return the count
    (the official `int(num_patches * (1 - mask_ratio))`)."""
    visible = int(num_patches * (1 - mask_ratio))
    if visible < FEW_VISIBLE_TOKENS:
        logger.warning(
            f"The encoder sees {visible} of {num_patches} tokens per clip (mask ratio {mask_ratio}). In "
            f"benchmarks/pretraining_helps.py, pretraining on 6 or 16 visible tokens made a worse start for "
            f"fine-tuning than random weights, and 25 a better one; larger frames, smaller patches or a lower mask "
            f"ratio give the encoder more."
        )
    return visible


def check_arguments(model_args: ModelArguments, data_args: DataArguments, training_args: PretrainingArguments):
    """Fail before any work on what can be checked from the arguments alone."""
    if model_args.model_name_or_path is None and model_args.config_name is None:
        MAESTConfig.from_preset(model_args.preset)  # raises on an unknown preset, naming the known ones
    if data_args.dataset_name is not None:
        # Anything that is not shaped like a Hub id ("name" or "owner/name") must exist on disk.
        name = data_args.dataset_name
        looks_local = name.startswith((".", "/", "~")) or name.count("/") > 1
        if (looks_local or name.endswith((".csv", ".jsonl", ".json"))) and not Path(name).expanduser().exists():
            raise FileNotFoundError(f"--dataset_name {name}: no such file or folder.")
    if training_args.push_to_hub and not training_args.hub_model_id:
        raise ValueError("--push_to_hub needs --hub_model_id (e.g. 'me/mae-st-vit-l-k400').")
    for name, value in (
        ("repeat_aug", data_args.repeat_aug),
        ("num_visualization_clips", data_args.num_visualization_clips),
        ("per_device_train_batch_size", training_args.per_device_train_batch_size),
        ("gradient_accumulation_steps", training_args.gradient_accumulation_steps),
        ("logging_steps", training_args.logging_steps),
    ):
        if value < 1:
            raise ValueError(f"--{name} must be at least 1, got {value}.")


# ---------------------------------------------------------------------------------------------------------------
# Pieces of the loop
# ---------------------------------------------------------------------------------------------------------------


def masking_noise(num_clips: int, num_patches: int, *keys: int) -> torch.Tensor:
    """
    The uniform noise whose sort chooses each clip's visible patches, `(num_clips, num_patches)`, drawn from a
    generator seeded by `keys` (seed, process, pass, batch): a resumed run masks exactly like an uninterrupted one.
    """
    generator = torch.Generator().manual_seed(example_seed(*keys))
    return torch.rand(num_clips, num_patches, generator=generator)


@dataclass
class TrainingProgress:
    """
    What `save_state` must remember besides model, optimizer, scheduler and RNG: where the run is. The position in
    the data is kept as (pass, batches read in it), not derived from the step: a micro-batch that no process could
    decode is skipped by all of them, so a pass may take fewer optimizer steps than its batches promise.
    """

    completed_steps: int = 0
    video_pass: int = 0
    batches_in_pass: int = 0  # batches of `video_pass` read so far, skipped ones included
    skipped_videos_per_process: list[int] = field(default_factory=list)

    @property
    def num_skipped_videos(self) -> int:
        return sum(self.skipped_videos_per_process)

    def state_dict(self) -> dict:
        return dataclasses.asdict(self)

    def load_state_dict(self, state: dict) -> None:
        for name, value in state.items():
            setattr(self, name, value)


def latest_checkpoint(output_dir: Path) -> Path | None:
    """The `checkpoint-<step>` folder of `output_dir` with the highest step, if any."""
    checkpoints = [path for path in output_dir.glob("checkpoint-*") if path.name.split("-")[-1].isdigit()]
    return max(checkpoints, key=lambda path: int(path.name.split("-")[-1]), default=None)


def save_reconstruction(accelerator: Accelerator, model, pixel_values, path: Path, step: int, seed: int, processor):
    """Write the reconstruction grid of the held-out clips (fixed mask) and log it to the trackers."""
    pictures = visualize_reconstruction(
        accelerator.unwrap_model(model), pixel_values, seed=seed, video_processor=processor
    )
    if not accelerator.is_main_process:
        return
    pictures.save_grid(path)
    image = np.asarray(pictures.grid())  # (height, width, 3) uint8
    for tracker in accelerator.trackers:
        if tracker.name == "tensorboard":
            tracker.log_images({"reconstruction": image[None]}, step=step, dataformats="NHWC")
        elif tracker.name == "wandb":
            tracker.log_images({"reconstruction": [image]}, step=step)
        elif tracker.name == "trackio":
            import trackio

            tracker.log({"reconstruction": trackio.Image(str(path))}, step=step)
    logger.info(f"Reconstruction of the held-out clips at step {step}: {path} (loss {pictures.loss:.4f})")


# ---------------------------------------------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------------------------------------------


def run(argv: list[str] | None = None) -> Path:
    """Run pretraining; returns the output folder. `argv` defaults to the command line."""
    parser = HfArgumentParser((ModelArguments, DataArguments, PretrainingArguments))
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) == 1 and argv[0].endswith((".json", ".yaml", ".yml")):
        parse = parser.parse_json_file if argv[0].endswith(".json") else parser.parse_yaml_file
        model_args, data_args, training_args = parse(os.path.abspath(argv[0]))
    else:
        model_args, data_args, training_args = parser.parse_args_into_dataclasses(args=argv)
    quick_start = data_args.dataset_name is None
    if quick_start:
        apply_quickstart_defaults(model_args, data_args, training_args)
    if training_args.output_dir is None:
        raise ValueError("--output_dir is required with --dataset_name.")
    check_arguments(model_args, data_args, training_args)
    output_dir = Path(training_args.output_dir)

    # --- Accelerator: processes, mixed precision, accumulation, trackers ---
    accelerator = Accelerator(
        gradient_accumulation_steps=training_args.gradient_accumulation_steps,
        mixed_precision=training_args.mixed_precision,
        log_with=None if training_args.report_to == "none" else training_args.report_to,
        project_config=ProjectConfiguration(project_dir=str(output_dir), logging_dir=str(output_dir / "runs")),
        # every process shuffles with seed + pass, so the shards of a pass are disjoint and a resume replays them
        dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True, data_seed=training_args.seed),
    )
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    logger.info(accelerator.state, main_process_only=False)
    set_seed(training_args.seed)

    # --- Model config: checkpoint, config file, or preset (the weights come after the data checks) ---
    if model_args.model_name_or_path is not None:
        config = MAESTConfig.from_pretrained(model_args.model_name_or_path)
    elif model_args.config_name is not None:
        config = MAESTConfig.from_pretrained(model_args.config_name)
    else:
        config = MAESTConfig.from_preset(model_args.preset)
    if model_args.config_overrides:
        config.update_from_string(model_args.config_overrides)
        config = MAESTConfig(**config.to_dict())  # validates the new values together
    side = config.image_size // config.patch_size
    num_patches = (config.num_frames // config.tubelet_size) * side * side
    warn_if_few_visible_tokens(num_patches, config.mask_ratio)

    # The clips: the official Kinetics pretraining loader (random resized crop, flip), sized by the model's config.
    video_processor = default_video_processor(config).with_settings(sampling_rate=data_args.sampling_rate)
    if quick_start:
        video_processor = video_processor.with_settings(**QUICKSTART_PROCESSOR)
    train_processor = video_processor.with_settings(mode="train", repeat_aug=data_args.repeat_aug)

    # --- Data ---
    if quick_start:
        data_dir = output_dir / "data"
        with accelerator.main_process_first():
            if not any(data_dir.glob("video_*")):
                logger.info(f"Quick start: writing {QUICKSTART_DATA['num_videos']} synthetic videos to {data_dir}")
                make_synthetic_pretraining_videos(data_dir, **QUICKSTART_DATA)
        data_args.dataset_name = str(data_dir)
    with accelerator.main_process_first():
        dataset = load_video_dataset(
            data_args.dataset_name,
            name=data_args.dataset_config_name,
            video_column=data_args.video_column,
            label_column=None,
        )
    if data_args.train_split not in dataset:
        raise ValueError(f"{data_args.dataset_name} has no split {data_args.train_split!r} (splits: {list(dataset)}).")
    train_dataset = dataset[data_args.train_split]
    if "validation" in dataset and data_args.train_split != "validation":
        visualization_videos = dataset["validation"][: data_args.num_visualization_clips]["video"]
    else:
        visualization_videos = train_dataset[: data_args.num_visualization_clips]["video"]
        train_dataset = train_dataset.select(range(len(visualization_videos), len(train_dataset)))
    if len(train_dataset) == 0:
        raise ValueError(f"The {data_args.train_split!r} split of {data_args.dataset_name} has no videos to train on.")
    # Shuffled, full batches only (as the official pretraining), each video's clips seeded by (seed, pass, index):
    # a resumed run sees the clips the uninterrupted one saw.
    train_dataloader = build_video_dataloader(
        train_dataset,
        train_processor,
        batch_size=training_args.per_device_train_batch_size,
        num_workers=data_args.dataloader_num_workers,
        seed=training_args.seed,
    )
    seeded_videos = train_dataloader.dataset  # an IndexSeededVideoDataset: set its pass before each pass
    if len(train_dataset) < training_args.per_device_train_batch_size * accelerator.num_processes:
        raise ValueError(
            f"{len(train_dataset)} training videos cannot fill one batch of {training_args.per_device_train_batch_size}"
            f" videos on each of {accelerator.num_processes} processes."
        )
    visualization_clips = []  # (1, frames, channels, height, width) each, center crops of fixed windows
    for video in visualization_videos:
        try:
            visualization_clips.append(video_processor(videos=[video], return_tensors="pt")["pixel_values"])
        except VideoDecodingError as error:
            logger.warning(f"Held-out clip left out of the reconstruction pictures: {error}")
    if not visualization_clips:
        raise ValueError(f"None of the held-out videos {visualization_videos} can be decoded for the pictures.")
    visualization_clips = torch.cat(visualization_clips)

    # --- Model ---
    if model_args.model_name_or_path is not None:
        model = MAESTForPreTraining.from_pretrained(model_args.model_name_or_path, config=config)
    else:
        model = MAESTForPreTraining(config)

    # --- Optimizer and schedule ---
    # videos per optimizer step, over processes and accumulation (the repeated-augmentation clips do not count)
    effective_batch_size = training_args.per_device_train_batch_size * training_args.gradient_accumulation_steps
    effective_batch_size *= accelerator.num_processes
    learning_rate = training_args.learning_rate or scaled_learning_rate(
        training_args.base_learning_rate, effective_batch_size
    )
    optimizer = build_adamw(
        param_groups_weight_decay(model, training_args.weight_decay),
        learning_rate,
        betas=(training_args.adam_beta1, training_args.adam_beta2),
    )
    model, optimizer, train_dataloader = accelerator.prepare(model, optimizer, train_dataloader)

    steps_per_pass = math.ceil(len(train_dataloader) / training_args.gradient_accumulation_steps)
    steps_per_epoch = steps_per_pass / data_args.repeat_aug  # one effective epoch
    max_train_steps = training_args.max_train_steps or math.ceil(training_args.num_train_epochs * steps_per_epoch)
    warmup_steps = min(round(training_args.warmup_epochs * steps_per_epoch), max_train_steps)
    # The schedule is stepped once per optimizer update by this loop, so it is not handed to `prepare`.
    lr_scheduler = get_warmup_cosine_schedule(
        optimizer, warmup_steps, max_train_steps, min_lr=training_args.min_learning_rate
    )
    progress = TrainingProgress()
    accelerator.register_for_checkpointing(lr_scheduler, progress)

    if accelerator.is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)
    run_config = {
        **dataclasses.asdict(model_args), **dataclasses.asdict(data_args), **dataclasses.asdict(training_args),
        "learning_rate": learning_rate, "effective_batch_size": effective_batch_size,
        "max_train_steps": max_train_steps, "warmup_steps": warmup_steps,
    }  # fmt: skip
    accelerator.init_trackers("mae-st-pretraining", {k: v for k, v in run_config.items() if v is not None})

    # --- Resume: model, optimizer, schedule, RNG and position in the data ---
    if training_args.resume_from_checkpoint:
        checkpoint = training_args.resume_from_checkpoint
        checkpoint = latest_checkpoint(output_dir) if checkpoint == "latest" else Path(checkpoint)
        if checkpoint is None or not checkpoint.is_dir():
            raise FileNotFoundError(
                f"--resume_from_checkpoint {training_args.resume_from_checkpoint}: no checkpoint folder found"
                + (f" in {output_dir}" if training_args.resume_from_checkpoint == "latest" else "")
            )
        accelerator.load_state(str(checkpoint))
        logger.info(f"Resumed from {checkpoint} at step {progress.completed_steps}")
    start_step = progress.completed_steps
    log_path = output_dir / "log_history.jsonl"  # one JSON line per logging step, the run's loss curve
    if accelerator.is_main_process and log_path.exists():  # a resumed run keeps the history up to its step
        kept = [line for line in log_path.read_text().splitlines() if json.loads(line)["step"] <= start_step]
        log_path.write_text("".join(line + "\n" for line in kept))

    logger.info("***** Pretraining *****")
    logger.info(f"  Videos = {len(train_dataset)}, clips per video (repeat_aug) = {data_args.repeat_aug}")
    logger.info(f"  Effective batch = {effective_batch_size} videos, lr = {learning_rate:.3e}")
    logger.info(f"  Steps = {max_train_steps} ({max_train_steps / steps_per_epoch:.1f} effective epochs)")
    logger.info(f"  Warmup steps = {warmup_steps}")
    logger.info(f"  Parameters = {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M")

    # --- Training loop ---
    # Every micro-batch, the processes agree on it (training/batch_agreement.py): all skip one that no process could
    # decode, and a process with no clip runs a placeholder at loss weight 0, so the collectives stay in step. The
    # loop runs passes until the requested steps are done. Nothing in a step waits for the accelerator: the loss is
    # summed on the device and read at logging steps only.
    bad_videos = BadVideoTracker(max_bad_fraction=data_args.max_bad_fraction)
    data_order: list[list[str]] = []
    progress_bar = tqdm(
        total=max_train_steps, initial=start_step, disable=not accelerator.is_local_main_process, desc="pretraining"
    )
    clip_shape = (config.num_frames, config.image_size, config.num_channels)
    clip_flops = count_training_flops(config, config.mask_ratio)  # one clip's forward + backward
    window = LoggingWindow(device=accelerator.device)
    train_start = time.perf_counter()
    model.train()
    while progress.completed_steps < max_train_steps:
        video_pass = progress.video_pass
        train_dataloader.set_epoch(video_pass)
        seeded_videos.set_epoch(video_pass)
        dataloader = train_dataloader
        if progress.batches_in_pass:  # a resumed run passes over the batches already read, without decoding them
            dataloader = accelerator.skip_first_batches(train_dataloader, progress.batches_in_pass)
        batches_read = micro_batches_run = 0
        waited_from = time.perf_counter()
        for batch in dataloader:
            window.data_seconds += time.perf_counter() - waited_from
            batch_index = progress.batches_in_pass
            progress.batches_in_pass += 1
            batches_read += 1
            window.skipped_videos += bad_videos.update(batch)
            if training_args.record_data_order:
                data_order.append([name for name, ok in zip(batch["video_names"], batch["decoded"]) if ok])
            pixel_values = batch["pixel_values"]  # (batch * repeat_aug, frames, channels, height, width) or None
            num_clips = 0 if pixel_values is None else len(pixel_values)
            loss_weight = agree_on_batch(num_clips)
            if loss_weight is None:  # no process decoded any video of this micro-batch: all skip it
                waited_from = time.perf_counter()
                continue
            micro_batches_run += 1
            if pixel_values is None:
                pixel_values = placeholder_clip(*clip_shape, device=accelerator.device)
            noise = masking_noise(
                len(pixel_values), num_patches, training_args.seed, accelerator.process_index, video_pass, batch_index
            ).to(pixel_values.device)
            with accelerator.accumulate(model):
                loss = model(pixel_values, noise=noise).loss
                accelerator.backward(loss * loss_weight)
                if accelerator.sync_gradients:
                    accelerator.clip_grad_norm_(model.parameters(), training_args.max_grad_norm)
                optimizer.step()
                optimizer.zero_grad()
            window.add(loss.detach(), num_clips)
            if not accelerator.sync_gradients:
                waited_from = time.perf_counter()
                continue

            lr_scheduler.step()
            progress.completed_steps += 1
            step = progress.completed_steps
            progress_bar.update(1)

            checkpointing = training_args.checkpointing_steps and step % training_args.checkpointing_steps == 0
            # a checkpoint step always logs, so that the saved skipped-video counts are complete
            if step % training_args.logging_steps == 0 or step in (1, max_train_steps) or checkpointing:
                logs = window.summarize(accelerator, progress.skipped_videos_per_process, clip_flops)
                logs.update(lr=optimizer.param_groups[0]["lr"], epoch=step / steps_per_epoch, step=step)
                if not math.isfinite(logs["loss"]):
                    raise FloatingPointError(f"Loss is {logs['loss']} at step {step}; stopping.")
                accelerator.log(logs, step=step)
                progress_bar.set_postfix(loss=f"{logs['loss']:.4f}", lr=f"{logs['lr']:.2e}")
                if accelerator.is_main_process:
                    with open(log_path, "a") as handle:
                        handle.write(json.dumps(logs) + "\n")

            if checkpointing:
                accelerator.save_state(str(output_dir / f"checkpoint-{step}"))
                if accelerator.is_main_process and training_args.checkpoints_total_limit:
                    checkpoints = sorted(output_dir.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
                    for old in checkpoints[: -training_args.checkpoints_total_limit]:
                        shutil.rmtree(old)

            visualizing = training_args.visualization_steps and step % training_args.visualization_steps == 0
            if visualizing and step < max_train_steps:  # the last step's picture is saved after the loop
                save_reconstruction(
                    accelerator, model, visualization_clips, output_dir / "reconstructions" / f"step_{step:07d}.png",
                    step, training_args.seed, video_processor,
                )  # fmt: skip
            if step >= max_train_steps:
                break
            waited_from = time.perf_counter()
        else:  # the pass is over
            if micro_batches_run == 0 and batches_read == len(train_dataloader):
                raise TooManyBadVideosError(
                    f"No video of pass {video_pass} over {data_args.dataset_name} could be decoded "
                    f"({bad_videos.num_skipped} skipped on this process); nothing to train on."
                )
            progress.video_pass += 1
            progress.batches_in_pass = 0
    progress_bar.close()
    train_seconds = time.perf_counter() - train_start

    # --- Save: weights, video processor, reconstruction picture, card; optionally push ---
    accelerator.wait_for_everyone()
    picture = output_dir / "reconstruction.png"
    save_reconstruction(
        accelerator, model, visualization_clips, picture, progress.completed_steps, training_args.seed, video_processor
    )
    final_model = accelerator.unwrap_model(model)
    # Under FSDP or DeepSpeed the weights are sharded: gather them (every process takes part) into a plain model.
    state_dict = accelerator.get_state_dict(model)
    sharded = accelerator.distributed_type in (DistributedType.FSDP, DistributedType.DEEPSPEED)
    if accelerator.is_main_process and sharded:
        final_model = MAESTForPreTraining(config)
        final_model.load_state_dict(state_dict)
    if training_args.record_data_order:
        weights_hash = torch.cat([p.detach().float().flatten().cpu() for p in final_model.state_dict().values()])
        record = {
            "process_index": accelerator.process_index,
            "videos": data_order,
            "weights_sha256": hashlib.sha256(weights_hash.numpy().tobytes()).hexdigest(),
        }
        (output_dir / "data_order").mkdir(parents=True, exist_ok=True)
        (output_dir / "data_order" / f"process_{accelerator.process_index}.json").write_text(json.dumps(record))
    if accelerator.is_main_process:
        history = [json.loads(line)["loss"] for line in log_path.read_text().splitlines()] if log_path.exists() else []
        run = RunFacts(
            # a local folder is named by its last part (no machine paths in the card), a Hub dataset by its id
            dataset="synthetic moving shapes" if quick_start else Path(data_args.dataset_name).name,
            dataset_id=None if Path(data_args.dataset_name).exists() else data_args.dataset_name,
            num_train_videos=len(train_dataset),
            loss_history=history,
            hyperparameters={k: run_config[k] for k in (
                "learning_rate", "effective_batch_size", "max_train_steps", "warmup_steps", "weight_decay",
                "max_grad_norm", "repeat_aug", "sampling_rate", "seed")},
            hardware=describe_hardware(accelerator.num_processes),
            wall_time_seconds=train_seconds,
            pictures=[picture.name],
        )  # fmt: skip
        repo_id = training_args.hub_model_id or output_dir.resolve().name
        card = build_model_card("pretrained", final_model.config, repo_id, run=run)
        save_for_hub(final_model, output_dir, video_processor=video_processor, card=card)
        if history:
            logger.info(f"Loss: first logged {history[0]:.4f}, last {history[-1]:.4f}")
        logger.info(f"Model, video processor and card saved to {output_dir}; reconstruction picture: {picture}")
        print(f"Reconstruction picture: {picture.resolve()}")
        if training_args.push_to_hub:
            ignore = [*DEFAULT_IGNORE_PATTERNS, "data_order/*"]
            if quick_start:
                ignore.append("data/*")
            push_to_hub(output_dir, training_args.hub_model_id, private=training_args.hub_private_repo,
                        ignore_patterns=ignore)  # fmt: skip
            logger.info(f"Pushed {output_dir} to https://huggingface.co/{training_args.hub_model_id}")
    accelerator.end_training()
    return output_dir


def main(argv: list[str] | None = None) -> None:
    """The console command: run, then exit with status 0 (a console script exits with whatever `main` returns)."""
    run(argv)


if __name__ == "__main__":
    main()
