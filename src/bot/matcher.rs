//! Matching a customer message to knowledge-base entries.
//!
//! # Analysis
//!
//! Text is lower-cased and full-width forms folded, then split into runs:
//!
//! - Chinese runs are segmented into words by jieba (its default dictionary, with the
//!   lexicon's Chinese terms added); words of three or more characters also yield the
//!   dictionary words inside them ("删除账号" → "删除账号", "删除", "账号"), and lexicon
//!   terms, keywords and synonyms of two to six ideographs are also spotted where the
//!   segmentation cut across them ("延保管" read as "延" + "保管" still yields "延保").
//! - English runs are split into words, stemmed (Snowball), and adjacent words that form
//!   a lexicon or keyword phrase ("money back") are kept as a phrase too. At query time
//!   a word that is neither in the index nor in the lexicon is corrected to the nearest
//!   indexed word within one or two edits ("refnd" → "refund"), via a deletion index
//!   and Damerau-Levenshtein distance, at a lower weight.
//! - Stop words (particles, pronouns, question words) are dropped unless the lexicon
//!   knows them.
//!
//! Each term then becomes its features: the concepts of [`lexicon`](super::lexicon) and
//! the knowledge base's own synonym groups it belongs to, or else the term itself. So
//! "退款", "refund" and "money back" are one feature, in either language.
//!
//! # Exact questions
//!
//! A message that is one of an entry's questions, up to case, width, spaces and
//! punctuation ([`question_key`]), is that entry at full confidence ([`Matcher::exact`]):
//! the knowledge base's own wording, and every "did you mean" button's payload, must
//! get the entry written for it, however many other entries share its words.
//!
//! # Scoring
//!
//! Entries are indexed once, by questions and keywords (weight 1), intent name (0.8)
//! and answer (0.4). A message's score for an entry is the sum, over the features they
//! share, of query weight × field weight × idf (`ln(1 + N/df)`), a little lower for an
//! entry in another language than the message. The confidence turns that evidence into
//! 0..1: `1 - exp(-1.5 × score / ln(1 + N))`, i.e. about 0.78 for one feature unique to
//! an intent and 0.95 for two, discounted when an entry of another intent scores nearly
//! as high (an ambiguous message is not a confident one). `N` and the document
//! frequencies count intents, not entries, so an intent written in both languages is
//! not penalised, and an occurrence in an answer counts 0.4.

use std::sync::OnceLock;

use jieba_rs::Jieba;
use rust_stemmers::{Algorithm, Stemmer};
use rustc_hash::{FxHashMap, FxHashSet};

use super::knowledge::KnowledgeBase;
use super::language::{is_cjk, primary_language};
use super::lexicon;
use super::triage::fold;

/// Field weight of questions and keywords.
const QUESTION_WEIGHT: f32 = 1.0;
/// Field weight of the intent name.
const INTENT_WEIGHT: f32 = 0.8;
/// Field weight of the answer text.
const ANSWER_WEIGHT: f32 = 0.4;
/// Query weight of a word corrected for a typo.
const FUZZY_WEIGHT: f32 = 0.75;
/// Score factor for an entry in another language than the message.
const OTHER_LANGUAGE: f32 = 0.9;
/// Share of the confidence kept when another intent scores as high as the best.
const AMBIGUOUS_FLOOR: f32 = 0.7;
/// How fast evidence turns into confidence: one feature unique to an intent gives
/// `1 - exp(-1.5)` ≈ 0.78, one shared by two intents about 0.6.
const EVIDENCE_SCALE: f32 = 1.5;
/// Share of the score kept when the message covers none of an entry's questions (it
/// matched keywords or the answer only); the rest grows with the coverage of the
/// best-covered question, so "refund" prefers "I want a refund" to "when will I get my
/// refund".
const COVERAGE_FLOOR: f32 = 0.6;
/// Longest Chinese term, in characters, spotted across word boundaries.
const MAX_SPOT: usize = 6;
/// Longest phrase, in words, looked for.
const MAX_PHRASE: usize = 4;

