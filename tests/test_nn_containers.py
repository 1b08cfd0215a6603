"""nn's containers (Sequential, ModuleList, ModuleDict, ParameterList, ParameterDict) against
PyTorch's list and dict behaviour, and the ``nncore.nn.modules`` import paths."""

from __future__ import annotations

from collections import OrderedDict

import pytest

import nncore as nc
from nncore import nn
from test_nn_api import _both, _error, _lib

torch = pytest.importorskip("torch")


# ---- containers -----------------------------------------------------------------------------


def _names(seq):
    return [type(m).__name__ for m in seq]


def test_sequential_list_behaviour_matches_torch() -> None:
    def scenario(which):
        _, nn_ = _lib(which)
        s = nn_.Sequential(nn_.ReLU(), nn_.Tanh(), nn_.Sigmoid())
        rec = [_names(s[1:]), type(s[-1]).__name__, len(s), _error(lambda: s[3])]
        s.append(nn_.Identity())
        s.insert(1, nn_.GELU())
        s.insert(-1, nn_.ELU())
        s.extend([nn_.SiLU()])
        rec.append((_names(s), list(s._modules)))
        rec.append(type(s.pop(0)).__name__)
        del s[1:3]
        rec.append((_names(s), list(s._modules)))
        s[0] = nn_.Softsign()
        rec.append(_names(s + nn_.Sequential(nn_.ReLU())))
        rec.append(_names(s * 2))
        rec.append(_error(lambda: s + nn_.ReLU()))
        rec.append(_error(lambda: s * 0))
        s += nn_.Sequential(nn_.Tanh())
        rec.append(_names(s))
        named = nn_.Sequential(OrderedDict([("x", nn_.ReLU()), ("y", nn_.Tanh())]))
        rec.append(list(named[1:]._modules))
        rec.append(_error(lambda: s.insert(10, nn_.ReLU())))
        rec.append([k for k in dir(s) if k.isdigit()])
        return rec

    _both(scenario)


def test_module_list_dict_behaviour_matches_torch() -> None:
    def scenario(which):
        _, nn_ = _lib(which)
        ml = nn_.ModuleList([nn_.Linear(2, 2), nn_.Linear(2, 2), nn_.ReLU()])
        rec = [repr(ml), _names(ml[:2]), type(ml[-1]).__name__]
        ml.insert(1, nn_.Tanh())
        ml.append(nn_.ReLU())
        ml.extend([nn_.Tanh()])
        ml += [nn_.GELU()]
        rec.append((_names(ml), list(ml._modules)))
        del ml[0]
        del ml[::2]
        rec.append((_names(ml), list(ml._modules)))
        rec.append(type(ml.pop(-1)).__name__)
        ml[0] = nn_.SiLU()
        rec.append(_names(ml + nn_.ModuleList([nn_.ReLU()])))
        rec.append(_error(lambda: ml.extend(3)))
        rec.append(_error(lambda: ml[10]))
        md = nn_.ModuleDict({"b": nn_.ReLU(), "a": nn_.Tanh()})
        md.update([("c", nn_.GELU())])
        md["d"] = nn_.SiLU()
        rec.append((list(md), list(md.keys()), _names(md.values()), "a" in md, len(md)))
        rec.append(type(md.pop("b")).__name__)
        rec.append(_error(lambda: md.update([("x", nn_.ReLU(), 3)])))
        rec.append(_error(lambda: md.update(5)))
        rec.append([n for n, _ in md.named_children()])
        md.clear()
        rec.append(len(md))
        return rec

    _both(scenario)


def test_parameter_list_and_dict_match_torch() -> None:
    def scenario(which):
        lib, nn_ = _lib(which)
        pl = nn_.ParameterList([nn_.Parameter(lib.zeros(2, 3)), lib.ones(4)])
        pl.append(lib.zeros(1))
        rec = [[type(p).__name__ for p in pl], len(pl), [n for n, _ in pl.named_parameters()],
               len(pl[1:]), _error(lambda: pl(1)), _error(lambda: pl[5])]
        pd = nn_.ParameterDict({"b": lib.zeros(2), "a": nn_.Parameter(lib.ones(1))})
        pd["c"] = lib.zeros(3)
        pd.update([("d", lib.ones(1))])
        rec.append((list(pd), [n for n, _ in pd.named_parameters()], "a" in pd))
        rec.append(tuple(pd.pop("b").shape))
        rec.append(pd.popitem()[0])
        rec.append(pd.get("zz", "default"))
        rec.append(list(pd.copy()))
        rec.append(list(pd | nn_.ParameterDict({"z": lib.zeros(1)})))
        rec.append(_error(lambda: pd[3]))
        rec.append([type(v).__name__ for v in pd.values()])
        return [r if not isinstance(r, list) else [x.replace("Tensor", "P") if isinstance(x, str)
                                                   else x for x in r] for r in rec]

    _both(scenario)


