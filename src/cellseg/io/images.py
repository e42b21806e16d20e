"""Read microscopy images of any common format into numpy arrays.

Images keep their native dtype. A single image is (H, W) or (H, W, C); a file may hold several
frames (a multi-page TIFF, an animated GIF, the time points and z planes of a CZI or ND2 file),
which are read one at a time so that a long movie is never loaded whole when one frame is asked
for. CZI and ND2 need the ``formats`` extra (:mod:`cellseg.io.vendor`).
"""
from __future__ import annotations

import glob
import re
from pathlib import Path
from typing import Iterator

import numpy as np

from cellseg.errors import InputError
from cellseg.io import vendor
from cellseg.io.vendor import VENDOR_SUFFIXES

TIFF_SUFFIXES = {".tif", ".tiff"}
IMAGE_SUFFIXES = TIFF_SUFFIXES | VENDOR_SUFFIXES | {".png", ".jpg", ".jpeg", ".bmp", ".gif"}


def natural_key(path: str | Path) -> list:
    """Sort key that orders ``t2`` before ``t10``."""
    return [int(s) if s.isdigit() else s.lower() for s in re.split(r"(\d+)", str(path))]


def find_images(inputs: list[str | Path] | str | Path) -> list[Path]:
    """Expand files, folders (images directly inside) and glob patterns into image paths.

    Raises InputError for a path that does not exist or a folder without images. Files given
    by name are kept whatever their suffix (reading them reports a bad one).
    """
    if isinstance(inputs, (str, Path)):
        inputs = [inputs]
    found: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            inside = sorted((p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES
                             and p.is_file() and not p.name.startswith(".")), key=natural_key)
            if not inside:
                raise InputError(path, "folder holds no images "
                                 f"({', '.join(sorted(IMAGE_SUFFIXES))})")
            found.extend(inside)
        elif path.is_file():
            found.append(path)
        elif any(ch in str(item) for ch in "*?["):
            matches = sorted((Path(p) for p in glob.glob(str(item), recursive=True)
                              if Path(p).suffix.lower() in IMAGE_SUFFIXES), key=natural_key)
            if not matches:
                raise InputError(item, "pattern matches no images")
            found.extend(matches)
        else:
            raise InputError(path, "no such file or folder")
    return list(dict.fromkeys(found))


def _tiff_layout(tif) -> tuple[int, bool]:
    """(number of frames, whether a 'C' channel axis must be gathered) of a TIFF's first series."""
    series = tif.series[0]
    axes = series.axes
    if "C" in axes:
        return int(np.prod([n for a, n in zip(axes, series.shape) if a not in "CYXS"] or [1])), True
    return len(series.pages), False


def _check_suffix(path: Path) -> None:
    if not path.exists():
        raise InputError(path, "no such file")
    if path.is_dir():
        raise InputError(path, "is a folder, not an image file")
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise InputError(path, f"not an image file (suffix {path.suffix or 'none'}; "
                         f"expected one of {', '.join(sorted(IMAGE_SUFFIXES))})")


def count_frames(path: str | Path) -> int:
    """Number of frames (pages of a stack, frames of a GIF) in an image file."""
    path = Path(path)
    _check_suffix(path)
    try:
        if path.suffix.lower() in TIFF_SUFFIXES:
            import tifffile
            with tifffile.TiffFile(path) as tif:
                return _tiff_layout(tif)[0]
        if path.suffix.lower() == ".gif":
            import imageio.v3 as iio
            return int(iio.improps(path, index=None).shape[0])
        if path.suffix.lower() in VENDOR_SUFFIXES:
            return vendor.layout(path).frames
        return 1
    except InputError:
        raise
    except Exception as exc:  # any decoder failure is the file's problem
        raise InputError(path, decoder_problem(exc)) from exc


