//! Built-in bot benchmarks: `BuiltinBot::respond` against a naive baseline (scan every
//! question for shared characters or words), in the same run so each figure is also a
//! ratio, plus the one-off cost of building the index.
//!
//! Run: `cargo bench --bench bot`, or e.g. `cargo bench --bench bot -- 'respond/bot/zh'`.
//!
//! Cases, against `kb/starter.json` (30 entries):
//! - `respond/{bot,naive}/{zh,en,mixed}`: one colloquial customer message each.
//! - `build`: `BuiltinBot::new` (segmenter already loaded).
//!
//! Printed first: the first `BuiltinBot::new` of the process (it loads jieba's
//! dictionary) and, per query, the bot/naive time ratio.

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use switchboard::bot::{BotSettings, BuiltinBot, KnowledgeBase, Turn};

/// One message per language.
const QUERIES: &[(&str, &str)] = &[
    ("zh", "收货地址写错了 咋改"),
    ("en", "refnd still not in my acount after a week"),
    ("mixed", "coupon用不了 是不是过期了"),
];

fn starter() -> KnowledgeBase {
    KnowledgeBase::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("kb/starter.json")).unwrap()
}

/// The baseline: the entry whose questions share the most characters (ideographs) or
/// lower-cased words with the message.
struct Naive {
    /// (entry id, questions lower-cased).
    entries: Vec<(String, Vec<String>)>,
}

impl Naive {
    fn new(kb: &KnowledgeBase) -> Naive {
        let entries = kb
            .entries
            .iter()
            .map(|e| {
                (
                    e.id.clone(),
                    e.questions.iter().map(|q| q.to_lowercase()).collect(),
                )
            })
            .collect();
        Naive { entries }
    }

    fn respond(&self, text: &str) -> Option<&str> {
        let text = text.to_lowercase();
        let units: Vec<String> = text
            .split_whitespace()
            .flat_map(|w| {
                if w.is_ascii() {
                    vec![w.to_owned()]
                } else {
                    w.chars().map(String::from).collect()
                }
            })
            .collect();
        self.entries
            .iter()
            .map(|(id, qs)| {
                let hits = qs
                    .iter()
                    .map(|q| units.iter().filter(|u| q.contains(u.as_str())).count())
                    .max()
                    .unwrap_or(0);
                (hits, id.as_str())
            })
            .max_by_key(|(hits, _)| *hits)
            .filter(|(hits, _)| *hits > 0)
            .map(|(_, id)| id)
    }
}

/// Prints the one-off start-up cost and, per query, bot time / naive time over a plain
/// timed loop, so the ratio is in the output without comparing criterion lines by hand.
fn ratios(bot: &BuiltinBot, naive: &Naive) {
    const ROUNDS: u32 = 20_000;
    for (name, text) in QUERIES {
        let turn = Turn {
            text,
            language: "",
            channel: "web",
        };
        let start = Instant::now();
        for _ in 0..ROUNDS {
            black_box(bot.respond(black_box(&turn)));
        }
        let bot_time = start.elapsed() / ROUNDS;
        let start = Instant::now();
        for _ in 0..ROUNDS {
            black_box(naive.respond(black_box(text)));
        }
        let naive_time = start.elapsed() / ROUNDS;
        println!(
            "ratio {name}: bot {bot_time:?} / naive {naive_time:?} = {:.2}",
            bot_time.as_secs_f64() / naive_time.as_secs_f64()
        );
    }
}

fn respond(c: &mut Criterion) {
    let start = Instant::now();
    let bot = BuiltinBot::new(starter(), BotSettings::default());
    println!(
        "first BuiltinBot::new, with the segmenter's dictionary: {:?}",
        start.elapsed()
    );
    let naive = Naive::new(bot.knowledge());
    ratios(&bot, &naive);
    let mut group = c.benchmark_group("respond");
    for (name, text) in QUERIES {
        group.bench_with_input(BenchmarkId::new("bot", name), text, |b, text| {
            b.iter(|| {
                bot.respond(black_box(&Turn {
                    text,
                    language: "",
                    channel: "web",
                }))
            })
        });
        group.bench_with_input(BenchmarkId::new("naive", name), text, |b, text| {
            b.iter(|| naive.respond(black_box(text)))
        });
    }
    group.finish();
}

fn build(c: &mut Criterion) {
    let kb = starter();
    // Load the segmenter's dictionary outside the measurement.
    drop(BuiltinBot::new(kb.clone(), BotSettings::default()));
    c.bench_function("build", |b| {
        b.iter(|| BuiltinBot::new(black_box(kb.clone()), BotSettings::default()))
    });
}

criterion_group!(benches, respond, build);
criterion_main!(benches);
