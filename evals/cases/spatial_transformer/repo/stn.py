import torch
import torch.nn as nn
import torch.nn.functional as F


def warp(images, theta):
    grid = F.affine_grid(theta, images.size(), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


class STN(nn.Module):
    def __init__(self, in_channels=1):
        super().__init__()
        self.localization = nn.Sequential(
            nn.Conv2d(in_channels, 8, kernel_size=5),
            nn.MaxPool2d(2, stride=2),
            nn.ReLU(True),
            nn.Conv2d(8, 10, kernel_size=3),
            nn.MaxPool2d(2, stride=2),
            nn.ReLU(True),
        )
        self.fc_loc = nn.Sequential(nn.Linear(10 * 2 * 2, 16), nn.ReLU(True), nn.Linear(16, 3 * 2))
        # start from the identity transform
        self.fc_loc[2].weight.data.zero_()
        self.fc_loc[2].bias.data.copy_(torch.tensor([1, 0, 0, 0, 1, 0], dtype=torch.float))

    def forward(self, x):
        xs = self.localization(x)
        xs = xs.view(-1, 10 * 2 * 2)
        theta = self.fc_loc(xs).view(-1, 2, 3)
        return warp(x, theta)


class STNClassifier(nn.Module):
    def __init__(self, in_channels=1, num_classes=10):
        super().__init__()
        self.stn = STN(in_channels)
        self.conv = nn.Conv2d(in_channels, 8, kernel_size=3, padding=1)
        self.conv_drop = nn.Dropout2d()
        self.fc = nn.Linear(8 * 8 * 8, num_classes)

    def forward(self, x):
        x = self.stn(x)
        x = F.relu(F.max_pool2d(self.conv_drop(self.conv(x)), 2))
        x = x.view(-1, 8 * 8 * 8)
        return F.log_softmax(self.fc(F.dropout(x, training=self.training)), dim=1)
