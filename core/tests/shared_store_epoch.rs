//! The shared store's clock: a file records which kind of clock made it and
//! the time its slots count from, and a guard refuses one whose time it cannot
//! trust instead of freezing time for every process that opens it. Also:
//! no header value, however mangled, makes opening or using a store panic.

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use loginguard::{Attempt, Clock, ErrorKind, Guard, ManualClock, Policy, SystemClock, MAX_LOCK};
use proptest::prelude::*;
use support::shared::{self, refused};

const CAPACITY: usize = 64;
const HEADER_BYTES: usize = 4096;
const EPOCH_AT: usize = 40;
const DAY_MS: u64 = 24 * 3600 * 1000;

fn policy(path: &Path) -> Policy {
    shared::policy(path, CAPACITY)
}

fn temp_store(name: &str) -> PathBuf {
    shared::temp_store("epoch", name)
}

fn manual(ms: u64) -> Arc<ManualClock> {
    let clock = Arc::new(ManualClock::new());
    clock.set_ms(ms);
    clock
}

fn open(path: &Path, clock: Arc<dyn Clock>) -> loginguard::Result<Guard> {
    Guard::with_clock(policy(path), clock)
}

fn set_epoch(path: &Path, epoch: u64) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[EPOCH_AT..EPOCH_AT + 8].copy_from_slice(&epoch.to_le_bytes());
    std::fs::write(path, bytes).unwrap();
}

/// A clock that says nothing of its kind: it is taken for Unix milliseconds.
#[derive(Debug)]
struct Fixed(u64);

impl Clock for Fixed {
    fn now_ms(&self) -> u64 {
        self.0
    }
}

