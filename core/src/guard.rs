//! [`Guard`]: the engine. Turns attempts into keys, asks every governing
//! dimension's counter, and combines their verdicts into one [`Decision`].
//! The table stores (`memory`, `shared`) are driven here; the redis store's
//! round trips are in `guard/redis.rs`, with the same rules and `decide`.

mod memo;
mod redis;

use std::net::IpAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;

use parking_lot::RwLock;

use crate::attempt::{
    network_of, parse_ip, Attempt, IpInput, Network, MAX_ACCOUNT_BYTES, MAX_DEVICE_BYTES,
};
use crate::clock::{Clock, SystemClock};
use crate::counter::{Counter, Crossings, RuleMs, Verdict};
use crate::decision::{Action, Decision, Dimension, Reason};
use crate::error::{Error, Result};
use crate::event::{Event, EventKind, Listener};
use crate::fingerprint::KeyHasher;
use crate::policy::Policy;
use crate::site::{SiteRuleMs, SiteState, Transition};
use crate::stats::Stats;
use crate::store::redis::RedisStore;
use crate::table::{SlotKey, Table, Updated, MAX_TIME};

/// The login-protection engine. Shared by reference across threads (`Send +
/// Sync`, no external locking); on the `memory` and `shared` stores every
/// operation is lock-free and allocates nothing once the guard is built. On
/// the `redis` store each call makes network round trips and may block up to
/// `store.timeout` (then `store.on_error` decides, `degraded`).
///
/// ```
/// use std::sync::Arc;
/// use loginguard::{Action, Attempt, Guard, ManualClock, Policy, Reason};
///
/// let clock = Arc::new(ManualClock::new());
/// let guard = Guard::with_clock(Policy::default(), clock.clone()).unwrap();
/// let alice = Attempt::new().account("alice").ip("203.0.113.7");
///
/// for _ in 0..3 {
///     assert_eq!(guard.check(&alice).unwrap().action, Action::Allow);
///     guard.record_failure(&alice).unwrap();
/// }
/// let d = guard.record_failure(&alice).unwrap();
/// assert_eq!((d.action, d.reason, d.failures), (Action::Challenge, Some(Reason::Account), 4));
///
/// clock.advance_ms(15 * 60 * 1000); // 15 minutes of quiet: forgotten
/// assert_eq!(guard.check(&alice).unwrap().action, Action::Allow);
/// ```
pub struct Guard {
    /// Unique in the process: names this guard's keys in the thread's memo.
    id: u64,
    policy: Policy,
    rules: [RuleMs; N],
    /// The site-wide signal's rule, `None` when `[site]` is off.
    site: Option<SiteRuleMs>,
    hasher: KeyHasher,
    table: Table,
    epoch: u64,
    clock: Arc<dyn Clock>,
    shared: bool,
    listener: RwLock<Option<Arc<Listener>>>,
    has_listener: AtomicBool,
    /// The redis store, when the policy names it (then `table` only counts decisions).
    redis: Option<Box<RedisStore>>,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("capacity", &self.table.slots())
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

const _: () = {
    const fn shared_by_threads<T: Send + Sync>() {}
    shared_by_threads::<Guard>();
};

/// Dimensions, as array lengths.
const N: usize = Dimension::COUNT;

/// An attempt turned into keys.
struct Keys<'a> {
    slots: [Option<SlotKey>; N],
    denied: bool,
    /// On a trusted device (governed by `device` alone): the site-wide
    /// signal never challenges it.
    trusted: bool,
    account: Option<&'a str>,
    ip: Option<IpAddr>,
}

impl Keys<'_> {
    const NONE: Keys<'static> = Keys {
        slots: [None; N],
        denied: false,
        trusted: false,
        account: None,
        ip: None,
    };

    fn governing(&self) -> impl Iterator<Item = (usize, &SlotKey)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, k)| Some((i, k.as_ref()?)))
    }
}

/// The state of one governing dimension, for support staff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DimensionState {
    /// Which counter.
    pub dimension: Dimension,
    /// Whether the table holds this key (an untracked key has all zeros).
    pub tracked: bool,
    /// The current count.
    pub failures: u32,
    /// The consecutive count.
    pub consecutive: u32,
    /// When the running lock ends, in the guard clock's milliseconds.
    pub locked_until_ms: Option<u64>,
    /// Whether only a reset unlocks it.
    pub reset_required: bool,
    /// This dimension's own verdict now.
    pub action: Action,
}

