"""Queueing delay of requests at a fleet: an M/M/c queue (Erlang C) over all batch slots of ready replicas.

Each ready replica serves `ThroughputModel.concurrency` requests at once (continuous batching), so a
fleet of n replicas is c = n * concurrency servers. Poisson arrivals at rate lam, exponential service
of mean `service_s`: P(wait > t) = C(c, a) * exp(-(c * mu - lam) * t), a = lam / mu (Erlang C; e.g.
Harchol-Balter, "Performance Modeling and Design of Computer Systems", ch. 14). At or above
saturation no steady state exists: every request is counted as waiting past any budget.
"""

from __future__ import annotations

import math
from functools import lru_cache


@lru_cache(maxsize=65536)
def erlang_c(servers: int, offered: float) -> float:
    """Probability that an arrival waits, for `servers` servers and `offered` = lam/mu Erlangs."""
    if servers <= 0 or offered >= servers:
        return 1.0
    if offered <= 0:
        return 0.0
    blocking = 1.0  # Erlang B by its stable recursion B(k) = a B(k-1) / (k + a B(k-1))
    for k in range(1, servers + 1):
        blocking = offered * blocking / (k + offered * blocking)
    return blocking / (1 - offered / servers * (1 - blocking))


def wait_over(servers: int, rate: float, service_s: float, t_s: float) -> float:
    """Share of requests arriving at `rate` per second that wait longer than `t_s` seconds."""
    offered = rate * service_s
    if servers <= 0 or offered >= servers:
        return 1.0 if rate > 0 else 0.0
    return erlang_c(servers, offered) * math.exp(-(servers - offered) / service_s * t_s)


def mean_wait_s(servers: int, rate: float, service_s: float) -> float:
    """Mean queueing delay in seconds (infinite at or above saturation)."""
    offered = rate * service_s
    if rate <= 0:
        return 0.0
    if servers <= 0 or offered >= servers:
        return math.inf
    return erlang_c(servers, offered) * service_s / (servers - offered)


def mean_queue(servers: int, offered: float) -> float:
    """Mean number of requests waiting (Erlang C: C * a / (c - a)); infinite at saturation."""
    if offered <= 0:
        return 0.0
    if offered >= servers:
        return math.inf
    return erlang_c(servers, offered) * offered / (servers - offered)


@lru_cache(maxsize=65536)
def replicas_for_queue(offered: float, concurrency: int, queue_per_replica: float) -> int:
    """Fewest replicas of `concurrency` slots whose mean queue per replica is at most the target."""
    replicas = max(1, math.floor(offered / concurrency)) if offered > 0 else 0
    while replicas and mean_queue(replicas * concurrency, offered) / replicas > queue_per_replica:
        replicas += 1
    return replicas
