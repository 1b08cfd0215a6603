# %% [markdown]
# # A small vision Transformer on MNIST
#
# Each image is cut into 16 patches of 7x7 pixels; a linear layer embeds each patch, a learned
# class token is put in front, sinusoidal positions are added, and two pre-norm
# `nn.TransformerEncoderLayer`s mix the 17 tokens. The class token's final state is classified.
# Trained with AdamW and warm-up then cosine decay. A PyTorch CPU script, with
# `import nncore as torch`.
#
# `NNCORE_EXAMPLE_QUICK=1` trains on 1,000 images for a few seconds; MNIST is read from
# `$NNCORE_DATA` (else the cache, a download, or the 10k sample shipped with nncore).

# %%
import math
import os
import time

import nncore as torch
import nncore.nn as nn
from nncore.data import datasets
from nncore.utils.data import DataLoader, Subset

QUICK = os.environ.get("NNCORE_EXAMPLE_QUICK", "0") == "1"
EPOCHS = 1 if QUICK else 3
torch.manual_seed(0)

train_set, test_set = datasets.MNIST(train=True), datasets.MNIST(train=False)
if QUICK:
    train_set, test_set = Subset(train_set, range(1000)), Subset(test_set, range(500))
train_loader = DataLoader(train_set, batch_size=64, shuffle=True)
test_loader = DataLoader(test_set, batch_size=500)


# %%
def sinusoidal_positions(length, d_model):
    """The fixed sine/cosine position table of "Attention Is All You Need", (length, d_model)."""
    pos = torch.arange(length, dtype=torch.float32).reshape(-1, 1)
    freq = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32)
                     * (-math.log(10000.0) / d_model))
    table = torch.zeros(length, d_model)
    table[:, 0::2] = torch.sin(pos * freq)
    table[:, 1::2] = torch.cos(pos * freq)
    return table


class PatchTransformer(nn.Module):
    def __init__(self, d_model=64, nhead=4, num_layers=2, patch=7):
        super().__init__()
        self.patch = patch
        n_patches = (28 // patch) ** 2
        self.embed = nn.Linear(patch * patch, d_model)
        self.cls = nn.Parameter(torch.zeros(1, 1, d_model))
        nn.init.normal_(self.cls, std=0.02)
        self.register_buffer("positions", sinusoidal_positions(n_patches + 1, d_model))
        layer = nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward=2 * d_model,
                                           dropout=0.0, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers, norm=nn.LayerNorm(d_model))
        self.head = nn.Linear(d_model, 10)

    def forward(self, images):
        n, p = images.shape[0], self.patch
        k = 28 // p
        # (N, 1, 28, 28) -> (N, k*k patches, p*p pixels), patches in reading order
        patches = images.reshape(n, k, p, k, p).permute(0, 1, 3, 2, 4).reshape(n, k * k, p * p)
        tokens = torch.cat([self.cls.expand(n, -1, -1), self.embed(patches)], dim=1)
        return self.head(self.encoder(tokens + self.positions)[:, 0])


model = PatchTransformer()
print(f"{sum(p.numel() for p in model.parameters()):,} parameters")

# %%
loss_fn = nn.CrossEntropyLoss()
optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.01)
steps = EPOCHS * len(train_loader)
warmup = max(1, steps // 20)
scheduler = torch.optim.lr_scheduler.LambdaLR(
    optimizer, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * s / steps)))


def evaluate(model, loader):
    model.eval()
    correct = 0
    with torch.no_grad():
        for x, y in loader:
            correct += (model(x).argmax(dim=1) == y).sum().item()
    return correct / len(loader.dataset)


start = time.perf_counter()
for epoch in range(EPOCHS):
    model.train()
    for x, y in train_loader:
        loss = loss_fn(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
        optimizer.step()
        scheduler.step()
    acc = evaluate(model, test_loader)
    print(f"epoch {epoch + 1}: last loss {loss.item():.4f}, test accuracy {acc:.4f}, "
          f"{time.perf_counter() - start:.0f} s")

# %%
print(f"RESULT test_accuracy={acc:.4f}")
