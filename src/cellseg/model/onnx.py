"""ONNX Runtime inference on CPU: the U-Net exported once, cached, and run with onnxruntime.

The exported file is cached under ``~/.cache/cellseg/onnx/`` (or ``$CELLSEG_CACHE``), named
by a hash of the weights, so a model is exported once per machine and a retrained model never
reuses a stale export.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Callable

import numpy as np

from cellseg.io.write import atomic_path


def cache_dir() -> Path:
    return Path(os.environ.get("CELLSEG_CACHE", Path.home() / ".cache" / "cellseg")) / "onnx"


def weights_hash(net) -> str:
    h = hashlib.sha256()
    for k, v in sorted(net.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().cpu().numpy().tobytes())
    return h.hexdigest()[:16]


def export(net, path: Path) -> Path:
    """Export ``net`` (eval mode) to ONNX with dynamic batch, height and width."""
    import torch
    net = net.eval().to("cpu", memory_format=torch.contiguous_format)
    x = torch.zeros(1, net.cfg.in_channels, 64, 64)
    import warnings
    with atomic_path(path) as tmp, torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter suffices
        torch.onnx.export(net, (x,), str(tmp), input_names=["image"], output_names=["logits"],
                          dynamic_axes={"image": {0: "n", 2: "h", 3: "w"},
                                        "logits": {0: "n", 2: "h", 3: "w"}},
                          opset_version=17, dynamo=False)
    return path


def onnx_predictor(net, threads: int | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """Callable mapping (N, C, t, t) float32 tiles to (N, out, t, t) probabilities via ONNX."""
    import onnxruntime as ort
    path = cache_dir() / f"unet-{weights_hash(net)}.onnx"
    if not path.exists():
        export(net, path)
    opts = ort.SessionOptions()
    import torch
    opts.intra_op_num_threads = threads or torch.get_num_threads()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])

    def predict(tiles: np.ndarray) -> np.ndarray:
        logits = session.run(None, {"image": np.ascontiguousarray(tiles, np.float32)})[0]
        return 1.0 / (1.0 + np.exp(-logits))
    return predict
