"""Helpers shared by several test files: where the real NHS files are, the nightly DAG run as a user runs
it, and a real local SMTP server."""

from __future__ import annotations

import contextlib
import email
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from email import policy
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: the real published NHS files (../shared/data/real); absent in a user's clone of the repository
REAL = ROOT.parent / "shared" / "data" / "real"

#: marks for tests that read the real files: they skip, saying why, only where the files are absent
requires_real_data = [
    pytest.mark.realdata,
    pytest.mark.skipif(not REAL.is_dir(), reason=f"real NHS files not present at {REAL} (a user's clone)"),
]


def run_nightly_dag(period: str, settings: dict[str, str]) -> None:
    """dag.test() of the nightly DAG for ``period`` in a subprocess, like a user's run, with ``settings``
    (GP_ALLOC_* environment) over this process's; fails the test with the run's output unless it
    succeeded."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "plugins"), **settings}
    code = (
        "from airflow.dag_processing.dagbag import DagBag\n"
        f"dag = DagBag(dag_folder={str(ROOT / 'dags')!r}).dags['gp_allocations_nightly']\n"
        f"run = dag.test(run_conf={{'period': {period!r}}})\n"
        "print('STATE', run.state)\n"
    )
    airflow = str(Path(sys.executable).parent / "airflow")
    subprocess.run([airflow, "db", "migrate"], check=True, capture_output=True, env=env)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=1200)
    assert "STATE success" in done.stdout or "STATE DagRunState.SUCCESS" in done.stdout, (
        done.stdout[-3000:] + (done.stderr[-3000:])
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    """What a local aiosmtpd server received: raw envelopes and the parsed messages."""

    def __init__(self) -> None:
        self.envelopes: list = []
        self.messages: list[email.message.EmailMessage] = []
        self.rcpt: list[list[str]] = []

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd hook name
        self.envelopes.append(envelope)
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        self.rcpt.append(list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"


@contextlib.contextmanager
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    """A real SMTP server on a free localhost port for the duration of the block."""
    from aiosmtpd.controller import Controller

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield inbox, controller.port
    finally:
        controller.stop()


def sample_run(root: Path, *, practices: int, seed: int, run_id: str, period: str = "2025-26-Q2"):
    """A run of a freshly generated sample in ``root`` (its own data folder, outputs and SQLite
    warehouse), prepared but no stage run: ``pipeline.run_all(ctx)`` or one stage at a time."""
    from gp_allocations.config import RunContext
    from gp_allocations.periods import Period
    from gp_allocations_samples import generate_samples

    generate_samples(root / "src", period=Period.parse(period), practices=practices, seed=seed)
    return RunContext.prepare(
        run_id=run_id,
        period=period,
        source=str(root / "src"),
        data_dir=str(root / "var"),
        output_root=str(root / "out"),
        warehouse_url=f"sqlite:///{root / 'wh.sqlite'}",
    )
