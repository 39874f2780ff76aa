"""Hub folders: remote code that loads without this package, and pushes (only HfApi's network methods replaced)."""

import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap
from pathlib import Path
from unittest import mock

import pytest
import torch
from huggingface_hub import CommitInfo, HfApi, ModelCard, RepoUrl
from huggingface_hub.errors import HfHubHTTPError
from transformers import AutoVideoProcessor

from mae_st_commands.convert import main as convert_main

from modeling_mae_st import MAESTConfig, MAESTForPreTraining
from modeling_mae_st.hub import (
    HubPushError,
    RemoteCodeError,
    default_video_processor,
    files_to_push,
    module_closure,
    push_to_hub,
    save_for_hub,
    write_remote_code,
)
from modeling_mae_st.model_card import RunFacts, build_model_card
from modeling_mae_st.video_processing_mae_st import MAESTVideoProcessor


TINY = dict(
    image_size=32, patch_size=8, num_frames=4, tubelet_size=2, hidden_size=32, num_hidden_layers=2,
    num_attention_heads=4, intermediate_size=64, decoder_hidden_size=16, decoder_num_hidden_layers=1,
    decoder_num_attention_heads=4, decoder_intermediate_size=32, pred_t_dim=2, num_labels=3,
)
CODE_FILES = [
    "configuration_mae_st.py", "modeling_mae_st.py", "video_decoding.py", "video_processing_mae_st.py",
    "video_transforms.py",
]  # fmt: skip


@pytest.fixture(scope="module")
def saved_folder(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model = MAESTForPreTraining(MAESTConfig(**TINY)).eval()
    folder = tmp_path_factory.mktemp("saved") / "tiny-mae-st"
    processor = default_video_processor(model.config)
    card = build_model_card("pretrained", model.config, "me/tiny-mae-st", run=RunFacts(pictures=["grid.png"]))
    picture = folder.parent / "grid.png"
    picture.write_bytes(b"\x89PNG not really")
    save_for_hub(model, folder, video_processor=processor, card=card, extra_files=[picture])
    return folder


def expected_files(extra: list[str]) -> list[str]:
    return sorted(["config.json", "model.safetensors", "video_preprocessor_config.json", *CODE_FILES, *extra])


def test_save_for_hub_writes_weights_card_pictures_code_and_auto_map(saved_folder):
    assert sorted(p.name for p in saved_folder.iterdir()) == expected_files(["README.md", "grid.png"])
    auto_map = json.loads((saved_folder / "config.json").read_text())["auto_map"]
    assert auto_map["AutoModelForPreTraining"] == "modeling_mae_st.MAESTForPreTraining"
    assert auto_map["AutoModelForVideoClassification"] == "modeling_mae_st.MAESTForVideoClassification"
    assert auto_map["AutoConfig"] == "configuration_mae_st.MAESTConfig"
    processor_config = json.loads((saved_folder / "video_preprocessor_config.json").read_text())
    assert processor_config["auto_map"] == {"AutoVideoProcessor": "video_processing_mae_st.MAESTVideoProcessor"}


def test_the_saved_processor_loads_with_auto_video_processor_as_a_user_calls_it(saved_folder):
    processor = AutoVideoProcessor.from_pretrained(saved_folder)
    assert isinstance(processor, MAESTVideoProcessor)
    assert (processor.num_frames, processor.crop_size) == (TINY["num_frames"], TINY["image_size"])


def test_the_default_processor_makes_the_models_clips_with_the_official_short_side_rule():
    processor = default_video_processor(MAESTConfig(**{**TINY, "num_frames": 8, "pred_t_dim": 4, "image_size": 448}))
    assert (processor.num_frames, processor.crop_size) == (8, 448)
    assert processor.short_side_size == 512 and processor.train_jitter_scales == (512, 640)  # 256, (256, 320) at 224


def test_save_for_hub_refuses_a_processor_for_other_clips(tmp_path):
    model = MAESTForPreTraining(MAESTConfig(**TINY))
    with pytest.raises(ValueError, match="clips of 16 frames of 224x224, but the model takes 4 frames of 32x32"):
        save_for_hub(model, tmp_path / "folder", video_processor=MAESTVideoProcessor())
    assert not (tmp_path / "folder").exists()


def test_saved_files_get_the_usual_permissions(saved_folder):
    umask = os.umask(0)
    os.umask(umask)
    modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in saved_folder.iterdir()}
    assert modes == dict.fromkeys(modes, 0o666 & ~umask)  # transformers writes model.safetensors 0600


