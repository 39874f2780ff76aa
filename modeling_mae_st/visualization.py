"""
See what an MAE-ST pretraining checkpoint learned: the official demo's picture (original frames, the masked input and
the reconstruction, frame by frame) as a PNG grid and a GIF.

    mae-st-visualize demo.avi --model mae-st-vit-b --mask_ratio 0.9 --output reconstruction.gif

or from Python, on a video file or on `pixel_values` straight from a data loader:

    from modeling_mae_st.visualization import save_reconstruction_grid
    save_reconstruction_grid(model, pixel_values, "reconstruction.png")

With normalized-pixel targets (`norm_pix_loss`, the released models) the model predicts each hidden patch up to its
own mean and variance, which the input does not reveal. The official demos put back the hidden patches' true
statistics; that leaks information about the hidden pixels and makes reconstructions look better than they are. By
default we estimate them from the nearest visible patches instead (`patch_statistics="visible"`); the official way is
`patch_statistics="target"`. The caption of every picture says which one was used.
"""

from __future__ import annotations

import argparse
import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont


# Normalization of the MAE-ST video processor (PySlowFast `DATA.MEAN` / `DATA.STD`), used when no processor is given.
DEFAULT_IMAGE_MEAN = (0.45, 0.45, 0.45)
DEFAULT_IMAGE_STD = (0.225, 0.225, 0.225)
ROW_NAMES = ("original", "masked", "reconstruction")
PATCH_STATISTICS_CAPTIONS = {
    "visible": "hidden patches de-normalized with statistics of their nearest visible patches (no peeking)",
    "target": "hidden patches de-normalized with their own true statistics, as the official demo "
    "(leaks information: looks better than it is)",
    "pixels": "pixel targets: no per-patch statistics needed",
}
MIN_CELL_SIZE = 96
PADDING = 4


@dataclass
class ReconstructionFrames:
    """
    The pictures of one reconstruction, as 8-bit RGB frames.

    Args:
        original, masked, reconstruction (`np.ndarray` of shape `(batch, target_frames, height, width, 3)`, uint8):
            the target frames, the same with hidden patches blanked (the normalization mean, a grey), and the
            visible patches with the model's prediction in place of the hidden ones.
        frame_indices: index in the input clip of each target frame.
        mask_ratio: fraction of spacetime patches hidden.
        patch_statistics: `"visible"`, `"target"` or `"pixels"` (a model without normalized-pixel targets).
        loss: the model's reconstruction loss on these clips and this mask.
    """

    original: np.ndarray
    masked: np.ndarray
    reconstruction: np.ndarray
    frame_indices: list[int]
    mask_ratio: float
    patch_statistics: str
    loss: float

    @property
    def caption(self) -> str:
        return (
            f"mask ratio {self.mask_ratio:.0%}; {PATCH_STATISTICS_CAPTIONS[self.patch_statistics]}; "
            f"loss {self.loss:.4f}"
        )

    def grid(self, scale: int | None = None) -> Image.Image:
        """One image: for each clip, rows original / masked / reconstruction; columns the target frames."""
        rows, labels = [], []
        for clip in range(self.original.shape[0]):
            for name in ROW_NAMES:
                rows.append(list(getattr(self, name)[clip]))
                labels.append(name if self.original.shape[0] == 1 else f"clip {clip} {name}")
        columns = [f"frame {index}" for index in self.frame_indices]
        return _compose(rows, labels, columns, self.caption, _scale_for(self.original, scale))

    def gif_frames(self, scale: int | None = None) -> list[Image.Image]:
        """One image per target frame: original, masked and reconstruction side by side, one row per clip."""
        scale = _scale_for(self.original, scale)
        images = []
        for step, index in enumerate(self.frame_indices):
            rows = [[getattr(self, name)[clip, step] for name in ROW_NAMES] for clip in range(self.original.shape[0])]
            labels = [f"clip {clip}, frame {index}" for clip in range(len(rows))]
            if len(rows) == 1:
                labels = [f"frame {index}"]
            images.append(_compose(rows, labels, list(ROW_NAMES), self.caption, scale))
        return images

    def save_grid(self, path: str | Path, scale: int | None = None) -> Path:
        """Write [`grid`] as a PNG (or any format PIL infers from the suffix) and return the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.grid(scale).save(path)
        return path

    def save_gif(self, path: str | Path, frame_duration_ms: int = 250, scale: int | None = None) -> Path:
        """Write [`gif_frames`] as a looping GIF and return the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        first, *rest = self.gif_frames(scale)
        first.save(path, save_all=True, append_images=rest, duration=frame_duration_ms, loop=0)
        return path


