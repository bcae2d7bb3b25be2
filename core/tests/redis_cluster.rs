//! A 3-node Redis Cluster started by the test: an account and its network
//! on different nodes, each script on one slot (no CROSSSLOT), several
//! hosts counting exactly.

mod support;

use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use loginguard::{Action, Attempt, Guard, ManualClock, Policy, RedisClock, StoreKind};
use support::redis::{available, counted, Cluster};

fn guard(cluster: &Cluster, prefix: &str, clock: &Arc<ManualClock>) -> Guard {
    // Only the account decides (its count is every decision's `failures`);
    // the network and (account, network) still count, on their own slots.
    let mut policy = Policy::from_toml(
        "[ip]\nchallenge_after = false\nlock_after = false\n[account_ip]\nlock_after = false",
    )
    .unwrap();
    policy.store.kind = StoreKind::Redis;
    policy.store.redis.cluster = cluster.urls();
    policy.store.redis.prefix = prefix.into();
    policy.store.redis.clock = RedisClock::Host;
    policy.store.redis.timeout = std::time::Duration::from_secs(5);
    policy.store.redis.connect_timeout = std::time::Duration::from_secs(2);
    Guard::with_clock(policy, clock.clone()).unwrap()
}

/// Which node holds the keys of `prefix` matching `pattern`.
fn nodes_of(cluster: &Cluster, pattern: &str) -> Vec<u16> {
    cluster
        .nodes
        .iter()
        .filter(|n| !n.keys(pattern).is_empty())
        .map(|n| n.port)
        .collect()
}

#[test]
fn an_account_and_its_network_on_different_nodes() {
    if !available() {
        return;
    }
    let cluster = Cluster::start();
    let clock = Arc::new(ManualClock::new());
    let a = Attempt::new().account("alice").ip("203.0.113.7");
    // Each prefix draws a new secret, so new fingerprints: find one where
    // the account's keys and the network's key live on different nodes.
    let prefix = (0..20)
        .map(|i| format!("c{i}"))
        .find(|p| {
            guard(&cluster, p, &clock).record_failure(&a).unwrap();
            let account = nodes_of(&cluster, &format!("{p}:*:account*"));
            let ip = nodes_of(&cluster, &format!("{p}:*:ip"));
            assert_eq!(account.len(), 1, "one account's keys share one slot");
            account != ip
        })
        .expect("some prefix splits the account and the network");
    let hosts: Vec<Guard> = (0..3).map(|_| guard(&cluster, &prefix, &clock)).collect();
    let seen = Mutex::new(Vec::new());
    let barrier = Barrier::new(3);
    std::thread::scope(|s| {
        for g in &hosts {
            let (seen, barrier, a) = (&seen, &barrier, &a);
            s.spawn(move || {
                barrier.wait();
                for _ in 0..20 {
                    let d = g.record_failure(a).unwrap();
                    assert!(!d.degraded, "{d}");
                    seen.lock().unwrap().push(d.failures);
                }
            });
        }
    });
    let mut seen = seen.into_inner().unwrap();
    seen.sort_unstable();
    // The first failure came from the search above: 2..=61 here.
    assert_eq!(seen, (2..=61).collect::<Vec<u32>>());
    let d = hosts[0].inspect(&a).unwrap();
    assert_eq!(d.decision.action, Action::Challenge);
    assert!(d.dimensions.iter().all(|x| x.failures == 61), "{d:?}");
    hosts[1].reset_account("alice").unwrap();
    hosts[2].reset_ip("203.0.113.7").unwrap();
    let d = hosts[0].inspect(&a).unwrap();
    assert!(d.dimensions.iter().all(|x| !x.tracked), "{d:?}");
    assert_eq!(d.decision.action, Action::Allow);
    // (hosts[0]'s lock cache may answer its checks from what it saw for up to a second.)
    let stats = hosts[0].stats();
    let r = stats.redis.unwrap();
    assert_eq!(r.errors, 0, "{stats}");
    assert!(r.evicted_keys.is_some(), "INFO from the nodes: {stats}");
}

