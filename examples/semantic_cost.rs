//! What the built-in bot's semantic stage costs (issue 12): model load time, entry
//! vectors per knowledge base, memory, and time per message with and without it.
//!
//! ```text
//! cargo run --release --example semantic_cost -- --model target/models/multilingual-e5-small \
//!     --onnxruntime target/models/onnxruntime/libonnxruntime.so \
//!     [--second-model target/models/use-multilingual-v3]
//! ```
//!
//! Every message of the open held-out sets (`tests/data/heldout/*`; the sealed ones
//! are never read) is answered as a first message with no language, once by the
//! lexical bot and once by the bot with the semantic stage, on this thread; the
//! figures are wall times on whatever else the machine is doing.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use switchboard::bot::embedding::{Embedder, EmbedderSettings};
use switchboard::bot::{
    BotSettings, BuiltinBot, KnowledgeBase, SemanticStep, SemanticUse, Turn, detect_language,
};

/// Command line.
#[derive(Debug, Parser)]
#[command(about = "Measures the cost of the built-in bot's semantic stage")]
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
}

/// A line of `/proc/self/status` in MiB (`VmRSS`, `VmHWM`), 0 when not on Linux.
fn status_mib(key: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Nearest-rank percentile of sorted durations, in milliseconds.
fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1].as_secs_f64() * 1e3
}

fn line(label: &str, mut times: Vec<Duration>) {
    times.sort();
    let mean = times.iter().map(Duration::as_secs_f64).sum::<f64>() / times.len().max(1) as f64;
    println!(
        "| {label} | {} | {:.3} | {:.3} | {:.3} | {:.3} |",
        times.len(),
        mean * 1e3,
        percentile(&times, 0.5),
        percentile(&times, 0.99),
        times.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
    );
}

fn main() -> ExitCode {
    let args = Args::parse();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/heldout");
    let mut dirs: Vec<PathBuf> = match std::fs::read_dir(&root) {
        Ok(l) => l
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect(),
        Err(e) => {
            eprintln!("semantic_cost: {}: {e}", root.display());
            return ExitCode::FAILURE;
        }
    };
    dirs.sort();
    let rss_before = status_mib("VmRSS:");
    let mut settings = EmbedderSettings::new(&args.model);
    settings.runtime = args.onnxruntime.clone();
    let started = Instant::now();
    let loaded = Embedder::shared(&settings).and_then(|first| {
        let second = match &args.second_model {
            Some(model) => {
                let mut s = EmbedderSettings::new(model);
                s.runtime = args.onnxruntime.clone();
                Some(Embedder::shared(&s)?)
            }
            None => None,
        };
        Ok((first, second))
    });
    let (embedder, second) = match loaded {
        Ok(e) => e,
        Err(e) => {
            eprintln!("semantic_cost: {e}");
            return ExitCode::FAILURE;
        }
    };
    let load = started.elapsed();
    let rss_loaded = status_mib("VmRSS:");
    let (mut lexical_times, mut semantic_times, mut embed_times) = (vec![], vec![], vec![]);
    let (mut not_needed, mut off, mut entries, mut index_time) = (0, 0, 0, Duration::ZERO);
    for dir in &dirs {
        let kb = match KnowledgeBase::load(&dir.join("faq.json")) {
            Ok(kb) => kb,
            Err(e) => {
                eprintln!("semantic_cost: {e}");
                return ExitCode::FAILURE;
            }
        };
        entries += kb.entries.len();
        let lexical = BuiltinBot::new(kb.clone(), BotSettings::default());
        let started = Instant::now();
        let built =
            BuiltinBot::with_models(kb, BotSettings::default(), embedder.clone(), second.clone());
        let semantic = match built {
            Ok(b) => b,
            Err(e) => {
                eprintln!("semantic_cost: {e}");
                return ExitCode::FAILURE;
            }
        };
        index_time += started.elapsed();
        let queries = std::fs::read_to_string(dir.join("queries.jsonl")).unwrap_or_default();
        for line in queries.lines().filter(|l| !l.trim().is_empty()) {
            let Ok(query) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            let text = query["q"].as_str().unwrap_or_default();
            let turn = Turn {
                text,
                language: detect_language(text),
                channel: "web",
            };
            let started = Instant::now();
            let _ = lexical.respond(&turn);
            lexical_times.push(started.elapsed());
            let started = Instant::now();
            let (_, step) = semantic.respond_traced(&turn, SemanticUse::Allowed);
            semantic_times.push(started.elapsed());
            match step {
                SemanticStep::Embedded(took) => embed_times.push(took),
                SemanticStep::NotNeeded => not_needed += 1,
                _ => off += 1,
            }
        }
    }
    let messages = semantic_times.len();
    println!(
        "model {}{} loaded in {:.0} ms; entry vectors for {} entries ({} sets) in {:.0} ms \
         ({:.1} ms per entry: its questions, answer and passage)",
        args.model.display(),
        args.second_model
            .as_ref()
            .map_or(String::new(), |m| format!(
                " and second model {}",
                m.display()
            )),
        load.as_secs_f64() * 1e3,
        entries,
        dirs.len(),
        index_time.as_secs_f64() * 1e3,
        index_time.as_secs_f64() * 1e3 / entries.max(1) as f64
    );
    println!(
        "memory: RSS {rss_before:.0} MiB before the model, {rss_loaded:.0} MiB after loading \
         it, {:.0} MiB at the end; peak (VmHWM) {:.0} MiB",
        status_mib("VmRSS:"),
        status_mib("VmHWM:")
    );
    println!(
        "messages {messages}: embedded {} ({:.0}%), lexical sure (no embedding) {not_needed}, \
         never matched (triage, small talk, no words) {off}\n",
        embed_times.len(),
        100.0 * embed_times.len() as f64 / messages.max(1) as f64
    );
    println!("| per message | n | mean ms | p50 ms | p99 ms | max ms |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    line("lexical bot", lexical_times);
    line("bot with semantic stage", semantic_times);
    line("the embedding alone (messages embedded)", embed_times);
    ExitCode::SUCCESS
}
