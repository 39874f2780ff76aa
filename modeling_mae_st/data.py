"""
Video datasets for MAE-ST with 🤗 datasets: build them, decode on the fly, batch them, and account for bad videos.

Every builder returns datasets with a `video` column (a file path, encoded bytes, or a `{"path", "bytes"}` cell) and,
when labeled, a `label` column of type `ClassLabel`, whose names give `label2id`:

- [`load_video_folder`]: a folder with one subfolder per class (optionally under `train/`, `val/`, `test/` ...);
- [`load_video_index`]: CSV or JSONL files of path and label, including the official Kinetics layout
  (`<path> <label id>` per line, space-separated, no header);
- [`prepare_video_dataset`]: any `datasets` dataset with a column of video paths or bytes, from the Hub, from disk,
  streaming or not; [`load_video_dataset`] picks the right one of the three for a name or path.

Videos are decoded when read: [`VideoClipTransform`] (for `with_transform`, or `map` on a streaming dataset) turns
each example into the clips of an [`MAESTVideoProcessor`], and [`collate_video_clips`] batches them, flattening
repeated-augmentation clips. A video that cannot be decoded is logged with its file name, dropped from the batch and
counted in the batch (`num_skipped`, `skipped_videos`); it is never replaced by another video. The training loop
feeds each batch to a [`BadVideoTracker`], which raises once more than `max_bad_video_fraction` of the videos failed.
[`build_video_dataloader`] puts these together.
"""

from __future__ import annotations

import ctypes
import logging
import os
import random
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import torch
from torch.utils.data import DataLoader, default_collate

from .video_decoding import VideoDecodingError, video_name
from .video_processing_mae_st import MAESTVideoProcessor


logger = logging.getLogger(__name__)

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg", ".flv", ".wmv", ".ogv", ".3gp")
# Folder and index-file names of each split (the official Kinetics files are train.csv, val.csv, test.csv).
SPLIT_NAMES = {"train": "train", "training": "train", "val": "validation", "valid": "validation",
               "validation": "validation", "test": "test"}  # fmt: skip
VIDEO_COLUMN = "video"
LABEL_COLUMN = "label"

AnyDataset = datasets.Dataset | datasets.DatasetDict | datasets.IterableDataset | datasets.IterableDatasetDict
INDEX_SUFFIXES = (".csv", ".jsonl", ".json")


class DatasetSourceError(ValueError):
    """A dataset source that holds no videos to read: an empty folder, a file that is not an index, an index whose
    format cannot be read. The message names the path and the cause (the commands print it as one line)."""


# ---------------------------------------------------------------------------------------------------------------
# Building datasets
# ---------------------------------------------------------------------------------------------------------------


def _video_files(folder: Path) -> list[Path]:
    return sorted(path for path in folder.iterdir() if path.is_file() and path.suffix.lower() in VIDEO_EXTENSIONS)


def load_video_folder(data_dir: str | Path) -> datasets.DatasetDict:
    """
    Build a dataset from a folder of videos.

    Accepted layouts (video files are recognised by the extensions in `VIDEO_EXTENSIONS`):

        data_dir/<class>/<video>               one "train" split, labeled
        data_dir/<split>/<class>/<video>       splits named train, val or validation, test
        data_dir/[<split>/]<video>             unlabeled (for pretraining): no "label" column

    Class names are the sorted subfolder names over all splits, so label ids agree between splits.

    Returns:
        `DatasetDict` with a `video` column (absolute paths) and, when labeled, a `label` `ClassLabel` column.

    Raises:
        FileNotFoundError: `data_dir` is not a folder.
        DatasetSourceError: no videos, or a split folder mixing videos and class folders.
    """
    data_dir = Path(data_dir).resolve()
    if not data_dir.is_dir():
        raise FileNotFoundError(2, "Video folder does not exist or is not a folder", str(data_dir))
    split_dirs = {SPLIT_NAMES[path.name]: path for path in sorted(data_dir.iterdir()) if path.name in SPLIT_NAMES}
    if not split_dirs:
        split_dirs = {"train": data_dir}
    rows: dict[str, tuple[list[str], list[str] | None]] = {}
    for split, split_dir in split_dirs.items():
        loose = _video_files(split_dir)
        class_dirs = [path for path in sorted(split_dir.iterdir()) if path.is_dir() and _video_files(path)]
        if loose and class_dirs:
            raise DatasetSourceError(
                f"{split_dir} has both video files and class folders ({[path.name for path in class_dirs]}); put "
                "every video in a class folder (labeled) or none (unlabeled)."
            )
        if class_dirs:
            videos = [(str(video), class_dir.name) for class_dir in class_dirs for video in _video_files(class_dir)]
            rows[split] = ([video for video, _ in videos], [label for _, label in videos])
        else:
            rows[split] = ([str(video) for video in loose], None)
    if not any(videos for videos, _ in rows.values()):
        raise DatasetSourceError(f"No video files ({', '.join(VIDEO_EXTENSIONS)}) found under {data_dir}.")
    labeled = {labels is not None for videos, labels in rows.values() if videos}
    if len(labeled) > 1:
        raise DatasetSourceError(f"Some splits under {data_dir} have class folders and others do not.")
    class_names = sorted({label for _, labels in rows.values() for label in labels or []})
    splits = {}
    for split, (videos, labels) in rows.items():
        if labels is None:
            features = datasets.Features({VIDEO_COLUMN: datasets.Value("string")})
            splits[split] = datasets.Dataset.from_dict({VIDEO_COLUMN: videos}, features=features)
        else:
            features = datasets.Features(
                {VIDEO_COLUMN: datasets.Value("string"), LABEL_COLUMN: datasets.ClassLabel(names=class_names)}
            )
            label_ids = [class_names.index(label) for label in labels]
            columns = {VIDEO_COLUMN: videos, LABEL_COLUMN: label_ids}
            splits[split] = datasets.Dataset.from_dict(columns, features=features)
    return datasets.DatasetDict(splits)


