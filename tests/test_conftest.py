"""The shared test setup (tests/conftest.py): a missing ../shared fails in CI and is skipped elsewhere."""

import pytest

import conftest


@pytest.mark.parametrize("ci,outcome", [("true", pytest.fail.Exception), (None, pytest.skip.Exception)])
def test_a_missing_shared_folder_fails_in_ci_and_is_skipped_elsewhere(ci, outcome, tmp_path, monkeypatch):
    monkeypatch.setattr(conftest, "SHARED_DIR", tmp_path / "shared")
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    shared_dir = conftest.shared_dir.__wrapped__  # the fixture's function
    with pytest.raises(outcome, match="shared.* is missing"):
        shared_dir()


def test_the_shared_folder_is_found_beside_the_repository(shared_dir, official_fixtures, demo_video):
    assert official_fixtures.parent == demo_video.parent.parent == shared_dir
    assert demo_video.is_file() and any(official_fixtures.glob("*/*.pt"))
