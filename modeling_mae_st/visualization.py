"""
Reconstruction pictures of MAE-ST pretraining models, in one place: what the model predicts for the hidden patches,
how good that is, and the official demo's picture (original frames, the masked input and the reconstruction, frame
by frame) as a PNG grid and a GIF, saved or logged to the run's trackers.

    mae-st-visualize demo.avi --model_name_or_path mae-st-vit-b --mask_ratio 0.9 --output reconstruction.gif

or from Python, on a video file or on `pixel_values` straight from a data loader:

    from modeling_mae_st.visualization import save_reconstruction_grid
    save_reconstruction_grid(model, pixel_values, "reconstruction.png")

Every picture's caption gives the model's squared error on the hidden patches, in its own target space, as a
multiple of the error of a trivial predictor that fills every hidden patch with the average of the clip's visible
patches ([`HiddenPatchError`]): 1.0x has learned nothing about where things are, below 1 it has.

With normalized-pixel targets (`norm_pix_loss`, the released models) the model predicts each hidden patch up to its
own mean and variance, which the input does not reveal. The official demos put back the hidden patches' true
statistics; that leaks information about the hidden pixels and makes reconstructions look better than they are. By
default we estimate them from the nearest visible patches instead (`patch_statistics="visible"`); the official way is
`patch_statistics="target"`. The caption of every picture says which one was used.
"""

from __future__ import annotations

import logging
import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont


logger = logging.getLogger(__name__)

ROW_NAMES = ("original", "masked", "reconstruction")
PATCH_STATISTICS = ("visible", "target")
PATCH_STATISTICS_CAPTIONS = {
    "visible": "hidden patches de-normalized with statistics of their nearest visible patches (no peeking)",
    "target": "hidden patches de-normalized with their own true statistics, as the official demo "
    "(leaks information: looks better than it is)",
    "pixels": "pixel targets: no per-patch statistics needed",
}
MIN_CELL_SIZE = 96
PADDING = 4


@dataclass(frozen=True)
class HiddenPatchError:
    """
    How well a pretraining model predicts hidden patches, against a predictor that knows nothing about where things
    are: both are mean squared errors over the hidden patches, in the model's target space (normalized pixels, per
    patch normalized with `norm_pix_loss`), for the same clips and the same masks.

    Args:
        model: the model's error (its loss).
        visible_average: the error of filling every hidden patch with the average of its clip's visible patches.
        num_clips: clips it was measured on.
    """

    model: float
    visible_average: float
    num_clips: int

    @property
    def ratio(self) -> float:
        """`model / visible_average`: 1.0 is the clip's average colour everywhere, 0 a perfect reconstruction; NaN
        when the mask leaves no patch visible (there is no average to compare with)."""
        return self.model / self.visible_average

    def __str__(self) -> str:
        clips = "clip" if self.num_clips == 1 else "clips"
        if math.isnan(self.visible_average):
            return (
                f"hidden-patch error (loss) {self.model:.4f} ({self.num_clips} {clips}); the mask leaves no patch "
                f"visible, so there is no visible average to compare it with"
            )
        return (
            f"hidden-patch error (loss) {self.model:.4f}, {self.ratio:.2f}x the {self.visible_average:.4f} of "
            f"filling each hidden patch with the clip's visible average ({self.num_clips} {clips})"
        )


@torch.no_grad()
def hidden_patch_error(model, pixel_values: torch.Tensor, logits: torch.Tensor, mask: torch.Tensor) -> HiddenPatchError:
    """
    [`HiddenPatchError`] of one forward pass.

    Args:
        model: a `MAESTForPreTraining` (`target_patches` gives its targets).
        pixel_values: `(batch, frames, channels, height, width)`, the clips the model saw.
        logits: its predictions `(batch, num_patches, pixels_per_patch)`.
        mask: `(batch, num_patches)`, 1 = hidden.
    """
    target = model.target_patches(pixel_values).float()  # (batch, num_patches, pixels_per_patch)
    hidden = mask.bool()
    visible = (~hidden).unsqueeze(-1).float()
    visible_average = (target * visible).sum(dim=1, keepdim=True) / visible.sum(dim=1, keepdim=True)
    model_error = ((logits.float() - target) ** 2).mean(dim=-1)[hidden].mean()
    average_error = ((visible_average - target) ** 2).mean(dim=-1)[hidden].mean()
    return HiddenPatchError(model_error.item(), average_error.item(), len(pixel_values))


