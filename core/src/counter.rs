//! The state of one key in one dimension and every counter rule of the SPEC:
//! forgetting, forgiveness, locks with growth, consecutive counts and
//! `reset_required`. Pure functions of (state, now, rule): the table stores the
//! state, the guard combines the dimensions.

use crate::decision::Action;
use crate::policy::Rule;

/// Largest count a slot holds; counts saturate there.
pub(crate) const MAX_COUNT: u32 = (1 << 14) - 1;
/// Largest "locks so far" a slot holds; lock growth stops there.
pub(crate) const MAX_LOCKS: u32 = (1 << 5) - 1;

/// A rule with durations in milliseconds and lock lengths precomputed.
#[derive(Debug, Clone)]
pub(crate) struct RuleMs {
    pub(crate) enabled: bool,
    pub(crate) forget_after: u64,
    pub(crate) forgive_every: Option<u64>,
    pub(crate) challenge_after: Option<u32>,
    pub(crate) lock_after: Option<u32>,
    pub(crate) lock_lengths: [u64; MAX_LOCKS as usize + 1],
    pub(crate) reset_after: Option<u32>,
    pub(crate) reset_on_success: bool,
}

impl From<&Rule> for RuleMs {
    fn from(rule: &Rule) -> RuleMs {
        let mut lock_lengths = [0; MAX_LOCKS as usize + 1];
        for (n, len) in lock_lengths.iter_mut().enumerate() {
            *len = rule.lock_length_ms(n as u32);
        }
        RuleMs {
            enabled: rule.enabled,
            forget_after: rule.forget_after.as_millis() as u64,
            forgive_every: rule.forgive_every.map(|d| d.as_millis() as u64),
            challenge_after: rule.challenge_after,
            lock_after: rule.lock_after,
            lock_lengths,
            reset_after: rule.reset_after,
            reset_on_success: rule.reset_on_success,
        }
    }
}

/// One key's counters. Times are milliseconds on the table's scale.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counter {
    /// The later of the last failure and the end of the last lock.
    pub(crate) quiet_since: u64,
    /// Whether `quiet_since` is the end of a lock (then the lock runs until it).
    pub(crate) lock_end: bool,
    /// Forgiveness anchor; at most `quiet_since`.
    pub(crate) anchor: u64,
    /// Failures since the counter was last cleared, less those forgiven.
    pub(crate) count: u32,
    /// Consecutive failures: cleared only by a success or a reset.
    pub(crate) consecutive: u32,
    pub(crate) reset_required: bool,
    /// Locks started since the counter was last cleared.
    pub(crate) locks: u32,
}

/// Thresholds that one recorded failure crossed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Crossings {
    pub(crate) challenge: bool,
    /// The end of a lock this failure started.
    pub(crate) lock_until: Option<u64>,
    pub(crate) reset_required: bool,
}

impl Crossings {
    pub(crate) fn any(&self) -> bool {
        self.challenge || self.lock_until.is_some() || self.reset_required
    }
}

/// One dimension's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Verdict {
    pub(crate) action: Action,
    pub(crate) retry_after_ms: Option<u64>,
    pub(crate) failures: u32,
}

impl Verdict {
    /// A key the table could not store: neither open nor closed.
    pub(crate) const UNTRACKED: Verdict = Verdict {
        action: Action::Challenge,
        retry_after_ms: None,
        failures: 0,
    };

    pub(crate) const fn lets_password_be_checked(&self, challenge_passed: bool) -> bool {
        match self.action {
            Action::Allow => true,
            Action::Challenge => challenge_passed,
            Action::Deny | Action::ResetRequired => false,
        }
    }
}

impl Counter {
    /// Whether a lock runs at `now`.
    pub(crate) fn locked(&self, now: u64) -> bool {
        self.lock_end && now < self.quiet_since
    }

    /// The counter as seen at `now`: forgotten if quiet for `forget_after`,
    /// forgiven one failure per full `forgive_every`. Returns it with the
    /// effective time (a clock behind the last failure counts as no time passed).
    pub(crate) fn at(mut self, now: u64, rule: &RuleMs) -> (Counter, u64) {
        let now = if self.lock_end {
            now
        } else {
            now.max(self.quiet_since)
        };
        let active = self.count > 0 || self.locks > 0 || self.lock_end;
        if active && now.saturating_sub(self.quiet_since) >= rule.forget_after {
            self.count = 0;
            self.locks = 0;
            self.lock_end = false;
            self.anchor = self.quiet_since;
        }
        if let Some(period) = rule.forgive_every {
            if self.count > 0 {
                let elapsed = now.saturating_sub(self.anchor);
                if elapsed >= period {
                    let forgiven = (elapsed / period).min(u64::from(self.count));
                    self.count -= forgiven as u32;
                    // Exact integer steps: the anchor moves by whole periods, no drift.
                    self.anchor += forgiven * period;
                }
            }
        }
        (self, now)
    }

    /// This dimension's verdict at `now`.
    pub(crate) fn verdict(self, now: u64, rule: &RuleMs) -> Verdict {
        let (c, now) = self.at(now, rule);
        c.verdict_as_is(now, rule)
    }

