//! The knowledge base as sentence vectors: one per question and similar-question
//! variant of every entry, and one for its answer, computed once when the knowledge
//! base is loaded (or reloaded), never per message. A message is compared with every
//! variant; an entry scores its best variant.

use std::sync::Arc;

use super::embedding::{Embedder, EmbeddingError, dot};
use super::knowledge::KnowledgeBase;

/// Entry vectors of one knowledge base, with the model that made them (a message must
/// be embedded by the same model).
#[derive(Debug)]
pub struct SemanticIndex {
    embedder: Arc<Embedder>,
    /// Every variant's unit vector, end to end.
    vectors: Vec<f32>,
    /// The entry each variant belongs to, in `vectors` order.
    owners: Vec<usize>,
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
        for (i, e) in kb.entries.iter().enumerate() {
            for q in e.questions.iter().filter(|q| !q.trim().is_empty()) {
                texts.push(q.as_str());
                owners.push(i);
            }
            // The answer speaks the topic's vocabulary, which a customer's wording
            // shares more often than the one question of a plain FAQ entry (on the
            // tuning sets: +8 on bot_tune's objective; the entry's keywords joined
            // into one text gave nothing).
            texts.push(e.answer.as_str());
            owners.push(i);
        }
        let vectors = embedder.embed_all(&texts)?.concat();
        Ok(SemanticIndex {
            embedder,
            vectors,
            owners,
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

    /// For every entry, the cosine of its closest variant to `query` (a unit vector of
    /// the same model); -1 for an entry without variants.
    pub fn best_per_entry(&self, query: &[f32]) -> Vec<f32> {
        let mut best = vec![-1.0f32; self.entries];
        let dims = self.embedder.dimensions();
        if query.len() != dims || dims == 0 {
            return best;
        }
        for (v, &owner) in self.vectors.chunks(dims).zip(&self.owners) {
            let c = dot(v, query);
            if c > best[owner] {
                best[owner] = c;
            }
        }
        best
    }
}
