"""A small convolutional image tower for CLIPs trained from scratch on a CPU.

open_clip's towers are built for web-scale pretraining: a ViT, or the ModifiedResNet of the CLIP
paper, whose downsampling is average pooling (anti-aliased) and whose residual branches start at
zero. Trained from scratch for a few hundred steps on two CPU cores, both learn colour at once and
shape late: on the shapes world's object close-ups a ModifiedResNet at 1/4 width is at 60 % shape
accuracy after 400 supervised steps, this tower at 99 % after 200 (contrastive pretraining
also needs the image tower trained first: docs/adr/0013-conv-tower.md).
Max pooling keeps the strongest edge and corner responses, which is what tells a square from a
circle at a few pixels across.

The tower ends in open_clip's own attention pooling (``attnpool.{q,k,v,c}_proj``), as the
ModifiedResNet does, so the method's "attention projections only" student finds its parameters
by the same names, and export, runtime and search see an ordinary ``model.visual``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from open_clip.modified_resnet import AttentionPool2d
from torch import nn

CONV_TOWER = "conv"


class ConvTower(nn.Module):
    """``len(widths)`` stages of 3×3 conv, batch norm, ReLU and 2×2 max pooling, then attention
    pooling of the final grid (plus its mean, as open_clip's ``AttentionPool2d`` does) into
    ``output_dim``."""

    def __init__(
        self, image_size: int, widths: Sequence[int], output_dim: int, head_width: int
    ) -> None:
        super().__init__()
        grid = image_size // 2 ** len(widths)
        if grid < 1 or image_size % 2 ** len(widths):
            raise ValueError(
                f"image size {image_size} is not divisible by 2**{len(widths)} "
                f"({len(widths)} max-pooling stages)"
            )
        if widths[-1] % head_width:
            raise ValueError(
                f"last width {widths[-1]} is not a multiple of head_width {head_width}"
            )
        self.image_size = image_size
        self.output_dim = output_dim
        layers: list[nn.Module] = []
        channels = 3
        for width in widths:
            layers += [
                nn.Conv2d(channels, width, 3, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            ]
            channels = width
        self.stages = nn.Sequential(*layers)
        self.attnpool = AttentionPool2d(grid, channels, channels // head_width, output_dim)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.attnpool(self.stages(pixels))


def build_conv_tower(vision_cfg: Mapping[str, Any], embed_dim: int) -> ConvTower:
    """The tower a spec's ``vision_cfg`` (``{"tower": "conv", ...}``) describes."""
    return ConvTower(
        image_size=int(vision_cfg["image_size"]),
        widths=[int(w) for w in vision_cfg["widths"]],
        output_dim=embed_dim,
        head_width=int(vision_cfg["head_width"]),
    )
