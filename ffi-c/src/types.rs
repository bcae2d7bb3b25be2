//! The C-visible types and their conversions from the core's types. No unsafe here.

use std::ffi::{c_char, CStr};
use std::net::IpAddr;

use loginguard::{
    Action, Decision, Dimension, DimensionState, ErrorKind, Event, EventKind, Inspection, Reason,
    SiteState, Stats,
};

/// The result of every `lg_` function that can fail. Values are stable and
/// never reused; `lg_status_message` describes each.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum lg_status {
    /// Success.
    LG_OK = 0,
    /// A required pointer was NULL (or a buffer pointer was NULL with a non-zero length).
    LG_ERR_NULL = 1,
    /// The attempt has neither account nor ip, has a device without an account,
    /// has an over-long account or device, or gives the ip both as text and as bytes.
    LG_ERR_INVALID_ATTEMPT = 2,
    /// The ip text is not an IPv4/IPv6 address, or ip bytes are not 4 or 16 long.
    LG_ERR_INVALID_IP = 3,
    /// The account, the ip text or the policy text is not UTF-8.
    LG_ERR_INVALID_UTF8 = 4,
    /// The policy is invalid (`lg_guard_new_with_message` names the field).
    LG_ERR_POLICY = 5,
    /// The store could not be created or opened.
    LG_ERR_STORE = 6,
    /// `lg_guard_advance_ms` on a guard made without a manual clock.
    LG_ERR_NOT_MANUAL_CLOCK = 7,
    /// A bug in loginguard: a Rust panic was caught at the C boundary.
    LG_ERR_PANIC = 8,
    /// An error kind newer than this header (a library built from a newer core).
    LG_ERR_UNKNOWN = 9,
}

impl lg_status {
    /// The static, NUL-terminated description of a status value.
    pub fn message(status: u32) -> &'static CStr {
        use lg_status::*;
        let all = [
            LG_OK,
            LG_ERR_NULL,
            LG_ERR_INVALID_ATTEMPT,
            LG_ERR_INVALID_IP,
            LG_ERR_INVALID_UTF8,
            LG_ERR_POLICY,
            LG_ERR_STORE,
            LG_ERR_NOT_MANUAL_CLOCK,
            LG_ERR_PANIC,
            LG_ERR_UNKNOWN,
        ];
        match all.into_iter().find(|s| *s as u32 == status) {
            Some(LG_OK) => c"ok",
            Some(LG_ERR_NULL) => c"a required pointer is NULL",
            Some(LG_ERR_INVALID_ATTEMPT) => c"invalid attempt",
            Some(LG_ERR_INVALID_IP) => c"invalid ip",
            Some(LG_ERR_INVALID_UTF8) => c"invalid utf-8",
            Some(LG_ERR_POLICY) => c"invalid policy",
            Some(LG_ERR_STORE) => c"store error",
            Some(LG_ERR_NOT_MANUAL_CLOCK) => c"the guard has no manual clock",
            Some(LG_ERR_PANIC) => c"internal error: a panic was caught at the C boundary",
            Some(LG_ERR_UNKNOWN) | None => c"unknown status",
        }
    }
}

impl From<ErrorKind> for lg_status {
    fn from(kind: ErrorKind) -> lg_status {
        match kind {
            ErrorKind::InvalidAttempt => lg_status::LG_ERR_INVALID_ATTEMPT,
            ErrorKind::InvalidIp => lg_status::LG_ERR_INVALID_IP,
            ErrorKind::InvalidUtf8 => lg_status::LG_ERR_INVALID_UTF8,
            ErrorKind::Policy => lg_status::LG_ERR_POLICY,
            ErrorKind::Store => lg_status::LG_ERR_STORE,
            _ => lg_status::LG_ERR_UNKNOWN,
        }
    }
}

impl From<loginguard::Error> for lg_status {
    fn from(e: loginguard::Error) -> lg_status {
        e.kind().into()
    }
}

/// What to do with a login attempt.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum lg_action {
    /// Check the password.
    LG_ACTION_ALLOW = 0,
    /// Check the password only after a CAPTCHA (or similar) step passed.
    LG_ACTION_CHALLENGE = 1,
    /// Refuse without checking the password; retry later (`retry_after_ms`).
    LG_ACTION_DENY = 2,
    /// Refuse until the account or ip is reset (`lg_guard_reset_account` / `_ip`).
    LG_ACTION_RESET_REQUIRED = 3,
}

