"""Start a sandbox site: state, seed data, realism switches and the HTTP server, wired together."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from airflow_assets.sandbox.app import create_app
from airflow_assets.sandbox.model import Site
from airflow_assets.sandbox.realism import RealismConfig, RealismMiddleware
from airflow_assets.sandbox.seed import SeedSummary, seed_demo, seed_directory
from airflow_assets.sandbox.server import serve_in_thread

SANDBOX_EMAIL = "sandbox-admin@example.com"
SEEDS = ("demo", "empty", "directory")


@dataclass(frozen=True)
class RunningSandbox:
    """A sandbox serving on a real port, with the credentials a client needs."""

    url: str
    workspace_id: str
    email: str
    api_token: str
    site: Site
    seed: SeedSummary | None
    realism: RealismMiddleware

    @property
    def api_base_url(self) -> str:
        """Return the Assets API base URL of this sandbox."""
        return f"{self.url}/jsm/assets/workspace/{self.workspace_id}/v1"

    def __repr__(self) -> str:
        return f"RunningSandbox(url={self.url!r}, workspace_id={self.workspace_id!r}, email={self.email!r})"


def build_site(
    *, seed: str | None = "demo", objects: int | None = None, site_name: str | None = None
) -> tuple[Site, SeedSummary | None]:
    """Create a site with fresh credentials, seeded as asked.

    :param seed: ``"demo"`` for the demo CMDB, ``"directory"`` for its users and groups only (a migration
        target), ``"empty"`` or ``None`` for an empty site.
    :param objects: scale the demo to about this many objects (benchmarks).
    :param site_name: names a second site: it gets its own workspace id, as every Cloud site has one.
    """
    if seed not in (*SEEDS, None):
        raise ValueError(f"unknown seed {seed!r}: choose one of {', '.join(SEEDS)}")
    if objects is not None and seed != "demo":
        raise ValueError("objects= only applies to the demo seed")
    # The workspace id is stable (tests and docs may show it); the token is fresh on every start.
    site = Site(
        workspace_id=str(
            uuid.uuid5(uuid.NAMESPACE_URL, "airflow-assets-sandbox" + (f"/{site_name}" if site_name else ""))
        ),
        email=SANDBOX_EMAIL,
        api_token=secrets.token_urlsafe(24),
    )
    summary = seed_demo(site, objects=objects) if seed == "demo" else None
    if seed == "directory":
        seed_directory(site)
    return site, summary


def build_app(site: Site, realism: RealismConfig | None = None) -> RealismMiddleware:
    """Wrap the sandbox app in the realism middleware (a pass-through when every switch is off)."""
    return RealismMiddleware(create_app(site), realism or RealismConfig())


@contextmanager
def run_sandbox(
    *,
    seed: str | None = "demo",
    objects: int | None = None,
    realism: RealismConfig | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    site_name: str | None = None,
) -> Iterator[RunningSandbox]:
    """Serve a sandbox site in a background thread until the block exits."""
    site, summary = build_site(seed=seed, objects=objects, site_name=site_name)
    app = build_app(site, realism)
    with serve_in_thread(app, host, port) as url:
        yield RunningSandbox(url, site.workspace_id, site.email, site.api_token, site, summary, app)
