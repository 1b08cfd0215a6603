"""Transformer layers with PyTorch's names, arguments, parameter layouts and initialisation:
TransformerEncoderLayer, TransformerDecoderLayer, TransformerEncoder, TransformerDecoder,
Transformer, and a sinusoidal PositionalEncoding (an nncore extension). MultiheadAttention lives
in ``nncore.nn.attention``.
"""

from __future__ import annotations

import copy
import math
from typing import Any, Callable

import numpy as np

from nncore import functional as F
from nncore.nn import init
from nncore.nn._factory import param_dtype
from nncore.nn.activation import GELU, ReLU
from nncore.nn.attention import MultiheadAttention
from nncore.nn.container import ModuleList
from nncore.nn.dropout import Dropout
from nncore.nn.linear import Linear
from nncore.nn.module import Module
from nncore.nn.norm import LayerNorm
from nncore.tensor import Tensor

__all__ = ["MultiheadAttention", "PositionalEncoding", "Transformer", "TransformerDecoder",
           "TransformerDecoderLayer", "TransformerEncoder", "TransformerEncoderLayer"]


def _activation(op: str, activation: Any) -> Callable[[Tensor], Tensor]:
    if isinstance(activation, str):
        if activation == "relu":
            return F.relu
        if activation == "gelu":
            return F.gelu
        raise RuntimeError(f"{op}: activation should be relu/gelu, not {activation}")
    if callable(activation):
        return activation
    raise TypeError(f"{op}: activation must be 'relu', 'gelu' or a callable, got "
                    f"{type(activation).__name__}")


def _relu_or_gelu(activation: Any) -> int:
    """PyTorch's ``activation_relu_or_gelu`` flag: 1 for ReLU, 2 for GELU, else 0."""
    if activation is F.relu or isinstance(activation, ReLU):
        return 1
    if activation is F.gelu or isinstance(activation, GELU):
        return 2
    return 0


def _hidden(layer: Module, x: Tensor) -> Tensor:
    """activation(linear1(x)) of a layer's feed-forward block; linear1 and a ReLU run as one
    native op when linear1 is a plain Linear."""
    act = layer.activation
    if (act is F.relu or type(act) is ReLU) and type(layer.linear1) is Linear:
        return F.linear_relu(x, layer.linear1.weight, layer.linear1.bias)
    return act(layer.linear1(x))


def _add_norm(norm: Module, x: Tensor, y: Tensor) -> Tensor:
    """norm(x + y) of a post-norm residual connection; a LayerNorm runs as one native op with
    the sum."""
    if type(norm) is LayerNorm and x.shape == y.shape and x.dtype == y.dtype:
        return F.add_layer_norm(x, y, norm.normalized_shape, norm.weight, norm.bias, norm.eps)
    return norm(x + y)


def _mask_array(mask: Any) -> np.ndarray:
    return mask._array if isinstance(mask, Tensor) else np.asarray(mask)


def _detect_is_causal_mask(mask: Any, is_causal: bool | None, size: int | None) -> bool:
    """``is_causal`` when given; otherwise whether ``mask`` is the (size, size) causal mask
    (-inf, or True, above the diagonal), as PyTorch detects it."""
    if is_causal is not None or mask is None:
        return bool(is_causal)
    m = _mask_array(mask)
    sz = size if size is not None else m.shape[-2]
    if m.shape != (sz, sz):
        return False
    upper = np.triu(np.ones((sz, sz), dtype=bool), 1)
    if m.dtype == np.bool_:
        return bool(np.array_equal(m, upper))
    return bool(np.all(np.where(upper, m == -np.inf, m == 0)))


def _seq_len(x: Tensor, batch_first: bool) -> int:
    return x.shape[0] if x.ndim == 2 else x.shape[1 if batch_first else 0]


