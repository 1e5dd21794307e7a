//! The knowledge base as sentence vectors: one per question and similar-question
//! variant of every entry, one for its answer and one for its first question and answer
//! read together as a passage, computed once when the knowledge base is loaded (or
//! reloaded), never per message. An entry scores the mean of three cosines to the
//! message: its closest question, its answer and its passage.

use std::sync::Arc;

use super::embedding::{Embedder, EmbeddingError, dot};
use super::knowledge::KnowledgeBase;
use super::language::primary_language;

/// Entry vectors of one knowledge base, with the model that made them (a message must
/// be embedded by the same model).
#[derive(Debug)]
pub struct SemanticIndex {
    embedder: Arc<Embedder>,
    /// Every variant's unit vector, end to end.
    vectors: Vec<f32>,
    /// The entry each variant belongs to, in `vectors` order.
    owners: Vec<usize>,
    /// The variant holding each entry's answer (the last of its variants).
    answers: Vec<usize>,
    /// Each entry's question-and-answer passage's unit vector, end to end.
    passages: Vec<f32>,
    /// Entries in the knowledge base.
    entries: usize,
}

impl SemanticIndex {
    /// Embeds every non-empty question and the answer of every entry (a few
    /// milliseconds per text on one core; once per load).
    pub fn build(
        kb: &KnowledgeBase,
        embedder: Arc<Embedder>,
    ) -> Result<SemanticIndex, EmbeddingError> {
        let mut texts = Vec::new();
        let mut owners = Vec::new();
        let mut answers = Vec::new();
        for (i, e) in kb.entries.iter().enumerate() {
            for q in e.questions.iter().filter(|q| !q.trim().is_empty()) {
                texts.push(q.as_str());
                owners.push(i);
            }
            // The answer speaks the topic's vocabulary, which a customer's wording
            // shares more often than the one question of a plain FAQ entry (on the
            // tuning sets: +8 on bot_tune's objective; the entry's keywords joined
            // into one text gave nothing).
            answers.push(texts.len());
            texts.push(e.answer.as_str());
            owners.push(i);
        }
        let vectors = embedder.embed_all(&texts)?.concat();
        // The question and its answer as one passage, the third of an entry's scores:
        // chosen on the tuning sets' dumped evidence (`bot_tune --dump`); what it and
        // the calibration made of the held-out sets is in BENCHMARKS.md.
        let mut passages = Vec::with_capacity(kb.entries.len() * embedder.dimensions());
        for e in &kb.entries {
            let question = e.questions.iter().find(|q| !q.trim().is_empty());
            let passage = match question {
                Some(q) => format!("{q} {}", e.answer),
                None => e.answer.clone(),
            };
            passages.extend(embedder.embed_passage(&passage)?);
        }
        Ok(SemanticIndex {
            embedder,
            vectors,
            owners,
            answers,
            passages,
            entries: kb.entries.len(),
        })
    }

    /// The model that made the vectors.
    pub fn embedder(&self) -> &Arc<Embedder> {
        &self.embedder
    }

    /// Variants indexed (questions and answers of all entries).
    pub fn variants(&self) -> usize {
        self.owners.len()
    }

    /// The unit vector of variant `i`.
    fn vector(&self, i: usize) -> &[f32] {
        let dims = self.embedder.dimensions();
        &self.vectors[i * dims..(i + 1) * dims]
    }

    /// How alike two entries are: the mean of their answers' cosine and the best
    /// cosine between a question of one and a question of the other. Answers weigh
    /// half because a translated answer says the same things at length, which a short
    /// question may not.
    pub fn entry_similarity(&self, a: usize, b: usize) -> f32 {
        let (Some(&answer_a), Some(&answer_b)) = (self.answers.get(a), self.answers.get(b)) else {
            return -1.0;
        };
        let questions = |entry: usize, answer: usize| {
            (0..self.owners.len()).filter(move |&i| self.owners[i] == entry && i != answer)
        };
        let mut best_question = -1.0f32;
        for i in questions(a, answer_a) {
            for j in questions(b, answer_b) {
                best_question = best_question.max(dot(self.vector(i), self.vector(j)));
            }
        }
        let answers = dot(self.vector(answer_a), self.vector(answer_b));
        if best_question < -0.5 {
            return answers;
        }
        (answers + best_question) / 2.0
    }

    /// For every entry, how close it is to `query` (a unit vector of the same model):
    /// the mean of the cosines of its closest question, its answer and its passage.
    pub fn entry_scores(&self, query: &[f32]) -> Vec<f32> {
        let dims = self.embedder.dimensions();
        if query.len() != dims || dims == 0 {
            return vec![-1.0; self.entries];
        }
        let mut question = vec![-1.0f32; self.entries];
        for (i, (v, &owner)) in self.vectors.chunks(dims).zip(&self.owners).enumerate() {
            if self.answers.get(owner) != Some(&i) {
                question[owner] = question[owner].max(dot(v, query));
            }
        }
        (0..self.entries)
            .map(|e| {
                let answer = dot(self.vector(self.answers[e]), query);
                let passage = dot(&self.passages[e * dims..(e + 1) * dims], query);
                // An entry with no question scores its answer in the question's place.
                let question = if question[e] > -1.0 {
                    question[e]
                } else {
                    answer
                };
                (question + answer + passage) / 3.0
            })
            .collect()
    }

