//! JS values in, JS values out: attempts, decisions, inspections, stats, events.

use loginguard::{Attempt, IpInput};
use napi::bindgen_prelude::{FromNapiValue, Uint8ArraySlice, Unknown};
use napi::ValueType;
use napi_derive::napi;

use crate::error::{self, Code, Result};

/// Text or bytes (`Buffer` / `Uint8Array`), borrowed for one call.
pub enum TextOrBytes<'env> {
    Text(String),
    Bytes(Uint8ArraySlice<'env>),
}

impl std::fmt::Debug for TextOrBytes<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TextOrBytes::Text(s) => f.debug_tuple("Text").field(s).finish(),
            TextOrBytes::Bytes(b) => f.debug_tuple("Bytes").field(&&b[..]).finish(),
        }
    }
}

impl TextOrBytes<'_> {
    fn as_bytes(&self) -> &[u8] {
        match self {
            TextOrBytes::Text(s) => s.as_bytes(),
            TextOrBytes::Bytes(b) => b,
        }
    }
}

fn is_absent(value: &Unknown<'_>) -> Result<bool> {
    let ty = value
        .get_type()
        .map_err(|e| error::from_napi(e, Code::Internal, "typeof"))?;
    Ok(matches!(ty, ValueType::Undefined | ValueType::Null))
}

/// A `string`, or nothing for `undefined` / `null`.
pub fn text(value: Unknown<'_>, name: &str) -> Result<Option<String>> {
    if is_absent(&value)? {
        return Ok(None);
    }
    if value.get_type().ok() != Some(ValueType::String) {
        return Err(error::new(Code::Type, format!("{name} must be a string")));
    }
    String::from_unknown(value)
        .map(Some)
        .map_err(|e| error::from_napi(e, Code::Type, name))
}

/// A `string` or a `Uint8Array` (a `Buffer` is one), or nothing for `undefined` / `null`.
pub fn text_or_bytes<'env>(value: Unknown<'env>, name: &str) -> Result<Option<TextOrBytes<'env>>> {
    if is_absent(&value)? {
        return Ok(None);
    }
    if value.get_type().ok() == Some(ValueType::String) {
        return String::from_unknown(value)
            .map(|s| Some(TextOrBytes::Text(s)))
            .map_err(|e| error::from_napi(e, Code::Type, name));
    }
    Uint8ArraySlice::from_unknown(value)
        .map(|b| Some(TextOrBytes::Bytes(b)))
        .map_err(|_| {
            error::new(
                Code::Type,
                format!("{name} must be a string, a Buffer or a Uint8Array"),
            )
        })
}

/// Policy TOML text from `policy`: the text itself, or an object shaped like
/// the file (`{ account: { challenge_after: 5 }, deny_cidrs: [...] }`) written out
/// as TOML, so both go through the same parser and the same field-named errors.
pub fn policy_text(value: Unknown<'_>) -> Result<Option<String>> {
    if is_absent(&value)? {
        return Ok(None);
    }
    match value.get_type().ok() {
        Some(ValueType::String) => text(value, "policy"),
        Some(ValueType::Object) => {
            let json = serde_json::Value::from_unknown(value)
                .map_err(|e| error::from_napi(e, Code::Policy, "policy"))?;
            let table = toml::Table::try_from(json).map_err(|e| {
                error::new(Code::Policy, format!("policy error in `(object)`: {e}"))
            })?;
            toml::to_string(&table)
                .map(Some)
                .map_err(|e| error::new(Code::Policy, format!("policy error in `(object)`: {e}")))
        }
        _ => Err(error::new(
            Code::Type,
            "policy must be TOML text or an object shaped like the policy file",
        )),
    }
}

/// An attempt's fields as JS handed them over.
#[derive(Debug)]
pub struct AttemptArgs<'env> {
    account: Option<String>,
    ip: Option<TextOrBytes<'env>>,
    device: Option<TextOrBytes<'env>>,
}

