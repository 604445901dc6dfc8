"""A notice that this VM leaves: why, by when, and what the cloud needs back."""

from __future__ import annotations

from dataclasses import dataclass

#: Notice lengths when the cloud does not say: GCP preemption and Azure Preempt give about 30 s.
SHORT_NOTICE_S = 30.0


@dataclass(frozen=True)
class Notice:
    reason: str
    deadline: float
    event_id: str = ""
    #: Spot interruption on AWS: the group has not deregistered this instance; leave the target groups.
    deregister: bool = False
    #: Host maintenance: the VM stops and restarts; if it is still up once the event is over, serve again.
    resumable: bool = False
