//! `make bench-instructions`: instructions per call under callgrind (gungraun),
//! which do not move with the machine's noise: the figures to optimise.
//!
//! Each benchmark runs one operation over [`CALLS`] attempts, so the
//! instruction count it prints divided by 10,000 is the cost of one call.
//! What builds the guard and warms it is setup, not counted:
//!
//! - **zipf**: the SPEC's skewed list; the guard has first seen attempts
//!   `0..WARM` through `check` + `record_failure` (so the table holds a run's
//!   worth of keys), and the benchmark runs the next [`CALLS`] attempts;
//! - **hot**: one account from one IP, [`CALLS`] times, after the same warm-up
//!   on that key (a brute force: the key is locked).
//!
//! `check_failure` is the simple flow's attempt (`check`, then
//! `record_failure`); `check` alone runs on attempts whose failures the setup
//! has recorded; `record_success` follows a `begin` of the same attempt. The
//! `c_` benchmarks make the same calls through the C ABI's exported functions
//! (`lg_guard_*` from the `loginguard-ffi` rlib: the path a C caller takes,
//! conversion and panic boundary included).

use std::hint::black_box;

use gungraun::{library_benchmark, library_benchmark_group, main};
use loginguard::{Attempt, Guard};
use loginguard_benches::{guard, hot, site_guard, zipf, LoginAttempt};
use loginguard_ffi::{
    lg_attempt, lg_decision, lg_guard, lg_guard_begin, lg_guard_check, lg_guard_free, lg_guard_new,
    lg_guard_record_failure, lg_guard_record_success, lg_status,
};

/// Calls per benchmark: the printed count / 10,000 is one call's.
const CALLS: usize = 10_000;
/// Attempts of the zipf list seen before the measured ones.
const WARM: usize = 20_000;

/// What a Rust-API benchmark works on.
struct Rust {
    guard: Guard,
    list: Vec<LoginAttempt>,
}

fn attempt(a: &LoginAttempt) -> Attempt<'_> {
    Attempt::new().account(&a.account).ip(&a.ip)
}

fn simple_flow(guard: &Guard, list: &[LoginAttempt]) {
    for a in list {
        let a = attempt(a);
        black_box(guard.check(&a).unwrap());
        black_box(guard.record_failure(&a).unwrap());
    }
}

/// The guard after the warm-up, and the attempts to measure. The `_site`
/// variants run with the site-wide window on (`[site]`, a trigger the
/// workload never reaches), so that the window's cost is their difference.
fn setup(variant: &str) -> Rust {
    let (variant, guard) = match variant.strip_suffix("_site") {
        Some(v) => (v, site_guard()),
        None => (variant, guard()),
    };
    let mut list = match variant {
        "zipf" => zipf(0),
        _ => hot(),
    };
    simple_flow(&guard, &list[..WARM]);
    list.drain(..WARM);
    list.truncate(CALLS);
    Rust { guard, list }
}

/// As `setup`, then one failure on each measured attempt (for `check`).
fn setup_seen(variant: &str) -> Rust {
    let r = setup(variant);
    for a in &r.list {
        r.guard.record_failure(&attempt(a)).unwrap();
    }
    r
}

/// As `setup`, then a `begin` of each measured attempt (for `record_success`).
fn setup_begun(variant: &str) -> Rust {
    let r = setup(variant);
    for a in &r.list {
        r.guard.begin(&attempt(a), false).unwrap();
    }
    r
}

#[library_benchmark]
#[bench::zipf(args = ("zipf"), setup = setup)]
#[bench::hot(args = ("hot"), setup = setup)]
#[bench::zipf_site(args = ("zipf_site"), setup = setup)]
#[bench::hot_site(args = ("hot_site"), setup = setup)]
fn check_failure(r: Rust) -> Rust {
    simple_flow(&r.guard, &r.list);
    r
}

#[library_benchmark]
#[bench::zipf(args = ("zipf"), setup = setup_seen)]
#[bench::hot(args = ("hot"), setup = setup_seen)]
fn check(r: Rust) -> Rust {
    for a in &r.list {
        black_box(r.guard.check(&attempt(a)).unwrap());
    }
    r
}

#[library_benchmark]
#[bench::zipf(args = ("zipf"), setup = setup)]
#[bench::hot(args = ("hot"), setup = setup)]
fn record_failure(r: Rust) -> Rust {
    for a in &r.list {
        black_box(r.guard.record_failure(&attempt(a)).unwrap());
    }
    r
}

#[library_benchmark]
#[bench::zipf(args = ("zipf"), setup = setup)]
#[bench::hot(args = ("hot"), setup = setup)]
fn begin(r: Rust) -> Rust {
    for a in &r.list {
        black_box(r.guard.begin(&attempt(a), false).unwrap());
    }
    r
}

#[library_benchmark]
#[bench::zipf(args = ("zipf"), setup = setup_begun)]
#[bench::hot(args = ("hot"), setup = setup_begun)]
fn record_success(r: Rust) -> Rust {
    for a in &r.list {
        r.guard.record_success(&attempt(a), true).unwrap();
        black_box(());
    }
    r
}

/// What a C-ABI benchmark works on: a guard made by `lg_guard_new` and the
/// attempts as `lg_attempt`s pointing into `list`'s strings.
struct C {
    guard: *mut lg_guard,
    attempts: Vec<lg_attempt>,
    _list: Vec<LoginAttempt>,
}