impl<'env> AttemptArgs<'env> {
    pub fn from_js(
        account: Unknown<'env>,
        ip: Unknown<'env>,
        device: Unknown<'env>,
    ) -> Result<Self> {
        Ok(AttemptArgs {
            account: text(account, "account")?,
            ip: text_or_bytes(ip, "ip")?,
            device: text_or_bytes(device, "device")?,
        })
    }

    pub fn attempt(&self) -> Attempt<'_> {
        Attempt {
            account: self.account.as_deref(),
            ip: self.ip.as_ref().map(|ip| match ip {
                TextOrBytes::Text(s) => IpInput::Text(s),
                TextOrBytes::Bytes(b) => IpInput::Bytes(b),
            }),
            device: self.device.as_ref().map(TextOrBytes::as_bytes),
        }
    }
}

/// What to do with the attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[napi(string_enum = "snake_case")]
pub enum Action {
    Allow,
    Challenge,
    Deny,
    ResetRequired,
}

impl From<loginguard::Action> for Action {
    fn from(a: loginguard::Action) -> Self {
        match a {
            loginguard::Action::Allow => Action::Allow,
            loginguard::Action::Challenge => Action::Challenge,
            loginguard::Action::Deny => Action::Deny,
            loginguard::Action::ResetRequired => Action::ResetRequired,
        }
    }
}

impl From<Action> for loginguard::Action {
    fn from(a: Action) -> Self {
        match a {
            Action::Allow => loginguard::Action::Allow,
            Action::Challenge => loginguard::Action::Challenge,
            Action::Deny => loginguard::Action::Deny,
            Action::ResetRequired => loginguard::Action::ResetRequired,
        }
    }
}

/// Which counter (or list) decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[napi(string_enum = "snake_case")]
pub enum Reason {
    Account,
    AccountIp,
    Ip,
    Device,
    Denylist,
    /// The wider network's counter (IPv4 /24, IPv6 /48 by default).
    IpRange,
    /// The site-wide failure rate: every attempt not on a trusted device is challenged.
    Site,
}

impl From<loginguard::Reason> for Reason {
    fn from(r: loginguard::Reason) -> Self {
        match r {
            loginguard::Reason::Account => Reason::Account,
            loginguard::Reason::AccountIp => Reason::AccountIp,
            loginguard::Reason::Ip => Reason::Ip,
            loginguard::Reason::Device => Reason::Device,
            loginguard::Reason::Denylist => Reason::Denylist,
            loginguard::Reason::IpRange => Reason::IpRange,
            loginguard::Reason::Site => Reason::Site,
        }
    }
}

/// A failure counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[napi(string_enum = "snake_case")]
pub enum Dimension {
    Account,
    AccountIp,
    Ip,
    Device,
    /// The wider network (IPv4 /24, IPv6 /48 by default).
    IpRange,
}

impl From<loginguard::Dimension> for Dimension {
    fn from(d: loginguard::Dimension) -> Self {
        match d {
            loginguard::Dimension::Account => Dimension::Account,
            loginguard::Dimension::AccountIp => Dimension::AccountIp,
            loginguard::Dimension::Ip => Dimension::Ip,
            loginguard::Dimension::Device => Dimension::Device,
            loginguard::Dimension::IpRange => Dimension::IpRange,
        }
    }
}

/// The engine's answer for one attempt.
#[derive(Debug, Clone)]
#[napi(object, use_nullable = true)]
pub struct Decision {
    /// What to do.
    pub action: Action,
    /// Which counter (or list) decided; `null` for `allow`.
    pub reason: Option<Reason>,
    /// For `deny` by a counter: milliseconds until the lock ends.
    pub retry_after_ms: Option<f64>,
    /// The deciding counter's count (its consecutive count for `reset_required`).
    pub failures: u32,
    /// True when the store (redis) could not answer in time and the policy's
    /// `store.on_error` decided; always false for the memory and shared stores.
    pub degraded: bool,
}

