"""Checkpoints of a training run: weights, optimizer and scheduler state, averaged weights.

Everything is safetensors + JSON (nothing pickled), written atomically after every epoch and on
Ctrl-C / SIGTERM, so a killed run resumes from its last finished epoch.
"""
from __future__ import annotations

import json
from pathlib import Path

from cellseg.io.write import atomic_path


def save_checkpoint(folder: Path, model, opt, sched, state: dict, ema=None) -> None:
    """Write the model, the optimizer's tensors, the JSON-able rest of the training ``state``
    (epoch, history, best score, ...) and, when given, the averaged network ``ema``."""
    import torch
    from safetensors.torch import save_file

    from cellseg.model.store import save_model
    save_model(model, folder)
    osd = opt.state_dict()
    tensors, scalars = {}, {}
    for pid, st in osd["state"].items():
        for k, v in st.items():
            if hasattr(v, "detach"):
                tensors[f"{pid}.{k}"] = v.detach().cpu().contiguous()
            else:
                scalars[f"{pid}.{k}"] = v
    with atomic_path(folder / "optimizer.safetensors") as tmp:
        save_file(tensors or {"_empty": torch.zeros(1)}, str(tmp))
    doc = {"param_groups": osd["param_groups"], "scalars": scalars,
           "scheduler": sched.state_dict() if sched is not None else None, **state}
    with atomic_path(folder / "state.json") as tmp:
        tmp.write_text(json.dumps(doc, default=float))
    if ema is not None:
        with atomic_path(folder / "ema.safetensors") as tmp:
            save_file({k: v.detach().cpu().contiguous() for k, v in ema.state_dict().items()},
                      str(tmp))


def load_checkpoint(folder: Path, model, opt, sched, ema=None) -> dict:
    """Restore what :func:`save_checkpoint` wrote into ``model``, ``opt``, ``sched`` (and
    ``ema`` when given and saved); returns the JSON training state."""
    import torch
    from safetensors.torch import load_file

    from cellseg.model.store import load_model
    model.net.load_state_dict(load_model(folder).net.state_dict())
    doc = json.loads((folder / "state.json").read_text())
    state: dict = {}
    for key, v in load_file(str(folder / "optimizer.safetensors")).items():
        if key != "_empty":
            pid, name = key.split(".", 1)
            state.setdefault(int(pid), {})[name] = v
    for key, v in doc["scalars"].items():
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = torch.tensor(v) if name == "step" else v
    opt.load_state_dict({"state": state, "param_groups": doc["param_groups"]})
    if sched is not None and doc.get("scheduler"):
        sched.load_state_dict(doc["scheduler"])
    if ema is not None and (folder / "ema.safetensors").exists():
        ema.load_state_dict(load_file(str(folder / "ema.safetensors")))
    return doc


def update_ema(ema, net, decay: float, step: int) -> None:
    """Move the averaged weights ``ema`` towards ``net``'s: ema = d * ema + (1 - d) * net,
    with d = min(decay, (1 + step) / (10 + step)) so that early steps count fully; buffers
    (batch-norm statistics) are copied."""
    import torch
    d = min(decay, (1 + step) / (10 + step))
    with torch.no_grad():
        for e, p in zip(ema.parameters(), net.parameters()):
            e.lerp_(p.detach(), 1.0 - d)
        for e, b in zip(ema.buffers(), net.buffers()):
            e.copy_(b)