class TransformerEncoderLayer(Module):
    """Self-attention then a feed-forward block, each with a residual connection and LayerNorm
    (after it by default, before it with ``norm_first``), as PyTorch's layer.

    Args:
        d_model: model width.
        nhead: attention heads.
        dim_feedforward: hidden width of the feed-forward block.
        dropout: dropout probability (attention weights, feed-forward, residual branches).
        activation: "relu", "gelu" or a callable (a Module is registered as a child).
        layer_norm_eps: LayerNorm eps.
        batch_first: inputs are (N, L, E) instead of (L, N, E).
        norm_first: pre-norm (LayerNorm before each block) instead of post-norm.
        bias: learn biases in the linear layers and LayerNorms.
        device: the CPU (the only device).
        dtype: parameter dtype (``nncore.get_default_dtype()`` when None).
    Shape:
        src (L, N, E), (N, L, E) when batch_first, or (L, E) -> output of the same shape.
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048,
                 dropout: float = 0.1, activation: Any = F.relu, layer_norm_eps: float = 1e-5,
                 batch_first: bool = False, norm_first: bool = False, bias: bool = True,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        dt = param_dtype("TransformerEncoderLayer", device, dtype)
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            batch_first=batch_first, dtype=dt)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, dtype=dt)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, dtype=dt)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dt)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dt)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        activation = _activation("TransformerEncoderLayer", activation)
        self.activation_relu_or_gelu = _relu_or_gelu(activation)
        self.activation = activation

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        self.__dict__.setdefault("activation", F.relu)

    def forward(self, src: Tensor, src_mask: Any = None, src_key_padding_mask: Any = None,
                is_causal: bool = False) -> Tensor:
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            return x + self._ff_block(self.norm2(x))
        x = _add_norm(self.norm1, x, self._sa_block(x, src_mask, src_key_padding_mask,
                                                     is_causal))
        return _add_norm(self.norm2, x, self._ff_block(x))

    def _sa_block(self, x: Tensor, attn_mask: Any, key_padding_mask: Any,
                  is_causal: bool) -> Tensor:
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                           need_weights=False, is_causal=bool(is_causal))[0]
        return self.dropout1(x)

    def _ff_block(self, x: Tensor) -> Tensor:
        return self.dropout2(self.linear2(self.dropout(_hidden(self, x))))


class TransformerDecoderLayer(Module):
    """Self-attention, attention over the encoder's memory, then a feed-forward block, each with
    a residual connection and LayerNorm (post-norm, or pre-norm with ``norm_first``).

    Args:
        d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps: as
            TransformerEncoderLayer.
        batch_first, norm_first, bias, device, dtype: as TransformerEncoderLayer.
    Shape:
        tgt (T, N, E), memory (S, N, E) ((N, T, E), (N, S, E) when batch_first) -> like tgt.
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048,
                 dropout: float = 0.1, activation: Any = F.relu, layer_norm_eps: float = 1e-5,
                 batch_first: bool = False, norm_first: bool = False, bias: bool = True,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        dt = param_dtype("TransformerDecoderLayer", device, dtype)
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            batch_first=batch_first, dtype=dt)
        self.multihead_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                                 batch_first=batch_first, dtype=dt)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, dtype=dt)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, dtype=dt)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dt)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dt)
        self.norm3 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dt)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.dropout3 = Dropout(dropout)
        self.activation = _activation("TransformerDecoderLayer", activation)

    def __setstate__(self, state: dict) -> None:
        state.setdefault("activation", F.relu)
        super().__setstate__(state)

    def forward(self, tgt: Tensor, memory: Tensor, tgt_mask: Any = None, memory_mask: Any = None,
                tgt_key_padding_mask: Any = None, memory_key_padding_mask: Any = None,
                tgt_is_causal: bool = False, memory_is_causal: bool = False) -> Tensor:
        x = tgt
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            x = x + self._mha_block(self.norm2(x), memory, memory_mask, memory_key_padding_mask,
                                    memory_is_causal)
            return x + self._ff_block(self.norm3(x))
        x = _add_norm(self.norm1, x, self._sa_block(x, tgt_mask, tgt_key_padding_mask,
                                                     tgt_is_causal))
        x = _add_norm(self.norm2, x, self._mha_block(x, memory, memory_mask,
                                                     memory_key_padding_mask, memory_is_causal))
        return _add_norm(self.norm3, x, self._ff_block(x))

    def _sa_block(self, x: Tensor, attn_mask: Any, key_padding_mask: Any,
                  is_causal: bool) -> Tensor:
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                           need_weights=False, is_causal=bool(is_causal))[0]
        return self.dropout1(x)

    def _mha_block(self, x: Tensor, mem: Tensor, attn_mask: Any, key_padding_mask: Any,
                   is_causal: bool) -> Tensor:
        x = self.multihead_attn(x, mem, mem, attn_mask=attn_mask,
                                key_padding_mask=key_padding_mask, need_weights=False,
                                is_causal=bool(is_causal))[0]
        return self.dropout2(x)

    def _ff_block(self, x: Tensor) -> Tensor:
        return self.dropout3(self.linear2(self.dropout(_hidden(self, x))))


def _clones(layer: Module, n: int, op: str) -> ModuleList:
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"{op}: num_layers must be a positive integer, got {n}")
    return ModuleList(copy.deepcopy(layer) for _ in range(n))


