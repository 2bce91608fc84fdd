"""Signing in to the staff console, and the guard every console page goes through.

- The session lives in the ``gw_session`` cookie (HttpOnly, SameSite=Strict, Path=/console,
  Secure over https); the server keeps only its hash (:mod:`gateway.services.staff`).
- Every page needs a session (else: to the sign-in page) and a console role (else: 403).
- Postal operators sign in here too, but their session cookie is scoped to ``/operator``
  (their console, :mod:`gateway.pages.operator_auth`) and they land there; a finance
  session is never sent to ``/operator``, nor an operator's to ``/console``.
- Every POST form carries the session's CSRF token in the hidden field ``csrf``; a missing
  or wrong token is refused with 403 before anything is done.
- Sign-ins are throttled per user and per address, with a lock-out an administrator lifts
  (:mod:`gateway.services.login_throttle`); both consoles sign in here, so both are covered.
- Service errors become a Vietnamese sentence on a page; nothing reaches the browser as a
  traceback or as the API's ``problem+json``.
"""

from __future__ import annotations

import functools
import hmac
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

import structlog
from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from gateway.core.errors import (
    AccountLocked,
    BadRequest,
    FieldError,
    GatewayError,
    LoginThrottled,
    PayloadTooLarge,
    Unauthenticated,
    ValidationFailed,
)
from gateway.core.roles import Role
from gateway.http.responses import read_body
from gateway.keys import SETTINGS, STAFF
from gateway.pages.console_labels import error_message
from gateway.pages.render import render
from gateway.services.staff import StaffUser

log = structlog.get_logger(__name__)

COOKIE = "gw_session"
PREFIX = "/console"
LOGIN = f"{PREFIX}/login"
OPERATOR_PREFIX = "/operator"
CONSOLE_ROLES = frozenset({Role.FINANCE, Role.FINANCE_APPROVER, Role.ADMIN})
APPROVER_ROLES = frozenset({Role.FINANCE_APPROVER, Role.ADMIN})
ROLE_LABELS = {
    Role.FINANCE: "Kế toán viên",
    Role.FINANCE_APPROVER: "Người phê duyệt",
    Role.ADMIN: "Quản trị",
}
_TEXT_FIELD_LIMIT = 8192


@dataclass(frozen=True)
class Upload:
    filename: str | None
    data: bytes


@dataclass(frozen=True)
class Form:
    fields: dict[str, str]
    upload: Upload | None = None

    def get(self, name: str) -> str:
        return self.fields.get(name, "")