def _read_raw(path: Path, frame: int) -> np.ndarray:
    suffix = path.suffix.lower()
    if suffix in TIFF_SUFFIXES:
        import tifffile
        with tifffile.TiffFile(path) as tif:
            n, gather_channels = _tiff_layout(tif)
            if not 0 <= frame < n:
                raise InputError(path, f"frame {frame} asked for, file has {n}")
            if gather_channels:
                series = tif.series[0]
                data = series.asarray()
                axes = series.axes
                data = np.moveaxis(data, axes.index("C"), -1)
                rest = [a for a in axes if a != "C"] + ["C"]
                lead = data.reshape((-1,) + data.shape[len(rest) - 3:])
                return lead[frame] if "S" not in axes else lead[frame][..., 0, :]
            return tif.series[0].pages[frame].asarray()
    if suffix in VENDOR_SUFFIXES:
        return vendor.read_plane(path, frame)
    import imageio.v3 as iio
    if suffix == ".gif":
        return np.asarray(iio.imread(path, index=frame))
    if frame != 0:
        raise InputError(path, f"frame {frame} asked for, file has 1")
    return np.asarray(iio.imread(path))


def decoder_problem(exc: Exception) -> str:
    """One line saying why a decoder could not read a file (decoders' messages may span
    several lines, with hints about plugins that would not help)."""
    text = str(exc)
    if "Could not find a backend" in text or "cannot identify image file" in text:
        return "not a readable image (no decoder recognizes its content)"
    first = text.strip().splitlines()[0] if text.strip() else ""
    return f"cannot read image ({type(exc).__name__}{': ' + first if first else ''})"


def _tidy(image: np.ndarray, path: Path, channel: int | None) -> np.ndarray:
    """Squeeze singleton axes, drop an alpha channel that carries nothing, pick a channel."""
    raw_shape = np.shape(image)
    image = np.squeeze(image)
    if image.ndim < 2:  # a 1x1 or 1xN image squeezed to nothing
        size = "x".join(str(n) for n in (raw_shape[:2] if len(raw_shape) >= 2 else raw_shape))
        raise InputError(path, f"image is too small ({size or '0'} pixels; 2x2 at least)")
    if image.ndim == 3 and image.shape[0] <= 4 < image.shape[-1]:
        image = np.moveaxis(image, 0, -1)  # (C, H, W) planar -> (H, W, C)
    if image.ndim not in (2, 3):
        raise InputError(path, f"expected a 2D image, got an array of shape {image.shape}")
    if image.ndim == 3 and image.shape[-1] == 4:
        alpha = image[..., 3]
        if alpha.min() == alpha.max():
            image = image[..., :3]
    if channel is not None:
        if image.ndim == 2:
            if channel != 0:
                raise InputError(path, f"channel {channel} asked for, image has 1 channel")
        elif not 0 <= channel < image.shape[-1]:
            raise InputError(path, f"channel {channel} asked for, image has "
                             f"{image.shape[-1]} channels")
        else:
            image = image[..., channel]
    if image.dtype == bool:
        image = image.astype(np.uint8)
    if min(image.shape[:2]) < 2:
        raise InputError(path, f"image is too small ({image.shape[0]}x{image.shape[1]} pixels; "
                         "2x2 at least)")
    return image


def channel_names(path: str | Path) -> list[str]:
    """Channel names a file records (OME-TIFF ``Channel Name``, ImageJ TIFF ``Labels`` of a
    channel stack, CZI / ND2 channel names); empty when none.

    Examples
    --------
    >>> import tempfile, tifffile
    >>> p = Path(tempfile.mkdtemp()) / "two.ome.tif"
    >>> tifffile.imwrite(p, np.zeros((2, 6, 6), np.uint16), ome=True,
    ...                  metadata={"axes": "CYX", "Channel": {"Name": ["DAPI", "GFP"]}})
    >>> channel_names(p)
    ['DAPI', 'GFP']
    """
    import re
    path = Path(path)
    if path.suffix.lower() in VENDOR_SUFFIXES:
        return vendor.layout(path).channels
    if path.suffix.lower() not in TIFF_SUFFIXES:
        return []
    import tifffile
    try:
        with tifffile.TiffFile(path) as tif:
            if tif.is_ome:
                xml = tif.ome_metadata or ""
                pixels = xml[xml.find("<Pixels"):xml.find("</Pixels>")]
                return re.findall(r'<Channel\b[^>]*\bName="([^"]*)"', pixels)
            if tif.is_imagej:
                labels = (tif.imagej_metadata or {}).get("Labels") or []
                return [str(x) for x in labels] if isinstance(labels, list) else []
    except Exception:
        return []
    return []


def channel_index(path: str | Path, channel: int | str | None) -> int | None:
    """A --channel value (0-based index, or a channel name the file records) as an index."""
    if channel is None or isinstance(channel, int):
        return channel
    if str(channel).isdigit():
        return int(channel)
    names = channel_names(path)
    if channel not in names:
        known = ", ".join(names) if names else "the file names no channels"
        raise InputError(path, f"no channel named {channel!r} ({known})")
    return names.index(channel)


