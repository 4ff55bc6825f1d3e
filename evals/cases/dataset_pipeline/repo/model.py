import torch
import torch.nn as nn


class BagOfWords(nn.Module):
    def __init__(self, vocab=30, dim=16, classes=2):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim, padding_idx=0)
        self.fc = nn.Linear(dim, classes)

    def forward(self, tokens):
        mask = (tokens != 0).float().unsqueeze(-1)
        summed = (self.emb(tokens) * mask).sum(1)
        return self.fc(summed / mask.sum(1).clamp(min=1))


if __name__ == "__main__":
    from data import make_loader

    model = BagOfWords()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for padded, lengths, labels in make_loader():
        loss = nn.functional.cross_entropy(model(padded), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    print(loss.item())
