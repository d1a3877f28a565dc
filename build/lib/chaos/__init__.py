"""Chaos and resilience testing for Flask microservices.

The engine never imports the system under test: it reads a system file
(services, edges, proxies, routes) and scenario files, acts through real
Toxiproxy and real processes, records one history, and judges it.
"""

__version__ = "0.1.0"
