"""
What the two Accelerate training loops (pretraining, fine-tuning) share: keeping every process in step when some
videos cannot be decoded, and the logging window (loss, throughput, data wait, skipped videos) read at logging steps
only.

A batch whose videos all fail to decode leaves its process with nothing to feed the model, while the other processes
run forward, backward and the gradient all-reduce. A process that simply skipped that batch would leave the
collectives out of step (a hang, or a crash on the next mismatched collective). So before each micro-batch the
processes exchange how many clips each of them holds, and all decide together:

- no process holds a clip: every process skips the micro-batch;
- otherwise every process runs it; one with no clip runs a placeholder clip with loss weight 0, and each loss is
  weighted by its share of the clips, so that the averaged gradient is the mean over all the clips that decoded.

The exchange is a CPU collective (over a gloo group), so it never waits for the accelerator's queue: the step keeps
no host synchronization.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import datasets
import torch
import torch.distributed as dist

from modeling_mae_st.command_line import UsageError
from modeling_mae_st.data import BadVideoTracker, TooManyBadVideosError, build_video_dataloader
from modeling_mae_st.streaming import VideoStream, build_stream_dataloader
from modeling_mae_st.video_processing_mae_st import MAESTVideoProcessor


_CPU_GROUPS: dict[dist.ProcessGroup, dist.ProcessGroup | None] = {}  # default group -> its CPU twin


def check_accelerator_choices(
    report_to: str, torch_compile_backend: str | None, mixed_precision: str | None = None
) -> None:
    """
    Refuse a tracker or a `torch.compile` backend that Accelerate does not know, naming the flag: Accelerate's own
    errors for them come as tracebacks from inside `Accelerator(...)`. Refuse fp16 where there is no GPU.

    Raises:
        UsageError: `--report_to` or `--torch_compile_backend` is not one of Accelerate's, or the tracker's package is
            not installed (Accelerate then trained without it, saying so only in a Python warning); or
            `--mixed_precision fp16` without a GPU (Accelerate trained in fp32, and the log, the card and the
            trackers said fp16).
    """
    if mixed_precision == "fp16" and not torch.cuda.is_available():
        raise UsageError(
            "--mixed_precision fp16: fp16 needs a GPU, and there is none here (on the CPU Accelerate would train in "
            "fp32); use --mixed_precision bf16 or no"
        )
    from accelerate.tracking import get_available_trackers
    from accelerate.utils import DynamoBackend, LoggerType

    trackers = ["none", *(tracker.value for tracker in LoggerType)]
    if report_to not in trackers:
        raise UsageError(f"--report_to {report_to}: not a tracker Accelerate knows; one of {', '.join(trackers)}")
    installed = [getattr(tracker, "value", tracker) for tracker in get_available_trackers()]
    if report_to not in ("none", "all", *installed):
        raise UsageError(f"--report_to {report_to}: its package is not installed here (pip install {report_to})")
    backends = [backend.value.lower() for backend in DynamoBackend]
    if torch_compile_backend is not None and torch_compile_backend.lower() not in backends:
        raise UsageError(
            f"--torch_compile_backend {torch_compile_backend}: not a backend Accelerate knows; one of "
            f"{', '.join(backends)}"
        )


def _cpu_group() -> dist.ProcessGroup | None:
    """The default group when its backend takes CPU tensors (gloo), else a gloo group over all processes, made once
    per default group (every process reaches the first call at the same point of the loop, as `new_group` requires)."""
    world = dist.group.WORLD
    if world not in _CPU_GROUPS:
        backend = str(dist.get_backend()).lower()
        _CPU_GROUPS[world] = None if "gloo" in backend else dist.new_group(backend="gloo")
    return _CPU_GROUPS[world]


def counts_of_every_process(counts: Sequence[int]) -> torch.Tensor:
    """
    Every process's small integer counts, through a CPU all-reduce (no accelerator synchronization).

    Args:
        counts: this process's counts (the same number of them on every process).

    Returns:
        `(num_processes, len(counts))` int64 CPU tensor; row `i` holds process `i`'s counts.
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return torch.tensor([list(counts)], dtype=torch.int64)
    table = torch.zeros(dist.get_world_size(), len(counts), dtype=torch.int64)
    table[dist.get_rank()] = torch.tensor(list(counts), dtype=torch.int64)
    dist.all_reduce(table, group=_cpu_group())
    return table


