"""The docker compose deployment: valid Compose, in step with the lock file, the Dockerfile and the config.

There is no Docker engine in CI, so the file is checked against the Compose Specification's JSON schema
(vendored in ``tests/compose/``) after interpolating ``.env.example`` the way Compose does, except that a
variable neither set nor defaulted is an error here (Compose would warn and substitute an empty string).
Where ``docker compose`` exists, ``docker compose config`` checks it too.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jsonschema
import pytest
import yaml

from airflow_assets.cli import build_parser
from airflow_assets.config.backup_config import BackupConfig
from airflow_assets.config.loading import load_config

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yaml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILE = ROOT / "Dockerfile"
LOCK_FILE = ROOT / "requirements-lock.txt"
INIT_SCRIPT = ROOT / "deploy" / "init.sh"
SCHEMA_FILE = ROOT / "tests" / "compose" / "compose-spec.json"

PLACEHOLDER = "change-me"
SHARED_SERVICES = {"postgres", "mongo", "airflow-init"}
CELERY_SERVICES = {
    "redis",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker-1",
    "airflow-worker-2",
}
LOCAL_SERVICES = {
    "airflow-apiserver-local",
    "airflow-scheduler-local",
    "airflow-dag-processor-local",
    "airflow-triggerer-local",
}
# Airflow components of each set: the command each runs, and its executor.
COMPONENTS = {"api-server", "scheduler", "dag-processor", "triggerer"}


class InterpolationError(ValueError):
    """A ``${...}`` that cannot be resolved: unknown variable, ``:?`` error, or bad syntax."""


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Resolve Compose's variables in ``text``; refuse one that is neither set nor defaulted.

    ``$$``, ``$VAR``, ``${VAR}``, ``${VAR-d}``, ``${VAR:-d}``, ``${VAR?e}``, ``${VAR:?e}``, ``${VAR+a}``,
    ``${VAR:+a}``; defaults may nest.
    """
    out: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char != "$":
            out.append(char)
            index += 1
            continue
        following = text[index + 1 : index + 2]
        if following == "$":
            out.append("$")
            index += 2
        elif following == "{":
            end = _closing_brace(text, index + 2)
            out.append(_substitute(text[index + 2 : end], env))
            index = end + 1
        elif match := _NAME.match(text, index + 1):
            out.append(_substitute(match.group(), env))
            index = match.end()
        else:
            raise InterpolationError(f"a lone '$' at {index} in {text!r}: write '$$' for a literal dollar")
    return "".join(out)


def _closing_brace(text: str, start: int) -> int:
    depth = 1
    index = start
    while index < len(text):
        if text.startswith("$$", index):
            index += 2
            continue
        if text.startswith("${", index):
            depth += 1
            index += 2
            continue
        if text[index] == "}":
            depth -= 1
            if depth == 0:
                return index
        index += 1
    raise InterpolationError(f"unclosed '${{' in {text!r}")


def _substitute(expression: str, env: Mapping[str, str]) -> str:
    match = _NAME.match(expression)
    if match is None:
        raise InterpolationError(f"'${{{expression}}}' does not start with a variable name")
    name, rest = match.group(), expression[match.end() :]
    value = env.get(name)
    if rest == "":
        if value is None:
            raise InterpolationError(f"variable {name} is not set and has no default")
        return value
    operator = next((op for op in (":-", ":?", ":+", "-", "?", "+") if rest.startswith(op)), None)
    if operator is None:
        raise InterpolationError(f"'${{{expression}}}': unknown operator after {name}")
    word = rest[len(operator) :]
    present = bool(value) if operator.startswith(":") else value is not None
    # The word is interpolated only when used, as in Compose: an unused default may name unset variables.
    if operator.endswith("-"):
        return value if present and value is not None else interpolate(word, env)
    if operator.endswith("?"):
        if not present or value is None:
            raise InterpolationError(f"variable {name}: {interpolate(word, env) or 'required'}")
        return value
    return interpolate(word, env) if present else ""


