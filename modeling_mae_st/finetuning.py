"""
What the fine-tuning scripts share (`training/run_video_classification.py` with Accelerate,
`training/run_video_classification_trainer.py` with `Trainer`): the model and data arguments, the labeled splits
from any supported source, the training and evaluation video processors, the classifier loaded on a pretrained or
converted encoder, and the size check between checkpoint and data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import datasets
import torch

from .data import get_label_names, load_video_dataset, load_video_folder, load_video_index
from .modeling_mae_st import MAESTForVideoClassification
from .video_processing_mae_st import MAESTVideoProcessor


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
