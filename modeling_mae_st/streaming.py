"""
Training batches from a streamed video dataset (`datasets.IterableDataset`: `.tar` shards, a Hub dataset with
`streaming=True`, an index file), split between processes, shuffled with a buffer, and resumable exactly.

How the work is divided:

- Each process reads its own part of the stream (`datasets.distributed.split_dataset_by_node`: whole shards when
  the shards divide evenly between the processes, every n-th example otherwise), shuffled by a buffer reseeded per
  pass (`set_epoch`). The part is read in the process itself, in order, as encoded bytes (cheap: no decoding), by
  [`VideoStream`], which hands batches of encoded videos to the DataLoader as its "sampler".
- The DataLoader's workers decode and augment each batch ([`StreamedBatchDecoder`]), with each video's random
  choices seeded by `(seed, pass, its name)`: the clips of a video depend neither on the worker nor on what ran before.
- The stream never ends: when a process's part is over it starts its next pass by itself. The processes' parts hold
  different numbers of videos (shards of different sizes, an uneven split), so passes do not end together; with
  passes that each process chains on its own, no process ever runs out of batches while the others wait in a
  collective, and the run is bounded by its number of steps (`--max_train_steps`), not by a pass. (Accelerate's
  `even_batches` / `split_batches` cannot help here: they act on a map-style sampler, or on one iterator read by
  the main process and dispatched.)

Exact resume: `datasets` saves the position of a stream in its shards (`IterableDataset.state_dict`) but not the
content of its shuffle buffer, so a stream restored that way continues with other examples than the uninterrupted
run. [`VideoStream`] keeps instead each process's (pass, videos read in the pass) of the last batch the training
loop took, and a resumed stream reads its pass again from the start up to that point without decoding it (the buffer
refills exactly as before), then continues: the batches after a resume are those of the uninterrupted run. The
cost of a resume is reading the encoded bytes of the pass up to the checkpoint once more.
"""

from __future__ import annotations

import hashlib
import logging
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import datasets
import torch
from datasets.distributed import split_dataset_by_node
from torch.utils.data import DataLoader

from .command_line import UsageError
from .data import (
    LABEL_COLUMN,
    VIDEO_COLUMN,
    TooManyBadVideosError,
    VideoClipTransform,
    collate_video_clips,
    example_seed,
)
from .shards import sample_name
from .video_processing_mae_st import MAESTVideoProcessor


logger = logging.getLogger(__name__)


@dataclass
class StreamedVideo:
    """One encoded video of a stream, as the DataLoader's workers receive it."""

    video: Any  # the `video` cell: a path, bytes, a {"path", "bytes"} cell, or None (a sample without a video)
    name: str  # for messages and for the seed of its random choices
    video_pass: int  # the pass of the stream it was read in
    position: int  # videos of that pass read up to and including it
    label: int | None = None  # its label id in a labeled stream (-1: none), `None` in an unlabeled one


def name_seed(name: str) -> int:
    """A 60-bit integer from a name, the same in every process (unlike `hash`)."""
    return int(hashlib.sha256(name.encode()).hexdigest()[:15], 16)


