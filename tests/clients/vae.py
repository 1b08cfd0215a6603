"""A variational autoencoder on 2-D data from three clusters, written for PyTorch.

Weights start from a NumPy generator and the reparameterisation noise comes from NumPy too, so
two libraries running this script must agree to rounding. Prints a JSON summary."""
import json
import sys

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn, optim
from torch.utils.data import DataLoader, TensorDataset


class VAE(nn.Module):
    def __init__(self, d_in=8, hidden=32, latent=2):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU())
        self.mu = nn.Linear(hidden, latent)
        self.logvar = nn.Linear(hidden, latent)
        self.dec = nn.Sequential(nn.Linear(latent, hidden), nn.ReLU(), nn.Linear(hidden, d_in))

    def forward(self, x, eps):
        h = self.enc(x)
        mu, logvar = self.mu(h), self.logvar(h)
        z = mu + eps * torch.exp(0.5 * logvar)
        return self.dec(z), mu, logvar


def loss_fn(recon, x, mu, logvar):
    rec = F.mse_loss(recon, x, reduction="sum")
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return (rec + kld) / x.size(0)


def main():
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(3, 8)) * 3
    data = (centers[rng.integers(0, 3, 600)] + rng.normal(size=(600, 8)) * 0.3).astype(np.float32)
    model = VAE()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.from_numpy(rng.normal(0, 0.2, size=tuple(p.shape)).astype(np.float32)))
    opt = optim.Adam(model.parameters(), lr=3e-3)
    loader = DataLoader(TensorDataset(torch.from_numpy(data)), batch_size=50, shuffle=False)
    noise = np.random.default_rng(1)
    losses = []
    for _ in range(15):
        total = 0.0
        for (x,) in loader:
            eps = torch.from_numpy(noise.standard_normal((x.shape[0], 2)).astype(np.float32))
            recon, mu, logvar = model(x, eps)
            loss = loss_fn(recon, x, mu, logvar)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * x.size(0)
        losses.append(total / len(loader.dataset))
    model.eval()
    with torch.no_grad():
        mu = model.mu(model.enc(torch.from_numpy(data)))
    json.dump({"losses": losses, "mu_mean": mu.mean(0).tolist()}, sys.stdout)


if __name__ == "__main__":
    main()
