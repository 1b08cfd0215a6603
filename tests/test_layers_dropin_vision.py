"""Drop-in vision and utility ops: pad (every mode, negative pads), interpolate (nearest,
nearest-exact, linear family, area; size or scale_factor; align_corners), pixel_shuffle,
unfold/fold, one_hot, normalize, cosine_similarity and pairwise_distance, with their layers,
against NumPy, float64 finite differences and PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

import nncore as nc
import nncore.nn.functional as F
from dropin_compare import assert_same_signature, compare_module
from harness import OpSpec, check_op, fresh_rng, torch
from nncore import nn

TF = torch.nn.functional if torch else None


def _spec(name, shapes, kwargs, ref=None, tag="", grad_args=None):
    def make(r):
        return [r.standard_normal(s) for s in shapes]

    return OpSpec(name, getattr(F, name), make, ref, TF and getattr(TF, name), kwargs,
                  grad_args=grad_args, id=f"{name}{tag}-{shapes}-{kwargs}")


# ---- pad ---------------------------------------------------------------------------------------


def pad_ref(x, pad, mode="constant", value=None):
    """np.pad of the positive counts, then a crop for the negative ones."""
    k = len(pad) // 2
    widths = [(0, 0)] * (x.ndim - k) + [(max(pad[2 * i], 0), max(pad[2 * i + 1], 0))
                                        for i in reversed(range(k))]
    crop = [slice(None)] * (x.ndim - k) + [slice(max(-pad[2 * i], 0),
                                                 None if pad[2 * i + 1] >= 0 else pad[2 * i + 1])
                                           for i in reversed(range(k))]
    if mode == "circular" or any(p < 0 for p in pad):
        return None  # NOTE: PyTorch's circular mode wraps within the cropped input: no np.pad
    np_mode = {"constant": "constant", "reflect": "reflect", "replicate": "edge"}[mode]
    extra = dict(constant_values=value or 0.0) if mode == "constant" else {}
    return np.pad(x[tuple(crop)], widths, mode=np_mode, **extra)


def _pad_specs():
    specs = []
    for mode, shape, pad in [("constant", (2, 3, 4), (1, 2)), ("constant", (3,), (0, 3)),
                             ("constant", (2, 3, 4, 5), (1, -2, 0, 3, -1, 1)),
                             ("constant", (1, 2, 2, 3, 2), (1, 0, 1, 1, 0, 2, 1, 1)),
                             ("reflect", (2, 3, 5), (2, 4)), ("reflect", (3, 4, 5), (1, 3, 2, 0)),
                             ("reflect", (1, 2, 4, 5), (-1, 2, 3, 1)),
                             ("reflect", (1, 2, 3, 4, 5), (1, 2, 3, 0, 2, 2)),
                             ("replicate", (2, 3, 5), (3, 7)),
                             ("replicate", (1, 2, 4, 3), (2, -1, 0, 4)),
                             ("replicate", (2, 3, 4, 2), (1, 1, 1, 1, 1, 1)),
                             ("circular", (2, 3, 5), (2, 5)), ("circular", (2, 4, 3), (1, 2, 3, 0)),
                             ("circular", (1, 2, 5, 4), (-1, 2, 2, -1)),
                             ("circular", (1, 1, 3, 2, 4), (1, 1, 2, 1, 0, 3))]:
        def ref(x, pad, mode, value=None):
            return pad_ref(x, pad, mode, value)

        kwargs = dict(pad=pad, mode=mode)
        if mode == "constant" and len(shape) == 3:
            kwargs["value"] = 1.5
        spec = _spec("pad", [shape], kwargs, ref)
        if pad_ref(np.zeros(shape), pad, mode) is None:
            spec.reference = None
        specs.append(spec)
    return specs


@pytest.mark.parametrize("spec", _pad_specs(), ids=str)
def test_pad(spec: OpSpec) -> None:
    check_op(spec)


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_pad_every_count_matches_torch(mode: str) -> None:
    """Every before/after count (negative ones included) on every length up to 6, as a
    gather of positions; PyTorch's errors where it raises. Skipped: circular crops that leave
    nothing to wrap around, where PyTorch reads uninitialised memory."""
    pytest.importorskip("torch")
    for n in range(1, 7):
        x = np.arange(float(n)).reshape(1, 1, n)
        for a in range(-n, n + 1):
            for b in range(-n, n + 1):
                kept = n + min(a, 0) + min(b, 0)
                if mode == "circular" and kept <= 0:
                    continue
                try:
                    expected = TF.pad(torch.tensor(x), (a, b), mode=mode).numpy()
                except RuntimeError:
                    with pytest.raises(RuntimeError, match="pad: "):
                        F.pad(nc.tensor(x), (a, b), mode=mode)
                    continue
                got = F.pad(nc.tensor(x), (a, b), mode=mode).numpy()
                np.testing.assert_array_equal(got, expected, err_msg=f"{mode} n={n} {(a, b)}")


# ---- interpolate ---------------------------------------------------------------------------


def _interp_cases():
    cases = []
    for mode, shape in [("nearest", (2, 3, 5, 4)), ("nearest-exact", (2, 2, 5, 4)),
                        ("nearest", (2, 3, 7)), ("nearest-exact", (1, 2, 7)),
                        ("nearest", (1, 2, 3, 4, 5)), ("bilinear", (2, 2, 5, 4)),
                        ("linear", (2, 3, 7)), ("trilinear", (1, 2, 3, 4, 2)),
                        ("area", (2, 3, 7, 5)), ("area", (1, 2, 9))]:
        dim = len(shape) - 2
        sizes = [dict(scale_factor=2), dict(scale_factor=0.6), dict(scale_factor=1.7),
                 dict(size=(3,) * dim), dict(size=tuple(range(7, 7 + dim))),
                 dict(scale_factor=tuple([1.3, 2.1, 0.75][:dim])),
                 dict(scale_factor=1.5, recompute_scale_factor=True), dict(scale_factor=1.0),
                 dict(size=1)]
        corners = [None] if mode in ("nearest", "nearest-exact", "area") else [False, True]
        for kw in sizes:
            for ac in corners:
                cases.append((mode, shape, dict(kw, mode=mode, align_corners=ac)))
    return cases


def _torch_nearest_backward_differs(mode, shape, kwargs) -> bool:
    """PyTorch 2.13's 1-D and 3-D nearest kernels index without the 2-D kernel's shortcuts
    (output size equal to the input's, or twice it) in forward but with them in backward, so
    for a scale factor that lands on those sizes (1.3 on 3, 2.1 on 4) its gradient is not the
    adjoint of its forward. nncore's is (checked by finite differences)."""
    scale = kwargs.get("scale_factor")
    if mode != "nearest" or len(shape) == 4 or scale is None or kwargs.get(
            "recompute_scale_factor"):
        return False
    scales = scale if isinstance(scale, tuple) else (scale,) * (len(shape) - 2)
    return any(int(n * f) in (n, 2 * n) and f not in (1.0, 2.0)
               for n, f in zip(shape[2:], scales))


@pytest.mark.parametrize(("mode", "shape", "kwargs"), _interp_cases(), ids=str)
def test_interpolate(mode, shape, kwargs) -> None:
    spec = _spec("interpolate", [shape], kwargs)
    if torch is not None and _torch_nearest_backward_differs(mode, shape, kwargs):
        rng, _ = fresh_rng()
        x = rng.standard_normal(shape)
        np.testing.assert_array_equal(F.interpolate(nc.tensor(x), **kwargs).numpy(),
                                      TF.interpolate(torch.tensor(x), **kwargs).numpy())
        spec.torch_fn = None
    check_op(spec)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: F.interpolate(nc.zeros(1, 1, 3), size=4, scale_factor=2), ValueError,
         "only one of size or scale_factor should be defined"),
        (lambda: F.interpolate(nc.zeros(1, 1, 3)), ValueError,
         "either size or scale_factor should be defined"),
        (lambda: F.interpolate(nc.zeros(1, 1, 3), size=4, align_corners=True), ValueError,
         "align_corners option can only be set with the interpolating modes"),
        (lambda: F.interpolate(nc.zeros(1, 1, 3), scale_factor=2, mode="bilinear"),
         NotImplementedError, "Got 3D input, but bilinear mode needs 4D input"),
        (lambda: F.interpolate(nc.zeros(3, 3), size=4), NotImplementedError,
         r"Only 3D, 4D and 5D input Tensors supported \(got 2D\)"),
        (lambda: F.interpolate(nc.zeros(1, 1, 3, 3), size=(2, 3, 4)), ValueError,
         "Input and output must have the same number of spatial dimensions"),
        (lambda: F.interpolate(nc.zeros(1, 1, 3, 3), scale_factor=2, mode="bicubic"),
         NotImplementedError, r"interpolate: mode='bicubic' is not supported by nncore"),
        (lambda: F.interpolate(nc.zeros(1, 1, 3, 3), scale_factor=2, mode="bilinear",
                               antialias=True), NotImplementedError, "antialias=True"),
        (lambda: F.interpolate(nc.zeros(1, 1, 5, 7), scale_factor=0.1), RuntimeError,
         "input and output sizes should be greater than 0"),
        (lambda: F.interpolate(nc.zeros(1, 1, 5, 7), size=3, recompute_scale_factor=True),
         ValueError, "recompute_scale_factor is not meaningful with an explicit size"),
    ],
)
def test_interpolate_errors(call, error, match) -> None:
    with pytest.raises(error, match=match):
        call()


