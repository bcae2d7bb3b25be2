//! The guard's operations on the redis store: the same rules
//! (`counter.rs`) and the same `decide` as the table stores, with the reads
//! and compare-and-set writes of `store/redis` in between:
//! - `check`: one round trip (the governing keys' `GET`s, pipelined);
//! - `begin`, `record_failure`, `record_success`: one when this process
//!   predicted every key's value right (the compare-and-sets go out at once,
//!   computed from the values it last read or wrote: see `ValueCache`), plus
//!   one per round of conflicts, where the rule runs again on the value the
//!   conflict returned, for those keys only. A `begin` whose predictions
//!   refuse the password reads first, so that no guess ever refuses one.
//!
//! With `[site]` on, the site-wide window's key goes in the same pipelines:
//! `check` reads it with the counters, `begin` and `record_failure` count
//! their failure in it with the first compare-and-sets, `record_success`
//! takes one back with them. Starting or ending an attack (and noting a later
//! hot step during one) is one more round trip, only then; a `begin` that
//! the site-wide challenge refuses after it wrote takes its writes back (one
//! more).
//!
//! Whatever Redis cannot answer within `store.timeout` is decided by
//! `store.on_error`, with `degraded` set.

use std::sync::atomic::Ordering::Relaxed;

use redis::{Cmd, Value};

use super::{floor, Guard, Keys, N};
use crate::counter::{Counter, Crossings, Verdict};
use crate::decision::{Action, Decision, Dimension};
use crate::error::Result;
use crate::guard::{DimensionState, Inspection};
use crate::policy::OnError;
use crate::site::{SiteRuleMs, SiteState, SiteWindow, Transition};
use crate::stats::Stats;
use crate::store::redis::{
    added, backoff, ended, started, window, Cas, CasReply, Ended, KeyName, Read, RedisStore,
    Session, SiteOp, WriteLocks, MAX_ROUNDS,
};
use crate::table::{SlotKey, MAX_TIME};

/// One planned compare-and-set.
struct Plan {
    dim: usize,
    expected: Option<Vec<u8>>,
    bytes: Option<[u8; 16]>,
    ttl_ms: u64,
    new: Counter,
    crossed: Crossings,
}

impl Plan {
    fn cas<'a>(&'a self, names: &'a [Option<KeyName>; N]) -> Cas<'a> {
        Cas {
            key: names[self.dim]
                .as_ref()
                .expect("a governing key has a name"),
            expected: self.expected.as_deref(),
            new: self.bytes,
            ttl_ms: self.ttl_ms,
        }
    }

    /// The value as this write left it.
    fn written(&self) -> Read {
        Read {
            raw: self.bytes.map(|b| b.to_vec()),
            counter: self.new,
        }
    }
}

/// One round of compare-and-set writes, after the first a retry: counted,
/// and spaced by [`backoff`] from the last round trip (`rtt`, updated here).
fn cas_round(
    store: &RedisStore,
    s: &mut Session<'_>,
    names: &[Option<KeyName>; N],
    plans: &[Plan],
    round: usize,
    rtt: &mut std::time::Duration,
    extra: Option<&dyn Fn(bool) -> Cmd>,
) -> ::redis::RedisResult<(Vec<CasReply>, Option<Value>)> {
    if round > 0 {
        store
            .counters
            .cas_retries
            .fetch_add(plans.len() as u64, Relaxed);
        backoff(round, *rtt);
    }
    let ops: Vec<Cas<'_>> = plans.iter().map(|p| p.cas(names)).collect();
    let sent = std::time::Instant::now();
    let (replies, extra) = store.cas_many(s, &ops, extra)?;
    *rtt = sent.elapsed();
    for (p, reply) in plans.iter().zip(&replies) {
        let name = names[p.dim].as_ref().expect("a governing key has a name");
        match reply {
            CasReply::Done => store.values.note(name, &p.written(), Some(p.ttl_ms)),
            CasReply::Conflict(read) => store.values.note(name, read, None),
        }
    }
    Ok((replies, extra))
}

/// Attack transitions a call settles: at most a start and an end.
const MAX_SETTLE: usize = 4;

