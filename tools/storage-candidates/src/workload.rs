//! Deterministic, fixed-seed journal records shaped like Switchboard routing
//! commands.
//!
//! Value sizes follow the distribution from issue 10: 70% in 60..160 bytes
//! (customer messages and agent replies with short text), 25% in 160..600
//! bytes, 5% in 600..2000 bytes (all ranges half-open). Each value is a small
//! binary header (command tag, conversation id, timestamp, agent id, text
//! length) followed by words of customer-service text. Keys are big-endian
//! `u64` sequence numbers starting at 0.

/// The fixed seed of the workload ("SWITCHBD" in ASCII).
pub(crate) const SEED: u64 = 0x5357_4954_4348_4244;

/// Number of distinct values generated up front and cycled through; large
/// enough that the size distribution is sampled well, small enough (about
/// 13 MB) that generating records costs nothing measurable while writing.
const POOL_SIZE: usize = 65_536;

/// Bytes of binary header in front of the text of every value.
const HEADER_LEN: usize = 1 + 8 + 8 + 4 + 2;

/// Words that make up the text part of a value.
const WORDS: &[&str] = &[
    "hello",
    "hi",
    "thanks",
    "order",
    "refund",
    "delivery",
    "package",
    "late",
    "account",
    "password",
    "reset",
    "invoice",
    "payment",
    "card",
    "declined",
    "help",
    "please",
    "agent",
    "human",
    "support",
    "ticket",
    "number",
    "tracking",
    "address",
    "change",
    "cancel",
    "subscription",
    "plan",
    "upgrade",
    "price",
    "discount",
    "code",
    "error",
    "app",
    "login",
    "email",
    "phone",
    "today",
    "tomorrow",
    "week",
    "still",
    "waiting",
    "sorry",
    "understand",
    "checking",
    "moment",
    "resolved",
    "anything",
    "else",
    "bye",
];

/// A small, fast, deterministic PRNG (SplitMix64). Used instead of a crate so
/// the workload stays byte-for-byte identical whatever crate versions resolve.
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    /// Creates a generator from `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// Returns the next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Returns a number in `lo..hi` (half-open; the modulo bias is far below
    /// anything that matters here).
    pub(crate) fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo)
    }
}

/// One journal record as handed to a candidate: a big-endian sequence-number
/// key and a value borrowed from the workload's pool.
#[derive(Clone, Copy)]
pub(crate) struct Record<'a> {
    /// Big-endian `u64` sequence number.
    pub(crate) key: [u8; 8],
    /// The encoded routing command.
    pub(crate) value: &'a [u8],
}

impl Record<'_> {
    /// The sequence number in `key`.
    pub(crate) fn seq(&self) -> u64 {
        u64::from_be_bytes(self.key)
    }

    /// Logical size of the record: key plus value bytes.
    pub(crate) fn len(&self) -> usize {
        self.key.len() + self.value.len()
    }
}

/// The pool of pre-generated values; record `seq` carries value
/// `seq % POOL_SIZE`.
pub(crate) struct Workload {
    /// Values cycled through in order, `POOL_SIZE` of them.
    pool: Vec<Vec<u8>>,
}

impl Workload {
    /// Generates the value pool from the fixed seed.
    pub(crate) fn new() -> Self {
        let mut rng = SplitMix64::new(SEED);
        let pool = (0..POOL_SIZE)
            .map(|i| encode_value(&mut rng, i as u64))
            .collect();
        Self { pool }
    }

    /// Mean logical record size (key plus value) over the pool, in bytes.
    pub(crate) fn mean_record_len(&self) -> f64 {
        let total: usize = self.pool.iter().map(|v| v.len() + 8).sum();
        total as f64 / self.pool.len() as f64
    }

    /// Replaces the contents of `batch` with the `n` records whose sequence
    /// numbers start at `first_seq`.
    pub(crate) fn fill_batch<'a>(&'a self, first_seq: u64, n: usize, batch: &mut Vec<Record<'a>>) {
        batch.clear();
        batch.extend((first_seq..first_seq + n as u64).map(|seq| Record {
            key: seq.to_be_bytes(),
            value: self.value_of(seq),
        }));
    }

    /// The value that record `seq` carries, for checking recovered data.
    pub(crate) fn value_of(&self, seq: u64) -> &[u8] {
        &self.pool[(seq % POOL_SIZE as u64) as usize]
    }
}

/// Draws a value size from the issue-10 distribution.
fn value_size(rng: &mut SplitMix64) -> usize {
    let bucket = rng.range(0, 100);
    let size = if bucket < 70 {
        rng.range(60, 160)
    } else if bucket < 95 {
        rng.range(160, 600)
    } else {
        rng.range(600, 2000)
    };
    size as usize
}

/// Encodes one routing command of a randomly drawn size.
fn encode_value(rng: &mut SplitMix64, index: u64) -> Vec<u8> {
    let size = value_size(rng);
    let mut value = Vec::with_capacity(size);
    // Command tag: enqueue, assign, customer message, agent reply, transfer, close.
    value.push(1 + rng.range(0, 6) as u8);
    // Conversation id from a pool of 10,000 live conversations.
    value.extend_from_slice(&rng.range(0, 10_000).to_be_bytes());
    // Timestamp in microseconds, advancing with the record index.
    value.extend_from_slice(&(1_767_225_600_000_000 + index * 137).to_be_bytes());
    // Agent or bot id.
    value.extend_from_slice(&(rng.range(0, 500) as u32).to_be_bytes());
    let text_len = size - HEADER_LEN;
    value.extend_from_slice(&(text_len as u16).to_be_bytes());
    while value.len() < size {
        let word = WORDS[rng.range(0, WORDS.len() as u64) as usize].as_bytes();
        value.extend_from_slice(word);
        value.push(b' ');
    }
    value.truncate(size);
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_follow_the_distribution() {
        let w = Workload::new();
        let n = w.pool.len() as f64;
        let small = w.pool.iter().filter(|v| v.len() < 160).count() as f64 / n;
        let large = w.pool.iter().filter(|v| v.len() >= 600).count() as f64 / n;
        assert!((0.68..0.72).contains(&small), "{small}");
        assert!((0.04..0.06).contains(&large), "{large}");
        assert!(w.pool.iter().all(|v| (60..2000).contains(&v.len())));
    }

    #[test]
    fn workload_is_deterministic() {
        assert_eq!(Workload::new().pool, Workload::new().pool);
    }
}
