//! The `redis` store: counters on Redis, Valkey or Redis Cluster, shared by
//! every host of a fleet. The rules stay the library's (`counter.rs`); Redis
//! holds each key's packed counter and replaces it only by compare-and-set.
//!
//! **Values.** A counter is the same 16 bytes as a table slot's state
//! (`table::pack`, little-endian), its 22-bit tag field holding a random
//! nonce drawn for every write: a write that Redis applied and the client
//! replays is recognized as its own (never counted twice), and a value that
//! went A → B → A between a read and a write is never mistaken for the one
//! read (no ABA).
//!
//! **Writes.** `script.lua` (run by `EVALSHA`; after `NOSCRIPT`, sent again
//! with `EVAL`, which caches it again)
//! compares the value with the one read (or predicted, see [`ValueCache`])
//! and sets the new one with its TTL in
//! one `SET .. PX`, or deletes it; on a conflict it returns the current value,
//! so the rule is applied again to it at the cost of one round trip, at most
//! [`MAX_ROUNDS`] times within the operation's deadline (with a random
//! backoff after many rounds). A `begin` that still loses the race is refused (`deny`, `degraded`, whatever
//! `on_error` says), so that no more than `lock_after + 1` attempts ever get
//! to check the password; a `record_failure` gets the `on_error` decision.
//!
//! **TTL.** Every key expires: a counter when it would be forgotten
//! (`forget_after` after its later of last failure and lock end), or after
//! `store.retain` while it holds a consecutive count or `reset_required` that
//! its rule uses; an account's index set lives as long as its longest key; the
//! meta key lives twice `store.retain` and is renewed every 30 seconds; the
//! site-wide window's key (`[site]`, see `site.rs`) lives two windows and
//! `calm_for` after its last write (a day and an hour more with
//! `baseline = "auto"`).
//!
//! **Meta key** (`{prefix}:meta`, written with `SET NX`, the first host's wins):
//! magic `LGREDIS\0`, layout version, hash id, clock kind, secret source,
//! epoch, policy digest, and the 192-byte hash secret (or, with
//! `store.secret_file`, the secret's digest). A host that finds the key
//! missing restores it from its own copy; one that finds another store's
//! blob fails to open (and later counts a mismatch in `stats`); a different
//! policy digest (a rolling deploy) is only counted.
//!
//! **Failure.** One deadline (`store.timeout`) bounds every operation,
//! connecting and retries included; then `store.on_error` decides, with
//! `degraded` set. After [`BREAKER_AFTER`] consecutive failures the circuit
//! opens: calls answer at once, and one call per [`BREAKER_PROBE`] probes the
//! server. On a cluster there is one circuit per 1024 hash slots (a call is
//! refused when one of its commands goes to an open one): a node that stops
//! answering opens its own slots' circuits, the others keep serving theirs.
//! There is no offline queue.
//!
//! **Lock cache.** A key seen locked or `reset_required` is remembered in this
//! process (at most [`MAX_CACHED`] keys) and answers `check` and `begin`
//! without a round trip until the lock ends, for at most [`LOCK_CACHE_MS`]
//! ms of real time after it was seen: a reset made by another host, or
//! failures other hosts add meanwhile, are seen at most that late (this
//! host's own writes and resets update its cache at once); meanwhile the
//! cached dimension decides (a severer state of another dimension shows from
//! the next round trip on).
//!
//! **Statistics.** Occupancy and capacity are 0 (Redis holds the keys);
//! `Stats::redis` has round trips, errors, degraded decisions, CAS retries,
//! and Redis's `evicted_keys` and whether its `maxmemory-policy` can evict
//! counters (anything but `noeviction`).

mod cluster;
mod conn;
mod keys;
mod meta;
mod site;

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use redis::{Cmd, RedisResult, Value};

pub(crate) use conn::Session;
use conn::{is_circuit_open, is_noscript, Pool, BUCKETS};
pub(crate) use keys::KeyName;
pub(crate) use site::{added, ended, started, window, Ended, SiteOp};

use crate::clock::{Clock, ClockKind};
use crate::counter::{Counter, RuleMs};
use crate::decision::{Action, Dimension};
use crate::error::{Error, Result};
use crate::fingerprint::SECRET_BYTES;
use crate::policy::{OnError, RedisClock, RedisConfig};
use crate::stats::RedisStats;
use crate::table::{pack, unpack, SlotKey, TAG_BITS};

