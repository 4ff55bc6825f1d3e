import argparse

import torch
import torch.nn as nn
import torch.optim as optim

from models import BasicBlock, Bottleneck, ResNetTiny


def get_args():
    parser = argparse.ArgumentParser(description="Tiny CIFAR ResNet")
    parser.add_argument("--lr", default=0.1, type=float)
    parser.add_argument("--epochs", default=2, type=int)
    parser.add_argument("--bottleneck", action="store_true")
    return parser.parse_args()


def main():
    args = get_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.bottleneck:
        net = ResNetTiny(Bottleneck, [1, 1, 1], num_classes=10, width=4)
    else:
        net = ResNetTiny(BasicBlock, [2, 1, 1], num_classes=10)
    net = net.to(device)
    if device == "cuda":
        net = torch.nn.DataParallel(net)
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.SGD(net.parameters(), lr=args.lr, momentum=0.9, weight_decay=5e-4)
    scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)
    inputs = torch.randn(16, 3, 16, 16).to(device)
    targets = torch.randint(0, 10, (16,)).to(device)
    for epoch in range(args.epochs):
        net.train()
        optimizer.zero_grad()
        loss = criterion(net(inputs), targets)
        loss.backward()
        optimizer.step()
        scheduler.step()
        print(epoch, loss.item())


if __name__ == "__main__":
    main()