@torch.no_grad()
def reconstruct(
    model,
    pixel_values: torch.Tensor,
    logits: torch.Tensor,
    mask: torch.Tensor,
    patch_statistics: str = "visible",
    num_neighbours: int = 4,
) -> dict[str, torch.Tensor]:
    """
    What people want to look at: the target frames, the masked input and the reconstruction (visible patches as they
    were, predicted patches in place of the hidden ones), all `(batch, target_frames, channels, H, W)` in the input's
    (normalized) pixel space.

    Args:
        model: a `MAESTForPreTraining`.
        pixel_values: `(batch, frames, channels, height, width)`.
        logits, mask: the model's outputs on `pixel_values`: `(batch, num_patches, pixels_per_patch)` and
            `(batch, num_patches)` (1 = hidden).
        patch_statistics: with `norm_pix_loss` the model predicts each patch normalized by its own mean and variance,
            which a hidden patch does not reveal. `"visible"` (default, honest) takes the mean of the statistics of
            the `num_neighbours` nearest visible patches in the (t, h, w) grid; `"target"` the hidden patch's own,
            as the official demos (leaks information about the hidden pixels). Ignored without `norm_pix_loss`.

    Raises:
        ValueError: unknown `patch_statistics`.
    """
    check_patch_statistics(patch_statistics)
    grid = model.patch_grid(pixel_values)
    raw = model.target_patches(pixel_values, normalize=False).float()  # (batch, num_patches, pixels_per_patch)
    predicted = logits.float()
    if model.config.norm_pix_loss:
        mean = raw.mean(dim=-1, keepdim=True)
        std = (raw.var(dim=-1, keepdim=True) + 1.0e-6) ** 0.5  # as `target_patches`
        if patch_statistics == "visible":
            mean, std = _neighbour_statistics(mean, std, mask, grid, num_neighbours)
        predicted = predicted * std + mean
    keep = (1 - mask.float()).unsqueeze(-1)
    return {
        "original": model.unpatchify(raw, grid),
        "masked": model.unpatchify(raw * keep, grid),
        "reconstruction": model.unpatchify(raw * keep + predicted * (1 - keep), grid),
    }


def check_patch_statistics(patch_statistics: str) -> None:
    """Raise `ValueError` unless `patch_statistics` is one of [`PATCH_STATISTICS`]."""
    if patch_statistics not in PATCH_STATISTICS:
        raise ValueError(f"patch_statistics must be 'visible' or 'target', got {patch_statistics!r}.")


