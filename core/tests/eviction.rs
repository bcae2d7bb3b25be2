//! A full table evicts empty, expired, then least-failed keys; protected keys
//! (locked, reset_required, above a threshold) survive a spray of fresh keys.

use std::sync::Arc;

use loginguard::{Action, Attempt, Guard, ManualClock, Policy, Reason};

fn guard(capacity: usize) -> (Guard, Arc<ManualClock>) {
    let mut policy = Policy::default();
    policy.store.capacity = capacity;
    let clock = Arc::new(ManualClock::new());
    (Guard::with_clock(policy, clock.clone()).unwrap(), clock)
}

#[test]
fn protected_keys_survive_a_spray_of_100x_capacity() {
    let capacity = 1024;
    let (g, clock) = guard(capacity);
    let victims: Vec<String> = (0..40).map(|i| format!("victim{i}")).collect();
    for (i, v) in victims.iter().enumerate() {
        let ip = format!("10.{i}.0.1"); // one range each: no ip_range lock
        let a = Attempt::new().account(v).ip(&ip);
        let n = if i % 2 == 0 { 4 } else { 11 }; // above challenge_after; or locked on account_ip
        for _ in 0..n {
            g.record_failure(&a).unwrap();
        }
    }
    for i in 0..100 * capacity {
        g.record_failure(&Attempt::new().account(&format!("spray{i}")))
            .unwrap();
        if i % 1000 == 0 {
            clock.advance_ms(1);
        }
    }
    let stats = g.stats();
    assert!(stats.evictions >= 99 * capacity as u64, "{stats:?}");
    for (i, v) in victims.iter().enumerate() {
        let ip = format!("10.{i}.0.1"); // one range each: no ip_range lock
        let d = g.check(&Attempt::new().account(v).ip(&ip)).unwrap();
        if i % 2 == 0 {
            assert_eq!(
                (d.action, d.reason, d.failures),
                (Action::Challenge, Some(Reason::Account), 4),
                "{v}"
            );
        } else {
            assert_eq!(
                (d.action, d.reason, d.failures),
                (Action::Deny, Some(Reason::AccountIp), 11),
                "{v}"
            );
        }
    }
    let fresh = Attempt::new().account("fresh-after-spray");
    for n in 1..=3 {
        assert_eq!(g.record_failure(&fresh).unwrap().failures, n);
    }
    let d = g.record_failure(&fresh).unwrap();
    assert_eq!((d.action, d.failures), (Action::Challenge, 4));
}

#[test]
fn a_full_bucket_of_protected_keys_refuses_and_challenges() {
    let (g, _) = guard(8); // one bucket of 8 slots
    for i in 0..8 {
        let name = format!("p{i}");
        let a = Attempt::new().account(&name);
        for _ in 0..4 {
            g.record_failure(&a).unwrap();
        }
    }
    assert_eq!(g.stats().occupancy, 8);
    let newcomer = Attempt::new().account("newcomer");
    let d = g.record_failure(&newcomer).unwrap();
    assert_eq!(
        (d.action, d.reason, d.failures),
        (Action::Challenge, Some(Reason::Account), 0)
    );
    assert_eq!(g.stats().refused_inserts, 1);
    // check neither inserts nor refuses: an untracked key is simply allowed
    assert_eq!(g.check(&newcomer).unwrap().action, Action::Allow);
    for i in 0..8 {
        assert_eq!(
            g.check(&Attempt::new().account(&format!("p{i}")))
                .unwrap()
                .failures,
            4
        );
    }
}

#[test]
fn expired_keys_go_before_counted_ones() {
    let (g, clock) = guard(8);
    for i in 0..4 {
        g.record_failure(&Attempt::new().account(&format!("old{i}")))
            .unwrap();
    }
    clock.advance_ms(15 * 60 * 1000); // old keys forgotten (consecutive counts remain)
    for i in 0..4 {
        let name = format!("recent{i}");
        let a = Attempt::new().account(&name);
        g.record_failure(&a).unwrap();
        g.record_failure(&a).unwrap();
    }
    for i in 0..4 {
        g.record_failure(&Attempt::new().account(&format!("new{i}")))
            .unwrap();
    }
    for i in 0..4 {
        assert_eq!(
            g.check(&Attempt::new().account(&format!("recent{i}")))
                .unwrap()
                .failures,
            2
        );
        assert_eq!(
            g.check(&Attempt::new().account(&format!("new{i}")))
                .unwrap()
                .failures,
            1
        );
    }
    assert_eq!(g.stats().evictions, 4);
}

#[test]
fn a_slow_attackers_consecutive_count_survives_a_spray() {
    // One failure every 2 hours: the windowed count keeps forgetting, the
    // consecutive count (NIST's 100) must not be evicted by fresh keys.
    let capacity = 256;
    let (g, clock) = guard(capacity);
    let alice = Attempt::new().account("alice");
    for _ in 0..100 {
        g.record_failure(&alice).unwrap();
        clock.advance_ms(2 * 60 * 60 * 1000);
    }
    for i in 0..100 * capacity {
        g.record_failure(&Attempt::new().account(&format!("spray{i}")))
            .unwrap();
    }
    assert!(g.stats().evictions >= 99 * capacity as u64);
    let d = g.record_failure(&alice).unwrap();
    assert_eq!(
        (d.action, d.reason, d.failures),
        (Action::ResetRequired, Some(Reason::Account), 101)
    );
}

#[test]
fn a_begin_refused_by_a_full_bucket_records_nothing_and_emits_nothing() {
    // One bucket of 8 slots. alice's account key is one failure short of a
    // lock; the 7 other slots hold locked keys, so alice's ip key cannot be
    // inserted: the begin answers challenge and must leave no lock behind.
    let policy = Policy::from_toml(
        r#"
        [store]
        capacity = 8
        [account]
        challenge_after = false
        lock_after = 2
        [account_ip]
        enabled = false
        "#,
    )
    .unwrap();
    let clock = Arc::new(ManualClock::new());
    let g = Guard::with_clock(policy, clock).unwrap();
    let events = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = events.clone();
    let alice = Attempt::new().account("alice");
    g.record_failure(&alice).unwrap();
    g.record_failure(&alice).unwrap();
    for i in 0..7 {
        let name = format!("locked{i}");
        for _ in 0..3 {
            g.record_failure(&Attempt::new().account(&name)).unwrap();
        }
    }
    assert_eq!(g.stats().occupancy, 8);
    g.set_listener(move |e| sink.lock().unwrap().push(e.kind));
    let d = g
        .begin(&Attempt::new().account("alice").ip("198.51.100.1"), false)
        .unwrap();
    assert_eq!((d.action, d.reason), (Action::Challenge, Some(Reason::Ip)));
    assert!(!d.lets_password_be_checked(false));
    assert_eq!(
        *events.lock().unwrap(),
        vec![],
        "a refused begin emits nothing"
    );
    let after = g.check(&alice).unwrap();
    assert_eq!(
        (after.action, after.failures),
        (Action::Allow, 2),
        "a refused begin records nothing"
    );
}