impl From<Action> for lg_action {
    fn from(a: Action) -> lg_action {
        match a {
            Action::Allow => lg_action::LG_ACTION_ALLOW,
            Action::Challenge => lg_action::LG_ACTION_CHALLENGE,
            Action::Deny => lg_action::LG_ACTION_DENY,
            Action::ResetRequired => lg_action::LG_ACTION_RESET_REQUIRED,
        }
    }
}

impl lg_action {
    /// The core's action for a raw value, if it names one.
    pub fn from_raw(raw: u32) -> Option<Action> {
        Action::ALL.into_iter().find(|a| *a as u32 == raw)
    }
}

/// Why a decision is not `LG_ACTION_ALLOW`: the deciding dimension or the deny list.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum lg_reason {
    /// No reason (allow).
    LG_REASON_NONE = 0,
    /// The account's counter.
    LG_REASON_ACCOUNT = 1,
    /// The (account, network) counter.
    LG_REASON_ACCOUNT_IP = 2,
    /// The network's counter.
    LG_REASON_IP = 3,
    /// The (account, trusted device) counter.
    LG_REASON_DEVICE = 4,
    /// The ip is on the policy's deny list.
    LG_REASON_DENYLIST = 5,
    /// The wider network's (ip_range) counter.
    LG_REASON_IP_RANGE = 6,
    /// The site-wide failure rate: an attack is on, every attempt not on a
    /// trusted device is challenged.
    LG_REASON_SITE = 7,
}

impl From<Option<Reason>> for lg_reason {
    fn from(r: Option<Reason>) -> lg_reason {
        match r {
            None => lg_reason::LG_REASON_NONE,
            Some(Reason::Account) => lg_reason::LG_REASON_ACCOUNT,
            Some(Reason::AccountIp) => lg_reason::LG_REASON_ACCOUNT_IP,
            Some(Reason::Ip) => lg_reason::LG_REASON_IP,
            Some(Reason::Device) => lg_reason::LG_REASON_DEVICE,
            Some(Reason::Denylist) => lg_reason::LG_REASON_DENYLIST,
            Some(Reason::IpRange) => lg_reason::LG_REASON_IP_RANGE,
            Some(Reason::Site) => lg_reason::LG_REASON_SITE,
        }
    }
}

impl lg_reason {
    /// The stable snake_case name of a raw reason value (`"none"` for none).
    pub fn name(raw: u32) -> &'static CStr {
        match raw {
            0 => c"none",
            1 => c"account",
            2 => c"account_ip",
            3 => c"ip",
            4 => c"device",
            5 => c"denylist",
            6 => c"ip_range",
            7 => c"site",
            _ => c"unknown",
        }
    }
}

/// One of the counters an attempt touches.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum lg_dimension {
    /// Keyed by account.
    LG_DIMENSION_ACCOUNT = 0,
    /// Keyed by (account, network).
    LG_DIMENSION_ACCOUNT_IP = 1,
    /// Keyed by network.
    LG_DIMENSION_IP = 2,
    /// Keyed by (account, trusted device).
    LG_DIMENSION_DEVICE = 3,
    /// Keyed by wider network (IPv4 /24, IPv6 /48 by default).
    LG_DIMENSION_IP_RANGE = 4,
}

impl From<Dimension> for lg_dimension {
    fn from(d: Dimension) -> lg_dimension {
        match d {
            Dimension::Account => lg_dimension::LG_DIMENSION_ACCOUNT,
            Dimension::AccountIp => lg_dimension::LG_DIMENSION_ACCOUNT_IP,
            Dimension::Ip => lg_dimension::LG_DIMENSION_IP,
            Dimension::Device => lg_dimension::LG_DIMENSION_DEVICE,
            Dimension::IpRange => lg_dimension::LG_DIMENSION_IP_RANGE,
        }
    }
}

/// The stable snake_case name of a raw action value.
pub fn action_name(raw: u32) -> &'static CStr {
    match lg_action::from_raw(raw) {
        Some(Action::Allow) => c"allow",
        Some(Action::Challenge) => c"challenge",
        Some(Action::Deny) => c"deny",
        Some(Action::ResetRequired) => c"reset_required",
        None => c"unknown",
    }
}

