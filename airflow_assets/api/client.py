"""The Jira Service Management Cloud Assets REST client: one method per endpoint backup and restore need."""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator, Iterable, Mapping
from typing import Any, Literal, TypeVar, overload
from urllib.parse import quote, urlsplit

from airflow_assets.api import endpoints as ep
from airflow_assets.api import settings
from airflow_assets.api.concurrency import map_as_completed, map_ordered
from airflow_assets.api.endpoints import Endpoint
from airflow_assets.api.pacing import DEFAULT_REGISTRY, Pacer, PacerRegistry, RateLimits
from airflow_assets.api.paging import NextPageTokenPaginator, StartAtPaginator, says_more_pages
from airflow_assets.api.records import AqlPage
from airflow_assets.api.redaction import MASK, Redactor
from airflow_assets.api.retry import RetryPolicy
from airflow_assets.api.shared_budget import SharedBudget
from airflow_assets.api.transport import Transport, wrong_shape
from airflow_assets.exceptions import AssetsConfigError

DEFAULT_API_BASE_URL = "https://api.atlassian.com/jsm/assets/workspace/{workspaceId}/v1"
CLOUD_GATEWAY_URL = "https://api.atlassian.com/ex/jira/{cloudId}"
DEFAULT_TIMEOUT = (10.0, 60.0)
# Enough threads to keep a 1000-2000/min budget busy at Cloud latencies of 0.3-1 s per call.
DEFAULT_MAX_WORKERS = 16
WORKSPACE_PLACEHOLDER = "{workspaceId}"
# schema.custom of the Jira custom fields that hold Assets objects.
ASSETS_FIELD_TYPE = "com.atlassian.jira.plugins.cmdb:cmdb-object-cftype"

T = TypeVar("T")
R = TypeVar("R")
JsonDict = dict[str, Any]