/// English words dropped unless the lexicon knows them.
const STOP_EN: &[&str] = &[
    "a", "an", "the", "i", "im", "i'm", "me", "my", "mine", "we", "our", "you", "your", "u", "ur",
    "it", "its", "is", "are", "am", "was", "were", "be", "been", "being", "to", "of", "for", "on",
    "in", "at", "by", "and", "or", "but", "so", "do", "does", "did", "doing", "can", "could",
    "will", "would", "should", "shall", "may", "might", "must", "how", "what", "why", "which",
    "who", "this", "that", "these", "those", "with", "w", "please", "pls", "plz", "hi", "hey",
    "hello", "be", "have", "has", "had", "there", "here", "if", "as", "from", "about", "just",
    "still", "any", "some", "all", "get", "got", "gonna", "wanna", "want", "need", "like", "know",
    "tell", "thanks", "thank", "ok", "okay", "yes", "no", "not", "dont", "doesnt", "didnt", "cant",
    "wont", "isnt", "it's", "whats", "then", "than", "also", "too", "very", "really", "again",
    "now", "up", "out", "into", "via", "say", "says", "said", "one", "much", "many", "let", "lets",
    "after", "thing", "things", "stuff",
];

/// Chinese words dropped unless the lexicon knows them.
const STOP_ZH: &[&str] = &[
    "的",
    "了",
    "吗",
    "呢",
    "吧",
    "啊",
    "呀",
    "嘛",
    "哦",
    "么",
    "我",
    "你",
    "您",
    "他",
    "她",
    "它",
    "们",
    "我们",
    "你们",
    "是",
    "在",
    "有",
    "和",
    "与",
    "或",
    "就",
    "都",
    "也",
    "还",
    "又",
    "很",
    "太",
    "这",
    "那",
    "这个",
    "那个",
    "个",
    "一个",
    "一下",
    "怎么",
    "怎么办",
    "怎样",
    "如何",
    "咋",
    "咋整",
    "咋办",
    "啥",
    "什么",
    "哪",
    "哪里",
    "为什么",
    "能",
    "能不能",
    "可以",
    "可",
    "会",
    "要",
    "想",
    "请问",
    "请",
    "麻烦",
    "帮",
    "帮我",
    "一",
    "下",
    "把",
    "被",
    "给",
    "让",
    "对",
    "从",
    "到",
    "不",
    "没",
    "没有",
    "呗",
    "啦",
    "哈",
    "嗯",
    "过",
    "着",
    "得",
    "地",
    "之",
    "等",
    "吧",
    "弄",
    "搞",
    "整",
    "现在",
    "已经",
    "一直",
    "还是",
    "但是",
    "就是",
    "那么",
    "这么",
    "怎么样",
    "多",
    "好",
    "说",
    "问",
    "问题",
    "请问一下",
    "是不是",
    "有没有",
    "一般",
    "通常",
    "大概",
    "以后",
    "东西",
    "之后",
    "时候",
    "的话",
    "而且",
    "然后",
    "因为",
    "所以",
];

/// The process-wide segmenter: jieba's dictionary plus the lexicon's Chinese terms.
/// Loading the dictionary takes a moment and tens of MB, so every bot shares one.
fn segmenter() -> &'static Jieba {
    static JIEBA: OnceLock<Jieba> = OnceLock::new();
    JIEBA.get_or_init(|| {
        let mut jieba = Jieba::new();
        for group in lexicon::GROUPS {
            for term in *group {
                if term.chars().count() >= 2 && term.chars().all(is_cjk) && !jieba.has_word(term) {
                    jieba.add_word(term, None, None);
                }
            }
        }
        jieba
    })
}

/// The English stemmer.
fn stemmer() -> &'static Stemmer {
    static STEMMER: OnceLock<Stemmer> = OnceLock::new();
    STEMMER.get_or_init(|| Stemmer::create(Algorithm::English))
}

/// One analysed term.
#[derive(Debug, Clone, PartialEq)]
struct Term {
    /// Stemmed English word, space-joined phrase, or Chinese word.
    text: String,
    /// Weight in the query: 1, or less for a typo correction.
    weight: f32,
}

/// One scored entry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Candidate {
    /// Index of the entry in the knowledge base.
    pub(crate) entry: usize,
    /// Evidence score (sum of shared features' weighted idf).
    pub(crate) score: f32,
    /// Evidence turned into 0..1, not yet discounted for ambiguity.
    pub(crate) confidence: f32,
}

