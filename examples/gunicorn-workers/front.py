"""front: answers /item/<id> with the item's stock, asked of `stock` through a
pybreaker breaker in memory (pybreaker's default storage), so each gunicorn
worker has its own copy; /hello needs nobody. When the breaker is open or the call
fails, /item answers a degraded 200 (stock unknown), and the chaos agent
marks it X-Fallback on its own: a watched breaker refused or failed a call
during the request."""

import os

import pybreaker
import requests
from flask import Flask

from chaos.agent import ChaosAgent

STOCK_URL = os.environ.get("STOCK_URL", "http://127.0.0.1:18211")  # stock, through Toxiproxy
TIMEOUT = (0.25, 0.5)  # connect, read: the system file's read_timeout says 0.5 too

app = Flask(__name__)
breaker = pybreaker.CircuitBreaker(fail_max=3, reset_timeout=2, name="stock")
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
    except (pybreaker.CircuitBreakerError, requests.RequestException):
        return {"item": item_id, "stock": None}  # degraded, marked by the agent


@app.get("/hello")
def hello():
    return {"hello": "front"}


@app.get("/health")
def health():
    return {"status": "ok"}
