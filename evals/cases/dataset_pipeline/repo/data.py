import random

import torch
from torch.utils.data import DataLoader, Dataset


class ToySequences(Dataset):
    """Variable-length token sequences; the label is whether token 7 occurs."""

    def __init__(self, n=64, vocab=30, max_len=10, seed=0):
        rng = random.Random(seed)
        self.items = []
        for _ in range(n):
            length = rng.randint(2, max_len)
            seq = [rng.randrange(1, vocab) for _ in range(length)]
            self.items.append((torch.tensor(seq, dtype=torch.long), int(7 in seq)))

    def __len__(self):
        return len(self.items)

    def __getitem__(self, idx):
        return self.items[idx]


def pad_batch(tokens, lengths, pad_value=0):
    """Right-pad a (B, T) batch so that positions >= length hold pad_value."""
    positions = torch.arange(tokens.size(1)).unsqueeze(0)
    return tokens.masked_fill(positions >= lengths.unsqueeze(1), pad_value)


def collate(batch):
    seqs, labels = zip(*batch)
    lengths = torch.tensor([len(s) for s in seqs])
    padded = torch.nn.utils.rnn.pad_sequence(list(seqs), batch_first=True, padding_value=0)
    return padded, lengths, torch.tensor(labels)


def make_loader(batch_size=8, shuffle=True):
    return DataLoader(ToySequences(), batch_size=batch_size, shuffle=shuffle, collate_fn=collate, num_workers=0)
