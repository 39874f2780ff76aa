"""
Video processor for MAE-ST: from a video file (or decoded frames) to `pixel_values`.

[`MAESTVideoProcessor`] decodes only the frames its clips need (see `video_decoding.py`), samples clips and augments
them as the official Kinetics loader does (see `video_transforms.py`), and returns
`pixel_values` of shape `(batch, num_frames, channels, height, width)`, or
`(batch, num_clips, num_frames, channels, height, width)` when each video gives several clips (`repeat_aug > 1` in
training, several views in evaluation).

For training at speed, `return_uint8=True` leaves the clips as uint8 (cropped and flipped, 4x smaller than floats
through the DataLoader) and [`MAESTVideoProcessor.normalize_pixel_values`] finishes a batch on the accelerator,
with the same arithmetic as the float output. Random erasing, which fills boxes with normalized values, is then
drawn with the clip and applied there too (`process_video(..., return_erasing=True)`).
"""

# (No `from __future__ import annotations`: the settings' TypedDict must hold types, not strings, for
# `validate_typed_dict` to check them; with it every wrong-typed setting was taken.)
import copy
import os
import random
from collections.abc import Mapping, Sequence
from typing import Any, TypedDict, Unpack

import numpy as np
import PIL.Image
import torch
from huggingface_hub.dataclasses import validate_typed_dict
from transformers.image_processing_utils import BatchFeature
from transformers.models.auto.video_processing_auto import AutoVideoProcessor
from transformers.video_processing_utils import BaseVideoProcessor

from .configuration_mae_st import MAESTConfig
from .video_decoding import BACKENDS, VideoDecodingError, VideoInfo, decode_distinct_frames
from .video_transforms import (
    RANDOM_ERASING_MODES,
    RandAugment,
    RandomErasingDraw,
    apply_random_erasing,
    draw_random_erasing,
    horizontal_flip,
    normalize,
    random_crop,
    random_resized_crop,
    random_resized_crop_box,
    random_short_side_scale_jitter,
    resize,
    resize_short_side,
    sample_clip_indices,
    uniform_crop,
)


MODES = ("train", "eval")

Number = int | float


class MAESTVideoProcessorKwargs(TypedDict, total=False):
    """Settings of [`MAESTVideoProcessor`], each also accepted as a call-time override."""

    mode: str
    num_frames: int
    sampling_rate: int
    target_fps: Number
    repeat_aug: int
    repeat_aug_shared_window: bool
    num_temporal_views: int
    num_spatial_crops: int
    crop_size: int
    short_side_size: int
    do_random_resized_crop: bool
    jitter_scales_relative: list[Number] | tuple[Number, ...]
    jitter_aspect_relative: list[Number] | tuple[Number, ...]
    train_jitter_scales: list[int] | tuple[int, ...]
    do_horizontal_flip: bool
    do_rand_augment: bool
    rand_augment_policy: str
    do_random_erasing: bool
    random_erasing_prob: Number
    random_erasing_mode: str
    random_erasing_count: int
    do_normalize: bool
    return_uint8: bool
    image_mean: list[Number] | tuple[Number, ...]
    image_std: list[Number] | tuple[Number, ...]
    do_sample_frames: bool
    decoding_backend: str | None


_TUPLE_SETTINGS = (
    "jitter_scales_relative",
    "jitter_aspect_relative",
    "train_jitter_scales",
    "image_mean",
    "image_std",
)


