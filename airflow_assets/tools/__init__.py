"""The operator tools behind ``airflow-assets``: snapshots list/show/diff/export/verify, check, standalone.

Each command is a module with ``add_arguments(parser)`` and ``run(args) -> int``; :mod:`airflow_assets.cli`
only wires them. Exit codes are stable: 0 ok, 1 failure, 2 bad usage, 3 problems found (verify, check).
"""

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_PROBLEMS = 3
