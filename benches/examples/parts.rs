//! Times the parts of one call on the hot key, for finding where time goes.

use std::time::Instant;

use loginguard::{Attempt, Guard, Policy};

fn time(name: &str, n: u32, mut f: impl FnMut()) {
    let start = Instant::now();
    for _ in 0..n {
        f();
    }
    println!(
        "{name:<40} {:>7.1} ns",
        start.elapsed().as_nanos() as f64 / f64::from(n)
    );
}

fn main() {
    let n = 2_000_000;
    let g = Guard::new(Policy::default()).unwrap();
    let full = Attempt::new().account("user0@example.com").ip("10.0.0.7");
    let account = Attempt::new().account("user0@example.com");
    let ip = Attempt::new().ip("10.0.0.7");
    let addr = Attempt::new()
        .account("user0@example.com")
        .ip_addr("10.0.0.7".parse().unwrap());
    time("check account+ip", n, || {
        std::hint::black_box(g.check(std::hint::black_box(&full)).unwrap());
    });
    time("check account only", n, || {
        std::hint::black_box(g.check(std::hint::black_box(&account)).unwrap());
    });
    time("check ip only", n, || {
        std::hint::black_box(g.check(std::hint::black_box(&ip)).unwrap());
    });
    time("check account+parsed ip", n, || {
        std::hint::black_box(g.check(std::hint::black_box(&addr)).unwrap());
    });
    time("record_failure account+ip", n, || {
        std::hint::black_box(g.record_failure(std::hint::black_box(&full)).unwrap());
    });
    time("record_failure account only", n, || {
        std::hint::black_box(g.record_failure(std::hint::black_box(&account)).unwrap());
    });
    time("begin account+ip", n, || {
        std::hint::black_box(g.begin(std::hint::black_box(&full), false).unwrap());
    });
    let manual = Guard::with_clock(
        Policy::default(),
        std::sync::Arc::new(loginguard::ManualClock::new()),
    )
    .unwrap();
    time("check account only, manual clock", n, || {
        std::hint::black_box(manual.check(std::hint::black_box(&account)).unwrap());
    });
    time("now_ms (system clock)", n, || {
        std::hint::black_box(g.now_ms());
    });
    time("parse ip", n, || {
        std::hint::black_box(
            std::hint::black_box("10.0.0.7")
                .parse::<std::net::IpAddr>()
                .unwrap(),
        );
    });
}
