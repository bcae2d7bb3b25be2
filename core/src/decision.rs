//! What the engine answers: an [`Action`], why ([`Reason`]), and the numbers behind it.

use std::fmt;

/// What the application does with the attempt, from least to most severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Action {
    /// Check the password as usual.
    Allow = 0,
    /// Show a CAPTCHA first; only a passed challenge lets the password be checked.
    Challenge = 1,
    /// Refuse without checking the password; retry after `retry_after_ms`.
    Deny = 2,
    /// Refuse; only a password reset unlocks the account.
    ResetRequired = 3,
}

impl Action {
    /// Every action, least severe first.
    pub const ALL: [Action; 4] = [
        Action::Allow,
        Action::Challenge,
        Action::Deny,
        Action::ResetRequired,
    ];

    /// The stable name: `allow`, `challenge`, `deny`, `reset_required`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Challenge => "challenge",
            Action::Deny => "deny",
            Action::ResetRequired => "reset_required",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A counter dimension: what an attempt is counted against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Dimension {
    /// The account, from anywhere.
    Account = 0,
    /// The account from one network.
    AccountIp = 1,
    /// The network, on any account.
    Ip = 2,
    /// The wider network (IPv4 /24, IPv6 /48 by default), on any account.
    IpRange = 3,
    /// The account on one trusted device.
    Device = 4,
}

impl Dimension {
    /// How many dimensions there are.
    pub const COUNT: usize = 5;

    /// Every dimension, in tie-break order (which is also their index order).
    pub const ALL: [Dimension; Dimension::COUNT] = [
        Dimension::Account,
        Dimension::AccountIp,
        Dimension::Ip,
        Dimension::IpRange,
        Dimension::Device,
    ];

    /// The stable name, as in the policy file: `account`, `account_ip`, `ip`,
    /// `ip_range`, `device`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Dimension::Account => "account",
            Dimension::AccountIp => "account_ip",
            Dimension::Ip => "ip",
            Dimension::IpRange => "ip_range",
            Dimension::Device => "device",
        }
    }

    pub(crate) const fn from_index(i: usize) -> Dimension {
        Dimension::ALL[i % Dimension::COUNT]
    }
}

impl fmt::Display for Dimension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an attempt was not simply allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Reason {
    /// The account's counter decided.
    Account = 0,
    /// The (account, network) counter decided.
    AccountIp = 1,
    /// The network's counter decided.
    Ip = 2,
    /// The trusted device's counter decided.
    Device = 3,
    /// The network is on the deny list.
    Denylist = 4,
    /// The wider network's counter decided.
    IpRange = 5,
    /// The site-wide failure rate is above `[site] challenge_when`: every
    /// attempt not on a trusted device is challenged.
    Site = 6,
}

impl Reason {
    /// Every reason, in tie-break order (`denylist` last: it is not a tie).
    pub const ALL: [Reason; 7] = [
        Reason::Account,
        Reason::AccountIp,
        Reason::Ip,
        Reason::IpRange,
        Reason::Device,
        Reason::Site,
        Reason::Denylist,
    ];

    /// The stable name: `account`, `account_ip`, `ip`, `ip_range`, `device`,
    /// `site`, `denylist`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::Account => "account",
            Reason::AccountIp => "account_ip",
            Reason::Ip => "ip",
            Reason::IpRange => "ip_range",
            Reason::Device => "device",
            Reason::Site => "site",
            Reason::Denylist => "denylist",
        }
    }
}

impl From<Dimension> for Reason {
    fn from(d: Dimension) -> Reason {
        match d {
            Dimension::Account => Reason::Account,
            Dimension::AccountIp => Reason::AccountIp,
            Dimension::Ip => Reason::Ip,
            Dimension::IpRange => Reason::IpRange,
            Dimension::Device => Reason::Device,
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The engine's answer for one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Decision {
    /// What to do.
    pub action: Action,
    /// Which counter (or list) decided; `None` for `allow`.
    pub reason: Option<Reason>,
    /// For `deny` by a counter: milliseconds until the lock ends.
    pub retry_after_ms: Option<u64>,
    /// The deciding counter's count: its consecutive count for `reset_required`,
    /// its current count otherwise; for `allow`, the account counter's when that
    /// governs the attempt, else 0.
    pub failures: u32,
    /// True when the store could not answer in time and the policy's
    /// `store.on_error` decided instead (only the redis store; always false
    /// for `memory` and `shared`).
    pub degraded: bool,
}

impl Decision {
    /// An `allow` with the given account count.
    pub const fn allow(failures: u32) -> Decision {
        Decision {
            action: Action::Allow,
            reason: None,
            retry_after_ms: None,
            failures,
            degraded: false,
        }
    }

    pub(crate) const fn denylisted() -> Decision {
        Decision {
            action: Action::Deny,
            reason: Some(Reason::Denylist),
            retry_after_ms: None,
            failures: 0,
            degraded: false,
        }
    }

    /// Whether the application may go on to check the password, given whether
    /// the user solved a CAPTCHA for this attempt.
    pub const fn lets_password_be_checked(&self, challenge_passed: bool) -> bool {
        match self.action {
            Action::Allow => true,
            Action::Challenge => challenge_passed,
            Action::Deny | Action::ResetRequired => false,
        }
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.action.as_str())?;
        if let Some(r) = self.reason {
            write!(f, " {r}")?;
        }
        if let Some(ms) = self.retry_after_ms {
            write!(f, " retry={ms}")?;
        }
        write!(f, " failures={}", self.failures)?;
        if self.degraded {
            f.write_str(" degraded")?;
        }
        Ok(())
    }
}