/// Deletion index for typo correction (symmetric delete): every vocabulary word is
/// stored under itself and its one- and two-character deletions.
#[derive(Debug, Default)]
struct Fuzzy {
    /// Deletion variant → indexes into `words`.
    deletes: FxHashMap<String, Vec<u32>>,
    /// The vocabulary.
    words: Vec<String>,
}

impl Fuzzy {
    /// Shortest word corrected.
    const MIN_CHARS: usize = 4;

    fn variants(word: &str, out: &mut Vec<String>) {
        let chars: Vec<char> = word.chars().collect();
        out.push(word.to_owned());
        let depth = if chars.len() >= 7 { 2 } else { 1 };
        let mut frontier = vec![chars];
        for _ in 0..depth {
            let mut next = Vec::new();
            for w in &frontier {
                for i in 0..w.len() {
                    let mut v = w.clone();
                    v.remove(i);
                    next.push(v);
                }
            }
            out.extend(next.iter().map(|v| v.iter().collect::<String>()));
            frontier = next;
        }
    }

    fn build(vocabulary: FxHashSet<String>) -> Fuzzy {
        let mut fuzzy = Fuzzy::default();
        let mut words: Vec<String> = vocabulary
            .into_iter()
            .filter(|w| w.is_ascii() && w.len() >= Fuzzy::MIN_CHARS - 1 && !w.contains(' '))
            .collect();
        words.sort();
        let mut variants = Vec::new();
        for (i, w) in words.iter().enumerate() {
            variants.clear();
            Fuzzy::variants(w, &mut variants);
            for v in variants.drain(..) {
                let ids = fuzzy.deletes.entry(v).or_default();
                if ids.last() != Some(&(i as u32)) {
                    ids.push(i as u32);
                }
            }
        }
        fuzzy.words = words;
        fuzzy
    }

    /// The nearest vocabulary word within one edit (two for words of seven or more
    /// characters), if any; ties go to the alphabetically first.
    fn correct(&self, word: &str) -> Option<&str> {
        let len = word.chars().count();
        if len < Fuzzy::MIN_CHARS || !word.is_ascii() || len > 24 {
            return None;
        }
        let max = if len >= 7 { 2 } else { 1 };
        let mut variants = Vec::new();
        Fuzzy::variants(word, &mut variants);
        let mut best: Option<(usize, u32)> = None;
        for v in &variants {
            for &id in self.deletes.get(v).map(Vec::as_slice).unwrap_or_default() {
                let d = strsim::damerau_levenshtein(word, &self.words[id as usize]);
                if d <= max && best.is_none_or(|(bd, bid)| (d, id) < (bd, bid)) {
                    best = Some((d, id));
                }
            }
        }
        best.map(|(_, id)| self.words[id as usize].as_str())
    }
}

/// The index over one knowledge base.
#[derive(Debug)]
pub(crate) struct Matcher {
    /// Analysed term → its concept features (lexicon and knowledge-base synonyms).
    concepts: FxHashMap<String, Vec<u32>>,
    /// Multi-word English phrases and Chinese compounds worth joining.
    phrases: FxHashSet<String>,
    /// Term features: analysed term not in any concept → feature id.
    terms: FxHashMap<String, u32>,
    /// Feature id → (entry, field weight), one per entry.
    postings: Vec<Vec<(u32, f32)>>,
    /// Feature id → inverse document frequency.
    idf: Vec<f32>,
    /// `ln(1 + N)`: the idf of a feature unique to one entry.
    idf_max: f32,
    /// Typo correction over indexed and lexicon English words.
    fuzzy: Fuzzy,
    /// Entry → primary language subtag.
    languages: Vec<String>,
    /// Entry → the features of each of its questions.
    questions: Vec<Vec<Vec<u32>>>,
    /// [`question_key`] of every question → its entry; `None` when entries of two
    /// intents share the question (then neither is exact).
    exact: FxHashMap<String, Option<u32>>,
}