/// Compare-and-set rounds per operation, each one round trip: at least one
/// contender wins each round, so in practice the deadline (`store.timeout`)
/// is what bounds a storm of writers on one key, not this.
pub(crate) const MAX_ROUNDS: usize = 1024;
/// Consecutive failures that open the circuit.
pub(crate) const BREAKER_AFTER: u32 = 3;
/// While the circuit is open, one call per this long probes the server.
pub(crate) const BREAKER_PROBE: Duration = Duration::from_millis(500);
/// Keys the lock cache holds.
pub(crate) const MAX_CACHED: usize = 4096;
/// How long the lock cache trusts what it saw.
pub(crate) const LOCK_CACHE_MS: u64 = 1000;
/// How often (on the guard's clock) the meta key and the clock offset are checked.
const REFRESH_MS: u64 = 30_000;

/// A value as read: its bytes (for the compare) and the counter they hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Read {
    pub(crate) raw: Option<Vec<u8>>,
    pub(crate) counter: Counter,
}

impl Read {
    fn from_bytes(raw: Option<Vec<u8>>) -> Read {
        let counter = raw
            .as_deref()
            .and_then(|b| <[u8; 16]>::try_from(b).ok())
            .map(|b| unpack(u128::from_le_bytes(b)))
            .unwrap_or_default();
        Read { raw, counter }
    }
}

/// One compare-and-set.
#[derive(Debug)]
pub(crate) struct Cas<'a> {
    pub(crate) key: &'a KeyName,
    pub(crate) expected: Option<&'a [u8]>,
    /// The new value's bytes, or `None` to delete.
    pub(crate) new: Option<[u8; 16]>,
    pub(crate) ttl_ms: u64,
}

/// What a compare-and-set did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum CasReply {
    Done,
    Conflict(Read),
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) round_trips: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) degraded: AtomicU64,
    pub(crate) cas_retries: AtomicU64,
    pub(crate) cas_exhausted: AtomicU64,
    pub(crate) lock_cache_hits: AtomicU64,
    pub(crate) meta_healed: AtomicU64,
    pub(crate) meta_mismatches: AtomicU64,
    pub(crate) policy_mismatches: AtomicU64,
}

/// The circuit breaker: real time, since it is about the server's health.
#[derive(Debug)]
struct Breaker {
    failures: AtomicU32,
    base: Instant,
    /// Milliseconds since `base` before which no probe goes out.
    next_probe: AtomicU64,
}

impl Breaker {
    fn elapsed(&self) -> u64 {
        self.base.elapsed().as_millis() as u64
    }

    fn is_open(&self) -> bool {
        self.failures.load(Relaxed) >= BREAKER_AFTER
    }

    /// Whether a call may go to the server now.
    fn admit(&self) -> bool {
        if !self.is_open() {
            return true;
        }
        let now = self.elapsed();
        let at = self.next_probe.load(Relaxed);
        now >= at
            && self
                .next_probe
                .compare_exchange(at, now + BREAKER_PROBE.as_millis() as u64, Relaxed, Relaxed)
                .is_ok()
    }

    fn success(&self) {
        if self.failures.load(Relaxed) != 0 {
            self.failures.store(0, Relaxed);
        }
    }

    fn failure(&self) {
        if self.failures.fetch_add(1, Relaxed) + 1 == BREAKER_AFTER {
            self.next_probe
                .store(self.elapsed() + BREAKER_PROBE.as_millis() as u64, Relaxed);
        }
    }
}

/// A key seen locked or `reset_required`.
#[derive(Debug, Clone, Copy)]
struct Cached {
    counter: Counter,
    owner: u64,
    /// The lock's end on the store's clock (`u64::MAX` for `reset_required`).
    until: u64,
    /// When it was seen, in real time: the cache trusts it for [`LOCK_CACHE_MS`].
    seen: Instant,
}

/// This process's memory of running locks (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct LockCache {
    map: Mutex<HashMap<u64, Cached>>,
}

impl Cached {
    fn fresh(&self, now: u64) -> bool {
        now < self.until && self.seen.elapsed() < Duration::from_millis(LOCK_CACHE_MS)
    }
}

impl LockCache {
    /// The cached counter of `key`, if it is still to be trusted at `now`.
    pub(crate) fn get(&self, key: &SlotKey, now: u64) -> Option<Counter> {
        let map = self.map.lock();
        if map.is_empty() {
            return None;
        }
        map.get(&key.fp())
            .filter(|c| c.fresh(now))
            .map(|c| c.counter)
    }

    /// Remembers `counter` if it refuses the password at `now`, else forgets the key.
    pub(crate) fn note(&self, key: &SlotKey, counter: Counter, now: u64, rule: &RuleMs) {
        let verdict = counter.verdict(now, rule);
        let until = match verdict.action {
            Action::Deny => now + verdict.retry_after_ms.unwrap_or(0),
            Action::ResetRequired => u64::MAX,
            _ => {
                let mut map = self.map.lock();
                if !map.is_empty() {
                    map.remove(&key.fp());
                }
                return;
            }
        };
        let mut map = self.map.lock();
        if map.len() >= MAX_CACHED && !map.contains_key(&key.fp()) {
            map.retain(|_, c| c.fresh(now));
            if map.len() >= MAX_CACHED {
                return;
            }
        }
        map.insert(
            key.fp(),
            Cached {
                counter,
                owner: key.owner(),
                until,
                seen: Instant::now(),
            },
        );
    }

