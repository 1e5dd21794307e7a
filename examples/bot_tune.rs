//! Calibrates the semantic stage's fusion settings (issue 12) on the tuning sets:
//! `tests/data/tuning/*`, the shared sample `tests/data/faq-sample`, and (since
//! 2026-12-03, when the two-model fusion was calibrated) the first held-out sets
//! `tests/data/heldout/*`, whose messages earlier sessions had studied. Never point it
//! at `tests/data/heldout-2/`, `heldout-3/` or `heldout-4/`: figures on those are
//! reported by `bot_eval`, untouched by tuning.
//!
//! ```text
//! cargo run --release --example bot_tune -- --model target/models/multilingual-e5-small \
//!     --second-model target/models/use-multilingual-v3 \
//!     --onnxruntime target/models/onnxruntime/libonnxruntime.so
//! ```
//!
//! `--triage` calibrates the embedding triage (`TriageSettings`) instead, on the tuning
//! sets plus `tests/data/tuning-triage/`; `--twins` prints the language-twin
//! similarities of the tuning sets' entries with their `group` keys dropped.
//!
//! Each message is embedded once; then every combination of a small grid of
//! [`FusionSettings`] decides every message through
//! `BuiltinBot::respond_calibrating` (the bot's own decision with the given vector),
//! and the combinations are ranked by `correct − wrong entry − 1.5 × must-not
//! answered`, summed over the sets: a wrong answer costs more than the greeting with
//! "did you mean" buttons a customer gets instead. The best few are printed with
//! their per-set figures, next to the lexical matcher alone.

#[allow(dead_code)]
#[path = "bot_eval/eval.rs"]
mod eval;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use eval::{Query, repo_path, set_dirs};
use switchboard::bot::embedding::{Embedder, EmbedderSettings};
use switchboard::bot::fusion::FusionSettings;
use switchboard::bot::knowledge::KnowledgeBase;
use switchboard::bot::semantic_index::{
    SemanticIndex, TWINS_E5, TWINS_USE, TwinRule, detect_twins,
};
use switchboard::bot::semantic_triage::{ClassThresholds, TriageScores, TriageSettings};
use switchboard::bot::{BotReply, BotSettings, BuiltinBot, HandoffReason, Turn, detect_language};

/// Command line.
#[derive(Debug, Parser)]
#[command(about = "Calibrates the built-in bot's semantic fusion on the tuning sets")]
struct Args {
    /// The model directory (`bot.model`).
    #[arg(long, value_name = "DIR")]
    model: PathBuf,
    /// A second model fused with the first (`bot.second_model`).
    #[arg(long, value_name = "DIR")]
    second_model: Option<PathBuf>,
    /// The ONNX Runtime library (default ORT_DYLIB_PATH).
    #[arg(long, value_name = "PATH")]
    onnxruntime: Option<PathBuf>,
    /// How many of the best settings to print.
    #[arg(long, default_value_t = 5)]
    top: usize,
    /// Also print every message the best setting gets wrong (tuning sets only).
    #[arg(long)]
    misses: bool,
    /// Calibrate the embedding triage instead (`TriageSettings`), on the tuning sets and
    /// `tests/data/tuning-triage/`, with the default fusion.
    #[arg(long)]
    triage: bool,
    /// Print the language-twin similarities of the tuning sets' entries (the explicit
    /// `group` keys dropped) and the pairs detection finds: under the second model
    /// with its rule when one is given, else under the model.
    #[arg(long)]
    twins: bool,
    /// Write every message's evidence (rules, lexical, vectors) and every entry's
    /// vectors of the `--set` directories to this JSON-lines file, for offline study.
    #[arg(long, value_name = "FILE")]
    dump: Option<PathBuf>,
    /// A set directory for `--dump`; repeat for several.
    #[arg(long = "set", value_name = "DIR")]
    sets: Vec<PathBuf>,
}

/// A tuning set with its bot and every message's vectors.
struct Set {
    name: String,
    bot: BuiltinBot,
    queries: Vec<Message>,
}

/// One labelled message, its language and its vectors under the model and the second
/// model (if any).
struct Message {
    query: Query,
    language: String,
    vector: Vec<f32>,
    second: Option<Vec<f32>>,
}

impl Message {
    fn turn(&self) -> Turn<'_> {
        Turn {
            text: &self.query.q,
            language: &self.language,
            channel: "web",
        }
    }
}

