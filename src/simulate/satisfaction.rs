//! How satisfied a served customer is: a rating 1-5 from the wait to the first answer
//! measured against the customer's own patience, with some noise.
//!
//! The router has no say in it; the simulator scores each served contact itself, so
//! that a routing policy can be judged by the customers it disappoints and not only by
//! those who give up. The model is deliberately plain:
//!
//! ```text
//! x      = min(1, wait / patience)               how much of their patience it used
//! score  = 5 − 4·x + noise · (2u − 1)            u uniform in [0, 1) from the stream's rng
//! rating = score rounded to the nearest whole star, clamped to 1..=5
//! ```
//!
//! Answered at once, a customer rates 5 (4 or 5 with noise 0.75); answered as their
//! patience was about to run out, 1 (1 or 2). A customer's patience is their own
//! exponential draw from the stream's `patience_secs`; on a stream without patience,
//! `[customers.satisfaction] tolerance_secs` stands in for it. A rating at or below
//! `low_rating` (2 by default) counts as a customer put at risk, like an abandonment.

use crate::routing::Millis;

/// The rating a customer gives after waiting `wait_ms` for an answer, with a patience
/// of `patience_ms` (> 0), noise half-width `noise` (stars) and a uniform draw `u`.
pub fn rating(wait_ms: Millis, patience_ms: f64, noise: f64, u: f64) -> u8 {
    let used = if patience_ms > 0.0 {
        (wait_ms as f64 / patience_ms).min(1.0)
    } else {
        1.0
    };
    let score = 5.0 - 4.0 * used + noise * (2.0 * u - 1.0);
    score.round().clamp(1.0, 5.0) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rating_falls_with_the_share_of_patience_used() {
        // No noise: 5 − 4x, rounded.
        assert_eq!(rating(0, 100_000.0, 0.0, 0.5), 5);
        assert_eq!(rating(25_000, 100_000.0, 0.0, 0.5), 4);
        assert_eq!(rating(50_000, 100_000.0, 0.0, 0.5), 3);
        assert_eq!(rating(75_000, 100_000.0, 0.0, 0.5), 2);
        assert_eq!(rating(100_000, 100_000.0, 0.0, 0.5), 1);
        // Past their patience (served on a stream without abandonment) it stays at 1.
        assert_eq!(rating(400_000, 100_000.0, 0.0, 0.5), 1);
    }

    #[test]
    fn noise_moves_the_score_by_at_most_its_half_width_and_stays_in_range() {
        // u = 0 takes `noise` off, u → 1 adds it.
        assert_eq!(rating(0, 100_000.0, 0.75, 0.0), 4);
        assert_eq!(rating(0, 100_000.0, 0.75, 0.999), 5);
        assert_eq!(rating(100_000, 100_000.0, 0.75, 0.999), 2);
        assert_eq!(rating(100_000, 100_000.0, 0.75, 0.0), 1);
        for wait in [0, 10_000, 60_000, 100_000, 1_000_000] {
            for u in [0.0, 0.3, 0.7, 0.999] {
                assert!((1..=5).contains(&rating(wait, 60_000.0, 3.0, u)));
            }
        }
    }
}
