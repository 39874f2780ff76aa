"""The three training commands' arguments (training/arguments.py): one vocabulary, one unit, light to import."""

import dataclasses

import pytest

from mae_st_training import arguments


def flags(parse) -> dict:
    """`--flag -> default` of a command, read from its parser (via --help's parser, without running anything)."""
    captured = {}

    class Capture(arguments.CommandLineParser):
        def parse(self, argv):
            options = [action for action in self._actions if action.option_strings]
            captured.update({action.option_strings[0]: action.default for action in options})
            raise SystemExit(0)

    original, arguments.CommandLineParser = arguments.CommandLineParser, Capture
    try:
        with pytest.raises(SystemExit):
            parse([])
    finally:
        arguments.CommandLineParser = original
    return captured


COMMANDS = {
    "mae-st-pretrain": arguments.parse_pretraining_arguments,
    "mae-st-finetune": arguments.parse_finetuning_arguments,
    "mae-st-finetune-trainer": arguments.parse_trainer_arguments,
}


@pytest.fixture(scope="module")
def command_flags() -> dict[str, dict]:
    return {name: flags(parse) for name, parse in COMMANDS.items()}


def test_every_command_spells_a_shared_concept_the_same_and_no_old_spelling_is_left(command_flags):
    shared = {
        "--dataloader_num_workers", "--video_column_name", "--train_split_name", "--validation_split_name",
        "--max_bad_video_fraction", "--report_to", "--learning_rate", "--base_learning_rate", "--num_train_epochs",
        "--warmup_epochs", "--torch_compile", "--hub_private_repo", "--hub_token", "--resume_from_checkpoint",
        "--repeat_aug", "--sampling_rate", "--seed", "--per_device_train_batch_size", "--logging_steps",
    }  # fmt: skip
    for name, command in command_flags.items():
        assert shared <= command.keys(), (name, shared - command.keys())
        assert not set(arguments.RENAMED_FLAGS) & command.keys(), name
    accelerate_only = {"--checkpointing_steps", "--checkpoints_total_limit", "--mixed_precision", "--max_train_steps"}
    assert accelerate_only <= command_flags["mae-st-pretrain"].keys() & command_flags["mae-st-finetune"].keys()


def test_shared_concepts_have_the_same_default_meaning(command_flags):
    for name, command in command_flags.items():
        assert command["--report_to"] == "none", name  # log files only, unless asked
        assert command["--learning_rate"] is None, name  # unset: base lr x effective batch / 256
    # the Trainer command takes the fine-tuning recipe's values, not TrainingArguments' own
    finetune, trainer = command_flags["mae-st-finetune"], command_flags["mae-st-finetune-trainer"]
    for spec in dataclasses.fields(arguments.FinetuningRecipeArguments):
        assert trainer[f"--{spec.name}"] == finetune[f"--{spec.name}"], spec.name
    assert (trainer["--weight_decay"], trainer["--max_grad_norm"], trainer["--seed"]) == (0.05, 5.0, 0)


def test_epochs_count_passes_over_the_videos_in_every_command(command_flags):
    # The official pretraining command line, `--epochs 100 --warmup_epochs 5 --repeat_aug 4`, is the paper's
    # 400 effective epochs: here, as in fine-tuning and TrainingArguments, an epoch is one pass over the videos.
    pretrain = command_flags["mae-st-pretrain"]
    assert (pretrain["--num_train_epochs"], pretrain["--warmup_epochs"], pretrain["--repeat_aug"]) == (100, 5, 4)
    assert "Passes over" in arguments.PretrainingArguments.__dataclass_fields__["num_train_epochs"].metadata["help"]


def test_quick_start_values_apply_only_to_arguments_left_at_their_defaults():
    model_args, data_args, training_args = arguments.parse_pretraining_arguments(["--per_device_train_batch_size=3"])
    assert training_args.per_device_train_batch_size == 3
    assert training_args.output_dir == f"./{arguments.QUICKSTART_DIR}"
    assert "hidden_size=128" in model_args.config_overrides
    assert (data_args.repeat_aug, training_args.max_grad_norm) == (4, 0.02)  # the recipe stays
    # with a dataset, nothing of the quick start applies
    _, _, training_args = arguments.parse_pretraining_arguments(["--dataset_name=x", "--output_dir=out"])
    assert (training_args.per_device_train_batch_size, training_args.num_train_epochs) == (2, 100)


def test_a_single_json_file_holds_the_arguments(tmp_path):
    path = tmp_path / "args.json"
    path.write_text('{"dataset_name": "x", "output_dir": "out", "repeat_aug": 2, "push_to_hub": "false"}')
    _, data_args, training_args = arguments.parse_pretraining_arguments([str(path)])
    assert (data_args.repeat_aug, training_args.output_dir) == (2, "out")
    assert training_args.push_to_hub is False  # the string "false" counted as true (a run that pushed at the end)
    yaml_file = tmp_path / "args.yaml"
    yaml_file.write_text("dataset_name: x\noutput_dir: out\nstreaming: true\nmax_train_steps: 4\nwarmup_steps: 1\n")
    _, data_args, training_args = arguments.parse_pretraining_arguments([str(yaml_file)])
    assert (data_args.streaming, training_args.max_train_steps) == (True, 4)