def read_frame(path: str | Path, frame: int = 0, *, channel: int | str | None = None) -> np.ndarray:
    """Read one frame of an image file.

    Parameters
    ----------
    path : image file (PNG, JPEG, BMP, TIFF of any bit depth/compression, GIF).
    frame : index of the page or movie frame.
    channel : pick this channel of a multi-channel image: 0-based index, or a name the file
        records (OME-TIFF / ImageJ, see :func:`channel_names`).

    Returns
    -------
    (H, W) or (H, W, C) ndarray in the file's dtype.

    Raises InputError naming the file for anything it cannot read.
    """
    path = Path(path)
    _check_suffix(path)
    try:
        raw = _read_raw(path, frame)
    except InputError:
        raise
    except Exception as exc:
        raise InputError(path, decoder_problem(exc)) from exc
    return _tidy(raw, path, channel_index(path, channel))


def read_image(path: str | Path, *, channel: int | str | None = None) -> np.ndarray:
    """Read the first (usually only) frame of an image file; see :func:`read_frame`."""
    return read_frame(path, 0, channel=channel)


def iter_frames(path: str | Path, *, channel: int | str | None = None) -> Iterator[np.ndarray]:
    """Yield the frames of a file one at a time (memory stays at one frame)."""
    path = Path(path)
    for i in range(count_frames(path)):
        yield read_frame(path, i, channel=channel)


UNITS_UM = {"µm": 1.0, "um": 1.0, "micron": 1.0, "microns": 1.0, "micrometer": 1.0,
            "\\u00B5m": 1.0, "nm": 1e-3, "nanometer": 1e-3, "mm": 1e3, "millimeter": 1e3,
            "cm": 1e4, "centimeter": 1e4, "m": 1e6, "meter": 1e6}


def _ome_pixel_size(tif) -> float | None:
    """PhysicalSizeX of the first OME Pixels element, in µm (OME's default unit)."""
    import re
    xml = tif.ome_metadata or ""
    m = re.search(r"<Pixels\b[^>]*>", xml)
    if not m:
        return None
    size = re.search(r'PhysicalSizeX="([^"]+)"', m.group(0))
    unit = re.search(r'PhysicalSizeXUnit="([^"]+)"', m.group(0))
    factor = UNITS_UM.get(unit.group(1) if unit else "µm")
    return float(size.group(1)) * factor if size and factor else None


def _imagej_pixel_size(tif) -> float | None:
    """1 / XResolution of an ImageJ TIFF whose unit is a length (ImageJ's calibration)."""
    meta = tif.imagej_metadata or {}
    factor = UNITS_UM.get(str(meta.get("unit", "")).strip())
    tag = tif.pages[0].tags.get("XResolution")
    if not factor or tag is None:
        return None
    num, den = tag.value
    return float(den) / float(num) * factor if num else None


def pixel_size(path: str | Path) -> float | None:
    """The physical pixel size (µm per pixel, x axis) a file records: OME-TIFF
    ``PhysicalSizeX``, an ImageJ TIFF's calibration, a CZI's or ND2's scaling; None when it
    records none.

    Examples
    --------
    >>> import tempfile, tifffile
    >>> p = Path(tempfile.mkdtemp()) / "cal.tif"
    >>> tifffile.imwrite(p, np.zeros((4, 4), np.uint8), imagej=True, resolution=(1 / 0.325, 1 / 0.325),
    ...                  metadata={"unit": "um"})
    >>> round(pixel_size(p), 3)
    0.325
    """
    path = Path(path)
    if path.suffix.lower() in VENDOR_SUFFIXES:
        try:
            return vendor.layout(path).pixel_size
        except InputError:
            return None  # no reader installed: read_frame reports it
    if path.suffix.lower() not in TIFF_SUFFIXES:
        return None
    import tifffile
    try:
        with tifffile.TiffFile(path) as tif:
            size = _ome_pixel_size(tif) if tif.is_ome else None
            if size is None and tif.is_imagej:
                size = _imagej_pixel_size(tif)
    except Exception:
        return None  # unreadable metadata: read_frame reports the file itself
    return size if size and np.isfinite(size) and size > 0 else None
