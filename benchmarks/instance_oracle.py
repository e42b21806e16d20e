"""The instance steps on perfect maps: each validation image's training targets (foreground,
centre distance, object rims, flows) fed to the instance step, scored against its own labels. What
each seeding can reach at best, whatever the network.

    python benchmarks/instance_oracle.py [--data ../shared/data/usiigaci --ids set41 ...]
"""
from __future__ import annotations

import argparse
from pathlib import Path

from cellseg.core.instances import InstanceParams, probs_to_labels
from cellseg.core.metrics import image_scores, summarize
from cellseg.io.datasets import open_dataset
from cellseg.training.targets import make_targets

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared/data/usiigaci"))
    ap.add_argument("--ids", nargs="+", default=[f"set{i}" for i in range(41, 46)])
    args = ap.parse_args()
    items = [it for it in open_dataset(args.data) if it.id in set(args.ids)]
    print(f"perfect maps of {len(items)} images of {Path(args.data).name}")
    print(f"{'seeds':<16}{'DSB':>7}{'AP50':>7}{'pred/true':>10}")
    truths = [it.load()[1] for it in items]
    for method in ("distance", "boundary", "flows"):
        representation = "flows" if method == "flows" else "boundary"
        per_image = [image_scores(t, probs_to_labels(make_targets(t, representation=representation),
                                                     InstanceParams(method=method)))
                     for t in truths]
        s = summarize(per_image)
        print(f"{method:<16}{s['dsb_score']:>7.3f}{s['ap50']:>7.3f}"
              f"{s['n_pred'] / s['n_true']:>10.2f}")


if __name__ == "__main__":
    main()
