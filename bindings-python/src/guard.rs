//! `Guard`: converts keyword arguments into a core `Attempt`, calls the core, wraps the result.

use std::sync::Arc;

use loginguard::{Attempt, IpInput, ManualClock, Policy};
use pyo3::exceptions::{PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedStr;
use pyo3::types::{PyBytes, PyString};

use crate::errors::{invalid_utf8, wrong_type, IntoPyResult};
use crate::types::{Decision, Event, Inspection, Stats};

/// A `str` argument as UTF-8, or `bytes`. `PyBackedStr` borrows the string's own UTF-8 where
/// the ABI allows it (CPython 3.10+) and holds a temporary encoding otherwise.
enum Value<'py> {
    Text(PyBackedStr),
    Bytes(Bound<'py, PyBytes>),
}

impl Value<'_> {
    fn as_bytes(&self) -> &[u8] {
        match self {
            Value::Text(t) => t.as_bytes(),
            Value::Bytes(b) => b.as_bytes(),
        }
    }
}

fn utf8(what: &str, s: &Bound<'_, PyString>) -> PyResult<PyBackedStr> {
    PyBackedStr::try_from(s.clone()).map_err(|_| invalid_utf8(what))
}

fn text(what: &str, v: &Bound<'_, PyAny>) -> PyResult<PyBackedStr> {
    match v.cast::<PyString>() {
        Ok(s) => utf8(what, s),
        Err(_) => Err(wrong_type(what, "str", v)),
    }
}

fn text_or_bytes<'py>(what: &str, v: &Bound<'py, PyAny>) -> PyResult<Value<'py>> {
    if let Ok(s) = v.cast::<PyString>() {
        return utf8(what, s).map(Value::Text);
    }
    match v.cast::<PyBytes>() {
        Ok(b) => Ok(Value::Bytes(b.clone())),
        Err(_) => Err(wrong_type(what, "str or bytes", v)),
    }
}

/// The three keyword arguments of every attempt, converted.
struct Args<'py> {
    account: Option<PyBackedStr>,
    ip: Option<Value<'py>>,
    device: Option<Value<'py>>,
}

impl<'py> Args<'py> {
    fn new(
        account: Option<&Bound<'py, PyAny>>,
        ip: Option<&Bound<'py, PyAny>>,
        device: Option<&Bound<'py, PyAny>>,
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
            ip: self.ip.as_ref().map(|ip| match ip {
                Value::Text(t) => IpInput::Text(t),
                Value::Bytes(b) => IpInput::Bytes(b.as_bytes()),
            }),
            device: self.device.as_ref().map(Value::as_bytes),
        }
    }
}

/// The login-protection engine; one per process, shared by every thread.
#[pyclass(frozen, module = "loginguard")]
pub(crate) struct Guard {
    inner: loginguard::Guard,
    clock: Option<Arc<ManualClock>>,
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
        Ok(Guard { inner, clock })
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
    fn check(
        &self,
        account: Option<&Bound<'_, PyAny>>,
        ip: Option<&Bound<'_, PyAny>>,
        device: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Decision> {
        let args = Args::new(account, ip, device)?;
        self.inner.check(&args.attempt()).py().map(Decision)
    }

    /// The race-free pre-check: records one failure in advance when the password may be checked.
    #[pyo3(signature = (*, account=None, ip=None, device=None, challenge_passed=false))]
    fn begin(
        &self,
        account: Option<&Bound<'_, PyAny>>,
        ip: Option<&Bound<'_, PyAny>>,
        device: Option<&Bound<'_, PyAny>>,
        challenge_passed: bool,
    ) -> PyResult<Decision> {
        let args = Args::new(account, ip, device)?;
        self.inner
            .begin(&args.attempt(), challenge_passed)
            .py()
            .map(Decision)
    }

    /// Records a failed login; returns the decision the counters now give.
    #[pyo3(signature = (*, account=None, ip=None, device=None))]
    fn record_failure(
        &self,
        account: Option<&Bound<'_, PyAny>>,
        ip: Option<&Bound<'_, PyAny>>,
        device: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Decision> {
        let args = Args::new(account, ip, device)?;
        self.inner
            .record_failure(&args.attempt())
            .py()
            .map(Decision)
    }

    /// Records a successful login (`after_begin=True` when `begin` preceded it).
    #[pyo3(signature = (*, account=None, ip=None, device=None, after_begin=false))]
    fn record_success(
        &self,
        account: Option<&Bound<'_, PyAny>>,
        ip: Option<&Bound<'_, PyAny>>,
        device: Option<&Bound<'_, PyAny>>,
        after_begin: bool,
    ) -> PyResult<()> {
        let args = Args::new(account, ip, device)?;
        self.inner.record_success(&args.attempt(), after_begin).py()
    }

    /// Clears every counter of the account, `reset_required` included (scans the table).
    fn reset_account(&self, py: Python<'_>, account: &Bound<'_, PyAny>) -> PyResult<()> {
        let account = text("account", account)?;
        let account: &str = &account;
        py.detach(|| self.inner.reset_account(account)).py()
    }

    /// Clears the network's `ip` counter.
    fn reset_ip(&self, ip: &Bound<'_, PyAny>) -> PyResult<()> {
        match text_or_bytes("ip", ip)? {
            Value::Text(t) => self.inner.reset_ip(&*t),
            Value::Bytes(b) => self.inner.reset_ip(b.as_bytes()),
        }
        .py()
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
        let inspection = self.inner.inspect(&args.attempt()).py()?;
        Inspection::new(py, inspection)
    }

    /// Capacity, occupancy, evictions, refused inserts, memory and decisions (scans the table).
    fn stats(&self, py: Python<'_>) -> Stats {
        py.detach(|| self.inner.stats()).into()
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

    fn __repr__(&self) -> String {
        let clock = if self.clock.is_some() {
            "manual"
        } else {
            "system"
        };
        format!("Guard(clock='{clock}')")
    }
}