impl Matcher {
    /// Builds the index; `use_lexicon` false leaves the built-in lexicon out (the
    /// knowledge base's own synonyms still apply), for measuring what it contributes.
    pub(crate) fn new(kb: &KnowledgeBase, use_lexicon: bool) -> Matcher {
        let mut m = Matcher {
            concepts: FxHashMap::default(),
            phrases: FxHashSet::default(),
            terms: FxHashMap::default(),
            postings: Vec::new(),
            idf: Vec::new(),
            idf_max: 1.0,
            fuzzy: Fuzzy::default(),
            languages: kb
                .entries
                .iter()
                .map(|e| primary_language(&e.lang))
                .collect(),
            questions: Vec::with_capacity(kb.entries.len()),
            exact: FxHashMap::default(),
        };
        for (doc, e) in kb.entries.iter().enumerate() {
            for key in e.questions.iter().map(|q| question_key(q)) {
                if key.is_empty() {
                    continue;
                }
                let slot = m.exact.entry(key).or_insert(Some(doc as u32));
                if slot.is_some_and(|other| kb.entries[other as usize].intent != e.intent) {
                    *slot = None;
                }
            }
        }
        let builtin = lexicon::GROUPS.iter().filter(|_| use_lexicon);
        let groups: Vec<Vec<&str>> = builtin
            .map(|g| g.to_vec())
            .chain(
                kb.synonyms
                    .iter()
                    .map(|g| g.iter().map(String::as_str).collect()),
            )
            .collect();
        // Phrases first, so that terms of groups are analysed with them.
        let keywords = kb.entries.iter().flat_map(|e| e.keywords.iter());
        for t in groups
            .iter()
            .flatten()
            .copied()
            .chain(keywords.map(String::as_str))
        {
            m.learn_phrase(t);
        }
        let mut vocabulary = FxHashSet::default();
        for group in &groups {
            let id = m.postings.len() as u32;
            m.postings.push(Vec::new());
            for term in group {
                // A group term is one unit: its phrase form if it has several words.
                if let Some(t) = m.unit(term) {
                    let ids = m.concepts.entry(t.clone()).or_default();
                    if !ids.contains(&id) {
                        ids.push(id);
                    }
                    vocabulary.insert(t);
                }
            }
        }
        let mut terms = Vec::new();
        for (doc, e) in kb.entries.iter().enumerate() {
            let mut weights: FxHashMap<u32, f32> = FxHashMap::default();
            let intent = e.intent.replace(['_', '-'], " ");
            let fields = e
                .questions
                .iter()
                .chain(&e.keywords)
                .map(|t| (t.as_str(), QUESTION_WEIGHT))
                .chain([
                    (intent.as_str(), INTENT_WEIGHT),
                    (e.answer.as_str(), ANSWER_WEIGHT),
                ]);
            let mut questions = Vec::new();
            for (i, (text, weight)) in fields.enumerate() {
                terms.clear();
                m.analyse(text, false, &mut terms);
                let mut question = Vec::new();
                for t in &terms {
                    vocabulary.insert(t.text.clone());
                    for f in m.features_or_new(&t.text) {
                        let w = weights.entry(f).or_default();
                        *w = w.max(weight);
                        if !question.contains(&f) {
                            question.push(f);
                        }
                    }
                }
                if i < e.questions.len() && !question.is_empty() {
                    questions.push(question);
                }
            }
            m.questions.push(questions);
            for (f, w) in weights {
                m.postings[f as usize].push((doc as u32, w));
            }
        }
        // Document frequency over intents, weighted by field: the zh and en entries of
        // one intent are one answer, and a word in an answer is weaker evidence of the
        // topic than a word in a question.
        let mut intents: Vec<&str> = kb.entries.iter().map(|e| e.intent.as_str()).collect();
        let intent_of: Vec<usize> = intents
            .iter()
            .map(|i| intents.iter().position(|j| j == i).unwrap_or(0))
            .collect();
        intents.sort_unstable();
        intents.dedup();
        let n = intents.len().max(1) as f32;
        let mut per_intent: FxHashMap<usize, f32> = FxHashMap::default();
        m.idf = m
            .postings
            .iter()
            .map(|p| {
                per_intent.clear();
                for &(doc, w) in p {
                    let slot = per_intent.entry(intent_of[doc as usize]).or_default();
                    *slot = slot.max(w);
                }
                let df: f32 = per_intent.values().sum();
                if df > 0.0 { (1.0 + n / df).ln() } else { 0.0 }
            })
            .collect();
        m.idf_max = (1.0 + n).ln();
        m.fuzzy = Fuzzy::build(vocabulary);
        m
    }

