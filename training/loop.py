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

import time
from collections.abc import Sequence

import torch
import torch.distributed as dist


_CPU_GROUPS: dict[str, dist.ProcessGroup | None] = {}


def _cpu_group() -> dist.ProcessGroup | None:
    """The default group when its backend takes CPU tensors (gloo), else a gloo group over all processes, made once
    (every process reaches the first call at the same point of the loop, as `new_group` requires)."""
    if "cpu" not in _CPU_GROUPS:
        backend = str(dist.get_backend()).lower()
        _CPU_GROUPS["cpu"] = None if "gloo" in backend else dist.new_group(backend="gloo")
    return _CPU_GROUPS["cpu"]


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


def agree_on_batch(num_clips: int) -> float | None:
    """
    Decide with the other processes what to do with a micro-batch of which this process holds `num_clips` clips.

    Returns:
        `None` when no process holds a clip (every process skips the micro-batch), else this process's loss weight,
        `num_clips x num_processes / total clips`: DDP averages the processes' gradients, so weighted losses give the
        mean over all clips (weight 1.0 exactly when every process holds as many clips; 0.0 for a process with none,
        which runs a placeholder clip).
    """
    clips_per_process = counts_of_every_process([num_clips])[:, 0]
    total = int(clips_per_process.sum())
    if total == 0:
        return None
    return num_clips * len(clips_per_process) / total


def placeholder_clip(num_frames: int, image_size: int, num_channels: int = 3, device=None) -> torch.Tensor:
    """A zero clip `(1, num_frames, num_channels, image_size, image_size)` for a process with no decoded clip, whose
    loss is weighted 0: it only keeps the process's collectives in step with the others."""
    return torch.zeros(1, num_frames, num_channels, image_size, image_size, device=device)


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
        clips, skipped, data_microseconds = table[:, 0], table[:, 1].tolist(), table[:, 2]
        if not skipped_videos_per_process:
            skipped_videos_per_process.extend([0] * len(skipped))
        for process, count in enumerate(skipped):
            skipped_videos_per_process[process] += count
        total_clips = int(clips.sum())
        logs = {
            "loss": loss_sum / total_clips if total_clips else float("nan"),
            "clips_per_second": total_clips / seconds,
        }
        if clip_flops is not None:
            logs["tflops"] = clip_flops * total_clips / seconds / 1e12
        logs["data_wait_fraction"] = float(data_microseconds.double().mean()) / 1e6 / seconds
        logs["skipped_videos"] = sum(skipped_videos_per_process)
        logs["skipped_videos_per_process"] = {str(i): n for i, n in enumerate(skipped_videos_per_process)}
        self.__init__(self.device)
        return logs
