"""
Clip sampling and augmentation for MAE-ST, following the official Kinetics loader (facebookresearch/mae_st
`util/kinetics.py`, `util/decoder/`), in plain torch (no torchvision).

Temporal: a clip is `num_frames` frames spread by `linspace` over a window of `num_frames * sampling_rate` frames at
`target_fps`, scaled to the video's own fps. Training draws the window at random; evaluation takes evenly spaced
windows. Windows longer than the video are clamped to its frames, as the official sampler does.

Spatial (frames are `(frames, channels, height, width)` tensors throughout):
- training: random resized crop (relative area and aspect jitter) or short-side scale jitter plus random crop,
  horizontal flip, optional RandAugment (one draw per clip, applied to all its frames) and random erasing (one box
  through all frames);
- evaluation: short-side resize and left/center/right (top/center/bottom for portrait) crops;
- normalization to `(x / 255 - mean) / std`.

Resizing is the official bilinear `interpolate` (no antialiasing), run on uint8 frames in channels-last memory
(torch's fast path, within one grey level of the float result), so the clip is converted to float once, at its
final size. Every random choice comes from a `random.Random` passed in, so a seed reproduces a clip.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F


# ---------------------------------------------------------------------------------------------------------------
# Temporal sampling
# ---------------------------------------------------------------------------------------------------------------


def clip_window(
    num_video_frames: int,
    clip_size: float,
    view_index: int | None,
    num_temporal_views: int,
    rng: random.Random,
) -> tuple[float, float]:
    """
    First and last frame (fractional) of a window of `clip_size` frames in a video of `num_video_frames` frames.

    With `view_index=None` the window starts uniformly at random; otherwise it is window `view_index` of
    `num_temporal_views` evenly spaced ones (the centered window for a single view). A window longer than the video
    starts at frame 0 and runs past the end; [`clip_frame_indices`] clamps it. This is the official
    `get_start_end_idx` with `use_offset=True`.
    """
    slack = max(num_video_frames - clip_size, 0.0)
    if view_index is None:
        start = rng.uniform(0.0, slack)
    elif num_temporal_views == 1:
        start = float(math.floor(slack / 2))
    else:
        start = float(view_index * math.floor(slack / (num_temporal_views - 1)))
    return start, start + clip_size - 1


def clip_frame_indices(start: float, end: float, num_frames: int, num_video_frames: int) -> np.ndarray:
    """
    `num_frames` indices spread by `linspace` from `start` to `end`, clamped to `[0, num_video_frames - 1]` and
    truncated to integers (float32 `linspace`, as the official `temporal_sampling`). Shape `(num_frames,)`, int64.
    """
    positions = torch.linspace(start, end, num_frames).clamp(0, num_video_frames - 1)
    return positions.long().numpy()


def sample_clip_indices(
    num_video_frames: int,
    video_fps: float,
    num_frames: int = 16,
    sampling_rate: int = 4,
    target_fps: float = 30.0,
    view_index: int | None = None,
    num_temporal_views: int = 1,
    rng: random.Random | None = None,
) -> np.ndarray:
    """
    Frame indices of one clip.

    The window covers `num_frames * sampling_rate` frames at `target_fps`, i.e. `num_frames * sampling_rate /
    target_fps` seconds (16 x 4 / 30 = 2.13 s by default), whatever the video's own `video_fps`.

    Args:
        num_video_frames: frames in the video.
        video_fps: the video's frame rate (frames per second).
        num_frames: frames in the clip.
        sampling_rate: stride between clip frames, in frames at `target_fps`.
        target_fps: frame rate the stride refers to.
        view_index: `None` for a random window (training), else which of `num_temporal_views` evenly spaced windows.
        num_temporal_views: number of evenly spaced windows for evaluation.
        rng: source of the random window start (needed when `view_index` is `None`).

    Returns:
        `np.ndarray` of shape `(num_frames,)`, int64, in `[0, num_video_frames - 1]`.
    """
    if view_index is None and rng is None:
        raise ValueError("A random clip window (view_index=None) needs an `rng`.")
    if view_index is not None and not 0 <= view_index < num_temporal_views:
        raise ValueError(f"view_index must be in [0, {num_temporal_views}), got {view_index}.")
    clip_size = num_frames * sampling_rate / target_fps * video_fps
    start, end = clip_window(num_video_frames, clip_size, view_index, num_temporal_views, rng)
    return clip_frame_indices(start, end, num_frames, num_video_frames)


# ---------------------------------------------------------------------------------------------------------------
# Spatial transforms on (frames, channels, height, width) tensors
# ---------------------------------------------------------------------------------------------------------------


def resize(frames: torch.Tensor, height: int, width: int, antialias: bool = False) -> torch.Tensor:
    """
    Bilinear resize of `(frames, channels, H, W)` to `(frames, channels, height, width)`, same dtype.

    By default this is the official transforms' `interpolate(mode="bilinear", align_corners=False)`, which does not
    antialias: on uint8 frames it gives their float result to within one grey level. `antialias=True` low-pass
    filters when shrinking (only then does it change anything).
    """
    if frames.shape[-2:] == (height, width):
        return frames
    antialias = antialias and (height < frames.shape[-2] or width < frames.shape[-1])
    frames = frames.contiguous(memory_format=torch.channels_last)  # torch's uint8 fast path
    return F.interpolate(frames, size=(height, width), mode="bilinear", align_corners=False, antialias=antialias)


def resize_short_side(frames: torch.Tensor, size: int, antialias: bool = False) -> torch.Tensor:
    """
    Resize so that the short side is `size` pixels, keeping the aspect ratio (long side rounded down, as the
    official `random_short_side_scale_jitter`). `(frames, channels, H, W)` -> `(frames, channels, H', W')`.
    """
    height, width = frames.shape[-2:]
    if height <= width:
        return resize(frames, size, int(math.floor(width / height * size)), antialias)
    return resize(frames, int(math.floor(height / width * size)), size, antialias)


def random_short_side_scale_jitter(
    frames: torch.Tensor, min_size: int, max_size: int, rng: random.Random
) -> torch.Tensor:
    """Resize the short side to a size drawn uniformly from `[min_size, max_size]` (rounded to an integer)."""
    return resize_short_side(frames, int(round(rng.uniform(min_size, max_size))))


def random_crop(frames: torch.Tensor, size: int, rng: random.Random) -> torch.Tensor:
    """A `size x size` crop at a random position (the same for all frames). Frames must be at least `size`."""
    height, width = frames.shape[-2:]
    top = rng.randrange(height - size) if height > size else 0
    left = rng.randrange(width - size) if width > size else 0
    return frames[..., top : top + size, left : left + size]


def random_resized_crop_box(
    height: int,
    width: int,
    scale: Sequence[float],
    aspect_ratio: Sequence[float],
    rng: random.Random,
    num_attempts: int = 10,
) -> tuple[int, int, int, int]:
    """
    `(top, left, crop_height, crop_width)` of an Inception-style crop: area a fraction in `scale` of the frame,
    aspect ratio (width / height) log-uniform in `aspect_ratio`. After `num_attempts` misses, the largest centered
    crop whose aspect ratio is in range (the official fallback).
    """
    area = height * width
    log_ratio = (math.log(aspect_ratio[0]), math.log(aspect_ratio[1]))
    for _ in range(num_attempts):
        target_area = rng.uniform(*scale) * area
        ratio = math.exp(rng.uniform(*log_ratio))
        crop_width = int(round(math.sqrt(target_area * ratio)))
        crop_height = int(round(math.sqrt(target_area / ratio)))
        if 0 < crop_width <= width and 0 < crop_height <= height:
            return rng.randint(0, height - crop_height), rng.randint(0, width - crop_width), crop_height, crop_width
    frame_ratio = width / height
    if frame_ratio < min(aspect_ratio):
        crop_width, crop_height = width, int(round(width / min(aspect_ratio)))
    elif frame_ratio > max(aspect_ratio):
        crop_width, crop_height = int(round(height * max(aspect_ratio))), height
    else:
        crop_width, crop_height = width, height
    return (height - crop_height) // 2, (width - crop_width) // 2, crop_height, crop_width


def random_resized_crop(
    frames: torch.Tensor,
    size: int,
    scale: Sequence[float],
    aspect_ratio: Sequence[float],
    rng: random.Random,
) -> torch.Tensor:
    """One [`random_resized_crop_box`] for all frames, resized to `size x size`."""
    top, left, crop_height, crop_width = random_resized_crop_box(*frames.shape[-2:], scale, aspect_ratio, rng)
    return resize(frames[..., top : top + crop_height, left : left + crop_width], size, size)


def horizontal_flip(frames: torch.Tensor, prob: float, rng: random.Random) -> torch.Tensor:
    """Mirror all frames left-right with probability `prob`."""
    return frames.flip(-1) if rng.random() < prob else frames


def uniform_crop(frames: torch.Tensor, size: int, spatial_index: int) -> torch.Tensor:
    """
    A `size x size` crop along the long side: `spatial_index` 0, 1, 2 is left, center, right for landscape frames
    and top, center, bottom for portrait ones (the official `uniform_crop`). Frames must be at least `size`.
    """
    if spatial_index not in (0, 1, 2):
        raise ValueError(f"spatial_index must be 0, 1 or 2, got {spatial_index}.")
    height, width = frames.shape[-2:]
    top = int(math.ceil((height - size) / 2))
    left = int(math.ceil((width - size) / 2))
    if height > width:
        top = {0: 0, 1: top, 2: height - size}[spatial_index]
    else:
        left = {0: 0, 1: left, 2: width - size}[spatial_index]
    return frames[..., top : top + size, left : left + size]


def normalize(frames: torch.Tensor, mean: Sequence[float] | None, std: Sequence[float] | None) -> torch.Tensor:
    """
    uint8 `(..., channels, H, W)` -> float32 `(x / 255 - mean) / std` per channel (`x / 255` when `mean` and `std`
    are `None`), on the frames' own device: the same arithmetic in a DataLoader worker and on the accelerator.
    """
    frames = frames.float().div_(255.0)
    if mean is None or std is None:
        return frames
    mean_t = torch.tensor(mean, dtype=torch.float32, device=frames.device).view(-1, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32, device=frames.device).view(-1, 1, 1)
    return frames.sub_(mean_t).div_(std_t)


# ---------------------------------------------------------------------------------------------------------------
# Random erasing
# ---------------------------------------------------------------------------------------------------------------


RANDOM_ERASING_MODES = ("const", "rand", "pixel")


@dataclass(frozen=True)
class RandomErasingDraw:
    """
    The random part of one clip's random erasing, drawn where the clip is augmented and applied wherever it is
    normalized (see [`draw_random_erasing`], [`apply_random_erasing`]).

    Attributes:
        boxes: `(top, left, height, width)` of each erased box, in pixels of the output frames.
        noise_seed: seed of the torch generator that draws the fill.
        mode: `"const"` (0), `"rand"` (one normal draw per channel) or `"pixel"` (per pixel), anew for each frame.
    """

    boxes: tuple[tuple[int, int, int, int], ...]
    noise_seed: int
    mode: str


def draw_random_erasing(
    height: int,
    width: int,
    prob: float,
    rng: random.Random,
    mode: str = "pixel",
    max_count: int = 1,
    min_area: float = 0.02,
    max_area: float = 1 / 3,
    min_aspect: float = 0.3,
    num_attempts: int = 100,
) -> RandomErasingDraw | None:
    """
    Draw the boxes of the official `RandomErasing` in `cube` mode (the same boxes through all frames) for
    `height x width` frames: with probability `prob`, between 1 and `max_count` boxes, each of area a fraction in
    `[min_area, max_area] / count` of the frame and aspect ratio log-uniform in `[min_aspect, 1 / min_aspect]`.

    Returns:
        the draw, or `None` when the clip is left as it is.

    Raises:
        ValueError: unknown `mode`.
    """
    if mode not in RANDOM_ERASING_MODES:
        raise ValueError(f"Random erasing mode must be one of {RANDOM_ERASING_MODES}, got {mode!r}.")
    if rng.random() > prob:
        return None
    count = rng.randint(1, max_count)
    log_aspect = (math.log(min_aspect), math.log(1 / min_aspect))
    noise_seed = rng.getrandbits(63)
    boxes = []
    for _ in range(count):
        for _ in range(num_attempts):
            target_area = rng.uniform(min_area, max_area) * height * width / count
            aspect = math.exp(rng.uniform(*log_aspect))
            box_height = int(round(math.sqrt(target_area * aspect)))
            box_width = int(round(math.sqrt(target_area / aspect)))
            if box_width < width and box_height < height:
                top, left = rng.randint(0, height - box_height), rng.randint(0, width - box_width)
                boxes.append((top, left, box_height, box_width))
                break
    return RandomErasingDraw(tuple(boxes), noise_seed, mode)


def to_device_without_waiting(tensor: torch.Tensor, device: torch.device | str) -> torch.Tensor:
    """Copy a host tensor to `device` without making the host wait for the accelerator's queue: a copy from pageable
    memory to a GPU waits for the stream, one from page-locked memory with `non_blocking` does not."""
    if torch.device(device).type != "cuda" or tensor.device.type != "cpu":  # (only host memory can be page-locked)
        return tensor.to(device)
    return tensor.pin_memory().to(device, non_blocking=True)


def apply_random_erasing(frames: torch.Tensor, draw: RandomErasingDraw | None) -> torch.Tensor:
    """
    Erase `draw`'s boxes from a normalized clip, float `(frames, channels, H, W)`, in place (returned). The fill is
    drawn on the CPU from `draw.noise_seed`, so a clip is erased alike on every device, and copied to the clip's
    device from page-locked memory, so that the host does not wait for the accelerator's queue.
    """
    if draw is None:
        return frames
    num_frames, channels = frames.shape[:2]
    generator = torch.Generator().manual_seed(draw.noise_seed)
    for top, left, box_height, box_width in draw.boxes:
        if draw.mode == "pixel":
            fill = torch.randn((num_frames, channels, box_height, box_width), generator=generator)
        elif draw.mode == "rand":
            fill = torch.randn((num_frames, channels, 1, 1), generator=generator)
        else:
            fill = torch.zeros((num_frames, channels, 1, 1))
        fill = to_device_without_waiting(fill.to(frames.dtype), frames.device)
        frames[:, :, top : top + box_height, left : left + box_width] = fill
    return frames


def random_erasing(
    frames: torch.Tensor, prob: float, rng: random.Random, mode: str = "pixel", **kwargs: Any
) -> torch.Tensor:
    """
    [`draw_random_erasing`] then [`apply_random_erasing`] on a normalized float clip `(frames, channels, H, W)`,
    modified in place and returned; `kwargs` are `draw_random_erasing`'s box settings.
    """
    return apply_random_erasing(frames, draw_random_erasing(*frames.shape[-2:], prob, rng, mode=mode, **kwargs))


# ---------------------------------------------------------------------------------------------------------------
# RandAugment on uint8 clips, one draw of operations and magnitudes per clip
# ---------------------------------------------------------------------------------------------------------------

# Facts of the official policy (timm's `rand_augment_transform`, as vendored by mae_st): magnitudes run to 10, each
# chosen operation fires with probability 0.5, geometric operations fill with grey 128 and resample bicubically.
_MAX_MAGNITUDE = 10.0
_FILL = 128.0
_OPERATION_PROB = 0.5


def _grayscale(frames: torch.Tensor) -> torch.Tensor:
    """ITU-R 601-2 luma of float RGB `(frames, 3, H, W)` -> `(frames, 1, H, W)`, as PIL's `convert("L")`."""
    weights = torch.tensor([0.299, 0.587, 0.114], dtype=frames.dtype).view(1, 3, 1, 1)
    return (frames * weights).sum(1, keepdim=True)


