#!/usr/bin/env python
"""
Pretrain MAE-ST (masked spatiotemporal autoencoding) with 🤗 Accelerate.

    mae-st-pretrain                                   # quick start: tiny model, synthetic videos, CPU (below)
    mae-st-pretrain --dataset_name /data/kinetics     # the official ViT-L recipe on your videos
    accelerate launch --num_processes 8 -m mae_st_training.run_pretraining --dataset_name /data/kinetics ...

The defaults are the official recipe (facebookresearch/mae_st `main_pretrain.py`, `PRETRAIN.md`): ViT-L, mask ratio
0.9, normalized-pixel targets, 8 predicted frames, a decoder 512 wide and 4 deep, AdamW (0.9, 0.95) with weight decay
0.05 (none on biases and norms), lr = 1.6e-3 x batch / 256, linear warmup then half-cosine per step, gradient
clipping 0.02, and 4 clips per video (repeated augmentation). An epoch is a pass over the videos, as in the official
command line and `TrainingArguments` (`--num_train_epochs 100` with `--repeat_aug 4` is what the paper counts as 400
effective epochs). The arguments are in training/arguments.py.

The quick start (no --dataset_name) trains a 0.8 M-parameter model for 800 steps on 160 synthetic videos and ends by
printing its error on the hidden patches of 8 held-out videos as a multiple of the error of filling each hidden patch
with its clip's visible average: 0.45x, 115 s wall on this project's 2 idle cores (README).

The script reads top to bottom: arguments, accelerator, model, data, optimizer and schedule, resume, loop, save.
See training/README.md for multi-GPU (DDP), FSDP, DeepSpeed, resuming and pushing to the Hub.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import time
from itertools import islice
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.logging import get_logger
from accelerate.utils import DataLoaderConfiguration, DistributedType, ProjectConfiguration, set_seed
from tqdm.auto import tqdm

from mae_st_training.arguments import hub_dataset_id, parse_pretraining_arguments, run_command, without_tokens
from mae_st_training.checkpointing import (
    checkpoint_due,
    resolve_checkpoint,
    resume_training,
    save_checkpoint,
)
from mae_st_training.loop import (
    LogHistory,
    LoggingWindow,
    TrainingProgress,
    agree_on_clips,
    build_training_dataloader,
    check_accelerator_choices,
)
from modeling_mae_st import MAESTConfig, MAESTForPreTraining
from modeling_mae_st.command_line import UsageError, load_pretrained
from modeling_mae_st.data import (
    BadVideoTracker,
    TooManyBadVideosError,
    check_split_names,
    example_seed,
    load_video_dataset,
    share_cpu_cores,
)
from modeling_mae_st.flops import count_training_flops
from modeling_mae_st.hub import DEFAULT_IGNORE_PATTERNS, default_video_processor, push_to_hub, save_for_hub
from modeling_mae_st.model_card import RunFacts, build_model_card, describe_hardware, describe_precision
from modeling_mae_st.optimization import (
    build_adamw,
    get_warmup_cosine_schedule,
    param_groups_weight_decay,
    scaled_learning_rate,
)
from modeling_mae_st.shards import sample_name
from modeling_mae_st.synthetic import make_synthetic_pretraining_videos
from modeling_mae_st.video_decoding import VideoDecodingError
from modeling_mae_st.video_transforms import to_device_without_waiting
from modeling_mae_st.visualization import HiddenPatchError, visualize_reconstruction


logger = get_logger(__name__)

# The quick start (no --dataset_name; its argument values are in training/arguments.py): its synthetic videos. The
# held-out videos (validation split: the pictures and the held-out error) come
# from another seed of the generator than the training videos.
QUICKSTART_DATA = {
    "num_frames": 32, "size": (96, 64), "texture_scale": 4.0, "noise_amplitude": 0, "bit_rate": 1_000_000,
}  # fmt: skip
QUICKSTART_SPLITS = {"train": {"num_videos": 160, "seed": 0}, "validation": {"num_videos": 8, "seed": 1}}


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


def save_reconstruction(
    accelerator: Accelerator, model, pixel_values, path: Path, step: int, seed: int, processor
) -> HiddenPatchError:
    """Write the reconstruction grid of the held-out clips (fixed masks), log it to the trackers, and return the
    model's error on their hidden patches against the visible-average predictor's."""
    pictures = visualize_reconstruction(
        accelerator.unwrap_model(model), pixel_values, seed=seed, video_processor=processor
    )
    if accelerator.is_main_process:
        pictures.save_grid(path)
        pictures.log_to_trackers(accelerator.trackers, step, path)
        accelerator.log({"held_out_error_ratio": pictures.error.ratio}, step=step)
        logger.info(f"Held-out clips at step {step}: {pictures.error}; picture {path}")
    return pictures.error


# ---------------------------------------------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------------------------------------------


def run(argv: list[str] | None = None) -> Path:
    """Run pretraining; returns the output folder. `argv` defaults to the command line."""
    model_args, data_args, training_args = parse_pretraining_arguments(argv)  # the quick start's values applied
    quick_start = data_args.dataset_name is None
    output_dir = Path(training_args.output_dir)

    # --- Accelerator: processes, mixed precision, accumulation, trackers ---
    check_accelerator_choices(
        training_args.report_to, training_args.torch_compile_backend, training_args.mixed_precision
    )
    accelerator = Accelerator(
        gradient_accumulation_steps=training_args.gradient_accumulation_steps,
        mixed_precision=training_args.mixed_precision,
        log_with=None if training_args.report_to == "none" else training_args.report_to,
        project_config=ProjectConfiguration(project_dir=str(output_dir), logging_dir=str(output_dir / "runs")),
        # every process shuffles with seed + pass, so the shards of a pass are disjoint and a resume replays them
        # (non_blocking: batches, page-locked by the DataLoader on a GPU machine, reach the device without the host
        # waiting for the accelerator)
        dataloader_config=DataLoaderConfiguration(
            use_seedable_sampler=True, data_seed=training_args.seed, non_blocking=True
        ),
        # torch.compile in `prepare`; unset, `accelerate launch --dynamo_backend` decides
        dynamo_backend=(training_args.torch_compile_backend or "inductor") if training_args.torch_compile else None,
    )
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    logger.info(accelerator.state, main_process_only=False)
    logger.info(f"Precision: {describe_precision(accelerator.mixed_precision)}")
    set_seed(training_args.seed)

    # --- Model config: checkpoint, config file, or preset (the weights come after the data checks) ---
    if model_args.model_name_or_path is not None:
        config = load_pretrained(MAESTConfig, model_args.model_name_or_path, "--model_name_or_path")
    elif model_args.config_name is not None:
        config = load_pretrained(MAESTConfig, model_args.config_name, "--config_name")
    else:
        try:
            config = MAESTConfig.from_preset(model_args.preset)
        except ValueError as error:  # an unknown preset; the message names the known ones
            raise UsageError(f"--preset: {error}") from None
    if model_args.config_overrides:
        try:
            config.update_from_string(model_args.config_overrides)
            config = MAESTConfig(**config.to_dict())  # validates the new values together
        except ValueError as error:  # a key the config lacks, a value of the wrong type or out of range
            raise UsageError(f"--config_overrides {model_args.config_overrides}: {error}") from None
    warn_if_few_visible_tokens(config.num_patches, config.mask_ratio)

    # The clips: the official Kinetics pretraining loader (random resized crop, flip), sized by the model's config.
    video_processor = default_video_processor(config).with_settings(sampling_rate=data_args.sampling_rate)
    if quick_start:
        video_processor = video_processor.with_settings(short_side_size=config.image_size)  # the whole short side
    # Each repeat_aug clip its own window (official pretraining); uint8 clips, normalized on the device.
    train_processor = video_processor.with_settings(
        mode="train", repeat_aug=data_args.repeat_aug, repeat_aug_shared_window=False, return_uint8=True
    )

    # --- Data ---
    if quick_start:
        data_dir = output_dir / "data"
        with accelerator.main_process_first():
            for split, videos in QUICKSTART_SPLITS.items():
                if not any((data_dir / split).glob("video_*")):
                    logger.info(f"Quick start: writing {videos['num_videos']} synthetic videos to {data_dir / split}")
                    make_synthetic_pretraining_videos(data_dir / split, **videos, **QUICKSTART_DATA)
        data_args.dataset_name = str(data_dir)
    with accelerator.main_process_first():
        dataset = load_video_dataset(
            data_args.dataset_name,
            name=data_args.dataset_config_name,
            video_column=data_args.video_column_name or "video",
            label_column=None,
            streaming=data_args.streaming,
        )
    check_split_names(dataset, data_args.dataset_name, data_args.train_split_name, data_args.validation_split_name)
    train_dataset = dataset[data_args.train_split_name]
    held_out = data_args.validation_split_name
    held_out_names = []  # streamed training videos held out for the pictures, left out of training by name
    if held_out in dataset and data_args.train_split_name != held_out:
        visualization_videos = [row["video"] for row in islice(dataset[held_out], data_args.num_visualization_clips)]
    elif data_args.streaming:
        examples = list(islice(train_dataset, data_args.num_visualization_clips))
        visualization_videos = [example["video"] for example in examples]
        held_out_names = [sample_name(example) for example in examples]
    else:
        visualization_videos = train_dataset[: data_args.num_visualization_clips]["video"]
        if len(visualization_videos) >= len(train_dataset):
            raise UsageError(
                f"The {data_args.train_split_name!r} split of {data_args.dataset_name} has {len(train_dataset)} "
                f"video(s), all held out for the reconstruction pictures (--num_visualization_clips "
                f"{data_args.num_visualization_clips}) with no validation split: give more videos, a validation "
                "split, or a smaller --num_visualization_clips."
            )
        train_dataset = train_dataset.select(range(len(visualization_videos), len(train_dataset)))
    if not data_args.streaming and len(train_dataset) == 0:
        raise UsageError(
            f"The {data_args.train_split_name!r} split of {data_args.dataset_name} has no videos to train on."
        )
    # Decoding workers and torch threads share the cores this process may use: oversubscribed, a 2-core machine
    # with another job running slowed the quick start several-fold (README).
    num_workers, torch_threads = share_cpu_cores(
        training_args.dataloader_num_workers, model_on_cpu=accelerator.device.type == "cpu"
    )
    # streamed: this process's part of the stream; else shuffled full batches (as the official pretraining)
    train_dataloader, stream = build_training_dataloader(
        train_dataset,
        train_processor,
        batch_size=training_args.per_device_train_batch_size,
        seed=training_args.seed,
        num_workers=num_workers,
        shuffle_buffer_size=data_args.shuffle_buffer_size,
        accelerator=accelerator,
        exclude=held_out_names,
    )
    if not data_args.streaming:
        seeded_videos = train_dataloader.dataset  # an IndexSeededVideoDataset: set its pass before each pass
        if len(train_dataset) < training_args.per_device_train_batch_size * accelerator.num_processes:
            raise UsageError(
                f"{len(train_dataset)} training videos cannot fill one batch of "
                f"{training_args.per_device_train_batch_size} videos on each of {accelerator.num_processes} processes."
            )
    visualization_clips = []  # (1, frames, channels, height, width) each, center crops of fixed windows
    for video in visualization_videos:
        try:
            visualization_clips.append(video_processor(videos=[video], return_tensors="pt")["pixel_values"])
        except VideoDecodingError as error:
            logger.warning(f"Held-out clip left out of the reconstruction pictures: {error}")
    if not visualization_clips:
        raise TooManyBadVideosError(
            f"None of the held-out videos {visualization_videos} can be decoded for the pictures."
        )
    visualization_clips = torch.cat(visualization_clips)

    # --- Model ---
    if model_args.model_name_or_path is not None:
        model = load_pretrained(
            MAESTForPreTraining, model_args.model_name_or_path, "--model_name_or_path", config=config
        )
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
    if data_args.streaming:  # the stream is split between the processes already; its clips go to the device below
        model, optimizer = accelerator.prepare(model, optimizer)
        steps_per_pass = None  # unknown: --max_train_steps and --warmup_steps are required
    else:
        model, optimizer, train_dataloader = accelerator.prepare(model, optimizer, train_dataloader)
        steps_per_pass = math.ceil(len(train_dataloader) / training_args.gradient_accumulation_steps)  # one epoch
    max_train_steps = training_args.max_train_steps or math.ceil(training_args.num_train_epochs * steps_per_pass)
    warmup_steps = training_args.warmup_steps
    if warmup_steps is None:
        warmup_steps = round(training_args.warmup_epochs * steps_per_pass)
    warmup_steps = min(warmup_steps, max_train_steps)
    # The schedule is stepped once per optimizer update by this loop, so it is not handed to `prepare`.
    lr_scheduler = get_warmup_cosine_schedule(
        optimizer, warmup_steps, max_train_steps, min_lr=training_args.min_learning_rate
    )
    progress = TrainingProgress()
    progress.record_data_order(None if data_args.streaming else len(train_dataset), training_args, data_args)
    accelerator.register_for_checkpointing(lr_scheduler, progress)
    if data_args.streaming:  # every process's position in the stream
        accelerator.register_for_checkpointing(stream)

    if accelerator.is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)
    run_config = without_tokens({  # what the trackers and the card show
        **dataclasses.asdict(model_args), **dataclasses.asdict(data_args), **dataclasses.asdict(training_args),
        "learning_rate": learning_rate, "effective_batch_size": effective_batch_size,
        "max_train_steps": max_train_steps, "warmup_steps": warmup_steps,
    })  # fmt: skip
    accelerator.init_trackers("mae-st-pretraining", {k: v for k, v in run_config.items() if v is not None})

    # --- Resume: model, optimizer, schedule, RNG and position in the data ---
    if training_args.resume_from_checkpoint:
        checkpoint = resolve_checkpoint(training_args.resume_from_checkpoint, output_dir)
        resume_training(accelerator, checkpoint, progress)
        logger.info(f"Resumed from {checkpoint} at step {progress.completed_steps}")
    start_step = progress.completed_steps
    log_history = LogHistory(output_dir, start_step, accelerator.is_main_process)  # the run's loss curve

    logger.info("***** Pretraining *****")
    videos = "streamed" if data_args.streaming else len(train_dataset)
    logger.info(f"  Videos = {videos}, clips per video (repeat_aug) = {data_args.repeat_aug}")
    logger.info(f"  Effective batch = {effective_batch_size} videos, lr = {learning_rate:.3e}")
    if steps_per_pass:
        logger.info(f"  Steps = {max_train_steps} ({max_train_steps / steps_per_pass:.2f} epochs, passes over the videos)")
    else:
        logger.info(f"  Steps = {max_train_steps}")
    logger.info(f"  Warmup steps = {warmup_steps}")
    logger.info(f"  Parameters = {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M")
    logger.info(f"  CPU: {torch_threads} torch thread(s), {num_workers} decoding worker(s)")

    # --- Training loop ---
    # Every micro-batch, the processes agree on it (training/loop.py): all skip one that no process could
    # decode, and a process with no clip runs a placeholder at loss weight 0, so the collectives stay in step. The
    # loop runs passes until the requested steps are done. Nothing in a step waits for the accelerator: the loss is
    # summed on the device and read at logging steps only.
    bad_videos = BadVideoTracker(
        max_bad_video_fraction=data_args.max_bad_video_fraction,
        num_videos=None if data_args.streaming else len(train_dataset),
        num_processes=accelerator.num_processes,
        process_index=accelerator.process_index,
    )
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
        dataloader = train_dataloader  # streamed: one endless stream of passes, from the position restored on resume
        if not data_args.streaming:
            train_dataloader.set_epoch(video_pass)
            seeded_videos.set_epoch(video_pass)
            if progress.batches_in_pass:  # a resumed run passes over the batches already read, without decoding them
                dataloader = accelerator.skip_first_batches(train_dataloader, progress.batches_in_pass)
        first_batch, micro_batches_run = progress.batches_in_pass, 0
        waited_from = time.perf_counter()
        for batch in dataloader:
            window.data_seconds += time.perf_counter() - waited_from
            batch_index = progress.batches_in_pass
            progress.batches_in_pass += 1
            if data_args.streaming:
                stream.take(batch)
            window.skipped_videos += bad_videos.update(batch, raise_error=False)  # all stop together
            if training_args.record_data_order:
                data_order.append([name for name, ok in zip(batch["video_names"], batch["decoded"]) if ok])
            pixel_values = batch["pixel_values"]  # (batch * repeat_aug, frames, channels, height, width) or None
            agreed = agree_on_clips(pixel_values, clip_shape, accelerator.device, bad_videos)
            if agreed is None:  # no process decoded any video of this micro-batch: all skip it
                waited_from = time.perf_counter()
                continue
            pixel_values, loss_weight, num_clips = agreed
            micro_batches_run += 1
            pixel_values = to_device_without_waiting(pixel_values, accelerator.device)  # (streamed: still on the host)
            pixel_values = train_processor.normalize_pixel_values(pixel_values)  # uint8 -> float, on the device
            noise = masking_noise(
                len(pixel_values), config.num_patches, training_args.seed, accelerator.process_index, video_pass,
                batch_index,
            )
            noise = to_device_without_waiting(noise, pixel_values.device)
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

            checkpointing = checkpoint_due(training_args.checkpointing_steps, step)
            # a checkpoint step always logs, so that the saved skipped-video counts are complete
            if step % training_args.logging_steps == 0 or step in (1, max_train_steps) or checkpointing:
                logs = window.summarize(accelerator, progress.skipped_videos_per_process, clip_flops)
                epoch = stream.epoch if data_args.streaming else step / steps_per_pass
                logs.update(lr=optimizer.param_groups[0]["lr"], epoch=epoch, step=step)
                if not math.isfinite(logs["loss"]):
                    raise FloatingPointError(f"Loss is {logs['loss']} at step {step}; stopping.")
                accelerator.log(logs, step=step)
                progress_bar.set_postfix(loss=f"{logs['loss']:.4f}", lr=f"{logs['lr']:.2e}")
                log_history.append(logs)

            if checkpointing:
                save_checkpoint(accelerator, output_dir, step, training_args.checkpoints_total_limit)

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
            if micro_batches_run == 0 and first_batch == 0:  # (all processes agree: they skipped together)
                raise TooManyBadVideosError(
                    f"No video of pass {video_pass} over {data_args.dataset_name} could be decoded "
                    f"({bad_videos.num_skipped} skipped on this process); nothing to train on."
                )
            progress.finish_pass()
            if checkpoint_due(training_args.checkpointing_steps, progress.completed_steps, end_of_epoch=True):
                window.count_skipped(progress.skipped_videos_per_process)  # the saved counts complete (a collective)
                save_checkpoint(
                    accelerator, output_dir, progress.completed_steps, training_args.checkpoints_total_limit
                )
    progress_bar.close()
    train_seconds = time.perf_counter() - train_start

    # --- Save: weights, video processor, reconstruction picture, card; optionally push ---
    accelerator.wait_for_everyone()
    picture = output_dir / "reconstruction.png"
    held_out_error = save_reconstruction(
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
        records = log_history.records
        history = [record["loss"] for record in records]
        run = RunFacts(
            # a local folder is named by its last part (no machine paths in the card), a Hub dataset by its id
            dataset="synthetic moving shapes" if quick_start else Path(data_args.dataset_name).name,
            dataset_id=hub_dataset_id(data_args.dataset_name),
            num_train_videos=None if data_args.streaming else len(train_dataset),
            loss_history=history,
            loss_steps=[record["step"] for record in records],
            hyperparameters={k: run_config[k] for k in (
                "learning_rate", "effective_batch_size", "max_train_steps", "warmup_steps", "weight_decay",
                "max_grad_norm", "repeat_aug", "sampling_rate", "seed")},
            hardware=describe_hardware(accelerator.num_processes),
            mixed_precision=accelerator.mixed_precision,
            wall_time_seconds=train_seconds,
            pictures=[picture.name],
            held_out_error=str(held_out_error),
        )  # fmt: skip
        repo_id = training_args.hub_model_id or output_dir.resolve().name
        card = build_model_card("pretrained", final_model.config, repo_id, run=run)
        save_for_hub(final_model, output_dir, video_processor=video_processor, card=card)
        logger.info(f"Model, video processor and card saved to {output_dir}")
        # The run's verdict: the training loss next to the held-out error (1.00x: nothing learned about where
        # things are), and where to look.
        if history:
            print(f"Training loss: first logged {history[0]:.4f}, last {history[-1]:.4f}")
        print(f"Held-out clips: {held_out_error}")
        print(f"Reconstruction picture: {picture.resolve()} ({train_seconds:.0f} s of training)")
        if training_args.push_to_hub:
            ignore = [*DEFAULT_IGNORE_PATTERNS, "data_order/*"]
            if quick_start:
                ignore.append("data/*")
            push_to_hub(output_dir, repo_id, token=training_args.hub_token, private=training_args.hub_private_repo,
                        ignore_patterns=ignore)  # fmt: skip
            logger.info(f"Pushed {output_dir} to https://huggingface.co/{repo_id}")
    accelerator.end_training()
    return output_dir


def main(argv: list[str] | None = None) -> None:
    """`mae-st-pretrain`; also `python training/run_pretraining.py` and `accelerate launch -m ...run_pretraining`."""
    run_command("mae-st-pretrain", parse_pretraining_arguments, run, argv)

if __name__ == "__main__":
    main()