    /// Remembers a multi-word or Chinese term as a phrase to join.
    fn learn_phrase(&mut self, term: &str) {
        let norm = normalise(term);
        if norm.chars().any(is_cjk) {
            if norm.chars().all(is_cjk) && norm.chars().count() >= 2 {
                self.phrases.insert(norm);
            }
        } else {
            let words = english_words(&norm);
            if (2..=MAX_PHRASE).contains(&words.len()) {
                self.phrases.insert(words.join(" "));
            }
        }
    }

    /// A lexicon or synonym term as one analysed unit.
    fn unit(&self, term: &str) -> Option<String> {
        let norm = normalise(term);
        if norm.chars().any(is_cjk) {
            return (norm.chars().all(is_cjk) && !norm.is_empty()).then_some(norm);
        }
        let words = english_words(&norm);
        (!words.is_empty()).then(|| words.join(" "))
    }

    /// The features of an indexed term, creating a term feature if it has none.
    fn features_or_new(&mut self, term: &str) -> Vec<u32> {
        if let Some(ids) = self.concepts.get(term) {
            return ids.clone();
        }
        if let Some(&id) = self.terms.get(term) {
            return vec![id];
        }
        let id = self.postings.len() as u32;
        self.postings.push(Vec::new());
        self.terms.insert(term.to_owned(), id);
        vec![id]
    }

    /// Whether the term has features.
    fn known(&self, term: &str) -> bool {
        self.concepts.contains_key(term) || self.terms.contains_key(term)
    }

    /// Analyses text into terms; `query` turns on typo correction.
    fn analyse(&self, text: &str, query: bool, out: &mut Vec<Term>) {
        let norm = normalise(text);
        let mut latin: Vec<&str> = Vec::new();
        let mut rest = norm.as_str();
        while let Some(c) = rest.chars().next() {
            if is_cjk(c) {
                let end = rest.find(|c: char| !is_cjk(c)).unwrap_or(rest.len());
                self.flush_latin(&mut latin, query, out);
                self.analyse_chinese(&rest[..end], out);
                rest = &rest[end..];
            } else if c.is_alphanumeric() {
                let end = rest
                    .find(|c: char| !(c.is_alphanumeric() || c == '\'') || is_cjk(c))
                    .unwrap_or(rest.len());
                latin.push(&rest[..end]);
                rest = &rest[end..];
            } else {
                rest = &rest[c.len_utf8()..];
            }
        }
        self.flush_latin(&mut latin, query, out);
    }

    /// Stems a run of English words, finds phrases and corrects typos.
    fn flush_latin(&self, words: &mut Vec<&str>, query: bool, out: &mut Vec<Term>) {
        if words.is_empty() {
            return;
        }
        let raw: Vec<String> = words.iter().map(|w| stem(w)).collect();
        // Words of a phrase as written are left alone ("trade in"); other unknown words
        // are corrected first, so that a corrected word can complete a phrase.
        let mut in_phrase = vec![false; raw.len()];
        for i in 0..raw.len() {
            for n in 2..=MAX_PHRASE.min(raw.len() - i) {
                if self.phrases.contains(&raw[i..i + n].join(" ")) {
                    in_phrase[i..i + n].fill(true);
                }
            }
        }
        let stems: Vec<(String, f32)> = raw
            .into_iter()
            .zip(words.iter())
            .zip(&in_phrase)
            .map(|((s, w), &phrase)| {
                let stop = STOP_EN.contains(&w.replace('\'', "").as_str());
                if !query || stop || phrase || self.known(&s) {
                    return (s, 1.0);
                }
                match self.fuzzy.correct(&s) {
                    Some(fixed) => (fixed.to_owned(), FUZZY_WEIGHT),
                    None => (s, 1.0),
                }
            })
            .collect();
        for i in 0..stems.len() {
            for n in 2..=MAX_PHRASE.min(stems.len() - i) {
                let parts = &stems[i..i + n];
                let phrase = parts
                    .iter()
                    .map(|(s, _)| s.as_str())
                    .collect::<Vec<_>>()
                    .join(" ");
                if self.phrases.contains(&phrase) {
                    let weight = parts.iter().map(|(_, w)| *w).fold(1.0, f32::min);
                    out.push(Term {
                        text: phrase,
                        weight,
                    });
                }
            }
            let word = words[i].replace('\'', "");
            let (stem, weight) = &stems[i];
            if self.concepts.contains_key(stem.as_str())
                || !(STOP_EN.contains(&word.as_str()) || (query && !self.known(stem)))
            {
                out.push(Term {
                    text: stem.clone(),
                    weight: *weight,
                });
            }
        }
        words.clear();
    }