def _index_files(data_files: str | Path | Mapping[str, str | Path]) -> dict[str, Path]:
    """Split name -> index file, from one file, a mapping, or a folder holding `train.csv`, `val.jsonl` ..."""
    if isinstance(data_files, Mapping):
        return {SPLIT_NAMES.get(split, split): Path(path) for split, path in data_files.items()}
    path = Path(data_files)
    if path.is_file():
        return {"train": path}
    if not path.is_dir():
        raise FileNotFoundError(2, "Index file or folder does not exist", str(path))
    found = {
        SPLIT_NAMES[file.stem]: file
        for file in sorted(path.iterdir())
        if file.stem in SPLIT_NAMES and file.suffix in INDEX_SUFFIXES
    }
    if not found:
        raise DatasetSourceError(f"No index files (train/val/test .csv or .jsonl) in {path}.")
    return found


def _index_builder(path: Path) -> tuple[str, dict[str, Any]]:
    """`datasets` builder name and arguments for an index file."""
    if not path.is_file():
        raise FileNotFoundError(2, "Index file does not exist", str(path))
    if path.suffix.lower() in VIDEO_EXTENSIONS:
        raise DatasetSourceError(
            f"{path} is a video file, not an index: give a folder of videos, or an index file (.csv, .jsonl) "
            "listing videos."
        )
    if path.suffix in (".jsonl", ".json"):
        return "json", {}
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            first_line = handle.readline()
    except UnicodeDecodeError:
        raise DatasetSourceError(
            f"{path} is not a text file, so not an index (CSV or JSON lines listing videos)."
        ) from None
    if "," in first_line:  # a CSV with a header naming its columns
        return "csv", {}
    # The official Kinetics layout: "<path> <label id>", space-separated, no header.
    return "csv", {"sep": " ", "header": None, "column_names": ["path", LABEL_COLUMN]}


def load_video_index(
    data_files: str | Path | Mapping[str, str | Path],
    video_root: str | Path | None = None,
    label_names: Sequence[str] | None = None,
    streaming: bool = False,
    path_column: str = "path",
    label_column: str | None = LABEL_COLUMN,
) -> datasets.DatasetDict | datasets.IterableDatasetDict:
    """
    Build a dataset from CSV or JSONL index files listing a video path and a label per row.

    Formats: JSONL (`{"path": ..., "label": ...}` per line), CSV with a header naming the columns, or the official
    Kinetics CSV (`<path> <label id>` per line, space-separated, no header). Labels may be class names or ids.

    Args:
        data_files: one index file (the "train" split), a mapping split -> file, or a folder with the official
            `train.csv`, `val.csv`, `test.csv` (or `.jsonl`); `val` becomes the "validation" split.
        video_root: folder that relative video paths are relative to; by default each index file's folder.
        label_names: class names in label-id order; needed for integer labels to have names. Without them the names
            are the sorted class names of the index files (read whole once when streaming), or the ids as strings.
        streaming: return an `IterableDatasetDict` that reads the index lazily.
        path_column, label_column: column names in the index files; `label_column=None` reads the videos unlabeled
            (pretraining: the labels are neither checked nor encoded).

    Returns:
        `DatasetDict` (or `IterableDatasetDict`) with `video` (resolved paths) and `label` (`ClassLabel`) columns.
    """
    files = _index_files(data_files)
    builders = [_index_builder(path) for path in files.values()]
    if any(builder != builders[0] for builder in builders):
        raise DatasetSourceError(
            f"Index files {[str(path) for path in files.values()]} mix formats (JSONL, CSV with a header, official "
            "CSV without one); use one format for all splits."
        )
    name, builder_kwargs = builders[0]
    data_files = {split: str(path) for split, path in files.items()}
    dataset = datasets.load_dataset(name, data_files=data_files, streaming=streaming, **builder_kwargs)
    if streaming and label_column is not None and label_names is None:
        # A stream must know its classes before it reads a row; an index is a local text file, read once for them.
        label_names = _scan_label_names(
            datasets.load_dataset(name, data_files=data_files, keep_in_memory=True, **builder_kwargs), label_column
        )
    resolved = {}
    for split, split_dataset in dataset.items():
        # absolute, as documented (a relative --video_root gave relative paths, which depend on the working folder)
        root = Path(video_root).resolve() if video_root is not None else files[split].resolve().parent
        if path_column not in split_dataset.column_names:
            raise DatasetSourceError(
                f"Index file {files[split]} has no {path_column!r} column (columns: {split_dataset.column_names})."
            )
        resolve = partial(_resolve_paths, root=str(root), path_column=path_column)
        if streaming:  # declare the output columns, which a lazy map cannot know
            features = datasets.Features({**split_dataset.features, VIDEO_COLUMN: datasets.Value("string")})
            del features[path_column]
            map_kwargs = {"features": features}
        else:
            map_kwargs = {"keep_in_memory": True}
        resolved[split] = split_dataset.map(resolve, batched=True, remove_columns=[path_column], **map_kwargs)
    container = datasets.IterableDatasetDict if streaming else datasets.DatasetDict
    return prepare_video_dataset(container(resolved), label_column=label_column, label_names=label_names)