/// Counts of one set under one setting.
#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    answerable: usize,
    correct: usize,
    wrong_entry: usize,
    must_not: usize,
    must_not_answered: usize,
}

impl Tally {
    fn objective(&self) -> f64 {
        self.correct as f64 - self.wrong_entry as f64 - 1.5 * self.must_not_answered as f64
    }

    fn line(&self) -> String {
        format!(
            "top-1 {:.3} ({}/{}), wrong entry {}, must-not answered {}/{}",
            self.correct as f64 / self.answerable.max(1) as f64,
            self.correct,
            self.answerable,
            self.wrong_entry,
            self.must_not_answered,
            self.must_not
        )
    }
}

fn load_set(dir: &Path, models: &Models) -> Result<Set, String> {
    let kb = KnowledgeBase::load(&dir.join("faq.json")).map_err(|e| e.to_string())?;
    let bot = BuiltinBot::with_models(
        kb,
        BotSettings::default(),
        models.first.clone(),
        models.second.clone(),
    )
    .map_err(|e| e.to_string())?;
    let path = dir.join("queries.jsonl");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut queries = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let query: Query = serde_json::from_str(line).map_err(|e| e.to_string())?;
        let language = detect_language(&query.q).to_owned();
        let vector = models.first.embed(&query.q).map_err(|e| e.to_string())?;
        let second = match &models.second {
            Some(m) => Some(m.embed(&query.q).map_err(|e| e.to_string())?),
            None => None,
        };
        queries.push(Message {
            query,
            language,
            vector,
            second,
        });
    }
    Ok(Set {
        name: dir
            .strip_prefix(repo_path("tests/data"))
            .unwrap_or(dir)
            .display()
            .to_string(),
        bot,
        queries,
    })
}

/// Decides every message of `set`; `None` settings = the lexical matcher alone.
fn tally(set: &Set, fusion: Option<&FusionSettings>) -> Tally {
    let mut t = Tally::default();
    for m in &set.queries {
        let query = &m.query;
        let reply = match fusion {
            Some(f) => {
                set.bot
                    .respond_calibrating_pair(&m.turn(), &m.vector, m.second.as_deref(), f)
            }
            None => set.bot.respond_calibrating(&m.turn(), &[], &LEXICAL_ONLY),
        };
        let answered = match &reply {
            BotReply::Answer { entry_id, .. } => Some(entry_id.as_str()),
            _ => None,
        };
        match (&query.expect, answered) {
            (Some(expect), Some(id)) => {
                t.answerable += 1;
                if id == expect || query.accept.iter().any(|a| a == id) {
                    t.correct += 1;
                } else {
                    t.wrong_entry += 1;
                }
            }
            (Some(_), None) => t.answerable += 1,
            (None, answered) => {
                t.must_not += 1;
                t.must_not_answered += usize::from(answered.is_some());
            }
        }
    }
    t
}

/// Settings under which every lexical confidence counts as sure: no fusion at all.
const LEXICAL_ONLY: FusionSettings = FusionSettings {
    lexical_sure: f32::MIN_POSITIVE,
    lexical_weight: 1.0,
    cosine_floor: 0.0,
    cosine_ceiling: 1.0,
    margin: 1.0,
    ambiguity_floor: 1.0,
    language_centring: 0.0,
    second_share: 0.0,
    second_cosine_floor: 0.0,
    second_cosine_ceiling: 1.0,
};

