"""Microscope vendor files: Zeiss CZI (``pylibCZIrw``) and Nikon ND2 (``nd2``).

Both readers are the optional extra ``cellseg-offline[formats]``; without it, opening such a
file is a one-line error saying what to install. A file's planes are read one at a time:
time points and z planes are frames (time-major), channels are gathered into the last axis,
as for a multi-channel TIFF, and the physical pixel size and the channel names come from the
file's metadata.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cellseg.errors import InputError

VENDOR_SUFFIXES = {".czi", ".nd2"}
READERS = {".czi": "pylibCZIrw", ".nd2": "nd2"}


@dataclass
class VendorLayout:
    """What a vendor file holds: planes to iterate, channel names, pixel size (µm, or None)."""

    times: int
    planes: int                # z planes per time point
    channels: list[str]
    pixel_size: float | None

    @property
    def frames(self) -> int:
        return self.times * self.planes


def _reader(path: Path):
    """The reader module of ``path``'s format, or a one-line InputError naming the extra."""
    import importlib
    name = READERS[path.suffix.lower()]
    try:
        return importlib.import_module("pylibCZIrw.czi" if name == "pylibCZIrw" else name)
    except ImportError as exc:
        raise InputError(path, f"reading {path.suffix} files needs {name}: pip install "
                         "'cellseg-offline[formats]'") from exc


def _czi_span(box: dict, axis: str) -> tuple[int, int]:
    """(first index, count) of a CZI bounding-box axis (absent axes: (0, 1))."""
    start, stop = box.get(axis, (0, 1))
    return start, stop - start


def _czi_layout(czi) -> VendorLayout:
    box = czi.total_bounding_box
    meta = czi.metadata["ImageDocument"]["Metadata"]
    channels = (meta.get("Information", {}).get("Image", {}).get("Dimensions", {})
                .get("Channels", {}).get("Channel", []))
    channels = [channels] if isinstance(channels, dict) else channels
    names = [c.get("@Name") or c.get("@Id", "") for c in channels]
    distances = meta.get("Scaling", {}).get("Items", {}).get("Distance", [])
    distances = [distances] if isinstance(distances, dict) else distances
    x = next((float(d["Value"]) for d in distances if d.get("@Id") == "X"), 0.0)
    (_, t), (_, z), (_, c) = (_czi_span(box, k) for k in "TZC")
    return VendorLayout(t, z, names if len(names) == c else [], x * 1e6 if x > 0 else None)


def _nd2_layout(f) -> VendorLayout:
    sizes = f.sizes
    names = [ch.channel.name for ch in (f.metadata.channels or [])]
    size = f.voxel_size().x if f.voxel_size() else None
    return VendorLayout(sizes.get("T", 1), sizes.get("Z", 1),
                        names if len(names) == sizes.get("C", 1) else [],
                        size if size and size > 0 else None)


def layout(path: str | Path) -> VendorLayout:
    """Frames, channel names and pixel size of a CZI or ND2 file."""
    path = Path(path)
    reader = _reader(path)
    if path.suffix.lower() == ".czi":
        with reader.open_czi(str(path)) as czi:
            return _czi_layout(czi)
    with reader.ND2File(path) as f:
        return _nd2_layout(f)


def _czi_plane(czi, t: int, z: int) -> np.ndarray:
    box = czi.total_bounding_box
    (t0, _), (z0, _), (c0, channels) = (_czi_span(box, k) for k in "TZC")
    planes = []
    for c in range(c0, c0 + channels):
        plane = czi.read(plane={"T": t0 + t, "Z": z0 + z, "C": c})
        planes.append(plane[..., ::-1] if plane.shape[-1] == 3 else plane[..., 0])  # BGR->RGB
    return planes[0] if len(planes) == 1 else np.stack(planes, axis=-1)


def _nd2_plane(f, t: int, z: int) -> np.ndarray:
    data = f.to_dask()  # lazy: only this plane is read
    axes = list(f.sizes)
    index = tuple(t if a == "T" else z if a == "Z" else slice(None) for a in axes)
    plane = np.asarray(data[index])
    rest = [a for a in axes if a not in "TZ"]
    return np.moveaxis(plane, rest.index("C"), -1) if "C" in rest else plane


def read_plane(path: str | Path, frame: int) -> np.ndarray:
    """Frame ``frame`` (time-major over z) of a CZI or ND2 file: (H, W) or (H, W, C)."""
    path = Path(path)
    reader = _reader(path)
    if path.suffix.lower() == ".czi":
        with reader.open_czi(str(path)) as czi:
            t, z = _frame_index(path, frame, _czi_layout(czi))
            return _czi_plane(czi, t, z)
    with reader.ND2File(path) as f:
        t, z = _frame_index(path, frame, _nd2_layout(f))
        return _nd2_plane(f, t, z)


def _frame_index(path: Path, frame: int, shape: VendorLayout) -> tuple[int, int]:
    if not 0 <= frame < shape.frames:
        raise InputError(path, f"frame {frame} asked for, file has {shape.frames}")
    return divmod(frame, shape.planes)