/// What a call saw of the site-wide window.
#[derive(Default)]
struct SiteSeen {
    /// The window, as the call's reply brought it.
    window: Option<SiteWindow>,
    /// The step the call's `add` replaced (index, count).
    lost: Option<(u64, u64)>,
    /// Failures the call counted in it.
    counted: u64,
    /// The transitions the call made, to be told.
    told: Vec<Transition>,
}

impl SiteSeen {
    fn read(v: Option<Value>) -> ::redis::RedisResult<SiteSeen> {
        Ok(SiteSeen {
            window: Some(window(v.unwrap_or(Value::Nil))?),
            ..SiteSeen::default()
        })
    }
}

/// What a `begin` or `record_failure` did in Redis.
struct Recorded {
    verdicts: [Option<Verdict>; N],
    /// Each governing key's counter as last seen.
    seen: [Option<Counter>; N],
    crossed: [Crossings; N],
    after: [Counter; N],
    /// Whether crossings are to be told (the failures stand).
    stands: bool,
    /// Whether some key kept conflicting until the rounds ran out.
    exhausted: bool,
    /// The site-wide rate, when the site-wide signal challenges the attempt.
    site_floor: Option<u64>,
    /// Attack transitions to be told.
    site_told: Vec<Transition>,
}

impl Guard {
    /// The write that takes dimension `dim` from `from` to `new`, with the
    /// TTL the new state earns.
    fn plan(
        &self,
        store: &RedisStore,
        dim: usize,
        from: &Read,
        new: Counter,
        crossed: Crossings,
        now: u64,
    ) -> Plan {
        let (bytes, ttl_ms) = store.encode(&new, from.raw.as_deref(), now, &self.rules[dim]);
        Plan {
            dim,
            expected: from.raw.clone(),
            bytes,
            ttl_ms,
            new,
            crossed,
        }
    }

    fn store_now(&self, store: &RedisStore) -> u64 {
        store
            .now_ms(self.clock.as_ref())
            .saturating_sub(self.epoch)
            .min(MAX_TIME)
    }

    fn names(&self, store: &RedisStore, keys: &Keys<'_>) -> [Option<KeyName>; N] {
        let mut names: [Option<KeyName>; N] = Default::default();
        for (i, key) in keys.governing() {
            names[i] = Some(store.name(key, Dimension::from_index(i)));
        }
        names
    }

    /// The governing keys' values, in dimension order.
    /// With `site`, the site key's reply too (same round trip).
    fn read_all(
        store: &RedisStore,
        s: &mut Session<'_>,
        names: &[Option<KeyName>; N],
        site: bool,
    ) -> ::redis::RedisResult<([Read; N], Option<Value>)> {
        let list: Vec<&KeyName> = names.iter().flatten().collect();
        let (reads, site) = store.get_many(s, &list, site)?;
        let mut reads = reads.into_iter();
        let mut out: [Read; N] = Default::default();
        for (i, name) in names.iter().enumerate() {
            if let Some(name) = name {
                out[i] = reads.next().unwrap_or_default();
                store.values.note(name, &out[i], None);
            }
        }
        Ok((out, site))
    }

    /// Settles the site-wide state a reply showed: starts the attack that a
    /// failure this call counted pushed over the trigger, notes a later hot
    /// step when its `add` replaced a step during one, and ends an attack
    /// whose calm has come, each by a compare-and-set in Redis (one round
    /// trip, only then), so that exactly one host tells each transition.
    /// Whether an attack is on.
    fn site_settle(
        &self,
        store: &RedisStore,
        s: &mut Session<'_>,
        rule: &SiteRuleMs,
        seen: &mut SiteSeen,
        now: u64,
    ) -> ::redis::RedisResult<bool> {
        let Some(w) = &seen.window else {
            return Ok(false);
        };
        if seen.counted > 0 {
            if let Some(hot) = seen.lost.and_then(|lost| w.raised_hot(rule, now, lost)) {
                store.site_call(s, rule, now, SiteOp::Raise(hot))?;
                let since = w.attack().map_or(now, |a| a.1);
                w.set_attack(Some((hot, since)));
            }
            if let Some((rate, hot)) = w.starts(rule, now) {
                let v = store.site_call(s, rule, now, SiteOp::Start(hot, now))?;
                if started(&v) {
                    seen.told.push(Transition::Started(rate));
                }
                // Started by this call or by another host: on either way.
                w.set_attack(Some((hot, now)));
            }
        }
        for _ in 0..MAX_SETTLE {
            let Some((hot, since)) = w.attack() else {
                return Ok(false);
            };
            let (active, end) = w.active(rule, now);
            let Some(Transition::Ended(rate)) = end else {
                return Ok(active);
            };
            match ended(store.site_call(s, rule, now, SiteOp::End(hot))?)? {
                Ended::Done => {
                    seen.told.push(Transition::Ended(rate));
                    return Ok(false);
                }
                Ended::Not(None) => return Ok(false), // another host ended it
                // Another host noted a later hot step: judge again.
                Ended::Not(Some(later)) => w.set_attack(Some((later, since))),
            }
        }
        Ok(true)
    }

