"""Every console command the package installs starts and prints its help (argparse formats every help string then,
so a stray `%` in one fails here rather than in front of a user), and the training commands answer a user's mistake
with one line and exit status 2 while a bug keeps its traceback."""

import importlib
import importlib.util
import json
import re
import shutil
import subprocess
import sys
from importlib.metadata import distribution
from pathlib import Path

import pytest
import torch

from conftest import TINY
from mae_st_training import arguments


CONSOLE_SCRIPTS = sorted(
    (entry.name, entry.value) for entry in distribution("mae-st").entry_points if entry.group == "console_scripts"
)
TRAINING_COMMANDS = {
    "mae-st-pretrain": arguments.pretrain_command,
    "mae-st-finetune": arguments.finetune_command,
    "mae-st-finetune-trainer": arguments.finetune_trainer_command,
}


def test_the_package_installs_its_seven_commands():
    assert [name for name, _ in CONSOLE_SCRIPTS] == [
        "mae-st-convert",
        "mae-st-embed",
        "mae-st-finetune",
        "mae-st-finetune-trainer",
        "mae-st-make-shards",
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
    help_text = capsys.readouterr().out
    assert help_text.startswith(f"usage: {name} ")
    if name in TRAINING_COMMANDS:  # one name per concept: the shared vocabulary, never an old spelling
        for flag in ("--dataloader_num_workers", "--video_column_name", "--max_bad_video_fraction", "--torch_compile"):
            assert flag in help_text, (name, flag)
        assert not any(f"{old} " in help_text for old in arguments.RENAMED_FLAGS), name


def run_main(main, argv: list[str], capsys) -> tuple[int, str]:
    """Run a console command's main in this process: `(exit status, stderr)`."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    return exit_info.value.code, capsys.readouterr().err


def assert_user_error(name: str, argv: list[str], message: str, capsys) -> None:
    """Training command `name` run with `argv` exits with status 2 and no traceback, its last line on stderr
    `<name>: error: <message>...` (datasets' progress bars may come before it)."""
    status, error = run_main(TRAINING_COMMANDS[name], argv, capsys)
    assert status == 2 and "Traceback" not in error, error
    assert error.splitlines()[-1].startswith(f"{name}: error: {message}"), error


@pytest.mark.parametrize(
    "module,argv,dest",
    [
        ("convert", ["--checkpoint", "c.pth", "--output-dir", "o", "--hub-private-repo"], "hub_private_repo"),
        ("embed", ["v.mp4", "--model-name-or-path", "m", "--window-seconds", "2"], "window_seconds"),
        ("visualize", ["v.mp4", "--model-name-or-path", "m", "--frame-duration-ms", "50"], "frame_duration_ms"),
        ("make_shards", ["--dataset-name", "d", "--output-dir", "o", "--max-videos-per-shard", "3"],
         "max_videos_per_shard"),
    ],
)  # fmt: skip
def test_the_tools_take_the_dashed_flag_names_as_the_training_commands_do(module, argv, dest):
    """`--output-dir` was taken by the training commands (HfArgumentParser) and refused by the tools."""
    args = importlib.import_module(f"mae_st_commands.{module}").build_parser().parse_args(argv)
    assert getattr(args, dest) not in (None, False)


@pytest.mark.parametrize(
    "module,argv,message",
    [
        ("visualize", ["v.mp4", "--model_name_or_path", "m", "--output", "{file}/x.gif"],
         "--output {file}/x.gif: {file}"),
        ("visualize", ["v.mp4", "--model_name_or_path", "m", "--output", "{folder}"],
         "--output {folder}: a folder, not"),
        ("embed", ["v.mp4", "--model_name_or_path", "m", "--output", "{file}/x.npz"],
         "--output {file}/x.npz: {file} is"),
        ("convert", ["--checkpoint", "c.pth", "--output_dir", "{file}"], "--output_dir {file}: {file} is a file, not"),
        ("make_shards", ["--dataset_name", "d", "--output_dir", "{file}/s"], "--output_dir {file}/s: {file} is a file"),
    ],
)  # fmt: skip
def test_a_tools_output_path_that_cannot_be_written_is_one_line_naming_the_flag(module, argv, message, tmp_path,
                                                                                capsys):  # fmt: skip
    """It was "File exists: <path>" without the flag, after the work (mae-st-embed computed every embedding first)."""
    (tmp_path / "a_file").write_text("x\n")
    paths = {"file": str(tmp_path / "a_file"), "folder": str(tmp_path)}
    main = importlib.import_module(f"mae_st_commands.{module}").main
    with pytest.raises(SystemExit) as exit_info:
        main([argument.format(**paths) for argument in argv])
    error = capsys.readouterr().err
    assert exit_info.value.code == 2 and error.count("\n") == 1 and message.format(**paths) in error, error


def one_step_run(name: str, tiny_pretrained: Path, *flags: str, train_dir: Path | None = None) -> list[str]:
    """Training command `name`'s arguments for a one-step run with `flags` (its own step-count flag; fine-tuning
    from `tiny_pretrained`, on `train_dir` if given)."""
    argv = [*flags, "--max_steps" if name == "mae-st-finetune-trainer" else "--max_train_steps", "1"]
    if name == "mae-st-pretrain":
        return argv
    data = ["--train_dir", str(train_dir)] if train_dir else []
    return ["--model_name_or_path", str(tiny_pretrained), *data, *argv]


@pytest.mark.parametrize("name", sorted(TRAINING_COMMANDS))
def test_a_wrong_flag_is_one_line_and_exit_status_2(name, tmp_path, capsys):
    argv = ["--model_name_or_path", str(tmp_path), "--preprocessing_num_workers", "2"]
    status, error = run_main(TRAINING_COMMANDS[name], argv, capsys)
    assert status == 2
    assert error == (
        f"{name}: error: unrecognized arguments: --preprocessing_num_workers 2 "
        "(--preprocessing_num_workers is now --dataloader_num_workers)\n"
    )


@pytest.mark.parametrize("name,target", CONSOLE_SCRIPTS, ids=[name for name, _ in CONSOLE_SCRIPTS])
def test_every_command_reports_an_unknown_flag_in_one_line_with_exit_status_2(name, target, capsys):
    module_name, function_name = target.split(":")
    main = getattr(importlib.import_module(module_name), function_name)
    status, error = run_main(main, ["--no_such_flag"], capsys)
    assert status == 2
    assert error.count("\n") == 1 and error.startswith(f"{name}: error: "), error


@pytest.mark.parametrize("name", ["mae-st-finetune", "mae-st-finetune-trainer"])
def test_finetuning_without_data_is_one_line_and_leaves_no_output_folder(name, tiny_pretrained, tmp_path, capsys):
    output_dir = tmp_path / "out"
    argv = ["--model_name_or_path", str(tiny_pretrained), "--output_dir", str(output_dir)]
    status, error = run_main(TRAINING_COMMANDS[name], argv, capsys)
    assert (status, error.count("\n")) == (2, 1)
    assert error.startswith(f"{name}: error: give exactly one of --train_dir, --train_file, --dataset_name")
    assert not output_dir.exists()


def test_a_mistake_found_while_running_is_one_line_and_leaves_no_output_folder(
    tiny_pretrained, motion_videos, tmp_path, capsys
):
    # the checkpoint's 4-frame position table cannot take 8-frame clips: found after loading its config
    output_dir = tmp_path / "out"
    argv = ["--model_name_or_path", str(tiny_pretrained), "--train_dir", str(motion_videos / "train"),
            "--num_frames", "8", "--output_dir", str(output_dir)]  # fmt: skip
    status, error = run_main(arguments.finetune_command, argv, capsys)
    assert (status, error.count("\n")) == (2, 1)
    assert error.startswith("mae-st-finetune: error: The checkpoint") and "--num_frames 4" in error
    assert not output_dir.exists()


@pytest.mark.parametrize("name", ["mae-st-finetune", "mae-st-finetune-trainer"])
@pytest.mark.parametrize(
    "flags,message",
    [
        (["--random_erasing_prob", "2"], "--random_erasing_prob must be between 0 and 1, got 2.0"),
        (["--num_spatial_crops", "2"], "--num_spatial_crops must be 1 (center) or 3 (left, center, right), got 2"),
        (["--jitter_scales_relative", "0.5"], "--jitter_scales_relative must be two fractions of the frame's area"),
        (["--train_jitter_scales", "80", "64"], "--train_jitter_scales must be two short sides in pixels"),
        (["--sampling_rate", "0"], "--sampling_rate must be at least 1, got 0"),
        # found once the script runs (the processor checks them)
        (["--rand_augment", "rand-m7-zz"], "--rand_augment rand-m7-zz: Unknown section 'zz' in RandAugment policy"),
        (["--short_side_size", "8"], "short_side_size (8) must be at least crop_size (32)"),
    ],
)
def test_a_wrong_clip_flag_is_one_line_and_exit_status_2(
    name, flags, message, tiny_pretrained, motion_videos, tmp_path, capsys
):
    argv = ["--model_name_or_path", str(tiny_pretrained), "--train_dir", str(motion_videos / "train"),
            "--output_dir", str(tmp_path / "out"), "--dataloader_num_workers", "0", *flags]  # fmt: skip
    assert_user_error(name, argv, message, capsys)


def dataset_mistakes(folder, motion_videos) -> dict[str, tuple[str, str]]:
    """A user's dataset mistakes: name -> (the path given, the start of the one-line error)."""
    (folder / "empty").mkdir()
    (folder / "binary.csv").write_bytes(bytes(range(256)) * 4)
    video = next((motion_videos / "train").glob("*/*.mp4"))
    (folder / "one.csv").write_text(f"path,label\n{video},left\n")
    return {
        "empty folder": (str(folder / "empty"), "No video files (.mp4"),
        "a video as the index": (str(video), f"{video} is a video file, not an index"),
        "a binary index": (str(folder / "binary.csv"), f"{folder / 'binary.csv'} is not a text file"),
    }


@pytest.mark.parametrize("mistake", ["empty folder", "a video as the index", "a binary index", "too few videos"])
@pytest.mark.parametrize("name", sorted(TRAINING_COMMANDS))
def test_a_dataset_that_holds_no_videos_to_train_on_is_one_line_and_exit_status_2(
    name, mistake, tiny_pretrained, motion_videos, tmp_path, capsys
):
    mistakes = dataset_mistakes(tmp_path, motion_videos)
    if mistake == "too few videos":  # pretraining holds its first videos out for the pictures
        if name != "mae-st-pretrain":
            pytest.skip("fine-tuning trains on every video")
        mistakes[mistake] = (str(tmp_path / "one.csv"), "The 'train' split of")
    source, message = mistakes[mistake]
    if name == "mae-st-pretrain":
        argv = ["--dataset_name", source, "--output_dir", str(tmp_path / "out")]
    else:
        flag = "--train_dir" if Path(source).is_dir() else "--train_file"
        argv = ["--model_name_or_path", str(tiny_pretrained), flag, source, "--output_dir", str(tmp_path / "out")]
    assert_user_error(name, argv, message, capsys)


@pytest.mark.parametrize(
    "name,flags,hint",
    [
        ("mae-st-finetune-trainer", ["--max_train_steps", "4"], "(here --max_train_steps is --max_steps)"),
        ("mae-st-finetune-trainer", ["--mixed_precision", "bf16"], "(here --mixed_precision is --bf16 or --fp16)"),
        ("mae-st-finetune", ["--max_steps", "4"], "(here --max_steps is --max_train_steps)"),
        ("mae-st-pretrain", ["--save_total_limit", "2"], "(here --save_total_limit is --checkpoints_total_limit)"),
    ],
)  # fmt: skip
def test_the_other_script_familys_flag_gets_this_commands_name(name, flags, hint, tmp_path, capsys):
    """Both names stay (training/README.md), but a flag of the other family was only "unrecognized"."""
    argv = ["--output_dir", str(tmp_path), *flags]
    if name != "mae-st-pretrain":
        argv = ["--model_name_or_path", "x", "--train_dir", str(tmp_path), *argv]
    status, error = run_main(TRAINING_COMMANDS[name], argv, capsys)
    assert status == 2 and error.splitlines()[-1].endswith(hint), error


@pytest.mark.parametrize("name", sorted(TRAINING_COMMANDS))
def test_an_output_folder_holding_another_kind_of_model_is_one_line(name, tiny_pretrained, motion_videos, tmp_path,
                                                                     capsys):  # fmt: skip
    """A classifier's README, results and confusion matrix stayed beside a new pretraining model (and were pushed
    with it), and the other way round. The same kind, a rerun, is fine (the quick start reruns into its folder)."""
    from modeling_mae_st import MAESTConfig, MAESTForVideoClassification

    output = tmp_path / "used"
    kind = "MAESTForPreTraining"
    if name == "mae-st-pretrain":
        MAESTForVideoClassification(MAESTConfig(**TINY)).save_pretrained(output)
        kind = "MAESTForVideoClassification"
    else:
        shutil.copytree(tiny_pretrained, output)
    argv = one_step_run(name, tiny_pretrained, "--output_dir", str(output), train_dir=motion_videos / "train")
    assert_user_error(name, argv, f"--output_dir {output} holds a {kind} (config.json), whose card", capsys)


@pytest.mark.parametrize("name", sorted(TRAINING_COMMANDS))
def test_a_file_where_the_output_folder_goes_is_one_line(name, tiny_pretrained, motion_videos, tmp_path, capsys):
    """The Trainer blamed --push_to_hub ("could not create its Hub repository ([Errno 17] File exists)"), the
    Accelerate scripts said "File exists" after loading everything."""
    output = tmp_path / "taken"
    output.write_text("a file\n")
    argv = one_step_run(name, tiny_pretrained, "--output_dir", str(output), train_dir=motion_videos / "train")
    assert_user_error(name, argv, f"--output_dir {output}: a file, not a folder", capsys)


@pytest.mark.parametrize("name", sorted(TRAINING_COMMANDS))
def test_a_file_given_as_the_checkpoint_to_resume_is_one_line_before_anything_loads(
    name, tiny_pretrained, motion_videos, tmp_path, capsys
):
    """It was "no such folder" for a file that exists, and the Trainer script said so only after loading the model."""
    checkpoint = tmp_path / "notes.txt"
    checkpoint.write_text("not a checkpoint\n")
    argv = one_step_run(name, tiny_pretrained, "--output_dir", str(tmp_path / "run"), "--resume_from_checkpoint",
                        str(checkpoint), train_dir=motion_videos / "train")  # fmt: skip
    status, error = run_main(TRAINING_COMMANDS[name], argv, capsys)
    assert status == 2 and error.splitlines() == [f"{name}: error: --resume_from_checkpoint {checkpoint}: a file, "
                                                  "not a folder"]  # fmt: skip


@pytest.mark.parametrize("name", sorted(TRAINING_COMMANDS))
def test_a_dataset_name_that_is_neither_here_nor_on_the_hub_is_one_line(name, tiny_pretrained, tmp_path, capsys):
    """A mistyped folder name without "./" was taken for a Hub id: datasets' ConnectionError, with its traceback."""
    argv = one_step_run(name, tiny_pretrained, "--dataset_name", "no_such_folder", "--output_dir", str(tmp_path / "o"))
    assert_user_error(name, argv, "no_such_folder: no such local file or folder, and no Hub dataset", capsys)


@pytest.mark.parametrize(
    "name,flags,message",
    [
        ("mae-st-pretrain", ["--config_overrides", "nonsense"], "--config_overrides must be key=value pairs"),
        ("mae-st-pretrain", ["--config_overrides", "foo=1"], "--config_overrides foo=1: key foo isn't in the"),
        ("mae-st-pretrain", ["--config_overrides", "mask_ratio=2"],
         "--config_overrides mask_ratio=2: `mask_ratio` must"),
        ("mae-st-pretrain", ["--learning_rate", "-1"], "--learning_rate must be above 0, got -1.0"),
        ("mae-st-pretrain", ["--adam_beta2", "1"], "--adam_beta2 must be in [0, 1), got 1.0"),
        ("mae-st-pretrain", ["--report_to", "nosuch"], "--report_to nosuch: not a tracker Accelerate knows"),
        ("mae-st-pretrain", ["--torch_compile", "--torch_compile_backend", "nosuch"],
         "--torch_compile_backend nosuch: not a backend Accelerate knows"),
        ("mae-st-finetune", ["--layer_decay", "2"], "--layer_decay must be in (0, 1], got 2.0"),
        ("mae-st-finetune", ["--report_to", "nosuch"], "--report_to nosuch: not a tracker Accelerate knows"),
        ("mae-st-finetune-trainer", ["--learning_rate", "-1"], "--learning_rate must be above 0, got -1.0"),
        ("mae-st-finetune-trainer", ["--warmup_epochs", "-2"], "--warmup_epochs must be at least 0, got -2.0"),
        ("mae-st-finetune-trainer", ["--report_to", "nosuch"], "--report_to nosuch: not a tracker the Trainer knows"),
        # a tracker whose package is missing (wandb is not installed here): the Accelerate scripts trained without
        # it, the Trainer raised its traceback
        ("mae-st-pretrain", ["--report_to", "wandb"], "--report_to wandb: its package is not installed here"),
        ("mae-st-finetune", ["--report_to", "wandb"], "--report_to wandb: its package is not installed here"),
        ("mae-st-finetune-trainer", ["--report_to", "wandb"], "--report_to wandb: its package is not installed here"),
        ("mae-st-pretrain", ["--dataloader_num_workers", "-1"], "--dataloader_num_workers must be at least 0"),
        ("mae-st-finetune-trainer", ["--dataloader_num_workers", "-1"], "--dataloader_num_workers must be at least 0"),
        ("mae-st-pretrain", ["--seed", "-1"], "--seed must be in [0, 2**32), got -1"),
        ("mae-st-finetune-trainer", ["--seed", "-1"], "--seed must be in [0, 2**32), got -1"),
        # -1 deleted every checkpoint as soon as it was written
        ("mae-st-pretrain", ["--checkpoints_total_limit", "-1"], "--checkpoints_total_limit must be at least 1"),
        # 0 used to pass for unset: the model's clip size, every training video
        ("mae-st-finetune", ["--image_size", "0"], "--image_size must be at least 1, got 0"),
        ("mae-st-finetune-trainer", ["--max_train_samples", "0"], "--max_train_samples must be at least 1, got 0"),
        # out of range, they failed at the first step (bernoulli_ expects p in [0, 1]) or trained without a word
        ("mae-st-finetune", ["--drop_path_rate", "2"], "--drop_path_rate must be in [0, 1), got 2.0"),
        ("mae-st-finetune-trainer", ["--drop_path_rate", "2"], "--drop_path_rate must be in [0, 1), got 2.0"),
        ("mae-st-finetune", ["--label_smoothing", "2"], "--label_smoothing must be in [0, 1), got 2.0"),
        ("mae-st-finetune-trainer", ["--mixup", "-1"], "--mixup must be at least 0 (0: off), got -1.0"),
        # the Trainer's own check was a traceback
        ("mae-st-finetune-trainer", ["--per_device_train_batch_size", "0"],
         "--per_device_train_batch_size must be at least 1, got 0"),
        ("mae-st-finetune-trainer", ["--gradient_accumulation_steps", "0"],
         "--gradient_accumulation_steps must be at least 1, got 0"),
        # found after the model and the data had loaded (118 lines of log before it)
        ("mae-st-finetune", ["--resume_from_checkpoint", "latest"], "--resume_from_checkpoint latest: no checkpoint-"),
        ("mae-st-finetune-trainer", ["--resume_from_checkpoint", "latest"],
         "--resume_from_checkpoint latest: no checkpoint-<step> folder in"),
        # found after the model had loaded (19 lines of log before it)
        ("mae-st-finetune", ["--streaming"], "--streaming needs --max_train_steps: the length of a streamed pass"),
        # the Trainer's schedule, optimizer and smoothing flags were ignored without a word
        ("mae-st-finetune-trainer", ["--warmup_steps", "1"], "--warmup_steps: this command trains with the fine-"),
        ("mae-st-finetune-trainer", ["--lr_scheduler_type", "constant"], "--lr_scheduler_type: this command trains"),
        ("mae-st-finetune-trainer", ["--optim", "sgd"], "--optim: this command trains with the fine-tuning recipe's"),
        ("mae-st-finetune-trainer", ["--label_smoothing_factor", "0.5"],
         "--label_smoothing_factor: this command trains with the fine-tuning recipe's label smoothing, applied"),
        # inf passed every range: the loss went NaN at the second step, with its traceback
        ("mae-st-pretrain", ["--learning_rate", "inf"], "--learning_rate must be above 0, got inf"),
        ("mae-st-finetune", ["--learning_rate", "inf"], "--learning_rate must be above 0, got inf"),
        ("mae-st-finetune-trainer", ["--weight_decay", "inf"], "--weight_decay must be at least 0, got inf"),
        # the schedule's ValueError ("num_training_steps must be positive")
        ("mae-st-finetune-trainer", ["--max_steps", "0"],
         "--max_steps must be at least 1, or -1 for --num_train_epochs"),
    ]
    # without a GPU Accelerate trained in fp32 while the log, the card and the trackers said fp16
    + [(name, ["--mixed_precision", "fp16"], "--mixed_precision fp16: fp16 needs a GPU, and there is none here")
       for name in ("mae-st-pretrain", "mae-st-finetune") if not torch.cuda.is_available()],
)  # fmt: skip
def test_a_wrong_optimization_or_tracking_flag_is_one_line_and_exit_status_2(
    name, flags, message, tiny_pretrained, motion_videos, tmp_path, capsys
):
    if "wandb" in flags and importlib.util.find_spec("wandb") is not None:
        pytest.skip("wandb is installed here")
    if name == "mae-st-pretrain":
        argv = ["--output_dir", str(tmp_path / "out"), "--max_train_steps", "1", *flags]
    else:
        argv = ["--model_name_or_path", str(tiny_pretrained), "--train_dir", str(motion_videos / "train"),
                "--output_dir", str(tmp_path / "out"), *flags]  # fmt: skip
    assert_user_error(name, argv, message, capsys)


def test_a_missing_checkpoint_is_one_line_naming_the_flag(tmp_path, capsys):
    status, error = run_main(arguments.finetune_command, ["--model_name_or_path", "./no/such/model",
                                                           "--train_dir", str(tmp_path)], capsys)  # fmt: skip
    assert status == 2
    assert error == "mae-st-finetune: error: --model_name_or_path ./no/such/model: no such file or folder\n"


def test_a_bug_keeps_its_traceback(monkeypatch, tmp_path):
    def broken_run(argv):
        raise KeyError("a bug in the script")

    monkeypatch.setattr("mae_st_training.run_video_classification.run", broken_run)
    with pytest.raises(KeyError, match="a bug in the script"):
        arguments.finetune_command(["--model_name_or_path", str(tmp_path), "--train_dir", str(tmp_path)])


def test_the_installed_command_reports_a_mistake_without_traceback(tmp_path):
    # the real console script, in its own process: one line on stderr, status 2, and no torch import before it
    command = [sys.executable, "-c", "import sys; from mae_st_training.arguments import pretrain_command; "
               "sys.argv[0] = 'mae-st-pretrain'; pretrain_command()", "--dataset_name", "./missing_videos",
               "--output_dir", str(tmp_path / "out")]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == "mae-st-pretrain: error: --dataset_name ./missing_videos: no such file or folder\n"
    assert json.dumps(result.stdout) == '""'


# (The Trainer command's flags are `TrainingArguments`' fields, which import torch: its --help is the help file written
# for the installed transformers release, checked against the live parser in tests/test_arguments.py.)
@pytest.mark.parametrize("name,target", CONSOLE_SCRIPTS, ids=[name for name, _ in CONSOLE_SCRIPTS])
def test_help_answers_without_importing_torch(name, target):
    """`--help` and a mistyped flag must answer at once: the heavy imports come after parsing."""
    module_name, function_name = target.split(":")
    probe = (
        "import sys\n"
        f"from {module_name} import {function_name} as main\n"
        "try:\n"
        f"    sys.argv = [{name!r}, '--help']\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('TORCH', 'torch' in sys.modules)\n"
    )
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert "usage:" in completed.stdout and completed.stdout.rstrip().endswith("TORCH False"), completed.stderr[-2000:]


@pytest.mark.parametrize("name,target", CONSOLE_SCRIPTS, ids=[name for name, _ in CONSOLE_SCRIPTS])
def test_help_says_each_default_once(name, target, monkeypatch, capsys):
    module_name, function_name = target.split(":")
    main = getattr(importlib.import_module(module_name), function_name)
    monkeypatch.setattr("sys.argv", [name, "--help"])
    with pytest.raises(SystemExit):
        main()
    # one entry per option: its first line starts with "-", continuation lines are indented further
    entries = re.split(r"\n  (?=-)", capsys.readouterr().out)
    repeated = [entry.split("\n")[0].strip() for entry in entries if len(re.findall(r"\(default\b", entry)) > 1]
    assert not repeated, f"{name}: options whose help states a default twice: {repeated}"
