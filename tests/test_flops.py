"""Tests of modeling_mae_st.flops: the counted FLOPs of a training step, the peak table."""

import pytest

from modeling_mae_st import MAESTConfig
from modeling_mae_st.flops import count_training_flops, peak_flops_per_second

TINY = dict(
    image_size=32,
    patch_size=8,
    num_frames=4,
    tubelet_size=2,
    hidden_size=64,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=128,
    decoder_hidden_size=32,
    decoder_num_hidden_layers=1,
    decoder_num_attention_heads=2,
    decoder_intermediate_size=64,
    pred_t_dim=2,
)


def transformer_forward_flops(tokens: int, hidden: int, intermediate: int, layers: int) -> int:
    """Forward FLOPs of `layers` ViT blocks on `tokens` tokens: q, k, v, o and the MLP, then q @ k^T and p @ v."""
    projections = 2 * tokens * (4 * hidden * hidden + 2 * hidden * intermediate)
    attention = 2 * 2 * tokens * tokens * hidden
    return layers * (projections + attention)


def analytic_training_flops(config: MAESTConfig, mask_ratio: float, batch: int) -> int:
    """The paper-style count: every product's backward costs twice its forward, except the patch embedding's (its
    input, the pixels, needs no gradient); only the visible patches are embedded and reach the encoder (plus the cls
    token)."""
    num_patches = (config.num_frames // config.tubelet_size) * (config.image_size // config.patch_size) ** 2
    visible = int(num_patches * (1 - mask_ratio))
    patch_volume = config.num_channels * config.tubelet_size * config.patch_size**2
    pixels_per_token = config.predicted_frames_per_token * config.patch_size**2 * config.num_channels
    patch_embedding = 2 * visible * patch_volume * config.hidden_size
    forward = (
        transformer_forward_flops(1 + visible, config.hidden_size, config.intermediate_size, config.num_hidden_layers)
        + 2 * (1 + visible) * config.hidden_size * config.decoder_hidden_size  # decoder_embed
        + transformer_forward_flops(
            1 + num_patches, config.decoder_hidden_size, config.decoder_intermediate_size,
            config.decoder_num_hidden_layers,
        )
        + 2 * (1 + num_patches) * config.decoder_hidden_size * pixels_per_token  # decoder_pred
    )
    return batch * (3 * forward + 2 * patch_embedding)


@pytest.mark.parametrize("mask_ratio", [0.0, 0.75, 0.9])
def test_counted_flops_match_the_analytic_count(mask_ratio):
    config = MAESTConfig(**TINY)
    counted = count_training_flops(config, mask_ratio, batch_size=3)
    assert counted == pytest.approx(analytic_training_flops(config, mask_ratio, batch=3), rel=0.01)


def test_masking_cuts_the_counted_flops_and_batch_scales_them():
    config = MAESTConfig(**TINY)
    full, masked = count_training_flops(config, 0.0), count_training_flops(config, 0.9)
    assert masked < full / 2
    assert count_training_flops(config, 0.9, batch_size=4) == 4 * masked


def test_counted_flops_follow_the_input_size():
    config = MAESTConfig(**TINY)
    assert count_training_flops(config, 0.0, image_size=64) > 4 * count_training_flops(config, 0.0)


def test_mask_ratio_outside_the_unit_interval_is_refused():
    with pytest.raises(ValueError, match="mask_ratio"):
        count_training_flops(MAESTConfig(**TINY), 1.0)


def test_a_fine_tuning_step_is_counted_too():
    """Fine-tuning logged no achieved TFLOP/s: its step had no count. The classifier's: the encoder on every patch
    and the cls token, the head, and the backward at twice the forward but for the patch embedding's input gradient."""
    config = MAESTConfig(**TINY, num_labels=5)
    num_patches = (config.num_frames // config.tubelet_size) * (config.image_size // config.patch_size) ** 2
    patch_embedding = 2 * num_patches * config.num_channels * config.tubelet_size * config.patch_size**2 * 64
    forward = transformer_forward_flops(1 + num_patches, 64, 128, 2) + patch_embedding + 2 * 64 * 5  # the head
    counted = count_training_flops(config, 0.0, batch_size=2, task="video-classification")
    assert counted == pytest.approx(2 * (3 * forward - patch_embedding), rel=0.01)
    # ViT-B on 16 frames of 224^2: the 180 G multiply-adds of a forward that the paper tables list
    vit_b = MAESTConfig.from_preset("vit-b")
    vit_b.num_labels = 400
    assert count_training_flops(vit_b, 0.0, task="video-classification") / 3 / 2 == pytest.approx(180e9, rel=0.01)
    with pytest.raises(ValueError, match="A video classifier sees every patch: mask_ratio must be 0"):
        count_training_flops(config, 0.9, task="video-classification")


def test_peak_table_matches_device_names_most_specific_first():
    assert peak_flops_per_second("NVIDIA H100 PCIe", "bf16") == 756.0e12
    assert peak_flops_per_second("NVIDIA H100 80GB HBM3", "bf16") == 989.4e12
    assert peak_flops_per_second("NVIDIA A100-SXM4-80GB", "fp32") == 19.5e12
    assert peak_flops_per_second("Some Future Accelerator", "bf16") is None