    /// The governing keys' values as this process predicts them (see
    /// `ValueCache`): unverified, only ever a compare-and-set's expectation.
    fn guess_all(store: &RedisStore, names: &[Option<KeyName>; N]) -> [Read; N] {
        std::array::from_fn(|i| {
            names[i]
                .as_ref()
                .map(|n| store.values.guess(n))
                .unwrap_or_default()
        })
    }

    /// What `store.on_error` decides, `degraded`.
    fn degraded(&self, store: &RedisStore, keys: &Keys<'_>) -> Decision {
        store.counters.degraded.fetch_add(1, Relaxed);
        let first = keys
            .governing()
            .next()
            .map(|(i, _)| Dimension::from_index(i).into());
        let action = match store.on_error {
            OnError::Allow => Action::Allow,
            OnError::Challenge => Action::Challenge,
            OnError::Deny => Action::Deny,
        };
        Decision {
            action,
            reason: if action == Action::Allow { None } else { first },
            retry_after_ms: None,
            failures: 0,
            degraded: true,
        }
    }

    /// A decision from the lock cache alone, when it knows a governing key
    /// that refuses the password now.
    fn answer_from_lock_cache(
        &self,
        store: &RedisStore,
        keys: &Keys<'_>,
        now: u64,
    ) -> Option<Decision> {
        let mut verdicts = [None; N];
        let mut hit = false;
        for (i, key) in keys.governing() {
            if let Some(c) = store.locks.get(key, now) {
                let v = c.verdict(now, &self.rules[i]);
                if matches!(v.action, Action::Deny | Action::ResetRequired) {
                    verdicts[i] = Some(v);
                    hit = true;
                }
            }
        }
        if !hit {
            return None;
        }
        store.counters.lock_cache_hits.fetch_add(1, Relaxed);
        Some(self.decide(&verdicts))
    }

    fn note_locks(
        &self,
        store: &RedisStore,
        keys: &Keys<'_>,
        seen: &[Option<Counter>; N],
        now: u64,
    ) {
        for (i, key) in keys.governing() {
            if let Some(c) = seen[i] {
                store.locks.note(key, c, now, &self.rules[i]);
            }
        }
    }

    pub(super) fn redis_check(&self, store: &RedisStore, keys: &Keys<'_>) -> Decision {
        if keys.denied {
            return Decision::denylisted();
        }
        let now = self.store_now(store);
        if let Some(d) = self.answer_from_lock_cache(store, keys, now) {
            return d;
        }
        let names = self.names(store, keys);
        match store.run(self.clock.as_ref(), |store, s| {
            let (reads, site) = Self::read_all(store, s, &names, self.site.is_some())?;
            let site = match &self.site {
                Some(rule) => {
                    let mut seen = SiteSeen::read(site)?;
                    let active = self.site_settle(store, s, rule, &mut seen, now)?;
                    let rate = seen.window.as_ref().map_or(0, |w| w.rate(rule, now));
                    Some((active, rate, seen.told))
                }
                None => None,
            };
            Ok((reads, site))
        }) {
            Ok((reads, site)) => {
                let mut verdicts = [None; N];
                let mut seen = [None; N];
                for (i, _) in keys.governing() {
                    seen[i] = Some(reads[i].counter);
                    verdicts[i] = Some(reads[i].counter.verdict(now, &self.rules[i]));
                }
                self.note_locks(store, keys, &seen, now);
                let mut challenge = None;
                if let Some((active, rate, told)) = site {
                    told.into_iter().for_each(|t| self.emit_site(Some(t)));
                    challenge = (active && !keys.trusted).then_some(rate);
                }
                floor(self.decide(&verdicts), challenge)
            }
            Err(_) => self.degraded(store, keys),
        }
    }