REMOTE_LOAD = textwrap.dedent(
    """
    import importlib.abc, json, sys
    class BlockPackage(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] == "modeling_mae_st":
                raise ImportError(f"{name} must not be importable here")
    sys.meta_path.insert(0, BlockPackage())
    import torch
    from transformers import (AutoConfig, AutoModel, AutoModelForPreTraining, AutoModelForVideoClassification,
                              AutoVideoProcessor)
    folder = sys.argv[1]
    result = {"config": type(AutoConfig.from_pretrained(folder, trust_remote_code=True)).__module__}
    torch.manual_seed(0)
    pixel_values = torch.randn(1, 4, 3, 32, 32)
    for auto in (AutoModel, AutoModelForPreTraining, AutoModelForVideoClassification):
        model = auto.from_pretrained(folder, trust_remote_code=True).eval()
        result[auto.__name__] = type(model).__module__ + "." + type(model).__name__
    base = AutoModel.from_pretrained(folder, trust_remote_code=True).eval()
    result["features"] = base.get_video_features(pixel_values).pooler_output.flatten().tolist()
    processor = AutoVideoProcessor.from_pretrained(folder, trust_remote_code=True)
    result["processor"] = type(processor).__module__ + "." + type(processor).__name__
    result["crop_size"] = processor.crop_size
    result["blocked"] = "modeling_mae_st" not in sys.modules
    print("RESULT" + json.dumps(result))
    """
)


def load_remotely(folder: Path, tmp_path: Path) -> dict:
    """What [`REMOTE_LOAD`] finds in `folder`, run in a fresh interpreter that cannot import the package."""
    command = [sys.executable, "-I", "-c", REMOTE_LOAD, str(folder)]
    env = {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf_home"), "PATH": "/usr/bin:/bin"}
    completed = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout.split("RESULT", 1)[1])


def test_saved_folder_loads_with_trust_remote_code_where_the_package_cannot_be_imported(saved_folder, tmp_path):
    result = load_remotely(shutil.copytree(saved_folder, tmp_path / "copy"), tmp_path)
    assert result["blocked"]
    assert result["config"].startswith("transformers_modules.")
    assert result["AutoModel"].endswith("modeling_mae_st.MAESTModel")
    assert result["AutoModelForPreTraining"].endswith("modeling_mae_st.MAESTForPreTraining")
    assert result["AutoModelForVideoClassification"].endswith("modeling_mae_st.MAESTForVideoClassification")
    assert all(result[k].startswith("transformers_modules.") for k in ("AutoModel", "AutoModelForPreTraining"))
    local = MAESTForPreTraining.from_pretrained(saved_folder).eval()
    torch.manual_seed(0)
    expected = local.mae_st.get_video_features(torch.randn(1, 4, 3, 32, 32)).pooler_output.flatten()
    torch.testing.assert_close(torch.tensor(result["features"]), expected)
    assert result["processor"].startswith("transformers_modules.")
    assert result["processor"].endswith("video_processing_mae_st.MAESTVideoProcessor")
    assert result["crop_size"] == 32


