# The ACD core: synchronous, deterministic, no I/O. Every input carries `now`; the core
# never reads a clock, opens a socket or draws from global randomness. Drivers (the live
# controller, the simulator, tests) feed it events and carry out the commands it returns.
from contactcenter.core.engine import Engine
from contactcenter.core.lifecycle import InvalidTransition

__all__ = ["Engine", "InvalidTransition"]
