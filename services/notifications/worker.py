"""The Celery app of the notifications worker, and its ops server.

Run from the services folder:

    python -m celery -A notifications.worker worker --pool threads --concurrency 8 \
        --without-gossip --without-mingle --without-heartbeat

with SHOP_BROKER_URL (Redis, through its proxy), SHOP_DATABASE (the worker's
record of what it sent) and PORT (its HTTP port) in the environment.

- `--pool threads`: one process, so the SMTP breaker and the agent's view of
  it are one (a prefork pool would give each child its own breaker).
- acks late, rejected back to the queue if the worker is lost, one task
  prefetched per thread: a task is acknowledged only after its e-mail was
  sent (or found sent), so a killed worker loses nothing; Redis hands the
  task out again after the visibility timeout.
- Once an e-mail is sent (or found sent) the task leaves a delivery receipt
  in the broker's Redis (shopkit/outbox.py: the relay publishes again a
  message that has none a minute on, because the Redis transport can lose
  a task taken off the queue by a worker killed at that moment).
- Retries happen inside the task, with backoff, not through Celery's
  `self.retry`: that publishes a new message, and while the broker is down
  the publish fails and Celery, acking late, drops the failed original. When
  the in-place budget is spent the task is rejected with requeue, so Redis
  keeps it.
- The ops server (a small Flask app made by shopkit, on a thread) serves
  /health as soon as the worker starts, and the chaos agent's /_chaos, which
  watches the SMTP breaker like any service's.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from celery import Celery, signals
from celery.exceptions import Reject
from werkzeug.serving import make_server

from shopkit import create_service_app, outbox
from notifications import config
from notifications.delivery import Delivery, SendFailed

TASK = "notifications.send_email"
log = logging.getLogger(__name__)

ops = create_service_app("notifications", config.DEFAULTS)
ops.config.setdefault("DATABASE", os.path.join(ops.instance_path, "notifications.sqlite3"))
os.makedirs(os.path.dirname(os.path.abspath(ops.config["DATABASE"])), exist_ok=True)

delivery = Delivery(
    ops.config["DATABASE"],
    ops.extensions["shopkit.breakers"].add("mailer"),
    host=ops.config["SMTP_HOST"], port=int(ops.config["SMTP_PORT"]),
    timeout=float(ops.config["SMTP_TIMEOUT"]), sender=ops.config["MAIL_FROM"],
)

BROKER_URL = ops.config.get("BROKER_URL") or "redis://127.0.0.1:6113/0"
app = Celery("notifications", broker=BROKER_URL)
app.conf.update(
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    worker_concurrency=int(ops.config["CONCURRENCY"]),
    # A killed worker's unacknowledged tasks go back to the queue once the
    # visibility timeout has passed, but only when some worker sweeps for
    # them: kombu sweeps every interval x throttle seconds, 10 x 10 by
    # default, so they came back 100 s later (worker-killed found it). Every
    # 2 s instead.
    # polling_interval: how long each BRPOP waits for a message (kombu's
    # default 1 s). The worker's loop wakes when it answers, and only then
    # sees a warm shutdown asked for: a stop took 0.3-0.5 s longer than the
    # web services' after a run. At 0.2 s an idle worker asks Redis five
    # times a second, and stops with the rest.
    broker_transport_options={"visibility_timeout": float(ops.config["VISIBILITY_TIMEOUT"]),
                              "unacked_restore_interval": 2, "unacked_restore_throttle": 1,
                              "socket_timeout": 2.0, "socket_connect_timeout": 2.0, "polling_interval": 0.2},
    broker_connection_retry_on_startup=True,
    broker_connection_max_retries=None,
    worker_hijack_root_logger=False,
    task_ignore_result=True,
)


@app.task(name=TASK, bind=True)
def send_email(self: Any, outbox_id: str, message: str, to: str, ref: str, payload: dict[str, Any]) -> str:
    """Send one promised e-mail once; 'sent' or 'already sent'. Rejected back
    to the queue when the SMTP edge stays down for the retry budget."""
    try:
        sent = delivery.send_with_retries(
            float(ops.config["RETRY_FIRST"]), float(ops.config["RETRY_MAX"]), float(ops.config["RETRY_BUDGET"]),
            stopping=_stopping, outbox_id=outbox_id, message=message, to=to, ref=ref, payload=payload,
        )
    except SendFailed as exc:
        log.warning("send_email %s: giving it back to the broker: %s", outbox_id, exc)
        raise Reject(str(exc), requeue=True) from exc
    _leave_receipt(outbox_id)
    return "sent" if sent else "already sent"


_receipts: Any = None


def _leave_receipt(outbox_id: str) -> None:
    """The relay's proof of delivery; a failure is logged, not raised: the
    e-mail is sent, and a message with no receipt is only published again
    (and found sent) later."""
    global _receipts
    try:
        if _receipts is None:
            import redis

            _receipts = redis.Redis.from_url(BROKER_URL, socket_timeout=2.0, socket_connect_timeout=2.0)
        outbox.leave_receipt(_receipts, outbox_id)
    except Exception as exc:  # noqa: BLE001 - see above
        log.warning("send_email %s: sent, but its receipt could not be left: %s: %s", outbox_id, type(exc).__name__, exc)


_server: Any = None


# worker_init, not worker_ready: like every service's /health, the worker's
# must not wait for its downstreams (the toolkit creates the Toxiproxy
# proxies, Redis's among them, only once every unit is healthy).
@signals.worker_init.connect
def _serve_ops(**_: Any) -> None:
    """Serve /health and /_chaos on PORT as the worker starts."""
    global _server
    port = int(os.environ.get("PORT", "0"))
    if not port or _server is not None:
        return
    _server = make_server(os.environ.get("HOST", "127.0.0.1"), port, ops, threaded=True)
    threading.Thread(target=_server.serve_forever, name="ops-http", daemon=True).start()
    log.info("notifications: ops server on port %d", port)


# Set as a warm shutdown begins: a send still retrying gives its message
# back at once (delivery.send_with_retries) instead of holding the stop.
_stopping = threading.Event()


@signals.worker_shutting_down.connect
def _stop_ops(**_: Any) -> None:
    _stopping.set()
    if _server is not None:
        threading.Thread(target=_server.shutdown, daemon=True).start()