    /// The verdict of a counter already brought to `now` (as `record_failure`
    /// leaves it), without normalizing it again.
    pub(crate) fn verdict_as_is(self, now: u64, rule: &RuleMs) -> Verdict {
        let c = self;
        if c.reset_required && rule.reset_after.is_some() {
            return Verdict {
                action: Action::ResetRequired,
                retry_after_ms: None,
                failures: c.consecutive,
            };
        }
        if c.locked(now) {
            return Verdict {
                action: Action::Deny,
                retry_after_ms: Some(c.quiet_since - now),
                failures: c.count,
            };
        }
        let action = match rule.challenge_after {
            Some(n) if c.count > n => Action::Challenge,
            _ => Action::Allow,
        };
        Verdict {
            action,
            retry_after_ms: None,
            failures: c.count,
        }
    }

    /// Records one failure at `now`. Inlined into its callers' update
    /// closures: returned through memory, the new counter was read back
    /// whole right after being written field by field (a store-forwarding
    /// stall on every failure).
    #[inline(always)]
    pub(crate) fn record_failure(self, now: u64, rule: &RuleMs) -> (Counter, Crossings) {
        let (mut c, now) = self.at(now, rule);
        let mut crossed = Crossings::default();
        let was_locked = c.locked(now);
        if c.count == 0 {
            c.anchor = now;
        }
        let before = c.count;
        c.count = (c.count + 1).min(MAX_COUNT);
        c.consecutive = (c.consecutive + 1).min(MAX_COUNT);
        if let Some(n) = rule.challenge_after {
            crossed.challenge = before <= n && c.count > n;
        }
        if let Some(n) = rule.reset_after {
            if !c.reset_required && c.consecutive > n {
                c.reset_required = true;
                crossed.reset_required = true;
            }
        }
        if !was_locked {
            match rule.lock_after {
                Some(n) if c.count > n => {
                    let end = now + rule.lock_lengths[c.locks.min(MAX_LOCKS) as usize];
                    c.quiet_since = end;
                    c.lock_end = true;
                    c.locks = (c.locks + 1).min(MAX_LOCKS);
                    crossed.lock_until = Some(end);
                }
                _ => {
                    c.quiet_since = now;
                    c.lock_end = false;
                }
            }
        }
        (c, crossed)
    }

    /// A success on a dimension with `reset_on_success`: clears the count, the
    /// locks and any running lock, and the consecutive count unless the key is
    /// already `reset_required`.
    pub(crate) fn cleared_by_success(self, now: u64) -> Counter {
        let quiet_since = if self.lock_end {
            now
        } else {
            now.max(self.quiet_since)
        };
        Counter {
            quiet_since,
            anchor: quiet_since,
            consecutive: if self.reset_required {
                self.consecutive
            } else {
                0
            },
            reset_required: self.reset_required,
            ..Counter::default()
        }
    }

    /// Takes back the failure `begin` recorded in advance: one off the count and
    /// one off the consecutive count, never below zero; a lock or a
    /// `reset_required` it started stays.
    pub(crate) fn refunded(self) -> Counter {
        Counter {
            count: self.count.saturating_sub(1),
            consecutive: self.consecutive.saturating_sub(1),
            ..self
        }
    }

    /// Whether eviction must spare this key: locked, `reset_required`, or above
    /// a threshold. Otherwise its eviction rank: lower goes first, by the larger
    /// of the count and the consecutive count, so that a slow attacker's
    /// consecutive count (which time never forgets) outranks fresh keys.
    pub(crate) fn eviction_rank(self, now: u64, rule: &RuleMs) -> Option<(u32, u32)> {
        let (c, now) = self.at(now, rule);
        let above = |t: Option<u32>| t.is_some_and(|n| c.count > n);
        if c.reset_required
            || c.locked(now)
            || above(rule.challenge_after)
            || above(rule.lock_after)
        {
            return None;
        }
        if c.count == 0 && c.consecutive == 0 {
            return Some((0, 0));
        }
        Some((1 + c.count.max(c.consecutive), c.count.min(c.consecutive)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::Dimension;

    fn rule(d: Dimension) -> RuleMs {
        RuleMs::from(&Rule::default_for(d))
    }

    #[test]
    fn lock_grows_and_caps() {
        let r = rule(Dimension::AccountIp);
        assert_eq!(r.lock_lengths[0], 60_000);
        assert_eq!(r.lock_lengths[1], 120_000);
        assert_eq!(r.lock_lengths[6], 3_600_000);
        assert_eq!(r.lock_lengths[31], 3_600_000);
    }

    #[test]
    fn forgiveness_anchors_and_moves_by_whole_periods() {
        let r = rule(Dimension::Ip); // forgive every 10m
        let mut c = Counter::default();
        for t in [0, 1, 2] {
            c = c.record_failure(t, &r).0;
        }
        let (at, _) = c.at(600_000 - 1, &r);
        assert_eq!(at.count, 3);
        let (at, _) = c.at(600_000, &r);
        assert_eq!((at.count, at.anchor), (2, 600_000));
        let (at, _) = c.at(1_800_001, &r);
        assert_eq!(at.count, 0);
    }
}