    pub(crate) fn forget(&self, key: &SlotKey) {
        self.map.lock().remove(&key.fp());
    }

    pub(crate) fn forget_owner(&self, owner: u64) {
        self.map.lock().retain(|_, c| c.owner != owner);
    }
}

/// Stripes of [`WriteLocks`] (a power of two).
const STRIPES: usize = 1024;

/// The writes of this process to one key take turns: a thread that would
/// write a key another thread of the process is writing waits for it (up to
/// its deadline) rather than racing it to Redis, where all but one of them
/// would lose the compare-and-set and go again, round after round (32 threads
/// on one hot key lost up to a thousand rounds, and some their deadline). The
/// one after then predicts the value right. Keys hash to [`STRIPES`] mutexes;
/// a child of `fork()` makes its own (the parent's may be held by a thread
/// the child does not have).
#[derive(Debug)]
pub(crate) struct WriteLocks {
    stripes: Mutex<(u32, std::sync::Arc<[Mutex<()>]>)>,
}

impl Default for WriteLocks {
    fn default() -> WriteLocks {
        WriteLocks {
            stripes: Mutex::new((std::process::id(), Self::fresh())),
        }
    }
}

impl WriteLocks {
    fn fresh() -> std::sync::Arc<[Mutex<()>]> {
        (0..STRIPES).map(|_| Mutex::new(())).collect()
    }

    /// This process's stripes.
    pub(crate) fn stripes(&self) -> std::sync::Arc<[Mutex<()>]> {
        let me = std::process::id();
        let mut s = self.stripes.lock();
        if s.0 != me {
            *s = (me, Self::fresh());
        }
        s.1.clone()
    }

    /// Holds the stripes of `keys` (in order, so that two calls never wait
    /// on each other), or `None` when `deadline` passes first.
    pub(crate) fn hold<'a>(
        stripes: &'a [Mutex<()>],
        keys: impl Iterator<Item = &'a KeyName>,
        deadline: Instant,
    ) -> Option<Vec<parking_lot::MutexGuard<'a, ()>>> {
        let mut at: Vec<usize> = keys
            .map(|k| (k.id.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40) as usize & (STRIPES - 1))
            .collect();
        at.sort_unstable();
        at.dedup();
        at.into_iter()
            .map(|i| stripes[i].try_lock_until(deadline))
            .collect()
    }
}

/// Entries of the value cache (a power of two): 40 bytes each, 2.5 MiB.
pub(crate) const GUESSES: usize = 1 << 16;

/// One remembered value: the key's id (0: empty), its bytes, and when Redis
/// drops it (ms after the cache's `base`, from the TTL this process wrote;
/// 0 when it only read the value).
#[derive(Debug, Clone, Copy, Default)]
struct Guess {
    id: u64,
    bytes: [u8; 16],
    expires: u64,
}

/// This process's memory of the values it last read or wrote, so that a
/// write can be sent at once, as a compare-and-set against the value
/// predicted (absent for a key not remembered): right, it costs one round
/// trip; wrong, Redis answers with the current value and the rule runs again
/// on it, as after any other host's write. Direct-mapped ([`GUESSES`]
/// entries, one lock each): a key pushes out the one before it in its entry,
/// and a guess is only ever a guess, never trusted without the compare.
#[derive(Debug)]
pub(crate) struct ValueCache {
    base: Instant,
    entries: Box<[Mutex<Guess>]>,
}

impl Default for ValueCache {
    fn default() -> ValueCache {
        ValueCache {
            base: Instant::now(),
            entries: (0..GUESSES).map(|_| Mutex::new(Guess::default())).collect(),
        }
    }
}

impl ValueCache {
    fn entry(&self, id: u64) -> &Mutex<Guess> {
        let at = (id.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) as usize & (GUESSES - 1);
        &self.entries[at]
    }

    fn now_ms(&self) -> u64 {
        self.base.elapsed().as_millis() as u64
    }

    /// The value `key` is predicted to hold (absent when not remembered, or
    /// past the TTL this process wrote).
    pub(crate) fn guess(&self, key: &KeyName) -> Read {
        let g = *self.entry(key.id).lock();
        if g.id != key.id || (g.expires != 0 && self.now_ms() >= g.expires) {
            return Read::default();
        }
        Read::from_bytes(Some(g.bytes.to_vec()))
    }

