//! Statistics: decisions by action, counted on per-thread stripes so that
//! counting never makes threads contend for one cache line.

use std::cell::Cell;
use std::sync::atomic::{
    AtomicU32, AtomicU64,
    Ordering::{AcqRel, Acquire, Relaxed, Release},
};

use crate::decision::Action;
use crate::site::{SiteState, SiteWindow};

const STRIPES: usize = 16;

#[repr(align(128))]
#[derive(Debug, Default)]
struct Stripe([AtomicU64; 4]);

/// Counters that live with the table (in the shared store's file too, so
/// that every process's decisions add up): evictions, refused inserts and
/// decisions by action. All-zero bytes are a valid value.
#[repr(C, align(128))]
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) evictions: AtomicU64,
    pub(crate) refused_inserts: AtomicU64,
    stripes: [Stripe; STRIPES],
    /// The site-wide failure window (`[site]`).
    pub(crate) site: SiteWindow,
}

/// A stripe index with this bit set is shared: every owned stripe was held
/// by a live thread when it was given.
const SHARED: usize = 1 << 31;
const UNSET: usize = usize::MAX;
/// The last stripe is never owned: threads beyond the owned ones count on it
/// together, with atomic adds, so that no thread's plain store on its own
/// stripe races another's add.
const OVERFLOW: usize = STRIPES - 1;

/// Stripes held by live threads, one bit each.
static HELD: AtomicU32 = AtomicU32::new(0);

thread_local! {
    /// This thread's stripe (no destructor: read on every decision).
    static INDEX: Cell<usize> = const { Cell::new(UNSET) };
    /// Gives this thread's own stripe back when the thread ends.
    static LEASE: Lease = const { Lease(Cell::new(UNSET)) };
}

struct Lease(Cell<usize>);

impl Drop for Lease {
    fn drop(&mut self) {
        let held = self.0.get();
        if held != UNSET {
            // Anything this thread still counts from here on shares.
            let _ = INDEX.try_with(|i| i.set(OVERFLOW | SHARED));
            HELD.fetch_and(!(1 << held), Release);
        }
    }
}

/// This thread's stripe: one of its own while one is free, given back when
/// the thread ends, so that a thread pool's churn never makes two live
/// threads share one; else the overflow stripe (`| SHARED`).
#[inline]
fn stripe_index() -> usize {
    let i = INDEX.with(Cell::get);
    if i != UNSET {
        return i;
    }
    take_stripe()
}

#[cold]
fn take_stripe() -> usize {
    let own = HELD
        .fetch_update(AcqRel, Acquire, |held| {
            let free = (!held).trailing_zeros() as usize;
            (free < OVERFLOW).then(|| held | 1 << free)
        })
        .ok()
        .map(|held| (!held).trailing_zeros() as usize);
    let index = match own {
        // The lease gives it back; without one (the thread is ending), share.
        Some(own) => match LEASE.try_with(|l| l.0.set(own)) {
            Ok(()) => own,
            Err(_) => {
                HELD.fetch_and(!(1 << own), Release);
                OVERFLOW | SHARED
            }
        },
        None => OVERFLOW | SHARED,
    };
    INDEX.with(|i| i.set(index));
    index
}

impl Counters {
    /// Counts one decision on this thread's stripe. In one process's memory,
    /// on a stripe the thread holds alone, a plain load and store rather
    /// than a locked read-modify-write; on the overflow stripe (more than 15
    /// threads counting at once) and across processes (`shared`: threads of
    /// different processes share stripes) an atomic add.
    #[inline]
    pub(crate) fn count(&self, action: Action, across_processes: bool) {
        let i = stripe_index();
        let c = &self.stripes[i & !SHARED].0[action as usize];
        if across_processes || i & SHARED != 0 {
            c.fetch_add(1, Relaxed);
        } else {
            c.store(c.load(Relaxed).wrapping_add(1), Relaxed);
        }
    }

    pub(crate) fn decisions(&self) -> [u64; 4] {
        let mut out = [0u64; 4];
        for s in &self.stripes {
            for (o, c) in out.iter_mut().zip(&s.0) {
                *o = o.saturating_add(c.load(Relaxed)); // a file may hold any value
            }
        }
        out
    }
}