def _resolve_paths(batch: dict[str, list], root: str, path_column: str) -> dict[str, list]:
    return {VIDEO_COLUMN: [os.path.join(root, path) for path in batch[path_column]]}


def prepare_video_dataset(
    dataset: AnyDataset,
    video_column: str = VIDEO_COLUMN,
    label_column: str | None = LABEL_COLUMN,
    label_names: Sequence[str] | None = None,
) -> AnyDataset:
    """
    Give any `datasets` dataset the columns MAE-ST reads: `video` and, if labeled, `label` as a `ClassLabel`.

    Args:
        dataset: a `Dataset`, `DatasetDict`, `IterableDataset` or `IterableDatasetDict` (e.g. from `load_dataset`,
            `load_from_disk`, or `load_dataset(..., streaming=True)`). The video column holds file paths, encoded
            bytes, or `datasets.Video` cells (read undecoded, as `{"path", "bytes"}`).
        video_column: name of the video column.
        label_column: name of the label column, or `None` for unlabeled data; a missing label column also means
            unlabeled.
        label_names: class names in id order. Without them, names come from a `ClassLabel` column, or from the sorted
            distinct string labels, or are the ids as strings for integer labels (not possible when streaming).

    Returns:
        The same kind of dataset with the columns renamed and typed.

    Raises:
        ValueError: no video column, or streaming labels without known names.
    """
    if isinstance(dataset, (datasets.DatasetDict, datasets.IterableDatasetDict)):
        label_names = label_names or _scan_label_names(dataset, label_column)
        return type(dataset)(
            {
                split: prepare_video_dataset(split_dataset, video_column, label_column, label_names)
                for split, split_dataset in dataset.items()
            }
        )
    # A streaming dataset may not know its columns before reading; then the given names are trusted.
    columns = dataset.column_names or [video_column, label_column]
    if video_column not in columns:
        raise DatasetSourceError(f"The dataset has no video column {video_column!r} (columns: {columns}).")
    if video_column != VIDEO_COLUMN:
        dataset = dataset.rename_column(video_column, VIDEO_COLUMN)
    features = dataset.features or {}
    if isinstance(features.get(VIDEO_COLUMN), datasets.Video):
        # Decoding through `datasets.Video` needs torchcodec; MAE-ST decodes the file or bytes itself.
        dataset = dataset.cast_column(VIDEO_COLUMN, datasets.Video(decode=False))
    if label_column is None and LABEL_COLUMN in (dataset.column_names or []):
        # unlabeled: nothing downstream may read the source's labels (an index's class names reached the collate
        # function as strings and failed it)
        return dataset.remove_columns([LABEL_COLUMN])
    if label_column is None or label_column not in columns:
        return dataset
    if label_column != LABEL_COLUMN:
        dataset = dataset.rename_column(label_column, LABEL_COLUMN)
    label_feature = (dataset.features or {}).get(LABEL_COLUMN)
    if isinstance(label_feature, datasets.ClassLabel) and label_names in (None, label_feature.names):
        return dataset
    label_names = label_names or _scan_label_names(dataset, LABEL_COLUMN)
    class_label = datasets.ClassLabel(names=list(label_names))
    if isinstance(dataset, datasets.IterableDataset):
        # `cast_column` on a lazily mapped stream keeps the strings; encode them with an explicit map.
        features = datasets.Features({**(dataset.features or {}), LABEL_COLUMN: class_label})
        return dataset.map(partial(_encode_labels, class_label=class_label), batched=True, features=features)
    return dataset.cast_column(LABEL_COLUMN, class_label)


