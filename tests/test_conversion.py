"""The official-checkpoint converter: layouts, inference of sizes, strictness, unreadable files, the command line."""

import argparse
import json
import re
import sys

import pytest
import torch
from transformers import pipeline

from mae_st_commands.convert import main as convert_main
from modeling_mae_st import MAESTForPreTraining, MAESTModel
from modeling_mae_st.convert_official_checkpoint import (
    CheckpointConversionError,
    convert_official_checkpoint,
    detect_layout,
    infer_config,
    load_official_checkpoint,
)


@pytest.fixture(scope="module")
def mae_st_pretrain(official_fixtures):
    return torch.load(official_fixtures / "mae_st_official" / "pretrain_tiny_sep_cls.pt", weights_only=True)


@pytest.fixture(scope="module")
def mae_st_classify(official_fixtures):
    return torch.load(official_fixtures / "mae_st_official" / "classify_tiny_sep_cls.pt", weights_only=True)


@pytest.fixture(scope="module")
def pyslowfast_pretrain(official_fixtures):
    return torch.load(official_fixtures / "pyslowfast" / "pyslowfast_pretrain_tiny.pt", weights_only=True)


def encoder_weights(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """An official pretraining state dict without its decoder: an encoder alone."""
    return {k: v for k, v in state_dict.items() if not k.startswith("decoder") and k != "mask_token"}


def joint_position_encoder(fixture: dict) -> dict[str, torch.Tensor]:
    """The mae_st encoder of `fixture` with one joint position table (cls slot first), as `sep_pos_embed=False`."""
    state = encoder_weights(fixture["checkpoint"]["model"])
    spatial, temporal = state.pop("pos_embed_spatial"), state.pop("pos_embed_temporal")  # (1, S, D), (1, T', D)
    patches = (temporal[:, :, None] + spatial[:, None]).flatten(1, 2)  # (1, T' * S, D)
    state["pos_embed"] = torch.cat([state.pop("pos_embed_class"), patches], dim=1)
    return state


def run_convert(capsys, *argv: str) -> tuple[int, str]:
    """Run `mae-st-convert` in-process; return its exit status and stderr."""
    with pytest.raises(SystemExit) as exit_info:
        convert_main(list(argv))
    return exit_info.value.code, capsys.readouterr().err


def test_layouts_are_recognised(mae_st_pretrain, pyslowfast_pretrain):
    assert detect_layout(mae_st_pretrain["checkpoint"]["model"]) == {
        "task": "pretraining", "decoder_layout": "mae_st", "fused_qkv": False
    }
    assert detect_layout(pyslowfast_pretrain["checkpoint"]["model_state"]) == {
        "task": "pretraining", "decoder_layout": "pyslowfast", "fused_qkv": True
    }


def test_sizes_are_inferred_from_the_tensors_and_the_saved_pyslowfast_cfg(pyslowfast_pretrain):
    expected = pyslowfast_pretrain["config"]
    model = convert_official_checkpoint(pyslowfast_pretrain["checkpoint"])  # with its `cfg` YAML
    for key in ("num_frames", "image_size", "patch_size", "tubelet_size", "hidden_size", "num_hidden_layers",
                "num_attention_heads", "decoder_hidden_size", "decoder_num_hidden_layers",
                "decoder_num_attention_heads", "qkv_bias"):  # fmt: skip
        assert getattr(model.config, key) == expected[key], key
    assert model.config.pred_t_dim == 4 and model.config.predicted_frames_per_token == 1


def test_heads_of_a_width_that_is_not_released_are_required_not_guessed(pyslowfast_pretrain, mae_st_pretrain):
    with pytest.raises(CheckpointConversionError, match="64 wide, not a released width.*--num_attention_heads"):
        infer_config(pyslowfast_pretrain["checkpoint"]["model_state"])
    with pytest.raises(CheckpointConversionError, match="mae_st decoder 32 wide.*--decoder_num_attention_heads"):
        infer_config(mae_st_pretrain["checkpoint"]["model"], num_attention_heads=4)
    # mae_st saves its argparse namespace: the decoder heads are read from it
    fixture = mae_st_pretrain
    checkpoint = {"model": fixture["checkpoint"]["model"], "args": {"decoder_num_heads": 4, "num_frames": 8}}
    model = convert_official_checkpoint(checkpoint, num_attention_heads=4)
    out = model(fixture["pixel_values_bcthw"].transpose(1, 2), noise=fixture["noise"], mask_ratio=fixture["mask_ratio"])
    torch.testing.assert_close(out.loss, fixture["loss"], rtol=1e-5, atol=0)


def test_released_widths_take_the_released_head_counts(pyslowfast_pretrain):
    # The width is read from the patch projection (hidden, channels, tubelet, patch, patch) alone; shapes suffice.
    state = dict(pyslowfast_pretrain["checkpoint"]["model_state"])
    state["patch_embed.proj.weight"] = torch.empty(1024, 3, 2, 16, 16, device="meta")
    config = infer_config(state)
    assert (config.hidden_size, config.num_attention_heads) == (1024, 16)  # the released ViT-L's
    assert config.decoder_num_attention_heads == 128 // 64  # PySlowFast's decoder rule, width // 64


def test_a_joint_position_table_needs_the_frame_count(mae_st_pretrain):
    state = joint_position_encoder(mae_st_pretrain)
    with pytest.raises(CheckpointConversionError, match="frame count is not in the weights.*--num_frames"):
        convert_official_checkpoint(state, num_attention_heads=4)
    with pytest.raises(CheckpointConversionError, match="does not fit --num_frames 6"):
        convert_official_checkpoint(state, num_attention_heads=4, num_frames=6)
    assert convert_official_checkpoint(state, num_attention_heads=4, num_frames=8).config.num_frames == 8
    saved_args = {"model": state, "args": argparse.Namespace(num_frames=8)}
    saved = convert_official_checkpoint(saved_args, num_attention_heads=4)
    assert (saved.config.num_frames, saved.config.image_size) == (8, 32)


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
    state = encoder_weights(mae_st_pretrain["checkpoint"]["model"])
    model = convert_official_checkpoint(state, num_attention_heads=4)
    assert type(model) is MAESTModel


def test_unsafe_pickles_are_refused_unless_allowed(tmp_path, mae_st_pretrain):
    # the official training scripts save their argparse namespace beside the weights
    path = tmp_path / "unsafe.pth"
    torch.save({"model": mae_st_pretrain["checkpoint"]["model"], "args": argparse.Namespace(num_frames=8)}, path)
    with pytest.raises(CheckpointConversionError, match="--allow_pickle"):
        load_official_checkpoint(path)
    official = load_official_checkpoint(path, allow_pickle=True)
    assert "cls_token" in official.state_dict and official.saved_settings == {"num_frames": 8}


@pytest.mark.parametrize(
    ("name", "write", "cause"),
    [
        ("notes.pth", lambda p, _: p.write_text("hello world\nthis is text\n"), "is not a PyTorch checkpoint"),
        ("empty.pth", lambda p, _: p.write_bytes(b""), "is empty \\(0 bytes\\)"),
        ("cut.pth", lambda p, c: p.write_bytes(c.read_bytes()[:3000]), "is not a readable PyTorch checkpoint"),
        # cut inside the archive's records: torch's zip reader raised OSError (Errno 22), with its traceback
        ("cut_5k.pth", lambda p, c: p.write_bytes(c.read_bytes()[:5000]), "truncated or corrupted"),
        ("cut_20k.pth", lambda p, c: p.write_bytes(c.read_bytes()[:20000]), "truncated or corrupted"),
        ("no_pos.pth", lambda p, c: torch.save(
            {"model": {k: v for k, v in torch.load(c)["model"].items() if not k.startswith("pos_embed")}}, p
        ), "has no 'pos_embed'"),
        ("optimizer.pth", lambda p, _: torch.save({"optimizer": {"lr": 1.0}}, p), "holds no state dict"),
    ],
)  # fmt: skip
def test_unreadable_files_are_one_line_naming_the_file_and_the_cause(
    tmp_path, capsys, mae_st_pretrain, name, write, cause
):
    good = tmp_path / "good.pth"
    torch.save(mae_st_pretrain["checkpoint"], good)
    path = tmp_path / name
    write(path, good)
    status, stderr = run_convert(capsys, "--checkpoint", str(path), "--output_dir", str(tmp_path / "out"),
                                 "--num_attention_heads", "4", "--decoder_num_attention_heads", "4")  # fmt: skip
    assert status == 2
    assert stderr.count("\n") == 1 and "Traceback" not in stderr
    assert stderr.startswith(f"mae-st-convert: error: {path}")
    assert re.search(cause, stderr), stderr


def test_a_pickled_custom_object_is_named_under_allow_pickle(tmp_path, capsys, monkeypatch, mae_st_pretrain):
    # A training script pickles an object of a class defined in its own `__main__`, which is not there on loading.
    class TrainingArgs:
        pass

    TrainingArgs.__module__, TrainingArgs.__qualname__ = "__main__", "TrainingArgs"
    monkeypatch.setattr(sys.modules["__main__"], "TrainingArgs", TrainingArgs, raising=False)
    path = tmp_path / "custom.pth"
    torch.save({"model": mae_st_pretrain["checkpoint"]["model"], "args": TrainingArgs()}, path)
    monkeypatch.delattr(sys.modules["__main__"], "TrainingArgs")
    status, stderr = run_convert(
        capsys, "--checkpoint", str(path), "--output_dir", str(tmp_path / "o"), "--allow_pickle"
    )
    assert status == 2 and stderr.count("\n") == 1
    assert f"{path} holds a pickled object whose class cannot be imported here" in stderr


def test_missing_file_and_missing_sizes_are_one_line_with_exit_status_2(tmp_path, capsys, mae_st_pretrain):
    status, stderr = run_convert(capsys, "--checkpoint", str(tmp_path / "nope.pth"), "--output_dir", str(tmp_path))
    assert (status, stderr) == (2, f"mae-st-convert: error: No such checkpoint file: {tmp_path / 'nope.pth'}\n")
    checkpoint = tmp_path / "official.pth"
    torch.save(mae_st_pretrain["checkpoint"], checkpoint)
    status, stderr = run_convert(capsys, "--checkpoint", str(checkpoint), "--output_dir", str(tmp_path / "out"))
    assert status == 2 and "--num_attention_heads" in stderr and stderr.count("\n") == 1


@pytest.mark.parametrize(
    "flags,message",
    [
        (["--num_attention_heads", "5"], "`hidden_size` (64) must be divisible by `num_attention_heads` (5)."),
        (["--num_attention_heads", "4", "--mask_ratio", "2"], "`mask_ratio` must be in [0, 1), got 2.0."),
    ],
)
def test_sizes_the_config_refuses_are_one_line_naming_the_file(flags, message, tmp_path, capsys, pyslowfast_pretrain):
    checkpoint = tmp_path / "official.pyth"
    torch.save(pyslowfast_pretrain["checkpoint"], checkpoint)
    status, stderr = run_convert(capsys, "--checkpoint", str(checkpoint), "--output_dir", str(tmp_path / "out"), *flags)
    assert (status, stderr.count("\n")) == (2, 1), stderr
    assert stderr.startswith(f"mae-st-convert: error: {checkpoint}: {message}"), stderr


def test_command_line_writes_a_loadable_folder(tmp_path, mae_st_pretrain):
    checkpoint = tmp_path / "official.pth"
    torch.save(mae_st_pretrain["checkpoint"], checkpoint)
    output = tmp_path / "converted"
    convert_main(["--checkpoint", str(checkpoint), "--output_dir", str(output), "--num_attention_heads", "4",
                  "--decoder_num_attention_heads", "4"])  # fmt: skip
    assert (output / "model.safetensors").is_file()
    model = MAESTForPreTraining.from_pretrained(output).eval()
    fixture = mae_st_pretrain
    out = model(fixture["pixel_values_bcthw"].transpose(1, 2), noise=fixture["noise"], mask_ratio=fixture["mask_ratio"])
    torch.testing.assert_close(out.loss, fixture["loss"], rtol=1e-5, atol=0)


def test_a_converted_classifier_folder_serves_the_pipeline_with_its_own_processor(
    tmp_path, mae_st_classify, demo_video
):
    output = tmp_path / "classifier"
    convert_official_checkpoint(mae_st_classify["checkpoint"]["model_state"], output_dir=output, num_attention_heads=4)
    processor_config = json.loads((output / "video_preprocessor_config.json").read_text())
    assert (processor_config["num_frames"], processor_config["crop_size"]) == (8, 32)  # the model's, not 16 x 224
    classifier = pipeline("video-classification", model=str(output))
    predictions = classifier(str(demo_video), top_k=5)
    assert len(predictions) == 5 and sum(p["score"] for p in predictions) == pytest.approx(1.0, abs=1e-4)
