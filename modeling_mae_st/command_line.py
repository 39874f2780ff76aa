"""
How every console command (`mae-st-*`) reports a user's mistake: one line, `<prog>: error: <cause>`, exit status 2, as
argparse does for a bad flag, while a real bug keeps its traceback.

A command parses its arguments first (so that `--help` and argparse's own errors never import torch), then runs its
work inside [`exit_on_user_error`]:

```python
def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    from modeling_mae_st.command_line import UsageError, exit_on_user_error

    with exit_on_user_error():
        if args.num_frames < 1:
            raise UsageError(f"--num_frames must be at least 1, got {args.num_frames}")
        ...
```

A user's mistake is a [`UsageError`] (a flag combination or value argparse cannot check), a file the user named that is
missing, unreadable or in the way (`FileNotFoundError`, `FileExistsError`, `NotADirectoryError`, `IsADirectoryError`,
`PermissionError` with a file name), or one of the package's errors about the user's inputs, which already name the
file and the cause: `VideoDecodingError`, `CheckpointConversionError`, `TooManyBadVideosError`.

This module imports nothing heavy, so it adds nothing to a command's start-up.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


EXIT_USAGE = 2  # argparse's exit status for a command-line mistake

# The package's errors about a user's inputs, as (module, class name). They are looked up in `sys.modules` when an
# error is caught: an exception of one of these classes can only have been raised once its module was imported, and
# looking them up lazily keeps torch out of this module.
PACKAGE_USER_ERRORS = (
    ("modeling_mae_st.video_decoding", "VideoDecodingError"),
    ("modeling_mae_st.convert_official_checkpoint", "CheckpointConversionError"),
    ("modeling_mae_st.data", "TooManyBadVideosError"),
    ("modeling_mae_st.data", "DatasetSourceError"),
    ("modeling_mae_st.hub", "HubPushError"),
)

# Errors about a file the user named; only reported as a user's mistake when the error carries the file name.
FILE_ERRORS = (FileNotFoundError, FileExistsError, NotADirectoryError, IsADirectoryError, PermissionError)


class UsageError(ValueError):
    """A user's mistake that argparse cannot see: a flag's value or a combination of flags; the message names them."""


def user_error_message(error: BaseException) -> str | None:
    """
    The one-line message for `error` if it is a user's mistake, else `None` (a bug: keep its traceback).

    Multi-line messages are joined into one line.
    """
    if isinstance(error, FILE_ERRORS) and error.filename is not None:
        return f"{error.strerror or type(error).__name__}: {error.filename}"
    user_errors = [UsageError]
    for module_name, class_name in PACKAGE_USER_ERRORS:
        module = sys.modules.get(module_name)
        if module is not None:
            user_errors.append(getattr(module, class_name))
    if isinstance(error, tuple(user_errors)):
        return " ".join(line.strip() for line in str(error).splitlines() if line.strip()) or type(error).__name__
    return None


@contextmanager
def exit_on_user_error(prog: str | None = None) -> Iterator[None]:
    """
    Turn a user's mistake raised inside the block into `<prog>: error: <one line>` on stderr and exit status 2.

    Args:
        prog: the command's name in the message; the running program's name (`sys.argv[0]`, as argparse) by default.

    Raises:
        SystemExit: with status 2, for a user's mistake (see [`user_error_message`]). Any other exception propagates
            unchanged, with its traceback.
    """
    try:
        yield
    except Exception as error:
        message = user_error_message(error)
        if message is None:
            raise
        sys.stdout.flush()
        print(f"{prog or Path(sys.argv[0]).name}: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE) from None


def check_video_files(videos: Iterable[str]) -> None:
    """
    Refuse, before any model is loaded, a video argument that is not a file.

    Raises:
        FileNotFoundError: a path that does not exist.
        IsADirectoryError: a folder (the commands take video files).
    """
    for video in videos:
        if Path(video).is_dir():
            raise IsADirectoryError(21, "A folder, not a video file (give the videos in it)", video)
        if not Path(video).is_file():
            raise FileNotFoundError(2, "No such video file", video)


def check_mae_st_folder(cls: Any, folder: Path, flag: str) -> None:
    """
    Refuse, naming `flag`, a local folder that a config or model class `cls` cannot take for an MAE-ST model: one
    with no `config.json` (`MAESTConfig.from_pretrained` took the ViT-L defaults for it) or whose config is another
    model type (a ViT folder loaded with a warning, then failed on a missing attribute or on the weights' sizes).
    A video processor's folder is not checked.
    """
    import json

    from transformers import AutoConfig, PreTrainedConfig, PreTrainedModel

    if cls is not AutoConfig and not (isinstance(cls, type) and issubclass(cls, (PreTrainedConfig, PreTrainedModel))):
        return
    config_file = folder / "config.json"
    if not config_file.is_file():
        raise UsageError(f"{flag} {folder}: the folder holds no config.json, so it is no saved model")
    try:
        model_type = json.loads(config_file.read_text(encoding="utf-8")).get("model_type")
    except (ValueError, AttributeError) as error:  # not JSON, or JSON that is not an object
        raise UsageError(f"{flag} {folder}: its config.json is not a model's config ({error})") from error
    if model_type != "mae_st":
        raise UsageError(f"{flag} {folder}: not an MAE-ST model (its config.json says model_type {model_type!r})")


def load_pretrained(cls: Any, name_or_path: str, flag: str, **kwargs: Any) -> Any:
    """
    `cls.from_pretrained(name_or_path, **kwargs)` for a command's flag `flag`, with a user's mistake (a folder that
    does not exist or holds no such files, an unknown Hub id) raised as a [`UsageError`] naming the flag.

    Raises:
        UsageError: `from_pretrained` raised `OSError` (its error for a name or folder it cannot load) or refused the
            saved config's values (a wrong type, `StrictDataclassError`, or inconsistent values, `ValueError`).
    """
    from huggingface_hub.errors import StrictDataclassError
    from safetensors import SafetensorError

    path = Path(name_or_path).expanduser()
    if str(name_or_path).startswith((".", "/", "~")) and not path.exists():  # a path, not a Hub id
        raise UsageError(f"{flag} {name_or_path}: no such folder")
    if path.is_dir():
        check_mae_st_folder(cls, path, flag)
    try:
        return cls.from_pretrained(name_or_path, **kwargs)
    except SafetensorError as error:  # a weights file whose header or contents are not safetensors'
        raise UsageError(f"{flag} {name_or_path}: its weights file is damaged ({error})") from error
    except (OSError, StrictDataclassError) as error:
        cause = " ".join(str(error).split())
        if not path.exists() and isinstance(error, OSError):  # a folder name without ./, taken for a Hub id
            raise UsageError(
                f"{flag} {name_or_path}: no such local folder, and no Hub model of that name could be loaded "
                f"({cause})"
            ) from error
        raise UsageError(f"{flag} {name_or_path}: cannot load a {cls.__name__} from it ({cause})") from error
    except ValueError as error:  # a config of values that do not fit together
        cause = " ".join(str(error).split())
        raise UsageError(f"{flag} {name_or_path}: its config is not valid ({cause})") from error