# ---- pixel shuffle, unfold, fold -----------------------------------------------------------


def _shape_specs():
    return [
        _spec("pixel_shuffle", [(2, 12, 3, 5)], dict(upscale_factor=2)),
        _spec("pixel_shuffle", [(2, 2, 9, 3, 1)], dict(upscale_factor=3)),
        _spec("pixel_shuffle", [(4, 1, 1)], dict(upscale_factor=2)),
        _spec("pixel_unshuffle", [(2, 3, 4, 6)], dict(downscale_factor=2)),
        _spec("pixel_unshuffle", [(3, 3, 3)], dict(downscale_factor=3)),
        _spec("unfold", [(2, 3, 5, 6)], dict(kernel_size=(2, 3), dilation=(1, 2), padding=1,
                                             stride=(2, 1))),
        _spec("unfold", [(3, 4, 4)], dict(kernel_size=2)),
        _spec("unfold", [(1, 1, 1, 1)], dict(kernel_size=1)),
        _spec("fold", [(2, 12, 12)], dict(output_size=(4, 5), kernel_size=2)),
        _spec("fold", [(2, 3 * 6, 12)], dict(output_size=(5, 6), kernel_size=(2, 3),
                                            dilation=(1, 2), padding=1, stride=(2, 1))),
        _spec("fold", [(8, 9)], dict(output_size=4, kernel_size=2, stride=1)),
    ]


