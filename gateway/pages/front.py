"""The front door: ``/`` says in Vietnamese what the service is and where each kind of user
goes; ``/docs/api`` renders ``/openapi.json`` with Swagger UI served from this service (the
``swagger-ui-py`` package's assets: no CDN, so it works on a closed network)."""

from __future__ import annotations

from pathlib import Path

import swagger_ui
from aiohttp import web

from gateway.keys import SETTINGS
from gateway.pages.render import render

#: Swagger UI's own files, as the package ships them.
SWAGGER_UI = Path(swagger_ui.__file__).with_name("static")
#: Our files next to the pages (the reference's start-up script: the CSP forbids inline ones
#: where it can).
STATIC = Path(__file__).with_name("static")


async def landing(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    return render("landing.html", sandbox=settings.sandbox)


async def api_reference(request: web.Request) -> web.Response:
    return render("api_reference.html")


def setup_front(app: web.Application) -> None:
    app.router.add_get("/", landing)
    app.router.add_get("/docs/api", api_reference)
    app.router.add_static("/static/swagger-ui", SWAGGER_UI, append_version=False)
    app.router.add_static("/static/pages", STATIC)