    /// Segments a run of ideographs into words, sub-words and joined compounds.
    fn analyse_chinese(&self, run: &str, out: &mut Vec<Term>) {
        let jieba = segmenter();
        let words: Vec<&str> = jieba.cut(run, true).into_iter().map(|t| t.word).collect();
        for w in &words {
            let chars: Vec<(usize, char)> = w.char_indices().collect();
            if !STOP_ZH.contains(w) || self.concepts.contains_key(*w) {
                out.push(Term {
                    text: (*w).to_owned(),
                    weight: 1.0,
                });
            }
            if chars.len() >= 3 {
                for n in 2..chars.len() {
                    for s in 0..=chars.len() - n {
                        let start = chars[s].0;
                        let end = chars.get(s + n).map_or(w.len(), |c| c.0);
                        let sub = &w[start..end];
                        if !STOP_ZH.contains(&sub) && jieba.has_word(sub) {
                            out.push(Term {
                                text: sub.to_owned(),
                                weight: 1.0,
                            });
                        }
                    }
                }
            }
        }
        // Lexicon and keyword terms the segmentation split differently ("延保管" read as
        // "延" + "保管" still holds "延保").
        let chars: Vec<usize> = run
            .char_indices()
            .map(|(i, _)| i)
            .chain([run.len()])
            .collect();
        for s in 0..chars.len() - 1 {
            for n in 2..=MAX_SPOT.min(chars.len() - 1 - s) {
                let sub = &run[chars[s]..chars[s + n]];
                if self.phrases.contains(sub) || self.concepts.contains_key(sub) {
                    out.push(Term {
                        text: sub.to_owned(),
                        weight: 1.0,
                    });
                }
            }
        }
    }

    /// The query's features with their weights (the highest for each feature).
    fn query_features(&self, text: &str) -> Vec<(u32, f32)> {
        let mut terms = Vec::new();
        self.analyse(text, true, &mut terms);
        let mut features: Vec<(u32, f32)> = Vec::with_capacity(terms.len());
        for t in &terms {
            let ids = match self.concepts.get(&t.text) {
                Some(ids) => ids.as_slice(),
                None => self
                    .terms
                    .get(&t.text)
                    .map(std::slice::from_ref)
                    .unwrap_or_default(),
            };
            for &id in ids {
                match features.iter_mut().find(|(f, _)| *f == id) {
                    Some((_, w)) => *w = w.max(t.weight),
                    None => features.push((id, t.weight)),
                }
            }
        }
        features
    }

    /// Every entry that shares a feature with the message, best first; `language` is
    /// the message's primary language.
    pub(crate) fn rank(&self, text: &str, language: &str) -> Vec<Candidate> {
        let mut scores = vec![0.0f32; self.languages.len()];
        let query = self.query_features(text);
        for &(f, qw) in &query {
            let idf = self.idf[f as usize];
            for &(doc, dw) in &self.postings[f as usize] {
                scores[doc as usize] += qw * dw * idf;
            }
        }
        let mut ranked: Vec<Candidate> = scores
            .into_iter()
            .enumerate()
            .filter(|(_, s)| *s > 0.0)
            .map(|(entry, mut score)| {
                score *= COVERAGE_FLOOR + (1.0 - COVERAGE_FLOOR) * self.coverage(entry, &query);
                if self.languages[entry] != language {
                    score *= OTHER_LANGUAGE;
                }
                let confidence = 1.0 - (-EVIDENCE_SCALE * score / self.idf_max).exp();
                Candidate {
                    entry,
                    score,
                    confidence,
                }
            })
            .collect();
        ranked.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.entry.cmp(&b.entry)));
        ranked
    }
}

impl Matcher {
    /// The entry whose question the message is, up to [`question_key`]; the first
    /// entry of the intent when its language twins share the question.
    pub(crate) fn exact(&self, text: &str) -> Option<usize> {
        let key = question_key(text);
        if key.is_empty() {
            return None;
        }
        self.exact.get(&key).copied().flatten().map(|e| e as usize)
    }

