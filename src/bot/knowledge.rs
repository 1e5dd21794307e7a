//! The knowledge base the built-in bot answers from.
//!
//! # Format
//!
//! A JSON file, in one of two shapes.
//!
//! The native shape, an object:
//!
//! ```json
//! {
//!   "greetings": {                     // optional; by language, or "<channel>/<language>"
//!     "en": { "text": "Hi! How can we help?", "buttons": [
//!       { "label": "Where is my order?", "payload": "Where is my order?" } ] },
//!     "email/en": { "text": "Thanks for your e-mail. What can we do for you?" } },
//!   "synonyms": [ ["trade in", "以旧换新"] ],   // optional: extra synonym groups
//!   "entries": [ {
//!     "id": "order-status",            // unique, 1-64 characters
//!     "lang": "en",                    // language tag, as adapters send it
//!     "intent": "order_status",        // optional; defaults to the id
//!     "questions": ["Where is my order?", "track my parcel"],   // at least one
//!     "answer": "You can follow your parcel under Orders > Track.",
//!     "buttons": [],                   // optional quick replies under the answer
//!     "needs_human": false,            // optional: this intent always goes to a person
//!     "skill": "billing",              // optional: the skill a person needs for it
//!     "keywords": ["order", "track"]   // optional hints for matching
//!   } ]
//! }
//! ```
//!
//! The plain FAQ export many tools produce, an array of
//! `{ "id", "lang", "question", "answer", "keywords"?, "group"? }` objects (the shape
//! of `shared/data/faq-sample/faq.json`); each becomes an entry with one question.
//! Entries with the same `group` are one intent: the same topic in several languages
//! (language twins), so they never compete and the customer gets the one in their
//! language. Without `group`, each entry is its own intent.
//!
//! Greeting keys are a language tag ("en", "zh-CN") or `"<channel>/<language>"`, where
//! the channel is a [`Channel`] name as in config and metrics; the bot looks up channel/language, language,
//! "en", any greeting, then a built-in text. Synonym groups add to the bot's built-in
//! lexicon: each is two or more words or phrases that mean the same to customers.
//!
//! Loading checks every entry and names the file, the entry and the field at fault.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use crate::routing::Button;
use crate::routing::Channel;

/// The first thing the bot says on a channel, per language.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Greeting {
    /// The greeting text.
    pub text: String,
    /// Navigation buttons: quick replies for the most asked questions.
    #[serde(default)]
    pub buttons: Vec<Button>,
}

/// One answer the bot can give.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Unique id.
    pub id: String,
    /// Language tag.
    pub lang: String,
    /// Intent name; the id when absent.
    #[serde(default)]
    pub intent: String,
    /// Ways customers ask for it.
    pub questions: Vec<String>,
    /// The answer.
    pub answer: String,
    /// Quick replies shown under the answer.
    #[serde(default)]
    pub buttons: Vec<Button>,
    /// This intent always goes to a person.
    #[serde(default)]
    pub needs_human: bool,
    /// Matching hints.
    #[serde(default)]
    pub keywords: Vec<String>,
    /// The skill a person needs for this intent, used when the conversation is handed
    /// off.
    #[serde(default)]
    pub skill: Option<String>,
}

/// A plain FAQ export entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FaqExport {
    id: String,
    lang: String,
    question: String,
    answer: String,
    #[serde(default)]
    keywords: Vec<String>,
    /// The intent it shares with its twins in other languages.
    #[serde(default)]
    group: Option<String>,
}

/// The native file shape.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NativeFile {
    #[serde(default)]
    greetings: BTreeMap<String, Greeting>,
    #[serde(default)]
    synonyms: Vec<Vec<String>>,
    entries: Vec<Entry>,
}

/// Either shape.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum AnyFile {
    Native(NativeFile),
    Export(Vec<FaqExport>),
}

/// A loaded, validated knowledge base.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KnowledgeBase {
    /// Greetings by language tag or `"<channel>/<language>"`.
    pub greetings: BTreeMap<String, Greeting>,
    /// Synonym groups added to the bot's lexicon.
    pub synonyms: Vec<Vec<String>>,
    /// Entries, in file order.
    pub entries: Vec<Entry>,
}

/// A knowledge base that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("knowledge base {}: {reason}", path.display())]
pub struct KnowledgeBaseError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong, naming the entry and field.
    pub reason: String,
}

/// Longest entry id.
const MAX_ID_CHARS: usize = 64;

/// Longest skill name.
const MAX_SKILL_CHARS: usize = 64;