/// The stable snake_case name of a raw dimension value.
pub fn dimension_name(raw: u32) -> &'static CStr {
    match raw {
        0 => c"account",
        1 => c"account_ip",
        2 => c"ip",
        3 => c"device",
        4 => c"ip_range",
        _ => c"unknown",
    }
}

/// One login attempt. Every field is a (pointer, length) pair; a length of 0
/// means absent (the pointer is then ignored and may be NULL); a non-zero
/// length with a NULL pointer is `LG_ERR_NULL`. Nothing needs a NUL terminator.
/// The guard reads the bytes only during the call and keeps no pointer.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct lg_attempt {
    /// The account name as typed, UTF-8, at most 1024 bytes.
    pub account: *const u8,
    /// Length of `account` in bytes.
    pub account_len: usize,
    /// The client's IP as text (`"203.0.113.7"`, `"2001:db8::1"`), UTF-8.
    pub ip: *const u8,
    /// Length of `ip` in bytes.
    pub ip_len: usize,
    /// The client's IP as 4 or 16 raw bytes in network order (from a `sockaddr`).
    /// Give the ip as text or as bytes, not both.
    pub ip_bytes: *const u8,
    /// Length of `ip_bytes`: 0, 4 or 16.
    pub ip_bytes_len: usize,
    /// The id of a device already trusted for this account, any bytes, at most 256.
    pub device: *const u8,
    /// Length of `device` in bytes.
    pub device_len: usize,
}

/// A decision: what to do with the attempt, and why.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct lg_decision {
    /// What to do.
    pub action: lg_action,
    /// Why (`LG_REASON_NONE` for allow).
    pub reason: lg_reason,
    /// Whether `retry_after_ms` holds a value (deny, except for the deny list).
    pub has_retry: bool,
    /// Milliseconds until the lock ends; 0 when `has_retry` is false.
    pub retry_after_ms: u64,
    /// The deciding counter's failures (its consecutive count for reset_required).
    pub failures: u32,
    /// True when the store (redis) could not answer in time and the policy's
    /// `store.on_error` decided; always false for the memory and shared stores.
    pub degraded: bool,
}

impl From<Decision> for lg_decision {
    fn from(d: Decision) -> lg_decision {
        lg_decision {
            action: d.action.into(),
            reason: d.reason.into(),
            has_retry: d.retry_after_ms.is_some(),
            retry_after_ms: d.retry_after_ms.unwrap_or(0),
            failures: d.failures,
            degraded: d.degraded,
        }
    }
}

/// The most dimensions an attempt can touch (account, account_ip, ip and
/// ip_range; a trusted device alone): the length of `lg_inspection.dimensions`.
pub const LG_MAX_DIMENSIONS: usize = 4;

/// One governing dimension's state, for support staff.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct lg_dimension_state {
    /// Which counter.
    pub dimension: lg_dimension,
    /// Whether the table holds this key (an untracked key reads as all zeros).
    pub tracked: bool,
    /// The current count.
    pub failures: u32,
    /// The consecutive count.
    pub consecutive: u32,
    /// Whether a lock is running.
    pub locked: bool,
    /// When the running lock ends, in the guard clock's milliseconds; 0 when not locked.
    pub locked_until_ms: u64,
    /// Whether only a reset unlocks it.
    pub reset_required: bool,
    /// This dimension's own verdict now.
    pub action: lg_action,
}

impl From<&DimensionState> for lg_dimension_state {
    fn from(s: &DimensionState) -> lg_dimension_state {
        lg_dimension_state {
            dimension: s.dimension.into(),
            tracked: s.tracked,
            failures: s.failures,
            consecutive: s.consecutive,
            locked: s.locked_until_ms.is_some(),
            locked_until_ms: s.locked_until_ms.unwrap_or(0),
            reset_required: s.reset_required,
            action: s.action.into(),
        }
    }
}

