"""The one-line messages the commands print about an Airflow connection they cannot use."""

from __future__ import annotations


def not_defined(conn_id: str) -> str:
    """Say that no secrets backend, environment variable or metadata database holds ``conn_id``."""
    return (
        f"connection {conn_id!r} is not defined "
        f"(add it in the UI, with `airflow connections add`, or as AIRFLOW_CONN_{conn_id.upper()})"
    )


def connection_problem(conn_id: str, error: BaseException) -> str:
    """Say what is wrong with a connection that exists (unreadable, wrong type, incomplete), in one line."""
    return about_connection(conn_id, first_line(error))


def about_connection(conn_id: str, text: str) -> str:
    """Prefix ``text`` with the connection it is about, unless it already names it first."""
    prefix = f"connection {conn_id!r}"
    return text if text.startswith(prefix) else f"{prefix}: {text}"


def first_line(error: BaseException) -> str:
    """Return the first line of an error's message (its class name when it has none)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
