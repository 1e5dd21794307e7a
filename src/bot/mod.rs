//! The built-in bot: answers customers from a knowledge base, greets them, and decides
//! when a person should take over.
//!
//! - [`knowledge`]: the knowledge-base format, loading and validation.
//! - [`builtin`]: the bot: triage, matching, greetings, agent suggestions.
//! - [`language`]: language detection and tags.
//! - `matcher`: segmentation (jieba for Chinese, stemming and typo correction for
//!   English), concept expansion and TF-IDF scoring.
//! - `lexicon`: the built-in synonym groups across Chinese and English.
//! - `triage`: requests for a person, complaints, small talk.
//! - [`embedding`]: the optional sentence-embedding model (ONNX Runtime).
//! - [`semantic_index`]: the knowledge base's entry vectors, made at load.
//! - [`fusion`]: lexical and semantic evidence fused into one confidence.
//! - [`semantic_triage`]: triage by meaning with the model: prototypes of danger,
//!   requests for a person and anger, beside the phrase rules.
//!
//! Plain Rust: no transport types; it shares the routing model's `Button` and
//! `Channel` names.

pub mod builtin;
pub mod embedding;
pub mod follow_up;
pub mod fusion;
pub mod knowledge;
pub mod language;
mod lexicon;
mod matcher;
pub mod semantic_index;
pub mod semantic_triage;
mod triage;

pub(crate) use triage::fold as fold_width;

pub use builtin::{
    BotMessage, BotReply, BotSettings, BuiltinBot, HandoffReason, SemanticStep, SemanticUse,
    Suggestion, Turn,
};
pub use knowledge::{Button, KnowledgeBase};
pub use language::detect_language;
