"""Values of agency-json documents: reading them strictly (a MappingError naming the field)
and writing them (dates, RFC 3339 times in UTC, identifiers, periods)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any, Literal, overload

from hub import cases
from hub.mappings.errors import MappingError


def stamp(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise MappingError("requested_at", "a time needs a timezone")
    return value.astimezone(UTC).replace(microsecond=0).isoformat().replace(
        "+00:00", "Z")


def parse_date(value: object, path: str) -> date | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise MappingError(path, "expected a date YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise MappingError(path, f"{value!r} is not a date YYYY-MM-DD") from exc


@overload
def parse_stamp(value: object, path: str, required: Literal[True]) -> datetime: ...
@overload
def parse_stamp(value: object, path: str, required: bool = False) -> datetime | None: ...
def parse_stamp(value: object, path: str, required: bool = False) -> datetime | None:
    """An RFC 3339 time with offset, to the second, in UTC."""
    if value is None:
        if required:
            raise MappingError(path, "required")
        return None
    if not isinstance(value, str) or "T" not in value:
        raise MappingError(path, "expected an RFC 3339 date-time")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise MappingError(path, f"{value!r} is not an RFC 3339 date-time") from exc
    if parsed.tzinfo is None:
        raise MappingError(path, f"{value!r} has no UTC offset")
    return parsed.astimezone(UTC).replace(microsecond=0)


@overload
def text(data: dict[str, Any], key: str, path: str, required: Literal[True]) -> str: ...
@overload
def text(data: dict[str, Any], key: str, path: str, required: bool = False) -> str | None: ...
def text(data: dict[str, Any], key: str, path: str, required: bool = False) -> str | None:
    value = data.get(key)
    if value is None or value == "":
        if required:
            raise MappingError(f"{path}{key}", "required")
        return None
    if not isinstance(value, str):
        raise MappingError(f"{path}{key}", "expected a string")
    return value


def obj(data: object, path: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise MappingError(path or "$", "expected an object")
    return data


def array(data: object, path: str) -> list[Any]:
    if data is None:
        return []
    if not isinstance(data, list):
        raise MappingError(path, "expected an array")
    return data


def one_of(value: object, allowed: Sequence[str], path: str, what: str) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise MappingError(path, f"unknown {what} {value!r} (expected one of "
                                 f"{', '.join(allowed)})")
    return value


def period_in(data: object, path: str) -> cases.Period | None:
    if data is None:
        return None
    data = obj(data, path)
    return cases.Period(start=parse_date(data.get("start"), f"{path}.start"),
                        end=parse_date(data.get("end"), f"{path}.end"))


def identifier_out(ident: cases.Identifier, with_kind: bool = True) -> dict[str, Any]:
    out = {"system": ident.system, "value": ident.value}
    if with_kind:
        out["kind"] = ident.kind.value
    return out


def identifier_in(data: object, path: str) -> cases.Identifier:
    data = obj(data, path)
    kind = data.get("kind", cases.IdentifierKind.OTHER.value)
    one_of(kind, [k.value for k in cases.IdentifierKind], f"{path}.kind", "identifier kind")
    return cases.Identifier(system=text(data, "system", f"{path}.", True),
                            value=text(data, "value", f"{path}.", True),
                            kind=cases.IdentifierKind(kind))


def drop_none(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None and v != [] and v != {}}
