//! Runs one workload in a loop for a profiler:
//! `cargo run --release -p loginguard-benches --example profile -- zipf|hot check|begin [passes]`.

use loginguard_benches::{guard, hot, loginguard_attempt, loginguard_begin, zipf};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let list = if args.get(1).map(String::as_str) == Some("hot") {
        hot()
    } else {
        zipf(0)
    };
    let one = if args.get(2).map(String::as_str) == Some("begin") {
        loginguard_begin
    } else {
        loginguard_attempt
    };
    let passes: usize = args.get(3).and_then(|p| p.parse().ok()).unwrap_or(5);
    let g = guard();
    let start = std::time::Instant::now();
    let mut allowed = 0;
    for _ in 0..passes {
        allowed += list.iter().filter(|a| one(&g, a)).count();
    }
    let ns = start.elapsed().as_nanos() as f64 / (passes * list.len()) as f64;
    println!("{ns:.1} ns per attempt ({allowed} allowed)");
}
