import torch.nn as nn


class ConvBNReLU1d(nn.Sequential):
    def __init__(self, in_ch=1, out_ch=8, kernel_size=5, stride=1):
        super().__init__(
            nn.Conv1d(in_ch, out_ch, kernel_size, stride=stride, padding=kernel_size // 2, bias=False),
            nn.BatchNorm1d(out_ch, eps=1e-3, momentum=0.01),
            nn.ReLU(),
        )


class KeywordNet(nn.Module):
    def __init__(self, n_input=1, n_output=6, n_channel=16):
        super().__init__()
        self.features = nn.Sequential(
            ConvBNReLU1d(n_input, n_channel, kernel_size=9, stride=2),
            nn.MaxPool1d(2),
            ConvBNReLU1d(n_channel, n_channel, kernel_size=3),
            nn.MaxPool1d(2),
        )
        self.pool = nn.AdaptiveAvgPool1d(1)
        self.classifier = nn.Linear(n_channel, n_output)

    def forward(self, x):
        x = self.features(x)
        x = self.pool(x).squeeze(-1)
        return self.classifier(x)
