"""front: answers /item/<id> with the item's stock, asked of `stock` through a
circuitbreaker breaker; /hello needs nobody. When the breaker is open or the
call fails, /item answers a JSON 503 of its own, with no X-Fallback header:
the system file declares that shape (`fallback: {status: [503]}`)."""

import os

import requests
from circuitbreaker import CircuitBreakerError, circuit
from flask import Flask

from chaos.agent import ChaosAgent

STOCK_URL = os.environ.get("STOCK_URL", "http://127.0.0.1:18111")  # stock, through Toxiproxy
TIMEOUT = (0.25, 0.5)  # connect, read: the system file's read_timeout says 0.5 too

app = Flask(__name__)
breaker = circuit(failure_threshold=3, recovery_timeout=2, name="stock")
agent = ChaosAgent(app)
agent.watch(breaker)


@breaker
def stock_of(item_id: int) -> int:
    answer = requests.get(f"{STOCK_URL}/stock/{item_id}", timeout=TIMEOUT)
    answer.raise_for_status()
    return answer.json()["count"]


@app.get("/item/<int:item_id>")
def item(item_id: int):
    try:
        return {"item": item_id, "stock": stock_of(item_id)}
    except (CircuitBreakerError, requests.RequestException) as e:
        why = "breaker open" if isinstance(e, CircuitBreakerError) else "stock unavailable"
        return {"error": why, "item": item_id, "degraded": True}, 503


@app.get("/hello")
def hello():
    return {"hello": "front"}


@app.get("/health")
def health():
    return {"status": "ok"}
