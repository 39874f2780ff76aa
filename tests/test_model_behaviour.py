"""Behaviour of the MAE-ST models beyond parity: masking, shapes, attention back-ends, checkpointing, Auto classes."""

import pytest
import torch
from transformers import AutoConfig, AutoModel, AutoModelForPreTraining, AutoModelForVideoClassification

from modeling_mae_st import MAESTConfig, MAESTForPreTraining, MAESTForVideoClassification, MAESTModel


def tiny_config(**changes) -> MAESTConfig:
    values = dict(
        image_size=32, patch_size=8, num_frames=8, tubelet_size=2, hidden_size=32, num_hidden_layers=2,
        num_attention_heads=4, intermediate_size=64, decoder_hidden_size=16, decoder_num_hidden_layers=1,
        decoder_num_attention_heads=2, decoder_intermediate_size=32, pred_t_dim=4, num_labels=3,
    )
    values.update(changes)
    return MAESTConfig(**values)


def clip(config: MAESTConfig, batch: int = 2, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    shape = (batch, config.num_frames, config.num_channels, config.image_size, config.image_size)
    return torch.randn(shape, generator=generator)


NUM_PATCHES = 4 * 4 * 4  # (8 / 2) * (32 / 8) ** 2


def test_masking_keeps_the_same_count_per_sample_and_follows_the_noise():
    model = MAESTForPreTraining(tiny_config()).eval()
    noise = torch.rand(3, NUM_PATCHES)
    out = model(clip(model.config, batch=3), noise=noise)
    len_keep = int(NUM_PATCHES * (1 - 0.9))
    assert out.mask.shape == (3, NUM_PATCHES)
    assert (out.mask.sum(dim=1) == NUM_PATCHES - len_keep).all()
    # the kept patches are those with the smallest noise
    kept = torch.argsort(noise, dim=1)[:, :len_keep]
    assert (out.mask.gather(1, kept) == 0).all()


def test_mask_and_ids_restore_agree():
    model = MAESTForPreTraining(tiny_config(mask_ratio=0.75)).eval()
    out = model(clip(model.config))
    # ids_restore[b, i] is the rank of patch i in the shuffled order; the first len_keep ranks are visible
    len_keep = int(NUM_PATCHES * 0.25)
    assert torch.equal(out.mask, (out.ids_restore >= len_keep).float())


def test_same_noise_gives_the_same_output_and_different_noise_another_mask():
    model = MAESTForPreTraining(tiny_config()).eval()
    pixel_values = clip(model.config)
    noise = torch.rand(2, NUM_PATCHES)
    first, second = model(pixel_values, noise=noise), model(pixel_values, noise=noise)
    assert torch.equal(first.logits, second.logits) and torch.equal(first.loss, second.loss)
    third = model(pixel_values, noise=torch.rand(2, NUM_PATCHES))
    assert not torch.equal(first.mask, third.mask)


def test_caller_mask_is_used_and_must_mask_equal_counts():
    model = MAESTForPreTraining(tiny_config()).eval()
    bool_masked_pos = torch.zeros(2, NUM_PATCHES, dtype=torch.bool)
    bool_masked_pos[:, 8:] = True
    out = model(clip(model.config), bool_masked_pos=bool_masked_pos)
    assert torch.equal(out.mask.bool(), bool_masked_pos)
    bool_masked_pos[0, 0] = True
    with pytest.raises(ValueError, match="same number of patches"):
        model(clip(model.config), bool_masked_pos=bool_masked_pos)


def test_loss_only_counts_masked_patches():
    model = MAESTForPreTraining(tiny_config()).eval()
    pixel_values = clip(model.config)
    out = model(pixel_values, noise=torch.rand(2, NUM_PATCHES))
    target = model.target_patches(pixel_values)
    per_patch = ((out.logits - target) ** 2).mean(-1)
    expected = per_patch[out.mask.bool()].mean()
    torch.testing.assert_close(out.loss, expected)


def test_loss_without_masked_patches_is_zero_not_nan():
    model = MAESTForPreTraining(tiny_config()).train()
    loss = model(clip(model.config), mask_ratio=0.0).loss
    loss.backward()
    assert loss.item() == 0.0
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


@pytest.mark.parametrize("sampling, expected", [("linspace", [0, 2, 4, 7]), ("stride", [0, 2, 4, 6])])
def test_target_frames(sampling, expected):
    model = MAESTForPreTraining(tiny_config(target_frame_sampling=sampling))
    assert model.target_frame_indices(8).tolist() == expected


def test_patchify_and_unpatchify_are_inverse():
    model = MAESTForPreTraining(tiny_config(pred_t_dim=8))  # two frames per token
    frames = clip(model.config)
    patches = model.patchify(frames)
    assert patches.shape == (2, NUM_PATCHES, 2 * 8 * 8 * 3)
    torch.testing.assert_close(model.unpatchify(patches), frames, rtol=0, atol=0)


def test_encoder_without_masking_sees_every_patch_and_pools_the_patch_tokens():
    config = tiny_config()
    model = MAESTModel(config).eval()
    out = model(clip(config), output_hidden_states=True)
    assert out.last_hidden_state.shape == (2, 1 + NUM_PATCHES, 32)
    assert out.mask is None and out.ids_restore is None
    assert len(out.hidden_states) == config.num_hidden_layers + 1
    expected = model.layernorm(out.hidden_states[-1][:, 1:].mean(1))
    torch.testing.assert_close(out.pooler_output, expected)
    torch.testing.assert_close(model.get_video_features(clip(config)).pooler_output, out.pooler_output)


def test_encoder_with_mask_ratio_sees_only_visible_patches():
    model = MAESTModel(tiny_config(use_cls_token=False)).eval()
    out = model(clip(model.config), mask_ratio=0.75)
    assert out.last_hidden_state.shape == (2, NUM_PATCHES // 4, 32)


def test_classifier_pools_all_patches_without_cls_token():
    config = tiny_config(use_cls_token=False)
    model = MAESTForVideoClassification(config).eval()
    out = model.mae_st(clip(config), output_hidden_states=True)
    pooled = model.mae_st.layernorm(out.hidden_states[-1].mean(1))
    torch.testing.assert_close(model(clip(config)).logits, model.classifier(pooled))


def test_classifier_loss_from_labels_and_soft_targets():
    model = MAESTForVideoClassification(tiny_config()).eval()
    pixel_values = clip(model.config)
    labels = torch.tensor([0, 2])
    hard = model(pixel_values, labels=labels)
    soft = model(pixel_values, labels=torch.nn.functional.one_hot(labels, 3).float())
    torch.testing.assert_close(hard.loss, soft.loss)
    smoothed = torch.full((2, 3), 0.1 / 3) + 0.9 * torch.nn.functional.one_hot(labels, 3)
    expected = -(smoothed * hard.logits.log_softmax(-1)).sum(-1).mean()
    torch.testing.assert_close(model(pixel_values, labels=smoothed).loss, expected)


@pytest.mark.parametrize(
    "shape, message",
    [
        ((2, 8, 3, 32), "5-d tensor"),
        ((2, 3, 8, 32, 32), "channels"),
        ((2, 6, 3, 32, 32), r"\(batch, 8, 3, 32, 32\)"),
        ((2, 8, 3, 24, 32), r"\(batch, 8, 3, 32, 32\)"),
    ],
)
def test_wrong_input_shapes_raise_value_error_naming_expected_and_received(shape, message):
    model = MAESTForPreTraining(tiny_config())
    with pytest.raises(ValueError, match=message) as error:
        model(torch.randn(shape))
    assert str(tuple(shape)) in str(error.value)


def test_wrong_noise_shape_raises():
    model = MAESTForPreTraining(tiny_config())
    with pytest.raises(ValueError, match="noise must have shape"):
        model(clip(model.config), noise=torch.rand(2, 5))


@pytest.mark.parametrize("model_class", [MAESTModel, MAESTForPreTraining, MAESTForVideoClassification])
def test_raw_uint8_frames_and_empty_batches_raise_value_errors_saying_what_is_expected(model_class):
    model = model_class(tiny_config())
    frames = (clip(model.config) * 50 + 128).clamp(0, 255).to(torch.uint8)
    with pytest.raises(ValueError, match="must be floating point.*got torch.uint8.*video processor"):
        model(frames)
    with pytest.raises(ValueError, match=r"holds no clips \(batch 0"):
        model(clip(model.config)[:0])


@pytest.mark.parametrize("masking", [{"noise": torch.rand(2, NUM_PATCHES)}, {"mask_ratio": 0.5}])
def test_a_caller_mask_is_refused_with_noise_or_mask_ratio_that_it_would_override(masking):
    model = MAESTForPreTraining(tiny_config()).eval()
    bool_masked_pos = torch.zeros(2, NUM_PATCHES, dtype=torch.bool)
    bool_masked_pos[:, 8:] = True
    with pytest.raises(ValueError, match=f"bool_masked_pos fixes the mask; {next(iter(masking))} would be ignored"):
        model(clip(model.config), bool_masked_pos=bool_masked_pos, **masking)


def test_the_encoder_loads_from_a_pretraining_folder_quietly_but_a_missing_encoder_weight_is_reported(
    tmp_path, caplog
):
    from safetensors.torch import load_file, save_file

    pretraining = MAESTForPreTraining(tiny_config()).eval()
    pretraining.save_pretrained(tmp_path)
    with caplog.at_level("WARNING"):
        encoder, info = AutoModel.from_pretrained(tmp_path, output_loading_info=True)
    assert info["unexpected_keys"] == set() and info["missing_keys"] == set()
    assert "LOAD REPORT" not in caplog.text and "decoder" not in caplog.text
    torch.testing.assert_close(encoder.layernorm.weight, pretraining.mae_st.layernorm.weight)
    classifier = tmp_path / "classifier"  # mae-st-embed on a fine-tuned folder printed an 8-line load report
    MAESTForVideoClassification(tiny_config()).save_pretrained(classifier)
    caplog.clear()
    with caplog.at_level("WARNING"):
        _, info = AutoModel.from_pretrained(classifier, output_loading_info=True)
    assert info["unexpected_keys"] == set() and info["missing_keys"] == set() and "LOAD REPORT" not in caplog.text
    weights = load_file(tmp_path / "model.safetensors")
    del weights["mae_st.layers.1.mlp.fc2.weight"]
    save_file(weights, tmp_path / "model.safetensors", metadata={"format": "pt"})
    caplog.clear()
    with caplog.at_level("WARNING"):
        _, info = AutoModel.from_pretrained(tmp_path, output_loading_info=True)
    assert info["missing_keys"] == {"layers.1.mlp.fc2.weight"}
    assert "layers.1.mlp.fc2.weight" in caplog.text and "MISSING" in caplog.text


@pytest.mark.parametrize("separate", [True, False])
@pytest.mark.parametrize("use_cls_token", [True, False])
def test_position_embeddings_interpolate_to_other_frames_and_resolutions(separate, use_cls_token):
    config = tiny_config(use_separate_position_embeddings=separate, use_cls_token=use_cls_token)
    model = MAESTForPreTraining(config).eval()
    pixel_values = torch.randn(1, 12, 3, 48, 40)
    out = model(pixel_values, interpolate_pos_encoding=True)
    assert out.logits.shape == (1, 6 * 6 * 5, 8 * 8 * 3)
    assert torch.isfinite(out.loss)
    features = MAESTModel(config).get_video_features(pixel_values, interpolate_pos_encoding=True).pooler_output
    assert features.shape == (1, 32)
    # at the trained size interpolation is the identity
    same = clip(config, batch=1)
    noise = torch.rand(1, NUM_PATCHES)
    torch.testing.assert_close(
        model(same, noise=noise, interpolate_pos_encoding=True).logits, model(same, noise=noise).logits
    )


def test_interpolated_tables_have_the_new_grid_and_keep_their_scale():
    config = tiny_config()
    model = MAESTModel(config)
    grid = (4, 4, 4)
    table = model.embeddings.position_embeddings.for_patches(grid)
    assert table.shape == (1, 64, 32)
    bigger = model.embeddings.position_embeddings.for_patches((8, 8, 8))
    assert bigger.shape == (1, 512, 32)
    torch.testing.assert_close(bigger.mean(), table.mean(), atol=0.02, rtol=0)


def test_sdpa_and_eager_agree():
    config = tiny_config()
    torch.manual_seed(0)
    sdpa = MAESTForPreTraining(config).eval()
    sdpa.set_attn_implementation("sdpa")
    eager = MAESTForPreTraining(config).eval()
    eager.load_state_dict(sdpa.state_dict())
    eager.set_attn_implementation("eager")
    assert eager.decoder.layers[0].attention.config._attn_implementation == "eager"
    pixel_values, noise = clip(config), torch.rand(2, NUM_PATCHES)
    with torch.no_grad():
        a, b = sdpa(pixel_values, noise=noise), eager(pixel_values, noise=noise)
    torch.testing.assert_close(a.logits, b.logits, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(a.loss, b.loss, rtol=1e-5, atol=1e-5)


def test_masked_encoder_embeds_only_the_kept_patches_as_the_convolution_would():
    config = tiny_config()
    torch.manual_seed(0)
    patch_embeddings = MAESTForPreTraining(config).mae_st.embeddings.patch_embeddings
    pixel_values = clip(config)
    every_patch, grid = patch_embeddings(pixel_values)  # (batch, num_patches, hidden) by the Conv3d
    ids_keep = torch.argsort(torch.rand(2, NUM_PATCHES), dim=1)[:, :6]
    kept, kept_grid = patch_embeddings(pixel_values, ids_keep)
    assert kept_grid == grid and kept.shape == (2, 6, config.hidden_size)
    torch.testing.assert_close(kept, every_patch.gather(1, ids_keep[..., None].expand(-1, -1, config.hidden_size)))


def test_pretraining_forward_compiles_to_one_graph_without_host_syncs():
    """A `.item()`, a boolean index or any other data-dependent shape in the forward would break the graph (and
    synchronize with the GPU at every step)."""
    model = MAESTForPreTraining(tiny_config()).train()
    explanation = torch._dynamo.explain(lambda pixel_values: model(pixel_values).loss)(clip(model.config))
    assert explanation.graph_break_count == 0, [reason.reason for reason in explanation.break_reasons]


def test_activation_checkpointing_gives_the_same_gradients():
    config = tiny_config(drop_path_rate=0.0)
    torch.manual_seed(0)
    plain = MAESTForPreTraining(config).train()
    checkpointed = MAESTForPreTraining(config).train()
    checkpointed.load_state_dict(plain.state_dict())
    checkpointed.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    assert checkpointed.mae_st.layers[0].gradient_checkpointing
    pixel_values, noise = clip(config), torch.rand(2, NUM_PATCHES)
    plain(pixel_values, noise=noise).loss.backward()
    checkpointed(pixel_values, noise=noise).loss.backward()
    for (name, p1), (_, p2) in zip(plain.named_parameters(), checkpointed.named_parameters()):
        torch.testing.assert_close(p1.grad, p2.grad, msg=name)


def test_drop_path_is_active_only_in_training():
    config = tiny_config(drop_path_rate=0.5)
    model = MAESTForVideoClassification(config)
    assert [layer.drop_path.drop_prob for layer in model.mae_st.layers] == [0.0, 0.5]
    pixel_values = clip(config)
    model.eval()
    torch.testing.assert_close(model(pixel_values).logits, model(pixel_values).logits)
    model.train()
    torch.manual_seed(0)
    outputs = [model(pixel_values).logits for _ in range(4)]
    assert any(not torch.allclose(outputs[0], other) for other in outputs[1:])


@pytest.mark.parametrize("auto_class, model_class", [
    (AutoModel, MAESTModel),
    (AutoModelForPreTraining, MAESTForPreTraining),
    (AutoModelForVideoClassification, MAESTForVideoClassification),
])
def test_save_and_load_round_trip_through_auto_classes(tmp_path, auto_class, model_class):
    config = tiny_config(id2label={0: "a", 1: "b", 2: "c"}, label2id={"a": 0, "b": 1, "c": 2})
    model = model_class(config).eval()
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    assert AutoConfig.from_pretrained(tmp_path).model_type == "mae_st"
    loaded = auto_class.from_pretrained(tmp_path).eval()
    assert type(loaded) is model_class
    assert loaded.config.id2label == config.id2label
    pixel_values = clip(config)
    kwargs = {"noise": torch.rand(2, NUM_PATCHES)} if model_class is MAESTForPreTraining else {}
    with torch.no_grad():
        first, second = model(pixel_values, **kwargs), loaded(pixel_values, **kwargs)
    torch.testing.assert_close(first[0], second[0], rtol=0, atol=0)


def test_initialization_follows_the_official_code():
    model = MAESTForPreTraining(tiny_config(hidden_size=64, num_attention_heads=4, intermediate_size=256))
    weight = model.mae_st.layers[0].mlp.fc1.weight
    bound = (6 / (weight.shape[0] + weight.shape[1])) ** 0.5  # xavier_uniform
    assert weight.abs().max() <= bound and weight.abs().max() > 0.9 * bound
    assert (model.mae_st.layers[0].mlp.fc1.bias == 0).all()
    assert model.mae_st.embeddings.position_embeddings.spatial.std().item() == pytest.approx(0.02, rel=0.3)
    assert (model.decoder.decoder_cls_token == 0).all()  # the official code never initializes it


def test_a_new_classifier_head_is_initialized_as_the_official_one(tmp_path):
    """The head's own branch came after the Linear one, which gave it xavier weights (std 0.087 at width 256)."""
    config = tiny_config(hidden_size=256, num_attention_heads=4, intermediate_size=256, num_labels=400)
    torch.manual_seed(0)
    head = MAESTForVideoClassification(config).classifier
    assert head.weight.std().item() == pytest.approx(0.02, rel=0.05)  # normal(0, 0.02), mae_st models_vit.py
    assert 0 < head.bias.abs().max() <= 1 / 256**0.5  # PyTorch's default bias, which the official code keeps
    MAESTForPreTraining(config).save_pretrained(tmp_path)
    loaded = MAESTForVideoClassification.from_pretrained(tmp_path, num_labels=400).classifier  # a new head, too
    assert loaded.weight.std().item() == pytest.approx(0.02, rel=0.05)


@pytest.mark.parametrize("mask_ratio", [1.0, -0.5, 1.5])
def test_a_mask_ratio_outside_zero_to_one_is_refused(mask_ratio):
    model = MAESTForPreTraining(tiny_config())
    with pytest.raises(ValueError, match=rf"mask_ratio must be in \[0, 1\), got {mask_ratio}"):
        model(clip(model.config), mask_ratio=mask_ratio)


def test_sincos_position_tables_start_as_one_table_of_distinct_positions_and_stay_learnable():
    separate = MAESTForPreTraining(tiny_config(position_embedding_init="sincos"))
    joint = MAESTForPreTraining(tiny_config(position_embedding_init="sincos", use_separate_position_embeddings=False))
    grid = (4, 4, 4)
    for module in ("mae_st.embeddings.position_embeddings", "decoder.position_embeddings"):
        tables = [model.get_submodule(module) for model in (separate, joint)]
        table = tables[0].for_patches(grid)[0]  # (num_patches, hidden)
        torch.testing.assert_close(table, tables[1].for_patches(grid)[0])  # separate tables sum to the joint one
        distance = torch.cdist(table, table) + torch.eye(len(table))
        assert distance.min() > 0.1 and all(p.requires_grad for p in tables[0].parameters())
    official = MAESTForPreTraining(tiny_config()).mae_st.embeddings.position_embeddings.for_patches(grid)
    assert official.std() < 0.05  # the official truncated normal (std 0.02) stays the default
