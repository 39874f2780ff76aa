"""The GPU suite's script (`benchmarks/gpu_checks.py`) runs through, here at toy sizes on the CPU (`--smoke`).

A lent GPU is rare and short: a crash in the suite would spend it. This runs every section but the two that compile
(a minute of inductor on this CPU; their code is the sweep's with `compile_model=True`) and checks that each reports
what the README's tables are made of. The figures are not asserted: toy sizes on a CPU measure nothing.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ["fixture_parity", "host_syncs", "sweep_vit_l_bf16", "data_feed", "activation_checkpointing", "backends",
            "fp32_vit_l"]  # fmt: skip


def test_the_gpu_suite_runs_every_section_at_toy_sizes(official_fixtures, tmp_path):
    output = tmp_path / "smoke.json"
    command = [sys.executable, "benchmarks/gpu_checks.py", "--smoke", "--output", str(output),
               "--fixtures", str(official_fixtures), "--sections", *SECTIONS]  # fmt: skip
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(command, cwd=REPO_ROOT, env=environment, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(output.read_text())
    assert results["environment"]["smoke"] is True
    failed = {name: results[name]["error"] for name in SECTIONS if "error" in results[name]}
    assert not failed, failed
    for name, errors in results["fixture_parity"].items():
        if name != "seconds":  # the official outputs, on whichever device ran
            assert all(value < 1e-5 for key, value in errors.items() if key != "mask_equal"), (name, errors)
            assert errors.get("mask_equal", True), name
    rows = results["sweep_vit_l_bf16"]["rows"]
    assert len(rows) == 4 and all(row["gflop_per_clip"] > 0 and row["mfu_percent"] > 0 for row in rows)
    assert {row["batch_size"] for row in results["sweep_vit_l_bf16"]["masking_speedups"]} == {1, 2}
    assert results["data_feed"]["clips_per_s"] > 0 and results["data_feed"]["fastest_vit_l_step_mask_0.9"]
    pairs = results["activation_checkpointing"]["pairs"]
    assert [(pair["mask_ratio"], pair["with"]["activation_checkpointing"]) for pair in pairs] == [
        (0.0, True),
        (0.9, True),
    ]
    assert results["backends"]["sdpa_vs_eager_fp32"] < 1e-5
    assert results["fp32_vit_l"]["rows"][0]["dtype"] == "fp32"
