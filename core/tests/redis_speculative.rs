//! Writes sent at once against predicted values: one round trip per call
//! when this host predicted right, one more when another host wrote
//! meanwhile, a key was deleted or expired, or a guessed-absent key exists;
//! counts exact either way, and a guess never refuses a password.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use loginguard::{Action, Attempt, Dimension, Guard, ManualClock, Policy, Reason};
use support::redis::{available, counted, on_redis, Server};

fn hosts(server: &Server, prefix: &str, toml: &str, n: usize) -> Vec<Guard> {
    let clock = Arc::new(ManualClock::new());
    (0..n)
        .map(|i| {
            let mut policy = Policy::from_toml(toml).unwrap();
            on_redis(&mut policy, &server.url(), prefix);
            let g = Guard::with_clock(policy, clock.clone()).unwrap();
            // The first write loads the script (NOSCRIPT, then EVAL).
            g.record_failure(&Attempt::new().account(&format!("warm{i}")))
                .unwrap();
            g
        })
        .collect()
}

fn failures(g: &Guard, a: &Attempt<'_>, dim: Dimension) -> u32 {
    let i = g.inspect(a).unwrap();
    i.dimensions
        .iter()
        .find(|d| d.dimension == dim)
        .map_or(0, |d| d.failures)
}

#[test]
fn each_call_takes_one_round_trip_when_this_host_wrote_last() {
    if !available() {
        return;
    }
    let server = Server::start();
    let g = hosts(&server, "one", "", 1).remove(0);
    let a = Attempt::new().account("alice").ip("203.0.113.7");
    // Never seen: predicted absent, and absent.
    let (d, n) = counted(&g, || g.begin(&a, true).unwrap());
    assert_eq!((d.action, n), (Action::Allow, 1), "{d}");
    let (d, n) = counted(&g, || g.check(&a).unwrap());
    assert_eq!((d.failures, n), (1, 1), "{d}");
    // After check: the values check read.
    let (d, n) = counted(&g, || g.record_failure(&a).unwrap());
    assert_eq!((d.failures, n), (2, 1), "{d}");
    let (_, n) = counted(&g, || g.begin(&a, true).unwrap());
    assert_eq!(n, 1);
    assert_eq!(failures(&g, &a, Dimension::AccountIp), 3);
    let (_, n) = counted(&g, || g.record_success(&a, true).unwrap());
    assert_eq!(n, 1);
    assert_eq!(failures(&g, &a, Dimension::AccountIp), 0);
    assert_eq!(failures(&g, &a, Dimension::Ip), 2, "the begin refunded");
    // A success on keys predicted absent checks they are.
    let b = Attempt::new().account("bob").ip("198.51.100.1");
    let (_, n) = counted(&g, || g.record_success(&b, false).unwrap());
    assert_eq!(n, 1);
    assert_eq!(g.stats().redis.unwrap().cas_retries, 0);
}

#[test]
fn a_stale_guess_and_a_guessed_absent_key_that_exists_cost_one_round_trip_more() {
    if !available() {
        return;
    }
    let server = Server::start();
    let hs = hosts(&server, "stale", "[account_ip]\nlock_after = false", 2);
    let (a_host, b_host) = (&hs[0], &hs[1]);
    let a = Attempt::new().account("alice").ip("203.0.113.7");
    let (_, n) = counted(a_host, || a_host.record_failure(&a).unwrap());
    assert_eq!(n, 1);
    // B never saw the keys: it predicts them absent, finds them, counts on.
    let (d, n) = counted(b_host, || b_host.record_failure(&a).unwrap());
    assert_eq!((d.failures, n), (2, 2), "{d}");
    for want in 3..=4 {
        let (d, n) = counted(b_host, || b_host.record_failure(&a).unwrap());
        assert_eq!((d.failures, n), (want, 1), "{d}");
    }
    // A's predictions are B's writes behind: one conflict round, exact counts.
    let retries = a_host.stats().redis.unwrap().cas_retries;
    let (d, n) = counted(a_host, || a_host.begin(&a, true).unwrap());
    assert!(d.lets_password_be_checked(true), "{d}");
    assert_eq!(n, 2);
    assert!(a_host.stats().redis.unwrap().cas_retries > retries);
    for dim in [Dimension::Account, Dimension::AccountIp, Dimension::Ip] {
        assert_eq!(failures(b_host, &a, dim), 5, "{dim:?}");
    }
    // Now right again.
    let (d, n) = counted(a_host, || a_host.record_failure(&a).unwrap());
    assert_eq!((d.failures, n), (6, 1), "{d}");
}

