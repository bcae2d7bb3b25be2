//! The site-wide signal (`[site]`): failures per time across every key, in a
//! lock-free sliding window, and the attack state it drives.
//!
//! **Window.** The rate's time (`per` of `challenge_when`) is cut into 60
//! steps of `per / 60` (rounded up to the millisecond). Each step is one
//! atomic word packing the step's index (time / step) and its failures; a
//! failure in a step whose word holds an older index restarts it by
//! compare-and-swap, else adds one. The rate at time `t` is the sum of the
//! steps from `k − 59` to `k`, `k` being `t`'s step: a window that slides by
//! one step at a time. The sum of the 59 steps before `k` is cached (one
//! word, recomputed by the first caller in a new step), so a failure costs
//! one add and two loads.
//!
//! **Attack.** A recorded failure that leaves the rate above the trigger
//! starts an attack (one compare-and-swap of the state word, so exactly one
//! call sees it start). The attack ends once the rate has stayed below
//! `calm_when` for `calm_for`: the state word keeps the last step `h` at which
//! the rate was at or above `calm_when`, and the attack ends at
//! `(h + 1) × step + calm_for`. Since the rate only rises at a recorded
//! failure and only falls as steps expire, `h` is found from the steps
//! themselves ([`SiteWindow::last_hot`]), before a step is overwritten and
//! when the end seems to have come: `check` costs one load until then.
//!
//! **Baseline** (`baseline = "auto"`): failures are also counted per hour in
//! 24 hourly words (failures during an attack excepted: an attack must not
//! teach itself to be normal); the learned rate is the previous 24 complete
//! hours' failures scaled to the window, `learned = day × per / 24h`, and the
//! trigger is `max(challenge_when, floor(surge × learned))`.
//!
//! All-zero bytes are a valid, quiet window: it lives with the table's
//! statistics, in the heap for `memory` and in the file's header for
//! `shared`, where every process updates the same words. The `redis` store
//! keeps the words in one hash that every host shares (`store/redis/site.rs`)
//! and runs these computations on a copy of them per call.

use std::sync::atomic::{
    AtomicU64,
    Ordering::{AcqRel, Acquire, Relaxed, Release},
};

use crate::policy::{Baseline, SiteRule};
use crate::table::pause::{self, Point};

/// Steps per window.
pub(crate) const STEPS: usize = 60;
pub(crate) const HOURS: usize = 24;
const HOUR_MS: u64 = 3_600_000;
const DAY_MS: u64 = 24 * HOUR_MS;
/// Counts sit in the low 28 bits of a word, indices above them.
const COUNT_BITS: u32 = 28;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;
/// A step stops counting here; the headroom absorbs adds racing past the check.
pub(crate) const STEP_CAP: u64 = COUNT_MASK - (1 << 20);
const ACTIVE: u64 = 1 << 63;

const fn pack(index: u64, count: u64) -> u64 {
    index << COUNT_BITS | count
}

const fn index_of(word: u64) -> u64 {
    (word & !ACTIVE) >> COUNT_BITS
}

const fn count_of(word: u64) -> u64 {
    word & COUNT_MASK
}

/// The site rule in the units the window counts in.
#[derive(Debug, Clone)]
pub(crate) struct SiteRuleMs {
    step_ms: u64,
    /// `1 / step_ms`: a step is found by a multiplication, not a division
    /// (a 64-bit division costs more than the rest of the window).
    per_step: f64,
    per_ms: u64,
    trigger: u64,
    calm: Option<u64>,
    calm_for_ms: u64,
    auto: bool,
    surge: f64,
}

impl SiteRuleMs {
    /// `None` when the signal is off.
    pub(crate) fn new(rule: &SiteRule) -> Option<SiteRuleMs> {
        let trigger = rule.challenge_when?;
        let per_ms = trigger.per.as_millis() as u64;
        let step_ms = per_ms.div_ceil(STEPS as u64).max(1);
        Some(SiteRuleMs {
            step_ms,
            per_step: 1.0 / step_ms as f64,
            per_ms,
            trigger: u64::from(trigger.count),
            calm: rule.calm_when.map(|r| u64::from(r.count)),
            calm_for_ms: rule.calm_for.as_millis() as u64,
            auto: rule.baseline == Baseline::Auto,
            surge: rule.surge,
        })
    }

