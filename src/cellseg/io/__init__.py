"""Reading and writing images, annotated datasets and movies."""
from cellseg.io.images import (
    IMAGE_SUFFIXES,
    count_frames,
    find_images,
    iter_frames,
    read_frame,
    read_image,
)
from cellseg.io.write import write_csv, write_labels, write_png

__all__ = [
    "IMAGE_SUFFIXES",
    "count_frames",
    "find_images",
    "iter_frames",
    "read_frame",
    "read_image",
    "write_csv",
    "write_labels",
    "write_png",
]