impl Drop for C {
    fn drop(&mut self) {
        // SAFETY: made by `lg_guard_new`, freed once.
        unsafe { lg_guard_free(self.guard) };
    }
}

fn c_attempt(a: &LoginAttempt) -> lg_attempt {
    lg_attempt {
        account: a.account.as_ptr(),
        account_len: a.account.len(),
        ip: a.ip.as_ptr(),
        ip_len: a.ip.len(),
        ip_bytes: std::ptr::null(),
        ip_bytes_len: 0,
        device: std::ptr::null(),
        device_len: 0,
    }
}

type Op = unsafe fn(*const lg_guard, &lg_attempt) -> lg_status;

unsafe fn c_check(g: *const lg_guard, a: &lg_attempt) -> lg_status {
    let mut d = std::mem::MaybeUninit::<lg_decision>::uninit();
    // SAFETY: a live guard, an attempt into live strings, a writable output.
    let s = unsafe { lg_guard_check(g, a, d.as_mut_ptr()) };
    black_box(d);
    s
}

unsafe fn c_record_failure(g: *const lg_guard, a: &lg_attempt) -> lg_status {
    let mut d = std::mem::MaybeUninit::<lg_decision>::uninit();
    // SAFETY: as `c_check`.
    let s = unsafe { lg_guard_record_failure(g, a, d.as_mut_ptr()) };
    black_box(d);
    s
}

unsafe fn c_begin(g: *const lg_guard, a: &lg_attempt) -> lg_status {
    let mut d = std::mem::MaybeUninit::<lg_decision>::uninit();
    // SAFETY: as `c_check`.
    let s = unsafe { lg_guard_begin(g, a, false, d.as_mut_ptr()) };
    black_box(d);
    s
}

unsafe fn c_record_success(g: *const lg_guard, a: &lg_attempt) -> lg_status {
    // SAFETY: as `c_check`.
    unsafe { lg_guard_record_success(g, a, true) }
}

/// Runs `ops` in turn on every attempt, asserting success.
fn c_run(c: &C, ops: &[Op]) {
    for a in &c.attempts {
        for op in ops {
            // SAFETY: `c.guard` is live; `a` points into `c._list`.
            let status = unsafe { op(c.guard, a) };
            assert_eq!(status, lg_status::LG_OK);
        }
    }
}

fn c_setup_with(variant: &str, prepare: &[Op]) -> C {
    let mut guard = std::ptr::null_mut();
    // SAFETY: NULL/0 is the default policy; `guard` is writable.
    let status = unsafe { lg_guard_new(std::ptr::null(), 0, &mut guard) };
    assert_eq!(status, lg_status::LG_OK);
    let mut list = match variant {
        "zipf" => zipf(0),
        _ => hot(),
    };
    let mut c = C {
        guard,
        attempts: list[..WARM].iter().map(c_attempt).collect(),
        _list: Vec::new(),
    };
    c_run(&c, &[c_check, c_record_failure]);
    list.drain(..WARM);
    list.truncate(CALLS);
    c.attempts = list.iter().map(c_attempt).collect();
    c._list = list; // the strings move with their heap buffers unchanged
    c_run(&c, prepare);
    c
}

fn c_setup(variant: &str) -> C {
    c_setup_with(variant, &[])
}

fn c_setup_seen(variant: &str) -> C {
    c_setup_with(variant, &[c_record_failure])
}

fn c_setup_begun(variant: &str) -> C {
    c_setup_with(variant, &[c_begin])
}

#[library_benchmark]
#[bench::zipf(args = ("zipf"), setup = c_setup)]
#[bench::hot(args = ("hot"), setup = c_setup)]
fn c_check_failure(c: C) -> C {
    c_run(&c, &[c_check, c_record_failure]);
    c
}

#[library_benchmark]
#[bench::zipf(args = ("zipf"), setup = c_setup_seen)]
#[bench::hot(args = ("hot"), setup = c_setup_seen)]
fn c_check_only(c: C) -> C {
    c_run(&c, &[c_check]);
    c
}

#[library_benchmark]
#[bench::zipf(args = ("zipf"), setup = c_setup)]
#[bench::hot(args = ("hot"), setup = c_setup)]
fn c_record_failure_only(c: C) -> C {
    c_run(&c, &[c_record_failure]);
    c
}

#[library_benchmark]
#[bench::zipf(args = ("zipf"), setup = c_setup)]
#[bench::hot(args = ("hot"), setup = c_setup)]
fn c_begin_only(c: C) -> C {
    c_run(&c, &[c_begin]);
    c
}

#[library_benchmark]
#[bench::zipf(args = ("zipf"), setup = c_setup_begun)]
#[bench::hot(args = ("hot"), setup = c_setup_begun)]
fn c_record_success_only(c: C) -> C {
    c_run(&c, &[c_record_success]);
    c
}

library_benchmark_group!(
    name = rust_api;
    benchmarks = check_failure, check, record_failure, begin, record_success
);

library_benchmark_group!(
    name = c_abi;
    benchmarks = c_check_failure, c_check_only, c_record_failure_only, c_begin_only,
        c_record_success_only
);

main!(library_benchmark_groups = rust_api, c_abi);
