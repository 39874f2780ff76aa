"""
Fine-tune a MAE-ST encoder into a video classifier with `transformers.Trainer`.

The same data, model and recipe as `run_video_classification.py` (the Accelerate script), through the Trainer:
`TrainingArguments` for the loop (checkpoints, resume, logging, mixed precision, DeepSpeed / FSDP),
[`collate_for_trainer`] for batching (repeated-augmentation clips flattened), [`VideoClassificationTrainer`] for
mixup / cutmix with label smoothing as soft targets, and [`compute_metrics`] for top-1 / top-5 accuracy through the
`evaluate` modules shipped in the package.

A video that cannot be decoded never stops the run and is never dropped silently, with one process or several
(`training/loop.py` is the Accelerate scripts' version of the same rules): it is logged by name, counted per process
(`skipped_videos`, `skipped_videos_per_process/<process>` in the training logs and results; the run stops past
`--max_bad_video_fraction`), and its rows of the batch are zero clips labeled -100, so that every process's batch
keeps one row per clip asked for. Training leaves those rows out and weights each process's loss by its share of the
micro-batch's clips (a process with none runs one zero clip at weight 0, so it still joins the gradient all-reduce);
evaluation runs every row, so the processes gather equal-sized batches, and [`compute_metrics`] drops the -100 rows.

    mae-st-finetune-trainer --model_name_or_path path/to/pretrained \
        --train_dir videos/train --validation_dir videos/val --output_dir mae-st-trainer \
        --eval_strategy epoch --save_strategy epoch

The arguments are `TrainingArguments` with the fine-tuning recipe's defaults (training/arguments.py): the same flags,
defaults and units as `mae-st-finetune` wherever both have the concept; `--learning_rate` left unset scales
`--base_learning_rate` by the effective batch.

Differences from the Accelerate script: the Trainer uses one learning rate for all layers unless you give it an
optimizer (here: layer-wise decay groups, built below), and evaluation is single-view (the multi-view test is in the
Accelerate script and `modeling_mae_st.evaluation`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import torch
from transformers import AutoConfig, Trainer, TrainerCallback, set_seed
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, IntervalStrategy, get_last_checkpoint

from mae_st_training.arguments import hub_dataset_id, parse_trainer_arguments, run_command
from mae_st_training.checkpointing import TRAINER_STATE_FILE, resolve_checkpoint
from mae_st_training.loop import (
    agree_on_batch,
    counts_of_every_process,
    describe_skipped,
    fewer_videos_than_a_batch,
    throughput,
    training_stream,
)
from mae_st_training.run_video_classification import card_hyperparameters, flatten_for_tracking

from modeling_mae_st.command_line import UsageError, load_pretrained
from modeling_mae_st.data import (
    BadVideoTracker,
    IndexSeededVideoDataset,
    TooManyBadVideosError,
    VideoClipTransform,
    collate_video_clips,
    share_cpu_cores,
    with_video_transform,
)
from modeling_mae_st.evaluation import classification_metrics
from modeling_mae_st.flops import count_training_flops
from modeling_mae_st.finetuning import (
    SINGLE_VIEW_VALIDATION_NOTE,
    apply_size_recipe,
    build_processors,
    check_sizes_fit,
    load_classifier,
    load_splits,
)
from modeling_mae_st.hub import HUB_ERRORS, HubPushError, give_usual_permissions, write_remote_code
from modeling_mae_st.mixup import VideoMixup
from modeling_mae_st.model_card import RunFacts, build_model_card, describe_hardware, describe_precision
from modeling_mae_st.optimization import (
    build_adamw,
    get_warmup_cosine_schedule,
    param_groups_layer_decay,
    scaled_learning_rate,
)
from modeling_mae_st.streaming import VideoStream, build_stream_dataloader
from modeling_mae_st.video_processing_mae_st import MAESTVideoProcessor


logger = logging.getLogger(__name__)


IGNORE_INDEX = -100  # the label of a row with no video: cross-entropy and the Trainer's padding use it


def collate_for_trainer(examples: Sequence[Mapping[str, Any]], clip_shape: tuple[int, int, int, int]) -> dict:
    """
    Batch [`VideoClipTransform`] outputs for the Trainer with one row per clip asked for, decoded or not: the
    processes' evaluation batches must have equal sizes for the Trainer's gather, and training picks the decoded rows
    itself ([`VideoClassificationTrainer.compute_loss`]).

    Args:
        examples: dicts with `pixel_values` (`(num_clips, num_frames, 3, H, W)`, or `None` for a video that failed),
            `labels` and `video_name`.
        clip_shape: `(num_frames, num_channels, height, width)` of a clip, for a batch where no video decoded.

    Returns:
        `{"pixel_values": (videos * num_clips, num_frames, 3, H, W), "labels": (videos * num_clips,), "decoded",
        "num_videos", "num_skipped", "skipped_videos"}`: a failed video's rows are zero clips labeled `IGNORE_INDEX`
        (a batch where none decoded has one row per video); `decoded` and the counts are those of
        [`collate_video_clips`] (host values, counted by the Trainer's [`BadVideoTracker`]), and so is
        `random_erasing` (the decoded clips' draws) when the examples carry it.
    """
    batch = collate_video_clips(examples)  # (decoded videos * num_clips, T, C, H, W) or None; counts, `decoded`
    decoded = batch["decoded"]
    num_decoded = sum(decoded)
    clips_per_video = len(batch["pixel_values"]) // num_decoded if num_decoded else 1
    rows = torch.tensor(decoded).repeat_interleave(clips_per_video)  # (videos * num_clips,) True: a decoded clip
    shape = batch["pixel_values"].shape[1:] if num_decoded else clip_shape
    dtype = batch["pixel_values"].dtype if num_decoded else torch.float32
    pixel_values = torch.zeros(len(rows), *shape, dtype=dtype)
    labels = torch.full((len(rows),), IGNORE_INDEX, dtype=torch.long)
    if num_decoded:
        pixel_values[rows], labels[rows] = batch["pixel_values"], batch["labels"]
    bookkeeping = ("decoded", "num_videos", "num_skipped", "skipped_videos", "random_erasing")
    return {"pixel_values": pixel_values, "labels": labels, **{key: batch[key] for key in bookkeeping if key in batch}}


SKIPPED_VIDEOS_FILE = "skipped_videos.json"  # in each checkpoint-<step> folder


class SkippedVideosCheckpointing(TrainerCallback):
    """
    Keeps a [`BadVideoTracker`]'s counts across a resume, as the Accelerate scripts' training state does: each
    checkpoint gets every process's counts (`SKIPPED_VIDEOS_FILE`), and [`restore`] gives this process its own back,
    so that the logged counts and the `--max_bad_video_fraction` stop span the whole run.
    """

    def __init__(self, tracker: BadVideoTracker):
        self.tracker = tracker

    def on_save(self, args, state, control, **kwargs):
        # every process saves together, so the exchange is a collective; the main process writes
        table = counts_of_every_process([self.tracker.num_videos, self.tracker.num_skipped])  # (processes, 2)
        if state.is_world_process_zero:
            counts = {"videos_per_process": table[:, 0].tolist(), "skipped_videos_per_process": table[:, 1].tolist()}
            folder = Path(args.output_dir) / f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}"
            (folder / SKIPPED_VIDEOS_FILE).write_text(json.dumps(counts) + "\n")

    def restore(self, checkpoint: str | Path, process_index: int, num_processes: int) -> None:
        """Set the tracker's counts from `checkpoint`'s (a run saved with another number of processes: process `i`
        takes the counts of the saved processes `j` with `j % num_processes == i`)."""
        path = Path(checkpoint) / SKIPPED_VIDEOS_FILE
        if not path.is_file():  # a checkpoint of a run before these counts were saved
            return
        counts = json.loads(path.read_text())
        mine = range(process_index, len(counts["videos_per_process"]), num_processes)
        self.tracker.num_videos = sum(counts["videos_per_process"][j] for j in mine)
        self.tracker.num_skipped = sum(counts["skipped_videos_per_process"][j] for j in mine)


STREAM_POSITION_FILE = "stream_position.json"  # in each checkpoint-<step> folder of a streamed run


class VideoPassSeeding(TrainerCallback):
    """
    Tells an [`IndexSeededVideoDataset`] which pass begins, so that each video's clips are drawn from (seed, pass,
    index), as in the Accelerate scripts: a run resumed mid-pass decodes the clips the uninterrupted run decoded.
    (Drawn from torch's global generator, a resumed run's clips, and so its weights, differed from the first step
    after the checkpoint on.) The pass is set before the Trainer starts the pass's DataLoader workers.
    """

    def __init__(self, dataset: IndexSeededVideoDataset):
        self.dataset = dataset

    def on_epoch_begin(self, args, state, control, **kwargs):
        self.dataset.set_epoch(int(state.epoch or 0))  # a resumed pass's number too (its fraction dropped)


class StreamPositionCheckpointing(TrainerCallback):
    """
    Saves every process's position in a streamed training set (`streaming.VideoStream.state_dict`) with each
    checkpoint, and [`restore`] gives it back, as the Accelerate scripts' training state does: the Trainer's own
    resume would re-read and drop the batches before the checkpoint, which a shuffled stream does not give again.
    """

    def __init__(self, stream: VideoStream):
        self.stream = stream

    def on_save(self, args, state, control, **kwargs):
        positions = self.stream.state_dict()  # a collective: every process saves together
        if state.is_world_process_zero:
            folder = Path(args.output_dir) / f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}"
            (folder / STREAM_POSITION_FILE).write_text(json.dumps(positions) + "\n")

    def restore(self, checkpoint: str | Path) -> None:
        """Set the stream's position from `checkpoint`'s (it must have been saved by as many processes)."""
        path = Path(checkpoint) / STREAM_POSITION_FILE
        if not path.is_file():
            raise UsageError(f"--resume_from_checkpoint: {checkpoint} holds no {STREAM_POSITION_FILE}; it was not "
                             "saved by a streamed run.")  # fmt: skip
        self.stream.load_state_dict(json.loads(path.read_text()))


class VideoClassificationTrainer(Trainer):
    """
    A `Trainer` that mixes training batches (mixup / cutmix, label smoothing -> soft `labels`; evaluation batches
    keep their class indices) and follows the recipe's schedule: linear warmup for `warmup_epochs`, then half-cosine
    to `min_learning_rate`, sized by the Trainer's own count of optimizer steps (ceil(batches per process /
    accumulation) per pass, known only once it has prepared its DataLoader), so that it ends on the last step.

    Training batches arrive uint8 (4x fewer bytes from the DataLoader's workers) and are finished on the device by
    `train_processor.normalize_pixel_values`, random erasing included.

    A streamed training set comes as `train_stream` (a `streaming.VideoStream`): each process reads its own part of
    the stream, pass after pass, and decodes it in its workers, as in the Accelerate scripts (Accelerate's dispatch of
    one stream from the main process cannot carry the batches' names and counts). Its position is saved with each
    checkpoint; the warmup is the same fraction of `max_steps` as `warmup_epochs` of `num_train_epochs`.

    It takes [`collate_for_trainer`] batches and keeps the processes in step when videos fail (see the module
    docstring): the training micro-batches' skipped videos are counted by `bad_videos` (which raises past
    `max_bad_video_fraction`) and logged with the training logs (`skipped_videos`, `skipped_videos_per_process/<i>`).
    The Trainer cannot skip a step: a micro-batch that no process decoded runs at weight 0 everywhere (its gradients
    are zero; the optimizer still steps, as for any step).
    """

    # The loss of `compute_loss` is a micro-batch mean: the Trainer divides it by the accumulation steps. (Left to
    # the Trainer, a model taking **kwargs counts as normalizing by `num_items_in_batch`, which this one ignores.)
    loss_is_scaled_for_ga = False

    def __init__(
        self,
        *args,
        train_processor: MAESTVideoProcessor | None = None,
        mixup: VideoMixup | None = None,
        warmup_epochs: float = 0.0,
        min_learning_rate: float = 0.0,
        max_bad_video_fraction: float = 0.05,
        train_stream: VideoStream | None = None,
        card_facts: RunFacts | None = None,
        card_arguments: dict | None = None,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.card_facts = card_facts  # what the run knows of itself before training, for its model card
        self.card_arguments = card_arguments  # {"resolved", "training", "model", "data"}: card_hyperparameters
        self.warmup_steps = None
        self.train_stream = train_stream
        self.stream_checkpointing = None
        if train_stream is not None:
            self.args.ignore_data_skip = True  # the stream restores its own position: nothing to re-read
            self.stream_checkpointing = StreamPositionCheckpointing(train_stream)
            self.add_callback(self.stream_checkpointing)
        self.train_processor = train_processor
        self.mixup = mixup
        self.warmup_epochs = warmup_epochs
        self.min_learning_rate = min_learning_rate
        self.steps_per_epoch = None
        sized = train_stream is None and self.train_dataset is not None
        self.bad_videos = BadVideoTracker(  # this process's
            max_bad_video_fraction=max_bad_video_fraction,
            num_videos=len(self.train_dataset) if sized else None,
            num_processes=self.args.world_size,
            process_index=self.args.process_index,
        )
        self.bad_video_checkpointing = SkippedVideosCheckpointing(self.bad_videos)
        # training micro-batches since the last log, and those no process could decode (run at loss 0)
        self.micro_batches_logged, self.micro_batches_skipped = 0, 0
        # since the last log, for the throughput logs (loop.throughput): this process's clips trained and seconds
        # waited for the DataLoader, and when the window began (None before the first batch)
        self.clips_logged, self.data_seconds, self.window_start = 0, 0.0, None
        self.clip_flops = None  # one training clip's counted FLOPs (floating_point_ops), once a micro-batch ran
        self.counted_clip_size = None  # (frames, image size) of the clips `clip_flops` counts
        self.add_callback(self.bad_video_checkpointing)
        if isinstance(self.train_dataset, IndexSeededVideoDataset):
            self.add_callback(VideoPassSeeding(self.train_dataset))

    def train(self, resume_from_checkpoint: str | bool | None = None, **kwargs):
        checkpoint = resume_from_checkpoint
        if checkpoint is True:  # the Trainer's "the last checkpoint of output_dir" (it refuses a folder with none)
            checkpoint = get_last_checkpoint(self.args.output_dir)
        if checkpoint:  # the skipped-video counts (and a stream's position) come back with the training state
            check_weights_fit(self.model, checkpoint)
            self.bad_video_checkpointing.restore(checkpoint, self.args.process_index, self.args.world_size)
            if self.stream_checkpointing is not None:
                self.stream_checkpointing.restore(checkpoint)
        return super().train(resume_from_checkpoint=resume_from_checkpoint, **kwargs)

    def get_train_dataloader(self):
        if self.train_stream is None:
            # A pass drops its last partial batch, as the official fine-tuning and mae-st-finetune do (so that both
            # commands count an epoch's steps alike); evaluation keeps every video.
            drop_last, self.args.dataloader_drop_last = self.args.dataloader_drop_last, True
            try:
                return super().get_train_dataloader()
            finally:
                self.args.dataloader_drop_last = drop_last
        # not prepared by Accelerate: the stream is split between the processes already (the Trainer moves the
        # batches to the device)
        return build_stream_dataloader(
            self.train_stream,
            self.train_processor,
            self.args.seed,
            num_workers=self.args.dataloader_num_workers,
            pin_memory=self.args.dataloader_pin_memory,
            collate_fn=self.data_collator,
        )

    def get_eval_dataloader(self, eval_dataset=None):
        dataset = eval_dataset if eval_dataset is not None else self.eval_dataset
        if not isinstance(dataset, datasets.IterableDataset):
            return super().get_eval_dataloader(eval_dataset)
        # Accelerate dispatches a stream's batches from the main process, which takes tensors only; evaluation
        # needs no more than the clips and their labels (a skipped video's rows are labeled IGNORE_INDEX)
        collator = self.data_collator
        self.data_collator = partial(_tensors_only, collator)
        try:
            return super().get_eval_dataloader(eval_dataset)
        finally:
            self.data_collator = collator

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        """
        The Trainer's save (final model and checkpoints alike), made complete for the next tool before anything is
        pushed: the code `trust_remote_code` runs (`hub.write_remote_code`) and files readable by all. The Trainer
        pushed the final model without the code, before the script could add it.
        """
        super().save_model(output_dir, _internal_call=True)
        if self.args.should_save:
            folder = output_dir or self.args.output_dir
            write_remote_code(folder)
            give_usual_permissions(folder)
        if self.args.push_to_hub and not _internal_call:  # as the Trainer does, now with the complete folder
            self.push_to_hub(commit_message="Model save", revision=self.args.hub_revision)

    def create_model_card(self, **kwargs) -> None:
        """
        This package's model card of the run (`model_card.build_model_card`, as `mae-st-finetune` writes it), where
        the Trainer writes its draft ("More information needed"); `push_to_hub` calls it before uploading. Without
        `card_facts`, the Trainer's draft.
        """
        if self.card_facts is None:
            return super().create_model_card(**kwargs)
        if not self.is_world_process_zero():
            return
        history = self.state.log_history
        losses = [record for record in history if "loss" in record]
        evaluations = [record for record in history if "eval_top1" in record]
        runtime = [record["train_runtime"] for record in history if "train_runtime" in record]
        arguments = {**self.card_arguments}
        arguments["resolved"] = {
            **arguments["resolved"], "max_train_steps": self.state.max_steps, "warmup_steps": self.warmup_steps
        }
        run = dataclasses.replace(
            self.card_facts,
            loss_history=[record["loss"] for record in losses],
            loss_steps=[record["step"] for record in losses],
            accuracy_top1=evaluations[-1]["eval_top1"] if evaluations else None,
            accuracy_top5=evaluations[-1].get("eval_top5") if evaluations else None,
            wall_time_seconds=runtime[-1] if runtime else None,
            mixed_precision=self.accelerator.mixed_precision,
            hyperparameters=card_hyperparameters(arguments),
        )
        repo_id = self.args.hub_model_id or Path(self.args.output_dir).resolve().name
        card = build_model_card("classifier", self.model.config, repo_id, run=run)
        card.save(Path(self.args.output_dir) / "README.md")

    def get_batch_samples(self, epoch_iterator, num_batches: int, device: torch.device):
        """The Trainer's fetch of an optimizer step's micro-batches, timed: the wait for data that the logs report."""
        start = time.perf_counter()
        if self.window_start is None:
            self.window_start = start
        try:
            return super().get_batch_samples(epoch_iterator, num_batches, device)
        finally:
            self.data_seconds += time.perf_counter() - start

    def floating_point_ops(self, inputs: dict[str, Any]) -> int:
        """
        The training micro-batch's forward and backward FLOPs, counted (`flops.count_training_flops`, once a clip
        shape) for the clips it trains: what the Trainer adds up into `total_flos`, after each micro-batch. The
        Trainer's own estimate, 6 x parameters x `numel` of the main input, counts every pixel of `pixel_values` as
        a token: 1,161x the counted FLOPs of a ViT-B clip of 16 x 224^2 (1,079 GFLOP).
        """
        _, frames, _, image_size, _ = inputs["pixel_values"].shape
        if self.clip_flops is None or self.counted_clip_size != (frames, image_size):  # (counting takes ~1 ms)
            self.clip_flops = count_training_flops(self.model.config, 0.0, num_frames=frames, image_size=image_size,
                                                   task="video-classification")  # fmt: skip
            self.counted_clip_size = (frames, image_size)
        return self.clip_flops * max(1, int(self._clips_to_train(inputs).sum()))  # (no clip: one zero clip ran)

    @staticmethod
    def _clips_to_train(inputs: dict[str, Any]) -> torch.Tensor:
        """`(rows,)` 1 for the rows of a training micro-batch whose video decoded, 0 for its zero clips (host)."""
        decoded = inputs["decoded"]  # host list, one per video asked for
        return torch.tensor(decoded).repeat_interleave(len(inputs["pixel_values"]) // len(decoded))

    def set_initial_training_values(self, args, dataloader):
        values = super().set_initial_training_values(args, dataloader)
        self.steps_per_epoch = values[1]  # num_update_steps_per_epoch, as the Trainer counts them
        return values

    def create_scheduler(self, num_training_steps: int, optimizer=None):
        if self.lr_scheduler is None:
            if self.train_stream is not None:  # a stream has no epochs: the same fraction of the run
                warmup_steps = round(num_training_steps * self.warmup_epochs / self.args.num_train_epochs)
            else:
                warmup_steps = round(self.warmup_epochs * self.steps_per_epoch)
            warmup_steps = self.warmup_steps = min(warmup_steps, num_training_steps)
            self.lr_scheduler = get_warmup_cosine_schedule(
                optimizer or self.optimizer, warmup_steps, num_training_steps, self.min_learning_rate
            )
        return self.lr_scheduler

    def compute_loss(
        self,
        model: torch.nn.Module,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: torch.Tensor | int | None = None,
    ):
        """
        Training: the decoded clips of the micro-batch, mixed, their mean loss weighted by this process's share of
        the clips of all processes (`loop.agree_on_batch`, a collective every process makes once per micro-batch;
        one zero clip at weight 0 when this process has none). Evaluation: every row, the `IGNORE_INDEX` ones left
        out of the loss by cross-entropy (a batch with no decoded video has a NaN loss, which the Trainer's
        `logging_nan_inf_filter` leaves out of `eval_loss`). `num_items_in_batch` is not used (a per-batch mean).
        """
        pixel_values, labels = inputs["pixel_values"], inputs["labels"]  # (rows, T, C, H, W), (rows,)
        loss_weight = 1.0
        if model.training:
            if self.train_stream is not None:
                self.train_stream.take(inputs)  # moves the stream's position past this micro-batch
            self.bad_videos.update(inputs, raise_error=False)  # counts, logs; agree_on_batch stops all processes
            rows = self._clips_to_train(inputs)  # host: no sync
            num_clips = int(rows.sum())
            self.clips_logged += num_clips
            loss_weight = agree_on_batch(num_clips, self.bad_videos)  # None: no process has a clip: all at weight 0
            self.micro_batches_logged += 1
            self.micro_batches_skipped += loss_weight is None
            loss_weight = loss_weight or 0.0
            erasing = inputs.get("random_erasing")  # the decoded clips' draws, in their order
            if num_clips == 0:  # a zero clip (every row is one) with a valid label, for the collectives only
                pixel_values, labels, erasing = pixel_values[:1], torch.zeros_like(labels[:1]), None
            elif num_clips < len(rows):
                pixel_values, labels = pixel_values[rows], labels[rows]
            if self.train_processor is not None:  # uint8 -> float on the device, then the random erasing
                pixel_values = self.train_processor.normalize_pixel_values(pixel_values, erasing)
            if self.mixup is not None:
                pixel_values, labels = self.mixup(pixel_values, labels)
        outputs = model(pixel_values=pixel_values, labels=labels)
        loss = outputs["loss"] * loss_weight
        return (loss, outputs) if return_outputs else loss

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        # Training logs (every process logs them together, so the count is a collective): the skipped videos, as
        # scalars (`skipped_videos`, `skipped_videos_per_process/<process>`) for the Trainer's printing and trackers.
        # With the loss, the window's speed under the Accelerate scripts' names (clips/s, TFLOP/s, data wait).
        if "loss" in logs or "train_loss" in logs:
            table = counts_of_every_process(
                [self.bad_videos.num_skipped, self.clips_logged, round(self.data_seconds * 1e6)]
            )
            if "loss" in logs and self.window_start is not None:
                logs.update(throughput(int(table[:, 1].sum()), time.perf_counter() - self.window_start,
                                       float(table[:, 2].double().mean()) / 1e6, self.clip_flops))  # fmt: skip
                self.clips_logged, self.data_seconds, self.window_start = 0, 0.0, time.perf_counter()
            logs.update(flatten_for_tracking(describe_skipped(table[:, 0].tolist())))
        run, skipped = self.micro_batches_logged, self.micro_batches_skipped
        if "loss" in logs and 0 < skipped < run:  # the Trainer's mean counted them as loss 0: the mean of the others
            logs["loss"] = logs["loss"] * run / (run - skipped)
        if "loss" in logs:
            self.micro_batches_logged, self.micro_batches_skipped = 0, 0
        if "learning_rate" in logs and self.optimizer is not None:
            # the schedule's full lr (the head's), as mae-st-finetune logs it: the Trainer's is group 0's, the lowest
            # encoder layer's, which layer decay scales down (2.6e-06 where the schedule was at 1.25e-05)
            groups = self.optimizer.param_groups
            logs["learning_rate"] *= groups[-1].get("lr_scale", 1.0) / groups[0].get("lr_scale", 1.0)
        super().log(logs, start_time)


def check_weights_fit(model: torch.nn.Module, checkpoint: str | Path) -> None:
    """
    Refuse, in one line, a Trainer checkpoint whose weights do not fit `model` (another size, another number of
    classes), which the Trainer's resume reports with torch's traceback. Reads the shapes only.

    Raises:
        UsageError: a weight of `model` has another shape in the checkpoint (one it lacks is left to the Trainer).
    """
    from safetensors import safe_open

    weights = Path(checkpoint) / "model.safetensors"
    if not weights.is_file():  # sharded or another format: left to the Trainer
        return
    with safe_open(weights, framework="pt") as saved:
        shapes = {name: tuple(saved.get_slice(name).get_shape()) for name in saved.keys()}
    for name, tensor in model.state_dict().items():
        if shapes.get(name, tuple(tensor.shape)) != tuple(tensor.shape):
            raise UsageError(
                f"--resume_from_checkpoint {checkpoint}: its weights do not fit the model of --model_name_or_path "
                f"({name} is {list(shapes[name])} there, {list(tensor.shape)} here); resume with the model of the "
                "run that saved it."
            )


def _tensors_only(collate_fn, examples):
    return {key: value for key, value in collate_fn(examples).items() if isinstance(value, torch.Tensor)}


def compute_metrics(eval_prediction) -> dict[str, float]:
    """
    Top-1 and top-5 accuracy (percent) over the decoded videos, from the Trainer's gathered logits and labels (one row
    per video: evaluation is single-view), with `num_videos` (decoded) and `skipped_videos` (rows labeled
    `IGNORE_INDEX`).

    Raises:
        TooManyBadVideosError: when no evaluation video could be decoded.
    """
    logits = eval_prediction.predictions
    logits = np.asarray(logits[0] if isinstance(logits, tuple) else logits)  # (videos, num_labels)
    labels = np.asarray(eval_prediction.label_ids)  # (videos,)
    decoded = labels != IGNORE_INDEX
    if not decoded.any():
        raise TooManyBadVideosError("No video of the evaluation split could be decoded; check the evaluation split.")
    metrics = classification_metrics(logits[decoded], labels[decoded])
    return {**metrics, "num_videos": int(decoded.sum()), "skipped_videos": int((~decoded).sum())}


def run(argv: list[str] | None = None) -> dict:
    """Fine-tune with the Trainer; returns the train and eval metrics. `argv` defaults to the command line."""
    model_args, data_args, training_args = parse_trainer_arguments(argv)
    if training_args.hub_token:  # from the environment from here on: the Trainer pickles its arguments into
        os.environ["HF_TOKEN"] = training_args.hub_token  # training_args.bin, which every checkpoint holds and
        training_args.hub_token = None  # --push_to_hub uploads (huggingface_hub reads HF_TOKEN at each call)
    # The collator needs the raw `video` column, which the model signature does not name.
    training_args.remove_unused_columns = False
    # page-locked batches help only a GPU; on a CPU torch warns for every DataLoader
    training_args.dataloader_pin_memory = training_args.dataloader_pin_memory and torch.cuda.is_available()

    logging.basicConfig(format="%(asctime)s - %(levelname)s - %(name)s - %(message)s", level=logging.INFO)
    config = load_pretrained(AutoConfig, model_args.model_name_or_path, "--model_name_or_path")
    logger.info(apply_size_recipe(config, model_args, training_args))  # unset recipe flags take the size's values
    num_frames = data_args.num_frames or config.num_frames
    image_size = data_args.image_size or config.image_size
    check_sizes_fit(config, num_frames, image_size, model_args.model_name_or_path)
    with training_args.main_process_first():
        train_dataset, eval_dataset, label_names = load_splits(data_args)
    if eval_dataset is None and training_args.eval_strategy == "epoch":  # the default: no validation, no evaluation
        training_args.eval_strategy, training_args.do_eval = IntervalStrategy.NO, False
    if eval_dataset is None and training_args.eval_strategy != "no":  # the Trainer would raise a traceback
        raise UsageError(
            f"--eval_strategy {training_args.eval_strategy.value}: there is no validation data to evaluate on (give "
            "--validation_dir, --validation_file, or a --dataset_name with a --validation_split_name split)."
        )

    eval_processor, train_processor, _ = build_processors(data_args, num_frames, image_size)
    # uint8 clips through the DataLoader, normalized (and randomly erased) on the device by the Trainer
    train_processor = train_processor.with_settings(return_uint8=True)
    train_stream = None
    if isinstance(train_dataset, datasets.IterableDataset):
        # each process reads its own part, through a shuffle buffer reseeded every pass (modeling_mae_st/streaming.py)
        train_stream = training_stream(
            train_dataset,
            training_args.per_device_train_batch_size,
            training_args.seed,
            data_args.shuffle_buffer_size,
            training_args.process_index,
            training_args.world_size,
        )
    else:
        batch = training_args.per_device_train_batch_size * training_args.world_size
        if len(train_dataset) < batch:  # (a pass drops its last partial batch)
            raise fewer_videos_than_a_batch(
                len(train_dataset), training_args.per_device_train_batch_size, training_args.world_size
            )
        # each video's clips drawn from (seed, pass, index): a resumed run sees the clips of the uninterrupted one
        train_dataset = IndexSeededVideoDataset(train_dataset, train_processor, training_args.seed)
    if eval_dataset is not None:
        eval_dataset = with_video_transform(eval_dataset, VideoClipTransform(eval_processor))

    set_seed(training_args.seed)  # the new head's weights (the Trainer seeds only once the model exists)
    model, _ = load_classifier(model_args, config, label_names)

    # Layer-wise lr decay and the per-step warmup + cosine of the recipe, given to the Trainer as its optimizer.
    effective_batch_size = (
        training_args.per_device_train_batch_size
        * training_args.gradient_accumulation_steps
        * training_args.world_size
        * data_args.repeat_aug
    )
    learning_rate = training_args.learning_rate or scaled_learning_rate(
        training_args.base_learning_rate, effective_batch_size
    )
    training_args.learning_rate = learning_rate  # what the Trainer logs and saves
    optimizer = build_adamw(
        param_groups_layer_decay(model, training_args.weight_decay, training_args.layer_decay),
        learning_rate,
        betas=(training_args.adam_beta1, training_args.adam_beta2),
    )
    mixup = VideoMixup(
        num_labels=len(label_names),
        mixup_alpha=training_args.mixup,
        cutmix_alpha=training_args.cutmix,
        mixup_prob=training_args.mixup_prob,
        switch_prob=training_args.mixup_switch_prob,
        label_smoothing=training_args.label_smoothing,
    )

    clip_shape = (num_frames, config.num_channels, image_size, image_size)  # of a batch where no video decoded
    # decoding workers and torch threads share the cores this process may use (as in the Accelerate scripts)
    training_args.dataloader_num_workers, _ = share_cpu_cores(
        training_args.dataloader_num_workers, model_on_cpu=training_args.device.type == "cpu"
    )
    try:  # (with --push_to_hub the Trainer creates the Hub repository here)
        trainer = VideoClassificationTrainer(
            model=model,
            args=training_args,
            train_dataset=train_dataset,
            eval_dataset=eval_dataset,
            data_collator=partial(collate_for_trainer, clip_shape=clip_shape),
            compute_metrics=compute_metrics,
            processing_class=eval_processor,
            optimizers=(optimizer, None),  # the schedule is made by the Trainer, once it knows its step count
            train_processor=train_processor,
            mixup=mixup,
            warmup_epochs=training_args.warmup_epochs,
            min_learning_rate=training_args.min_learning_rate,
            max_bad_video_fraction=data_args.max_bad_video_fraction,
            train_stream=train_stream,
            card_facts=RunFacts(
                dataset=data_args.dataset_name or data_args.train_dir or data_args.train_file,
                dataset_id=hub_dataset_id(data_args.dataset_name),
                num_train_videos=None if train_stream is not None else len(train_dataset),
                eval_dataset=data_args.dataset_name or data_args.validation_dir or data_args.validation_file,
                eval_split="validation, 1 center clip and crop per video",
                hardware=describe_hardware(training_args.world_size),
                base_model=None if os.path.isdir(model_args.model_name_or_path) else model_args.model_name_or_path,
            ),
            card_arguments={
                "resolved": {"learning_rate": learning_rate, "effective_batch_size": effective_batch_size,
                             "num_train_epochs": training_args.num_train_epochs, "num_frames": num_frames,
                             "image_size": image_size},
                "training": vars(training_args), "model": vars(model_args), "data": vars(data_args),
            },  # fmt: skip
        )
    except HUB_ERRORS as error:
        if not training_args.push_to_hub:  # not the Hub's
            raise
        cause = " ".join(str(error).split())
        raise HubPushError(f"--push_to_hub: the Trainer could not create its Hub repository ({cause}).") from error

    logger.info(f"Precision: {describe_precision(trainer.accelerator.mixed_precision)}")
    if eval_dataset is not None and training_args.eval_strategy != "no":
        logger.info(SINGLE_VIEW_VALIDATION_NOTE)
    results = {}
    checkpoint = training_args.resume_from_checkpoint
    if checkpoint is not None:  # a checkpoint-<step> folder, or "latest" in output_dir, as in the Accelerate scripts
        checkpoint = str(resolve_checkpoint(checkpoint, training_args.output_dir, TRAINER_STATE_FILE))
    train_result = trainer.train(resume_from_checkpoint=checkpoint)
    trainer.log_metrics("train", train_result.metrics)
    trainer.save_metrics("train", train_result.metrics)
    results.update(train_result.metrics)
    if eval_dataset is not None:
        metrics = trainer.evaluate()
        trainer.log_metrics("eval", metrics)
        trainer.save_metrics("eval", metrics)
        results.update(metrics)
    trainer.save_state()
    # The model with its processor, remote code and card (save_model, create_model_card); with --push_to_hub
    # uploaded in one commit once all of it, the evaluation included, is written.
    saved = f"Model, video processor and card saved to {Path(training_args.output_dir).resolve()}"
    if not training_args.push_to_hub:
        trainer.save_model()
        trainer.create_model_card()
        if trainer.is_world_process_zero():
            print(saved)
        return results
    try:
        trainer.push_to_hub()
    except HUB_ERRORS as error:
        raise HubPushError.of_upload(training_args.output_dir, trainer.hub_model_id, error) from error
    if trainer.is_world_process_zero():
        print(f"{saved}, and pushed to https://huggingface.co/{trainer.hub_model_id}")
    return results


def main(argv: list[str] | None = None) -> None:
    """`mae-st-finetune-trainer` (also `python training/run_video_classification_trainer.py`)."""
    run_command("mae-st-finetune-trainer", parse_trainer_arguments, run, argv)


if __name__ == "__main__":
    main()
