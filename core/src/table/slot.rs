//! One slot: 32 bytes of plain atomics, no pointers, so the same layout can
//! live in a file mapped by several processes.
//!
//! `state` packs a key's whole [`Counter`] and a 22-bit tag of its fingerprint
//! into one 128-bit word, so every update is one compare-and-swap and a
//! process stopped at any instant leaves either the old or the new state:
//!
//! | bits    | field                                             |
//! |---------|---------------------------------------------------|
//! | 0..40   | quiet_since, ms on the table's scale (34 years)   |
//! | 40      | quiet_since is a lock end                         |
//! | 41..72  | quiet_since − anchor, ms (< 2^31)                 |
//! | 72..86  | count (saturates at 16383)                        |
//! | 86..100 | consecutive count (saturates at 16383)            |
//! | 100     | reset_required                                    |
//! | 101..106| locks so far (saturates at 31)                    |
//! | 106..128| tag: 22 bits of the fingerprint                   |

use portable_atomic::AtomicU128;

use crate::counter::{Counter, MAX_COUNT, MAX_LOCKS};

/// Largest time a slot stores, in ms on the table's scale.
pub(crate) const MAX_TIME: u64 = (1 << 40) - 1;
const MAX_BACK: u64 = (1 << 31) - 1;
pub(crate) const TAG_BITS: u32 = 22;

#[repr(C, align(32))]
#[derive(Debug, Default)]
pub(crate) struct Slot {
    pub(crate) state: AtomicU128,
    /// Which key holds the slot, as one word so that a claim sets both
    /// halves with one compare-and-swap: the key's fingerprint with its
    /// dimension in the low 2 bits (0 = empty) in bits 0..64, and in bits
    /// 64..128 the account's fingerprint for account-keyed slots (for
    /// `reset_account`; 0 otherwise). In memory: fingerprint at byte 16,
    /// owner at byte 24.
    pub(crate) ident: AtomicU128,
}

const _: () = assert!(std::mem::size_of::<Slot>() == 32);

/// A slot's identity word.
pub(crate) const fn ident(fp: u64, owner: u64) -> u128 {
    (owner as u128) << 64 | fp as u128
}

/// The fingerprint half of an identity word.
pub(crate) const fn fp_of(ident: u128) -> u64 {
    ident as u64
}

/// The owner half of an identity word.
pub(crate) const fn owner_of(ident: u128) -> u64 {
    (ident >> 64) as u64
}

pub(crate) const fn tag_of(state: u128) -> u32 {
    (state >> 106) as u32
}

pub(crate) const fn fresh(tag: u32) -> u128 {
    (tag as u128) << 106
}

pub(crate) fn pack(c: &Counter, tag: u32) -> u128 {
    debug_assert!(c.anchor <= c.quiet_since && c.count <= MAX_COUNT && c.locks <= MAX_LOCKS);
    let quiet = c.quiet_since.min(MAX_TIME);
    let back = quiet.saturating_sub(c.anchor).min(MAX_BACK);
    // Bits 0..64 and 64..128 as two words; only `back` (41..72) straddles them.
    let lo = quiet | u64::from(c.lock_end) << 40 | back << 41;
    let hi = back >> 23
        | u64::from(c.count) << 8
        | u64::from(c.consecutive) << 22
        | u64::from(c.reset_required) << 36
        | u64::from(c.locks) << 37
        | u64::from(tag) << 42;
    u128::from(hi) << 64 | u128::from(lo)
}

pub(crate) fn unpack(s: u128) -> Counter {
    let (lo, hi) = (s as u64, (s >> 64) as u64);
    let bits = |w: u64, shift: u32, n: u32| (w >> shift) & ((1 << n) - 1);
    let quiet_since = bits(lo, 0, 40);
    let back = bits(lo, 41, 23) | bits(hi, 0, 8) << 23;
    Counter {
        quiet_since,
        lock_end: bits(lo, 40, 1) == 1,
        anchor: quiet_since - back.min(quiet_since),
        count: bits(hi, 8, 14) as u32,
        consecutive: bits(hi, 22, 14) as u32,
        reset_required: bits(hi, 36, 1) == 1,
        locks: bits(hi, 37, 5) as u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_round_trips() {
        let c = Counter {
            quiet_since: MAX_TIME,
            lock_end: true,
            anchor: MAX_TIME - MAX_BACK,
            count: MAX_COUNT,
            consecutive: 12,
            reset_required: true,
            locks: MAX_LOCKS,
        };
        let s = pack(&c, (1 << TAG_BITS) - 1);
        assert_eq!(unpack(s), c);
        assert_eq!(tag_of(s), (1 << TAG_BITS) - 1);
        assert_eq!(unpack(fresh(7)), Counter::default());
        // Every field in its documented place.
        let one = |c: Counter| pack(&c, 0);
        let base = Counter::default();
        assert_eq!(
            one(Counter {
                quiet_since: 1,
                anchor: 1,
                ..base
            }),
            1
        );
        assert_eq!(
            one(Counter {
                lock_end: true,
                ..base
            }),
            1 << 40
        );
        assert_eq!(
            one(Counter {
                quiet_since: 1 << 30,
                ..base
            }) >> 41,
            1 << 30
        );
        assert_eq!(one(Counter { count: 1, ..base }), 1 << 72);
        assert_eq!(
            one(Counter {
                consecutive: 1,
                ..base
            }),
            1 << 86
        );
        assert_eq!(
            one(Counter {
                reset_required: true,
                ..base
            }),
            1 << 100
        );
        assert_eq!(one(Counter { locks: 1, ..base }), 1 << 101);
        assert_eq!(pack(&base, 1), 1 << 106);
    }
}
