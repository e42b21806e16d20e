"""Movies read frame by frame: multi-page TIFF, a folder of frames, animated GIF, AVI/MP4.

``open_movie(path)`` returns a :class:`Movie` whose frames are read one at a time, so memory
stays at one frame however long the movie is. AVI/MP4 need the PyAV or imageio-ffmpeg plugin
(``pip install av``); without it a clear error says so.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from cellseg.errors import InputError
from cellseg.io.images import IMAGE_SUFFIXES, count_frames, natural_key, read_frame

VIDEO_SUFFIXES = {".avi", ".mp4", ".mov", ".mkv"}


@dataclass
class Movie:
    """A sequence of frames read lazily. ``len(movie)`` may be None for some videos."""

    path: Path
    length: int | None
    _iter: Callable[[], Iterator[np.ndarray]]

    def __iter__(self) -> Iterator[np.ndarray]:
        return self._iter()

    def __len__(self) -> int:
        return self.length or 0


def _video_frames(path: Path, channel: int | None) -> Iterator[np.ndarray]:
    import imageio.v3 as iio
    try:
        for frame in iio.imiter(path):
            frame = np.asarray(frame)
            if channel is not None and frame.ndim == 3:
                frame = frame[..., channel]
            yield frame
    except Exception as exc:
        raise InputError(path, f"cannot read video ({type(exc).__name__}: {exc}); AVI/MP4 need "
                         "the 'av' package (pip install av)") from exc


def open_movie(path: str | Path, *, channel: int | None = None) -> Movie:
    """Open a movie: a multi-page TIFF, a GIF, an AVI/MP4, or a folder of frames (natural order)."""
    p = Path(path)
    if not p.exists():
        raise InputError(p, "no such file or folder")
    if p.is_dir():
        files = sorted((f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES),
                       key=natural_key)
        if not files:
            raise InputError(p, "folder holds no image frames")
        return Movie(p, len(files), lambda: (read_frame(f, 0, channel=channel) for f in files))
    if p.suffix.lower() in VIDEO_SUFFIXES:
        length = None
        try:
            import imageio.v3 as iio
            length = int(iio.improps(p).shape[0]) or None
        except Exception:
            pass
        return Movie(p, length, lambda: _video_frames(p, channel))
    n = count_frames(p)
    return Movie(p, n, lambda: (read_frame(p, i, channel=channel) for i in range(n)))