class MAESTVideoProcessor(BaseVideoProcessor):
    r"""
    Turns videos into MAE-ST `pixel_values`, with the clip sampling and augmentation of the official Kinetics loader
    (facebookresearch/mae_st `util/kinetics.py`). Defaults are the official values; `mode="eval"` with one view is
    the default so that a plain call gives one deterministic clip per video.

    Args:
        mode (`str`, defaults to `"eval"`): `"train"` (random windows and augmentation) or `"eval"`
            (evenly spaced windows, fixed crops).
        num_frames (`int`, defaults to 16): frames per clip.
        sampling_rate (`int`, defaults to 4): stride between clip frames, in frames at `target_fps`; a clip spans
            `num_frames * sampling_rate / target_fps` seconds.
        target_fps (`int` or `float`, defaults to 30): frame rate the stride refers to; the window is scaled by
            each video's own fps.
        repeat_aug (`int`, defaults to 1): training clips per video, each with its own spatial augmentation, all
            from one decode of the video. The official pretraining uses 4, the official fine-tuning 2.
        repeat_aug_shared_window (`bool`, defaults to `False`): the `repeat_aug` clips share one random time window
            (the official fine-tuning: mae_st decodes one window per sample, PySlowFast clones one decoded clip per
            `NUM_SAMPLE` copy) instead of drawing a window each (`False`, the official pretraining,
            `TRAIN_CROP_NUM_TEMPORAL: 4`).
        num_temporal_views (`int`, defaults to 1): evaluation windows per video, evenly spaced. The official test
            script uses 10 (the paper reports 7).
        num_spatial_crops (`int`, defaults to 1): evaluation crops per window: 1 (center crop of frames resized to
            `short_side_size`) or 3 (left/center/right, or top/center/bottom for portrait, of frames resized to
            `crop_size`). The official test script uses 3.
        crop_size (`int`, defaults to 224): height and width of the output frames.
        short_side_size (`int`, defaults to 256): short side, in pixels, of the frames that training crops and the
            single evaluation crop are taken from (official `train_jitter_scales[0]`, applied while decoding).
        do_random_resized_crop (`bool`, defaults to `True`): training crop is a random resized crop with relative
            area in `jitter_scales_relative` and aspect ratio in `jitter_aspect_relative`; if `False`, the short
            side is drawn from `train_jitter_scales` and a random `crop_size` crop is taken.
        jitter_scales_relative (`tuple[float, float]`, defaults to `(0.5, 1.0)`): area range of the random resized
            crop, relative to the frame.
        jitter_aspect_relative (`tuple[float, float]`, defaults to `(0.75, 1.3333)`): aspect-ratio range of the
            random resized crop.
        train_jitter_scales (`tuple[int, int]`, defaults to `(256, 320)`): short-side range of the scale jitter used
            when `do_random_resized_crop=False`.
        do_horizontal_flip (`bool`, defaults to `True`): mirror training clips with probability 0.5.
        do_rand_augment (`bool`, defaults to `False`): RandAugment training clips (official fine-tuning option).
        rand_augment_policy (`str`, defaults to `"rand-m7-mstd0.5-inc1"`): the RandAugment policy of the official
            fine-tuning recipe (2 operations per clip; the official `Kinetics` constructor's own default is n4).
        do_random_erasing (`bool`, defaults to `False`): random erasing of training clips (official fine-tuning
            option, used with RandAugment).
        random_erasing_prob (`float`, defaults to 0.25), random_erasing_mode (`str`, defaults to `"pixel"`),
            random_erasing_count (`int`, defaults to 1): probability, fill mode and maximum number of erased boxes.
        do_normalize (`bool`, defaults to `True`): output `(x / 255 - image_mean) / image_std`; otherwise `x / 255`.
        return_uint8 (`bool`, defaults to `False`): output the uint8 clips before that step;
            [`normalize_pixel_values`] finishes them, for example on the accelerator after the DataLoader. With
            random erasing, which fills boxes with normalized values, the erasing is drawn with each clip and
            applied by `normalize_pixel_values` too: get the draws from [`process_video`] with `return_erasing=True`
            (a DataLoader of [`build_video_dataloader`] carries them in each batch's `random_erasing`).
        image_mean (`tuple[float, ...]`, defaults to `(0.45, 0.45, 0.45)`), image_std (`tuple[float, ...]`,
            defaults to `(0.225, 0.225, 0.225)`): per-channel normalization.
        do_sample_frames (`bool`, defaults to `True`): sample clips from decoded-frame inputs too; with `False`, all
            given frames form the clip. Video files are always sampled (whole videos are never decoded).
        decoding_backend (`str`, *optional*): `"decord"` (falls back to PyAV on failure) or `"pyav"`; by default
            PyAV ([`video_decoding.default_backend`]).

    Output clips per video: `repeat_aug` in training, `num_temporal_views * num_spatial_crops` in evaluation
    (ordered window-major: view `v` is window `v // num_spatial_crops`, crop `v % num_spatial_crops`).
    """

    model_input_names = ["pixel_values"]
    valid_kwargs = MAESTVideoProcessorKwargs

    mode = "eval"
    num_frames = 16
    sampling_rate = 4
    target_fps = 30
    repeat_aug = 1
    repeat_aug_shared_window = False
    num_temporal_views = 1
    num_spatial_crops = 1
    crop_size = 224
    short_side_size = 256
    do_random_resized_crop = True
    jitter_scales_relative = (0.5, 1.0)
    jitter_aspect_relative = (0.75, 1.3333)
    train_jitter_scales = (256, 320)
    do_horizontal_flip = True
    do_rand_augment = False
    rand_augment_policy = "rand-m7-mstd0.5-inc1"
    do_random_erasing = False
    random_erasing_prob = 0.25
    random_erasing_mode = "pixel"
    random_erasing_count = 1
    do_normalize = True
    return_uint8 = False
    image_mean = (0.45, 0.45, 0.45)
    image_std = (0.225, 0.225, 0.225)
    do_sample_frames = True
    decoding_backend = None

    def __init__(self, **kwargs: Unpack[MAESTVideoProcessorKwargs]) -> None:
        kwargs = self._checked_settings(kwargs, known_only=True)  # (a saved file also holds the class's own keys)
        super().__init__(**kwargs)
        self._check_settings()

    def _checked_settings(self, settings: dict[str, Any], known_only: bool = False) -> dict[str, Any]:
        """
        `settings` with their types checked (as `with_settings` and a call's overrides always were; the constructor
        took `num_frames="8"` and failed later on a comparison) and `crop_size` as transformers' size dict, `{"height":
        h, "width": h}`, turned into the square side. `known_only`: leave other keys unchecked.

        Raises:
            ValueError: a non-square size dict. huggingface_hub's `StrictDataclassFieldValidationError`: a value of
                the wrong type.
        """
        crop_size = settings.get("crop_size")
        if isinstance(crop_size, dict):
            if set(crop_size) != {"height", "width"} or crop_size["height"] != crop_size["width"]:
                raise ValueError(
                    f"crop_size must be one side of MAE-ST's square clips (an int, or {{'height': h, 'width': h}}), "
                    f"got {crop_size}."
                )
            settings = {**settings, "crop_size": crop_size["height"]}
        known = self.valid_kwargs.__annotations__
        validate_typed_dict(self.valid_kwargs, {k: v for k, v in settings.items() if k in known or not known_only})
        return settings

    def _standardize_kwargs(self, **kwargs: Any) -> dict[str, Any]:
        # MAE-ST crops are square: `crop_size` stays an int (the base class would turn it into a size dict).
        for name in _TUPLE_SETTINGS:
            if kwargs.get(name) is not None:
                kwargs[name] = tuple(kwargs[name])
        return kwargs

    def _check_settings(self) -> None:
        """Raise `ValueError` naming the first invalid setting."""
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}.")
        for name in ("num_frames", "sampling_rate", "target_fps", "repeat_aug", "num_temporal_views", "crop_size"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}.")
        if self.num_spatial_crops not in (1, 3):
            raise ValueError(f"num_spatial_crops must be 1 or 3, got {self.num_spatial_crops}.")
        if self.short_side_size < self.crop_size:
            raise ValueError(
                f"short_side_size ({self.short_side_size}) must be at least crop_size ({self.crop_size})."
            )
        if min(self.train_jitter_scales) < self.crop_size:
            raise ValueError(
                f"train_jitter_scales {self.train_jitter_scales} must not go below crop_size ({self.crop_size})."
            )
        if self.decoding_backend is not None and self.decoding_backend not in BACKENDS:
            raise ValueError(f"decoding_backend must be one of {BACKENDS} or None, got {self.decoding_backend!r}.")
        if not 0.0 <= self.random_erasing_prob <= 1.0:
            raise ValueError(f"random_erasing_prob must be in [0, 1], got {self.random_erasing_prob}.")
        if self.random_erasing_mode not in RANDOM_ERASING_MODES:
            raise ValueError(
                f"random_erasing_mode must be one of {RANDOM_ERASING_MODES}, got {self.random_erasing_mode!r}."
            )
        if self.do_rand_augment:
            RandAugment.from_policy(self.rand_augment_policy)

    @property
    def defers_random_erasing(self) -> bool:
        """Whether training clips come out uint8 and unerased, their random erasing left to
        [`normalize_pixel_values`] (`return_uint8` with `do_random_erasing`)."""
        return self.return_uint8 and self.mode == "train" and self.do_random_erasing

    @classmethod
    def sizes_for_crop(cls, crop_size: int) -> dict[str, Any]:
        """
        `crop_size` and the short sides that go with it: the official 256-pixel short side and 256-320 scale jitter
        for 224-pixel crops, scaled in proportion (rounded). The one place of this rule; pass the result as settings.
        """
        scale = crop_size / cls.crop_size
        return {
            "crop_size": crop_size,
            "short_side_size": round(cls.short_side_size * scale),
            "train_jitter_scales": tuple(round(side * scale) for side in cls.train_jitter_scales),
        }

    @property
    def num_clips(self) -> int:
        """Clips per video: `repeat_aug` in training, `num_temporal_views * num_spatial_crops` in evaluation."""
        return self.repeat_aug if self.mode == "train" else self.num_temporal_views * self.num_spatial_crops

    def with_settings(self, **overrides: Any) -> "MAESTVideoProcessor":
        """
        A copy with some settings changed (for example `mode="train", repeat_aug=4`).

        Raises:
            ValueError: an unknown setting or an invalid value. huggingface_hub's
                `StrictDataclassFieldValidationError`: a value of the wrong type.
        """
        unknown = sorted(set(overrides) - set(self.valid_kwargs.__annotations__))
        if unknown:
            raise ValueError(
                f"Unknown MAESTVideoProcessor setting(s) {unknown}; expected some of "
                f"{sorted(self.valid_kwargs.__annotations__)}."
            )
        overrides = self._checked_settings(overrides)
        processor = copy.copy(self)
        for name, value in self._standardize_kwargs(**overrides).items():
            setattr(processor, name, value)
        processor._check_settings()
        return processor

    def preprocess(
        self,
        videos: Any,
        seed: int | None = None,
        return_tensors: str | None = None,
        **kwargs: Unpack[MAESTVideoProcessorKwargs],
    ) -> BatchFeature:
        """
        Process a batch of videos.

        Args:
            videos: one video or a list of videos. A video is a file path, the encoded file's bytes, a `datasets`
                video cell (`{"path": ..., "bytes": ...}`), or decoded uint8 RGB frames: an array or tensor of shape
                `(frames, height, width, channels)` or `(frames, channels, height, width)`, or a list of PIL images
                or of `(height, width, channels)` arrays. A 5-D array is a batch of decoded videos.
            seed: seed of the call's random choices (windows, crops, flips, RandAugment, erasing); by default they
                are drawn from torch's global generator, so `torch.manual_seed` also makes them reproducible.
            return_tensors: `"pt"` (default behaviour: torch tensors) or `"np"`.
            kwargs: any setting of the processor, for this call only (the video-classification pipeline passes
                `num_frames` and `do_sample_frames`).

        Returns:
            [`BatchFeature`] with `pixel_values`, float32 (uint8 with `return_uint8`), shape
            `(batch, num_frames, 3, crop_size, crop_size)`, or `(batch, num_clips, num_frames, 3, crop_size, crop_size)`
            when [`num_clips`] > 1.

        Raises:
            VideoDecodingError: a video file cannot be decoded (the message names it and says why).
            ValueError, TypeError: invalid settings or inputs.
        """
        processor = self.with_settings(**kwargs) if kwargs else self
        if processor.defers_random_erasing:
            raise ValueError(
                "return_uint8=True with do_random_erasing=True leaves each clip's erasing to normalize_pixel_values, "
                "which this call cannot hand over: use process_video(video, return_erasing=True), or "
                "build_video_dataloader, whose batches carry it as `random_erasing`."
            )
        rng = random.Random(seed) if seed is not None else None
        clips = [processor.process_video(video, rng=rng) for video in make_video_list(videos)]
        lengths = sorted({clip.shape[1] for clip in clips})
        if len(lengths) > 1:  # only frames given with do_sample_frames=False: torch.stack's error said nothing of it
            raise ValueError(
                f"With do_sample_frames=False each video's frames are its clip, and these videos have {lengths} "
                "frames: give videos of one length, or leave do_sample_frames on to sample num_frames from each."
            )
        pixel_values = torch.stack(clips)  # (batch, num_clips, num_frames, channels, height, width)
        if processor.num_clips == 1:
            pixel_values = pixel_values.squeeze(1)
        return BatchFeature(data={"pixel_values": pixel_values}, tensor_type=return_tensors)

    def process_video(
        self, video: Any, rng: random.Random | None = None, return_erasing: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, list[RandomErasingDraw | None]]:
        """
        All clips of one video (see [`preprocess`] for the accepted inputs).

        The video is decoded once for all its windows, each distinct frame resized once to the short side the crops
        are taken from; then each clip is cropped (and augmented) from those frames.

        Args:
            video: one video.
            rng: source of the random choices; by default seeded from torch's global generator.
            return_erasing: also return each clip's random erasing still to apply: all of it for uint8 clips
                ([`defers_random_erasing`]), to pass to [`normalize_pixel_values`]; none for float clips, which
                come out erased. Needed when the erasing is deferred.

        Returns:
            float32 tensor of shape `(num_clips, num_frames, 3, crop_size, crop_size)`; uint8 with `return_uint8`.
            With `return_erasing`, `(clips, erasing)`: `erasing` holds one draw per clip, `None` where nothing
            is left to erase.

        Raises:
            VideoDecodingError: the video file cannot be decoded, or `video` is `None` (a sample without a video).
            ValueError: the erasing is deferred and `return_erasing` is not set (it would be lost).
        """
        if self.defers_random_erasing and not return_erasing:
            raise ValueError(
                "This processor leaves random erasing to normalize_pixel_values (return_uint8 with "
                "do_random_erasing): call process_video with return_erasing=True and pass the draws on."
            )
        rng = rng if rng is not None else random.Random(int(torch.randint(2**62, ()).item()))
        distinct, inverse = self._sample_frames(video, rng)  # (num_distinct, H, W, 3) uint8, (num_windows, num_frames)
        frames = torch.from_numpy(distinct).permute(0, 3, 1, 2)  # (num_distinct, 3, H, W), channels-last memory
        short_side = self._short_side_before_crop()
        if short_side is not None:
            # This step stands for the official decoder's own scaling (`max_spatial_scale`, done by FFmpeg before
            # any transform), so it low-pass filters; the crops' resizes after it are the official transforms'
            # plain bilinear `interpolate`, as in `video_transforms`.
            frames = resize_short_side(frames, short_side, antialias=True)
        frames = frames.permute(0, 2, 3, 1)  # (num_distinct, H', W', 3), contiguous: a gather copies whole pixels
        windows = torch.from_numpy(inverse)  # (num_windows, num_frames) positions in `frames`
        if self.mode == "eval":
            views = (frames.index_select(0, window).permute(0, 3, 1, 2) for window in windows)  # (T, 3, H, W) each
            clips = [clip for view in views for clip in self._crop_eval(view)]
            erasing = [None] * len(clips)
        else:
            clips, erasing = zip(*(self._augment_train(frames, window, rng) for window in windows))
            erasing = list(erasing)
        clips = torch.stack(clips)  # (num_clips, num_frames, 3, crop_size, crop_size) uint8
        if not self.return_uint8:
            clips, erasing = self.normalize_pixel_values(clips, random_erasing=erasing), [None] * len(clips)
        return (clips, erasing) if return_erasing else clips

    def normalize_pixel_values(
        self, pixel_values: torch.Tensor, random_erasing: Sequence[RandomErasingDraw | None] | None = None
    ) -> torch.Tensor:
        """
        Finish uint8 clips as this processor's float output: `(x / 255 - image_mean) / image_std` (`x / 255`
        without `do_normalize`), on the clips' own device, then erase `random_erasing`'s boxes. A processor with
        `return_uint8` returns its clips before this step: call this on each batch once it is on the accelerator.
        Floating-point input (a batch that is already finished) is returned as it is, so a training loop can call
        it on every batch.

        Args:
            pixel_values: uint8 `(..., 3, height, width)`, e.g. `(batch, num_frames, 3, height, width)`.
            random_erasing: with clips `(num_clips, num_frames, 3, height, width)`, one draw per clip (`None`: none),
                as [`process_video`] returns them with `return_erasing=True`. The fill is drawn on the CPU from
                each draw's seed, so a clip is erased alike on every device.

        Returns:
            float32 tensor of the same shape, on the same device.
        """
        if pixel_values.is_floating_point():
            return pixel_values
        if random_erasing is not None and len(random_erasing) != len(pixel_values):
            raise ValueError(
                f"random_erasing holds {len(random_erasing)} draws for {len(pixel_values)} clips: one per clip."
            )
        if self.do_normalize:
            pixel_values = normalize(pixel_values, self.image_mean, self.image_std)
        else:
            pixel_values = normalize(pixel_values, None, None)
        for clip, draw in zip(pixel_values, random_erasing or ()):
            apply_random_erasing(clip, draw)
        return pixel_values

    def _short_side_before_crop(self) -> int | None:
        """Short side all frames are resized to before cropping, or `None` when each clip draws its own."""
        if self.mode == "train":
            return self.short_side_size if self.do_random_resized_crop else None
        return self.short_side_size if self.num_spatial_crops == 1 else self.crop_size

    def _window_indices(self, info: VideoInfo, rng: random.Random) -> np.ndarray:
        """Frame indices of every window, shape `(num_windows, num_frames)`."""
        if self.mode == "train":
            num_draws = 1 if self.repeat_aug_shared_window else self.repeat_aug
            views = [None] * num_draws
        else:
            views = list(range(self.num_temporal_views))
        windows = np.stack(
            [
                sample_clip_indices(
                    info.num_frames,
                    info.fps,
                    num_frames=self.num_frames,
                    sampling_rate=self.sampling_rate,
                    target_fps=self.target_fps,
                    view_index=view,
                    num_temporal_views=self.num_temporal_views,
                    rng=rng,
                )
                for view in views
            ]
        )
        if self.mode == "train" and self.repeat_aug_shared_window:
            windows = np.repeat(windows, self.repeat_aug, axis=0)
        return windows

    def _sample_frames(self, video: Any, rng: random.Random) -> tuple[np.ndarray, np.ndarray]:
        """
        The distinct uint8 frames `(num_distinct, height, width, 3)` of every window of `video`, and where each
        window's frames are among them, `(num_windows, num_frames)`.
        """
        if video is None:  # a dataset's sample without a video (a WebDataset sample with no video member)
            raise VideoDecodingError("<no video>", "the sample holds no video")
        if _is_encoded_video(video):
            if not self.do_sample_frames:
                raise ValueError(
                    "do_sample_frames=False applies to decoded frames only: video files are always sampled, never "
                    f"decoded whole (got {video if isinstance(video, (str, os.PathLike)) else type(video)})."
                )
            # A decord failure falls back to PyAV, which asks for the windows again: draw them from the same state,
            # so that the same seed gives the same clip whichever decoder read the video.
            state = rng.getstate()

            def window_indices(info: VideoInfo) -> np.ndarray:
                rng.setstate(state)
                return self._window_indices(info, rng)

            frames, inverse, _ = decode_distinct_frames(video, window_indices, backend=self.decoding_backend)
            return frames, inverse
        frames = frames_to_array(video)  # (frames, height, width, 3)
        num_windows = self.repeat_aug if self.mode == "train" else self.num_temporal_views
        if not self.do_sample_frames:
            return frames, np.tile(np.arange(len(frames)), (num_windows, 1))
        # Decoded frames carry no frame rate: they are taken to be at `target_fps`.
        info = VideoInfo(num_frames=len(frames), fps=float(self.target_fps), backend="frames")
        unique, inverse = np.unique(self._window_indices(info, rng), return_inverse=True)
        return frames[unique], inverse

    def _augment_train(
        self, frames: torch.Tensor, positions: torch.Tensor, rng: random.Random
    ) -> tuple[torch.Tensor, RandomErasingDraw | None]:
        """
        One training clip, uint8 `(num_frames, 3, crop_size, crop_size)`, randomly augmented, and its random erasing
        (applied once it is normalized).

        Args:
            frames: the video's distinct frames, uint8 `(num_distinct, H, W, 3)`.
            positions: the clip's frames among them, `(num_frames,)`.
        """
        if self.do_random_resized_crop and not self.do_rand_augment:
            # The box depends on the frame size alone: cut it out while gathering the clip's frames, copying the box
            # only (the draws and pixels of `random_resized_crop`).
            top, left, height, width = random_resized_crop_box(
                *frames.shape[1:3], self.jitter_scales_relative, self.jitter_aspect_relative, rng
            )
            # index_select copies whole rows (here and below); indexing with a tensor copies byte by byte (15x slower)
            box = frames[:, top : top + height, left : left + width].index_select(0, positions).permute(0, 3, 1, 2)
            clip = resize(box, self.crop_size, self.crop_size)
        else:
            clip = frames.index_select(0, positions).permute(0, 3, 1, 2)  # (num_frames, 3, H, W)
            if not self.do_random_resized_crop:
                clip = random_short_side_scale_jitter(clip, *self.train_jitter_scales, rng)
            if self.do_rand_augment:
                clip = RandAugment.from_policy(self.rand_augment_policy)(clip, rng)
            if self.do_random_resized_crop:
                clip = random_resized_crop(
                    clip, self.crop_size, self.jitter_scales_relative, self.jitter_aspect_relative, rng
                )
            else:
                clip = random_crop(clip, self.crop_size, rng)
        if self.do_horizontal_flip:
            clip = horizontal_flip(clip, 0.5, rng)
        erasing = None
        if self.do_random_erasing:
            erasing = draw_random_erasing(
                self.crop_size,
                self.crop_size,
                self.random_erasing_prob,
                rng,
                mode=self.random_erasing_mode,
                max_count=self.random_erasing_count,
            )
        return clip, erasing

    def _crop_eval(self, frames: torch.Tensor) -> list[torch.Tensor]:
        """uint8 `(num_frames, 3, H, W)`, resized -> `num_spatial_crops` uint8 `(num_frames, 3, crop_size, crop_size)`
        crops."""
        spatial_indices = [1] if self.num_spatial_crops == 1 else [0, 1, 2]
        return [uniform_crop(frames, self.crop_size, index) for index in spatial_indices]


