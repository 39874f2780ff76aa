"""
Fine-tune a MAE-ST encoder into a video classifier with `transformers.Trainer`.

The same data, model and recipe as `run_video_classification.py` (the Accelerate script), through the Trainer:
`TrainingArguments` for the loop (checkpoints, resume, logging, mixed precision, DeepSpeed / FSDP),
[`collate_for_trainer`] for batching (repeated-augmentation clips flattened), [`VideoClassificationTrainer`] for
mixup / cutmix with label smoothing as soft targets, and [`compute_metrics`] for top-1 / top-5 accuracy through the
`evaluate` modules shipped in the package.

    python training/run_video_classification_trainer.py --model_name_or_path path/to/pretrained \
        --train_dir videos/train --validation_dir videos/val --output_dir mae-st-trainer \
        --eval_strategy epoch --save_strategy epoch \
        --learning_rate 0 --weight_decay 0.05 --max_grad_norm 5.0 --num_train_epochs 50

`--learning_rate 0` scales the recipe's base lr by the effective batch; `TrainingArguments` has its own defaults
for weight decay (0) and clipping (1.0), so pass the recipe's values as above.

Differences from the Accelerate script: the Trainer uses one learning rate for all layers unless you give it an
optimizer (here: layer-wise decay groups, built below), and evaluation is single-view (the multi-view test is in the
Accelerate script and `modeling_mae_st.evaluation`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from transformers import AutoConfig, HfArgumentParser, Trainer, TrainingArguments

from modeling_mae_st.data import VideoClipTransform, collate_video_clips
from modeling_mae_st.evaluation import classification_metrics
from modeling_mae_st.finetuning import (
    DataArguments,
    ModelArguments,
    build_processors,
    check_sizes_fit,
    load_classifier,
    load_splits,
)
from modeling_mae_st.mixup import VideoMixup
from modeling_mae_st.optimization import (
    build_adamw,
    get_warmup_cosine_schedule,
    param_groups_layer_decay,
    scaled_learning_rate,
)


@dataclass
class RecipeArguments:
    """The official fine-tuning recipe values that `TrainingArguments` has no field for."""

    base_learning_rate: float = field(
        default=2.4e-3, metadata={"help": "lr per 256 clips (repeat_aug copies counted) when --learning_rate is 0."}
    )
    layer_decay: float = field(default=0.75, metadata={"help": "Layer-wise lr decay (official: 0.75)."})
    warmup_epochs: float = field(default=5, metadata={"help": "Linear warmup epochs (official: 5)."})
    min_learning_rate: float = field(default=1e-6, metadata={"help": "Floor of the cosine (official: 1e-6)."})
    mixup: float = field(default=0.8, metadata={"help": "Mixup alpha (official: 0.8); 0 disables."})
    cutmix: float = field(default=1.0, metadata={"help": "CutMix alpha (official: 1.0); 0 disables."})
    mixup_prob: float = field(default=1.0)
    mixup_switch_prob: float = field(default=0.5)
    label_smoothing: float = field(default=0.1, metadata={"help": "Label smoothing (official: 0.1)."})


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
    """A `Trainer` that mixes training batches (mixup / cutmix, label smoothing -> soft `labels`); evaluation batches
    keep their class indices."""

    def __init__(self, *args, mixup: VideoMixup | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.mixup = mixup

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
    parser = HfArgumentParser((ModelArguments, DataArguments, RecipeArguments, TrainingArguments))
    model_args, data_args, recipe, training_args = parser.parse_args_into_dataclasses(args=argv)
    # The collator needs the raw `video` column, which the model signature does not name.
    training_args.remove_unused_columns = False

    config = AutoConfig.from_pretrained(model_args.model_name_or_path)
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
    learning_rate = training_args.learning_rate
    if learning_rate == 0:
        learning_rate = scaled_learning_rate(recipe.base_learning_rate, effective_batch_size)
    steps_per_epoch = max(
        len(train_dataset)
        // (training_args.per_device_train_batch_size * training_args.world_size)
        // training_args.gradient_accumulation_steps,
        1,
    )
    max_steps = (
        training_args.max_steps
        if training_args.max_steps > 0
        else math.ceil(training_args.num_train_epochs * steps_per_epoch)
    )
    optimizer = build_adamw(
        param_groups_layer_decay(model, training_args.weight_decay, recipe.layer_decay),
        learning_rate,
        betas=(training_args.adam_beta1, training_args.adam_beta2),
    )
    scheduler = get_warmup_cosine_schedule(
        optimizer, min(round(recipe.warmup_epochs * steps_per_epoch), max_steps), max_steps, recipe.min_learning_rate
    )
    mixup = VideoMixup(
        num_labels=len(label_names),
        mixup_alpha=recipe.mixup,
        cutmix_alpha=recipe.cutmix,
        mixup_prob=recipe.mixup_prob,
        switch_prob=recipe.mixup_switch_prob,
        label_smoothing=recipe.label_smoothing,
    )

    trainer = VideoClassificationTrainer(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        data_collator=collate_for_trainer,
        compute_metrics=compute_metrics,
        processing_class=eval_processor,
        optimizers=(optimizer, scheduler),
        mixup=mixup,
    )

    results = {}
    train_result = trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    trainer.save_model()
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
    """The console command: run, then exit with status 0 (a console script exits with whatever `main` returns)."""
    run(argv)


if __name__ == "__main__":
    main()
