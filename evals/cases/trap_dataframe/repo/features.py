import numpy as np
import torch
import torch.nn as nn

from frame import Frame

NUMERIC = ["age", "income", "score"]


def frame_to_tensor(frame: Frame) -> torch.Tensor:
    n_rows, n_cols = frame.size()
    numeric = frame.view(NUMERIC)
    wide = numeric.transpose()
    matrix = np.stack([wide.columns[c] for c in NUMERIC], axis=1).astype(np.float32)
    matrix = matrix.reshape(n_rows, -1).view(np.float32)
    frame.add_("n_missing", np.isnan(matrix).sum(axis=1))
    x = torch.from_numpy(np.nan_to_num(matrix))
    return x.view(n_rows, -1).transpose(0, 1).contiguous().transpose(0, 1)


def standardize(x, eps=1e-6):
    mean = x.mean(dim=0, keepdim=True)
    std = x.std(dim=0, unbiased=False, keepdim=True)
    return (x - mean) / (std + eps)


class FeatureEncoder(nn.Module):
    def __init__(self, in_features=3, hidden=16, out_features=4):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_features, hidden), nn.SiLU(), nn.Linear(hidden, out_features))

    def forward(self, x):
        x = standardize(x)
        n = x.size(0)
        return self.net(x).view(n, -1)


def encode(frame: Frame, model: FeatureEncoder):
    if frame.numel() == 0:
        return torch.empty(0, 4)
    frame = frame.cuda()
    with torch.no_grad():
        return model(frame_to_tensor(frame))


if __name__ == "__main__":
    f = Frame({"age": [31, 45, 22], "income": [3.1, 5.0, np.nan], "score": [0.2, 0.9, 0.4], "city": ["a", "b", "c"]})
    print(encode(f, FeatureEncoder()))
