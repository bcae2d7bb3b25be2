//! Several hosts on one Redis: each host is its own `Guard` (here on its own
//! thread), all on one server and one key prefix, with the clock frozen.

mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Barrier, Mutex};

use loginguard::{Action, Attempt, Guard, ManualClock, Policy, Reason};
use support::redis::{available, on_redis, Server};

const HOSTS: usize = 4;

fn hosts(server: &Server, prefix: &str, toml: &str) -> Vec<Guard> {
    let clock = Arc::new(ManualClock::new());
    (0..HOSTS)
        .map(|_| {
            let mut policy = Policy::from_toml(toml).unwrap();
            on_redis(&mut policy, &server.url(), prefix);
            Guard::with_clock(policy, clock.clone()).unwrap()
        })
        .collect()
}

#[test]
fn failures_from_many_hosts_count_exactly_once_each() {
    if !available() {
        return;
    }
    let server = Server::start();
    let guards = hosts(&server, "exact", "[account]\nchallenge_after = 30\nreset_after = 70\n[account_ip]\nlock_after = 50\n[ip]\nlock_after = false\nchallenge_after = false");
    let events = Arc::new(Mutex::new(BTreeMap::<String, usize>::new()));
    for g in &guards {
        let sink = events.clone();
        g.set_listener(move |e| {
            *sink
                .lock()
                .unwrap()
                .entry(format!("{:?} {:?}", e.kind, e.dimension))
                .or_default() += 1;
        });
    }
    const PER_HOST: usize = 25;
    let seen = Mutex::new(Vec::new());
    let barrier = Barrier::new(HOSTS);
    std::thread::scope(|s| {
        for g in &guards {
            let (seen, barrier) = (&seen, &barrier);
            s.spawn(move || {
                let a = Attempt::new().account("alice").ip("203.0.113.7");
                barrier.wait();
                let mut mine = Vec::new();
                for _ in 0..PER_HOST {
                    let d = g.record_failure(&a).unwrap();
                    assert!(!d.degraded, "{d}");
                    mine.push(d);
                }
                seen.lock().unwrap().extend(mine);
            });
        }
    });
    let n = HOSTS * PER_HOST;
    // Every decision's `failures` is the count its own update left on the
    // deciding counter: account and account_ip move in step here.
    let mut counts: Vec<u32> = seen.lock().unwrap().iter().map(|d| d.failures).collect();
    counts.sort_unstable();
    assert_eq!(
        counts,
        (1..=n as u32).collect::<Vec<_>>(),
        "failures 1..={n} exactly"
    );
    let events = events.lock().unwrap();
    assert_eq!(
        events.get("Challenge Some(Account)"),
        Some(&1),
        "{events:?}"
    );
    assert_eq!(events.get("Lock Some(AccountIp)"), Some(&1), "{events:?}");
    assert_eq!(
        events.get("ResetRequired Some(Account)"),
        Some(&1),
        "{events:?}"
    );
    let a = Attempt::new().account("alice").ip("203.0.113.7");
    // (inspect reads Redis; check may answer from this host's lock cache,
    // up to a second behind the other hosts.)
    let d = guards[0].inspect(&a).unwrap().decision;
    assert_eq!(
        (d.action, d.reason, d.failures),
        (Action::ResetRequired, Some(Reason::Account), n as u32)
    );
    let stats = guards[0].stats();
    let r = stats.redis.expect("redis stats");
    assert!(r.round_trips > 0 && r.errors == 0, "{stats}");
    assert_eq!(stats.capacity, 0);
    // Every key has a TTL; names carry fingerprints only.
    let keys = server.keys("exact*");
    assert!(keys.len() >= 4, "{keys:?}");
    for key in &keys {
        assert!(!key.contains("alice") && !key.contains("203.0"), "{key}");
        let ttl: i64 = server.cli(&["pttl", key]).trim().parse().unwrap();
        assert!(ttl > 0, "{key} has PTTL {ttl}");
    }
}

#[test]
fn concurrent_begins_on_many_hosts_let_at_most_lock_after_plus_one_through() {
    if !available() {
        return;
    }
    let server = Server::start();
    let guards = hosts(&server, "bound", "");
    let through = std::sync::atomic::AtomicUsize::new(0);
    let barrier = Barrier::new(HOSTS * 8);
    std::thread::scope(|s| {
        for g in &guards {
            for _ in 0..8 {
                let (through, barrier) = (&through, &barrier);
                s.spawn(move || {
                    let a = Attempt::new().account("alice").ip("203.0.113.7");
                    barrier.wait();
                    let d = g.begin(&a, true).unwrap();
                    if d.lets_password_be_checked(true) {
                        through.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                });
            }
        }
    });
    // account_ip locks after 10 failures: at most 11 begins get through.
    let through = through.into_inner();
    assert!((1..=11).contains(&through), "{through} got through");
    let a = Attempt::new().account("alice").ip("203.0.113.7");
    let i = guards[1].inspect(&a).unwrap();
    let account_ip = i
        .dimensions
        .iter()
        .find(|d| d.dimension == loginguard::Dimension::AccountIp)
        .unwrap();
    assert_eq!(
        account_ip.failures as usize, through,
        "every begin let through counted, no other"
    );
    assert_eq!(guards[2].check(&a).unwrap().action, Action::Deny);
}

#[test]
fn a_begin_stopped_by_the_network_takes_its_account_advance_back() {
    if !available() {
        return;
    }
    let server = Server::start();
    let guards = hosts(
        &server,
        "rollback",
        "[ip]\nchallenge_after = false\nlock_after = 2\nlock_for = \"1m\"",
    );
    fn from(who: &str) -> Attempt<'_> {
        Attempt::new().account(who).ip("198.51.100.9")
    }
    for who in ["a", "b", "c"] {
        guards[0].record_failure(&from(who)).unwrap();
    }
    // The network is locked now: a begin for "d" records nothing anywhere.
    let d = guards[1].begin(&from("d"), false).unwrap();
    assert_eq!((d.action, d.reason), (Action::Deny, Some(Reason::Ip)));
    let i = guards[2].inspect(&from("d")).unwrap();
    let network = |d: loginguard::Dimension| {
        matches!(
            d,
            loginguard::Dimension::Ip | loginguard::Dimension::IpRange
        )
    };
    assert!(
        i.dimensions
            .iter()
            .all(|d| (network(d.dimension) && d.failures == 3) || d.failures == 0),
        "{i:?}"
    );
    // A reset on one host is seen by the others (the range's counter goes too).
    guards[3].reset_ip("198.51.100.9").unwrap();
    assert_eq!(guards[3].check(&from("d")).unwrap().action, Action::Allow);
    guards[0].reset_account("a").unwrap();
    assert!(server
        .keys("rollback:*account*")
        .iter()
        .all(|k| !k.is_empty()));
    let i = guards[1].inspect(&from("a")).unwrap();
    assert!(
        i.dimensions.iter().all(|d| d.failures == 0 && !d.tracked),
        "{i:?}"
    );
}

