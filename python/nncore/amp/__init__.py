"""``nncore.amp``: PyTorch's automatic mixed precision API.

``autocast`` is accepted and computes in the tensors' own dtypes: nncore's kernels run in float32
and float64 only, so there is no lower-precision path to switch to (results are the float32 ones,
a little more accurate than bfloat16 autocast). ``GradScaler`` is the real loss-scaling algorithm
(scale, unscale and skip steps with inf/NaN gradients, grow/back off the scale); for the CUDA
device it disables itself with PyTorch's warning, as PyTorch does on a machine without a GPU.
"""

from __future__ import annotations

import functools
import warnings
from types import SimpleNamespace
from typing import Any, Callable

import numpy as np

from nncore import devices, dtypes

__all__ = ["GradScaler", "autocast", "custom_bwd", "custom_fwd", "is_autocast_available"]


def is_autocast_available(device_type: str) -> bool:
    return device_type == "cpu"


class autocast:  # noqa: N801 (PyTorch's name)
    """Context manager and decorator for mixed precision; see the module docstring.

    Args:
        device_type: ``"cpu"`` or ``"cuda"`` (CUDA is unavailable: disabled with a warning).
        dtype: the lower-precision dtype asked for (float16/bfloat16); checked, not used.
        enabled: whether autocasting is requested.
    """

    def __init__(self, device_type: str = "cpu", dtype: Any = None, enabled: bool = True,
                 cache_enabled: bool | None = None) -> None:
        if not isinstance(device_type, str):
            raise ValueError(f"autocast: expected `device_type` of type `str`, got "
                             f"{type(device_type).__name__}")
        devices.device(device_type)
        if dtype is not None and dtype not in (dtypes.float16, dtypes.bfloat16, dtypes.float32):
            raise RuntimeError(f"autocast: unsupported dtype {dtype!r}")
        self.device = device_type
        self.fast_dtype = dtypes.bfloat16 if dtype is None and device_type == "cpu" else dtype
        self._enabled = bool(enabled)
        if enabled and device_type != "cpu":
            warnings.warn(f"User provided device_type of '{device_type}', but CUDA is not "
                          f"available. Disabling", stacklevel=2)
            self._enabled = False

    def __enter__(self) -> autocast:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def __call__(self, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self:
                return fn(*args, **kwargs)

        return wrapper


def custom_fwd(fwd: Callable | None = None, *, device_type: str = "cpu",
               cast_inputs: Any = None) -> Callable:
    if fwd is None:
        return functools.partial(custom_fwd, device_type=device_type, cast_inputs=cast_inputs)
    return fwd


def custom_bwd(bwd: Callable | None = None, *, device_type: str = "cpu") -> Callable:
    if bwd is None:
        return functools.partial(custom_bwd, device_type=device_type)
    return bwd


class GradScaler:
    """Loss scaling for mixed-precision training (PyTorch's ``torch.amp.GradScaler``).

    Args:
        device: ``"cpu"``, or ``"cuda"`` (unavailable: the scaler disables itself and warns).
        init_scale: the first scale factor.
        growth_factor: the scale is multiplied by this after ``growth_interval`` steps without
            inf/NaN gradients.
        backoff_factor: the scale is multiplied by this after a step with inf/NaN gradients.
        growth_interval: steps without inf/NaN before the scale grows.
        enabled: False makes every method a pass-through.
    """

    def __init__(self, device: str = "cuda", init_scale: float = 2.0**16,
                 growth_factor: float = 2.0, backoff_factor: float = 0.5,
                 growth_interval: int = 2000, enabled: bool = True) -> None:
        self._device = str(device)
        self._enabled = bool(enabled)
        if self._enabled and devices.device(device).type != "cpu":
            # NOTE: point the warning at the user's line, through _CudaGradScaler's __init__.
            depth = 3 if isinstance(self, _CudaGradScaler) else 2
            warnings.warn("torch.cuda.amp.GradScaler is enabled, but CUDA is not available.  "
                          "Disabling.", stacklevel=depth)
            self._enabled = False
        if growth_factor <= 1.0:
            raise ValueError("The growth factor must be > 1.0.")
        if not 0.0 < backoff_factor < 1.0:
            raise ValueError("The backoff factor must be < 1.0.")
        self._scale = float(init_scale)
        self._growth_factor, self._backoff_factor = float(growth_factor), float(backoff_factor)
        self._growth_interval = int(growth_interval)
        self._growth_tracker = 0
        self._per_optimizer: dict[int, dict[str, Any]] = {}

    def is_enabled(self) -> bool:
        return self._enabled

    def get_scale(self) -> float:
        return self._scale if self._enabled else 1.0

    def get_growth_factor(self) -> float:
        return self._growth_factor

    def get_backoff_factor(self) -> float:
        return self._backoff_factor

    def get_growth_interval(self) -> int:
        return self._growth_interval

    def scale(self, outputs: Any) -> Any:
        """``outputs`` (a tensor or nested lists/tuples of tensors) times the scale."""
        if not self._enabled:
            return outputs
        if isinstance(outputs, (list, tuple)):
            return type(outputs)(self.scale(o) for o in outputs)
        return outputs * self._scale

    def _state(self, optimizer: Any) -> dict[str, Any]:
        return self._per_optimizer.setdefault(id(optimizer), {"unscaled": False,
                                                              "found_inf": False})

    def unscale_(self, optimizer: Any) -> None:
        """Divide the gradients of ``optimizer``'s parameters by the scale, in place, and note
        whether any is inf or NaN. At most once per ``step``."""
        if not self._enabled:
            return
        state = self._state(optimizer)
        if state["unscaled"]:
            raise RuntimeError("unscale_() has already been called on this optimizer since the "
                               "last update().")
        inv = 1.0 / self._scale
        found = False
        for group in optimizer.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad._array
                g *= g.dtype.type(inv)
                found = found or not bool(np.isfinite(g).all())
        state.update(unscaled=True, found_inf=found)

    def step(self, optimizer: Any, *args: Any, **kwargs: Any) -> Any:
        """Unscale (unless done) and call ``optimizer.step()`` unless a gradient is inf/NaN."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if "closure" in kwargs:
            raise RuntimeError("Closure use is not currently supported if GradScaler is "
                               "enabled.")
        state = self._state(optimizer)
        if not state["unscaled"]:
            self.unscale_(optimizer)
        state["stepped"] = True
        if state["found_inf"]:
            return None
        return optimizer.step(*args, **kwargs)

    def update(self, new_scale: float | None = None) -> None:
        """Grow or back off the scale from this iteration's inf/NaN checks."""
        if not self._enabled:
            return
        if new_scale is not None:
            self._scale = float(new_scale.item() if hasattr(new_scale, "item") else new_scale)
        else:
            found = any(s["found_inf"] for s in self._per_optimizer.values())
            if found:
                self._scale *= self._backoff_factor
                self._growth_tracker = 0
            else:
                self._growth_tracker += 1
                if self._growth_tracker == self._growth_interval:
                    self._scale *= self._growth_factor
                    self._growth_tracker = 0
        self._per_optimizer = {}

    def state_dict(self) -> dict[str, Any]:
        if not self._enabled:
            return {}
        return {"scale": self._scale, "growth_factor": self._growth_factor,
                "backoff_factor": self._backoff_factor,
                "growth_interval": self._growth_interval,
                "_growth_tracker": self._growth_tracker}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if not self._enabled:
            return
        if not state_dict:
            raise RuntimeError("The source state dict is empty, possibly because it was saved "
                               "from a disabled instance of GradScaler.")
        self._scale = float(state_dict["scale"])
        self._growth_factor = float(state_dict["growth_factor"])
        self._backoff_factor = float(state_dict["backoff_factor"])
        self._growth_interval = int(state_dict["growth_interval"])
        self._growth_tracker = int(state_dict["_growth_tracker"])


class _CudaGradScaler(GradScaler):
    """``torch.cuda.amp.GradScaler``: the deprecated spelling of ``GradScaler("cuda", ...)``."""

    def __init__(self, init_scale: float = 2.0**16, growth_factor: float = 2.0,
                 backoff_factor: float = 0.5, growth_interval: int = 2000,
                 enabled: bool = True) -> None:
        super().__init__("cuda", init_scale, growth_factor, backoff_factor, growth_interval,
                         enabled)


class _CudaAutocast(autocast):
    """``torch.cuda.amp.autocast``: autocast for the (unavailable) CUDA device."""

    def __init__(self, enabled: bool = True, dtype: Any = None, cache_enabled: bool = True
                 ) -> None:
        super().__init__("cuda", dtype=dtype, enabled=enabled)


class _CpuAutocast(autocast):
    """``torch.cpu.amp.autocast``."""

    def __init__(self, enabled: bool = True, dtype: Any = None, cache_enabled: bool = True
                 ) -> None:
        super().__init__("cpu", dtype=dtype, enabled=enabled)


cuda_amp = SimpleNamespace(GradScaler=_CudaGradScaler, autocast=_CudaAutocast,
                           custom_fwd=custom_fwd, custom_bwd=custom_bwd)
cpu_amp = SimpleNamespace(autocast=_CpuAutocast, GradScaler=GradScaler)
