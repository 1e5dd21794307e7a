//! Routing time: Unix milliseconds that never go backwards.
//!
//! Anchored to the wall clock once at start, then advanced by tokio's monotonic clock,
//! so a wall-clock step cannot reorder events and tests can pause time.

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
        }
    }

    /// The current time.
    pub fn now(&self) -> Millis {
        self.started_unix_ms + self.started.elapsed().as_millis() as Millis
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}