def build_training_dataloader(
    dataset: datasets.Dataset | datasets.IterableDataset,
    processor: MAESTVideoProcessor,
    batch_size: int,
    seed: int,
    num_workers: int,
    shuffle_buffer_size: int,
    accelerator,
    exclude: Sequence[str] = (),
) -> tuple[torch.utils.data.DataLoader, VideoStream | None]:
    """
    The training DataLoader of both Accelerate scripts, and the stream it reads from (`None` if it reads none).

    - A streamed dataset (`datasets.IterableDataset`): each process reads its own part, pass after pass on its own,
      through a shuffle buffer, and decodes it in its workers; each video's clips are seeded by (seed, pass, name)
      ([`modeling_mae_st.streaming.VideoStream`] explains why this keeps the processes in step and resumes
      exactly). Hand the stream each batch taken (`stream.take`) and register it for checkpointing; the loader is not
      for `accelerator.prepare` (move its batches to the device).
    - Otherwise shuffled full batches (as the official recipes), each video's clips seeded by (seed, pass, index), so
      that a resumed run sees the clips the uninterrupted one saw (`data.build_video_dataloader`); prepare it.

    Args:
        exclude: names of streamed videos never to train on (held out for pictures).
    """
    if not isinstance(dataset, datasets.IterableDataset):
        return build_video_dataloader(dataset, processor, batch_size=batch_size, num_workers=num_workers, seed=seed), None
    stream = training_stream(
        dataset, batch_size, seed, shuffle_buffer_size, accelerator.process_index, accelerator.num_processes, exclude
    )
    return build_stream_dataloader(stream, processor, seed, num_workers=num_workers), stream


def training_stream(
    dataset: datasets.IterableDataset,
    batch_size: int,
    seed: int,
    shuffle_buffer_size: int,
    process_index: int,
    num_processes: int,
    exclude: Sequence[str] = (),
) -> VideoStream:
    """This process's part of a streamed training set, as every training script reads it: its position gathered from
    every process for the checkpoints through [`counts_of_every_process`]."""
    return VideoStream(
        dataset,
        batch_size=batch_size,
        seed=seed,
        shuffle_buffer_size=shuffle_buffer_size,
        process_index=process_index,
        num_processes=num_processes,
        exclude=exclude,
        gather_counts=counts_of_every_process,
    )


def fewer_videos_than_a_batch(num_videos: int, batch_size: int, num_processes: int) -> UsageError:
    """The error of a training split too small for one batch a process, in every training command's words."""
    return UsageError(
        f"The training split has {num_videos} videos, fewer than one batch of {batch_size} on each of {num_processes} "
        "processes; lower --per_device_train_batch_size."
    )


def agree_on_batch(num_clips: int, bad_videos: BadVideoTracker | None = None) -> float | None:
    """
    Decide with the other processes what to do with a micro-batch of which this process holds `num_clips` clips,
    and whether to stop on bad videos: when any process's `bad_videos` is past `--max_bad_video_fraction`, every
    process raises (the others used to die in the collective that process never reached, with gloo's traceback).

    Returns:
        `None` when no process holds a clip (every process skips the micro-batch), else this process's loss weight,
        `num_clips x num_processes / total clips`: DDP averages the processes' gradients, so weighted losses give the
        mean over all clips (weight 1.0 exactly when every process holds as many clips; 0.0 for a process with none,
        which runs a placeholder clip).

    Raises:
        TooManyBadVideosError: some process skipped too many videos (its own counts and names there, the
            processes' numbers elsewhere).
    """
    exceeded = bad_videos is not None and bad_videos.exceeded
    table = counts_of_every_process([num_clips, int(exceeded)])
    if exceeded:
        raise bad_videos.error()
    if table[:, 1].any():
        stopped = ", ".join(str(process) for process in table[:, 1].nonzero()[:, 0].tolist())
        raise TooManyBadVideosError(
            f"Process {stopped} could not decode more of its videos than --max_bad_video_fraction allows (its line "
            "names them); all processes stop."
        )
    clips_per_process = table[:, 0]
    total = int(clips_per_process.sum())
    if total == 0:
        return None
    return num_clips * len(clips_per_process) / total