/// What `inspect` reports: what `check` would decide, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspection {
    /// The decision `check` gives now.
    pub decision: Decision,
    /// Whether the IP is on the deny list.
    pub denylisted: bool,
    /// Every dimension that governs the attempt, in tie-break order.
    pub dimensions: Vec<DimensionState>,
    /// The site-wide signal now (`None` when `[site]` is off).
    pub site: Option<SiteState>,
}

impl Guard {
    /// A guard on the system clock (Unix epoch milliseconds).
    pub fn new(policy: Policy) -> Result<Guard> {
        Guard::with_clock(policy, Arc::new(SystemClock))
    }

    /// A guard reading time from `clock` (a [`crate::ManualClock`] in tests).
    pub fn with_clock(mut policy: Policy, clock: Arc<dyn Clock>) -> Result<Guard> {
        // List entries set on the fields directly are matched as parsed ones.
        let lists = policy.allow_cidrs.iter_mut().chain(&mut policy.deny_cidrs);
        lists.for_each(|net| *net = crate::policy::canonical_cidr(*net));
        policy.validate()?;
        let store = crate::store::open_for(&policy.store, clock.as_ref(), policy_digest(&policy))?;
        let hasher = KeyHasher::new(store.secret);
        let rules = Dimension::ALL.map(|d| RuleMs::from(policy.rule(d)));
        let site = SiteRuleMs::new(&policy.site);
        let table = Table::new(store.buckets);
        Ok(Guard {
            // Decisions are counted with an atomic add on a shared file,
            // whose stripes other processes' threads count on too (within
            // one process, the stripes' leases keep the counts exact).
            shared: table.is_shared(),
            id: memo::next_guard_id(),
            epoch: store.epoch_ms,
            policy,
            rules,
            site,
            hasher,
            table,
            clock,
            listener: RwLock::new(None),
            has_listener: AtomicBool::new(false),
            redis: store.redis,
        })
    }

    /// The policy this guard enforces.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Whether `a` and `b` are one account to this guard (the same key under
    /// its `account_normalize`): with `fold`, `"Alice"` and `"alice "` are.
    /// Two names that normalize to nothing (no account) are the same too.
    ///
    /// ```
    /// let guard = loginguard::Guard::new(loginguard::Policy::default()).unwrap();
    /// assert!(guard.same_account("Alice", " alice"));
    /// assert!(!guard.same_account("alice", "bob"));
    /// ```
    pub fn same_account(&self, a: &str, b: &str) -> bool {
        let mode = self.policy.account_normalize;
        self.hasher.account(a, mode) == self.hasher.account(b, mode)
    }

    /// The guard's clock, in its own milliseconds.
    pub fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    /// The pre-authentication decision. Changes no counter.
    pub fn check(&self, attempt: &Attempt<'_>) -> Result<Decision> {
        let mut keys = Keys::NONE;
        self.keys(attempt, &mut keys, true)?;
        let decision = match &self.redis {
            None => self.check_keys(&keys, self.table_now()),
            Some(store) => self.redis_check(store, &keys),
        };
        self.count(decision.action);
        Ok(decision)
    }

    fn check_keys(&self, keys: &Keys<'_>, now: u64) -> Decision {
        if keys.denied {
            return Decision::denylisted();
        }
        let site = self.site_challenge(keys, now);
        let mut decider = Decider::default();
        for (i, key) in keys.governing() {
            decider.add(i, &self.verdict(i, key, now));
        }
        floor(decider.decision(), site)
    }

    /// Dimension `i`'s verdict on `key` now (an untracked key's: all zeros).
    #[inline(always)]
    fn verdict(&self, i: usize, key: &SlotKey, now: u64) -> Verdict {
        let counter = self.table.get(key).unwrap_or_default();
        counter.verdict(now, &self.rules[i])
    }

    fn verdicts(&self, keys: &Keys<'_>, now: u64) -> [Option<Verdict>; N] {
        let mut verdicts = [None; N];
        for (i, key) in keys.governing() {
            verdicts[i] = Some(self.verdict(i, key, now));
        }
        verdicts
    }

