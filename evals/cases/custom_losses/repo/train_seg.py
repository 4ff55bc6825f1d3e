import torch

from losses import DiceLoss, FocalLoss, LabelSmoothingCE

if __name__ == "__main__":
    logits = torch.randn(2, 3, 8, 8, requires_grad=True)
    target = torch.randint(0, 3, (2, 8, 8))
    dice = DiceLoss(num_classes=3)
    focal = FocalLoss(gamma=2.0)
    smooth = LabelSmoothingCE(smoothing=0.1)
    flat_logits = logits.permute(0, 2, 3, 1).reshape(-1, 3)
    loss = dice(logits, target) + focal(flat_logits, target.view(-1)) + smooth(flat_logits, target.view(-1))
    loss.backward()
    print(loss.item())
