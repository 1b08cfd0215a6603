# %% [markdown]
# # A convolutional network on MNIST
#
# Two convolution blocks (3x3 convolution, batch norm, ReLU, 2x2 max pooling) and a small dense
# head with dropout, trained with Adam and a cosine learning-rate schedule. A PyTorch CPU
# script, with `import nncore as torch`.
#
# `NNCORE_EXAMPLE_QUICK=1` trains on 1,000 images for a few seconds; MNIST is read from
# `$NNCORE_DATA` (else the cache, a download, or the 10k sample shipped with nncore).

# %%
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
class ConvNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, kernel_size=3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.MaxPool2d(2),                                    # 32 x 14 x 14
            nn.Conv2d(32, 64, kernel_size=3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
            nn.MaxPool2d(2),                                    # 64 x 7 x 7
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Dropout(0.3),
            nn.Linear(128, 10),
        )

    def forward(self, x):
        return self.classifier(self.features(x))


model = ConvNet()
print(model)
print(f"{sum(p.numel() for p in model.parameters()):,} parameters")

# %%
loss_fn = nn.CrossEntropyLoss()
optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
scheduler = torch.optim.lr_scheduler.OneCycleLR(
    optimizer, max_lr=2e-3, total_steps=EPOCHS * len(train_loader))


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
        optimizer.step()
        scheduler.step()
    acc = evaluate(model, test_loader)
    print(f"epoch {epoch + 1}: last loss {loss.item():.4f}, test accuracy {acc:.4f}, "
          f"{time.perf_counter() - start:.0f} s")

# %%
print(f"RESULT test_accuracy={acc:.4f}")
