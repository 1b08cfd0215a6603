# %% [markdown]
# # The 784-128-10 network, from scratch and then with `nn` and `optim`
#
# The classic MNIST multilayer perceptron, twice:
#
# 1. **By hand**: the weights are plain tensors, the forward pass and the cross-entropy loss are
#    written out, the gradients are derived by hand once (and checked against autograd), and the
#    SGD update is two lines under `no_grad()`.
# 2. **With the library**: `nn.Sequential`, `nn.CrossEntropyLoss`, `optim.SGD`.
#
# Written as a PyTorch user would: `import nncore as torch`. Open it as a notebook with
# `jupytext --to notebook 01_mlp_from_scratch.py`, or run it: `python 01_mlp_from_scratch.py`.
# `NNCORE_EXAMPLE_QUICK=1` trains on 1,000 images for a few seconds; MNIST is read from
# `$NNCORE_DATA` (else the cache, a download, or the 10k sample shipped with nncore).

# %%
import math
import os
import time

import nncore as torch
import nncore.nn as nn
import nncore.nn.functional as F
from nncore.data import datasets
from nncore.utils.data import DataLoader, Subset

QUICK = os.environ.get("NNCORE_EXAMPLE_QUICK", "0") == "1"
EPOCHS = 1 if QUICK else 5
torch.manual_seed(0)

train_set = datasets.MNIST(train=True)  # images (1, 28, 28) in [0, 1], int64 labels
test_set = datasets.MNIST(train=False)
if QUICK:
    train_set, test_set = Subset(train_set, range(1000)), Subset(test_set, range(500))
train_loader = DataLoader(train_set, batch_size=64, shuffle=True)
test_loader = DataLoader(test_set, batch_size=1000)
print(f"{len(train_set)} training and {len(test_set)} test images")

# %% [markdown]
# ## 1. By hand
#
# Parameters: `W1 (784, 128)`, `b1 (128,)`, `W2 (128, 10)`, `b2 (10,)`, He-initialised.
# The forward pass is `h = relu(x W1 + b1)`, `z = h W2 + b2`; the loss is the mean of
# `logsumexp(z_i) - z_i[y_i]` over the batch.


# %%
def init_params():
    w1 = torch.randn(784, 128) * math.sqrt(2 / 784)
    w2 = torch.randn(128, 10) * math.sqrt(2 / 128)
    params = [w1, torch.zeros(128), w2, torch.zeros(10)]
    for p in params:
        p.requires_grad_()
    return params


def forward(params, x):
    w1, b1, w2, b2 = params
    h = (x.reshape(x.shape[0], 784) @ w1 + b1).relu()
    return h @ w2 + b2


def cross_entropy(logits, y):
    picked = logits.gather(1, y.reshape(-1, 1)).reshape(-1)
    return (logits.logsumexp(dim=1) - picked).mean()


# %% [markdown]
# The backward pass by hand, for one batch: with `p = softmax(z)` and `Y` the one-hot labels,
# `dL/dz = (p - Y) / N`; then `dW2 = h^T dz`, `db2 = sum(dz)`, `dh = dz W2^T` masked where the
# ReLU was off, `dW1 = x^T dh`, `db1 = sum(dh)`. Autograd must give the same numbers.

# %%
params = init_params()
x, y = next(iter(train_loader))
loss = cross_entropy(forward(params, x), y)
loss.backward()

with torch.no_grad():
    w1, b1, w2, b2 = params
    xf = x.reshape(x.shape[0], 784)
    pre = xf @ w1 + b1
    h = pre.relu()
    p = (h @ w2 + b2).softmax(dim=1)
    onehot = torch.zeros(x.shape[0], 10)
    onehot[torch.arange(x.shape[0]), y] = 1.0
    dz = (p - onehot) / x.shape[0]
    dh = (dz @ w2.T) * (pre > 0).float()
    by_hand = [xf.T @ dh, dh.sum(0), h.T @ dz, dz.sum(0)]
for name, p, g in zip(["W1", "b1", "W2", "b2"], params, by_hand):
    err = (p.grad - g).abs().max().item()
    print(f"d loss / d {name}: largest difference hand vs autograd {err:.2e}")
    assert err < 1e-5, name

# %% [markdown]
# Training by hand: autograd computes the gradients, the SGD update is written out.


# %%
def accuracy(predict, loader):
    correct = 0
    with torch.no_grad():
        for x, y in loader:
            correct += (predict(x).argmax(dim=1) == y).sum().item()
    return correct / len(loader.dataset)


torch.manual_seed(0)
params = init_params()
lr = 0.1
start = time.perf_counter()
for epoch in range(EPOCHS):
    for x, y in train_loader:
        loss = cross_entropy(forward(params, x), y)
        loss.backward()
        with torch.no_grad():
            for p in params:
                p -= lr * p.grad
                p.grad.zero_()
    acc = accuracy(lambda x: forward(params, x), test_loader)
    print(f"by hand, epoch {epoch + 1}: last loss {loss.item():.4f}, test accuracy {acc:.4f}")
scratch_acc = acc
print(f"by hand: {time.perf_counter() - start:.1f} s")

# %% [markdown]
# ## 2. The same network with `nn` and `optim`
#
# `nn.Linear` stores its weight as `(out, in)` and computes `x W^T + b`; `CrossEntropyLoss` is
# the loss above; `optim.SGD` is the update above (here with momentum, which the library's fused
# step makes free).

# %%
torch.manual_seed(0)
model = nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
loss_fn = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=EPOCHS)

start = time.perf_counter()
for epoch in range(EPOCHS):
    model.train()
    for x, y in train_loader:
        loss = loss_fn(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    scheduler.step()
    model.eval()
    acc = accuracy(model, test_loader)
    print(f"nn + optim, epoch {epoch + 1}: last loss {loss.item():.4f}, test accuracy {acc:.4f}")
print(f"nn + optim: {time.perf_counter() - start:.1f} s")

# The functional form gives the same loss as the hand-written one:
x, y = next(iter(test_loader))
with torch.no_grad():
    assert abs(F.cross_entropy(model(x), y).item() - cross_entropy(model(x), y).item()) < 1e-5

# %%
print(f"RESULT from_scratch_accuracy={scratch_acc:.4f} nn_accuracy={acc:.4f}")
