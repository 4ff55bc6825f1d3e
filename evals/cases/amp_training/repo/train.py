import argparse

import torch
import torch.nn as nn
import torch.nn.functional as F

from ema import ModelEma
from net import ResMLPNet


def parse():
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--clip-grad", type=float, default=1.0)
    p.add_argument("--amp", action="store_true", default=True)
    p.add_argument("--ema-decay", type=float, default=0.99)
    return p.parse_args()


def main():
    args = parse()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = ResMLPNet(in_channels=3, patch=4, dim=16, depth=2, num_classes=10).to(device)
    model = model.to(memory_format=torch.channels_last)
    ema = ModelEma(model, decay=args.ema_decay)
    if torch.cuda.device_count() > 1:
        model = nn.DataParallel(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.05)
    scaler = torch.cuda.amp.GradScaler(enabled=args.amp and device.type == "cuda")
    for step in range(args.steps):
        x = torch.randn(8, 3, 16, 16, device=device).contiguous(memory_format=torch.channels_last)
        y = torch.randint(0, 10, (8,), device=device)
        with torch.autocast(device_type=device.type, dtype=torch.float16 if device.type == "cuda" else torch.bfloat16,
                            enabled=args.amp):
            loss = F.cross_entropy(model(x), y, label_smoothing=0.1)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip_grad)
        scaler.step(optimizer)
        scaler.update()
        ema.update(model.module if hasattr(model, "module") else model)
        print(step, loss.item())
    torch.save({"model": model.state_dict(), "ema": ema.module.state_dict()}, "/tmp/amp_ckpt.pt")


if __name__ == "__main__":
    main()
