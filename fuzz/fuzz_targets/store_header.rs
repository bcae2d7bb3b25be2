//! Arbitrary bytes as a shared store's file, opened through `Guard::with_clock`
//! and, if it opens, used: never a panic, and any error is a store error.
//!
//! Input: a flags byte (bit 0: give the file exactly the size a store of
//! `CAPACITY` has; bit 1: a manual clock instead of the system clock), eight
//! bytes of the manual clock's time (u64 LE), then the file's bytes.
#![no_main]

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use loginguard::{Attempt, Clock, ErrorKind, Guard, ManualClock, Policy, StoreKind, SystemClock};

const CAPACITY: usize = 64;
const FILE_BYTES: usize = 4096 + 8 * 256;

fn store_path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("loginguard-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        dir.join("counters.store")
    })
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 9 {
        return;
    }
    let flags = data[0];
    let now = u64::from_le_bytes(data[1..9].try_into().expect("8 bytes"));
    let mut file = data[9..].to_vec();
    if flags & 1 != 0 {
        file.resize(FILE_BYTES, 0);
    }
    let path = store_path();
    std::fs::write(path, &file).expect("the store file written");
    let clock: Arc<dyn Clock> = if flags & 2 != 0 {
        let c = ManualClock::new();
        c.set_ms(now);
        Arc::new(c)
    } else {
        Arc::new(SystemClock)
    };
    let mut policy = Policy::default();
    policy.store.kind = StoreKind::Shared;
    policy.store.path = Some(path.clone());
    policy.store.capacity = CAPACITY;
    match Guard::with_clock(policy, clock) {
        Err(e) => assert_eq!(e.kind(), ErrorKind::Store, "{e}"),
        Ok(guard) => {
            let a = Attempt::new().account("alice").ip("198.51.100.7");
            for _ in 0..12 {
                guard.record_failure(&a).expect("a valid attempt");
            }
            guard.inspect(&a).expect("a valid attempt");
            guard.check(&a).expect("a valid attempt");
            guard.reset_account("alice").expect("a valid account");
            let _ = guard.stats();
        }
    }
});
