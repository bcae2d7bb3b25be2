//! Exact under concurrency: N threads recording failures on one key at one
//! instant see `failures` 1..=N, and each threshold is crossed exactly once.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier, Mutex};

use loginguard::{Action, Attempt, EventKind, Guard, ManualClock, Policy};

const THREADS: usize = 8;

fn frozen_guard() -> Guard {
    let mut policy = Policy::default();
    policy.store.capacity = 1 << 16;
    Guard::with_clock(policy, Arc::new(ManualClock::new())).unwrap()
}

#[test]
fn failures_on_one_key_are_counted_exactly() {
    let guard = frozen_guard();
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    guard.set_listener(move |e| sink.lock().unwrap().push((e.kind, e.dimension, e.failures)));
    let per_thread = 1000;
    let barrier = Barrier::new(THREADS);
    let mut seen: Vec<u32> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    (0..per_thread)
                        .map(|_| {
                            guard
                                .record_failure(&Attempt::new().account("alice"))
                                .unwrap()
                                .failures
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    seen.sort_unstable();
    let expected: Vec<u32> = (1..=(THREADS * per_thread) as u32).collect();
    assert_eq!(seen, expected);
    let events = events.lock().unwrap();
    let count = |k| events.iter().filter(|e| e.0 == k).count();
    assert_eq!(count(EventKind::Challenge), 1, "{events:?}");
    assert_eq!(count(EventKind::ResetRequired), 1, "{events:?}");
    assert!(events.contains(&(
        EventKind::Challenge,
        Some(loginguard::Dimension::Account),
        4
    )));
    assert!(events.contains(&(
        EventKind::ResetRequired,
        Some(loginguard::Dimension::Account),
        101
    )));
}

#[test]
fn one_lock_starts_however_many_threads_fail() {
    let guard = frozen_guard();
    let locks = Arc::new(AtomicUsize::new(0));
    let l = locks.clone();
    guard.set_listener(move |e| {
        if e.kind == EventKind::Lock {
            l.fetch_add(1, SeqCst);
        }
    });
    let barrier = Barrier::new(THREADS);
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                barrier.wait();
                for _ in 0..50 {
                    guard
                        .record_failure(&Attempt::new().account("bob").ip("203.0.113.7"))
                        .unwrap();
                }
            });
        }
    });
    // account_ip locks once (lock_after 10); the ip counter (lock_after 50)
    // and the ip_range counter (lock_after 250) reach 400 failures and lock
    // once each too.
    assert_eq!(locks.load(SeqCst), 3);
    let inspection = guard
        .inspect(&Attempt::new().account("bob").ip("203.0.113.7"))
        .unwrap();
    let states: Vec<_> = inspection
        .dimensions
        .iter()
        .map(|d| (d.action, d.failures))
        .collect();
    // account: 400 consecutive failures, past reset_after = 100
    assert_eq!(
        states,
        [
            (Action::ResetRequired, 400),
            (Action::Deny, 400),
            (Action::Deny, 400),
            (Action::Deny, 400)
        ]
    );
}

#[test]
fn failures_on_many_keys_are_counted_exactly() {
    let guard = frozen_guard();
    let keys: Vec<String> = (0..500).map(|i| format!("user{i}")).collect();
    let barrier = Barrier::new(THREADS);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (keys, guard, barrier) = (&keys, &guard, &barrier);
            s.spawn(move || {
                barrier.wait();
                for round in 0..5 {
                    for k in keys.iter().cycle().skip(t * 61 + round).take(keys.len()) {
                        guard
                            .record_failure(&Attempt::new().account(k).ip("192.0.2.1"))
                            .unwrap();
                    }
                }
            });
        }
    });
    for k in &keys {
        let inspection = guard.inspect(&Attempt::new().account(k)).unwrap();
        assert_eq!(
            inspection.dimensions[0].failures,
            (THREADS * 5) as u32,
            "{k}"
        );
    }
}

#[test]
fn concurrent_begins_let_at_most_lock_after_plus_one_through() {
    for passed in [true, false] {
        let guard = frozen_guard();
        let through = AtomicUsize::new(0);
        let barrier = Barrier::new(THREADS);
        std::thread::scope(|s| {
            for _ in 0..THREADS {
                s.spawn(|| {
                    barrier.wait();
                    for _ in 0..25 {
                        let a = Attempt::new().account("carol").ip("203.0.113.9");
                        if guard
                            .begin(&a, passed)
                            .unwrap()
                            .lets_password_be_checked(passed)
                        {
                            through.fetch_add(1, SeqCst);
                        }
                    }
                });
            }
        });
        // With a passed CAPTCHA, account_ip stops them at lock_after + 1 = 11;
        // without one, account's challenge stops them at challenge_after + 1 = 4.
        assert_eq!(through.load(SeqCst), if passed { 11 } else { 4 });
        let d = guard
            .check(&Attempt::new().account("carol").ip("203.0.113.9"))
            .unwrap();
        assert_eq!(d.failures, if passed { 11 } else { 4 });
    }
}

#[test]
fn threads_inserting_one_new_key_at_once_share_one_slot() {
    // The first failures of a key arrive together: each thread finds it absent
    // and claims a slot; only one slot may end up holding it.
    for round in 0..1000 {
        let guard = frozen_guard();
        let barrier = Barrier::new(THREADS);
        let account = format!("new-{round}");
        std::thread::scope(|s| {
            for _ in 0..THREADS {
                s.spawn(|| {
                    barrier.wait();
                    guard
                        .record_failure(&Attempt::new().account(&account))
                        .unwrap();
                });
            }
        });
        let inspection = guard.inspect(&Attempt::new().account(&account)).unwrap();
        assert_eq!(
            inspection.dimensions[0].failures, THREADS as u32,
            "round {round}"
        );
        assert_eq!(guard.stats().occupancy, 1, "round {round}");
    }
}
