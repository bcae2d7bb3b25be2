//! Redis Cluster changing under a storm of failures: a replica promoted by
//! `CLUSTER FAILOVER`, a primary frozen (SIGSTOP) until its replica takes
//! over, slots moved (MOVED) and being migrated (ASK), a primary frozen with
//! no replica to take over. Every call returns within the deadline plus
//! generous slack (a bound, not a performance test); every decision is either
//! exact or `degraded`; the counters afterwards match what the guard said.

mod support;

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use loginguard::{Attempt, Guard, ManualClock, OnError, Policy, RedisClock, StoreKind};
use support::redis::{available, Cluster, Role};

const TIMEOUT: Duration = Duration::from_millis(500);
/// A call's bound: its deadline, plus (for the first call after a node
/// stopped answering) opening a new cluster connection, plus a loaded machine.
const BOUND: Duration = Duration::from_secs(4);
const ACCOUNTS: usize = 32;
const THREADS: usize = 4;

fn guard(cluster: &Cluster, prefix: &str) -> Guard {
    // Only the account counts (no network in the attempts), never locks:
    // every decision's `failures` is the account's count after the call.
    let mut policy = Policy::from_toml(
        "[account]\nchallenge_after = false\nlock_after = false\nreset_after = false",
    )
    .unwrap();
    policy.store.kind = StoreKind::Redis;
    policy.store.redis.cluster = cluster.urls();
    policy.store.redis.prefix = prefix.into();
    policy.store.redis.clock = RedisClock::Host;
    policy.store.redis.timeout = TIMEOUT;
    policy.store.redis.connect_timeout = Duration::from_millis(300);
    policy.store.redis.on_error = OnError::Challenge;
    Guard::with_clock(policy, Arc::new(ManualClock::new())).unwrap()
}

fn account(i: usize) -> String {
    format!("user{i}")
}

/// What the guard said for one account.
#[derive(Debug, Default, Clone)]
struct Tally {
    /// `failures` of every decision that was not degraded.
    exact: Vec<u32>,
    degraded: u32,
}

/// Records failures from [`THREADS`] threads over every account (several
/// threads on each) until `stop`; every call within [`BOUND`].
fn storm(g: &Guard, stop: &AtomicBool) -> Vec<Tally> {
    let tallies = Mutex::new(vec![Tally::default(); ACCOUNTS]);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let tallies = &tallies;
            s.spawn(move || {
                let mut i = t * 5;
                while !stop.load(SeqCst) {
                    let k = i % ACCOUNTS;
                    i += 1;
                    let name = account(k);
                    let start = Instant::now();
                    let d = g.record_failure(&Attempt::new().account(&name)).unwrap();
                    let took = start.elapsed();
                    assert!(took < BOUND, "a call took {took:?}");
                    let mut tallies = tallies.lock().unwrap();
                    if d.degraded {
                        tallies[k].degraded += 1;
                    } else {
                        tallies[k].exact.push(d.failures);
                    }
                    drop(tallies);
                    std::thread::sleep(Duration::from_millis(1));
                }
            });
        }
    });
    tallies.into_inner().unwrap()
}

/// Runs the storm while `during` changes the cluster.
fn storm_while(g: &Guard, during: impl FnOnce()) -> Vec<Tally> {
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let storm = s.spawn(|| storm(g, &stop));
        std::thread::sleep(Duration::from_millis(300));
        during();
        // Keep going a while on the changed cluster.
        std::thread::sleep(Duration::from_millis(1000));
        stop.store(true, SeqCst);
        storm.join().unwrap()
    })
}