Page = Callable[[web.Request, StaffUser], Awaitable[web.StreamResponse]]
FormPage = Callable[[web.Request, StaffUser, Form], Awaitable[web.StreamResponse]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def page(
    template: str,
    *,
    status: int = 200,
    user: StaffUser | None = None,
    **context: Any,
) -> web.Response:
    """Render a console page. The console is never framed (clickjacking)."""
    response = render(
        template,
        status=status,
        user=user,
        role_label=ROLE_LABELS.get(user.role, user.role.value) if user else "",
        is_approver=user is not None and user.role in APPROVER_ROLES,
        **context,
    )
    response.headers["Content-Security-Policy"] += "; frame-ancestors 'none'"
    response.headers["X-Frame-Options"] = "DENY"
    return response


def page_links(
    path: str, params: Mapping[str, str], next_cursor: str | None, cursor: str | None
) -> dict[str, str | None]:
    """The links of a paged list at ``path`` with its ``params``: ``next_url`` (when there is a
    next page) and ``first_url`` (when this is not the first)."""
    return {
        "next_url": f"{path}?{urlencode({**params, 'cursor': next_cursor})}"
        if next_cursor
        else None,
        "first_url": f"{path}?{urlencode(params)}".rstrip("?") if cursor else None,
    }


def see_other(location: str) -> web.Response:
    """303 to ``location`` (after a POST, the browser asks for the next page with GET)."""
    return web.Response(status=303, headers={"Location": location})


def back_to(path: str, **query: str) -> web.Response:
    """303 to the console page ``path`` with ``query`` (``msg``: the notice it shows)."""
    return see_other(f"{path}?{urlencode(query)}")


def error_page(user: StaffUser | None, error: GatewayError) -> web.Response:
    return page(
        "console_error.html",
        status=error.http_status,
        user=user,
        title="Không thực hiện được",
        message=error_message(error),
        code=error.code,
    )


def _invalid_session(user: StaffUser) -> web.Response:
    return page(
        "console_error.html",
        status=403,
        user=user,
        title="Phiên làm việc không hợp lệ",
        message="Biểu mẫu đã hết hạn hoặc không được gửi từ trang này. "
        "Hãy tải lại trang và thử lại.",
        code="csrf",
    )


def _not_allowed(user: StaffUser) -> web.Response:
    return page(
        "console_error.html",
        status=403,
        user=None,  # no navigation: none of it would open
        title="Không có quyền truy cập",
        message="Tài khoản của bạn không có quyền sử dụng trang đối soát.",
        code="forbidden",
    )


async def signed_in(request: web.Request) -> StaffUser | None:
    token = request.cookies.get(COOKIE, "")
    if not token:
        return None
    try:
        return await request.app[STAFF].session_user(token)
    except Unauthenticated:
        return None


def _guarded(handler: Page) -> Handler:
    """Session, role and error handling shared by GET and POST pages."""

    @functools.wraps(handler)
    async def guarded(request: web.Request) -> web.StreamResponse:
        user = await signed_in(request)
        if user is None:
            raise web.HTTPSeeOther(LOGIN)
        if user.role not in CONSOLE_ROLES:
            return _not_allowed(user)
        return await as_page(
            handler(request, user),
            lambda error: error_page(user, error),
            failed="console_request_failed",
            unhandled="console_unhandled_error",
        )

    return guarded


async def as_page(
    work: Awaitable[web.StreamResponse],
    error_page: Callable[[GatewayError], web.StreamResponse],
    *,
    failed: str,
    unhandled: str,
) -> web.StreamResponse:
    """Run a console page; a service error becomes ``error_page`` (logged as ``failed`` when
    it is the server's fault), anything unexpected is logged as ``unhandled`` and shown as an
    internal error. Redirects and other HTTP exceptions pass through."""
    try:
        return await work
    except web.HTTPException:
        raise
    except GatewayError as exc:
        if exc.http_status >= 500:
            log.error(failed, code=exc.code, exc_info=True)
        return error_page(exc)
    except Exception as exc:
        log.exception(unhandled, error=type(exc).__name__)
        return error_page(GatewayError())


def view(handler: Page) -> Handler:
    """A GET page for a signed-in console user."""
    return _guarded(handler)


def action(handler: FormPage, *, upload_limit: bool = False) -> Handler:
    """A POST form for a signed-in console user, with its CSRF token checked first."""

    async def checked(request: web.Request, user: StaffUser) -> web.StreamResponse:
        settings = request.app[SETTINGS]
        limit = settings.max_upload_bytes if upload_limit else settings.max_body_bytes
        form = await read_form(request, limit)
        if not csrf_ok(form, user):
            log.warning("console_csrf_rejected", user_id=user.id, path=request.path)
            return _invalid_session(user)
        return await handler(request, user, form)

    functools.update_wrapper(checked, handler)
    return _guarded(checked)


def approves(form: Form) -> bool:
    """A maker-checker form's ``decision``: ``approve`` or ``reject``. A missing or unknown one
    is refused (``invalid_choice``), never read as approval."""
    decision = form.get("decision")
    if decision not in ("approve", "reject"):
        raise ValidationFailed([FieldError("decision", "invalid_choice", "approve or reject")])
    return decision == "approve"


def csrf_ok(form: Form, user: StaffUser) -> bool:
    sent = form.get("csrf").encode()
    return bool(sent) and hmac.compare_digest(sent, user.csrf_token.encode())


def upload_action(handler: FormPage) -> Handler:
    return action(handler, upload_limit=True)


async def read_form(request: web.Request, limit: int) -> Form:
    """A URL-encoded or multipart form, refused with 413 beyond ``limit`` bytes in all and
    with 400 when the multipart body is malformed. A NUL character, which no one types and
    PostgreSQL cannot store, is dropped from the text fields."""
    if not request.content_type.startswith("multipart/"):
        raw = await read_body(request, limit)
        try:
            pairs = parse_qsl(raw.decode(), keep_blank_values=True)
        except UnicodeDecodeError:
            pairs = []
        fields: dict[str, str] = {}
        for name, value in pairs:
            fields.setdefault(name, value.replace("\x00", ""))
        return Form(fields)
    try:
        return await _read_multipart(request, limit)
    except (ValueError, AssertionError, LookupError, HttpProcessingError) as exc:
        # HttpProcessingError: a part header aiohttp refuses (InvalidHeader)
        raise BadRequest(f"malformed multipart body: {exc}") from None


async def _read_multipart(request: web.Request, limit: int) -> Form:
    fields = {}
    upload: Upload | None = None
    size = 0
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader) or not part.name:
            continue
        chunks = []
        while chunk := await part.read_chunk(256 * 1024):
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"at most {limit} bytes")
            chunks.append(chunk)
        data = b"".join(chunks)
        if part.filename is not None:
            if upload is None:
                upload = Upload(part.filename, data)
        elif part.name not in fields:
            text = data[:_TEXT_FIELD_LIMIT].decode(errors="replace")
            fields[part.name] = text.replace("\x00", "")
    return Form(fields, upload)


