"""The model card: the JSON file beside a model's weights.

It holds what a model needs to be used as it was trained (architecture, input channel and
normalization, instance post-processing thresholds, typical object diameter) and what a person
needs to judge it (training data and licence, validation scores, training time and hardware),
plus the SHA-256 of the weights file, checked when the model is loaded.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from cellseg.errors import InputError

FORMAT = "cellseg-unet/1"


def sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.bin"; _ = p.write_bytes(b"abc")
    >>> sha256(p)[:12]
    'ba7816bf8f01'
    """
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_card(path: str | Path) -> dict:
    """The card at ``path`` as a dict; a one-line :class:`InputError` when it is not one."""
    try:
        card = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise InputError(path, f"model description is not valid JSON ({exc})") from exc
    if not isinstance(card, dict) or card.get("format") != FORMAT:
        raise InputError(path, f"not a cellseg model description (format {FORMAT} expected)")
    return card


def check_weights(card: dict, weights: str | Path) -> None:
    """Refuse weights whose SHA-256 differs from the one the card records (changed or
    corrupted file). Cards written before checksums existed record none and pass."""
    expected = card.get("weights_sha256")
    if expected and sha256(weights) != expected:
        raise InputError(weights, "weights do not match the SHA-256 in the model card "
                         "(the file was changed or corrupted)")
