"""The Assets REST endpoints the client calls: method, path template, rate class and retry safety."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from airflow_assets.exceptions import AssetsConfigError


@dataclass(frozen=True)
class Endpoint:
    """One REST endpoint as the client sees it.

    :param method: HTTP method.
    :param template: path relative to the Assets API base (or to the site for ``site=True``), with ``{}``
        placeholders for ids, e.g. ``"object/{}/history"``.
    :param idempotent: repeating the call cannot change the outcome, so any failure may be retried; a
        non-idempotent call (a create) is retried only when the server refused it (429/503) or it was
        never sent.
    :param site: the path is relative to the Jira site (``/rest/...``) rather than to the Assets API base.
    :param read_only: the call changes nothing on the server (a GET, or a POST that only searches), so a
        failure of it never leaves a write that may have been applied.
    """

    method: str
    template: str
    idempotent: bool
    site: bool = False
    read_only: bool = False

    @property
    def writes(self) -> bool:
        """Tell whether the call may change the server's state."""
        return not self.read_only

    @property
    def rate_class(self) -> str:
        """Return the name of the per-endpoint rate budget this endpoint draws from."""
        label = self.template.replace("{}", "{id}")
        return f"{self.method} {'site:' if self.site else ''}{label}"

    def path(self, *ids: str | int) -> str:
        """Render the path with each id URL-quoted (ids are opaque strings, never path fragments)."""
        if self.template.count("{}") != len(ids):
            raise TypeError(f"{self.template!r} takes {self.template.count('{}')} ids, got {len(ids)}")
        rendered = []
        for value in ids:
            text = str(value).strip()
            if not text:
                raise AssetsConfigError(f"{self.method} {self.template}: an id must not be empty")
            rendered.append(quote(text, safe=""))
        return self.template.format(*rendered)


def _get(template: str, *, site: bool = False) -> Endpoint:
    return Endpoint("GET", template, idempotent=True, site=site, read_only=True)


def _create(template: str) -> Endpoint:
    return Endpoint("POST", template, idempotent=False)


# Site (Jira platform) routes.
WORKSPACE = _get("rest/servicedeskapi/assets/workspace", site=True)
MYSELF = _get("rest/api/3/myself", site=True)
USERS = _get("rest/api/3/users/search", site=True)
GROUPS = _get("rest/api/3/group/bulk", site=True)
JIRA_FIELDS = _get("rest/api/3/field", site=True)
# JQL search: a POST that only reads (the query travels in the body).
JIRA_SEARCH = Endpoint("POST", "rest/api/3/search/jql", idempotent=True, site=True, read_only=True)
# An issue edit through "fields" sets each named field to the full value sent: repeating it yields the same
# issue, so a lost answer is retried (and a final failure is marked maybe_applied, as every write).
JIRA_ISSUE_UPDATE = Endpoint("PUT", "rest/api/3/issue/{}", idempotent=True, site=True)

# Object schemas.
SCHEMA_LIST = _get("objectschema/list")
SCHEMA = _get("objectschema/{}")
SCHEMA_CREATE = _create("objectschema/create")
SCHEMA_UPDATE = Endpoint("PUT", "objectschema/{}", idempotent=True)
SCHEMA_DELETE = Endpoint("DELETE", "objectschema/{}", idempotent=True)
SCHEMA_OBJECT_TYPES_FLAT = _get("objectschema/{}/objecttypes/flat")
SCHEMA_ATTRIBUTES = _get("objectschema/{}/attributes")
SCHEMA_PROPERTIES = _get("global/config/objectschema/{}/property")
# Setting properties writes absolute values: repeating it yields the same state.
SCHEMA_PROPERTIES_SET = Endpoint("POST", "global/config/objectschema/{}/property", idempotent=True)

# Object types.
OBJECT_TYPE = _get("objecttype/{}")
OBJECT_TYPE_CREATE = _create("objecttype/create")
OBJECT_TYPE_UPDATE = Endpoint("PUT", "objecttype/{}", idempotent=True)
OBJECT_TYPE_DELETE = Endpoint("DELETE", "objecttype/{}", idempotent=True)
# Moving to an absolute position is repeatable.
OBJECT_TYPE_POSITION = Endpoint("POST", "objecttype/{}/position", idempotent=True)
OBJECT_TYPE_ATTRIBUTES = _get("objecttype/{}/attributes")

# Object type attributes.
ATTRIBUTE_CREATE = _create("objecttypeattribute/{}")
ATTRIBUTE_UPDATE = Endpoint("PUT", "objecttypeattribute/{}/{}", idempotent=True)
ATTRIBUTE_DELETE = Endpoint("DELETE", "objecttypeattribute/{}", idempotent=True)
ATTRIBUTE_POSITION = Endpoint("POST", "objecttypeattribute/{}/{}/position", idempotent=True)

# AQL: POSTs that only read.
AQL = Endpoint("POST", "object/aql", idempotent=True, read_only=True)
AQL_TOTAL_COUNT = Endpoint("POST", "object/aql/totalcount", idempotent=True, read_only=True)

# Objects.
OBJECT = _get("object/{}")
OBJECT_CREATE = _create("object/create")
OBJECT_UPDATE = Endpoint("PUT", "object/{}", idempotent=True)
OBJECT_DELETE = Endpoint("DELETE", "object/{}", idempotent=True)
OBJECT_ATTRIBUTES = _get("object/{}/attributes")
OBJECT_HISTORY = _get("object/{}/history")
OBJECT_REFERENCE_INFO = _get("object/{}/referenceinfo")
OBJECT_CONNECTED_TICKETS = _get("objectconnectedtickets/{}/tickets")

# Comments.
OBJECT_COMMENTS = _get("comment/object/{}")
COMMENT_CREATE = _create("comment/create")

# Configuration.
STATUS_TYPES = _get("config/statustype")
STATUS_TYPE_CREATE = _create("config/statustype")
STATUS_TYPE_UPDATE = Endpoint("PUT", "config/statustype/{}", idempotent=True)
STATUS_TYPE_DELETE = Endpoint("DELETE", "config/statustype/{}", idempotent=True)
REFERENCE_TYPES = _get("config/referencetype")
REFERENCE_TYPE_CREATE = _create("config/referencetype")
REFERENCE_TYPE_UPDATE = Endpoint("PUT", "config/referencetype/{}", idempotent=True)
REFERENCE_TYPE_DELETE = Endpoint("DELETE", "config/referencetype/{}", idempotent=True)
GLOBAL_ICONS = _get("icon/global")
ICON = _get("icon/{}")
