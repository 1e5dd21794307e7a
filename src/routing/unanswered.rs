//! The questions a tenant's bot could not answer: every message it was unsure of, and
//! every answer a customer marked "not solved", kept (newest, bounded) for an operator
//! to teach the bot from, grouped by similarity.
//!
//! Grouping compares the character pairs of normalised texts (Dice coefficient): it
//! works alike for Chinese, which has no spaces, and for English with typos, and costs
//! nothing to build. It only has to put rewordings of one question side by side for a
//! person to read, not to answer anyone.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use super::model::{Channel, Millis};

/// Questions kept per tenant; the oldest go first.
pub const UNANSWERED_KEPT: usize = 2_000;

/// Bytes of a question kept; longer ones are cut at a character boundary.
pub const UNANSWERED_TEXT_BYTES: usize = 500;

/// Similarity (0-1, Dice over character pairs) at which two questions share a group.
pub const GROUP_SIMILARITY: f64 = 0.5;

/// Why the bot did not answer a question.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Miss {
    /// It was not confident enough to answer.
    NotSure {
        /// Its best guess, if it had one.
        guess: Option<Arc<str>>,
    },
    /// It answered from `intent` and the customer said that did not solve it.
    NotSolved {
        /// The intent answered.
        intent: Arc<str>,
    },
}

/// One question the bot did not answer.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Unanswered {
    /// The customer's words.
    pub text: Arc<str>,
    /// The conversation's language as the bot knew it.
    pub language: Arc<str>,
    /// Where it was asked.
    pub channel: Channel,
    /// When.
    pub at: Millis,
    /// Why it went unanswered.
    pub miss: Miss,
}

/// Questions asked in similar words, for an operator to teach as variants of one
/// entry.
#[derive(Debug, Clone, PartialEq)]
pub struct UnansweredGroup {
    /// Distinct texts with how often each was asked, most asked first.
    pub texts: Vec<(Arc<str>, u32)>,
    /// Questions in the group.
    pub count: u32,
    /// Of them, answers a customer said did not solve it.
    pub not_solved: u32,
    /// The bot's guesses and the intents answered, with how often.
    pub intents: Vec<(Arc<str>, u32)>,
    /// Languages seen.
    pub languages: Vec<Arc<str>>,
    /// When one was last asked.
    pub last_at: Millis,
}

/// One tenant's unanswered questions, newest last.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct UnansweredLog {
    questions: VecDeque<Unanswered>,
}

impl UnansweredLog {
    /// Keeps a question, cut to [`UNANSWERED_TEXT_BYTES`]; the oldest goes when full.
    pub fn record(&mut self, mut question: Unanswered) {
        if question.text.trim().is_empty() {
            return;
        }
        if question.text.len() > UNANSWERED_TEXT_BYTES {
            let mut end = UNANSWERED_TEXT_BYTES;
            while !question.text.is_char_boundary(end) {
                end -= 1;
            }
            question.text = Arc::from(&question.text[..end]);
        }
        if self.questions.len() >= UNANSWERED_KEPT {
            self.questions.pop_front();
        }
        self.questions.push_back(question);
    }

    /// Questions kept.
    pub fn len(&self) -> usize {
        self.questions.len()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.questions.is_empty()
    }

    /// Forgets the questions whose normalised text is one of `taught`: they have been
    /// taught to the bot. Returns how many went.
    pub fn forget(&mut self, taught: &[String]) -> usize {
        let taught: BTreeSet<String> = taught.iter().map(|t| normalise(t)).collect();
        let before = self.questions.len();
        self.questions
            .retain(|q| !taught.contains(&normalise(&q.text)));
        before - self.questions.len()
    }

    /// Forgets the questions asked before `cutoff` (retention); returns how many.
    pub fn forget_before(&mut self, cutoff: Millis) -> usize {
        let mut gone = 0;
        while self.questions.front().is_some_and(|q| q.at < cutoff) {
            self.questions.pop_front();
            gone += 1;
        }
        gone
    }

    /// The questions in groups of similar wording, largest group first (then the most
    /// recent); at most `limit` groups.
    pub fn groups(&self, limit: usize) -> Vec<UnansweredGroup> {
        // Identical wordings first, so each distinct text is compared once.
        let mut distinct: HashMap<String, usize> = HashMap::new();
        let mut texts: Vec<Distinct<'_>> = Vec::new();
        for q in &self.questions {
            let key = normalise(&q.text);
            let i = *distinct.entry(key.clone()).or_insert_with(|| {
                texts.push(Distinct {
                    pairs: pairs(&key),
                    shown: q.text.clone(),
                    asked: Vec::new(),
                });
                texts.len() - 1
            });
            texts[i].asked.push(q);
        }
        texts.sort_by(|a, b| {
            b.asked
                .len()
                .cmp(&a.asked.len())
                .then_with(|| a.shown.cmp(&b.shown))
        });
        // Greedy: each text joins the first group whose leading text is like it.
        let mut groups: Vec<Vec<usize>> = Vec::new();
        for i in 0..texts.len() {
            match groups
                .iter_mut()
                .find(|g| dice(&texts[g[0]].pairs, &texts[i].pairs) >= GROUP_SIMILARITY)
            {
                Some(group) => group.push(i),
                None => groups.push(vec![i]),
            }
        }
        let mut out: Vec<UnansweredGroup> = groups
            .into_iter()
            .map(|members| summarise(&texts, &members))
            .collect();
        out.sort_by(|a, b| b.count.cmp(&a.count).then(b.last_at.cmp(&a.last_at)));
        out.truncate(limit);
        out
    }
}

