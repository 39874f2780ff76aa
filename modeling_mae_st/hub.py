"""
Folders that load anywhere, and pushing them to the Hugging Face Hub.

A folder written by [`save_for_hub`] holds everything a Hub repository of this package needs:

- `model.safetensors` and `config.json` (`save_pretrained`),
- `video_preprocessor_config.json`, a video processor for the model's frames and image size
  ([`default_video_processor`] unless another matching one is given), so that `pipeline("video-classification",
  model=folder)`, `AutoVideoProcessor.from_pretrained(folder)` and the commands work with nothing but the folder,
- `README.md`, the model card, when one is given, and any pictures (`extra_files`),
- the code: `configuration_mae_st.py`, `modeling_mae_st.py`, `video_processing_mae_st.py` and the modules they
  import, with `auto_map` entries in `config.json` and the processor config, so that
  `AutoModel.from_pretrained(folder, trust_remote_code=True)` works where this package is not installed.

[`push_to_hub`] uploads such a folder in one commit, leaving out training state (`checkpoint-*`, `step_*`, ...).
"""

from __future__ import annotations

import ast
import fnmatch
import json
import logging
import os
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path

from huggingface_hub import CommitInfo, CommitOperationAdd, HfApi, ModelCard
from huggingface_hub.errors import HfHubHTTPError
from transformers.utils import CONFIG_NAME, VIDEO_PROCESSOR_NAME

from .modeling_mae_st import AUTO_CLASSES


logger = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parent
PACKAGE_NAME = PACKAGE_DIR.name

# `auto_map` entries: Auto class -> (module file stem, class name).
MODEL_AUTO_MAP = {
    "AutoConfig": ("configuration_mae_st", "MAESTConfig"),
    **{auto_class: ("modeling_mae_st", model.__name__) for auto_class, model in AUTO_CLASSES.items()},
}
VIDEO_PROCESSOR_AUTO_MAP = {"AutoVideoProcessor": ("video_processing_mae_st", "MAESTVideoProcessor")}

# Training state that a push leaves out: `checkpoint-<step>` folders (our scripts, the Trainer), Accelerate's own
# `checkpoint_<n>` naming, tracker logs.
DEFAULT_IGNORE_PATTERNS = (
    "checkpoint-*",
    "checkpoint_*",
    "runs/*",
    "*.pyc",
    "__pycache__/*",
    ".git/*",
    ".cache/*",
)


class RemoteCodeError(ValueError):
    """A module that cannot run from a Hub folder: it imports this package absolutely, or a missing sibling."""


# What a call to the Hub raises when the Hub, not the caller, is at fault: huggingface_hub's own errors (HTTP status,
# offline mode, no token) are OSErrors; a dropped connection or a timeout is its HTTP client's error, the base class
# of HfHubHTTPError (httpx's HTTPError; with the requests client of older releases, an OSError too).
HUB_ERRORS = (OSError, *HfHubHTTPError.__bases__)


class HubPushError(OSError):
    """[`push_to_hub`] could not reach the Hub or was refused (offline mode, no token, no rights, the network); the
    message says why and how to push the saved folder later (the commands print it as one line)."""

    @classmethod
    def of_upload(cls, output_dir: str | Path, repo_id: str, error: BaseException) -> "HubPushError":
        """The error of a failed upload of a saved, complete folder: the cause, and how to push it later."""
        cause = " ".join(str(error).split()) or type(error).__name__
        return cls(
            f"--push_to_hub: uploading {output_dir} to {repo_id} failed ({cause}). The folder is saved and "
            f"complete: push it later with modeling_mae_st.hub.push_to_hub({str(output_dir)!r}, {repo_id!r})."
        )


def module_closure(stems: Iterable[str], package_dir: Path = PACKAGE_DIR) -> list[Path]:
    """
    The package modules that `stems` need, following relative imports (`from .x import y`) recursively, sorted.

    Raises:
        FileNotFoundError: a module, or one it imports relatively, is not in `package_dir`.
        RemoteCodeError: a module imports this package by its absolute name (it would fail where the package is not
            installed) or uses a parent-relative import (`from .. import`), which a flat Hub folder cannot serve.
    """
    needed: dict[str, Path] = {}
    pending = list(stems)
    while pending:
        stem = pending.pop()
        if stem in needed:
            continue
        path = package_dir / f"{stem}.py"
        if not path.is_file():
            raise FileNotFoundError(f"Remote code needs {path}, which does not exist.")
        needed[stem] = path
        pending.extend(_relative_imports(path))
    return sorted(needed.values())


