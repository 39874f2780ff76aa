"""Clip sampling and spatial augmentation against the official loader's numbers."""

import math
import random

import numpy as np
import PIL.Image
import PIL.ImageOps
import pytest
import torch
import torch.nn.functional as F

from modeling_mae_st.video_transforms import (
    _OPERATIONS,
    RandAugment,
    horizontal_flip,
    apply_random_erasing,
    draw_random_erasing,
    normalize,
    random_erasing,
    random_resized_crop,
    random_resized_crop_box,
    random_short_side_scale_jitter,
    resize,
    resize_short_side,
    sample_clip_indices,
    uniform_crop,
)


def test_single_eval_view_is_the_centered_window_spread_by_linspace():
    # 300 frames at 30 fps, 16 x 4 at 30 fps: a 64-frame window, centered: starts at floor((300 - 64) / 2) = 118.
    indices = sample_clip_indices(300, 30.0, num_frames=16, sampling_rate=4, view_index=0, num_temporal_views=1)
    expected = torch.linspace(118, 118 + 63, 16).long().numpy()
    np.testing.assert_array_equal(indices, expected)
    assert indices[0] == 118 and indices[-1] == 181 and indices.dtype == np.int64


def test_window_is_scaled_by_the_video_fps():
    # At 60 fps the same 2.13 s span covers 128 frames.
    indices = sample_clip_indices(1000, 60.0, view_index=0, num_temporal_views=1)
    assert indices[-1] - indices[0] == 127
    assert np.all(np.diff(indices) >= 7)


def test_eval_views_are_evenly_spaced_official_offsets():
    starts = [sample_clip_indices(300, 30.0, view_index=view, num_temporal_views=10)[0] for view in range(10)]
    step = math.floor((300 - 64) / 9)
    assert starts == [view * step for view in range(10)]


def test_short_video_indices_are_clamped_to_its_frames():
    indices = sample_clip_indices(20, 30.0, view_index=0, num_temporal_views=1)
    assert indices[0] == 0 and indices.max() == 19
    assert np.sum(indices == 19) > 1  # the window runs past the end: the last frame repeats


def test_random_train_window_stays_inside_the_video_and_follows_the_seed():
    windows = [sample_clip_indices(300, 30.0, rng=random.Random(seed)) for seed in range(50)]
    assert all(0 <= window.min() and window.max() <= 299 for window in windows)
    assert len({int(window[0]) for window in windows}) > 20  # random starts
    np.testing.assert_array_equal(sample_clip_indices(300, 30.0, rng=random.Random(3)), windows[3])
    with pytest.raises(ValueError, match="rng"):
        sample_clip_indices(300, 30.0)


@pytest.mark.parametrize("height, width, expected", [(48, 64, (40, 53)), (96, 64, (60, 40)), (50, 50, (40, 40))])
def test_resize_short_side_keeps_the_aspect_ratio(height, width, expected):
    frames = torch.randint(0, 256, (2, 3, height, width), dtype=torch.uint8)
    resized = resize_short_side(frames, 40)
    assert tuple(resized.shape) == (2, 3, *expected) and resized.dtype == torch.uint8


def test_uniform_crops_run_along_the_long_side():
    landscape = torch.arange(40 * 100).view(1, 1, 40, 100)
    assert [int(uniform_crop(landscape, 40, index)[0, 0, 0, 0]) for index in range(3)] == [0, 30, 60]
    portrait = torch.arange(100 * 40).view(1, 1, 100, 40)
    assert [int(uniform_crop(portrait, 40, index)[0, 0, 0, 0]) for index in range(3)] == [0, 30 * 40, 60 * 40]


def test_random_resized_crop_respects_area_and_aspect_ranges():
    rng = random.Random(0)
    for _ in range(200):
        top, left, height, width = random_resized_crop_box(256, 340, (0.5, 1.0), (0.75, 1.3333), rng)
        assert 0 <= top and top + height <= 256 and 0 <= left and left + width <= 340
        assert 0.49 <= height * width / (256 * 340) <= 1.0
        assert 0.74 <= width / height <= 1.34
    frames = torch.randint(0, 256, (4, 3, 256, 340), dtype=torch.uint8)
    assert random_resized_crop(frames, 224, (0.5, 1.0), (0.75, 1.3333), rng).shape == (4, 3, 224, 224)


