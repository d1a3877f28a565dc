"""The kit every sample service is built from.

Written once, used by gateway, users, orders and inventory alike: configuration
(`config`), storage (`db`), request fields (`fields`), circuit breakers
(`breakers`), guarded downstream clients (`downstream`) and the HTTP plumbing
(`web`): JSON errors, /health and the /breakers endpoints. `create_service_app`
ties them together so that a service's own factory only adds what is its own.
"""

from shopkit.app import create_service_app

__all__ = ["create_service_app"]
