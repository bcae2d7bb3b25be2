//! Prints the benchmark table: ns per attempt (median of several runs, each on
//! a fresh engine) for loginguard and governor on the same workload in the
//! same run, their ratio, bytes per tracked key, and multi-thread throughput.
//!
//! `cargo run --release -p loginguard-benches --bin compare -- [--runs N] [--threads 1,2,4]`

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering::Relaxed};
use std::time::Instant;

use loginguard_benches::{
    guard, guard_for_threads, guard_without_ip_range, hot, loginguard_attempt, loginguard_begin,
    shared_guard, site_guard, zipf, Governor, LoginAttempt, ATTEMPTS,
};

/// Counts live heap bytes while `COUNTING` is on (off while timing).
struct LiveBytes;
static COUNTING: AtomicBool = AtomicBool::new(false);
static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged.
unsafe impl GlobalAlloc for LiveBytes {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Relaxed) {
            LIVE.fetch_add(layout.size() as isize, Relaxed);
        }
        // SAFETY: the caller's contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if COUNTING.load(Relaxed) {
            LIVE.fetch_sub(layout.size() as isize, Relaxed);
        }
        // SAFETY: the caller's contract.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: LiveBytes = LiveBytes;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn ns_per_attempt<E>(
    runs: usize,
    make: impl Fn() -> E,
    list: &[LoginAttempt],
    one: impl Fn(&E, &LoginAttempt) -> bool,
) -> f64 {
    // One run more than asked, the first discarded: it warms caches and clocks.
    median(
        (0..=runs)
            .map(|_| {
                let engine = make();
                let start = Instant::now();
                let allowed = list.iter().filter(|a| one(&engine, a)).count();
                std::hint::black_box(allowed);
                start.elapsed().as_nanos() as f64 / list.len() as f64
            })
            .skip(1)
            .collect(),
    )
}

fn attempts_per_sec<E: Sync>(
    runs: usize,
    make: impl Fn() -> E,
    lists: &[Vec<LoginAttempt>],
    one: impl Fn(&E, &LoginAttempt) -> bool + Sync,
) -> f64 {
    median(
        (0..runs)
            .map(|_| {
                let engine = make();
                let start = Instant::now();
                std::thread::scope(|s| {
                    for list in lists {
                        let (engine, one) = (&engine, &one);
                        s.spawn(move || list.iter().filter(|a| one(engine, a)).count());
                    }
                });
                (lists.len() * ATTEMPTS) as f64 / start.elapsed().as_secs_f64()
            })
            .collect(),
    )
}

fn bytes_per_key<E>(
    make: impl Fn() -> E,
    list: &[LoginAttempt],
    one: impl Fn(&E, &LoginAttempt) -> bool,
    keys: impl Fn(&E) -> usize,
) -> f64 {
    LIVE.store(0, Relaxed);
    COUNTING.store(true, Relaxed);
    let engine = make();
    for a in list {
        one(&engine, a);
    }
    let live = LIVE.load(Relaxed);
    COUNTING.store(false, Relaxed);
    let n = keys(&engine);
    drop(engine);
    live as f64 / n as f64
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let runs: usize = arg("--runs").map_or(7, |v| v.parse().expect("--runs N"));
    let threads: Vec<usize> = arg("--threads")
        .unwrap_or_else(|| "1,2".into())
        .split(',')
        .map(|t| t.parse().expect("--threads 1,2,4"))
        .collect();

    println!("login-failure workload: {ATTEMPTS} attempts, median of {runs} runs, ns per attempt (lower is better)\n");
    println!("| variant | loginguard check+record_failure | loginguard begin | shared store check+record_failure | governor (3 keyed limiters) | governor / loginguard | shared / memory |");
    println!("|---|---|---|---|---|---|---|");
    for (variant, list) in [("zipf", zipf(0)), ("hot", hot())] {
        let lg = ns_per_attempt(runs, guard, &list, loginguard_attempt);
        let begin = ns_per_attempt(runs, guard, &list, loginguard_begin);
        let shared = ns_per_attempt(runs, shared_guard, &list, loginguard_attempt);
        let gov = ns_per_attempt(runs, Governor::default, &list, Governor::attempt);
        println!(
            "| {variant} | {lg:.0} | {begin:.0} | {shared:.0} | {gov:.0} | {:.1}x | {:.2}x |",
            gov / lg,
            shared / lg
        );
    }

    let list = zipf(0);
    let lg_bytes = {
        let g = guard();
        let s = g.stats();
        s.memory_bytes as f64 / s.capacity as f64
    };
    let gov_bytes = bytes_per_key(Governor::default, &list, Governor::attempt, Governor::keys);
    println!("\nmemory per tracked key: loginguard {lg_bytes:.1} bytes (fixed at construction, 1,048,576 keys); governor {gov_bytes:.1} bytes (grows with keys: {} after zipf)",
        { let g = Governor::default(); list.iter().for_each(|a| { g.attempt(a); }); g.keys() });

    println!("\nthreads on distinct keys (a zipf list per thread, its own accounts and networks; table capacity 1,048,576 keys per thread), check+record_failure attempts per second (higher is better)\n");
    println!("| threads | loginguard | speedup | governor | speedup |");
    println!("|---|---|---|---|---|");
    let max = threads.iter().copied().max().unwrap_or(1);
    let lists: Vec<Vec<LoginAttempt>> = (1..=max).map(zipf).collect();
    scaling(runs, &threads, &lists, guard_for_threads);

    println!("\nthreads on one hot key (every thread the hot list on one engine: the contended compare-and-swap path), check+record_failure attempts per second (higher is better)\n");
    println!("| threads | loginguard | speedup | governor | speedup |");
    println!("|---|---|---|---|---|");
    let hot_lists: Vec<Vec<LoginAttempt>> = (0..max).map(|_| hot()).collect();
    scaling(runs, &threads, &hot_lists, |_| guard());
    site_window_cost(runs);
}