@pytest.mark.parametrize("spec", _shape_specs(), ids=str)
def test_shape_ops(spec: OpSpec) -> None:
    check_op(spec)


def test_fold_of_unfold_counts_the_blocks_per_pixel() -> None:
    rng, _ = fresh_rng()
    x = rng.standard_normal((2, 3, 6, 5))
    kw = dict(kernel_size=(3, 2), padding=1, stride=(1, 2))
    cols = F.unfold(nc.tensor(x), **kw)
    back = F.fold(cols, (6, 5), **kw).numpy()
    ones = F.fold(F.unfold(nc.ones(1, 1, 6, 5, dtype=nc.float64), **kw), (6, 5), **kw).numpy()
    np.testing.assert_allclose(back, x * ones, rtol=1e-12)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: F.pixel_shuffle(nc.zeros(1, 3, 2, 2), 2),
         r"pixel_shuffle expects its input's 'channel' dimension to be divisible by the square "
         r"of upscale_factor, but input.size\(-3\)=3 is not divisible by 4"),
        (lambda: F.pixel_unshuffle(nc.zeros(1, 3, 3, 2), 2),
         r"pixel_unshuffle expects height to be divisible by downscale_factor, but "
         r"input.size\(-2\)=3"),
        (lambda: F.pixel_shuffle(nc.zeros(4, 2), 2), r"at least 3 dimensions"),
        (lambda: F.fold(nc.zeros(2, 13, 12), (4, 5), 2),
         r"fold: expected size of input's dimension 1 to be divisible by the product of "
         r"kernel_size"),
        (lambda: F.fold(nc.zeros(2, 12, 11), (4, 5), 2),
         r"match the calculated number of sliding blocks 3 \* 4 = 12, but got "
         r"input.size\(2\)=11"),
        (lambda: F.unfold(nc.zeros(2, 3, 1, 1), 2), r"unfold: .*sliding blocks .* too small"),
    ],
)
def test_shape_op_errors(call, match) -> None:
    with pytest.raises(RuntimeError, match=match):
        call()


# ---- one_hot and distances ---------------------------------------------------------------


def test_one_hot_matches_torch() -> None:
    pytest.importorskip("torch")
    rng, _ = fresh_rng()
    idx = rng.integers(0, 5, (3, 4))
    for classes in (-1, 5, 9):
        got = F.one_hot(nc.tensor(idx), classes)
        expected = TF.one_hot(torch.tensor(idx), classes).numpy()
        assert got.dtype == nc.int64
        np.testing.assert_array_equal(got.numpy(), expected)
    for bad, match in [(nc.tensor([-1, 2]), "Class values must be non-negative"),
                       (nc.tensor([1.0, 2.0]), "only applicable to index tensor of type Long"),
                       (nc.tensor([1, 2], dtype=nc.int32), "only applicable to index tensor"),
                       (nc.tensor(np.zeros(0, np.int64)), "Can not infer total number of")]:
        with pytest.raises(RuntimeError, match=match):
            F.one_hot(bad)
    with pytest.raises(RuntimeError, match="Class values must be smaller than num_classes"):
        F.one_hot(nc.tensor([1, 2]), 2)


