//! Evaluates the built-in knowledge-base bot on held-out sets (issue 12).
//!
//! ```text
//! cargo run --release --example bot_eval                 # markdown tables
//! cargo run --release --example bot_eval -- --json       # one JSON object
//! cargo run --release --example bot_eval -- --set DIR --set DIR2
//! cargo run --release --example bot_eval -- --sealed     # also the sealed sets
//! cargo run --release --example bot_eval -- --tuning     # also the tuning sets (and triage)
//! cargo run --release --example bot_eval -- --model target/models/multilingual-e5-small \
//!     --onnxruntime target/models/onnxruntime/libonnxruntime.so   # semantic stage on
//! cargo run --release --example bot_eval -- --model … --second-model \
//!     target/models/use-multilingual-v3                          # and a second model
//! ```
//!
//! Sealed sets (`tests/data/heldout-2/` and `tests/data/heldout-4/`, marked by a
//! `SEALED` file) are evaluated only with `--sealed`, and their messages never appear
//! in any output, not even in an error: they stay a fair test after the first held-out
//! sets have been studied.
//!
//! Default sets: every subdirectory of `tests/data/heldout/` and `tests/data/heldout-3/`
//! (frozen, written blind to the matcher), plus `tests/data/faq-sample`, the shared
//! sample the matcher was tuned on, reported as "tuned-on" and kept out of "overall".
//! With a model, `heldout/` counts as tuned-on too: the semantic fusion was calibrated
//! on it (2026-12-03). Each set directory holds
//! `faq.json` (a plain FAQ array, loaded as the server's `--kb` loads it:
//! `SharedBot::load` with the server's default settings) and `queries.jsonl`.
//!
//! Each query is the first customer message of a new web-chat conversation with no
//! language set. It goes through the server's own decision: a real `Router` built from
//! the server's default policy files the message and hands out the bot turn,
//! `switchboard::tenants::builtin_bot::builtin_actions` (the function the server's matching
//! pool runs for every built-in bot turn, in `Tenant::serve_bot_work`) answers it, and
//! the router applies the actions as `Command::BotAnswer`, where an unsure reply may
//! become a handoff (`bot.low_confidence_limit`). No `Tenant` is needed: what it adds
//! (lock, journal, delivery) does not change the decision. The outcome is
//! `answered(entry)`, `clarify` (greeting with "did you mean" buttons, no answer) or
//! `handoff`. The evaluation lives in `bot_eval/eval.rs`, shared with
//! `tests/bot_heldout.rs`.

#[path = "bot_eval/eval.rs"]
mod eval;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};

/// Command line.
#[derive(Debug, Parser)]
#[command(about = "Evaluates the built-in bot on held-out knowledge bases and queries")]
struct Args {
    /// A set directory with faq.json and queries.jsonl; repeat for several. Default:
    /// every set under tests/data/heldout/ plus tests/data/faq-sample (tuned-on).
    #[arg(long = "set", value_name = "DIR")]
    sets: Vec<PathBuf>,
    /// How faq.json is read; only the plain FAQ array exists so far.
    #[arg(long, value_enum, default_value_t = KbFormat::Plain)]
    kb_format: KbFormat,
    /// Print one JSON object instead of markdown tables.
    #[arg(long)]
    json: bool,
    /// Also evaluate the sealed sets under tests/data/heldout-2/ (aggregate figures
    /// only: their messages are never shown). Run it at milestones, not while tuning.
    #[arg(long)]
    sealed: bool,
    /// Also evaluate the tuning sets under tests/data/tuning/ (tuned-on: the semantic
    /// stage's fusion was calibrated on them) and tests/data/tuning-triage/ (tuned-on:
    /// the triage was tuned on them).
    #[arg(long)]
    tuning: bool,
    /// Turn the semantic stage on with this model directory (`bot.model`).
    #[arg(long, value_name = "DIR")]
    model: Option<PathBuf>,
    /// A second model fused with --model's (`bot.second_model`).
    #[arg(long, value_name = "DIR", requires = "model")]
    second_model: Option<PathBuf>,
    /// The ONNX Runtime library for --model (`bot.onnxruntime`; default
    /// ORT_DYLIB_PATH).
    #[arg(long, value_name = "PATH")]
    onnxruntime: Option<PathBuf>,
}

/// Knowledge-base file shapes the harness can evaluate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum KbFormat {
    /// A JSON array of `{id, lang, question, answer, keywords}`, as `--kb` takes it.
    Plain,
}

/// Runs the evaluation and prints it; a set that cannot be read is an error.
fn main() -> ExitCode {
    let args = Args::parse();
    let KbFormat::Plain = args.kb_format;
    let sets = if args.sets.is_empty() {
        let sealed = if args.sealed {
            eval::sealed_sets()
        } else {
            Ok(Vec::new())
        };
        let tuning = if args.tuning {
            eval::tuning_sets()
        } else {
            Ok(Vec::new())
        };
        match eval::default_sets().and_then(|mut sets| {
            sets.extend(tuning?);
            sets.extend(sealed?);
            Ok(sets)
        }) {
            Ok(sets) => sets,
            Err(e) => return fail(&e),
        }
    } else {
        args.sets
            .iter()
            .map(|dir| eval::EvalSet::from_dir(dir))
            .collect()
    };
    let mut config = switchboard::Config::default();
    config.bot.model = args.model;
    config.bot.onnxruntime = args.onnxruntime;
    config.bot.second_model = args.second_model;
    match eval::evaluate_with(&sets, &config) {
        Ok(report) if args.json => println!("{}", eval::to_json(&report)),
        Ok(report) => print!("{}", eval::render_markdown(&report)),
        Err(e) => return fail(&e),
    }
    ExitCode::SUCCESS
}

/// Reports an error and fails.
fn fail(error: &str) -> ExitCode {
    eprintln!("bot_eval: {error}");
    ExitCode::FAILURE
}