/// A call whose keys live on a frozen node returns within `timeout`: not
/// after one deadline per attempt of the cluster client's own retry.
#[test]
fn a_call_on_a_frozen_node_returns_within_the_deadline() {
    if !available() {
        return;
    }
    // Long node timeout: the cluster does not change while the node is out.
    let cluster = Cluster::start_with(3, 0, &["--cluster-node-timeout", "20000"]);
    let timeout = Duration::from_millis(1000);
    let mut policy = Policy::from_toml("[account]\nchallenge_after = false").unwrap();
    policy.store.kind = StoreKind::Redis;
    policy.store.redis.cluster = cluster.urls();
    policy.store.redis.prefix = "frozen".into();
    policy.store.redis.clock = RedisClock::Host;
    policy.store.redis.timeout = timeout;
    policy.store.redis.connect_timeout = timeout;
    let g = Guard::with_clock(policy, Arc::new(ManualClock::new())).unwrap();
    let meta = cluster.index_of(cluster.node_of("frozen:meta"));
    // An account (no network: one key) on another node than the meta key.
    let dbsizes = || -> Vec<u64> {
        cluster
            .nodes
            .iter()
            .map(|n| n.cli(&["dbsize"]).trim().parse().unwrap())
            .collect()
    };
    let (name, home) = (0..100)
        .find_map(|k| {
            let name = format!("user{k}");
            let before = dbsizes();
            g.record_failure(&Attempt::new().account(&name)).unwrap();
            let after = dbsizes();
            let home = (0..3).find(|&i| after[i] > before[i])?;
            (home != meta).then_some((name, home))
        })
        .expect("an account on another node than the meta key");
    let a = Attempt::new().account(&name);
    cluster.nodes[home].signal("STOP");
    // Three calls wait (then the circuit of the node's slots opens).
    for op in ["check", "begin", "record_failure"] {
        let started = Instant::now();
        let d = match op {
            "check" => g.check(&a),
            "begin" => g.begin(&a, true),
            _ => g.record_failure(&a),
        }
        .unwrap();
        let took = started.elapsed();
        assert!(d.degraded, "{op}: {d}");
        // A bound with slack for a loaded machine, well under two deadlines.
        assert!(took < timeout * 17 / 10, "{op} took {took:?}");
    }
    cluster.nodes[home].signal("CONT");
}

/// A call's commands go in one pipeline per node: an account's keys share
/// a slot, so a call makes one round trip on each node its account, network
/// and range live on (sent at once), not one per command.
#[test]
fn one_pipeline_per_node() {
    if !available() {
        return;
    }
    let cluster = Cluster::start();
    let clock = Arc::new(ManualClock::new());
    // Every node gets the script (after NOSCRIPT) from another prefix's keys.
    let warm = guard(&cluster, "warm", &clock);
    for k in 0..30 {
        let ip = format!("198.51.100.{k}");
        warm.record_failure(&Attempt::new().account(&format!("w{k}")).ip(ip.as_str()))
            .unwrap();
    }
    for (p, prefix) in ["p1", "p2", "p3", "p4"].into_iter().enumerate() {
        let g = guard(&cluster, prefix, &clock);
        let a = Attempt::new().account("alice").ip("203.0.113.7");
        let (d, _) = counted(&g, || g.record_failure(&a).unwrap());
        assert_eq!(d.failures, 1);
        let mut nodes = nodes_of(&cluster, &format!("{prefix}:*:account*"));
        nodes.extend(nodes_of(&cluster, &format!("{prefix}:*:ip")));
        nodes.extend(nodes_of(&cluster, &format!("{prefix}:*:ip_range")));
        nodes.sort_unstable();
        nodes.dedup();
        let (d, n) = counted(&g, || g.begin(&a, true).unwrap());
        assert!(!d.degraded, "{d}");
        assert_eq!(n as usize, nodes.len(), "begin on {nodes:?} ({p})");
        let (d, n) = counted(&g, || g.check(&a).unwrap());
        assert_eq!(d.failures, 2);
        assert_eq!(n as usize, nodes.len(), "check on {nodes:?} ({p})");
    }
}

#[test]
fn the_site_window_on_a_cluster_is_one_key_every_host_counts_on() {
    if !available() {
        return;
    }
    let cluster = Cluster::start();
    let clock = Arc::new(ManualClock::new());
    let host = || {
        let mut policy = Policy::from_toml("[site]\nchallenge_when = \"10/1m\"").unwrap();
        policy.store.kind = StoreKind::Redis;
        policy.store.redis.cluster = cluster.urls();
        policy.store.redis.prefix = "cs".into();
        policy.store.redis.clock = RedisClock::Host;
        policy.store.redis.timeout = Duration::from_secs(5);
        policy.store.redis.connect_timeout = Duration::from_secs(2);
        Guard::with_clock(policy, clock.clone()).unwrap()
    };
    let hosts = [host(), host()];
    for i in 0..11u32 {
        let account = format!("user{i}");
        let ip = format!("10.0.{i}.1");
        let d = hosts[(i % 2) as usize]
            .record_failure(&Attempt::new().account(&account).ip(&ip))
            .unwrap();
        assert!(!d.degraded, "{d}");
    }
    let d = hosts[1]
        .check(&Attempt::new().account("alice").ip("192.0.2.1"))
        .unwrap();
    assert_eq!(
        (d.action, d.reason, d.failures),
        (Action::Challenge, Some(loginguard::Reason::Site), 11)
    );
    assert_eq!(nodes_of(&cluster, "cs:{site}").len(), 1);
    assert!(hosts[0].stats().site.unwrap().active);
}
