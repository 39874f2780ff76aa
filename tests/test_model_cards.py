"""Model cards: metadata of each kind, run facts, released-checkpoint lookup, and the checked-in cards."""

import importlib.util
from pathlib import Path

import pytest
from huggingface_hub import ModelCard

from modeling_mae_st import MAESTConfig
from modeling_mae_st.model_card import RELEASED_CHECKPOINTS, RunFacts, build_model_card, find_released_checkpoint


ROOT = Path(__file__).resolve().parents[1]
TINY = dict(
    image_size=32, patch_size=8, num_frames=4, tubelet_size=2, hidden_size=32, num_hidden_layers=2,
    num_attention_heads=4, intermediate_size=64, decoder_hidden_size=16, decoder_num_hidden_layers=1,
    decoder_num_attention_heads=4, decoder_intermediate_size=32, pred_t_dim=2,
)


def test_classifier_card_carries_measured_accuracy_and_run_facts():
    run = RunFacts(
        dataset="UCF-101", dataset_id="ucf101", loss_history=[4.0, 3.0, 2.5, 2.0], accuracy_top1=71.234,
        accuracy_top5=90.0, hyperparameters={"learning_rate": 1e-3}, hardware="1x NVIDIA H100",
        wall_time_seconds=3725, base_model="me/mae-st-vit-b",
    )
    card = ModelCard(str(build_model_card("classifier", MAESTConfig(**TINY, num_labels=101), "me/clf", run=run)))
    data = card.data
    assert (data.library_name, data.pipeline_tag, data.base_model) == ("transformers", "video-classification",
                                                                      "me/mae-st-vit-b")
    assert data.datasets == ["ucf101"]
    assert [(r.metric_name, r.metric_value) for r in data.eval_results] == [
        ("top-1 accuracy", 71.23), ("top-5 accuracy", 90.0)
    ]
    for text in ("first 4.0000, last 2.0000", "1x NVIDIA H100", "1h 02m 05s", "`learning_rate`", "measured by this run",
                 "AutoModelForVideoClassification.from_pretrained(\"me/clf\", trust_remote_code=True)", "@article"):
        assert text in card.text


def test_converted_card_needs_its_release_and_marks_accuracy_as_reported():
    with pytest.raises(ValueError, match="ReleasedCheckpoint"):
        build_model_card("converted", MAESTConfig(**TINY), "me/x")
    release = next(r for r in RELEASED_CHECKPOINTS if r.name == "mae-st-vit-h-k400")
    card = build_model_card("converted", MAESTConfig.from_preset("vit-h"), "me/x", release=release)
    assert card.data.license == "cc-by-nc-4.0"
    assert card.data.eval_results[0].metric_value == 85.1 and card.data.eval_results[0].verified is False
    assert "`3d7f64` (as published)" in card.text and "not measured here" in card.text


def test_released_checkpoints_are_found_by_md5_prefix_then_by_unique_file_name(tmp_path):
    ambiguous = tmp_path / "k400_400ep_rep4_mr9_16x4.pyth"  # the mae_st alias name of both ViT-L and ViT-H
    ambiguous.write_bytes(b"not a checkpoint")
    assert find_released_checkpoint(ambiguous) is None
    assert find_released_checkpoint(ambiguous, md5="3d7f64" + "0" * 26).name == "mae-st-vit-h-k400"
    pyslowfast = tmp_path / "VIT_L_16x4_MAE_PT.pyth"
    pyslowfast.write_bytes(b"x")
    assert find_released_checkpoint(pyslowfast).reported_top1 == 84.8


def test_checked_in_model_cards_match_the_template(tmp_path):
    spec = importlib.util.spec_from_file_location("render_cards", ROOT / "model_cards" / "render.py")
    render = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(render)
    paths = render.render("mae-st", tmp_path)
    assert len(paths) == 3 + len(RELEASED_CHECKPOINTS) + 1
    for path in paths:
        checked_in = ROOT / "model_cards" / path.name
        assert checked_in.read_text() == path.read_text(), f"{checked_in} is stale: run python model_cards/render.py"
