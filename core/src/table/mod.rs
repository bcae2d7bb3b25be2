//! The fixed-capacity table: buckets of 8 slots, found by keyed fingerprint,
//! updated by compare-and-swap. Lock-free and allocation-free after
//! construction; full buckets evict empty, then expired, then least-failed
//! keys, and refuse an insert rather than evict a protected one.

mod slot;

use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};

use crate::counter::{Counter, RuleMs};
use crate::decision::Dimension;
use crate::stats::Counters;
use crate::store::Region;
pub(crate) use slot::MAX_TIME;
use slot::{fresh, pack, tag_of, unpack, Slot, TAG_BITS};

pub(crate) const BUCKET_SLOTS: usize = 8;

/// Eight slots, 256 bytes, on cache-line boundaries. All-zero bytes are a
/// valid bucket: every slot empty.
#[repr(C, align(64))]
#[derive(Debug, Default)]
pub(crate) struct Bucket {
    slots: [Slot; BUCKET_SLOTS],
}

/// Where a key lives and how it is recognized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SlotKey {
    fp: u64,
    tag: u32,
    bucket: usize,
    owner: u64,
}

/// What an update did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Updated {
    /// The closure's new state was stored over `old`.
    Changed { old: Counter, new: Counter },
    /// The closure declined to change `current`.
    Unchanged(Counter),
    /// The key is not in the table and was not inserted.
    Absent,
    /// The key is not in the table and every candidate slot is protected.
    Refused,
}

#[derive(Debug)]
pub(crate) struct Table {
    buckets: Region,
}

impl Table {
    /// A table over `buckets` (zeroed memory, or a store's existing counters).
    pub(crate) fn new(buckets: Region) -> Table {
        Table { buckets }
    }

    /// The statistics that live with the table.
    pub(crate) fn counters(&self) -> &Counters {
        self.buckets.counters()
    }

    /// Whether other processes share this table.
    pub(crate) fn is_shared(&self) -> bool {
        matches!(self.buckets, Region::Mapped(_))
    }

    /// Slots in the table (at least the capacity asked for).
    pub(crate) fn slots(&self) -> usize {
        self.buckets.len() * BUCKET_SLOTS
    }

    /// Bytes the table holds.
    pub(crate) fn bytes(&self) -> usize {
        std::mem::size_of_val(&*self.buckets)
    }

    pub(crate) fn key(&self, fp: u64, dimension: Dimension, owner: u64) -> SlotKey {
        // The high 32 bits pick the bucket (multiply-shift: any bucket count);
        // the stored word keeps the rest, with the dimension in the low bits.
        let bucket = (((fp >> 32) * self.buckets.len() as u64) >> 32) as usize;
        SlotKey {
            fp: (fp & !7) | 4 | dimension as u64,
            tag: ((fp >> 3) & ((1 << TAG_BITS) - 1)) as u32,
            bucket,
            owner,
        }
    }

    /// Hints the CPU to fetch the key's bucket: the probes of one attempt's
    /// dimensions then miss the cache in parallel rather than one by one.
    #[inline]
    pub(crate) fn prefetch(&self, key: &SlotKey) {
        self.buckets.prefetch(key.bucket);
    }

    fn find(&self, key: &SlotKey) -> Option<&Slot> {
        self.buckets[key.bucket]
            .slots
            .iter()
            .find(|s| s.fp.load(Acquire) == key.fp)
    }

    /// The key's counter, if the table tracks it.
    pub(crate) fn get(&self, key: &SlotKey) -> Option<Counter> {
        let state = self.find(key)?.state.load(Acquire);
        (tag_of(state) == key.tag).then(|| unpack(state))
    }

