"""The console commands' shared report of a user's mistake: one line, exit status 2; a bug keeps its traceback."""

import pytest

from modeling_mae_st import MAESTModel
from modeling_mae_st.command_line import UsageError, exit_on_user_error, load_pretrained
from modeling_mae_st.video_decoding import VideoDecodingError


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (UsageError("--num_frames must be at least 1, got 0"), "--num_frames must be at least 1, got 0"),
        (
            VideoDecodingError("clip.mp4", "no video stream\n(decord and PyAV)"),
            "Cannot decode video clip.mp4: no video stream (decord and PyAV)",
        ),
        (FileNotFoundError(2, "No such file or directory", "missing.pt"), "No such file or directory: missing.pt"),
        (FileExistsError(17, "File exists", "out"), "File exists: out"),
    ],
)
def test_a_users_mistake_is_one_line_and_exit_status_2(capsys, error, expected):
    with pytest.raises(SystemExit) as exit_info, exit_on_user_error("mae-st-test"):
        raise error
    assert exit_info.value.code == 2
    stderr = capsys.readouterr().err
    assert stderr.startswith(f"mae-st-test: error: {expected}")
    assert stderr.count("\n") == 1 and "Traceback" not in stderr


@pytest.mark.parametrize("error", [KeyError("pos_embed"), FileNotFoundError("no file name"), ValueError("bug")])
def test_a_bug_keeps_its_exception(error):
    with pytest.raises(type(error)), exit_on_user_error("mae-st-test"):
        raise error


@pytest.mark.parametrize("value, cause", [
    ("32", "Field 'hidden_size' expected int, got str"),  # @strict now checks the types: "32" was taken
    (30, "its config is not valid (`hidden_size` (30) must be divisible by `num_attention_heads` (16).)"),
])  # fmt: skip
def test_a_saved_config_with_a_wrong_value_is_one_line_naming_the_flag(tmp_path, value, cause):
    import json

    from modeling_mae_st import MAESTConfig

    MAESTConfig().save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "hidden_size": value}))
    with pytest.raises(UsageError, match=f"^--model_name_or_path {tmp_path}: ") as error:
        load_pretrained(MAESTConfig, str(tmp_path), "--model_name_or_path")
    assert cause in str(error.value) and "\n" not in str(error.value)


def test_a_mistyped_folder_name_without_a_path_says_it_is_neither_here_nor_on_the_hub(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # (it said only that the Hub could not be reached)
    with pytest.raises(UsageError, match="^--model_name_or_path nosuch: no such local folder, and no Hub model"):
        load_pretrained(MAESTModel, "nosuch", "--model_name_or_path")


def test_a_missing_model_folder_is_named_as_one_not_as_a_bad_hub_id(tmp_path):
    missing = str(tmp_path / "no_such_model")
    with pytest.raises(UsageError, match=f"^--model_name_or_path {missing}: no such folder$"):
        load_pretrained(MAESTModel, missing, "--model_name_or_path")


@pytest.mark.parametrize("model_class", ["MAESTConfig", "MAESTForPreTraining", "MAESTForVideoClassification"])
def test_a_folder_that_is_not_an_mae_st_model_is_one_line_naming_the_flag_and_what_it_is(tmp_path, model_class):
    """A ViT folder was taken with a warning, then failed on a missing attribute or the weights' sizes; a folder
    without config.json got the ViT-L defaults; a damaged weights file was safetensors' traceback."""
    import json

    import torch
    from transformers import ViTConfig

    import modeling_mae_st
    from conftest import TINY

    cls = getattr(modeling_mae_st, model_class)
    vit, empty, damaged = tmp_path / "vit", tmp_path / "empty", tmp_path / "damaged"
    ViTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64).save_pretrained(vit)
    empty.mkdir()
    torch.manual_seed(0)
    modeling_mae_st.MAESTForPreTraining(modeling_mae_st.MAESTConfig(**TINY)).save_pretrained(damaged)
    (damaged / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(UsageError) as error:
        load_pretrained(cls, str(vit), "--model_name_or_path")
    assert str(error.value) == (
        f"--model_name_or_path {vit}: not an MAE-ST model (its config.json says model_type 'vit')"
    )
    with pytest.raises(UsageError) as error:
        load_pretrained(cls, str(empty), "--model_name_or_path")
    assert str(error.value) == f"--model_name_or_path {empty}: the folder holds no config.json, so it is no saved model"
    (empty / "config.json").write_text(json.dumps(["a", "list"]))
    with pytest.raises(UsageError, match="its config.json is not a model's config"):
        load_pretrained(cls, str(empty), "--model_name_or_path")
    if model_class != "MAESTConfig":
        with pytest.raises(UsageError, match=f"^--model_name_or_path {damaged}: its weights file is damaged \\(Error"):
            load_pretrained(cls, str(damaged), "--model_name_or_path")
