//! The SPEC's login-failure workload through the Rust API, for `make bench-c`
//! to set beside the same workload through the C ABI (`workload.c`).
//! Prints `rust VARIANT NS_PER_ATTEMPT`, the median of 7 runs, each on a fresh guard:
//! VARIANT zipf / hot is `check` + `record_failure` per attempt, zipf-begin / hot-begin
//! one `begin` per attempt (the race-free flow).

use std::hint::black_box;
use std::time::Instant;

use loginguard::{Attempt, Guard, Policy};

const ATTEMPTS: usize = 200_000;
const ACCOUNTS: usize = 100_000;
const RUNS: usize = 7;

struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

fn zipf() -> Vec<(String, String)> {
    let mut cdf = Vec::with_capacity(ACCOUNTS);
    let mut total = 0.0f64;
    for i in 0..ACCOUNTS {
        total += 1.0 / (i as f64 + 1.0);
        cdf.push(total);
    }
    let mut rng = SplitMix64(42);
    (0..ATTEMPTS)
        .map(|_| {
            let u = (rng.next() >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
            let i = cdf.partition_point(|&c| c <= u * total).min(ACCOUNTS - 1);
            let j = rng.next() % 10_000;
            (
                format!("user{i}@example.com"),
                format!("10.{}.{}.7", j / 256, j % 256),
            )
        })
        .collect()
}

fn hot() -> Vec<(String, String)> {
    vec![("user0@example.com".to_string(), "10.0.0.7".to_string()); ATTEMPTS]
}

fn run(work: &[(String, String)], begin: bool) -> f64 {
    let guard = Guard::new(Policy::default()).expect("default policy");
    let start = Instant::now();
    for (account, ip) in work {
        let a = Attempt::new().account(account).ip(ip);
        if begin {
            black_box(guard.begin(&a, false).expect("valid attempt"));
            continue;
        }
        black_box(guard.check(&a).expect("valid attempt"));
        black_box(guard.record_failure(&a).expect("valid attempt"));
    }
    start.elapsed().as_nanos() as f64 / work.len() as f64
}

fn main() {
    for (name, work, begin) in [
        ("zipf", zipf(), false),
        ("hot", hot(), false),
        ("zipf-begin", zipf(), true),
        ("hot-begin", hot(), true),
    ] {
        let mut times: Vec<f64> = (0..RUNS).map(|_| run(&work, begin)).collect();
        times.sort_by(f64::total_cmp);
        println!("rust {name} {:.1}", times[RUNS / 2]);
    }
}
