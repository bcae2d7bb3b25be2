//! A 3-node Redis Cluster started by the test: an account and its network
//! on different nodes, each script on one slot (no CROSSSLOT), several
//! hosts counting exactly.

mod support;

use std::sync::{Arc, Barrier, Mutex};

use loginguard::{Action, Attempt, Guard, ManualClock, Policy, RedisClock, StoreKind};
use support::redis::{available, Cluster};

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
