"""The kit every sample service is built from.

Written once, used by gateway, users, orders and inventory alike: configuration
(`config`), storage (`db`), request fields (`fields`), circuit breakers
(`breakers`: GuardedBreaker and the board), guarded downstream clients
(`downstream`) and the HTTP plumbing (`web`): JSON errors and /health.
`create_service_app` ties them together, with the chaos agent
(`chaos.agent.ChaosAgent`, on with CHAOS_AGENT) watching every breaker and
serving its state, transitions, assaults and metrics under /_chaos, so that a
service's own factory only adds what is its own. Of the chaos toolkit the
services import `chaos.agent` only.
"""

from shopkit.app import create_service_app

__all__ = ["create_service_app"]