    /// Applies `f` to the key's counter with compare-and-swap until it sticks.
    /// `f` returns `None` to leave the counter as it is. With `insert`, a key
    /// not yet tracked is given a slot (evicting if need be) and starts empty.
    pub(crate) fn update<F>(
        &self,
        key: &SlotKey,
        insert: Option<(&[RuleMs; 4], u64)>,
        mut f: F,
    ) -> Updated
    where
        F: FnMut(Counter) -> Option<Counter>,
    {
        'find: loop {
            let slot = match self.find(key) {
                Some(slot) => slot,
                None => match insert {
                    None => return Updated::Absent,
                    Some((rules, now)) => match self.claim(key, rules, now) {
                        // Update through `find`, like everyone else: should a
                        // concurrent claim of this key have landed in an
                        // earlier slot, both claimers count on that one.
                        Claim::Claimed | Claim::Retry => continue 'find,
                        Claim::Refused => return Updated::Refused,
                    },
                },
            };
            let mut current = slot.state.load(Acquire);
            loop {
                if tag_of(current) != key.tag {
                    if slot.fp.load(Acquire) != key.fp {
                        continue 'find; // evicted meanwhile
                    }
                    // Claimed for this key but not yet reset: finish the claim.
                    match slot
                        .state
                        .compare_exchange(current, fresh(key.tag), AcqRel, Acquire)
                    {
                        Ok(_) => current = fresh(key.tag),
                        Err(seen) => current = seen,
                    }
                    continue;
                }
                let old = unpack(current);
                let Some(new) = f(old) else {
                    return Updated::Unchanged(old);
                };
                match slot.state.compare_exchange_weak(
                    current,
                    pack(&new, key.tag),
                    AcqRel,
                    Acquire,
                ) {
                    Ok(_) => return Updated::Changed { old, new },
                    Err(seen) => current = seen,
                }
            }
        }
    }

    /// Takes a slot for `key`: the first empty one, else the unprotected one
    /// ranked lowest (expired first, then least failed).
    fn claim(&self, key: &SlotKey, rules: &[RuleMs; 4], now: u64) -> Claim {
        let slots = &self.buckets[key.bucket].slots;
        let mut best: Option<(usize, u64, (u32, u32))> = None;
        for (i, slot) in slots.iter().enumerate() {
            let fp = slot.fp.load(Acquire);
            if fp == key.fp {
                // Another thread claimed it since `find`: use that slot.
                return Claim::Retry;
            }
            if fp == 0 {
                best = Some((i, 0, (0, 0)));
                break;
            }
            let state = slot.state.load(Acquire);
            if tag_of(state) == key.tag {
                // Same tag: a stale updater of the old key could not tell them apart.
                continue;
            }
            let rule = &rules[(fp & 3) as usize];
            if let Some(rank) = unpack(state).eviction_rank(now, rule) {
                if best.is_none_or(|(_, _, r)| rank < r) {
                    best = Some((i, fp, rank));
                }
            }
        }
        let Some((i, victim, _)) = best else {
            self.counters().refused_inserts.fetch_add(1, Relaxed);
            return Claim::Refused;
        };
        let slot = &slots[i];
        if slot
            .fp
            .compare_exchange(victim, key.fp, AcqRel, Acquire)
            .is_err()
        {
            return Claim::Retry;
        }
        if victim != 0 {
            self.counters().evictions.fetch_add(1, Relaxed);
        }
        slot.owner.store(key.owner, Release);
        let mut current = slot.state.load(Acquire);
        while tag_of(current) != key.tag {
            match slot
                .state
                .compare_exchange(current, fresh(key.tag), AcqRel, Acquire)
            {
                Ok(_) => break,
                Err(seen) => current = seen,
            }
        }
        Claim::Claimed
    }

    /// Clears the counters of every slot of `owner` (an account's
    /// `account`, `account_ip` and `device` keys). A scan: a cold path.
    pub(crate) fn clear_owned(&self, owner: u64) -> usize {
        let mut cleared = 0;
        for slot in self.buckets.iter().flat_map(|b| &b.slots) {
            if slot.owner.load(Acquire) == owner && slot.fp.load(Acquire) != 0 {
                clear_state(slot);
                cleared += 1;
            }
        }
        cleared
    }

    /// Clears one key's counter.
    pub(crate) fn clear(&self, key: &SlotKey) -> bool {
        match self.find(key) {
            Some(slot) => {
                clear_state(slot);
                true
            }
            None => false,
        }
    }

    /// Slots holding a key.
    pub(crate) fn occupied(&self) -> usize {
        self.buckets
            .iter()
            .flat_map(|b| &b.slots)
            .filter(|s| s.fp.load(Relaxed) != 0)
            .count()
    }
}

fn clear_state(slot: &Slot) {
    let mut current = slot.state.load(Acquire);
    while let Err(seen) =
        slot.state
            .compare_exchange(current, fresh(tag_of(current)), AcqRel, Acquire)
    {
        current = seen;
    }
}

enum Claim {
    /// A slot now holds the key.
    Claimed,
    /// Every candidate slot is protected.
    Refused,
    /// The bucket changed under the scan: look again.
    Retry,
}