impl From<loginguard::Decision> for Decision {
    fn from(d: loginguard::Decision) -> Self {
        Decision {
            action: d.action.into(),
            reason: d.reason.map(Reason::from),
            retry_after_ms: d.retry_after_ms.map(|ms| ms as f64),
            failures: d.failures,
            degraded: d.degraded,
        }
    }
}

const REASON: f64 = 4.0;
const FAILURES: f64 = 32.0;
const EVENTS: f64 = 2_097_152.0; // 2^21
const RETRY: f64 = 4_194_304.0; // 2^22

/// A decision as one number, exact in a double's 53 bits, because building a JS
/// object through Node-API costs more than deciding. Bits 0-1 action, 2-4 reason
/// (0 = none), 5-20 failures, 21 "events are waiting", 22-52 retry + 1 (0 = none).
/// `None` when a part is too large to pack, or the decision is `degraded`
/// (rare: Redis did not answer): the caller then sends a [`Decision`].
pub fn pack(d: &loginguard::Decision, events: bool) -> Option<f64> {
    let reason = d.reason.map_or(0.0, |r| f64::from(r as u8 + 1));
    if d.failures > 0xffff || d.degraded {
        return None;
    }
    let retry = match d.retry_after_ms {
        None => 0,
        Some(ms) if ms < (1 << 31) - 1 => ms + 1,
        Some(_) => return None,
    };
    Some(
        f64::from(d.action as u8)
            + reason * REASON
            + f64::from(d.failures) * FAILURES
            + if events { EVENTS } else { 0.0 }
            + retry as f64 * RETRY,
    )
}

/// One dimension's state, for support staff.
#[derive(Debug, Clone)]
#[napi(object, use_nullable = true)]
pub struct DimensionState {
    pub dimension: Dimension,
    /// Whether the table holds this key (an untracked key has all zeros).
    pub tracked: bool,
    /// The current count.
    pub failures: u32,
    /// The consecutive count.
    pub consecutive: u32,
    /// When the running lock ends, in the guard clock's milliseconds.
    pub locked_until_ms: Option<f64>,
    /// Whether only a reset unlocks it.
    pub reset_required: bool,
    /// This dimension's own verdict now.
    pub action: Action,
}

/// What `inspect` reports: what `check` would decide, and why.
#[derive(Debug, Clone)]
#[napi(object)]
pub struct Inspection {
    pub decision: Decision,
    /// Whether the ip is on the deny list.
    pub denylisted: bool,
    /// Every dimension that governs the attempt, in tie-break order.
    pub dimensions: Vec<DimensionState>,
    /// The site-wide signal; absent when the policy has no `[site]`.
    pub site: Option<SiteState>,
}

/// The site-wide signal: failures within the window, the trigger, and whether
/// an attack is on (every attempt not on a trusted device is challenged).
#[derive(Debug, Clone)]
#[napi(object, use_nullable = true)]
pub struct SiteState {
    /// Failures within the window now.
    pub rate: f64,
    /// The rate above which an attack starts (learned with `baseline = "auto"`).
    pub trigger: f64,
    /// The window the rate counts over, in milliseconds.
    pub per_ms: f64,
    /// Whether an attack is on.
    pub active: bool,
    /// When the attack started, in the guard clock's milliseconds.
    pub since_ms: Option<f64>,
}

impl From<loginguard::SiteState> for SiteState {
    fn from(s: loginguard::SiteState) -> Self {
        SiteState {
            rate: s.rate as f64,
            trigger: s.trigger as f64,
            per_ms: s.per_ms as f64,
            active: s.active,
            since_ms: s.since_ms.map(|ms| ms as f64),
        }
    }
}

impl From<loginguard::Inspection> for Inspection {
    fn from(i: loginguard::Inspection) -> Self {
        Inspection {
            decision: i.decision.into(),
            denylisted: i.denylisted,
            dimensions: i
                .dimensions
                .into_iter()
                .map(|s| DimensionState {
                    dimension: s.dimension.into(),
                    tracked: s.tracked,
                    failures: s.failures,
                    consecutive: s.consecutive,
                    locked_until_ms: s.locked_until_ms.map(|ms| ms as f64),
                    reset_required: s.reset_required,
                    action: s.action.into(),
                })
                .collect(),
            site: i.site.map(SiteState::from),
        }
    }
}