    /// `now / step_ms`, exactly: times are below 2^53, so the product is
    /// off by at most one step, which the two comparisons correct.
    #[inline]
    fn step(&self, now: u64) -> u64 {
        let k = (now as f64 * self.per_step) as u64;
        if k.saturating_mul(self.step_ms) > now {
            k - 1
        } else if (k + 1).saturating_mul(self.step_ms) <= now {
            k + 1
        } else {
            k
        }
    }

    /// The step and the hour of `now`.
    pub(crate) fn step_and_hour(&self, now: u64) -> (u64, u64) {
        (self.step(now), now / HOUR_MS)
    }

    /// Whether failures are counted per hour (`baseline = "auto"`).
    pub(crate) fn learns(&self) -> bool {
        self.auto
    }

    /// How long a store keeps the window's words after a write: two
    /// windows and `calm_for`, and a day and an hour more for the hourly
    /// words of `baseline = "auto"`.
    pub(crate) fn ttl_ms(&self) -> u64 {
        let day = if self.auto { DAY_MS + HOUR_MS } else { 0 };
        self.per_ms
            .saturating_mul(2)
            .saturating_add(self.calm_for_ms)
            .saturating_add(day)
    }

    /// The calm-down count for a trigger: `calm_when`, else half the
    /// trigger (at least 1, so that an attack can end).
    fn calm(&self, trigger: u64) -> u64 {
        self.calm.unwrap_or((trigger / 2).max(1))
    }
}

/// What a call changed in the attack state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transition {
    /// This call started an attack at this rate.
    Started(u64),
    /// This call saw the attack end, at this rate.
    Ended(u64),
}

/// The site-wide state at one instant, for `stats` and `inspect`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SiteState {
    /// Failures within the window now.
    pub rate: u64,
    /// The rate above which an attack starts (learned, with `baseline = "auto"`).
    pub trigger: u64,
    /// The window the rate counts over, in milliseconds.
    pub per_ms: u64,
    /// Whether an attack is on: every attempt not on a trusted device is challenged.
    pub active: bool,
    /// When the attack started, in the guard clock's milliseconds.
    pub since_ms: Option<u64>,
}

/// The window's words. All-zero bytes are a quiet window.
#[repr(C, align(64))]
#[derive(Debug)]
pub(crate) struct SiteWindow {
    steps: [AtomicU64; STEPS],
    /// `pack(k, failures in steps k − 59 ..= k − 1)`.
    before: AtomicU64,
    /// `ACTIVE | last step at or above calm_when`, or 0.
    state: AtomicU64,
    /// When the running attack started, + 1 (0: none).
    since: AtomicU64,
    hours: [AtomicU64; HOURS],
    /// `pack(h, failures in hours h − 24 ..= h − 1)`.
    day: AtomicU64,
}

impl Default for SiteWindow {
    fn default() -> Self {
        SiteWindow {
            steps: std::array::from_fn(|_| AtomicU64::new(0)),
            before: AtomicU64::new(0),
            state: AtomicU64::new(0),
            since: AtomicU64::new(0),
            hours: std::array::from_fn(|_| AtomicU64::new(0)),
            day: AtomicU64::new(0),
        }
    }
}

