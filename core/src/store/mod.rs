//! Where the counters live. The table stores hand the table the same thing: a
//! slice of buckets of plain atomics. `memory` allocates it in the process;
//! `shared` maps it from a file that every worker process on the host opens.
//! Both are driven by `guard.rs` through the table, in nanoseconds.
//!
//! `redis` keeps the counters on Redis, Valkey or Redis Cluster for a fleet
//! of hosts (`redis/`: key names, the meta key, connections, the
//! compare-and-set script); `guard/redis.rs` drives it with the same rules,
//! one branch on the store kind per operation away from the table path.
//!
//! This module holds the crate's unsafe code: raw allocation, the mapping of
//! a file, and the CPU prefetch hint.

mod memory;
pub(crate) mod redis;
mod shared;

use std::ops::Deref;

use portable_atomic::AtomicU128;

use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::fingerprint::SECRET_BYTES;
use crate::policy::{StoreConfig, StoreKind, DEFAULT_STORE_MODE};
use crate::stats::Counters;
use crate::table::{Bucket, BUCKET_SLOTS};
pub(crate) use shared::HASH_ID;

/// Buckets that hold `capacity` keys.
pub(crate) fn buckets_for(capacity: usize) -> usize {
    capacity.div_ceil(BUCKET_SLOTS).max(1)
}

/// An opened store: its buckets, the hash secret its fingerprints use, and
/// the clock time its slot times count from; for `redis`, the connection to
/// Redis (the buckets are then a token table that only counts decisions).
#[derive(Debug)]
pub(crate) struct Opened {
    pub(crate) buckets: Region,
    pub(crate) secret: [u8; SECRET_BYTES],
    pub(crate) epoch_ms: u64,
    pub(crate) redis: Option<Box<redis::RedisStore>>,
}

/// A table region of `buckets` zeroed buckets on the heap.
pub(crate) fn heap_region(buckets: usize) -> Result<Region> {
    Ok(Region::Heap(memory::Heap::zeroed(buckets)?, Box::default()))
}

/// Opens the store the policy names for a guard on `clock`. A new store
/// counts from the clock's time now; a shared one checks its file's time
/// against the clock; a redis one reads (or writes) its meta key, and records
/// `policy_digest` there.
pub(crate) fn open_for(
    config: &StoreConfig,
    clock: &dyn Clock,
    policy_digest: u64,
) -> Result<Opened> {
    if !AtomicU128::is_lock_free() {
        return Err(Error::Store(
            "this CPU has no lock-free 16-byte compare-and-swap; loginguard refuses to fall back to locks".into(),
        ));
    }
    match &config.kind {
        StoreKind::Memory => Ok(Opened {
            buckets: Region::Heap(
                memory::Heap::zeroed(buckets_for(config.capacity))?,
                Box::default(),
            ),
            secret: fresh_secret()?,
            epoch_ms: clock.now_ms(),
            redis: None,
        }),
        StoreKind::Redis => {
            let (store, secret, epoch_ms) =
                redis::RedisStore::open(&config.redis, clock, policy_digest)?;
            Ok(Opened {
                buckets: heap_region(1)?,
                secret,
                epoch_ms,
                redis: Some(Box::new(store)),
            })
        }
        StoreKind::Shared => match &config.path {
            Some(path) => shared::open(
                path,
                config.capacity,
                config.mode.unwrap_or(DEFAULT_STORE_MODE),
                clock,
            ),
            None => Err(Error::policy("store.path", "the shared store needs a path")),
        },
    }
}

/// Opens the store the policy names for a manual clock that reads `now_ms`.
#[cfg(test)]
pub(crate) fn open(config: &StoreConfig, now_ms: u64) -> Result<Opened> {
    let clock = crate::clock::ManualClock::new();
    clock.set_ms(now_ms);
    open_for(config, &clock, 0)
}

pub(crate) fn fresh_secret() -> Result<[u8; SECRET_BYTES]> {
    let mut secret = [0u8; SECRET_BYTES];
    getrandom::fill(&mut secret)
        .map_err(|e| Error::Store(format!("no randomness for the hash secret: {e}")))?;
    Ok(secret)
}

/// The table's buckets, wherever they live.
#[derive(Debug)]
pub(crate) enum Region {
    Heap(memory::Heap, Box<Counters>),
    Mapped(shared::Mapped),
}

impl Deref for Region {
    type Target = [Bucket];
    fn deref(&self) -> &[Bucket] {
        match self {
            Region::Heap(h, _) => h,
            Region::Mapped(m) => m.buckets(),
        }
    }
}

impl Region {
    /// The statistics kept with the buckets.
    pub(crate) fn counters(&self) -> &Counters {
        match self {
            Region::Heap(_, c) => c,
            Region::Mapped(m) => m.counters(),
        }
    }

    /// Hints the CPU to fetch a bucket (both of its cache-line pairs).
    #[inline]
    pub(crate) fn prefetch(&self, bucket: usize) {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            let p = std::ptr::from_ref(&self[bucket]).cast::<i8>();
            // SAFETY: a prefetch is a hint; it never faults and reads nothing.
            #[allow(unused_unsafe)]
            unsafe {
                _mm_prefetch(p, _MM_HINT_T0);
                _mm_prefetch(p.wrapping_add(128), _MM_HINT_T0);
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = bucket;
    }
}
