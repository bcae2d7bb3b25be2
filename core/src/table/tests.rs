//! Interleaving tests of the claim protocol: a claimer stopped (or killed) at
//! each pause point while other threads find, count, evict and reset.

use std::sync::mpsc;
use std::thread;

use super::pause::{self, Point};
use super::*;
use crate::policy::{Policy, StoreConfig};

const NOW: u64 = 1_000;

fn table() -> (Table, [RuleMs; Dimension::COUNT]) {
    let config = StoreConfig {
        capacity: BUCKET_SLOTS, // one bucket: every key competes for it
        ..StoreConfig::default()
    };
    let opened = crate::store::open(&config, 0).unwrap();
    let policy = Policy::default();
    let rules = Dimension::ALL.map(|d| RuleMs::from(policy.rule(d)));
    (Table::new(opened.buckets), rules)
}

/// A key whose owner is derived from its fingerprint, so that every slot's
/// owner can be checked against the key it holds.
fn key(t: &Table, n: u64) -> SlotKey {
    t.key(n << 3, Dimension::Account, owner_for(n << 3))
}

fn owner_for(fp: u64) -> u64 {
    (fp | 4 | Dimension::Account as u64).rotate_left(17) | 1
}

fn fail(t: &Table, rules: &[RuleMs; Dimension::COUNT], k: &SlotKey) -> Updated {
    let rule = &rules[Dimension::Account as usize];
    t.update(k, Some((rules, NOW)), |c| {
        Some(c.record_failure(NOW, rule).0)
    })
}

fn count(t: &Table, k: &SlotKey) -> Option<u32> {
    t.get(k).map(|c| c.count)
}

/// Every occupied slot's owner is its key's, and each bucket's occupied
/// slots are a prefix of it (what `find` relies on to stop at an empty slot).
fn assert_slots_consistent(t: &Table) {
    for bucket in t.buckets.iter() {
        let occupied = bucket
            .slots
            .iter()
            .map(|s| fp_of(s.ident.load(Acquire)) != 0);
        let holes = occupied.skip_while(|&o| o).filter(|&o| o).count();
        assert_eq!(holes, 0, "an occupied slot after an empty one");
    }
    for slot in t.buckets.iter().flat_map(|b| &b.slots) {
        let id = slot.ident.load(Acquire);
        let (fp, owner) = (fp_of(id), owner_of(id));
        if fp != 0 {
            assert_eq!(owner, owner_for(fp), "slot of {fp:#x} has a foreign owner");
        }
    }
}

/// V0 has one failure, V1..V7 two: a newcomer evicts V0.
fn full_bucket(t: &Table, rules: &[RuleMs; Dimension::COUNT]) {
    for n in 1..=8 {
        let v = key(t, n);
        for _ in 0..if n == 1 { 1 } else { 2 } {
            assert!(matches!(fail(t, rules, &v), Updated::Changed { .. }));
        }
    }
}

/// Runs `fail(k)` on a thread stopped the first time it reaches `point`
/// until `during` has run on this one; `kill` ends the claimer there instead
/// (a SIGKILL's effect).
fn stopped_claimer(
    point: Point,
    kill: bool,
    during: impl FnOnce(&Table, &[RuleMs; Dimension::COUNT]),
) -> (Table, [RuleMs; Dimension::COUNT]) {
    let (t, rules) = table();
    full_bucket(&t, &rules);
    let k = key(&t, 100);
    let (paused_tx, paused_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    thread::scope(|s| {
        let claimer = s.spawn(|| {
            let mut first = true;
            pause::set(move |p| {
                if p == point && std::mem::take(&mut first) {
                    paused_tx.send(()).unwrap();
                    assert!(!kill, "claimer killed at {point:?}");
                    go_rx.recv().unwrap();
                }
            });
            fail(&t, &rules, &k)
        });
        paused_rx.recv().unwrap();
        during(&t, &rules);
        let _ = go_tx.send(());
        let joined = claimer.join();
        assert_eq!(joined.is_err(), kill);
    });
    (t, rules)
}

#[test]
fn a_claimer_stopped_after_taking_a_slot_never_wipes_its_next_tenant() {
    let (t, _) = stopped_claimer(Point::AfterClaim, false, |t, rules| {
        let k = key(t, 100);
        // The stopped claim is finished by the next updater of the same key…
        assert!(matches!(fail(t, rules, &k), Updated::Changed { .. }));
        assert_eq!(count(t, &k), Some(1));
        // …then the key is evicted by a third one, which counts three times
        // (more than the others: the resumed claimer evicts another key).
        let k3 = key(t, 300);
        for _ in 0..3 {
            fail(t, rules, &k3);
        }
        assert_eq!(count(t, &k3), Some(3));
        assert_eq!(count(t, &k), None);
    });
    let k3 = key(&t, 300);
    assert_eq!(
        count(&t, &k3),
        Some(3),
        "the resumed claimer wiped another key"
    );
    assert_eq!(
        count(&t, &key(&t, 100)),
        Some(1),
        "the resumed claim counts"
    );
    assert_slots_consistent(&t);
    assert_eq!(t.clear_owned(owner_for(k3.fp() & !7)), 1);
    assert_eq!(count(&t, &k3), Some(0));
}

#[test]
fn a_claimer_killed_after_taking_a_slot_leaves_the_right_owner() {
    let (t, rules) = stopped_claimer(Point::AfterClaim, true, |_, _| {});
    let k = key(&t, 100);
    assert!(matches!(fail(&t, &rules, &k), Updated::Changed { .. }));
    assert_eq!(count(&t, &k), Some(1));
    assert_slots_consistent(&t);
    // reset_account finds the key through its owner.
    assert_eq!(t.clear_owned(owner_for(k.fp() & !7)), 1);
    assert_eq!(count(&t, &k), Some(0));
}

#[test]
fn a_claimer_stopped_before_taking_a_slot_retries_when_the_bucket_changed() {
    let (t, _) = stopped_claimer(Point::BeforeClaim, false, |t, rules| {
        // Another key takes the chosen victim's slot first (and counts
        // more than the others, so the retrying claimer evicts one of them).
        let k2 = key(t, 200);
        for _ in 0..3 {
            fail(t, rules, &k2);
        }
        assert_eq!(count(t, &k2), Some(3));
    });
    assert_eq!(count(&t, &key(&t, 100)), Some(1));
    assert_eq!(count(&t, &key(&t, 200)), Some(3));
    assert_slots_consistent(&t);
}

#[test]
fn a_stopped_claimer_and_a_reset_of_its_victims_account() {
    // reset_account of the evicted key's owner while the claim is half done
    // must not clear the newcomer's counter once it counts.
    let (t, rules) = stopped_claimer(Point::AfterClaim, false, |t, _| {
        t.clear_owned(owner_for(1 << 3));
    });
    let k = key(&t, 100);
    assert_eq!(count(&t, &k), Some(1));
    fail(&t, &rules, &k);
    assert_eq!(count(&t, &k), Some(2));
    assert_slots_consistent(&t);
}

#[test]
fn concurrent_claims_in_a_full_bucket_keep_owners_and_counts_consistent() {
    let (t, rules) = table();
    full_bucket(&t, &rules);
    thread::scope(|s| {
        for th in 0..4u64 {
            let (t, rules) = (&t, &rules);
            s.spawn(move || {
                for i in 0..2_000u64 {
                    let k = key(t, 1_000 + (i * 4 + th) % 64);
                    fail(t, rules, &k);
                    if i % 97 == 0 {
                        t.clear_owned(owner_for(k.fp() & !7));
                    }
                }
            });
        }
    });
    assert_slots_consistent(&t);
}
