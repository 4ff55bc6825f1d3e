import torch
import torch.nn as nn

TASKS = {"age": 1, "gender": 2, "emotion": 5}


class Trunk(nn.Module):
    def __init__(self, in_features=24, width=16, depth=2):
        super().__init__()
        blocks = [nn.Linear(in_features, width), nn.GELU()]
        for _ in range(depth - 1):
            blocks += [nn.Linear(width, width), nn.GELU()]
        self.net = nn.Sequential(*blocks)
        self.norm = nn.LayerNorm(width)

    def forward(self, x):
        return self.norm(self.net(x))


class MultiTaskNet(nn.Module):
    def __init__(self, tasks=None, in_features=24, width=16):
        super().__init__()
        tasks = tasks or TASKS
        self.trunk = Trunk(in_features, width)
        self.heads = nn.ModuleDict({name: nn.Linear(width, n_out) for name, n_out in tasks.items()})
        self.task_weights = nn.ParameterDict({name: nn.Parameter(torch.zeros(())) for name in tasks})

    def forward(self, x):
        shared = self.trunk(x)
        return {name: head(shared) for name, head in self.heads.items()}

    def weighted_loss(self, losses):
        # uncertainty weighting: sum_i exp(-s_i) * L_i + s_i
        return sum(torch.exp(-self.task_weights[k]) * v + self.task_weights[k] for k, v in losses.items())


if __name__ == "__main__":
    net = MultiTaskNet({"age": 1, "gender": 2}, in_features=24, width=16)
    print({k: v.shape for k, v in net(torch.randn(4, 24)).items()})
