"""Converted official checkpoints reproduce the official outputs to float precision."""

import pytest
import torch

from modeling_mae_st import MAESTForPreTraining, MAESTForVideoClassification
from modeling_mae_st.convert_official_checkpoint import convert_official_checkpoint

from official_reference import classification_forward, pretraining_forward, random_official_state_dict


RTOL = 1e-5


@pytest.fixture(scope="module")
def load_fixture(official_fixtures):
    """`load_fixture("mae_st_official/....pt")`: one official fixture file of ../shared/fixtures."""
    return lambda relative: torch.load(official_fixtures / relative, weights_only=True)


def relative_error(ours: torch.Tensor, reference: torch.Tensor) -> float:
    return ((ours - reference).abs().max() / reference.abs().max().clamp_min(1e-12)).item()


def state_dict_of(fixture: dict) -> dict:
    checkpoint = fixture["checkpoint"]
    return checkpoint.get("model", checkpoint.get("model_state"))


def test_mae_st_pretraining_fixture_matches_loss_prediction_and_mask(load_fixture):
    fixture = load_fixture("mae_st_official/pretrain_tiny_sep_cls.pt")
    cfg = fixture["config"]
    model = convert_official_checkpoint(
        fixture["checkpoint"]["model"],
        num_attention_heads=cfg["num_heads"],
        decoder_num_attention_heads=cfg["decoder_num_heads"],
        norm_pix_loss=cfg["norm_pix_loss"],
    )
    assert isinstance(model, MAESTForPreTraining)
    assert model.config.pred_t_dim == cfg["pred_t_dim"] and model.config.num_frames == cfg["num_frames"]
    with torch.no_grad():
        out = model(fixture["pixel_values_bcthw"].transpose(1, 2), noise=fixture["noise"], mask_ratio=fixture["mask_ratio"])
    assert torch.equal(out.mask, fixture["mask"])
    assert relative_error(out.loss, fixture["loss"]) < RTOL
    assert relative_error(out.logits, fixture["pred"]) < RTOL


def test_mae_st_classification_fixture_matches_logits(load_fixture):
    fixture = load_fixture("mae_st_official/classify_tiny_sep_cls.pt")
    model = convert_official_checkpoint(
        fixture["checkpoint"]["model_state"], num_attention_heads=fixture["config"]["num_heads"]
    )
    assert isinstance(model, MAESTForVideoClassification)
    with torch.no_grad():
        logits = model(fixture["pixel_values_bcthw"].transpose(1, 2)).logits
    assert relative_error(logits, fixture["logits"]) < RTOL


def test_pyslowfast_pretraining_fixture_matches_loss_prediction_and_mask(load_fixture):
    fixture = load_fixture("pyslowfast/pyslowfast_pretrain_tiny.pt")
    cfg = fixture["config"]
    model = convert_official_checkpoint(fixture["checkpoint"]["model_state"], num_attention_heads=cfg["num_attention_heads"])
    # What the tensors cannot say, the converter's defaults for the released checkpoints must get right.
    assert model.config.decoder_num_attention_heads == cfg["decoder_num_attention_heads"]
    assert model.config.target_frame_sampling == "stride"
    assert model.config.decoder_cls_from_encoder
    assert not model.config.decoder_separate_position_embeddings and model.config.use_separate_position_embeddings
    with torch.no_grad():
        out = model(fixture["pixel_values_bcthw"].transpose(1, 2), noise=fixture["noise"], mask_ratio=fixture["mask_ratio"])
    assert torch.equal(out.mask, fixture["mask"])
    assert relative_error(out.loss, fixture["loss"]) < RTOL
    assert relative_error(out.logits, fixture["pred"]) < RTOL
    masked = out.mask.bool()
    assert relative_error(out.logits[masked], fixture["pred_masked"]) < RTOL
    target = model.target_patches(fixture["pixel_values_bcthw"].transpose(1, 2))
    assert relative_error(target[masked], fixture["target_masked"]) < RTOL


def test_pyslowfast_classification_fixture_matches_logits(load_fixture):
    fixture = load_fixture("pyslowfast/pyslowfast_classify_tiny.pt")
    model = convert_official_checkpoint(
        fixture["checkpoint"]["model_state"], num_attention_heads=fixture["config"]["num_attention_heads"]
    )
    with torch.no_grad():
        logits = model(fixture["pixel_values_bcthw"].transpose(1, 2)).logits
    assert relative_error(logits, fixture["logits"]) < RTOL


def test_reference_implementation_reproduces_the_fixtures(load_fixture):
    """The functional reference used below is itself checked against the official outputs."""
    fixture = load_fixture("mae_st_official/pretrain_tiny_sep_cls.pt")
    loss, pred, mask = pretraining_forward(
        fixture["checkpoint"]["model"], fixture["config"], fixture["pixel_values_bcthw"], fixture["noise"], fixture["mask_ratio"]
    )
    assert torch.equal(mask, fixture["mask"])
    assert relative_error(loss, fixture["loss"]) < RTOL and relative_error(pred, fixture["pred"]) < RTOL
    fixture = load_fixture("mae_st_official/classify_tiny_sep_cls.pt")
    logits = classification_forward(fixture["checkpoint"]["model_state"], fixture["config"], fixture["pixel_values_bcthw"])
    assert relative_error(logits, fixture["logits"]) < RTOL