/// A distinct normalised wording and every time it was asked.
struct Distinct<'a> {
    pairs: BTreeSet<(char, char)>,
    shown: Arc<str>,
    asked: Vec<&'a Unanswered>,
}

fn summarise(texts: &[Distinct<'_>], members: &[usize]) -> UnansweredGroup {
    let mut intents: BTreeMap<Arc<str>, u32> = BTreeMap::new();
    let mut languages: BTreeSet<Arc<str>> = BTreeSet::new();
    let (mut count, mut not_solved, mut last_at) = (0, 0, 0);
    for q in members.iter().flat_map(|&i| &texts[i].asked) {
        count += 1;
        last_at = last_at.max(q.at);
        if !q.language.is_empty() {
            languages.insert(q.language.clone());
        }
        let intent = match &q.miss {
            Miss::NotSure { guess } => guess.as_ref(),
            Miss::NotSolved { intent } => {
                not_solved += 1;
                Some(intent)
            }
        };
        if let Some(intent) = intent {
            *intents.entry(intent.clone()).or_default() += 1;
        }
    }
    let mut intents: Vec<(Arc<str>, u32)> = intents.into_iter().collect();
    intents.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    UnansweredGroup {
        texts: members
            .iter()
            .map(|&i| (texts[i].shown.clone(), texts[i].asked.len() as u32))
            .collect(),
        count,
        not_solved,
        intents,
        languages: languages.into_iter().collect(),
        last_at,
    }
}

/// Lower case, letters, digits and CJK only: spacing, punctuation and emoji do not
/// make two questions different.
fn normalise(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

fn pairs(normal: &str) -> BTreeSet<(char, char)> {
    let chars: Vec<char> = normal.chars().collect();
    match chars.as_slice() {
        [] => BTreeSet::new(),
        [only] => BTreeSet::from([(*only, *only)]),
        _ => chars.windows(2).map(|w| (w[0], w[1])).collect(),
    }
}

fn dice(a: &BTreeSet<(char, char)>, b: &BTreeSet<(char, char)>) -> f64 {
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    let shared = a.intersection(b).count();
    2.0 * shared as f64 / (a.len() + b.len()) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked(log: &mut UnansweredLog, text: &str, at: Millis) {
        log.record(Unanswered {
            text: Arc::from(text),
            language: Arc::from(""),
            channel: Channel::Web,
            at,
            miss: Miss::NotSure { guess: None },
        });
    }

    #[test]
    fn rewordings_share_a_group_and_unrelated_questions_do_not() {
        let mut log = UnansweredLog::default();
        asked(&mut log, "能开增值税专用发票吗", 1);
        asked(&mut log, "能开增值税专用发票吗？", 2);
        asked(&mut log, "可以开增值税专票吗", 3);
        asked(&mut log, "do you ship to iceland", 4);
        asked(&mut log, "Do you ship to Iceland??", 5);
        asked(&mut log, "do u shipp to iceland", 6);
        asked(&mut log, "积分怎么兑换", 7);
        let groups = log.groups(10);
        assert_eq!(groups.len(), 3, "{groups:#?}");
        assert_eq!(groups[0].count, 3);
        assert_eq!(groups[1].count, 3);
        let invoice = groups
            .iter()
            .find(|g| g.texts.iter().any(|(t, _)| t.contains("发票")))
            .unwrap();
        // Spacing and punctuation fold into one wording asked twice.
        assert_eq!(invoice.texts[0].1, 2);
        assert_eq!(invoice.texts.len(), 2);
        assert_eq!(groups[2].texts[0].0.as_ref(), "积分怎么兑换");
        assert_eq!(log.groups(1).len(), 1);
    }

    #[test]
    fn the_log_is_bounded_cut_and_forgets_what_was_taught() {
        let mut log = UnansweredLog::default();
        for i in 0..UNANSWERED_KEPT + 5 {
            asked(&mut log, &format!("question {i}"), i as Millis);
        }
        assert_eq!(log.len(), UNANSWERED_KEPT);
        assert!(log.questions.front().unwrap().text.ends_with(" 5"));
        asked(&mut log, &"退".repeat(400), 0);
        assert!(log.questions.back().unwrap().text.len() <= UNANSWERED_TEXT_BYTES);
        let gone = log.forget(&["Question 7!".to_owned(), "QUESTION 8".to_owned()]);
        assert_eq!(gone, 2);
        assert_eq!(log.len(), UNANSWERED_KEPT - 2);
    }
}