    /// The race-free pre-check for servers that verify passwords concurrently.
    ///
    /// When the decision lets the password be checked (`allow`, or `challenge`
    /// with `challenge_passed`), one failure is recorded in advance on every
    /// governing dimension (and in the site-wide window). While a site-wide
    /// attack challenges the attempt, a `begin` that the challenge refuses
    /// counts one failure in the site-wide window and one with the challenge
    /// passed takes one back, so that the attack lasts as long as attempts
    /// keep stopping at the CAPTCHA. After a successful login call
    /// [`Guard::record_success`] with `after_begin = true`. Returns the decision
    /// the attempt faced before its own failure.
    ///
    /// ```
    /// use loginguard::{Action, Attempt, Guard, Policy};
    /// let guard = Guard::new(Policy::default()).unwrap();
    /// let attempt = Attempt::new().account("bob").ip("198.51.100.4");
    /// let d = guard.begin(&attempt, false).unwrap();
    /// if d.lets_password_be_checked(false) {
    ///     let password_ok = true; // verify the password here
    ///     if password_ok {
    ///         guard.record_success(&attempt, true).unwrap();
    ///     } // a failed login needs nothing more: begin recorded it
    /// }
    /// assert_eq!(guard.check(&attempt).unwrap().failures, 0);
    /// ```
    pub fn begin(&self, attempt: &Attempt<'_>, challenge_passed: bool) -> Result<Decision> {
        let mut keys = Keys::NONE;
        self.keys(attempt, &mut keys, true)?;
        if keys.denied {
            self.count(Action::Deny);
            return Ok(Decision::denylisted());
        }
        if let Some(store) = &self.redis {
            let decision = self.redis_begin(store, &keys, challenge_passed);
            self.count(decision.action);
            return Ok(decision);
        }
        let now = self.table_now();
        let mut faced = self.verdicts(&keys, now);
        let site = self.site_challenge(&keys, now);
        let seen = floor(self.decide(&faced), site);
        // During an attack a refused challenge counts in the site-wide window
        // and a passed one takes that back: the window goes on seeing a botnet
        // that stops at the CAPTCHA, and not the people who solve it.
        let site_challenged = site.is_some() && seen.action == Action::Challenge;
        if !seen.lets_password_be_checked(challenge_passed) {
            if site_challenged {
                self.site_record(now);
            }
            self.count(seen.action);
            return Ok(seen);
        }
        if site_challenged {
            self.site_take_back(now);
        }
        // Record dimension by dimension, each only if its counter still lets
        // the password be checked: concurrent begins serialize on each slot.
        let mut crossed = [Crossings::default(); N];
        let mut before = [Counter::default(); N];
        let mut after = [Counter::default(); N];
        let mut recorded = [false; N];
        let mut stopped = false;
        for (i, key) in keys.governing() {
            let rule = &self.rules[i];
            let outcome = self.table.update(key, Some((&self.rules, now)), |c| {
                let verdict = c.verdict(now, rule);
                faced[i] = Some(verdict);
                if !verdict.lets_password_be_checked(challenge_passed) {
                    return None;
                }
                let (new, x) = c.record_failure(now, rule);
                crossed[i] = x;
                Some(new)
            });
            match outcome {
                Updated::Changed { old, new } => {
                    recorded[i] = true;
                    before[i] = old;
                    after[i] = new;
                }
                Updated::Refused => {
                    faced[i] = Some(Verdict::UNTRACKED);
                    stopped |= !challenge_passed;
                }
                Updated::Unchanged(_) | Updated::Absent => stopped = true,
            }
            if stopped {
                break;
            }
        }
        if stopped {
            // The password will not be checked: take every advance back, to
            // the state before it where no one has changed the counter since
            // (a lock or reset_required it started included); a counter that
            // others changed meanwhile gets the refund of a success.
            for (i, key) in keys.governing().filter(|(i, _)| recorded[*i]) {
                self.table.update(key, None, |c| {
                    Some(if c == after[i] {
                        before[i]
                    } else {
                        c.refunded()
                    })
                });
            }
        } else {
            self.emit_crossings(&keys, &crossed, &after);
            self.site_record(now);
        }
        let decision = floor(self.decide(&faced), site);
        self.count(decision.action);
        Ok(decision)
    }

