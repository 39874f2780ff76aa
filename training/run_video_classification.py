"""
Fine-tune a MAE-ST encoder into a video classifier with Accelerate, following the official recipe
(facebookresearch/mae_st FINETUNE.md, ViT-L on Kinetics-400).

    accelerate launch training/run_video_classification.py \
        --model_name_or_path path/to/pretrained --train_dir videos/train --validation_dir videos/val \
        --output_dir mae-st-finetuned

Read top to bottom: arguments, data, model, optimizer, loop, evaluation, save. Every default is the official value;
the resolved values go to `output_dir/finetuning_args.json`, the log and the model card.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import datasets
import torch
from accelerate import Accelerator
from accelerate.logging import get_logger
from accelerate.utils import set_seed
from tqdm.auto import tqdm
from transformers import AutoConfig, HfArgumentParser

from modeling_mae_st import MAESTForVideoClassification
from modeling_mae_st.data import (
    BadVideoTracker,
    build_video_dataloader,
    get_label_names,
    load_video_dataset,
    load_video_folder,
    load_video_index,
)
from modeling_mae_st.evaluation import evaluate_classifier, save_evaluation_report
from modeling_mae_st.hub import push_to_hub, save_for_hub
from modeling_mae_st.mixup import VideoMixup
from modeling_mae_st.model_card import RunFacts, build_model_card
from modeling_mae_st.optimization import (
    build_adamw,
    get_warmup_cosine_schedule,
    param_groups_layer_decay,
    scaled_learning_rate,
)
from modeling_mae_st.video_processing_mae_st import MAESTVideoProcessor


logger = get_logger(__name__)


@dataclass
class ModelArguments:
    model_name_or_path: str = field(
        metadata={
            "help": "Folder written by our pretraining, a converted official or PySlowFast checkpoint folder, a "
            "fine-tuned folder, or a Hub id."
        }
    )
    drop_path_rate: float = field(default=0.2, metadata={"help": "Stochastic depth of the encoder (official: 0.2)."})
    classifier_dropout: float = field(default=0.3, metadata={"help": "Dropout before the head (official: 0.3)."})
    head_init_std: float = field(
        default=2e-5, metadata={"help": "Std of the trunc-normal init of a new head's weights (official: 2e-5)."}
    )
    ignore_mismatched_sizes: bool = field(
        default=True,
        metadata={"help": "Replace a fine-tuned head whose number of labels differs from the data's."},
    )


@dataclass
class DataArguments:
    train_dir: str | None = field(default=None, metadata={"help": "Folder with one sub-folder of videos per label."})
    validation_dir: str | None = field(default=None, metadata={"help": "Same layout as --train_dir."})
    train_file: str | None = field(
        default=None, metadata={"help": "CSV or JSON lines with a path and a label column."}
    )
    validation_file: str | None = field(default=None, metadata={"help": "Same format as --train_file."})
    dataset_name: str | None = field(default=None, metadata={"help": "A `datasets` dataset (Hub id or local)."})
    dataset_config_name: str | None = field(default=None, metadata={"help": "Configuration of --dataset_name."})
    train_split_name: str = field(default="train", metadata={"help": "Training split of --dataset_name."})
    validation_split_name: str | None = field(
        default="validation", metadata={"help": "Validation split of --dataset_name; optional."}
    )
    streaming: bool = field(default=False, metadata={"help": "Stream --dataset_name instead of downloading it."})
    video_column_name: str | None = field(
        default=None,
        metadata={"help": "Column with the video path or video cell; default: 'video' (datasets), 'path' (files)."},
    )
    label_column_name: str = field(default="label", metadata={"help": "Column with the label (name or index)."})
    max_train_samples: int | None = field(default=None, metadata={"help": "Keep only this many training videos."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Keep only this many validation videos."})
    num_frames: int | None = field(default=None, metadata={"help": "Frames per clip; default: the model's."})
    sampling_rate: int = field(default=4, metadata={"help": "Stride between clip frames at 30 fps (official: 4)."})
    image_size: int | None = field(default=None, metadata={"help": "Crop size; default: the model's image_size."})
    short_side_size: int | None = field(
        default=None,
        metadata={"help": "Short side before the evaluation crop; default image_size * 256 / 224 (official 256)."},
    )
    train_jitter_scales: tuple[int, int] | None = field(
        default=None,
        metadata={"help": "Training short-side jitter; default image_size * (256, 320) / 224 (official 256 320)."},
    )
    jitter_scales_relative: tuple[float, float] = field(
        default=(0.08, 1.0), metadata={"help": "Area range of the random resized crop (official: 0.08 1.0)."}
    )
    jitter_aspect_relative: tuple[float, float] = field(
        default=(0.75, 1.3333), metadata={"help": "Aspect range of the random resized crop (official)."}
    )
    rand_augment: str | None = field(
        default="rand-m7-mstd0.5-inc1",
        metadata={"help": "RandAugment policy applied to all frames of a clip alike; 'none' turns it off."},
    )
    random_erasing_prob: float = field(default=0.25, metadata={"help": "Random erasing probability (official)."})
    repeat_aug: int = field(default=2, metadata={"help": "Augmented clips per decoded video (official: 2)."})
    num_temporal_views: int = field(
        default=10, metadata={"help": "Clips per video in the final test (official test script: 10; paper: 7)."}
    )
    num_spatial_crops: int = field(default=3, metadata={"help": "Crops per clip in the final test (official: 3)."})
    horizontal_flip: bool = field(
        default=True,
        metadata={"help": "Mirror training clips (official); turn off when labels depend on left/right motion."},
    )
    max_bad_video_fraction: float = field(
        default=0.05, metadata={"help": "Stop when more than this fraction of the videos cannot be decoded."}
    )
    preprocessing_num_workers: int = field(default=4, metadata={"help": "DataLoader workers."})


@dataclass
class FinetuningArguments:
    output_dir: str = field(default="mae-st-finetuned", metadata={"help": "Where checkpoints and the model go."})
    per_device_train_batch_size: int = field(default=2, metadata={"help": "Videos per device (official: 2)."})
    per_device_eval_batch_size: int = field(default=2, metadata={"help": "Videos per device in evaluation."})
    gradient_accumulation_steps: int = field(default=1, metadata={"help": "Batches per optimizer step."})
    num_train_epochs: int = field(default=50, metadata={"help": "Epochs (official ViT-L K400: 50)."})
    max_train_steps: int | None = field(default=None, metadata={"help": "Optimizer steps; overrides the epochs."})
    learning_rate: float | None = field(
        default=None, metadata={"help": "Peak lr; default: base_learning_rate * effective batch / 256."}
    )
    base_learning_rate: float = field(
        default=2.4e-3, metadata={"help": "Base lr per 256 clips, repeat_aug copies counted (official: 2.4e-3)."}
    )
    min_learning_rate: float = field(default=1e-6, metadata={"help": "Floor of the cosine (official: 1e-6)."})
    warmup_epochs: float = field(default=5, metadata={"help": "Linear warmup epochs (official: 5)."})
    weight_decay: float = field(default=0.05, metadata={"help": "AdamW weight decay (official: 0.05)."})
    adam_beta1: float = field(default=0.9)
    adam_beta2: float = field(default=0.999)
    layer_decay: float = field(default=0.75, metadata={"help": "Layer-wise lr decay (official: 0.75)."})
    max_grad_norm: float = field(default=5.0, metadata={"help": "Gradient clipping (official: 5.0); 0 disables."})
    mixup: float = field(default=0.8, metadata={"help": "Mixup alpha (official: 0.8); 0 disables."})
    cutmix: float = field(default=1.0, metadata={"help": "CutMix alpha (official: 1.0); 0 disables."})
    mixup_prob: float = field(default=1.0, metadata={"help": "Probability of mixing a batch (official: 1.0)."})
    mixup_switch_prob: float = field(default=0.5, metadata={"help": "Probability of CutMix over mixup (0.5)."})
    label_smoothing: float = field(default=0.1, metadata={"help": "Label smoothing (official: 0.1)."})
    seed: int = field(default=0)
    mixed_precision: str | None = field(default=None, metadata={"help": "no, fp16 or bf16 (official: fp32)."})
    checkpointing_steps: str | None = field(
        default=None, metadata={"help": "Save the training state every N optimizer steps, or 'epoch'."}
    )
    resume_from_checkpoint: str | None = field(
        default=None, metadata={"help": "A checkpoint folder to resume from, or 'latest' in --output_dir."}
    )
    eval_every_epoch: bool = field(default=True, metadata={"help": "Single-view validation after each epoch."})
    with_tracking: bool = field(default=False, metadata={"help": "Log to the trackers of --report_to."})
    report_to: str = field(default="all", metadata={"help": "tensorboard, wandb, ... or all."})
    logging_steps: int = field(default=10, metadata={"help": "Log every N optimizer steps."})
    push_to_hub: bool = field(default=False)
    hub_model_id: str | None = field(default=None, metadata={"help": "Repository id; default: output_dir's name."})
    hub_token: str | None = field(default=None)


def run(argv: list[str] | None = None) -> dict:
    parser = HfArgumentParser((ModelArguments, DataArguments, FinetuningArguments))
    model_args, data_args, train_args = parser.parse_args_into_dataclasses(args=argv)

    output_dir = Path(train_args.output_dir)
    tracking = {"log_with": train_args.report_to, "project_dir": str(output_dir)} if train_args.with_tracking else {}
    accelerator = Accelerator(
        gradient_accumulation_steps=train_args.gradient_accumulation_steps,
        mixed_precision=train_args.mixed_precision,
        **tracking,
    )
    logging.basicConfig(format="%(asctime)s - %(levelname)s - %(name)s - %(message)s", level=logging.INFO)
    logger.info(accelerator.state, main_process_only=False)
    set_seed(train_args.seed, device_specific=True)
    if accelerator.is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)

    # ---------------------------------------------------------------------------------------------------------
    # Model config first: its sizes decide the clips; labels come from the data.
    # ---------------------------------------------------------------------------------------------------------
    config = AutoConfig.from_pretrained(model_args.model_name_or_path)
    num_frames = data_args.num_frames or config.num_frames
    image_size = data_args.image_size or config.image_size
    check_sizes_fit(config, num_frames, image_size, model_args.model_name_or_path)

    with accelerator.main_process_first():
        train_dataset, eval_dataset, label_names = load_splits(data_args)
    id2label = dict(enumerate(label_names))
    logger.info(f"{len(label_names)} labels: {label_names}")

    # ---------------------------------------------------------------------------------------------------------
    # Processors: training clips with the fine-tuning augmentation, single-view and multi-view evaluation.
    # ---------------------------------------------------------------------------------------------------------
    eval_processor, train_processor, test_processor = build_processors(data_args, num_frames, image_size)

    num_workers = data_args.preprocessing_num_workers
    train_dataloader = build_video_dataloader(
        train_dataset,
        train_processor,
        batch_size=train_args.per_device_train_batch_size,
        num_workers=num_workers,
        seed=train_args.seed,
    )
    eval_dataloader = test_dataloader = None
    if eval_dataset is not None:
        eval_batch_size = train_args.per_device_eval_batch_size
        eval_dataloader = build_video_dataloader(
            eval_dataset, eval_processor, batch_size=eval_batch_size, num_workers=num_workers
        )
        test_dataloader = build_video_dataloader(
            eval_dataset, test_processor, batch_size=eval_batch_size, num_workers=num_workers
        )

    # ---------------------------------------------------------------------------------------------------------
    # Model: the pretrained encoder with a new head (trunc-normal std 2e-5, as the official fine-tuning).
    # ---------------------------------------------------------------------------------------------------------
    model, new_head = load_classifier(model_args, config, label_names)

    # ---------------------------------------------------------------------------------------------------------
    # Optimizer and schedule: layer-wise lr decay, lr scaled by the effective batch counting repeat_aug copies.
    # ---------------------------------------------------------------------------------------------------------
    effective_batch_size = (
        train_args.per_device_train_batch_size
        * train_args.gradient_accumulation_steps
        * accelerator.num_processes
        * data_args.repeat_aug
    )
    learning_rate = train_args.learning_rate or scaled_learning_rate(
        train_args.base_learning_rate, effective_batch_size
    )
    optimizer = build_adamw(
        param_groups_layer_decay(model, train_args.weight_decay, train_args.layer_decay),
        learning_rate,
        betas=(train_args.adam_beta1, train_args.adam_beta2),
    )
    if isinstance(train_dataset, datasets.IterableDataset):
        # A stream has no length: the run is --max_train_steps long and warms up for the same fraction of it as
        # warmup_epochs / num_train_epochs.
        if train_args.max_train_steps is None:
            raise ValueError("A streaming training set has no length: give --max_train_steps.")
        max_train_steps = steps_per_epoch = train_args.max_train_steps
        num_train_epochs = max_train_steps  # passes over the stream, each at least one step
        num_warmup_steps = round(max_train_steps * train_args.warmup_epochs / train_args.num_train_epochs)
    else:
        batches_per_step = train_args.gradient_accumulation_steps * accelerator.num_processes
        if len(train_dataloader) == 0:
            raise ValueError(
                f"The training split has {len(train_dataset)} videos, fewer than one batch of "
                f"{train_args.per_device_train_batch_size}; lower --per_device_train_batch_size."
            )
        steps_per_epoch = max(len(train_dataloader) // batches_per_step, 1)
        max_train_steps = train_args.max_train_steps or train_args.num_train_epochs * steps_per_epoch
        num_train_epochs = math.ceil(max_train_steps / steps_per_epoch)
        num_warmup_steps = round(train_args.warmup_epochs * steps_per_epoch)
    num_warmup_steps = min(num_warmup_steps, max_train_steps)
    scheduler = get_warmup_cosine_schedule(optimizer, num_warmup_steps, max_train_steps, train_args.min_learning_rate)
    mixup = VideoMixup(
        num_labels=len(label_names),
        mixup_alpha=train_args.mixup,
        cutmix_alpha=train_args.cutmix,
        mixup_prob=train_args.mixup_prob,
        switch_prob=train_args.mixup_switch_prob,
        label_smoothing=train_args.label_smoothing,
    )

    model, optimizer, train_dataloader = accelerator.prepare(model, optimizer, train_dataloader)
    if eval_dataloader is not None:
        eval_dataloader, test_dataloader = accelerator.prepare(eval_dataloader, test_dataloader)
    # The schedule steps once per optimizer step on every process, so it is not wrapped; it is saved with the state.
    accelerator.register_for_checkpointing(scheduler)

    resolved = {
        "model": asdict(model_args),
        "data": asdict(data_args),
        "training": asdict(train_args),
        "resolved": {
            "num_labels": len(label_names),
            "num_frames": num_frames,
            "image_size": image_size,
            "effective_batch_size": effective_batch_size,
            "learning_rate": learning_rate,
            "steps_per_epoch": steps_per_epoch,
            "max_train_steps": max_train_steps,
            "num_train_epochs": num_train_epochs,
            "num_warmup_steps": num_warmup_steps,
            "num_processes": accelerator.num_processes,
            "mixed_precision": accelerator.mixed_precision,
            "new_head": new_head,
        },
    }
    logger.info("Resolved arguments:\n" + json.dumps(resolved, indent=2, default=str))
    if accelerator.is_main_process:
        (output_dir / "finetuning_args.json").write_text(json.dumps(resolved, indent=2, default=str) + "\n")
    if train_args.with_tracking:
        accelerator.init_trackers("mae_st_finetuning", flatten_for_tracking(resolved))

    # ---------------------------------------------------------------------------------------------------------
    # Resume: the weights, optimizer, schedule and RNG states of `save_state`, and the batches already seen.
    # ---------------------------------------------------------------------------------------------------------
    completed_steps = starting_epoch = batches_to_skip = 0
    if train_args.resume_from_checkpoint:
        checkpoint = resolve_checkpoint(train_args.resume_from_checkpoint, output_dir)
        accelerator.load_state(str(checkpoint))
        resumed_rng_state = torch.random.get_rng_state()
        if data_args.preprocessing_num_workers == 0:
            logger.warning(
                "Resuming with --preprocessing_num_workers 0: the augmentation then shares the main random stream "
                "with the model, so the resumed run is close to, but not bit-identical with, an uninterrupted one."
            )
        completed_steps = int(json.loads((checkpoint / "progress.json").read_text())["completed_steps"])
        starting_epoch, steps_into_epoch = divmod(completed_steps, steps_per_epoch)
        batches_to_skip = steps_into_epoch * train_args.gradient_accumulation_steps
        logger.info(f"Resumed from {checkpoint} at step {completed_steps} (epoch {starting_epoch})")

    # ---------------------------------------------------------------------------------------------------------
    # Training loop.
    # ---------------------------------------------------------------------------------------------------------
    progress = tqdm(
        total=max_train_steps,
        initial=completed_steps,
        disable=not accelerator.is_local_main_process,
        desc="fine-tuning",
    )
    bad_videos = BadVideoTracker(max_bad_fraction=data_args.max_bad_video_fraction)
    history: list[dict] = []
    start_time = time.time()
    for epoch in range(starting_epoch, num_train_epochs):
        model.train()
        batches = iter_epoch(train_dataloader, train_args.seed + epoch)
        if batches_to_skip:
            # Resuming inside an epoch: decode and drop the batches already trained on, so that the shuffling and
            # the augmentation streams line up with the interrupted run, then restore the checkpoint's RNG state
            # (which the data pipeline may have drawn from with num_workers=0).
            for _ in range(batches_to_skip):
                next(batches)
            torch.random.set_rng_state(resumed_rng_state)
            batches_to_skip = 0
        running_loss = torch.zeros((), device=accelerator.device)
        for batch in batches:
            bad_videos.update(batch)  # logs and counts undecodable videos; raises past max_bad_video_fraction
            if batch["pixel_values"] is None:
                continue  # every video of this batch failed to decode
            # (batch * repeat_aug, frames, channels, height, width): repeated clips are ordinary samples
            pixel_values, labels = batch["pixel_values"], batch["labels"]
            with accelerator.accumulate(model):
                pixel_values, targets = mixup(pixel_values, labels)
                loss = model(pixel_values=pixel_values, labels=targets).loss
                accelerator.backward(loss)
                if accelerator.sync_gradients and train_args.max_grad_norm > 0:
                    accelerator.clip_grad_norm_(model.parameters(), train_args.max_grad_norm)
                optimizer.step()
                optimizer.zero_grad()
            running_loss += loss.detach() / train_args.gradient_accumulation_steps
            if not accelerator.sync_gradients:
                continue
            scheduler.step()
            completed_steps += 1
            step_loss = accelerator.gather(running_loss).mean().item()
            running_loss.zero_()
            lr = optimizer.param_groups[-1]["lr"]
            progress.update(1)
            progress.set_postfix(loss=f"{step_loss:.4f}", lr=f"{lr:.3e}")
            if completed_steps % train_args.logging_steps == 0 or completed_steps == max_train_steps:
                record = {"step": completed_steps, "epoch": epoch, "loss": step_loss, "lr": lr}
                history.append(record)
                if train_args.with_tracking:
                    accelerator.log({"train/loss": step_loss, "train/lr": lr}, step=completed_steps)
            if should_checkpoint(train_args.checkpointing_steps, completed_steps):
                save_checkpoint(accelerator, output_dir / f"step_{completed_steps}", completed_steps)
            if completed_steps >= max_train_steps:
                break

        epoch_log = {"epoch": epoch, "step": completed_steps, "skipped_videos": count_skipped(accelerator, bad_videos)}
        if eval_dataloader is not None and train_args.eval_every_epoch:
            metrics, _, _ = evaluate_classifier(model, eval_dataloader, accelerator)
            epoch_log.update({f"eval/{name}": value for name, value in metrics.items()})
        logger.info(json.dumps(epoch_log))
        history.append(epoch_log)
        if train_args.with_tracking:
            accelerator.log(epoch_log, step=completed_steps)
        if train_args.checkpointing_steps == "epoch":
            save_checkpoint(accelerator, output_dir / f"epoch_{epoch}", completed_steps)
        if completed_steps >= max_train_steps:
            break
    progress.close()
    train_seconds = time.time() - start_time

    # ---------------------------------------------------------------------------------------------------------
    # Final evaluation: the official multi-view test (softmax averaged over clips x crops per video).
    # ---------------------------------------------------------------------------------------------------------
    results = {
        "train_seconds": train_seconds,
        "completed_steps": completed_steps,
        "skipped_videos": count_skipped(accelerator, bad_videos),
        "skipped_video_names": bad_videos.skipped_videos,
        "num_views": {"temporal": data_args.num_temporal_views, "spatial": data_args.num_spatial_crops},
    }
    pictures = []
    if test_dataloader is not None:
        metrics, probabilities, labels = evaluate_classifier(model, test_dataloader, accelerator)
        results["multi_view"] = metrics
        if accelerator.is_main_process:
            report = save_evaluation_report(probabilities, labels, id2label, output_dir, prefix="eval")
            pictures.append(report["confusion_matrix"].name)
        logger.info(
            f"Multi-view ({data_args.num_temporal_views}x{data_args.num_spatial_crops}) validation: "
            + json.dumps(metrics)
        )
    logger.info(f"Skipped {results['skipped_videos']} videos that could not be decoded")
    if train_args.with_tracking:
        accelerator.log({f"test/{k}": v for k, v in results.get("multi_view", {}).items()}, step=completed_steps)
        accelerator.end_training()

    # ---------------------------------------------------------------------------------------------------------
    # Save model, processor, card; optionally push.
    # ---------------------------------------------------------------------------------------------------------
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        unwrapped = accelerator.unwrap_model(model)
        repo_id = train_args.hub_model_id or output_dir.name
        multi_view = results.get("multi_view", {})
        run = RunFacts(
            dataset=data_args.dataset_name or data_args.train_dir or data_args.train_file,
            dataset_id=data_args.dataset_name,
            num_train_videos=None if isinstance(train_dataset, datasets.IterableDataset) else len(train_dataset),
            eval_dataset=data_args.dataset_name or data_args.validation_dir or data_args.validation_file,
            eval_split=f"validation, {data_args.num_temporal_views}x{data_args.num_spatial_crops} views",
            loss_history=[record["loss"] for record in history if "loss" in record],
            accuracy_top1=multi_view.get("top1"),
            accuracy_top5=multi_view.get("top5"),
            hyperparameters=flatten_for_tracking(resolved),
            hardware=describe_hardware(accelerator),
            wall_time_seconds=train_seconds,
            pictures=pictures,
            base_model=model_args.model_name_or_path if not os.path.isdir(model_args.model_name_or_path) else None,
        )
        card = build_model_card("classifier", unwrapped.config, repo_id, run=run)
        save_for_hub(
            unwrapped,
            output_dir,
            video_processor=eval_processor,
            card=card,
            extra_files=[output_dir / name for name in pictures],
        )
        (output_dir / "all_results.json").write_text(json.dumps({**results, "history": history}, indent=2) + "\n")
        if train_args.push_to_hub:
            push_to_hub(output_dir, repo_id, token=train_args.hub_token)
    accelerator.wait_for_everyone()
    return results


def load_splits(data_args: DataArguments):
    """
    The training split, the optional validation split and the class names, from folders, index files or a
    `datasets` dataset. Validation labels are mapped onto the training label ids.

    Returns:
        `(train, validation or None, label_names)`.

    Raises:
        ValueError: no source or several, a split without videos, no label column, or validation classes that the
            training data does not have.
    """
    sources = [name for name in ("train_dir", "train_file", "dataset_name") if getattr(data_args, name)]
    if len(sources) != 1:
        raise ValueError(f"Give exactly one of --train_dir, --train_file, --dataset_name (got {sources or 'none'}).")
    label_column = data_args.label_column_name
    if data_args.train_dir:
        train = load_video_folder(data_args.train_dir)["train"]
        validation = load_video_folder(data_args.validation_dir)["train"] if data_args.validation_dir else None
    elif data_args.train_file:
        files = {"train": data_args.train_file}
        if data_args.validation_file:
            files["validation"] = data_args.validation_file
        splits = load_video_index(
            files,
            streaming=data_args.streaming,
            path_column=data_args.video_column_name or "path",
            label_column=label_column,
        )
        train, validation = splits["train"], splits.get("validation")
    else:
        splits = load_video_dataset(
            data_args.dataset_name,
            video_column=data_args.video_column_name or "video",
            label_column=label_column,
            streaming=data_args.streaming,
            **({"name": data_args.dataset_config_name} if data_args.dataset_config_name else {}),
        )
        if data_args.train_split_name not in splits:
            raise ValueError(
                f"{data_args.dataset_name} has no split {data_args.train_split_name!r} (splits: {list(splits)})."
            )
        train = splits[data_args.train_split_name]
        validation = splits.get(data_args.validation_split_name) if data_args.validation_split_name else None

    label_names = get_label_names(train)
    if label_names is None:
        raise ValueError(
            f"The training data has no label column {label_column!r} (columns: {train.column_names}); name it with "
            "--label_column_name, or for folders put each video in a sub-folder named after its label."
        )
    train = _limit(train, data_args.max_train_samples, "training", data_args)
    if validation is not None:
        validation = _limit(
            _align_labels(validation, label_names), data_args.max_eval_samples, "validation", data_args
        )
    return train, validation, label_names


def _limit(dataset, max_samples: int | None, split: str, data_args: DataArguments):
    """Keep the first `max_samples` videos; raise `ValueError` for an empty split."""
    if isinstance(dataset, datasets.IterableDataset):
        return dataset.take(max_samples) if max_samples else dataset
    if len(dataset) == 0:
        source = data_args.train_dir or data_args.train_file or data_args.dataset_name
        raise ValueError(f"The {split} split of {source} has no videos.")
    return dataset.select(range(min(max_samples, len(dataset)))) if max_samples else dataset


def _align_labels(validation, label_names: list[str]):
    """Re-number validation labels by the training class names."""
    names = get_label_names(validation)
    if names is None:
        raise ValueError(f"The validation data has no label column (columns: {validation.column_names}).")
    if names == label_names:
        return validation
    unknown = sorted(set(names) - set(label_names))
    if unknown:
        raise ValueError(f"Validation classes {unknown} do not occur in the training data ({label_names}).")
    new_ids = [label_names.index(name) for name in names]
    features = validation.features.copy()
    features["label"] = datasets.ClassLabel(names=label_names)
    return validation.map(
        lambda batch: {"label": [new_ids[i] for i in batch["label"]]}, batched=True, features=features
    )


def build_processors(data_args: DataArguments, num_frames: int, image_size: int):
    """
    The three video processors of a run: single-view evaluation (saved with the model), training (the fine-tuning
    augmentation, `repeat_aug` clips per video) and the multi-view test.

    Returns:
        `(eval_processor, train_processor, test_processor)`.
    """
    eval_processor = MAESTVideoProcessor(
        mode="eval",
        num_frames=num_frames,
        sampling_rate=data_args.sampling_rate,
        crop_size=image_size,
        short_side_size=data_args.short_side_size or round(image_size * 256 / 224),
    )
    use_rand_augment = data_args.rand_augment not in (None, "", "none")
    train_processor = eval_processor.with_settings(
        mode="train",
        repeat_aug=data_args.repeat_aug,
        train_jitter_scales=tuple(data_args.train_jitter_scales or (round(image_size * s / 224) for s in (256, 320))),
        do_random_resized_crop=True,
        jitter_scales_relative=tuple(data_args.jitter_scales_relative),
        jitter_aspect_relative=tuple(data_args.jitter_aspect_relative),
        do_horizontal_flip=data_args.horizontal_flip,
        do_rand_augment=use_rand_augment,
        **({"rand_augment_policy": data_args.rand_augment} if use_rand_augment else {}),
        do_random_erasing=data_args.random_erasing_prob > 0,
        random_erasing_prob=data_args.random_erasing_prob,
    )
    test_processor = eval_processor.with_settings(
        num_temporal_views=data_args.num_temporal_views, num_spatial_crops=data_args.num_spatial_crops
    )
    return eval_processor, train_processor, test_processor


def load_classifier(model_args: ModelArguments, config, label_names: list[str]):
    """
    The classifier on the checkpoint's encoder, with the data's labels and the recipe's drop path and dropout. A new
    head (a pretraining folder, or a fine-tuned one with other labels) gets trunc-normal weights of std
    `head_init_std` (2e-5 in the official recipe) and zero bias.

    Returns:
        `(model, new_head)`.
    """
    config.update(
        {
            "num_labels": len(label_names),
            "id2label": dict(enumerate(label_names)),
            "label2id": {name: index for index, name in enumerate(label_names)},
            "drop_path_rate": model_args.drop_path_rate,
            "classifier_dropout": model_args.classifier_dropout,
        }
    )
    model, loading_info = MAESTForVideoClassification.from_pretrained(
        model_args.model_name_or_path,
        config=config,
        ignore_mismatched_sizes=model_args.ignore_mismatched_sizes,
        output_loading_info=True,
    )
    replaced = [key[0] if isinstance(key, tuple) else key for key in loading_info.get("mismatched_keys", [])]
    new_head = any(key.startswith("classifier.") for key in [*loading_info["missing_keys"], *replaced])
    if new_head:
        torch.nn.init.trunc_normal_(model.classifier.weight, std=model_args.head_init_std)
        torch.nn.init.zeros_(model.classifier.bias)
    encoder_missing = [key for key in loading_info["missing_keys"] if not key.startswith("classifier.")]
    if encoder_missing:
        # the official fine-tuning loads with strict=False and would train on from these random weights
        raise ValueError(
            f"{model_args.model_name_or_path} lacks encoder weights {sorted(encoder_missing)}: fine-tuning would start "
            "them from random values. Convert or re-save the checkpoint with this version of mae-st."
        )
    return model, new_head


def check_sizes_fit(config, num_frames: int, image_size: int, source: str) -> None:
    """
    Fail before training when the clips would not fit the checkpoint's position tables.

    Raises:
        ValueError: naming the checkpoint's and the data's frames or size.
    """
    if num_frames != config.num_frames or image_size != config.image_size:
        raise ValueError(
            f"The checkpoint {source} was built for {config.num_frames}-frame clips of {config.image_size}x"
            f"{config.image_size} pixels, but the data arguments ask for {num_frames} frames of {image_size}x"
            f"{image_size}. Use --num_frames {config.num_frames} --image_size {config.image_size}, or a checkpoint "
            "of those sizes."
        )
    if num_frames % config.tubelet_size != 0 or image_size % config.patch_size != 0:
        raise ValueError(
            f"{num_frames} frames of {image_size} pixels do not divide into tubelets of {config.tubelet_size} "
            f"frames and patches of {config.patch_size} pixels."
        )


def count_skipped(accelerator: Accelerator, tracker: BadVideoTracker) -> int:
    """Videos skipped so far over all processes."""
    return int(accelerator.reduce(torch.tensor(tracker.num_skipped, device=accelerator.device), "sum"))


def iter_epoch(dataloader, seed: int):
    """
    Iterate one epoch with the shuffling and the workers' random streams drawn from `seed` (the run's seed plus the
    epoch), whatever happened before: a resumed run reproduces each epoch exactly.
    """
    for generator in (
        getattr(dataloader, "generator", None),
        getattr(getattr(dataloader, "sampler", None), "generator", None),
    ):
        if generator is not None:
            generator.manual_seed(seed)
    for target in (dataloader, getattr(dataloader, "sampler", None), getattr(dataloader, "dataset", None)):
        if hasattr(target, "set_epoch"):
            target.set_epoch(seed)
    return iter(dataloader)


def should_checkpoint(checkpointing_steps: str | None, completed_steps: int) -> bool:
    return (
        checkpointing_steps is not None
        and checkpointing_steps.isdigit()
        and (completed_steps % int(checkpointing_steps) == 0)
    )


def save_checkpoint(accelerator: Accelerator, folder: Path, completed_steps: int) -> None:
    """`accelerator.save_state` plus the step counter, so that a resume lands on the same batch."""
    accelerator.save_state(str(folder))
    if accelerator.is_main_process:
        (folder / "progress.json").write_text(json.dumps({"completed_steps": completed_steps}) + "\n")


def resolve_checkpoint(value: str, output_dir: Path) -> Path:
    """
    A checkpoint folder, or the newest `step_*` / `epoch_*` folder of `output_dir` for `"latest"`.

    Raises:
        FileNotFoundError: no such folder, or no checkpoint in `output_dir`.
    """
    if value == "latest":
        candidates = [p for p in output_dir.glob("*_*") if (p / "progress.json").is_file()]
        if not candidates:
            raise FileNotFoundError(f"No checkpoint (step_* or epoch_* with progress.json) in {output_dir}.")
        return max(candidates, key=lambda p: json.loads((p / "progress.json").read_text())["completed_steps"])
    path = Path(value)
    if not (path / "progress.json").is_file():
        raise FileNotFoundError(f"{path} is not a checkpoint written by this script (no progress.json).")
    return path


def flatten_for_tracking(nested: dict, prefix: str = "") -> dict:
    """Flat `group/name -> value` with lists and tuples as strings (what trackers accept)."""
    flat = {}
    for key, value in nested.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten_for_tracking(value, f"{name}/"))
        else:
            flat[name] = value if isinstance(value, (int, float, str, bool)) or value is None else str(value)
    return flat


def describe_hardware(accelerator: Accelerator) -> str:
    if torch.cuda.is_available():
        return f"{accelerator.num_processes}x {torch.cuda.get_device_name()}"
    return f"{accelerator.num_processes} process(es) on {os.cpu_count()} CPU cores"


def main(argv: list[str] | None = None) -> None:
    """The console command: run, then exit with status 0 (a console script exits with whatever `main` returns)."""
    run(argv)


if __name__ == "__main__":
    main()
