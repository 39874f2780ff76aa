"""MAESTVideoProcessor: shapes, normalization, modes, inputs, determinism, save/load, Auto class and pipeline."""

import random

import numpy as np
import PIL.Image
import pytest
import torch
from transformers import pipeline
from transformers.models.auto.video_processing_auto import AutoVideoProcessor

from modeling_mae_st import MAESTConfig, MAESTForVideoClassification
from modeling_mae_st.synthetic import render_motion_video, write_video
from modeling_mae_st.video_decoding import VideoDecodingError
from modeling_mae_st.video_processing_mae_st import MAESTVideoProcessor
from modeling_mae_st.video_transforms import (
    RandAugment,
    horizontal_flip,
    random_resized_crop,
    resize_short_side,
    sample_clip_indices,
)


ACCELERATOR = "cuda" if torch.cuda.is_available() else "cpu"


@pytest.mark.parametrize("backend", ["decord", "pyav"])
def test_default_processor_gives_one_16x3x224x224_clip_per_video(demo_video, backend):
    processor = MAESTVideoProcessor(decoding_backend=backend)
    pixel_values = processor(videos=[str(demo_video)], return_tensors="pt")["pixel_values"]
    assert pixel_values.shape == (1, 16, 3, 224, 224)
    assert pixel_values.dtype == torch.float32
    # Normalized with mean 0.45 and std 0.225: values span about [-2, 2.4].
    assert -2.01 <= pixel_values.min() < -1 and 1 < pixel_values.max() <= 2.45


def test_both_backends_give_the_same_eval_clip(codec_videos, small_processor):
    path = codec_videos["h264_64x48.mp4"]
    clips = [small_processor(path, decoding_backend=backend)["pixel_values"] for backend in ("decord", "pyav")]
    torch.testing.assert_close(clips[0], clips[1], rtol=0, atol=0)


def test_normalization_uses_mean_045_std_0225():
    frames = np.full((8, 48, 64, 3), 200, dtype=np.uint8)
    processor = MAESTVideoProcessor(num_frames=4, crop_size=32, short_side_size=40)
    pixel_values = processor(frames)["pixel_values"]
    torch.testing.assert_close(pixel_values, torch.full_like(pixel_values, (200 / 255 - 0.45) / 0.225))
    unnormalized = processor(frames, do_normalize=False)["pixel_values"]
    torch.testing.assert_close(unnormalized, torch.full_like(unnormalized, 200 / 255))


@pytest.mark.parametrize("name", ["mpeg4_96x64.mp4", "vp9_64x48.webm", "mjpeg_80x64.avi", "h264_portrait_64x96.mp4"])
def test_any_codec_size_and_aspect_ratio_gives_the_configured_shape(codec_videos, small_processor, name):
    pixel_values = small_processor([codec_videos[name], codec_videos[name]])["pixel_values"]
    assert pixel_values.shape == (2, 4, 3, 32, 32)


def test_videos_smaller_than_the_crop_and_shorter_than_the_window(tmp_path, small_processor):
    path = write_video(tmp_path / "tiny.mp4", render_motion_video("up", 5, (16, 12), np.random.default_rng(0)))
    processor = small_processor.with_settings(num_frames=16, sampling_rate=4)  # a 64-frame window on 5 frames
    assert processor(path)["pixel_values"].shape == (1, 16, 3, 32, 32)
    assert processor(path, mode="train", repeat_aug=2)["pixel_values"].shape == (1, 2, 16, 3, 32, 32)


def test_train_mode_gives_repeat_aug_clips_each_with_its_own_window_and_augmentation(codec_videos, small_processor):
    processor = small_processor.with_settings(mode="train", repeat_aug=4)
    pixel_values = processor(codec_videos["mpeg4_96x64.mp4"], seed=0)["pixel_values"]
    assert pixel_values.shape == (1, 4, 4, 3, 32, 32)
    clips = pixel_values[0]
    assert all(not torch.equal(clips[0], clips[index]) for index in range(1, 4))


def test_seed_makes_training_clips_reproducible(codec_videos, small_processor):
    processor = small_processor.with_settings(
        mode="train", repeat_aug=2, do_rand_augment=True, do_random_erasing=True, random_erasing_prob=1.0
    )
    path = codec_videos["h264_64x48.mp4"]
    first, again = processor(path, seed=7)["pixel_values"], processor(path, seed=7)["pixel_values"]
    assert torch.equal(first, again)
    assert not torch.equal(first, processor(path, seed=8)["pixel_values"])
    torch.manual_seed(3)
    from_torch_seed = processor(path)["pixel_values"]
    torch.manual_seed(3)
    assert torch.equal(from_torch_seed, processor(path)["pixel_values"])


