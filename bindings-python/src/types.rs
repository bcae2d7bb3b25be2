//! Immutable result objects: `Decision`, `Inspection`, `DimensionState`, `Stats`,
//! `RedisStats`, `SiteState`, `Event`.

use loginguard::{Action, Reason};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyString, PyTuple};

const TYPES: &str = "loginguard._types";

/// The `Action` enum member for a core action.
fn action_member(py: Python<'_>, action: Action) -> PyResult<Py<PyAny>> {
    static MEMBERS: PyOnceLock<[Py<PyAny>; 4]> = PyOnceLock::new();
    let members = MEMBERS.get_or_try_init(py, || -> PyResult<_> {
        let cls = py.import(TYPES)?.getattr("Action")?;
        let m = |a: Action| cls.call1((a.as_str(),)).map(Bound::unbind);
        Ok([
            m(Action::Allow)?,
            m(Action::Challenge)?,
            m(Action::Deny)?,
            m(Action::ResetRequired)?,
        ])
    })?;
    Ok(members[action as usize].clone_ref(py))
}

/// The `Reason` enum member for a core reason.
fn reason_member(py: Python<'_>, reason: Reason) -> PyResult<Py<PyAny>> {
    // Indexed by the core's discriminant (denylist 4, ip_range 5, site 6).
    static MEMBERS: PyOnceLock<[Py<PyAny>; 7]> = PyOnceLock::new();
    let members = MEMBERS.get_or_try_init(py, || -> PyResult<_> {
        let cls = py.import(TYPES)?.getattr("Reason")?;
        let m = |r: Reason| cls.call1((r.as_str(),)).map(Bound::unbind);
        Ok([
            m(Reason::Account)?,
            m(Reason::AccountIp)?,
            m(Reason::Ip)?,
            m(Reason::Device)?,
            m(Reason::Denylist)?,
            m(Reason::IpRange)?,
            m(Reason::Site)?,
        ])
    })?;
    Ok(members[reason as usize].clone_ref(py))
}

fn opt_repr<T: std::fmt::Display>(v: Option<T>, quoted: bool) -> String {
    match v {
        None => "None".to_owned(),
        Some(v) if quoted => format!("'{v}'"),
        Some(v) => v.to_string(),
    }
}

/// What the engine decided for one attempt.
#[pyclass(frozen, eq, hash, module = "loginguard")]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Decision(pub(crate) loginguard::Decision);

/// How many `allow` decisions (failures 0 to this, excluded) are built once and shared.
const SHARED_ALLOWS: u32 = 64;

impl Decision {
    /// The Python object for a core decision. A `Decision` is an immutable value (equality and
    /// hash by value, no `__dict__`), so the `allow`s that most attempts get are built once and
    /// handed out again, as CPython does with small ints: no allocation and no free per call.
    pub(crate) fn to_object(py: Python<'_>, d: loginguard::Decision) -> PyResult<Bound<'_, Self>> {
        static ALLOWS: PyOnceLock<Vec<Py<Decision>>> = PyOnceLock::new();
        if d.failures < SHARED_ALLOWS && d == loginguard::Decision::allow(d.failures) {
            let allows = ALLOWS.get_or_try_init(py, || {
                (0..SHARED_ALLOWS)
                    .map(|f| Py::new(py, Decision(loginguard::Decision::allow(f))))
                    .collect::<PyResult<_>>()
            })?;
            return Ok(allows[d.failures as usize].bind(py).clone());
        }
        Bound::new(py, Decision(d))
    }
}

#[pymethods]
impl Decision {
    /// `Action.ALLOW`, `CHALLENGE`, `DENY` or `RESET_REQUIRED`.
    #[getter]
    fn action(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        action_member(py, self.0.action)
    }

    /// Which counter (or the deny list) decided; `None` for allow.
    #[getter]
    fn reason(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        self.0.reason.map(|r| reason_member(py, r)).transpose()
    }

    /// For a deny by a counter: milliseconds until the lock ends.
    #[getter]
    fn retry_after_ms(&self) -> Option<u64> {
        self.0.retry_after_ms
    }

    /// The deciding counter's count.
    #[getter]
    fn failures(&self) -> u32 {
        self.0.failures
    }

    /// True when the store (redis) could not answer in time and the policy's
    /// `store.on_error` decided; always False for the memory and shared stores.
    #[getter]
    fn degraded(&self) -> bool {
        self.0.degraded
    }

    /// Whether the password may be checked, given whether a CAPTCHA was solved.
    #[pyo3(signature = (challenge_passed=false))]
    fn lets_password_be_checked(&self, challenge_passed: bool) -> bool {
        self.0.lets_password_be_checked(challenge_passed)
    }