def _distance_specs():
    specs = []
    for p in (2.0, 1.0, 3.0, 0.5, float("inf")):
        specs.append(_spec("pairwise_distance", [(4, 5), (4, 5)], dict(p=p)))
        specs.append(_spec("normalize", [(3, 4, 2)], dict(p=p, dim=1)))
    specs += [
        _spec("pairwise_distance", [(4, 5), (5,)], dict(keepdim=True), tag="-broadcast"),
        _spec("pairwise_distance", [(6,), (6,)], dict(eps=1e-3), tag="-1d"),
        _spec("normalize", [(5,)], dict(dim=0)),
        _spec("normalize", [(2, 3, 4)], dict(dim=-1, eps=1e-2)),
        _spec("cosine_similarity", [(4, 5), (4, 5)], {}),
        _spec("cosine_similarity", [(2, 3, 4), (2, 1, 4)], dict(dim=-1), tag="-broadcast"),
        _spec("cosine_similarity", [(3, 6), (3, 6)], dict(dim=0, eps=1e-3)),
    ]
    return specs


@pytest.mark.parametrize("spec", _distance_specs(), ids=str)
def test_distances(spec: OpSpec) -> None:
    check_op(spec)


def test_cosine_similarity_of_a_zero_vector_as_torch() -> None:
    pytest.importorskip("torch")
    rng, _ = fresh_rng()
    a, b = np.zeros((2, 3)), rng.standard_normal((2, 3))
    x, y = nc.tensor(a, requires_grad=True), nc.tensor(b, requires_grad=True)
    tx, ty = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    out, tout = F.cosine_similarity(x, y), TF.cosine_similarity(tx, ty)
    out.sum().backward()
    tout.sum().backward()
    np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), atol=1e-15)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(y.grad.numpy(), ty.grad.numpy(), atol=1e-15)


@pytest.mark.parametrize("name", ["pad", "interpolate", "normalize", "unfold", "fold"])
def test_signatures_match_torch(name: str) -> None:
    pytest.importorskip("torch")
    assert_same_signature(getattr(F, name), getattr(TF, name))


# ---- layers --------------------------------------------------------------------------------


_LAYERS = [
    ("ZeroPad2d", ((1, 2, 0, 3),), (2, 3, 4, 5)),
    ("ZeroPad1d", (2,), (2, 3, 4)),
    ("ConstantPad1d", ((2, 1), 3.5), (2, 4)),
    ("ConstantPad2d", (1, -0.5), (2, 3, 4, 5)),
    ("ReflectionPad1d", ((3, 1),), (2, 3, 5)),
    ("ReflectionPad2d", (2,), (2, 3, 4, 5)),
    ("ReplicationPad1d", ((3, 1),), (2, 3, 5)),
    ("ReplicationPad2d", ((1, 0, 2, 3),), (3, 4, 5)),
    ("CircularPad1d", (2,), (2, 3, 5)),
    ("CircularPad2d", ((1, 2, 2, 1),), (1, 3, 4, 5)),
    ("ZeroPad3d", ((1, 0, 2, 1, 0, 1),), (2, 2, 3, 4, 2)),
    ("ConstantPad3d", (1, 2.5), (2, 3, 4, 2)),
    ("ReflectionPad3d", ((1, 0, 2, 1, 1, 1),), (1, 2, 3, 4, 3)),
    ("ReplicationPad3d", (2,), (2, 3, 2, 3)),
    ("CircularPad3d", ((1, 2, 0, 1, 2, 0),), (1, 2, 3, 4, 3)),
    ("Upsample", (None, 2.0, "nearest"), (2, 3, 4, 5)),
    ("Upsample", ((7, 9), None, "bilinear", True), (2, 3, 4, 5)),
    ("Upsample", (None, 1.5, "linear"), (2, 3, 5)),
    ("UpsamplingNearest2d", ((6, 7),), (1, 2, 4, 5)),
    ("UpsamplingBilinear2d", (None, 2), (1, 2, 4, 5)),
    ("PixelShuffle", (2,), (2, 8, 3, 3)),
    ("PixelUnshuffle", (2,), (2, 2, 4, 6)),
    ("Unfold", ((2, 3), 1, 1, 2), (2, 3, 5, 6)),
    ("Fold", ((4, 5), 2), (2, 12, 12)),
    ("PairwiseDistance", (3.0, 1e-4, True), None),
    ("CosineSimilarity", (0, 1e-6), None),
]


@pytest.mark.parametrize(("name", "args", "shape"), _LAYERS)
def test_layer_matches_torch(name, args, shape) -> None:
    pytest.importorskip("torch")
    ours, theirs = getattr(nn, name)(*args), getattr(torch.nn, name)(*args)
    assert repr(ours) == repr(theirs)
    rng, _ = fresh_rng()
    inputs = [rng.standard_normal(shape)] if shape else [rng.standard_normal((4, 3)),
                                                          rng.standard_normal((4, 3))]
    compare_module(ours, theirs, inputs)