VARIANTS = [
    pytest.param(dict(sep_pos_embed=True, cls_embed=True), id="separate-cls"),
    pytest.param(dict(sep_pos_embed=False, cls_embed=True), id="joint-cls"),
    pytest.param(dict(sep_pos_embed=True, cls_embed=False), id="separate-nocls"),
    pytest.param(dict(sep_pos_embed=False, cls_embed=False), id="joint-nocls"),
    pytest.param(dict(sep_pos_embed=True, cls_embed=True, no_qkv_bias=True), id="no-qkv-bias"),
    pytest.param(dict(sep_pos_embed=False, cls_embed=False, patch_size=16, img_size=32), id="joint-nocls-patch16"),
]


def _tiny_official_config(**changes):
    cfg = dict(
        img_size=32, patch_size=8, num_frames=8, t_patch_size=2, embed_dim=48, depth=2, num_heads=4,
        decoder_embed_dim=32, decoder_depth=2, decoder_num_heads=4, pred_t_dim=4, norm_pix_loss=True, num_classes=5,
    )
    cfg.update(changes)
    return cfg


@pytest.mark.parametrize("changes", VARIANTS)
def test_pretraining_variants_match_the_official_computation(changes):
    cfg = _tiny_official_config(**changes)
    generator = torch.Generator().manual_seed(0)
    state = random_official_state_dict(cfg, "pretraining", generator)
    model = convert_official_checkpoint(
        dict(state), num_attention_heads=cfg["num_heads"], decoder_num_attention_heads=cfg["decoder_num_heads"],
        num_frames=cfg["num_frames"],
    )
    imgs = torch.randn(2, 3, cfg["num_frames"], cfg["img_size"], cfg["img_size"], generator=generator)
    length = (cfg["num_frames"] // 2) * (cfg["img_size"] // cfg["patch_size"]) ** 2
    noise = torch.rand(2, length, generator=generator)
    loss, pred, mask = pretraining_forward(state, cfg, imgs, noise, 0.75)
    with torch.no_grad():
        out = model(imgs.transpose(1, 2), noise=noise, mask_ratio=0.75)
    assert torch.equal(out.mask, mask)
    assert relative_error(out.logits, pred) < RTOL
    assert relative_error(out.loss, loss) < RTOL


@pytest.mark.parametrize("changes", VARIANTS)
def test_classification_variants_match_the_official_computation(changes):
    cfg = _tiny_official_config(**changes)
    generator = torch.Generator().manual_seed(1)
    state = random_official_state_dict(cfg, "classification", generator)
    model = convert_official_checkpoint(dict(state), num_attention_heads=cfg["num_heads"], num_frames=cfg["num_frames"])
    imgs = torch.randn(2, 3, cfg["num_frames"], cfg["img_size"], cfg["img_size"], generator=generator)
    # Without a cls token the official pooling drops the first patch; ours averages every patch (documented).
    reference = classification_forward(state, cfg, imgs, drop_first_patch_without_cls=False)
    with torch.no_grad():
        logits = model(imgs.transpose(1, 2)).logits
    assert relative_error(logits, reference) < RTOL
    if not cfg.get("cls_embed"):
        official = classification_forward(state, cfg, imgs, drop_first_patch_without_cls=True)
        assert not torch.allclose(official, reference), "the official quirk should change the logits"


def test_pretraining_checkpoint_fine_tunes_like_the_official_model(load_fixture, tmp_path):
    """A converted pretraining folder loads into the classifier with only the head new, and then computes what the
    official fine-tuning model computes after its `load_state_dict(strict=False)` of the same weights."""
    fixture = load_fixture("mae_st_official/pretrain_tiny_sep_cls.pt")
    state = fixture["checkpoint"]["model"]
    convert_official_checkpoint(state, output_dir=tmp_path, num_attention_heads=4, decoder_num_attention_heads=4)
    classifier, info = MAESTForVideoClassification.from_pretrained(tmp_path, num_labels=7, output_loading_info=True)
    assert sorted(info["missing_keys"]) == ["classifier.bias", "classifier.weight"]
    assert all(key.startswith("decoder.") for key in info["unexpected_keys"])
    classifier.eval()
    official_state = {k: v for k, v in state.items() if not k.startswith("decoder") and k != "mask_token"}
    official_state["head.weight"] = classifier.classifier.weight.detach()
    official_state["head.bias"] = classifier.classifier.bias.detach()
    cfg = dict(fixture["config"], num_classes=7)
    imgs = fixture["pixel_values_bcthw"]
    with torch.no_grad():
        ours = classifier(imgs.transpose(1, 2)).logits
    assert relative_error(ours, classification_forward(official_state, cfg, imgs)) < RTOL