    /// Remembers what `key` holds: `read` as read (or as a conflict returned
    /// it), and its TTL in ms when this process wrote it.
    pub(crate) fn note(&self, key: &KeyName, read: &Read, ttl_ms: Option<u64>) {
        let bytes = read
            .raw
            .as_deref()
            .and_then(|b| <[u8; 16]>::try_from(b).ok());
        let expires = ttl_ms.map_or(0, |ms| self.now_ms().saturating_add(ms).max(1));
        let mut e = self.entry(key.id).lock();
        match bytes {
            Some(bytes) => {
                *e = Guess {
                    id: key.id,
                    bytes,
                    expires,
                }
            }
            // Absent (or not a counter): predicted absent, as when forgotten.
            None if e.id == key.id => *e = Guess::default(),
            None => {}
        }
    }
}

/// An opened redis store.
pub(crate) struct RedisStore {
    pool: Pool,
    prefix: String,
    timeout: Duration,
    pub(crate) on_error: OnError,
    clock: RedisClock,
    retain_ms: u64,
    offset_ms: AtomicI64,
    next_refresh: AtomicU64,
    blob: Vec<u8>,
    meta_key: String,
    /// One circuit breaker for a server; on a cluster, one per [`BUCKETS`]th of the hash slots.
    breakers: Vec<Breaker>,
    pub(crate) locks: LockCache,
    pub(crate) values: ValueCache,
    pub(crate) writes: WriteLocks,
    pub(crate) counters: Counters,
    cas: Script,
    reset: Script,
    site: Script,
    /// `{prefix}:{site}`: the site-wide window (see `site.rs`).
    site_key: String,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

fn store_error(e: impl std::fmt::Display) -> Error {
    Error::Store(format!("redis: {e}"))
}

/// A fresh 22-bit write nonce, never `not` (the value being replaced).
///
/// The generator is seeded per thread and per process: a child of `fork()`
/// inherits its parent's thread-local state, and drawing the parent's nonces
/// would make one process's write look like a replay of the other's.
fn nonce(not: Option<&[u8]>) -> u32 {
    use std::cell::Cell;
    thread_local!(static STATE: Cell<(u32, u64)> = const { Cell::new((0, 0)) });
    let old = not
        .and_then(|b| <[u8; 16]>::try_from(b).ok())
        .map(|b| (u128::from_le_bytes(b) >> 106) as u32);
    let pid = std::process::id();
    STATE.with(|s| loop {
        let (seeded_by, mut x) = s.get();
        if x == 0 || seeded_by != pid {
            let mut seed = [0u8; 8];
            let _ = getrandom::fill(&mut seed);
            x = u64::from_le_bytes(seed) | 1;
        }
        // xorshift64*
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        s.set((pid, x));
        let n = (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 40) as u32 & ((1 << TAG_BITS) - 1);
        if Some(n) != old {
            return n;
        }
    })
}

/// Waits before compare-and-set round `round` (from 1) after a conflict:
/// nothing for the first rounds (the conflict returned the current value, and
/// waiting only ages it); from the 8th, a random part of up to a few round
/// trips, so that a storm of writers on one key spreads out.
pub(crate) fn backoff(round: usize, last_round_trip: Duration) {
    if round < 8 {
        return;
    }
    let span = last_round_trip.saturating_mul((round / 8).min(4) as u32);
    let wait = span.mul_f64(f64::from(nonce(None)) / f64::from(1u32 << TAG_BITS));
    if !wait.is_zero() {
        std::thread::sleep(wait.min(Duration::from_millis(20)));
    }
}

/// Whether a counter holds nothing worth keeping (then the key is deleted).
fn is_empty(c: &Counter) -> bool {
    c.count == 0 && c.consecutive == 0 && !c.reset_required && c.locks == 0 && !c.lock_end
}

fn bytes_of(v: Value) -> RedisResult<Option<Vec<u8>>> {
    match v {
        Value::Nil => Ok(None),
        Value::BulkString(b) => Ok(Some(b)),
        Value::SimpleString(s) => Ok(Some(s.into_bytes())),
        other => Err(redis::RedisError::from((
            redis::ErrorKind::UnexpectedReturnType,
            "unexpected reply",
            format!("{other:?}"),
        ))),
    }
}

impl RedisStore {
    /// Opens the store: reads (or creates) the meta key and samples the
    /// clock offset. Returns the store, the hash secret and the epoch.
    pub(crate) fn open(
        config: &RedisConfig,
        clock: &dyn Clock,
        policy_digest: u64,
    ) -> Result<(RedisStore, [u8; SECRET_BYTES], u64)> {
        let pool = Pool::new(
            config.url.as_deref(),
            &config.cluster,
            config.timeout,
            config.connect_timeout,
        )
        .map_err(store_error)?;
        let from_file = match &config.secret_file {
            Some(path) => Some(meta::read_secret(path)?),
            None => None,
        };
        let base = Instant::now();
        let breakers = (0..if pool.single() { 1 } else { BUCKETS })
            .map(|_| Breaker {
                failures: AtomicU32::new(0),
                base,
                next_probe: AtomicU64::new(0),
            })
            .collect();
        let mut store = RedisStore {
            pool,
            prefix: config.prefix.clone(),
            timeout: config.timeout,
            on_error: config.on_error,
            clock: config.clock,
            retain_ms: config.retain.as_millis() as u64,
            offset_ms: AtomicI64::new(0),
            next_refresh: AtomicU64::new(0),
            blob: Vec::new(),
            meta_key: keys::meta(&config.prefix),
            breakers,
            locks: LockCache::default(),
            values: ValueCache::default(),
            writes: WriteLocks::default(),
            counters: Counters::default(),
            cas: Script::new(include_str!("script.lua")),
            reset: Script::new(include_str!("reset.lua")),
            site: Script::new(include_str!("site.lua")),
            site_key: keys::site(&config.prefix),
        };
        let deadline = Instant::now()
            + (config.connect_timeout + 2 * config.timeout).max(Duration::from_secs(1));
        let kind = match config.clock {
            RedisClock::Redis => ClockKind::UnixMs,
            RedisClock::Host => clock.kind(),
        };
        let secret = match from_file {
            Some(s) => s,
            None => super::fresh_secret()?,
        };
        let stored = store
            .pool
            .with(deadline, &store.counters.round_trips, &|_| true, |s| {
                let offset = store.sample_offset(s, clock)?;
                store.offset_ms.store(offset, Relaxed);
                let epoch = match config.clock {
                    RedisClock::Redis => clock.now_ms().saturating_add_signed(offset),
                    RedisClock::Host => clock.now_ms(),
                };
                let candidate = meta::Meta {
                    clock: kind,
                    from_file: from_file.is_some(),
                    epoch,
                    policy_digest,
                    secret,
                }
                .encode();
                let replies = s.pipeline(&[
                    store.meta_set_cmd(&candidate),
                    redis::cmd("GET").arg(&store.meta_key).clone(),
                ])?;
                bytes_of(replies.into_iter().nth(1).unwrap_or(Value::Nil))
            })
            .result
            .map_err(store_error)?
            .ok_or_else(|| store_error("the meta key vanished while being created"))?;
        let mut found = meta::Meta::decode(&stored)
            .map_err(|why| Error::Store(format!("redis: {} {why}", store.meta_key)))?;
        found
            .fits(kind, from_file.as_ref())
            .map_err(|why| Error::Store(format!("redis: {} {why}", store.meta_key)))?;
        if found.policy_digest != policy_digest {
            store.counters.policy_mismatches.fetch_add(1, Relaxed);
        }
        let (secret, epoch) = (found.secret, found.epoch);
        store.blob = stored;
        store
            .next_refresh
            .store(clock.now_ms().saturating_add(REFRESH_MS), Relaxed);
        Ok((store, secret, epoch))
    }

