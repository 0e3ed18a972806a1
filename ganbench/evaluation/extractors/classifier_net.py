"""The offline evaluator's network: a small CNN for labelled image sets, its recipe and its training.

The recipe (a dict) fixes the architecture plan, optimiser, epochs and seed; it enters the cache key of
the trained network (``classifier.cache_key``), so changing any of it trains a new classifier.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from ganbench.data.base import Dataset

# Bump whenever training or architecture changes in a way the recipe dict does not capture.
RECIPE_VERSION = "ganbench-classifier-1"
TRAIN_SEED = 0
# Images up to this side use the small plan (one pooling); larger ones the medium plan (two).
_SMALL_PLAN_MAX_SIDE = 16


def _conv(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU()]


class ClassifierNet(nn.Module):
    """Small CNN: conv blocks -> global average pool (the features) -> dropout -> linear head.

    Args:
        in_channels: input channels.
        num_classes: output classes.
        plan: ``"small"`` (8x8-sized inputs: 32, 64, pool, 128) or ``"medium"``
            (28x28 / 32x32: 32, 32, pool, 64, 64, pool, 128).
        dropout: dropout before the head, active only in training.
    """

    FEATURE_DIM = 128

    def __init__(self, in_channels: int, num_classes: int, plan: str = "small", dropout: float = 0.3):
        super().__init__()
        if plan == "small":
            layers = _conv(in_channels, 32) + _conv(32, 64) + [nn.MaxPool2d(2)] + _conv(64, 128)
        elif plan == "medium":
            layers = (
                _conv(in_channels, 32) + _conv(32, 32) + [nn.MaxPool2d(2)]
                + _conv(32, 64) + _conv(64, 64) + [nn.MaxPool2d(2)] + _conv(64, 128)
            )
        else:
            raise ValueError(f"unknown plan {plan!r}")
        self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(self.FEATURE_DIM, num_classes)

    def features_and_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.body(x)
        return f, self.head(self.dropout(f))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features_and_logits(x)[1]


def classifier_recipe(image_shape: tuple[int, ...], num_classes: int, train_size: int) -> dict:
    """Architecture and hyperparameters for a base dataset (everything that enters the cache key).

    Small images train for 30 epochs (digits: ~3 s on 2 CPU cores, ~99% held-out accuracy);
    larger sets train for a fixed budget of about 40,000 examples seen, between 3 epochs (MNIST,
    CIFAR-10) and 30 (any set under 1,334 images, such as the tests' small files in the real formats,
    which would otherwise take hundreds of epochs of one batch).
    """
    channels, height, width = image_shape
    small = max(height, width) <= _SMALL_PLAN_MAX_SIDE
    epochs = 30 if small else min(30, max(3, math.ceil(40_000 / max(train_size, 1))))
    return {
        "version": RECIPE_VERSION,
        "plan": "small" if small else "medium",
        "in_channels": int(channels),
        "image_size": [int(height), int(width)],
        "num_classes": int(num_classes),
        "dropout": 0.3,
        "optimizer": "adam",
        "lr": 2e-3,
        "batch_size": 64,
        "epochs": int(epochs),
        "seed": TRAIN_SEED,
    }


def build_classifier(recipe: dict) -> ClassifierNet:
    return ClassifierNet(recipe["in_channels"], recipe["num_classes"], recipe["plan"], recipe["dropout"])


def fork_devices(device: torch.device) -> list:
    """CUDA devices whose RNG state training must leave untouched (none on CPU)."""
    if device.type == "cuda":
        return [device.index if device.index is not None else torch.cuda.current_device()]
    return []


def classifier_accuracy(net: ClassifierNet, x: torch.Tensor, y: torch.Tensor, device: torch.device,
              batch_size: int = 1024) -> float:
    net.eval()
    correct = 0
    with torch.no_grad():
        for s in range(0, len(x), batch_size):
            pred = net(x[s : s + batch_size].to(device)).argmax(1).cpu()
            correct += int((pred == y[s : s + batch_size]).sum())
    return correct / max(len(x), 1)


def train_classifier(dataset: Dataset, recipe: dict, device: torch.device) -> tuple[ClassifierNet, float]:
    """Train under the recipe's seed; the caller's global RNG state is restored afterwards."""
    x, y = dataset.train, dataset.train_labels.long()
    bs = recipe["batch_size"]
    with torch.random.fork_rng(devices=fork_devices(device)):
        torch.manual_seed(recipe["seed"])  # initial weights and dropout
        order = torch.Generator().manual_seed(recipe["seed"])  # batch order
        net = build_classifier(recipe).to(device)
        opt = torch.optim.Adam(net.parameters(), lr=recipe["lr"])
        for _ in range(recipe["epochs"]):
            net.train()
            perm = torch.randperm(len(x), generator=order)
            for s in range(0, len(x), bs):
                idx = perm[s : s + bs]
                loss = F.cross_entropy(net(dataset.as_float(x[idx].to(device))), y[idx].to(device))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
    net.eval()
    return net, classifier_accuracy(net, dataset.test_float(), dataset.test_labels.long(), device)
