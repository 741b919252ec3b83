"""PyTorch twins of nc_mixup's `mlp` and `wide_resnet`, for the speed comparison only.

Same architectures as nc_mixup/models/mlp.py and wide_resnet.py: the MLP is `depth` Linear+ReLU
layers of `width` units and a Linear classifier; the WRN is pre-activation (BN-ReLU-conv3x3-BN-
ReLU-conv3x3 plus identity, or a 1x1 convolution of the pre-activated input when the shape
changes), three groups of (depth - 4) / 6 blocks with 16k, 32k, 64k channels and strides 1, 2, 2,
a 3x3 stem with 16 channels, final BN-ReLU, global average pooling and a Linear classifier.
Convolutions have no bias; BatchNorm momentum 0.1 (flax 0.9), eps 1e-5.

`mixup_sgd_step` is the training step of nc_mixup.train.train_step written the PyTorch way:
lambda ~ Beta(alpha, alpha), a random permutation partner, the loss
lam CE(z, y) + (1 - lam) CE(z, y[perm]) on the logits of the MIXED input, SGD with momentum and
L2 weight decay added to the gradient (optax.add_decayed_weights + optax.sgd), and the
lam-weighted accuracy.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class MLP(nn.Module):
    def __init__(self, in_features: int, num_classes: int, width: int = 1024, depth: int = 3):
        super().__init__()
        layers: list[nn.Module] = []
        d = in_features
        for _ in range(depth):
            layers += [nn.Linear(d, width), nn.ReLU()]
            d = width
        self.body = nn.Sequential(*layers)
        self.classifier = nn.Linear(d, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.body(x.flatten(1)))


class BasicBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, stride: int):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_ch, momentum=0.1, eps=1e-5)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch, momentum=0.1, eps=1e-5)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False)
        self.shortcut = (
            nn.Conv2d(in_ch, out_ch, 1, stride, 0, bias=False)
            if in_ch != out_ch or stride != 1
            else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        o = F.relu(self.bn1(x))
        y = self.conv2(F.relu(self.bn2(self.conv1(o))))
        return y + (x if self.shortcut is None else self.shortcut(o))


class WideResNet(nn.Module):
    def __init__(self, num_classes: int, depth: int = 16, widen: int = 4, in_ch: int = 3):
        super().__init__()
        if (depth - 4) % 6:
            raise ValueError(f"depth must be 6n + 4, got {depth}")
        n = (depth - 4) // 6
        self.stem = nn.Conv2d(in_ch, 16, 3, 1, 1, bias=False)
        blocks, ch = [], 16
        for width, stride in ((16 * widen, 1), (32 * widen, 2), (64 * widen, 2)):
            for b in range(n):
                blocks.append(BasicBlock(ch, width, stride if b == 0 else 1))
                ch = width
        self.blocks = nn.Sequential(*blocks)
        self.bn = nn.BatchNorm2d(ch, momentum=0.1, eps=1e-5)
        self.classifier = nn.Linear(ch, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.bn(self.blocks(self.stem(x))))
        return self.classifier(h.mean(dim=(2, 3)))


def mixup_sgd_step(
    model: nn.Module,
    opt: torch.optim.Optimizer,
    images: torch.Tensor,
    labels: torch.Tensor,
    alpha: float = 1.0,
) -> tuple[float, float]:
    """One mixup SGD step; returns (loss, lam-weighted accuracy) as Python floats (a sync)."""
    lam = float(torch.distributions.Beta(alpha, alpha).sample())
    perm = torch.randperm(images.shape[0])
    mixed = lam * images + (1.0 - lam) * images[perm]
    logits = model(mixed)
    loss = lam * F.cross_entropy(logits, labels) + (1.0 - lam) * F.cross_entropy(
        logits, labels[perm]
    )
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    with torch.no_grad():
        pred = logits.argmax(-1)
        acc = (
            lam * (pred == labels).float().mean()
            + (1 - lam) * (pred == labels[perm]).float().mean()
        )
    return loss.item(), acc.item()