    pub(super) fn redis_begin(
        &self,
        store: &RedisStore,
        keys: &Keys<'_>,
        challenge_passed: bool,
    ) -> Decision {
        let now = self.store_now(store);
        if let Some(d) = self.answer_from_lock_cache(store, keys, now) {
            return d;
        }
        let names = self.names(store, keys);
        let deadline = store.deadline();
        let stripes = store.writes.stripes();
        let Some(turn) = WriteLocks::hold(&stripes, names.iter().flatten(), deadline) else {
            return self.degraded(store, keys);
        };
        let out = store.run_until(deadline, self.clock.as_ref(), |store, s| {
            self.record_in_redis(store, s, &names, now, Some(challenge_passed), keys.trusted)
        });
        drop(turn); // before any listener runs
        if let Ok(r) = &out {
            r.site_told.iter().for_each(|t| self.emit_site(Some(*t)));
        }
        if out.as_ref().is_ok_and(|r| r.exhausted) {
            // Lost the race every round: refuse rather than let an uncounted
            // attempt check the password.
            store.counters.cas_exhausted.fetch_add(1, Relaxed);
            let d = self.degraded(store, keys);
            return Decision {
                action: Action::Deny,
                reason: d.reason,
                ..d
            };
        }
        self.finish(store, keys, out, now)
    }

    pub(super) fn redis_record_failure(&self, store: &RedisStore, keys: &Keys<'_>) -> Decision {
        let now = self.store_now(store);
        let names = self.names(store, keys);
        let deadline = store.deadline();
        let stripes = store.writes.stripes();
        let Some(turn) = WriteLocks::hold(&stripes, names.iter().flatten(), deadline) else {
            return self.degraded(store, keys);
        };
        let out = store.run_until(deadline, self.clock.as_ref(), |store, s| {
            self.record_in_redis(store, s, &names, now, None, keys.trusted)
        });
        drop(turn); // before any listener runs
        if let Ok(r) = &out {
            r.site_told.iter().for_each(|t| self.emit_site(Some(*t)));
        }
        self.finish(store, keys, out, now)
    }

    fn finish(
        &self,
        store: &RedisStore,
        keys: &Keys<'_>,
        out: std::result::Result<Recorded, String>,
        now: u64,
    ) -> Decision {
        let Ok(r) = out else {
            return self.degraded(store, keys);
        };
        self.note_locks(store, keys, &r.seen, now);
        if r.exhausted {
            store.counters.cas_exhausted.fetch_add(1, Relaxed);
            return self.degraded(store, keys);
        }
        if r.stands {
            self.emit_crossings(keys, &r.crossed, &r.after);
        }
        floor(self.decide(&r.verdicts), r.site_floor)
    }