/// Waits until a call on every account is answered by Redis again.
fn recovers(g: &Guard) {
    let start = Instant::now();
    for k in 0..ACCOUNTS {
        let name = account(k);
        while g.check(&Attempt::new().account(&name)).unwrap().degraded {
            assert!(start.elapsed() < Duration::from_secs(30), "no recovery");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Each account's count in Redis now.
fn counts(g: &Guard) -> Vec<u32> {
    (0..ACCOUNTS)
        .map(|k| {
            g.inspect(&Attempt::new().account(&account(k)))
                .unwrap()
                .decision
                .failures
        })
        .collect()
}

/// Checks the counts against what the guard said, allowing `lost` writes in
/// all that were acknowledged and then lost by asynchronous replication.
fn matches(tallies: &[Tally], counts: &[u32], lost: usize) {
    let (mut short, mut repeated) = (0usize, 0usize);
    for (k, (t, &n)) in tallies.iter().zip(counts).enumerate() {
        let mut exact = t.exact.clone();
        exact.sort_unstable();
        let before = exact.len();
        exact.dedup();
        repeated += before - exact.len();
        // A degraded call may still have been applied (its reply came too
        // late): the count may exceed the exact calls by that many, no more.
        assert!(
            n as usize <= before + t.degraded as usize,
            "user{k}: count {n} > {before} exact + {} degraded calls",
            t.degraded
        );
        assert!(
            exact.last().is_none_or(|&m| m <= n + lost as u32),
            "user{k}: a decision said {exact:?}, the count is {n}"
        );
        short += before.saturating_sub(n as usize);
    }
    assert!(
        short <= lost && repeated <= lost,
        "{short} exact failures missing, {repeated} counts seen twice (at most {lost} may be lost)"
    );
}

fn total(tallies: &[Tally]) -> (usize, u32) {
    tallies
        .iter()
        .fold((0, 0), |(e, d), t| (e + t.exact.len(), d + t.degraded))
}

/// Every key the guard wrote has a TTL, on every primary.
fn every_key_expires(cluster: &Cluster, prefix: &str) {
    let mut seen = 0;
    for i in cluster.primaries(&[]) {
        let node = &cluster.nodes[i];
        for key in node.keys(&format!("{prefix}:*")) {
            let ttl: i64 = node.cli(&["pttl", &key]).trim().parse().unwrap();
            assert!(ttl > 0, "{key} on {} has PTTL {ttl}", node.port);
            seen += 1;
        }
    }
    // Counters and index sets of the 32 accounts, and the meta key.
    assert!(seen > ACCOUNTS, "{seen} keys");
}

#[test]
fn a_replica_promoted_by_cluster_failover_takes_over_exactly() {
    if !available() {
        return;
    }
    let cluster = Cluster::start_with(6, 1, &["--cluster-node-timeout", "1000"]);
    let g = guard(&cluster, "fo");
    let old = cluster.primaries(&[])[0];
    let old_port = cluster.nodes[old].port;
    let new = cluster.replica_of(old_port);
    let new_port = cluster.nodes[new].port;
    assert_eq!(cluster.error_count(new, "NOSCRIPT"), 0);
    let tallies = storm_while(&g, || {
        // A manual failover: the primary stops its clients, the replica
        // catches up with its replication stream, then takes over.
        let out = cluster.nodes[new].cli(&["cluster", "failover"]);
        assert_eq!(out.trim(), "OK");
        let start = Instant::now();
        while cluster.role_of(&cluster.nodes[new]) != Role::Primary
            || cluster.role_of(&cluster.nodes[old]) != Role::Replica(new_port)
        {
            assert!(start.elapsed() < Duration::from_secs(20), "no failover");
            std::thread::sleep(Duration::from_millis(20));
        }
        cluster.wait_ok(&[], Duration::from_secs(20));
    });
    recovers(&g);
    let (exact, degraded) = total(&tallies);
    eprintln!(
        "{exact} exact, {degraded} degraded decisions; {}",
        g.stats()
    );
    // A manual failover loses no acknowledged write: exact to the failure.
    matches(&tallies, &counts(&g), 0);
    // The new primary had never seen the script: it answered NOSCRIPT, and
    // the guard sent the script itself and went on.
    assert!(cluster.error_count(new, "NOSCRIPT") > 0, "no NOSCRIPT seen");
    eprintln!(
        "old primary {old_port}: MOVED {}, READONLY {}",
        cluster.error_count(old, "MOVED"),
        cluster.error_count(old, "READONLY")
    );
    every_key_expires(&cluster, "fo");
}

#[test]
fn a_frozen_primary_replaced_by_its_replica() {
    if !available() {
        return;
    }
    let cluster = Cluster::start_with(6, 1, &["--cluster-node-timeout", "1000"]);
    let g = guard(&cluster, "stop");
    let frozen = cluster.primaries(&[])[1];
    let frozen_port = cluster.nodes[frozen].port;
    let heir = cluster.replica_of(frozen_port);
    let tallies = storm_while(&g, || {
        cluster.nodes[frozen].signal("STOP");
        // The others mark it failed after the node timeout; its replica is
        // elected in its place.
        let start = Instant::now();
        while cluster.role_of(&cluster.nodes[heir]) != Role::Primary {
            assert!(start.elapsed() < Duration::from_secs(30), "no takeover");
            std::thread::sleep(Duration::from_millis(50));
        }
        cluster.wait_ok(&[frozen], Duration::from_secs(30));
    });
    recovers(&g);
    let (exact, degraded) = total(&tallies);
    eprintln!(
        "{exact} exact, {degraded} degraded decisions; {}",
        g.stats()
    );
    assert!(degraded > 0, "the frozen primary's keys were degraded");
    // Asynchronous replication: a write the frozen primary acknowledged but
    // had not yet sent to its replica is lost. Each thread has at most one
    // call in flight, so at most one such write per thread.
    matches(&tallies, &counts(&g), THREADS);
    // Woken up, the old primary learns it was replaced and follows its heir.
    cluster.nodes[frozen].signal("CONT");
    cluster.wait_ok(&[], Duration::from_secs(30));
    assert_eq!(
        cluster.role_of(&cluster.nodes[frozen]),
        Role::Replica(cluster.nodes[heir].port)
    );
    recovers(&g);
    every_key_expires(&cluster, "stop");
}

/// Which node (index) holds each account's keys: the one whose key count
/// grows when the account's first failure is recorded.
fn homes(cluster: &Cluster, g: &Guard) -> Vec<usize> {
    let sizes = || -> Vec<u64> {
        cluster
            .nodes
            .iter()
            .map(|n| n.cli(&["dbsize"]).trim().parse().unwrap())
            .collect()
    };
    (0..ACCOUNTS)
        .map(|k| {
            let before = sizes();
            assert!(
                !g.record_failure(&Attempt::new().account(&account(k)))
                    .unwrap()
                    .degraded
            );
            let after = sizes();
            (0..cluster.nodes.len())
                .find(|&i| after[i] > before[i])
                .expect("the account's keys appeared on a node")
        })
        .collect()
}

#[test]
fn a_frozen_primary_fails_its_keys_alone_and_recovers() {
    if !available() {
        return;
    }
    // No replica takes over; the others keep serving their slots.
    let cluster = Cluster::start_with(
        3,
        0,
        &[
            "--cluster-node-timeout",
            "1000",
            "--cluster-require-full-coverage",
            "no",
        ],
    );
    let g = guard(&cluster, "frz");
    let homes = homes(&cluster, &g);
    let meta = cluster.index_of(cluster.node_of("frz:meta"));
    let frozen = (0..3).find(|&i| i != meta).unwrap();
    assert!(homes.contains(&frozen) && homes.iter().any(|&h| h != frozen));
    cluster.nodes[frozen].signal("STOP");
    let stop = AtomicBool::new(false);
    let tallies = std::thread::scope(|s| {
        let storm = s.spawn(|| storm(&g, &stop));
        // Past the node timeout: the others mark the node failed.
        std::thread::sleep(Duration::from_millis(3000));
        stop.store(true, SeqCst);
        storm.join().unwrap()
    });
    let on = |frozen_side: bool| {
        tallies
            .iter()
            .enumerate()
            .filter(|(k, _)| (homes[*k] == frozen) == frozen_side)
            .fold((0, 0), |(e, d), (_, t)| (e + t.exact.len(), d + t.degraded))
    };
    let (frozen_exact, frozen_degraded) = on(true);
    let (other_exact, other_degraded) = on(false);
    eprintln!(
        "frozen node: {frozen_exact} exact, {frozen_degraded} degraded; others: \
         {other_exact} exact, {other_degraded} degraded; {}",
        g.stats()
    );
    assert_eq!(frozen_exact, 0, "a frozen node answered");
    assert!(frozen_degraded > 0);
    assert!(other_exact > 0, "the other nodes' keys kept being served");
    // Still frozen: every other node's account is answered by Redis (a
    // circuit opened by the frozen node's failures covers its own hash
    // slots, and at worst a few neighbours until its next probe).
    let start = Instant::now();
    for k in (0..ACCOUNTS).filter(|&k| homes[k] != frozen) {
        let name = account(k);
        let a = Attempt::new().account(&name);
        while g.check(&a).unwrap().degraded {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "user{k} not served"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let name = account(homes.iter().position(|&h| h == frozen).unwrap());
    let a = Attempt::new().account(&name);
    let d = g.check(&a).unwrap();
    assert!(
        d.degraded && d.action == loginguard::Action::Challenge,
        "{d}"
    );
    cluster.nodes[frozen].signal("CONT");
    cluster.wait_ok(&[], Duration::from_secs(30));
    recovers(&g);
    let counts = counts(&g);
    // The first failure of each account came from `homes`.
    let tallies: Vec<Tally> = tallies
        .into_iter()
        .map(|mut t| {
            t.exact.push(1);
            t
        })
        .collect();
    matches(&tallies, &counts, 0);
    every_key_expires(&cluster, "frz");
}

#[test]
fn slots_being_migrated_and_moved_are_followed() {
    if !available() {
        return;
    }
    let cluster = Cluster::start();
    let g = guard(&cluster, "mv");
    let homes = homes(&cluster, &g);
    let (from, to) = (homes[0], (homes[0] + 1) % 3);
    let (src, dst) = (&cluster.nodes[from], &cluster.nodes[to]);
    let id = |n: &support::redis::Server| n.cli(&["cluster", "myid"]).trim().to_string();
    let (src_id, dst_id) = (id(src), id(dst));
    // Every slot of `from` that holds an account's keys (not the meta key).
    let mut slots: Vec<String> = src
        .keys("mv:{*")
        .iter()
        .map(|k| src.cli(&["cluster", "keyslot", k]).trim().to_string())
        .collect();
    slots.sort();
    slots.dedup();
    assert!(!slots.is_empty());
    let pass = |round: u32| {
        for k in 0..ACCOUNTS {
            let d = g
                .record_failure(&Attempt::new().account(&account(k)))
                .unwrap();
            assert!(!d.degraded, "user{k}: {d}");
            assert_eq!(d.failures, round, "user{k}");
        }
    };
    // Mid-migration: the keys already moved; the source answers ASK.
    for slot in &slots {
        assert_eq!(
            dst.cli(&["cluster", "setslot", slot, "importing", &src_id])
                .trim(),
            "OK"
        );
        assert_eq!(
            src.cli(&["cluster", "setslot", slot, "migrating", &dst_id])
                .trim(),
            "OK"
        );
        let keys = src.cli(&["cluster", "getkeysinslot", slot, "100"]);
        let keys: Vec<&str> = keys.lines().filter(|l| !l.is_empty()).collect();
        let port = dst.port.to_string();
        let mut args = vec!["migrate", "127.0.0.1", &port, "", "0", "5000", "keys"];
        args.extend(keys);
        assert_eq!(src.cli(&args).trim(), "OK");
    }
    let asks = cluster.error_count(from, "ASK");
    pass(2);
    // Done: the slots belong to the destination; the source answers MOVED.
    for slot in &slots {
        for n in &cluster.nodes {
            assert_eq!(
                n.cli(&["cluster", "setslot", slot, "node", &dst_id]).trim(),
                "OK"
            );
        }
    }
    pass(3);
    eprintln!(
        "{} slots moved; ASK {} -> {}, MOVED {}; {}",
        slots.len(),
        asks,
        cluster.error_count(from, "ASK"),
        cluster.error_count(from, "MOVED"),
        g.stats()
    );
    assert!(cluster.error_count(from, "ASK") > asks, "no ASK answered");
    assert!(cluster.error_count(from, "MOVED") > 0, "no MOVED answered");
    assert!(src.keys("mv:{*").is_empty(), "keys left on the source");
    let r = g.stats().redis.unwrap();
    assert_eq!(r.errors, 0);
}

/// A standalone primary demoted to a replica (as a Sentinel or a managed
/// service's failover does behind one address) answers READONLY: those calls
/// are `degraded`, the connections are dropped, and once the address serves a
/// primary again the guard counts on, exactly, by itself.
#[test]
fn a_primary_turned_replica_answers_readonly_and_the_guard_recovers() {
    if !available() {
        return;
    }
    let server = support::redis::Server::start();
    let other = support::redis::Server::start();
    let mut policy = Policy::from_toml(
        "[account]\nchallenge_after = false\nlock_after = false\nreset_after = false",
    )
    .unwrap();
    support::redis::on_redis(&mut policy, &server.url(), "ro");
    policy.store.redis.timeout = TIMEOUT;
    let g = Guard::with_clock(policy, Arc::new(ManualClock::new())).unwrap();
    let a = Attempt::new().account("alice");
    assert_eq!(g.record_failure(&a).unwrap().failures, 1);
    // The data goes with the role: copy it to `other` first, then follow it.
    assert_eq!(
        other
            .cli(&["replicaof", "127.0.0.1", &server.port.to_string()])
            .trim(),
        "OK"
    );
    let start = Instant::now();
    while !other
        .cli(&["info", "replication"])
        .contains("master_link_status:up")
    {
        assert!(start.elapsed() < Duration::from_secs(20), "no sync");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(other.cli(&["replicaof", "no", "one"]).trim(), "OK");
    assert_eq!(
        server
            .cli(&["replicaof", "127.0.0.1", &other.port.to_string()])
            .trim(),
        "OK"
    );
    let readonly = || {
        server
            .cli(&["info", "errorstats"])
            .contains("errorstat_READONLY")
    };
    let mut degraded = 0;
    while !readonly() {
        let d = g.record_failure(&a).unwrap();
        assert!(d.degraded, "a write on a replica counted: {d}");
        degraded += 1;
        assert!(degraded < 1000, "no READONLY");
    }
    assert!(g.record_failure(&a).unwrap().degraded);
    // Promoted again (its data came back from `other`).
    let start = Instant::now();
    while !server
        .cli(&["info", "replication"])
        .contains("master_link_status:up")
    {
        assert!(start.elapsed() < Duration::from_secs(20), "no sync back");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(server.cli(&["replicaof", "no", "one"]).trim(), "OK");
    let start = Instant::now();
    let d = loop {
        let d = g.record_failure(&a).unwrap();
        if !d.degraded {
            break d;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "no recovery");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(d.failures, 2, "only the write Redis took counted");
}
