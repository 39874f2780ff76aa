"""
Regenerate the checked-in model cards from `modeling_mae_st/templates/model_card.md`, and the README's table of
released checkpoints, from `modeling_mae_st.released_checkpoints`:

    python model_cards/render.py [--owner mae-st]

Writes one card per ViT preset as our pretraining saves it (before a run fills in its facts), one per released
official checkpoint as the converter saves it, and one fine-tuned classifier; then rewrites the README's table between
its `released-checkpoints` markers.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from modeling_mae_st import MAESTConfig  # noqa: E402
from modeling_mae_st.finetuning import SIZE_RECIPES  # noqa: E402
from modeling_mae_st.model_card import RunFacts, build_model_card  # noqa: E402
from modeling_mae_st.released_checkpoints import RELEASED_CHECKPOINTS, released_checkpoint  # noqa: E402

# The example classifier: the mae_st ViT-L Kinetics-400 release fine-tuned with the official recipe of its size; its
# license is the base weights' (CC BY-NC 4.0 as published).
CLASSIFIER_BASE = "mae-st-vit-l-k400"
README_PATH = ROOT / "README.md"
TABLE_START = "<!-- released-checkpoints: start (written by model_cards/render.py) -->"
TABLE_END = "<!-- released-checkpoints: end -->"


def render(owner: str, output_dir: Path) -> list[Path]:
    """Write every card into `output_dir` and return their paths."""
    cards = {}
    for preset in ("vit-b", "vit-l", "vit-h"):
        name = f"mae-st-{preset}"
        cards[name] = build_model_card("pretrained", MAESTConfig.from_preset(preset), f"{owner}/{name}")
    for release in RELEASED_CHECKPOINTS:
        cards[release.name] = build_model_card(
            "converted", release.config(), f"{owner}/{release.name}", release=release
        )
    base = released_checkpoint(CLASSIFIER_BASE)
    recipe = SIZE_RECIPES[base.preset]
    classifier = MAESTConfig.from_preset(
        base.preset, num_labels=400, classifier_dropout=recipe.classifier_dropout, drop_path_rate=recipe.drop_path_rate
    )
    run = RunFacts(dataset="Kinetics-400", base_model=f"{owner}/{base.name}")
    cards[f"{base.name}-finetuned"] = build_model_card(
        "classifier", classifier, f"{owner}/{base.name}-finetuned", run=run, license=base.hub_license
    )
    paths = []
    for name, card in cards.items():
        path = output_dir / f"{name}.md"
        card.save(path)
        paths.append(path)
    return paths


def released_checkpoints_table() -> str:
    """The README's markdown table of released checkpoints, one row per [`ReleasedCheckpoint`], markers included."""
    rows = [
        TABLE_START,
        "| model | pretraining data | official file | md5 prefix (published) | top-1 after fine-tuning (published, "
        "not measured here) | license (Hub id) | convert |",
        "|---|---|---|---|---|---|---|",
    ]
    for release in RELEASED_CHECKPOINTS:
        size = "ViT-" + release.preset.split("-")[1].upper()
        md5 = f"`{release.md5_prefix}`" if release.md5_prefix else "none published"
        published = release.accuracy
        accuracy = (
            f"{published.top1} on {published.dataset}, {published.views} ([{published.source}]({published.source_url}))"
            if published
            else "none published for this file"
        )
        rows.append(
            f"| {size} | {release.dataset} | [{release.codebase} `{release.filename}`]({release.url}) | {md5} | "
            f"{accuracy} | `{release.hub_license}` | `{release.convert_command}` |"
        )
    rows.append(TABLE_END)
    return "\n".join(rows)


def update_readme(path: Path = README_PATH) -> None:
    """
    Replace the table between the markers in `path` with [`released_checkpoints_table`].

    Raises:
        ValueError: the file lacks one of the markers.
    """
    text = path.read_text()
    if TABLE_START not in text or TABLE_END not in text:
        raise ValueError(f"{path} lacks the markers {TABLE_START!r} and {TABLE_END!r} around its released table.")
    before, rest = text.split(TABLE_START, 1)
    after = rest.split(TABLE_END, 1)[1]
    path.write_text(before + released_checkpoints_table() + after)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--owner", default="mae-st", help="Hub user or organisation in the cards' ids.")
    parser.add_argument("--output_dir", type=Path, default=Path(__file__).resolve().parent)
    args = parser.parse_args()
    for path in render(args.owner, args.output_dir):
        print(path)
    update_readme()
    print(README_PATH)


if __name__ == "__main__":
    main()
