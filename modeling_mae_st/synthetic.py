"""
Synthetic labeled videos written as real encoded files, for tests, demos and the quick start.

Each video shows a textured shape over a textured background; its class is the shape's motion only (direction,
rotation sense or speed), so no single frame tells the class. Shapes, textures, positions and speeds are random,
drawn from one seed, so the same call writes the same videos.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import av
import numpy as np
import PIL.Image


# Motion of each class: a translation direction (dx, dy) per frame, a rotation sense, or a speed band with a
# random direction.
TRANSLATIONS = {"left": (-1.0, 0.0), "right": (1.0, 0.0), "up": (0.0, -1.0), "down": (0.0, 1.0)}
ROTATIONS = {"clockwise": -1.0, "counterclockwise": 1.0}
SPEEDS = {"slow": (0.4, 0.8), "fast": (2.5, 3.5)}  # pixels per frame at a 64-pixel short side
MOTIONS = (*TRANSLATIONS, *ROTATIONS, *SPEEDS)
DEFAULT_CLASSES = ("down", "left", "right", "up")

# Container for each supported encoder, and the pixel format the encoder takes.
CODEC_EXTENSIONS = {"mpeg4": ".mp4", "libx264": ".mp4", "libvpx-vp9": ".webm", "mjpeg": ".avi"}
_PIXEL_FORMATS = {"mjpeg": "yuvj420p"}


def _texture(
    height: int, width: int, rng: np.random.Generator, cell: int, noise_amplitude: int = 24
) -> np.ndarray:
    """Smooth random colour field (one random colour every `cell` pixels) plus uniform per-pixel noise of at most
    `noise_amplitude` levels, uint8 `(height, width, 3)`."""
    coarse = rng.integers(0, 256, size=(max(height // cell, 1) + 1, max(width // cell, 1) + 1, 3), dtype=np.uint8)
    smooth = np.asarray(PIL.Image.fromarray(coarse).resize((width, height), PIL.Image.BILINEAR), dtype=np.int16)
    noise = rng.integers(-noise_amplitude, noise_amplitude + 1, size=(height, width, 3), dtype=np.int16)
    return np.clip(smooth + noise, 0, 255).astype(np.uint8)


def _shape_mask(size: int, rng: np.random.Generator) -> np.ndarray:
    """Boolean `(size, size)` mask of a random shape: an ellipse, a square or a triangle (asymmetric enough to show
    rotation)."""
    ys, xs = np.mgrid[0:size, 0:size] / max(size - 1, 1) * 2 - 1  # [-1, 1]
    kind = rng.integers(3)
    if kind == 0:
        return (xs / 0.95) ** 2 + (ys / 0.6) ** 2 <= 1
    if kind == 1:
        return (np.abs(xs) <= 0.8) & (np.abs(ys) <= 0.5)
    return (ys >= -0.9) & (ys <= 0.9) & (np.abs(xs) <= (ys + 0.9) / 2)


def render_motion_video(
    motion: str,
    num_frames: int = 32,
    size: tuple[int, int] = (96, 64),
    rng: np.random.Generator | None = None,
    texture_scale: float = 1.0,
    noise_amplitude: int = 24,
) -> np.ndarray:
    """
    Frames of one synthetic video whose class is `motion`.

    Args:
        motion: one of [`MOTIONS`]: `left`, `right`, `up`, `down` (translation; the shape wraps around the frame
            edges), `clockwise`, `counterclockwise` (rotation in place), `slow`, `fast` (translation in a random
            direction at a low or high speed).
        num_frames: frames to render.
        size: `(width, height)` in pixels.
        rng: source of the random appearance and speed.
        texture_scale: size of the colour cells of the background and shape textures, relative to the default
            (a new colour every 8 pixels of a 64-pixel short side for the background, every third of the shape
            for the shape); larger is smoother.
        noise_amplitude: per-pixel noise added to the textures, in levels of 0-255 (0: none).

    Returns:
        uint8 RGB frames, shape `(num_frames, height, width, 3)`.
    """
    if motion not in MOTIONS:
        raise ValueError(f"Unknown motion {motion!r}; expected one of {MOTIONS}.")
    rng = rng if rng is not None else np.random.default_rng()
    width, height = size
    scale = min(width, height) / 64.0
    # A muted background and a full-contrast shape keep the moving shape visible.
    background_cell = max(int(8 * scale * texture_scale), 2)
    background = _texture(height, width, rng, background_cell, noise_amplitude) // 2 + 64
    shape_size = max(int(min(width, height) * rng.uniform(0.4, 0.55)), 4)
    shape_texture = _texture(shape_size, shape_size, rng, max(int(shape_size / 3 * texture_scale), 2), noise_amplitude)
    shape_mask = _shape_mask(shape_size, rng)
    shape_rgba = np.dstack([shape_texture, shape_mask.astype(np.uint8) * 255])
    shape_image = PIL.Image.fromarray(shape_rgba, mode="RGBA").rotate(rng.uniform(0, 360))
    start_x, start_y = rng.uniform(0, width), rng.uniform(0, height)

    if motion in TRANSLATIONS:
        speed = rng.uniform(1.0, 2.5) * scale
        velocity = np.array(TRANSLATIONS[motion]) * speed
    elif motion in SPEEDS:
        speed = rng.uniform(*SPEEDS[motion]) * scale
        angle = rng.uniform(0, 2 * math.pi)
        velocity = np.array([math.cos(angle), math.sin(angle)]) * speed
    else:
        velocity = np.zeros(2)
    angular_speed = ROTATIONS.get(motion, 0.0) * rng.uniform(6.0, 12.0)  # degrees per frame

    frames = np.empty((num_frames, height, width, 3), dtype=np.uint8)
    for index in range(num_frames):
        layer = PIL.Image.new("RGBA", (width, height))
        shape = shape_image.rotate(angular_speed * index, resample=PIL.Image.BILINEAR)
        layer.paste(shape, (0, 0), shape)
        # Translate with wrap-around so the shape never leaves the frame.
        shift_x = int(round(start_x + velocity[0] * index))
        shift_y = int(round(start_y + velocity[1] * index))
        layer_array = np.roll(np.asarray(layer), (shift_y, shift_x), axis=(0, 1))
        alpha = layer_array[..., 3:].astype(np.float32) / 255.0
        frames[index] = (layer_array[..., :3] * alpha + background * (1 - alpha)).astype(np.uint8)
    return frames


def _extension(codec: str) -> str:
    if codec not in CODEC_EXTENSIONS:
        raise ValueError(f"Unknown codec {codec!r}; expected one of {sorted(CODEC_EXTENSIONS)}.")
    return CODEC_EXTENSIONS[codec]


def write_video(
    path: str | Path, frames: np.ndarray, fps: int = 30, codec: str = "mpeg4", bit_rate: int | None = None
) -> Path:
    """
    Encode uint8 RGB `frames` of shape `(num_frames, height, width, 3)` into `path` with PyAV.

    Args:
        codec: an encoder of [`CODEC_EXTENSIONS`]; the container follows the file extension.
        bit_rate: target bits per second; `None` leaves the encoder's default (for `mpeg4`, low enough to make
            visible blocks in small noisy frames).

    Raises:
        ValueError: unknown codec, or odd width or height (the 4:2:0 pixel formats need even sizes).
    """
    _extension(codec)
    height, width = frames.shape[1:3]
    if height % 2 or width % 2:
        raise ValueError(f"Video width and height must be even for codec {codec!r}, got {width}x{height}.")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = width, height
        stream.pix_fmt = _PIXEL_FORMATS.get(codec, "yuv420p")
        if bit_rate is not None:
            stream.bit_rate = bit_rate
        stream.thread_count = 1  # single-threaded encoding keeps the bytes reproducible
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def make_synthetic_video_dataset(
    output_dir: str | Path,
    classes: tuple[str, ...] | list[str] = DEFAULT_CLASSES,
    num_videos_per_class: int = 8,
    num_validation_videos_per_class: int = 2,
    num_frames: int = 32,
    size: tuple[int, int] = (96, 64),
    fps: int = 30,
    codec: str = "mpeg4",
    seed: int = 0,
    write_index_files: bool = True,
) -> dict[str, list[tuple[Path, str]]]:
    """
    Write a labeled video dataset whose classes are motions.

    Layout (`<ext>` from the codec, e.g. `.mp4`):

        output_dir/train/<class>/<class>_0000<ext> ...
        output_dir/validation/<class>/<class>_0000<ext> ...
        output_dir/train.csv, val.csv        official Kinetics layout: "<path> <label id>" per line, no header
        output_dir/train.jsonl, val.jsonl    {"path": ..., "label": <class name>} per line

    Index paths are relative to `output_dir`; label ids follow the sorted class names.

    Args:
        output_dir: folder to write into (created if needed).
        classes: motions to use as classes (see [`render_motion_video`]).
        num_videos_per_class: training videos per class.
        num_validation_videos_per_class: validation videos per class.
        num_frames: frames per video.
        size: `(width, height)` in pixels, both even.
        fps: frame rate written in the container.
        codec: `"mpeg4"`, `"libx264"`, `"libvpx-vp9"` or `"mjpeg"`.
        seed: the same seed writes the same videos.
        write_index_files: also write the CSV and JSONL indexes.

    Returns:
        `{"train": [(path, class), ...], "validation": [...]}`.
    """
    unknown = sorted(set(classes) - set(MOTIONS))
    if unknown:
        raise ValueError(f"Unknown motion class(es) {unknown}; expected some of {MOTIONS}.")
    output_dir = Path(output_dir)
    rng = np.random.default_rng(seed)
    class_names = sorted(classes)
    extension = _extension(codec)
    splits = {"train": num_videos_per_class, "validation": num_validation_videos_per_class}
    files: dict[str, list[tuple[Path, str]]] = {}
    for split, count in splits.items():
        files[split] = []
        for index in range(count):
            for label in class_names:
                path = output_dir / split / label / f"{label}_{index:04d}{extension}"
                write_video(path, render_motion_video(label, num_frames, size, rng), fps=fps, codec=codec)
                files[split].append((path, label))
    if write_index_files:
        for split, index_name in (("train", "train"), ("validation", "val")):
            rows = [(path.relative_to(output_dir).as_posix(), label) for path, label in files[split]]
            with open(output_dir / f"{index_name}.csv", "w", newline="") as handle:
                csv.writer(handle, delimiter=" ").writerows((path, class_names.index(label)) for path, label in rows)
            with open(output_dir / f"{index_name}.jsonl", "w") as handle:
                handle.writelines(json.dumps({"path": path, "label": label}) + "\n" for path, label in rows)
    return files


def make_synthetic_pretraining_videos(
    output_dir: str | Path,
    num_videos: int = 32,
    num_frames: int = 32,
    size: tuple[int, int] = (96, 64),
    fps: int = 30,
    codec: str = "mpeg4",
    seed: int = 0,
    texture_scale: float = 1.0,
    noise_amplitude: int = 24,
    bit_rate: int | None = None,
) -> list[Path]:
    """
    Write unlabeled videos (random motions) directly into `output_dir`, for pretraining: `video_0000<ext>`, ...

    Arguments are those of [`make_synthetic_video_dataset`], plus `texture_scale` and `noise_amplitude` of
    [`render_motion_video`] and `bit_rate` of [`write_video`]. Returns the written paths.
    """
    output_dir = Path(output_dir)
    rng = np.random.default_rng(seed)
    extension = _extension(codec)
    paths = []
    for index in range(num_videos):
        motion = MOTIONS[rng.integers(len(MOTIONS))]
        frames = render_motion_video(motion, num_frames, size, rng, texture_scale, noise_amplitude)
        path = output_dir / f"video_{index:04d}{extension}"
        paths.append(write_video(path, frames, fps=fps, codec=codec, bit_rate=bit_rate))
    return paths


__all__ = [
    "CODEC_EXTENSIONS",
    "DEFAULT_CLASSES",
    "MOTIONS",
    "make_synthetic_pretraining_videos",
    "make_synthetic_video_dataset",
    "render_motion_video",
    "write_video",
]
