//! "Did that solve it?": reading a customer's verdict on a bot answer, and the
//! per-intent tally of answers and verdicts that tells which entries help.
//!
//! The verdict is read only from a message that is nothing but a verdict (a button's
//! payload, or the same typed: "solved", "没解决", "👍"): a longer message is a new
//! question and goes to the bot as one.

use std::collections::BTreeMap;
use std::sync::Arc;

/// A customer's verdict on the answer they were just given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Verdict {
    /// The answer solved it.
    Solved,
    /// It did not.
    NotSolved,
}

/// Payloads of the verdict buttons; the same words typed count too.
pub const SOLVED_PAYLOAD: &str = "solved";
/// Payload of the "not solved" button.
pub const NOT_SOLVED_PAYLOAD: &str = "not solved";

const SOLVED: &[&str] = &[
    SOLVED_PAYLOAD,
    "resolved",
    "yes",
    "yes thanks",
    "yes thank you",
    "it worked",
    "that worked",
    "that helped",
    "helpful",
    "got it",
    "👍",
    "👌",
    "已解决",
    "解决了",
    "解决啦",
    "有帮助",
    "有用",
    "好了",
    "可以了",
    "明白了",
    "懂了",
    "是的",
];

const NOT_SOLVED: &[&str] = &[
    NOT_SOLVED_PAYLOAD,
    "unsolved",
    "not resolved",
    "no",
    "nope",
    "not helpful",
    "didnt help",
    "did not help",
    "that didnt help",
    "it didnt work",
    "doesnt help",
    "useless",
    "👎",
    "没解决",
    "未解决",
    "没有解决",
    "还没解决",
    "没用",
    "没有用",
    "没帮助",
    "没有帮助",
    "不行",
    "不对",
    "不是",
];

/// The verdict a message gives on the last answer, if the message is one.
pub fn read_verdict(text: &str) -> Option<Verdict> {
    // Case, spaces, apostrophes and closing punctuation do not change a verdict.
    let normal: String = text
        .trim()
        .trim_end_matches(['.', '!', '?', '。', '！', '？', '~', '～'])
        .chars()
        .filter(|c| *c != '\'' && *c != '’' && *c != '\u{fe0f}')
        .flat_map(char::to_lowercase)
        .collect();
    let normal = normal.split_whitespace().collect::<Vec<_>>().join(" ");
    if SOLVED.contains(&normal.as_str()) {
        Some(Verdict::Solved)
    } else if NOT_SOLVED.contains(&normal.as_str()) {
        Some(Verdict::NotSolved)
    } else {
        None
    }
}

/// The answer a conversation is waiting for a verdict on.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AskedVerdict {
    /// The intent answered.
    pub intent: Arc<str>,
    /// The customer's message it answered.
    pub question: Arc<str>,
}

/// Answers and verdicts of one intent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IntentRatings {
    /// Answers given from it that asked for a verdict.
    pub answered: u64,
    /// Verdicts "solved".
    pub solved: u64,
    /// Verdicts "not solved".
    pub not_solved: u64,
}

impl IntentRatings {
    /// Share of verdicts that were "solved"; `None` before any verdict.
    pub fn resolution_rate(&self) -> Option<f64> {
        let rated = self.solved + self.not_solved;
        (rated > 0).then(|| self.solved as f64 / rated as f64)
    }
}

/// Intents tallied one by one; answers from others (an external bot inventing
/// intents) are added to [`OTHER_INTENTS`], so the tally stays bounded.
pub const MAX_RATED_INTENTS: usize = 4_096;

/// The row that collects intents beyond [`MAX_RATED_INTENTS`].
pub const OTHER_INTENTS: &str = "(other intents)";

/// Per-intent answers and verdicts of one tenant.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AnswerRatings {
    by_intent: BTreeMap<Arc<str>, IntentRatings>,
}

impl AnswerRatings {
    fn row(&mut self, intent: &Arc<str>) -> &mut IntentRatings {
        if !self.by_intent.contains_key(intent) && self.by_intent.len() >= MAX_RATED_INTENTS {
            return self.by_intent.entry(Arc::from(OTHER_INTENTS)).or_default();
        }
        self.by_intent.entry(intent.clone()).or_default()
    }

    /// An answer from `intent` asked the customer for a verdict.
    pub fn answered(&mut self, intent: &Arc<str>) {
        self.row(intent).answered += 1;
    }

    /// The customer gave `verdict` on an answer from `intent`.
    pub fn rated(&mut self, intent: &Arc<str>, verdict: Verdict) {
        let row = self.row(intent);
        match verdict {
            Verdict::Solved => row.solved += 1,
            Verdict::NotSolved => row.not_solved += 1,
        }
    }

    /// Every intent's tally, by intent.
    pub fn iter(&self) -> impl Iterator<Item = (&Arc<str>, &IntentRatings)> + '_ {
        self.by_intent.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_message_that_is_a_verdict_gives_one() {
        for solved in [
            "solved",
            "Solved!",
            "已解决",
            "解决了。",
            "👍",
            "👍️",
            "Yes, thanks",
        ] {
            // "Yes, thanks" keeps its comma, so it is not a verdict: a sentence is a message.
            let expected = (solved != "Yes, thanks").then_some(Verdict::Solved);
            assert_eq!(read_verdict(solved), expected, "{solved}");
        }
        for not in [
            "not solved",
            "Not Solved",
            "没解决",
            "没有用！",
            "👎",
            "didn't help",
            "NO",
        ] {
            assert_eq!(read_verdict(not), Some(Verdict::NotSolved), "{not}");
        }
        for question in [
            "no the parcel still hasn't arrived, where is it",
            "怎么退货",
            "是不是要先付款",
            "",
        ] {
            assert_eq!(read_verdict(question), None, "{question}");
        }
    }

    #[test]
    fn the_tally_is_bounded_and_the_rate_counts_verdicts_only() {
        let mut ratings = AnswerRatings::default();
        let refund: Arc<str> = Arc::from("refund");
        for _ in 0..4 {
            ratings.answered(&refund);
        }
        ratings.rated(&refund, Verdict::Solved);
        ratings.rated(&refund, Verdict::Solved);
        ratings.rated(&refund, Verdict::NotSolved);
        let row = ratings.iter().next().unwrap().1;
        assert_eq!((row.answered, row.solved, row.not_solved), (4, 2, 1));
        assert_eq!(row.resolution_rate(), Some(2.0 / 3.0));
        assert_eq!(IntentRatings::default().resolution_rate(), None);

        for i in 0..MAX_RATED_INTENTS + 10 {
            ratings.answered(&Arc::from(format!("intent-{i}")));
        }
        assert_eq!(ratings.iter().count(), MAX_RATED_INTENTS + 1);
        let other = ratings
            .iter()
            .find(|(intent, _)| &***intent == OTHER_INTENTS)
            .unwrap()
            .1;
        assert_eq!(other.answered, 11);
    }
}
