"""The chaos agent: what a Flask service adds to itself so the chaos toolkit
can see and shake it, in the spirit of Chaos Monkey for Spring Boot.

    from chaos.agent import ChaosAgent
    agent = ChaosAgent(app)        # or agent = ChaosAgent(); agent.init_app(app)
    agent.watch(breaker)           # a pybreaker or circuitbreaker CircuitBreaker

Off unless CHAOS_AGENT=on. On, it serves (under /_chaos by default) its
index, the watched breakers' states, counters and transitions, HTTP
assaults, and Prometheus metrics; the contract is written once as JSON
Schemas in `chaos.contract` and described in docs/agent.md.

It imports only Flask/Werkzeug, the standard library, prometheus-client
(at the first scrape of its metrics) and, lazily, the breaker library of a watched
breaker; of the toolkit only `chaos.contract`.
"""

try:
    import flask  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError("chaos.agent needs Flask: pip install 'flask-chaos[agent]'") from exc

from chaos.agent.adapters import BreakerAdapter, Pollable, register
from chaos.agent.extension import ChaosAgent
from chaos.agent.fallback import FALLBACK, FALLBACK_REASON, mark_fallback

__all__ = ["FALLBACK", "FALLBACK_REASON", "BreakerAdapter", "ChaosAgent", "Pollable", "mark_fallback", "register"]
