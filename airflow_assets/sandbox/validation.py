"""Validation rules of the sandbox: request body fields, names, schema keys and attribute values."""

from __future__ import annotations

import ipaddress
import math
import re
from datetime import UTC, date, datetime, time
from typing import Any
from urllib.parse import urlsplit

from airflow_assets.sandbox.records import (
    DEFAULT_BOOLEAN,
    DEFAULT_DATE,
    DEFAULT_DATETIME,
    DEFAULT_DOUBLE,
    DEFAULT_EMAIL,
    DEFAULT_INTEGER,
    DEFAULT_IP,
    DEFAULT_SELECT,
    DEFAULT_TIME,
    DEFAULT_URL,
    AttributeRecord,
    bad_request,
)

SCHEMA_KEY = re.compile(r"[A-Z][A-Z0-9]{1,9}")
FORBIDDEN_NAME_CHARACTERS = frozenset('=;:?."')
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
# re.ASCII: \d must not accept "²", full-width or Arabic-Indic digits, which int() would then read.
DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
TIME = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?", re.ASCII)
INTEGER = re.compile(r"[+-]?\d+", re.ASCII)
# A plain decimal, optionally with an exponent: no "1_000", "nan" or "inf" that float() would take.
DOUBLE = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", re.ASCII)
INT32 = 2**31


def body_dict(body: object) -> dict[str, Any]:
    """Return the JSON body as an object, or refuse it."""
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object")
    return body


def required_text(body: dict[str, Any], field: str, label: str | None = None, *, strip: bool = True) -> str:
    """Return a required, non-blank string field; ``strip=False`` keeps its surrounding whitespace."""
    value = body.get(field)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise bad_request(**{field: f"{label or field} is required"})
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise bad_request(**{field: f"{label or field} must be a string"})
    return str(value).strip() if strip else str(value)


def optional_text(body: dict[str, Any], field: str, default: str = "") -> str:
    """Return an optional string field (numbers are accepted as their text)."""
    value = body.get(field)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise bad_request(**{field: f"{field} must be a string"})
    return str(value)


def optional_bool(body: dict[str, Any], field: str, default: bool = False) -> bool:
    """Return an optional boolean field (JSON booleans or "true"/"false")."""
    value = body.get(field)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise bad_request(**{field: f"{field} must be true or false"})


def optional_int(body: dict[str, Any], field: str, default: int) -> int:
    """Return an optional integer field (numbers or numeric strings)."""
    value = body.get(field)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise bad_request(**{field: f"{field} must be an integer"})
    if isinstance(value, int):
        return value
    if isinstance(value, str) and INTEGER.fullmatch(value.strip()):
        return int(value)
    raise bad_request(**{field: f"{field} must be an integer"})


def optional_id(body: dict[str, Any], field: str) -> str | None:
    """Return an optional id field as a string (ids arrive as strings or numbers)."""
    value = body.get(field)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise bad_request(**{field: f"{field} must be an id"})
    return str(value).strip()


def required_id(body: dict[str, Any], field: str) -> str:
    """Return a required id field as a string."""
    value = optional_id(body, field)
    if value is None:
        raise bad_request(**{field: f"{field} is required"})
    return value


def check_name(name: str, field: str = "name") -> str:
    """Refuse schema and object type names Assets does not allow."""
    bad = sorted(FORBIDDEN_NAME_CHARACTERS.intersection(name))
    if bad:
        raise bad_request(**{field: f"The name may not contain any of the characters {' '.join(bad)}"})
    if len(name) > 255:
        raise bad_request(**{field: "The name may be at most 255 characters long"})
    return name


def check_schema_key(key: str) -> str:
    """Refuse schema keys that are not 2-10 uppercase letters/digits starting with a letter."""
    if not SCHEMA_KEY.fullmatch(key):
        raise bad_request(
            objectSchemaKey="The key must be 2 to 10 characters long, uppercase letters (A-Z) and digits "
            "only, starting with a letter"
        )
    return key