#[test]
fn a_key_gone_since_it_was_cached_is_counted_from_nothing() {
    if !available() {
        return;
    }
    let server = Server::start();
    let g = hosts(&server, "gone", "", 1).remove(0);
    let a = Attempt::new().account("carol").ip("192.0.2.5");
    for _ in 0..3 {
        g.record_failure(&a).unwrap();
    }
    // The network's key expires (as Redis would drop it, or evict it).
    let ip_key = server.keys("gone:*:ip").pop().expect("the ip key");
    server.cli(&["pexpire", &ip_key, "1"]);
    while server.cli(&["exists", &ip_key]).trim() != "0" {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let (_, n) = counted(&g, || g.record_failure(&a).unwrap());
    assert_eq!(n, 2, "one round trip more for the wrong guess");
    assert_eq!(failures(&g, &a, Dimension::Ip), 1);
    assert_eq!(failures(&g, &a, Dimension::AccountIp), 4);
}

#[test]
fn a_guess_that_refuses_is_read_before_the_password_is_refused() {
    if !available() {
        return;
    }
    let server = Server::start();
    let hs = hosts(
        &server,
        "refuse",
        "[account]\nchallenge_after = 3\n[ip]\nchallenge_after = false",
        2,
    );
    let a = Attempt::new().account("dave").ip("192.0.2.9");
    for _ in 0..4 {
        hs[0].record_failure(&a).unwrap();
    }
    assert_eq!(hs[0].check(&a).unwrap().action, Action::Challenge);
    // Another host resets the account: host 0 still predicts a challenge.
    hs[1].reset_account("dave").unwrap();
    let (d, n) = counted(&hs[0], || hs[0].begin(&a, false).unwrap());
    assert_eq!(d.action, Action::Allow, "{d}");
    assert_eq!(n, 2, "a read, then the writes");
    assert_eq!(failures(&hs[1], &a, Dimension::Account), 1);
    // A challenge that stands refuses without writing.
    for _ in 0..3 {
        hs[1].record_failure(&a).unwrap();
    }
    let d = hs[0].begin(&a, false).unwrap();
    assert_eq!(
        (d.action, d.reason),
        (Action::Challenge, Some(Reason::Account))
    );
    assert_eq!(failures(&hs[1], &a, Dimension::Account), 4);
}

#[test]
fn a_begin_refused_by_a_key_another_host_locked_takes_its_right_guesses_back() {
    if !available() {
        return;
    }
    let server = Server::start();
    let hs = hosts(
        &server,
        "back",
        "[ip]\nchallenge_after = false\nlock_after = 2\nlock_for = \"1m\"",
        2,
    );
    let a = Attempt::new().account("erin").ip("198.51.100.9");
    hs[0].record_failure(&a).unwrap();
    // Host 1 locks the network; host 0 predicts it at one failure.
    for who in ["frank", "grace"] {
        hs[1]
            .record_failure(&Attempt::new().account(who).ip("198.51.100.9"))
            .unwrap();
    }
    let events = Arc::new(AtomicUsize::new(0));
    let sink = events.clone();
    hs[0].set_listener(move |_| {
        sink.fetch_add(1, Ordering::SeqCst);
    });
    let d = hs[0].begin(&a, true).unwrap();
    assert_eq!(
        (d.action, d.reason),
        (Action::Deny, Some(Reason::Ip)),
        "{d}"
    );
    assert_eq!(
        events.load(Ordering::SeqCst),
        0,
        "a refused begin tells nothing"
    );
    for dim in [Dimension::Account, Dimension::AccountIp] {
        assert_eq!(failures(&hs[1], &a, dim), 1, "{dim:?} taken back");
    }
    assert_eq!(failures(&hs[1], &a, Dimension::Ip), 3);
}

/// Threads of one process writing one key take turns instead of racing each
/// other to Redis: no compare-and-set of theirs conflicts, each predicts the
/// value the one before it wrote, and every failure counts once.
#[test]
fn threads_of_one_process_take_turns_on_a_key() {
    if !available() {
        return;
    }
    let server = Server::start();
    let g = hosts(&server, "turns", "[account]\nreset_after = false", 1).remove(0);
    let retries = g.stats().redis.unwrap().cas_retries;
    let seen = std::sync::Mutex::new(Vec::new());
    let barrier = std::sync::Barrier::new(16);
    std::thread::scope(|s| {
        for _ in 0..16 {
            s.spawn(|| {
                let a = Attempt::new().account("hot");
                barrier.wait();
                for _ in 0..20 {
                    let d = g.record_failure(&a).unwrap();
                    assert!(!d.degraded, "{d}");
                    seen.lock().unwrap().push(d.failures);
                }
            });
        }
    });
    let mut seen = seen.into_inner().unwrap();
    seen.sort_unstable();
    assert_eq!(seen, (1..=320).collect::<Vec<u32>>());
    assert_eq!(g.stats().redis.unwrap().cas_retries, retries);
}