def agree_on_clips(
    pixel_values: torch.Tensor | None,
    clip_shape: tuple[int, int, int],
    device,
    bad_videos: BadVideoTracker | None = None,
) -> tuple[torch.Tensor, float, int] | None:
    """
    [`agree_on_batch`] for a micro-batch's clips `(num_clips, frames, channels, height, width)`, or `None` when this
    process decoded none of its videos.

    Returns:
        `None` when every process skips the micro-batch, else `(clips, loss_weight, num_clips)`: a process with no
        clip gets one [`placeholder_clip`] of `clip_shape` (frames, image size, channels) on `device`, at weight 0.
    """
    num_clips = 0 if pixel_values is None else len(pixel_values)
    loss_weight = agree_on_batch(num_clips, bad_videos)
    if loss_weight is None:
        return None
    if pixel_values is None:
        pixel_values = placeholder_clip(*clip_shape, device=device)
    return pixel_values, loss_weight, num_clips


def placeholder_clip(num_frames: int, image_size: int, num_channels: int = 3, device=None) -> torch.Tensor:
    """A zero clip `(1, num_frames, num_channels, image_size, image_size)` for a process with no decoded clip, whose
    loss is weighted 0: it only keeps the process's collectives in step with the others."""
    return torch.zeros(1, num_frames, num_channels, image_size, image_size, device=device)


@dataclass
class TrainingProgress:
    """
    Where a run is, for `accelerator.register_for_checkpointing` (saved and restored with the training state). The
    position in the data is kept as (pass, batches read in it), not derived from the step: a micro-batch that no
    process could decode is skipped by all of them, so a pass may take fewer optimizer steps than its batches.
    """

    completed_steps: int = 0
    video_pass: int = 0  # passes over the training videos completed (the epoch)
    batches_in_pass: int = 0  # batches of `video_pass` read so far, skipped ones included
    skipped_videos_per_process: list[int] = field(default_factory=list)  # run totals as of the last logging step
    skipped_video_names: list[str] = field(default_factory=list)  # every process's, as of the last checkpoint
    # the flags the position means something under (batch size, accumulation, repeat_aug, seed, videos): a resume
    # checks them (`checkpointing.check_same_data_order`)
    data_order: dict = field(default_factory=dict)

    def record_data_order(self, num_videos: int | None, training_args, data_args) -> None:
        """Keep the flags this run's position in the data means something under (`data_order`), from both
        Accelerate scripts' arguments; `num_videos`: the training split's (`None` for a stream)."""
        self.data_order = {
            "videos": num_videos, "seed": training_args.seed,
            "per_device_train_batch_size": training_args.per_device_train_batch_size,
            "gradient_accumulation_steps": training_args.gradient_accumulation_steps,
            "repeat_aug": data_args.repeat_aug,
        }  # fmt: skip

    def state_dict(self) -> dict:
        return dataclasses.asdict(self)

    def load_state_dict(self, state: dict) -> None:
        for name, value in state.items():
            setattr(self, name, value)

    def finish_pass(self) -> None:
        """Move the position to the start of the next pass."""
        self.video_pass += 1
        self.batches_in_pass = 0


class LogHistory:
    """
    A run's logged records (loss, lr, clips/s ... per logging step), one JSON line each in `output_dir/
    log_history.jsonl`, written by the main process as they come. A resumed run keeps the records up to its step, so
    that the loss curve of its card and results covers the whole run (fine-tuning kept its records in memory only:
    a resumed run's card began at the resume).
    """

    FILE_NAME = "log_history.jsonl"

    def __init__(self, output_dir: Path, start_step: int, is_main_process: bool):
        self.path = Path(output_dir) / self.FILE_NAME
        self.is_main_process = is_main_process
        self.records = []  # (the main process's alone: the others would read the file while it rewrites it)
        if is_main_process:
            lines = self.path.read_text().splitlines() if self.path.exists() else []
            self.records = [record for record in map(json.loads, lines) if record["step"] <= start_step]
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text("".join(json.dumps(record) + "\n" for record in self.records))

    def append(self, record: dict) -> None:
        self.records.append(record)
        if self.is_main_process:
            with open(self.path, "a") as handle:
                handle.write(json.dumps(record) + "\n")