def _encode_labels(batch: dict[str, list], class_label: datasets.ClassLabel) -> dict[str, list]:
    """Class names or ids -> ids, checked against `class_label`."""
    ids = []
    for value in batch[LABEL_COLUMN]:
        ids.append(class_label.str2int(value) if isinstance(value, str) else class_label.encode_example(value))
    return {LABEL_COLUMN: ids}


def _scan_label_names(dataset: AnyDataset, label_column: str | None) -> list[str] | None:
    """Class names of a dataset (all splits): from its `ClassLabel`, else from the values (not when streaming)."""
    splits = list(dataset.values()) if isinstance(dataset, Mapping) else [dataset]
    splits = [split for split in splits if label_column in (split.column_names or [])]
    if not splits:
        return None
    feature = (splits[0].features or {}).get(label_column)
    if isinstance(feature, datasets.ClassLabel):
        return list(feature.names)
    if any(isinstance(split, datasets.IterableDataset) for split in splits):
        raise DatasetSourceError(
            f"Label column {label_column!r} of a streaming dataset is not a ClassLabel: pass `label_names` (class "
            "names in label-id order)."
        )
    values = {value for split in splits for value in split.unique(label_column)}
    if all(isinstance(value, str) for value in values):
        return sorted(values)
    if all(isinstance(value, int) and value >= 0 for value in values):
        return [str(index) for index in range(max(values) + 1)]
    raise DatasetSourceError(
        f"Label column {label_column!r} must hold class names or non-negative ids, got {sorted(values, key=str)[:5]}."
    )


def load_video_dataset(
    name_or_path: str | Path,
    video_column: str = VIDEO_COLUMN,
    label_column: str | None = LABEL_COLUMN,
    label_names: Sequence[str] | None = None,
    streaming: bool = False,
    **load_kwargs: Any,
) -> datasets.DatasetDict | datasets.IterableDatasetDict:
    """
    Load a video dataset from any of the supported sources:

    - a folder saved with `save_to_disk` -> `datasets.load_from_disk`;
    - `.tar` shards (a file, a glob, or a folder of them, WebDataset style) -> `shards.load_video_shards` (their
      labels are the class names of their `.json` members, whatever `label_column` names, unless it is `None`);
    - a folder with official index files (`train.csv`, `val.csv` ... or `.jsonl`), or one such file ->
      [`load_video_index`];
    - any other folder -> [`load_video_folder`];
    - anything else -> `datasets.load_dataset(name_or_path, streaming=streaming, **load_kwargs)` (a Hub dataset).

    Every result goes through [`prepare_video_dataset`], so it has the `video` and `label` columns.
    """
    from .shards import find_shards, load_video_shards  # (shards.py builds on this module)

    path = Path(name_or_path)
    if path.is_dir() and ((path / "dataset_dict.json").exists() or (path / "dataset_info.json").exists()):
        dataset = datasets.load_from_disk(str(path))
        if streaming:
            dataset = _to_iterable(dataset)
    elif find_shards(name_or_path) is not None:
        return load_video_shards(name_or_path, streaming=streaming, labeled=label_column is not None)
    elif path.is_file() or (path.is_dir() and _has_index_files(path)):
        return load_video_index(path, label_names=label_names, streaming=streaming, label_column=label_column)
    elif path.is_dir():
        dataset = load_video_folder(path)
        if streaming:
            dataset = _to_iterable(dataset)
    else:
        try:
            dataset = datasets.load_dataset(str(name_or_path), streaming=streaming, **load_kwargs)
        except (ConnectionError, FileNotFoundError) as error:  # offline, unreachable, or no such dataset
            if isinstance(error, FileNotFoundError) and error.filename is not None:  # a file of the dataset's own
                raise
            cause = " ".join(str(error).split())
            raise DatasetSourceError(
                f"{name_or_path}: no such local file or folder, and no Hub dataset of that name could be loaded "
                f"({cause})."
            ) from error
    if isinstance(dataset, (datasets.Dataset, datasets.IterableDataset)):
        dataset = (datasets.IterableDatasetDict if streaming else datasets.DatasetDict)({"train": dataset})
    return prepare_video_dataset(dataset, video_column, label_column, label_names)


def _has_index_files(path: Path) -> bool:
    return any(file.stem in SPLIT_NAMES and file.suffix in INDEX_SUFFIXES for file in path.iterdir())


def _to_iterable(dataset: datasets.Dataset | datasets.DatasetDict) -> datasets.IterableDatasetDict:
    if isinstance(dataset, datasets.Dataset):
        return datasets.IterableDatasetDict({"train": dataset.to_iterable_dataset()})
    return datasets.IterableDatasetDict({split: part.to_iterable_dataset() for split, part in dataset.items()})


