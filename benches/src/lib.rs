//! The SPEC's login-failure workload and the engines it runs through:
//! loginguard and, as the peer, governor with three keyed limiters.
//!
//! 200,000 attempts from splitmix64 seeded with 42: accounts
//! `user{i}@example.com` drawn from 100,000 with P(i) ∝ 1/(i+1) (Zipf), IPs
//! `10.{j/256}.{j%256}.7` uniform over 10,000. One attempt is the
//! pre-authentication check, then recording the failure, with the account and
//! the IP handed over as text.

use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use loginguard::{Attempt, Guard, Policy};

/// Attempts per run.
pub const ATTEMPTS: usize = 200_000;
const ACCOUNTS: usize = 100_000;
const IPS: u64 = 10_000;

/// splitmix64: a fixed, portable generator every language's bench reproduces.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator with the given state.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform float in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// One attempt as a login form delivers it.
#[derive(Debug, Clone)]
pub struct LoginAttempt {
    /// The account as typed.
    pub account: String,
    /// The client IP as text.
    pub ip: String,
}

/// Variant **zipf**: the skewed list, seed 42. `thread` keeps the keys of
/// several threads apart (0 gives the SPEC's list).
pub fn zipf(thread: usize) -> Vec<LoginAttempt> {
    let mut cdf = Vec::with_capacity(ACCOUNTS);
    let mut total = 0.0;
    for i in 0..ACCOUNTS {
        total += 1.0 / (i + 1) as f64;
        cdf.push(total);
    }
    let mut rng = SplitMix64::new(42);
    (0..ATTEMPTS)
        .map(|_| {
            let u = rng.next_f64() * total;
            let i = cdf.partition_point(|&c| c <= u).min(ACCOUNTS - 1);
            let j = rng.next_u64() % IPS;
            LoginAttempt {
                account: if thread == 0 {
                    format!("user{i}@example.com")
                } else {
                    format!("user{i}@t{thread}.example.com")
                },
                ip: format!("{}.{}.{}.7", 10 + thread, j / 256, j % 256),
            }
        })
        .collect()
}

/// Variant **hot**: one account from one IP, a brute force.
pub fn hot() -> Vec<LoginAttempt> {
    vec![
        LoginAttempt {
            account: "user0@example.com".into(),
            ip: "10.0.0.7".into(),
        };
        ATTEMPTS
    ]
}

/// A guard with the default policy and a 32 MiB table (1,048,576 keys).
pub fn guard() -> Guard {
    Guard::new(Policy::default()).expect("default policy")
}

/// A guard with the default policy on a `shared` store: a new file in the
/// temporary directory, removed again when the guard has been built (the
/// mapping stays valid).
pub fn shared_guard() -> Guard {
    static RUN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = RUN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path =
        std::env::temp_dir().join(format!("loginguard-bench-{}-{n}.store", std::process::id()));
    let mut policy = Policy::default();
    policy.store.kind = loginguard::StoreKind::Shared;
    policy.store.path = Some(path.clone());
    let guard = Guard::new(policy).expect("shared store");
    let _ = std::fs::remove_file(&path);
    guard
}

/// A guard with the default policy and the site-wide window on, with a
/// trigger (1,000,000 failures a minute) that the workload never reaches:
/// what the window costs when nothing is under attack.
pub fn site_guard() -> Guard {
    let policy =
        Policy::from_toml("[site]\nchallenge_when = \"1000000/1m\"").expect("valid [site]");
    Guard::new(policy).expect("default policy with [site]")
}

/// A guard with the default policy but the `ip_range` dimension off: what
/// the fourth dimension costs.
pub fn guard_without_ip_range() -> Guard {
    let policy = Policy::builder()
        .rule(loginguard::Dimension::IpRange, |r| r.enabled = false)
        .build();
    Guard::new(policy.expect("valid policy")).expect("default policy without ip_range")
}

/// A guard with the default policy and room for `threads` times the keys.
pub fn guard_for_threads(threads: usize) -> Guard {
    let policy = Policy::builder()
        .capacity(loginguard::DEFAULT_CAPACITY * threads)
        .build();
    Guard::new(policy.expect("valid capacity")).expect("default policy")
}

/// One attempt through loginguard's simple flow: `check`, then `record_failure`.
#[inline]
pub fn loginguard_attempt(guard: &Guard, a: &LoginAttempt) -> bool {
    let attempt = Attempt::new().account(&a.account).ip(&a.ip);
    let before = guard.check(&attempt).expect("valid attempt");
    let after = guard.record_failure(&attempt).expect("valid attempt");
    before.lets_password_be_checked(false) & after.lets_password_be_checked(false)
}

/// One attempt through loginguard's race-free flow: `begin` (which checks
/// and records the failure in advance), nothing after a failed login.
#[inline]
pub fn loginguard_begin(guard: &Guard, a: &LoginAttempt) -> bool {
    let attempt = Attempt::new().account(&a.account).ip(&a.ip);
    guard
        .begin(&attempt, false)
        .expect("valid attempt")
        .lets_password_be_checked(false)
}

/// governor doing the same work: three keyed limiters (account, account + IP,
/// IP), each `check_key` both tests and counts the attempt.
#[derive(Debug)]
pub struct Governor {
    account: DefaultKeyedRateLimiter<String>,
    account_ip: DefaultKeyedRateLimiter<(String, IpAddr)>,
    ip: DefaultKeyedRateLimiter<IpAddr>,
}

impl Default for Governor {
    fn default() -> Self {
        let n = |v| NonZeroU32::new(v).expect("non-zero");
        Governor {
            account: RateLimiter::keyed(Quota::per_hour(n(12)).allow_burst(n(4))),
            account_ip: RateLimiter::keyed(Quota::per_hour(n(60)).allow_burst(n(11))),
            ip: RateLimiter::keyed(Quota::per_hour(n(144)).allow_burst(n(51))),
        }
    }
}

impl Governor {
    /// One attempt: the account and IP arrive as text and become the keys.
    #[inline]
    pub fn attempt(&self, a: &LoginAttempt) -> bool {
        let ip: IpAddr = a.ip.parse().expect("valid ip");
        let account = a.account.trim().to_lowercase();
        let ok_ip = self.ip.check_key(&ip).is_ok();
        let ok_pair = self.account_ip.check_key(&(account.clone(), ip)).is_ok();
        let ok_account = self.account.check_key(&account).is_ok();
        ok_ip & ok_pair & ok_account
    }

    /// Keys the three limiters hold.
    pub fn keys(&self) -> usize {
        self.account.len() + self.account_ip.len() + self.ip.len()
    }
}