/// A snapshot of a guard's table and decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// Keys the table can track (slots).
    pub capacity: usize,
    /// Slots holding a key.
    pub occupancy: usize,
    /// Keys evicted to make room for others.
    pub evictions: u64,
    /// New keys not stored because every candidate slot was protected.
    pub refused_inserts: u64,
    /// Bytes the guard's counters occupy (32 per slot) plus the guard itself.
    pub memory_bytes: usize,
    /// `allow` decisions from `check`, `begin` and `record_failure`.
    pub allow: u64,
    /// `challenge` decisions.
    pub challenge: u64,
    /// `deny` decisions.
    pub deny: u64,
    /// `reset_required` decisions.
    pub reset_required: u64,
    /// The site-wide signal's rate, trigger and attack state (`None` when
    /// `[site]` is off).
    pub site: Option<SiteState>,
    /// The redis store's own facts (`None` for `memory` and `shared`). For
    /// redis, `capacity` and `occupancy` are 0 (Redis holds the keys: see
    /// `used_memory`) and `evictions` is Redis's `evicted_keys`.
    pub redis: Option<RedisStats>,
}

/// What a redis guard saw of Redis, counted in this process since it opened
/// the store, and what Redis's `INFO` said when `stats` was called.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedisStats {
    /// Round trips sent (a pipeline counts once).
    pub round_trips: u64,
    /// Operations that failed: timeouts, refused connections, server errors.
    pub errors: u64,
    /// Decisions made by `store.on_error` (with `degraded` set).
    pub degraded: u64,
    /// Compare-and-set writes sent again after a conflict: another host
    /// changed the key, or this process predicted its value wrong.
    pub cas_retries: u64,
    /// Operations that gave up after too many conflicts on one key.
    pub cas_exhausted: u64,
    /// `check`s and `begin`s answered by the local lock cache.
    pub lock_cache_hits: u64,
    /// Times this process restored a missing meta key.
    pub meta_healed: u64,
    /// Times the meta key held another store's blob (another secret or epoch).
    pub meta_mismatches: u64,
    /// Times the meta key named another policy (expected in a rolling deploy).
    pub policy_mismatches: u64,
    /// Whether the circuit breaker is open (Redis failed repeatedly).
    pub circuit_open: bool,
    /// Redis's `evicted_keys` (summed over a cluster's nodes); `None` when unknown.
    pub evicted_keys: Option<u64>,
    /// Whether Redis's `maxmemory-policy` can evict counters (anything but
    /// `noeviction`): a warning, since an evicted counter is a forgotten one.
    pub may_evict_counters: Option<bool>,
    /// Redis's `used_memory` in bytes (summed over a cluster's nodes).
    pub used_memory: Option<u64>,
}

impl std::fmt::Display for Stats {
    /// One line for people: `12 of 1048576 keys in use, 0 evictions, ...`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} of {} keys in use, {} evictions, {} refused inserts, {:.1} MiB; decisions: allow {}, challenge {}, deny {}, reset_required {}",
            self.occupancy,
            self.capacity,
            self.evictions,
            self.refused_inserts,
            self.memory_bytes as f64 / f64::from(1 << 20),
            self.allow,
            self.challenge,
            self.deny,
            self.reset_required
        )?;
        if let Some(s) = &self.site {
            write!(
                f,
                "; site: {} failures in the last {}s (trigger {}){}",
                s.rate,
                s.per_ms / 1000,
                s.trigger,
                if s.active {
                    ", ATTACK: every untrusted attempt is challenged"
                } else {
                    ""
                }
            )?;
        }
        if let Some(r) = &self.redis {
            write!(
                f,
                "; redis: {} round trips, {} errors, {} degraded, {} CAS retries{}{}",
                r.round_trips,
                r.errors,
                r.degraded,
                r.cas_retries,
                if r.circuit_open { ", circuit open" } else { "" },
                if r.may_evict_counters == Some(true) {
                    ", WARNING: maxmemory-policy can evict counters (use noeviction)"
                } else {
                    ""
                }
            )?;
        }
        Ok(())
    }
}
