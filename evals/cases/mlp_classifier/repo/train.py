import torch
import torch.nn as nn

from model import TabularMLP


def main():
    torch.manual_seed(0)
    x = torch.randn(128, 12)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()
    model = TabularMLP(12, hidden=(32, 16), num_classes=3)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(20):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
    print("final loss", loss.item())


if __name__ == "__main__":
    main()
