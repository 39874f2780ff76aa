"""
FLOPs of a training step (pretraining or fine-tuning), counted rather than hand-written, and the peak rates that model-FLOPs utilization (MFU)
divides them by.

`count_training_flops` runs one forward and backward of [`MAESTForPreTraining`] on the meta device (no memory, no
time) under `torch.utils.flop_counter.FlopCounterMode`: every matrix product, the patch embedding's convolution and
attention's two products included, with a multiply-add counted as 2 FLOPs. On the meta device attention runs through
the math path (two batched products forward, four backward), so a kernel that recomputes the scores in the backward
(flash attention) is credited with the model's FLOPs, not the hardware's, as MFU requires. The optimizer step and
element-wise operations are not counted (well under 1% of a ViT's FLOPs).
"""

from __future__ import annotations

import functools
import json
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from .configuration_mae_st import MAESTConfig


TRAINING_TASKS = ("pretraining", "video-classification")


def count_training_flops(
    config: MAESTConfig,
    mask_ratio: float,
    batch_size: int = 1,
    num_frames: int | None = None,
    image_size: int | None = None,
    task: str = "pretraining",
) -> int:
    """
    FLOPs of one training step's forward and backward (no optimizer) of the model `task` trains, built from `config`,
    on `batch_size` clips of `num_frames` x `image_size`^2 (the config's sizes by default). Counted once per distinct
    arguments, then cached, so a training loop may call it at every log.

    Args:
        mask_ratio: the share of the patches hidden from the encoder (0 encodes every patch); 0 for fine-tuning.
        task: "pretraining" ([`MAESTForPreTraining`], its loss on the hidden patches) or "video-classification"
            ([`MAESTForVideoClassification`] on every patch, with its cross-entropy and `config.num_labels` classes).

    Returns:
        FLOPs (a multiply-add counts 2) as an `int`; divide by the step's seconds for FLOP/s.

    Raises:
        ValueError: when `mask_ratio` is outside [0, 1) (or not 0 for fine-tuning), or `task` is unknown.
    """
    if not 0.0 <= mask_ratio < 1.0:
        raise ValueError(f"mask_ratio must be in [0, 1), got {mask_ratio}.")
    if task not in TRAINING_TASKS:
        raise ValueError(f"task must be one of {TRAINING_TASKS}, got {task!r}.")
    if task == "video-classification" and mask_ratio != 0.0:
        raise ValueError(f"A video classifier sees every patch: mask_ratio must be 0, got {mask_ratio}.")
    return _count_training_flops(
        config.to_json_string(use_diff=False),
        float(mask_ratio),
        int(batch_size),
        num_frames or config.num_frames,
        image_size or config.image_size,
        task,
    )


@functools.lru_cache(maxsize=64)
def _count_training_flops(
    config_json: str, mask_ratio: float, batch_size: int, num_frames: int, image_size: int, task: str
) -> int:
    # imported here: the model module imports this package's config, and the flops module must not make the model
    # import order matter
    from .modeling_mae_st import MAESTForPreTraining, MAESTForVideoClassification

    config = MAESTConfig.from_dict(json.loads(config_json))
    with torch.device("meta"):
        model = (MAESTForPreTraining if task == "pretraining" else MAESTForVideoClassification)(config).train()
    model.set_attn_implementation("sdpa")
    pixel_values = torch.empty(batch_size, num_frames, config.num_channels, image_size, image_size, device="meta")
    counter = FlopCounterMode(display=False)
    with counter:
        if task == "pretraining":
            loss = model(pixel_values, mask_ratio=mask_ratio, interpolate_pos_encoding=True).loss
        else:
            labels = torch.zeros(batch_size, dtype=torch.long, device="meta")
            loss = model(pixel_values=pixel_values, labels=labels, interpolate_pos_encoding=True).loss
        loss.backward()
    return counter.get_total_flops()


# Dense (no sparsity) peak rates in TFLOP/s from the vendors' data sheets: bf16 on tensor cores, and fp32 without
# TF32 (what `torch.backends.cuda.matmul.allow_tf32 = False` runs at). Matched against the device name in order, so
# the more specific names come first.
PEAK_TFLOPS: tuple[tuple[str, dict[str, float]], ...] = (
    ("H100 PCIe", {"bf16": 756.0, "fp32": 51.2}),
    ("H100 NVL", {"bf16": 835.0, "fp32": 60.0}),
    ("H100", {"bf16": 989.4, "fp32": 66.9}),
    ("H200", {"bf16": 989.4, "fp32": 66.9}),
    ("GH200", {"bf16": 989.4, "fp32": 66.9}),
    ("A100", {"bf16": 312.0, "fp32": 19.5}),
    ("L40S", {"bf16": 362.1, "fp32": 91.6}),
    ("L4", {"bf16": 121.0, "fp32": 30.3}),
    ("A10", {"bf16": 125.0, "fp32": 31.2}),
)


def peak_flops_per_second(device_name: str, dtype: str) -> float | None:
    """
    The data-sheet dense peak of a GPU named `device_name` (as `torch.cuda.get_device_name()` gives it) for `dtype`
    "bf16" or "fp32", in FLOP/s; `None` for a device not in [`PEAK_TFLOPS`] (use [`measure_matmul_flops_per_second`]).
    """
    if dtype not in ("bf16", "fp32"):
        raise ValueError(f"dtype must be 'bf16' or 'fp32', got {dtype!r}.")
    for name, peaks in PEAK_TFLOPS:
        if name in device_name:
            return peaks[dtype] * 1e12
    return None


def measure_matmul_flops_per_second(
    device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32, size: int = 2048, repeats: int = 5
) -> float:
    """
    The best rate, in FLOP/s, of `repeats` square `size` x `size` matrix products on `device`: the practical peak of
    a device without a data sheet (a CPU), against which a step's FLOP/s is a utilization.
    """
    device = torch.device(device)
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    a @ b  # warm-up: thread pools, kernel selection
    best = float("inf")
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        a @ b
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


__all__ = ["count_training_flops", "peak_flops_per_second", "measure_matmul_flops_per_second", "PEAK_TFLOPS"]
