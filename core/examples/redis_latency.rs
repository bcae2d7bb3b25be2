//! Latency per attempt on the redis store against a local redis-server, on
//! the same zipf workload as `bindings-node/bench/bench-redis.mjs` (seed 42,
//! 100,000 accounts with P(i) ~ 1/(i+1), 10,000 networks): `begin` alone (the
//! failure recorded in advance), and `check` then `record_failure`. One
//! client: median, p99 and mean per attempt, round trips per attempt (the
//! guard's count) and Redis commands per attempt (`INFO commandstats`
//! deltas); 32 clients (threads on one guard): attempts per second. Each
//! figure is the median of RUNS runs, each on fresh keys. `begin` is called
//! without a solved CAPTCHA, as the Node and Python benches do.
//!
//! Starts its own redis-server on a free port unless `LG_BENCH_REDIS_URL`
//! names one, or `LG_BENCH_REDIS_CLUSTER` (comma-separated URLs) names a
//! Redis Cluster's seeds (then no command counts).
//!
//! `cargo run --release -p loginguard --example redis_latency [ATTEMPTS] [RUNS]`

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use loginguard::{Action, Attempt, Guard, Policy, StoreKind};

const WARMUP: usize = 2000;

/// The zipf workload of the Node bench: the same accounts and networks.
fn zipf(n: usize) -> Vec<(String, String)> {
    let mut state: u64 = 42;
    let mut next = move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let mut cdf = vec![0f64; 100_000];
    let mut sum = 0.0;
    for (i, c) in cdf.iter_mut().enumerate() {
        sum += 1.0 / (i as f64 + 1.0);
        *c = sum;
    }
    (0..n)
        .map(|_| {
            let target = (next() >> 11) as f64 * 2f64.powi(-53) * sum;
            let i = cdf.partition_point(|&c| c <= target).min(cdf.len() - 1);
            let j = next() % 10_000;
            (
                format!("user{i}@example.com"),
                format!("10.{}.{}.7", j / 256, j % 256),
            )
        })
        .collect()
}

fn commands(info: Option<&mut redis::Connection>) -> Option<u64> {
    let text: String = redis::cmd("INFO").arg("commandstats").query(info?).ok()?;
    Some(
        text.lines()
            .filter(|l| l.starts_with("cmdstat_") && !l.starts_with("cmdstat_info:"))
            .filter_map(|l| {
                l.split("calls=")
                    .nth(1)?
                    .split(',')
                    .next()?
                    .parse::<u64>()
                    .ok()
            })
            .sum(),
    )
}

struct Run {
    median_us: f64,
    p99_us: f64,
    mean_us: f64,
    trips: f64,
    commands: Option<f64>,
    per_second_1: f64,
    per_second_32: f64,
    degraded: u64,
    /// Why: (errors, CAS rounds exhausted), both guards.
    why: (u64, u64),
}

fn guard(policy: &Policy, prefix: String) -> Guard {
    let mut p = policy.clone();
    p.store.redis.prefix = prefix;
    Guard::new(p).expect("redis store")
}

fn one(g: &Guard, begin: bool, account: &str, ip: &str) {
    let a = Attempt::new().account(account).ip(ip);
    if begin {
        // As the Node and Python benches: no CAPTCHA solved.
        g.begin(&a, false).unwrap();
    } else if g.check(&a).unwrap().action != Action::Deny {
        g.record_failure(&a).unwrap();
    }
}

