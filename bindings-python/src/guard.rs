//! `Guard`: converts keyword arguments into a core `Attempt`, calls the core, wraps the result.

use std::borrow::Cow;
use std::sync::Arc;

use loginguard::{AccountNormalize, Attempt, IpInput, ManualClock, Policy, StoreKind};
use pyo3::exceptions::{PyRuntimeError, PyStopIteration, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString};
use pyo3::IntoPyObjectExt;

use crate::errors::{invalid_utf8, wrong_type, IntoPyResult};
use crate::types::{Decision, Event, Inspection, SiteState, Stats};

/// A `str` argument as UTF-8, or `bytes`, borrowed from the caller's objects for the call:
/// no reference taken, nothing copied where the ABI exposes the string's own UTF-8 (CPython
/// 3.10+; the 3.9 wheel encodes a temporary copy).
enum Value<'a> {
    Text(Cow<'a, str>),
    Bytes(&'a [u8]),
}

impl Value<'_> {
    fn as_bytes(&self) -> &[u8] {
        match self {
            Value::Text(t) => t.as_bytes(),
            Value::Bytes(b) => b,
        }
    }

    fn ip(&self) -> IpInput<'_> {
        match self {
            Value::Text(t) => IpInput::Text(t),
            Value::Bytes(b) => IpInput::Bytes(b),
        }
    }
}

fn utf8<'a>(what: &str, s: &'a Bound<'_, PyString>) -> PyResult<Cow<'a, str>> {
    s.to_cow().map_err(|_| invalid_utf8(what))
}

fn text<'a>(what: &str, v: &'a Bound<'_, PyAny>) -> PyResult<Cow<'a, str>> {
    match v.cast::<PyString>() {
        Ok(s) => utf8(what, s),
        Err(_) => Err(wrong_type(what, "str", v)),
    }
}

fn text_or_bytes<'a>(what: &str, v: &'a Bound<'_, PyAny>) -> PyResult<Value<'a>> {
    if let Ok(s) = v.cast::<PyString>() {
        return utf8(what, s).map(Value::Text);
    }
    match v.cast::<PyBytes>() {
        Ok(b) => Ok(Value::Bytes(b.as_bytes())),
        Err(_) => Err(wrong_type(what, "str or bytes", v)),
    }
}

/// The three keyword arguments of every attempt, converted.
struct Args<'a> {
    account: Option<Cow<'a, str>>,
    ip: Option<Value<'a>>,
    device: Option<Value<'a>>,
}

impl<'a> Args<'a> {
    fn new(
        account: Option<&'a Bound<'_, PyAny>>,
        ip: Option<&'a Bound<'_, PyAny>>,
        device: Option<&'a Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        Ok(Args {
            account: account.map(|v| text("account", v)).transpose()?,
            ip: ip.map(|v| text_or_bytes("ip", v)).transpose()?,
            device: device.map(|v| text_or_bytes("device", v)).transpose()?,
        })
    }

    fn attempt(&self) -> Attempt<'_> {
        Attempt {
            account: self.account.as_deref(),
            ip: self.ip.as_ref().map(Value::ip),
            device: self.device.as_ref().map(Value::as_bytes),
        }
    }
}

/// The login-protection engine; one per process, shared by every thread.
#[pyclass(frozen, module = "loginguard")]
pub(crate) struct Guard {
    inner: loginguard::Guard,
    clock: Option<Arc<ManualClock>>,
    /// A redis guard: every call may wait on the network, so the GIL is released around it
    /// and the `a*` methods run it on the event loop's executor.
    remote: bool,
}

impl Guard {
    fn build(py: Python<'_>, policy: Policy, manual_clock: bool) -> PyResult<Self> {
        let clock = manual_clock.then(|| Arc::new(ManualClock::new()));
        let inner = py
            .detach(|| match &clock {
                Some(c) => loginguard::Guard::with_clock(policy, c.clone()),
                None => loginguard::Guard::new(policy),
            })
            .py()?;
        let remote = inner.policy().store.kind == StoreKind::Redis;
        Ok(Guard {
            inner,
            clock,
            remote,
        })
    }

