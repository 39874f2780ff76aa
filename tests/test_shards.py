"""Tests of `modeling_mae_st/shards.py` and `mae-st-make-shards`: real videos into real `.tar` shards, read back by
`datasets`' WebDataset builder."""

from __future__ import annotations

import json
import shutil
import tarfile
from pathlib import Path

import pytest

from mae_st_commands import make_shards
from modeling_mae_st.command_line import UsageError
from modeling_mae_st.data import DatasetSourceError, build_video_dataloader, load_video_dataset
from modeling_mae_st.shards import (
    LABEL_NAMES_FILE,
    find_shards,
    sample_key,
    sample_name,
    shard_label_names,
    write_video_shards,
)


def members(shard: Path) -> list[str]:
    with tarfile.open(shard) as archive:
        return archive.getnames()


def test_a_labeled_folder_becomes_shards_per_split_with_stable_keys_labels_and_the_videos_unchanged(
    tmp_path, synthetic_dataset_dir
):
    written = write_video_shards(synthetic_dataset_dir, tmp_path / "a", max_videos_per_shard=3, seed=0)
    # 4 classes: 8 training videos in shards of 3, 4 validation videos
    assert {split: [path.name for path in paths] for split, paths in written.items()} == {
        "train": ["train-00000.tar", "train-00001.tar", "train-00002.tar"],
        "validation": ["validation-00000.tar", "validation-00001.tar"],
    }
    assert [len(members(shard)) for shard in written["train"]] == [6, 6, 4]  # a video and its .json each
    with tarfile.open(written["train"][0]) as archive:
        video_member, json_member = archive.getnames()[:2]
        key = video_member.removesuffix(".mp4")
        assert json_member == key + ".json"
        metadata = json.loads(archive.extractfile(json_member).read())
        # the key is the relative path without its extension; the label is the class folder's name
        assert key == metadata["path"].removesuffix(".mp4") and metadata["path"].startswith("train/")
        assert metadata["label"] == metadata["path"].split("/")[1]
        assert archive.extractfile(video_member).read() == (synthetic_dataset_dir / metadata["path"]).read_bytes()
    # another order (seed) gives the same keys in other shards; the same seed gives byte-identical shards
    again = write_video_shards(synthetic_dataset_dir, tmp_path / "b", max_videos_per_shard=3, seed=0)
    other = write_video_shards(synthetic_dataset_dir, tmp_path / "c", max_videos_per_shard=3, seed=1)
    assert [path.read_bytes() for path in again["train"]] == [path.read_bytes() for path in written["train"]]
    keys = [sorted(name for shard in result["train"] for name in members(shard)) for result in (written, other)]
    assert keys[0] == keys[1]
    assert [name for shard in written["train"] for name in members(shard)] != [
        name for shard in other["train"] for name in members(shard)
    ]


def test_shards_read_back_through_load_video_dataset_give_every_video(tmp_path, synthetic_dataset_dir):
    write_video_shards(synthetic_dataset_dir, tmp_path / "shards", max_videos_per_shard=3)
    for streaming in (True, False):
        dataset = load_video_dataset(tmp_path / "shards", label_column=None, streaming=streaming)
        assert set(dataset) == {"train", "validation"}
        read = {row["__key__"]: row["video"]["bytes"] for row in dataset["train"]}
        assert read == {
            sample_key(path.relative_to(synthetic_dataset_dir).as_posix()): path.read_bytes()
            for path in sorted((synthetic_dataset_dir / "train").rglob("*.mp4"))
        }


