# %% [markdown]
# # An LSTM reads MNIST row by row
#
# Each 28x28 image is a sequence of 28 rows of 28 pixels; an `nn.LSTM` reads the rows top to
# bottom and a linear layer classifies the digit from the last hidden state. Gradient clipping
# keeps the recurrent gradients in check. A PyTorch CPU script, with `import nncore as torch`.
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
class RowLSTM(nn.Module):
    def __init__(self, hidden_size=128):
        super().__init__()
        self.lstm = nn.LSTM(input_size=28, hidden_size=hidden_size, batch_first=True)
        self.head = nn.Linear(hidden_size, 10)

    def forward(self, images):
        rows = images.reshape(images.shape[0], 28, 28)  # (batch, 28 steps, 28 pixels)
        outputs, (h_n, c_n) = self.lstm(rows)
        return self.head(h_n[-1])                        # the last layer's final state


model = RowLSTM()
print(model)

# %%
loss_fn = nn.CrossEntropyLoss()
optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=EPOCHS * len(train_loader))


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