def interpolate_tree(node: Any, env: Mapping[str, str]) -> Any:
    """Interpolate every string value of a parsed Compose file (keys stay as written, as Compose does)."""
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, dict):
        return {key: interpolate_tree(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [interpolate_tree(item, env) for item in node]
    return node


def read_env_file(path: Path) -> dict[str, str]:
    """Read a Compose ``.env`` file: ``KEY=VALUE`` lines, ``#`` comments, optional quotes around the value."""
    env: dict[str, str] = {}
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, separator, value = line.partition("=")
        assert separator and _NAME.fullmatch(key), f"{path.name}:{number}: not KEY=VALUE: {raw!r}"
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        env[key] = value
    return env


def environment_of(service: Mapping[str, Any]) -> dict[str, str]:
    """Return a service's ``environment`` as a dict, whichever of the two Compose forms it uses."""
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        return dict(item.partition("=")[::2] for item in environment)
    return {key: "" if value is None else str(value) for key, value in environment.items()}


@pytest.fixture(scope="module")
def example_env() -> dict[str, str]:
    return read_env_file(ENV_EXAMPLE)


@pytest.fixture(scope="module")
def raw_compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def compose(raw_compose: dict[str, Any], example_env: dict[str, str]) -> dict[str, Any]:
    resolved = interpolate_tree(raw_compose, example_env)
    assert isinstance(resolved, dict)
    return resolved


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA_FILE.read_text())
    # The vendored schema names the draft by its old http:// address, which jsonschema does not look up.
    assert (
        schema["$schema"].replace("http://", "https://").rstrip("#")
        == "https://json-schema.org/draft/2019-09/schema"
    )
    jsonschema.Draft201909Validator.check_schema(schema)
    return jsonschema.Draft201909Validator(schema)


@pytest.fixture(scope="module")
def backup_config(compose: dict[str, Any]) -> BackupConfig:
    """The backup config the compose stack mounts: the host file behind JIRA_ASSETS_CONFIG."""
    service = compose["services"]["airflow-scheduler"]
    container_path = environment_of(service)["JIRA_ASSETS_CONFIG"]
    return load_config(host_path_of(service, container_path))


def host_path_of(service: Mapping[str, Any], container_path: str) -> Path:
    """Return the file of the repository a bind mount of ``service`` shows at ``container_path``."""
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if not source.startswith("."):
            continue  # a named volume
        if container_path == target or container_path.startswith(target.rstrip("/") + "/"):
            return ROOT / source / Path(container_path).relative_to(target)
    raise AssertionError(f"{container_path} is not bind-mounted into the service")


# --- the interpolator --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${A}-$A", "x-x"),
        ("${EMPTY:-d} ${EMPTY-d} ${UNSET-d}", "d  d"),
        ("${UNSET:-${A}/${EMPTY:-e}}", "x/e"),
        ("${A:?boom} ${A?boom}", "x x"),
        ("${A:+alt}|${EMPTY:+alt}|${EMPTY+alt}", "alt||alt"),
        ('test "$${HOSTNAME}" costs $$5', 'test "${HOSTNAME}" costs $5'),
        ("${A:-${UNSET}}", "x"),
    ],
)
def test_interpolate_follows_compose(text: str, expected: str) -> None:
    assert interpolate(text, {"A": "x", "EMPTY": ""}) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("${UNSET}", "UNSET is not set"),
        ("$UNSET", "UNSET is not set"),
        ("${EMPTY:?set EMPTY in .env}", "EMPTY: set EMPTY in .env"),
        ("${UNSET?}", "UNSET: required"),
        ("${A", "unclosed"),
        ("${A!x}", "unknown operator"),
        ("cost $5", "lone '\\$'"),
    ],
)
def test_interpolate_refuses_what_it_cannot_resolve(text: str, message: str) -> None:
    with pytest.raises(InterpolationError, match=message):
        interpolate(text, {"A": "x", "EMPTY": ""})


# --- the Compose Specification -----------------------------------------------------------------------------


def test_compose_file_with_env_example_is_valid_compose(
    compose: dict[str, Any], validator: jsonschema.protocols.Validator
) -> None:
    errors = sorted(validator.iter_errors(compose), key=lambda error: list(error.absolute_path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)


def _bad_condition(config: dict[str, Any]) -> None:
    config["services"]["airflow-scheduler"]["depends_on"]["postgres"]["condition"] = "nope"


def _unknown_top_level_key(config: dict[str, Any]) -> None:
    config["servces"] = {}


def _unknown_healthcheck_key(config: dict[str, Any]) -> None:
    config["services"]["mongo"]["healthcheck"]["intervall"] = "10s"


def _profiles_not_a_list(config: dict[str, Any]) -> None:
    config["services"]["redis"]["profiles"] = "celery"


@pytest.mark.parametrize(
    "breakage", [_bad_condition, _unknown_top_level_key, _unknown_healthcheck_key, _profiles_not_a_list]
)
def test_schema_rejects_a_broken_copy(
    compose: dict[str, Any], validator: jsonschema.protocols.Validator, breakage: Any
) -> None:
    broken = copy.deepcopy(compose)
    breakage(broken)
    assert not validator.is_valid(broken)


def test_env_example_defines_every_variable_and_nothing_unused(
    raw_compose: dict[str, Any], example_env: dict[str, str]
) -> None:
    text = json.dumps(raw_compose)
    used = set(re.findall(r"(?<!\$)\$\{?([A-Za-z_][A-Za-z0-9_]*)", text))
    # COMPOSE_PROFILES is read by Compose itself; JIRA_ASSETS_BACKUP_URI is optional (commented out).
    assert set(example_env) - used == {"COMPOSE_PROFILES"}
    required = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*):?\?", text))
    assert required <= set(example_env)