# -- sign in and out -------------------------------------------------------------------------


LOGIN_COOKIE = "gw_login"


def _login_form(*, status: int = 200, error: str | None = None, username: str = "") -> web.Response:
    """The sign-in form with a fresh double-submit token: the same random value in a
    SameSite=Strict cookie and in the form, so another site cannot sign a browser in to an
    account of its choosing (login CSRF)."""
    token = secrets.token_urlsafe(24)
    response = page(
        "console_login.html", status=status, error=error, username=username, login_token=token
    )
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        path=f"{PREFIX}/login",
        httponly=True,
        samesite="Strict",
        max_age=3600,
    )
    return response


async def login_form(request: web.Request) -> web.StreamResponse:
    user = await signed_in(request)
    if user is not None and user.role in CONSOLE_ROLES:
        raise web.HTTPSeeOther(PREFIX)
    return _login_form()


async def login(request: web.Request) -> web.StreamResponse:
    form = await read_form(request, request.app[SETTINGS].max_body_bytes)
    expected = request.cookies.get(LOGIN_COOKIE, "")
    given = form.get("login_token")
    if not expected or not hmac.compare_digest(expected.encode(), given.encode()):
        log.warning("console_login_csrf_refused")
        return _login_form(status=403, error="Phiên làm việc không hợp lệ. Vui lòng đăng nhập lại.")
    username = form.get("username").strip()[:64]
    password = form.get("password")[:1024]
    staff = request.app[STAFF]
    try:
        token, user = await staff.login(username, password, request.remote or "unknown")
    except AccountLocked as exc:
        return _login_form(
            status=exc.http_status,
            error="Tài khoản đã bị tạm khóa vì đăng nhập sai quá nhiều lần. "
            "Vui lòng liên hệ quản trị viên để mở khóa.",
            username=username,
        )
    except LoginThrottled as exc:
        response = _login_form(
            status=exc.http_status,
            error=f"Đăng nhập sai quá nhiều lần. Vui lòng thử lại sau {exc.retry_after} giây.",
            username=username,
        )
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except Unauthenticated:
        log.info("console_login_failed")
        return _login_form(status=401, error="Sai tên đăng nhập hoặc mật khẩu", username=username)
    if user.role not in CONSOLE_ROLES and user.role is not Role.POSTAL_OPERATOR:
        await staff.logout(token)
        log.info("console_login_refused", user_id=user.id, role=user.role.value)
        return _login_form(
            status=403,
            error="Tài khoản của bạn không có quyền sử dụng trang đối soát.",
            username=username,
        )
    log.info("console_login", user_id=user.id)
    home = OPERATOR_PREFIX if user.role is Role.POSTAL_OPERATOR else PREFIX
    response = see_other(home)
    response.set_cookie(
        COOKIE,
        token,
        path=home,
        httponly=True,
        samesite="Strict",
        secure=_is_https(request),
    )
    return response


def _is_https(request: web.Request) -> bool:
    # Behind a TLS-terminating proxy the request itself is plain http, but the browser's is
    # not: the public base URL says which one the browser uses.
    return request.secure or request.app[SETTINGS].base_url.startswith("https://")


def logout_handler(
    *, cookie_path: str, event: str, refused: Callable[[StaffUser], web.Response]
) -> Handler:
    """Signing out of a staff console: with a valid CSRF token only (a cross-site logout is a
    nuisance; else ``refused``), the session ends, its cookie (scoped to ``cookie_path``) is
    cleared and the browser goes back to the sign-in page."""

    async def logout(request: web.Request) -> web.StreamResponse:
        user = await signed_in(request)
        if user is None:
            raise web.HTTPSeeOther(LOGIN)
        form = await read_form(request, request.app[SETTINGS].max_body_bytes)
        if not csrf_ok(form, user):
            return refused(user)
        await request.app[STAFF].logout(request.cookies[COOKIE])
        log.info(event, user_id=user.id)
        response = see_other(LOGIN)
        response.del_cookie(COOKIE, path=cookie_path)
        return response

    return logout


logout = logout_handler(cookie_path=PREFIX, event="console_logout", refused=_invalid_session)
