"""Figures as PNG bytes (the caller writes them atomically): the resolution and cropping every figure shares."""

from __future__ import annotations

import io
from typing import Any

__all__ = ["figure_bytes"]


def figure_bytes(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return buffer.getvalue()
