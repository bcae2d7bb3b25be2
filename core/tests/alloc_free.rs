//! The hot path allocates nothing once the guard is built: first inserts,
//! evictions and non-ASCII names included. Construction stays within the
//! memory bound: 32 bytes per tracked key plus a small constant.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;

use loginguard::{Attempt, Guard, ManualClock, Policy};

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
    static BYTES: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; only counts this thread's calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        let _ = BYTES.try_with(|c| c.set(c.get() + layout.size() as u64));
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        let _ = BYTES.try_with(|c| c.set(c.get() + layout.size() as u64));
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn counted<T>(f: impl FnOnce() -> T) -> (T, u64, u64) {
    let (a0, b0) = (ALLOCS.with(Cell::get), BYTES.with(Cell::get));
    let out = f();
    (out, ALLOCS.with(Cell::get) - a0, BYTES.with(Cell::get) - b0)
}

#[test]
fn construction_stays_within_32_bytes_per_key() {
    for capacity in [8usize, 1000, 1 << 16, 1 << 20] {
        let mut policy = Policy::from_toml(r#"deny_cidrs = ["198.51.100.0/24"]"#).unwrap();
        policy.store.capacity = capacity;
        let (guard, _, bytes) = counted(|| Guard::new(policy.clone()).unwrap());
        let bound = 32 * capacity as u64 + 8192;
        assert!(
            bytes <= bound,
            "capacity {capacity}: {bytes} bytes > {bound}"
        );
        let stats = guard.stats();
        assert!(stats.memory_bytes as u64 <= bound);
        assert!(stats.capacity >= capacity);
    }
}

#[test]
fn hot_path_allocates_nothing() {
    let clock = Arc::new(ManualClock::new());
    // With the site-wide window on, and a short calm-down, so that attacks
    // start and end (and their events are told) within the loop.
    let mut policy =
        Policy::from_toml("[site]\nchallenge_when = \"100/1m\"\ncalm_for = \"30s\"").unwrap();
    policy.store.capacity = 64; // small: inserts soon evict
    let guard = Guard::with_clock(policy, clock.clone()).unwrap();
    let site_events = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let seen = site_events.clone();
    guard.set_listener(move |e| {
        if e.kind.as_str().starts_with("site_attack") {
            seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    });
    let names: Vec<String> = (0..500)
        .map(|i| match i % 4 {
            0 => format!("user{i}@example.com"),
            1 => format!("  Ünïcödé-{i}\u{3000}"),
            2 => format!("ＦＵＬＬＷＩＤＴＨ{i}"),
            _ => format!("ΣΊΣΥΦΟΣ{i}"),
        })
        .collect();
    let ips: Vec<String> = (0..500)
        .map(|i| {
            if i % 2 == 0 {
                format!("10.0.{}.{}", i / 256, i % 256)
            } else {
                format!("2001:db8:{i:x}::1")
            }
        })
        .collect();
    let raw = [192u8, 0, 2, 1];
    let ((), allocs, _) = counted(|| {
        for round in 0..3 {
            for (name, ip) in names.iter().zip(&ips) {
                let a = Attempt::new().account(name).ip(ip);
                guard.check(&a).unwrap();
                guard.begin(&a, round == 1).unwrap();
                guard.record_failure(&a).unwrap();
                guard.record_success(&a, true).unwrap();
                guard
                    .record_failure(&Attempt::new().account(name).ip_bytes(&raw))
                    .unwrap();
                guard
                    .check(&Attempt::new().account(name).device("phone"))
                    .unwrap();
                guard.record_failure(&Attempt::new().ip(ip)).unwrap();
                clock.advance_ms(977);
            }
            // Quiet: the attack ends.
            clock.advance_ms(5 * 60_000);
            guard.check(&Attempt::new().ip("192.0.2.77")).unwrap();
        }
    });
    assert_eq!(
        site_events.load(std::sync::atomic::Ordering::Relaxed),
        6,
        "three attacks started and ended"
    );
    assert_eq!(allocs, 0, "the hot path allocated {allocs} times");
    assert!(
        guard.stats().evictions > 0,
        "the test must exercise eviction"
    );
}