def test_shard_size_in_bytes_or_a_number_of_shards(tmp_path, synthetic_dataset_dir):
    sizes = sorted(path.stat().st_size for path in (synthetic_dataset_dir / "train").rglob("*.mp4"))
    written = write_video_shards(
        synthetic_dataset_dir, tmp_path / "shards", max_shard_bytes=sizes[-1] + sizes[-2] - 1, shuffle=False
    )
    # no two of the largest videos fit together; every shard holds one video or more
    assert all(len(members(shard)) >= 2 for shard in written["train"])
    assert len(written["train"]) > 8 * sizes[0] // (sizes[-1] + sizes[-2])
    with pytest.raises(UsageError, match="already holds .tar shards"):
        write_video_shards(synthetic_dataset_dir, tmp_path / "shards")
    # a label_names.txt left from other shards would label these (unlabeled ones too): refused as well
    (tmp_path / "stale").mkdir()
    (tmp_path / "stale" / LABEL_NAMES_FILE).write_text("cat\ndog\n")
    with pytest.raises(UsageError, match=f"already holds .tar shards or a {LABEL_NAMES_FILE}"):
        write_video_shards(synthetic_dataset_dir, tmp_path / "stale")
    # a number of shards: equal video counts (8 training videos in 3 shards; 4 validation videos, one per shard)
    written = write_video_shards(synthetic_dataset_dir, tmp_path / "three", num_shards=3)
    assert [len(members(shard)) // 2 for shard in written["train"]] == [3, 3, 2]
    written = write_video_shards(synthetic_dataset_dir, tmp_path / "eight", num_shards=8)
    assert [len(members(shard)) // 2 for shard in written["validation"]] == [1, 1, 1, 1]


def test_keys_come_from_relative_paths_and_two_videos_with_one_key_are_refused(tmp_path, codec_videos):
    assert sample_key("train/abseiling/x.y.mp4") == "train/abseiling/x_y"  # WebDataset cuts a name at its first dot
    folder = tmp_path / "videos"
    folder.mkdir()
    (folder / "clip.a.mp4").write_bytes(codec_videos["mpeg4_96x64.mp4"].read_bytes())
    (folder / "clip_a.mp4").write_bytes(codec_videos["mpeg4_96x64.mp4"].read_bytes())
    with pytest.raises(UsageError, match="would both have the shard key 'clip_a'"):
        write_video_shards(folder, tmp_path / "shards")


def test_a_linked_video_keeps_the_key_of_its_name_in_the_folder(tmp_path, codec_videos):
    """A link to a video outside the folder was keyed by its target's absolute path (the machine's folders, and
    another key on every machine)."""
    outside = tmp_path / "elsewhere" / "clip.mp4"
    outside.parent.mkdir()
    outside.write_bytes(codec_videos["mpeg4_96x64.mp4"].read_bytes())
    folder = tmp_path / "videos" / "train" / "left"
    folder.mkdir(parents=True)
    (folder / "linked.mp4").symlink_to(outside)
    (folder / "own.mp4").write_bytes(codec_videos["mpeg4_96x64.mp4"].read_bytes())
    written = write_video_shards(tmp_path / "videos", tmp_path / "shards")
    with tarfile.open(written["train"][0]) as archive:
        names = sorted(member.name for member in archive.getmembers() if member.name.endswith(".mp4"))
    assert names == ["train/left/linked.mp4", "train/left/own.mp4"]


def test_find_shards_tells_splits_apart_by_file_or_folder_name(tmp_path):
    for name in ("train-00000.tar", "train-00001.tar", "val-00000.tar", "test/0.tar", "misc.tar", "notes.txt"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    found = {split: [Path(path).name for path in paths] for split, paths in find_shards(tmp_path).items()}
    assert found == {"test": ["0.tar"], "train": ["misc.tar", "train-00000.tar", "train-00001.tar"],
                     "validation": ["val-00000.tar"]}  # fmt: skip
    assert list(find_shards(tmp_path / "train-*.tar")) == ["train"]
    assert find_shards(tmp_path / "test") == {"test": [str(tmp_path / "test" / "0.tar")]}
    assert find_shards(tmp_path / "notes.txt") is None
    remote = "hf://datasets/you/k400-shards/validation-*.tar"  # resolved by datasets, not here
    assert find_shards(remote) == {"validation": [remote]}


def test_make_shards_command_writes_shards_and_reports_mistakes_in_one_line(tmp_path, synthetic_dataset_dir, capsys):
    make_shards.main(["--dataset_name", str(synthetic_dataset_dir), "--output_dir", str(tmp_path / "out"),
                      "--max_shard_size", "1GB"])  # fmt: skip
    output = capsys.readouterr().out
    assert "train: 1 shard(s)" in output and f"4 classes in {tmp_path / 'out' / LABEL_NAMES_FILE}" in output
    assert make_shards.parse_size("500MB") == 500_000_000 and make_shards.parse_size("1024") == 1024
    video = next(synthetic_dataset_dir.glob("train/*/*.mp4"))
    for argv, message in (
        (["--dataset_name", str(tmp_path / "nothing"), "--output_dir", str(tmp_path / "x")], "No such file"),
        (["--dataset_name", str(synthetic_dataset_dir), "--output_dir", str(tmp_path / "out")], "already holds"),
        (["--dataset_name", "a", "--output_dir", "b", "--max_shard_size", "big"], "is not a size"),
        # a video given as the index: said once, naming it (the path was printed twice)
        (["--dataset_name", str(video), "--output_dir", str(tmp_path / "y")], f"error: {video} is a video file, not"),
        # 0 passed for "unset" (one shard, or one per video), and --num_shards silently overrode the limits
        (["--dataset_name", "a", "--output_dir", "b", "--num_shards", "0"], "--num_shards must be at least 1, got 0"),
        (["--dataset_name", "a", "--output_dir", "b", "--seed", "-1"], "--seed: must be in [0, 2**32), got -1"),
        (["--dataset_name", "a", "--output_dir", "b", "--max_shard_size", "0"], "--max_shard_size must be at least"),
        (["--dataset_name", "a", "--output_dir", "b", "--num_shards", "2", "--max_videos_per_shard", "3"],
         "--num_shards sets the shards' size itself"),
    ):
        with pytest.raises(SystemExit) as exit_info:
            make_shards.main(argv)
        assert exit_info.value.code == 2
        error = capsys.readouterr().err.strip().splitlines()[-1]  # (argparse prints its usage before)
        assert error.startswith("mae-st-make-shards: error: ") and message in error


def test_a_source_that_fails_halfway_leaves_nothing_to_refuse_the_retry(tmp_path, synthetic_dataset_dir):
    """An index whose last video is missing left label_names.txt and the first shards: every retry into the folder
    was then refused ("already holds .tar shards or a label_names.txt"), hiding the real error."""
    videos = sorted(synthetic_dataset_dir.glob("train/*/*.mp4"))
    index = tmp_path / "train.csv"
    rows = [f"{video},{video.parent.name}" for video in videos] + [f"{tmp_path / 'gone.mp4'},left"]
    index.write_text("path,label\n" + "\n".join(rows) + "\n")
    with pytest.raises(FileNotFoundError):
        write_video_shards(index, tmp_path / "out", max_videos_per_shard=2, shuffle=False)
    assert list((tmp_path / "out").iterdir()) == []
    index.write_text("path,label\n" + "\n".join(rows[:-1]) + "\n")
    assert len(write_video_shards(index, tmp_path / "out", max_videos_per_shard=2)["train"]) == 4


def test_videos_given_as_bytes_alone_are_named_by_their_content():
    # (a Hub dataset whose cells hold bytes without a path): same size, other content, other name and seed
    cells = [{"bytes": b"video one", "path": None}, {"bytes": b"video two", "path": None}]
    names = [sample_name({"video": cell}) for cell in cells] + [sample_name({"video": b"video one"})]
    assert names[0] != names[1] and names[0] == names[2] and names[0].startswith("sha256:")
    assert sample_name({"video": "/data/a.mp4"}) == "/data/a.mp4"


def _labels_by_key(dataset) -> dict[str, str]:
    names = dataset.features["label"].names
    return {row["__key__"]: names[row["label"]] if row["label"] >= 0 else None for row in dataset}


def test_labeled_shards_read_back_with_their_classes_from_label_names_txt_or_the_json_members(
    tmp_path, synthetic_dataset_dir
):
    """Shards used to be read without labels; a stream must know its classes before it reads a sample."""
    written = write_video_shards(synthetic_dataset_dir, tmp_path / "shards", max_videos_per_shard=3)
    assert (tmp_path / "shards" / LABEL_NAMES_FILE).read_text() == "down\nleft\nright\nup\n"
    expected = {
        sample_key(path.relative_to(synthetic_dataset_dir).as_posix()): path.parent.name
        for path in (synthetic_dataset_dir / "train").rglob("*.mp4")
    }
    for streaming in (False, True):
        train = load_video_dataset(tmp_path / "shards", streaming=streaming)["train"]
        assert train.features["label"].names == ["down", "left", "right", "up"]
        assert _labels_by_key(train) == expected
    # pretraining leaves them unread
    assert "label" not in load_video_dataset(tmp_path / "shards", label_column=None)["train"].column_names

    # the file gives the ids' order; without it (shards of an earlier writer), the members' sorted class names
    (tmp_path / "shards" / LABEL_NAMES_FILE).write_text("up\nright\nleft\ndown\n")
    assert shard_label_names(tmp_path / "shards") == ["up", "right", "left", "down"]
    assert shard_label_names(written["validation"][0]) == ["up", "right", "left", "down"]  # one shard: the same
    train = load_video_dataset(tmp_path / "shards", streaming=True)["train"]
    assert train.features["label"].names == ["up", "right", "left", "down"] and _labels_by_key(train) == expected
    (tmp_path / "shards" / LABEL_NAMES_FILE).unlink()
    assert shard_label_names(tmp_path / "shards") == ["down", "left", "right", "up"]

    (tmp_path / "shards" / LABEL_NAMES_FILE).write_text("down\nleft\ndown\n")
    with pytest.raises(DatasetSourceError, match=r"label_names.txt: names the classes \['down'\] more than once"):
        load_video_dataset(tmp_path / "shards", streaming=True)


def test_a_streamed_sample_whose_class_is_not_among_the_shards_is_skipped_and_counted(
    tmp_path, synthetic_dataset_dir, small_processor
):
    write_video_shards(synthetic_dataset_dir, tmp_path / "shards", num_shards=1)
    (tmp_path / "shards" / LABEL_NAMES_FILE).write_text("down\nleft\nright\n")  # "up" left out
    train = load_video_dataset(tmp_path / "shards", streaming=True)["train"]
    labels = _labels_by_key(train)
    assert [key for key, label in labels.items() if label is None] == ["train/up/up_0000", "train/up/up_0001"]
    loader = build_video_dataloader(train, small_processor.with_settings(mode="train"), batch_size=8, num_workers=0,
                                    shuffle=False)  # fmt: skip
    batch = next(iter(loader))
    assert (batch["num_videos"], batch["num_skipped"]) == (8, 2)
    assert sorted(batch["skipped_videos"]) == ["train/up/up_0000.mp4", "train/up/up_0001.mp4"]
    assert batch["labels"].tolist() == [train.features["label"].str2int(labels[key]) for key in labels
                                        if labels[key] is not None]  # fmt: skip


def test_fine_tuning_from_shards_without_labels_says_so_in_one_line(
    synthetic_dataset_dir, tiny_pretrained, tmp_path, capsys
):
    from mae_st_training import arguments

    flat = tmp_path / "flat"
    flat.mkdir()
    for path in (synthetic_dataset_dir / "train").rglob("*.mp4"):
        shutil.copy(path, flat / path.name)
    write_video_shards(flat, tmp_path / "shards")
    assert not (tmp_path / "shards" / LABEL_NAMES_FILE).exists()
    argv = ["--model_name_or_path", str(tiny_pretrained), "--dataset_name", str(tmp_path / "shards"),
            "--output_dir", str(tmp_path / "out")]  # fmt: skip
    with pytest.raises(SystemExit) as exit_info:
        arguments.finetune_command(argv)
    stderr = capsys.readouterr().err
    assert exit_info.value.code == 2 and "Traceback" not in stderr
    assert stderr.splitlines()[-1].startswith(
        f"mae-st-finetune: error: {tmp_path / 'shards'} holds .tar shards without labels: neither a label_names.txt"
    ), stderr


def test_reading_large_shards_whole_warns_that_it_copies_them(tmp_path, synthetic_dataset_dir, monkeypatch, caplog):
    from modeling_mae_st import shards

    write_video_shards(synthetic_dataset_dir, tmp_path / "shards")
    monkeypatch.setattr(shards, "COPY_WARNING_BYTES", 1000)  # (the real threshold is 1 GB)
    load_video_dataset(tmp_path / "shards", streaming=True)
    assert "copies their videos" not in caplog.text
    load_video_dataset(tmp_path / "shards")
    assert "Reading 2 shards (0.0 GB) whole copies their videos into datasets' cache; --streaming reads" in caplog.text


def test_remote_shards_take_their_classes_from_the_label_names_txt_beside_them(tmp_path, synthetic_dataset_dir):
    """A URL (hf://, s3://; here file://, through the same fsspec path, with no network) is not scanned: its classes
    come from the label_names.txt beside the pattern, and without one the shards read unlabeled."""
    write_video_shards(synthetic_dataset_dir, tmp_path / "shards")
    (tmp_path / "shards" / LABEL_NAMES_FILE).write_text("up\nright\nleft\ndown\n")
    url = f"file://{tmp_path / 'shards'}/train-*.tar"
    train = load_video_dataset(url, streaming=True)["train"]
    assert train.features["label"].names == ["up", "right", "left", "down"]
    assert len(_labels_by_key(train)) == 8 and None not in _labels_by_key(train).values()
    (tmp_path / "shards" / LABEL_NAMES_FILE).unlink()
    assert shard_label_names(url) is None
    assert "label" not in load_video_dataset(url, streaming=True)["train"].column_names