def _blend(degenerate: torch.Tensor, frames: torch.Tensor, factor: float) -> torch.Tensor:
    """PIL `ImageEnhance`: `degenerate + factor * (frames - degenerate)`, clipped to [0, 255]."""
    return (degenerate + factor * (frames - degenerate)).clamp_(0, 255)


def _affine(frames: torch.Tensor, matrix: Sequence[float]) -> torch.Tensor:
    """
    PIL-style affine warp: output pixel `(x, y)` samples the input at `(a x + b y + c, d x + e y + f)` for
    `matrix = (a, b, c, d, e, f)`, in pixel coordinates; outside the frame reads grey 128. Bicubic.
    """
    num_frames, _, height, width = frames.shape
    a, b, c, d, e, f = matrix
    ys, xs = torch.meshgrid(
        torch.arange(height, dtype=torch.float32) + 0.5, torch.arange(width, dtype=torch.float32) + 0.5, indexing="ij"
    )
    source_x = a * xs + b * ys + c
    source_y = d * xs + e * ys + f
    grid = torch.stack((2 * source_x / width - 1, 2 * source_y / height - 1), dim=-1)  # (H, W, 2), [-1, 1]
    grid = grid.unsqueeze(0).expand(num_frames, -1, -1, -1)
    # Sampling (frames - 128) with zero padding makes the outside read 128 after adding it back.
    warped = F.grid_sample(frames - _FILL, grid, mode="bicubic", padding_mode="zeros", align_corners=False)
    return (warped + _FILL).clamp_(0, 255)


