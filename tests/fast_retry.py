"""The retry policy of every test: the production retry logic, with waits in milliseconds."""

from __future__ import annotations

from airflow_assets.api import RetryPolicy

# Twelve attempts outlast the sandbox's injected faults (a 30 % fault rate gives up once in 500,000
# calls); a Retry-After is capped at 50 ms, so a test never sleeps the seconds a server asks for.
FAST_RETRY = RetryPolicy(max_attempts=12, initial_wait=0.005, max_wait=0.05, max_retry_after=0.05)
