"""Screenshot of the napari dock widget after segmenting the fluorescence sample:
docs/napari_widget.png. Run under an X server (xvfb-run -a python scripts/napari_screenshot.py)."""
from pathlib import Path

import napari
from qtpy.QtWidgets import QApplication

from cellseg.io.datasets import read_paired

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    item = next(it for it in read_paired(ROOT / "samples") if it.id.startswith("fluorescence_"))
    viewer = napari.Viewer(show=True)
    viewer.window.resize(1200, 760)
    viewer.add_image(item.load()[0], name="fluorescence sample")
    _, widget = viewer.window.add_plugin_dock_widget("cellseg-offline", "Segment (cellseg)")
    widget.run.native.click()
    while "fluorescence sample labels" not in viewer.layers:
        QApplication.processEvents()
    labels = viewer.layers["fluorescence sample labels"]
    viewer.layers.selection.active = labels
    labels.contour = 2
    viewer.reset_view()
    print(f"{labels.data.max()} objects; features: {list(labels.features.columns)[:6]} ...")
    viewer.screenshot(ROOT / "docs" / "napari_widget.png", canvas_only=False)
    viewer.close()


if __name__ == "__main__":
    main()
