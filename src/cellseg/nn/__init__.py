"""The U-Net segmenter: network, targets, augmentation, losses and training."""
