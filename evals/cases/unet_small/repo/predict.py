import argparse

import torch
import torch.nn.functional as F

from unet import UNet


def predict_mask(net, image, threshold=0.5):
    net.eval()
    with torch.no_grad():
        logits = net(image.unsqueeze(0))
        if net.n_classes > 1:
            return logits.argmax(dim=1)[0]
        return (torch.sigmoid(logits) > threshold)[0, 0]


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--bilinear", action="store_true", default=False)
    parser.add_argument("--classes", type=int, default=2)
    args = parser.parse_args()
    net = UNet(n_channels=3, n_classes=args.classes, bilinear=args.bilinear)
    mask = predict_mask(net, torch.rand(3, 15, 15))
    print(mask.shape, F.one_hot(mask, args.classes).shape)
