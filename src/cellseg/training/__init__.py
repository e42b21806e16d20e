"""Training a U-Net on annotated images: config (strict, nested), data (crops, split),
augment, targets, losses, loop, checkpoint, tune (thresholds on validation images)."""
from cellseg.training.config import TrainConfig
from cellseg.training.loop import train
from cellseg.training.tune import retune

__all__ = ["TrainConfig", "retune", "train"]
