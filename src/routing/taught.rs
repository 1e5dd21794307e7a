//! What operators taught a tenant's bot at run time: more ways customers ask an
//! existing entry's question, and whole new entries. Kept in the router so the
//! journal and snapshots carry it across restarts; the bot is rebuilt from its
//! knowledge-base file plus this.

use std::collections::BTreeMap;

/// Questions taught per entry.
pub const MAX_TAUGHT_PER_ENTRY: usize = 200;
/// Questions taught per tenant, over every entry.
pub const MAX_TAUGHT_QUESTIONS: usize = 20_000;
/// Entries created per tenant.
pub const MAX_TAUGHT_ENTRIES: usize = 1_000;
/// Questions in one lesson.
pub const MAX_QUESTIONS_PER_LESSON: usize = 64;
/// Bytes of a taught question, answer or id.
pub const MAX_TAUGHT_TEXT_BYTES: usize = 2_000;

/// An entry an operator created.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TaughtEntry {
    /// Unique id, not used by the knowledge-base file.
    pub id: String,
    /// Language tag.
    pub lang: String,
    /// Intent name; the id when empty.
    pub intent: String,
    /// The answer.
    pub answer: String,
}

/// One lesson: questions for an existing entry, or a new entry with its questions.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Lesson {
    /// The entry the questions belong to.
    pub entry_id: String,
    /// The entry, when the lesson creates it.
    pub new_entry: Option<TaughtEntry>,
    /// Ways customers ask it.
    pub questions: Vec<String>,
}

/// Why a lesson was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LessonError {
    /// A field is empty, too long or badly formed.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A bound would be passed.
    #[error("{0}")]
    Full(String),
}

fn invalid(field: &'static str, reason: impl Into<String>) -> LessonError {
    LessonError::Invalid {
        field,
        reason: reason.into(),
    }
}

/// Everything taught to one tenant's bot.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Taught {
    /// Questions per entry id, in the order taught, without repeats.
    questions: BTreeMap<String, Vec<String>>,
    /// Entries created, in the order created.
    entries: Vec<TaughtEntry>,
}

impl Taught {
    /// Whether nothing was taught.
    pub fn is_empty(&self) -> bool {
        self.questions.is_empty() && self.entries.is_empty()
    }

