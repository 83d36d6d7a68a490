#!/usr/bin/env bash
# One-shot set-up of the compose deployment (the airflow-init service), safe to run again: every Airflow
# service waits until it has exited 0.
#   1. refuse .env.example's placeholders;
#   2. migrate Airflow's metadata database;
#   3. write the simple auth manager's password file (the admin login) from AIRFLOW_ADMIN_PASSWORD;
#   4. create or update the pool of every site in the backup configuration, then check none is missing
#      (the scheduler never starts a task whose pool does not exist).
set -euo pipefail

: "${AIRFLOW_ADMIN_USERNAME:?}" "${AIRFLOW_ADMIN_PASSWORD:?}" "${JIRA_ASSETS_CONFIG:?}"
: "${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE:?}"

# .env.example's placeholders must not reach a running deployment. Names only: values are secrets.
placeholders=()
for name in $(compgen -e); do
    if [[ "${!name}" == *change-me* ]]; then
        placeholders+=("${name}")
    fi
done
if (( ${#placeholders[@]} )); then
    echo "airflow-init: replace change-me in .env; still a placeholder in: ${placeholders[*]}" >&2
    exit 1
fi

echo "airflow-init: $(airflow version) with $(pip show airflow-provider-jira-assets | grep '^Version:')"

airflow db migrate

# The api-server reads this file and adds a generated password for any configured user it lacks.
python - <<'PY'
import json
import os
from pathlib import Path

path = Path(os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])
path.parent.mkdir(parents=True, exist_ok=True)
path.write_text(json.dumps({os.environ["AIRFLOW_ADMIN_USERNAME"]: os.environ["AIRFLOW_ADMIN_PASSWORD"]}) + "\n")
path.chmod(0o600)
print(f"airflow-init: password of {os.environ['AIRFLOW_ADMIN_USERNAME']!r} written to {path}")
PY

airflow-assets pools create --config "${JIRA_ASSETS_CONFIG}"
airflow-assets pools check --config "${JIRA_ASSETS_CONFIG}"