def test_crop_resizes_are_the_official_bilinear_interpolate_without_antialiasing():
    """The official transforms (mae_st and PySlowFast `random_resized_crop`, `random_short_side_scale_jitter`)
    resize float frames with `interpolate(mode="bilinear", align_corners=False)`, no antialiasing; ours run on uint8
    and must land within one grey level of that (plus fixed-point error), shrinking or enlarging."""
    frames = torch.randint(0, 256, (2, 3, 256, 340), dtype=torch.uint8)  # noise: antialiasing would move it most
    for seed in range(20):
        rng = random.Random(seed)
        top, left, height, width = random_resized_crop_box(256, 340, (0.5, 1.0), (0.75, 1.3333), random.Random(seed))
        box = frames[..., top : top + height, left : left + width].float()
        official = F.interpolate(box, size=(224, 224), mode="bilinear", align_corners=False)
        ours = random_resized_crop(frames, 224, (0.5, 1.0), (0.75, 1.3333), rng)
        assert (ours.float() - official).abs().max() < 1.05  # rounding, and the uint8 kernel's fixed-point weights
        size = random.Random(seed).randint(160, 320)
        official = F.interpolate(frames.float(), size=(size, math.floor(340 / 256 * size)), mode="bilinear",
                                 align_corners=False)  # fmt: skip
        ours = random_short_side_scale_jitter(frames, size, size, random.Random(seed))
        assert (ours.float() - official).abs().max() < 1.05  # rounding, and the uint8 kernel's fixed-point weights
    # antialiasing is there when asked for (the processor's stand-in for the decoder's scaling), and then differs
    shrunk = resize(frames, 128, 170, antialias=True).float()
    assert (shrunk - F.interpolate(frames.float(), size=(128, 170), mode="bilinear")).abs().max() > 10


def test_horizontal_flip_mirrors_every_frame_with_the_given_probability():
    frames = torch.arange(12).view(1, 1, 3, 4).repeat(2, 3, 1, 1)
    flipped = horizontal_flip(frames, 1.0, random.Random(0))
    assert torch.equal(flipped, frames.flip(-1))
    assert horizontal_flip(frames, 0.0, random.Random(0)) is frames
    rng = random.Random(0)
    assert 400 < sum(horizontal_flip(frames, 0.5, rng) is not frames for _ in range(1000)) < 600


def test_normalize_maps_uint8_to_standardized_floats():
    frames = torch.tensor([0, 115, 255], dtype=torch.uint8).view(1, 3, 1, 1)
    out = normalize(frames, (0.45, 0.45, 0.45), (0.225, 0.225, 0.225))
    expected = (torch.tensor([0, 115, 255]) / 255.0 - 0.45) / 0.225
    assert out.dtype == torch.float32
    torch.testing.assert_close(out.view(3), expected)


def test_normalize_works_on_batches_of_clips_on_their_own_device():
    clips = torch.randint(0, 256, (2, 3, 4, 3, 8, 8), dtype=torch.uint8)  # (batch, clips, frames, 3, H, W)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    mean, std = (0.4, 0.45, 0.5), (0.2, 0.225, 0.25)
    out = normalize(clips.to(device), mean, std)
    assert out.device.type == device and out.shape == clips.shape
    expected = torch.stack([normalize(frames, mean, std) for frames in clips.flatten(0, 2).unsqueeze(1)])
    torch.testing.assert_close(out.cpu(), expected.view(clips.shape))
    torch.testing.assert_close(normalize(clips, None, None), clips / 255.0)


def test_random_erasing_drawn_in_one_place_and_applied_in_another_is_the_same():
    frames = torch.randn(4, 3, 32, 32)
    draw = draw_random_erasing(32, 32, 1.0, random.Random(2), mode="pixel", max_count=3)
    assert draw is not None and 1 <= len(draw.boxes) <= 3
    erased_in_one = random_erasing(frames.clone(), 1.0, random.Random(2), mode="pixel", max_count=3)
    torch.testing.assert_close(apply_random_erasing(frames.clone(), draw), erased_in_one, rtol=0, atol=0)
    assert draw_random_erasing(32, 32, 0.0, random.Random(2)) is None