    /// Taught questions of every entry.
    pub fn questions(&self) -> impl Iterator<Item = (&str, &[String])> + '_ {
        self.questions
            .iter()
            .map(|(id, qs)| (id.as_str(), qs.as_slice()))
    }

    /// Entries created.
    pub fn entries(&self) -> &[TaughtEntry] {
        &self.entries
    }

    /// Checks a lesson against the bounds and what was taught before, without taking
    /// it. `entry_exists` says whether the knowledge-base file has the entry; the
    /// caller checks that against the bot in use, the router cannot.
    pub fn check(&self, lesson: &Lesson, entry_exists: bool) -> Result<(), LessonError> {
        let id = lesson.entry_id.trim();
        if id.is_empty() || id.len() > MAX_TAUGHT_TEXT_BYTES {
            return Err(invalid("entry_id", "must be 1-2000 bytes"));
        }
        let created_before = self.entries.iter().any(|e| e.id == id);
        match &lesson.new_entry {
            Some(entry) => {
                if entry_exists || created_before {
                    return Err(invalid(
                        "entry_id",
                        format!("entry {id:?} exists already; teach it questions instead"),
                    ));
                }
                if entry.lang.trim().is_empty() || entry.lang.len() > 35 {
                    return Err(invalid("new_entry.lang", "must be a language tag"));
                }
                if entry.answer.trim().is_empty() || entry.answer.len() > MAX_TAUGHT_TEXT_BYTES {
                    return Err(invalid("new_entry.answer", "must be 1-2000 bytes"));
                }
                if entry.intent.len() > MAX_TAUGHT_TEXT_BYTES {
                    return Err(invalid("new_entry.intent", "at most 2000 bytes"));
                }
                if self.entries.len() >= MAX_TAUGHT_ENTRIES {
                    return Err(LessonError::Full(format!(
                        "{MAX_TAUGHT_ENTRIES} entries were created already"
                    )));
                }
            }
            None if !entry_exists && !created_before => {
                return Err(invalid(
                    "entry_id",
                    format!("no entry {id:?} in the knowledge base"),
                ));
            }
            None => {}
        }
        if lesson.questions.is_empty() || lesson.questions.len() > MAX_QUESTIONS_PER_LESSON {
            return Err(invalid(
                "questions",
                format!("1-{MAX_QUESTIONS_PER_LESSON} questions per lesson"),
            ));
        }
        for q in &lesson.questions {
            if q.trim().is_empty() || q.len() > MAX_TAUGHT_TEXT_BYTES {
                return Err(invalid("questions", "each must be 1-2000 bytes"));
            }
        }
        let known = self.questions.get(id).map_or(0, Vec::len);
        if known + lesson.questions.len() > MAX_TAUGHT_PER_ENTRY {
            return Err(LessonError::Full(format!(
                "entry {id:?} would have more than {MAX_TAUGHT_PER_ENTRY} taught questions"
            )));
        }
        let total: usize = self.questions.values().map(Vec::len).sum();
        if total + lesson.questions.len() > MAX_TAUGHT_QUESTIONS {
            return Err(LessonError::Full(format!(
                "the tenant has {total} taught questions; at most {MAX_TAUGHT_QUESTIONS}"
            )));
        }
        Ok(())
    }

    /// Takes a lesson that passed [`Taught::check`]; returns the questions that were
    /// new.
    pub fn learn(&mut self, lesson: Lesson) -> usize {
        let id = lesson.entry_id.trim().to_owned();
        if let Some(mut entry) = lesson.new_entry {
            entry.id = id.clone();
            self.entries.push(entry);
        }
        let known = self.questions.entry(id).or_default();
        let before = known.len();
        for q in lesson.questions {
            let q = q.trim().to_owned();
            if !known.contains(&q) {
                known.push(q);
            }
        }
        known.len() - before
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lesson(entry: &str, questions: &[&str]) -> Lesson {
        Lesson {
            entry_id: entry.to_owned(),
            new_entry: None,
            questions: questions.iter().map(|q| (*q).to_owned()).collect(),
        }
    }

    #[test]
    fn lessons_add_questions_once_and_new_entries_once() {
        let mut taught = Taught::default();
        let l = lesson("invoice", &["能开专票吗", " 能开专票吗 ", "VAT invoice?"]);
        taught.check(&l, true).unwrap();
        assert_eq!(taught.learn(l), 2);
        assert_eq!(
            taught.questions().next().unwrap().1,
            ["能开专票吗", "VAT invoice?"]
        );

        let new = Lesson {
            new_entry: Some(TaughtEntry {
                id: String::new(),
                lang: "zh".into(),
                intent: String::new(),
                answer: "积分可在“我的—积分商城”兑换。".into(),
            }),
            ..lesson("points", &["积分怎么兑换"])
        };
        taught.check(&new, false).unwrap();
        taught.learn(new.clone());
        assert_eq!(taught.entries()[0].id, "points");
        // Created once; after that it takes questions like any entry.
        assert!(matches!(
            taught.check(&new, false),
            Err(LessonError::Invalid {
                field: "entry_id",
                ..
            })
        ));
        taught
            .check(&lesson("points", &["积分兑换"]), false)
            .unwrap();
    }

    #[test]
    fn bad_or_oversized_lessons_are_refused_with_the_field() {
        let taught = Taught::default();
        let field = |r: Result<(), LessonError>| match r {
            Err(LessonError::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            field(taught.check(&lesson("nope", &["q"]), false)),
            "entry_id"
        );
        assert_eq!(field(taught.check(&lesson("", &["q"]), true)), "entry_id");
        assert_eq!(field(taught.check(&lesson("a", &[]), true)), "questions");
        assert_eq!(field(taught.check(&lesson("a", &[" "]), true)), "questions");
        let many: Vec<&str> = vec!["q"; MAX_QUESTIONS_PER_LESSON + 1];
        assert_eq!(field(taught.check(&lesson("a", &many), true)), "questions");

        let mut full = Taught::default();
        for i in 0..MAX_TAUGHT_PER_ENTRY / MAX_QUESTIONS_PER_LESSON + 1 {
            let qs: Vec<String> = (0..MAX_QUESTIONS_PER_LESSON)
                .map(|j| format!("q{i}-{j}"))
                .collect();
            let l = Lesson {
                entry_id: "a".into(),
                new_entry: None,
                questions: qs,
            };
            if full.check(&l, true).is_err() {
                assert!(matches!(full.check(&l, true), Err(LessonError::Full(_))));
                return;
            }
            full.learn(l);
        }
        panic!("the per-entry bound never held");
    }
}