/// One scaling table's rows: attempts per second on 1.. threads (each thread
/// its own list), loginguard and governor, with the speedup over the first row.
fn scaling(
    runs: usize,
    threads: &[usize],
    lists: &[Vec<LoginAttempt>],
    make: impl Fn(usize) -> loginguard::Guard,
) {
    let mut base = None;
    for &t in threads {
        let lg = attempts_per_sec(runs.min(5), || make(t), &lists[..t], loginguard_attempt);
        let gov = attempts_per_sec(
            runs.min(5),
            Governor::default,
            &lists[..t],
            Governor::attempt,
        );
        let (b_lg, b_gov) = *base.get_or_insert((lg, gov));
        println!(
            "| {t} | {:.2} M/s | {:.2}x | {:.2} M/s | {:.2}x |",
            lg / 1e6,
            lg / b_lg,
            gov / 1e6,
            gov / b_gov
        );
    }
}

/// What a feature costs: the same workload through two guards at once,
/// without and with it, in alternating chunks of 1,000 attempts (which one
/// goes first alternating too), so that both see the same machine load; the
/// median over chunks of the per-attempt difference. Features: the site-wide
/// window (`[site]` on, a trigger never reached) and the `ip_range` dimension.
fn site_window_cost(runs: usize) {
    println!("\nwhat a feature costs: check+record_failure ns per attempt without and with it, {runs} passes in alternating chunks of 1,000 attempts\n");
    println!("| variant | feature | without | with | cost (median of chunks) |");
    println!("|---|---|---|---|---|");
    type Make = fn() -> loginguard::Guard;
    let features: [(&str, Make, Make); 2] = [
        ("[site] challenge_when = \"1000000/1m\"", guard, site_guard),
        ("ip_range dimension", guard_without_ip_range, guard),
    ];
    for ((variant, list), (feature, without, with)) in [("zipf", zipf(0)), ("hot", hot())]
        .into_iter()
        .flat_map(|v| features.iter().map(move |f| (v.clone(), *f)))
    {
        let (off, on) = (without(), with());
        let time = |g: &loginguard::Guard, chunk: &[LoginAttempt]| {
            let start = Instant::now();
            let allowed = chunk.iter().filter(|a| loginguard_attempt(g, a)).count();
            std::hint::black_box(allowed);
            start.elapsed().as_nanos() as f64 / chunk.len() as f64
        };
        let (mut sum_off, mut sum_on, mut diffs) = (0.0, 0.0, Vec::new());
        for pass in 0..runs.max(1) {
            for (i, chunk) in list.chunks(1000).enumerate() {
                let (a, b) = if (i + pass) % 2 == 0 {
                    let a = time(&off, chunk);
                    (a, time(&on, chunk))
                } else {
                    let b = time(&on, chunk);
                    (time(&off, chunk), b)
                };
                sum_off += a;
                sum_on += b;
                diffs.push(b - a);
            }
        }
        let n = diffs.len() as f64;
        println!(
            "| {variant} | {feature} | {:.1} | {:.1} | {:+.1} ns |",
            sum_off / n,
            sum_on / n,
            median(diffs)
        );
    }
}
