"""``nncore.device``: PyTorch's device type. nncore computes on the CPU only.

A ``device("cuda")`` can be made (scripts build one before asking whether CUDA is there), but
moving a tensor or a module to anything but the CPU raises a clear error.
"""

from __future__ import annotations

from typing import Any

_KNOWN = ("cpu", "cuda", "mps", "xpu", "xla", "meta", "hip", "mtia", "privateuseone")


class device:  # noqa: N801 (PyTorch's name)
    """A device: ``device("cpu")``, ``device("cuda", 0)`` or ``device("cuda:0")``.

    Attributes:
        type: ``"cpu"``, ``"cuda"``, ...
        index: the device number, or None.
    """

    __slots__ = ("type", "index")

    def __init__(self, type: Any, index: int | None = None) -> None:  # noqa: A002
        if isinstance(type, device):
            if index is not None:
                raise ValueError("device: an index cannot be given with a device object")
            self.type, self.index = type.type, type.index
            return
        if isinstance(type, int) and not isinstance(type, bool) and index is None:
            # NOTE: torch.device(0) means the first accelerator.
            type, index = "cuda", type
        if not isinstance(type, str):
            raise TypeError(f"device: expected a string or a device, got {type!r}")
        name, sep, number = type.partition(":")
        if sep:
            if index is not None:
                raise RuntimeError(f"device: type {type!r} already names an index, and index="
                                   f"{index} was given too")
            if not number.isdigit():
                raise RuntimeError(f"Invalid device string: {type!r}")
            index = int(number)
        if name not in _KNOWN:
            raise RuntimeError(f"Expected one of {', '.join(_KNOWN)} device type at start of "
                               f"device string: {type!r}")
        if index is not None and (not isinstance(index, int) or index < 0):
            raise RuntimeError(f"device: index must be a non-negative integer, got {index!r}")
        self.type, self.index = name, index

    def __repr__(self) -> str:
        if self.index is None:
            return f"device(type='{self.type}')"
        return f"device(type='{self.type}', index={self.index})"

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __eq__(self, other: Any) -> bool:
        if isinstance(other, str):
            try:
                other = device(other)
            except (RuntimeError, TypeError):
                return False
        if not isinstance(other, device):
            return NotImplemented
        return self.type == other.type and self.index == other.index

    def __hash__(self) -> int:
        return hash((self.type, self.index))

    def __reduce__(self) -> tuple:
        return device, (self.type, self.index)

    # NOTE: so `with torch.device("cpu"):` (the default-device context) works.
    def __enter__(self) -> device:
        check(self, "device context")
        return self

    def __exit__(self, *exc: object) -> None:
        return None


CPU = device("cpu")


def check(dev: Any, op: str) -> device:
    """``dev`` as a device, which must be the CPU (None means the CPU).

    Raises:
        RuntimeError (NotImplementedError): for any other device, naming ``op``.
    """
    if dev is None:
        return CPU
    d = dev if isinstance(dev, device) else device(dev)
    if d.type != "cpu":
        raise NotImplementedError(
            f"{op}: device {str(d)!r} is not available: nncore runs on the CPU only "
            f"(nncore.cuda.is_available() is False); use device='cpu'")
    return CPU