class TransformerEncoder(Module):
    """``num_layers`` deep copies of ``encoder_layer`` (identical initial weights, as PyTorch),
    then an optional final norm.

    Args:
        encoder_layer: the TransformerEncoderLayer to copy.
        num_layers: number of layers.
        norm: a final normalisation module, or None.
        enable_nested_tensor, mask_check: accepted for PyTorch compatibility (nncore has no
            nested-tensor fast path).
    Shape:
        as the layer.
    """

    def __init__(self, encoder_layer: Module, num_layers: int, norm: Module | None = None,
                 enable_nested_tensor: bool = True, mask_check: bool = True) -> None:
        super().__init__()
        self.layers = _clones(encoder_layer, num_layers, "TransformerEncoder")
        self.num_layers = num_layers
        self.norm = norm
        self.enable_nested_tensor = enable_nested_tensor
        self.use_nested_tensor = False
        self.mask_check = mask_check

    def forward(self, src: Tensor, mask: Any = None, src_key_padding_mask: Any = None,
                is_causal: bool | None = None) -> Tensor:
        """Run the layers in turn.

        Args:
            src: the input sequence.
            mask: (S, S) or (N * nhead, S, S) attention mask (True or -inf hides a key).
            src_key_padding_mask: (N, S) or (S,) key padding mask.
            is_causal: the mask is the causal mask (None: detect it).
        Returns:
            Tensor shaped like ``src``.
        """
        first = self.layers[0]
        batch_first = getattr(getattr(first, "self_attn", None), "batch_first", False)
        causal = _detect_is_causal_mask(mask, is_causal, _seq_len(src, batch_first))
        x = src
        for layer in self.layers:
            x = layer(x, src_mask=mask, is_causal=causal,
                      src_key_padding_mask=src_key_padding_mask)
        return self.norm(x) if self.norm is not None else x


class TransformerDecoder(Module):
    """``num_layers`` deep copies of ``decoder_layer``, then an optional final norm.

    Args:
        decoder_layer: the TransformerDecoderLayer to copy.
        num_layers: number of layers.
        norm: a final normalisation module, or None.
    Shape:
        as the layer.
    """

    def __init__(self, decoder_layer: Module, num_layers: int, norm: Module | None = None
                 ) -> None:
        super().__init__()
        self.layers = _clones(decoder_layer, num_layers, "TransformerDecoder")
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, tgt: Tensor, memory: Tensor, tgt_mask: Any = None, memory_mask: Any = None,
                tgt_key_padding_mask: Any = None, memory_key_padding_mask: Any = None,
                tgt_is_causal: bool | None = None, memory_is_causal: bool = False) -> Tensor:
        """Run the layers in turn over ``tgt`` with the encoder's ``memory``.

        Returns:
            Tensor shaped like ``tgt``.
        """
        first = self.layers[0]
        batch_first = getattr(getattr(first, "self_attn", None), "batch_first", False)
        causal = _detect_is_causal_mask(tgt_mask, tgt_is_causal, _seq_len(tgt, batch_first))
        x = tgt
        for layer in self.layers:
            x = layer(x, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                      tgt_key_padding_mask=tgt_key_padding_mask,
                      memory_key_padding_mask=memory_key_padding_mask, tgt_is_causal=causal,
                      memory_is_causal=memory_is_causal)
        return self.norm(x) if self.norm is not None else x