def check_split_names(
    splits: Mapping[str, Any], source: str, train_split: str, validation_split: str | None
) -> None:
    """
    Refuse split names `source` does not have: the training split's, and a validation split's other than the default
    "validation" (which may be missing: then there is no validation split). A mistyped name used to be read as "no
    validation split".

    Raises:
        DatasetSourceError: naming the flag, the split and the splits there are.
    """
    for flag, name in (("--train_split_name", train_split), ("--validation_split_name", validation_split)):
        if name and name not in splits and (flag == "--train_split_name" or name != "validation"):
            raise DatasetSourceError(f"{flag}: {source} has no split {name!r} (splits: {list(splits)}).")


def get_label_names(dataset: AnyDataset) -> list[str] | None:
    """Class names (in label-id order) of a dataset built here, or `None` if it is unlabeled."""
    split = next(iter(dataset.values())) if isinstance(dataset, Mapping) else dataset
    feature = (split.features or {}).get(LABEL_COLUMN)
    return list(feature.names) if isinstance(feature, datasets.ClassLabel) else None


def label_mappings(label_names: Sequence[str]) -> tuple[dict[str, int], dict[int, str]]:
    """`(label2id, id2label)` for a model config, from class names in id order."""
    return {name: index for index, name in enumerate(label_names)}, dict(enumerate(label_names))


# ---------------------------------------------------------------------------------------------------------------
# Decoding on the fly, batching, bad-video accounting
# ---------------------------------------------------------------------------------------------------------------


# glibc's `mallopt` parameters (malloc.h) and what a DataLoader worker sets them to
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
_WORKER_MALLOC_BYTES = 1 << 30
_process_with_worker_malloc: int | None = None  # the process id once set (a forked worker starts with its parent's)


def keep_freed_memory_in_workers() -> None:
    """
    In a DataLoader worker process, have glibc keep the memory of freed frames and clips for the next video rather
    than hand it back to the system and fault it in again, page by page: a video's decoding and augmentation
    allocate and free 50-150 MB (the demo clip took 9,000-12,000 page faults a video, about 15% of the worker's
    time). Allocations stay in the heap (`M_MMAP_THRESHOLD`) and the heap is not trimmed below its peak
    (`M_TRIM_THRESHOLD`, `M_TOP_PAD`), so a worker keeps about one video's peak memory (100-300 MB at 256-340 pixels
    short side) the whole pass. Once per process; not in the training process, whose memory glibc's defaults suit,
    and not where the C library is not glibc.
    """
    global _process_with_worker_malloc
    if _process_with_worker_malloc == os.getpid() or torch.utils.data.get_worker_info() is None:
        return
    _process_with_worker_malloc = os.getpid()
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS, Windows)
        return
    mallopt(_M_MMAP_THRESHOLD, _WORKER_MALLOC_BYTES)
    mallopt(_M_TRIM_THRESHOLD, _WORKER_MALLOC_BYTES)
    mallopt(_M_TOP_PAD, 64 << 20)


class VideoClipTransform:
    """
    Batch transform for `Dataset.with_transform` / `set_transform`, or for `IterableDataset.map(batched=True)`.

    Turns a batch `{"video": [...], "label": [...]}` into
    `{"pixel_values": [...], "labels": [...], "video_name": [...], "decode_error": [...]}`, where each
    `pixel_values` entry is a float tensor (uint8 with the processor's `return_uint8`) of shape
    `(num_clips, num_frames, 3, crop_size, crop_size)` from `processor.process_video`, or `None` for a video that
    cannot be decoded or whose label is -1 (`ClassLabel`'s "no label"); that video is logged (file name and cause)
    and its `decode_error` says why.
    [`collate_video_clips`] drops and counts such entries. A processor that leaves random erasing to
    `normalize_pixel_values` (uint8 clips with erasing) adds `random_erasing`: each video's draws, one per clip.

    Args:
        processor: the [`MAESTVideoProcessor`] whose settings (mode, clips, augmentation) apply.
    """

    def __init__(self, processor: MAESTVideoProcessor):
        self.processor = processor

    def __call__(self, batch: Mapping[str, list], rngs: Sequence[random.Random] | None = None) -> dict[str, list]:
        """`rngs`: one source of random choices per video (default: drawn from torch's global generator)."""
        keep_freed_memory_in_workers()
        # (getattr: a processor class of an earlier version, e.g. a folder's remote code, never defers it)
        deferred = getattr(self.processor, "defers_random_erasing", False)
        output: dict[str, list] = {"pixel_values": [], "video_name": [], "decode_error": []}
        if deferred:
            output["random_erasing"] = []
        if VIDEO_COLUMN not in batch:
            raise KeyError(
                f"The batch has no {VIDEO_COLUMN!r} column (it has {sorted(batch)}). With transformers.Trainer, set "
                f"TrainingArguments(remove_unused_columns=False): the model's forward takes no {VIDEO_COLUMN!r}, so "
                "the Trainer removes the column before this transform decodes it."
            )
        labels = batch.get(LABEL_COLUMN)
        for position, video in enumerate(batch[VIDEO_COLUMN]):
            rng = rngs[position] if rngs else None
            clips = erasing = error = None
            try:
                if labels is not None and labels[position] in (None, -1):  # -1: `ClassLabel`'s "no label"
                    error = "the sample has no label"
                    logger.warning("Skipping video %s: %s", video_name(video), error)
                elif deferred:
                    clips, erasing = self.processor.process_video(video, rng=rng, return_erasing=True)
                else:
                    clips = self.processor.process_video(video, rng=rng)
            except VideoDecodingError as err:
                logger.warning("Skipping video %s: %s", err.video, err.reason)
                error = err.reason
            output["pixel_values"].append(clips)
            output["video_name"].append(video_name(video))
            output["decode_error"].append(error)
            if deferred:
                output["random_erasing"].append(erasing)
        if labels is not None:
            output["labels"] = list(labels)
        return output


