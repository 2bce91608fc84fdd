"""Jinja2 with autoescaping, and the formatting helpers pages share."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from jinja2 import Environment, FileSystemLoader, select_autoescape

from gateway.pages.barcodes import code128_svg

_env = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def vnd(amount: int) -> str:
    """150000 → ``150.000 ₫`` (Vietnamese groups thousands with dots)."""
    return f"{amount:,}".replace(",", ".") + " ₫"


_BUSINESS_TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def local_time(value: str | datetime | None) -> str:
    """An ISO timestamp (UTC ``Z`` or with an offset) → ``22/11/2026 09:00`` in Vietnam time."""
    if not value:
        return ""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment.astimezone(_BUSINESS_TZ).strftime("%d/%m/%Y %H:%M")


def vn_date(value: str | date | None) -> str:
    """``2026-11-22`` → ``22/11/2026``."""
    if not value:
        return ""
    day = value if isinstance(value, date) else date.fromisoformat(value)
    return day.strftime("%d/%m/%Y")


_env.filters["vnd"] = vnd
_env.filters["local_time"] = local_time
_env.filters["vn_date"] = vn_date
_env.filters["code128"] = code128_svg


def render(
    template: str, *, status: int = 200, form_origins: tuple[str, ...] = (), **context: Any
) -> web.Response:
    """Render a page. ``form_origins``: where a form on it may lead (a form that redirects to
    a payment provider needs the provider's origin: browsers check redirects too)."""
    html = _env.get_template(template).render(**context)
    form_action = " ".join(("'self'", *form_origins))
    response = web.Response(text=html, status=status, content_type="text/html", charset="utf-8")
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; "
        f"form-action {form_action}"
    )
    return response