@pytest.mark.parametrize(
    "content,message",
    [
        # checked as argparse checks the command line: the values used to be taken as they were
        ('{"max_train_steps": "two"}', "invalid int value: 'two'"),
        ('{"per_device_train_batch_size": 2.5}', "invalid int value: '2.5'"),
        ('{"streaming": "yes please"}', "Truthy value expected"),
        ('{"max_trian_steps": 4}', "unrecognized arguments: --max_trian_steps 4"),
        ("[1, 2]", "must map flag names to values, got a list"),
        ("{not json", "not valid JSON (Expecting property name enclosed in double quotes"),
    ],
)  # fmt: skip
def test_an_argument_file_is_checked_as_the_command_line_in_one_line(content, message, tmp_path, capsys):
    path = tmp_path / "args.json"
    path.write_text(content)
    with pytest.raises(SystemExit) as exit_info:
        arguments.parse_pretraining_arguments([str(path)])
    error = capsys.readouterr().err
    assert exit_info.value.code == 2 and error.count("\n") == 1 and message in error, error
    assert error.startswith(f"mae-st-pretrain: error: argument file {path}: "), error  # the file is named


def test_a_malformed_yaml_file_or_one_with_other_arguments_is_one_line(tmp_path, capsys):
    path = tmp_path / "args.yaml"
    path.write_text("dataset_name: [data\n")
    for argv, message in (([str(path)], "not valid YAML"), ([str(path), "--output_dir", "x"], "must be the only")):
        with pytest.raises(SystemExit):
            arguments.parse_pretraining_arguments(argv)
        error = capsys.readouterr().err
        assert error.count("\n") == 1 and f"argument file {path}: {message}" in error, error


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--max_bad_fraction=0.5"], "--max_bad_fraction is now --max_bad_video_fraction"),
        (["--dataset_name=x"], "--output_dir is required with --dataset_name"),
        (["--dataset_name=./no/such/folder", "--output_dir=o"], "--dataset_name ./no/such/folder: no such file"),
        (["--checkpointing_steps=often"], "--checkpointing_steps must be a number of steps or 'epoch'"),
        (["--repeat_aug=0"], "--repeat_aug must be at least 1"),
        (["--num_train_epochs=many"], "--num_train_epochs"),
        (["--resume_from_checkpoint=./nowhere"], "--resume_from_checkpoint ./nowhere: no such folder"),
    ],
)
def test_a_mistake_is_one_line_naming_the_flag_and_exit_status_2(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        arguments.parse_pretraining_arguments(argv)
    error = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert error.startswith("mae-st-pretrain: error: ") and error.count("\n") == 1
    assert message in error


def test_range_flags_take_two_values_and_reach_the_training_clips(tmp_path):
    """`--jitter_scales_relative 0.5 1.0` and the other ranges are two numbers on the command line (a tuple field was
    read as one string, and a second number was refused)."""
    from modeling_mae_st.finetuning import build_processors

    _, data_args, _ = arguments.parse_finetuning_arguments([
        "--model_name_or_path", str(tmp_path), "--train_dir", str(tmp_path), "--output_dir", str(tmp_path / "out"),
        "--jitter_scales_relative", "0.5", "1.0", "--jitter_aspect_relative", "0.5", "2", "--train_jitter_scales",
        "40", "48",
    ])  # fmt: skip
    _, train_processor, _ = build_processors(data_args, num_frames=4, image_size=32)
    assert tuple(train_processor.jitter_scales_relative) == (0.5, 1.0)
    assert tuple(train_processor.jitter_aspect_relative) == (0.5, 2.0)
    assert tuple(train_processor.train_jitter_scales) == (40, 48)
    _, defaults, _ = arguments.parse_finetuning_arguments(
        ["--model_name_or_path", str(tmp_path), "--train_dir", str(tmp_path), "--output_dir", str(tmp_path / "out")]
    )
    assert (defaults.jitter_scales_relative, defaults.jitter_aspect_relative) == ([0.08, 1.0], [0.75, 1.3333])


def test_finetuning_needs_exactly_one_data_source(tmp_path, capsys):
    for argv in ([], ["--train_dir", str(tmp_path), "--dataset_name", "x"]):
        with pytest.raises(SystemExit) as exit_info:
            arguments.parse_finetuning_arguments(["--model_name_or_path", str(tmp_path), *argv])
        assert exit_info.value.code == 2
        assert "give exactly one of --train_dir, --train_file, --dataset_name" in capsys.readouterr().err


def test_help_shows_each_default_once_and_the_quick_start_value_where_it_differs(capsys):
    with pytest.raises(SystemExit) as exit_info:
        arguments.parse_pretraining_arguments(["--help"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    options = text.split(" --")[1:]
    assert len(options) > 30
    for option in options:
        assert option.count("(default:") <= 1 and option.lower().count("default:") <= 1, option
    assert f"(default: 100; quick start: {arguments.QUICKSTART_ARGUMENTS['num_train_epochs']})" in text
    assert "(default: vit-l; quick start: vit-b)" in text


def test_the_trainer_commands_help_file_is_the_live_parsers_help():
    """`mae-st-finetune-trainer --help` prints training/finetune_trainer_help.txt (no torch); it must be what the
    live parser says. After changing an argument: python -c "from mae_st_training.arguments import
    write_trainer_help; write_trainer_help()"."""
    cached = arguments.cached_trainer_help()
    assert cached is not None, f"{arguments.TRAINER_HELP_FILE} is missing or was written for another transformers"
    assert cached == arguments.trainer_help_text()


def test_the_hub_dataset_id_of_a_dataset_name_is_none_for_local_data(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "shards").mkdir()
    assert arguments.hub_dataset_id("user/ucf101") == "user/ucf101"
    assert arguments.hub_dataset_id("hf://datasets/you/k400-shards/train-*.tar") == "you/k400-shards"
    for local in ("shards", "./shards", str(tmp_path), "/data/k400-shards/train-*.tar", "s3://bucket/train-*.tar",
                  "train-*.tar", "videos/train.jsonl", None):  # fmt: skip
        assert arguments.hub_dataset_id(local) is None, local