def frame_numbered_video(num_frames: int = 120) -> np.ndarray:
    """`(num_frames, 48, 64, 3)` uint8 frames, frame `i` filled with the value `i`: any crop of it says its index."""
    return np.broadcast_to(np.arange(num_frames, dtype=np.uint8)[:, None, None, None], (num_frames, 48, 64, 3)).copy()


def clip_frame_indices(clips: torch.Tensor) -> list[list[int]]:
    """The frame index of each frame of uint8 clips `(num_clips, num_frames, 3, H, W)` of a frame-numbered video."""
    assert torch.equal(clips, clips[..., :1, :1, :1].expand_as(clips))  # crops of constant frames stay constant
    return clips[:, :, 0, 0, 0].tolist()


def test_pretraining_clips_are_the_recipe_transforms_applied_window_by_window(small_processor):
    """The shared-frame fast path (one resize per distinct frame, the crop box gathered) gives the clips that the
    plain transforms give each window, with the same random draws: the windows, then per clip its box and flip."""
    frames = render_motion_video("right", 60, (96, 64), np.random.default_rng(0))
    processor = small_processor.with_settings(mode="train", repeat_aug=4, return_uint8=True)
    for seed in range(4):
        rng = random.Random(seed)
        windows = [
            sample_clip_indices(len(frames), processor.target_fps, processor.num_frames, processor.sampling_rate,
                                processor.target_fps, rng=rng)
            for _ in range(processor.repeat_aug)
        ]  # fmt: skip
        expected = []
        for window in windows:
            clip = torch.from_numpy(frames[window]).permute(0, 3, 1, 2)
            clip = resize_short_side(clip, processor.short_side_size, antialias=True)  # the decoder's scaling
            clip = random_resized_crop(
                clip, processor.crop_size, processor.jitter_scales_relative, processor.jitter_aspect_relative, rng
            )
            expected.append(horizontal_flip(clip, 0.5, rng))
        assert torch.equal(processor(frames, seed=seed)["pixel_values"][0], torch.stack(expected))


def test_fine_tuning_copies_share_one_window_and_pretraining_copies_draw_their_own(small_processor):
    frames = frame_numbered_video()
    pretraining = small_processor.with_settings(mode="train", repeat_aug=4, return_uint8=True)
    assert pretraining.repeat_aug_shared_window is False  # the processor's default: the official pretraining
    fine_tuning = pretraining.with_settings(repeat_aug_shared_window=True)
    for seed in range(3):
        own = clip_frame_indices(pretraining(frames, seed=seed)["pixel_values"][0])
        shared = clip_frame_indices(fine_tuning(frames, seed=seed)["pixel_values"][0])
        assert len({tuple(window) for window in own}) == 4
        assert all(window == shared[0] for window in shared)
    # the copies of a shared window are still cropped and flipped each on its own
    textured = render_motion_video("right", 40, (64, 48), np.random.default_rng(0))
    clips = fine_tuning(textured, seed=0)["pixel_values"][0]
    assert not torch.equal(clips[0], clips[1])


def test_rand_augment_default_is_the_recipe_policy_with_two_operations():
    processor = MAESTVideoProcessor()
    assert processor.rand_augment_policy == "rand-m7-mstd0.5-inc1"
    assert RandAugment.from_policy(processor.rand_augment_policy) == RandAugment(7.0, 2, 0.5, True) == RandAugment()


def test_same_seed_gives_the_same_clip_when_decord_falls_back_to_pyav(codec_videos, small_processor):
    path = codec_videos["mpeg4_narrow_48x64.mp4"]  # decord opens it, then fails reading frames: PyAV takes over
    processor = small_processor.with_settings(mode="train", repeat_aug=2)
    via_fallback = processor(path, decoding_backend="decord", seed=5)["pixel_values"]
    assert torch.equal(via_fallback, processor(path, decoding_backend="pyav", seed=5)["pixel_values"])


@pytest.mark.parametrize(
    "settings",
    [
        {"mode": "train", "repeat_aug": 3},
        {"mode": "train", "repeat_aug": 2, "do_rand_augment": True, "do_random_resized_crop": False},
        {"mode": "train", "do_normalize": False},
        {"num_temporal_views": 2, "num_spatial_crops": 3},
    ],
)
def test_uint8_clips_normalized_on_the_accelerator_equal_the_float_clips(codec_videos, small_processor, settings):
    processor = small_processor.with_settings(**settings)
    path = codec_videos["h264_portrait_64x96.mp4"]
    expected = processor(path, seed=11)["pixel_values"]
    uint8_processor = processor.with_settings(return_uint8=True)
    clips = uint8_processor(path, seed=11)["pixel_values"]
    assert clips.dtype == torch.uint8 and clips.shape == expected.shape
    finished = uint8_processor.normalize_pixel_values(clips.to(ACCELERATOR))
    assert finished.dtype == torch.float32 and finished.device.type == ACCELERATOR
    torch.testing.assert_close(finished.cpu(), expected, rtol=0, atol=0 if ACCELERATOR == "cpu" else 1e-6)
    assert processor.normalize_pixel_values(expected) is expected  # a finished batch passes through


