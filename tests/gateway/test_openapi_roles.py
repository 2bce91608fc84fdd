"""The roles /openapi.json declares for a route are the roles the route lets in: every other
role is refused with `403 forbidden`, and none of the declared ones is."""

from __future__ import annotations

import re

from conftest import Gateway

from gateway.api.openapi import ROUTES
from gateway.core.roles import Role
from gateway.keys import CLOCK, DATABASE
from gateway.services.clients import create_client

#: Path parameters filled with ids that exist nowhere: the role check comes first.
FILLERS = {"day": "2026-11-22", "format": "csv"}


def concrete(path: str) -> str:
    def fill(match: re.Match[str]) -> str:
        return FILLERS.get(match["name"], "x" * 8)

    return re.sub(r"\{(?P<name>\w+)(?::[^}]+)?\}", fill, path)


async def test_declared_roles_are_the_ones_each_route_lets_in(gateway: Gateway) -> None:
    app = gateway.client.app
    keys = {}
    for role in Role:
        _, keys[role] = await create_client(
            app[DATABASE], app[CLOCK], name=f"role-{role.value}", role=role, agency_codes=["HCM"]
        )
    checked = 0
    for route in ROUTES:
        if route.roles is None:
            continue
        for role, key in keys.items():
            response = await gateway.client.request(
                route.method,
                concrete(route.path),
                headers={"Authorization": f"Bearer {key}"},
            )
            body = await response.read()
            forbidden = response.status == 403 and b'"forbidden"' in body
            allowed = role in route.roles or role is Role.ADMIN
            assert forbidden is not allowed, (
                f"{route.method} {route.path} as {role.value}: {response.status} {body[:200]!r}"
            )
            checked += 1
    assert checked > 100
