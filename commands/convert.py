"""`mae-st-convert`: an official MAE-ST checkpoint (mae_st or PySlowFast) into a complete Hub folder."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from mae_st_commands import ArgumentParser, output_path_problem


DESCRIPTION = """\
Convert an official MAE-ST checkpoint (facebookresearch/mae_st or PySlowFast, pretraining or fine-tuned) into a
folder that loads with `from_pretrained`, `pipeline` and the other mae-st commands: safetensors weights, config,
a video processor for the model's frames and image size, the code for trust_remote_code and, for a released
checkpoint, its model card.

Sizes come from the tensors. What they cannot reveal is read from the training settings the file saves (mae_st's
`args`, PySlowFast's `cfg`) or must be given: --num_attention_heads for an encoder width that is not a released one,
--decoder_num_attention_heads for a mae_st-layout decoder, --num_frames for a joint position table.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="mae-st-convert",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--checkpoint", required=True, help="Official .pth/.pyth file.")
    parser.add_argument("--output_dir", required=True, help="Folder to write the converted model to.")
    sizes = parser.add_argument_group("what the weights cannot reveal (default: the file's saved settings)")
    sizes.add_argument(
        "--num_attention_heads", type=int, default=None,
        help="Encoder heads; needed for a width other than the released 768 (12 heads), 1024 and 1280 (16 heads).",
    )  # fmt: skip
    sizes.add_argument(
        "--decoder_num_attention_heads", type=int, default=None,
        help="Decoder heads; needed for a mae_st-layout decoder (PySlowFast decoders use width // 64).",
    )  # fmt: skip
    sizes.add_argument(
        "--num_frames", type=int, default=None,
        help="Frames per clip; needed only for a joint position table (separate tables reveal it).",
    )  # fmt: skip
    loss = parser.add_mutually_exclusive_group()
    loss.add_argument(
        "--norm_pix_loss", dest="norm_pix_loss", action="store_true", default=True,
        help="Targets normalized per patch, as the released models (default).",
    )  # fmt: skip
    loss.add_argument("--no_norm_pix_loss", dest="norm_pix_loss", action="store_false", help="Raw pixel targets.")
    parser.add_argument("--mask_ratio", type=float, default=0.9, help="Mask ratio stored in the config (default: 0.9).")
    parser.add_argument(
        "--target_frame_sampling", choices=["linspace", "stride"], default=None,
        help="Target frames (default: 'stride' for PySlowFast decoders, 'linspace' for mae_st ones).",
    )  # fmt: skip
    parser.add_argument(
        "--allow_pickle", action="store_true",
        help="Allow full unpickling for files that need it, e.g. mae_st's with saved args (only for files you trust).",
    )  # fmt: skip
    hub = parser.add_argument_group("Hugging Face Hub")
    hub.add_argument("--push_to_hub", action="store_true", help="Upload the output folder to the Hub.")
    hub.add_argument(
        "--hub_model_id", default=None, help="Repository to push to (default: the output folder's name)."
    )
    hub.add_argument("--hub_token", default=None, help="Hub token (default: the one `hf auth login` stored).")
    hub.add_argument("--hub_private_repo", action="store_true", help="Create the repository private.")
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    if (problem := output_path_problem("--output_dir", args.output_dir, folder=True)) is not None:
        parser.error(problem)
    from modeling_mae_st.command_line import exit_on_user_error
    from modeling_mae_st.convert_official_checkpoint import convert_official_checkpoint
    from modeling_mae_st.hub import push_to_hub

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with exit_on_user_error("mae-st-convert"):
        model = convert_official_checkpoint(
            args.checkpoint,
            output_dir=args.output_dir,
            allow_pickle=args.allow_pickle,
            num_attention_heads=args.num_attention_heads,
            decoder_num_attention_heads=args.decoder_num_attention_heads,
            num_frames=args.num_frames,
            norm_pix_loss=args.norm_pix_loss,
            mask_ratio=args.mask_ratio,
            target_frame_sampling=args.target_frame_sampling,
            repo_id=args.hub_model_id,
        )
    print(f"Converted {args.checkpoint} into {type(model).__name__} at {args.output_dir}")
    if args.push_to_hub:
        repo_id = args.hub_model_id or Path(args.output_dir).resolve().name
        with exit_on_user_error("mae-st-convert"):  # an unreachable Hub, no token, no rights: one line
            commit = push_to_hub(
                args.output_dir,
                repo_id,
                token=args.hub_token,
                private=args.hub_private_repo,
                commit_message=f"Convert {Path(args.checkpoint).name}",
            )
        print(f"Pushed to {commit.commit_url}")


if __name__ == "__main__":
    main()
