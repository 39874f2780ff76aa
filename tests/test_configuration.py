"""MAESTConfig: presets, official defaults, and clear errors for inconsistent values."""

import pytest

from modeling_mae_st import MAESTConfig


def test_defaults_are_the_official_vit_l_pretraining_recipe():
    config = MAESTConfig()
    assert (config.image_size, config.patch_size, config.num_frames, config.tubelet_size) == (224, 16, 16, 2)
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads) == (1024, 24, 16)
    assert (config.decoder_hidden_size, config.decoder_num_hidden_layers) == (512, 4)
    assert config.mask_ratio == 0.9 and config.norm_pix_loss and config.pred_t_dim == 8
    assert config.use_separate_position_embeddings and config.use_cls_token and config.layer_norm_eps == 1e-6
    assert config.predicted_frames_per_token == 1


@pytest.mark.parametrize("name, sizes", [
    ("vit-b", (768, 12, 12, 3072)),
    ("ViT-L/16", (1024, 24, 16, 4096)),
    ("huge", (1280, 32, 16, 5120)),
])
def test_presets_have_the_official_sizes_and_16x16_patches(name, sizes):
    config = MAESTConfig.from_preset(name, num_labels=400)
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads, config.intermediate_size) == sizes
    assert config.patch_size == 16 and config.num_labels == 400


def test_unknown_preset_is_named():
    with pytest.raises(ValueError, match="vit-g"):
        MAESTConfig.from_preset("vit-g")


@pytest.mark.parametrize("changes, message", [
    (dict(image_size=100), r"image_size.*100.*patch_size.*16"),
    (dict(num_frames=15), r"num_frames.*15.*tubelet_size.*2"),
    (dict(pred_t_dim=5), r"pred_t_dim.*5"),
    (dict(pred_t_dim=32), r"pred_t_dim.*32"),
    (dict(mask_ratio=1.0), r"mask_ratio.*\[0, 1\).*1.0"),
    (dict(mask_ratio=-0.1), r"mask_ratio"),
    (dict(hidden_size=100, num_attention_heads=16), r"hidden_size.*100.*16"),
    (dict(decoder_num_attention_heads=7), r"decoder_hidden_size.*512.*7"),
    (dict(target_frame_sampling="random"), r"target_frame_sampling"),
])
def test_inconsistent_values_raise_value_error(changes, message):
    with pytest.raises(ValueError, match=message):
        MAESTConfig(**changes)


def test_decoder_position_embeddings_follow_the_encoder_unless_set():
    assert MAESTConfig(use_separate_position_embeddings=False).decoder_separate_position_embeddings is False
    assert MAESTConfig(decoder_use_separate_position_embeddings=False).decoder_separate_position_embeddings is False
    assert MAESTConfig().decoder_separate_position_embeddings is True


def test_round_trip_keeps_every_value(tmp_path):
    config = MAESTConfig.from_preset("vit-b", decoder_cls_from_encoder=True, target_frame_sampling="stride")
    config.save_pretrained(tmp_path)
    loaded = MAESTConfig.from_pretrained(tmp_path)
    assert loaded.to_dict() == config.to_dict()


@pytest.mark.parametrize("changes", [{"qkv_bias": "False"}, {"num_hidden_layers": 2.5}, {"image_size": 224.0},
                                     {"hidden_size": "32"}, {"num_frames": "16"}])  # fmt: skip
def test_values_of_the_wrong_type_are_refused_by_name(changes):
    """`from __future__ import annotations` turned the field types into strings, which `@strict` cannot check: each
    of these was taken ("False" as true, 224.0 failing later inside torch)."""
    from huggingface_hub.errors import StrictDataclassFieldValidationError

    (name,) = changes
    with pytest.raises(StrictDataclassFieldValidationError, match=f"Field '{name}' expected"):
        MAESTConfig(**changes)
    config = MAESTConfig()
    with pytest.raises(StrictDataclassFieldValidationError, match=f"Field '{name}' expected"):
        setattr(config, name, changes[name])


@pytest.mark.parametrize("num_frames, tubelet_size, expected", [(16, 2, 8), (8, 2, 8), (4, 2, 2), (32, 2, 16),
                                                                (6, 3, 2)])  # fmt: skip
def test_pred_t_dim_defaults_to_the_official_8_where_the_frames_allow_else_one_frame_per_token(
    num_frames, tubelet_size, expected
):
    """`MAESTConfig(num_frames=4)` failed on the official default of 8, even for a classifier."""
    config = MAESTConfig(num_frames=num_frames, tubelet_size=tubelet_size)
    assert config.pred_t_dim == expected
    assert MAESTConfig(num_frames=num_frames, tubelet_size=tubelet_size, pred_t_dim=num_frames).pred_t_dim == num_frames


def test_the_patch_grid_and_token_count_of_the_configured_clip():
    config = MAESTConfig()
    assert (config.patch_grid, config.num_patches) == ((8, 14, 14), 1568)  # the paper's 16x224x224 in 2x16x16
    assert MAESTConfig(num_frames=8, image_size=64, patch_size=8, pred_t_dim=4).num_patches == 4 * 8 * 8