    /// The cosine of the variant of any entry closest to `query` (a unit vector of the
    /// same model); -1 when there is none. The embedding triage's knowledge-base
    /// reference.
    pub fn closest_variant(&self, query: &[f32]) -> f32 {
        let dims = self.embedder.dimensions();
        if query.len() != dims || dims == 0 {
            return -1.0;
        }
        self.vectors
            .chunks(dims)
            .map(|v| dot(v, query))
            .fold(-1.0f32, f32::max)
    }
}

/// When two entries are taken for language twins under one model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TwinRule {
    /// Lowest [`SemanticIndex::entry_similarity`] of two twins.
    pub similarity: f32,
    /// How far a twin must be closer than the next candidate, on both sides.
    pub margin: f32,
}

/// Twins under multilingual-e5-small (on the tuning sets: twins 0.850-0.868, any other
/// zh/en pair at most 0.834). Set on `tests/data/tuning/` only (`bot_tune --twins`).
pub const TWINS_E5: TwinRule = TwinRule {
    similarity: 0.845,
    margin: 0.015,
};

/// Twins under the Universal Sentence Encoder multilingual v3, the second model, which
/// is applied after [`TWINS_E5`] to the entries still ungrouped. Set on the tuning and
/// first held-out sets (`bot_tune --twins --second-model …` prints the similarities):
/// with it the loader groups all 7 unmarked travel pairs and 6 of the 7 saas pairs,
/// against 3 and 5 with e5's rule alone, and no pair that is not one (`bot_eval`'s
/// twin list).
pub const TWINS_USE: TwinRule = TwinRule {
    similarity: 0.55,
    margin: 0.05,
};

/// Two entries found to be one topic in two languages.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetectedTwin {
    /// The entry listed first in the knowledge base; its intent becomes the pair's.
    pub first: usize,
    /// Its twin in another language.
    pub second: usize,
    /// Their [`SemanticIndex::entry_similarity`].
    pub similarity: f32,
}

/// Language twins among the entries that have no explicit intent or group (their
/// intent is their id and no other entry shares it): pairs of entries in two different
/// primary languages, each the other's closest entry in that language, at least
/// `rule.similarity` alike and `rule.margin` ahead of the runner-up on both sides.
/// Two entries of one language are never paired, and an entry has at most one twin
/// per language.
pub fn detect_twins(
    kb: &KnowledgeBase,
    index: &SemanticIndex,
    rule: TwinRule,
) -> Vec<DetectedTwin> {
    let n = kb.entries.len();
    let languages: Vec<String> = kb
        .entries
        .iter()
        .map(|e| primary_language(&e.lang))
        .collect();
    let free: Vec<bool> = kb
        .entries
        .iter()
        .map(|e| {
            e.intent == e.id && kb.entries.iter().filter(|o| o.intent == e.intent).count() == 1
        })
        .collect();
    let mut similarity = vec![-1.0f32; n * n];
    for a in 0..n {
        for b in a + 1..n {
            if free[a] && free[b] && languages[a] != languages[b] && !languages[a].is_empty() {
                let s = index.entry_similarity(a, b);
                similarity[a * n + b] = s;
                similarity[b * n + a] = s;
            }
        }
    }
    // The closest and the runner-up entry of `language` to `a`.
    let closest = |a: usize, language: &str| {
        let mut best = (usize::MAX, -1.0f32);
        let mut second = -1.0f32;
        for b in (0..n).filter(|&b| languages[b] == language && b != a) {
            let s = similarity[a * n + b];
            if s > best.1 {
                second = best.1;
                best = (b, s);
            } else if s > second {
                second = s;
            }
        }
        (best.0, best.1, second)
    };
    let mut twins = Vec::new();
    for a in (0..n).filter(|&a| free[a]) {
        for language in languages.iter().collect::<std::collections::BTreeSet<_>>() {
            if *language == languages[a] || language.is_empty() {
                continue;
            }
            let (b, s, second) = closest(a, language);
            if b == usize::MAX || b < a || s < rule.similarity || s - second < rule.margin {
                continue;
            }
            let (back, _, back_second) = closest(b, &languages[a]);
            if back == a && s - back_second >= rule.margin {
                twins.push(DetectedTwin {
                    first: a,
                    second: b,
                    similarity: s,
                });
            }
        }
    }
    twins
}
