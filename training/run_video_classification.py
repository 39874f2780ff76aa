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
from dataclasses import asdict
from pathlib import Path

import datasets
import torch
from accelerate import Accelerator
from accelerate.logging import get_logger
from accelerate.utils import DataLoaderConfiguration, ProjectConfiguration, gather_object, set_seed
from datasets.distributed import split_dataset_by_node
from tqdm.auto import tqdm
from transformers import AutoConfig

from mae_st_training.arguments import hub_dataset_id, parse_finetuning_arguments, run_command, without_tokens
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
    fewer_videos_than_a_batch,
)

from modeling_mae_st.command_line import load_pretrained
from modeling_mae_st.data import (
    BadVideoTracker,
    TooManyBadVideosError,
    build_video_dataloader,
    label_mappings,
    share_cpu_cores,
)
from modeling_mae_st.evaluation import evaluate_classifier, save_evaluation_report
from modeling_mae_st.finetuning import (
    SINGLE_VIEW_VALIDATION_NOTE,
    apply_size_recipe,
    build_processors,
    check_sizes_fit,
    load_classifier,
    load_splits,
)
from modeling_mae_st.flops import count_training_flops
from modeling_mae_st.hub import push_to_hub, save_for_hub
from modeling_mae_st.mixup import VideoMixup
from modeling_mae_st.model_card import RunFacts, build_model_card, describe_hardware, describe_precision
from modeling_mae_st.optimization import (
    build_adamw,
    get_warmup_cosine_schedule,
    param_groups_layer_decay,
    scaled_learning_rate,
)
from modeling_mae_st.video_transforms import to_device_without_waiting


logger = get_logger(__name__)


