"""Every console command the package installs starts and prints its help (argparse formats every help string then,
so a stray `%` in one fails here rather than in front of a user)."""

import importlib
from importlib.metadata import distribution

import pytest


CONSOLE_SCRIPTS = sorted(
    (entry.name, entry.value) for entry in distribution("mae-st").entry_points if entry.group == "console_scripts"
)


def test_the_package_installs_its_six_commands():
    assert [name for name, _ in CONSOLE_SCRIPTS] == [
        "mae-st-convert",
        "mae-st-embed",
        "mae-st-finetune",
        "mae-st-finetune-trainer",
        "mae-st-pretrain",
        "mae-st-visualize",
    ]


@pytest.mark.parametrize("name,target", CONSOLE_SCRIPTS, ids=[name for name, _ in CONSOLE_SCRIPTS])
def test_command_prints_help(name, target, monkeypatch, capsys):
    module_name, function_name = target.split(":")
    main = getattr(importlib.import_module(module_name), function_name)
    monkeypatch.setattr("sys.argv", [name, "--help"])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 0
    assert "usage:" in capsys.readouterr().out
