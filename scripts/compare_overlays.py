"""Side-by-side outlines of two models (and the ground truth) on validation images, to judge
by eye: docs/cells_overlays.png by default.

    python scripts/compare_overlays.py --new cells --old runs/cells_v040 \
        --data ../shared/data/usiigaci --ids set42 set44 -o docs/cells_overlays.png
"""
from __future__ import annotations

import argparse
from pathlib import Path

from matplotlib.figure import Figure

from cellseg.core.metrics import image_scores
from cellseg.io.datasets import open_dataset
from cellseg.model.store import load_model
from cellseg.viz.overlay import outline_overlay


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--new", default="cells")
    ap.add_argument("--old", required=True)
    ap.add_argument("--data", default="../shared/data/usiigaci")
    ap.add_argument("--ids", nargs="+", default=["set42", "set44"])
    ap.add_argument("--crop", type=int, default=512, help="side of the central crop shown")
    ap.add_argument("-o", "--output", default="docs/cells_overlays.png")
    args = ap.parse_args()
    items = {it.id: it for it in open_dataset(args.data)}
    models = {"ground truth": None, f"new ({args.new})": load_model(args.new),
              f"previous ({Path(args.old).name})": load_model(args.old)}
    fig = Figure(figsize=(4 * len(models), 4 * len(args.ids)), dpi=110)
    axes = fig.subplots(len(args.ids), len(models), squeeze=False)
    for row, item_id in zip(axes, args.ids):
        image, truth = items[item_id].load()
        h, w = truth.shape
        y, x = (h - args.crop) // 2, (w - args.crop) // 2
        window = (slice(y, y + args.crop), slice(x, x + args.crop))
        for ax, (name, model) in zip(row, models.items()):
            labels = truth if model is None else model.segment(image)
            s = image_scores(truth, labels)
            ax.imshow(outline_overlay(image[window], labels[window]))
            ax.set_title(f"{item_id}, {name}\n{s['n_pred']} objects (true {s['n_true']}), "
                         f"DSB {s['dsb_score']:.2f}", fontsize=9)
            ax.axis("off")
    fig.tight_layout()
    fig.savefig(args.output)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
