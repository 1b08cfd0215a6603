"""Attribution maps as PNG images (matplotlib, an optional dependency, imported on use)."""

from __future__ import annotations

import io
import os
import tempfile
from typing import Any

import numpy as np

from nncore.explain._common import as_array


def _pyplot() -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("rendering attribution maps needs matplotlib "
                          "(pip install matplotlib)") from None
    # NOTE: a bare Figure draws with Agg and never touches pyplot's global backend or state.
    return Figure


def _as_map(name: str, attr: np.ndarray) -> np.ndarray:
    """A 2-D map of an attribution: ``(H, W)``, or ``(C, H, W)`` summed over channels."""
    if attr.ndim == 3:
        return attr.sum(axis=0)
    if attr.ndim == 2:
        return attr
    raise ValueError(f"{name}: expected an attribution map (H, W) or (C, H, W), or a vector "
                     f"(d,), got shape {attr.shape}")


def attribution_png(attribution: Any, image: Any = None, title: str | None = None,
                    feature_names: list[str] | None = None, dpi: int = 100) -> bytes:
    """PNG bytes of one attribution: a diverging heat map for images, a bar chart for vectors.

    Args:
        attribution: ``(H, W)``, ``(C, H, W)`` (summed over channels) or a vector ``(d,)``.
        image: the explained image ``(H, W)`` or ``(C, H, W)``, drawn in grey beside the map.
        title: figure title.
        feature_names: bar labels for a vector attribution.
        dpi: resolution.

    Returns:
        The PNG file's bytes.
    """
    name = "attribution_png"
    attr = as_array(name, attribution).astype(np.float64)
    Figure = _pyplot()  # noqa: N806
    if attr.ndim == 1:
        if feature_names is not None and len(feature_names) != len(attr):
            raise ValueError(f"{name}: {len(feature_names)} feature names for {len(attr)} "
                             f"attributions")
        labels = feature_names or [f"x{i}" for i in range(len(attr))]
        fig = Figure(figsize=(5, 0.3 * len(attr) + 1), dpi=dpi)
        ax = fig.add_subplot()
        order = np.argsort(np.abs(attr))
        ax.barh([labels[i] for i in order], attr[order],
                color=["#c0392b" if v > 0 else "#2c7bb6" for v in attr[order]])
        ax.axvline(0, color="k", linewidth=0.5)
    else:
        amap = _as_map(name, attr)
        panels = 1 if image is None else 2
        fig = Figure(figsize=(3 * panels, 3), dpi=dpi)
        if image is not None:
            img = as_array(name, image).astype(np.float64)
            gray = img.mean(axis=0) if img.ndim == 3 else img
            if gray.shape != amap.shape:
                raise ValueError(f"{name}: image {img.shape} and attribution {attr.shape} "
                                 f"differ in size")
            ax = fig.add_subplot(1, 2, 1)
            ax.imshow(gray, cmap="gray")
            ax.set_axis_off()
        ax = fig.add_subplot(1, panels, panels)
        bound = float(np.abs(amap).max()) or 1.0
        shown = ax.imshow(amap, cmap="RdBu_r", vmin=-bound, vmax=bound)
        ax.set_axis_off()
        fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def write_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory and
    ``os.replace``, so a reader never sees a partial file."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.",
                               suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def render_attribution(attribution: Any, path: str | os.PathLike, image: Any = None,
                       title: str | None = None, feature_names: list[str] | None = None,
                       dpi: int = 100) -> None:
    """Render an attribution to a PNG file at ``path`` (written atomically).

    Arguments as ``attribution_png``; the figure is drawn completely before anything is
    written, so bad input leaves no file.
    """
    write_atomic(path, attribution_png(attribution, image, title, feature_names, dpi))