/// The grid searched; the second model's settings only when there is one.
fn grid(second: bool) -> Vec<FusionSettings> {
    let shares: &[f32] = if second { &[0.3, 0.5] } else { &[0.0] };
    let second_floors: &[f32] = if second { &[0.1, 0.2, 0.3] } else { &[0.1] };
    let second_widths: &[f32] = if second { &[0.3, 0.4, 0.5] } else { &[0.4] };
    let mut out = Vec::new();
    for lexical_sure in [0.75, 0.9, 1.0] {
        for lexical_weight in [0.1, 0.2, 0.3] {
            for cosine_floor in [0.72, 0.76, 0.80] {
                for width in [0.1, 0.15, 0.2] {
                    for margin in [0.2, 0.3] {
                        for ambiguity_floor in [0.5, 0.7] {
                            for &second_share in shares {
                                for &second_cosine_floor in second_floors {
                                    for &w in second_widths {
                                        out.push(FusionSettings {
                                            lexical_sure,
                                            lexical_weight,
                                            cosine_floor,
                                            cosine_ceiling: cosine_floor + width,
                                            margin,
                                            ambiguity_floor,
                                            language_centring: 1.0,
                                            second_share,
                                            second_cosine_floor,
                                            second_cosine_ceiling: second_cosine_floor + w,
                                        });
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    out
}

/// The models the bot is calibrated with.
struct Models {
    first: Arc<Embedder>,
    second: Option<Arc<Embedder>>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut settings = EmbedderSettings::new(&args.model);
    settings.runtime = args.onnxruntime.clone();
    let second_settings = args.second_model.as_ref().map(|m| {
        let mut s = EmbedderSettings::new(m);
        s.runtime = args.onnxruntime.clone();
        s
    });
    let loaded = Embedder::shared(&settings).and_then(|first| {
        let second = match &second_settings {
            Some(s) => Some(Embedder::shared(s)?),
            None => None,
        };
        Ok(Models { first, second })
    });
    let models = match loaded {
        Ok(m) => m,
        Err(e) => {
            eprintln!("bot_tune: {e}");
            return ExitCode::FAILURE;
        }
    };
    let embedder = models.first.clone();
    let mut dirs = match set_dirs(eval::TUNING_ROOT) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("bot_tune: {e}");
            return ExitCode::FAILURE;
        }
    };
    dirs.push(repo_path(eval::TUNED_ON_SAMPLE));
    match set_dirs(eval::HELD_OUT_ROOT) {
        Ok(d) => dirs.extend(d),
        Err(e) => {
            eprintln!("bot_tune: {e}");
            return ExitCode::FAILURE;
        }
    }
    if let Some(path) = &args.dump {
        return match dump(path, &args.sets, &settings, &models) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("bot_tune: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if args.twins {
        return match &models.second {
            Some(second) => twins(&dirs, second, TWINS_USE),
            None => twins(&dirs, &embedder, TWINS_E5),
        };
    }
    if let Ok(more) = set_dirs(eval::TUNING_TRIAGE_ROOT) {
        dirs.extend(more);
    }
    let sets: Result<Vec<Set>, String> = dirs.iter().map(|d| load_set(d, &models)).collect();
    let sets = match sets {
        Ok(s) => s,
        Err(e) => {
            eprintln!("bot_tune: {e}");
            return ExitCode::FAILURE;
        }
    };
    if args.triage {
        return triage(&sets, args.top, args.misses);
    }
    let total = |f: Option<&FusionSettings>| -> (f64, Vec<Tally>) {
        let tallies: Vec<Tally> = sets.iter().map(|s| tally(s, f)).collect();
        (tallies.iter().map(Tally::objective).sum(), tallies)
    };
    let (lexical, lexical_tallies) = total(None);
    println!("lexical only: objective {lexical:.1}");
    for (s, t) in sets.iter().zip(&lexical_tallies) {
        println!("  {:12} {}", s.name, t.line());
    }
    let default = FusionSettings::default();
    let (d, default_tallies) = total(Some(&default));
    println!("current default {default:?}: objective {d:.1}");
    for (s, t) in sets.iter().zip(&default_tallies) {
        println!("  {:12} {}", s.name, t.line());
    }
    let mut ranked: Vec<(f64, FusionSettings)> = grid(models.second.is_some())
        .into_iter()
        .map(|f| (total(Some(&f)).0, f))
        .collect();
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (objective, f) in ranked.iter().take(args.top) {
        println!("objective {objective:.1}: {f:?}");
        for (s, t) in sets.iter().zip(total(Some(f)).1) {
            println!("  {:12} {}", s.name, t.line());
        }
    }
    if args.misses
        && let Some((_, best)) = ranked.first()
    {
        for set in &sets {
            for m in &set.queries {
                let query = &m.query;
                let reply = set.bot.respond_calibrating_pair(
                    &m.turn(),
                    &m.vector,
                    m.second.as_deref(),
                    best,
                );
                let (got, confidence) = match &reply {
                    BotReply::Answer {
                        entry_id,
                        confidence,
                        ..
                    } => (entry_id.clone(), *confidence),
                    BotReply::NotSure {
                        best_intent,
                        confidence,
                        ..
                    } => (format!("not sure ({best_intent:?})"), *confidence),
                    BotReply::Handoff { reason, .. } => (format!("handoff {reason:?}"), 0.0),
                    BotReply::SmallTalk { .. } => ("small talk".to_owned(), 0.0),
                };
                let ok = match &query.expect {
                    Some(e) => got == *e || query.accept.contains(&got),
                    None => !matches!(reply, BotReply::Answer { .. }),
                };
                if !ok {
                    println!(
                        "  miss {} [{}] {:?} expect {:?} got {got} {confidence:.2}",
                        set.name, query.kind, query.q, query.expect
                    );
                }
            }
        }
    }
    ExitCode::SUCCESS
}

/// One message for the triage calibration: what the bot does without the embedding
/// triage, and what the triage decides on.
struct TriageCase<'a> {
    set: &'a str,
    query: &'a Query,
    /// The reply without the embedding triage.
    base: BotReply,
    /// Whether the message reaches the embedding triage at all (no rule fired, the
    /// lexical match was unsure).
    reachable: bool,
    /// The triage scores and the closest entry's cosine.
    scores: TriageScores,
    kb_best: f32,
}

/// Triage settings under which the safety class always fires.
const ALWAYS: TriageSettings = TriageSettings {
    safety: ClassThresholds {
        floor: -2.0,
        margin: -10.0,
    },
    ..TriageSettings::OFF
};

/// Counts of the triage calibration.
#[derive(Debug, Clone, Copy, Default)]
struct TriageTally {
    correct: usize,
    wrong_entry: usize,
    answerable_handed_off: usize,
    must_not_answered: usize,
    safety: usize,
    safety_answered: usize,
    safety_handed_off: usize,
    person_or_complaint: usize,
    person_or_complaint_handed_off: usize,
    progress: usize,
    progress_correct: usize,
}

impl TriageTally {
    /// Correct answers, minus wrong ones, minus 1.5 per must-not answered and 1.5 more
    /// per safety message answered, minus 4 per answerable message handed off (besides
    /// the answer lost: a person's time and the handoff precision), plus 0.5 per
    /// person/complaint/safety message handed off.
    fn objective(&self) -> f64 {
        self.correct as f64
            - self.wrong_entry as f64
            - 1.5 * self.must_not_answered as f64
            - 1.5 * self.safety_answered as f64
            - 4.0 * self.answerable_handed_off as f64
            + 0.5 * (self.safety_handed_off + self.person_or_complaint_handed_off) as f64
    }
}

fn triage_outcome(case: &TriageCase<'_>, t: &TriageSettings) -> BotReply {
    match case.scores.decide(case.kb_best, t) {
        Some(_) if case.reachable => BotReply::Handoff {
            reason: HandoffReason::Safety,
            intent: None,
            skill: None,
            language: String::new(),
        },
        _ => case.base.clone(),
    }
}

fn triage_tally(cases: &[TriageCase<'_>], t: &TriageSettings) -> TriageTally {
    let mut y = TriageTally::default();
    for c in cases {
        let reply = triage_outcome(c, t);
        let answered = match &reply {
            BotReply::Answer { entry_id, .. } => Some(entry_id.as_str()),
            _ => None,
        };
        let handed_off = matches!(reply, BotReply::Handoff { .. });
        let kind = c.query.kind.as_str();
        match &c.query.expect {
            Some(expect) => {
                let ok = answered
                    .is_some_and(|id| id == expect || c.query.accept.iter().any(|a| a == id));
                if ok {
                    y.correct += 1;
                } else if answered.is_some() {
                    y.wrong_entry += 1;
                }
                if handed_off {
                    y.answerable_handed_off += 1;
                }
                if kind == "complaint_progress" {
                    y.progress += 1;
                    y.progress_correct += usize::from(ok);
                }
            }
            None => {
                y.must_not_answered += usize::from(answered.is_some());
                if kind == "safety" {
                    y.safety += 1;
                    y.safety_answered += usize::from(answered.is_some());
                    y.safety_handed_off += usize::from(handed_off);
                } else if kind == "wants_person" || kind == "angry_complaint" {
                    y.person_or_complaint += 1;
                    y.person_or_complaint_handed_off += usize::from(handed_off);
                }
            }
        }
    }
    y
}

fn triage_line(y: &TriageTally) -> String {
    format!(
        "objective {:.1}: correct {}, wrong {}, answerable handed off {}, must-not answered {}, safety handed off {}/{} (answered {}), person+complaint handed off {}/{}, complaint progress {}/{}",
        y.objective(),
        y.correct,
        y.wrong_entry,
        y.answerable_handed_off,
        y.must_not_answered,
        y.safety_handed_off,
        y.safety,
        y.safety_answered,
        y.person_or_complaint_handed_off,
        y.person_or_complaint,
        y.progress_correct,
        y.progress
    )
}

/// Calibrates [`TriageSettings`] class by class (safety, then person, then complaint,
/// each with the classes after it off) over a grid of floors and margins.
fn triage(sets: &[Set], top: usize, misses: bool) -> ExitCode {
    let fusion = FusionSettings::default();
    let mut cases = Vec::new();
    for set in sets {
        for m in &set.queries {
            let (query, turn, vector) = (&m.query, m.turn(), &m.vector);
            let base =
                set.bot
                    .respond_calibrating_triage(&turn, vector, &fusion, &TriageSettings::OFF);
            let Some((scores, kb_best)) = set.bot.triage_scores(vector) else {
                continue;
            };
            let always = set
                .bot
                .respond_calibrating_triage(&turn, vector, &fusion, &ALWAYS);
            let reachable = matches!(
                always,
                BotReply::Handoff {
                    reason: HandoffReason::Safety,
                    ..
                }
            ) && !matches!(
                base,
                BotReply::Handoff {
                    reason: HandoffReason::Safety,
                    ..
                }
            );
            cases.push(TriageCase {
                set: &set.name,
                query,
                base,
                reachable,
                scores,
                kb_best,
            });
        }
    }
    let off = TriageSettings::OFF;
    println!(
        "triage off:     {}",
        triage_line(&triage_tally(&cases, &off))
    );
    let default = TriageSettings::default();
    println!(
        "current default: {}",
        triage_line(&triage_tally(&cases, &default))
    );
    let floors: Vec<f32> = (80..=94).map(|f| f as f32 / 100.0).collect();
    let margins = [-0.02f32, 0.0, 0.01, 0.02, 0.03, 0.04, 0.05, 0.07, 0.1];
    let mut best = off;
    for class in [0, 1, 2, 0, 1, 2] {
        let mut ranked: Vec<(f64, TriageSettings)> = Vec::new();
        for &floor in &floors {
            for &margin in &margins {
                let mut t = best;
                let slot = match class {
                    0 => &mut t.safety,
                    1 => &mut t.person,
                    _ => &mut t.complaint,
                };
                *slot = ClassThresholds { floor, margin };
                ranked.push((triage_tally(&cases, &t).objective(), t));
            }
        }
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
        let name = ["safety", "person", "complaint"][class];
        for (_, t) in ranked.iter().take(top) {
            let c = [t.safety, t.person, t.complaint][class];
            println!(
                "{name} floor {:.2} margin {:+.2}: {}",
                c.floor,
                c.margin,
                triage_line(&triage_tally(&cases, t))
            );
        }
        best = ranked[0].1;
    }
    println!("best: {best:?}");
    let default = best;
    for set in sets {
        let of_set: Vec<TriageCase<'_>> = cases
            .iter()
            .filter(|c| c.set == set.name)
            .map(|c| TriageCase {
                base: c.base.clone(),
                ..*c
            })
            .collect();
        println!(
            "  {:14} {}",
            set.name,
            triage_line(&triage_tally(&of_set, &default))
        );
    }
    if misses {
        for c in &cases {
            let reply = triage_outcome(c, &default);
            let handed_off = matches!(reply, BotReply::Handoff { .. });
            let wrong = match &c.query.expect {
                Some(_) => handed_off,
                None => {
                    matches!(
                        c.query.kind.as_str(),
                        "safety" | "wants_person" | "angry_complaint"
                    ) && !handed_off
                }
            };
            if wrong {
                let s = c.scores;
                println!(
                    "  miss {} [{}] {:?}: safety {:.3} person {:.3} complaint {:.3} calm {:.3} kb {:.3}",
                    c.set,
                    c.query.kind,
                    c.query.q,
                    s.safety,
                    s.person,
                    s.complaint,
                    s.calm,
                    c.kb_best
                );
            }
        }
    }
    ExitCode::SUCCESS
}

/// Prints, for each tuning set with its `group` keys dropped, every zh/en pair that
/// is its two entries' closest cross-language match, with the similarity, and the
/// pairs detection keeps.
fn twins(dirs: &[PathBuf], embedder: &Arc<Embedder>, rule: TwinRule) -> ExitCode {
    for dir in dirs {
        let path = dir.join("faq.json");
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let Ok(mut value) = serde_json::from_str::<serde_json::Value>(&text) else {
            continue;
        };
        if let Some(items) = value.as_array_mut() {
            for item in items {
                if let Some(o) = item.as_object_mut() {
                    o.remove("group");
                }
            }
        }
        let Ok(kb) = KnowledgeBase::parse(&value.to_string()) else {
            continue;
        };
        let Ok(index) = SemanticIndex::build(&kb, embedder.clone()) else {
            continue;
        };
        println!("{}:", dir.display());
        let n = kb.entries.len();
        for a in 0..n {
            let mut scored: Vec<(f32, usize)> = (0..n)
                .filter(|&b| kb.entries[b].lang != kb.entries[a].lang)
                .map(|b| (index.entry_similarity(a, b), b))
                .collect();
            scored.sort_by(|x, y| y.0.total_cmp(&x.0));
            if let [(s1, b1), (s2, _), ..] = scored[..] {
                println!(
                    "  {} -> {} {:.3} (next {:.3})",
                    kb.entries[a].id, kb.entries[b1].id, s1, s2
                );
            }
        }
        for t in detect_twins(&kb, &index, rule) {
            println!(
                "  detected {}/{} {:.3}",
                kb.entries[t.first].id, kb.entries[t.second].id, t.similarity
            );
        }
    }
    ExitCode::SUCCESS
}

/// Writes the evidence of every message of `dirs` to `path` (see `--dump`): a line per
/// set with its entries' vectors, then a line per message.
fn dump(
    path: &Path,
    dirs: &[PathBuf],
    settings: &EmbedderSettings,
    models: &Models,
) -> Result<(), String> {
    let embedder = &models.first;
    use std::io::Write;
    let mut passage_settings = settings.clone();
    passage_settings.prefix = "passage: ".to_owned();
    let passage = Embedder::load(&passage_settings).map_err(|e| e.to_string())?;
    let file = std::fs::File::create(path).map_err(|e| e.to_string())?;
    let mut out = std::io::BufWriter::new(file);
    let embed = |e: &Embedder, t: &str| e.embed(t).map_err(|e| e.to_string());
    for dir in dirs {
        let set = load_set(dir, models)?;
        let mut entries = Vec::new();
        for (i, e) in set.bot.knowledge().entries.iter().enumerate() {
            let questions: Result<Vec<Vec<f32>>, String> =
                e.questions.iter().map(|q| embed(embedder, q)).collect();
            entries.push(serde_json::json!({
                "id": e.id, "lang": e.lang, "intent": set.bot.intent_numbers()[i],
                "questions": e.questions, "answer": e.answer, "keywords": e.keywords,
                "v_questions": questions?,
                "v_answer": embed(embedder, &e.answer)?,
                "v_answer_passage": embed(&passage, &e.answer)?,
                "v_keywords": embed(embedder, &e.keywords.join(" "))?,
                "v_question_answer": embed(&passage, &format!("{} {}", e.questions.first().map_or("", |q| q.as_str()), e.answer))?,
            }));
        }
        let line = serde_json::json!({"set": set.name, "entries": entries});
        writeln!(out, "{line}").map_err(|e| e.to_string())?;
        for m in &set.queries {
            let (query, language, vector) = (&m.query, &m.language, &m.vector);
            let evidence = set.bot.evidence(&query.q, language);
            let baseline = match set.bot.respond_calibrating_pair(
                &m.turn(),
                vector,
                m.second.as_deref(),
                &FusionSettings::default(),
            ) {
                BotReply::Answer { entry_id, .. } => entry_id,
                BotReply::NotSure { .. } => "<clarify>".to_owned(),
                BotReply::Handoff { reason, .. } => format!("<handoff {reason:?}>"),
                BotReply::SmallTalk { .. } => "<small talk>".to_owned(),
            };
            let triage = set
                .bot
                .triage_scores(vector)
                .map(|(t, _)| [t.safety, t.person, t.complaint, t.calm]);
            let line = serde_json::json!({
                "set": set.name, "q": query.q, "expect": query.expect, "accept": query.accept,
                "kind": query.kind, "language": evidence.language, "lexical": evidence.lexical,
                "exact": evidence.exact, "urgent": evidence.urgent,
                "wants_human": evidence.wants_human, "complaint": evidence.complaint,
                "small_talk": evidence.small_talk, "triage": triage, "baseline": baseline,
                "vector": vector, "second_vector": m.second,
            });
            writeln!(out, "{line}").map_err(|e| e.to_string())?;
        }
    }
    out.flush().map_err(|e| e.to_string())
}
