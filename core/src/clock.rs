//! Where the engine reads the time: the system clock, or a manual one for tests.

use std::sync::atomic::{AtomicU64, Ordering};

/// A source of absolute time in milliseconds.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Milliseconds on this clock's scale.
    fn now_ms(&self) -> u64;
}

/// Unix epoch milliseconds. A system clock set before 1970 reads 0.
///
/// On Linux it reads `CLOCK_REALTIME_COARSE`: the time of the last timer
/// tick (a few milliseconds' resolution) for a few nanoseconds instead of
/// tens; a lock or a window is then exact to within one tick.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn now_ms(&self) -> u64 {
        let t = rustix::time::clock_gettime(rustix::time::ClockId::RealtimeCoarse);
        u64::try_from(t.tv_sec).map_or(0, |s| s * 1000 + t.tv_nsec as u64 / 1_000_000)
    }

    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    fn now_ms(&self) -> u64 {
        use std::time::{SystemTime, UNIX_EPOCH};
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
