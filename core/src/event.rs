//! Events for applications that notify users and audit lockouts.

use std::net::IpAddr;

use crate::decision::Dimension;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EventKind {
    /// A recorded failure took a key past `challenge_after`.
    Challenge,
    /// A recorded failure started a lock.
    Lock,
    /// A recorded failure made a key `reset_required`.
    ResetRequired,
    /// `reset_account` was called.
    ResetAccount,
    /// `reset_ip` was called.
    ResetIp,
    /// The site-wide failure rate went above the trigger: every attempt not
    /// on a trusted device is challenged (`failures`: the rate).
    SiteAttackStarted,
    /// The site-wide rate stayed below `calm_when` for `calm_for`: the
    /// attack is over (`failures`: the rate).
    SiteAttackEnded,
}

impl EventKind {
    /// The stable name: `challenge`, `lock`, `reset_required`, `reset_account`,
    /// `reset_ip`, `site_attack_started`, `site_attack_ended`.
    pub const fn as_str(self) -> &'static str {
        match self {
            EventKind::Challenge => "challenge",
            EventKind::Lock => "lock",
            EventKind::ResetRequired => "reset_required",
            EventKind::ResetAccount => "reset_account",
            EventKind::ResetIp => "reset_ip",
            EventKind::SiteAttackStarted => "site_attack_started",
            EventKind::SiteAttackEnded => "site_attack_ended",
        }
    }
}

/// One event, borrowed from the attempt that caused it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event<'a> {
    /// What happened.
    pub kind: EventKind,
    /// The counter it happened to (`None` for resets and site events).
    pub dimension: Option<Dimension>,
    /// The attempt's account as given.
    pub account: Option<&'a str>,
    /// The attempt's address (IPv4-mapped IPv6 shown as IPv4).
    pub ip: Option<IpAddr>,
    /// The counter's count after the failure (the consecutive count for
    /// `reset_required`; 0 for resets; the site-wide rate for site events).
    pub failures: u32,
    /// For `lock`: when the lock ends, in the guard clock's milliseconds.
    pub lock_until_ms: Option<u64>,
}

/// A listener: called synchronously after the counters are updated; it can
/// neither change a decision nor lose an update, and a panic in it is caught.
pub type Listener = dyn Fn(&Event<'_>) + Send + Sync;