    /// Records one failure on every governing key: `gate` is `None` for
    /// `record_failure` (always records; the verdicts are the new counters'),
    /// `Some(challenge_passed)` for `begin` (records only while every key
    /// lets the password be checked, else takes back what it wrote; the
    /// verdicts are those faced before). With `[site]` on, the failure
    /// counts in the site-wide window too (`trusted`: on a trusted device,
    /// which the site-wide signal never challenges), as the table stores do.
    fn record_in_redis(
        &self,
        store: &RedisStore,
        s: &mut Session<'_>,
        names: &[Option<KeyName>; N],
        now: u64,
        gate: Option<bool>,
        trusted: bool,
    ) -> ::redis::RedisResult<Recorded> {
        let governing: Vec<usize> = (0..N).filter(|i| names[*i].is_some()).collect();
        let mut r = Recorded {
            verdicts: [None; N],
            seen: [None; N],
            crossed: [Crossings::default(); N],
            after: [Counter::default(); N],
            stands: true,
            exhausted: false,
            site_floor: None,
            site_told: Vec::new(),
        };
        let mut site = SiteSeen::default();
        let add = |by_body: bool| -> Cmd {
            let rule = self.site.as_ref().expect("only with [site] on");
            store.site_cmd(rule, now, SiteOp::Add, by_body)
        };
        let mut refused = false;
        // Predicted values: the compare-and-sets below verify them, and a
        // wrong one comes back as a conflict with the value Redis holds.
        let mut cur = Self::guess_all(store, names);
        if let Some(passed) = gate {
            for &i in &governing {
                r.verdicts[i] = Some(cur[i].counter.verdict(now, &self.rules[i]));
            }
            if !self.decide(&r.verdicts).lets_password_be_checked(passed) {
                // A guess never refuses: ask Redis.
                let (read, window) = Self::read_all(store, s, names, self.site.is_some())?;
                cur = read;
                if self.site.is_some() {
                    site = SiteSeen::read(window)?;
                }
                for &i in &governing {
                    r.seen[i] = Some(cur[i].counter);
                    r.verdicts[i] = Some(cur[i].counter.verdict(now, &self.rules[i]));
                }
                if !self.decide(&r.verdicts).lets_password_be_checked(passed) {
                    r.stands = false;
                    refused = true;
                }
            }
        }
        let mut pending = if refused {
            Vec::new()
        } else {
            governing.clone()
        };
        let mut written: Vec<(usize, Read, Read)> = Vec::new(); // (dim, before, after)
        let mut stopped = false;
        let mut rtt = std::time::Duration::ZERO;
        for round in 0..MAX_ROUNDS {
            if refused {
                break;
            }
            let mut plans = Vec::with_capacity(pending.len());
            for &i in &pending {
                let rule = &self.rules[i];
                if let Some(passed) = gate {
                    let v = cur[i].counter.verdict(now, rule);
                    r.verdicts[i] = Some(v);
                    if !v.lets_password_be_checked(passed) {
                        stopped = true;
                        break;
                    }
                }
                let (new, crossed) = cur[i].counter.record_failure(now, rule);
                plans.push(self.plan(store, i, &cur[i], new, crossed, now));
            }
            if stopped {
                break;
            }
            // The failure's count in the site-wide window goes with the
            // first compare-and-sets (taken back below if it does not stand).
            let extra = (round == 0 && self.site.is_some()).then_some(&add as &dyn Fn(bool) -> Cmd);
            let (replies, window) = cas_round(store, s, names, &plans, round, &mut rtt, extra)?;
            if let Some(v) = window {
                let (w, lost) = added(v)?;
                site = SiteSeen {
                    window: Some(w),
                    lost,
                    counted: 1,
                    told: Vec::new(),
                };
            }
            pending.clear();
            for (p, reply) in plans.iter().zip(replies) {
                match reply {
                    CasReply::Done => {
                        let after = p.written();
                        written.push((
                            p.dim,
                            std::mem::replace(&mut cur[p.dim], after.clone()),
                            after,
                        ));
                        r.crossed[p.dim] = p.crossed;
                        r.after[p.dim] = p.new;
                        r.seen[p.dim] = Some(p.new);
                        if gate.is_none() {
                            r.verdicts[p.dim] = Some(p.new.verdict_as_is(now, &self.rules[p.dim]));
                        }
                    }
                    CasReply::Conflict(read) => {
                        r.seen[p.dim] = Some(read.counter);
                        cur[p.dim] = read;
                        pending.push(p.dim);
                    }
                }
            }
            if pending.is_empty() {
                break;
            }
        }
        if !pending.is_empty() && !stopped {
            r.exhausted = true;
        }
        if gate.is_some() && (stopped || r.exhausted) {
            // The password will not be checked: take every advance back, to
            // the value before it where no one has changed the key since (a
            // lock or reset_required it started included); a key others
            // changed meanwhile gets the refund of a success.
            r.stands = false;
            self.take_back(store, s, names, &written, now, &mut r)?;
        }
        if let Some(rule) = &self.site {
            self.site_in_record(
                store, s, names, rule, site, now, gate, trusted, &written, &mut r,
            )?;
        }
        Ok(r)
    }