@pytest.mark.parametrize("mode", ["pixel", "rand", "const"])
def test_uint8_clips_erased_after_normalizing_on_the_accelerator_equal_the_float_clips(
    codec_videos, small_processor, mode
):
    """The fine-tuning recipe's clips (RandAugment, random erasing) shipped uint8 with their erasing draws: normalized
    and erased on the accelerator, they are the float clips the processor erases itself."""
    processor = small_processor.with_settings(
        mode="train", repeat_aug=2, do_rand_augment=True, do_random_erasing=True, random_erasing_prob=0.5,
        random_erasing_mode=mode,
    )  # fmt: skip
    uint8_processor = processor.with_settings(return_uint8=True)
    assert uint8_processor.defers_random_erasing and not processor.defers_random_erasing
    path = codec_videos["h264_portrait_64x96.mp4"]
    erased = 0
    for seed in range(6):
        expected = processor.process_video(path, rng=random.Random(seed))
        clips, erasing = uint8_processor.process_video(path, rng=random.Random(seed), return_erasing=True)
        assert clips.dtype == torch.uint8 and len(erasing) == len(clips) == 2
        erased += sum(draw is not None for draw in erasing)
        finished = uint8_processor.normalize_pixel_values(clips.to(ACCELERATOR), erasing)
        torch.testing.assert_close(finished.cpu(), expected, rtol=0, atol=0 if ACCELERATOR == "cpu" else 1e-6)
        # the float clips come out erased: nothing left to apply
        assert processor.process_video(path, rng=random.Random(seed), return_erasing=True)[1] == [None, None]
    assert 0 < erased < 12  # both kinds of clips were compared
    # the draws cannot be dropped silently
    with pytest.raises(ValueError, match="return_erasing=True"):
        uint8_processor.process_video(path, rng=random.Random(0))
    with pytest.raises(ValueError, match="return_erasing=True"):
        uint8_processor(path, seed=0)
    with pytest.raises(ValueError, match="one per clip"):
        uint8_processor.normalize_pixel_values(clips, erasing[:1])


@pytest.mark.parametrize("crop_size, short_side, jitter", [(224, 256, (256, 320)), (112, 128, (128, 160))])
def test_short_sides_scale_with_the_crop_as_the_official_256_for_224(crop_size, short_side, jitter):
    sizes = MAESTVideoProcessor.sizes_for_crop(crop_size)
    assert sizes == {"crop_size": crop_size, "short_side_size": short_side, "train_jitter_scales": jitter}
    MAESTVideoProcessor(**sizes)  # valid settings


def test_eval_views_cover_windows_and_crops_in_window_major_order(codec_videos, small_processor):
    processor = small_processor.with_settings(num_temporal_views=2, num_spatial_crops=3)
    path = codec_videos["h264_portrait_64x96.mp4"]
    views = processor(path)["pixel_values"]
    assert views.shape == (1, 6, 4, 3, 32, 32)
    assert torch.equal(views, processor(path)["pixel_values"])  # deterministic without a seed
    # Portrait frames resized to a 32-pixel short side are 48 high: the top and bottom crops overlap in 16 rows.
    torch.testing.assert_close(views[0, 0, :, :, 16:], views[0, 2, :, :, :16])
    assert not torch.equal(views[0, 0], views[0, 3])  # same crop, second window


def test_decoded_frames_inputs(small_processor):
    frames = render_motion_video("left", 12, (64, 48), np.random.default_rng(0))  # (12, 48, 64, 3) uint8
    expected = small_processor(frames)["pixel_values"]
    assert expected.shape == (1, 4, 3, 32, 32)
    channels_first = torch.from_numpy(frames).permute(0, 3, 1, 2)
    assert torch.equal(small_processor(channels_first)["pixel_values"], expected)
    assert torch.equal(small_processor([PIL.Image.fromarray(frame) for frame in frames])["pixel_values"], expected)
    assert small_processor(np.stack([frames, frames]))["pixel_values"].shape == (2, 4, 3, 32, 32)
    assert small_processor(frames[:6], do_sample_frames=False)["pixel_values"].shape == (1, 6, 3, 32, 32)
    with pytest.raises(TypeError, match="uint8"):
        small_processor(frames.astype(np.float32) / 255)