@torch.no_grad()
def visualize_reconstruction(
    model,
    video: torch.Tensor | str | Path,
    mask_ratio: float = 0.9,
    patch_statistics: str = "visible",
    seed: int = 0,
    video_processor=None,
    image_mean: Sequence[float] | None = None,
    image_std: Sequence[float] | None = None,
) -> ReconstructionFrames:
    """
    Mask a clip at random, reconstruct it and return the pictures.

    Args:
        model: a `MAESTForPreTraining` (ours, converted, or loaded with `trust_remote_code`), or its folder or Hub
            id. It is run in eval mode and left in the mode it was in.
        video: a video file (decoded with `video_processor`), or `pixel_values` as the processor makes them,
            `(batch, frames, channels, height, width)` or one clip `(frames, channels, height, width)`.
        mask_ratio: fraction of spacetime patches to hide.
        patch_statistics: `"visible"` (default) estimates each hidden patch's mean and variance from its nearest
            visible patches; `"target"` uses the hidden patch's own, as the official demos (see the module
            docstring). Ignored without normalized-pixel targets.
        seed: seeds the random mask, so the same call gives the same picture.
        video_processor: decodes a video file; default: the one saved with the model, else `MAESTVideoProcessor()`.
            Its `image_mean` / `image_std` undo the normalization.
        image_mean, image_std: per-channel normalization to undo; default the processor's, else 0.45 / 0.225.

    Raises:
        TypeError: `model` has no decoder (not a pretraining checkpoint).
        ValueError: `patch_statistics` is unknown, or `pixel_values` does not have 4 or 5 dimensions.
    """
    if patch_statistics not in ("visible", "target"):
        raise ValueError(f"patch_statistics must be 'visible' or 'target', got {patch_statistics!r}.")
    if isinstance(model, (str, Path)):
        model = load_pretraining_model(model)
    if not hasattr(model, "reconstruct"):
        raise TypeError(
            f"{type(model).__name__} cannot reconstruct: visualization needs a pretraining checkpoint "
            "(MAESTForPreTraining, with its decoder)."
        )
    if isinstance(video, (str, Path)):
        video_processor = video_processor or default_video_processor(model)
        pixel_values = decode_video(video, video_processor)
    else:
        pixel_values = video
    if pixel_values.dim() == 4:
        pixel_values = pixel_values.unsqueeze(0)
    if pixel_values.dim() != 5:
        raise ValueError(
            "pixel_values must be (batch, frames, channels, height, width) or (frames, channels, height, width), "
            f"got shape {tuple(pixel_values.shape)}."
        )
    mean, std = _normalization(video_processor, image_mean, image_std, pixel_values.shape[2])
    parameter = next(model.parameters())
    pixel_values = pixel_values.to(parameter.device, parameter.dtype)  # (batch, frames, channels, height, width)
    batch, frames, _, height, width = pixel_values.shape
    config = model.config
    num_patches = (frames // config.tubelet_size) * (height // config.patch_size) * (width // config.patch_size)
    noise = torch.rand(batch, num_patches, generator=torch.Generator().manual_seed(seed)).to(parameter.device)
    interpolate = (frames, height, width) != (config.num_frames, config.image_size, config.image_size)
    was_training = model.training
    model.eval()
    try:
        outputs = model(
            pixel_values, noise=noise, mask_ratio=mask_ratio, interpolate_pos_encoding=interpolate
        )
        pictures = model.reconstruct(pixel_values, outputs.logits, outputs.mask, patch_statistics=patch_statistics)
    finally:
        model.train(was_training)
    indices = model.target_frame_indices(frames).tolist()
    return ReconstructionFrames(
        original=_to_uint8(pictures["original"], mean, std),
        masked=_to_uint8(pictures["masked"], mean, std),
        reconstruction=_to_uint8(pictures["reconstruction"], mean, std),
        frame_indices=[int(i) for i in indices],
        mask_ratio=float(mask_ratio),
        patch_statistics=patch_statistics if config.norm_pix_loss else "pixels",
        loss=float(outputs.loss),
    )


def save_reconstruction_grid(
    model, video: torch.Tensor | str | Path, path: str | Path, **kwargs
) -> ReconstructionFrames:
    """
    Write the reconstruction grid (PNG: rows original / masked / reconstruction per clip, columns the target frames,
    a caption with the mask ratio, the patch statistics used and the loss) and return the pictures.

    Fast enough to call during training on a few held-out clips: one forward pass in eval mode under `no_grad`
    (a ViT-B on one 16x224x224 clip takes about a second on CPU); the model's mode is restored after.

    Args:
        model, video: see [`visualize_reconstruction`] (`video` may be a batch of `pixel_values`).
        path: output file.
        kwargs: `mask_ratio`, `patch_statistics`, `seed`, `video_processor`, `image_mean`, `image_std`.
    """
    frames = visualize_reconstruction(model, video, **kwargs)
    frames.save_grid(path)
    return frames


def save_reconstruction_gif(
    model, video: torch.Tensor | str | Path, path: str | Path, frame_duration_ms: int = 250, **kwargs
) -> ReconstructionFrames:
    """As [`save_reconstruction_grid`], as a looping GIF: one frame per target frame, the three views side by side."""
    frames = visualize_reconstruction(model, video, **kwargs)
    frames.save_gif(path, frame_duration_ms=frame_duration_ms)
    return frames


def load_pretraining_model(name_or_path: str | Path):
    """`AutoModelForPreTraining.from_pretrained` on a local folder or a Hub id, in eval mode."""
    from transformers import AutoModelForPreTraining

    return AutoModelForPreTraining.from_pretrained(str(name_or_path)).eval()


def default_video_processor(model):
    """
    The video processor saved beside the model (its `name_or_path` folder), else the official settings for the
    model's frames and size.

    Raises:
        ImportError: this package has no video processor module to decode video files with.
    """
    from .hub import default_video_processor as official_video_processor

    source = getattr(model.config, "_name_or_path", "")
    if source and (Path(source) / "video_preprocessor_config.json").is_file():
        from .video_processing_mae_st import MAESTVideoProcessor

        return MAESTVideoProcessor.from_pretrained(source)
    processor = official_video_processor(model.config)
    if processor is None:
        raise ImportError("Decoding a video file needs modeling_mae_st.video_processing_mae_st, which is missing.")
    return processor


def decode_video(path: str | Path, video_processor) -> torch.Tensor:
    """Decode and preprocess one video file into `pixel_values` `(1, frames, channels, height, width)`."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"Video {path} does not exist.")
    return video_processor(videos=[str(path)], return_tensors="pt")["pixel_values"]


def _normalization(video_processor, image_mean, image_std, channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    mean = image_mean or getattr(video_processor, "image_mean", None) or DEFAULT_IMAGE_MEAN
    std = image_std or getattr(video_processor, "image_std", None) or DEFAULT_IMAGE_STD
    mean, std = torch.as_tensor(mean, dtype=torch.float32), torch.as_tensor(std, dtype=torch.float32)
    if mean.numel() not in (1, channels) or std.numel() not in (1, channels):
        raise ValueError(f"image_mean {mean.tolist()} / image_std {std.tolist()} do not match {channels} channels.")
    return mean.reshape(-1, 1, 1).expand(channels, 1, 1), std.reshape(-1, 1, 1).expand(channels, 1, 1)


def _to_uint8(frames: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> np.ndarray:
    """`(batch, frames, channels, H, W)` normalized -> `(batch, frames, H, W, 3)` uint8 (grey repeated to RGB)."""
    pixels = (frames.float().cpu() * std + mean).clamp(0, 1)
    if pixels.shape[2] == 1:
        pixels = pixels.expand(-1, -1, 3, -1, -1)
    return (pixels[:, :, :3] * 255).round().to(torch.uint8).permute(0, 1, 3, 4, 2).numpy()


def _scale_for(frames: np.ndarray, scale: int | None) -> int:
    """Upscale small frames (nearest neighbour) so every cell is at least `MIN_CELL_SIZE` pixels high."""
    return scale or max(1, math.ceil(MIN_CELL_SIZE / frames.shape[2]))


def _compose(
    rows: list[list[np.ndarray]], row_labels: list[str], column_labels: list[str], caption: str, scale: int
) -> Image.Image:
    """Lay out `rows` of `(H, W, 3)` cells with labels on the left, column titles on top and the caption above."""
    font = ImageFont.load_default()
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))

    def text_size(text: str) -> tuple[int, int]:
        left, top, right, bottom = measure.textbbox((0, 0), text, font=font)
        return right - left, bottom - top

    cell_h, cell_w = rows[0][0].shape[0] * scale, rows[0][0].shape[1] * scale
    line_h = max(text_size(label)[1] for label in [*row_labels, *column_labels, "Ag"]) + PADDING
    label_w = max(text_size(label)[0] for label in row_labels) + 2 * PADDING
    grid_w = label_w + len(column_labels) * (cell_w + PADDING)
    chars_per_line = max(20, grid_w // max(1, text_size("x")[0]) - 2)
    caption_lines = textwrap.wrap(caption, chars_per_line)
    top = PADDING + len(caption_lines) * line_h + line_h
    width = max(grid_w, max(text_size(line)[0] for line in caption_lines) + 2 * PADDING)
    height = top + len(rows) * (cell_h + PADDING)
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    for i, line in enumerate(caption_lines):
        draw.text((PADDING, PADDING + i * line_h), line, fill="black", font=font)
    for j, label in enumerate(column_labels):
        draw.text((label_w + j * (cell_w + PADDING), top - line_h), label, fill="black", font=font)
    for i, (cells, label) in enumerate(zip(rows, row_labels)):
        y = top + i * (cell_h + PADDING)
        draw.text((PADDING, y + cell_h // 2 - line_h // 2), label, fill="black", font=font)
        for j, cell in enumerate(cells):
            image = Image.fromarray(cell).resize((cell_w, cell_h), Image.Resampling.NEAREST)
            canvas.paste(image, (label_w + j * (cell_w + PADDING), y))
    return canvas


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Reconstruct a masked video with an MAE-ST pretraining checkpoint and save the official demo's "
        "picture (original, masked input, reconstruction) as a GIF and a PNG grid."
    )
    parser.add_argument("video", help="Video file.")
    parser.add_argument("--model", required=True, help="Folder written by save_pretrained, or a Hub id.")
    parser.add_argument("--mask_ratio", type=float, default=0.9, help="Fraction of patches to hide (default 0.9).")
    parser.add_argument(
        "--patch_statistics", choices=["visible", "target"], default="visible",
        help="Where the mean/variance of hidden patches come from with normalized-pixel targets: 'visible' "
        "(default, nearest visible patches) or 'target' (the hidden patches' own, as the official demo; leaks).",
    )
    parser.add_argument("--seed", type=int, default=0, help="Seed of the random mask (default 0).")
    parser.add_argument(
        "--output", default="reconstruction.gif",
        help="GIF to write (default reconstruction.gif); the PNG grid goes beside it with the suffix .png.",
    )
    parser.add_argument("--frame_duration_ms", type=int, default=250, help="GIF frame duration (default 250 ms).")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    frames = visualize_reconstruction(
        args.model, args.video, mask_ratio=args.mask_ratio, patch_statistics=args.patch_statistics, seed=args.seed
    )
    gif = frames.save_gif(Path(args.output).with_suffix(".gif"), frame_duration_ms=args.frame_duration_ms)
    grid = frames.save_grid(Path(args.output).with_suffix(".png"))
    print(f"{frames.caption}\nWrote {gif} and {grid}")


__all__ = [
    "ReconstructionFrames",
    "save_reconstruction_gif",
    "save_reconstruction_grid",
    "visualize_reconstruction",
]


if __name__ == "__main__":
    main()
