import math

import torch
from torch.utils.data import DataLoader, IterableDataset, WeightedRandomSampler, get_worker_info

from transforms import Normalize, random_crop_eval


class ShardedStream(IterableDataset):
    """Yields (image, label) pairs from numbered shards; each worker reads its own slice of shards."""

    def __init__(self, num_shards=8, items_per_shard=4, size=16, seed=0):
        super().__init__()
        self.num_shards, self.items_per_shard, self.size, self.seed = num_shards, items_per_shard, size, seed
        self.normalize = Normalize(mean=[0.5, 0.5, 0.5], std=[0.25, 0.25, 0.25])

    def _shards(self):
        info = get_worker_info()
        if info is None:
            return range(self.num_shards)
        per_worker = int(math.ceil(self.num_shards / float(info.num_workers)))
        start = info.id * per_worker
        return range(start, min(start + per_worker, self.num_shards))

    def __iter__(self):
        for shard in self._shards():
            g = torch.Generator().manual_seed(self.seed + shard)
            for _ in range(self.items_per_shard):
                img = torch.rand(3, self.size + 2, self.size + 2, generator=g)
                img = random_crop_eval(img.unsqueeze(0), self.size).squeeze(0)
                yield self.normalize(img.unsqueeze(0)).squeeze(0), int(torch.randint(0, 4, (1,), generator=g))


def balanced_loader(labels, batch_size=4):
    labels = torch.as_tensor(labels)
    counts = torch.bincount(labels)
    weights = 1.0 / counts[labels].float()
    sampler = WeightedRandomSampler(weights, num_samples=len(labels), replacement=True)
    data = torch.utils.data.TensorDataset(torch.randn(len(labels), 3, 16, 16), labels)
    return DataLoader(data, batch_size=batch_size, sampler=sampler, pin_memory=torch.cuda.is_available())


if __name__ == "__main__":
    for x, y in DataLoader(ShardedStream(), batch_size=4, num_workers=2):
        print(x.shape, y)
    print(next(iter(balanced_loader([0, 0, 0, 1, 2, 2]))))