class Transformer(Module):
    """The encoder-decoder Transformer of "Attention Is All You Need", with PyTorch's arguments
    and parameter names (so a PyTorch ``state_dict`` loads as it is); every parameter of two or
    more dims is re-initialised xavier-uniform, as PyTorch does.

    Args:
        d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps: as
            TransformerEncoderLayer.
        batch_first, norm_first, bias: as TransformerEncoderLayer.
        num_encoder_layers, num_decoder_layers: stack depths.
        custom_encoder, custom_decoder: modules to use instead of the standard stacks.
        device: the CPU (the only device).
        dtype: parameter dtype (``nncore.get_default_dtype()`` when None).
    Shape:
        src (S, N, E), tgt (T, N, E) ((N, S, E), (N, T, E) when batch_first; unbatched (S, E),
        (T, E)) -> output like tgt.
    """

    def __init__(self, d_model: int = 512, nhead: int = 8, num_encoder_layers: int = 6,
                 num_decoder_layers: int = 6, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation: Any = F.relu, custom_encoder: Any = None, custom_decoder: Any = None,
                 layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        dt = param_dtype("Transformer", device, dtype)
        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            layer = TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout, activation,
                                            layer_norm_eps, batch_first, norm_first, bias,
                                            dtype=dt)
            norm = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dt)
            self.encoder = TransformerEncoder(layer, num_encoder_layers, norm)
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            layer = TransformerDecoderLayer(d_model, nhead, dim_feedforward, dropout, activation,
                                            layer_norm_eps, batch_first, norm_first, bias,
                                            dtype=dt)
            norm = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dt)
            self.decoder = TransformerDecoder(layer, num_decoder_layers, norm)
        self._reset_parameters()
        self.d_model, self.nhead, self.batch_first = d_model, nhead, batch_first

    def forward(self, src: Tensor, tgt: Tensor, src_mask: Any = None, tgt_mask: Any = None,
                memory_mask: Any = None, src_key_padding_mask: Any = None,
                tgt_key_padding_mask: Any = None, memory_key_padding_mask: Any = None,
                src_is_causal: bool | None = None, tgt_is_causal: bool | None = None,
                memory_is_causal: bool = False) -> Tensor:
        """Encode ``src``, then decode ``tgt`` attending to it.

        Args:
            src, tgt: the sequences (see the class Shape).
            src_mask (S, S), tgt_mask (T, T), memory_mask (T, S): attention masks (True or
                -inf hides a key; float masks are added).
            src_key_padding_mask (N, S), tgt_key_padding_mask (N, T): keys to ignore.
            memory_key_padding_mask (N, S): memory keys to ignore.
            src_is_causal, tgt_is_causal: the mask is causal (None: detect it).
            memory_is_causal: memory_mask is causal.
        Returns:
            Tensor shaped like ``tgt``.
        """
        for name, t in (("src", src), ("tgt", tgt)):
            if not isinstance(t, Tensor):
                raise TypeError(f"Transformer: {name} must be a Tensor, got {type(t).__name__}")
        batched = src.ndim == 3
        b = 0 if self.batch_first else 1
        if batched and (tgt.ndim != 3 or src.shape[b] != tgt.shape[b]):
            raise RuntimeError("the batch number of src and tgt must be equal")
        if src.shape[-1] != self.d_model or tgt.shape[-1] != self.d_model:
            raise RuntimeError("the feature number of src and tgt must be equal to d_model")
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask,
                              is_causal=src_is_causal)
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                            tgt_key_padding_mask=tgt_key_padding_mask,
                            memory_key_padding_mask=memory_key_padding_mask,
                            tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal)

    @staticmethod
    def generate_square_subsequent_mask(sz: int, device: Any = None, dtype: Any = None
                                        ) -> Tensor:
        """The (sz, sz) causal mask: -inf above the diagonal, 0 elsewhere.

        Returns:
            A float Tensor (the default dtype when ``dtype`` is None).
        """
        dt = param_dtype("generate_square_subsequent_mask", device, dtype)
        return Tensor._wrap(np.triu(np.full((sz, sz), -np.inf, dtype=dt), 1))

    def _reset_parameters(self) -> None:
        for p in self.parameters():
            if p.dim() > 1:
                init.xavier_uniform_(p)


class PositionalEncoding(Module):
    """Adds the sinusoidal position code of "Attention Is All You Need", then dropout:
    pe[pos, 2i] = sin(pos / 10000^(2i / d_model)), pe[pos, 2i + 1] = cos(pos / 10000^(2i /
    d_model)).

    Args:
        d_model: model width.
        dropout: dropout probability after the addition.
        max_len: longest sequence supported.
        batch_first: inputs are (N, L, E) instead of (L, N, E).
        device: the CPU (the only device).
        dtype: dtype of the code (a non-persistent buffer ``pe`` of shape (max_len, d_model));
            ``nncore.get_default_dtype()`` when None.
    Shape:
        input (L, N, E) or (N, L, E) -> same shape.
    """

    def __init__(self, d_model: int, dropout: float = 0.1, max_len: int = 5000,
                 batch_first: bool = False, device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        dt = param_dtype("PositionalEncoding", device, dtype)
        pos = np.arange(max_len, dtype=np.float64)[:, None]
        div = np.exp(np.arange(0, d_model, 2, dtype=np.float64) * (-math.log(10000.0) / d_model))
        pe = np.zeros((max_len, d_model))
        pe[:, 0::2] = np.sin(pos * div)
        pe[:, 1::2] = np.cos(pos * div[: d_model // 2])
        self.register_buffer("pe", Tensor._wrap(pe.astype(dt)), persistent=False)
        self.dropout = Dropout(dropout)
        self.batch_first = batch_first
        self.d_model, self.max_len = d_model, max_len

    def forward(self, x: Tensor) -> Tensor:
        length = x.shape[1] if self.batch_first else x.shape[0]
        if x.ndim != 3 or x.shape[-1] != self.d_model or length > self.max_len:
            raise ValueError(f"PositionalEncoding: expected input (L, N, {self.d_model}) or "
                             f"(N, L, {self.d_model}) with L <= {self.max_len}, got shape "
                             f"{x.shape}")
        pe = self.pe._array[:length]
        return self.dropout(x + Tensor._wrap(pe if self.batch_first else pe[:, None, :]))

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, max_len={self.max_len}, batch_first={self.batch_first}"
