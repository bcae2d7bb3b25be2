//! Latency per attempt on the redis store against a local redis-server: the
//! SPEC's "one attempt" (check, then record the failure; account + ip), on
//! distinct accounts ("spread") and on one account from one IP ("hot"), with
//! round trips counted. Starts its own redis-server on a free port unless
//! `LG_BENCH_REDIS_URL` names one.
//!
//! `cargo run --release -p loginguard --example redis_latency [ATTEMPTS]`

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use loginguard::{Attempt, Guard, Policy, StoreKind};

fn main() {
    let attempts: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let (url, mut server) = match std::env::var("LG_BENCH_REDIS_URL") {
        Ok(url) => (url, None),
        Err(_) => {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let child = Command::new("redis-server")
                .args([
                    "--port",
                    &port.to_string(),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ])
                .stdout(Stdio::null())
                .spawn()
                .expect("redis-server (apt-get install redis-server)");
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                std::thread::sleep(Duration::from_millis(20));
            }
            (format!("redis://127.0.0.1:{port}"), Some(child))
        }
    };
    let mut policy = Policy::default();
    policy.store.kind = StoreKind::Redis;
    policy.store.redis.url = Some(url);
    policy.store.redis.prefix = format!("bench{}", std::process::id());
    policy.store.redis.timeout = Duration::from_secs(1);
    let guard = Guard::new(policy).expect("redis store");
    let accounts: Vec<String> = (0..attempts)
        .map(|i| format!("user{i}@example.com"))
        .collect();
    let ips: Vec<String> = (0..attempts)
        .map(|i| format!("10.{}.{}.{}", i >> 16 & 255, i >> 8 & 255, i & 255))
        .collect();
    for (name, hot) in [("spread", false), ("hot", true)] {
        let trips0 = guard.stats().redis.unwrap().round_trips;
        let mut each = Vec::with_capacity(attempts);
        for i in 0..attempts {
            let k = if hot { 0 } else { i };
            let a = Attempt::new().account(&accounts[k]).ip(ips[k].as_str());
            let t = Instant::now();
            guard.check(&a).unwrap();
            guard.record_failure(&a).unwrap();
            each.push(t.elapsed());
        }
        let r = guard.stats().redis.unwrap();
        each.sort_unstable();
        let total: Duration = each.iter().sum();
        println!(
            "redis {name:>6}: {attempts} attempts, median {:.1} us, mean {:.1} us, p99 {:.1} us per attempt; {:.2} round trips per attempt; {} degraded, {} CAS retries",
            each[attempts / 2].as_secs_f64() * 1e6,
            total.as_secs_f64() * 1e6 / attempts as f64,
            each[attempts * 99 / 100].as_secs_f64() * 1e6,
            (r.round_trips - trips0) as f64 / attempts as f64,
            r.degraded,
            r.cas_retries
        );
    }
    if let Some(c) = server.as_mut() {
        let _ = c.kill();
        let _ = c.wait();
    }
}