    fn meta_ttl_ms(&self) -> u64 {
        self.retain_ms.saturating_mul(2)
    }

    fn meta_set_cmd(&self, blob: &[u8]) -> Cmd {
        redis::cmd("SET")
            .arg(&self.meta_key)
            .arg(blob)
            .arg("NX")
            .arg("PX")
            .arg(self.meta_ttl_ms())
            .clone()
    }

    /// `TIME` against the guard's clock: Redis's time minus the clock's at
    /// the middle of the round trip.
    fn sample_offset(&self, s: &mut Session<'_>, clock: &dyn Clock) -> RedisResult<i64> {
        let t0 = clock.now_ms();
        let v = s.query(&redis::cmd("TIME"))?;
        let t1 = clock.now_ms();
        let (secs, micros): (u64, u64) = redis::from_redis_value(v)?;
        let server = secs * 1000 + micros / 1000;
        Ok(server as i64 - (t0 / 2 + t1 / 2) as i64)
    }

    /// Milliseconds on the store's clock (Unix ms with `clock = "redis"`).
    pub(crate) fn now_ms(&self, clock: &dyn Clock) -> u64 {
        let host = clock.now_ms();
        match self.clock {
            RedisClock::Host => host,
            RedisClock::Redis => host.saturating_add_signed(self.offset_ms.load(Relaxed)),
        }
    }

