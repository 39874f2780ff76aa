"""benchmarks/bench_model.py's accounting (its speed figures are measured, never asserted)."""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from bench_model import cpu_peak_memory_gib, masking_speedups  # noqa: E402


def test_cpu_peak_memory_counts_the_tensors_alive_at_once():
    def run():
        ones = torch.ones(2**24)  # 64 MiB
        doubled = ones * 2  # 64 MiB more while `ones` is alive
        del ones
        return doubled + 1  # `doubled` and the result: 128 MiB again, never 192

    peak = cpu_peak_memory_gib(run)
    assert 0.125 <= peak < 0.15


def test_masking_speedup_is_the_mask_0_step_time_over_the_masked_one_at_equal_batch():
    rows = [
        dict(batch_size=8, mask_ratio=0.0, step_ms=400.0),
        dict(batch_size=8, mask_ratio=0.9, step_ms=100.0),
        dict(batch_size=16, mask_ratio=0.9, step_ms=150.0),  # no mask-0 row at this batch: no ratio
    ]
    assert masking_speedups(rows) == [dict(batch_size=8, mask_ratio=0.9, speedup_over_mask_0=4.0)]
