"""What the sandboxes' payer pages and control routes share (a helper, like ``redelivery``,
not a sandbox): a minimal Vietnamese HTML page, and a JSON object read from a control request
(anything else is 400)."""

from __future__ import annotations

import html
import json
from typing import Any

from aiohttp import web


def page(title: str, body: str, status: int = 200) -> web.Response:
    """``body`` (HTML, already escaped by the caller) under an escaped ``title``."""
    text = (
        '<!doctype html><html lang="vi"><head><meta charset="utf-8"><link rel="icon" href="data:,">'
        f"<title>{html.escape(title)}</title></head><body>{body}</body></html>"
    )
    return web.Response(text=text, status=status, content_type="text/html")


async def json_object(request: web.Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise web.HTTPBadRequest(text="body is not JSON") from None
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(text="body must be a JSON object")
    return data
