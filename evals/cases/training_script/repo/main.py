import argparse
import os
import tempfile

import torch
import torch.nn as nn
import torch.optim as optim
from torch.utils.data import DataLoader, TensorDataset

from model import ConvClassifier
from utils import AverageMeter, accuracy, save_checkpoint

parser = argparse.ArgumentParser(description="Train a small image classifier")
parser.add_argument("--epochs", default=3, type=int)
parser.add_argument("-b", "--batch-size", default=16, type=int)
parser.add_argument("--lr", "--learning-rate", default=0.05, type=float, dest="lr")
parser.add_argument("--momentum", default=0.9, type=float)
parser.add_argument("--wd", "--weight-decay", default=1e-4, type=float, dest="weight_decay")
parser.add_argument("--resume", default="", type=str)


def train(loader, model, criterion, optimizer, use_cuda):
    model.train()
    losses, top1 = AverageMeter(), AverageMeter()
    for images, target in loader:
        if use_cuda:
            images, target = images.cuda(non_blocking=True), target.cuda(non_blocking=True)
        output = model(images)
        loss = criterion(output, target)
        acc1, _ = accuracy(output, target)
        losses.update(loss.item(), images.size(0))
        top1.update(acc1.item(), images.size(0))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return losses.avg, top1.avg


def validate(loader, model, criterion, use_cuda):
    model.eval()
    top1 = AverageMeter()
    with torch.no_grad():
        for images, target in loader:
            if use_cuda:
                images, target = images.cuda(), target.cuda()
            acc1, _ = accuracy(model(images), target)
            top1.update(acc1.item(), images.size(0))
    return top1.avg


def main():
    args = parser.parse_args()
    use_cuda = torch.cuda.is_available()
    model = ConvClassifier(num_classes=10)
    if use_cuda:
        model = model.cuda()
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.SGD(model.parameters(), args.lr, momentum=args.momentum, weight_decay=args.weight_decay)
    scheduler = optim.lr_scheduler.StepLR(optimizer, step_size=30, gamma=0.1)
    if args.resume and os.path.isfile(args.resume):
        checkpoint = torch.load(args.resume, map_location="cpu")
        model.load_state_dict(checkpoint["state_dict"])
        optimizer.load_state_dict(checkpoint["optimizer"])
    data = TensorDataset(torch.randn(64, 3, 16, 16), torch.randint(0, 10, (64,)))
    loader = DataLoader(data, batch_size=args.batch_size, shuffle=True)
    best = 0.0
    out_dir = tempfile.mkdtemp()
    for epoch in range(args.epochs):
        loss, acc = train(loader, model, criterion, optimizer, use_cuda)
        scheduler.step()
        val = validate(loader, model, criterion, use_cuda)
        save_checkpoint({"epoch": epoch + 1, "state_dict": model.state_dict(), "optimizer": optimizer.state_dict()},
                        val > best, out_dir)
        best = max(best, val)
        print(f"epoch {epoch} loss {loss:.3f} train@1 {acc:.1f} val@1 {val:.1f}")


if __name__ == "__main__":
    main()