def _rotate(frames: torch.Tensor, degrees: float) -> torch.Tensor:
    """Counter-clockwise rotation by `degrees` about the frame center (PIL `Image.rotate`)."""
    height, width = frames.shape[-2:]
    center_x, center_y = width / 2.0, height / 2.0
    angle = -math.radians(degrees)
    cos, sin = math.cos(angle), math.sin(angle)
    # Output -> input map: rotate about the center by `angle`.
    return _affine(
        frames,
        (
            cos,
            sin,
            center_x - cos * center_x - sin * center_y,
            -sin,
            cos,
            center_y + sin * center_x - cos * center_y,
        ),
    )


def _autocontrast(frames: torch.Tensor) -> torch.Tensor:
    """Stretch each frame's channels to span [0, 255] (PIL `ImageOps.autocontrast` without cutoff)."""
    low = frames.amin(dim=(-2, -1), keepdim=True)
    high = frames.amax(dim=(-2, -1), keepdim=True)
    scale = torch.where(high > low, 255.0 / (high - low).clamp_min(1), torch.ones_like(high))
    offset = torch.where(high > low, -low * scale, torch.zeros_like(low))
    return (frames * scale + offset).floor_().clamp_(0, 255)


def _equalize(frames: torch.Tensor) -> torch.Tensor:
    """Histogram equalization of each frame's channels (PIL `ImageOps.equalize`)."""
    num_frames, channels, height, width = frames.shape
    flat = frames.reshape(num_frames * channels, height * width).long()
    out = torch.empty_like(flat)
    for row in range(flat.shape[0]):
        histogram = torch.bincount(flat[row], minlength=256)
        nonzero = histogram.nonzero()
        step = (int(histogram.sum()) - int(histogram[nonzero[-1]])) // 255
        if step == 0:
            out[row] = flat[row]
            continue
        before = torch.cumsum(histogram, 0) - histogram  # pixels below each level
        lut = ((before + step // 2) // step).clamp_(0, 255)
        out[row] = lut[flat[row]]
    return out.reshape(frames.shape).to(frames.dtype)


def _sharpness(frames: torch.Tensor, factor: float) -> torch.Tensor:
    """Blend with PIL's SMOOTH-filtered frames (3x3 kernel, center 5, others 1, over 13; borders kept)."""
    channels = frames.shape[1]
    kernel = torch.ones(3, 3, dtype=frames.dtype)
    kernel[1, 1] = 5.0
    kernel = (kernel / 13.0).expand(channels, 1, 3, 3)
    smooth = frames.clone()
    smooth[..., 1:-1, 1:-1] = F.conv2d(frames, kernel, groups=channels).round_()
    return _blend(smooth, frames, factor)


def _negate_half(value: float, rng: random.Random) -> float:
    return -value if rng.random() > 0.5 else value


@dataclass(frozen=True)
class _Operation:
    """A RandAugment operation: `apply(frames, argument)` with `argument = level_to_argument(magnitude, rng)`."""

    apply: Callable[[torch.Tensor, float], torch.Tensor]
    level_to_argument: Callable[[float, random.Random], float]


def _no_argument(magnitude: float, rng: random.Random) -> float:
    return 0.0


def _enhance_argument(magnitude: float, rng: random.Random) -> float:
    """Enhancement factor in [0.1, 1.9], rising with magnitude."""
    return magnitude / _MAX_MAGNITUDE * 1.8 + 0.1


def _enhance_increasing_argument(magnitude: float, rng: random.Random) -> float:
    """Enhancement factor 1 -/+ up to 0.9, further from 1 with magnitude."""
    return 1.0 + _negate_half(magnitude / _MAX_MAGNITUDE * 0.9, rng)


def _posterize_bits(magnitude: float) -> int:
    return int(magnitude / _MAX_MAGNITUDE * 4)


def _solarize_threshold(magnitude: float) -> int:
    return int(magnitude / _MAX_MAGNITUDE * 256)


def _posterize(frames: torch.Tensor, bits: float) -> torch.Tensor:
    bits = int(bits)
    if bits >= 8:
        return frames
    mask = ~(2 ** (8 - bits) - 1) & 0xFF
    return (frames.to(torch.uint8) & mask).to(frames.dtype)


_OPERATIONS: dict[str, _Operation] = {
    "AutoContrast": _Operation(lambda x, _: _autocontrast(x), _no_argument),
    "Equalize": _Operation(lambda x, _: _equalize(x), _no_argument),
    "Invert": _Operation(lambda x, _: 255.0 - x, _no_argument),
    "Rotate": _Operation(_rotate, lambda m, rng: _negate_half(m / _MAX_MAGNITUDE * 30.0, rng)),
    "Posterize": _Operation(_posterize, lambda m, rng: _posterize_bits(m)),
    "PosterizeIncreasing": _Operation(_posterize, lambda m, rng: 4 - _posterize_bits(m)),
    "Solarize": _Operation(
        lambda x, t: torch.where(x >= t, 255.0 - x, x), lambda m, rng: _solarize_threshold(m)
    ),
    "SolarizeIncreasing": _Operation(
        lambda x, t: torch.where(x >= t, 255.0 - x, x), lambda m, rng: 256 - _solarize_threshold(m)
    ),
    "SolarizeAdd": _Operation(
        lambda x, add: torch.where(x < 128, (x + add).clamp_(max=255), x),
        lambda m, rng: int(m / _MAX_MAGNITUDE * 110),
    ),
    "Color": _Operation(lambda x, k: _blend(_grayscale(x).round(), x, k), _enhance_argument),
    "ColorIncreasing": _Operation(lambda x, k: _blend(_grayscale(x).round(), x, k), _enhance_increasing_argument),
    "Contrast": _Operation(
        lambda x, k: _blend(_grayscale(x).mean(dim=(1, 2, 3), keepdim=True).add(0.5).floor(), x, k),
        _enhance_argument,
    ),
    "ContrastIncreasing": _Operation(
        lambda x, k: _blend(_grayscale(x).mean(dim=(1, 2, 3), keepdim=True).add(0.5).floor(), x, k),
        _enhance_increasing_argument,
    ),
    "Brightness": _Operation(lambda x, k: _blend(torch.zeros_like(x), x, k), _enhance_argument),
    "BrightnessIncreasing": _Operation(lambda x, k: _blend(torch.zeros_like(x), x, k), _enhance_increasing_argument),
    "Sharpness": _Operation(_sharpness, _enhance_argument),
    "SharpnessIncreasing": _Operation(_sharpness, _enhance_increasing_argument),
    "ShearX": _Operation(
        lambda x, s: _affine(x, (1, s, 0, 0, 1, 0)), lambda m, rng: _negate_half(m / _MAX_MAGNITUDE * 0.3, rng)
    ),
    "ShearY": _Operation(
        lambda x, s: _affine(x, (1, 0, 0, s, 1, 0)), lambda m, rng: _negate_half(m / _MAX_MAGNITUDE * 0.3, rng)
    ),
    "TranslateXRel": _Operation(
        lambda x, p: _affine(x, (1, 0, p * x.shape[-1], 0, 1, 0)),
        lambda m, rng: _negate_half(m / _MAX_MAGNITUDE * 0.45, rng),
    ),
    "TranslateYRel": _Operation(
        lambda x, p: _affine(x, (1, 0, 0, 0, 1, p * x.shape[-2])),
        lambda m, rng: _negate_half(m / _MAX_MAGNITUDE * 0.45, rng),
    ),
}

_STANDARD_OPERATIONS = (
    "AutoContrast", "Equalize", "Invert", "Rotate", "Posterize", "Solarize", "SolarizeAdd", "Color", "Contrast",
    "Brightness", "Sharpness", "ShearX", "ShearY", "TranslateXRel", "TranslateYRel",
)  # fmt: skip
_INCREASING_OPERATIONS = (
    "AutoContrast", "Equalize", "Invert", "Rotate", "PosterizeIncreasing", "SolarizeIncreasing", "SolarizeAdd",
    "ColorIncreasing", "ContrastIncreasing", "BrightnessIncreasing", "SharpnessIncreasing", "ShearX", "ShearY",
    "TranslateXRel", "TranslateYRel",
)  # fmt: skip


@dataclass(frozen=True)
class RandAugment:
    """
    RandAugment for video: each call draws `num_layers` operations (with replacement), each firing with probability
    0.5 at a magnitude drawn from `N(magnitude, magnitude_std)` clipped to [0, 10], and applies the same operations
    with the same arguments to every frame of the clip.

    Attributes:
        magnitude: mean magnitude on the 0-10 scale (`m` in the policy string).
        num_layers: operations per clip (`n`).
        magnitude_std: spread of the magnitude (`mstd`).
        increasing: use the variants whose strength rises with magnitude (`inc1`).
    """

    magnitude: float = 7.0
    num_layers: int = 2
    magnitude_std: float = 0.5
    increasing: bool = True

    @classmethod
    def from_policy(cls, policy: str) -> RandAugment:
        """
        Parse a timm-style policy such as the recipe's `"rand-m7-mstd0.5-inc1"` (`n` defaults to 2, as in timm).

        Raises:
            ValueError: the string does not start with `rand` or has an unknown or malformed section.
        """
        sections = policy.split("-")
        if sections[0] != "rand":
            raise ValueError(f"RandAugment policy must start with 'rand', got {policy!r}.")
        values: dict[str, float] = {}
        for section in sections[1:]:
            match = re.fullmatch(r"(mstd|inc|m|n)(\d+(?:\.\d+)?)", section)
            if match is None:
                raise ValueError(
                    f"Unknown section {section!r} in RandAugment policy {policy!r}; expected m<int>, n<int>, "
                    "mstd<float> or inc<0|1>."
                )
            values[match.group(1)] = float(match.group(2))
        return cls(
            magnitude=values.get("m", _MAX_MAGNITUDE),
            num_layers=int(values.get("n", 2)),
            magnitude_std=values.get("mstd", 0.0),
            increasing=bool(values.get("inc", 0)),
        )

    def __call__(self, frames: torch.Tensor, rng: random.Random) -> torch.Tensor:
        """uint8 `(frames, 3, H, W)` -> augmented uint8 `(frames, 3, H, W)`."""
        names = _INCREASING_OPERATIONS if self.increasing else _STANDARD_OPERATIONS
        work = frames.float()
        for name in [rng.choice(names) for _ in range(self.num_layers)]:
            if rng.random() > _OPERATION_PROB:
                continue
            magnitude = self.magnitude
            if self.magnitude_std > 0:
                magnitude = rng.gauss(magnitude, self.magnitude_std)
            magnitude = min(_MAX_MAGNITUDE, max(0.0, magnitude))
            operation = _OPERATIONS[name]
            work = operation.apply(work, operation.level_to_argument(magnitude, rng))
        return work.round_().to(torch.uint8)


__all__ = [
    "RANDOM_ERASING_MODES",
    "RandAugment",
    "RandomErasingDraw",
    "apply_random_erasing",
    "clip_frame_indices",
    "clip_window",
    "draw_random_erasing",
    "horizontal_flip",
    "normalize",
    "random_crop",
    "random_erasing",
    "random_resized_crop",
    "random_resized_crop_box",
    "random_short_side_scale_jitter",
    "resize",
    "resize_short_side",
    "sample_clip_indices",
    "uniform_crop",
]
