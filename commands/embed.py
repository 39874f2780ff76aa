"""`mae-st-embed`: one vector per sliding window of each video, and their mean, from a MAE-ST encoder."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from mae_st_commands import ArgumentParser, output_path_problem, positive_float, positive_int


OUTPUT_FORMATS = (".safetensors", ".pt", ".npz")


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="mae-st-embed",
        description="Embed videos with a MAE-ST encoder: one vector per sliding window and their mean per video.",
    )
    parser.add_argument("videos", nargs="+", help="Video files.")
    parser.add_argument(
        "--model_name_or_path", required=True, help="A MAE-ST folder (pretrained, converted or fine-tuned) or Hub id."
    )
    parser.add_argument(
        "--processor_name_or_path", default=None, help="Video processor folder or Hub id (default: the model's)."
    )
    parser.add_argument(
        "--interpolate_pos_encoding", action="store_true",
        help="Run the model on clips of other frame counts or sizes than its own (from --processor_name_or_path), "
        "interpolating its position embeddings.",
    )  # fmt: skip
    parser.add_argument(
        "--output", default="embeddings.safetensors",
        help="Output file: .safetensors, .pt or .npz (default: %(default)s).",
    )
    parser.add_argument(
        "--window_seconds", type=positive_float, default=None, help="Window length (default: a training clip's span)."
    )
    parser.add_argument(
        "--stride_seconds", type=positive_float, default=None,
        help="Seconds between windows (default: the window length).",
    )  # fmt: skip
    parser.add_argument(
        "--sampling_rate", type=positive_int, default=4,
        help="Training clip frame stride, for the default window (default: 4).",
    )  # fmt: skip
    parser.add_argument("--batch_size", type=positive_int, default=8, help="Windows per forward pass (default: 8).")
    parser.add_argument("--device", default=None, help="Device to run on (default: cuda when available, else cpu).")
    parser.add_argument(
        "--decoding_backend", "--backend", default=None, choices=["decord", "pyav"],
        help="Video decoder, the video processor's `decoding_backend` (default: PyAV; decord falls back to PyAV for "
        "what it cannot read). --backend is its old name.",
    )  # fmt: skip
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    if (problem := output_path_problem("--output", args.output, folder=False)) is not None:
        parser.error(problem)
    if Path(args.output).suffix not in OUTPUT_FORMATS:
        parser.error(f"--output {args.output}: unknown format; use a file name ending in {', '.join(OUTPUT_FORMATS)}")
    import torch

    from modeling_mae_st import MAESTModel, MAESTVideoProcessor
    from modeling_mae_st.command_line import UsageError, check_video_files, exit_on_user_error, load_pretrained
    from modeling_mae_st.hub import check_video_processor_matches, saved_video_processor
    from modeling_mae_st.video_features import embed_video, save_embeddings

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with exit_on_user_error("mae-st-embed"):
        check_video_files(args.videos)
        device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
        try:
            torch.empty(0, device=device)  # an unknown name, or a device this machine lacks
        except (RuntimeError, AssertionError) as error:
            raise UsageError(f"--device {device}: {str(error).strip().splitlines()[0]}") from None
        model = load_pretrained(MAESTModel, args.model_name_or_path, "--model_name_or_path")
        model.to(device)
        if args.processor_name_or_path is not None:
            processor = load_pretrained(MAESTVideoProcessor, args.processor_name_or_path, "--processor_name_or_path")
        else:
            processor = saved_video_processor(args.model_name_or_path, model.config)
        if not args.interpolate_pos_encoding:
            try:
                check_video_processor_matches(
                    processor, model.config, "pass --interpolate_pos_encoding to run the model on them."
                )
            except ValueError as error:
                raise UsageError(str(error)) from None
        results = {}
        for video in args.videos:
            results[video] = embed_video(
                model,
                processor,
                video,
                window_seconds=args.window_seconds,
                stride_seconds=args.stride_seconds,
                sampling_rate=args.sampling_rate,
                batch_size=args.batch_size,
                backend=args.decoding_backend,
                interpolate_pos_encoding=args.interpolate_pos_encoding,
            )
            times = results[video].window_times
            print(f"{video}: {len(times)} windows of {float(times[0, 1] - times[0, 0]):.2f} s")
        print(f"Saved {save_embeddings(results, args.output)}")


if __name__ == "__main__":
    main()
