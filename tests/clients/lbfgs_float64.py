"""Fitting a damped sine in float64 with LBFGS and a closure, written for PyTorch: a small
double-precision network (`model.double()`, float64 NumPy data through from_numpy), strong Wolfe
line search. Prints a JSON summary."""
import json
import sys

import numpy as np
import torch
import torch.nn as nn


def main():
    rng = np.random.default_rng(0)
    t = np.linspace(0, 4, 200)[:, None]
    y = np.exp(-0.5 * t) * np.sin(3 * t) + rng.normal(0, 0.01, t.shape)
    x_t, y_t = torch.from_numpy(t), torch.from_numpy(y)
    assert x_t.dtype == torch.float64
    model = nn.Sequential(nn.Linear(1, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(),
                          nn.Linear(16, 1)).double()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.from_numpy(rng.normal(0, 0.5, size=tuple(p.shape))))
    opt = torch.optim.LBFGS(model.parameters(), lr=1, max_iter=20, history_size=10,
                            line_search_fn="strong_wolfe")
    criterion = nn.MSELoss()
    losses = []
    for _ in range(10):
        def closure():
            opt.zero_grad()
            loss = criterion(model(x_t), y_t)
            loss.backward()
            return loss
        losses.append(opt.step(closure).item())
    json.dump({"losses": losses, "dtype": str(model(x_t).dtype)}, sys.stdout)


if __name__ == "__main__":
    main()
