//! Node binding of loginguard: conversion only. `loginguard.js` wraps
//! [`NativeGuard`] into the public `Guard` (an `EventEmitter`).

mod convert;
mod error;
mod fast;
mod promise;

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};

use loginguard::{Guard, ManualClock, Policy, StoreKind};
use napi::bindgen_prelude::{FromNapiValue, Object, Unknown};
use napi::{Env, ValueType};
use napi_derive::napi;

use convert::{AttemptArgs, Decision, GuardEvent, Inspection, OwnedIp, SiteState, Stats};
use error::{Code, Result};

/// Whether a decision's action lets the application check the password:
/// `allow`, or `challenge` when the user passed the CAPTCHA (the core's rule).
#[napi(catch_unwind)]
pub fn lets_password_be_checked(action: convert::Action, challenge_passed: Option<bool>) -> bool {
    let decision = loginguard::Decision {
        action: action.into(),
        ..loginguard::Decision::allow(0)
    };
    decision.lets_password_be_checked(challenge_passed.unwrap_or(false))
}

/// A guard with what the binding keeps beside it.
#[derive(Debug)]
pub struct Core {
    guard: Guard,
    clock: Option<Arc<ManualClock>>,
    /// Whether JS listens for events (no listener, no cost).
    listening: AtomicBool,
    /// Events not yet handed to JS.
    pending: Mutex<Vec<GuardEvent>>,
}

impl Core {
    fn has_pending(&self) -> bool {
        !self
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_empty()
    }
}

/// The engine. Use `Guard` from `require('loginguard')`, which wraps this class.
#[napi]
#[derive(Debug)]
pub struct NativeGuard {
    core: Arc<Core>,
}

/// The error for a redis policy given to the synchronous `Guard`.
fn needs_async() -> error::Error {
    error::new(
        Code::Store,
        "the redis store answers with Promises (every call may wait on the network): \
         use AsyncGuard.create({ policy }) or AsyncGuard.fromPolicyFile(path)",
    )
}

fn new_guard(policy: Policy, manual_clock: bool) -> Result<NativeGuard> {
    let clock = manual_clock.then(|| Arc::new(ManualClock::new()));
    let guard = error::core(|| match &clock {
        Some(clock) => Guard::with_clock(policy, clock.clone()),
        None => Guard::new(policy),
    })?;
    Ok(NativeGuard {
        core: Arc::new(Core {
            guard,
            clock,
            listening: AtomicBool::new(false),
            pending: Mutex::default(),
        }),
    })
}

fn flag(value: Unknown<'_>, name: &str) -> Result<bool> {
    match value.get_type() {
        Ok(ValueType::Undefined | ValueType::Null) => Ok(false),
        Ok(ValueType::Boolean) => {
            bool::from_unknown(value).map_err(|e| error::from_napi(e, Code::Type, name))
        }
        _ => Err(error::new(Code::Type, format!("{name} must be a boolean"))),
    }
}

