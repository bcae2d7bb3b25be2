"""Every exception of the binding survives pickle, so it crosses process boundaries
(multiprocessing, concurrent.futures) with its message, kind and field."""

from __future__ import annotations

import copy
import multiprocessing
import pickle

import pytest

import loginguard
from loginguard import (
    InvalidAttemptError,
    InvalidIpError,
    InvalidUtf8Error,
    LoginGuardError,
    PolicyError,
    StoreError,
)

BAD_POLICY = '[account]\nlock_for = "5"'
PROTOCOLS = range(pickle.HIGHEST_PROTOCOL + 1)


def raised(call: object, *args: object, **kwargs: object) -> LoginGuardError:
    """The exception that a real binding call raises (made by the native module)."""
    assert callable(call)
    with pytest.raises(LoginGuardError) as info:
        call(*args, **kwargs)
    return info.value


def from_the_binding() -> list[LoginGuardError]:
    guard = loginguard.Guard()
    return [
        raised(guard.check, account=None, ip=None),
        raised(guard.check, account="alice", ip="999.1.1.1"),
        raised(guard.check, account="alice\udc80"),
        raised(loginguard.Guard, BAD_POLICY),
        raised(loginguard.Guard.from_policy_file, "/nonexistent/loginguard.toml"),
    ]


def constructed() -> list[LoginGuardError]:
    return [
        LoginGuardError("something failed"),
        InvalidAttemptError("no account and no ip"),
        InvalidIpError("not an ip"),
        InvalidUtf8Error("account is not UTF-8"),
        PolicyError("account.lock_for: a duration needs a unit", "account.lock_for"),
        PolicyError("bad", field="site.challenge_when"),
        StoreError("cannot open"),
    ]


def same(a: LoginGuardError, b: LoginGuardError) -> None:
    assert type(b) is type(a)
    assert str(b) == str(a)
    assert b.args == a.args
    assert b.kind == a.kind
    assert getattr(b, "field", None) == getattr(a, "field", None)
    assert vars(b) == vars(a)


def test_the_binding_raises_each_class() -> None:
    kinds = [type(e) for e in from_the_binding()]
    assert kinds == [
        InvalidAttemptError,
        InvalidIpError,
        InvalidUtf8Error,
        PolicyError,
        PolicyError,
    ]
    assert type(raised(loginguard.Guard, '[store]\nkind = "shared"\npath = "/"')) is StoreError


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_raised_exceptions_survive_pickle(protocol: int) -> None:
    errors = from_the_binding()
    for error in errors:
        same(error, pickle.loads(pickle.dumps(error, protocol)))
    policy = errors[3]
    assert isinstance(policy, PolicyError)
    back = pickle.loads(pickle.dumps(policy, protocol))
    assert isinstance(back, PolicyError)
    assert (back.kind, back.field) == ("policy", "account.lock_for")
    assert isinstance(back, ValueError)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_constructed_exceptions_survive_pickle_and_copy(protocol: int) -> None:
    for error in constructed():
        same(error, pickle.loads(pickle.dumps(error, protocol)))
        same(error, copy.copy(error))
        same(error, copy.deepcopy(error))


def test_a_kind_without_its_own_class_survives_pickle() -> None:
    # A core kind that this binding has no class for is a LoginGuardError with that kind.
    error = LoginGuardError("newer core error")
    error.kind = "some_new_kind"
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is LoginGuardError and back.kind == "some_new_kind"


def test_a_subclass_keeps_its_own_attributes() -> None:
    class AppPolicyError(PolicyError):
        pass

    error = AppPolicyError("bad", "ip.lock_for")
    error.note = "from the admin form"
    back = copy.deepcopy(error)
    assert type(back) is AppPolicyError
    assert (str(back), back.field, back.kind, back.note) == (
        "bad",
        "ip.lock_for",
        "policy",
        "from the admin form",
    )


def test_a_pool_worker_hands_a_policy_error_to_the_parent() -> None:
    # spawn: a fresh interpreter in the worker (fork from a threaded pytest process can warn).
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        result = pool.apply_async(loginguard.Guard, (BAD_POLICY,))
        with pytest.raises(PolicyError) as info:
            result.get(timeout=60)  # a hang would be a multiprocessing.TimeoutError
    assert (info.value.kind, info.value.field) == ("policy", "account.lock_for")
    assert "account.lock_for" in str(info.value)
