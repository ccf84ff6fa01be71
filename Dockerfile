# The image every Airflow service runs: the official Airflow image at the version pinned in
# requirements.txt (tests/test_compose.py checks they agree), plus this project's pinned
# dependencies from the same lock file as `make venv`. The project's dags/, plugins/, include/ and
# expectations/ are mounted by docker-compose.yaml, so a code change needs no rebuild.
FROM apache/airflow:3.3.2-python3.11

COPY requirements.txt constraints.txt /opt/gp-allocations/
RUN pip install --no-cache-dir -r /opt/gp-allocations/requirements.txt -c /opt/gp-allocations/constraints.txt
