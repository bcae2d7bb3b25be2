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

use portable_atomic::{AtomicU128, AtomicU64};

use crate::counter::{Counter, MAX_COUNT, MAX_LOCKS};

/// Largest time a slot stores, in ms on the table's scale.
pub(crate) const MAX_TIME: u64 = (1 << 40) - 1;
const MAX_BACK: u64 = (1 << 31) - 1;
pub(crate) const TAG_BITS: u32 = 22;

#[repr(C, align(32))]
#[derive(Debug, Default)]
pub(crate) struct Slot {
    pub(crate) state: AtomicU128,
    /// The key's fingerprint with its dimension in the low 2 bits; 0 = empty.
    pub(crate) fp: AtomicU64,
    /// The account's fingerprint for account-keyed slots (for `reset_account`); 0 otherwise.
    pub(crate) owner: AtomicU64,
}

const _: () = assert!(std::mem::size_of::<Slot>() == 32);

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
    u128::from(quiet)
        | u128::from(c.lock_end) << 40
        | u128::from(back) << 41
        | u128::from(c.count) << 72
        | u128::from(c.consecutive) << 86
        | u128::from(c.reset_required) << 100
        | u128::from(c.locks) << 101
        | u128::from(tag) << 106
}

pub(crate) fn unpack(s: u128) -> Counter {
    let field = |shift: u32, bits: u32| ((s >> shift) & ((1u128 << bits) - 1)) as u64;
    let quiet_since = field(0, 40);
    Counter {
        quiet_since,
        lock_end: field(40, 1) == 1,
        anchor: quiet_since - field(41, 31).min(quiet_since),
        count: field(72, 14) as u32,
        consecutive: field(86, 14) as u32,
        reset_required: field(100, 1) == 1,
        locks: field(101, 5) as u32,
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
    }
}
