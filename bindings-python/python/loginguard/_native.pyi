"""The native module: the loginguard core behind a thin conversion layer."""

from collections.abc import Awaitable, Callable
from os import PathLike
from typing import final

from loginguard._types import Action, Reason

MAX_ACCOUNT_BYTES: int
MAX_DEVICE_BYTES: int
REASONS: tuple[str, ...]
__version__: str
__all__ = [
    "MAX_ACCOUNT_BYTES",
    "MAX_DEVICE_BYTES",
    "REASONS",
    "Decision",
    "DimensionState",
    "Event",
    "Guard",
    "Inspection",
    "SiteState",
    "Stats",
    "__version__",
]

@final
class Decision:
    @property
    def action(self) -> Action: ...
    @property
    def reason(self) -> Reason | None: ...
    @property
    def retry_after_ms(self) -> int | None: ...
    @property
    def failures(self) -> int: ...
    @property
    def degraded(self) -> bool: ...
    def lets_password_be_checked(self, challenge_passed: bool = False) -> bool: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __ne__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class DimensionState:
    @property
    def dimension(self) -> str: ...
    @property
    def tracked(self) -> bool: ...
    @property
    def failures(self) -> int: ...
    @property
    def consecutive(self) -> int: ...
    @property
    def locked_until_ms(self) -> int | None: ...
    @property
    def reset_required(self) -> bool: ...
    @property
    def action(self) -> Action: ...

@final
class Inspection:
    @property
    def decision(self) -> Decision: ...
    @property
    def denylisted(self) -> bool: ...
    @property
    def dimensions(self) -> tuple[DimensionState, ...]: ...
    @property
    def site(self) -> SiteState | None: ...

@final
class SiteState:
    @property
    def rate(self) -> int: ...
    @property
    def trigger(self) -> int: ...
    @property
    def per_ms(self) -> int: ...
    @property
    def active(self) -> bool: ...
    @property
    def since_ms(self) -> int | None: ...

@final
class Stats:
    @property
    def capacity(self) -> int: ...
    @property
    def occupancy(self) -> int: ...
    @property
    def evictions(self) -> int: ...
    @property
    def refused_inserts(self) -> int: ...
    @property
    def memory_bytes(self) -> int: ...
    @property
    def allow(self) -> int: ...
    @property
    def challenge(self) -> int: ...
    @property
    def deny(self) -> int: ...
    @property
    def reset_required(self) -> int: ...
    @property
    def site(self) -> SiteState | None: ...

@final
class Event:
    @property
    def kind(self) -> str: ...
    @property
    def dimension(self) -> str | None: ...
    @property
    def account(self) -> str | None: ...
    @property
    def ip(self) -> str | None: ...
    @property
    def failures(self) -> int: ...
    @property
    def lock_until_ms(self) -> int | None: ...

@final
class Guard:
    def __new__(cls, policy: str | None = None, *, manual_clock: bool = False) -> Guard: ...
    @staticmethod
    def from_policy_file(path: str | PathLike[str], *, manual_clock: bool = False) -> Guard: ...
    def check(
        self,
        *,
        account: str | None = None,
        ip: str | bytes | None = None,
        device: str | bytes | None = None,
    ) -> Decision: ...
    def begin(
        self,
        *,
        account: str | None = None,
        ip: str | bytes | None = None,
        device: str | bytes | None = None,
        challenge_passed: bool = False,
    ) -> Decision: ...
    def record_failure(
        self,
        *,
        account: str | None = None,
        ip: str | bytes | None = None,
        device: str | bytes | None = None,
    ) -> Decision: ...
    def record_success(
        self,
        *,
        account: str | None = None,
        ip: str | bytes | None = None,
        device: str | bytes | None = None,
        after_begin: bool = False,
    ) -> None: ...
    def keys_account(self, account: str) -> bool: ...
    def reset_account(self, account: str) -> None: ...
    def reset_ip(self, ip: str | bytes) -> None: ...
    def inspect(
        self,
        *,
        account: str | None = None,
        ip: str | bytes | None = None,
        device: str | bytes | None = None,
    ) -> Inspection: ...
    # The awaitable calls: on a redis guard they run on the running event loop's default
    # executor (call them from a coroutine); on the memory and shared stores they are complete
    # when returned.
    def acheck(
        self,
        *,
        account: str | None = None,
        ip: str | bytes | None = None,
        device: str | bytes | None = None,
    ) -> Awaitable[Decision]: ...
    def abegin(
        self,
        *,
        account: str | None = None,
        ip: str | bytes | None = None,
        device: str | bytes | None = None,
        challenge_passed: bool = False,
    ) -> Awaitable[Decision]: ...
    def arecord_failure(
        self,
        *,
        account: str | None = None,
        ip: str | bytes | None = None,
        device: str | bytes | None = None,
    ) -> Awaitable[Decision]: ...
    def arecord_success(
        self,
        *,
        account: str | None = None,
        ip: str | bytes | None = None,
        device: str | bytes | None = None,
        after_begin: bool = False,
    ) -> Awaitable[None]: ...
    def areset_account(self, account: str) -> Awaitable[None]: ...
    def areset_ip(self, ip: str | bytes) -> Awaitable[None]: ...
    def ainspect(
        self,
        *,
        account: str | None = None,
        ip: str | bytes | None = None,
        device: str | bytes | None = None,
    ) -> Awaitable[Inspection]: ...
    def stats(self) -> Stats: ...
    def site_state(self) -> SiteState | None: ...
    def on_event(self, listener: Callable[[Event], object] | None) -> None: ...
    def advance_ms(self, ms: int) -> None: ...
    @property
    def now_ms(self) -> int: ...
