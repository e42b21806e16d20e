"""One self-contained HTML report of a run folder (segment, evaluate, train or track output).

Every picture is embedded (base64), so the file opens from disk with no network. Plots are
also written as PNG files into the run folder, next to the CSVs they come from. A script in
the page records whether every image decoded (``<body data-images=...>``) for automated checks.
"""
from __future__ import annotations

import base64
import datetime
import html
import io
import json
from pathlib import Path

import pandas as pd

from cellseg.io.write import atomic_path
from cellseg.viz import plots
from cellseg.viz.plots import save

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1200px;
color:#222;padding:0 1em}h1{font-size:1.6em}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;
margin-top:2em}table{border-collapse:collapse;font-size:.85em;margin:.5em 0}td,th{border:1px solid
#ccc;padding:3px 8px;text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
img{max-width:100%;border:1px solid #ddd;margin:4px}.gallery{display:flex;flex-wrap:wrap;gap:8px}
.gallery figure{margin:0;width:360px}.gallery img{width:100%}figcaption{font-size:.8em;color:#555}
pre{background:#f7f7f7;padding:1em;font-size:.75em;overflow:auto;max-height:400px}.note{color:#666}
"""

CHECK = """<script>
window.onerror=function(m){document.body.dataset.errors=(document.body.dataset.errors||'')+m+';'};
window.addEventListener('load',function(){var imgs=[].slice.call(document.images);
var bad=imgs.filter(function(i){return !(i.complete&&i.naturalWidth>0)});
document.body.dataset.images=imgs.length+' loaded='+(imgs.length-bad.length);});
</script>"""


def data_uri(path: Path, max_side: int | None = None) -> str:
    """data: URI of a PNG/GIF file; PNGs larger than ``max_side`` are downscaled first."""
    raw = path.read_bytes()
    mime = "image/gif" if path.suffix.lower() == ".gif" else "image/png"
    if max_side and mime == "image/png":
        from PIL import Image
        im = Image.open(io.BytesIO(raw))
        if max(im.size) > max_side:
            im.thumbnail((max_side, max_side))
            buf = io.BytesIO()
            im.save(buf, format="PNG", optimize=True)
            raw = buf.getvalue()
    return f"data:{mime};base64,{base64.b64encode(raw).decode()}"


def img(path: Path, alt: str, max_side: int | None = 1000) -> str:
    return f'<img src="{data_uri(path, max_side)}" alt="{html.escape(alt)}">'


def table(df: pd.DataFrame, max_rows: int = 40) -> str:
    return df.head(max_rows).to_html(index=False, float_format=lambda v: f"{v:.3f}",
                                     border=0, escape=True)


def segmentation_section(run: Path) -> str:
    summary = pd.read_csv(run / "summary.csv")
    meas = pd.read_csv(run / "measurements.csv")
    out = ["<h2>Segmentation</h2>",
           f"<p>{len(summary)} images, {int(summary['count'].sum()) if len(summary) else 0} objects.</p>",
           table(summary)]
    if len(summary):
        out.append(img(save(plots.counts_per_image(summary), run / "counts_per_image.png"),
                        "counts"))
    out.append(img(save(plots.area_histogram(meas), run / "area_histogram.png"), "area histogram"))
    overlays = sorted(run.glob("*_overlay.png"))[:12]
    if overlays:
        out.append("<h3>Overlays</h3><div class='gallery'>")
        for p in overlays:
            out.append(f"<figure>{img(p, p.name, 720)}<figcaption>{html.escape(p.name)}"
                       "</figcaption></figure>")
        out.append("</div>")
    return "\n".join(out)


def evaluation_section(run: Path) -> str:
    doc = json.loads((run / "scores.json").read_text())
    base = doc.pop("otsu_baseline", None)
    columns = {"prediction": doc, **({"otsu": base} if base else {})}
    keys = ["dsb_score", "ap50", "ap75", "f1_50", "pq", "aji", "mean_matched_iou", "seg",
            "pixel_iou",
            "pixel_dice", "pixel_precision", "pixel_recall", "pixel_accuracy", "count_mae",
            "roc_auc", "average_precision", "n_true", "n_pred", "images"]
    def fmt(v):
        return "" if v is None else f"{v:,}" if isinstance(v, int) else f"{v:.3f}"
    rows = [{"metric": k, **{n: fmt(c.get(k)) for n, c in columns.items()}} for k in keys
            if any(c.get(k) is not None for c in columns.values())]
    out = ["<h2>Evaluation</h2>", table(pd.DataFrame(rows), 50)]
    out.append(img(save(plots.metric_bars(columns), run / "model_vs_otsu.png"), "metrics bars"))
    out.append(img(save(plots.score_vs_iou(columns), run / "score_vs_iou.png"), "score vs IoU"))
    out.append(img(save(plots.confusion_matrix(doc["confusion_matrix"]),
                        run / "confusion_matrix.png"), "confusion matrix"))
    if (run / "roc_pr.png").exists():
        out.append(img(run / "roc_pr.png", "ROC and PR curves"))
    else:
        out.append("<p class='note'>ROC/PR curves need probability maps: segment with "
                   "<code>--save-probs</code>.</p>")
    if (run / "per_image.csv").exists():
        per = pd.read_csv(run / "per_image.csv").sort_values("dsb_score")
        out += ["<h3>Per image (worst first)</h3>", table(per, 25)]
    worst = sorted(run.glob("worst_*.png"))
    if worst:
        out.append("<h3>Worst images</h3><p>Errors at IoU 0.5: <b style='color:#e41a1c'>missed"
                   "</b>, <b style='color:#377eb8'>extra</b>, <b style='color:#ff7f00'>merged"
                   "</b>, <b style='color:#c51b8a'>split</b>, <b style='color:#4daf4a'>matched"
                   "</b>.</p>")
        out += [img(p, p.name, 1400) for p in worst]
    return "\n".join(out)


def training_section(run: Path) -> str:
    out = ["<h2>Training</h2>"]
    hist = pd.read_csv(run / "history.csv")
    out.append(img(save(plots.training_curves(hist.to_dict("records")),
                        run / "training_curve.png"), "training curves"))
    out.append(table(hist.tail(15)))
    if (run / "model.json").exists():
        card = json.loads((run / "model.json").read_text())
        card.get("training", {}).pop("val_ids", None)
        out += ["<h3>Model card</h3>", f"<pre>{html.escape(json.dumps(card, indent=2))}</pre>"]
    return "\n".join(out)


def tracking_section(run: Path) -> str:
    tracks = pd.read_csv(run / "tracks.csv")
    counts = pd.read_csv(run / "counts.csv")
    out = ["<h2>Time-lapse</h2>",
           f"<p>{tracks['track_id'].nunique() if len(tracks) else 0} tracks over "
           f"{len(counts)} frames.</p>",
           img(save(plots.counts_over_time(counts), run / "counts_over_time.png"),
               "counts over time")]
    if (run / "area_over_time.png").exists():
        out.append(img(run / "area_over_time.png", "area over time"))
    if len(tracks):
        out.append(img(save(plots.track_paths(tracks), run / "track_paths.png"), "track paths"))
    if (run / "compare_manual.png").exists():
        out += ["<h3>Manual vs cellseg</h3>", img(run / "compare_manual.png", "manual comparison"),
                table(pd.read_csv(run / "compare_manual.csv"))]
    if (run / "overlay.gif").exists():
        out += ["<h3>Animation</h3>", img(run / "overlay.gif", "overlay animation", None)]
    return "\n".join(out)


SECTIONS = [("summary.csv", segmentation_section), ("scores.json", evaluation_section),
            ("history.csv", training_section), ("tracks.csv", tracking_section)]


def build_report(run_dir: str | Path, out_html: str | Path | None = None) -> Path:
    """Write the HTML report of ``run_dir`` (default ``run_dir/report.html``); return its path."""
    from cellseg import __version__
    from cellseg.errors import InputError
    run = Path(run_dir)
    if not run.is_dir():
        raise InputError(run, "not a folder")
    parts = [fn(run) for marker, fn in SECTIONS if (run / marker).exists()]
    if not parts:
        raise InputError(run, "no cellseg results here (summary.csv, scores.json, history.csv "
                         "or tracks.csv)")
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>cellseg report: "
            f"{html.escape(run.name)}</title><style>{CSS}</style>{CHECK}</head><body>"
            f"<h1>cellseg report: {html.escape(run.name)}</h1><p class='note'>{html.escape(str(run.resolve()))}"
            f" — {stamp} — cellseg {__version__}</p>" + "\n".join(parts) + "</body></html>")
    out = Path(out_html) if out_html else run / "report.html"
    with atomic_path(out) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return out