impl SiteWindow {
    /// Counts one recorded failure at `now`. The rate with it counted when an
    /// attack is on with it (one already on as it was counted, or this
    /// failure's rate is above the trigger), and the transition, if this
    /// call started the attack. Each call answers for its own failure: one
    /// still under the trigger answers `None` even when a later failure,
    /// counted meanwhile by another call, has started an attack.
    #[inline]
    pub(crate) fn record(&self, rule: &SiteRuleMs, now: u64) -> (Option<u64>, Option<Transition>) {
        // The state as this failure finds it, read before it counts.
        let found = self.state.load(Acquire);
        let k = rule.step(now);
        let word = &self.steps[(k % STEPS as u64) as usize];
        let mut current = word.load(Acquire);
        let in_step = loop {
            if index_of(current) >= k {
                // This step (or a later one, by a clock that reads ahead of
                // ours: counted as no time passed).
                if count_of(current) >= STEP_CAP {
                    break count_of(current);
                }
                break count_of(word.fetch_add(1, AcqRel)) + 1;
            }
            // A stale step: during an attack, note how hot the window was
            // before its oldest step is lost.
            let st = self.state.load(Acquire);
            if st & ACTIVE != 0 {
                self.note_hot(rule, st, now);
            }
            match word.compare_exchange(current, pack(k, 1), AcqRel, Acquire) {
                Ok(_) => break 1,
                Err(seen) => current = seen,
            }
        };
        pause::at(Point::SiteCounted);
        let rate = self.before(k) + in_step;
        // An attack on as the failure was counted is on for it, unless it has
        // ended since: then this failure may start the next one.
        let st = if found & ACTIVE != 0 {
            self.state.load(Acquire)
        } else {
            found
        };
        if rule.auto && st & ACTIVE == 0 {
            // The day's sum first: counting this hour replaces the word of
            // the hour 24 before it, which the sum still holds.
            self.day(now);
            self.learn(now);
        }
        if st & ACTIVE != 0 {
            return (Some(rate), None);
        }
        let trigger = self.trigger(rule, now);
        if rate <= trigger {
            return (None, None);
        }
        let hot = self.last_hot(rule.calm(trigger), k).unwrap_or(k).max(k);
        match self
            .state
            .compare_exchange(st, ACTIVE | hot, AcqRel, Acquire)
        {
            Ok(_) => {
                self.since.store(now + 1, Relaxed);
                (Some(rate), Some(Transition::Started(rate)))
            }
            // Another call started it, after this failure counted over the trigger.
            Err(_) => (Some(rate), None),
        }
    }

    /// Takes back one failure that `begin` counted in advance for a login
    /// that succeeded: one off the current step, never below zero.
    pub(crate) fn take_back(&self, rule: &SiteRuleMs, now: u64) {
        let learned = rule.auto && self.state.load(Acquire) & ACTIVE == 0;
        let k = rule.step(now);
        let word = &self.steps[(k % STEPS as u64) as usize];
        let _ = word.fetch_update(AcqRel, Acquire, |w| {
            (index_of(w) >= k && count_of(w) > 0).then(|| w - 1)
        });
        if learned {
            let h = now / HOUR_MS;
            let word = &self.hours[(h % HOURS as u64) as usize];
            let _ = word.fetch_update(AcqRel, Acquire, |w| {
                (index_of(w) >= h && count_of(w) > 0).then(|| w - 1)
            });
        }
    }

    /// Whether no attack is on: one load, so that callers can skip
    /// [`SiteWindow::active`] in the common case.
    #[inline(always)]
    pub(crate) fn quiet(&self) -> bool {
        self.state.load(Acquire) & ACTIVE == 0
    }

    /// Whether an attack is on at `now`, and whether this call saw it end.
    /// One load while nothing changes.
    #[inline]
    pub(crate) fn active(&self, rule: &SiteRuleMs, now: u64) -> (bool, Option<Transition>) {
        let mut st = self.state.load(Acquire);
        loop {
            if st & ACTIVE == 0 {
                return (false, None);
            }
            if now < self.ends_at(rule, st & !ACTIVE) {
                return (true, None);
            }
            // The end seems to have come: the steps may know of a later hot one.
            let hot = self.note_hot(rule, st, now);
            if now < self.ends_at(rule, hot) {
                return (true, None);
            }
            match self.state.compare_exchange(st, 0, AcqRel, Acquire) {
                Ok(_) => {
                    self.since.store(0, Relaxed);
                    return (false, Some(Transition::Ended(self.rate(rule, now))));
                }
                Err(seen) => st = seen,
            }
        }
    }

    /// The rate at `now`: failures in the steps `k − 59 ..= k`.
    pub(crate) fn rate(&self, rule: &SiteRuleMs, now: u64) -> u64 {
        let k = rule.step(now);
        let w = self.steps[(k % STEPS as u64) as usize].load(Acquire);
        let in_step = if index_of(w) >= k { count_of(w) } else { 0 };
        self.before(k) + in_step
    }

