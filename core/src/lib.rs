//! loginguard: decides, in nanoseconds and without allocating, whether a login
//! attempt is allowed, must pass a CAPTCHA, is refused for a while, or needs a
//! password reset, from failure counters per account, per network and per
//! (account, network).
//!
//! ```
//! use loginguard::{Action, Attempt, Guard, Policy, Reason};
//!
//! let guard = Guard::new(Policy::default())?;
//! let attempt = Attempt::new().account("alice").ip("203.0.113.7");
//! for _ in 0..4 {
//!     guard.record_failure(&attempt)?;
//! }
//! let decision = guard.check(&attempt)?;
//! assert_eq!(decision.action, Action::Challenge);
//! assert_eq!(decision.reason, Some(Reason::Account));
//! # Ok::<(), loginguard::Error>(())
//! ```

mod attempt;
mod clock;
mod counter;
mod decision;
mod error;
mod event;
mod fingerprint;
mod guard;
mod policy;
mod site;
mod stats;
mod store;
mod table;

pub use attempt::{Attempt, IpInput, MAX_ACCOUNT_BYTES, MAX_DEVICE_BYTES};
pub use clock::{Clock, ClockKind, ManualClock, SystemClock};
pub use decision::{Action, Decision, Dimension, Reason};
pub use error::{Error, ErrorKind, Result};
pub use event::{Event, EventKind, Listener};
pub use guard::{DimensionState, Guard, Inspection};
pub use policy::{
    AccountNormalize, Baseline, OnError, Policy, PolicyBuilder, Rate, RedisClock, RedisConfig,
    Rule, SiteRule, StoreConfig, StoreKind, DEFAULT_CAPACITY, MAX_CAPACITY, MAX_FORGET, MAX_LOCK,
    MAX_SITE_RATE, MAX_THRESHOLD,
};
pub use site::SiteState;
pub use stats::{RedisStats, Stats};

/// The README's Rust examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