    /// The site-wide part of `record_in_redis`, once the counters are
    /// written: settles the attack state, and for `begin` refuses an
    /// attempt the site-wide challenge stops (taking its writes back) and
    /// brings the window's count to what the table stores count: one for a
    /// refused challenge or a failure that stands, one fewer for a passed
    /// challenge, none otherwise.
    #[allow(clippy::too_many_arguments)]
    fn site_in_record(
        &self,
        store: &RedisStore,
        s: &mut Session<'_>,
        names: &[Option<KeyName>; N],
        rule: &SiteRuleMs,
        mut site: SiteSeen,
        now: u64,
        gate: Option<bool>,
        trusted: bool,
        written: &[(usize, Read, Read)],
        r: &mut Recorded,
    ) -> ::redis::RedisResult<()> {
        if site.window.is_none() {
            // No round trip brought it (the read refused at once).
            let (_, v) = store.get_many(s, &[], true)?;
            site = SiteSeen::read(v)?;
        }
        // Whether an attack was on as this call's failure was counted (the
        // reply's state, before this call starts one).
        let found_on = site.window.as_ref().is_some_and(|w| w.hot().is_some());
        let active = self.site_settle(store, s, rule, &mut site, now)?;
        let rate = site.window.as_ref().map_or(0, |w| w.rate(rule, now));
        match gate {
            None => r.site_floor = (active && !trusted).then_some(rate),
            Some(passed) => {
                // A begin answers for the attempt before its own failure: an
                // attack that failure started does not challenge it.
                let challenged = found_on && active && !trusted;
                // The rate the attempt faced, before its own failure.
                let faced = challenged.then_some(rate.saturating_sub(site.counted));
                let seen = floor(self.decide(&r.verdicts), faced);
                let mut target = i64::from(r.stands);
                if challenged && seen.action == Action::Challenge {
                    if passed {
                        // A solved challenge takes back one refused before.
                        target -= 1;
                    } else {
                        if r.stands {
                            r.stands = false;
                            self.take_back(store, s, names, written, now, r)?;
                        }
                        target = 1;
                    }
                }
                let counted = i64::try_from(site.counted).unwrap_or(i64::MAX);
                if target > counted {
                    store.site_call(s, rule, now, SiteOp::Add)?;
                } else if target < counted {
                    let n = (counted - target).unsigned_abs();
                    store.site_call(s, rule, now, SiteOp::Back(n))?;
                }
                r.site_floor = faced;
            }
        }
        r.site_told = site.told;
        Ok(())
    }

    fn take_back(
        &self,
        store: &RedisStore,
        s: &mut Session<'_>,
        names: &[Option<KeyName>; N],
        written: &[(usize, Read, Read)],
        now: u64,
        r: &mut Recorded,
    ) -> ::redis::RedisResult<()> {
        // (dim, what is there, what to put)
        let mut todo: Vec<(usize, Read, Counter)> = written
            .iter()
            .map(|(i, before, after)| (*i, after.clone(), before.counter))
            .collect();
        let mut rtt = std::time::Duration::ZERO;
        for round in 0..MAX_ROUNDS {
            if todo.is_empty() {
                break;
            }
            let plans: Vec<Plan> = todo
                .iter()
                .map(|(i, there, to)| self.plan(store, *i, there, *to, Crossings::default(), now))
                .collect();
            let (replies, _) = cas_round(store, s, names, &plans, round, &mut rtt, None)?;
            todo.clear();
            for (p, reply) in plans.iter().zip(replies) {
                match reply {
                    CasReply::Done => r.seen[p.dim] = Some(p.new),
                    CasReply::Conflict(read) => {
                        let refunded = read.counter.refunded();
                        r.seen[p.dim] = Some(read.counter);
                        todo.push((p.dim, read, refunded));
                    }
                }
            }
        }
        Ok(())
    }

