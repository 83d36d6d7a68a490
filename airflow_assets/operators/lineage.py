"""Name the OpenLineage datasets of the backup and restore tasks: Assets schemas and the backup store.

A backup reads an Assets schema and writes the collections a snapshot lives in; a restore reads them and
writes the target schema. Names follow OpenLineage's naming conventions:

- an Assets schema: namespace ``jira-assets://<site host>[:<port>]``, name ``<workspace id>/<schema key>``;
- a collection of the backup store: namespace ``mongodb://<host>:<port>``, name ``<database>.<collection>``
  (MongoDB is not in the spec's table: this is the ``{host}:{port}`` / ``{database}.{table}`` pattern of its
  MySQL and Cassandra rows, with the scheme of MongoDB's connection strings).

Names are built from host names and ports only: never a login, password, token or connection option.

The naming is plain Python. :func:`operator_lineage` alone imports the OpenLineage provider, when it is
called, and returns None when the provider is not installed: then nothing else changes.

:class:`NotesLineage` works the datasets out in the task's own process, right after the step: the provider
asks for them from a forked child, where reading the store is not safe (see there).
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

ASSETS_SCHEME = "jira-assets"
MONGO_SCHEME = "mongodb"
MONGO_DEFAULT_PORT = 27017
_DEFAULT_PORTS = {"https": 443, "http": 80}


@dataclass(frozen=True)
class DatasetName:
    """One OpenLineage dataset: where it lives (namespace) and what it is there (name)."""

    namespace: str
    name: str


@dataclass(frozen=True)
class TaskLineage:
    """The datasets a task read (inputs) and wrote (outputs)."""

    inputs: tuple[DatasetName, ...] = ()
    outputs: tuple[DatasetName, ...] = ()


def assets_namespace(site_url: str) -> str:
    """Return the namespace of an Assets site: its host, and its port when not the scheme's default.

    :param site_url: the site's address, e.g. ``https://example.atlassian.net``.
    :raises ValueError: the address names no host.
    """
    parts = urlsplit(site_url.strip() if "//" in site_url else f"https://{site_url.strip()}")
    host = parts.hostname  # no user name or password, whatever the address carried
    if not host:
        # Not the address itself in the message: it may carry credentials.
        raise ValueError("the site address names no host")
    port = _port(parts)
    explicit = port is not None and port != _DEFAULT_PORTS.get(parts.scheme)
    return f"{ASSETS_SCHEME}://{_bracketed(host)}{f':{port}' if explicit else ''}"


def assets_schema(site_url: str, workspace_id: str, schema_key: str) -> DatasetName:
    """Return the dataset of one object schema of an Assets site.

    :param site_url: the site's address.
    :param workspace_id: the site's Assets workspace id.
    :param schema_key: the object schema key.
    """
    return DatasetName(assets_namespace(site_url), f"{workspace_id}/{schema_key}")


def mongo_namespace(host: str | None, port: int | None = None) -> str:
    """Return the namespace of a MongoDB deployment as an Airflow ``mongo`` connection describes it.

    The host may be a list (``h1:27017,h2:27018``) or, pasted by mistake, a whole connection string with
    credentials and options: the first host and its port name the deployment, nothing else is kept.

    :param host: the connection's host field.
    :param port: the connection's port field (27017 when neither it nor the host gives one).
    """
    text = (host or "").strip()
    if "://" in text:
        text = text.split("://", 1)[1]
    text = text.rsplit("@", 1)[-1]  # credentials end at the last "@" (a password may hold "@" itself)
    text = text.split("/", 1)[0].split("?", 1)[0]
    first = text.split(",", 1)[0].strip() or "localhost"
    parts = urlsplit(f"//{first}")
    name = parts.hostname or "localhost"
    given = _port(parts)
    chosen = given if given is not None else (port or MONGO_DEFAULT_PORT)
    return f"{MONGO_SCHEME}://{_bracketed(name)}:{chosen}"


def mongo_connection_namespace(connection: Any) -> str:
    """Return the namespace of the deployment an Airflow ``mongo`` connection points at."""
    return mongo_namespace(getattr(connection, "host", None), getattr(connection, "port", None))


def store_collections(namespace: str, database: str, collections: Iterable[str]) -> tuple[DatasetName, ...]:
    """Return the datasets of some collections of the backup database."""
    return tuple(DatasetName(namespace, f"{database}.{collection}") for collection in collections)


def backup_lineage(schema: DatasetName, store: tuple[DatasetName, ...]) -> TaskLineage:
    """Return a backup task's lineage: the schema in, the backup store's collections out."""
    return TaskLineage(inputs=(schema,), outputs=store)


def restore_lineage(
    store: tuple[DatasetName, ...],
    targets: Iterable[DatasetName],
    *,
    writes: bool,
    reads_target: bool = False,
) -> TaskLineage:
    """Return a restore task's lineage: the backup store in; the target schemas out when the task writes.

    :param writes: the task writes into the target schemas (a dry run or a planning step does not).
    :param reads_target: the task reads the target schemas without writing (verify compares them).
    """
    target_datasets = tuple(dict.fromkeys(targets))
    return TaskLineage(
        inputs=store + (target_datasets if reads_target and not writes else ()),
        outputs=target_datasets if writes else (),
    )


def operator_lineage(lineage: TaskLineage | None) -> Any:
    """Return the lineage as the OpenLineage provider's ``OperatorLineage``; None without the provider.

    Each dataset carries the standard ``dataSource`` facet (its namespace), so lineage tools group the
    schemas of one site and the collections of one deployment.
    """
    if lineage is None:
        return None
    try:
        from airflow.providers.openlineage.extractors import OperatorLineage
        from openlineage.client.event_v2 import Dataset
        from openlineage.client.facet_v2 import datasource_dataset
    except ImportError:
        # The provider is optional: without it no one asks for lineage, and no one should hear about it.
        return None

    def dataset(named: DatasetName) -> Any:
        source = datasource_dataset.DatasourceDatasetFacet(name=named.namespace, uri=named.namespace)
        return Dataset(namespace=named.namespace, name=named.name, facets={"dataSource": source})

    return OperatorLineage(
        inputs=[dataset(named) for named in lineage.inputs],
        outputs=[dataset(named) for named in lineage.outputs],
    )


def openlineage_installed() -> bool:
    """Return whether the OpenLineage provider can be imported (nothing is imported to find out)."""
    try:
        return importlib.util.find_spec("airflow.providers.openlineage") is not None
    except (ImportError, ValueError):  # a parent package missing, or a module without a spec
        return False


class NotesLineage:
    """An operator whose lineage is read from what its run stored, and noted when the step ends.

    The OpenLineage provider calls ``get_openlineage_facets_on_complete`` in a child process it forks from
    the task's. A connection that is not in the environment is fetched there over the task's channel to
    Airflow, which the child shares with its parent or, under ``dag.test()``, does not have at all: the
    child waits until the provider kills it, and the task's COMPLETE event is never sent. So the step
    calls :meth:`note_lineage` at its end, in its own process, and the child only reads what was noted.
    Asked for a run it has not noted (a test calling it after the run), the operator reads the store.
    """

    _noted_lineage: tuple[str, TaskLineage | None] | None = None

    def run_lineage(self, dag_id: str, run_id: str) -> TaskLineage | None:
        """Return what this task read and wrote in a run, from what the run stored."""
        raise NotImplementedError

    def note_lineage(self, dag_id: str, run_id: str) -> None:
        """Work out the run's lineage now, when the provider is installed and will ask for it.

        A failure is logged, never raised: lineage is a report about a step that has succeeded.
        """
        if not openlineage_installed():
            return
        try:
            self._noted_lineage = (run_id, self.run_lineage(dag_id, run_id))
        except Exception as error:  # the step succeeded; only its report is missing
            log.warning("the lineage of this step could not be worked out: %s", type(error).__name__)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """Return the task's OpenLineage datasets; only the OpenLineage provider calls this.

        None without the provider, or when the run stored nothing to name.
        """
        noted = self._noted_lineage
        if noted is not None and noted[0] == task_instance.run_id:
            return operator_lineage(noted[1])
        return operator_lineage(self.run_lineage(task_instance.dag_id, task_instance.run_id))


def _port(parts: Any) -> int | None:
    try:
        return int(parts.port) if parts.port is not None else None
    except ValueError:  # not a number, or out of range: no port rather than a failed task
        return None


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host
