"""
Fine-tune a MAE-ST encoder into a video classifier with `transformers.Trainer`.

The same data, model and recipe as `run_video_classification.py` (the Accelerate script), through the Trainer:
`TrainingArguments` for the loop (checkpoints, resume, logging, mixed precision, DeepSpeed / FSDP),
[`collate_for_trainer`] for batching (repeated-augmentation clips flattened), [`VideoClassificationTrainer`] for
mixup / cutmix with label smoothing as soft targets, and [`compute_metrics`] for top-1 / top-5 accuracy through the
`evaluate` modules shipped in the package.

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

import logging

import numpy as np
from transformers import AutoConfig, Trainer

from mae_st_training.arguments import parse_trainer_arguments, run_command
from mae_st_training.checkpointing import resolve_checkpoint

from modeling_mae_st.command_line import load_pretrained
from modeling_mae_st.data import VideoClipTransform, collate_video_clips
from modeling_mae_st.evaluation import classification_metrics
from modeling_mae_st.finetuning import (
    SINGLE_VIEW_VALIDATION_NOTE,
    apply_size_recipe,
    build_processors,
    check_sizes_fit,
    load_classifier,
    load_splits,
)
from modeling_mae_st.hub import save_for_hub
from modeling_mae_st.mixup import VideoMixup
from modeling_mae_st.model_card import describe_precision
from modeling_mae_st.optimization import (
    build_adamw,
    get_warmup_cosine_schedule,
    param_groups_layer_decay,
    scaled_learning_rate,
)


logger = logging.getLogger(__name__)


def collate_for_trainer(examples) -> dict:
    """
    Batch [`VideoClipTransform`] outputs for the Trainer: `{"pixel_values", "labels"}` only, repeated-augmentation
    clips flattened (the bad-video counts of [`collate_video_clips`] are logged by `modeling_mae_st.data`; the model
    takes no other inputs).

    Raises:
        ValueError: when every video of a batch failed to decode (the Trainer cannot skip a step).
    """
    batch = collate_video_clips(examples)
    if batch["pixel_values"] is None:
        raise ValueError(f"No video of this batch could be decoded: {batch['skipped_videos']}.")
    return {"pixel_values": batch["pixel_values"], "labels": batch["labels"]}


class VideoClassificationTrainer(Trainer):
    """
    A `Trainer` that mixes training batches (mixup / cutmix, label smoothing -> soft `labels`; evaluation batches
    keep their class indices) and follows the recipe's schedule: linear warmup for `warmup_epochs`, then half-cosine
    to `min_learning_rate`, sized by the Trainer's own count of optimizer steps (ceil(batches per process /
    accumulation) per pass, known only once it has prepared its DataLoader), so that it ends on the last step.
    """

    def __init__(
        self,
        *args,
        mixup: VideoMixup | None = None,
        warmup_epochs: float = 0.0,
        min_learning_rate: float = 0.0,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.mixup = mixup
        self.warmup_epochs = warmup_epochs
        self.min_learning_rate = min_learning_rate
        self.steps_per_epoch = None

    def set_initial_training_values(self, args, dataloader):
        values = super().set_initial_training_values(args, dataloader)
        self.steps_per_epoch = values[1]  # num_update_steps_per_epoch, as the Trainer counts them
        return values

    def create_scheduler(self, num_training_steps: int, optimizer=None):
        if self.lr_scheduler is None:
            warmup_steps = min(round(self.warmup_epochs * self.steps_per_epoch), num_training_steps)
            self.lr_scheduler = get_warmup_cosine_schedule(
                optimizer or self.optimizer, warmup_steps, num_training_steps, self.min_learning_rate
            )
        return self.lr_scheduler

    def compute_loss(self, model, inputs, *args, **kwargs):
        if model.training and self.mixup is not None:
            pixel_values, labels = self.mixup(inputs["pixel_values"], inputs["labels"])
            inputs = {**inputs, "pixel_values": pixel_values, "labels": labels}
        return super().compute_loss(model, inputs, *args, **kwargs)


def compute_metrics(eval_prediction) -> dict[str, float]:
    """Top-1 and top-5 accuracy (percent) from the Trainer's logits and labels."""
    logits = eval_prediction.predictions
    logits = logits[0] if isinstance(logits, tuple) else logits
    return classification_metrics(np.asarray(logits), np.asarray(eval_prediction.label_ids))


def run(argv: list[str] | None = None) -> dict:
    """Fine-tune with the Trainer; returns the train and eval metrics. `argv` defaults to the command line."""
    model_args, data_args, training_args = parse_trainer_arguments(argv)
    # The collator needs the raw `video` column, which the model signature does not name.
    training_args.remove_unused_columns = False

    logging.basicConfig(format="%(asctime)s - %(levelname)s - %(name)s - %(message)s", level=logging.INFO)
    config = load_pretrained(AutoConfig, model_args.model_name_or_path, "--model_name_or_path")
    logger.info(apply_size_recipe(config, model_args, training_args))  # unset recipe flags take the size's values
    num_frames = data_args.num_frames or config.num_frames
    image_size = data_args.image_size or config.image_size
    check_sizes_fit(config, num_frames, image_size, model_args.model_name_or_path)
    with training_args.main_process_first():
        train_dataset, eval_dataset, label_names = load_splits(data_args)

    eval_processor, train_processor, _ = build_processors(data_args, num_frames, image_size)
    train_dataset = train_dataset.with_transform(VideoClipTransform(train_processor))
    if eval_dataset is not None:
        eval_dataset = eval_dataset.with_transform(VideoClipTransform(eval_processor))

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

    trainer = VideoClassificationTrainer(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        data_collator=collate_for_trainer,
        compute_metrics=compute_metrics,
        processing_class=eval_processor,
        optimizers=(optimizer, None),  # the schedule is made by the Trainer, once it knows its step count
        mixup=mixup,
        warmup_epochs=training_args.warmup_epochs,
        min_learning_rate=training_args.min_learning_rate,
    )

    logger.info(f"Precision: {describe_precision(trainer.accelerator.mixed_precision)}")
    if eval_dataset is not None and training_args.eval_strategy != "no":
        logger.info(SINGLE_VIEW_VALIDATION_NOTE)
    results = {}
    checkpoint = training_args.resume_from_checkpoint
    if checkpoint is not None:  # a checkpoint-<step> folder, or "latest" in output_dir, as in the Accelerate scripts
        checkpoint = str(resolve_checkpoint(checkpoint, training_args.output_dir))
    train_result = trainer.train(resume_from_checkpoint=checkpoint)
    trainer.save_model()
    if trainer.is_world_process_zero():  # the folder complete for the next tool: matching processor, code, 0644 files
        save_for_hub(trainer.model, training_args.output_dir, video_processor=eval_processor)
    trainer.log_metrics("train", train_result.metrics)
    trainer.save_metrics("train", train_result.metrics)
    trainer.save_state()
    results.update(train_result.metrics)
    if eval_dataset is not None:
        metrics = trainer.evaluate()
        trainer.log_metrics("eval", metrics)
        trainer.save_metrics("eval", metrics)
        results.update(metrics)
    return results


def main(argv: list[str] | None = None) -> None:
    """`mae-st-finetune-trainer` (also `python training/run_video_classification_trainer.py`)."""
    run_command("mae-st-finetune-trainer", parse_trainer_arguments, run, argv)


if __name__ == "__main__":
    main()