    /// Records a failed login and returns the decision that the counters, as
    /// this call's own update left them, give: when N threads record failures
    /// on one key at one instant, they see `failures` 1..=N exactly.
    pub fn record_failure(&self, attempt: &Attempt<'_>) -> Result<Decision> {
        let mut keys = Keys::NONE;
        self.keys(attempt, &mut keys, false)?;
        if keys.denied {
            self.count(Action::Deny);
            return Ok(Decision::denylisted());
        }
        if let Some(store) = &self.redis {
            let decision = self.redis_record_failure(store, &keys);
            self.count(decision.action);
            return Ok(decision);
        }
        let now = self.table_now();
        // The site-wide signal answers for this call's own failure (its
        // rate, the one it counted): not for an attack that a later one,
        // counted by another call while this one updated its counters, started.
        let site_during = self.site_record(now);
        let mut decider = Decider::default();
        // What a listener is told of (thresholds crossed, the counters they
        // were crossed at) is kept only while one is set.
        let listening = self.has_listener.load(Relaxed);
        let mut crossed = [Crossings::default(); N];
        let mut after = [Counter::default(); N];
        for (i, key) in keys.governing() {
            let rule = &self.rules[i];
            let mut x = Crossings::default();
            let outcome = self.table.update(key, Some((&self.rules, now)), |c| {
                let new;
                (new, x) = c.record_failure(now, rule);
                Some(new)
            });
            let verdict = match outcome {
                Updated::Changed { new, .. } => {
                    if listening {
                        (crossed[i], after[i]) = (x, new);
                    }
                    new.verdict_as_is(now, rule)
                }
                _ => Verdict::UNTRACKED,
            };
            decider.add(i, &verdict);
        }
        if listening {
            self.emit_crossings(&keys, &crossed, &after);
        }
        // Still on (not ended since), and the attempt not on a trusted device.
        let site = site_during.filter(|_| self.site_challenges(&keys, now));
        let decision = floor(decider.decision(), site);
        self.count(decision.action);
        Ok(decision)
    }

    /// Records a successful login: clears every governing dimension with
    /// `reset_on_success`; with `after_begin`, also takes back the failure that
    /// [`Guard::begin`] recorded in advance on the others, and from the
    /// site-wide window (one off its current step, never below zero).
    pub fn record_success(&self, attempt: &Attempt<'_>, after_begin: bool) -> Result<()> {
        let mut keys = Keys::NONE;
        self.keys(attempt, &mut keys, false)?;
        if keys.denied {
            return Ok(());
        }
        if let Some(store) = &self.redis {
            self.redis_record_success(store, &keys, after_begin);
            return Ok(());
        }
        let now = self.table_now();
        if after_begin {
            self.site_take_back(now);
        }
        for (i, key) in keys.governing() {
            if self.rules[i].reset_on_success {
                self.table.update(key, None, |c| {
                    let new = c.cleared_by_success(now);
                    (new != c).then_some(new)
                });
            } else if after_begin {
                self.table.update(key, None, |c| Some(c.refunded()));
            }
        }
        Ok(())
    }

    /// Clears every counter of `account` (its `account`, `account_ip` and
    /// `device` counters), `reset_required` included. Scans the table: an
    /// administrative operation, not a hot path.
    pub fn reset_account(&self, account: &str) -> Result<()> {
        if account.len() > MAX_ACCOUNT_BYTES {
            return Err(Error::AccountTooLong {
                len: account.len(),
                max: MAX_ACCOUNT_BYTES,
            });
        }
        let digest = self
            .hasher
            .account(account, self.policy.account_normalize)
            .ok_or(Error::MissingKey)?;
        let owner = self.owner(digest);
        match &self.redis {
            None => {
                self.table.clear_owned(owner);
            }
            Some(store) => self.redis_reset_account(store, owner)?,
        }
        self.emit(&Event {
            kind: EventKind::ResetAccount,
            dimension: None,
            account: Some(account),
            ip: None,
            failures: 0,
            lock_until_ms: None,
        });
        Ok(())
    }

