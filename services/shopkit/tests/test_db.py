"""shopkit.db: a connection per request, and one held open per database and
serving process, so that a request's close does not checkpoint and delete
the WAL (an fsync on every request, slow behind a busy disk)."""

from __future__ import annotations

import os

from flask import Blueprint

from shopkit import create_service_app, db

writes = Blueprint("writes", __name__)


@writes.post("/rows")
def add_row():
    conn = db.get_db()
    with db.transaction(conn):
        conn.execute("INSERT INTO t (x) VALUES (1)")
    return {"rows": conn.execute("SELECT count(*) FROM t").fetchone()[0]}


def make_app(path):
    app = create_service_app("shopkit", {"SERVICE_NAME": "demo"}, {"DATABASE": str(path)})
    db.init_app(app, "CREATE TABLE IF NOT EXISTS t (x INTEGER);")
    app.register_blueprint(writes)
    return app


def test_a_request_does_not_close_the_last_connection_so_the_wal_stays(tmp_path):
    path = tmp_path / "demo.db"
    client = make_app(path).test_client()
    assert not (tmp_path / "demo.db-wal").exists()  # init_app's own connection closed: no WAL left
    assert [client.post("/rows").json["rows"] for _ in range(3)] == [1, 2, 3]
    # Each request closed its own connection; the one held for this process
    # kept the WAL, which a last close would have checkpointed and deleted.
    assert (tmp_path / "demo.db-wal").exists()
    assert (os.getpid(), str(path)) in db._KEEPERS


def test_nothing_is_held_open_outside_a_request(tmp_path):
    # gunicorn's master builds the app (init_app, app context work) and then
    # forks its workers: an SQLite connection must not cross that fork.
    path = tmp_path / "demo.db"
    app = make_app(path)
    with app.app_context():
        db.get_db().execute("SELECT 1")
    assert (os.getpid(), str(path)) not in db._KEEPERS


def test_a_process_holds_a_bounded_number_of_databases_open(tmp_path):
    for n in range(db._KEEPERS_MAX + 3):
        make_app(tmp_path / f"d{n}.db").test_client().post("/rows")
    mine = [k for k in db._KEEPERS if k[0] == os.getpid()]
    assert len(mine) == db._KEEPERS_MAX
    assert (os.getpid(), str(tmp_path / f"d{db._KEEPERS_MAX + 2}.db")) in mine


def test_a_held_connection_is_evicted_from_another_thread_without_error(tmp_path):
    import threading

    errors = []

    def serve(n: int) -> None:
        response = make_app(tmp_path / f"t{n}.db").test_client().post("/rows")
        if response.status_code != 200:
            errors.append(response.status_code)

    for n in range(db._KEEPERS_MAX + 2):
        thread = threading.Thread(target=serve, args=(n,))
        thread.start()
        thread.join()
    assert errors == []  # a keeper made in one thread and closed in another once made every request 500