#[test]
fn every_key_expires_and_a_success_deletes_what_it_clears() {
    if !available() {
        return;
    }
    let server = Server::start();
    let guards = hosts(&server, "ttl", "");
    let a = Attempt::new()
        .account("erin")
        .ip("192.0.2.1")
        .device("phone");
    let web = Attempt::new().account("erin").ip("192.0.2.1");
    for _ in 0..3 {
        guards[0].record_failure(&a).unwrap();
        guards[1].record_failure(&web).unwrap();
    }
    for key in server.keys("ttl:*") {
        let ttl: i64 = server.cli(&["pttl", &key]).trim().parse().unwrap();
        assert!(ttl > 0, "{key} has PTTL {ttl}");
    }
    // The account and account_ip counters hold a consecutive count: kept for
    // `retain`; the ip counter (no reset_after) expires with forget_after.
    let ip_key = server.keys("ttl:*:ip").pop().unwrap();
    let ttl: i64 = server.cli(&["pttl", &ip_key]).trim().parse().unwrap();
    assert!(ttl <= 24 * 3600 * 1000, "{ttl}");
    guards[2].record_success(&a, false).unwrap();
    assert!(
        server.keys("ttl:*:device:*").is_empty(),
        "a cleared device counter is deleted"
    );
}

#[test]
fn a_unix_socket_url_works() {
    if !available() {
        return;
    }
    let sock = std::env::temp_dir().join(format!("lg-redis-{}.sock", std::process::id()));
    let sock_text = sock.to_str().unwrap().to_string();
    let server = Server::start_with(&["--unixsocket", &sock_text, "--unixsocketperm", "700"]);
    let mut policy = Policy::default();
    on_redis(&mut policy, &format!("unix://{sock_text}"), "unix");
    let g = Guard::with_clock(policy, Arc::new(ManualClock::new())).unwrap();
    let a = Attempt::new().account("ivan");
    assert_eq!(g.record_failure(&a).unwrap().failures, 1);
    assert_eq!(
        server.keys("unix:*").len(),
        3,
        "meta, account counter, index"
    );
    let _ = std::fs::remove_file(&sock);
}

#[test]
fn thirty_two_clients_on_one_key_lose_no_update() {
    if !available() {
        return;
    }
    let server = Server::start();
    let guards = hosts(&server, "many", "[account]\nreset_after = false");
    let seen = Mutex::new(Vec::new());
    let barrier = Barrier::new(32);
    std::thread::scope(|s| {
        for n in 0..32 {
            let (seen, barrier, g) = (&seen, &barrier, &guards[n % HOSTS]);
            s.spawn(move || {
                let a = Attempt::new().account("judy");
                barrier.wait();
                for _ in 0..10 {
                    let d = g.record_failure(&a).unwrap();
                    assert!(!d.degraded, "{d}: {}", g.stats());
                    seen.lock().unwrap().push(d.failures);
                }
            });
        }
    });
    let mut seen = seen.into_inner().unwrap();
    seen.sort_unstable();
    assert_eq!(seen, (1..=320).collect::<Vec<u32>>());
    let r = guards[0].stats().redis.unwrap();
    eprintln!("CAS retries on guard 0: {}", r.cas_retries);
}

/// A redis guard's callers may be many more threads than the statistics'
/// stripes (a blocking pool): every decision is still counted.
#[test]
fn decisions_from_many_threads_are_all_counted() {
    if !available() {
        return;
    }
    let server = Server::start();
    let g = hosts(&server, "stats", "").remove(0);
    let a = Attempt::new().account("alice").ip("192.0.2.77");
    for _ in 0..11 {
        g.record_failure(&a).unwrap(); // locked: checks come from the lock cache
    }
    let before = g.stats();
    let (threads, calls) = (48, 2_000);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                for _ in 0..calls {
                    g.check(&a).unwrap();
                }
            });
        }
    });
    let after = g.stats();
    let total = |s: &loginguard::Stats| s.allow + s.challenge + s.deny + s.reset_required;
    assert_eq!(total(&after) - total(&before), threads * calls);
}
