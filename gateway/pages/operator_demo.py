"""The sandbox's post office for the operator console: ``BC-DEMO`` serving the demo agency,
an operator API key and the console user ``buucuc``, so ``gateway serve`` shows the operator
side too. The seeding itself is :class:`gateway.services.demo.DemoSeeder`'s."""

from __future__ import annotations

from aiohttp import web

from gateway.keys import SERVICES
from gateway.services.demo import DEMO_OFFICE, DEMO_OPERATOR_USER

__all__ = ["DEMO_OFFICE", "DEMO_OPERATOR_USER", "seed_demo_operator"]


async def seed_demo_operator(app: web.Application) -> tuple[str, str]:
    """A fresh ``(operator API key, password)`` for the demo post office, as at every start."""
    return await app[SERVICES].demo.seed_operator()