    /// How much of the entry's best-covered question the query covers, by idf: 1 when
    /// the query says everything one of its questions says.
    fn coverage(&self, entry: usize, query: &[(u32, f32)]) -> f32 {
        self.questions[entry]
            .iter()
            .map(|q| {
                let (mut hit, mut all) = (0.0, 0.0);
                for &f in q {
                    let idf = self.idf[f as usize];
                    all += idf;
                    if let Some((_, w)) = query.iter().find(|(qf, _)| *qf == f) {
                        hit += idf * w;
                    }
                }
                if all > 0.0 { hit / all } else { 0.0 }
            })
            .fold(0.0, f32::max)
    }
}

/// Discounts the best candidate's confidence by the runner-up of another intent.
pub(crate) fn discounted(best: &Candidate, runner_up: Option<&Candidate>) -> f32 {
    let margin = runner_up.map_or(1.0, |r| {
        ((best.score - r.score) / best.score).clamp(0.0, 1.0)
    });
    best.confidence * (AMBIGUOUS_FLOOR + (1.0 - AMBIGUOUS_FLOOR) * margin)
}

/// Lower-cased, full-width folded text.
fn normalise(text: &str) -> String {
    text.chars()
        .map(|c| match fold(c) {
            '’' | '‘' | '`' => '\'',
            c => c,
        })
        .flat_map(char::to_lowercase)
        .collect()
}

/// A question as the exact index keys it: full-width forms folded, lower-cased, and
/// only letters, digits and ideographs kept ("I want a refund!" and "i want a
/// REFUND" are one key).
pub(crate) fn question_key(text: &str) -> String {
    normalise(text)
        .chars()
        .filter(|c| c.is_alphanumeric())
        .collect()
}

/// The stemmed words of normalised English text.
fn english_words(norm: &str) -> Vec<String> {
    norm.split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .filter(|w| !w.is_empty())
        .map(stem)
        .collect()
}

/// The stem of one English word, apostrophes removed.
fn stem(word: &str) -> String {
    let word = word.replace('\'', "");
    stemmer().stem(&word).into_owned()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn starter() -> KnowledgeBase {
        KnowledgeBase::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("kb/starter.json")).unwrap()
    }

    fn terms(m: &Matcher, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        m.analyse(text, true, &mut out);
        out.into_iter().map(|t| t.text).collect()
    }

    #[test]
    #[ignore = "debugging aid: BOT_DEBUG_KB=path BOT_DEBUG_Q=text"]
    fn explain() {
        let kb = std::env::var("BOT_DEBUG_KB").map_or_else(
            |_| starter(),
            |p| KnowledgeBase::load(Path::new(&p)).unwrap(),
        );
        let m = Matcher::new(&kb, std::env::var("BOT_DEBUG_NOLEX").is_err());
        for q in std::env::var("BOT_DEBUG_Q").unwrap().split('|') {
            println!("{q}: {:?}", terms(&m, q));
            let f = m.query_features(q);
            let names: Vec<String> = f
                .iter()
                .map(|(id, w)| {
                    let name = m
                        .terms
                        .iter()
                        .find(|(_, v)| **v == *id)
                        .map(|(k, _)| k.clone())
                        .unwrap_or_else(|| {
                            format!(
                                "concept{id}:{:?}",
                                m.concepts
                                    .iter()
                                    .filter(|(_, v)| v.contains(id))
                                    .map(|(k, _)| k.as_str())
                                    .take(3)
                                    .collect::<Vec<_>>()
                            )
                        });
                    format!("{name} w{w} idf{:.2}", m.idf[*id as usize])
                })
                .collect();
            println!("  features {names:?}");
            for c in m
                .rank(q, crate::bot::language::detect_language(q))
                .iter()
                .take(4)
            {
                println!(
                    "  {} {:.2} {:.2}",
                    kb.entries[c.entry].id, c.score, c.confidence
                );
            }
        }
    }
}

#[cfg(test)]
mod exact_tests {
    use super::*;

