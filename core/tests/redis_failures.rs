//! A Redis that stops answering, dies, forgets its scripts or loses the meta
//! key: every call returns within the deadline (plus generous slack: this
//! is a bound, not a performance test) with `on_error` and `degraded`, and
//! the guard recovers by itself.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use loginguard::{Action, Attempt, Guard, ManualClock, OnError, Policy, Reason};
use support::redis::{assert_frozen_calls_take_one_deadline, available, on_redis, Server};

const SLACK: Duration = Duration::from_secs(2);

fn guard(server: &Server, prefix: &str, on_error: OnError) -> (Guard, Arc<ManualClock>) {
    let mut policy = Policy::default();
    on_redis(&mut policy, &server.url(), prefix);
    // Short enough that frozen calls end well within SLACK, long enough
    // that a healthy call on a loaded test machine is not degraded.
    policy.store.redis.timeout = Duration::from_millis(400);
    policy.store.redis.connect_timeout = Duration::from_millis(400);
    policy.store.redis.on_error = on_error;
    let clock = Arc::new(ManualClock::new());
    (Guard::with_clock(policy, clock.clone()).unwrap(), clock)
}

/// Calls from 4 threads while `during` runs; every call within the bound.
fn storm(g: &Guard, calls: usize) -> Vec<loginguard::Decision> {
    let out = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for t in 0..4 {
            let out = &out;
            s.spawn(move || {
                let ip = format!("192.0.2.{t}");
                let a = Attempt::new().account("alice").ip(ip.as_str());
                for n in 0..calls {
                    let start = Instant::now();
                    let d = match n % 3 {
                        0 => g.check(&a),
                        1 => g.begin(&a, false),
                        _ => g.record_failure(&a),
                    }
                    .unwrap();
                    let took = start.elapsed();
                    assert!(took < SLACK, "a call took {took:?}");
                    out.lock().unwrap().push(d);
                }
            });
        }
    });
    out.into_inner().unwrap()
}