def with_video_transform(dataset: AnyDataset, transform: VideoClipTransform) -> AnyDataset:
    """
    `dataset` (one split) decoded on the fly by `transform` as a DataLoader reads it: `with_transform` for a
    `Dataset`, a lazy batched `map` of one video at a time for a streaming `IterableDataset` (which has no
    `with_transform`).
    """
    if isinstance(dataset, datasets.IterableDataset):
        return dataset.map(transform, batched=True, batch_size=1, remove_columns=dataset.column_names)
    return dataset.with_transform(transform)


def example_seed(*keys: int) -> int:
    """A 63-bit seed from a tuple of non-negative integers (numpy's `SeedSequence` mixes them well)."""
    return int(np.random.SeedSequence(list(keys)).generate_state(2, np.uint64)[0] >> np.uint64(1))


class IndexSeededVideoDataset(torch.utils.data.Dataset):
    """
    Map-style view of a `datasets.Dataset` whose item `index` is [`VideoClipTransform`]'s output for that video, with
    every random choice (clip windows, crops, flips, RandAugment, erasing) drawn from a generator seeded by
    `(seed, epoch, index)`, not from torch's global generator or a worker's. The clips of a video therefore depend
    neither on which worker decodes it nor on what ran before, and a run resumed mid-epoch sees exactly the clips the
    uninterrupted run saw, with or without DataLoader workers. Call `set_epoch` before each pass (workers are started
    per pass, so they pick it up).
    """

    def __init__(self, dataset: datasets.Dataset, processor: MAESTVideoProcessor, seed: int):
        self.dataset = dataset
        self.transform = VideoClipTransform(processor)
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict[str, Any]:
        row = self.dataset[int(index)]
        rng = random.Random(example_seed(self.seed, self.epoch, int(index)))
        output = self.transform({key: [value] for key, value in row.items()}, rngs=[rng])
        return {key: values[0] for key, values in output.items()}


def collate_video_clips(examples: Sequence[Mapping[str, Any]], flatten_clips: bool = True) -> dict[str, Any]:
    """
    Batch the outputs of [`VideoClipTransform`], leaving out the videos that failed to decode.

    Args:
        examples: dicts with `pixel_values` (`(num_clips, num_frames, 3, H, W)` or `None`), `video_name` and, if
            labeled, `labels`.
        flatten_clips: `True` (training, single-view evaluation): `pixel_values` is `(batch * num_clips, num_frames,
            3, H, W)` with each label repeated `num_clips` times, so repeated-augmentation clips are ordinary
            samples. `False` (multi-view evaluation): `(batch, num_clips, num_frames, 3, H, W)`, one label per video.

    Returns:
        `{"pixel_values", ["labels",] "num_videos", "num_skipped", "skipped_videos", "video_names", "decoded"}`:
        `num_videos` counts the videos asked for, `num_skipped` those left out and `skipped_videos` names them;
        `video_names` names every video asked for and `decoded` says, in the same order, which of them are in
        `pixel_values` (evaluation puts each prediction back in its video's place). If every video failed,
        `pixel_values` (and `labels`) are `None`. With examples that carry `random_erasing`, the batch's
        `random_erasing` holds the draws of `pixel_values`' clips in their order (one list per video without
        `flatten_clips`), for `processor.normalize_pixel_values`; `None` when every video failed.
    """
    kept = [example for example in examples if example["pixel_values"] is not None]
    skipped = [example["video_name"] for example in examples if example["pixel_values"] is None]
    labeled = any("labels" in example for example in examples)
    # pixel_values first: Accelerate sizes a batch by its first entry
    batch: dict[str, Any] = {"pixel_values": None}
    if labeled:
        batch["labels"] = None
    deferred_erasing = any("random_erasing" in example for example in examples)  # (a skipped video may lack it)
    if deferred_erasing:
        batch["random_erasing"] = None
    batch.update(num_videos=len(examples), num_skipped=len(skipped), skipped_videos=skipped)
    batch["video_names"] = [example["video_name"] for example in examples]
    batch["decoded"] = [example["pixel_values"] is not None for example in examples]
    if not kept:
        return batch
    # default_collate stacks straight into shared memory in a DataLoader worker (torch.stack then pickling copies twice)
    pixel_values = default_collate([example["pixel_values"] for example in kept])  # (batch, num_clips, T, C, H, W)
    num_clips = pixel_values.shape[1]
    if flatten_clips:
        pixel_values = pixel_values.flatten(0, 1)  # (batch * num_clips, T, C, H, W)
    batch["pixel_values"] = pixel_values
    if labeled:
        labels = torch.tensor([example["labels"] for example in kept], dtype=torch.long)
        batch["labels"] = labels.repeat_interleave(num_clips) if flatten_clips else labels
    if deferred_erasing:
        draws = [list(example["random_erasing"]) for example in kept]
        batch["random_erasing"] = [draw for video in draws for draw in video] if flatten_clips else draws
    return batch