def _relative_imports(path: Path) -> list[str]:
    """Stems of the sibling modules `path` imports relatively; raise on imports a flat folder cannot serve."""
    stems = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == PACKAGE_NAME:
                    raise RemoteCodeError(f"{path.name} imports `{alias.name}` absolutely; use a relative import.")
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                if (node.module or "").split(".")[0] == PACKAGE_NAME:
                    raise RemoteCodeError(f"{path.name} imports from `{node.module}` absolutely; use `from .`.")
            elif node.level > 1 or not node.module:
                raise RemoteCodeError(
                    f"{path.name} line {node.lineno}: `from {'.' * node.level}{node.module or ''} import ...` "
                    "cannot be served from a flat Hub folder; import a sibling module as `from .module import name`."
                )
            else:
                stems.append(node.module.split(".")[0])
    return stems


def write_remote_code(output_dir: str | Path) -> list[str]:
    """
    Copy the code a saved folder needs beside its weights and point `auto_map` at it.

    `config.json` gets `auto_map` for AutoConfig, AutoModel, AutoModelForPreTraining and
    AutoModelForVideoClassification; when the folder has a `video_preprocessor_config.json`, the video processor
    module (and what it imports) is copied too and both files get the `AutoVideoProcessor` entry.

    Returns:
        The names of the copied `.py` files, sorted.

    Raises:
        FileNotFoundError: `output_dir` has no `config.json` (call `save_pretrained` first).
        RemoteCodeError: see [`module_closure`].
    """
    output_dir = Path(output_dir)
    config_path = output_dir / CONFIG_NAME
    if not config_path.is_file():
        raise FileNotFoundError(f"{config_path} does not exist: save the model with save_pretrained first.")
    processor_path = output_dir / VIDEO_PROCESSOR_NAME
    auto_map = dict(MODEL_AUTO_MAP)
    if processor_path.is_file():
        auto_map.update(VIDEO_PROCESSOR_AUTO_MAP)
    files = module_closure({stem for stem, _ in auto_map.values()})
    for path in files:
        shutil.copyfile(path, output_dir / path.name)
    entries = {auto_class: f"{stem}.{name}" for auto_class, (stem, name) in auto_map.items()}
    _update_json(config_path, {"auto_map": entries})
    if processor_path.is_file():
        _update_json(processor_path, {"auto_map": {"AutoVideoProcessor": entries["AutoVideoProcessor"]}})
    return [path.name for path in files]