/// Calls until one is answered by Redis again (the breaker probes).
fn recovers(g: &Guard) {
    let a = Attempt::new().account("bob").ip("198.51.100.1");
    let start = Instant::now();
    while g.check(&a).unwrap().degraded {
        assert!(start.elapsed() < Duration::from_secs(15), "no recovery");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_frozen_redis_gives_on_error_within_the_deadline_and_recovers() {
    if !available() {
        return;
    }
    let server = Server::start();
    let (g, _) = guard(&server, "frozen", OnError::Challenge);
    assert!(storm(&g, 6).iter().all(|d| !d.degraded));
    server.signal("STOP");
    let ds = storm(&g, 9);
    server.signal("CONT");
    assert!(
        ds.iter().all(|d| d.degraded),
        "every call answered by on_error"
    );
    assert!(ds
        .iter()
        .all(|d| d.action == Action::Challenge && d.reason == Some(Reason::Account)));
    let stats = g.stats();
    let r = stats.redis.unwrap();
    assert!(r.degraded >= 36 && r.errors > 0, "{stats}");
    recovers(&g);
    let d = g.record_failure(&Attempt::new().account("carol")).unwrap();
    assert_eq!((d.degraded, d.failures), (false, 1));
}

#[test]
fn a_dead_redis_gives_on_error_and_a_restarted_one_is_used_again() {
    if !available() {
        return;
    }
    let mut server = Server::start();
    let (g, _) = guard(&server, "dead", OnError::Deny);
    let a = Attempt::new().account("dave").ip("203.0.113.3");
    assert!(!g.record_failure(&a).unwrap().degraded);
    server.kill();
    for d in storm(&g, 6) {
        assert!(d.degraded);
        assert_eq!((d.action, d.reason), (Action::Deny, Some(Reason::Account)));
    }
    // Admin calls report the failure instead.
    assert_eq!(
        g.reset_ip("203.0.113.3").unwrap_err().kind(),
        loginguard::ErrorKind::Store
    );
    server.restart();
    recovers(&g);
    // The restarted server is empty (no persistence): counting starts over,
    // the script is loaded again, and the meta key is restored from this host.
    let d = g.record_failure(&a).unwrap();
    assert_eq!((d.degraded, d.failures), (false, 1));
    assert!(
        !server.cli(&["get", "dead:meta"]).trim().is_empty(),
        "meta restored"
    );
}

#[test]
fn script_flush_mid_run_loses_no_failure() {
    if !available() {
        return;
    }
    let server = Server::start();
    let mut policy = Policy::default();
    on_redis(&mut policy, &server.url(), "flush");
    let clock = Arc::new(ManualClock::new());
    let g = Guard::with_clock(policy, clock).unwrap();
    let a = Attempt::new().account("erin");
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                server.cli(&["script", "flush"]);
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        for n in 1..=60 {
            let d = g.record_failure(&a).unwrap();
            assert!(!d.degraded);
            assert_eq!(d.failures, n.min(60));
        }
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    let i = g.inspect(&a).unwrap();
    assert_eq!(i.dimensions[0].failures, 60);
}

#[test]
fn a_deleted_meta_key_is_restored_and_counters_stay_consistent() {
    if !available() {
        return;
    }
    let server = Server::start();
    let (g, clock) = guard(&server, "meta", OnError::Challenge);
    let a = Attempt::new().account("frank").ip("203.0.113.9");
    for _ in 0..2 {
        g.record_failure(&a).unwrap();
    }
    let before = server.cli(&["--no-raw", "get", "meta:meta"]);
    assert!(before.len() > 100, "{before}");
    server.cli(&["del", "meta:meta"]);
    clock.advance_ms(30_000); // the next call checks the meta key
    assert_eq!(g.record_failure(&a).unwrap().failures, 3);
    assert_eq!(
        server.cli(&["--no-raw", "get", "meta:meta"]),
        before,
        "restored as it was"
    );
    assert_eq!(g.stats().redis.unwrap().meta_healed, 1);
    // A host that opens now shares the secret: it sees the same counters.
    let (other, _) = guard(&server, "meta", OnError::Challenge);
    let d = other.inspect(&a).unwrap();
    assert_eq!(d.dimensions[0].failures, 3);
    let ttl: i64 = server.cli(&["pttl", "meta:meta"]).trim().parse().unwrap();
    assert!(ttl > 0);
}

#[test]
fn another_stores_meta_key_is_a_store_error_at_open() {
    if !available() {
        return;
    }
    let server = Server::start();
    server.cli(&["set", "foreign:meta", "something else"]);
    let mut policy = Policy::default();
    on_redis(&mut policy, &server.url(), "foreign");
    let err = Guard::with_clock(policy, Arc::new(ManualClock::new())).unwrap_err();
    assert_eq!(err.kind(), loginguard::ErrorKind::Store);
    assert!(err.to_string().contains("foreign:meta"), "{err}");
    // A store made on a manual clock refuses a system-clock guard.
    let mut policy = Policy::default();
    on_redis(&mut policy, &server.url(), "manual");
    Guard::with_clock(policy.clone(), Arc::new(ManualClock::new())).unwrap();
    let err = Guard::new(policy).unwrap_err();
    assert!(err.to_string().contains("clock"), "{err}");
    // Nothing listening: a store error, within the deadlines.
    let mut policy = Policy::default();
    on_redis(&mut policy, "redis://127.0.0.1:1", "none");
    let start = Instant::now();
    assert_eq!(
        Guard::new(policy).unwrap_err().kind(),
        loginguard::ErrorKind::Store
    );
    assert!(start.elapsed() < Duration::from_secs(10));
}

#[test]
fn a_secret_file_is_shared_by_hosts_and_never_stored() {
    if !available() {
        return;
    }
    let server = Server::start();
    let dir = std::env::temp_dir().join(format!("lg-secret-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("secret");
    std::fs::write(&file, "ab".repeat(192)).unwrap();
    let open = |path: &std::path::Path| {
        let mut policy = Policy::default();
        on_redis(&mut policy, &server.url(), "sf");
        policy.store.redis.secret_file = Some(path.to_path_buf());
        Guard::with_clock(policy, Arc::new(ManualClock::new()))
    };
    let one = open(&file).unwrap();
    let a = Attempt::new().account("gina");
    one.record_failure(&a).unwrap();
    let two = open(&file).unwrap();
    assert_eq!(two.record_failure(&a).unwrap().failures, 2);
    let meta = server.cli(&["--no-raw", "get", "sf:meta"]);
    assert!(
        !meta.contains(&"\\xab".repeat(8)),
        "the secret is not in Redis"
    );
    let other = dir.join("other");
    std::fs::write(&other, [7u8; 192]).unwrap();
    assert!(open(&other)
        .unwrap_err()
        .to_string()
        .contains("secret_file"));
    std::fs::write(&other, "short").unwrap();
    assert_eq!(
        open(&other).unwrap_err().kind(),
        loginguard::ErrorKind::Store
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_documented_acl_is_enough() {
    if !available() {
        return;
    }
    let server = Server::start();
    let acl = "ACL SETUSER lg on >pw ~acl:* resetchannels -@all +@read +@write +evalsha +eval +time +info";
    let args: Vec<&str> = acl.split(' ').collect();
    assert_eq!(server.cli(&args).trim(), "OK");
    let mut policy = Policy::default();
    on_redis(
        &mut policy,
        &format!("redis://lg:pw@127.0.0.1:{}", server.port),
        "acl",
    );
    let g = Guard::with_clock(policy, Arc::new(ManualClock::new())).unwrap();
    let a = Attempt::new().account("hana").ip("192.0.2.77");
    assert_eq!(g.record_failure(&a).unwrap().failures, 1);
    server.cli(&["script", "flush"]);
    let d = g.record_failure(&a).unwrap();
    assert_eq!((d.failures, d.degraded), (2, false));
    g.reset_account("hana").unwrap();
    g.reset_ip("192.0.2.77").unwrap();
    assert_eq!(g.inspect(&a).unwrap().dimensions[0].failures, 0);
    let stats = g.stats();
    let r = stats.redis.unwrap();
    assert_eq!(r.errors, 0, "{stats}");
    assert_eq!(r.may_evict_counters, Some(false));
}

/// Each call waits on a frozen server for at most one deadline: not one per
/// reply of a pipelined round trip, nor one per reply of the connection's
/// handshake after a reconnect.
#[test]
fn a_frozen_redis_costs_one_deadline_per_call() {
    if !available() {
        return;
    }
    let server = Server::start();
    assert_frozen_calls_take_one_deadline(&server, Policy::default(), "one-deadline");
}
