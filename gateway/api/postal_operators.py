"""Postal operators' API (role ``postal_operator``, scoped to their post offices)."""

from __future__ import annotations

from aiohttp import web


def setup_operator_routes(app: web.Application) -> None:
    """Add the operator API routes."""
