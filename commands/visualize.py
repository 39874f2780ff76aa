"""`mae-st-visualize`: reconstruct masked videos with an MAE-ST pretraining model; save the picture and say how good."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mae_st_commands import ArgumentParser, output_path_problem, positive_int, seed


DESCRIPTION = """\
Reconstruct masked videos with an MAE-ST pretraining model and save the official demo's picture (original, masked
input, reconstruction) as a GIF and a PNG grid. It prints the model's squared error on the hidden patches, in its own
target space, as a multiple of the error of filling every hidden patch with the average of the clip's visible
patches (1.0x: nothing learned about where things are). The clips come from the model folder's saved video processor.
"""


class DeprecatedModelFlag(argparse.Action):
    """`--model`, the old spelling of `--model_name_or_path`: still accepted, with a warning."""

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"{parser.prog}: warning: --model is deprecated; use --model_name_or_path", file=sys.stderr)
        setattr(namespace, self.dest, values)


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="mae-st-visualize", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("videos", nargs="+", help="Video files, one clip each (the error is over all of them).")
    parser.add_argument(
        "--model_name_or_path", help="Pretraining model (with its decoder): a folder written by the mae-st tools, or a "
        "Hub id.",
    )  # fmt: skip
    parser.add_argument("--model", dest="model_name_or_path", action=DeprecatedModelFlag, help=argparse.SUPPRESS)
    parser.add_argument("--mask_ratio", type=float, default=0.9, help="Fraction of patches to hide.")
    parser.add_argument(
        "--patch_statistics", choices=["visible", "target"], default="visible",
        help="Where the mean/variance of hidden patches come from with normalized-pixel targets: 'visible' "
        "(nearest visible patches) or 'target' (the hidden patches' own, as the official demo; leaks).",
    )  # fmt: skip
    parser.add_argument("--seed", type=seed, default=0, help="Seed of the random masks.")
    parser.add_argument(
        "--output", default="reconstruction.gif",
        help="GIF to write; the PNG grid goes beside it with the suffix .png.",
    )  # fmt: skip
    parser.add_argument(
        "--frame_duration_ms", type=positive_int, default=250, help="GIF frame duration in milliseconds."
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    if (problem := output_path_problem("--output", args.output, folder=False)) is not None:
        parser.error(problem)
    if args.model_name_or_path is None:
        parser.error("the following arguments are required: --model_name_or_path")
    if not 0 < args.mask_ratio < 1:
        parser.error(f"--mask_ratio must be between 0 and 1 (exclusive), got {args.mask_ratio}")
    from modeling_mae_st.command_line import check_video_files, exit_on_user_error
    from modeling_mae_st.hub import saved_video_processor
    from modeling_mae_st.visualization import load_pretraining_model, visualize_reconstruction

    with exit_on_user_error("mae-st-visualize"):
        check_video_files(args.videos)
        model = load_pretraining_model(args.model_name_or_path, "--model_name_or_path")
        frames = visualize_reconstruction(
            model,
            args.videos,
            mask_ratio=args.mask_ratio,
            patch_statistics=args.patch_statistics,
            seed=args.seed,
            video_processor=saved_video_processor(args.model_name_or_path, model.config),
        )
        gif = frames.save_gif(Path(args.output).with_suffix(".gif"), frame_duration_ms=args.frame_duration_ms)
        grid = frames.save_grid(Path(args.output).with_suffix(".png"))
    print(f"{frames.caption}\nWrote {gif} and {grid}")


if __name__ == "__main__":
    main()