/// A snapshot of the guard's table and decisions.
#[derive(Debug, Clone)]
#[napi(object, use_nullable = true)]
pub struct Stats {
    /// Keys the table can track.
    pub capacity: f64,
    /// Slots holding a key.
    pub occupancy: f64,
    /// Keys evicted to make room for others.
    pub evictions: f64,
    /// New keys not stored because every candidate slot was protected.
    pub refused_inserts: f64,
    /// Bytes the counters occupy plus the guard itself.
    pub memory_bytes: f64,
    /// Decisions by action from `check`, `begin` and `recordFailure`.
    pub allow: f64,
    pub challenge: f64,
    pub deny: f64,
    pub reset_required: f64,
    /// The site-wide signal; `null` when the policy has no `[site]`.
    pub site: Option<SiteState>,
    /// The redis store's own facts; `null` for the memory and shared stores.
    pub redis: Option<RedisStats>,
}

/// What a redis guard saw of Redis since it opened the store (this process's
/// counts), and what Redis's `INFO` said when `stats` was called.
#[derive(Debug, Clone)]
#[napi(object, use_nullable = true)]
pub struct RedisStats {
    /// Round trips sent (a pipeline counts once).
    pub round_trips: f64,
    /// Operations that failed: timeouts, refused connections, server errors.
    pub errors: f64,
    /// Decisions made by `store.on_error` (with `degraded` set).
    pub degraded: f64,
    /// Compare-and-set writes sent again after another host changed the key.
    pub cas_retries: f64,
    /// Operations that gave up after too many conflicts on one key.
    pub cas_exhausted: f64,
    /// `check`s and `begin`s answered by the local lock cache.
    pub lock_cache_hits: f64,
    /// Times this process restored a missing meta key.
    pub meta_healed: f64,
    /// Times the meta key held another store's blob (another secret or epoch).
    pub meta_mismatches: f64,
    /// Times the meta key named another policy (expected in a rolling deploy).
    pub policy_mismatches: f64,
    /// Whether the circuit breaker is open (Redis failed repeatedly).
    pub circuit_open: bool,
    /// Redis's `evicted_keys`; `null` when unknown.
    pub evicted_keys: Option<f64>,
    /// Whether Redis's `maxmemory-policy` can evict counters; `null` when unknown.
    pub may_evict_counters: Option<bool>,
    /// Redis's `used_memory` in bytes; `null` when unknown.
    pub used_memory: Option<f64>,
}

impl From<loginguard::RedisStats> for RedisStats {
    fn from(r: loginguard::RedisStats) -> Self {
        RedisStats {
            round_trips: r.round_trips as f64,
            errors: r.errors as f64,
            degraded: r.degraded as f64,
            cas_retries: r.cas_retries as f64,
            cas_exhausted: r.cas_exhausted as f64,
            lock_cache_hits: r.lock_cache_hits as f64,
            meta_healed: r.meta_healed as f64,
            meta_mismatches: r.meta_mismatches as f64,
            policy_mismatches: r.policy_mismatches as f64,
            circuit_open: r.circuit_open,
            evicted_keys: r.evicted_keys.map(|n| n as f64),
            may_evict_counters: r.may_evict_counters,
            used_memory: r.used_memory.map(|n| n as f64),
        }
    }
}