def _update_json(path: Path, values: dict) -> None:
    content = json.loads(path.read_text(encoding="utf-8"))
    content.update(values)
    path.write_text(json.dumps(content, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def save_for_hub(
    model,
    output_dir: str | Path,
    video_processor=None,
    card: ModelCard | None = None,
    extra_files: Sequence[str | Path] = (),
) -> Path:
    """
    Write a complete Hub repository folder: safetensors weights and config (`model.save_pretrained`), a video
    processor config that matches the model, the model card as `README.md`, `extra_files` (pictures, logs) copied in
    by name, and the remote code ([`write_remote_code`]). Files get the usual permissions (read for all, as the
    umask allows).

    Args:
        model: a [`MAESTPreTrainedModel`] (any of the three heads).
        output_dir: created if missing; files of the same names are overwritten.
        video_processor: a `MAESTVideoProcessor` for the model's clips; default: [`default_video_processor`] of the
            model's config.
        card: a `huggingface_hub.ModelCard`, e.g. from [`~modeling_mae_st.model_card.build_model_card`], *optional*.
        extra_files: files to copy into the folder's top level; a file already inside it is left where it is.

    Returns:
        `output_dir` as a `Path`.

    Raises:
        FileNotFoundError: an entry of `extra_files` does not exist.
        ValueError: `video_processor` makes clips of other frames or size than the model's config: `pipeline` and the
            commands would fail on the folder.
    """
    output_dir = Path(output_dir)
    video_processor = video_processor or default_video_processor(model.config)
    check_video_processor_matches(
        video_processor, model.config, "save a processor for the model's clips, e.g. default_video_processor(config)."
    )
    output_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output_dir, safe_serialization=True)
    video_processor.save_pretrained(output_dir)
    if card is not None:
        card.save(output_dir / "README.md")
    for extra in map(Path, extra_files):
        if not extra.is_file():
            raise FileNotFoundError(f"Extra file {extra} for {output_dir} does not exist.")
        target = output_dir / extra.name
        if extra.resolve() != target.resolve():
            shutil.copyfile(extra, target)
    write_remote_code(output_dir)
    give_usual_permissions(output_dir)
    return output_dir


def give_usual_permissions(folder: str | Path) -> None:
    """
    Give the files directly in `folder` (or the file `folder`) the permissions a new file gets (0666 less the umask,
    usually 0644).

    safetensors writes through a temporary file, which is created 0600 (only its owner can read it): transformers'
    `model.safetensors`, `mae-st-embed`'s `.safetensors`. A file meant to be shared or served must not keep that.
    """
    umask = os.umask(0)
    os.umask(umask)
    folder = Path(folder)
    for path in [folder] if folder.is_file() else folder.iterdir():
        if path.is_file():
            path.chmod(0o666 & ~umask)


def default_video_processor(config):
    """
    A `MAESTVideoProcessor` with the official settings for clips of `config`'s frames and image size: the official
    short side 256 and training jitter (256, 320) for 224-pixel crops, scaled with the image size.

    This is the one place that builds a model's processor; change other settings with `.with_settings(...)`.
    """
    from .video_processing_mae_st import MAESTVideoProcessor

    return MAESTVideoProcessor(num_frames=config.num_frames, **MAESTVideoProcessor.sizes_for_crop(config.image_size))


def saved_video_processor(name_or_path: str | Path, config, flag: str = "--model_name_or_path"):
    """
    The video processor saved with a model: from its folder or Hub id; for a folder without one (a model saved by
    hand with `save_pretrained`), the official settings for `config`'s frames and size ([`default_video_processor`]),
    with a warning; for a model built in memory (`name_or_path` empty), the official settings.

    Args:
        flag: how the caller names `name_or_path` in messages (a command's flag).

    Raises:
        UsageError (a `ValueError`): the processor of a Hub id or folder cannot be loaded.
    """
    from .command_line import load_pretrained
    from .video_processing_mae_st import MAESTVideoProcessor

    if not name_or_path:  # a model built in memory has none
        return default_video_processor(config)
    folder = Path(name_or_path)
    if folder.is_dir() and not (folder / VIDEO_PROCESSOR_NAME).is_file():
        logger.warning(
            f"{folder} has no {VIDEO_PROCESSOR_NAME}: using the official processor for the model's "
            f"{config.num_frames} frames of {config.image_size}x{config.image_size}."
        )
        return default_video_processor(config)
    return load_pretrained(MAESTVideoProcessor, str(name_or_path), flag)


def check_video_processor_matches(video_processor, config, remedy: str) -> None:
    """
    Raises:
        ValueError: the processor's clips (`num_frames`, `crop_size`) are not the model's (`num_frames`,
            `image_size`); the message ends with `remedy`.
    """
    made = (video_processor.num_frames, video_processor.crop_size)
    if made != (config.num_frames, config.image_size):
        raise ValueError(
            f"The video processor makes clips of {made[0]} frames of {made[1]}x{made[1]}, but the model takes "
            f"{config.num_frames} frames of {config.image_size}x{config.image_size}: {remedy}"
        )


def files_to_push(output_dir: str | Path, ignore_patterns: Sequence[str] = DEFAULT_IGNORE_PATTERNS) -> list[str]:
    """
    The files [`push_to_hub`] uploads: every file under `output_dir` (POSIX paths relative to it, sorted) except
    those matching an `ignore_patterns` glob, either on the whole relative path or on its first folder.
    """
    root = Path(output_dir)
    files = []
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        relative = path.relative_to(root).as_posix()
        top = relative.split("/")[0]
        if any(fnmatch.fnmatch(relative, p) or fnmatch.fnmatch(top, p) for p in ignore_patterns):
            continue
        files.append(relative)
    return files


def push_to_hub(
    output_dir: str | Path,
    repo_id: str,
    token: str | None = None,
    private: bool = False,
    commit_message: str = "Upload MAE-ST model",
    ignore_patterns: Sequence[str] = DEFAULT_IGNORE_PATTERNS,
) -> CommitInfo:
    """
    Create the model repository `repo_id` (if it does not exist) and upload the folder in one commit: weights,
    configs, card, pictures and code; training state matching `ignore_patterns` stays local.

    Args:
        output_dir: a folder written by [`save_for_hub`].
        repo_id: `"user/name"` or `"name"` (under the token's user).
        token: a Hub token; `None` uses the one `hf auth login` stored.
        private: create the repository private (an existing repository keeps its visibility).

    Returns:
        The `CommitInfo` of the upload.

    Raises:
        FileNotFoundError: `output_dir` has no `config.json`, so it is not a saved model.
        HubPushError: the Hub could not be reached or refused the upload; the folder stays as it is.
    """
    output_dir = Path(output_dir)
    if not (output_dir / CONFIG_NAME).is_file():
        raise FileNotFoundError(f"{output_dir} has no {CONFIG_NAME}: write it with save_for_hub first.")
    files = files_to_push(output_dir, ignore_patterns)  # (local: its errors are not the Hub's)
    operations = [CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(output_dir / name)) for name in files]
    api = HfApi(token=token)
    try:
        repo_url = api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        logger.info("Uploading %d files from %s to %s", len(files), output_dir, repo_url.repo_id)
        return api.create_commit(repo_id=repo_url.repo_id, operations=operations, commit_message=commit_message)
    except HUB_ERRORS as error:
        raise HubPushError.of_upload(output_dir, repo_id, error) from error


__all__ = [
    "DEFAULT_IGNORE_PATTERNS",
    "HUB_ERRORS",
    "HubPushError",
    "RemoteCodeError",
    "check_video_processor_matches",
    "default_video_processor",
    "give_usual_permissions",
    "files_to_push",
    "module_closure",
    "saved_video_processor",
    "push_to_hub",
    "save_for_hub",
    "write_remote_code",
]
