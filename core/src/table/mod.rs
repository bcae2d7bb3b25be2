//! The fixed-capacity table: buckets of 8 slots, found by keyed fingerprint,
//! updated by compare-and-swap. Lock-free and allocation-free after
//! construction; full buckets evict empty, then expired, then least-failed
//! keys, and refuse an insert rather than evict a protected one.

mod slot;
#[cfg(test)]
mod tests;

use std::num::NonZeroU64;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};

use crate::counter::{Counter, RuleMs};
use crate::decision::Dimension;
use crate::stats::Counters;
use crate::store::Region;
use slot::{fp_of, fresh, ident, owner_of, tag_of, Slot};
pub(crate) use slot::{pack, unpack, MAX_TIME, TAG_BITS};

pub(crate) const BUCKET_SLOTS: usize = 8;

/// Eight slots, 256 bytes, on cache-line boundaries. All-zero bytes are a
/// valid bucket: every slot empty.
#[repr(C, align(64))]
#[derive(Debug, Default)]
pub(crate) struct Bucket {
    slots: [Slot; BUCKET_SLOTS],
}

/// Where a key lives and how it is recognized: 16 bytes, and as small in an
/// `Option` (the fingerprint is never 0), since an attempt's keys are copied
/// between its calls. Its bucket and tag are bits of the fingerprint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SlotKey {
    fp: NonZeroU64,
    owner: u64,
}

impl SlotKey {
    /// The key's fingerprint, with its dimension's code in the low 2 bits.
    pub(crate) fn fp(&self) -> u64 {
        self.fp.get()
    }

    /// The account's fingerprint for account-keyed keys, else 0.
    pub(crate) fn owner(&self) -> u64 {
        // Account owners are odd; the only even owner is RANGE_OWNER.
        if self.owner & 1 == 1 {
            self.owner
        } else {
            0
        }
    }

    /// The tag its counter's state carries: bits 3.. of the fingerprint.
    fn tag(&self) -> u32 {
        ((self.fp.get() >> 3) & ((1 << TAG_BITS) - 1)) as u32
    }
}

/// The owner half of an `ip_range` key's identity. The low 2 bits of a
/// stored fingerprint hold a dimension code that predates `ip_range`
/// (account 0, account_ip 1, ip 2, device 3), so that slots and redis key
/// names keep their meaning; `ip_range` keys share code 2 with `ip` and are
/// told apart by this owner, which no account has (account owners are odd).
/// Their fingerprints come from their own hash domain, so an `ip` and an
/// `ip_range` key never share a slot, even where both prefixes are equal.
pub(crate) const RANGE_OWNER: u64 = 2;

/// The code a dimension's keys carry in their fingerprint's low 2 bits.
const fn code_of(dimension: Dimension) -> u64 {
    match dimension {
        Dimension::Account => 0,
        Dimension::AccountIp => 1,
        Dimension::Ip | Dimension::IpRange => 2,
        Dimension::Device => 3,
    }
}