    pub(super) fn redis_record_success(
        &self,
        store: &RedisStore,
        keys: &Keys<'_>,
        after_begin: bool,
    ) {
        let now = self.store_now(store);
        let names = self.names(store, keys);
        let wanted = |i: usize| self.rules[i].reset_on_success || after_begin;
        let change = |i: usize, c: Counter| -> Option<Counter> {
            if self.rules[i].reset_on_success {
                let new = c.cleared_by_success(now);
                (new != c).then_some(new)
            } else {
                Some(c.refunded())
            }
        };
        let deadline = store.deadline();
        let stripes = store.writes.stripes();
        let turn = WriteLocks::hold(&stripes, names.iter().flatten(), deadline);
        if turn.is_some() {
            let _ = store.run_until(deadline, self.clock.as_ref(), |store, s| {
                let mut pending: Vec<usize> = (0..N)
                    .filter(|i| names[*i].is_some() && wanted(*i))
                    .collect();
                // Predicted values, verified by the compare-and-sets below (a key
                // predicted absent by one that expects it absent and leaves it
                // so); read first only when a prediction leaves nothing to write,
                // since then no write would verify it.
                let mut cur = Self::guess_all(store, &names);
                let mut verified = [false; N];
                if pending
                    .iter()
                    .any(|&i| cur[i].raw.is_some() && change(i, cur[i].counter).is_none())
                {
                    cur = Self::read_all(store, s, &names, false)?.0;
                    verified = [true; N];
                }
                // The failure `begin` counted in the site-wide window is
                // taken back with the first compare-and-sets.
                let mut site_back = self.site.as_ref().filter(|_| after_begin);
                let back = |by_body: bool| {
                    let rule = self.site.as_ref().expect("only with [site] on");
                    store.site_cmd(rule, now, SiteOp::Back(1), by_body)
                };
                let mut rtt = std::time::Duration::ZERO;
                for round in 0..MAX_ROUNDS {
                    let plans: Vec<Plan> = pending
                        .iter()
                        .filter_map(|&i| {
                            if cur[i].raw.is_none() {
                                // Nothing to clear, if it is so.
                                return (!verified[i]).then(|| Plan {
                                    dim: i,
                                    expected: None,
                                    bytes: None,
                                    ttl_ms: 0,
                                    new: Counter::default(),
                                    crossed: Crossings::default(),
                                });
                            }
                            let new = change(i, cur[i].counter)?;
                            Some(self.plan(store, i, &cur[i], new, Crossings::default(), now))
                        })
                        .collect();
                    if plans.is_empty() {
                        pending.clear();
                        break;
                    }
                    let extra = site_back.take().map(|_| &back as &dyn Fn(bool) -> Cmd);
                    let (replies, _) = cas_round(store, s, &names, &plans, round, &mut rtt, extra)?;
                    pending.clear();
                    for (p, reply) in plans.iter().zip(replies) {
                        match reply {
                            CasReply::Done => cur[p.dim] = p.written(),
                            CasReply::Conflict(read) if read.raw.is_some() => {
                                cur[p.dim] = read;
                                verified[p.dim] = true;
                                pending.push(p.dim);
                            }
                            CasReply::Conflict(_) => {} // gone: nothing to clear
                        }
                    }
                }
                if !pending.is_empty() {
                    store.counters.cas_exhausted.fetch_add(1, Relaxed);
                }
                if let Some(rule) = site_back {
                    // No compare-and-set went out: alone.
                    store.site_call(s, rule, now, SiteOp::Back(1))?;
                }
                Ok(())
            });
        }
        drop(turn);
        for (_, key) in keys.governing() {
            store.locks.forget(key);
        }
    }

    pub(super) fn redis_reset_account(&self, store: &RedisStore, owner: u64) -> Result<()> {
        let account_key = self.table.key(owner, Dimension::Account, owner);
        let name = store.name(&account_key, Dimension::Account);
        store.locks.forget_owner(owner);
        store.run_admin(self.clock.as_ref(), |store, s| {
            store.reset_account(s, owner, &name)
        })?;
        // (Its other keys' predictions go wrong: each costs one round trip.)
        store.values.note(&name, &Read::default(), None);
        store.locks.forget_owner(owner);
        Ok(())
    }

    pub(super) fn redis_reset_ip(&self, store: &RedisStore, key: &SlotKey) -> Result<()> {
        let name = store.name(key, Dimension::Ip);
        store.run_admin(self.clock.as_ref(), |store, s| store.delete(s, &name))?;
        store.values.note(&name, &Read::default(), None);
        store.locks.forget(key);
        Ok(())
    }