    /// Runs a core call without the GIL on a redis guard (a round trip may wait up to
    /// `store.timeout`). The memory and shared stores keep it: their calls take no lock and
    /// wait on no network, so holding the GIL stalls no other thread longer than the call, and
    /// releasing and taking it back costs about 460 instructions (callgrind, 2026-11-30), 40% of
    /// a hot `begin` in the core (about 1,130).
    #[inline]
    fn run<T: Send>(&self, py: Python<'_>, call: impl FnOnce() -> T + Send) -> T {
        if self.remote {
            py.detach(call)
        } else {
            call()
        }
    }

    /// The awaitable of an `a*` method. On a redis guard, `loop.run_in_executor(None,
    /// guard.<method>(**kwargs))`: the sync call, GIL released, on the loop's default executor
    /// (a thread pool the application can replace). There is no second runtime in the process
    /// (no tokio threads to break at `fork()`), the core's redis driver is blocking anyway, and
    /// the loop never waits on a round trip. On the memory and shared stores the call is made
    /// now and the awaitable is already complete: no thread hop.
    fn awaitable<'py>(
        slf: &Bound<'py, Self>,
        method: &str,
        kwargs: Bound<'py, PyDict>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let event_loop = py.import("asyncio")?.getattr("get_running_loop")?.call0()?;
        let call = py
            .import("functools")?
            .getattr("partial")?
            .call((slf.getattr(method)?,), Some(&kwargs))?;
        event_loop.call_method1("run_in_executor", (py.None(), call))
    }
}

/// The keyword arguments of an attempt, for the executor's call.
fn attempt_kwargs<'py>(
    py: Python<'py>,
    account: Option<&Bound<'py, PyAny>>,
    ip: Option<&Bound<'py, PyAny>>,
    device: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let kwargs = PyDict::new(py);
    kwargs.set_item("account", account)?;
    kwargs.set_item("ip", ip)?;
    kwargs.set_item("device", device)?;
    Ok(kwargs)
}

/// An awaitable that is already complete: `await` gives the result (or raises the error)
/// without suspending the awaiting task.
#[pyclass(module = "loginguard._native")]
pub(crate) struct Ready {
    result: Option<PyResult<Py<PyAny>>>,
}

impl Ready {
    fn new<'py, T: IntoPyObject<'py>>(py: Python<'py>, result: PyResult<T>) -> PyResult<Self> {
        let result = result.and_then(|v| v.into_py_any(py));
        Ok(Ready {
            result: Some(result),
        })
    }
}

#[pymethods]
impl Ready {
    fn __await__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&mut self) -> PyResult<Py<PyAny>> {
        match self.result.take() {
            Some(Ok(value)) => Err(PyStopIteration::new_err((value,))),
            Some(Err(err)) => Err(err),
            None => Err(PyRuntimeError::new_err(
                "cannot reuse an already awaited loginguard call",
            )),
        }
    }
}

#[pymethods]
impl Guard {
    #[new]
    #[pyo3(signature = (policy=None, *, manual_clock=false))]
    fn new(
        py: Python<'_>,
        policy: Option<&Bound<'_, PyAny>>,
        manual_clock: bool,
    ) -> PyResult<Self> {
        let policy = match policy {
            None => Policy::default(),
            Some(p) => {
                let toml = p
                    .cast::<PyString>()
                    .map_err(|_| wrong_type("policy", "TOML text (str)", p))?;
                Policy::from_toml(&utf8("policy", toml)?).py()?
            }
        };
        Guard::build(py, policy, manual_clock)
    }

