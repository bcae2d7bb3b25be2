//! Where the engine reads the time: the system clock, or a manual one for tests.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of absolute time in milliseconds.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Milliseconds on this clock's scale.
    fn now_ms(&self) -> u64;
}

/// Unix epoch milliseconds. A system clock set before 1970 reads 0.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    }
}

/// A clock that moves only when told to; starts at 0.
///
/// ```
/// use loginguard::{Clock, ManualClock};
/// let clock = ManualClock::new();
/// clock.advance_ms(1500);
/// assert_eq!(clock.now_ms(), 1500);
/// ```
#[derive(Debug, Default)]
pub struct ManualClock {
    now: AtomicU64,
}

impl ManualClock {
    /// A clock at 0 ms.
    pub const fn new() -> Self {
        ManualClock {
            now: AtomicU64::new(0),
        }
    }

    /// Moves the clock forward by `ms` (saturating).
    pub fn advance_ms(&self, ms: u64) {
        let _ = self
            .now
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |t| {
                Some(t.saturating_add(ms))
            });
    }

    /// Sets the clock to `ms`, backwards included (the engine then counts no time passed).
    pub fn set_ms(&self, ms: u64) {
        self.now.store(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.now.load(Ordering::SeqCst)
    }
}