    /// The trigger at `now`: `challenge_when`, or with `baseline = "auto"`
    /// `max(challenge_when, floor(surge × learned))`.
    pub(crate) fn trigger(&self, rule: &SiteRuleMs, now: u64) -> u64 {
        if !rule.auto {
            return rule.trigger;
        }
        let learned = self.day(now) as f64 * rule.per_ms as f64 / DAY_MS as f64;
        let surged = (rule.surge * learned).floor();
        if surged.is_finite() && surged > rule.trigger as f64 {
            surged as u64
        } else {
            rule.trigger
        }
    }

    /// Rate, trigger and attack state at `now`, as an absolute clock time
    /// (`epoch` added). Ends a finished attack as `active` would.
    pub(crate) fn state(
        &self,
        rule: &SiteRuleMs,
        now: u64,
        epoch: u64,
    ) -> (SiteState, Option<Transition>) {
        let (_, transition) = self.active(rule, now);
        let state = self.snapshot(rule, now, epoch);
        (state, transition)
    }

    fn ends_at(&self, rule: &SiteRuleMs, hot: u64) -> u64 {
        (hot + 1)
            .saturating_mul(rule.step_ms)
            .saturating_add(rule.calm_for_ms)
    }

    /// Failures in steps `k − 59 ..= k − 1`, cached per step.
    fn before(&self, k: u64) -> u64 {
        cached_sum(&self.before, &self.steps, k, STEPS as u64 - 1)
    }

    /// Records the last hot step the steps show into the state word (while
    /// it is still `st`'s attack) and returns the state's hot step.
    fn note_hot(&self, rule: &SiteRuleMs, st: u64, now: u64) -> u64 {
        let stored = st & !ACTIVE;
        let calm = rule.calm(self.trigger(rule, now));
        let Some(hot) = self.last_hot(calm, rule.step(now)) else {
            return stored;
        };
        if hot <= stored {
            return stored;
        }
        let mut st = st;
        loop {
            if st & ACTIVE == 0 || st & !ACTIVE >= hot {
                return st & !ACTIVE;
            }
            match self
                .state
                .compare_exchange(st, ACTIVE | hot, AcqRel, Acquire)
            {
                Ok(_) => return hot,
                Err(seen) => st = seen,
            }
        }
    }

    /// The last step `t` at which the rate was (or, with no more failures,
    /// will be) at least `calm`, from the steps held now: the rate at
    /// `t = j + 59` is the failures of the held steps from `j` to `t`, and it
    /// only falls as `j` passes a step, so the candidates are the held
    /// steps' `j`. `None` when no window of held steps reaches `calm`.
    fn last_hot(&self, calm: u64, k: u64) -> Option<u64> {
        let mut held = [(0u64, 0u64); STEPS];
        for (h, w) in held.iter_mut().zip(&self.steps) {
            let w = w.load(Acquire);
            // Steps ahead of `k` (a clock ahead of ours) count as step `k`.
            *h = (index_of(w).min(k), count_of(w));
        }
        last_hot_of(&mut held, calm)
    }

    /// Counts one failure in its hour (baseline learning).
    fn learn(&self, now: u64) {
        let h = now / HOUR_MS;
        let word = &self.hours[(h % HOURS as u64) as usize];
        let mut current = word.load(Acquire);
        loop {
            if index_of(current) >= h {
                if count_of(current) < STEP_CAP {
                    word.fetch_add(1, AcqRel);
                }
                return;
            }
            match word.compare_exchange(current, pack(h, 1), AcqRel, Acquire) {
                Ok(_) => return,
                Err(seen) => current = seen,
            }
        }
    }

    /// Failures in the 24 complete hours before `now`'s, cached per hour.
    fn day(&self, now: u64) -> u64 {
        cached_sum(&self.day, &self.hours, now / HOUR_MS, HOURS as u64)
    }
}

/// The counts of the `span` periods before period `k` in the ring `words`
/// (a word counts only while it holds its own period's index), cached in
/// `cache` as `pack(k, sum)` so that it is summed once per period.
fn cached_sum(cache: &AtomicU64, words: &[AtomicU64], k: u64, span: u64) -> u64 {
    let cached = cache.load(Acquire);
    if index_of(cached) == k {
        return count_of(cached);
    }
    let ring = words.len() as u64;
    let mut sum = 0u64;
    for back in 1..=span {
        let Some(j) = k.checked_sub(back) else { break };
        let w = words[(j % ring) as usize].load(Acquire);
        if index_of(w) == j {
            sum += count_of(w);
        }
    }
    let sum = sum.min(COUNT_MASK);
    cache.store(pack(k, sum), Release);
    sum
}

