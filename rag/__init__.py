"""Extractive question answering with checkable citations over a document collection."""

from __future__ import annotations

__version__ = "0.1.0"