impl KnowledgeBase {
    /// Intents with entries in more than one language, with their entries' ids, in
    /// file order: what a load reports, so an operator sees which entries answer for
    /// each other.
    pub fn language_twins(&self) -> Vec<(&str, Vec<&str>)> {
        let mut by_intent: BTreeMap<&str, Vec<&Entry>> = BTreeMap::new();
        for e in &self.entries {
            by_intent.entry(&e.intent).or_default().push(e);
        }
        let mut twins: Vec<(&str, Vec<&str>)> = by_intent
            .into_iter()
            .filter(|(_, entries)| {
                let first = &entries[0].lang;
                entries.iter().any(|e| e.lang != *first)
            })
            .map(|(intent, entries)| (intent, entries.iter().map(|e| e.id.as_str()).collect()))
            .collect();
        let position = |id: &str| self.entries.iter().position(|e| e.id == id);
        twins.sort_by_key(|(_, ids)| position(ids[0]));
        twins
    }

    /// Reads and validates a knowledge base file.
    pub fn load(path: &Path) -> Result<KnowledgeBase, KnowledgeBaseError> {
        let fail = |reason: String| KnowledgeBaseError {
            path: path.to_owned(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
        let kb = KnowledgeBase::parse(&text).map_err(fail)?;
        for (intent, ids) in kb.language_twins() {
            tracing::info!(kb = %path.display(), intent, entries = ?ids,
                "language twins: one intent, answered in the customer's language");
        }
        Ok(kb)
    }

    /// Parses and validates knowledge base JSON; the error names entry and field.
    pub fn parse(text: &str) -> Result<KnowledgeBase, String> {
        let file: AnyFile = serde_json::from_str(text).map_err(|e| {
            format!(
                "not a knowledge base (an object with \"entries\", or an array of FAQ entries): {e}"
            )
        })?;
        let kb = match file {
            AnyFile::Native(native) => KnowledgeBase {
                greetings: native.greetings,
                synonyms: native.synonyms,
                entries: native.entries,
            },
            AnyFile::Export(faq) => KnowledgeBase {
                greetings: BTreeMap::new(),
                synonyms: Vec::new(),
                entries: faq
                    .into_iter()
                    .map(|f| Entry {
                        intent: f.group.unwrap_or_else(|| f.id.clone()),
                        id: f.id,
                        lang: f.lang,
                        questions: vec![f.question],
                        answer: f.answer,
                        buttons: Vec::new(),
                        needs_human: false,
                        keywords: f.keywords,
                        skill: None,
                    })
                    .collect(),
            },
        };
        kb.validated()
    }

    fn validated(mut self) -> Result<KnowledgeBase, String> {
        if self.entries.is_empty() {
            return Err("no entries".to_owned());
        }
        let mut ids = HashSet::new();
        for (i, e) in self.entries.iter_mut().enumerate() {
            let at = |field: &str| format!("entry {i} (id {:?}): {field}", e.id);
            if e.id.trim().is_empty() || e.id.chars().count() > MAX_ID_CHARS {
                return Err(at("id must be 1-64 characters"));
            }
            if !ids.insert(e.id.clone()) {
                return Err(at("id is used twice"));
            }
            if e.lang.trim().is_empty() {
                return Err(at("lang must not be empty"));
            }
            if e.questions.iter().all(|q| q.trim().is_empty()) {
                return Err(at("questions needs at least one question"));
            }
            if e.answer.trim().is_empty() {
                return Err(at("answer must not be empty"));
            }
            if e.buttons
                .iter()
                .any(|b| b.label.trim().is_empty() || b.payload.trim().is_empty())
            {
                return Err(at("buttons need a label and a payload"));
            }
            if let Some(skill) = &e.skill
                && (skill.trim().is_empty() || skill.chars().count() > MAX_SKILL_CHARS)
            {
                return Err(at("skill must be 1-64 characters"));
            }
            if e.intent.is_empty() {
                e.intent = e.id.clone();
            }
        }
        for (key, g) in &self.greetings {
            let (channel, lang) = key.split_once('/').unwrap_or(("", key));
            if key.contains('/') && Channel::from_name(channel).is_none() {
                let names: Vec<&str> = Channel::ALL.iter().map(|c| c.as_str()).collect();
                return Err(format!(
                    "greetings.{key:?}: unknown channel {channel:?} (expected \"<channel>/<language>\" with one of {})",
                    names.join(", ")
                ));
            }
            if lang.trim().is_empty() || lang.contains('/') {
                return Err(format!("greetings.{key:?}: language tag must not be empty"));
            }
            if g.text.trim().is_empty() {
                return Err(format!("greetings.{key:?}: text must not be empty"));
            }
            if g.buttons
                .iter()
                .any(|b| b.label.trim().is_empty() || b.payload.trim().is_empty())
            {
                return Err(format!(
                    "greetings.{key:?}: buttons need a label and a payload"
                ));
            }
        }
        for (i, group) in self.synonyms.iter().enumerate() {
            let terms = group.iter().filter(|t| !t.trim().is_empty()).count();
            if terms < 2 || terms != group.len() {
                return Err(format!(
                    "synonyms[{i}] {group:?}: a group needs two or more non-empty terms"
                ));
            }
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plain_faq_export_of_the_sample_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("kb/faq-export-example.json");
        let kb = KnowledgeBase::load(&path).unwrap();
        assert!(kb.entries.len() >= 2);
        assert!(
            kb.entries
                .iter()
                .all(|e| e.questions.len() == 1 && e.intent == e.id)
        );
    }

    #[test]
    fn plain_entries_of_one_group_are_one_intent_and_reported_as_twins() {
        let kb = KnowledgeBase::parse(
            r#"[
              {"id": "fee-zh", "lang": "zh", "question": "年费怎么免", "answer": "刷卡六次免年费。", "group": "annual-fee"},
              {"id": "lost", "lang": "en", "question": "I lost my card", "answer": "Freeze it in the app."},
              {"id": "fee-en", "lang": "en", "question": "How is the annual fee waived?", "answer": "Six purchases a year waive it.", "group": "annual-fee"}
            ]"#,
        )
        .unwrap();
        let intents: Vec<&str> = kb.entries.iter().map(|e| e.intent.as_str()).collect();
        assert_eq!(intents, ["annual-fee", "lost", "annual-fee"]);
        assert_eq!(
            kb.language_twins(),
            vec![("annual-fee", vec!["fee-zh", "fee-en"])]
        );
    }

    #[test]
    fn the_starter_knowledge_base_loads_with_greetings() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("kb/starter.json");
        let kb = KnowledgeBase::load(&path).unwrap();
        assert!(kb.greetings.contains_key("zh") && kb.greetings.contains_key("en"));
        assert!(kb.entries.iter().any(|e| e.needs_human));
    }

    #[test]
    fn each_mistake_is_named_with_its_entry_and_field() {
        let bad = |json: &str| KnowledgeBase::parse(json).unwrap_err();
        assert!(bad("{").contains("not a knowledge base"));
        assert!(bad(r#"{"entries": []}"#).contains("no entries"));
        let entry = |fields: &str| {
            format!(
                r#"{{"entries": [{{"id": "a", "lang": "en", "questions": ["q"], "answer": "x"}}, {{{fields}}}]}}"#
            )
        };
        let e = bad(&entry(
            r#""id": "a", "lang": "en", "questions": ["q"], "answer": "x""#,
        ));
        assert!(e.starts_with("entry 1 (id \"a\"): id is used twice"), "{e}");
        let e = bad(&entry(
            r#""id": "b", "lang": "en", "questions": [" "], "answer": "x""#,
        ));
        assert!(e.contains("questions"), "{e}");
        let e = bad(&entry(
            r#""id": "b", "lang": "", "questions": ["q"], "answer": "x""#,
        ));
        assert!(e.contains("lang"), "{e}");
        let e = bad(&entry(
            r#""id": "b", "lang": "en", "questions": ["q"], "answer": " ""#,
        ));
        assert!(e.contains("answer"), "{e}");
        let e = bad(&entry(
            r#""id": "b", "lang": "en", "questions": ["q"], "answer": "x", "colour": 1"#,
        ));
        assert!(
            e.contains("not a knowledge base"),
            "unknown fields are refused: {e}"
        );
    }

    #[test]
    fn greeting_keys_skills_and_synonyms_are_checked() {
        let kb = |top: &str, entry: &str| {
            KnowledgeBase::parse(&format!(
                r#"{{{top} "entries": [{{"id": "a", "lang": "en", "questions": ["q"], "answer": "x"{entry}}}]}}"#
            ))
        };
        let ok = kb(
            r#""greetings": {"en": {"text": "hi"}, "email/en": {"text": "hello"}}, "synonyms": [["a", "b"]],"#,
            r#", "skill": "billing""#,
        )
        .unwrap();
        assert_eq!(ok.entries[0].skill.as_deref(), Some("billing"));
        assert_eq!(ok.synonyms, vec![vec!["a".to_owned(), "b".to_owned()]]);
        let e = kb(r#""greetings": {"fax/en": {"text": "hi"}},"#, "").unwrap_err();
        assert!(
            e.contains("\"fax/en\"") && e.contains("unknown channel \"fax\""),
            "{e}"
        );
        let e = kb(r#""greetings": {"sms/": {"text": "hi"}},"#, "").unwrap_err();
        assert!(e.contains("\"sms/\"") && e.contains("language"), "{e}");
        let e = kb(r#""greetings": {"zh": {"text": " "}},"#, "").unwrap_err();
        assert!(e.contains("greetings.\"zh\": text"), "{e}");
        let e = kb("", r#", "skill": " ""#).unwrap_err();
        assert!(e.starts_with("entry 0 (id \"a\"): skill"), "{e}");
        let e = kb(r#""synonyms": [["alone"]],"#, "").unwrap_err();
        assert!(e.starts_with("synonyms[0]"), "{e}");
        let e = kb(r#""synonyms": [["a", ""]],"#, "").unwrap_err();
        assert!(e.starts_with("synonyms[0]"), "{e}");
    }

    #[test]
    fn a_missing_file_is_named() {
        let e = KnowledgeBase::load(Path::new("/no/such/kb.json")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("knowledge base /no/such/kb.json:"),
            "{e}"
        );
    }
}
