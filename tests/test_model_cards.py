"""Model cards: metadata of each kind, run facts, the released checkpoints' facts, and the checked-in cards."""

import importlib.util
from pathlib import Path

import pytest
from huggingface_hub import ModelCard

from modeling_mae_st import MAESTConfig
from modeling_mae_st.model_card import RunFacts, build_model_card
from modeling_mae_st.released_checkpoints import RELEASED_CHECKPOINTS, released_checkpoint


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


def test_cards_number_the_loss_curve_by_step_and_show_a_classifiers_confusion_matrix_as_such():
    """The loss table numbered its rows 0, 1, 2 under "logged step"; a classifier's confusion matrix was shown under
    "What it reconstructs", with the reconstruction grid's caption."""
    run = RunFacts(loss_history=[2.0, 1.5, 1.0], loss_steps=[10, 20, 30], accuracy_top1=50.0,
                   eval_split="validation, 2x3 views", pictures=["eval_confusion_matrix.png"])  # fmt: skip
    text = str(build_model_card("classifier", MAESTConfig(**TINY, num_labels=3), "me/clf", run=run))
    assert "| step | loss |\n|---|---|\n| 10 | 2.0000 |\n| 20 | 1.5000 |\n| 30 | 1.0000 |" in text
    assert "![confusion matrix](eval_confusion_matrix.png)" in text and "(validation, 2x3 views)" in text
    assert "reconstruct" not in text.lower()
    pretrained = RunFacts(loss_history=[2.0, 1.0], pictures=["reconstruction.png"])
    text = str(build_model_card("pretrained", MAESTConfig(**TINY), "me/mae", run=pretrained))
    assert "| logged entry | loss |" in text and "## What it reconstructs" in text and "confusion" not in text
    with pytest.raises(ValueError, match="loss_steps has 1 entries for 2 losses"):
        build_model_card("pretrained", MAESTConfig(**TINY), "me/mae", run=RunFacts(loss_history=[2, 1], loss_steps=[1]))


def test_a_run_on_local_data_puts_no_path_in_the_cards_metadata():
    """A fine-tuning run on a local folder listed its path as a Hub dataset (`datasets: - /data/k400-shards`)."""
    run = RunFacts(dataset="/data/videos/k400-shards", eval_dataset="/data/videos/k400-shards", accuracy_top1=50.0)
    card = ModelCard(str(build_model_card("classifier", MAESTConfig(**TINY, num_labels=3), "me/clf", run=run)))
    assert card.data.datasets is None
    result = card.data.eval_results[0]
    assert (result.dataset_type, result.dataset_name) == ("k400-shards", "k400-shards")
    assert "/data/videos" not in str(card.data.to_dict()) and "/data/videos" not in card.text
    # a split's folder is named by the folder that holds it ("Data: train", "Accuracy on validation (validation)")
    run = RunFacts(dataset="/data/ucf101/train", eval_dataset="/data/ucf101/validation", accuracy_top1=50.0)
    card = ModelCard(str(build_model_card("classifier", MAESTConfig(**TINY, num_labels=3), "me/clf", run=run)))
    assert card.data.eval_results[0].dataset_name == "ucf101" and "Data: ucf101." in card.text


def test_converted_card_needs_its_release_and_carries_its_published_facts():
    with pytest.raises(ValueError, match="ReleasedCheckpoint"):
        build_model_card("converted", MAESTConfig(**TINY), "me/x")
    release = released_checkpoint("mae-st-vit-l-k400")
    card = build_model_card("converted", release.config(), "me/x", release=release)
    assert card.data.license == "cc-by-nc-4.0"
    result = card.data.eval_results[0]
    assert (result.metric_value, result.verified, result.source_url) == (84.35, False, release.accuracy.source_url)
    assert "`edf3a5` (as published)" in card.text and "mae_st val mode" in card.text


def test_pyslowfast_cards_state_the_published_license_and_no_other():
    release = released_checkpoint("mae-st-vit-b-k400-pyslowfast")
    card = build_model_card("converted", release.config(), "me/x", release=release)
    assert card.data.license == "unknown"
    assert "CC BY-NC" not in card.text and "No license is published for these weights" in card.text
    assert card.data.eval_results[0].source_name.startswith("facebookresearch/SlowFast")
    assert "3 spatial crops x 7 temporal clips" in card.text


def test_release_without_a_published_accuracy_has_no_figure():
    release = released_checkpoint("mae-st-vit-h-k400")  # mae_st publishes no accuracy for its ViT-H file
    card = build_model_card("converted", release.config(), "me/x", release=release)
    assert card.data.eval_results is None and "none published for this file" in card.text


def test_run_card_states_the_precision():
    run = RunFacts(dataset="UCF-101", mixed_precision="bf16")
    card = build_model_card("classifier", MAESTConfig(**TINY, num_labels=3), "me/clf", run=run)
    assert "Precision: bf16 mixed precision (the official recipes train in fp32)." in card.text
    run = RunFacts(dataset="UCF-101", mixed_precision="no")
    card = build_model_card("classifier", MAESTConfig(**TINY, num_labels=3), "me/clf", run=run)
    assert "Precision: fp32 (no mixed precision), as the official recipes." in card.text


def test_checked_in_model_cards_match_the_template(tmp_path):
    spec = importlib.util.spec_from_file_location("render_cards", ROOT / "model_cards" / "render.py")
    render = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(render)
    paths = render.render("mae-st", tmp_path)
    assert len(paths) == 3 + len(RELEASED_CHECKPOINTS) + 1
    for path in paths:
        checked_in = ROOT / "model_cards" / path.name
        assert checked_in.read_text() == path.read_text(), f"{checked_in} is stale: run python model_cards/render.py"
        for result in ModelCard.load(path).data.eval_results or []:  # no figure without its source
            assert result.source_name and result.source_url, f"{path.name}: {result.metric_name} has no source"