fn run(
    policy: &Policy,
    prefix: &str,
    begin: bool,
    work: &[(String, String)],
    info: Option<&mut redis::Connection>,
) -> Run {
    let attempts = work.len() - WARMUP;
    let g = guard(policy, format!("{prefix}a"));
    for (account, ip) in &work[attempts..] {
        one(&g, begin, account, ip);
    }
    let trips = || g.stats().redis.unwrap().round_trips;
    let (t0, t1) = (trips(), trips());
    let mut info = info;
    let c0 = commands(info.as_deref_mut());
    let mut each = Vec::with_capacity(attempts);
    let started = Instant::now();
    for (account, ip) in &work[..attempts] {
        let t = Instant::now();
        one(&g, begin, account, ip);
        each.push(t.elapsed());
    }
    let total = started.elapsed();
    let c1 = commands(info);
    let t2 = trips();
    let degraded = g.stats().redis.unwrap().degraded;
    each.sort_unstable();
    // 32 clients on a fresh guard and fresh keys.
    let g32 = guard(policy, format!("{prefix}b"));
    let next = AtomicUsize::new(0);
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..32 {
            s.spawn(|| loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                let Some((account, ip)) = work.get(k).filter(|_| k < attempts) else {
                    break;
                };
                one(&g32, begin, account, ip);
            });
        }
    });
    let at32 = started.elapsed();
    Run {
        median_us: each[attempts / 2].as_secs_f64() * 1e6,
        p99_us: each[attempts * 99 / 100].as_secs_f64() * 1e6,
        mean_us: total.as_secs_f64() * 1e6 / attempts as f64,
        trips: (t2 - t1 - (t1 - t0)) as f64 / attempts as f64,
        commands: c0.zip(c1).map(|(a, b)| (b - a) as f64 / attempts as f64),
        per_second_1: attempts as f64 / total.as_secs_f64(),
        per_second_32: attempts as f64 / at32.as_secs_f64(),
        degraded: degraded + g32.stats().redis.unwrap().degraded,
        why: {
            let (a, b) = (g.stats().redis.unwrap(), g32.stats().redis.unwrap());
            (a.errors + b.errors, a.cas_exhausted + b.cas_exhausted)
        },
    }
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let attempts: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let runs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3).max(1);
    let cluster: Vec<String> = std::env::var("LG_BENCH_REDIS_CLUSTER")
        .map(|s| s.split(',').map(str::to_string).collect())
        .unwrap_or_default();
    let (url, mut server) = match std::env::var("LG_BENCH_REDIS_URL") {
        Ok(url) => (Some(url), None),
        Err(_) if !cluster.is_empty() => (None, None),
        Err(_) => {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .stdout(Stdio::null())
                .spawn()
                .expect("redis-server (apt-get install redis-server)");
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                std::thread::sleep(Duration::from_millis(20));
            }
            (Some(format!("redis://127.0.0.1:{port}")), Some(child))
        }
    };
    let mut policy = Policy::default();
    policy.store.kind = StoreKind::Redis;
    policy.store.redis.url = url.clone();
    policy.store.redis.cluster = cluster.clone();
    policy.store.redis.timeout = Duration::from_secs(2);
    let mut info = url
        .as_deref()
        .and_then(|u| redis::Client::open(u).ok()?.get_connection().ok());
    let work = zipf(attempts + WARMUP);
    let where_ = if cluster.is_empty() {
        "one local redis-server".to_string()
    } else {
        format!("a {}-seed Redis Cluster", cluster.len())
    };
    println!(
        "Rust {}, loginguard on {where_}; zipf workload, {attempts} attempts per run, median of {runs} runs",
        env!("CARGO_PKG_VERSION"),
    );
    println!("| contender | median us | p99 us | mean us | round trips / attempt | Redis commands / attempt | attempts/s, 1 client | attempts/s, 32 clients |");
    println!("|-----------|----------:|-------:|--------:|----------------------:|-------------------------:|---------------------:|-----------------------:|");
    for (name, begin) in [("begin", true), ("check + record_failure", false)] {
        let rs: Vec<Run> = (0..runs)
            .map(|r| {
                run(
                    &policy,
                    &format!("bench{}-{r}{}", std::process::id(), u8::from(begin)),
                    begin,
                    &work,
                    info.as_mut(),
                )
            })
            .collect();
        let pick = |f: fn(&Run) -> f64| median(rs.iter().map(f).collect());
        let commands = if rs.iter().all(|r| r.commands.is_some()) {
            format!("{:.2}", pick(|r| r.commands.unwrap_or(0.0)))
        } else {
            "—".to_string()
        };
        let degraded: u64 = rs.iter().map(|r| r.degraded).sum();
        let errors: u64 = rs.iter().map(|r| r.why.0).sum();
        let exhausted: u64 = rs.iter().map(|r| r.why.1).sum();
        println!(
            "| loginguard (Rust) {name} | {:.1} | {:.1} | {:.1} | {:.2} | {commands} | {:.0} | {:.0} |{}",
            pick(|r| r.median_us),
            pick(|r| r.p99_us),
            pick(|r| r.mean_us),
            pick(|r| r.trips),
            pick(|r| r.per_second_1),
            pick(|r| r.per_second_32),
            if degraded > 0 {
                format!(" {degraded} degraded ({errors} errors, {exhausted} CAS exhausted)")
            } else {
                String::new()
            }
        );
    }
    if let Some(c) = server.as_mut() {
        let _ = c.kill();
        let _ = c.wait();
    }
}