@pytest.mark.parametrize("how", ["a new model", "a loaded folder saved again"])
def test_a_folder_saved_by_hand_loads_with_trust_remote_code_where_the_package_cannot_be_imported(
    saved_folder, tmp_path, how
):
    """`save_pretrained` by hand (so the Trainer's checkpoints and `push_to_hub`) copied no code: a loaded folder
    saved again kept `auto_map` entries naming files it did not have (an OSError under trust_remote_code), and a new
    model's folder had neither (transformers asked for code there was none of)."""
    folder = tmp_path / "by_hand"
    if how == "a new model":
        torch.manual_seed(0)
        model = MAESTForPreTraining(MAESTConfig(**TINY)).eval()
    else:
        model = MAESTForPreTraining.from_pretrained(saved_folder).eval()
    model.save_pretrained(folder)
    default_video_processor(model.config).save_pretrained(folder)
    assert {path.name for path in folder.glob("*.py")} == set(CODE_FILES)
    result = load_remotely(folder, tmp_path)
    assert result["blocked"]
    assert all(result[name].startswith("transformers_modules.") for name in ("config", "AutoModel", "processor"))
    assert result["AutoModelForVideoClassification"].endswith("modeling_mae_st.MAESTForVideoClassification")
    torch.manual_seed(0)
    expected = model.mae_st.get_video_features(torch.randn(1, 4, 3, 32, 32)).pooler_output.flatten()
    torch.testing.assert_close(torch.tensor(result["features"]), expected)


def test_module_closure_refuses_absolute_and_parent_imports_of_the_package(tmp_path):
    (tmp_path / "good.py").write_text("from .helper import x\n")
    (tmp_path / "helper.py").write_text("import torch\nx = 1\n")
    assert [p.name for p in module_closure(["good"], tmp_path)] == ["good.py", "helper.py"]
    (tmp_path / "absolute.py").write_text("from modeling_mae_st.helper import x\n")
    with pytest.raises(RemoteCodeError, match="absolute"):
        module_closure(["absolute"], tmp_path)
    (tmp_path / "parent.py").write_text("from .. import x\n")
    with pytest.raises(RemoteCodeError, match="flat Hub folder"):
        module_closure(["parent"], tmp_path)
    (tmp_path / "missing.py").write_text("from .nowhere import x\n")
    with pytest.raises(FileNotFoundError, match="nowhere.py"):
        module_closure(["missing"], tmp_path)