class VideoStream:
    """
    This process's part of a streamed dataset as endless batches of encoded videos, from its current position.

    Iterating it (the DataLoader does, in this process) yields lists of `batch_size` [`StreamedVideo`], pass after
    pass. The training loop reports each batch it takes with [`take`], which moves the position that [`state_dict`]
    saves (for `accelerator.register_for_checkpointing`); the DataLoader reads ahead of it.

    Args:
        dataset: one split, streamed, with a `video` column and, for fine-tuning, a `label` column (see
            `data.load_video_dataset(..., streaming=True)`).
        batch_size: videos per batch.
        seed: seed of the shuffle buffer (reseeded per pass with `set_epoch`).
        shuffle_buffer_size: examples in the shuffle buffer; 0 reads the part in order.
        process_index, num_processes: this process and how many read the stream (Accelerate's).
        exclude: names (see `shards.sample_name`) of videos never to yield, e.g. held out for pictures.
        gather_counts: every process's small integer counts, `(num_processes, len(counts))`, for [`state_dict`]
            (the training loop's `counts_of_every_process`); default: this process alone.

    Attributes:
        video_pass, videos_in_pass: the position after the last batch taken.
        pass_length: videos in this process's part, once a whole pass was read (`None` before).
    """

    def __init__(
        self,
        dataset: datasets.IterableDataset,
        batch_size: int,
        seed: int,
        shuffle_buffer_size: int = 1000,
        process_index: int = 0,
        num_processes: int = 1,
        exclude: Sequence[str] = (),
        gather_counts: Callable[[Sequence[int]], torch.Tensor] | None = None,
    ):
        self.part = split_dataset_by_node(dataset, rank=process_index, world_size=num_processes)
        if shuffle_buffer_size > 0:
            self.part = self.part.shuffle(seed=seed, buffer_size=shuffle_buffer_size)
        self.labeled = LABEL_COLUMN in (dataset.column_names or [])
        self.batch_size = batch_size
        self.process_index, self.num_processes = process_index, num_processes
        self.exclude = frozenset(exclude)
        self.gather_counts = gather_counts or (lambda counts: torch.tensor([list(counts)]))
        self.video_pass, self.videos_in_pass = 0, 0
        self.pass_length: int | None = None
        self._undecoded_run = 0

    def __iter__(self) -> Iterator[list[StreamedVideo]]:
        video_pass, skip = self.video_pass, self.videos_in_pass
        batch: list[StreamedVideo] = []
        while True:
            self.part.set_epoch(video_pass)
            read = kept = 0
            for example in self.part:
                read += 1
                if read <= skip:  # read before the position: already trained on
                    continue
                name = sample_name(example)
                if name in self.exclude:
                    continue
                kept += 1
                label = None
                if self.labeled:  # -1 for a sample without one (`ClassLabel`'s "no label"): skipped and counted
                    label = -1 if example.get(LABEL_COLUMN) is None else example[LABEL_COLUMN]
                batch.append(StreamedVideo(example[VIDEO_COLUMN], name, video_pass, read, label))
                if len(batch) == self.batch_size:
                    yield batch
                    batch = []
            if read == 0:
                raise UsageError(
                    f"Process {self.process_index} of {self.num_processes} got no video of the stream: it holds fewer "
                    "videos (or shards) than there are processes."
                )
            if kept == 0 and read > skip:
                raise UsageError(f"Every video of process {self.process_index}'s part of the stream is held out.")
            self.pass_length = read
            video_pass, skip = video_pass + 1, 0

    @property
    def epoch(self) -> float:
        """Passes over this process's part completed, with the fraction of the current one once a pass's length is
        known (the `epoch` of the logs)."""
        return self.video_pass + (self.videos_in_pass / self.pass_length if self.pass_length else 0.0)

    def take(self, batch: Mapping[str, Any]) -> None:
        """
        Record that the training loop took `batch` (from [`StreamedBatchDecoder`]): the position moves past it.

        Raises:
            TooManyBadVideosError: a whole pass of this process's part went by without a decodable video.
        """
        self.video_pass, self.videos_in_pass = batch["stream_position"]
        self._undecoded_run = 0 if any(batch["decoded"]) else self._undecoded_run + len(batch["decoded"])
        if self.pass_length is not None and self._undecoded_run >= self.pass_length:
            raise TooManyBadVideosError(
                f"None of the {self.pass_length} videos of process {self.process_index}'s part of the stream could be "
                "decoded in a whole pass; nothing to train on."
            )

    def state_dict(self) -> dict[str, list[list[int]]]:
        """`{"positions": [[pass, videos read], ...]}`, one row per process, through `gather_counts` (a collective:
        every process calls it, as `accelerator.save_state` does; the main process writes it)."""
        return {"positions": self.gather_counts([self.video_pass, self.videos_in_pass]).tolist()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        positions = state["positions"]
        if len(positions) != self.num_processes:
            raise UsageError(
                f"--resume_from_checkpoint: the checkpoint's stream was read by {len(positions)} processes; this run "
                f"has {self.num_processes}. Resume a streamed run with as many processes."
            )
        self.video_pass, self.videos_in_pass = positions[self.process_index]


class StreamedBatchDecoder(torch.utils.data.Dataset):
    """
    The DataLoader's "dataset" for a [`VideoStream`] sampler: item `batch` (a list of [`StreamedVideo`]) is that batch
    decoded, [`collate_video_clips`]'s output (or `collate_fn`'s) plus `stream_position` (the pass and position of its
    last video). Every random choice of a video comes from a generator seeded by `(seed, pass, name)`.
    """

    def __init__(
        self,
        processor: MAESTVideoProcessor,
        seed: int,
        flatten_clips: bool = True,
        collate_fn: Callable[[list[dict[str, Any]]], dict[str, Any]] | None = None,
    ):
        self.transform = VideoClipTransform(processor)
        self.seed = seed
        self.collate_fn = collate_fn or partial(collate_video_clips, flatten_clips=flatten_clips)

    def __getitem__(self, batch: Sequence[StreamedVideo]) -> dict[str, Any]:
        examples = []
        for video in batch:
            labels = {} if video.label is None else {LABEL_COLUMN: [video.label]}
            if video.video is None:  # skipped here, to be named by its shard and key
                logger.warning("Skipping video %s: the sample holds no video", video.name)
                example = {"pixel_values": None, "video_name": video.name, "decode_error": "no video"}
                if video.label is not None:  # (a batch of such samples still has labels)
                    example["labels"] = video.label
                examples.append(example)
                continue
            rng = random.Random(example_seed(self.seed, video.video_pass, name_seed(video.name)))
            output = self.transform({VIDEO_COLUMN: [video.video], **labels}, rngs=[rng])
            examples.append({key: values[0] for key, values in output.items()})
        collated = self.collate_fn(examples)
        collated["stream_position"] = (batch[-1].video_pass, batch[-1].position)
        return collated


def _unchanged(batch: dict[str, Any]) -> dict[str, Any]:
    return batch


def build_stream_dataloader(
    stream: VideoStream,
    processor: MAESTVideoProcessor,
    seed: int,
    num_workers: int = 10,
    pin_memory: bool = True,
    timeout: float = 0.0,
    collate_fn: Callable[[list[dict[str, Any]]], dict[str, Any]] | None = None,
) -> DataLoader:
    """
    The DataLoader of a [`VideoStream`]: the stream (read in this process) gives each batch of encoded videos to a
    worker, which decodes it; batches come back in the stream's order. Its batches are those of
    `data.build_video_dataloader` (or of `collate_fn`, given the [`VideoClipTransform`] outputs of a batch's videos)
    plus `stream_position`; hand each to `stream.take` once taken. Not for `accelerator.prepare` (the stream is split
    between processes already): move the clips to the device yourself.
    """
    return DataLoader(
        StreamedBatchDecoder(processor, seed, collate_fn=collate_fn),
        batch_size=None,  # each "index" the stream yields is a whole batch
        sampler=stream,
        num_workers=num_workers,
        collate_fn=_unchanged,
        pin_memory=pin_memory and torch.cuda.is_available(),
        timeout=timeout,
        # the workers' base seed (unused: each video is seeded by its name) is drawn from this generator, not from
        # torch's global one, which dropout and mixup draw from: a resumed run's RNG stays the uninterrupted run's
        generator=torch.Generator().manual_seed(seed),
    )


__all__ = ["StreamedBatchDecoder", "StreamedVideo", "VideoStream", "build_stream_dataloader", "name_seed"]
