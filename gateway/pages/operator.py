"""The postal operators' console (server-rendered, Vietnamese)."""

from __future__ import annotations

from aiohttp import web


def setup_operator_pages(app: web.Application) -> None:
    """Add the operator console routes."""