    /// A guard with the policy in a TOML file.
    #[staticmethod]
    #[pyo3(signature = (path, *, manual_clock=false))]
    fn from_policy_file(
        py: Python<'_>,
        path: std::path::PathBuf,
        manual_clock: bool,
    ) -> PyResult<Self> {
        let policy = py.detach(|| Policy::from_file(&path)).py()?;
        Guard::build(py, policy, manual_clock)
    }

    /// The pre-authentication decision; changes no counter.
    #[pyo3(signature = (*, account=None, ip=None, device=None))]
    fn check<'py>(
        &self,
        py: Python<'py>,
        account: Option<&Bound<'_, PyAny>>,
        ip: Option<&Bound<'_, PyAny>>,
        device: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Bound<'py, Decision>> {
        let args = Args::new(account, ip, device)?;
        let attempt = args.attempt();
        self.run(py, || self.inner.check(&attempt))
            .py()
            .and_then(|d| Decision::to_object(py, d))
    }

    /// The race-free pre-check: records one failure in advance when the password may be checked.
    #[pyo3(signature = (*, account=None, ip=None, device=None, challenge_passed=false))]
    fn begin<'py>(
        &self,
        py: Python<'py>,
        account: Option<&Bound<'_, PyAny>>,
        ip: Option<&Bound<'_, PyAny>>,
        device: Option<&Bound<'_, PyAny>>,
        challenge_passed: bool,
    ) -> PyResult<Bound<'py, Decision>> {
        let args = Args::new(account, ip, device)?;
        let attempt = args.attempt();
        self.run(py, || self.inner.begin(&attempt, challenge_passed))
            .py()
            .and_then(|d| Decision::to_object(py, d))
    }

    /// Records a failed login; returns the decision the counters now give.
    #[pyo3(signature = (*, account=None, ip=None, device=None))]
    fn record_failure<'py>(
        &self,
        py: Python<'py>,
        account: Option<&Bound<'_, PyAny>>,
        ip: Option<&Bound<'_, PyAny>>,
        device: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Bound<'py, Decision>> {
        let args = Args::new(account, ip, device)?;
        let attempt = args.attempt();
        self.run(py, || self.inner.record_failure(&attempt))
            .py()
            .and_then(|d| Decision::to_object(py, d))
    }

    /// Records a successful login (`after_begin=True` when `begin` preceded it).
    #[pyo3(signature = (*, account=None, ip=None, device=None, after_begin=false))]
    fn record_success(
        &self,
        py: Python<'_>,
        account: Option<&Bound<'_, PyAny>>,
        ip: Option<&Bound<'_, PyAny>>,
        device: Option<&Bound<'_, PyAny>>,
        after_begin: bool,
    ) -> PyResult<()> {
        let args = Args::new(account, ip, device)?;
        let attempt = args.attempt();
        self.run(py, || self.inner.record_success(&attempt, after_begin))
            .py()
    }

    /// Whether `account` keys an account counter (not over 1024 bytes, not empty once
    /// normalized); touches no counter and no store.
    fn keys_account(&self, account: &Bound<'_, PyAny>) -> PyResult<bool> {
        let account = text("account", account)?;
        Ok(self.inner.keys_account(&account))
    }

    /// Clears every counter of the account, `reset_required` included (scans the table).
    fn reset_account(&self, py: Python<'_>, account: &Bound<'_, PyAny>) -> PyResult<()> {
        let account = text("account", account)?;
        let account: &str = &account;
        py.detach(|| self.inner.reset_account(account)).py()
    }

    /// Clears the network's `ip` counter.
    fn reset_ip(&self, py: Python<'_>, ip: &Bound<'_, PyAny>) -> PyResult<()> {
        let ip = text_or_bytes("ip", ip)?;
        let ip = ip.ip();
        self.run(py, || self.inner.reset_ip(ip)).py()
    }

    /// Every governing counter's state, for support staff; changes nothing.
    #[pyo3(signature = (*, account=None, ip=None, device=None))]
    fn inspect(
        &self,
        py: Python<'_>,
        account: Option<&Bound<'_, PyAny>>,
        ip: Option<&Bound<'_, PyAny>>,
        device: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Inspection> {
        let args = Args::new(account, ip, device)?;
        let attempt = args.attempt();
        let inspection = self.run(py, || self.inner.inspect(&attempt)).py()?;
        Inspection::new(py, inspection)
    }

    /// `begin` as an awaitable (see `awaitable`): on a redis guard the call runs on the
    /// running loop's default executor. Cancelling the awaiting task never cancels a call
    /// that has started: it completes (the failure `begin` records in advance stands) and
    /// its result is dropped; one still queued is not made.
    #[pyo3(signature = (*, account=None, ip=None, device=None, challenge_passed=false))]
    fn abegin<'py>(
        slf: &Bound<'py, Self>,
        account: Option<&Bound<'py, PyAny>>,
        ip: Option<&Bound<'py, PyAny>>,
        device: Option<&Bound<'py, PyAny>>,
        challenge_passed: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let guard = slf.get();
        if guard.remote {
            let kwargs = attempt_kwargs(py, account, ip, device)?;
            kwargs.set_item("challenge_passed", challenge_passed)?;
            return Guard::awaitable(slf, "begin", kwargs);
        }
        let result = guard.begin(py, account, ip, device, challenge_passed);
        Bound::new(py, Ready::new(py, result)?).map(Bound::into_any)
    }

    /// `check` as an awaitable (see `abegin`).
    #[pyo3(signature = (*, account=None, ip=None, device=None))]
    fn acheck<'py>(
        slf: &Bound<'py, Self>,
        account: Option<&Bound<'py, PyAny>>,
        ip: Option<&Bound<'py, PyAny>>,
        device: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let guard = slf.get();
        if guard.remote {
            let kwargs = attempt_kwargs(py, account, ip, device)?;
            return Guard::awaitable(slf, "check", kwargs);
        }
        let result = guard.check(py, account, ip, device);
        Bound::new(py, Ready::new(py, result)?).map(Bound::into_any)
    }

    /// `record_failure` as an awaitable (see `abegin`).
    #[pyo3(signature = (*, account=None, ip=None, device=None))]
    fn arecord_failure<'py>(
        slf: &Bound<'py, Self>,
        account: Option<&Bound<'py, PyAny>>,
        ip: Option<&Bound<'py, PyAny>>,
        device: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let guard = slf.get();
        if guard.remote {
            let kwargs = attempt_kwargs(py, account, ip, device)?;
            return Guard::awaitable(slf, "record_failure", kwargs);
        }
        let result = guard.record_failure(py, account, ip, device);
        Bound::new(py, Ready::new(py, result)?).map(Bound::into_any)
    }

    /// `record_success` as an awaitable (see `abegin`).
    #[pyo3(signature = (*, account=None, ip=None, device=None, after_begin=false))]
    fn arecord_success<'py>(
        slf: &Bound<'py, Self>,
        account: Option<&Bound<'py, PyAny>>,
        ip: Option<&Bound<'py, PyAny>>,
        device: Option<&Bound<'py, PyAny>>,
        after_begin: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let guard = slf.get();
        if guard.remote {
            let kwargs = attempt_kwargs(py, account, ip, device)?;
            kwargs.set_item("after_begin", after_begin)?;
            return Guard::awaitable(slf, "record_success", kwargs);
        }
        let result = guard
            .record_success(py, account, ip, device, after_begin)
            .map(|()| py.None());
        Bound::new(py, Ready::new(py, result)?).map(Bound::into_any)
    }

    /// `reset_account` as an awaitable (see `abegin`).
    fn areset_account<'py>(
        slf: &Bound<'py, Self>,
        account: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let guard = slf.get();
        if guard.remote {
            let kwargs = PyDict::new(py);
            kwargs.set_item("account", account)?;
            return Guard::awaitable(slf, "reset_account", kwargs);
        }
        let result = guard.reset_account(py, account).map(|()| py.None());
        Bound::new(py, Ready::new(py, result)?).map(Bound::into_any)
    }

    /// `reset_ip` as an awaitable (see `abegin`).
    fn areset_ip<'py>(
        slf: &Bound<'py, Self>,
        ip: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let guard = slf.get();
        if guard.remote {
            let kwargs = PyDict::new(py);
            kwargs.set_item("ip", ip)?;
            return Guard::awaitable(slf, "reset_ip", kwargs);
        }
        let result = guard.reset_ip(py, ip).map(|()| py.None());
        Bound::new(py, Ready::new(py, result)?).map(Bound::into_any)
    }

    /// `inspect` as an awaitable (see `abegin`).
    #[pyo3(signature = (*, account=None, ip=None, device=None))]
    fn ainspect<'py>(
        slf: &Bound<'py, Self>,
        account: Option<&Bound<'py, PyAny>>,
        ip: Option<&Bound<'py, PyAny>>,
        device: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let guard = slf.get();
        if guard.remote {
            let kwargs = attempt_kwargs(py, account, ip, device)?;
            return Guard::awaitable(slf, "inspect", kwargs);
        }
        let result = guard.inspect(py, account, ip, device);
        Bound::new(py, Ready::new(py, result)?).map(Bound::into_any)
    }

    /// Capacity, occupancy, evictions, refused inserts, memory and decisions (scans the table).
    fn stats(&self, py: Python<'_>) -> Stats {
        py.detach(|| self.inner.stats()).into()
    }

    /// The site-wide signal now (`None` when the policy has no `[site]`);
    /// unlike `stats`, no table scan. On the redis store, one round trip
    /// (the GIL released).
    fn site_state(&self, py: Python<'_>) -> Option<SiteState> {
        self.run(py, || self.inner.site_state())
            .map(SiteState::from)
    }

    /// Calls `listener(event)` for every event from now on; `None` stops.
    fn on_event(&self, listener: Option<Py<PyAny>>, py: Python<'_>) -> PyResult<()> {
        let Some(listener) = listener else {
            self.inner.clear_listener();
            return Ok(());
        };
        if !listener.bind(py).is_callable() {
            return Err(PyTypeError::new_err("on_event needs a callable or None"));
        }
        self.inner.set_listener(move |event| {
            Python::attach(|py| {
                let called = Py::new(py, Event::from(event)).and_then(|e| listener.call1(py, (e,)));
                if let Err(err) = called {
                    // Python's place for errors from callbacks; the decision stands.
                    err.write_unraisable(py, Some(listener.bind(py)));
                }
            });
        });
        Ok(())
    }

    /// Moves the manual clock forward (only for `Guard(manual_clock=True)`).
    fn advance_ms(&self, ms: u64) -> PyResult<()> {
        match &self.clock {
            Some(c) => {
                c.advance_ms(ms);
                Ok(())
            }
            None => Err(PyRuntimeError::new_err(
                "advance_ms needs a guard made with manual_clock=True",
            )),
        }
    }

    /// The guard clock's time in milliseconds (Unix epoch, or the manual clock).
    #[getter]
    fn now_ms(&self) -> u64 {
        self.inner.now_ms()
    }

    /// Whether `a` and `b` are one account to this guard (the same key under its
    /// `account_normalize`).
    fn same_account(&self, a: &str, b: &str) -> bool {
        self.inner.same_account(a, b)
    }

    /// The policy's `account_normalize`: `"fold"` (NFKC, lowercase, trimmed) or `"exact"`.
    #[getter]
    fn account_normalize(&self) -> &'static str {
        match self.inner.policy().account_normalize {
            AccountNormalize::Fold => "fold",
            AccountNormalize::Exact => "exact",
        }
    }

    fn __repr__(&self) -> String {
        let clock = if self.clock.is_some() {
            "manual"
        } else {
            "system"
        };
        format!("Guard(clock='{clock}')")
    }
}
