"""Kept until the shop moves to the agent: the assaults now live in
`chaos.agent.assaults` (served by `chaos.agent.ChaosAgent`)."""

from chaos.agent.assaults import *  # noqa: F403
from chaos.agent.assaults import __all__  # noqa: F401