    pub(super) fn redis_reset_ip_range(&self, store: &RedisStore, key: &SlotKey) -> Result<()> {
        let name = store.name(key, Dimension::IpRange);
        store.run_admin(self.clock.as_ref(), |store, s| store.delete(s, &name))?;
        store.values.note(&name, &Read::default(), None);
        store.locks.forget(key);
        Ok(())
    }

    pub(super) fn redis_inspect(&self, store: &RedisStore, keys: &Keys<'_>) -> Result<Inspection> {
        let now = self.store_now(store);
        let names = self.names(store, keys);
        let (reads, site) = store.run_admin(self.clock.as_ref(), |store, s| {
            let (reads, site) = Self::read_all(store, s, &names, self.site.is_some())?;
            let site = match &self.site {
                Some(rule) => Some(self.site_state_in(store, s, rule, site, now)?),
                None => None,
            };
            Ok((reads, site))
        })?;
        let site = site.map(|(state, told)| {
            told.into_iter().for_each(|t| self.emit_site(Some(t)));
            state
        });
        let mut verdicts = [None; N];
        let dimensions = keys
            .governing()
            .map(|(i, _)| {
                let rule = &self.rules[i];
                let (c, t) = reads[i].counter.at(now, rule);
                verdicts[i] = Some(reads[i].counter.verdict(now, rule));
                DimensionState {
                    dimension: Dimension::from_index(i),
                    tracked: reads[i].raw.is_some(),
                    failures: c.count,
                    consecutive: c.consecutive,
                    locked_until_ms: c.locked(t).then(|| c.quiet_since + self.epoch),
                    reset_required: c.reset_required && rule.reset_after.is_some(),
                    action: c.verdict(now, rule).action,
                }
            })
            .collect();
        let denylisted = self.denylisted(keys.ip);
        let decision = if denylisted {
            Decision::denylisted()
        } else {
            let challenge = site.filter(|s| s.active && !keys.trusted);
            floor(self.decide(&verdicts), challenge.map(|s| s.rate))
        };
        Ok(Inspection {
            decision,
            denylisted,
            dimensions,
            site,
        })
    }

    /// The site-wide state from the site key's reply `v`, settled, and the
    /// transitions to tell.
    fn site_state_in(
        &self,
        store: &RedisStore,
        s: &mut Session<'_>,
        rule: &SiteRuleMs,
        v: Option<Value>,
        now: u64,
    ) -> ::redis::RedisResult<(SiteState, Vec<Transition>)> {
        let mut seen = SiteSeen::read(v)?;
        self.site_settle(store, s, rule, &mut seen, now)?;
        let w = seen.window.as_ref().expect("read");
        Ok((w.snapshot(rule, now, self.epoch), seen.told))
    }

    /// The site-wide signal now, read from Redis (`None` when `[site]` is off).
    pub(super) fn redis_site_state(&self, store: &RedisStore) -> Result<Option<SiteState>> {
        let Some(rule) = &self.site else {
            return Ok(None);
        };
        let now = self.store_now(store);
        let (state, told) = store.run_admin(self.clock.as_ref(), |store, s| {
            let (_, v) = store.get_many(s, &[], true)?;
            self.site_state_in(store, s, rule, v, now)
        })?;
        told.into_iter().for_each(|t| self.emit_site(Some(t)));
        Ok(Some(state))
    }

    pub(super) fn redis_stats(&self, store: &RedisStore) -> Stats {
        let now = self.store_now(store);
        let (redis, site) = store.stats(self.clock.as_ref(), |store, s| match &self.site {
            Some(rule) => {
                let (_, v) = store.get_many(s, &[], true)?;
                self.site_state_in(store, s, rule, v, now).map(Some)
            }
            None => Ok(None),
        });
        let site = site.flatten().map(|(state, told)| {
            told.into_iter().for_each(|t| self.emit_site(Some(t)));
            state
        });
        let [allow, challenge, deny, reset_required] = self.table.counters().decisions();
        Stats {
            capacity: 0,
            occupancy: 0,
            evictions: redis.evicted_keys.unwrap_or(0),
            refused_inserts: 0,
            memory_bytes: self.table.bytes() + std::mem::size_of::<Guard>(),
            allow,
            challenge,
            deny,
            reset_required,
            // `None` also when Redis cannot answer.
            site,
            redis: Some(redis),
        }
    }
}
