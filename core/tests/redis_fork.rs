//! A guard built before `fork()` (gunicorn --preload, pre-forked C servers):
//! the child makes its own connection instead of sharing the parent's
//! socket, where their replies would interleave.

mod support;

use std::sync::Arc;

use loginguard::{Attempt, Guard, ManualClock, Policy};
use support::redis::{available, on_redis, Server};

#[test]
fn a_forked_child_uses_its_own_connection() {
    if !available() {
        return;
    }
    let server = Server::start();
    let mut policy = Policy::default();
    on_redis(&mut policy, &server.url(), "fork");
    let g = Guard::with_clock(policy, Arc::new(ManualClock::new())).unwrap();
    let parent = Attempt::new().account("parent");
    let child = Attempt::new().account("child");
    assert_eq!(g.record_failure(&parent).unwrap().failures, 1); // a pooled connection now
                                                                // SAFETY: the child only runs this thread's code and leaves with _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            (1..=200).all(|n| {
                let d = g.record_failure(&child).unwrap();
                !d.degraded && d.failures == n
            })
        }));
        // SAFETY: ends the child without running the parent's destructors.
        unsafe { libc::_exit(if matches!(ok, Ok(true)) { 0 } else { 1 }) };
    }
    for n in 2..=201 {
        let d = g.record_failure(&parent).unwrap();
        assert!(!d.degraded && d.failures == n, "parent saw {d} at {n}");
    }
    let mut status = 0;
    // SAFETY: waits for the child this test forked.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "the child saw wrong answers"
    );
    assert_eq!(g.inspect(&child).unwrap().dimensions[0].failures, 200);
    let clients = server.cli(&["client", "list"]);
    assert!(clients.lines().count() >= 2, "{clients}");
}

#[test]
fn a_forked_parent_and_child_count_exactly_on_one_key() {
    if !available() {
        return;
    }
    let server = Server::start();
    let mut policy = Policy::default();
    on_redis(&mut policy, &server.url(), "fork-one-key");
    let g = Guard::with_clock(policy, Arc::new(ManualClock::new())).unwrap();
    let alice = Attempt::new().account("alice");
    // Draw a write nonce before the fork, so both processes start from the
    // same generator state: each must still write values of its own.
    g.record_success(&alice, false).unwrap();
    g.record_failure(&Attempt::new().account("warm")).unwrap();
    // SAFETY: the child only runs this thread's code and leaves with _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    let record = || (0..200).all(|_| !g.record_failure(&alice).unwrap().degraded);
    if pid == 0 {
        let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(record));
        // SAFETY: ends the child without running the parent's destructors.
        unsafe { libc::_exit(if matches!(ok, Ok(true)) { 0 } else { 1 }) };
    }
    assert!(record(), "the parent saw a degraded decision");
    let mut status = 0;
    // SAFETY: waits for the child this test forked.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
    let d = g.inspect(&alice).unwrap().dimensions[0];
    assert_eq!(d.consecutive, 400, "failures lost between parent and child");
}