def _is_encoded_video(video: Any) -> bool:
    return isinstance(video, (str, os.PathLike, bytes, bytearray, Mapping))


def make_video_list(videos: Any) -> list[Any]:
    """
    Split the `videos` argument of [`MAESTVideoProcessor.preprocess`] into a list of single videos.

    Raises:
        ValueError: an empty list or an array of the wrong number of dimensions.
        TypeError: an input type that is not a video.
    """
    if _is_encoded_video(videos):
        return [videos]
    if isinstance(videos, (np.ndarray, torch.Tensor)):
        if videos.ndim == 4:
            return [videos]
        if videos.ndim == 5:
            return list(videos)
        raise ValueError(
            f"A video array must have 4 dimensions (frames, height, width, channels) or 5 for a batch; got shape "
            f"{tuple(videos.shape)}."
        )
    if isinstance(videos, (list, tuple)):
        if len(videos) == 0:
            raise ValueError("No videos given (empty list).")
        first = videos[0]
        if isinstance(first, PIL.Image.Image) or (isinstance(first, (np.ndarray, torch.Tensor)) and first.ndim == 3):
            return [videos]  # the frames of one video
        return list(videos)
    raise TypeError(
        f"Cannot read a video from {type(videos).__name__}; expected a path, bytes, a datasets video cell, frames "
        "as an array, tensor or list of PIL images, or a list of those."
    )


