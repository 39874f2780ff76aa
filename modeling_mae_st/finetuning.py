"""
What the fine-tuning scripts share (`training/run_video_classification.py` with Accelerate,
`training/run_video_classification_trainer.py` with `Trainer`): the official per-size recipe values, the labeled
splits from any supported source, the training and evaluation video processors, the classifier loaded on a pretrained
or converted encoder, and the size check between checkpoint and data. Their command-line arguments are in
training/arguments.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import datasets
import torch

from .command_line import UsageError, load_pretrained
from .configuration_mae_st import MAESTConfig
from .data import (
    check_split_names,
    get_label_names,
    label_mappings,
    load_video_dataset,
    load_video_folder,
    load_video_index,
)
from .model_card import matching_preset, preset_name
from .modeling_mae_st import MAESTForVideoClassification
from .video_processing_mae_st import MAESTVideoProcessor
from .video_transforms import RandAugment


if TYPE_CHECKING:  # the command-line arguments live with the scripts, in training/arguments.py
    from mae_st_training.arguments import FinetuningDataArguments, FinetuningModelArguments


@dataclass(frozen=True)
class SizeRecipe:
    """
    The fine-tuning values the official recipes change with the encoder's size.

    Args:
        layer_decay: layer-wise lr decay.
        drop_path_rate: stochastic depth of the encoder.
        classifier_dropout: dropout before the head.
        source: the files that publish these values.
    """

    layer_decay: float
    drop_path_rate: float
    classifier_dropout: float
    source: str


_SLOWFAST_FT = "facebookresearch/SlowFast configs/masked_ssl/k400_VIT_{}_16x4_FT.yaml"
# SOLVER.LAYER_DECAY, MVIT.DROPPATH_RATE and MODEL.DROPOUT_RATE of PySlowFast's Kinetics-400 fine-tuning configs (the
# ViT-B file sets LAYER_DECAY twice, 0.75 then 0.65 "# vit-B"; YAML keeps the last); mae_st publishes a command for
# ViT-L only (FINETUNE.md: --layer_decay 0.75 --drop_path_rate 0.2 --dropout 0.3), equal to PySlowFast's.
SIZE_RECIPES: dict[str, SizeRecipe] = {
    "vit-b": SizeRecipe(0.65, 0.1, 0.3, _SLOWFAST_FT.format("B")),
    "vit-l": SizeRecipe(0.75, 0.2, 0.3, "facebookresearch/mae_st FINETUNE.md and " + _SLOWFAST_FT.format("L")),
    "vit-h": SizeRecipe(0.8, 0.2, 0.5, _SLOWFAST_FT.format("H")),
}
RECIPE_FIELDS = ("layer_decay", "drop_path_rate", "classifier_dropout")
SINGLE_VIEW_VALIDATION_NOTE = (
    "Validation during training uses one center clip and center crop per video (deterministic), where the official "
    "'val' mode draws a random clip and crop: its accuracy differs from the official training logs."
)


def apply_size_recipe(config: MAESTConfig, *arguments: object) -> str:
    """
    Fill every recipe field left unset (`None`) in `arguments` with the official value for the checkpoint's size.

    Args:
        config: the checkpoint's `MAESTConfig`; its encoder sizes pick the preset. Other sizes get the ViT-L values
            (mae_st's recipe, which the other defaults follow).
        arguments: the argument dataclasses holding `layer_decay`, `drop_path_rate` and `classifier_dropout`
            (each field is looked for in all of them); changed in place.

    Returns:
        One line for the log: the size, the source and each value with where it came from.

    Raises:
        TypeError: no argument object has one of the recipe fields (a caller's bug).
    """
    preset = matching_preset(config)
    recipe = SIZE_RECIPES[preset or "vit-l"]
    size = preset_name(config) + ("" if preset else " (no official recipe for this size: ViT-L's)")
    parts = []
    for name in RECIPE_FIELDS:
        holder = next((args for args in arguments if hasattr(args, name)), None)
        if holder is None:
            raise TypeError(f"None of {[type(args).__name__ for args in arguments]} has the recipe field {name!r}.")
        if getattr(holder, name) is None:
            setattr(holder, name, getattr(recipe, name))
            parts.append(f"{name} {getattr(recipe, name)}")
        else:
            parts.append(f"{name} {getattr(holder, name)} (--{name})")
    return f"Fine-tuning recipe for {size} from {recipe.source}: " + ", ".join(parts)


def load_splits(data_args: FinetuningDataArguments):
    """
    The training split, the optional validation split and the class names, from folders, index files or a
    `datasets` dataset. Validation labels are mapped onto the training label ids.

    Returns:
        `(train, validation or None, label_names)`.

    Raises:
        UsageError: no source or several, a split without videos, no label column, or validation classes that the
            training data does not have.
    """
    sources = [name for name in ("train_dir", "train_file", "dataset_name") if getattr(data_args, name)]
    if len(sources) != 1:
        raise UsageError(f"Give exactly one of --train_dir, --train_file, --dataset_name (got {sources or 'none'}).")
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
        check_split_names(splits, data_args.dataset_name, data_args.train_split_name, data_args.validation_split_name)
        train = splits[data_args.train_split_name]
        validation = splits.get(data_args.validation_split_name) if data_args.validation_split_name else None

    label_names = get_label_names(train)
    if label_names is None and "__key__" in (train.column_names or []):  # WebDataset shards
        raise UsageError(
            f"{data_args.dataset_name} holds .tar shards without labels: neither a label_names.txt beside them nor "
            "class names in their .json members (mae-st-make-shards writes both for a labeled source)."
        )
    if label_names is None:
        raise UsageError(
            f"The training data has no label column {label_column!r} (columns: {train.column_names}); name it with "
            "--label_column_name, or for folders put each video in a sub-folder named after its label."
        )
    train = _limit(train, data_args.max_train_samples, "training", data_args)
    if validation is not None:
        validation = _limit(
            _align_labels(validation, label_names), data_args.max_eval_samples, "validation", data_args
        )
    return train, validation, label_names


def _limit(dataset, max_samples: int | None, split: str, data_args: FinetuningDataArguments):
    """Keep the first `max_samples` videos; raise `ValueError` for an empty split."""
    if isinstance(dataset, datasets.IterableDataset):
        return dataset.take(max_samples) if max_samples else dataset
    if len(dataset) == 0:
        source = data_args.train_dir or data_args.train_file or data_args.dataset_name
        raise UsageError(f"The {split} split of {source} has no videos.")
    return dataset.select(range(min(max_samples, len(dataset)))) if max_samples else dataset


def _align_labels(validation, label_names: list[str]):
    """Re-number validation labels by the training class names."""
    names = get_label_names(validation)
    if names is None:
        raise UsageError(f"The validation data has no label column (columns: {validation.column_names}).")
    if names == label_names:
        return validation
    unknown = sorted(set(names) - set(label_names))
    if unknown:
        raise UsageError(f"Validation classes {unknown} do not occur in the training data ({label_names}).")
    new_ids = [label_names.index(name) for name in names]
    features = validation.features.copy()
    features["label"] = datasets.ClassLabel(names=label_names)
    return validation.map(
        lambda batch: {"label": [new_ids[i] for i in batch["label"]]}, batched=True, features=features
    )


def build_processors(data_args: FinetuningDataArguments, num_frames: int, image_size: int):
    """
    The three video processors of a run: single-view evaluation (saved with the model), training (the fine-tuning
    augmentation, `repeat_aug` clips per video) and the multi-view test.

    Returns:
        `(eval_processor, train_processor, test_processor)`.

    Raises:
        UsageError: the flags give settings the processor refuses (the message names the setting or the policy).
    """
    policy = None if data_args.rand_augment in (None, "", "none") else data_args.rand_augment
    if policy is not None:  # checked here so that its error names the flag
        try:
            RandAugment.from_policy(policy)
        except ValueError as error:
            raise UsageError(f"--rand_augment {policy}: {error}") from None
    try:
        return _build_processors(data_args, num_frames, image_size, policy)
    except ValueError as error:  # every other setting comes from a flag (named in the message) or the model's sizes
        raise UsageError(str(error)) from None


def _build_processors(data_args: FinetuningDataArguments, num_frames: int, image_size: int, policy: str | None):
    sizes = MAESTVideoProcessor.sizes_for_crop(image_size)
    eval_processor = MAESTVideoProcessor(
        mode="eval",
        num_frames=num_frames,
        sampling_rate=data_args.sampling_rate,
        crop_size=image_size,
        short_side_size=data_args.short_side_size or sizes["short_side_size"],
    )
    train_processor = eval_processor.with_settings(
        mode="train",
        repeat_aug=data_args.repeat_aug,
        repeat_aug_shared_window=True,  # the official fine-tuning: the copies are augmentations of one clip
        train_jitter_scales=tuple(data_args.train_jitter_scales or sizes["train_jitter_scales"]),
        do_random_resized_crop=True,
        jitter_scales_relative=tuple(data_args.jitter_scales_relative),
        jitter_aspect_relative=tuple(data_args.jitter_aspect_relative),
        do_horizontal_flip=data_args.horizontal_flip,
        do_rand_augment=policy is not None,
        **({"rand_augment_policy": policy} if policy is not None else {}),
        do_random_erasing=data_args.random_erasing_prob > 0,
        random_erasing_prob=data_args.random_erasing_prob,
    )
    test_processor = eval_processor.with_settings(
        num_temporal_views=data_args.num_temporal_views, num_spatial_crops=data_args.num_spatial_crops
    )
    return eval_processor, train_processor, test_processor


def load_classifier(model_args: FinetuningModelArguments, config, label_names: list[str]):
    """
    The classifier on the checkpoint's encoder, with the data's labels and the recipe's drop path and dropout. A new
    head (a pretraining folder, or a fine-tuned one with other labels) gets trunc-normal weights of std
    `head_init_std` (2e-5 in the official recipe) and zero bias.

    Returns:
        `(model, new_head)`.
    """
    label2id, id2label = label_mappings(label_names)
    config.update(
        {
            "num_labels": len(label_names),
            "id2label": id2label,
            "label2id": label2id,
            "drop_path_rate": model_args.drop_path_rate,
            "classifier_dropout": model_args.classifier_dropout,
        }
    )
    model, loading_info = load_pretrained(
        MAESTForVideoClassification,
        model_args.model_name_or_path,
        "--model_name_or_path",
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
        raise UsageError(
            f"{model_args.model_name_or_path} lacks encoder weights {sorted(encoder_missing)}: fine-tuning would start "
            "them from random values. Convert or re-save the checkpoint with this version of mae-st."
        )
    return model, new_head


def check_sizes_fit(config, num_frames: int, image_size: int, source: str) -> None:
    """
    Fail before training when the clips would not fit the checkpoint's position tables.

    Raises:
        UsageError: naming the checkpoint's and the data's frames and size.
    """
    if num_frames != config.num_frames or image_size != config.image_size:
        raise UsageError(
            f"The checkpoint {source} was built for {config.num_frames}-frame clips of {config.image_size}x"
            f"{config.image_size} pixels, but the data arguments ask for {num_frames} frames of {image_size}x"
            f"{image_size}. Use --num_frames {config.num_frames} --image_size {config.image_size}, or a checkpoint "
            "of those sizes."
        )
