"""
Regenerate the checked-in model cards from `modeling_mae_st/templates/model_card.md`:

    python model_cards/render.py [--owner mae-st]

Writes one card per ViT preset as our pretraining saves it (before a run fills in its facts), one per released
official checkpoint as the converter saves it, and one fine-tuned classifier.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from modeling_mae_st import MAESTConfig  # noqa: E402
from modeling_mae_st.model_card import RELEASED_CHECKPOINTS, RunFacts, build_model_card  # noqa: E402

# What the released files' tensors and README say: PySlowFast decoder layout (joint decoder position table, the
# encoder's cls output in the decoder, 512 wide with 8 heads, targets every second frame).
RELEASED_DECODER = dict(
    decoder_num_attention_heads=8,
    decoder_use_separate_position_embeddings=False,
    decoder_cls_from_encoder=True,
    target_frame_sampling="stride",
)


def render(owner: str, output_dir: Path) -> list[Path]:
    """Write every card into `output_dir` and return their paths."""
    cards = {}
    for preset in ("vit-b", "vit-l", "vit-h"):
        name = f"mae-st-{preset}"
        cards[name] = build_model_card("pretrained", MAESTConfig.from_preset(preset), f"{owner}/{name}")
    for release in RELEASED_CHECKPOINTS:
        config = MAESTConfig.from_preset(release.preset, **RELEASED_DECODER)
        cards[release.name] = build_model_card("converted", config, f"{owner}/{release.name}", release=release)
    classifier = MAESTConfig.from_preset("vit-l", num_labels=400, classifier_dropout=0.3, drop_path_rate=0.2)
    run = RunFacts(dataset="Kinetics-400", base_model=f"{owner}/mae-st-vit-l-k400-pyslowfast")
    cards["mae-st-vit-l-k400-finetuned"] = build_model_card(
        "classifier", classifier, f"{owner}/mae-st-vit-l-k400-finetuned", run=run, license="cc-by-nc-4.0"
    )
    paths = []
    for name, card in cards.items():
        path = output_dir / f"{name}.md"
        card.save(path)
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--owner", default="mae-st", help="Hub user or organisation in the cards' ids.")
    parser.add_argument("--output_dir", type=Path, default=Path(__file__).resolve().parent)
    args = parser.parse_args()
    for path in render(args.owner, args.output_dir):
        print(path)


if __name__ == "__main__":
    main()
