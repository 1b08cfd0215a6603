"""Gradient accumulation, written for PyTorch: a CNN on random images, four micro-batches per
optimizer step (loss divided before backward), SGD with momentum and weight decay, a step
schedule, and `p.data` updates of a moving average of the weights. Prints a JSON summary."""
import json
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.optim.lr_scheduler import StepLR


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 6, 3, padding=1)
        self.bn = nn.BatchNorm2d(6)
        self.fc = nn.Linear(6 * 7 * 7, 5)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn(self.conv(x))), 2)
        return self.fc(torch.flatten(x, 1))


def main():
    rng = np.random.default_rng(0)
    x_all = rng.standard_normal((64, 1, 14, 14)).astype(np.float32)
    y_all = rng.integers(0, 5, 64)
    model = Net()
    for p in model.parameters():
        p.data = torch.from_numpy(rng.normal(0, 0.1, size=tuple(p.shape)).astype(np.float32))
    ema = [p.detach().clone() for p in model.parameters()]
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    sched = StepLR(opt, step_size=3, gamma=0.5)
    accum, losses = 4, []
    for _ in range(8):
        opt.zero_grad()
        total = 0.0
        for micro in range(accum):
            sl = slice(micro * 16, (micro + 1) * 16)
            out = model(torch.from_numpy(x_all[sl]))
            loss = F.cross_entropy(out, torch.from_numpy(y_all[sl])) / accum
            loss.backward()
            total += loss.item()
        opt.step()
        sched.step()
        with torch.no_grad():
            for e, p in zip(ema, model.parameters()):
                e.mul_(0.9).add_(p.data, alpha=0.1)
        losses.append(total)
    json.dump({"losses": losses, "lr": sched.get_last_lr(),
               "ema_norm": float(sum(e.norm() ** 2 for e in ema) ** 0.5),
               "running_mean": model.bn.running_mean.tolist()}, sys.stdout)


if __name__ == "__main__":
    main()