/// What `lg_guard_inspect` reports: what `lg_guard_check` would decide, and why.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct lg_inspection {
    /// The decision `lg_guard_check` gives now.
    pub decision: lg_decision,
    /// Whether the ip is on the deny list.
    pub denylisted: bool,
    /// How many entries of `dimensions` are filled, in tie-break order.
    pub dimensions_len: usize,
    /// Every dimension that governs the attempt.
    pub dimensions: [lg_dimension_state; LG_MAX_DIMENSIONS],
}

impl From<&Inspection> for lg_inspection {
    fn from(i: &Inspection) -> lg_inspection {
        let empty = lg_dimension_state {
            dimension: lg_dimension::LG_DIMENSION_ACCOUNT,
            tracked: false,
            failures: 0,
            consecutive: 0,
            locked: false,
            locked_until_ms: 0,
            reset_required: false,
            action: lg_action::LG_ACTION_ALLOW,
        };
        let mut dimensions = [empty; LG_MAX_DIMENSIONS];
        // Each dimension governs at most once, and device only alone: never more than four.
        for (slot, state) in dimensions.iter_mut().zip(&i.dimensions) {
            *slot = state.into();
        }
        lg_inspection {
            decision: i.decision.into(),
            denylisted: i.denylisted,
            dimensions_len: i.dimensions.len().min(LG_MAX_DIMENSIONS),
            dimensions,
        }
    }
}

/// Table occupancy and decision counts.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct lg_stats {
    /// Keys the table can hold.
    pub capacity: usize,
    /// Keys it holds now (counted by a scan: call it from monitoring, not per request).
    pub occupancy: usize,
    /// Keys evicted to make room.
    pub evictions: u64,
    /// New keys not stored because every candidate slot was protected.
    pub refused_inserts: u64,
    /// Bytes the guard holds.
    pub memory_bytes: usize,
    /// Decisions of each action from check, begin and record_failure.
    pub allow: u64,
    /// See `allow`.
    pub challenge: u64,
    /// See `allow`.
    pub deny: u64,
    /// See `allow`.
    pub reset_required: u64,
}

impl From<Stats> for lg_stats {
    fn from(s: Stats) -> lg_stats {
        lg_stats {
            capacity: s.capacity,
            occupancy: s.occupancy,
            evictions: s.evictions,
            refused_inserts: s.refused_inserts,
            memory_bytes: s.memory_bytes,
            allow: s.allow,
            challenge: s.challenge,
            deny: s.deny,
            reset_required: s.reset_required,
        }
    }
}

/// The site-wide signal's state (`lg_guard_site_state`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct lg_site_state {
    /// Whether the policy has `[site]` on; every other field is 0 when not.
    pub enabled: bool,
    /// Failures within the window now.
    pub rate: u64,
    /// The rate above which an attack starts (learned with `baseline = "auto"`).
    pub trigger: u64,
    /// The window the rate counts over, in milliseconds.
    pub per_ms: u64,
    /// Whether an attack is on: every attempt not on a trusted device is challenged.
    pub active: bool,
    /// When the attack started, in the guard clock's milliseconds; 0 when none.
    pub since_ms: u64,
}

impl From<Option<SiteState>> for lg_site_state {
    fn from(s: Option<SiteState>) -> lg_site_state {
        match s {
            None => lg_site_state {
                enabled: false,
                rate: 0,
                trigger: 0,
                per_ms: 0,
                active: false,
                since_ms: 0,
            },
            Some(s) => lg_site_state {
                enabled: true,
                rate: s.rate,
                trigger: s.trigger,
                per_ms: s.per_ms,
                active: s.active,
                since_ms: s.since_ms.unwrap_or(0),
            },
        }
    }
}

/// What an event reports.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum lg_event_kind {
    /// A recorded failure took a key past `challenge_after`.
    LG_EVENT_CHALLENGE = 0,
    /// A recorded failure started a lock.
    LG_EVENT_LOCK = 1,
    /// A recorded failure made a key reset_required.
    LG_EVENT_RESET_REQUIRED = 2,
    /// `lg_guard_reset_account` ran.
    LG_EVENT_RESET_ACCOUNT = 3,
    /// `lg_guard_reset_ip` ran.
    LG_EVENT_RESET_IP = 4,
    /// The site-wide failure rate went above the trigger (`failures`: the rate).
    LG_EVENT_SITE_ATTACK_STARTED = 5,
    /// The site-wide rate stayed below calm_when for calm_for (`failures`: the rate).
    LG_EVENT_SITE_ATTACK_ENDED = 6,
}

