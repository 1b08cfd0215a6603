"""A character-level GRU language model written for PyTorch: training with Adam and gradient
clipping, a checkpoint saved and loaded mid-way (model, optimizer, step), then sampling.

Weights start from a NumPy generator; prints a JSON summary of the losses and a greedy sample."""
import io
import json
import os
import sys
import tempfile

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

TEXT = ("the quick brown fox jumps over the lazy dog. " * 40
        + "pack my box with five dozen liquor jugs. " * 40)


class CharGRU(nn.Module):
    def __init__(self, vocab, emb=16, hidden=48):
        super().__init__()
        self.embed = nn.Embedding(vocab, emb)
        self.rnn = nn.GRU(emb, hidden, num_layers=2, batch_first=True)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, idx, h=None):
        out, h = self.rnn(self.embed(idx), h)
        return self.head(out), h


def batches(ids, rng, n=16, t=32):
    starts = rng.integers(0, len(ids) - t - 1, n)
    x = np.stack([ids[s:s + t] for s in starts])
    y = np.stack([ids[s + 1:s + t + 1] for s in starts])
    return torch.from_numpy(x), torch.from_numpy(y)


def main():
    chars = sorted(set(TEXT))
    ids = np.array([chars.index(c) for c in TEXT], dtype=np.int64)
    rng = np.random.default_rng(0)
    model = CharGRU(len(chars))
    for p in model.parameters():
        p.data.copy_(torch.tensor(rng.uniform(-0.15, 0.15, size=tuple(p.shape)),
                                  dtype=torch.float32))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    path = os.path.join(tempfile.mkdtemp(), "ckpt.pt")
    for step in range(40):
        x, y = batches(ids, rng)
        logits, _ = model(x)
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), y.view(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
        if step == 19:
            torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                        "step": step, "loss": loss.detach()}, path)
            model = CharGRU(len(chars))
            opt = torch.optim.Adam(model.parameters(), lr=1e-2)
            ckpt = torch.load(path, map_location="cpu")
            model.load_state_dict(ckpt["model"])
            opt.load_state_dict(ckpt["optimizer"])
            assert ckpt["step"] == 19 and abs(ckpt["loss"].item() - losses[-1]) < 1e-6
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    buf.seek(0)
    model.load_state_dict(torch.load(buf))
    model.eval()
    idx = torch.tensor([[chars.index("t")]])
    h, out = None, []
    with torch.no_grad():
        for _ in range(40):
            logits, h = model(idx, h)
            nxt = logits[:, -1, :].argmax(-1, keepdim=True)
            out.append(chars[nxt.item()])
            idx = nxt
        probs = F.softmax(logits[:, -1, :] / 0.8, dim=-1)
        sampled = torch.multinomial(probs, num_samples=5, replacement=True)
    json.dump({"losses": losses, "greedy": "".join(out),
               "sample_shape": list(sampled.shape), "sample_dtype": str(sampled.dtype)},
              sys.stdout)


if __name__ == "__main__":
    main()
