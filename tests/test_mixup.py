"""Mixup / CutMix for video clips with label smoothing (`modeling_mae_st/mixup.py`)."""

import pytest
import torch

from modeling_mae_st.mixup import VideoMixup, smooth_one_hot


def test_smoothed_targets_put_the_official_values_on_and_off_the_class():
    targets = smooth_one_hot(torch.tensor([2, 0]), num_labels=4, smoothing=0.1)
    assert torch.allclose(targets.sum(-1), torch.ones(2))
    assert targets[0, 2].item() == pytest.approx(0.9 + 0.025) and targets[0, 0].item() == pytest.approx(0.025)


def test_mixup_mixes_clips_and_targets_with_the_same_coefficient():
    torch.manual_seed(0)
    clips = torch.randn(4, 2, 3, 8, 8)
    mix = VideoMixup(num_labels=3, mixup_alpha=0.8, cutmix_alpha=0.0, label_smoothing=0.0)
    mixed, targets = mix(clips, torch.tensor([0, 1, 2, 0]))
    lam = targets[1, 1].item()  # clip 1 (class 1) is mixed with the mirrored clip 2 (class 2)
    assert torch.allclose(mixed[1], lam * clips[1] + (1 - lam) * clips[2], atol=1e-6)
    assert torch.allclose(targets.sum(-1), torch.ones(4))


def test_cutmix_pastes_one_box_through_every_frame_and_corrects_the_coefficient():
    torch.manual_seed(1)
    clips = torch.stack([torch.zeros(3, 3, 16, 16), torch.ones(3, 3, 16, 16)])
    mix = VideoMixup(num_labels=2, mixup_alpha=0.0, cutmix_alpha=1.0, label_smoothing=0.0)
    mixed, targets = mix(clips, torch.tensor([0, 1]))
    pasted = mixed[0] == 1  # clip 0 received clip 1's box
    assert torch.equal(pasted, pasted[:1].expand_as(pasted))  # same box in every frame and channel
    assert targets[0, 1].item() == pytest.approx(pasted.float().mean().item())


def test_mixup_off_gives_smoothed_one_hot_targets_and_untouched_clips():
    clips = torch.randn(2, 2, 3, 8, 8)
    mixed, targets = VideoMixup(num_labels=3, mixup_alpha=0.0, cutmix_alpha=0.0)(clips, torch.tensor([1, 2]))
    assert torch.equal(mixed, clips)
    assert torch.allclose(targets, smooth_one_hot(torch.tensor([1, 2]), 3, 0.1))
