"""loginguard: CAPTCHA, lock and password-reset decisions for logins, from failure counters
per account, per network and per (account, network).

>>> import loginguard
>>> guard = loginguard.Guard()
>>> for _ in range(4):
...     decision = guard.record_failure(account="alice", ip="203.0.113.7")
>>> decision.action
<Action.CHALLENGE: 'challenge'>
"""

from loginguard._native import (
    MAX_ACCOUNT_BYTES,
    MAX_DEVICE_BYTES,
    Decision,
    DimensionState,
    Event,
    Guard,
    Inspection,
    RedisStats,
    SiteState,
    Stats,
    __version__,
)
from loginguard._types import (
    Action,
    InvalidAttemptError,
    InvalidIpError,
    InvalidUtf8Error,
    LoginGuardError,
    PolicyError,
    Reason,
    StoreError,
)

__all__ = [
    "MAX_ACCOUNT_BYTES",
    "MAX_DEVICE_BYTES",
    "Action",
    "Decision",
    "DimensionState",
    "Event",
    "Guard",
    "Inspection",
    "InvalidAttemptError",
    "InvalidIpError",
    "InvalidUtf8Error",
    "LoginGuardError",
    "PolicyError",
    "Reason",
    "RedisStats",
    "SiteState",
    "Stats",
    "StoreError",
    "__version__",
]
