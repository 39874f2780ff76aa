"""Released checkpoints: one record per official file, each fact with its source; lookup by md5 prefix and name."""

import importlib.util
from pathlib import Path

import pytest

from modeling_mae_st.configuration_mae_st import PRESETS
from modeling_mae_st.released_checkpoints import (
    RELEASED_CHECKPOINTS,
    find_released_checkpoint,
    released_checkpoint,
)


ROOT = Path(__file__).resolve().parents[1]


def _render_module():
    spec = importlib.util.spec_from_file_location("render_cards", ROOT / "model_cards" / "render.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_released_checkpoints_are_found_by_md5_prefix_then_by_unique_file_name(tmp_path):
    ambiguous = tmp_path / "k400_400ep_rep4_mr9_16x4.pyth"  # the mae_st alias name of both ViT-L and ViT-H
    ambiguous.write_bytes(b"not a checkpoint")
    assert find_released_checkpoint(ambiguous) is None
    assert find_released_checkpoint(ambiguous, md5="3d7f64" + "0" * 26).name == "mae-st-vit-h-k400"
    pyslowfast = tmp_path / "VIT_L_16x4_MAE_PT.pyth"
    pyslowfast.write_bytes(b"x")
    assert find_released_checkpoint(pyslowfast).name == "mae-st-vit-l-k400-pyslowfast"
    with pytest.raises(KeyError, match="mae-st-vit-l-k400"):
        released_checkpoint("mae-st-vit-x")


def test_every_published_accuracy_names_its_source_and_views_and_belongs_to_its_own_file():
    published = {r.name: r.accuracy for r in RELEASED_CHECKPOINTS if r.accuracy is not None}
    # PySlowFast's model zoo figures are for its own files; mae_st publishes only 84.35 (FINETUNE.md, ViT-L K400).
    assert {name: a.top1 for name, a in published.items()} == {
        "mae-st-vit-b-k400-pyslowfast": 81.3,
        "mae-st-vit-l-k400-pyslowfast": 84.8,
        "mae-st-vit-h-k400-pyslowfast": 85.1,
        "mae-st-vit-l-k400": 84.35,
    }
    for name, accuracy in published.items():
        codebase = released_checkpoint(name).codebase
        repository = "SlowFast" if codebase == "PySlowFast" else "mae_st"
        assert f"facebookresearch/{repository}" in accuracy.source and repository in accuracy.source_url
        assert accuracy.views and accuracy.fine_tuning and accuracy.dataset == "Kinetics-400"


def test_licenses_are_the_published_ones():
    for release in RELEASED_CHECKPOINTS:
        if release.codebase == "PySlowFast":  # Apache-2.0 repository, no license published for the weights
            assert release.hub_license == "unknown"
            assert "Apache-2.0" in release.license_statement and "CC BY-NC" not in release.license_statement
        else:
            assert release.hub_license == "cc-by-nc-4.0" and "mae_st README.md" in release.license_statement


def test_release_configs_have_the_preset_encoder_and_the_pyslowfast_decoder():
    for release in RELEASED_CHECKPOINTS:
        config = release.config()
        assert {key: getattr(config, key) for key in PRESETS[release.preset]} == PRESETS[release.preset]
        assert (config.decoder_hidden_size, config.decoder_num_hidden_layers, config.decoder_num_attention_heads) == (
            512, 4, 8
        )
    assert len({r.name for r in RELEASED_CHECKPOINTS}) == len(RELEASED_CHECKPOINTS)


def test_readme_table_is_the_one_rendered_from_the_released_checkpoints():
    table = _render_module().released_checkpoints_table()
    assert table in (ROOT / "README.md").read_text(), "README's table is stale: run python model_cards/render.py"
    for release in RELEASED_CHECKPOINTS:
        assert release.url in table and release.convert_command in table
