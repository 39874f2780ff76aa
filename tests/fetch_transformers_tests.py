"""
Fetch transformers' common model tests (`ModelTesterMixin`, `ConfigTester`) for the installed transformers version.

transformers does not install its test suite, but its PyPI source distribution ships the top-level `tests/*.py`
files (`test_modeling_common.py`, `test_configuration_common.py`, ...). This script downloads that sdist for the
installed version, extracts those files into `<repo>/.transformers_tests/transformers_tests/` (an importable package,
git-ignored: the upstream files are fetched at install time, never committed) and adds small shims of our own for the
three modules the sdist leaves out but the common tests import relatively:

- `exporters/test_export.py`: `ExportTesterMixin`, empty (the export tests are not shipped in the sdist);
- `generation/test_utils.py`: `GenerationTesterMixin`, empty (our models do not generate);
- `utils/test_configuration_utils.py`: `config_common_kwargs`, non-default values of `PreTrainedConfig`'s fields.

Idempotent: the sdist is downloaded once per version, the package is rebuilt on every run.

Usage:
    python tests/fetch_transformers_tests.py [--download-dir DIR]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import transformers
from transformers import PreTrainedConfig


REPO_ROOT = Path(__file__).resolve().parent.parent
TESTS_ROOT = REPO_ROOT / ".transformers_tests"
PACKAGE = "transformers_tests"

PACKAGE_INIT = '''"""Common tests of transformers {version}, from its PyPI sdist (tests/fetch_transformers_tests.py)."""

transformers_version = "{version}"
'''

EXPORT_SHIM = '''"""
Shim for transformers' `tests/exporters/test_export.py`, which the PyPI sdist does not ship.

Upstream, `ExportTesterMixin` adds export tests (`torch.export`, ONNX, ExecuTorch; `@slow`, and needing the optional
exporter backends) to every `ModelTesterMixin` test class. Those export tests are not shipped in the sdist, so they
are not run here: this mixin is intentionally empty.
"""


class ExportTesterMixin:
    """Empty stand-in: the export tests are not shipped in the transformers sdist."""
'''

GENERATION_SHIM = '''"""
Shim for transformers' `tests/generation/test_utils.py`, which the PyPI sdist does not ship.

`test_modeling_common.py` only uses `GenerationTesterMixin` in an `issubclass` check
(`test_generation_tester_mixin_inheritance`): a model that cannot `generate` must not inherit it. MAE-ST models do not
generate, so an empty class is all that check needs.
"""


class GenerationTesterMixin:
    """Empty stand-in: the generation tests are not shipped in the transformers sdist."""
'''

CONFIG_KWARGS_SHIM = '''"""
Shim for transformers' `tests/utils/test_configuration_utils.py`, which the PyPI sdist does not ship.

`ConfigTester.check_config_arguments_init` builds a config from `config_common_kwargs` and checks every value was
set. The keys are the fields of transformers {version}'s `PreTrainedConfig` a user sets (not `transformers_version`,
nor `is_encoder_decoder`, which upstream leaves out too), each with a value other than its default.
"""

config_common_kwargs = {kwargs}
'''

CONFIG_COMMON_KWARGS = {
    "return_dict": False,
    "output_hidden_states": True,
    "output_attentions": True,
    "dtype": "float16",
    "chunk_size_feed_forward": 5,
    "architectures": ["BertModel"],
    "id2label": {0: "label"},
    "label2id": {"label": "0"},
    "problem_type": "regression",
}


def download_sdist(version: str, download_dir: Path) -> Path:
    """Return the path of `transformers-<version>.tar.gz` in `download_dir`, downloading it from PyPI if absent."""
    sdist = download_dir / f"transformers-{version}.tar.gz"
    if sdist.is_file():
        print(f"Using the sdist already at {sdist}")
        return sdist
    download_dir.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
        f"transformers=={version}", "-d", str(download_dir),
    ]  # fmt: skip
    print("Running:", " ".join(command))
    subprocess.run(command, check=True)
    if not sdist.is_file():
        raise FileNotFoundError(f"pip download finished but {sdist} does not exist.")
    return sdist


def extract_common_tests(sdist: Path, version: str, package_dir: Path) -> list[str]:
    """Write the sdist's top-level `tests/*.py` files into `package_dir`; return their names."""
    prefix = f"transformers-{version}/tests/"
    names = []
    with tarfile.open(sdist, "r:gz") as archive:
        for member in archive.getmembers():
            relative = member.name[len(prefix) :] if member.name.startswith(prefix) else ""
            # top-level python files only; written by name, so no path from the archive is trusted
            if not member.isfile() or not relative.endswith(".py") or "/" in relative:
                continue
            (package_dir / relative).write_bytes(archive.extractfile(member).read())
            names.append(relative)
    if "test_modeling_common.py" not in names or "test_configuration_common.py" not in names:
        raise RuntimeError(f"{sdist} has no {prefix}test_modeling_common.py or test_configuration_common.py.")
    return sorted(names)


def check_config_common_kwargs() -> None:
    """Raise a `ValueError` if a key is not a `PreTrainedConfig` attribute or its value is the default."""
    default = PreTrainedConfig()
    for key, value in CONFIG_COMMON_KWARGS.items():
        if not hasattr(default, key):
            raise ValueError(f"`PreTrainedConfig` of transformers {transformers.__version__} has no `{key}`.")
        if getattr(default, key) == value:
            raise ValueError(f"`{key}={value!r}` is the default of `PreTrainedConfig`: pick another value.")


def write_shims(package_dir: Path, version: str) -> list[Path]:
    check_config_common_kwargs()
    shims = {
        "exporters/test_export.py": EXPORT_SHIM,
        "generation/test_utils.py": GENERATION_SHIM,
        "utils/test_configuration_utils.py": CONFIG_KWARGS_SHIM.format(version=version, kwargs=CONFIG_COMMON_KWARGS),
    }
    written = []
    for relative, text in shims.items():
        path = package_dir / relative
        path.parent.mkdir(exist_ok=True)
        (path.parent / "__init__.py").write_text("")
        path.write_text(text)
        written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--download-dir",
        type=Path,
        default=TESTS_ROOT / "downloads",
        help="where the sdist is downloaded (or already is); default: .transformers_tests/downloads",
    )
    args = parser.parse_args()

    version = transformers.__version__
    sdist = download_sdist(version, args.download_dir)

    package_dir = TESTS_ROOT / PACKAGE
    if package_dir.exists():
        shutil.rmtree(package_dir)
    package_dir.mkdir(parents=True)
    (package_dir / "__init__.py").write_text(PACKAGE_INIT.format(version=version))
    names = extract_common_tests(sdist, version, package_dir)
    shims = write_shims(package_dir, version)

    print(f"Extracted {len(names)} test files of transformers {version} into {package_dir}")
    print("Wrote shims:", ", ".join(str(path.relative_to(package_dir)) for path in shims))
    print(f"Tests import them as `transformers_tests` with {TESTS_ROOT} on sys.path (tests/conftest.py does this).")


if __name__ == "__main__":
    main()
