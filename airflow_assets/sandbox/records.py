"""The stored records of the sandbox site: compact slots dataclasses, rendered to JSON only on read."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


class SandboxError(Exception):
    """A request the sandbox refuses, rendered as ``{"errorMessages": [...], "errors": {...}}``.

    :param status: HTTP status code of the answer.
    :param error_messages: messages not tied to one field.
    :param errors: messages keyed by field (``rlabs-insight-attribute-<id>`` for attribute values).
    """

    def __init__(
        self, status: int, error_messages: list[str] | None = None, errors: dict[str, str] | None = None
    ) -> None:
        self.status = status
        self.error_messages = list(error_messages or [])
        self.errors = dict(errors or {})
        super().__init__(f"{status}: {'; '.join([*self.error_messages, *self.errors.values()])}")

    def body(self) -> dict[str, Any]:
        """Return the JSON body Atlassian sends for this error."""
        return {"errorMessages": self.error_messages, "errors": self.errors}


def bad_request(message: str | None = None, **errors: str) -> SandboxError:
    """Build a 400 error from a general message and/or per-field messages."""
    return SandboxError(400, [message] if message else [], errors)


def not_found(message: str) -> SandboxError:
    """Build a 404 error."""
    return SandboxError(404, [message], {})


def id_number(text: str) -> int | None:
    """Return the number ``text`` spells in ASCII digits, or None ("²" and full-width digits are no id)."""
    if not (text.isascii() and text.isdigit()):
        return None
    try:
        return int(text)
    except ValueError:  # more digits than Python converts: no such id either
        return None


# Attribute kinds (the `type` of an ObjectTypeAttribute).
ATTR_DEFAULT = 0
ATTR_REFERENCE = 1
ATTR_USER = 2
ATTR_GROUP = 4
ATTR_STATUS = 7
ATTRIBUTE_KINDS = {
    ATTR_DEFAULT: "Default",
    ATTR_REFERENCE: "Object",
    ATTR_USER: "User",
    ATTR_GROUP: "Group",
    ATTR_STATUS: "Status",
}

# Default types (`defaultTypeId` of a type 0 attribute).
DEFAULT_NONE = -1
DEFAULT_TEXT = 0
DEFAULT_INTEGER = 1
DEFAULT_BOOLEAN = 2
DEFAULT_DOUBLE = 3
DEFAULT_DATE = 4
DEFAULT_TIME = 5
DEFAULT_DATETIME = 6
DEFAULT_URL = 7
DEFAULT_EMAIL = 8
DEFAULT_TEXTAREA = 9
DEFAULT_SELECT = 10
DEFAULT_IP = 11
DEFAULT_TYPE_NAMES = {
    DEFAULT_NONE: "None",
    DEFAULT_TEXT: "Text",
    DEFAULT_INTEGER: "Integer",
    DEFAULT_BOOLEAN: "Boolean",
    DEFAULT_DOUBLE: "Double",
    DEFAULT_DATE: "Date",
    DEFAULT_TIME: "Time",
    DEFAULT_DATETIME: "DateTime",
    DEFAULT_URL: "URL",
    DEFAULT_EMAIL: "Email",
    DEFAULT_TEXTAREA: "Textarea",
    DEFAULT_SELECT: "Select",
    DEFAULT_IP: "IP Address",
}

# History entry types (the `type` of an ObjectHistory entry). Public sources confirm only that `type` is a
# number; these codes are the project's reading (restore/comments.py) and stay UNCONFIRMED: see the
# contract, "History entries". Status values use HISTORY_VALUE: no separate status code is known.
HISTORY_CREATED = 0
HISTORY_VALUE = (1, 2, 3)  # added, changed, deleted value
HISTORY_REFERENCE = (4, 5, 6)
HISTORY_USER = (9, 10, 11)
HISTORY_GROUP = (15, 16, 17)
HISTORY_AVATAR = (25, 26, 27)

# Roles of comments.
COMMENT_ROLES = {0: "Users", 1: "Managers", 2: "Admins", 3: "Developers"}


def iso_ms(moment: datetime) -> str:
    """Render a moment as Atlassian does: ISO 8601 UTC with milliseconds and ``Z``."""
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return moment.isoformat(timespec="milliseconds")[:-6] + "Z"


def epoch_ms(moment: datetime) -> int:
    """Return a moment as milliseconds since the epoch."""
    return int(moment.timestamp() * 1000)


@dataclass(slots=True)
class UserRecord:
    """A Jira user (values of User attributes are account ids)."""

    account_id: str
    display_name: str
    email: str | None
    groups: set[str] = field(default_factory=set)


@dataclass(slots=True)
class SchemaRecord:
    """An object schema."""

    id: str
    name: str
    key: str
    description: str
    created: datetime
    updated: datetime
    properties: dict[str, Any]


@dataclass(slots=True)
class ObjectTypeRecord:
    """An object type of a schema."""

    id: str
    schema_id: str
    name: str
    description: str
    icon_id: str
    parent_id: str | None
    inherited: bool
    abstract: bool
    position: int
    created: datetime
    updated: datetime


@dataclass(slots=True)
class AttributeRecord:
    """An attribute definition (ObjectTypeAttribute) owned by one object type."""

    id: str
    object_type_id: str
    name: str
    kind: int
    default_type: int = DEFAULT_NONE
    label: bool = False
    description: str = ""
    system_role: str | None = None  # "key", "created", "updated" for the generated read-only attributes
    reference_object_type_id: str | None = None
    reference_type_id: str | None = None
    type_value_multi: tuple[str, ...] = ()
    minimum_cardinality: int = 0
    maximum_cardinality: int = 1
    unique: bool = False
    options: str = ""
    regex_validation: str = ""
    suffix: str = ""
    include_child_object_types: bool = False
    hidden: bool = False
    summable: bool = False
    ql_query: str = ""
    position: int = 0

    @property
    def editable(self) -> bool:
        """Tell whether clients may write values of this attribute."""
        return self.system_role is None

    def option_list(self) -> list[str]:
        """Return the options of a Select attribute."""
        return [option.strip() for option in self.options.split(",") if option.strip()]


@dataclass(slots=True)
class ObjectRecord:
    """One object; also what the AQL evaluator sees as an ``AqlSubject``.

    ``values`` maps attribute id -> ``(object attribute id, value, value, ...)``: one flat tuple per attribute
    keeps 50,000 objects small. Values are typed: str, int, float, bool, date, datetime; object ids (int) for
    references, account ids for users, group names, status ids (str).
    """

    object_id: int
    key: str
    label: str
    object_type_id: str
    schema_id: str
    created: datetime
    updated: datetime
    system_attribute_id: int  # ids of the Key/Created/Updated object attributes: this, +1, +2
    values: dict[str, tuple[Any, ...]]
    has_avatar: bool = False
    avatar_uuid: str | None = None


@dataclass(slots=True)
class HistoryRecord:
    """One history entry of an object, recorded by the server."""

    id: int
    object_id: int
    type: int
    created: datetime
    actor: str
    affected_attribute: str | None = None
    old_value: str | None = None
    new_value: str | None = None


@dataclass(slots=True)
class CommentRecord:
    """A comment on an object."""

    id: int
    object_id: int
    comment: str
    role: int
    actor: str
    created: datetime
    updated: datetime


@dataclass(slots=True)
class StatusTypeRecord:
    """A status type; global when ``schema_id`` is None."""

    id: str
    name: str
    description: str
    category: int
    schema_id: str | None


@dataclass(slots=True)
class ReferenceTypeRecord:
    """A reference type; global when ``schema_id`` is None."""

    id: str
    name: str
    description: str
    color: str
    schema_id: str | None
    removable: bool = True


@dataclass(slots=True)
class IconRecord:
    """A global icon."""

    id: str
    name: str


@dataclass(slots=True)
class IssueRecord:
    """A Jira issue; ``assets_by_field``: per Assets field id, the object ids in the order they were set."""

    id: str
    key: str
    summary: str
    status: str
    status_colour: str
    issue_type: str
    priority: str
    created: datetime
    updated: datetime
    reporter: str  # account id
    assets_by_field: dict[str, list[int]] = field(default_factory=dict)

    @property
    def assets(self) -> list[int]:
        """Return the object ids any Assets field of the issue holds, each once, fields in id order."""
        return list(dict.fromkeys(i for _, ids in sorted(self.assets_by_field.items()) for i in ids))

    @property
    def project_key(self) -> str:
        """Return the key of the issue's project (``ITSM`` for ``ITSM-101``)."""
        return self.key.rpartition("-")[0]

    @property
    def number(self) -> int:
        """Return the issue's number within its project (``101`` for ``ITSM-101``)."""
        return int(self.key.rpartition("-")[2])
