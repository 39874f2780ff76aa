"""
Sliding-window video features: one vector per window of a video of any length, and their mean for the video.

Each window of `window_seconds` (every `stride_seconds`) is sampled to the processor's `num_frames` evenly spaced
frames, prepared by the video processor and encoded without masking by [`MAESTModel.get_video_features`]: the mean
of the patch tokens, then the encoder's final LayerNorm (the pooling the classifier reads). The video's vector is the
mean of its window vectors.

    from modeling_mae_st import MAESTModel, MAESTVideoProcessor
    from modeling_mae_st.video_features import embed_video

    model = MAESTModel.from_pretrained("path/to/checkpoint")   # pretraining, converted or fine-tuned folder
    processor = MAESTVideoProcessor.from_pretrained("path/to/checkpoint")
    result = embed_video(model, processor, "video.mp4", window_seconds=2.0, stride_seconds=1.0)
    result.video_embedding        # (hidden,)
    result.window_embeddings      # (num_windows, hidden)
    result.window_times           # (num_windows, 2) start and end in seconds

Command: `mae-st-embed VIDEO [VIDEO ...] --model_name_or_path PATH --output embeddings.safetensors`
(`mae_st_commands.embed`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from .hub import check_video_processor_matches
from .video_decoding import VideoSource, open_video, video_name


@dataclass
class VideoEmbedding:
    """
    Attributes:
        video_embedding: `(hidden,)` mean of the window embeddings.
        window_embeddings: `(num_windows, hidden)` one vector per window.
        window_times: `(num_windows, 2)` start and end of each window in seconds.
        window_frames: `(num_windows, num_frames)` the frame indices each window was sampled at.
    """

    video_embedding: torch.Tensor
    window_embeddings: torch.Tensor
    window_times: torch.Tensor
    window_frames: torch.Tensor


def sliding_windows(
    num_video_frames: int, fps: float, num_frames: int, window_seconds: float, stride_seconds: float
) -> tuple[np.ndarray, np.ndarray]:
    """
    Frame indices of the sliding windows over a video.

    Windows start at 0, `stride`, `2 * stride`, ... while they fit in the video; a last window ending at the last
    frame is added when the regular ones leave more than half a stride uncovered. A video shorter than one window
    gives one window over the whole video (frames repeat when it has fewer than `num_frames`).

    Args:
        num_video_frames: frames in the video.
        fps: frames per second.
        num_frames: frames sampled per window (the model's `num_frames`).
        window_seconds: window length in seconds.
        stride_seconds: seconds between window starts.

    Returns:
        `(indices of shape (num_windows, num_frames), times of shape (num_windows, 2) in seconds)`.

    Raises:
        ValueError: for a non-positive window, stride, fps or frame count.
    """
    for name, value in (("window_seconds", window_seconds), ("stride_seconds", stride_seconds), ("fps", fps)):
        if not value > 0:
            raise ValueError(f"`{name}` must be positive, got {value}.")
    if num_video_frames <= 0:
        raise ValueError(f"The video has no frames ({num_video_frames}).")
    window = min(max(1, round(window_seconds * fps)), num_video_frames)  # frames per window
    stride = max(1, round(stride_seconds * fps))
    starts = list(range(0, num_video_frames - window + 1, stride))
    if num_video_frames - (starts[-1] + window) > stride / 2:
        starts.append(num_video_frames - window)
    # num_frames evenly spaced frames inside each window [start, start + window)
    offsets = np.linspace(0, window - 1, num_frames)
    indices = np.stack([np.round(start + offsets).astype(np.int64) for start in starts])
    times = np.array([[start / fps, (start + window) / fps] for start in starts])
    return indices, times


@torch.no_grad()
def embed_video(
    model: torch.nn.Module,
    processor,
    video: VideoSource,
    window_seconds: float | None = None,
    stride_seconds: float | None = None,
    sampling_rate: int = 4,
    batch_size: int = 8,
    backend: str | None = None,
    progress: bool = True,
    interpolate_pos_encoding: bool = False,
) -> VideoEmbedding:
    """
    Embed a video with sliding windows, `batch_size` windows per forward pass.

    Args:
        model: [`MAESTModel`] or [`MAESTForVideoClassification`] (anything with `get_video_features`); run on its
            own device and dtype.
        processor: the model's video processor ([`MAESTVideoProcessor`]), called on a list of
            `(frames, height, width, 3)` uint8 clips with `do_sample_frames=False`; its `num_frames` and
            `crop_size` make the clips, which must be the model's unless `interpolate_pos_encoding`.
        video: file path, bytes or `datasets` video cell.
        window_seconds: window length; defaults to the span of a training clip, `num_frames * sampling_rate /
            target_fps` (the processor's: 30 frames a second, whatever the video's own rate; 2.13 s for 16 x 4).
        stride_seconds: seconds between window starts; defaults to `window_seconds` (no overlap).
        sampling_rate: frame stride of a training clip, used only for the default window (4 in the official
            16x4 recipe).
        batch_size: windows per forward pass.
        backend: decoder, `"decord"`, `"pyav"` or `None` (default).
        progress: show a progress bar over the windows.
        interpolate_pos_encoding: let the model take clips of other frame counts or sizes than it was trained on,
            by interpolating its position embeddings.

    Raises:
        VideoDecodingError: the video cannot be read.
        ValueError: for a non-positive window or stride, or clips the model does not take (see
            [`~modeling_mae_st.hub.check_video_processor_matches`]) without `interpolate_pos_encoding`.
    """
    if not interpolate_pos_encoding:
        check_video_processor_matches(processor, model.config, "pass interpolate_pos_encoding=True to run on them.")
    num_frames = processor.num_frames
    # one clip per window: the window's own frames, center-cropped
    processor = processor.with_settings(mode="eval", num_temporal_views=1, num_spatial_crops=1)
    parameter = next(model.parameters())
    was_training = model.training
    model.eval()
    with open_video(video, backend) as reader:
        info = reader.info
        if window_seconds is None:
            # (the video's own fps made a 60 fps video's windows half a training clip, a 1 fps one's 64 s)
            window_seconds = num_frames * sampling_rate / processor.target_fps
        if stride_seconds is None:
            stride_seconds = window_seconds
        indices, times = sliding_windows(info.num_frames, info.fps, num_frames, window_seconds, stride_seconds)
        embeddings = []
        bar = tqdm(total=len(indices), desc=f"embedding {video_name(video)}", unit="window", disable=not progress)
        for start in range(0, len(indices), batch_size):
            batch_indices = indices[start : start + batch_size]  # (windows, num_frames)
            flat = reader.get_frames(batch_indices.reshape(-1))  # (windows * num_frames, height, width, 3)
            clips = list(flat.reshape(len(batch_indices), num_frames, *flat.shape[1:]))
            pixel_values = processor(clips, do_sample_frames=False, return_tensors="pt")["pixel_values"]
            # (windows, num_frames, channels, height, width)
            features = model.get_video_features(
                pixel_values.to(parameter.device, parameter.dtype), interpolate_pos_encoding=interpolate_pos_encoding
            ).pooler_output
            embeddings.append(features.float().cpu())
            bar.update(len(batch_indices))
        bar.close()
    model.train(was_training)
    window_embeddings = torch.cat(embeddings)  # (num_windows, hidden)
    return VideoEmbedding(
        video_embedding=window_embeddings.mean(dim=0),
        window_embeddings=window_embeddings,
        window_times=torch.from_numpy(times).float(),
        window_frames=torch.from_numpy(indices),
    )


def save_embeddings(results: dict[str, VideoEmbedding], path: str | Path) -> Path:
    """
    Save embeddings keyed `"{i}/video_embedding"`, `"{i}/window_embeddings"`, `"{i}/window_times"` for the i-th video,
    with the file names in `"{i}/name"` (`.npz`, `.pt`) or the safetensors metadata.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors, names = {}, {}
    for i, (name, result) in enumerate(results.items()):
        names[str(i)] = name
        tensors[f"{i}/video_embedding"] = result.video_embedding.contiguous()
        tensors[f"{i}/window_embeddings"] = result.window_embeddings.contiguous()
        tensors[f"{i}/window_times"] = result.window_times.contiguous()
    if path.suffix == ".safetensors":
        from safetensors.torch import save_file

        from .hub import give_usual_permissions

        save_file(tensors, str(path), metadata=names)
        give_usual_permissions(path)  # (safetensors leaves it readable by its owner only, unlike .npz and .pt)
    elif path.suffix == ".npz":
        np.savez(path, **{k: v.numpy() for k, v in tensors.items()}, **{f"{i}/name": n for i, n in names.items()})
    elif path.suffix == ".pt":
        torch.save({**tensors, **{f"{i}/name": n for i, n in names.items()}}, path)
    else:
        raise ValueError(f"Unknown output format {path.suffix!r} for {path}; use .safetensors, .pt or .npz.")
    return path
