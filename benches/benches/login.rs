//! `cargo bench -p loginguard-benches`: the login-failure workload through
//! loginguard and governor, zipf and hot, 1 and 2 threads.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use loginguard_benches::{
    guard, hot, loginguard_attempt, loginguard_begin, shared_guard, zipf, Governor, LoginAttempt,
    ATTEMPTS,
};

fn run<E>(
    iters: u64,
    make: impl Fn() -> E,
    list: &[LoginAttempt],
    one: impl Fn(&E, &LoginAttempt) -> bool,
) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let engine = make(); // a fresh engine per run, built outside the timing
        let start = Instant::now();
        let mut allowed = 0usize;
        for a in list {
            allowed += usize::from(one(&engine, a));
        }
        total += start.elapsed();
        std::hint::black_box(allowed);
    }
    total
}

fn single_thread(c: &mut Criterion) {
    for (variant, list) in [("zipf", zipf(0)), ("hot", hot())] {
        let mut g = c.benchmark_group(format!("login/{variant}"));
        g.throughput(Throughput::Elements(ATTEMPTS as u64));
        g.sample_size(10);
        g.bench_function("loginguard check+record_failure", |b| {
            b.iter_custom(|n| run(n, guard, &list, loginguard_attempt))
        });
        g.bench_function("loginguard shared store check+record_failure", |b| {
            b.iter_custom(|n| run(n, shared_guard, &list, loginguard_attempt))
        });
        g.bench_function("loginguard begin", |b| {
            b.iter_custom(|n| run(n, guard, &list, loginguard_begin))
        });
        g.bench_function("governor 3 keyed limiters", |b| {
            b.iter_custom(|n| run(n, Governor::default, &list, Governor::attempt))
        });
        g.finish();
    }
}

fn two_threads(c: &mut Criterion) {
    let lists = [zipf(1), zipf(2)];
    let mut g = c.benchmark_group("login/zipf-threads");
    g.sample_size(10);
    for threads in [1usize, 2] {
        g.throughput(Throughput::Elements((ATTEMPTS * threads) as u64));
        g.bench_with_input(
            BenchmarkId::new("loginguard", threads),
            &threads,
            |b, &threads| {
                b.iter_custom(|n| {
                    let mut total = Duration::ZERO;
                    for _ in 0..n {
                        let guard = guard();
                        let start = Instant::now();
                        std::thread::scope(|s| {
                            for list in &lists[..threads] {
                                let guard = &guard;
                                s.spawn(move || {
                                    list.iter().filter(|a| loginguard_attempt(guard, a)).count()
                                });
                            }
                        });
                        total += start.elapsed();
                    }
                    total
                })
            },
        );
        g.bench_with_input(
            BenchmarkId::new("governor", threads),
            &threads,
            |b, &threads| {
                b.iter_custom(|n| {
                    let mut total = Duration::ZERO;
                    for _ in 0..n {
                        let gov = Governor::default();
                        let start = Instant::now();
                        std::thread::scope(|s| {
                            for list in &lists[..threads] {
                                let gov = &gov;
                                s.spawn(move || list.iter().filter(|a| gov.attempt(a)).count());
                            }
                        });
                        total += start.elapsed();
                    }
                    total
                })
            },
        );
    }
    g.finish();
}

criterion_group!(benches, single_thread, two_threads);
criterion_main!(benches);