@pytest.mark.skipif(shutil.which("docker") is None, reason="no docker client")
@pytest.mark.parametrize("profile", ["celery", "local"])
def test_docker_compose_config_accepts_the_file(profile: str) -> None:
    version = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True, check=False)
    if version.returncode != 0:
        pytest.skip(f"docker has no compose plugin here ({(version.stderr or version.stdout).strip()[:80]})")
    result = subprocess.run(
        ["docker", "compose", "--env-file", str(ENV_EXAMPLE), "--profile", profile, "config", "-q"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


# --- the services ------------------------------------------------------------------------------------------


def test_services_and_profiles(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == SHARED_SERVICES | CELERY_SERVICES | LOCAL_SERVICES | {"airflow-cli"}
    for name in SHARED_SERVICES:
        assert "profiles" not in services[name], f"{name} serves both sets"
    for name in CELERY_SERVICES:
        assert services[name]["profiles"] == ["celery"], name
    for name in LOCAL_SERVICES:
        assert services[name]["profiles"] == ["local"], name
    assert services["airflow-cli"]["profiles"] == ["debug"]
    workers = sorted(name for name, service in services.items() if service.get("command") == "celery worker")
    assert workers == ["airflow-worker-1", "airflow-worker-2"]
    assert services["airflow-worker-1"]["hostname"] != services["airflow-worker-2"]["hostname"]


@pytest.mark.parametrize(
    ("members", "executor", "apiserver"),
    [(CELERY_SERVICES, "CeleryExecutor", "airflow-apiserver"), (LOCAL_SERVICES, "LocalExecutor", None)],
    ids=["celery", "local"],
)
def test_each_set_is_complete_and_consistent(
    compose: dict[str, Any], members: set[str], executor: str, apiserver: str | None
) -> None:
    services = compose["services"]
    airflow = {name for name in members if "JIRA_ASSETS_CONFIG" in environment_of(services[name])}
    assert {services[name]["command"] for name in airflow} >= COMPONENTS
    apiserver = apiserver or next(name for name in airflow if services[name]["command"] == "api-server")
    for name in airflow:
        env = environment_of(services[name])
        assert env["AIRFLOW__CORE__EXECUTOR"] == executor, name
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == f"http://{apiserver}:8080/execution/", name
        depends_on = services[name]["depends_on"]
        assert depends_on["airflow-init"] == {"condition": "service_completed_successfully"}, name
        # A set starts on its own: it never waits for a service of the other set.
        assert set(depends_on) <= members | SHARED_SERVICES, name
    if executor == "CeleryExecutor":
        assert all(environment_of(services[name])["AIRFLOW__CELERY__BROKER_URL"] for name in airflow)


def test_every_long_running_service_has_a_healthcheck_and_dependencies_wait_for_it(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    for name, service in services.items():
        if name not in {"airflow-init", "airflow-cli"}:
            assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
            assert service.get("restart") == "always", name
        for target, condition in (service.get("depends_on") or {}).items():
            assert target in services, f"{name} depends on unknown {target}"
            if target == "airflow-init":
                assert condition["condition"] == "service_completed_successfully"
            else:
                assert condition["condition"] == "service_healthy", f"{name} -> {target}"
    tests = {
        name: " ".join(service["healthcheck"]["test"])
        for name, service in services.items()
        if name != "airflow-init" and "healthcheck" in service
    }
    assert "pg_isready" in tests["postgres"]
    assert "redis-cli ping" in tests["redis"]
    assert 'db.adminCommand("ping")' in tests["mongo"]
    assert "/api/v2/monitor/health" in tests["airflow-apiserver"]
    assert "inspect ping" in tests["airflow-worker-1"]


def test_mongo_has_authentication_and_a_persistent_volume(compose: dict[str, Any]) -> None:
    mongo = compose["services"]["mongo"]
    env = environment_of(mongo)
    assert env["MONGO_INITDB_ROOT_USERNAME"] and env["MONGO_INITDB_ROOT_PASSWORD"]
    data_volume = next(
        volume.split(":")[0] for volume in mongo["volumes"] if volume.split(":")[1] == "/data/db"
    )
    assert data_volume in compose["volumes"]


# --- versions, connections, pools --------------------------------------------------------------------------


def test_airflow_version_matches_the_lock_file(compose: dict[str, Any], raw_compose: dict[str, Any]) -> None:
    pin = re.search(r"^apache-airflow==(\S+)$", LOCK_FILE.read_text(), re.MULTILINE)
    assert pin, "requirements-lock.txt pins no apache-airflow"
    version = pin.group(1)
    build = raw_compose["x-airflow-common"]["build"]
    assert build["args"]["AIRFLOW_VERSION"] == version
    assert compose["services"]["airflow-scheduler"]["image"].split(":")[-1].startswith(f"{version}-python")
    dockerfile = DOCKERFILE.read_text()
    assert f"ARG AIRFLOW_VERSION={version}\n" in dockerfile
    assert f"ARG PYTHON_VERSION={build['args']['PYTHON_VERSION']}\n" in dockerfile
    assert "FROM apache/airflow:${AIRFLOW_VERSION}-python${PYTHON_VERSION}\n" in dockerfile
    assert re.search(r'pip install --no-cache-dir "apache-airflow==\$\{AIRFLOW_VERSION\}"', dockerfile)
    assert "[celery]" in dockerfile


def test_connections_match_the_mounted_config(compose: dict[str, Any], backup_config: BackupConfig) -> None:
    used = {backup_config.mongo.conn_id} | {site.conn_id for site in backup_config.sites.values()}
    for name, service in compose["services"].items():
        env = environment_of(service)
        if "JIRA_ASSETS_CONFIG" not in env:
            continue
        defined = {
            key.removeprefix("AIRFLOW_CONN_").lower() for key in env if key.startswith("AIRFLOW_CONN_")
        }
        assert defined == used, f"{name}: AIRFLOW_CONN_ for {sorted(defined)}, the config uses {sorted(used)}"


def test_connection_values_parse(compose: dict[str, Any], backup_config: BackupConfig) -> None:
    env = environment_of(compose["services"]["airflow-worker-1"])
    site = json.loads(env["AIRFLOW_CONN_JIRA_ASSETS_DEFAULT"])
    assert site["conn_type"] == "jira_assets"
    assert {"host", "login", "password"} <= set(site)
    backup = urlsplit(env["AIRFLOW_CONN_JIRA_ASSETS_BACKUP"])
    assert (backup.scheme, backup.hostname, backup.port) == ("mongo", "mongo", 27017)
    assert parse_qs(backup.query)["authSource"] == ["admin"]
    # The backup user may write one database: the one the config stores backups in.
    assert environment_of(compose["services"]["mongo"])["MONGO_APP_DATABASE"] == backup_config.mongo.database


def test_dags_and_config_are_mounted(compose: dict[str, Any]) -> None:
    scheduler = compose["services"]["airflow-scheduler"]
    assert host_path_of(scheduler, "/opt/airflow/dags/jira_assets_backup.py").is_file()
    assert host_path_of(scheduler, "/opt/airflow/deploy/init.sh") == INIT_SCRIPT


def test_airflow_init_creates_the_pools_with_the_real_cli(compose: dict[str, Any]) -> None:
    init = compose["services"]["airflow-init"]
    script_path = host_path_of(init, init["command"][-1])
    assert script_path == INIT_SCRIPT
    script = INIT_SCRIPT.read_text()
    assert "airflow db migrate" in script
    commands = re.findall(r"^airflow-assets (pools \w+ .*)$", script, re.MULTILINE)
    assert [command.split()[:2] for command in commands] == [["pools", "create"], ["pools", "check"]]
    for command in commands:
        arguments = command.replace('"${JIRA_ASSETS_CONFIG}"', "/opt/airflow/deploy/jira_assets.yaml").split()
        parsed = build_parser().parse_args(arguments)
        assert parsed.config == environment_of(init)["JIRA_ASSETS_CONFIG"]


# --- secrets -----------------------------------------------------------------------------------------------


def test_env_is_git_ignored_and_env_example_is_not() -> None:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    ignored = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=ROOT, check=False)
    assert ignored.returncode == 0, ".env is not git-ignored"
    example = subprocess.run(["git", "check-ignore", "-q", ".env.example"], cwd=ROOT, check=False)
    assert example.returncode == 1, ".env.example is git-ignored"


def test_env_example_holds_placeholders_only(example_env: dict[str, str]) -> None:
    secret_names = [name for name in example_env if re.search(r"PASSWORD|SECRET|TOKEN|FERNET|_KEY$", name)]
    assert len(secret_names) >= 8
    for name in secret_names:
        assert example_env[name] == PLACEHOLDER, f"{name} in .env.example must be {PLACEHOLDER!r}"
    for name, value in example_env.items():
        # Anything long, unbroken and mixing letters and digits looks like a key or token.
        looks_random = re.fullmatch(r"[A-Za-z0-9+/=_-]{20,}", value) and re.search(r"\d", value)
        assert not looks_random, f"{name} in .env.example looks like a real secret"