def test_invalid_settings_and_inputs_raise_clear_errors(codec_videos, small_processor):
    with pytest.raises(ValueError, match="num_spatial_crops must be 1 or 3, got 2"):
        small_processor.with_settings(num_spatial_crops=2)
    with pytest.raises(ValueError, match="mode must be one of"):
        MAESTVideoProcessor(mode="test")
    with pytest.raises(ValueError, match="Unknown MAESTVideoProcessor setting"):
        small_processor(codec_videos["h264_64x48.mp4"], num_frame=8)
    with pytest.raises(ValueError, match="do_sample_frames=False applies to decoded frames only"):
        small_processor(codec_videos["h264_64x48.mp4"], do_sample_frames=False)


def test_unreadable_video_raises_decoding_error_naming_it(broken_videos, small_processor):
    with pytest.raises(VideoDecodingError, match="notes.mp4"):
        small_processor([broken_videos["not_a_video"]])


def test_save_pretrained_round_trip_and_auto_video_processor(tmp_path, small_processor):
    processor = small_processor.with_settings(mode="train", repeat_aug=4, do_rand_augment=True)
    processor.save_pretrained(tmp_path)
    loaded = MAESTVideoProcessor.from_pretrained(tmp_path)
    assert loaded.to_dict() == processor.to_dict()
    assert (loaded.mode, loaded.repeat_aug, loaded.crop_size) == ("train", 4, 32)
    assert loaded.jitter_scales_relative == (0.5, 1.0)
    auto_loaded = AutoVideoProcessor.from_pretrained(tmp_path)
    assert type(auto_loaded) is MAESTVideoProcessor and auto_loaded.to_dict() == processor.to_dict()


def test_video_classification_pipeline_runs_on_a_file(codec_videos, small_processor):
    config = MAESTConfig(
        image_size=32, num_frames=4, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=64, decoder_hidden_size=32, decoder_num_hidden_layers=1, decoder_num_attention_heads=2,
        decoder_intermediate_size=64, pred_t_dim=2, id2label={0: "left", 1: "right"},
    )  # fmt: skip
    torch.manual_seed(0)
    classifier = pipeline(
        "video-classification", model=MAESTForVideoClassification(config).eval(), video_processor=small_processor
    )
    predictions = classifier(str(codec_videos["h264_64x48.mp4"]))
    assert [prediction["label"] for prediction in predictions] in (["left", "right"], ["right", "left"])
    assert sum(prediction["score"] for prediction in predictions) == pytest.approx(1.0)


@pytest.mark.parametrize("settings", [{"num_frames": "8"}, {"crop_size": 64.0}, {"do_normalize": "no"}])
def test_settings_of_the_wrong_type_are_refused_by_name_in_the_constructor_copies_and_calls(settings):
    """`from __future__ import annotations` turned the settings' types into strings, which `validate_typed_dict`
    passes: `MAESTVideoProcessor(num_frames="8")` failed later on a comparison, `with_settings` took it."""
    from huggingface_hub.errors import StrictDataclassFieldValidationError

    (name,) = settings
    for make in (lambda: MAESTVideoProcessor(**settings), lambda: MAESTVideoProcessor().with_settings(**settings)):
        with pytest.raises(StrictDataclassFieldValidationError, match=f"Field '{name}' expected"):
            make()


def test_crop_size_also_takes_transformers_square_size_dict():
    assert MAESTVideoProcessor(crop_size={"height": 224, "width": 224}).crop_size == 224
    processor = MAESTVideoProcessor().with_settings(crop_size={"height": 32, "width": 32}, short_side_size=36)
    assert processor.crop_size == 32
    with pytest.raises(ValueError, match="crop_size must be one side of MAE-ST's square clips"):
        MAESTVideoProcessor(crop_size={"height": 224, "width": 112})


def test_frames_of_uneven_lengths_taken_whole_are_one_clear_error():
    processor = MAESTVideoProcessor(num_frames=4, crop_size=32, short_side_size=32, train_jitter_scales=(32, 40))
    videos = [np.zeros((6, 32, 32, 3), np.uint8), np.zeros((4, 32, 32, 3), np.uint8)]
    with pytest.raises(ValueError, match=r"these videos have \[4, 6\] frames"):  # was torch.stack's RuntimeError
        processor(videos, do_sample_frames=False)
    assert processor(videos)["pixel_values"].shape == (2, 4, 3, 32, 32)
