"""The official-checkpoint converter: layouts, inference of sizes, strictness, unsafe files, the command line."""

import argparse
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from modeling_mae_st import MAESTForPreTraining, MAESTModel
from modeling_mae_st.convert_official_checkpoint import (
    CheckpointConversionError,
    convert_official_checkpoint,
    detect_layout,
    infer_config,
    load_official_state_dict,
)

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"


@pytest.fixture(scope="module")
def mae_st_pretrain():
    return torch.load(FIXTURES / "mae_st_official" / "pretrain_tiny_sep_cls.pt", weights_only=True)


@pytest.fixture(scope="module")
def pyslowfast_pretrain():
    return torch.load(FIXTURES / "pyslowfast" / "pyslowfast_pretrain_tiny.pt", weights_only=True)


def test_layouts_are_recognised(mae_st_pretrain, pyslowfast_pretrain):
    assert detect_layout(mae_st_pretrain["checkpoint"]["model"]) == {
        "task": "pretraining", "decoder_layout": "mae_st", "fused_qkv": False
    }
    assert detect_layout(pyslowfast_pretrain["checkpoint"]["model_state"]) == {
        "task": "pretraining", "decoder_layout": "pyslowfast", "fused_qkv": True
    }


def test_sizes_are_inferred_from_the_tensors(pyslowfast_pretrain):
    config = infer_config(pyslowfast_pretrain["checkpoint"]["model_state"])
    expected = pyslowfast_pretrain["config"]
    for key in ("num_frames", "image_size", "patch_size", "tubelet_size", "hidden_size", "num_hidden_layers",
                "decoder_hidden_size", "decoder_num_hidden_layers", "qkv_bias"):
        assert getattr(config, key) == expected[key], key
    assert config.pred_t_dim == 4 and config.predicted_frames_per_token == 1
    assert config.num_attention_heads == 64 // 64  # no preset has width 64: width // 64


def test_released_mixed_layout_with_split_qkv_and_wrapper_prefixes(pyslowfast_pretrain):
    """The released mae_st files: mae_st encoder names (split q/k/v), PySlowFast decoder; DDP/compile prefixes."""
    state = {}
    for key, value in pyslowfast_pretrain["checkpoint"]["model_state"].items():
        if key.startswith("blocks.") and ".attn.qkv." in key:
            for name, part in zip("qkv", value.chunk(3)):
                state["module._orig_mod." + key.replace(".qkv.", f".{name}.")] = part
        else:
            state["module._orig_mod." + key] = value
    model = convert_official_checkpoint(state, num_attention_heads=4)
    fixture = pyslowfast_pretrain
    out = model(fixture["pixel_values_bcthw"].transpose(1, 2), noise=fixture["noise"], mask_ratio=0.9)
    torch.testing.assert_close(out.loss, fixture["loss"], rtol=1e-5, atol=0)


def test_unused_and_missing_keys_are_named(mae_st_pretrain):
    state = dict(mae_st_pretrain["checkpoint"]["model"])
    state["blocks.0.attn.relative_position_bias"] = torch.zeros(3)
    with pytest.raises(CheckpointConversionError, match="relative_position_bias"):
        convert_official_checkpoint(state, num_attention_heads=4, decoder_num_attention_heads=4)
    state = dict(mae_st_pretrain["checkpoint"]["model"])
    del state["decoder_norm.bias"]
    with pytest.raises(CheckpointConversionError, match="decoder.decoder_norm.bias"):
        convert_official_checkpoint(state, num_attention_heads=4, decoder_num_attention_heads=4)


def test_encoder_only_state_dict_becomes_mae_st_model(mae_st_pretrain):
    state = {k: v for k, v in mae_st_pretrain["checkpoint"]["model"].items() if not k.startswith("decoder") and k != "mask_token"}
    model = convert_official_checkpoint(state, num_attention_heads=4)
    assert type(model) is MAESTModel


def test_unsafe_pickles_are_refused_unless_allowed(tmp_path, mae_st_pretrain):
    # the official training scripts save their argparse namespace beside the weights
    path = tmp_path / "unsafe.pth"
    torch.save({"model": mae_st_pretrain["checkpoint"]["model"], "args": argparse.Namespace(lr=1.0)}, path)
    with pytest.raises(CheckpointConversionError, match="--allow_pickle"):
        load_official_state_dict(path)
    assert "cls_token" in load_official_state_dict(path, allow_pickle=True)


def test_missing_and_unreadable_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        load_official_state_dict(tmp_path / "nope.pth")
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointConversionError, match="bad.pth"):
        load_official_state_dict(bad)


def test_command_line_writes_a_loadable_folder(tmp_path, mae_st_pretrain):
    checkpoint = tmp_path / "official.pth"
    torch.save(mae_st_pretrain["checkpoint"], checkpoint)
    output = tmp_path / "converted"
    subprocess.run(
        [sys.executable, "-m", "modeling_mae_st.convert_official_checkpoint", "--checkpoint", str(checkpoint),
         "--output_dir", str(output), "--num_attention_heads", "4", "--decoder_num_attention_heads", "4"],
        check=True, capture_output=True, text=True,
    )
    assert (output / "model.safetensors").is_file()
    model = MAESTForPreTraining.from_pretrained(output).eval()
    fixture = mae_st_pretrain
    out = model(fixture["pixel_values_bcthw"].transpose(1, 2), noise=fixture["noise"], mask_ratio=fixture["mask_ratio"])
    torch.testing.assert_close(out.loss, fixture["loss"], rtol=1e-5, atol=0)