    /// Clears that network's `ip` counter and its range's `ip_range` counter.
    pub fn reset_ip<'a>(&self, ip: impl Into<IpInput<'a>>) -> Result<()> {
        let addr = parse_ip(Some(ip.into()))?.ok_or(Error::MissingKey)?;
        let key = self.ip_key(&self.network(addr));
        let range = self.ip_range_key(&self.range(addr));
        match &self.redis {
            None => {
                self.table.clear(&key);
                self.table.clear(&range);
            }
            Some(store) => {
                self.redis_reset_ip(store, &key)?;
                self.redis_reset_ip_range(store, &range)?;
            }
        }
        self.emit(&Event {
            kind: EventKind::ResetIp,
            dimension: None,
            account: None,
            ip: Some(addr),
            failures: 0,
            lock_until_ms: None,
        });
        Ok(())
    }

    /// Whether `account` keys an account counter under this policy: not over
    /// [`MAX_ACCOUNT_BYTES`] and not empty once normalized. Framework
    /// integrations ask before `begin`, so that an account the core would treat
    /// as absent is refused rather than governed by the network alone. Touches
    /// no counter and no store.
    ///
    /// ```
    /// use loginguard::{Guard, Policy};
    /// let guard = Guard::new(Policy::default()).unwrap();
    /// assert!(guard.keys_account(" Alice "));
    /// assert!(!guard.keys_account(" \u{feff}\u{1c} "));
    /// assert!(!guard.keys_account(&"a".repeat(1025)));
    /// ```
    pub fn keys_account(&self, account: &str) -> bool {
        account.len() <= MAX_ACCOUNT_BYTES
            && self
                .hasher
                .account(account, self.policy.account_normalize)
                .is_some()
    }

    /// Every governing dimension's state, for support staff. Changes nothing.
    pub fn inspect(&self, attempt: &Attempt<'_>) -> Result<Inspection> {
        let mut keys = Keys::NONE;
        self.keys_ignoring_denylist(attempt, &mut keys)?;
        if let Some(store) = &self.redis {
            return self.redis_inspect(store, &keys);
        }
        let now = self.table_now();
        let dimensions = keys
            .governing()
            .map(|(i, key)| {
                let tracked = self.table.get(key);
                let (c, t) = tracked.unwrap_or_default().at(now, &self.rules[i]);
                DimensionState {
                    dimension: Dimension::from_index(i),
                    tracked: tracked.is_some(),
                    failures: c.count,
                    consecutive: c.consecutive,
                    locked_until_ms: c.locked(t).then(|| c.quiet_since + self.epoch),
                    reset_required: c.reset_required && self.rules[i].reset_after.is_some(),
                    action: c.verdict(now, &self.rules[i]).action,
                }
            })
            .collect();
        let denylisted = self.denylisted(keys.ip);
        let site = self.site_state_at(now);
        let decision = if denylisted {
            Decision::denylisted()
        } else {
            let challenge = site.filter(|s| s.active && !keys.trusted);
            floor(
                self.decide(&self.verdicts(&keys, now)),
                challenge.map(|s| s.rate),
            )
        };
        Ok(Inspection {
            decision,
            denylisted,
            dimensions,
            site,
        })
    }

    /// Capacity, occupancy, evictions, refused inserts, memory and decisions.
    /// Counting occupancy scans the table: call it from monitoring, not per request.
    pub fn stats(&self) -> Stats {
        if let Some(store) = &self.redis {
            return self.redis_stats(store);
        }
        let counters = self.table.counters();
        let [allow, challenge, deny, reset_required] = counters.decisions();
        Stats {
            capacity: self.table.slots(),
            occupancy: self.table.occupied(),
            evictions: counters.evictions.load(Relaxed),
            refused_inserts: counters.refused_inserts.load(Relaxed),
            memory_bytes: self.table.bytes() + std::mem::size_of::<Guard>(),
            allow,
            challenge,
            deny,
            reset_required,
            site: self.site_state_at(self.table_now()),
            redis: None,
        }
    }

    /// The site-wide signal now: the rate, the trigger and whether an attack
    /// is on (`None` when `[site]` is off). Unlike [`Guard::stats`], no scan.
    /// On the redis store, one round trip (`None` also when Redis cannot
    /// answer within `store.timeout`).
    ///
    /// ```
    /// use loginguard::{Guard, Policy};
    /// let policy = Policy::from_toml("[site]\nchallenge_when = \"300/1m\"").unwrap();
    /// let s = Guard::new(policy).unwrap().site_state().unwrap();
    /// assert_eq!((s.rate, s.trigger, s.active), (0, 300, false));
    /// assert!(Guard::new(Policy::default()).unwrap().site_state().is_none());
    /// ```
    pub fn site_state(&self) -> Option<SiteState> {
        if let Some(store) = &self.redis {
            return self.redis_site_state(store).ok().flatten();
        }
        self.site_state_at(self.table_now())
    }

    /// Calls `listener` for every event from now on, replacing any earlier one.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use loginguard::{Attempt, EventKind, Guard, Policy};
    /// let guard = Guard::new(Policy::default()).unwrap();
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let sink = seen.clone();
    /// guard.set_listener(move |e| sink.lock().unwrap().push(e.kind));
    /// for _ in 0..4 {
    ///     guard.record_failure(&Attempt::new().account("carol")).unwrap();
    /// }
    /// assert_eq!(*seen.lock().unwrap(), vec![EventKind::Challenge]);
    /// ```
    pub fn set_listener(&self, listener: impl Fn(&Event<'_>) + Send + Sync + 'static) {
        *self.listener.write() = Some(Arc::new(listener));
        self.has_listener.store(true, Relaxed);
    }

    /// Stops calling the listener.
    pub fn clear_listener(&self) {
        self.has_listener.store(false, Relaxed);
        *self.listener.write() = None;
    }

    #[inline]
    fn count(&self, action: Action) {
        self.table.counters().count(action, self.shared);
    }

    fn emit(&self, event: &Event<'_>) {
        if !self.has_listener.load(Relaxed) {
            return;
        }
        let listener = self.listener.read().clone();
        if let Some(listener) = listener {
            // A failing listener must not change a decision or lose an update.
            let _ = catch_unwind(AssertUnwindSafe(|| listener(event)));
        }
    }

    /// Counts a recorded failure in the site-wide window, and tells of an
    /// attack it started; the rate with it counted when an attack is on
    /// with it.
    #[inline(always)]
    fn site_record(&self, now: u64) -> Option<u64> {
        let rule = self.site.as_ref()?;
        let (during, started) = self.table.counters().site.record(rule, now);
        self.emit_site(started);
        during
    }

    /// Takes one failure back from the site-wide window.
    fn site_take_back(&self, now: u64) {
        if let Some(rule) = &self.site {
            self.table.counters().site.take_back(rule, now);
        }
    }

    /// The site-wide rate when the site-wide signal challenges this attempt
    /// now (see [`Guard::site_challenges`]).
    #[inline(always)]
    fn site_challenge(&self, keys: &Keys<'_>, now: u64) -> Option<u64> {
        let rule = self.site.as_ref()?;
        self.site_challenges(keys, now)
            .then(|| self.table.counters().site.rate(rule, now))
    }

    /// Whether the site-wide signal challenges this attempt now (an attack
    /// is on and the attempt is not on a trusted device); tells of an attack
    /// this call saw end. One load while nothing changes.
    #[inline(always)]
    fn site_challenges(&self, keys: &Keys<'_>, now: u64) -> bool {
        match &self.site {
            // The common case, answered inline: no attack on.
            Some(rule) if !self.table.counters().site.quiet() => {
                self.site_challenges_during_attack(rule, keys, now)
            }
            _ => false,
        }
    }

    #[inline(never)]
    fn site_challenges_during_attack(&self, rule: &SiteRuleMs, keys: &Keys<'_>, now: u64) -> bool {
        let (active, ended) = self.table.counters().site.active(rule, now);
        self.emit_site(ended);
        active && !keys.trusted
    }

    fn site_state_at(&self, now: u64) -> Option<SiteState> {
        let rule = self.site.as_ref()?;
        let (state, ended) = self.table.counters().site.state(rule, now, self.epoch);
        self.emit_site(ended);
        Some(state)
    }

    fn emit_site(&self, transition: Option<Transition>) {
        let (kind, rate) = match transition {
            None => return,
            Some(Transition::Started(rate)) => (EventKind::SiteAttackStarted, rate),
            Some(Transition::Ended(rate)) => (EventKind::SiteAttackEnded, rate),
        };
        self.emit(&Event {
            kind,
            dimension: None,
            account: None,
            ip: None,
            failures: u32::try_from(rate).unwrap_or(u32::MAX),
            lock_until_ms: None,
        });
    }

    fn emit_crossings(&self, keys: &Keys<'_>, crossed: &[Crossings; N], after: &[Counter; N]) {
        if !self.has_listener.load(Relaxed) || !crossed.iter().any(Crossings::any) {
            return;
        }
        for (i, x) in crossed.iter().enumerate() {
            let base = Event {
                kind: EventKind::Challenge,
                dimension: Some(Dimension::from_index(i)),
                account: keys.account,
                ip: keys.ip,
                failures: after[i].count,
                lock_until_ms: None,
            };
            if x.challenge {
                self.emit(&base);
            }
            if let Some(end) = x.lock_until {
                self.emit(&Event {
                    kind: EventKind::Lock,
                    lock_until_ms: Some(end + self.epoch),
                    ..base
                });
            }
            if x.reset_required {
                self.emit(&Event {
                    kind: EventKind::ResetRequired,
                    failures: after[i].consecutive,
                    ..base
                });
            }
        }
    }

    /// The most severe verdict (`reset_required` > `deny` > `challenge` >
    /// `allow`); among denies the longest retry; ties to the first dimension.
    fn decide(&self, verdicts: &[Option<Verdict>; N]) -> Decision {
        let mut decider = Decider::default();
        for (i, v) in verdicts.iter().enumerate() {
            if let Some(v) = v {
                decider.add(i, v);
            }
        }
        decider.decision()
    }

    fn table_now(&self) -> u64 {
        self.clock.now_ms().saturating_sub(self.epoch).min(MAX_TIME)
    }

    fn denylisted(&self, ip: Option<IpAddr>) -> bool {
        ip.is_some_and(|ip| self.policy.deny_cidrs.iter().any(|n| n.contains(&ip)))
    }

    /// The account key's fingerprint, which also marks the account's other
    /// keys as its own (for `reset_account`).
    fn owner(&self, account: u64) -> u64 {
        self.hasher.account_key(account) | 1
    }

    fn network(&self, addr: IpAddr) -> Network {
        network_of(addr, self.policy.ipv4_prefix, self.policy.ipv6_prefix)
    }

    fn ip_key(&self, net: &Network) -> SlotKey {
        self.table.key(self.hasher.ip_key(net), Dimension::Ip, 0)
    }

    /// The address's range: the `ip_range` prefixes, never narrower than
    /// the network's.
    fn range(&self, addr: IpAddr) -> Network {
        network_of(
            addr,
            self.policy
                .ip_range_ipv4_prefix
                .min(self.policy.ipv4_prefix),
            self.policy
                .ip_range_ipv6_prefix
                .min(self.policy.ipv6_prefix),
        )
    }

    fn ip_range_key(&self, net: &Network) -> SlotKey {
        self.table
            .key(self.hasher.ip_range_key(net), Dimension::IpRange, 0)
    }

    /// Turns an attempt into keys, from the thread's memo when it holds
    /// them. `remember`: memoize them (the calls a second call on the same
    /// attempt follows: `check`, `begin`), else leave the memo as it is.
    #[inline(always)]
    fn keys<'a>(&self, attempt: &Attempt<'a>, keys: &mut Keys<'a>, remember: bool) -> Result<()> {
        // The attempt this thread just turned into keys (check, then
        // record_failure of one login; a repeated brute force): no work.
        if memo::recall(self.id, attempt, keys) {
            return Ok(());
        }
        self.keys_ignoring_denylist(attempt, keys)?;
        if remember {
            memo::remember(self.id, attempt, keys);
        }
        for key in keys.slots.iter().flatten() {
            self.table.prefetch(key);
        }
        Ok(())
    }

    /// Turns an attempt into keys, filling `keys` in place (so that the hot
    /// path never copies the whole struct).
    #[inline(always)]
    fn keys_ignoring_denylist<'a>(&self, attempt: &Attempt<'a>, keys: &mut Keys<'a>) -> Result<()> {
        if let Some(a) = attempt.account {
            if a.len() > MAX_ACCOUNT_BYTES {
                return Err(Error::AccountTooLong {
                    len: a.len(),
                    max: MAX_ACCOUNT_BYTES,
                });
            }
        }
        let device = attempt.device.filter(|d| !d.is_empty());
        if let Some(d) = device {
            if d.len() > MAX_DEVICE_BYTES {
                return Err(Error::DeviceTooLong {
                    len: d.len(),
                    max: MAX_DEVICE_BYTES,
                });
            }
        }
        let ip = parse_ip(attempt.ip)?;
        let account = attempt
            .account
            .and_then(|a| self.hasher.account(a, self.policy.account_normalize));
        if device.is_some() && account.is_none() {
            return Err(Error::DeviceWithoutAccount);
        }
        if account.is_none() && ip.is_none() {
            return Err(Error::MissingKey);
        }
        keys.denied = self.denylisted(ip);
        keys.account = attempt.account;
        keys.ip = ip;
        if keys.denied {
            return Ok(());
        }
        let enabled = |d: Dimension| self.rules[d as usize].enabled;
        let network = ip.map(|addr| self.network(addr));
        if let Some(account) = account {
            let owner = self.owner(account);
            // A trusted device is governed by its own dimension alone; with
            // that dimension off, the attempt is governed as if it had none.
            if let (Some(d), true) = (device, enabled(Dimension::Device)) {
                let fp = self.hasher.device_key(account, d);
                keys.slots[Dimension::Device as usize] =
                    Some(self.table.key(fp, Dimension::Device, owner));
                keys.trusted = true;
                return Ok(());
            }
            if enabled(Dimension::Account) {
                keys.slots[Dimension::Account as usize] =
                    Some(self.table.key(owner, Dimension::Account, owner));
            }
            if let (Some(net), true) = (&network, enabled(Dimension::AccountIp)) {
                let fp = self.hasher.account_ip_key(account, net);
                keys.slots[Dimension::AccountIp as usize] =
                    Some(self.table.key(fp, Dimension::AccountIp, owner));
            }
        }
        if let (Some(addr), Some(net)) = (ip, &network) {
            let allowed = self.policy.allow_cidrs.iter().any(|n| n.contains(&addr));
            if enabled(Dimension::Ip) && !allowed {
                keys.slots[Dimension::Ip as usize] = Some(self.ip_key(net));
            }
            // The allow list exempts an address from its range's counter too.
            if enabled(Dimension::IpRange) && !allowed {
                keys.slots[Dimension::IpRange as usize] =
                    Some(self.ip_range_key(&self.range(addr)));
            }
        }
        Ok(())
    }
}