def test_random_erasing_erases_the_same_box_in_every_frame_with_fresh_noise():
    frames = torch.zeros(4, 3, 32, 32)
    erased = random_erasing(frames.clone(), 1.0, random.Random(0), mode="pixel")
    masks = erased != 0
    assert masks.any()
    assert all(torch.equal(masks[0], mask) for mask in masks)  # one box through time
    assert not torch.equal(erased[0], erased[1])  # noise drawn per frame
    assert torch.equal(random_erasing(frames.clone(), 0.0, random.Random(0)), frames)
    with pytest.raises(ValueError, match="'blur'"):
        random_erasing(frames, 1.0, random.Random(0), mode="blur")


def test_rand_augment_policy_parsing():
    assert RandAugment.from_policy("rand-m7-n4-mstd0.5-inc1") == RandAugment(7.0, 4, 0.5, True)
    assert RandAugment.from_policy("rand-m7-mstd0.5-inc1") == RandAugment(7.0, 2, 0.5, True) == RandAugment()
    assert RandAugment.from_policy("rand-m9-mstd0.5") == RandAugment(9.0, 2, 0.5, False)
    with pytest.raises(ValueError, match="'x3'"):
        RandAugment.from_policy("rand-m7-x3")
    with pytest.raises(ValueError, match="start with 'rand'"):
        RandAugment.from_policy("augmix-m7")


def test_rand_augment_applies_the_same_operations_to_every_frame():
    frame = torch.randint(0, 256, (1, 3, 24, 32), dtype=torch.uint8)
    clip = frame.repeat(4, 1, 1, 1)
    augment = RandAugment.from_policy("rand-m7-n4-mstd0.5-inc1")
    changed = 0
    for seed in range(8):
        out = augment(clip, random.Random(seed))
        assert out.dtype == torch.uint8 and out.shape == clip.shape
        assert all(torch.equal(out[0], out[index]) for index in range(1, 4))
        changed += not torch.equal(out, clip)
    assert changed >= 6


def _pil_op(image: PIL.Image.Image, name: str, argument: float) -> PIL.Image.Image:
    grey = (128, 128, 128)
    affine = {
        "ShearX": (1, argument, 0, 0, 1, 0),
        "TranslateXRel": (1, 0, argument * image.width, 0, 1, 0),
        "TranslateYRel": (1, 0, 0, 0, 1, argument * image.height),
    }
    if name in affine:
        return image.transform(image.size, PIL.Image.AFFINE, affine[name], resample=PIL.Image.BICUBIC, fillcolor=grey)
    if name == "Rotate":
        return image.rotate(argument, resample=PIL.Image.BICUBIC, fillcolor=grey)
    return {
        "AutoContrast": PIL.ImageOps.autocontrast,
        "Equalize": PIL.ImageOps.equalize,
        "Invert": PIL.ImageOps.invert,
        "Posterize": lambda image: PIL.ImageOps.posterize(image, int(argument)),
        "Solarize": lambda image: PIL.ImageOps.solarize(image, argument),
    }[name](image)


@pytest.mark.parametrize(
    "name, argument, tolerance",
    [("AutoContrast", 0, 1), ("Equalize", 0, 0), ("Invert", 0, 0), ("Posterize", 2, 0), ("Solarize", 77, 0),
     ("Rotate", 20.0, 2), ("ShearX", 0.2, 2), ("TranslateXRel", 0.2, 2), ("TranslateYRel", -0.3, 2)],
)  # fmt: skip
def test_rand_augment_operations_match_pil(name, argument, tolerance):
    """Mean absolute difference to PIL (the official implementation) in grey levels, on a smooth image."""
    rng = np.random.default_rng(0)
    coarse = (rng.random((6, 8, 3)) * 160 + 40).astype(np.uint8)  # not spanning [0, 255], so autocontrast acts
    array = np.array(PIL.Image.fromarray(coarse).resize((64, 48), PIL.Image.BILINEAR))
    expected = np.asarray(_pil_op(PIL.Image.fromarray(array), name, argument)).astype(np.float32)
    frames = torch.from_numpy(array).permute(2, 0, 1)[None].float()
    ours = _OPERATIONS[name].apply(frames, argument).round()[0].permute(1, 2, 0).numpy()
    assert np.abs(ours - expected).mean() <= tolerance
