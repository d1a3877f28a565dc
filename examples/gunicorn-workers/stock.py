"""stock: how many of an item are left. It has no breaker and no agent."""

from flask import Flask

app = Flask(__name__)


@app.get("/stock/<int:item_id>")
def stock(item_id: int):
    return {"item": item_id, "count": item_id * 7 % 23}


@app.get("/health")
def health():
    return {"status": "ok"}
