import torch
import torch.nn as nn
import torch.nn.functional as F


def sigmoid_focal_loss(inputs, targets, alpha=0.25, gamma=2.0):
    p = torch.sigmoid(inputs)
    ce = F.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce * ((1 - p_t) ** gamma)
    alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
    return (alpha_t * loss).mean()


class FocalLoss(nn.Module):
    def __init__(self, gamma=2.0, weight=None, reduction="mean"):
        super().__init__()
        self.gamma = gamma
        self.reduction = reduction
        self.register_buffer("weight", weight if weight is not None else None)

    def forward(self, logits, target):
        log_prob = F.log_softmax(logits, dim=-1)
        prob = log_prob.exp()
        loss = F.nll_loss(((1 - prob) ** self.gamma) * log_prob, target, weight=self.weight, reduction="none")
        return loss.mean() if self.reduction == "mean" else loss.sum()


class LabelSmoothingCE(nn.Module):
    def __init__(self, smoothing=0.1, ignore_index=-100):
        super().__init__()
        self.smoothing = smoothing
        self.ignore_index = ignore_index

    def forward(self, logits, target):
        n = logits.size(-1)
        log_preds = F.log_softmax(logits, dim=-1)
        valid = target != self.ignore_index
        safe_target = target.masked_fill(~valid, 0)
        nll = -log_preds.gather(dim=-1, index=safe_target.unsqueeze(-1)).squeeze(-1)
        smooth = -log_preds.sum(dim=-1) / n
        loss = (1 - self.smoothing) * nll + self.smoothing * smooth
        return loss[valid].mean()


class DiceLoss(nn.Module):
    def __init__(self, num_classes=3, eps=1e-6):
        super().__init__()
        self.num_classes = num_classes
        self.eps = eps

    def forward(self, logits, target):
        probs = logits.softmax(dim=1)
        one_hot = F.one_hot(target, self.num_classes).permute(0, 3, 1, 2).float()
        dims = (0, 2, 3)
        inter = torch.sum(probs * one_hot, dims)
        card = torch.sum(probs + one_hot, dims)
        return 1.0 - (2.0 * inter / (card + self.eps)).mean()