class TooManyBadVideosError(RuntimeError):
    """More videos failed to decode than the tracker's `max_bad_video_fraction` allows."""


class BadVideoTracker:
    """
    Counts the videos skipped during a run (from the `num_videos`, `num_skipped`, `skipped_videos` entries of
    [`collate_video_clips`] batches) and raises once too many failed.

    It raises [`TooManyBadVideosError`] when `num_skipped > max_bad_video_fraction * max(num_videos, min_videos)`:
    the fraction of bad videos seen so far, with `min_videos` keeping the first few batches from deciding alone (with
    the defaults, up to 5 bad videos pass before 100 videos were seen). Given `num_videos` (the split's videos, where
    it is known), `min_videos` is at most this process's share of them, `num_videos / num_processes`: a smaller
    dataset is judged on all of it (16 videos with 4 bad, or all bad, used to pass). `max_bad_video_fraction=0` fails
    on the first bad video. Counts are per process (`process_index`, named in the log lines of a run of several);
    sum them over processes for a run-wide figure.

    Attributes:
        num_videos: videos asked for so far.
        num_skipped: videos skipped so far (a video failing in two epochs counts twice).
        skipped_videos: distinct names of the skipped videos, in order of first failure.
    """

    def __init__(
        self,
        max_bad_video_fraction: float = 0.05,
        min_videos: int = 100,
        num_videos: int | None = None,
        num_processes: int = 1,
        process_index: int = 0,
    ):
        if not 0.0 <= max_bad_video_fraction <= 1.0:
            raise ValueError(f"max_bad_video_fraction must be in [0, 1], got {max_bad_video_fraction}.")
        self.max_bad_video_fraction = max_bad_video_fraction
        # named in the log lines of a run of several processes, whose running counts are each their own
        self.where = f" on process {process_index}" if num_processes > 1 else ""
        self.min_videos = min(min_videos, -(-num_videos // num_processes)) if num_videos else min_videos
        self.num_videos = 0
        self.num_skipped = 0
        self._skipped: dict[str, None] = {}  # insertion-ordered set

    @property
    def skipped_videos(self) -> list[str]:
        return list(self._skipped)

    @property
    def exceeded(self) -> bool:
        """Whether the skipped videos exceed the allowed fraction (see the class)."""
        return self.num_skipped > self.max_bad_video_fraction * max(self.num_videos, self.min_videos)

    def error(self) -> TooManyBadVideosError:
        """The error to stop with once [`exceeded`]: the counts and the first skipped videos."""
        return TooManyBadVideosError(
            f"{self.num_skipped} of {self.num_videos} videos could not be decoded, more than "
            f"--max_bad_video_fraction {self.max_bad_video_fraction} allows; first ones: "
            f"{', '.join(list(self._skipped)[:10])}."
        )

    def update(self, batch: Mapping[str, Any], raise_error: bool = True) -> int:
        """
        Count one batch; returns how many of its videos were skipped.

        Args:
            raise_error: raise once [`exceeded`]; with several processes, pass `False` and decide together (the
                training loops' `loop.agree_on_batch`), so that all processes stop at once.

        Raises:
            TooManyBadVideosError: the skipped videos now exceed the allowed fraction.
        """
        self.num_videos += batch["num_videos"]
        self.num_skipped += batch["num_skipped"]
        self._skipped.update(dict.fromkeys(batch["skipped_videos"]))
        if batch["num_skipped"]:
            logger.warning(
                "Skipped %d unreadable video(s) in this batch (%d of %d so far%s): %s",
                batch["num_skipped"],
                self.num_skipped,
                self.num_videos,
                self.where,
                ", ".join(batch["skipped_videos"]),
            )
        if raise_error and self.exceeded:
            raise self.error()
        return batch["num_skipped"]


def build_video_dataloader(
    dataset: datasets.Dataset | datasets.IterableDataset,
    processor: MAESTVideoProcessor,
    batch_size: int,
    shuffle: bool | None = None,
    num_workers: int = 10,
    seed: int | None = None,
    drop_last: bool | None = None,
    flatten_clips: bool | None = None,
    pin_memory: bool = True,
    timeout: float = 0.0,
    shuffle_buffer_size: int = 1000,
) -> DataLoader:
    """
    A `DataLoader` that decodes and augments videos in worker processes.

    Args:
        dataset: one split with a `video` column (see the builders above); a streaming `IterableDataset` too.
        processor: decides the clips and augmentation (`mode="train"` for training).
        batch_size: videos per batch (a training batch holds `batch_size * repeat_aug` clips).
        shuffle: shuffle the videos; default: in training. A streaming dataset is shuffled with a buffer of
            `shuffle_buffer_size` examples (0: in order).
        num_workers: worker processes (official: 10).
        seed: seed of the shuffling and, in training, of the augmentation: each video's random choices come from
            `(seed, epoch, index)` through [`IndexSeededVideoDataset`] (call `dataloader.dataset.set_epoch` before
            each pass), so they do not depend on the workers. Without a seed (or for a streaming dataset) they come
            from torch's generator: the workers' (which the DataLoader seeds) or, with `num_workers=0`, the global one.
        drop_last: drop a last incomplete batch; default: in training (as the official pretraining).
        flatten_clips: see [`collate_video_clips`]; default: flatten unless evaluating several views per video.
        pin_memory: page-lock batches for faster host-to-GPU copies (official: on).
        timeout: seconds to wait for a worker's batch before raising (0 = forever); a guard against a decoder that
            hangs inside C code.

    Returns:
        `DataLoader` of [`collate_video_clips`] batches; feed each to a [`BadVideoTracker`]. With a processor that
        has `return_uint8`, finish each batch's `pixel_values` on the accelerator with
        `processor.normalize_pixel_values`.
    """
    training = processor.mode == "train"
    shuffle = training if shuffle is None else shuffle
    drop_last = training if drop_last is None else drop_last
    flatten_clips = (training or processor.num_clips == 1) if flatten_clips is None else flatten_clips
    transform = VideoClipTransform(processor)
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    if isinstance(dataset, datasets.IterableDataset):
        if shuffle and shuffle_buffer_size > 0:
            dataset = dataset.shuffle(seed=seed, buffer_size=shuffle_buffer_size)
        dataset = with_video_transform(dataset, transform)
        shuffle = False  # the iterable dataset shuffles itself
    elif training and seed is not None:
        dataset = IndexSeededVideoDataset(dataset, processor, seed)
    else:
        dataset = with_video_transform(dataset, transform)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=num_workers,
        collate_fn=partial(collate_video_clips, flatten_clips=flatten_clips),
        drop_last=drop_last,
        generator=generator,
        pin_memory=pin_memory and torch.cuda.is_available(),
        timeout=timeout,
    )


def share_cpu_cores(
    num_workers: int, model_on_cpu: bool, processes_on_machine: int | None = None
) -> tuple[int, int]:
    """
    Fit a training process's torch threads and its decoding workers on the cores it may run on
    (`os.sched_getaffinity`, which follows `taskset` and container CPU sets), shared with the other processes of the
    run on this machine, so that they never ask for more cores than there are: each worker decodes with one thread
    (torch gives DataLoader workers one, and the decoders here use one). With the model on the CPU, the workers get
    at most all cores but one and torch gets the rest; with the model on an accelerator, the workers get at most
    all cores and torch's threads are left alone. A thread count the user set with `OMP_NUM_THREADS` is kept.

    Args:
        num_workers: decoding workers asked for (`--dataloader_num_workers`).
        model_on_cpu: whether the model runs on the CPU.
        processes_on_machine: training processes sharing this machine's cores; by default the launcher's
            `LOCAL_WORLD_SIZE` (1 without one).

    Returns:
        `(num_workers, torch_threads)`: the workers to start (at most `num_workers`, with a log line when fewer) and
        torch's thread count.
    """
    if processes_on_machine is None:
        processes_on_machine = int(os.environ.get("LOCAL_WORLD_SIZE", 1))
    cores = max(1, len(os.sched_getaffinity(0)) // processes_on_machine)
    if not model_on_cpu:
        workers, threads = min(num_workers, cores), torch.get_num_threads()
    else:
        workers = min(num_workers, cores - 1)
        threads = int(os.environ.get("OMP_NUM_THREADS") or 0) or cores - workers
        torch.set_num_threads(threads)
    if workers < num_workers:
        logger.info(
            f"{workers} decoding worker(s), not {num_workers}: this process has {cores} core(s) of its own and uses "
            f"{threads} torch thread(s)"
        )
    return workers, threads


__all__ = [
    "LABEL_COLUMN",
    "VIDEO_COLUMN",
    "VIDEO_EXTENSIONS",
    "DatasetSourceError",
    "BadVideoTracker",
    "IndexSeededVideoDataset",
    "TooManyBadVideosError",
    "VideoClipTransform",
    "build_video_dataloader",
    "collate_video_clips",
    "example_seed",
    "get_label_names",
    "keep_freed_memory_in_workers",
    "label_mappings",
    "load_video_dataset",
    "load_video_folder",
    "load_video_index",
    "prepare_video_dataset",
    "share_cpu_cores",
]
