"""The guard every operator console page goes through, and signing out.

Operators sign in on the staff console's form (``/console/login``), which scopes their
session cookie to ``/operator`` (see :mod:`gateway.pages.console_auth`). Every page here
needs that session (else: to the sign-in page) and the role ``postal_operator`` (else: 403,
so a finance session sent by hand gets nowhere); the user's post offices are read at every
request, so a changed scope applies at once. POST forms carry the session's CSRF token.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiohttp import web

from gateway.core.errors import GatewayError
from gateway.core.roles import Role
from gateway.keys import DATABASE, SETTINGS
from gateway.pages import operator_labels as labels
from gateway.pages.console_auth import (
    LOGIN,
    OPERATOR_PREFIX,
    Form,
    as_page,
    csrf_ok,
    logout_handler,
    read_form,
    signed_in,
)
from gateway.pages.render import render
from gateway.services.postal import offices
from gateway.services.postal.operators import Operator
from gateway.services.staff import StaffUser

log = structlog.get_logger(__name__)

PREFIX = OPERATOR_PREFIX

Page = Callable[[web.Request, StaffUser, Operator], Awaitable[web.StreamResponse]]
FormPage = Callable[[web.Request, StaffUser, Operator, Form], Awaitable[web.StreamResponse]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def page(
    template: str, *, status: int = 200, user: StaffUser | None, **context: Any
) -> web.Response:
    """Render an operator page; never framed (clickjacking)."""
    response = render(f"operator/{template}", status=status, user=user, labels=labels, **context)
    response.headers["Content-Security-Policy"] += "; frame-ancestors 'none'"
    response.headers["X-Frame-Options"] = "DENY"
    return response


def error_page(user: StaffUser | None, error: GatewayError) -> web.Response:
    return page(
        "error.html",
        status=error.http_status,
        user=user,
        title="Không thực hiện được",
        message=labels.error_message(error),
        code=error.code,
    )


def _refused(user: StaffUser | None, *, title: str, message: str, code: str) -> web.Response:
    return page("error.html", status=403, user=user, title=title, message=message, code=code)


def _guarded(handler: Page) -> Handler:
    @functools.wraps(handler)
    async def guarded(request: web.Request) -> web.StreamResponse:
        user = await signed_in(request)
        if user is None:
            raise web.HTTPSeeOther(LOGIN)
        if user.role is not Role.POSTAL_OPERATOR:
            return _refused(
                None,  # no navigation: none of it would open
                title="Không có quyền truy cập",
                message="Tài khoản của bạn không có quyền sử dụng trang bưu cục.",
                code="forbidden",
            )
        async with request.app[DATABASE].read() as conn:
            office_ids = await offices.user_offices(conn, user.id)
        return await as_page(
            handler(request, user, Operator.staff(user.id, office_ids)),
            lambda error: error_page(user, error),
            failed="operator_console_failed",
            unhandled="operator_console_unhandled_error",
        )

    return guarded


def view(handler: Page) -> Handler:
    """A GET page for a signed-in postal operator."""
    return _guarded(handler)


def action(handler: FormPage) -> Handler:
    """A POST form for a signed-in postal operator, with its CSRF token checked first."""

    async def checked(
        request: web.Request, user: StaffUser, operator: Operator
    ) -> web.StreamResponse:
        form = await read_form(request, request.app[SETTINGS].max_body_bytes)
        if not csrf_ok(form, user):
            log.warning("operator_csrf_rejected", user_id=user.id, path=request.path)
            return _refused(
                user,
                title="Phiên làm việc không hợp lệ",
                message="Biểu mẫu đã hết hạn hoặc không được gửi từ trang này. "
                "Hãy tải lại trang và thử lại.",
                code="csrf",
            )
        return await handler(request, user, operator, form)

    functools.update_wrapper(checked, handler)
    return _guarded(checked)


logout = logout_handler(
    cookie_path=PREFIX,
    event="operator_logout",
    # Only the advice: a sign-out form has nothing to have expired.
    refused=lambda user: _refused(
        user,
        title="Phiên làm việc không hợp lệ",
        message="Hãy tải lại trang và thử lại.",
        code="csrf",
    ),
)
