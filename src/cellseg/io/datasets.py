"""Annotated datasets: each item gives (image, label image, id).

Layouts read here (``open_dataset`` detects which one a folder holds):

- DSB2018: ``<id>/images/<id>.png`` + ``<id>/masks/*.png`` (one binary mask per object);
- paired folders: ``images/`` + ``masks/`` matched by file stem (binary masks or label images);
- Cell Tracking Challenge: ``NN/tTTT.tif`` + ``NN_GT/SEG/man_segTTT.tif`` (annotated frames only;
  ``NN_GT/TRA`` markers tell frames whose SEG outlines only some objects, see
  :func:`unoutlined_objects`);
- Usiigaci: ``setN/raw.tif`` + ``setN/instances_ids.png``;
- COCO JSON (polygons or RLE, as LIVECell) with its image folder.

Items load lazily: listing a dataset reads no pixels. Label images are int32, 0 = background.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from scipy import ndimage as ndi

from cellseg.errors import InputError
from cellseg.io.images import IMAGE_SUFFIXES, natural_key, read_image


@dataclass
class Item:
    """One annotated image. ``load()`` returns (image, labels)."""

    id: str
    group: str
    image_path: Path
    loader: Callable[[], tuple[np.ndarray, np.ndarray]] = field(repr=False)

    def load(self) -> tuple[np.ndarray, np.ndarray]:
        image, labels = self.loader()
        if image.shape[:2] != labels.shape:
            raise InputError(self.image_path, f"mask size {labels.shape[1]}x{labels.shape[0]} "
                             f"differs from image size {image.shape[1]}x{image.shape[0]}")
        return image, labels


def as_labels(mask: np.ndarray) -> np.ndarray:
    """A mask read from disk -> int32 labels. A binary mask becomes its connected components."""
    mask = np.asarray(mask)
    if mask.ndim == 3:
        mask = mask[..., 0]
    values = np.unique(mask)
    if len(values) <= 2:
        labels, _ = ndi.label(mask > values.min() if len(values) == 2 else np.zeros_like(mask, bool))
        return labels.astype(np.int32)
    return mask.astype(np.int32)


def merge_masks(masks: list[np.ndarray]) -> np.ndarray:
    """Stack of binary masks -> one int32 label image (object i+1 = masks[i]).

    Where masks overlap, the pixel goes to the object listed first, so the result does not
    depend on anything but the (sorted) order of the masks.
    """
    labels = np.zeros(masks[0].shape[:2], np.int32)
    for i in range(len(masks) - 1, -1, -1):
        m = masks[i]
        if m.ndim == 3:
            m = m[..., 0]
        labels[m > 0] = i + 1
    return labels


# --- DSB2018 -----------------------------------------------------------------------------------

def dsb_image_type(image: np.ndarray) -> str:
    """'histology' (colour, e.g. H&E), 'brightfield' (gray, bright background) or 'fluorescence'."""
    from cellseg.core.preprocess import has_bright_background, is_color, to_gray
    if is_color(image):
        return "histology"
    return "brightfield" if has_bright_background(to_gray(image)) else "fluorescence"


def _dsb_loader(folder: Path) -> Callable:
    def load():
        image = read_image(folder / "images" / f"{folder.name}.png")
        mask_files = sorted((folder / "masks").glob("*.png"))
        if not mask_files:
            raise InputError(folder / "masks", "mask folder is empty")
        masks = [read_image(p) for p in mask_files]
        for p, m in zip(mask_files, masks):
            if m.shape[:2] != image.shape[:2]:
                raise InputError(p, f"mask size {m.shape[1]}x{m.shape[0]} differs from image "
                                 f"size {image.shape[1]}x{image.shape[0]}")
        return image, merge_masks(masks)
    return load


def read_dsb(root: str | Path) -> list[Item]:
    """Items of a DSB2018 stage-1 style folder. Group = image size (a proxy for the experiment)."""
    root = Path(root)
    items = []
    for folder in sorted(p for p in root.iterdir() if (p / "images").is_dir()):
        image_path = folder / "images" / f"{folder.name}.png"
        items.append(Item(folder.name, "", image_path, _dsb_loader(folder)))
    if not items:
        raise InputError(root, "no DSB2018 items (<id>/images/<id>.png) found")
    return items


# --- paired folders ----------------------------------------------------------------------------

def tcga_patient(name: str) -> str:
    """The patient part of a TCGA barcode at the start of ``name`` ("TCGA-A7-A13E-01Z-00-DX1"
    -> "TCGA-A7-A13E"), so that tiles of one patient stay on one side of a split; "" if none."""
    import re
    m = re.match(r"(TCGA-[0-9A-Z]{2}-[0-9A-Z]{4})", name, flags=re.IGNORECASE)
    return m.group(1).upper() if m else ""


def read_paired(root: str | Path, images: str = "images", masks: str = "masks") -> list[Item]:
    """Items of ``root/images/*`` matched by stem with ``root/masks/*``.

    Mask names may carry a suffix after the image stem (``a.png`` ~ ``a_mask.tif``/``a_labels.tif``).
    """
    root = Path(root)
    img_dir, mask_dir = root / images, root / masks
    for d in (img_dir, mask_dir):
        if not d.is_dir():
            raise InputError(d, "folder not found")
    mask_files = {p.stem: p for p in mask_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}
    items = []
    for img in sorted((p for p in img_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES),
                      key=natural_key):
        mask = next((mask_files[k] for k in (img.stem, f"{img.stem}_mask", f"{img.stem}_masks",
                                              f"{img.stem}_labels") if k in mask_files), None)
        if mask is None:
            raise InputError(img, f"no mask with the same name in {mask_dir}")
        items.append(Item(img.stem, tcga_patient(img.stem), img,
                          lambda i=img, m=mask: (read_image(i), as_labels(read_image(m)))))
    if not items:
        raise InputError(img_dir, "folder holds no images")
    return items


# --- Cell Tracking Challenge -------------------------------------------------------------------

def read_ctc(sequence: str | Path) -> list[Item]:
    """Annotated frames of a CTC sequence folder ``NN`` (ground truth in ``NN_GT/SEG``)."""
    seq = Path(sequence)
    seg_dir = seq.parent / f"{seq.name}_GT" / "SEG"
    if not seg_dir.is_dir():
        raise InputError(seg_dir, "CTC ground-truth folder not found")
    items = []
    for gt in sorted(seg_dir.glob("man_seg*.tif"), key=natural_key):
        frame = gt.stem[len("man_seg"):]
        img = seq / f"t{frame}.tif"
        if not img.exists():
            raise InputError(img, f"frame for annotation {gt.name} not found")
        items.append(Item(f"{seq.parent.name}-{seq.name}-t{frame}", f"{seq.parent.name}/{seq.name}",
                          img, lambda i=img, g=gt: (read_image(i), as_labels(read_image(g)))))
    if not items:
        raise InputError(seg_dir, "no man_segTTT.tif annotations")
    return items


def unoutlined_objects(item: Item, labels: np.ndarray) -> int:
    """How many objects of a CTC frame its segmentation ground truth (``labels``) leaves
    unoutlined: tracking markers (``NN_GT/TRA/man_trackTTT.tif``, one per object in every
    frame) that touch no outlined object. 0 for other datasets and for frames without
    markers. Training skips such frames: it would learn the unoutlined objects as background
    (GOWT1 01 outlines 1-3 of its ~23 nuclei in 26 of its 30 annotated frames)."""
    path = item.image_path
    markers = path.parent.parent / f"{path.parent.name}_GT" / "TRA" / \
        f"man_track{path.stem[1:]}.tif"
    if not (path.stem.startswith("t") and markers.exists()):
        return 0
    tra = read_image(markers)
    if tra.shape != labels.shape:
        raise InputError(markers, f"marker size {tra.shape[1]}x{tra.shape[0]} differs from the "
                         f"annotation's {labels.shape[1]}x{labels.shape[0]}")
    return len(set(np.unique(tra[tra > 0])) - set(np.unique(tra[(tra > 0) & (labels > 0)])))


# --- Usiigaci ----------------------------------------------------------------------------------

def read_usiigaci(root: str | Path) -> list[Item]:
    """Items of ``root/setN/raw.tif`` + ``instances_ids.png``, or of one such set folder."""
    root = Path(root)
    sets = [root] if (root / "raw.tif").exists() else sorted(
        (p for p in root.iterdir() if (p / "raw.tif").exists()), key=natural_key)
    items = []
    for s in sets:
        mask = s / "instances_ids.png"
        if not mask.exists():
            raise InputError(mask, "annotation not found")
        items.append(Item(s.name, s.name, s / "raw.tif",
                          lambda i=s / "raw.tif", m=mask: (read_image(i), as_labels(read_image(m)))))
    if not items:
        raise InputError(root, "no Usiigaci sets (setN/raw.tif) found")
    return items


# --- COCO --------------------------------------------------------------------------------------

def read_coco(annotation_file: str | Path, image_dir: str | Path | None = None) -> list[Item]:
    """Items of a COCO instance-segmentation JSON (polygons or RLE). Images are looked up in
    ``image_dir`` (default: the JSON's folder, then its ``images/`` subfolder)."""
    from pycocotools import mask as mask_utils

    path = Path(annotation_file)
    try:
        data = json.loads(path.read_text())
        images = {im["id"]: im for im in data["images"]}
        anns = data["annotations"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(path, f"not a COCO annotation file ({exc})") from exc
    by_image: dict = {}
    for a in anns:
        by_image.setdefault(a["image_id"], []).append(a)
    dirs = [Path(image_dir)] if image_dir else [path.parent, path.parent / "images"]

    def decode(ann, h, w):
        seg = ann["segmentation"]
        if isinstance(seg, list):
            rle = mask_utils.merge(mask_utils.frPyObjects(seg, h, w))
        elif isinstance(seg.get("counts"), list):
            rle = mask_utils.frPyObjects(seg, h, w)
        else:
            rle = seg
        return mask_utils.decode(rle)

    items = []
    for image_id, im in sorted(images.items(), key=lambda kv: str(kv[1]["file_name"])):
        file = next((d / im["file_name"] for d in dirs if (d / im["file_name"]).exists()), None)
        if file is None:
            raise InputError(dirs[0] / im["file_name"], "image named in COCO file not found")
        h, w = int(im["height"]), int(im["width"])
        objs = sorted(by_image.get(image_id, []), key=lambda a: a["id"])

        def load(file=file, objs=objs, h=h, w=w):
            masks = [decode(a, h, w) for a in objs] or [np.zeros((h, w), np.uint8)]
            return read_image(file), merge_masks(masks)
        items.append(Item(Path(im["file_name"]).stem, "", file, load))
    return items


# --- detection ---------------------------------------------------------------------------------

def detect_layout(path: str | Path) -> str:
    """Name of the layout of a dataset path: dsb, paired, ctc, usiigaci or coco."""
    p = Path(path)
    if not p.exists():
        raise InputError(p, "no such file or folder")
    if p.is_file():
        if p.suffix.lower() == ".json":
            return "coco"
        raise InputError(p, "a dataset is a folder or a COCO .json file")
    if (p / "images").is_dir() and (p / "masks").is_dir():
        return "paired"
    if (p.parent / f"{p.name}_GT").is_dir() or (p / "raw.tif").exists():
        return "ctc" if (p.parent / f"{p.name}_GT").is_dir() else "usiigaci"
    children = [c for c in p.iterdir() if c.is_dir()]
    if any((c / "images").is_dir() and (c / "masks").is_dir() for c in children[:50]):
        return "dsb"
    if any((c / "raw.tif").exists() for c in children):
        return "usiigaci"
    if any((p / f"{c.name}_GT").is_dir() for c in children):
        return "ctc"
    raise InputError(p, "unknown dataset layout (expected DSB2018, images/+masks/, CTC, "
                     "Usiigaci or COCO json)")


def open_dataset(path: str | Path) -> list[Item]:
    """Items of any supported dataset; a CTC root lists every sequence that has ``_GT``."""
    p = Path(path)
    layout = detect_layout(p)
    if layout == "dsb":
        return read_dsb(p)
    if layout == "paired":
        return read_paired(p)
    if layout == "usiigaci":
        return read_usiigaci(p)
    if layout == "coco":
        return read_coco(p)
    if (p.parent / f"{p.name}_GT").is_dir():
        return read_ctc(p)
    return [it for c in sorted(p.iterdir()) if (p / f"{c.name}_GT").is_dir() for it in read_ctc(c)]