/// The stable snake_case name of a raw event kind value.
pub fn event_kind_name(raw: u32) -> &'static CStr {
    match raw {
        0 => c"challenge",
        1 => c"lock",
        2 => c"reset_required",
        3 => c"reset_account",
        4 => c"reset_ip",
        5 => c"site_attack_started",
        6 => c"site_attack_ended",
        _ => c"unknown",
    }
}

/// Longest ip text in an event, NUL included.
pub const LG_IP_TEXT_MAX: usize = 48;

/// An event handed to the listener. Every pointer in it is valid only during
/// the callback: copy what you keep.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct lg_event {
    /// What happened.
    pub kind: lg_event_kind,
    /// Whether `dimension` holds a value (not for the reset and site events).
    pub has_dimension: bool,
    /// The dimension whose key crossed a threshold.
    pub dimension: lg_dimension,
    /// The attempt's account as given (not NUL-terminated), or NULL.
    pub account: *const u8,
    /// Length of `account` (0 when NULL).
    pub account_len: usize,
    /// The attempt's ip as NUL-terminated text, or "" when the event has no ip.
    pub ip: [c_char; LG_IP_TEXT_MAX],
    /// The attempt's ip in network order: 4 or 16 bytes used, `ip_bytes_len` of them (0 when none).
    pub ip_bytes: [u8; 16],
    /// 0, 4 or 16.
    pub ip_bytes_len: usize,
    /// The counter's failures (its consecutive count for reset_required; the
    /// site-wide rate for the site events).
    pub failures: u32,
    /// Whether `lock_until_ms` holds a value (lock events).
    pub has_lock_until: bool,
    /// When the lock ends, in the guard clock's milliseconds.
    pub lock_until_ms: u64,
}

impl lg_event {
    /// The C view of a core event; `None` for a kind newer than this header.
    pub fn from_core(e: &Event<'_>) -> Option<lg_event> {
        let kind = match e.kind {
            EventKind::Challenge => lg_event_kind::LG_EVENT_CHALLENGE,
            EventKind::Lock => lg_event_kind::LG_EVENT_LOCK,
            EventKind::ResetRequired => lg_event_kind::LG_EVENT_RESET_REQUIRED,
            EventKind::ResetAccount => lg_event_kind::LG_EVENT_RESET_ACCOUNT,
            EventKind::ResetIp => lg_event_kind::LG_EVENT_RESET_IP,
            EventKind::SiteAttackStarted => lg_event_kind::LG_EVENT_SITE_ATTACK_STARTED,
            EventKind::SiteAttackEnded => lg_event_kind::LG_EVENT_SITE_ATTACK_ENDED,
            _ => return None,
        };
        let mut ip = [0 as c_char; LG_IP_TEXT_MAX];
        let mut ip_bytes = [0u8; 16];
        let mut ip_bytes_len = 0;
        if let Some(addr) = e.ip {
            // An IPv6 text is at most 45 bytes, so it always fits with its NUL.
            for (dst, src) in ip
                .iter_mut()
                .zip(addr.to_string().bytes().take(LG_IP_TEXT_MAX - 1))
            {
                *dst = src as c_char;
            }
            match addr {
                IpAddr::V4(v4) => {
                    ip_bytes[..4].copy_from_slice(&v4.octets());
                    ip_bytes_len = 4;
                }
                IpAddr::V6(v6) => {
                    ip_bytes.copy_from_slice(&v6.octets());
                    ip_bytes_len = 16;
                }
            }
        }
        Some(lg_event {
            kind,
            has_dimension: e.dimension.is_some(),
            dimension: e
                .dimension
                .map_or(lg_dimension::LG_DIMENSION_ACCOUNT, Into::into),
            account: e.account.map_or(std::ptr::null(), str::as_ptr),
            account_len: e.account.map_or(0, str::len),
            ip,
            ip_bytes,
            ip_bytes_len,
            failures: e.failures,
            has_lock_until: e.lock_until_ms.is_some(),
            lock_until_ms: e.lock_until_ms.unwrap_or(0),
        })
    }
}
