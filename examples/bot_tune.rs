//! Calibrates the semantic stage's fusion settings (issue 12) on the tuning sets
//! only: `tests/data/tuning/*` plus the shared sample `tests/data/faq-sample`. Never
//! point it at `tests/data/heldout/` or `tests/data/heldout-2/`: figures on those are
//! reported by `bot_eval`, untouched by tuning.
//!
//! ```text
//! cargo run --release --example bot_tune -- --model target/models/multilingual-e5-small \
//!     --onnxruntime target/models/onnxruntime/libonnxruntime.so
//! ```
//!
//! Each message is embedded once; then every combination of a small grid of
//! [`FusionSettings`] decides every message through
//! `BuiltinBot::respond_calibrating` (the bot's own decision with the given vector),
//! and the combinations are ranked by `correct − wrong entry − 1.5 × must-not
//! answered`, summed over the sets: a wrong answer costs more than the greeting with
//! "did you mean" buttons a customer gets instead. The best few are printed with
//! their per-set figures, next to the lexical matcher alone.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use serde::Deserialize;
use switchboard::bot::embedding::{Embedder, EmbedderSettings};
use switchboard::bot::fusion::FusionSettings;
use switchboard::bot::knowledge::KnowledgeBase;
use switchboard::bot::{BotReply, BotSettings, BuiltinBot, Turn, detect_language};

/// Command line.
#[derive(Debug, Parser)]
#[command(about = "Calibrates the built-in bot's semantic fusion on the tuning sets")]
struct Args {
    /// The model directory (`bot.model`).
    #[arg(long, value_name = "DIR")]
    model: PathBuf,
    /// The ONNX Runtime library (default ORT_DYLIB_PATH).
    #[arg(long, value_name = "PATH")]
    onnxruntime: Option<PathBuf>,
    /// How many of the best settings to print.
    #[arg(long, default_value_t = 5)]
    top: usize,
    /// Also print every message the best setting gets wrong (tuning sets only).
    #[arg(long)]
    misses: bool,
}

/// One labelled message of `queries.jsonl` (the held-out format).
#[derive(Debug, Deserialize)]
struct Query {
    q: String,
    expect: Option<String>,
    #[serde(default)]
    accept: Vec<String>,
    #[serde(default)]
    kind: String,
}

/// A tuning set with its bot and every message's vector.
struct Set {
    name: String,
    bot: BuiltinBot,
    queries: Vec<(Query, String, Vec<f32>)>,
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

fn repo(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn load_set(dir: &Path, embedder: &Arc<Embedder>) -> Result<Set, String> {
    let kb = KnowledgeBase::load(&dir.join("faq.json")).map_err(|e| e.to_string())?;
    let bot = BuiltinBot::with_semantic(kb, BotSettings::default(), embedder.clone())
        .map_err(|e| e.to_string())?;
    let path = dir.join("queries.jsonl");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut queries = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let query: Query = serde_json::from_str(line).map_err(|e| e.to_string())?;
        let language = detect_language(&query.q).to_owned();
        let vector = embedder.embed(&query.q).map_err(|e| e.to_string())?;
        queries.push((query, language, vector));
    }
    Ok(Set {
        name: dir
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
        bot,
        queries,
    })
}

/// Decides every message of `set`; `None` settings = the lexical matcher alone.
fn tally(set: &Set, fusion: Option<&FusionSettings>) -> Tally {
    let mut t = Tally::default();
    for (query, language, vector) in &set.queries {
        let turn = Turn {
            text: &query.q,
            language,
            channel: "web",
        };
        let reply = match fusion {
            Some(f) => set.bot.respond_calibrating(&turn, vector, f),
            None => set.bot.respond_calibrating(&turn, &[], &LEXICAL_ONLY),
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
};

/// The grid searched.
fn grid() -> Vec<FusionSettings> {
    let mut out = Vec::new();
    for lexical_sure in [0.65, 0.75, 0.85, 1.0] {
        for lexical_weight in [0.0, 0.1, 0.2, 0.3] {
            for cosine_floor in [0.62, 0.66, 0.70, 0.74, 0.78] {
                for width in [0.12, 0.16, 0.2, 0.25] {
                    for margin in [0.05, 0.1, 0.2, 0.3] {
                        for ambiguity_floor in [0.5, 0.7, 0.85] {
                            for language_centring in [0.0, 0.5, 1.0] {
                                out.push(FusionSettings {
                                    lexical_sure,
                                    lexical_weight,
                                    cosine_floor,
                                    cosine_ceiling: cosine_floor + width,
                                    margin,
                                    ambiguity_floor,
                                    language_centring,
                                });
                            }
                        }
                    }
                }
            }
        }
    }
    out
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut settings = EmbedderSettings::new(&args.model);
    settings.runtime = args.onnxruntime.clone();
    let embedder = match Embedder::shared(&settings) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("bot_tune: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut dirs: Vec<PathBuf> = match std::fs::read_dir(repo("tests/data/tuning")) {
        Ok(listing) => listing
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect(),
        Err(e) => {
            eprintln!("bot_tune: tests/data/tuning: {e}");
            return ExitCode::FAILURE;
        }
    };
    dirs.sort();
    dirs.push(repo("tests/data/faq-sample"));
    let sets: Result<Vec<Set>, String> = dirs.iter().map(|d| load_set(d, &embedder)).collect();
    let sets = match sets {
        Ok(s) => s,
        Err(e) => {
            eprintln!("bot_tune: {e}");
            return ExitCode::FAILURE;
        }
    };
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
    let mut ranked: Vec<(f64, FusionSettings)> =
        grid().into_iter().map(|f| (total(Some(&f)).0, f)).collect();
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
            for (query, language, vector) in &set.queries {
                let turn = Turn {
                    text: &query.q,
                    language,
                    channel: "web",
                };
                let reply = set.bot.respond_calibrating(&turn, vector, best);
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
