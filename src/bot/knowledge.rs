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
//!   "greetings": { "en": { "text": "Hi! How can we help?", "buttons": [
//!       { "label": "Where is my order?", "payload": "Where is my order?" } ] } },
//!   "entries": [ {
//!     "id": "order-status",            // unique, 1-64 characters
//!     "lang": "en",                    // language tag, as adapters send it
//!     "intent": "order_status",        // optional; defaults to the id
//!     "questions": ["Where is my order?", "track my parcel"],   // at least one
//!     "answer": "You can follow your parcel under Orders > Track.",
//!     "buttons": [],                   // optional quick replies under the answer
//!     "needs_human": false,            // optional: this intent always goes to a person
//!     "keywords": ["order", "track"]   // optional hints for matching
//!   } ]
//! }
//! ```
//!
//! The plain FAQ export many tools produce, an array of
//! `{ "id", "lang", "question", "answer", "keywords"? }` objects (the shape of
//! `shared/data/faq-sample/faq.json`); each becomes an entry with one question.
//!
//! Loading checks every entry and names the file, the entry and the field at fault.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// A quick-reply button.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Button {
    /// Label shown to the customer.
    pub label: String,
    /// Text sent back when pressed.
    pub payload: String,
}

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
}

/// The native file shape.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NativeFile {
    #[serde(default)]
    greetings: BTreeMap<String, Greeting>,
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
    /// Greetings by language tag.
    pub greetings: BTreeMap<String, Greeting>,
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

impl KnowledgeBase {
    /// Reads and validates a knowledge base file.
    pub fn load(path: &Path) -> Result<KnowledgeBase, KnowledgeBaseError> {
        let fail = |reason: String| KnowledgeBaseError {
            path: path.to_owned(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
        KnowledgeBase::parse(&text).map_err(fail)
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
                entries: native.entries,
            },
            AnyFile::Export(faq) => KnowledgeBase {
                greetings: BTreeMap::new(),
                entries: faq
                    .into_iter()
                    .map(|f| Entry {
                        intent: f.id.clone(),
                        id: f.id,
                        lang: f.lang,
                        questions: vec![f.question],
                        answer: f.answer,
                        buttons: Vec::new(),
                        needs_human: false,
                        keywords: f.keywords,
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
            if e.intent.is_empty() {
                e.intent = e.id.clone();
            }
        }
        for (lang, g) in &self.greetings {
            if g.text.trim().is_empty() {
                return Err(format!("greetings.{lang}: text must not be empty"));
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
    fn a_missing_file_is_named() {
        let e = KnowledgeBase::load(Path::new("/no/such/kb.json")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("knowledge base /no/such/kb.json:"),
            "{e}"
        );
    }
}