impl From<loginguard::Stats> for Stats {
    fn from(s: loginguard::Stats) -> Self {
        Stats {
            capacity: s.capacity as f64,
            occupancy: s.occupancy as f64,
            evictions: s.evictions as f64,
            refused_inserts: s.refused_inserts as f64,
            memory_bytes: s.memory_bytes as f64,
            allow: s.allow as f64,
            challenge: s.challenge as f64,
            deny: s.deny as f64,
            reset_required: s.reset_required as f64,
            site: s.site.map(SiteState::from),
            redis: s.redis.map(RedisStats::from),
        }
    }
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[napi(string_enum = "snake_case")]
pub enum EventKind {
    Challenge,
    Lock,
    ResetRequired,
    ResetAccount,
    ResetIp,
    /// The site-wide failure rate went above the trigger (`failures`: the rate).
    SiteAttackStarted,
    /// The site-wide rate stayed below `calm_when` for `calm_for` (`failures`: the rate).
    SiteAttackEnded,
}

/// An event, told to `guard.on('event', fn)` listeners.
#[derive(Debug, Clone)]
#[napi(object, use_nullable = true)]
pub struct GuardEvent {
    pub kind: EventKind,
    /// The counter it happened to (`null` for resets and site events).
    pub dimension: Option<Dimension>,
    /// The attempt's account as given.
    pub account: Option<String>,
    /// The attempt's address (IPv4-mapped IPv6 shown as IPv4).
    pub ip: Option<String>,
    /// The counter's count after the failure (the consecutive count for `reset_required`; 0 for resets).
    pub failures: u32,
    /// For `lock`: when the lock ends, in the guard clock's milliseconds.
    pub lock_until_ms: Option<f64>,
}

impl From<&loginguard::Event<'_>> for GuardEvent {
    fn from(e: &loginguard::Event<'_>) -> Self {
        use loginguard::EventKind as K;
        GuardEvent {
            kind: match e.kind {
                K::Challenge => EventKind::Challenge,
                K::Lock => EventKind::Lock,
                K::ResetRequired => EventKind::ResetRequired,
                K::ResetAccount => EventKind::ResetAccount,
                K::ResetIp => EventKind::ResetIp,
                K::SiteAttackStarted => EventKind::SiteAttackStarted,
                // The core's kinds are non-exhaustive; this is the last one it has.
                _ => EventKind::SiteAttackEnded,
            },
            dimension: e.dimension.map(Dimension::from),
            account: e.account.map(str::to_owned),
            ip: e.ip.map(|ip| ip.to_string()),
            failures: e.failures,
            lock_until_ms: e.lock_until_ms.map(|ms| ms as f64),
        }
    }
}

/// An address as JS handed it over, owned so that it can cross to another thread.
#[derive(Debug, Clone)]
pub enum OwnedIp {
    Text(String),
    Bytes(Vec<u8>),
}

/// An attempt copied out of its JS values, for a call that runs off the JS thread.
#[derive(Debug, Clone)]
pub struct OwnedAttempt {
    account: Option<String>,
    ip: Option<OwnedIp>,
    device: Option<Vec<u8>>,
}

impl OwnedAttempt {
    pub fn attempt(&self) -> Attempt<'_> {
        Attempt {
            account: self.account.as_deref(),
            ip: self.ip.as_ref().map(|ip| match ip {
                OwnedIp::Text(s) => IpInput::Text(s),
                OwnedIp::Bytes(b) => IpInput::Bytes(b),
            }),
            device: self.device.as_deref(),
        }
    }
}

impl AttemptArgs<'_> {
    /// The same attempt, owning its text and bytes.
    pub fn into_owned(self) -> OwnedAttempt {
        OwnedAttempt {
            account: self.account,
            ip: self.ip.map(|ip| match ip {
                TextOrBytes::Text(s) => OwnedIp::Text(s),
                TextOrBytes::Bytes(b) => OwnedIp::Bytes(b.to_vec()),
            }),
            device: self.device.map(|d| d.as_bytes().to_vec()),
        }
    }
}

/// An address for `resetIp`, owned.
pub fn owned_ip(value: TextOrBytes<'_>) -> OwnedIp {
    match value {
        TextOrBytes::Text(s) => OwnedIp::Text(s),
        TextOrBytes::Bytes(b) => OwnedIp::Bytes(b.to_vec()),
    }
}
