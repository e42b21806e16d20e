"""Widening a trained U-Net keeps what it computes, so training can go on from it."""
import copy

import numpy as np
import pytest
import torch

from cellseg.model.unet import UNet, UNetConfig
from cellseg.model.widen import widen_unet


@pytest.fixture(scope="module")
def trained_net():
    """A small U-Net with non-trivial batch-norm statistics and biases."""
    torch.manual_seed(0)
    net = UNet(UNetConfig(width=4, depth=3, out_channels=3))
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    for _ in range(5):
        loss = net(torch.rand(4, 1, 32, 32)).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net.eval()


@pytest.mark.parametrize("width", [4, 6, 8, 12])
def test_widened_network_computes_the_same(trained_net, width):
    x = torch.rand(2, 1, 48, 48)
    wide = widen_unet(trained_net, width, noise=0.0).eval()
    assert wide.cfg.width == width and wide.down[0][0].out_channels == width
    narrow = copy.deepcopy(trained_net)
    with torch.no_grad():
        np.testing.assert_allclose(wide(x).numpy(), narrow(x).numpy(), atol=1e-5)
        wide.train(), narrow.train()  # batch statistics of copied channels agree too
        np.testing.assert_allclose(wide(x).numpy(), narrow(x).numpy(), atol=1e-4)


def test_noise_lets_copies_differ_but_keeps_the_output_close(trained_net):
    x = torch.rand(1, 1, 48, 48)
    wide = widen_unet(trained_net, 8, noise=0.01, seed=1).eval()
    w = wide.down[0][0].weight.detach()
    assert not torch.equal(w[:4], w[4:])  # copies of a channel can learn apart
    with torch.no_grad():
        out, ref = wide(x), trained_net(x)
    assert (out - ref).abs().max() < 0.05 * ref.abs().max()
    assert (out - ref).abs().max() > 0


def test_cannot_narrow(trained_net):
    with pytest.raises(ValueError, match="cannot narrow"):
        widen_unet(trained_net, 2)