class LoggingWindow:
    """
    What happened since the last logging step, kept so that no training step waits for the accelerator: the loss is
    summed on the device (`loss x clips`, a tensor) and everything else on the host; [`summarize`] reads it all once.

    Attributes:
        data_seconds: host seconds spent waiting for the DataLoader's next batch.
        skipped_videos: videos of this process that could not be decoded.
    """

    def __init__(self, device: torch.device):
        self.device = device
        self.loss_sum = torch.zeros((), dtype=torch.float64, device=device)
        self.clips = 0
        self.data_seconds = 0.0
        self.skipped_videos = 0
        self.start = time.perf_counter()

    def add(self, loss: torch.Tensor, num_clips: int) -> None:
        """Count one micro-batch: `loss` is its mean over `num_clips` clips (a detached 0-d tensor, not read)."""
        self.loss_sum += loss.double() * num_clips
        self.clips += num_clips

    def summarize(self, accelerator, skipped_videos_per_process: list[int], clip_flops: int | None = None) -> dict:
        """
        Sum the window over processes (the one host synchronization), add its skipped videos to
        `skipped_videos_per_process` (updated in place, zeros if empty) and start a new window.

        Returns:
            `{"loss": mean over the window's clips (NaN if none), "clips_per_second": all processes,
            ["tflops": achieved TFLOP/s of forward + backward, with `clip_flops` FLOPs per clip,]
            "data_wait_fraction": share of the window's wall time the processes waited for data (their mean),
            "skipped_videos": run total, "skipped_videos_per_process": {"0": ..., ...} run totals}`.
        """
        seconds = time.perf_counter() - self.start
        loss_sum = accelerator.reduce(self.loss_sum, reduction="sum").item()
        table = counts_of_every_process([self.clips, self.skipped_videos, round(self.data_seconds * 1e6)])
        clips, data_microseconds = table[:, 0], table[:, 2]
        _add_counts(skipped_videos_per_process, table[:, 1].tolist())
        total_clips = int(clips.sum())
        logs = {"loss": loss_sum / total_clips if total_clips else float("nan")}
        logs.update(throughput(total_clips, seconds, float(data_microseconds.double().mean()) / 1e6, clip_flops))
        logs.update(describe_skipped(skipped_videos_per_process))
        self.__init__(self.device)
        return logs

    def count_skipped(self, skipped_videos_per_process: list[int]) -> dict:
        """Add the window's skipped videos of every process to the run totals `skipped_videos_per_process` (in
        place; a collective: call it on every process, e.g. before saving a checkpoint) and describe them."""
        _add_counts(skipped_videos_per_process, counts_of_every_process([self.skipped_videos])[:, 0].tolist())
        self.skipped_videos = 0
        return describe_skipped(skipped_videos_per_process)


def throughput(clips: int, seconds: float, data_seconds: float, clip_flops: int | None = None) -> dict:
    """
    The speed of a logging window of `seconds` in which the processes trained `clips` clips (all of them together)
    and waited `data_seconds` for data (their mean): `{"clips_per_second", ["tflops": achieved TFLOP/s of forward +
    backward, with `clip_flops` counted FLOPs per clip,] "data_wait_fraction"}`, the names all three training
    commands log.
    """
    logs = {"clips_per_second": clips / seconds}
    if clip_flops is not None:
        logs["tflops"] = clip_flops * clips / seconds / 1e12
    logs["data_wait_fraction"] = data_seconds / seconds
    return logs


def _add_counts(totals: list[int], counts: list[int]) -> None:
    if not totals:
        totals.extend([0] * len(counts))
    for process, count in enumerate(counts):
        totals[process] += count


def describe_skipped(skipped_videos_per_process: list[int]) -> dict:
    """`{"skipped_videos": run total, "skipped_videos_per_process": {"0": ..., "1": ...}}` for logs and results."""
    return {
        "skipped_videos": sum(skipped_videos_per_process),
        "skipped_videos_per_process": {str(i): n for i, n in enumerate(skipped_videos_per_process)},
    }
