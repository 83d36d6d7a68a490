# The official Apache Airflow image with this provider installed: the image's documented way to add packages
# ("Extending the image", https://airflow.apache.org/docs/docker-stack/build.html). docker-compose.yaml builds
# it; by hand: docker build --build-arg AIRFLOW_VERSION=3.3.2 -t airflow-jira-assets:3.3.2-python3.12 .
#
# AIRFLOW_VERSION is the apache-airflow pin of requirements-lock.txt (tests/unit/test_compose.py checks the
# compose file's build argument against it). The image is published once per supported Python version
# (apache/airflow:<version>-python3.X); this uses Python 3.12, one the package supports (3.11 to 3.13).
ARG AIRFLOW_VERSION=3.3.2
ARG PYTHON_VERSION=3.12
FROM apache/airflow:${AIRFLOW_VERSION}-python${PYTHON_VERSION}

# Everything below runs as the image's airflow user, as its docs require for pip installs.
USER airflow

# Only what the package build reads: no .venv, .demo or tests in the image.
COPY --chown=airflow:0 pyproject.toml README.md /opt/airflow/src/airflow-provider-jira-assets/
COPY --chown=airflow:0 airflow_assets /opt/airflow/src/airflow-provider-jira-assets/airflow_assets

# Naming apache-airflow at the image's own version (AIRFLOW_VERSION is set in the base image) keeps pip from
# upgrading or downgrading Airflow while it resolves the provider's dependencies. The celery extra brings
# apache-airflow-providers-celery; the image already has the postgres provider, psycopg2 and asyncpg.
RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" \
        "/opt/airflow/src/airflow-provider-jira-assets[celery]"

# Mount points of named volumes: a new volume takes this owner, so the airflow user can write there
# (logs, and the simple auth manager's password file that airflow-init writes and the api-server reads).
RUN mkdir -p /opt/airflow/logs /opt/airflow/auth
