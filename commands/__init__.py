"""
The command lines of the MAE-ST tools (`mae-st-convert`, `mae-st-embed`, `mae-st-visualize`,
`mae-st-make-shards`), installed as
`mae_st_commands`.

Each module builds its parser with argparse alone and imports the model package only after parsing: importing
`modeling_mae_st` registers it with the Auto classes, which loads torch and transformers (seconds), and `--help`
or a mistyped flag must answer at once. The work itself lives in `modeling_mae_st`.
"""

import argparse
import os
from pathlib import Path


def with_dashed_aliases(names: tuple[str, ...]) -> list[str]:
    """A flag's names and, for each `--snake_case` one, its `--kebab-case` alias, as the training commands take them
    (transformers' `HfArgumentParser`): `--output-dir` was refused here and taken there."""
    return [*names, *(name.replace("_", "-") for name in names if name.startswith("--") and "_" in name)]


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser whose errors are one line, `<prog>: error: <cause>` with exit status 2, as the training
    commands' (the usage is what `--help` is for), and whose flags also take their dashed names."""

    def add_argument(self, *names, **kwargs):
        return super().add_argument(*with_dashed_aliases(names), **kwargs)

    def add_argument_group(self, *args, **kwargs):
        group = super().add_argument_group(*args, **kwargs)
        add = group.add_argument
        group.add_argument = lambda *names, **options: add(*with_dashed_aliases(names), **options)
        return group

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def positive_int(text: str) -> int:
    """argparse type: an integer of at least 1 (argparse reports a wrong one in its one line, naming the flag)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a number above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not value > 0:  # (NaN too)
        raise argparse.ArgumentTypeError(f"must be above 0, got {text}")
    return value


def seed(text: str) -> int:
    """argparse type: a seed, a whole number in [0, 2**32), as the training commands take it."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"must be in [0, 2**32), got {value}")
    return value


def output_path_problem(flag: str, path: str, folder: bool) -> str | None:
    """
    Why `path` (a command's output file, or with `folder` its output folder) cannot be written, checked before any
    work, or `None`. An output under a file, or a file where the folder goes, said "File exists" without naming the
    flag, and `mae-st-embed` found it only after computing every embedding.
    """
    target = Path(path).expanduser()
    if not folder and target.is_dir():
        return f"{flag} {path}: a folder, not a file name"
    for part in [target if folder else target.parent, *(target if folder else target.parent).parents]:
        if part.exists():
            if not part.is_dir():
                return f"{flag} {path}: {part} is a file, not a folder"
            if not os.access(part, os.W_OK | os.X_OK):
                return f"{flag} {path}: {part} is not writable"
            return None
    return None