def test_write_remote_code_needs_a_saved_config(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json"):
        write_remote_code(tmp_path)


class RecordedPush:
    """Stands in for HfApi's two network calls and keeps what they were given."""

    def __init__(self):
        self.repos, self.commits = [], []

    def create_repo(self, api, repo_id, **kwargs):
        self.repos.append((repo_id, kwargs))
        name = repo_id if "/" in repo_id else f"me/{repo_id}"
        return RepoUrl(f"https://huggingface.co/{name}")

    def create_commit(self, api, repo_id, operations, **kwargs):
        self.commits.append((repo_id, operations, kwargs))
        return CommitInfo(
            commit_url=f"https://huggingface.co/{repo_id}/commit/123", commit_message=kwargs["commit_message"],
            commit_description="", oid="123",
        )

    def uploaded(self, index: int = -1) -> dict[str, bytes]:
        operations = self.commits[index][1]
        return {op.path_in_repo: Path(op.path_or_fileobj).read_bytes() for op in operations}


@pytest.fixture
def recorded_push():
    recorder = RecordedPush()
    with mock.patch.object(HfApi, "create_repo", autospec=True, side_effect=recorder.create_repo), \
            mock.patch.object(HfApi, "create_commit", autospec=True, side_effect=recorder.create_commit):
        yield recorder


def test_push_uploads_the_whole_folder_except_training_state(saved_folder, tmp_path, recorded_push):
    folder = shutil.copytree(saved_folder, tmp_path / "run")
    for state in ("checkpoint-100/model.safetensors", "checkpoint-200/optimizer.bin", "runs/events.out"):
        (folder / state).parent.mkdir()
        (folder / state).write_bytes(b"state")
    commit = push_to_hub(folder, "me/tiny-mae-st", private=True, commit_message="first")
    uploaded = recorded_push.uploaded()
    assert sorted(uploaded) == expected_files(["README.md", "grid.png"])
    assert sorted(uploaded) == files_to_push(folder)
    assert recorded_push.repos == [("me/tiny-mae-st", {"private": True, "exist_ok": True, "repo_type": "model"})]
    assert commit.commit_url.startswith("https://huggingface.co/me/tiny-mae-st")
    card = ModelCard(uploaded["README.md"].decode())
    assert card.data.library_name == "transformers"
    assert card.data.pipeline_tag == "feature-extraction"
    assert "mae-st" in card.data.tags and card.data.license == "apache-2.0"
    assert "![reconstruction](grid.png)" in card.text


def test_converter_saves_a_release_card_and_pushes_the_full_repository(tmp_path, recorded_push, official_fixtures):
    fixture = torch.load(official_fixtures / "pyslowfast" / "pyslowfast_pretrain_tiny.pt", weights_only=True)
    checkpoint = tmp_path / "VIT_B_16x4_MAE_PT.pyth"  # named as the released PySlowFast ViT-B file
    torch.save(fixture["checkpoint"], checkpoint)
    output = tmp_path / "converted"
    convert_main([
        "--checkpoint", str(checkpoint), "--output_dir", str(output), "--num_attention_heads", "4",
        "--decoder_num_attention_heads", "4", "--push_to_hub", "--hub_model_id", "me/mae-st-vit-b-k400",
    ])
    uploaded = recorded_push.uploaded()
    assert sorted(uploaded) == expected_files(["README.md"])
    assert recorded_push.commits[-1][0] == "me/mae-st-vit-b-k400"
    metadata = ModelCard(uploaded["README.md"].decode()).data
    assert metadata.license == "unknown"  # PySlowFast publishes no license for its weights
    assert metadata.datasets == ["kinetics-400"]
    result = metadata.eval_results[0]
    assert (result.metric_value, result.verified, result.task_type) == (81.3, False, "video-classification")
    assert "published, not measured here" in result.dataset_name
    assert "mae-st-convert --checkpoint VIT_B_16x4_MAE_PT.pyth" in uploaded["README.md"].decode()


def test_a_push_the_hub_refuses_is_one_line_and_leaves_the_folder(
    saved_folder, tmp_path, official_fixtures, capsys, monkeypatch
):
    """Offline (as every test runs), the real `HfApi` refuses: the library raises `HubPushError` naming the folder,
    the repository and how to push later; the converter prints it as one line after writing its folder."""
    with pytest.raises(HubPushError, match=r"--push_to_hub: uploading .* to me/tiny failed \(Cannot reach"):
        push_to_hub(saved_folder, "me/tiny")
    def drop_the_connection(self, *args, **kwargs):  # the HTTP client's own error, not an OSError
        raise HfHubHTTPError.__bases__[0]("Connection reset by peer")

    with monkeypatch.context() as patch:
        patch.setattr(HfApi, "create_repo", drop_the_connection)
        with pytest.raises(HubPushError, match=r"uploading .* to me/tiny failed \(Connection reset by peer\)"):
            push_to_hub(saved_folder, "me/tiny")
    fixture = torch.load(official_fixtures / "pyslowfast" / "pyslowfast_pretrain_tiny.pt", weights_only=True)
    checkpoint = tmp_path / "tiny.pyth"
    torch.save(fixture["checkpoint"], checkpoint)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        convert_main(["--checkpoint", str(checkpoint), "--output_dir", str(tmp_path / "out"),
                      "--num_attention_heads", "4", "--push_to_hub", "--hub_model_id", "me/tiny"])  # fmt: skip
    stderr = capsys.readouterr().err
    error = stderr.splitlines()[-1]  # (after the weights' progress bar)
    assert exit_info.value.code == 2 and "Traceback" not in stderr
    assert error.startswith("mae-st-convert: error: --push_to_hub: uploading") and "push it later" in error
    assert (tmp_path / "out" / "model.safetensors").is_file()