    /// Every 30 seconds of the guard's clock: heal the meta key, check it,
    /// and sample the clock offset again.
    fn maybe_refresh(
        &self,
        s: &mut Session<'_>,
        clock: &dyn Clock,
        force: bool,
    ) -> RedisResult<()> {
        let now = clock.now_ms();
        let at = self.next_refresh.load(Relaxed);
        if !force
            && (now < at
                || self
                    .next_refresh
                    .compare_exchange(at, now.saturating_add(REFRESH_MS), Relaxed, Relaxed)
                    .is_err())
        {
            return Ok(());
        }
        let replies = s.pipeline(&[
            self.meta_set_cmd(&self.blob),
            redis::cmd("GET").arg(&self.meta_key).clone(),
            redis::cmd("PEXPIRE")
                .arg(&self.meta_key)
                .arg(self.meta_ttl_ms())
                .clone(),
        ])?;
        let mut it = replies.into_iter();
        if matches!(it.next(), Some(Value::Okay)) {
            self.counters.meta_healed.fetch_add(1, Relaxed);
        }
        let stored = bytes_of(it.next().unwrap_or(Value::Nil))?;
        if let Some(stored) = stored {
            if stored != self.blob {
                if meta::same_store(&stored, &self.blob) {
                    self.counters.policy_mismatches.fetch_add(1, Relaxed);
                } else {
                    self.counters.meta_mismatches.fetch_add(1, Relaxed);
                }
            }
        }
        if self.clock == RedisClock::Redis {
            let offset = self.sample_offset(s, clock)?;
            self.offset_ms.store(offset, Relaxed);
        }
        Ok(())
    }