#[test]
fn a_file_made_by_a_manual_clock_is_refused_by_a_system_clock_guard() {
    let path = temp_store("manual-then-system");
    open(&path, manual(0)).unwrap();
    refused(Guard::new(policy(&path)), &path, "manual");
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

#[test]
fn a_file_made_by_the_system_clock_is_refused_by_a_manual_clock_guard() {
    let path = temp_store("system-then-manual");
    Guard::new(policy(&path)).unwrap();
    refused(open(&path, manual(SystemClock.now_ms())), &path, "manual");
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

#[test]
fn a_clock_before_2020_makes_no_store_and_opens_none() {
    let path = temp_store("before-2020");
    // A host before NTP: a clock on Unix time that reads the 1970s.
    refused(open(&path, Arc::new(Fixed(5_000))), &path, "2020");
    assert!(!path.exists(), "a store was made on a wrong clock");
    Guard::new(policy(&path)).unwrap();
    refused(open(&path, Arc::new(Fixed(5_000))), &path, "2020");
    // The same custom clock on the right time shares the file with the system clock.
    let shared = open(&path, Arc::new(Fixed(SystemClock.now_ms()))).unwrap();
    shared
        .record_failure(&Attempt::new().account("alice"))
        .unwrap();
    let system = Guard::new(policy(&path)).unwrap();
    assert_eq!(
        system
            .check(&Attempt::new().account("alice"))
            .unwrap()
            .failures,
        1
    );
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

#[test]
fn a_system_clock_guard_refuses_an_implausible_epoch() {
    let path = temp_store("implausible");
    Guard::new(policy(&path)).unwrap();
    let now = SystemClock.now_ms();
    // Made while the host clock read near 0: time would stay frozen at the slots' end.
    set_epoch(&path, 1_000);
    refused(Guard::new(policy(&path)), &path, "2020");
    // Made by a clock a day ahead: time would stand still for a day.
    set_epoch(&path, now + DAY_MS);
    refused(Guard::new(policy(&path)), &path, "ahead");
    // Within the tolerance: accepted.
    set_epoch(&path, now + 1_000);
    Guard::new(policy(&path)).unwrap();
    set_epoch(&path, now - 30 * DAY_MS);
    Guard::new(policy(&path)).unwrap();
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

#[test]
fn a_manual_clock_guard_refuses_a_file_its_slots_cannot_time() {
    let path = temp_store("manual-range");
    open(&path, manual(3_600_000)).unwrap();
    // A later manual clock that starts at 0 would see no time pass for an hour.
    refused(open(&path, manual(0)), &path, "ahead");
    open(&path, manual(3_600_000)).unwrap();
    // 2^40 ms after the epoch is beyond what a slot stores: time would freeze.
    refused(open(&path, manual(3_600_000 + (1 << 40))), &path, "too old");
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

#[test]
fn time_runs_on_a_file_shared_by_manual_clocks() {
    let path = temp_store("manual-runs");
    let clock = manual(0);
    let a = open(&path, clock.clone()).unwrap();
    let b = open(&path, clock.clone()).unwrap();
    let alice = Attempt::new().account("alice").ip("192.0.2.1");
    for _ in 0..11 {
        a.record_failure(&alice).unwrap();
    }
    assert_eq!(b.check(&alice).unwrap().retry_after_ms, Some(60_000));
    clock.advance_ms(30_000);
    assert_eq!(b.check(&alice).unwrap().retry_after_ms, Some(30_000));
    clock.advance_ms(15 * 60_000 + 30_000);
    assert_eq!(b.check(&alice).unwrap().failures, 0);
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

#[test]
fn huge_statistics_in_the_file_never_overflow() {
    let path = temp_store("stats");
    let mut bytes = valid_file(&path, manual(0));
    // The statistics (1024..4096): every counter near its end.
    bytes[1024..HEADER_BYTES].fill(0xff);
    std::fs::write(&path, bytes).unwrap();
    let guard = open(&path, manual(0)).unwrap();
    guard
        .record_failure(&Attempt::new().account("alice"))
        .unwrap();
    let stats = guard.stats();
    assert_eq!(stats.allow, u64::MAX);
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

/// Opens `bytes` as a store file and, if it opens, uses it: never a panic,
/// and any error is a store error.
fn open_mangled(path: &Path, bytes: &[u8], clock: Arc<dyn Clock>) -> Result<(), TestCaseError> {
    std::fs::write(path, bytes).unwrap();
    match open(path, clock.clone()) {
        Err(e) => prop_assert_eq!(e.kind(), ErrorKind::Store, "{}", e),
        Ok(guard) => {
            let a = Attempt::new().account("alice").ip("198.51.100.7");
            for _ in 0..12 {
                guard.record_failure(&a).unwrap();
            }
            let seen = guard.inspect(&a).unwrap();
            for d in &seen.dimensions {
                if let Some(until) = d.locked_until_ms {
                    prop_assert!(until >= clock.now_ms());
                    prop_assert!(until - clock.now_ms() <= MAX_LOCK.as_millis() as u64);
                }
            }
            guard.check(&a).unwrap();
            guard.reset_account("alice").unwrap();
            guard.stats();
        }
    }
    Ok(())
}

fn valid_file(path: &Path, clock: Arc<dyn Clock>) -> Vec<u8> {
    let _ = std::fs::remove_file(path);
    open(path, clock).unwrap();
    std::fs::read(path).unwrap()
}

fn interesting_u64() -> impl Strategy<Value = u64> {
    let now = SystemClock.now_ms();
    prop_oneof![
        Just(0u64),
        Just(u64::MAX),
        Just(u64::MAX - 1),
        Just(1u64 << 40),
        Just((1u64 << 40) - 1),
        Just(now),
        Just(now + 59_000),
        Just(now - (1 << 40)),
        Just(u64::from(u32::MAX)),
        Just(CAPACITY as u64),
        any::<u64>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn mangled_header_fields_never_panic(
        field in prop_oneof![Just(8usize), Just(12), Just(16), Just(24), Just(32), Just(36), Just(40)],
        value in interesting_u64(),
        manual_clock in any::<bool>(),
        clock_ms in interesting_u64(),
        cut in prop_oneof![Just(None), (0usize..8192).prop_map(Some)],
    ) {
        let path = temp_store("prop-field");
        let clock: Arc<dyn Clock> = if manual_clock { manual(clock_ms) } else { Arc::new(SystemClock) };
        let maker: Arc<dyn Clock> = if manual_clock { manual(0) } else { Arc::new(SystemClock) };
        let mut bytes = valid_file(&path, maker);
        let width = if matches!(field, 8 | 12 | 32 | 36) { 4 } else { 8 };
        bytes[field..field + width].copy_from_slice(&value.to_le_bytes()[..width]);
        if let Some(cut) = cut {
            bytes.truncate(cut.min(bytes.len()));
        }
        open_mangled(&path, &bytes, clock)?;
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[test]
    fn random_headers_never_panic(
        header in proptest::collection::vec(any::<u8>(), 0..=HEADER_BYTES),
        pad in any::<bool>(),
        manual_clock in any::<bool>(),
        clock_ms in interesting_u64(),
    ) {
        let path = temp_store("prop-random");
        let clock: Arc<dyn Clock> = if manual_clock { manual(clock_ms) } else { Arc::new(SystemClock) };
        let mut bytes = header;
        if pad {
            bytes.resize(HEADER_BYTES + 8 * 256, 0);
        }
        open_mangled(&path, &bytes, clock)?;
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }
}
