"""nn.Module, containers, Linear and init: PyTorch's API and layouts."""

from __future__ import annotations

import math

import numpy as np
import pytest

import nncore as nc
from harness import fresh_rng, torch
from nncore import nn


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.head = nn.Sequential(nn.Linear(4, 2), nn.Identity())
        self.register_buffer("steps", np.zeros(1))

    def forward(self, x):
        return self.head(self.fc(x))


def test_registration_names_and_state_dict() -> None:
    m = Block()
    names = [n for n, _ in m.named_parameters()]
    assert names == ["fc.weight", "fc.bias", "head.0.weight", "head.0.bias"]
    sd = m.state_dict()
    assert list(sd) == ["steps"] + names  # PyTorch order: own tensors, then children
    # PyTorch's rule: detached Tensors sharing memory with the parameters.
    assert all(type(v) is nc.Tensor and not v.requires_grad for v in sd.values())
    sd["fc.weight"][0, 0] = 5.0
    assert m.fc.weight.detach().numpy()[0, 0] == 5.0
    assert m.state_dict(keep_vars=True)["fc.weight"] is m.fc.weight
    assert len(list(m.modules())) == 5 and len(list(m.children())) == 2


def test_load_state_dict_reports_keys_and_shapes() -> None:
    m, other = Block(), Block()
    m.load_state_dict({k: v.numpy() for k, v in other.state_dict().items()})
    np.testing.assert_array_equal(m.fc.weight.detach().numpy(), other.fc.weight.detach().numpy())
    bad = dict(other.state_dict())
    del bad["fc.bias"]
    bad["extra"] = np.zeros(1)
    with pytest.raises(RuntimeError, match=r'Missing key\(s\) in state_dict: "fc.bias". \n\t'
                                           r'Unexpected key\(s\) in state_dict: "extra"'):
        m.load_state_dict(bad)
    result = m.load_state_dict(bad, strict=False)
    assert result.missing_keys == ["fc.bias"] and result.unexpected_keys == ["extra"]
    wrong = dict(other.state_dict())
    wrong["fc.weight"] = np.zeros((5, 5))
    with pytest.raises(RuntimeError, match=r"size mismatch for fc.weight: copying a param with "
                                           r"shape \(5, 5\) from checkpoint, the shape in "
                                           r"current model is \(4, 3\)"):
        m.load_state_dict(wrong)


def test_train_eval_zero_grad_repr() -> None:
    m = Block()
    m.eval()
    assert not m.training and not m.head[0].training
    m.train()
    assert m.head[1].training
    m(nc.randn(2, 3)).sum().backward()
    assert m.fc.weight.grad is not None
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())
    assert "(fc): Linear(in_features=3, out_features=4, bias=True)" in repr(m)
    assert repr(nn.Flatten()) == "Flatten(start_dim=1, end_dim=-1)"


def test_module_list_and_sequential_indexing() -> None:
    layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    holder = nn.Module()
    holder.layers = layers
    assert len(list(holder.parameters())) == 6
    seq = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
    assert isinstance(seq[-1], nn.Linear) and len(seq[:1]) == 1


def test_linear_init_matches_pytorch_bounds() -> None:
    nc.manual_seed(0)
    lin = nn.Linear(400, 50)
    bound = 1 / math.sqrt(400)
    w, b = lin.weight.detach().numpy(), lin.bias.detach().numpy()
    assert w.dtype == np.float32 and w.shape == (50, 400)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
    assert np.abs(b).max() <= bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.05 * bound
    assert nn.Linear(3, 2, bias=False).bias is None


@pytest.mark.parametrize(
    ("fn", "std"),
    [
        (lambda t: nn.init.xavier_normal_(t), math.sqrt(2 / (300 + 200))),
        (lambda t: nn.init.kaiming_normal_(t, nonlinearity="relu"), math.sqrt(2 / 300)),
        (lambda t: nn.init.xavier_uniform_(t), math.sqrt(6 / 500) / math.sqrt(3)),
        (lambda t: nn.init.kaiming_uniform_(t, nonlinearity="relu"), math.sqrt(2 / 300)),
        (lambda t: nn.init.normal_(t, 0, 0.3), 0.3),
    ],
)
def test_init_statistics(fn, std) -> None:
    t = nc.zeros(200, 300)
    assert fn(t) is t
    assert abs(t.detach().numpy().std() - std) < 0.03 * std


def test_init_constants_and_errors() -> None:
    t = nc.zeros(3, 4)
    nn.init.ones_(t)
    assert t.detach().numpy().sum() == 12
    nn.init.constant_(t, 2.5)
    assert np.all(t.detach().numpy() == 2.5)
    nn.init.zeros_(t)
    assert not t.detach().numpy().any()
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        nn.init.xavier_uniform_(nc.zeros(5))
    with pytest.raises(ValueError, match="Unsupported nonlinearity swish"):
        nn.init.calculate_gain("swish")


@pytest.mark.skipif(torch is None, reason="needs torch")
def test_linear_against_torch_with_loaded_state_dict() -> None:
    rng, seed = fresh_rng()
    tl = torch.nn.Linear(17, 3)
    ml = nn.Linear(17, 3)
    ml.load_state_dict({k: v.detach().numpy() for k, v in tl.state_dict().items()})
    x = rng.standard_normal((5, 17)).astype(np.float32)
    tx = torch.tensor(x, requires_grad=True)
    mx = nc.tensor(x, requires_grad=True)
    ty, my = tl(tx), ml(mx)
    np.testing.assert_allclose(my.detach().numpy(), ty.detach().numpy(), rtol=1e-5, atol=1e-6,
                               err_msg=f"seed {seed}")
    (ty * ty).sum().backward()
    (my * my).sum().backward()
    for got, want in [(mx.grad, tx.grad), (ml.weight.grad, tl.weight.grad),
                      (ml.bias.grad, tl.bias.grad)]:
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_module_to_double() -> None:
    m = nn.Linear(3, 2).double()
    assert m.weight.dtype == np.float64
    assert m(nc.tensor(np.ones((1, 3)), dtype=np.float64)).dtype == np.float64
