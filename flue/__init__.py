"""Python client for Flue's workflow-run API."""

from __future__ import annotations

__all__: list[str] = []
