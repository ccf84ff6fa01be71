# The image every Airflow service runs: the official Airflow image at the version pinned in
# requirements.txt, plus this project's pinned dependencies (same lock file as `make venv`).
FROM apache/airflow:3.3.2-python3.11

USER root
RUN apt-get update \
 && apt-get install -y --no-install-recommends libreoffice-calc-nogui poppler-utils \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
USER airflow

COPY requirements.txt constraints.txt /opt/gp-allocations/
RUN pip install --no-cache-dir -r /opt/gp-allocations/requirements.txt -c /opt/gp-allocations/constraints.txt