def frames_to_array(video: Any) -> np.ndarray:
    """
    Decoded frames as a uint8 array of shape `(frames, height, width, 3)`.

    Accepts `(frames, height, width, channels)` or `(frames, channels, height, width)` arrays and tensors and lists
    of PIL images or `(height, width, channels)` arrays, with 1 (grey), 3 (RGB) or 4 (RGBA, alpha dropped) channels.

    Raises:
        TypeError: the frames are not uint8 (float frames are ambiguous between [0, 1] and [0, 255]).
        ValueError: the shape is not that of a video.
    """
    if isinstance(video, (list, tuple)):
        if not video:
            raise ValueError("A video given as a list of frames needs at least one frame.")
        frames = [np.asarray(frame.convert("RGB")) if isinstance(frame, PIL.Image.Image) else frame for frame in video]
        video = np.stack([frame.numpy() if isinstance(frame, torch.Tensor) else frame for frame in frames])
    elif isinstance(video, torch.Tensor):
        video = video.numpy(force=True)
    if video.dtype != np.uint8:
        raise TypeError(
            f"Decoded frames must be uint8 RGB values in [0, 255], got dtype {video.dtype}; convert with "
            "(frames * 255).round().astype(np.uint8) if they are floats in [0, 1]."
        )
    if video.ndim != 4 or (video.shape[-1] not in (1, 3, 4) and video.shape[1] not in (1, 3, 4)):
        raise ValueError(
            f"Decoded frames must have shape (frames, height, width, channels) or (frames, channels, height, width) "
            f"with 1, 3 or 4 channels; got {video.shape}."
        )
    if video.shape[-1] not in (1, 3, 4):
        video = video.transpose(0, 2, 3, 1)
    if video.shape[-1] == 1:
        video = np.repeat(video, 3, axis=-1)
    return np.ascontiguousarray(video[..., :3])


AutoVideoProcessor.register(MAESTConfig, video_processor_class=MAESTVideoProcessor, exist_ok=True)

__all__ = ["MAESTVideoProcessor", "MAESTVideoProcessorKwargs", "frames_to_array", "make_video_list"]