    #[test]
    fn questions_are_keyed_up_to_case_width_spaces_and_punctuation() {
        let key = question_key("I want a refund");
        for same in [
            "i want a REFUND!",
            " I  want a refund ",
            "Ｉ ｗａｎｔ ａ ｒｅｆｕｎｄ？",
        ] {
            assert_eq!(question_key(same), key, "{same}");
        }
        assert_eq!(question_key("我要退款！"), question_key("我要 退款"));
        assert_eq!(
            question_key("my package hasn’t arrived"),
            "mypackagehasntarrived"
        );
        assert_ne!(question_key("I want a refund now"), key);
        assert_eq!(question_key("?!… 🙂"), "");
    }

    #[test]
    fn the_index_holds_every_question_and_drops_ones_two_intents_share() {
        let kb = KnowledgeBase::parse(
            r#"{"entries": [
              {"id": "ret", "lang": "en", "questions": ["How do I return an item?", "I want a refund"], "answer": "Orders > Return."},
              {"id": "ret-zh", "lang": "zh", "intent": "ret", "questions": ["我要退款", "I want a refund"], "answer": "订单页退货。"},
              {"id": "late", "lang": "en", "questions": ["When will I get my refund?", "Help"], "answer": "In 5 days."},
              {"id": "help", "lang": "en", "questions": ["help!"], "answer": "Ask away."}
            ]}"#,
        )
        .unwrap();
        let m = Matcher::new(&kb, true);
        assert_eq!(
            m.exact("i want a refund!"),
            Some(0),
            "twins share it: the first"
        );
        assert_eq!(m.exact("how do i return an item"), Some(0));
        assert_eq!(m.exact("我要退款"), Some(1));
        assert_eq!(m.exact("When will I get my refund"), Some(2));
        assert_eq!(m.exact("help"), None, "two intents ask it");
        assert_eq!(m.exact("refund"), None);
        assert_eq!(m.exact("???"), None);
    }
}

#[cfg(test)]
mod segmentation_tests {
    use super::*;

    fn analysed(text: &str) -> Vec<String> {
        let kb = KnowledgeBase::parse(
            r#"[{"id": "a", "lang": "en", "question": "refund", "answer": "x"}]"#,
        )
        .unwrap();
        let m = Matcher::new(&kb, true);
        let mut out = Vec::new();
        m.analyse(text, true, &mut out);
        out.into_iter().map(|t| t.text).collect()
    }

    #[test]
    fn chinese_is_segmented_into_words_not_characters() {
        let t = analysed("蓝牙耳机怎么和手机配对");
        for w in ["蓝牙耳机", "耳机", "手机", "配对"] {
            assert!(t.iter().any(|x| x == w), "{w} in {t:?}");
        }
        assert!(
            !t.iter().any(|x| x == "蓝" || x == "牙" || x == "怎么"),
            "{t:?}"
        );
    }

    #[test]
    fn english_is_stemmed_phrased_and_corrected() {
        assert_eq!(analysed("refunds"), ["refund"]);
        assert_eq!(analysed("refnd"), ["refund"]);
        let t = analysed("I want my money back");
        assert!(t.contains(&"money back".to_owned()), "{t:?}");
        let t = analysed("trade in my old phone");
        assert!(t.contains(&"trade in".to_owned()), "{t:?}");
        // Mixed: both halves analysed.
        let t = analysed("deposit交了 能退吗");
        assert!(
            t.contains(&"deposit".to_owned())
                && t.contains(&"交".to_owned()) == t.contains(&"交".to_owned()),
            "{t:?}"
        );
        assert!(
            analysed("qwertyuiop").is_empty()
                || !analysed("qwertyuiop").contains(&"refund".to_owned())
        );
    }

    #[test]
    fn no_lexicon_word_means_two_things_after_stemming() {
        // Stemming can merge words of different groups ("shipping" and "ship",
        // "instalments" and "install"); every stem shared by groups is listed here.
        let mut seen: FxHashMap<String, usize> = FxHashMap::default();
        let mut shared = Vec::new();
        for (g, group) in lexicon::GROUPS.iter().enumerate() {
            for term in *group {
                let norm = normalise(term);
                if norm.chars().any(is_cjk) {
                    continue;
                }
                let key = english_words(&norm).join(" ");
                if seen.get(&key).is_some_and(|&other| other != g) {
                    shared.push(key.clone());
                }
                seen.insert(key, g);
            }
        }
        shared.sort();
        shared.dedup();
        assert_eq!(shared, Vec::<String>::new());
    }
}