/// The dimension of the key whose identity word is `id`.
fn dimension_of(id: u128) -> Dimension {
    match fp_of(id) & 3 {
        0 => Dimension::Account,
        1 => Dimension::AccountIp,
        2 if owner_of(id) == RANGE_OWNER => Dimension::IpRange,
        2 => Dimension::Ip,
        _ => Dimension::Device,
    }
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
        // The stored word keeps the hash's bits but the low 3: the dimension
        // in bits 0..2, and bit 2 set so that no key's word is 0 (empty).
        let word = (fp & !7) | 4 | code_of(dimension);
        SlotKey {
            fp: NonZeroU64::new(word).expect("bit 2 is set"),
            owner: if matches!(dimension, Dimension::IpRange) {
                RANGE_OWNER
            } else {
                owner
            },
        }
    }

    /// The key's bucket: the fingerprint's high 32 bits, multiply-shifted
    /// onto any bucket count.
    #[inline]
    fn bucket_index(&self, key: &SlotKey) -> usize {
        (((key.fp() >> 32) * self.buckets.len() as u64) >> 32) as usize
    }

    #[inline]
    fn bucket(&self, key: &SlotKey) -> &Bucket {
        &self.buckets[self.bucket_index(key)]
    }

    /// Hints the CPU to fetch the key's bucket: the probes of one attempt's
    /// dimensions then miss the cache in parallel rather than one by one.
    #[inline]
    pub(crate) fn prefetch(&self, key: &SlotKey) {
        self.buckets.prefetch(self.bucket_index(key));
    }

    /// The slot holding `key`. A bucket's occupied slots are a prefix of it:
    /// `claim` takes the first empty slot and no slot ever becomes empty
    /// again (evictions and clears replace, never remove), so the scan stops
    /// at the first empty slot. A key claimed past it meanwhile was claimed
    /// after this scan began; `claim` rescans and finds it.
    fn find(&self, key: &SlotKey) -> Option<&Slot> {
        for slot in &self.bucket(key).slots {
            match fp_of(slot.ident.load(Acquire)) {
                fp if fp == key.fp() => return Some(slot),
                0 => return None,
                _ => {}
            }
        }
        None
    }

    /// The key's counter, if the table tracks it.
    pub(crate) fn get(&self, key: &SlotKey) -> Option<Counter> {
        let state = self.find(key)?.state.load(Acquire);
        (tag_of(state) == key.tag()).then(|| unpack(state))
    }

    /// Applies `f` to the key's counter with compare-and-swap until it sticks.
    /// `f` returns `None` to leave the counter as it is. With `insert`, a key
    /// not yet tracked is given a slot (evicting if need be) and starts empty.
    pub(crate) fn update<F>(
        &self,
        key: &SlotKey,
        insert: Option<(&[RuleMs; Dimension::COUNT], u64)>,
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
                if tag_of(current) != key.tag() {
                    // `current` was read before the identity: a later claim
                    // of the slot changes the identity first, so this reset
                    // either sees that claim or fails its compare-and-swap.
                    if fp_of(slot.ident.load(Acquire)) != key.fp() {
                        continue 'find; // evicted meanwhile
                    }
                    // Claimed for this key but not yet reset: finish the claim.
                    match slot
                        .state
                        .compare_exchange(current, fresh(key.tag()), AcqRel, Acquire)
                    {
                        Ok(_) => current = fresh(key.tag()),
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
                    pack(&new, key.tag()),
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
    ///
    /// The claim is one compare-and-swap of the slot's identity (fingerprint
    /// and owner together) and nothing else: the counter is reset to the new
    /// key's by whoever updates the key next (through `update`, which checks
    /// the identity after reading the state). So a claimer stopped or killed
    /// at any instant leaves either the old identity or the new one, with its
    /// right owner, and never writes to a slot that has changed hands since.
    fn claim(&self, key: &SlotKey, rules: &[RuleMs; Dimension::COUNT], now: u64) -> Claim {
        let slots = &self.bucket(key).slots;
        let mut best: Option<(usize, u128, (u32, u32))> = None;
        for (i, slot) in slots.iter().enumerate() {
            let id = slot.ident.load(Acquire);
            let fp = fp_of(id);
            if fp == key.fp() {
                // Another thread claimed it since `find`: use that slot.
                return Claim::Retry;
            }
            if fp == 0 {
                best = Some((i, id, (0, 0)));
                break;
            }
            let state = slot.state.load(Acquire);
            if tag_of(state) == key.tag() {
                // Same tag: a stale updater of the old key could not tell them apart.
                continue;
            }
            let rule = &rules[dimension_of(id) as usize];
            if let Some(rank) = unpack(state).eviction_rank(now, rule) {
                if best.is_none_or(|(_, _, r)| rank < r) {
                    best = Some((i, id, rank));
                }
            }
        }
        let Some((i, victim, _)) = best else {
            self.counters().refused_inserts.fetch_add(1, Relaxed);
            return Claim::Refused;
        };
        let slot = &slots[i];
        pause::at(pause::Point::BeforeClaim);
        if slot
            .ident
            .compare_exchange(victim, ident(key.fp(), key.owner), AcqRel, Acquire)
            .is_err()
        {
            return Claim::Retry;
        }
        pause::at(pause::Point::AfterClaim);
        if fp_of(victim) != 0 {
            self.counters().evictions.fetch_add(1, Relaxed);
        }
        Claim::Claimed
    }

    /// Clears the counters of every slot of `owner` (an account's
    /// `account`, `account_ip` and `device` keys). A scan: a cold path.
    pub(crate) fn clear_owned(&self, owner: u64) -> usize {
        let mut cleared = 0;
        for slot in self.buckets.iter().flat_map(|b| &b.slots) {
            let id = slot.ident.load(Acquire);
            if owner_of(id) == owner && fp_of(id) != 0 && clear_state(slot, id) {
                cleared += 1;
            }
        }
        cleared
    }

    /// Clears one key's counter.
    pub(crate) fn clear(&self, key: &SlotKey) -> bool {
        match self.find(key) {
            Some(slot) => clear_state(slot, slot.ident.load(Acquire)),
            None => false,
        }
    }

    /// Slots holding a key.
    pub(crate) fn occupied(&self) -> usize {
        self.buckets
            .iter()
            .flat_map(|b| &b.slots)
            .filter(|s| fp_of(s.ident.load(Relaxed)) != 0)
            .count()
    }
}

/// Clears the counter of the key whose identity is `id`, unless the slot
/// has changed hands: the state is read before the identity is checked, as in
/// `update`, so a clear never lands on a newer tenant's counter.
fn clear_state(slot: &Slot, id: u128) -> bool {
    let mut current = slot.state.load(Acquire);
    loop {
        if slot.ident.load(Acquire) != id {
            return false;
        }
        match slot
            .state
            .compare_exchange(current, fresh(tag_of(current)), AcqRel, Acquire)
        {
            Ok(_) => return true,
            Err(seen) => current = seen,
        }
    }
}

/// Pause points in the claim protocol and the site-wide window, where
/// interleaving tests stop (or kill) a caller as a preemption or a SIGKILL
/// could. Free outside tests.
pub(crate) mod pause {
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) enum Point {
        /// A victim is chosen; the slot is not yet taken.
        BeforeClaim,
        /// The slot is taken; this claimer has done nothing else yet.
        AfterClaim,
        /// A failure is counted in the site-wide window; the attack state
        /// is not yet looked at again.
        SiteCounted,
    }

    #[cfg(test)]
    type Hook = Box<dyn FnMut(Point)>;

    #[cfg(test)]
    thread_local! {
        static HOOK: std::cell::RefCell<Option<Hook>> = const { std::cell::RefCell::new(None) };
    }

    /// Runs `hook` at every pause point this thread reaches from now on.
    #[cfg(test)]
    pub(crate) fn set(hook: impl FnMut(Point) + 'static) {
        HOOK.with(|h| *h.borrow_mut() = Some(Box::new(hook)));
    }

    #[cfg(test)]
    pub(crate) fn at(point: Point) {
        HOOK.with(|h| {
            if let Some(hook) = h.borrow_mut().as_mut() {
                hook(point);
            }
        });
    }

    #[cfg(not(test))]
    #[inline(always)]
    pub(crate) fn at(_: Point) {}
}

enum Claim {
    /// A slot now holds the key.
    Claimed,
    /// Every candidate slot is protected.
    Refused,
    /// The bucket changed under the scan: look again.
    Retry,
}
