//! A small seedable pseudo-random generator with the samplers the simulator needs.
//!
//! xoshiro256** (Blackman and Vigna), seeded through splitmix64. Not cryptographic; fast,
//! with a period of 2^256 − 1, and the same sequence on every platform for a given seed,
//! which is what makes a simulation reproducible.

/// One splitmix64 step: advances `state` and returns the next output.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A xoshiro256** generator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// A generator seeded from `seed`.
    pub fn new(seed: u64) -> Rng {
        let mut state = seed;
        let s = [
            splitmix64(&mut state),
            splitmix64(&mut state),
            splitmix64(&mut state),
            splitmix64(&mut state),
        ];
        // splitmix64 never yields four zeros in a row, the one state xoshiro cannot leave.
        Rng { s }
    }

    /// An independent generator for one purpose (`stream`) of a run seeded with `seed`.
    /// Giving each arrival stream and each agent group its own generator keeps their
    /// draws the same when something else in the scenario changes (common random
    /// numbers), so two routing policies are compared on identical arrivals.
    pub fn for_stream(seed: u64, stream: u64) -> Rng {
        let mut state = seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03);
        Rng::new(splitmix64(&mut state))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in `[0, 1)`, with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Exponential with mean 1.
    pub fn unit_exponential(&mut self) -> f64 {
        // 1 − U lies in (0, 1], so the logarithm is finite.
        -(1.0 - self.uniform()).ln()
    }

    /// Exponential with the given mean (the time between events of a Poisson process
    /// of rate `1 / mean`).
    pub fn exponential(&mut self, mean: f64) -> f64 {
        mean * self.unit_exponential()
    }

    /// Poisson-distributed count with mean `lambda` (≥ 0): the number of events of a
    /// Poisson process in a window with `lambda` expected events. Exact: inversion for
    /// small means, and a sum of independent Poisson counts (which is Poisson) for
    /// large ones, so `e^-lambda` never underflows.
    pub fn poisson(&mut self, lambda: f64) -> u64 {
        const CHUNK: f64 = 30.0;
        if !lambda.is_finite() || lambda <= 0.0 {
            return 0;
        }
        let mut remaining = lambda;
        let mut count = 0;
        while remaining > 0.0 {
            let mean = remaining.min(CHUNK);
            remaining -= mean;
            // Inversion: walk the cumulative distribution until it passes U.
            let u = self.uniform();
            let mut k = 0u64;
            let mut p = (-mean).exp();
            let mut cumulative = p;
            while u >= cumulative && p > 0.0 {
                k += 1;
                p *= mean / k as f64;
                cumulative += p;
            }
            count += k;
        }
        count
    }

    /// An index drawn with probability proportional to `weights` (non-negative, with a
    /// positive sum).
    pub fn weighted_index(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        let mut target = self.uniform() * total;
        for (i, &w) in weights.iter().enumerate() {
            if target < w {
                return i;
            }
            target -= w;
        }
        // Rounding at the very top: the last index with any weight.
        weights.iter().rposition(|&w| w > 0.0).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence_and_streams_differ() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        assert!((0..100).all(|_| a.next_u64() == b.next_u64()));
        let mut s0 = Rng::for_stream(7, 0);
        let mut s1 = Rng::for_stream(7, 1);
        assert_ne!(s0.next_u64(), s1.next_u64());
    }

    #[test]
    fn uniform_in_range() {
        let mut r = Rng::new(1);
        for _ in 0..10_000 {
            let u = r.uniform();
            assert!((0.0..1.0).contains(&u));
        }
    }

    fn mean_and_variance(xs: &[f64]) -> (f64, f64) {
        let n = xs.len() as f64;
        let mean = xs.iter().sum::<f64>() / n;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
        (mean, var)
    }

    #[test]
    fn exponential_has_its_mean_and_variance() {
        let mut r = Rng::new(2);
        let xs: Vec<f64> = (0..200_000).map(|_| r.exponential(3.0)).collect();
        let (mean, var) = mean_and_variance(&xs);
        // Standard error of the mean is 3 / sqrt(200k) ≈ 0.0067.
        assert!((mean - 3.0).abs() < 0.04, "mean {mean}");
        assert!((var - 9.0).abs() < 0.3, "variance {var}");
    }

    #[test]
    fn poisson_has_its_mean_and_variance_small_and_large() {
        let mut r = Rng::new(3);
        for lambda in [0.5, 4.0, 75.0] {
            let xs: Vec<f64> = (0..100_000).map(|_| r.poisson(lambda) as f64).collect();
            let (mean, var) = mean_and_variance(&xs);
            let tolerance = 5.0 * (lambda / 100_000.0).sqrt();
            assert!((mean - lambda).abs() < tolerance, "λ {lambda}: mean {mean}");
            assert!(
                (var - lambda).abs() < 0.05 * lambda,
                "λ {lambda}: var {var}"
            );
        }
        assert_eq!(r.poisson(0.0), 0);
    }

    #[test]
    fn weighted_index_follows_weights() {
        let mut r = Rng::new(4);
        let mut counts = [0u32; 3];
        for _ in 0..100_000 {
            counts[r.weighted_index(&[1.0, 0.0, 3.0])] += 1;
        }
        assert_eq!(counts[1], 0);
        let share = f64::from(counts[2]) / 100_000.0;
        assert!((share - 0.75).abs() < 0.01, "share {share}");
    }
}