class AssetsClient:
    """Client of the Assets REST API of one Jira Cloud site (Basic auth with an account email and API token).

    Nothing is sent until the first call; the workspace id is discovered then if not given. Requests are
    paced per endpoint class (shared by all threads and all clients of the site in this process), retried
    per :class:`RetryPolicy`, and failures raise the typed errors of :mod:`airflow_assets.exceptions`.

    :param site_url: the Jira site, e.g. ``https://your-site.atlassian.net``.
    :param email: the Atlassian account email.
    :param api_token: the account's API token (never logged or shown).
    :param workspace_id: the Assets workspace id; discovered through the site when None.
    :param api_base_url: the Assets API base, may contain ``{workspaceId}``
        (default ``https://api.atlassian.com/jsm/assets/workspace/{workspaceId}/v1``).
    :param cloud_id: route site calls through ``https://api.atlassian.com/ex/jira/{cloudId}`` (scoped tokens).
    :param retry: the retry policy (default: Atlassian's advice, about 5 attempts, 5-30 s waits).
    :param limits: per-endpoint rate budgets (default: the documented figures per minute).
    :param budget_share: fraction of every per-endpoint budget this client may use, in (0, 1].
    :param timeout: seconds to connect and to read, or one number for both.
    :param max_workers: default thread count of :meth:`map_concurrent`.
    :param pacers: registry of shared pacers (default: the process-wide one).
    :param shared_budget: the site's rate budget shared with every other process (e.g. the backup store's
        ``MongoRateBudget``); None paces this process alone, to the whole limits.
    """

    def __init__(
        self,
        *,
        site_url: str,
        email: str,
        api_token: str,
        workspace_id: str | None = None,
        api_base_url: str | None = None,
        cloud_id: str | None = None,
        retry: RetryPolicy | None = None,
        limits: RateLimits | None = None,
        budget_share: float = 1.0,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        max_workers: int = DEFAULT_MAX_WORKERS,
        pacers: PacerRegistry | None = None,
        shared_budget: SharedBudget | None = None,
    ) -> None:
        self.site_url = settings.check_url("site_url", site_url)
        self.email = settings.check_text("email", email)
        # The token goes straight to the transport's session auth and redactor; never into a message.
        token = settings.check_text("api_token", api_token, secret=True)
        self._workspace_id = settings.check_id("workspace_id", workspace_id)
        self._api_base_template = settings.check_api_base_template(
            api_base_url, default=DEFAULT_API_BASE_URL, placeholder=WORKSPACE_PLACEHOLDER
        )
        self.cloud_id = settings.check_id("cloud_id", cloud_id)
        retry_policy = settings.check_retry(retry)
        rate_limits = settings.check_limits(limits)
        share = settings.check_budget_share(budget_share)
        timeouts = settings.check_timeout(timeout)
        workers = settings.check_max_workers(max_workers)
        self._lock = threading.Lock()
        self._api_base_url: str | None = None
        self._site_base = (
            CLOUD_GATEWAY_URL.replace("{cloudId}", quote(self.cloud_id, safe=""))
            if self.cloud_id
            else self.site_url
        )
        self._transport = Transport(
            site_url=self.site_url,
            email=self.email,
            api_token=token,
            site_base=self._site_base,
            api_base=lambda: self.api_base_url,
            retry=retry_policy,
            limits=rate_limits,
            budget_share=share,
            timeout=timeouts,
            max_workers=workers,
            pacers=pacers if pacers is not None else DEFAULT_REGISTRY,
            shared_budget=shared_budget,
        )

    def __repr__(self) -> str:
        return (
            f"AssetsClient(site_url={self.site_url!r}, email={self.email!r}, api_token={MASK!r}, "
            f"workspace_id={self._workspace_id!r}, budget_share={self.budget_share!r})"
        )

    def __enter__(self) -> AssetsClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the pooled connections."""
        self._transport.close()

    # -- settings -------------------------------------------------------------------------------------

    @property
    def retry(self) -> RetryPolicy:
        """Return the retry policy."""
        return self._transport.retry

    @property
    def limits(self) -> RateLimits:
        """Return the per-endpoint rate budgets."""
        return self._transport.limits

    @property
    def budget_share(self) -> float:
        """Return the fraction of every per-endpoint budget this client may use."""
        return self._transport.budget_share

    @property
    def timeout(self) -> tuple[float, float]:
        """Return the (connect, read) timeout in seconds."""
        return self._transport.timeout

    @property
    def max_workers(self) -> int:
        """Return the default thread count of :meth:`map_concurrent`."""
        return self._transport.max_workers

    # -- site and workspace --------------------------------------------------------------------------

    @property
    def workspace_id(self) -> str:
        """Return the Assets workspace id, discovering it through the site on first use."""
        if self._workspace_id is None:
            with self._lock:
                if self._workspace_id is None:
                    self._workspace_id = self.discover_workspace_id()
        return self._workspace_id

    @property
    def api_base_url(self) -> str:
        """Return the Assets API base URL of the workspace (discovering the workspace if it is needed)."""
        if self._api_base_url is None:
            template = self._api_base_template
            if WORKSPACE_PLACEHOLDER in template:
                template = template.replace(WORKSPACE_PLACEHOLDER, quote(self.workspace_id, safe=""))
            self._api_base_url = template.rstrip("/")
        return self._api_base_url

    def discover_workspace_id(self) -> str:
        """Ask the site for its Assets workspace id."""
        answer = self._call(ep.WORKSPACE)
        values = answer.get("values") if isinstance(answer, Mapping) else None
        for value in values or []:
            workspace = value.get("workspaceId") if isinstance(value, Mapping) else None
            if isinstance(workspace, str) and workspace.strip():
                return workspace.strip()
        raise AssetsConfigError(
            f"no Assets on that site: {self.site_url} lists no Assets workspace "
            "(is Jira Service Management with Assets enabled, and may this account see it?)"
        )

    def myself(self) -> JsonDict:
        """Return the Jira user the credentials belong to (``GET {site}/rest/api/3/myself``)."""
        return self._object(ep.MYSELF)

    def iter_users(self, *, page_size: int = 1000) -> Generator[JsonDict, None, None]:
        """Yield every user of the site (``GET {site}/rest/api/3/users/search``, a bare list per page).

        Jira may answer fewer users than asked before the end, so only an empty page ends the walk.

        :param page_size: ``maxResults`` per page (Jira's maximum is 1000).
        """
        start = 0
        while True:
            answer = self._call(ep.USERS, params={"startAt": start, "maxResults": page_size})
            if isinstance(answer, dict):
                answer = answer.get("values")
            if not isinstance(answer, list):
                raise wrong_shape(ep.USERS, ep.USERS.path(), "a JSON list of users", answer)
            if not answer:
                return
            yield from answer
            start += len(answer)

    def iter_group_names(self, *, page_size: int = 50) -> Generator[str, None, None]:
        """Yield the name of every group of the site (``GET {site}/rest/api/3/group/bulk``)."""
        paginator = StartAtPaginator(page_size=page_size)
        for _, page in self._transport.pages(ep.GROUPS, paginator):
            for group in page.get("values") or []:
                if isinstance(group, Mapping) and group.get("name"):
                    yield str(group["name"])

    # -- Jira issues ----------------------------------------------------------------------------------

    def get_jira_fields(self) -> list[JsonDict]:
        """Return every field of the site's issues, system and custom (``GET {site}/rest/api/3/field``)."""
        answer = self._call(ep.JIRA_FIELDS)
        if not isinstance(answer, list):
            raise wrong_shape(ep.JIRA_FIELDS, ep.JIRA_FIELDS.path(), "a JSON list of fields", answer)
        return [field for field in answer if isinstance(field, dict)]

    def get_assets_field_ids(self) -> list[str]:
        """Return the ids of the site's Assets custom fields (``customfield_N``), sorted.

        An Assets field is a custom field whose ``schema.custom`` is ``ASSETS_FIELD_TYPE``; fields without
        a schema (Jira lists the issue key so) are not.
        """
        found = set()
        for field in self.get_jira_fields():
            schema = field.get("schema")
            if isinstance(schema, Mapping) and schema.get("custom") == ASSETS_FIELD_TYPE and field.get("id"):
                found.add(str(field["id"]))
        return sorted(found)

    def iter_issue_pages(
        self, jql: str, *, fields: Iterable[str], page_size: int = 100
    ) -> Generator[list[JsonDict], None, None]:
        """Yield the pages of issues a JQL search finds (``POST {site}/rest/api/3/search/jql``).

        Pages follow ``nextPageToken`` (there is no ``total``); Jira may return fewer issues than asked.
        Issues the account may not browse are simply not found.

        :param jql: a bounded JQL query, e.g. ``key in ("ITSM-1", "ITSM-2")``.
        :param fields: the field ids each issue carries (``id`` and ``key`` always come).
        :param page_size: ``maxResults`` to ask for.
        """
        wanted = list(fields)
        paginator = NextPageTokenPaginator(
            page_size=page_size, method=ep.JIRA_SEARCH.method, endpoint=ep.JIRA_SEARCH.path()
        )
        paging: dict[str, Any] | None = paginator.first()
        while paging is not None:
            page = self._object(ep.JIRA_SEARCH, body={"jql": jql, "fields": wanted, **paging})
            issues = page.get("issues", [])
            if not isinstance(issues, list):
                raise wrong_shape(ep.JIRA_SEARCH, ep.JIRA_SEARCH.path(), "a page of issues", page)
            yield [issue for issue in issues if isinstance(issue, dict)]
            paging = paginator.following(page)

    def update_issue(self, issue_id_or_key: str, fields: Mapping[str, Any]) -> None:
        """Set fields of a Jira issue (``PUT {site}/rest/api/3/issue/{key}`` with ``{"fields": ...}``).

        Each field gets the full value sent (an Assets field: the whole array), so repeating the call is
        harmless; a lost answer is retried and a final failure is ``maybe_applied``.

        :param issue_id_or_key: the issue's key or id.
        :param fields: field id -> new value, e.g.
            ``{"customfield_10100": [{"workspaceId": "WS", "id": "WS:131", "objectId": "131"}]}``.
        """
        self._call(ep.JIRA_ISSUE_UPDATE, issue_id_or_key, body={"fields": dict(fields)})

    def check_connection(self) -> str:
        """Prove the credentials and the workspace with two cheap reads; return a one-line summary."""
        workspace = self.workspace_id
        self._call(ep.SCHEMA_LIST, params={"startAt": 0, "maxResults": 1})
        host = urlsplit(self.api_base_url).netloc
        return f"authenticated as {self.email}; Assets workspace {workspace} answers at {host}"

    # -- object schemas -------------------------------------------------------------------------------

    def iter_object_schemas(
        self, *, page_size: int = 50, include_counts: bool = False
    ) -> Generator[JsonDict, None, None]:
        """Yield every object schema, page by page.

        :param page_size: schemas per request.
        :param include_counts: ask for ``objectCount`` and ``objectTypeCount``.
        """
        paginator = StartAtPaginator(page_size=page_size)
        for _, page in self._transport.pages(
            ep.SCHEMA_LIST, paginator, params={"includeCounts": include_counts}
        ):
            yield from page.get("values") or []

    def find_object_schema(self, key: str) -> JsonDict | None:
        """Return the object schema whose key is ``key``, or None when the site has none."""
        return next((s for s in self.iter_object_schemas() if s.get("objectSchemaKey") == key), None)

    def object_schema_by_key(self, key: str) -> JsonDict:
        """Return the object schema whose key is ``key``.

        :raises AssetsConfigError: no schema has that key (the message lists the keys that exist).
        """
        keys = []
        for schema in self.iter_object_schemas():
            if schema.get("objectSchemaKey") == key:
                return schema
            keys.append(str(schema.get("objectSchemaKey")))
        raise AssetsConfigError(
            f"schema key {key!r} does not exist on {self.site_url} "
            f"(keys there: {', '.join(sorted(keys)) or 'none'}); fix the key in the backup config, "
            "or run `airflow-assets schemas list` to see them"
        )

    def get_object_schema(self, schema_id: str) -> JsonDict:
        """Return one object schema."""
        return self._object(ep.SCHEMA, schema_id)

    def create_object_schema(self, body: Mapping[str, Any]) -> JsonDict:
        """Create an object schema from ``{name, objectSchemaKey, description?}``."""
        return self._object(ep.SCHEMA_CREATE, body=body)

    def update_object_schema(self, schema_id: str, body: Mapping[str, Any]) -> JsonDict:
        """Update an object schema with ``{name?, objectSchemaKey?, description?}``."""
        return self._object(ep.SCHEMA_UPDATE, schema_id, body=body)

    def delete_object_schema(self, schema_id: str) -> Any:
        """Delete an object schema with everything in it; return the server's answer (may be None)."""
        return self._call(ep.SCHEMA_DELETE, schema_id)

    def get_object_types(self, schema_id: str, *, include_object_counts: bool = False) -> list[JsonDict]:
        """Return every object type of a schema, flat (parents referenced by ``parentObjectTypeId``)."""
        return self._items(
            ep.SCHEMA_OBJECT_TYPES_FLAT, schema_id, params={"includeObjectCounts": include_object_counts}
        )

    def get_schema_attributes(
        self, schema_id: str, *, only_value_editable: bool = False, extended: bool = False
    ) -> list[JsonDict]:
        """Return every attribute definition of a schema."""
        params = {"onlyValueEditable": only_value_editable, "extended": extended or None}
        return self._items(ep.SCHEMA_ATTRIBUTES, schema_id, params=params)

    def get_schema_properties(self, schema_id: str) -> JsonDict:
        """Return a schema's properties (``allowOtherObjectSchema``, ``quickCreateObjects``, ...)."""
        return self._object(ep.SCHEMA_PROPERTIES, schema_id)

    def set_schema_properties(self, schema_id: str, body: Mapping[str, Any]) -> Any:
        """Set a schema's properties."""
        return self._call(ep.SCHEMA_PROPERTIES_SET, schema_id, body=body)

    # -- object types ---------------------------------------------------------------------------------

    def get_object_type(self, object_type_id: str) -> JsonDict:
        """Return one object type."""
        return self._object(ep.OBJECT_TYPE, object_type_id)

    def create_object_type(self, body: Mapping[str, Any]) -> JsonDict:
        """Create an object type from ``{name, iconId, objectSchemaId, parentObjectTypeId?, ...}``."""
        return self._object(ep.OBJECT_TYPE_CREATE, body=body)

    def update_object_type(self, object_type_id: str, body: Mapping[str, Any]) -> JsonDict:
        """Update an object type with ``{name?, description?, iconId?, inherited?, abstractObjectType?}``."""
        return self._object(ep.OBJECT_TYPE_UPDATE, object_type_id, body=body)

    def delete_object_type(self, object_type_id: str) -> Any:
        """Delete an object type; return the server's answer (may be None)."""
        return self._call(ep.OBJECT_TYPE_DELETE, object_type_id)

    def position_object_type(
        self, object_type_id: str, *, position: int, to_object_type_id: str | None = None
    ) -> Any:
        """Move an object type to ``position`` (under ``to_object_type_id`` when given)."""
        body: JsonDict = {"position": position}
        if to_object_type_id is not None:
            body["toObjectTypeId"] = to_object_type_id
        return self._call(ep.OBJECT_TYPE_POSITION, object_type_id, body=body)

    def get_object_type_attributes(
        self,
        object_type_id: str,
        *,
        only_value_editable: bool = False,
        order_by_name: bool = False,
        include_values_exist: bool = False,
        exclude_parent_attributes: bool = False,
        include_children: bool = False,
        order_by_required: bool = False,
        query: str | None = None,
    ) -> list[JsonDict]:
        """Return the attribute definitions of an object type (inherited ones included unless excluded)."""
        params = {
            "onlyValueEditable": only_value_editable,
            "orderByName": order_by_name,
            "includeValuesExist": include_values_exist,
            "excludeParentAttributes": exclude_parent_attributes,
            "includeChildren": include_children,
            "orderByRequired": order_by_required,
            "query": query,
        }
        return self._items(ep.OBJECT_TYPE_ATTRIBUTES, object_type_id, params=params)

    # -- object type attributes -----------------------------------------------------------------------

    def create_attribute(self, object_type_id: str, body: Mapping[str, Any]) -> JsonDict:
        """Create an attribute on an object type (``{name, type, defaultTypeId?, typeValue?, ...}``)."""
        return self._object(ep.ATTRIBUTE_CREATE, object_type_id, body=body)

    def update_attribute(self, object_type_id: str, attribute_id: str, body: Mapping[str, Any]) -> JsonDict:
        """Update an attribute of an object type."""
        return self._object(ep.ATTRIBUTE_UPDATE, object_type_id, attribute_id, body=body)

    def delete_attribute(self, attribute_id: str) -> Any:
        """Delete an attribute (and its values on every object)."""
        return self._call(ep.ATTRIBUTE_DELETE, attribute_id)

    def position_attribute(self, object_type_id: str, attribute_id: str, position: int) -> Any:
        """Move an attribute to ``position`` within its object type."""
        return self._call(ep.ATTRIBUTE_POSITION, object_type_id, attribute_id, body={"position": position})

    # -- AQL ------------------------------------------------------------------------------------------

    def iter_aql_pages(
        self, ql_query: str, *, page_size: int = 100, include_attributes: bool = True, start_at: int = 0
    ) -> Generator[AqlPage, None, None]:
        """Yield the pages of an AQL search; only one page is held at a time.

        :param ql_query: the AQL, e.g. ``objectSchemaId = 3``.
        :param page_size: ``maxResults`` to ask for (the server may return fewer).
        :param include_attributes: include attribute values in the objects.
        :param start_at: index of the first object.
        """
        paginator = StartAtPaginator(page_size=page_size, start_at=start_at)
        pages = self._transport.pages(
            ep.AQL, paginator, params={"includeAttributes": include_attributes}, body={"qlQuery": ql_query}
        )
        for query, page in pages:
            yield AqlPage.from_json(page, start_at=query["startAt"])

    def aql_page(
        self, ql_query: str, *, start_at: int = 0, max_results: int = 100, include_attributes: bool = True
    ) -> AqlPage:
        """Return one page of an AQL search; safe to call from several threads at once.

        The server may return fewer than ``max_results`` values: the next page starts at
        ``start_at + len(page.values)``, and ``page.is_last`` says when there is none.

        :param ql_query: the AQL, e.g. ``objectSchemaId = 3``.
        :param start_at: index of the first object of the page.
        :param max_results: ``maxResults`` to ask for.
        :param include_attributes: include attribute values in the objects.
        """
        query = StartAtPaginator(page_size=max_results, start_at=start_at).first()
        page = self._transport.page(
            ep.AQL, query, params={"includeAttributes": include_attributes}, body={"qlQuery": ql_query}
        )
        return AqlPage.from_json(page, start_at=start_at)

    def iter_objects(
        self, ql_query: str, *, page_size: int = 100, include_attributes: bool = True
    ) -> Generator[JsonDict, None, None]:
        """Yield every object an AQL search finds (see :meth:`iter_aql_pages`)."""
        for page in self.iter_aql_pages(ql_query, page_size=page_size, include_attributes=include_attributes):
            for value in page.values:
                yield dict(value)

    def count_objects(self, ql_query: str) -> int:
        """Return how many objects an AQL search finds (``object/aql/totalcount``)."""
        answer = self._object(ep.AQL_TOTAL_COUNT, body={"qlQuery": ql_query})
        count = answer.get("totalCount")
        if isinstance(count, bool) or not isinstance(count, int | str) or not str(count).isdigit():
            raise wrong_shape(ep.AQL_TOTAL_COUNT, ep.AQL_TOTAL_COUNT.path(), "a totalCount", answer)
        return int(count)

    # -- objects --------------------------------------------------------------------------------------

    def get_object(self, object_id: str) -> JsonDict:
        """Return one object with its attribute values."""
        return self._object(ep.OBJECT, object_id)

    def create_object(self, body: Mapping[str, Any]) -> JsonDict:
        """Create an object from ``{objectTypeId, attributes: [...], hasAvatar?, avatarUUID?}``."""
        return self._object(ep.OBJECT_CREATE, body=body)

    def update_object(self, object_id: str, body: Mapping[str, Any]) -> JsonDict:
        """Update an object (``ObjectIn`` body)."""
        return self._object(ep.OBJECT_UPDATE, object_id, body=body)

    def delete_object(self, object_id: str) -> Any:
        """Delete an object (and its history); return the server's answer (may be None)."""
        return self._call(ep.OBJECT_DELETE, object_id)

    def get_object_attributes(self, object_id: str) -> list[JsonDict]:
        """Return the attribute values of an object."""
        return self._items(ep.OBJECT_ATTRIBUTES, object_id)

    def get_object_history(self, object_id: str, *, ascending: bool = True) -> list[JsonDict]:
        """Return an object's history entries, oldest first unless ``ascending`` is False."""
        return self._items(ep.OBJECT_HISTORY, object_id, params={"asc": ascending})

    def get_object_reference_info(self, object_id: str) -> list[JsonDict]:
        """Return the inbound/outbound reference summary of an object."""
        return self._items(ep.OBJECT_REFERENCE_INFO, object_id)

    def get_connected_tickets(self, object_id: str) -> JsonDict:
        """Return ``{tickets: [...], allTicketsQuery}``: the Jira issues connected to an object."""
        return self._object(ep.OBJECT_CONNECTED_TICKETS, object_id)

    # -- comments -------------------------------------------------------------------------------------

    def get_object_comments(self, object_id: str) -> list[JsonDict]:
        """Return the comments of an object."""
        return self._items(ep.OBJECT_COMMENTS, object_id)

    def create_comment(self, object_id: str, comment: str, *, role: int = 0) -> JsonDict:
        """Comment on an object; ``role`` 0 Users, 1 Managers, 2 Admins, 3 Developers may see it."""
        body = {"comment": comment, "objectId": str(object_id), "role": role}
        return self._object(ep.COMMENT_CREATE, body=body)

    # -- configuration --------------------------------------------------------------------------------

    def get_status_types(self, *, object_schema_id: str | None = None) -> list[JsonDict]:
        """Return the status types of a schema, or the global ones when no schema is given."""
        return self._items(ep.STATUS_TYPES, params={"objectSchemaId": object_schema_id})

    def create_status_type(self, body: Mapping[str, Any]) -> JsonDict:
        """Create a status type from ``{name, category, description?, objectSchemaId?}``."""
        return self._object(ep.STATUS_TYPE_CREATE, body=body)

    def update_status_type(self, status_type_id: str, body: Mapping[str, Any]) -> JsonDict:
        """Update a status type with ``{name?, category?, description?, objectSchemaId?}``."""
        return self._object(ep.STATUS_TYPE_UPDATE, status_type_id, body=body)

    def delete_status_type(self, status_type_id: str) -> Any:
        """Delete a status type; return the server's answer (may be None)."""
        return self._call(ep.STATUS_TYPE_DELETE, status_type_id)

    def get_reference_types(
        self, *, object_schema_id: str | None = None, include_all: bool = False
    ) -> list[JsonDict]:
        """Return the reference types of a schema (``include_all``: global ones too)."""
        params = {"objectSchemaId": object_schema_id, "includeAll": include_all or None}
        return self._items(ep.REFERENCE_TYPES, params=params)

    def create_reference_type(self, body: Mapping[str, Any]) -> JsonDict:
        """Create a reference type from ``{name, description?, color?, objectSchemaId?}``."""
        return self._object(ep.REFERENCE_TYPE_CREATE, body=body)

    def update_reference_type(self, reference_type_id: str, body: Mapping[str, Any]) -> JsonDict:
        """Update a reference type with ``{name?, description?, color?, objectSchemaId?}``."""
        return self._object(ep.REFERENCE_TYPE_UPDATE, reference_type_id, body=body)

    def delete_reference_type(self, reference_type_id: str) -> Any:
        """Delete a reference type; return the server's answer (may be None)."""
        return self._call(ep.REFERENCE_TYPE_DELETE, reference_type_id)

    def get_global_icons(self) -> list[JsonDict]:
        """Return the global icons (``{id, name, url16, url48}``)."""
        return self._items(ep.GLOBAL_ICONS)

    def get_icon(self, icon_id: str) -> JsonDict:
        """Return one icon."""
        return self._object(ep.ICON, icon_id)

    # -- concurrency ----------------------------------------------------------------------------------

    @overload
    def map_concurrent(
        self,
        fn: Callable[[T], R],
        items: Iterable[T],
        *,
        max_workers: int | None = None,
        max_in_flight: int | None = None,
        return_exceptions: Literal[False] = False,
        ordered: bool = True,
    ) -> Generator[tuple[T, R], None, None]: ...

    @overload
    def map_concurrent(
        self,
        fn: Callable[[T], R],
        items: Iterable[T],
        *,
        max_workers: int | None = None,
        max_in_flight: int | None = None,
        return_exceptions: Literal[True],
        ordered: bool = True,
    ) -> Generator[tuple[T, R | Exception], None, None]: ...

    def map_concurrent(
        self,
        fn: Callable[[T], R],
        items: Iterable[T],
        *,
        max_workers: int | None = None,
        max_in_flight: int | None = None,
        return_exceptions: bool = False,
        ordered: bool = True,
    ) -> Generator[tuple[T, R], None, None] | Generator[tuple[T, R | Exception], None, None]:
        """Call ``fn`` (usually a method of this client) on each item concurrently; yield the results.

        Yields ``(item, result)`` in input order, or as each call finishes with ``ordered=False`` (then an
        item stuck in a retry backoff never idles the workers: use it when order does not matter). A failed
        item raises its error (in order: once the items before it were yielded), or, with
        ``return_exceptions=True``, is yielded as ``(item, exception)`` and the map goes on. At most
        ``max_in_flight`` items (default eight times the workers) are taken from ``items`` ahead of the
        consumer, so a generator of millions of ids is fine. The pacers keep the requests within the budget.

        :param fn: the per-item call, e.g. ``client.get_object_history``.
        :param items: the items, e.g. object ids; consumed lazily.
        :param max_workers: threads (default: the client's ``max_workers``).
        :param max_in_flight: items taken but not yet yielded.
        :param return_exceptions: yield failures instead of raising the first one.
        :param ordered: yield in input order (default) or as calls finish.
        """
        workers = self.max_workers if max_workers is None else max_workers
        mapper = map_ordered if ordered else map_as_completed
        return mapper(
            fn, items, max_workers=workers, max_in_flight=max_in_flight, return_exceptions=return_exceptions
        )

    # -- calls ----------------------------------------------------------------------------------------

    # _redact and _pacer stay on the client for the tests that inspect them.

    @property
    def _redact(self) -> Redactor:
        return self._transport.redact

    def _pacer(self, rate_class: str) -> Pacer:
        return self._transport.pacer(rate_class)

    def _call(
        self,
        endpoint: Endpoint,
        *ids: str,
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> Any:
        """Send one logical call; return the parsed JSON answer (None if empty)."""
        return self._transport.call(endpoint, *ids, params=params, body=body)

    def _object(
        self,
        endpoint: Endpoint,
        *ids: str,
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> JsonDict:
        """Call an endpoint that answers one JSON object."""
        answer = self._call(endpoint, *ids, params=params, body=body)
        if isinstance(answer, dict):
            return answer
        raise wrong_shape(endpoint, endpoint.path(*ids), "a JSON object", answer)

    def _items(
        self,
        endpoint: Endpoint,
        *ids: str,
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> list[JsonDict]:
        """Call an endpoint that answers a JSON list, or a page of ``values`` (then fetch every page).

        These lists are small (definitions, history, configuration), so the pages are gathered in one list.
        """
        answer = self._call(endpoint, *ids, params=params, body=body)
        if isinstance(answer, list):
            return answer
        if not isinstance(answer, dict) or not isinstance(answer.get("values"), list):
            raise wrong_shape(endpoint, endpoint.path(*ids), "a JSON list", answer)
        values = list(answer["values"])
        if values and says_more_pages(answer):
            # A page that says more follow: returning it alone would silently truncate the list.
            paginator = StartAtPaginator(
                page_size=_page_size(params, answer, default=len(values)),
                start_at=_count(answer.get("startAt"), default=0) + len(values),
            )
            for _, page in self._transport.pages(endpoint, paginator, *ids, params=params, body=body):
                values.extend(page.get("values") or [])
        return values


def _count(value: Any, *, default: int) -> int:
    """Return ``value`` as an integer >= 0 (numbers may arrive as strings), else ``default``."""
    if isinstance(value, bool):
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        return default
    return number if number >= 0 else default


def _page_size(params: Mapping[str, Any] | None, page: Mapping[str, Any], *, default: int) -> int:
    """Return the page size to go on with: the caller's ``maxResults``, else the one the server used."""
    for value in ((params or {}).get("maxResults"), page.get("maxResults")):
        size = _count(value, default=0)
        if size > 0:
            return size
    return max(default, 1)