#[napi]
impl NativeGuard {
    /// `policy`: policy TOML text, or an object shaped like the policy file (`null` for
    /// the defaults); `manualClock`: a clock at 0 ms moved only by `advanceMs`.
    #[napi(
        constructor,
        catch_unwind,
        ts_args_type = "policy?: string | object | null, manualClock?: boolean | null"
    )]
    pub fn new(policy: Unknown<'_>, manual_clock: Unknown<'_>) -> Result<Self> {
        let policy = match convert::policy_text(policy)? {
            Some(toml) => error::core(|| Policy::from_toml(&toml))?,
            None => Policy::default(),
        };
        let manual_clock = flag(manual_clock, "manualClock")?;
        if policy.store.kind == StoreKind::Redis {
            return Err(needs_async());
        }
        new_guard(policy, manual_clock)
    }

    /// A guard enforcing the policy file at `path`.
    #[napi(
        factory,
        catch_unwind,
        ts_args_type = "path: string, manualClock?: boolean | null"
    )]
    pub fn from_policy_file(path: Unknown<'_>, manual_clock: Unknown<'_>) -> Result<Self> {
        let Some(path) = convert::text(path, "path")? else {
            return Err(error::new(Code::Type, "path must be a string"));
        };
        let policy = error::core(|| Policy::from_file(&path))?;
        let manual_clock = flag(manual_clock, "manualClock")?;
        if policy.store.kind == StoreKind::Redis {
            return Err(needs_async());
        }
        new_guard(policy, manual_clock)
    }

    /// Any store, the redis store included (whose opening connects): a Promise of
    /// the guard, made off the JS thread. Resolves with an `Error` instead of rejecting.
    #[napi(
        catch_unwind,
        ts_args_type = "policy?: string | object | null, manualClock?: boolean | null",
        ts_return_type = "Promise<NativeGuard | Error>"
    )]
    pub fn open<'env>(
        env: &'env Env,
        policy: Unknown<'_>,
        manual_clock: Unknown<'_>,
    ) -> Result<Object<'env>> {
        let toml = convert::policy_text(policy)?;
        let manual_clock = flag(manual_clock, "manualClock")?;
        promise::run(env, move || {
            let policy = match toml {
                Some(toml) => error::core(|| Policy::from_toml(&toml))?,
                None => Policy::default(),
            };
            new_guard(policy, manual_clock)
        })
    }

    /// `open` for the policy file at `path`.
    #[napi(
        catch_unwind,
        ts_args_type = "path: string, manualClock?: boolean | null",
        ts_return_type = "Promise<NativeGuard | Error>"
    )]
    pub fn open_policy_file<'env>(
        env: &'env Env,
        path: Unknown<'_>,
        manual_clock: Unknown<'_>,
    ) -> Result<Object<'env>> {
        let Some(path) = convert::text(path, "path")? else {
            return Err(error::new(Code::Type, "path must be a string"));
        };
        let manual_clock = flag(manual_clock, "manualClock")?;
        promise::run(env, move || {
            let policy = error::core(|| Policy::from_file(&path))?;
            new_guard(policy, manual_clock)
        })
    }

    /// Whether the counters live in Redis (each call may then wait on the network).
    #[napi(getter)]
    pub fn redis(&self) -> bool {
        self.core.guard.policy().store.kind == StoreKind::Redis
    }

    /// Whether `account` can be keyed (not empty once normalized, not over-long),
    /// answered without touching a counter or the network.
    #[napi(catch_unwind, ts_args_type = "account: string")]
    pub fn keys_account(&self, account: Unknown<'_>) -> Result<bool> {
        let Some(account) = convert::text(account, "account")? else {
            return Ok(false);
        };
        Ok(self.core.guard.keys_account(&account))
    }

    /// `check`, `begin` or `recordFailure` (`op` 0, 1, 2) off the JS thread, for a
    /// redis guard. Resolves with the decision, or with an `Error` instead of rejecting.
    #[napi(
        catch_unwind,
        ts_args_type = "op: number, account: string | null | undefined, ip: string | Uint8Array | null | undefined, device: string | Uint8Array | null | undefined, challengePassed?: boolean | null",
        ts_return_type = "Promise<Decision | Error>"
    )]
    pub fn decide_async<'env>(
        &self,
        env: &'env Env,
        op: u32,
        account: Unknown<'_>,
        ip: Unknown<'_>,
        device: Unknown<'_>,
        challenge_passed: Unknown<'_>,
    ) -> Result<Object<'env>> {
        let attempt = AttemptArgs::from_js(account, ip, device)?.into_owned();
        let challenge_passed = flag(challenge_passed, "challengePassed")?;
        if op > 2 {
            return Err(error::new(Code::Type, "op must be 0, 1 or 2"));
        }
        let core = self.core.clone();
        promise::run(env, move || {
            let a = attempt.attempt();
            let guard = &core.guard;
            error::core(|| match op {
                0 => guard.check(&a),
                1 => guard.begin(&a, challenge_passed),
                _ => guard.record_failure(&a),
            })
            .map(Decision::from)
        })
    }

    /// `recordSuccess` off the JS thread.
    #[napi(
        catch_unwind,
        ts_args_type = "account: string | null | undefined, ip: string | Uint8Array | null | undefined, device: string | Uint8Array | null | undefined, afterBegin?: boolean | null",
        ts_return_type = "Promise<undefined | Error>"
    )]
    pub fn record_success_async<'env>(
        &self,
        env: &'env Env,
        account: Unknown<'_>,
        ip: Unknown<'_>,
        device: Unknown<'_>,
        after_begin: Unknown<'_>,
    ) -> Result<Object<'env>> {
        let attempt = AttemptArgs::from_js(account, ip, device)?.into_owned();
        let after_begin = flag(after_begin, "afterBegin")?;
        let core = self.core.clone();
        promise::run(env, move || {
            error::core(|| core.guard.record_success(&attempt.attempt(), after_begin))
        })
    }

    /// `resetAccount` off the JS thread.
    #[napi(
        catch_unwind,
        ts_args_type = "account: string",
        ts_return_type = "Promise<undefined | Error>"
    )]
    pub fn reset_account_async<'env>(
        &self,
        env: &'env Env,
        account: Unknown<'_>,
    ) -> Result<Object<'env>> {
        let Some(account) = convert::text(account, "account")? else {
            return Err(error::new(Code::Type, "account must be a string"));
        };
        let core = self.core.clone();
        promise::run(env, move || {
            error::core(|| core.guard.reset_account(&account))
        })
    }

    /// `resetIp` off the JS thread.
    #[napi(
        catch_unwind,
        ts_args_type = "ip: string | Uint8Array",
        ts_return_type = "Promise<undefined | Error>"
    )]
    pub fn reset_ip_async<'env>(&self, env: &'env Env, ip: Unknown<'_>) -> Result<Object<'env>> {
        let Some(ip) = convert::text_or_bytes(ip, "ip")? else {
            return Err(error::new(
                Code::Type,
                "ip must be a string, a Buffer or a Uint8Array",
            ));
        };
        let ip = convert::owned_ip(ip);
        let core = self.core.clone();
        promise::run(env, move || {
            error::core(|| match &ip {
                OwnedIp::Text(s) => core.guard.reset_ip(s.as_str()),
                OwnedIp::Bytes(b) => core.guard.reset_ip(&b[..]),
            })
        })
    }

    /// `inspect` off the JS thread.
    #[napi(
        catch_unwind,
        ts_args_type = "account: string | null | undefined, ip: string | Uint8Array | null | undefined, device: string | Uint8Array | null | undefined",
        ts_return_type = "Promise<Inspection | Error>"
    )]
    pub fn inspect_async<'env>(
        &self,
        env: &'env Env,
        account: Unknown<'_>,
        ip: Unknown<'_>,
        device: Unknown<'_>,
    ) -> Result<Object<'env>> {
        let attempt = AttemptArgs::from_js(account, ip, device)?.into_owned();
        let core = self.core.clone();
        promise::run(env, move || {
            error::core(|| core.guard.inspect(&attempt.attempt())).map(Inspection::from)
        })
    }

    /// `stats` off the JS thread.
    #[napi(catch_unwind, ts_return_type = "Promise<Stats | Error>")]
    pub fn stats_async<'env>(&self, env: &'env Env) -> Result<Object<'env>> {
        let core = self.core.clone();
        promise::run(env, move || {
            error::core(|| Ok(core.guard.stats())).map(Stats::from)
        })
    }

    /// `siteState` off the JS thread (on the redis store, one round trip).
    #[napi(catch_unwind, ts_return_type = "Promise<SiteState | null | Error>")]
    pub fn site_state_async<'env>(&self, env: &'env Env) -> Result<Object<'env>> {
        let core = self.core.clone();
        promise::run(env, move || {
            Ok(core.guard.site_state().map(SiteState::from))
        })
    }

    /// This guard's hot path: `check(account, ip, device?)`, `begin(account, ip,
    /// challengePassed, device?)` and `recordFailure(account, ip, device?)`, each answering
    /// a packed decision (see `loginguard.js`) or, when it does not pack, a `Decision`.
    /// A device left out costs nothing to read.
    #[napi(
        catch_unwind,
        ts_return_type = "{ check(account: string | null | undefined, ip: string | Uint8Array | null | undefined, device?: string | Uint8Array | null): number | Decision; begin(account: string | null | undefined, ip: string | Uint8Array | null | undefined, challengePassed: boolean | null | undefined, device?: string | Uint8Array | null): number | Decision; recordFailure(account: string | null | undefined, ip: string | Uint8Array | null | undefined, device?: string | Uint8Array | null): number | Decision }"
    )]
    pub fn hot_path<'env>(&self, env: &'env Env) -> napi::Result<Unknown<'env>> {
        fast::functions(env, &self.core)
    }

    /// Records a successful login (`afterBegin`: this attempt went through `begin`).
    #[napi(
        catch_unwind,
        ts_args_type = "account: string | null | undefined, ip: string | Uint8Array | null | undefined, device: string | Uint8Array | null | undefined, afterBegin?: boolean | null"
    )]
    pub fn record_success(
        &self,
        account: Unknown<'_>,
        ip: Unknown<'_>,
        device: Unknown<'_>,
        after_begin: Unknown<'_>,
    ) -> Result<()> {
        let args = AttemptArgs::from_js(account, ip, device)?;
        let after_begin = flag(after_begin, "afterBegin")?;
        error::core(|| self.core.guard.record_success(&args.attempt(), after_begin))
    }

    /// Clears every counter of the account, `reset_required` included.
    #[napi(catch_unwind, ts_args_type = "account: string")]
    pub fn reset_account(&self, account: Unknown<'_>) -> Result<()> {
        let Some(account) = convert::text(account, "account")? else {
            return Err(error::new(Code::Type, "account must be a string"));
        };
        error::core(|| self.core.guard.reset_account(&account))
    }

    /// Clears the network's `ip` counter.
    #[napi(catch_unwind, ts_args_type = "ip: string | Uint8Array")]
    pub fn reset_ip(&self, ip: Unknown<'_>) -> Result<()> {
        use convert::TextOrBytes;
        let guard = &self.core.guard;
        match convert::text_or_bytes(ip, "ip")? {
            Some(TextOrBytes::Text(s)) => error::core(|| guard.reset_ip(s.as_str())),
            Some(TextOrBytes::Bytes(b)) => error::core(|| guard.reset_ip(&b[..])),
            None => Err(error::new(
                Code::Type,
                "ip must be a string, a Buffer or a Uint8Array",
            )),
        }
    }

    /// Every governing dimension's state, for support staff.
    #[napi(
        catch_unwind,
        ts_args_type = "account: string | null | undefined, ip: string | Uint8Array | null | undefined, device: string | Uint8Array | null | undefined"
    )]
    pub fn inspect(
        &self,
        account: Unknown<'_>,
        ip: Unknown<'_>,
        device: Unknown<'_>,
    ) -> Result<Inspection> {
        let args = AttemptArgs::from_js(account, ip, device)?;
        error::core(|| self.core.guard.inspect(&args.attempt())).map(Inspection::from)
    }

    /// Capacity, occupancy, evictions, refused inserts, memory and decisions by action.
    #[napi(catch_unwind)]
    pub fn stats(&self) -> Result<Stats> {
        error::core(|| Ok(self.core.guard.stats())).map(Stats::from)
    }

    /// The site-wide signal now (`null` when the policy has no `[site]`); no table scan.
    #[napi(catch_unwind)]
    pub fn site_state(&self) -> Option<SiteState> {
        self.core.guard.site_state().map(SiteState::from)
    }

    /// Moves the manual clock forward by `ms` milliseconds.
    #[napi(catch_unwind, ts_args_type = "ms: number")]
    pub fn advance_ms(&self, ms: Unknown<'_>) -> Result<()> {
        let Some(clock) = &self.core.clock else {
            return Err(error::new(
                Code::Clock,
                "advanceMs needs a guard made with manualClock: true",
            ));
        };
        let ms = match ms.get_type() {
            Ok(ValueType::Number) => f64::from_unknown(ms).unwrap_or(f64::NAN),
            _ => f64::NAN,
        };
        if !(ms >= 0.0 && ms.fract() == 0.0 && ms <= 9_007_199_254_740_991.0) {
            return Err(error::new(
                Code::Type,
                "ms must be a whole number of milliseconds, 0 or more",
            ));
        }
        clock.advance_ms(ms as u64);
        Ok(())
    }

    /// Starts (or stops) collecting events for `takeEvents`. No listener, no cost.
    #[napi(catch_unwind)]
    pub fn listen(&self, on: bool) -> Result<()> {
        let core = &self.core;
        error::core(|| {
            if on {
                let weak = Arc::downgrade(core);
                core.guard.set_listener(move |e| {
                    if let Some(core) = weak.upgrade() {
                        core.pending
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .push(e.into());
                    }
                });
            } else {
                core.guard.clear_listener();
                core.pending
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clear();
            }
            Ok(())
        })?;
        core.listening.store(on, Relaxed);
        Ok(())
    }

    /// The events since the last call, oldest first.
    #[napi(catch_unwind)]
    pub fn take_events(&self) -> Vec<GuardEvent> {
        std::mem::take(
            &mut *self
                .core
                .pending
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }
}
