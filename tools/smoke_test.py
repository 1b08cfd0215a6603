"""Smoke test of an installed nncore (the wheel's test command): for every native module of the
install that this CPU runs, in a fresh process with NNCORE_ISA set, train an MLP for one epoch on
the MNIST sample shipped in the package and run a conv / 2x2 max-pool / attention step (the
kernels whose vector code differs by ISA). Exits non-zero on any failure.

    python tools/smoke_test.py                 every runnable module, a process each
    python tools/smoke_test.py --in-process    the module import picks, in this process (for an
                                               emulator such as qemu-x86_64 -cpu Haswell, whose
                                               child processes would run natively)
    python tools/smoke_test.py --in-process --expect-isa avx2
"""

from __future__ import annotations

import os
import subprocess
import sys

TRAIN = r"""
import numpy as np
import nncore as nc
from nncore import nn, optim
import nncore.nn.functional as F
from nncore.data.datasets.mnist import MNIST, SAMPLE_DIR

loaded = nc._isa.loaded()
data = MNIST(root=SAMPLE_DIR, train=False)
loader = nc.data.DataLoader(data, batch_size=64, shuffle=True, seed=0)
nc.manual_seed(0)
model = nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
for x, y in loader:
    loss = F.cross_entropy(model(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
with nc.no_grad():
    pred = model(nc.tensor(np.asarray(data.data, dtype=np.float32))).argmax(1)
acc = float((pred.numpy() == np.asarray(data.targets)).mean())
rng = np.random.default_rng(0)
x = nc.tensor(rng.standard_normal((2, 3, 20, 36)).astype(np.float32), requires_grad=True)
w = nc.tensor(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), requires_grad=True)
F.max_pool2d(F.conv2d(x, w, padding=1), 2).sum().backward()
q = nc.tensor(rng.standard_normal((1, 2, 19, 16)).astype(np.float32), requires_grad=True)
F.scaled_dot_product_attention(q, q, q, is_causal=True).sum().backward()
assert np.isfinite(x.grad.numpy()).all() and np.isfinite(q.grad.numpy()).all()
print(f"{loaded['module']} ({loaded['isa']}): one epoch of the MNIST sample, "
      f"last loss {float(loss):.3f}, accuracy {acc:.3f}")
assert acc > 0.85, acc
"""


def main() -> int:
    """Run the training check under every runnable module; 0 when all pass."""
    args = sys.argv[1:]
    if "--in-process" in args:
        expect = args[args.index("--expect-isa") + 1] if "--expect-isa" in args else None
        exec(compile(TRAIN, "<smoke>", "exec"), {})
        from nncore import _isa

        if expect is not None and _isa.loaded()["isa"] != expect:
            print(f"expected ISA {expect}, loaded {_isa.describe()}")
            return 1
        return 0
    import nncore as nc
    from nncore import _isa

    print(f"nncore {nc.__version__}: {_isa.describe()}")
    present = _isa.loaded()["available"]
    isas = [isa for isa in _isa.runnable() if f"_C_{isa}" in present] or [""]
    failed = 0
    for isa in isas:
        env = dict(os.environ, NNCORE_ISA=isa)
        done = subprocess.run([sys.executable, "-c", TRAIN], env=env)
        failed += done.returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