    /// Runs one operation within `store.timeout`; `None` when Redis could not
    /// answer in time (or the circuit is open).
    pub(crate) fn run<T>(
        &self,
        clock: &dyn Clock,
        f: impl FnOnce(&Self, &mut Session<'_>) -> RedisResult<T>,
    ) -> std::result::Result<T, String> {
        self.run_until(self.deadline(), clock, f)
    }

    /// The deadline of an operation that starts now.
    pub(crate) fn deadline(&self) -> Instant {
        Instant::now() + self.timeout
    }

    /// [`RedisStore::run`] with the operation's deadline set earlier (its
    /// wait for [`WriteLocks`] counts).
    pub(crate) fn run_until<T>(
        &self,
        deadline: Instant,
        clock: &dyn Clock,
        f: impl FnOnce(&Self, &mut Session<'_>) -> RedisResult<T>,
    ) -> std::result::Result<T, String> {
        let gate = |b: usize| self.breakers[b].admit();
        let outcome = self
            .pool
            .with(deadline, &self.counters.round_trips, &gate, |s| {
                match self.maybe_refresh(s, clock, false) {
                    // The meta key's node is out: count on without it, and
                    // check it again on the next call.
                    Err(e) if is_circuit_open(&e) => self.next_refresh.store(0, Relaxed),
                    other => other?,
                }
                f(self, s)
            });
        let each = |bits: u64, what: fn(&Breaker)| {
            for (b, breaker) in self.breakers.iter().enumerate() {
                if bits & (1 << b) != 0 {
                    what(breaker);
                }
            }
        };
        match outcome.result {
            Ok(v) => {
                each(outcome.touched, Breaker::success);
                Ok(v)
            }
            Err(e) if is_circuit_open(&e) => Err(e.to_string()),
            Err(e) => {
                // The bucket whose command got no answer; else every one
                // the operation went to (all, when none could be reached).
                let bits = match (outcome.failed, outcome.touched) {
                    (Some(b), _) => 1 << b,
                    (None, 0) => u64::MAX,
                    (None, touched) => touched,
                };
                each(bits, Breaker::failure);
                self.counters.errors.fetch_add(1, Relaxed);
                // The server may come back empty (a restart, a failover):
                // the first call that gets through checks the meta key.
                self.next_refresh.store(0, Relaxed);
                Err(e.to_string())
            }
        }
    }

    /// Like [`RedisStore::run`], for administrative calls that report errors.
    pub(crate) fn run_admin<T>(
        &self,
        clock: &dyn Clock,
        f: impl FnOnce(&Self, &mut Session<'_>) -> RedisResult<T>,
    ) -> Result<T> {
        self.run(clock, f).map_err(store_error)
    }

    pub(crate) fn name(&self, key: &SlotKey, dimension: Dimension) -> KeyName {
        keys::counter(&self.prefix, key, dimension)
    }

    /// `GET`s the keys in one round trip; with `site`, the site key's
    /// `HGETALL` goes in the same pipeline (its reply comes back apart).
    pub(crate) fn get_many(
        &self,
        s: &mut Session<'_>,
        names: &[&KeyName],
        site: bool,
    ) -> RedisResult<(Vec<Read>, Option<Value>)> {
        if names.is_empty() && !site {
            return Ok((Vec::new(), None));
        }
        let mut cmds: Vec<Cmd> = names
            .iter()
            .map(|n| redis::cmd("GET").arg(&n.counter).clone())
            .collect();
        if site {
            cmds.push(self.site_read_cmd());
        }
        let mut replies = s.pipeline(&cmds)?;
        let site = if site { replies.pop() } else { None };
        let reads = replies
            .into_iter()
            .map(|v| bytes_of(v).map(Read::from_bytes))
            .collect::<RedisResult<Vec<Read>>>()?;
        Ok((reads, site))
    }

    /// The value and TTL to write for `new` at `now` under `rule`: `None` deletes.
    pub(crate) fn encode(
        &self,
        new: &Counter,
        replacing: Option<&[u8]>,
        now: u64,
        rule: &RuleMs,
    ) -> (Option<[u8; 16]>, u64) {
        if is_empty(new) {
            return (None, 0);
        }
        let forget = new
            .quiet_since
            .saturating_add(rule.forget_after)
            .saturating_sub(now)
            .max(1);
        let ttl = if rule.reset_after.is_some() && (new.consecutive > 0 || new.reset_required) {
            forget.max(self.retain_ms)
        } else {
            forget
        };
        (Some(pack(new, nonce(replacing)).to_le_bytes()), ttl)
    }

    /// Runs the compare-and-set script on every op in one round trip; with
    /// `extra` (a script command, given whether to send it by body), that
    /// command goes in the same pipeline and its reply comes back apart.
    pub(crate) fn cas_many(
        &self,
        s: &mut Session<'_>,
        ops: &[Cas<'_>],
        extra: Option<&dyn Fn(bool) -> Cmd>,
    ) -> RedisResult<(Vec<CasReply>, Option<Value>)> {
        if ops.is_empty() && extra.is_none() {
            return Ok((Vec::new(), None));
        }
        let cas = |op: &Cas<'_>, by_body: bool| -> Cmd {
            let mut c = script_cmd(&self.cas, by_body);
            match &op.key.index {
                Some(index) => c.arg(2).arg(&op.key.counter).arg(index),
                None => c.arg(1).arg(&op.key.counter),
            };
            c.arg(op.expected.unwrap_or(b""))
                .arg(op.new.as_ref().map_or(&b""[..], |b| &b[..]))
                .arg(op.ttl_ms.max(1))
                .arg(op.ttl_ms.max(1));
            c
        };
        let cmd = |i: usize, by_body: bool| -> Cmd {
            match ops.get(i) {
                Some(op) => cas(op, by_body),
                None => extra.map_or_else(Cmd::new, |e| e(by_body)),
            }
        };
        let count = ops.len() + usize::from(extra.is_some());
        let all: Vec<Cmd> = (0..count).map(|i| cmd(i, false)).collect();
        let mut replies = s.pipeline_each(&all)?;
        let missing: Vec<usize> = (0..replies.len())
            .filter(|&i| matches!(&replies[i], Err(e) if is_noscript(e)))
            .collect();
        if !missing.is_empty() {
            // The commands refused with NOSCRIPT did not run: only they go
            // again (the others may have run, and sent again after another
            // host's write they would read as conflicts). EVAL sends the
            // script itself (and caches it again), so the ACL needs no
            // SCRIPT LOAD.
            self.next_refresh.store(0, Relaxed); // a new server: check the meta key
            let again: Vec<Cmd> = missing.iter().map(|&i| cmd(i, true)).collect();
            for (i, reply) in missing.into_iter().zip(s.pipeline_each(&again)?) {
                replies[i] = reply;
            }
        }
        let extra = match extra {
            Some(_) => Some(replies.pop().expect("the extra command's reply")?),
            None => None,
        };
        let cas = replies
            .into_iter()
            .map(|r| match r? {
                Value::Int(1) => Ok(CasReply::Done),
                v => bytes_of(v)
                    .map(|b| CasReply::Conflict(Read::from_bytes(b.filter(|b| !b.is_empty())))),
            })
            .collect::<RedisResult<Vec<CasReply>>>()?;
        Ok((cas, extra))
    }

    /// Deletes every key of the account whose owner fingerprint is `owner`.
    pub(crate) fn reset_account(
        &self,
        s: &mut Session<'_>,
        owner: u64,
        account: &KeyName,
    ) -> RedisResult<()> {
        let index = keys::index(&self.prefix, owner);
        let cmd = |by_body: bool| {
            let mut c = script_cmd(&self.reset, by_body);
            c.arg(2).arg(&index).arg(&account.counter);
            c
        };
        match s.query(&cmd(false)) {
            Err(e) if is_noscript(&e) => s.query(&cmd(true)).map(drop),
            other => other.map(drop),
        }
    }

    /// Deletes one key.
    pub(crate) fn delete(&self, s: &mut Session<'_>, name: &KeyName) -> RedisResult<()> {
        s.query(redis::cmd("DEL").arg(&name.counter)).map(drop)
    }

    /// The store's statistics; asks Redis for `INFO` (and heals the meta
    /// key), and runs `also` within the same deadline (`None` when Redis
    /// could not answer).
    pub(crate) fn stats<T>(
        &self,
        clock: &dyn Clock,
        also: impl FnOnce(&Self, &mut Session<'_>) -> RedisResult<T>,
    ) -> (RedisStats, Option<T>) {
        let (info, also) = match self.run(clock, |store, s| {
            store.maybe_refresh(s, clock, true)?;
            let info = s.query(&redis::cmd("INFO"))?;
            Ok((info, also(store, s)?))
        }) {
            Ok((info, also)) => (Some(info), Some(also)),
            Err(_) => (None, None),
        };
        let mut texts = Vec::new();
        if let Some(v) = info {
            collect_text(v, &mut texts);
        }
        let mut evicted = None::<u64>;
        let mut evicting = None::<bool>;
        let mut used = None::<u64>;
        for text in &texts {
            for line in text.lines() {
                let Some((k, v)) = line.trim().split_once(':') else {
                    continue;
                };
                match k {
                    "evicted_keys" => {
                        *evicted.get_or_insert(0) += v.parse::<u64>().unwrap_or(0);
                    }
                    "used_memory" => *used.get_or_insert(0) += v.parse::<u64>().unwrap_or(0),
                    "maxmemory_policy" => {
                        *evicting.get_or_insert(false) |= v != "noeviction";
                    }
                    _ => {}
                }
            }
        }
        let c = &self.counters;
        let stats = RedisStats {
            round_trips: c.round_trips.load(Relaxed),
            errors: c.errors.load(Relaxed),
            degraded: c.degraded.load(Relaxed),
            cas_retries: c.cas_retries.load(Relaxed),
            cas_exhausted: c.cas_exhausted.load(Relaxed),
            lock_cache_hits: c.lock_cache_hits.load(Relaxed),
            meta_healed: c.meta_healed.load(Relaxed),
            meta_mismatches: c.meta_mismatches.load(Relaxed),
            policy_mismatches: c.policy_mismatches.load(Relaxed),
            circuit_open: self.breakers.iter().any(Breaker::is_open),
            evicted_keys: evicted,
            may_evict_counters: evicting,
            used_memory: used,
        };
        (stats, also)
    }
}

/// `EVALSHA <sha1>`, or (`by_body`, after `NOSCRIPT`) `EVAL <script>`.
fn script_cmd(script: &Script, by_body: bool) -> Cmd {
    let mut c = redis::cmd(if by_body { "EVAL" } else { "EVALSHA" });
    if by_body {
        c.arg(script.body);
    } else {
        c.arg(&script.sha1);
    }
    c
}

/// A Lua script and its SHA-1 (as `EVALSHA` names it).
#[derive(Debug)]
struct Script {
    body: &'static str,
    sha1: String,
}

impl Script {
    fn new(body: &'static str) -> Script {
        Script {
            body,
            sha1: redis::Script::new(body).get_hash().to_string(),
        }
    }
}

/// Every text in a reply (a cluster answers `INFO` once per node).
fn collect_text(v: Value, out: &mut Vec<String>) {
    match v {
        Value::BulkString(b) => out.push(String::from_utf8_lossy(&b).into_owned()),
        Value::VerbatimString { text, .. } => out.push(text),
        Value::SimpleString(s) => out.push(s),
        Value::Array(items) | Value::Set(items) => {
            for i in items {
                collect_text(i, out);
            }
        }
        Value::Map(pairs) => {
            for (_, v) in pairs {
                collect_text(v, out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::nonce;

    /// A child of `fork()` draws nonces of its own: the same sequence as its
    /// parent would turn one process's write into a "replay" of the other's.
    #[test]
    fn a_forked_child_draws_other_nonces_than_its_parent() {
        nonce(None); // seed this thread's generator before the fork
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        // SAFETY: the child only draws nonces, writes them and leaves with _exit.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        let draw = || -> [u32; 4] { std::array::from_fn(|_| nonce(None)) };
        if pid == 0 {
            let mine = draw();
            // SAFETY: writes the child's nonces to the pipe, then ends the child.
            unsafe {
                libc::write(fds[1], mine.as_ptr().cast(), std::mem::size_of_val(&mine));
                libc::_exit(0);
            }
        }
        let ours = draw();
        let mut theirs = [0u32; 4];
        // SAFETY: reads at most the buffer's size from the pipe.
        let n = unsafe {
            libc::read(
                fds[0],
                theirs.as_mut_ptr().cast(),
                std::mem::size_of_val(&theirs),
            )
        };
        let mut status = 0;
        // SAFETY: waits for the child this test forked.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        assert_eq!(n as usize, std::mem::size_of_val(&theirs));
        assert_ne!(ours, theirs, "parent and child drew the same nonces");
    }
}
