"""Figures as PNG bytes (the caller writes them atomically): the resolution and cropping every figure shares."""

from __future__ import annotations

import io
from typing import Any

__all__ = ["figure_bytes"]


def figure_bytes(fig: Any, description: str | None = None) -> bytes:
    """The figure as PNG; `description` goes into its metadata (the PNG's Description text chunk)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight",
                metadata={"Description": description} if description else None)
    return buffer.getvalue()