def _neighbour_statistics(
    mean: torch.Tensor, std: torch.Tensor, mask: torch.Tensor, grid: tuple[int, int, int], num_neighbours: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Replace the statistics `(batch, num_patches, 1)` of hidden patches by the average over their nearest visible
    patches in the `(t, h, w)` grid."""
    t, h, w = grid
    coords = torch.stack(
        torch.meshgrid(torch.arange(t), torch.arange(h), torch.arange(w), indexing="ij"), dim=-1
    ).reshape(-1, 3).to(mean.device, torch.float32)
    distance = torch.cdist(coords, coords)  # (num_patches, num_patches)
    new_mean, new_std = mean.clone(), std.clone()
    for b in range(mask.shape[0]):
        visible = (mask[b] == 0).nonzero().squeeze(1)
        hidden = (mask[b] != 0).nonzero().squeeze(1)
        if len(visible) == 0 or len(hidden) == 0:
            continue
        k = min(num_neighbours, len(visible))
        nearest = visible[distance[hidden][:, visible].topk(k, largest=False).indices]  # (num_hidden, k)
        new_mean[b, hidden] = mean[b, nearest].mean(dim=1)
        new_std[b, hidden] = std[b, nearest].mean(dim=1)
    return new_mean, new_std


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
        error: the model's error on the hidden patches (its loss on these clips and this mask) against the
            visible-average predictor's.
    """

    original: np.ndarray
    masked: np.ndarray
    reconstruction: np.ndarray
    frame_indices: list[int]
    mask_ratio: float
    patch_statistics: str
    error: HiddenPatchError

    @property
    def caption(self) -> str:
        return (
            f"mask ratio {self.mask_ratio:.0%}; {PATCH_STATISTICS_CAPTIONS[self.patch_statistics]}; {self.error}"
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

    def log_to_trackers(self, trackers: Sequence, step: int, path: str | Path) -> None:
        """
        Log the grid to Accelerate trackers (`accelerator.trackers`) under `"reconstruction"`: TensorBoard and wandb
        get the image, trackio the file `path` already written by [`save_grid`]; other trackers are skipped.
        """
        image = np.asarray(self.grid())  # (height, width, 3) uint8
        for tracker in trackers:
            if tracker.name == "tensorboard":
                tracker.log_images({"reconstruction": image[None]}, step=step, dataformats="NHWC")
            elif tracker.name == "wandb":
                tracker.log_images({"reconstruction": [image]}, step=step)
            elif tracker.name == "trackio":
                import trackio

                tracker.log({"reconstruction": trackio.Image(str(path))}, step=step)


@torch.no_grad()
def visualize_reconstruction(
    model,
    video: torch.Tensor | str | Path | Sequence[str | Path],
    mask_ratio: float = 0.9,
    patch_statistics: str = "visible",
    seed: int = 0,
    video_processor=None,
    image_mean: Sequence[float] | None = None,
    image_std: Sequence[float] | None = None,
) -> ReconstructionFrames:
    """
    Mask clips at random, reconstruct them and return the pictures with the model's [`HiddenPatchError`].

    Args:
        model: a `MAESTForPreTraining` (ours, converted, or loaded with `trust_remote_code`), or its folder or Hub
            id (see [`load_pretraining_model`]). It is run in eval mode and left in the mode it was in.
        video: video files (one clip each, decoded with `video_processor`), or `pixel_values` as the processor makes
            them, `(batch, frames, channels, height, width)` or one clip `(frames, channels, height, width)`.
        mask_ratio: fraction of spacetime patches to hide.
        patch_statistics: `"visible"` (default) estimates each hidden patch's mean and variance from its nearest
            visible patches; `"target"` uses the hidden patch's own, as the official demos (see the module
            docstring). Ignored without normalized-pixel targets.
        seed: seeds the random mask, so the same call gives the same picture.
        video_processor: decodes video files; default: the one saved with the model (see
            [`hub.saved_video_processor`]), for a model loaded from a folder or Hub id. Its `image_mean` / `image_std`
            undo the normalization.
        image_mean, image_std: per-channel normalization to undo; default the processor's, else the
            `MAESTVideoProcessor` defaults (0.45 / 0.225).

    Raises:
        TypeError: `model` has no decoder (not a pretraining model).
        ValueError: `patch_statistics` is unknown, or `pixel_values` does not have 4 or 5 dimensions.
    """
    check_patch_statistics(patch_statistics)
    if isinstance(model, (str, Path)):
        model = load_pretraining_model(model)
    if not hasattr(model, "decoder"):
        raise TypeError(
            f"{type(model).__name__} cannot reconstruct: visualization needs a pretraining model "
            "(MAESTForPreTraining, with its decoder)."
        )
    if isinstance(video, (str, Path)):
        video = [video]
    if isinstance(video, torch.Tensor):
        pixel_values = video
    else:
        if video_processor is None:
            from .hub import saved_video_processor

            video_processor = saved_video_processor(model.config._name_or_path, model.config)
        pixel_values = torch.cat([decode_video(path, video_processor) for path in video])
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
    num_patches = math.prod(model.patch_grid(pixel_values))
    noise = torch.rand(batch, num_patches, generator=torch.Generator().manual_seed(seed)).to(parameter.device)
    interpolate = (frames, height, width) != (config.num_frames, config.image_size, config.image_size)
    was_training = model.training
    model.eval()
    try:
        outputs = model(pixel_values, noise=noise, mask_ratio=mask_ratio, interpolate_pos_encoding=interpolate)
        pictures = reconstruct(model, pixel_values, outputs.logits, outputs.mask, patch_statistics=patch_statistics)
        error = hidden_patch_error(model, pixel_values, outputs.logits, outputs.mask)
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
        error=error,
    )


def save_reconstruction_grid(
    model, video: torch.Tensor | str | Path | Sequence[str | Path], path: str | Path, **kwargs
) -> ReconstructionFrames:
    """
    Write the reconstruction grid (PNG: rows original / masked / reconstruction per clip, columns the target frames,
    a caption with the mask ratio, the patch statistics used, the loss and the [`HiddenPatchError`]) and return the
    pictures.

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
    model, video: torch.Tensor | str | Path | Sequence[str | Path], path: str | Path, frame_duration_ms: int = 250,
    **kwargs,
) -> ReconstructionFrames:  # fmt: skip
    """As [`save_reconstruction_grid`], as a looping GIF: one frame per target frame, the three views side by side."""
    frames = visualize_reconstruction(model, video, **kwargs)
    frames.save_gif(path, frame_duration_ms=frame_duration_ms)
    return frames


def load_pretraining_model(name_or_path: str | Path, flag: str = "model"):
    """
    `AutoModelForPreTraining.from_pretrained` on a local folder or a Hub id, in eval mode, refusing a model without
    decoder weights (a classifier or an encoder alone), whose reconstructions would come from a random decoder.

    Args:
        flag: how the caller names `name_or_path` in messages (a command's flag, e.g. `--model_name_or_path`).

    Raises:
        UsageError (a `ValueError`): the folder cannot be loaded, or its weights have no decoder.
    """
    from transformers import AutoConfig, AutoModelForPreTraining

    from .command_line import UsageError, load_pretrained

    def no_decoder(what: str) -> UsageError:
        return UsageError(
            f"{flag} {name_or_path}: its weights have no decoder ({what}), so it cannot reconstruct hidden patches; "
            "give a pretraining model (MAESTForPreTraining, as mae-st-pretrain writes it, or mae-st-convert from "
            "a pretraining checkpoint)."
        )

    # The saved architecture tells before any weight is read (and before transformers reports every missing one).
    config = load_pretrained(AutoConfig, str(name_or_path), flag)
    architectures = config.architectures or []
    if architectures and not any(name.endswith("ForPreTraining") for name in architectures):
        raise no_decoder(", ".join(architectures))
    model, loading_info = load_pretrained(
        AutoModelForPreTraining, str(name_or_path), flag, config=config, output_loading_info=True
    )
    missing = [key for key in loading_info["missing_keys"] if key.startswith("decoder.")]
    if missing:
        raise no_decoder(f"{len(missing)} decoder weights missing")
    return model.eval()


def decode_video(path: str | Path, video_processor) -> torch.Tensor:
    """
    Decode and preprocess one video file into `pixel_values` `(1, frames, channels, height, width)`.

    Raises:
        FileNotFoundError: `path` is not a file.
    """
    if not Path(path).is_file():
        raise FileNotFoundError(2, "Video not found", str(path))
    return video_processor(videos=[str(path)], return_tensors="pt")["pixel_values"]


def _normalization(video_processor, image_mean, image_std, channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel `(channels, 1, 1)` mean and std to undo: given, else the processor's, else the processor class's."""
    from .video_processing_mae_st import MAESTVideoProcessor

    mean = image_mean or getattr(video_processor, "image_mean", None) or MAESTVideoProcessor.image_mean
    std = image_std or getattr(video_processor, "image_std", None) or MAESTVideoProcessor.image_std
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


__all__ = [
    "HiddenPatchError",
    "ReconstructionFrames",
    "hidden_patch_error",
    "load_pretraining_model",
    "reconstruct",
    "save_reconstruction_gif",
    "save_reconstruction_grid",
    "visualize_reconstruction",
]
