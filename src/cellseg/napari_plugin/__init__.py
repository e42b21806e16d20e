"""napari plugin: a dock widget that segments an image layer into a Labels layer."""
from cellseg.napari_plugin.widget import SegmentWidget

__all__ = ["SegmentWidget"]
