//! The share of conversations each queue answered within the service-level time
//! lately: what a campaign reads to pause while the queue that takes its replies is
//! falling behind.

use std::collections::VecDeque;

use super::model::Millis;

/// How far back answers count.
const WINDOW_MS: u64 = 15 * 60_000;
/// Most answers kept per queue (the newest).
const KEPT: usize = 500;
/// Fewer answers than this in the window say nothing yet.
const FEWEST: usize = 10;

/// Recent answers per queue: when each was accepted and whether within the time.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RecentServiceLevel {
    per_queue: Vec<VecDeque<(Millis, bool)>>,
}

impl RecentServiceLevel {
    /// A conversation of `queue` was accepted at `now`; `within` the time or not.
    pub fn record(&mut self, queue: usize, now: Millis, within: bool) {
        if self.per_queue.len() <= queue {
            self.per_queue.resize_with(queue + 1, VecDeque::new);
        }
        let answers = &mut self.per_queue[queue];
        if answers.len() >= KEPT {
            answers.pop_front();
        }
        answers.push_back((now, within));
    }

    /// The share of `queue`'s answers in the window before `now` that were within
    /// the time; `None` with too few answers to tell.
    pub fn share(&self, queue: usize, now: Millis) -> Option<f64> {
        let answers = self.per_queue.get(queue)?;
        let recent = answers.iter().filter(|(at, _)| at + WINDOW_MS > now);
        let (mut total, mut within) = (0usize, 0usize);
        for (_, ok) in recent {
            total += 1;
            within += usize::from(*ok);
        }
        (total >= FEWEST).then(|| within as f64 / total as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_share_counts_recent_answers_once_there_are_enough() {
        let mut sl = RecentServiceLevel::default();
        for i in 0..9 {
            sl.record(1, i, true);
        }
        assert_eq!(sl.share(1, 10), None, "nine answers say nothing yet");
        sl.record(1, 10, false);
        assert_eq!(sl.share(1, 10), Some(0.9));
        assert_eq!(sl.share(0, 10), None);
        assert_eq!(
            sl.share(1, 10 + WINDOW_MS),
            None,
            "old answers no longer count"
        );
    }
}
