"""Database restart during load and during compute (PostgreSQL).

The warehouse is reached through a TCP proxy the test owns; "cutting" it drops every open connection at
once and refuses new ones, which is what a client sees when PostgreSQL restarts (the server rolls back
the open transaction of a vanished client). The machine's shared server is never stopped: the test uses
its own database on it. The stage must fail, leave nothing half-written, and succeed on retry.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import uuid

import pytest
import sqlalchemy as sa

from gp_allocations import warehouse
from test_faults_common import PERIOD, context, generate_source, period_counts, publications, run_stages

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


class CuttableProxy:
    """127.0.0.1:<port> -> PostgreSQL; ``cut()`` drops every connection and refuses new ones until
    ``restore()``."""

    def __init__(self, target=("127.0.0.1", 5432)):
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.up = True
        self.cuts = 0
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up:
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            with self._lock:
                self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self.up = False
        self.cuts += 1
        with self._lock:
            for s in self._sockets:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
            self._sockets.clear()

    def restore(self) -> None:
        self.up = True

    def close(self) -> None:
        self.cut()
        self.listener.close()


@pytest.fixture
def pg(tmp_path):
    name = f"gp_alloc_faults_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    proxy = CuttableProxy()
    yield {
        "direct": f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}",
        "proxied": f"postgresql+psycopg://postgres@127.0.0.1:{proxy.port}/{name}",
        "proxy": proxy,
    }
    proxy.close()
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


def _cut_after_insert(monkeypatch, proxy: CuttableProxy, nth: int) -> None:
    """Cut the connections right after the nth bulk insert, i.e. inside the open transaction."""
    original = warehouse.bulk_insert
    calls = [0]

    def insert_then_cut(conn, table, frame):
        original(conn, table, frame)
        calls[0] += 1
        if calls[0] == nth:
            proxy.cut()

    monkeypatch.setattr(warehouse, "bulk_insert", insert_then_cut)


def test_database_restart_during_load_and_compute(tmp_path, pg, monkeypatch):
    source = generate_source(tmp_path / "src", practices=30, seed=9)
    ctx = context(tmp_path / "data", source, "run-db", warehouse_url=pg["proxied"])
    proxy = pg["proxy"]
    run_stages(ctx, ["pull", "standardise", "validate"])
    before = period_counts(pg["direct"])  # validation kept its quarantine rows; nothing else yet

    # load: connections drop after three extracts went in; the transaction must vanish with them
    with monkeypatch.context() as m:
        _cut_after_insert(m, proxy, 3)
        with pytest.raises(sa.exc.DBAPIError):
            run_stages(ctx, ["load"])
    assert proxy.cuts == 1
    assert period_counts(pg["direct"]) == before  # nothing half-written
    assert before["core_practice"] == 0 and before["stg_contracts"] == 0
    proxy.restore()
    loaded = run_stages(ctx, ["load"])  # the retry
    after_load = period_counts(pg["direct"])
    assert after_load["core_practice"] == 30 and after_load["load_runs"] == 1
    assert after_load["stg_contracts"] == loaded["contracts"] > 0

    # compute: connections drop after the practice marts went in, before the level marts
    with monkeypatch.context() as m:
        _cut_after_insert(m, proxy, 1)
        with pytest.raises(sa.exc.DBAPIError):
            run_stages(ctx, ["compute"])
    assert proxy.cuts == 2
    assert period_counts(pg["direct"]) == after_load
    assert not (ctx.compute_dir / "result").exists()  # no hand-off for publish from a failed compute
    proxy.restore()
    computed = run_stages(ctx, ["compute"])
    counts = period_counts(pg["direct"])
    assert counts["mart_practice_allocation"] == 30 * len(computed["variants"])
    assert counts["mart_level_allocation"] > 0 and after_load["mart_level_allocation"] == 0

    def not_marts(c):
        return {k: v for k, v in c.items() if not k.startswith("mart_")}

    assert not_marts(counts) == not_marts(after_load)

    out = run_stages(ctx, ["publish"])
    assert out["status"] == "published"
    assert publications(pg["direct"]) == [("run-db", "published")]
    assert period_counts(pg["direct"], PERIOD)["publication"] == 1