/// The redis store keeps the window's words in one key (see
/// `store/redis/site.rs`); each call works on a copy built from the words a
/// reply brought, with the same computations, and changes the attack state
/// in Redis by compare-and-set.
impl SiteWindow {
    /// A copy holding these words: steps as (index, count) in their places,
    /// hours as (index, count) in any order, and the attack's last hot step
    /// and start when one is on.
    pub(crate) fn from_words(
        steps: &[(u64, u64)],
        hours: &[(u64, u64)],
        attack: Option<(u64, u64)>,
    ) -> SiteWindow {
        let w = SiteWindow::default();
        let word = |(i, c): (u64, u64)| pack(i & (!ACTIVE >> COUNT_BITS), c.min(COUNT_MASK));
        for (a, &ic) in w.steps.iter().zip(steps) {
            a.store(word(ic), Relaxed);
        }
        // By their index: of two hours for one word, the older (the current
        // hour is never summed, the one 24 hours before it is).
        for &(i, c) in hours.iter().filter(|&&h| h != (0, 0)) {
            let a = &w.hours[(i % HOURS as u64) as usize];
            let held = a.load(Relaxed);
            if held == 0 || i < index_of(held) {
                a.store(word((i, c)), Relaxed);
            }
        }
        w.set_attack(attack);
        w
    }

    /// Sets the attack state: `Some((hot step, start))`, or none.
    pub(crate) fn set_attack(&self, attack: Option<(u64, u64)>) {
        match attack {
            Some((hot, since)) => {
                self.state.store(ACTIVE | (hot & !ACTIVE), Release);
                self.since.store(since.saturating_add(1), Relaxed);
            }
            None => {
                self.state.store(0, Release);
                self.since.store(0, Relaxed);
            }
        }
    }

    /// The running attack's last hot step and start, if one is on.
    pub(crate) fn attack(&self) -> Option<(u64, u64)> {
        let since = self.since.load(Relaxed);
        self.hot().map(|hot| (hot, since.saturating_sub(1)))
    }

    /// The running attack's last hot step, if one is on.
    pub(crate) fn hot(&self) -> Option<u64> {
        let st = self.state.load(Acquire);
        (st & ACTIVE != 0).then_some(st & !ACTIVE)
    }

    /// With a failure counted: the attack it starts (the rate and the hot
    /// step to store) when none is on and the rate is above the trigger, as
    /// [`SiteWindow::record`] decides.
    pub(crate) fn starts(&self, rule: &SiteRuleMs, now: u64) -> Option<(u64, u64)> {
        if self.hot().is_some() {
            return None;
        }
        let k = rule.step(now);
        let rate = self.rate(rule, now);
        let trigger = self.trigger(rule, now);
        (rate > trigger).then(|| {
            let hot = self.last_hot(rule.calm(trigger), k).unwrap_or(k).max(k);
            (rate, hot)
        })
    }

    /// During an attack, once a write replaced the step `lost` (index,
    /// count): the hot step that the held steps and the lost one show, when
    /// later than the stored one (what [`SiteWindow::record`] notes before
    /// it overwrites a step).
    pub(crate) fn raised_hot(&self, rule: &SiteRuleMs, now: u64, lost: (u64, u64)) -> Option<u64> {
        let stored = self.hot()?;
        let k = rule.step(now);
        let mut held = [(0u64, 0u64); STEPS + 1];
        for (h, w) in held.iter_mut().zip(&self.steps) {
            let w = w.load(Acquire);
            *h = (index_of(w).min(k), count_of(w));
        }
        held[STEPS] = (lost.0.min(k), lost.1.min(COUNT_MASK));
        let calm = rule.calm(self.trigger(rule, now));
        last_hot_of(&mut held, calm).filter(|&hot| hot > stored)
    }

