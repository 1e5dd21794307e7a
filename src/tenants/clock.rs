//! Routing time: Unix milliseconds that never go backwards.
//!
//! Anchored to the wall clock once at start, then advanced by tokio's monotonic clock,
//! so a wall-clock step cannot reorder events and tests can pause time.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use crate::routing::Millis;

/// Monotonic Unix-millisecond clock.
#[derive(Debug, Clone)]
pub struct Clock {
    /// Monotonic instant of the anchor.
    started: Instant,
    /// Unix milliseconds at the anchor.
    started_unix_ms: Millis,
    /// Added to every reading: moves the clock past the last journaled time when the
    /// wall clock is behind it after a restart, so time never goes backwards.
    ahead_ms: Arc<AtomicU64>,
}

impl Clock {
    /// A clock anchored now.
    pub fn new() -> Clock {
        let started_unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as Millis);
        Clock {
            started: Instant::now(),
            started_unix_ms,
            ahead_ms: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Makes sure every later reading is at least `at` (the time of the last change
    /// read back from the journal).
    pub fn not_before(&self, at: Millis) {
        let now = self.now();
        if at > now {
            self.ahead_ms.fetch_add(at - now, Ordering::AcqRel);
        }
    }

    /// The current time.
    pub fn now(&self) -> Millis {
        self.started_unix_ms
            + self.started.elapsed().as_millis() as Millis
            + self.ahead_ms.load(Ordering::Relaxed)
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}
