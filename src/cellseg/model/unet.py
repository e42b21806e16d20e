"""A configurable 2D U-Net (Ronneberger et al. 2015) for dense prediction."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

ENCODERS = ("plain", "efficientnet-lite0")
ACTIVATIONS = {"relu": nn.ReLU, "elu": nn.ELU, "gelu": nn.GELU, "silu": nn.SiLU,
               "leaky_relu": nn.LeakyReLU}


@dataclass
class UNetConfig:
    """Architecture of a U-Net. ``depth`` poolings, widths ``width * 2**level``."""

    in_channels: int = 1
    out_channels: int = 2
    width: int = 16
    depth: int = 4
    norm: str = "batch"  # batch | instance | none
    dropout: float = 0.0
    activation: str = "relu"
    encoder: str = "plain"  # plain | efficientnet-lite0 (ImageNet-pretrained, see
                            # cellseg.model.efficientnet; width then sets the decoder only)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "UNetConfig":
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})

    def validate(self) -> None:
        if not 1 <= self.in_channels <= 3:
            raise ValueError(f"in_channels must be 1-3, got {self.in_channels}")
        if self.norm not in ("batch", "instance", "none"):
            raise ValueError(f"norm must be batch, instance or none, got {self.norm!r}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, "
                             f"got {self.activation!r}")
        if self.depth < 1 or self.width < 1:
            raise ValueError("depth and width must be positive")
        if self.encoder not in ENCODERS:
            raise ValueError(f"encoder must be one of {', '.join(ENCODERS)}, "
                             f"got {self.encoder!r}")


def _norm(kind: str, ch: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(ch)
    if kind == "instance":
        return nn.InstanceNorm2d(ch, affine=True)
    return nn.Identity()


class ConvBlock(nn.Sequential):
    """Two 3x3 convolutions, each followed by normalization and activation."""

    def __init__(self, cin: int, cout: int, cfg: UNetConfig):
        act = ACTIVATIONS[cfg.activation]
        layers = [nn.Conv2d(cin, cout, 3, padding=1, bias=cfg.norm == "none"), _norm(cfg.norm, cout),
                  act(inplace=True) if cfg.activation != "gelu" else act(),
                  nn.Conv2d(cout, cout, 3, padding=1, bias=cfg.norm == "none"), _norm(cfg.norm, cout),
                  act(inplace=True) if cfg.activation != "gelu" else act()]
        if cfg.dropout > 0:
            layers.append(nn.Dropout2d(cfg.dropout))
        super().__init__(*layers)


class UNet(nn.Module):
    """U-Net: (N, in_channels, H, W) -> (N, out_channels, H, W) logits.

    H and W must be multiples of ``2**depth`` (the predictor pads to that).
    """

    def __init__(self, cfg: UNetConfig | None = None, **kwargs):
        super().__init__()
        cfg = cfg or UNetConfig(**kwargs)
        cfg.validate()
        self.cfg = cfg
        widths = [cfg.width * 2**i for i in range(cfg.depth + 1)]
        self.down = nn.ModuleList()
        cin = cfg.in_channels
        for w in widths[:-1]:
            self.down.append(ConvBlock(cin, w, cfg))
            cin = w
        self.bottom = ConvBlock(widths[-2], widths[-1], cfg)
        self.up = nn.ModuleList()
        self.merge = nn.ModuleList()
        for w_hi, w in zip(widths[:0:-1], widths[-2::-1]):
            self.up.append(nn.ConvTranspose2d(w_hi, w, 2, stride=2))
            self.merge.append(ConvBlock(2 * w, w, cfg))
        self.head = nn.Conv2d(widths[0], cfg.out_channels, 1)
        self.pool = nn.MaxPool2d(2)

    @property
    def multiple(self) -> int:
        return 2**self.cfg.depth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottom(x)
        for up, merge, skip in zip(self.up, self.merge, reversed(skips)):
            x = merge(torch.cat([up(x), skip], dim=1))
        return self.head(x)


def build_network(cfg: UNetConfig) -> nn.Module:
    """The network of a config: :class:`UNet`, or an
    :class:`cellseg.model.efficientnet.EfficientUNet` for ``encoder: efficientnet-lite0``."""
    cfg.validate()
    if cfg.encoder == "efficientnet-lite0":
        from cellseg.model.efficientnet import EfficientUNet
        return EfficientUNet(cfg)
    return UNet(cfg)