def run(argv: list[str] | None = None) -> dict:
    """Fine-tune; returns the results (also in output_dir/all_results.json). `argv` defaults to the command line."""
    model_args, data_args, training_args = parse_finetuning_arguments(argv)

    output_dir = Path(training_args.output_dir)
    tracking = training_args.report_to != "none"
    check_accelerator_choices(
        training_args.report_to, training_args.torch_compile_backend, training_args.mixed_precision
    )
    accelerator = Accelerator(
        gradient_accumulation_steps=training_args.gradient_accumulation_steps,
        mixed_precision=training_args.mixed_precision,
        log_with=training_args.report_to if tracking else None,
        # TensorBoard logs in output_dir/runs, as pretraining's and the Trainer's (left out of --push_to_hub)
        project_config=ProjectConfiguration(project_dir=str(output_dir), logging_dir=str(output_dir / "runs")),
        # batches, page-locked by the DataLoader on a GPU machine, reach the device without the host waiting
        dataloader_config=DataLoaderConfiguration(non_blocking=True),
        # torch.compile in `prepare`; unset, `accelerate launch --dynamo_backend` decides
        dynamo_backend=(training_args.torch_compile_backend or "inductor") if training_args.torch_compile else None,
    )
    logging.basicConfig(format="%(asctime)s - %(levelname)s - %(name)s - %(message)s", level=logging.INFO)
    logger.info(accelerator.state, main_process_only=False)
    logger.info(f"Precision: {describe_precision(accelerator.mixed_precision)}")
    set_seed(training_args.seed, device_specific=True)

    # ---------------------------------------------------------------------------------------------------------
    # Model config first: its sizes decide the clips; labels come from the data.
    # ---------------------------------------------------------------------------------------------------------
    config = load_pretrained(AutoConfig, model_args.model_name_or_path, "--model_name_or_path")
    logger.info(apply_size_recipe(config, model_args, training_args))  # unset recipe flags take the size's values
    num_frames = data_args.num_frames or config.num_frames
    image_size = data_args.image_size or config.image_size
    check_sizes_fit(config, num_frames, image_size, model_args.model_name_or_path)

    with accelerator.main_process_first():
        train_dataset, eval_dataset, label_names = load_splits(data_args)
    _, id2label = label_mappings(label_names)
    logger.info(f"{len(label_names)} labels: {label_names}")

    # ---------------------------------------------------------------------------------------------------------
    # Processors: training clips with the fine-tuning augmentation, single-view and multi-view evaluation.
    # ---------------------------------------------------------------------------------------------------------
    eval_processor, train_processor, test_processor = build_processors(data_args, num_frames, image_size)
    # uint8 clips through the DataLoader, normalized (and randomly erased) on the device
    train_processor = train_processor.with_settings(return_uint8=True)

    # decoding workers and torch threads share the cores this process may use (as in pretraining)
    num_workers, _ = share_cpu_cores(
        training_args.dataloader_num_workers, model_on_cpu=accelerator.device.type == "cpu"
    )
    # streamed: this process's part of the stream, as in pretraining; else shuffled full batches
    train_dataloader, stream = build_training_dataloader(
        train_dataset,
        train_processor,
        batch_size=training_args.per_device_train_batch_size,
        seed=training_args.seed,
        num_workers=num_workers,
        shuffle_buffer_size=data_args.shuffle_buffer_size,
        accelerator=accelerator,
    )
    streaming = stream is not None
    eval_dataloader = test_dataloader = None
    # a streamed validation split is read by each process in its own part (not dispatched by Accelerate)
    eval_streaming = isinstance(eval_dataset, datasets.IterableDataset)
    if eval_dataset is not None:
        eval_batch_size = training_args.per_device_eval_batch_size
        if eval_streaming:
            eval_dataset = split_dataset_by_node(
                eval_dataset, rank=accelerator.process_index, world_size=accelerator.num_processes
            )
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
        training_args.per_device_train_batch_size
        * training_args.gradient_accumulation_steps
        * accelerator.num_processes
        * data_args.repeat_aug
    )
    learning_rate = training_args.learning_rate or scaled_learning_rate(
        training_args.base_learning_rate, effective_batch_size
    )
    optimizer = build_adamw(
        param_groups_layer_decay(model, training_args.weight_decay, training_args.layer_decay),
        learning_rate,
        betas=(training_args.adam_beta1, training_args.adam_beta2),
    )
    if streaming:  # the stream is split between the processes already; its batches go to the device in the loop
        model, optimizer = accelerator.prepare(model, optimizer)
    else:
        model, optimizer, train_dataloader = accelerator.prepare(model, optimizer, train_dataloader)
    if eval_dataloader is not None and not eval_streaming:
        eval_dataloader, test_dataloader = accelerator.prepare(eval_dataloader, test_dataloader)
    if streaming:
        # A stream has no length: the run is --max_train_steps long and warms up for the same fraction of it as
        # warmup_epochs / num_train_epochs.
        max_train_steps = steps_per_epoch = training_args.max_train_steps
        num_train_epochs = max_train_steps  # passes over the stream, each at least one step
        num_warmup_steps = round(max_train_steps * training_args.warmup_epochs / training_args.num_train_epochs)
    else:
        if len(train_dataloader) == 0:
            raise fewer_videos_than_a_batch(
                len(train_dataset), training_args.per_device_train_batch_size, accelerator.num_processes
            )
        # After `prepare`, the loader holds this process's batches; Accelerate takes an optimizer step every
        # `gradient_accumulation_steps` of them and at the end of the pass, so a pass is ceil(batches / accumulation).
        steps_per_epoch = math.ceil(len(train_dataloader) / training_args.gradient_accumulation_steps)
        max_train_steps = training_args.max_train_steps or math.ceil(training_args.num_train_epochs * steps_per_epoch)
        num_train_epochs = math.ceil(max_train_steps / steps_per_epoch)
        num_warmup_steps = round(training_args.warmup_epochs * steps_per_epoch)
    num_warmup_steps = min(num_warmup_steps, max_train_steps)
    # The schedule steps once per optimizer step on every process, so it is not wrapped; it is saved with the state,
    # as is where the run is in the data.
    scheduler = get_warmup_cosine_schedule(
        optimizer, num_warmup_steps, max_train_steps, training_args.min_learning_rate
    )
    progress = TrainingProgress()
    progress.record_data_order(None if streaming else len(train_dataset), training_args, data_args)
    accelerator.register_for_checkpointing(scheduler, progress)
    if streaming:  # every process's position in the stream
        accelerator.register_for_checkpointing(stream)
    mixup = VideoMixup(
        num_labels=len(label_names),
        mixup_alpha=training_args.mixup,
        cutmix_alpha=training_args.cutmix,
        mixup_prob=training_args.mixup_prob,
        switch_prob=training_args.mixup_switch_prob,
        label_smoothing=training_args.label_smoothing,
    )

    resolved = without_tokens({  # what the log, trackers, finetuning_args.json and the card show
        "model": asdict(model_args),
        "data": asdict(data_args),
        "training": asdict(training_args),
        "resolved": {
            "num_labels": len(label_names),
            "num_frames": num_frames,
            "image_size": image_size,
            "effective_batch_size": effective_batch_size,
            "learning_rate": learning_rate,
            "steps_per_epoch": steps_per_epoch,
            "max_train_steps": max_train_steps,
            "num_train_epochs": num_train_epochs,
            "warmup_steps": num_warmup_steps,
            "num_processes": accelerator.num_processes,
            "mixed_precision": accelerator.mixed_precision,
            "new_head": new_head,
        },
    })
    logger.info("Resolved arguments:\n" + json.dumps(resolved, indent=2, default=str))
    if accelerator.is_main_process:  # made only now: a run that fails on its arguments or data leaves nothing
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / "finetuning_args.json").write_text(json.dumps(resolved, indent=2, default=str) + "\n")
    if tracking:
        accelerator.init_trackers("mae-st-finetuning", flatten_for_tracking(resolved))

    # ---------------------------------------------------------------------------------------------------------
    # Resume: the weights, optimizer, schedule and RNG states of `save_state`, and the batches already seen.
    # ---------------------------------------------------------------------------------------------------------
    if training_args.resume_from_checkpoint:
        checkpoint = resolve_checkpoint(training_args.resume_from_checkpoint, output_dir)
        resume_training(accelerator, checkpoint, progress)  # restores `progress` too
        logger.info(f"Resumed from {checkpoint} at step {progress.completed_steps} (epoch {progress.video_pass})")
    starting_epoch = progress.video_pass

    # ---------------------------------------------------------------------------------------------------------
    # Training loop. Every micro-batch, the processes agree on it (training/loop.py): all skip one that no process
    # could decode, and a process with no clip runs a placeholder at loss weight 0, so the collectives stay in step.
    # Epochs run until the requested steps are done; the loss is read at logging steps only.
    # ---------------------------------------------------------------------------------------------------------
    progress_bar = tqdm(
        total=max_train_steps,
        initial=progress.completed_steps,
        disable=not accelerator.is_local_main_process,
        desc="fine-tuning",
    )
    bad_videos = BadVideoTracker(
        max_bad_video_fraction=data_args.max_bad_video_fraction,
        num_videos=None if streaming else len(train_dataset),
        num_processes=accelerator.num_processes,
        process_index=accelerator.process_index,
    )
    log_history = LogHistory(output_dir, progress.completed_steps, accelerator.is_main_process)
    history = log_history.records  # (a resumed run's begins with the records up to its step)
    window = LoggingWindow(device=accelerator.device)
    # one clip's forward + backward, counted on the meta device, for the logs' achieved TFLOP/s
    clip_flops = count_training_flops(
        accelerator.unwrap_model(model).config, 0.0, num_frames=num_frames, image_size=image_size,
        task="video-classification",
    )  # fmt: skip
    start_time = time.time()
    while progress.completed_steps < max_train_steps:
        epoch, first_batch, micro_batches_run = progress.video_pass, progress.batches_in_pass, 0
        model.train()
        waited_from = time.perf_counter()
        # streamed: one endless stream of passes, from the position restored on resume
        batches = train_dataloader if streaming else iter_epoch(
            accelerator, train_dataloader, training_args.seed + epoch, first_batch
        )
        for batch in batches:
            window.data_seconds += time.perf_counter() - waited_from
            progress.batches_in_pass += 1
            if streaming:
                stream.take(batch)
            # logs and counts undecodable videos; past max_bad_video_fraction all processes stop (agree_on_clips)
            window.skipped_videos += bad_videos.update(batch, raise_error=False)
            # (batch * repeat_aug, frames, channels, height, width): repeated clips are ordinary samples, or None
            pixel_values, labels = batch["pixel_values"], batch["labels"]
            clip_shape = (num_frames, image_size, config.num_channels)
            agreed = agree_on_clips(pixel_values, clip_shape, accelerator.device, bad_videos)
            if agreed is None:  # no process decoded any video of this micro-batch: all skip it
                waited_from = time.perf_counter()
                continue
            pixel_values, loss_weight, num_clips = agreed
            micro_batches_run += 1
            if num_clips == 0:  # the placeholder clip's label (its loss weighs 0)
                labels = torch.zeros(1, dtype=torch.long, device=accelerator.device)
            elif streaming:  # (a prepared loader has moved them)
                pixel_values = to_device_without_waiting(pixel_values, accelerator.device)
                labels = to_device_without_waiting(labels, accelerator.device)
            # uint8 -> float on the device, then the clips' random erasing (a placeholder clip is float: untouched)
            pixel_values = train_processor.normalize_pixel_values(pixel_values, batch.get("random_erasing"))
            with accelerator.accumulate(model):
                pixel_values, targets = mixup(pixel_values, labels)
                loss = model(pixel_values=pixel_values, labels=targets).loss
                accelerator.backward(loss * loss_weight)
                if accelerator.sync_gradients and training_args.max_grad_norm > 0:
                    accelerator.clip_grad_norm_(model.parameters(), training_args.max_grad_norm)
                optimizer.step()
                optimizer.zero_grad()
            window.add(loss.detach(), num_clips)
            waited_from = time.perf_counter()
            if not accelerator.sync_gradients:
                continue
            scheduler.step()
            progress.completed_steps += 1
            step = progress.completed_steps
            progress_bar.update(1)
            if step % training_args.logging_steps == 0 or step == max_train_steps:
                record = window.summarize(accelerator, progress.skipped_videos_per_process, clip_flops)
                record.update(step=step, epoch=stream.epoch if streaming else epoch)
                record.update(lr=optimizer.param_groups[-1]["lr"])
                if not math.isfinite(record["loss"]):
                    raise FloatingPointError(f"Loss is {record['loss']} at step {step}; stopping.")
                log_history.append(record)
                progress_bar.set_postfix(loss=f"{record['loss']:.4f}", lr=f"{record['lr']:.3e}")
                if tracking:
                    accelerator.log({f"train/{name}": value for name, value in record.items()}, step=step)
            if checkpoint_due(training_args.checkpointing_steps, step):
                window.count_skipped(progress.skipped_videos_per_process)  # saved complete
                progress.skipped_video_names = all_skipped_video_names(progress, bad_videos)
                save_checkpoint(accelerator, output_dir, step, training_args.checkpoints_total_limit)
            if step >= max_train_steps:
                break
            waited_from = time.perf_counter()
        else:  # the epoch is over
            if micro_batches_run == 0 and first_batch == 0:  # (all processes agree: they skipped together)
                raise TooManyBadVideosError(f"No training video of epoch {epoch} could be decoded: nothing to train.")
            progress.finish_pass()

        epoch_log = {"epoch": epoch, "step": progress.completed_steps}
        epoch_log.update(window.count_skipped(progress.skipped_videos_per_process))
        if eval_dataloader is not None and training_args.eval_strategy == "epoch":
            if epoch == starting_epoch:
                logger.info(SINGLE_VIEW_VALIDATION_NOTE)
            metrics, _, _ = evaluate_classifier(model, eval_dataloader, accelerator, even_batches=not eval_streaming)
            epoch_log.update({f"eval/{name}": value for name, value in metrics.items()})
        logger.info(json.dumps(epoch_log))
        log_history.append(epoch_log)
        if tracking:
            accelerator.log(epoch_log, step=progress.completed_steps)
        if checkpoint_due(training_args.checkpointing_steps, progress.completed_steps, end_of_epoch=True):
            progress.skipped_video_names = all_skipped_video_names(progress, bad_videos)
            save_checkpoint(accelerator, output_dir, progress.completed_steps, training_args.checkpoints_total_limit)
    progress_bar.close()
    train_seconds = time.time() - start_time

    # ---------------------------------------------------------------------------------------------------------
    # Final evaluation: the official multi-view test (softmax averaged over clips x crops per video).
    # ---------------------------------------------------------------------------------------------------------
    results = {
        "train_seconds": train_seconds,
        "completed_steps": progress.completed_steps,
        **window.count_skipped(progress.skipped_videos_per_process),
        "skipped_video_names": all_skipped_video_names(progress, bad_videos),
        "num_views": {"temporal": data_args.num_temporal_views, "spatial": data_args.num_spatial_crops},
    }
    pictures = []
    if test_dataloader is not None:
        metrics, probabilities, labels = evaluate_classifier(
            model, test_dataloader, accelerator, even_batches=not eval_streaming
        )
        results["multi_view"] = metrics
        if accelerator.is_main_process:
            report = save_evaluation_report(probabilities, labels, id2label, output_dir, prefix="eval")
            pictures.append(report["confusion_matrix"].name)
        logger.info(
            f"Multi-view ({data_args.num_temporal_views}x{data_args.num_spatial_crops}) validation, the official test: "
            + json.dumps(metrics)
        )
    logger.info(
        f"Skipped {results['skipped_videos']} videos that could not be decoded (per process: "
        f"{results['skipped_videos_per_process']})"
    )
    if tracking:
        test_logs = {f"test/{k}": v for k, v in results.get("multi_view", {}).items()}
        accelerator.log(test_logs, step=progress.completed_steps)
        accelerator.end_training()

    # ---------------------------------------------------------------------------------------------------------
    # Save model, processor, card; optionally push.
    # ---------------------------------------------------------------------------------------------------------
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        unwrapped = accelerator.unwrap_model(model)
        repo_id = training_args.hub_model_id or output_dir.resolve().name  # "." has no name of its own
        multi_view = results.get("multi_view", {})
        run = RunFacts(
            dataset=data_args.dataset_name or data_args.train_dir or data_args.train_file,
            dataset_id=hub_dataset_id(data_args.dataset_name),
            num_train_videos=None if isinstance(train_dataset, datasets.IterableDataset) else len(train_dataset),
            eval_dataset=data_args.dataset_name or data_args.validation_dir or data_args.validation_file,
            eval_split=f"validation, {data_args.num_temporal_views}x{data_args.num_spatial_crops} views",
            loss_history=[record["loss"] for record in history if "loss" in record],
            loss_steps=[record["step"] for record in history if "loss" in record],
            accuracy_top1=multi_view.get("top1"),
            accuracy_top5=multi_view.get("top5"),
            hyperparameters=card_hyperparameters(resolved),
            hardware=describe_hardware(accelerator.num_processes),
            mixed_precision=accelerator.mixed_precision,
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
        # The run's verdict and where to look (the log ended on the weights' progress bar).
        if multi_view:
            views = f"{data_args.num_temporal_views}x{data_args.num_spatial_crops} views"
            skipped = multi_view["skipped_videos"]
            print(f"Validation ({views}): top-1 {multi_view['top1']:.2f}%, top-5 {multi_view['top5']:.2f}% of "
                  f"{multi_view['num_videos']} videos" + (f" ({skipped} could not be decoded)" if skipped else ""))
        print(f"Model, video processor and card saved to {output_dir.resolve()} ({train_seconds:.0f} s of training)")
        if training_args.push_to_hub:
            push_to_hub(output_dir, repo_id, token=training_args.hub_token, private=training_args.hub_private_repo)
            print(f"Pushed to https://huggingface.co/{repo_id}")
    accelerator.wait_for_everyone()
    return results


def all_skipped_video_names(progress: TrainingProgress, bad_videos: BadVideoTracker) -> list[str]:
    """
    Every process's skipped videos by name, those skipped before a resume included (a collective: call it on every
    process). The main process's alone were listed, and a resumed run forgot those before its checkpoint.
    """
    return list(dict.fromkeys([*progress.skipped_video_names, *gather_object(bad_videos.skipped_videos)]))


def iter_epoch(accelerator: Accelerator, dataloader, seed: int, skip_batches: int = 0):
    """
    Iterate one epoch with the shuffling and the workers' random streams drawn from `seed` (the run's seed plus the
    epoch), whatever happened before: a resumed run reproduces each epoch exactly. `skip_batches`: the batches of
    this epoch already trained on, passed over without decoding them (the augmentation is seeded per video, so the
    rest are the interrupted run's); a streaming dataset reads and drops them.
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
    if skip_batches:
        dataloader = accelerator.skip_first_batches(dataloader, skip_batches)  # shares the seeded sampler
    return iter(dataloader)


# The model card's table: the recipe the run trained with, by flag name (`resolved` first: the values the run
# computed). Where the run read and wrote, the Hub and logging settings are not hyperparameters, and local paths stay
# off a public card; the data and the base model have lines of their own.
CARD_HYPERPARAMETERS = {
    "resolved": ("learning_rate", "effective_batch_size", "max_train_steps", "num_train_epochs", "warmup_steps",
                 "num_frames", "image_size"),
    "training": ("base_learning_rate", "min_learning_rate", "weight_decay", "adam_beta1", "adam_beta2",
                 "max_grad_norm", "layer_decay", "mixup", "cutmix", "mixup_prob", "mixup_switch_prob",
                 "label_smoothing", "seed"),
    "model": ("drop_path_rate", "classifier_dropout", "head_init_std"),
    "data": ("sampling_rate", "repeat_aug", "rand_augment", "random_erasing_prob", "jitter_scales_relative",
             "jitter_aspect_relative"),
}  # fmt: skip


def card_hyperparameters(resolved: dict) -> dict:
    """The rows of the model card's hyper-parameter table (`CARD_HYPERPARAMETERS`) from the resolved arguments."""
    return {name: resolved[group][name] for group, names in CARD_HYPERPARAMETERS.items() for name in names}


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


def main(argv: list[str] | None = None) -> None:
    """`mae-st-finetune` (also `python training/run_video_classification.py`, `accelerate launch -m ...`)."""
    run_command("mae-st-finetune", parse_finetuning_arguments, run, argv)


if __name__ == "__main__":
    main()
