//! Statistics: decisions by action, counted on per-thread stripes so that
//! counting never makes threads contend for one cache line.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

use crate::decision::Action;

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
}

fn stripe_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local!(static INDEX: Cell<usize> = const { Cell::new(usize::MAX) });
    INDEX.with(|i| {
        if i.get() == usize::MAX {
            i.set(NEXT.fetch_add(1, Relaxed) % STRIPES);
        }
        i.get()
    })
}

impl Counters {
    /// Counts one decision on this thread's stripe. In one process's memory
    /// a plain load and store, not a locked read-modify-write: a thread owns
    /// its stripe while at most 16 threads count (beyond that, two sharing a
    /// stripe may rarely lose an increment). Across processes (`shared`)
    /// threads of different processes share stripes, so the add is atomic.
    #[inline]
    pub(crate) fn count(&self, action: Action, across_processes: bool) {
        let c = &self.stripes[stripe_index()].0[action as usize];
        if across_processes {
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
        )
    }
}
