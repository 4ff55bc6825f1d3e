"""Train TextVisionNet on synthetic image + caption data.

    python train.py --steps 20
    python train.py --config configs/default.yaml --device cuda
"""

import argparse
import os

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, Dataset

from tvnet import TextVisionNet, build_model


class SyntheticPairs(Dataset):
    """Random 3x16x16 images with random token sequences; the label is a function of both,
    so the model has something learnable."""

    def __init__(self, samples=256, num_classes=5, vocab_size=100, max_len=12, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.images = torch.randn(samples, 3, 16, 16, generator=g)
        lengths = torch.randint(3, max_len + 1, (samples,), generator=g)
        self.tokens = torch.randint(1, vocab_size, (samples, max_len), generator=g)
        positions = torch.arange(max_len).unsqueeze(0)
        self.tokens[positions >= lengths.unsqueeze(1)] = 0
        brightness = self.images.mean(dim=(1, 2, 3))
        self.labels = ((brightness > 0).long() + lengths) % num_classes

    def __len__(self):
        return self.labels.size(0)

    def __getitem__(self, idx):
        return self.images[idx], self.tokens[idx], self.labels[idx]


def load_config(path):
    if not path or not os.path.exists(path):
        return {}
    import yaml

    with open(path) as fh:
        return yaml.safe_load(fh) or {}


def parse_args():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=os.path.join(here, "configs", "default.yaml"))
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--num-classes", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def train(model, loader, steps, lr, device="cpu"):
    """Train for `steps` batches drawn from `loader` (any iterable of (images, tokens, labels));
    returns the per-step losses."""
    model = model.to(device)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    criterion = nn.CrossEntropyLoss()
    step, losses = 0, []
    while step < steps:
        for images, tokens, labels in loader:
            images, tokens, labels = images.to(device), tokens.to(device), labels.to(device)
            optimizer.zero_grad()
            loss = criterion(model(images, tokens), labels)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            step += 1
            if step % 10 == 0 or step == steps:
                print(f"step {step:4d}  loss {loss.item():.4f}")
            if step >= steps:
                break
    return losses


if __name__ == "__main__":
    args = parse_args()
    torch.manual_seed(args.seed)
    cfg = load_config(args.config)
    model_cfg = cfg.get("model", {})
    model_cfg.setdefault("num_classes", args.num_classes)
    model = build_model(model_cfg)
    dataset = SyntheticPairs(num_classes=model_cfg["num_classes"], seed=args.seed)
    loader = DataLoader(dataset, batch_size=args.batch_size, shuffle=True, drop_last=True)
    train(model, loader, args.steps, args.lr, args.device)
    print("parameters:", sum(p.numel() for p in model.parameters()))