def test_container_reprs_match_torch() -> None:
    for build in (lambda n: n.ModuleList([n.Linear(2, 2)] * 3 + [n.ReLU(), n.ReLU(), n.Tanh()]),
                  lambda n: n.Sequential(n.Linear(2, 3), n.Sequential(n.ReLU(), n.Flatten())),
                  lambda n: n.ModuleDict({"a": n.Linear(1, 1)}), lambda n: n.ModuleList(),
                  lambda n: n.ParameterList([n.Parameter(_zeros(n, 2, 3)), 3]),
                  lambda n: n.ParameterDict({"w": n.Parameter(_zeros(n, 1))})):
        assert repr(build(nn)) == repr(build(torch.nn))


def _zeros(nn_, *shape):
    return (nc if nn_ is nn else torch).zeros(*shape)


# ---- import paths ---------------------------------------------------------------------------


def test_modules_paths_resolve_to_nncore_classes() -> None:
    from nncore.nn.modules.activation import MultiheadAttention, ReLU
    from nncore.nn.modules.container import (
        ModuleDict,
        ModuleList,
        ParameterDict,
        ParameterList,
        Sequential,
    )
    from nncore.nn.modules.dropout import AlphaDropout, Dropout, Dropout1d, Dropout2d
    from nncore.nn.modules.flatten import Flatten, Unflatten
    from nncore.nn.modules.linear import Linear, NonDynamicallyQuantizableLinear
    from nncore.nn.modules.module import Module
    from nncore.nn.modules.normalization import LayerNorm, RMSNorm
    from nncore.nn.modules.rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNBase, RNNCell
    from nncore.nn.modules.sparse import Embedding
    from nncore.nn.modules.transformer import (
        Transformer,
        TransformerDecoder,
        TransformerDecoderLayer,
        TransformerEncoder,
        TransformerEncoderLayer,
    )
    from nncore.nn.modules.utils import _pair, consume_prefix_in_state_dict_if_present

    assert Linear is nn.Linear and Module is nn.Module and ReLU is nn.ReLU
    assert issubclass(NonDynamicallyQuantizableLinear, Linear)
    assert type(nn.MultiheadAttention(4, 2).out_proj) is NonDynamicallyQuantizableLinear
    assert MultiheadAttention is nn.MultiheadAttention and Sequential is nn.Sequential
    for cls in (ModuleList, ModuleDict, ParameterList, ParameterDict, Dropout, Dropout1d,
                Dropout2d, AlphaDropout, Flatten, Unflatten, LayerNorm, RMSNorm, Embedding, GRU,
                LSTM, RNN, GRUCell, LSTMCell, RNNCell, Transformer, TransformerDecoder,
                TransformerDecoderLayer, TransformerEncoder, TransformerEncoderLayer):
        assert getattr(nn, cls.__name__) is cls
    assert issubclass(nn.LSTM, RNNBase)
    assert nn.modules.Linear is nn.Linear and nn.modules.linear.Identity is nn.Identity
    assert "Linear" in nn.modules.linear.__all__ and "Linear" in dir(nn.modules.linear)
    assert _pair(3) == (3, 3) and _pair((1, 2)) == (1, 2)
    sd = OrderedDict([("module.w", 1), ("b", 2)])
    consume_prefix_in_state_dict_if_present(sd, "module.")
    assert list(sd) == ["b", "w"] or set(sd) == {"w", "b"}


def test_missing_pytorch_classes_raise_not_implemented_and_hasattr_is_false() -> None:
    import nncore.nn.modules.adaptive as adaptive
    import nncore.nn.modules.fold as fold

    assert fold.Fold is nn.Fold  # a class added to nncore.nn appears on its modules path
    assert not hasattr(adaptive, "AdaptiveLogSoftmaxWithLoss")
    with pytest.raises(NotImplementedError, match="torch.nn.modules.adaptive."
                                                  "AdaptiveLogSoftmaxWithLoss is not supported"):
        adaptive.AdaptiveLogSoftmaxWithLoss  # noqa: B018
    with pytest.raises(ImportError):
        from nncore.nn.modules.adaptive import AdaptiveLogSoftmaxWithLoss  # noqa: F401
    with pytest.raises(AttributeError, match="has no attribute 'Nonsense'"):
        nn.modules.linear.Nonsense  # noqa: B018
    with pytest.raises(NotImplementedError, match="weight_norm"):
        nn.utils.weight_norm  # noqa: B018
    with pytest.raises(NotImplementedError, match="torch.nn.LazyLinear is not supported"):
        nn.LazyLinear  # noqa: B018
    with pytest.raises(NotImplementedError, match="torch.nn.functional.ctc_loss is not supported"):
        nn.functional.ctc_loss  # noqa: B018
    assert not hasattr(nn, "LazyLinear") and nn.parallel.DataParallel is not None
