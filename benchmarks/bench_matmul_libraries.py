"""
fp32 matrix-product rates on this CPU through the two libraries torch ships: MKL, which `torch.mm` / `F.linear` use
for fp32 on x86, and oneDNN (`torch._C._nn.mkldnn_linear` on oneDNN tensors, which torch's fp32 training ops do not
use). For the shapes of the ViT-B pretraining step at mask 0.9 (encoder: 157 tokens x 768; decoder: 1569 tokens x
512) and the square 2048^3 product that `bench_vs_videomae.py` takes as the floor's rate. Speed only, never asserted.

    python benchmarks/bench_matmul_libraries.py --threads 2 --repeats 20
"""

from __future__ import annotations

import argparse
import os
import time

import torch


# (tokens, in features, out features): the forward products of the step; the backward's have the same FLOPs
SHAPES = {
    "square 2048^3": (2048, 2048, 2048),
    "encoder q/k/v/o": (157, 768, 768),
    "encoder MLP up": (157, 768, 3072),
    "encoder MLP down": (157, 3072, 768),
    "decoder q/k/v/o": (1569, 512, 512),
    "decoder MLP up": (1569, 512, 2048),
    "decoder MLP down": (1569, 2048, 512),
    "decoder prediction": (1569, 512, 1536),
}


def best_rate(product, flops: int, repeats: int) -> float:
    product()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        product()
        best = min(best, time.perf_counter() - start)
    return flops / best / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{args.threads} threads, load average {os.getloadavg()[0]:.1f}, torch {torch.__version__}, MKL "
          f"{torch.backends.mkl.is_available()}, oneDNN {torch.backends.mkldnn.is_available()}; best of {args.repeats}")
    print("\n| product | tokens x in -> out | MKL GFLOP/s | oneDNN GFLOP/s | oneDNN / MKL |")
    print("|---|---|---:|---:|---:|")
    for name, (tokens, fan_in, fan_out) in SHAPES.items():
        x, weight = torch.randn(tokens, fan_in), torch.randn(fan_out, fan_in)
        x_onednn, weight_onednn = x.to_mkldnn(), weight.to_mkldnn()
        flops = 2 * tokens * fan_in * fan_out
        mkl = best_rate(lambda: torch.nn.functional.linear(x, weight), flops, args.repeats)
        onednn = best_rate(lambda: torch._C._nn.mkldnn_linear(x_onednn, weight_onednn), flops, args.repeats)
        print(f"| {name} | {tokens} x {fan_in} -> {fan_out} | {mkl:.0f} | {onednn:.0f} | {onednn / mkl:.2f}x |")


if __name__ == "__main__":
    main()