def as_text(raw: object) -> str | None:
    """Return a raw written value as text, or None when it is not a scalar."""
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, int | float | str):
        return str(raw)
    return None


def parse_default_value(attribute: AttributeRecord, raw: object) -> Any:
    """Parse one written value of a Default-type attribute; raise ValueError with the message to report."""
    text = as_text(raw)
    if text is None:
        raise ValueError("The value must be a string")
    kind = attribute.default_type
    if kind == DEFAULT_INTEGER:
        stripped = text.strip()
        if isinstance(raw, float) and raw.is_integer():
            stripped = str(int(raw))
        if not INTEGER.fullmatch(stripped):
            raise ValueError(f"Value ({text}) is not a valid integer")
        number = int(stripped)
        if not -INT32 <= number < INT32:
            raise ValueError(f"Value ({text}) is out of range for an integer")
        return number
    if kind == DEFAULT_DOUBLE:
        if not DOUBLE.fullmatch(text.strip()):
            raise ValueError(f"Value ({text}) is not a valid double")
        double = float(text.strip())
        if not math.isfinite(double):  # 1e999
            raise ValueError(f"Value ({text}) is out of range for a double")
        return double
    if kind == DEFAULT_BOOLEAN:
        if text.strip().lower() not in ("true", "false"):
            raise ValueError(f"Value ({text}) is not a valid boolean: use true or false")
        return text.strip().lower() == "true"
    if kind == DEFAULT_DATE:
        return parse_date(text)
    if kind == DEFAULT_DATETIME:
        return parse_datetime(text)
    if kind == DEFAULT_TIME:
        match = TIME.fullmatch(text.strip())
        if not match or int(match[1]) > 23 or int(match[2]) > 59 or int(match[3] or 0) > 59:
            raise ValueError(f"Value ({text}) is not a valid time (HH:mm)")
        return time(int(match[1]), int(match[2]), int(match[3] or 0)).strftime("%H:%M")
    if kind == DEFAULT_EMAIL:
        if not EMAIL.fullmatch(text.strip()):
            raise ValueError(f"Value ({text}) is not a valid email address")
        return text.strip()
    if kind == DEFAULT_URL:
        parts = urlsplit(text.strip())
        if not parts.scheme or not parts.netloc or " " in text.strip():
            raise ValueError(f"Value ({text}) is not a valid URL")
        return text.strip()
    if kind == DEFAULT_IP:
        try:
            return str(ipaddress.ip_address(text.strip()))
        except ValueError:
            raise ValueError(f"Value ({text}) is not a valid IP address") from None
    if kind == DEFAULT_SELECT:
        if text not in attribute.option_list():
            raise ValueError(f"Value ({text}) is not one of the options of {attribute.name}")
        return text
    return text


def parse_date(text: str) -> date:
    """Parse a ``YYYY-MM-DD`` date."""
    if not DATE.fullmatch(text.strip()):
        raise ValueError(f"Value ({text}) is not a valid date (yyyy-MM-dd)")
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"Value ({text}) is not a valid date (yyyy-MM-dd)") from None


def parse_datetime(text: str) -> datetime:
    """Parse an ISO 8601 date-time; a naive one is taken as UTC."""
    stripped = text.strip()
    if not DATE.match(stripped) or len(stripped) < 16:
        raise ValueError(f"Value ({text}) is not a valid ISO 8601 date-time")
    try:
        moment = datetime.fromisoformat(stripped)
    except ValueError:
        raise ValueError(f"Value ({text}) is not a valid ISO 8601 date-time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def check_regex(attribute: AttributeRecord, text: str) -> None:
    """Refuse a value that does not match the attribute's regexValidation."""
    if attribute.regex_validation and not re.fullmatch(attribute.regex_validation, text):
        raise ValueError(f"Value ({text}) does not match the pattern {attribute.regex_validation}")