    fn __repr__(&self) -> String {
        let d = &self.0;
        format!(
            "Decision(action='{}', reason={}, retry_after_ms={}, failures={}{})",
            d.action,
            opt_repr(d.reason, true),
            opt_repr(d.retry_after_ms, false),
            d.failures,
            if d.degraded { ", degraded=True" } else { "" }
        )
    }

    fn __str__(&self) -> String {
        self.0.to_string()
    }
}

/// One governing dimension's counter, as `inspect` reports it.
#[pyclass(frozen, get_all, module = "loginguard")]
pub(crate) struct DimensionState {
    dimension: &'static str,
    tracked: bool,
    failures: u32,
    consecutive: u32,
    locked_until_ms: Option<u64>,
    reset_required: bool,
    action: Py<PyAny>,
}

#[pymethods]
impl DimensionState {
    fn __repr__(&self) -> String {
        format!(
            "DimensionState(dimension='{}', tracked={}, failures={}, consecutive={}, \
             locked_until_ms={}, reset_required={}, action='{}')",
            self.dimension,
            py_bool(self.tracked),
            self.failures,
            self.consecutive,
            opt_repr(self.locked_until_ms, false),
            py_bool(self.reset_required),
            Python::attach(|py| self.action.bind(py).str().map(|s| s.to_string()))
                .unwrap_or_default()
        )
    }
}

fn py_bool(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

/// What `inspect` reports: the decision `check` gives now and every governing counter.
#[pyclass(frozen, get_all, module = "loginguard")]
pub(crate) struct Inspection {
    decision: Py<Decision>,
    denylisted: bool,
    dimensions: Py<PyTuple>,
    site: Option<SiteState>,
}

#[pymethods]
impl Inspection {
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "Inspection(decision={}, denylisted={}, dimensions={}, site={})",
            self.decision.get().__repr__(),
            py_bool(self.denylisted),
            self.dimensions.bind(py).repr()?,
            self.site
                .as_ref()
                .map_or("None".to_owned(), SiteState::__repr__)
        ))
    }
}

impl Inspection {
    pub(crate) fn new(py: Python<'_>, i: loginguard::Inspection) -> PyResult<Self> {
        let dims = i
            .dimensions
            .iter()
            .map(|d| {
                Py::new(
                    py,
                    DimensionState {
                        dimension: d.dimension.as_str(),
                        tracked: d.tracked,
                        failures: d.failures,
                        consecutive: d.consecutive,
                        locked_until_ms: d.locked_until_ms,
                        reset_required: d.reset_required,
                        action: action_member(py, d.action)?,
                    },
                )
            })
            .collect::<PyResult<Vec<_>>>()?;
        Ok(Inspection {
            decision: Py::new(py, Decision(i.decision))?,
            denylisted: i.denylisted,
            dimensions: PyTuple::new(py, dims)?.unbind(),
            site: i.site.map(SiteState::from),
        })
    }
}

/// A snapshot of a guard's table and decision counts.
#[pyclass(frozen, get_all, module = "loginguard")]
pub(crate) struct Stats {
    capacity: usize,
    occupancy: usize,
    evictions: u64,
    refused_inserts: u64,
    memory_bytes: usize,
    allow: u64,
    challenge: u64,
    deny: u64,
    reset_required: u64,
    /// The redis store's own figures; `None` for the memory and shared stores.
    redis: Option<RedisStats>,
    site: Option<SiteState>,
}

/// What a redis guard saw of Redis since it opened the store (this process's
/// counts), and what Redis's `INFO` said when `stats()` was called.
#[pyclass(frozen, get_all, module = "loginguard")]
#[derive(Clone)]
pub(crate) struct RedisStats {
    round_trips: u64,
    errors: u64,
    degraded: u64,
    cas_retries: u64,
    cas_exhausted: u64,
    lock_cache_hits: u64,
    meta_healed: u64,
    meta_mismatches: u64,
    policy_mismatches: u64,
    circuit_open: bool,
    evicted_keys: Option<u64>,
    may_evict_counters: Option<bool>,
    used_memory: Option<u64>,
}

impl From<loginguard::RedisStats> for RedisStats {
    fn from(r: loginguard::RedisStats) -> Self {
        RedisStats {
            round_trips: r.round_trips,
            errors: r.errors,
            degraded: r.degraded,
            cas_retries: r.cas_retries,
            cas_exhausted: r.cas_exhausted,
            lock_cache_hits: r.lock_cache_hits,
            meta_healed: r.meta_healed,
            meta_mismatches: r.meta_mismatches,
            policy_mismatches: r.policy_mismatches,
            circuit_open: r.circuit_open,
            evicted_keys: r.evicted_keys,
            may_evict_counters: r.may_evict_counters,
            used_memory: r.used_memory,
        }
    }
}

