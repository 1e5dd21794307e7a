//! Measurement helpers: phase control, latency samples, a small PRNG, the CLV mix.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Where a phase is. Workers read it without locking. It starts at 0, set-up
/// (connecting, signing in, opening conversations), where nothing is counted.
#[derive(Debug, Default)]
pub(crate) struct Control {
    state: AtomicU8,
}

/// Load runs but is not counted yet.
pub(crate) const WARMUP: u8 = 1;
/// Load runs and latencies are recorded.
pub(crate) const MEASURE: u8 = 2;
/// Load still runs so the last measured requests are answered under the same load,
/// but nothing new is recorded.
pub(crate) const COOLDOWN: u8 = 3;
/// Workers stop sending and return.
pub(crate) const STOP: u8 = 4;

impl Control {
    pub(crate) fn get(&self) -> u8 {
        self.state.load(Ordering::Relaxed)
    }

    pub(crate) fn set(&self, state: u8) {
        self.state.store(state, Ordering::Relaxed);
    }

    pub(crate) fn started(&self) -> bool {
        self.get() >= WARMUP
    }

    pub(crate) fn measuring(&self) -> bool {
        self.get() == MEASURE
    }

    pub(crate) fn stopped(&self) -> bool {
        self.get() == STOP
    }
}

/// A relaxed counter shared between a worker and the phase controller.
#[derive(Debug, Default)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    pub(crate) fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Latency samples in microseconds. Requests never answered by the end of the phase
/// count as infinitely late, so an overloaded run cannot look fast by losing its
/// slowest answers.
#[derive(Debug, Default, Clone)]
pub(crate) struct Latencies {
    micros: Vec<u32>,
    missing: usize,
}

impl Latencies {
    pub(crate) fn record(&mut self, elapsed: Duration) {
        self.micros
            .push(u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX));
    }

    pub(crate) fn record_since(&mut self, since: Instant) {
        self.record(since.elapsed());
    }

    /// Requests that were never answered.
    pub(crate) fn add_missing(&mut self, n: usize) {
        self.missing += n;
    }

    pub(crate) fn merge(&mut self, other: Latencies) {
        self.micros.extend(other.micros);
        self.missing += other.missing;
    }

    pub(crate) fn len(&self) -> usize {
        self.micros.len()
    }

    pub(crate) fn missing(&self) -> usize {
        self.missing
    }

    /// p50, p99, p99.9 and max (infinite when a share that large went unanswered);
    /// sorts in place.
    pub(crate) fn summary(&mut self) -> Summary {
        self.micros.sort_unstable();
        let total = self.micros.len() + self.missing;
        let at = |q: f64| -> f64 {
            if total == 0 {
                return f64::NAN;
            }
            let i = ((total as f64 * q).ceil() as usize).clamp(1, total);
            match self.micros.get(i - 1) {
                Some(&us) => f64::from(us) / 1000.0,
                None => f64::INFINITY,
            }
        };
        Summary {
            count: total,
            p50_ms: at(0.50),
            p99_ms: at(0.99),
            p999_ms: at(0.999),
            max_ms: at(1.0),
        }
    }
}

/// Percentiles of a latency sample, in milliseconds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Summary {
    pub(crate) count: usize,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) p999_ms: f64,
    pub(crate) max_ms: f64,
}

impl Summary {
    /// `p50 / p99 / p99.9 / max` in ms, for table cells.
    pub(crate) fn cell(&self) -> String {
        if self.count == 0 {
            return "n/a".to_owned();
        }
        format!(
            "{} / {} / {} / {} ms",
            ms(self.p50_ms),
            ms(self.p99_ms),
            ms(self.p999_ms),
            ms(self.max_ms)
        )
    }
}

/// A millisecond figure with sensible precision; `∞` for an answer that never came.
pub(crate) fn ms(v: f64) -> String {
    if v.is_infinite() {
        "∞".to_owned()
    } else if v < 1.0 {
        format!("{v:.3}")
    } else if v < 100.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.0}")
    }
}

/// A rate with thousands separators, e.g. `123,456`.
pub(crate) fn rate(v: f64) -> String {
    let n = v.round() as u64;
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// SplitMix64: small, fast, good enough for arrival times and CLV draws.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Exponentially distributed with this mean.
    pub(crate) fn exp(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.unit()).ln()
    }

    /// Uniform in `lo..=hi`.
    pub(crate) fn range(&mut self, lo: u32, hi: u32) -> u32 {
        lo + (self.next_u64() % u64::from(hi - lo + 1)) as u32
    }
}

/// CLV draw: 70 % standard (< 1,000), 20 % silver (1,000-9,999), 8 % gold
/// (10,000-99,999), 2 % platinum (100,000-1,000,000), uniform within each band, so
/// every default tier is present.
pub(crate) fn clv(rng: &mut Rng) -> f64 {
    let u = rng.unit();
    let (lo, hi) = if u < 0.70 {
        (0.0, 999.0)
    } else if u < 0.90 {
        (1_000.0, 9_999.0)
    } else if u < 0.98 {
        (10_000.0, 99_999.0)
    } else {
        (100_000.0, 1_000_000.0)
    };
    (lo + (hi - lo) * rng.unit()).floor()
}

/// The default tiers, in order, for reports.
pub(crate) const TIERS: [&str; 4] = ["standard", "silver", "gold", "platinum"];
