"""The building blocks of every API model: one aware-datetime type, the bases of request and
response bodies, and the page of a listing.

A time in the API is always timezone-aware and written ISO 8601 with ``Z`` for UTC (another
offset is kept as it is): :data:`Time` parses and writes it that way, and :func:`iso` is the
one function that writes it for code that still builds dicts.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar, overload

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    PlainSerializer,
    WithJsonSchema,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

__all__ = [
    "ListOf",
    "OneOf",
    "Page",
    "PageSize",
    "QueryModel",
    "RequestModel",
    "ResponseModel",
    "Time",
    "iso",
    "page_size",
]

Item = TypeVar("Item", bound=BaseModel)


@overload
def iso(value: datetime) -> str: ...
@overload
def iso(value: None) -> None: ...
def iso(value: datetime | None) -> str | None:
    """``2026-11-22T02:01:00Z``: ISO 8601, UTC written ``Z``; ``None`` stays ``None``."""
    return None if value is None else value.isoformat().replace("+00:00", "Z")


#: The years a moment given to the API may fall in: far wider than any payment's, narrow
#: enough that converting it to UTC or adding days to it never overflows.
YEARS = (1970, 2999)


def _within_years(value: datetime) -> datetime:
    try:
        year = value.astimezone(UTC).year
    except OverflowError:
        year = 0
    if not YEARS[0] <= year <= YEARS[1]:
        raise PydanticCustomError("out_of_range", f"a time in the years {YEARS[0]}..{YEARS[1]}")
    return value


#: A timezone-aware moment; a naive one is refused, and so is one outside :data:`YEARS`
#: (``out_of_range``). Serialises as :func:`iso` does.
Time = Annotated[
    AwareDatetime,
    AfterValidator(_within_years),
    PlainSerializer(iso, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


class RequestModel(BaseModel):
    """A request body or query: an unknown field is an error (``unknown_field``) and the
    parsed value cannot be changed. Integers are declared ``StrictInt`` field by field, so
    ``"1"`` is not an amount."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ResponseModel(BaseModel):
    """A response body. A field without a default is always present (``null`` when it has no
    value) and so required in the generated schema; a field with a default is left out when the
    service left it out (:func:`gateway.http.responses.respond` writes only what was set). A
    field the code adds without declaring it here fails validation instead of slipping out
    undocumented."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ListOf(ResponseModel, Generic[Item]):
    """Everything there is, in one answer."""

    data: list[Item]


class Page(ResponseModel, Generic[Item]):
    """One page of a listing."""

    data: list[Item]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page"
    )


class QueryModel(BaseModel):
    """A query string: unknown parameters are ignored (links carry tracking parameters), an
    empty one counts as absent."""

    model_config = ConfigDict(extra="ignore", frozen=True)


def page_size(maximum: int) -> BeforeValidator:
    """A query's ``limit`` of 1..``maximum``: digits only, else ``out_of_range``."""

    def check(value: Any) -> Any:
        if isinstance(value, str):
            if not value.isdigit() or not 1 <= int(value) <= maximum:
                raise PydanticCustomError("out_of_range", f"1..{maximum}")
            return int(value)
        return value

    return BeforeValidator(check)


#: ``limit`` of a listing: 1..100, else ``out_of_range``.
PageSize = Annotated[int, page_size(100), Field(ge=1, le=100, description="page size")]


class OneOf:
    """``Annotated[str, OneOf(choices)]``: a string that must be one of ``choices``
    (``invalid_choice`` otherwise), documented as an ``enum``; for statuses kept as constants
    rather than a ``StrEnum``."""

    def __init__(self, choices: Iterable[str], description: str | None = None) -> None:
        self.choices = tuple(choices)
        self.description = description

    def _check(self, value: str) -> str:
        if value not in self.choices:
            raise PydanticCustomError(
                "invalid_choice", "one of {choices}", {"choices": self.choices}
            )
        return value

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        documented: JsonSchemaValue = {"type": "string", "enum": list(self.choices)}
        if self.description:
            documented["description"] = self.description
        return documented