#[pymethods]
impl RedisStats {
    fn __repr__(&self) -> String {
        format!(
            "RedisStats(round_trips={}, errors={}, degraded={}, cas_retries={}, cas_exhausted={}, \
             lock_cache_hits={}, meta_healed={}, meta_mismatches={}, policy_mismatches={}, \
             circuit_open={}, evicted_keys={}, may_evict_counters={}, used_memory={})",
            self.round_trips,
            self.errors,
            self.degraded,
            self.cas_retries,
            self.cas_exhausted,
            self.lock_cache_hits,
            self.meta_healed,
            self.meta_mismatches,
            self.policy_mismatches,
            py_bool(self.circuit_open),
            opt_repr(self.evicted_keys, false),
            opt_repr(self.may_evict_counters.map(py_bool), false),
            opt_repr(self.used_memory, false)
        )
    }
}

/// The site-wide signal: failures within the window, the trigger, and
/// whether an attack is on (every attempt not on a trusted device is
/// challenged, reason `site`) and since when.
#[pyclass(frozen, get_all, module = "loginguard")]
#[derive(Clone)]
pub(crate) struct SiteState {
    rate: u64,
    trigger: u64,
    per_ms: u64,
    active: bool,
    since_ms: Option<u64>,
}

impl From<loginguard::SiteState> for SiteState {
    fn from(s: loginguard::SiteState) -> Self {
        SiteState {
            rate: s.rate,
            trigger: s.trigger,
            per_ms: s.per_ms,
            active: s.active,
            since_ms: s.since_ms,
        }
    }
}

#[pymethods]
impl SiteState {
    fn __repr__(&self) -> String {
        format!(
            "SiteState(rate={}, trigger={}, per_ms={}, active={}, since_ms={})",
            self.rate,
            self.trigger,
            self.per_ms,
            py_bool(self.active),
            opt_repr(self.since_ms, false)
        )
    }
}

impl From<loginguard::Stats> for Stats {
    fn from(s: loginguard::Stats) -> Self {
        Stats {
            capacity: s.capacity,
            occupancy: s.occupancy,
            evictions: s.evictions,
            refused_inserts: s.refused_inserts,
            memory_bytes: s.memory_bytes,
            allow: s.allow,
            challenge: s.challenge,
            deny: s.deny,
            reset_required: s.reset_required,
            redis: s.redis.map(RedisStats::from),
            site: s.site.map(SiteState::from),
        }
    }
}

#[pymethods]
impl Stats {
    fn __repr__(&self) -> String {
        format!(
            "Stats(capacity={}, occupancy={}, evictions={}, refused_inserts={}, memory_bytes={}, \
             allow={}, challenge={}, deny={}, reset_required={}, site={}, redis={})",
            self.capacity,
            self.occupancy,
            self.evictions,
            self.refused_inserts,
            self.memory_bytes,
            self.allow,
            self.challenge,
            self.deny,
            self.reset_required,
            self.site
                .as_ref()
                .map_or("None".to_owned(), SiteState::__repr__),
            self.redis
                .as_ref()
                .map_or_else(|| "None".to_string(), RedisStats::__repr__)
        )
    }
}

/// What a listener passed to `Guard.on_event` receives.
#[pyclass(frozen, get_all, module = "loginguard")]
pub(crate) struct Event {
    kind: &'static str,
    dimension: Option<&'static str>,
    account: Option<String>,
    ip: Option<String>,
    failures: u32,
    lock_until_ms: Option<u64>,
}

impl From<&loginguard::Event<'_>> for Event {
    fn from(e: &loginguard::Event<'_>) -> Self {
        Event {
            kind: e.kind.as_str(),
            dimension: e.dimension.map(|d| d.as_str()),
            account: e.account.map(str::to_owned),
            ip: e.ip.map(|ip| ip.to_string()),
            failures: e.failures,
            lock_until_ms: e.lock_until_ms,
        }
    }
}

#[pymethods]
impl Event {
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let account = match &self.account {
            Some(a) => PyString::new(py, a).repr()?.to_string(),
            None => "None".to_owned(),
        };
        Ok(format!(
            "Event(kind='{}', dimension={}, account={account}, ip={}, failures={}, lock_until_ms={})",
            self.kind,
            opt_repr(self.dimension, true),
            opt_repr(self.ip.as_deref(), true),
            self.failures,
            opt_repr(self.lock_until_ms, false)
        ))
    }
}