    /// Rate, trigger and attack state as they are, without ending anything.
    pub(crate) fn snapshot(&self, rule: &SiteRuleMs, now: u64, epoch: u64) -> SiteState {
        let active = self.hot().is_some();
        let since = self.since.load(Relaxed);
        SiteState {
            rate: self.rate(rule, now),
            trigger: self.trigger(rule, now),
            per_ms: rule.per_ms,
            active,
            // Saturating: a shared file (or a Redis key) may hold any bytes.
            since_ms: (active && since > 0).then(|| (since - 1).saturating_add(epoch)),
        }
    }
}

/// [`SiteWindow::last_hot`] over the steps `held`, as (index, count) pairs
/// with indices no later than the current step.
fn last_hot_of(held: &mut [(u64, u64)], calm: u64) -> Option<u64> {
    held.sort_unstable_by_key(|h| std::cmp::Reverse(h.0));
    let (mut sum, mut top) = (0u64, 0usize);
    for i in 0..held.len() {
        let (j, count) = held[i];
        sum += count;
        while held[top].0 > j + (STEPS as u64 - 1) {
            sum -= held[top].1;
            top += 1;
        }
        if count > 0 && sum >= calm {
            return Some(j + (STEPS as u64 - 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Rate;
    use std::time::Duration;

    fn rule(count: u32, calm_for_s: u64) -> SiteRuleMs {
        SiteRuleMs::new(&SiteRule {
            challenge_when: Some(Rate::new(count, Duration::from_secs(60))),
            calm_for: Duration::from_secs(calm_for_s),
            ..SiteRule::default()
        })
        .unwrap()
    }

    #[test]
    fn starts_one_over_the_trigger_and_only_once() {
        let (w, r) = (SiteWindow::default(), rule(10, 300));
        for i in 0..10 {
            assert_eq!(w.record(&r, i * 100), (None, None), "failure {}", i + 1);
        }
        assert_eq!(w.rate(&r, 999), 10);
        assert_eq!(
            w.record(&r, 1000),
            (Some(11), Some(Transition::Started(11)))
        );
        assert_eq!(w.record(&r, 1001), (Some(12), None));
        assert!(w.active(&r, 1001).0);
    }

    /// A call paused after counting the failure at the trigger, while a
    /// later failure starts the attack, answers for its own count: no attack.
    #[test]
    fn a_failure_answers_for_its_own_count_not_a_later_ones_attack() {
        use std::sync::mpsc;
        let (w, r) = (SiteWindow::default(), rule(10, 300));
        for i in 0..9 {
            w.record(&r, i);
        }
        let (counted, was_counted) = mpsc::channel();
        let (go, wait) = mpsc::channel::<()>();
        std::thread::scope(|s| {
            let tenth = s.spawn(|| {
                pause::set(move |p| {
                    if p == Point::SiteCounted {
                        counted.send(()).unwrap();
                        wait.recv().unwrap();
                    }
                });
                w.record(&r, 9)
            });
            was_counted.recv().unwrap();
            let eleventh = w.record(&r, 10);
            go.send(()).unwrap();
            assert_eq!(eleventh, (Some(11), Some(Transition::Started(11))));
            assert_eq!(tenth.join().unwrap(), (None, None));
        });
    }

    #[test]
    fn the_window_slides_by_steps() {
        let (w, r) = (SiteWindow::default(), rule(100, 300));
        w.record(&r, 0); // step 0
        w.record(&r, 30_500); // step 30
        assert_eq!(w.rate(&r, 59_999), 2); // step 59: both
        assert_eq!(w.rate(&r, 60_000), 1); // step 60: step 0 is out
        assert_eq!(w.rate(&r, 89_999), 1); // step 89: steps 30..=89
        assert_eq!(w.rate(&r, 90_000), 0);
    }

    #[test]
    fn ends_after_calm_for_below_calm_when() {
        let (w, r) = (SiteWindow::default(), rule(10, 300));
        for _ in 0..11 {
            w.record(&r, 0);
        }
        // 11 failures in step 0: at or above calm (5) through step 59; calm
        // from 60s on; the attack ends at 60s + 300s.
        assert!(w.active(&r, 359_999).0);
        assert_eq!(w.active(&r, 360_000), (false, Some(Transition::Ended(0))));
        assert_eq!(w.active(&r, 360_001), (false, None));
    }

    #[test]
    fn a_hot_step_later_lost_still_counts() {
        let (w, r) = (SiteWindow::default(), rule(10, 300));
        for _ in 0..11 {
            w.record(&r, 0);
        }
        for _ in 0..5 {
            w.record(&r, 50_000); // step 50: 5 more, at calm until step 109
        }
        // Overwrite step 0's word (step 60) and 50's (step 110) before any check.
        w.record(&r, 60_000);
        w.record(&r, 110_000);
        assert!(w.active(&r, 409_999).0);
        assert!(w.active(&r, 110_000 + 300_000 - 1).0);
        assert!(!w.active(&r, 110_000 + 300_000).0);
    }

    #[test]
    fn any_bytes_are_a_window_that_never_panics() {
        // A shared file's header may hold anything.
        for fill in [u64::MAX, 1 << 63, COUNT_MASK, 0x5555_5555_5555_5555] {
            let w = SiteWindow::default();
            let all = w.steps.iter().chain(&w.hours);
            for a in all.chain([&w.before, &w.state, &w.since, &w.day]) {
                a.store(fill, Relaxed);
            }
            let r = rule(10, 300);
            for now in [0, 1, 59_999, 1 << 39, (1 << 40) - 1] {
                w.record(&r, now);
                w.take_back(&r, now);
                let _ = w.active(&r, now);
                let _ = w.state(&r, now, u64::MAX);
                let _ = w.rate(&r, now);
            }
        }
    }

    #[test]
    fn steps_are_exact_divisions() {
        for per in [1_000u64, 60_000, 59_999, 61_001, 3_600_000, 86_400_000] {
            let r = SiteRuleMs::new(&SiteRule {
                challenge_when: Some(Rate::new(1, Duration::from_millis(per))),
                ..SiteRule::default()
            })
            .unwrap();
            let step = r.step_ms;
            for k in [0u64, 1, 59, 60, 1 << 20, (1 << 40) / step - 1] {
                for now in [k * step, k * step + step - 1] {
                    assert_eq!(r.step(now), now / step, "per {per} now {now}");
                }
            }
            assert_eq!(r.step((1 << 40) - 1), ((1 << 40) - 1) / step);
        }
    }

    #[test]
    fn take_back_never_goes_below_zero() {
        let (w, r) = (SiteWindow::default(), rule(10, 300));
        w.record(&r, 0);
        w.take_back(&r, 0);
        w.take_back(&r, 0);
        assert_eq!(w.rate(&r, 0), 0);
    }

    #[test]
    fn auto_baseline_learns_the_past_day() {
        let mut site = SiteRule {
            challenge_when: Some(Rate::new(10, Duration::from_secs(60))),
            baseline: Baseline::Auto,
            ..SiteRule::default()
        };
        site.surge = 5.0;
        let r = SiteRuleMs::new(&site).unwrap();
        let w = SiteWindow::default();
        // 2880 failures over the first day (2 a minute, below the floor of 10).
        for m in 0..24 * 60u64 {
            w.record(&r, m * 60_000);
            w.record(&r, m * 60_000 + 1);
        }
        assert_eq!(w.trigger(&r, DAY_MS - 1), 10); // nothing complete yet
                                                   // The next hour: 2880 × 60s / 24h = 2 per minute learned, × 5 = 10.
        assert_eq!(w.trigger(&r, DAY_MS), 10);
        let w2 = SiteWindow::default();
        for m in 0..24 * 60u64 {
            for s in 0..4 {
                w2.record(&r, m * 60_000 + s);
            }
        }
        assert_eq!(w2.trigger(&r, DAY_MS), 20); // 4 a minute × 5
                                                // A new hour's first failure (its word was the first hour's) keeps
                                                // the first hour in the day it learned from.
        let w3 = SiteWindow::default();
        for m in 0..24 * 60u64 {
            for s in 0..4 {
                w3.record(&r, m * 60_000 + s);
            }
        }
        w3.record(&r, DAY_MS);
        assert_eq!(w3.trigger(&r, DAY_MS), 20);
    }
}
