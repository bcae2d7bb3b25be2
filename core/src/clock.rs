//! Where the engine reads the time: the system clock, or a manual one for tests.

use std::sync::atomic::{AtomicU64, Ordering};

/// A source of absolute time in milliseconds.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Milliseconds on this clock's scale.
    fn now_ms(&self) -> u64;

    /// Which scale [`Clock::now_ms`] reads. A shared store records the kind
    /// of clock that made it and refuses guards whose clock reads another
    /// scale. A clock that does not say is taken for Unix milliseconds, so a
    /// shared store checks its time like the system clock's.
    ///
    /// ```
    /// use loginguard::{Clock, ClockKind, ManualClock, SystemClock};
    /// #[derive(Debug)]
    /// struct Cached(u64);
    /// impl Clock for Cached {
    ///     fn now_ms(&self) -> u64 { self.0 }
    /// }
    /// assert_eq!(Cached(1_700_000_000_000).kind(), ClockKind::UnixMs);
    /// assert_eq!(SystemClock.kind(), ClockKind::UnixMs);
    /// assert_eq!(ManualClock::new().kind(), ClockKind::Manual);
    /// ```
    fn kind(&self) -> ClockKind {
        ClockKind::UnixMs
    }
}

/// The scale a [`Clock`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ClockKind {
    /// Unix epoch milliseconds, as the system clock reads.
    UnixMs,
    /// A manual clock's own milliseconds, from wherever it was set.
    Manual,
}

impl ClockKind {
    /// The kind's stable snake_case name.
    ///
    /// ```
    /// assert_eq!(loginguard::ClockKind::UnixMs.as_str(), "unix_ms");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            ClockKind::UnixMs => "unix_ms",
            ClockKind::Manual => "manual",
        }
    }
}

impl std::fmt::Display for ClockKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
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
    on_unix_time: bool,
}

impl ManualClock {
    /// A clock at 0 ms.
    pub const fn new() -> Self {
        ManualClock {
            now: AtomicU64::new(0),
            on_unix_time: false,
        }
    }

    /// A manual clock that stands for Unix epoch milliseconds, starting at
    /// `start_ms`: a simulation on real time, which may share a store file
    /// with system-clock guards (its kind is [`ClockKind::UnixMs`]).
    ///
    /// ```
    /// use loginguard::{Clock, ClockKind, ManualClock, SystemClock};
    /// let clock = ManualClock::on_unix_time(SystemClock.now_ms());
    /// assert_eq!(clock.kind(), ClockKind::UnixMs);
    /// ```
    pub const fn on_unix_time(start_ms: u64) -> Self {
        ManualClock {
            now: AtomicU64::new(start_ms),
            on_unix_time: true,
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

    fn kind(&self) -> ClockKind {
        if self.on_unix_time {
            ClockKind::UnixMs
        } else {
            ClockKind::Manual
        }
    }
}
