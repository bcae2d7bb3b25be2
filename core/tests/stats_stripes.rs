//! Decision counts stay exact for threads that count at once, however many
//! threads the process has started and ended before (a thread pool's churn):
//! a stripe is a live thread's own, and is given back when the thread ends.
//! One test in its own process, so that no other test's threads take stripes.

use std::sync::{Arc, Barrier};

use loginguard::{Attempt, Guard, ManualClock, Policy};

#[test]
fn counts_are_exact_for_concurrent_threads_after_thread_churn() {
    let mut policy = Policy::default();
    policy.store.capacity = 1024;
    let g = Guard::with_clock(policy, Arc::new(ManualClock::new())).unwrap();
    let a = Attempt::new().account("alice").ip("192.0.2.1");
    const CALLS: u64 = 200_000;
    let (ready, start) = (Barrier::new(2), Barrier::new(2));
    std::thread::scope(|s| {
        // A long-lived thread takes a stripe first.
        let long = s.spawn(|| {
            g.check(&a).unwrap();
            ready.wait();
            start.wait();
            for _ in 1..CALLS {
                g.check(&a).unwrap();
            }
        });
        ready.wait();
        // Fifteen short-lived threads count once each and end.
        for _ in 0..15 {
            std::thread::scope(|s| {
                s.spawn(|| g.check(&a).unwrap());
            });
        }
        // A new thread counts beside the long-lived one.
        s.spawn(|| {
            start.wait();
            for _ in 0..CALLS {
                g.check(&a).unwrap();
            }
        });
        long.join().unwrap();
    });
    assert_eq!(g.stats().allow, 2 * CALLS + 15);
}

/// More threads counting at once than there are stripes: the ones beyond
/// share a stripe of their own with atomic adds, never one a thread owns.
#[test]
fn counts_are_exact_for_more_threads_than_stripes() {
    const THREADS: usize = 24;
    const CALLS: u64 = 20_000;
    let mut policy = Policy::default();
    policy.store.capacity = 1024;
    let g = Guard::with_clock(policy, Arc::new(ManualClock::new())).unwrap();
    let a = Attempt::new().account("bob").ip("192.0.2.2");
    let before = g.stats().allow;
    let start = Barrier::new(THREADS);
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                start.wait();
                for _ in 0..CALLS {
                    g.check(&a).unwrap();
                }
            });
        }
    });
    assert_eq!(g.stats().allow - before, THREADS as u64 * CALLS);
}
