import argparse
import time

import numpy as np
import torch

from model import GPT, GPTConfig


def encode_text(text):
    """Character-level tokens as a torch tensor (the numpy steps mirror how the dataset is stored on disk)."""
    chars = sorted(set(text))
    stoi = {ch: i for i, ch in enumerate(chars)}
    ids = np.array([stoi[c] for c in text], dtype=np.uint16)
    data = ids.astype(np.int64).reshape(-1)
    return torch.from_numpy(data), len(chars)


def get_batch(data, block_size, batch_size, device):
    ix = torch.randint(len(data) - block_size, (batch_size,))
    x = torch.stack([data[i:i + block_size] for i in ix])
    y = torch.stack([data[i + 1:i + 1 + block_size] for i in ix])
    if device == "cuda":
        x, y = x.pin_memory().to(device, non_blocking=True), y.pin_memory().to(device, non_blocking=True)
    else:
        x, y = x.to(device), y.to(device)
    return x, y


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-iters", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--compile", action="store_true")
    args = parser.parse_args()
    torch.manual_seed(1337)
    model = GPT(GPTConfig(block_size=16, vocab_size=64, n_layer=2, n_head=4, n_embd=16, flash=False))
    model.to(args.device)
    if args.compile:
        model = torch.compile(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4, betas=(0.9, 0.95), weight_decay=0.1)
    data, _ = encode_text("the quick brown fox jumps over the lazy dog " * 30)
    t0 = time.time()
    for it in range(args.max_iters):
        x, y = get_batch(data, 16, args.batch_size, args.device)
        _, loss = model(x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
    print(f"loss {loss.item():.4f} in {time.time() - t0:.1f}s")
    print(model.generate(torch.zeros((1, 1), dtype=torch.long, device=args.device), 8, top_k=10))


if __name__ == "__main__":
    main()