/// Folds the dimensions' verdicts into the decision, one at a time in
/// tie-break order: the most severe action (`reset_required` > `deny` >
/// `challenge` > `allow`), among equal actions the longest retry, ties to the
/// first dimension; an `allow` carries the first dimension's failures.
#[derive(Default)]
struct Decider {
    best: Option<(usize, Verdict)>,
    /// The first dimension's failures (0 when it does not govern).
    first: u32,
}

impl Decider {
    #[inline(always)]
    fn add(&mut self, i: usize, v: &Verdict) {
        if i == 0 {
            self.first = v.failures;
        }
        if v.action == Action::Allow {
            return;
        }
        let better = match &self.best {
            None => true,
            Some((_, b)) => {
                v.action > b.action || (v.action == b.action && v.retry_after_ms > b.retry_after_ms)
            }
        };
        if better {
            self.best = Some((i, *v));
        }
    }

    #[inline(always)]
    fn decision(self) -> Decision {
        match self.best {
            Some((i, v)) => Decision {
                action: v.action,
                reason: Some(Dimension::from_index(i).into()),
                retry_after_ms: v.retry_after_ms,
                failures: v.failures,
                degraded: false,
            },
            None => Decision::allow(self.first),
        }
    }
}

/// At least `challenge`, reason `site`, when the site-wide signal
/// challenges the attempt (`site` is then the rate): a more severe verdict,
/// or a challenge from a dimension (first in the tie order), stays.
#[inline]
fn floor(decision: Decision, site: Option<u64>) -> Decision {
    match site {
        Some(rate) if decision.action == Action::Allow => Decision {
            action: Action::Challenge,
            reason: Some(Reason::Site),
            retry_after_ms: None,
            failures: u32::try_from(rate).unwrap_or(u32::MAX),
            degraded: decision.degraded,
        },
        _ => decision,
    }
}

/// A digest of the rules, recorded in a shared store so that hosts enforcing
/// different policies on one store can be told apart.
fn policy_digest(policy: &Policy) -> u64 {
    let rules = Dimension::ALL.map(|d| policy.rule(d));
    let text = format!(
        "{rules:?} {:?} {} {} {:?} {:?} {} {} {:?}",
        policy.account_normalize,
        policy.ipv4_prefix,
        policy.ipv6_prefix,
        policy.allow_cidrs,
        policy.deny_cidrs,
        policy.ip_range_ipv4_prefix,
        policy.ip_range_ipv6_prefix,
        policy.site
    );
    xxhash_rust::xxh3::xxh3_64(text.as_bytes())
}

impl<'a> From<&'a str> for IpInput<'a> {
    fn from(s: &'a str) -> Self {
        IpInput::Text(s)
    }
}

impl<'a> From<&'a [u8]> for IpInput<'a> {
    fn from(b: &'a [u8]) -> Self {
        IpInput::Bytes(b)
    }
}

impl From<IpAddr> for IpInput<'_> {
    fn from(a: IpAddr) -> Self {
        IpInput::Addr(a)
    }
}
