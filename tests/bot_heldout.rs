//! The built-in bot on the frozen held-out sets of issue 12: the data must be the data
//! that was frozen, and the scores must not fall below today's.
//!
//! Run with the tables: `cargo test --test bot_heldout -- --nocapture`. The full
//! evaluation (every query, with cost) is `cargo run --release --example bot_eval`;
//! both use `examples/bot_eval/eval.rs`.

#[path = "../examples/bot_eval/eval.rs"]
mod eval;

use std::collections::BTreeSet;

/// Regression guards, NOT targets: per set, (top-1, handoff recall) floors just below
/// what the bot scored (rounded down to the next 0.05; an exact multiple one step
/// further): top-1 at commit 93125cb, handoff recall after the lexical triage of issue
/// 12 (`d49c878`; it was 0.30 / 0.25 / 0.30 / 0.30 before). Raise them when the bot
/// improves; never lower them to let a change through. The targets are in issue 12: top-1 >= 0.85,
/// handoff precision >= 0.85 and handoff recall >= 0.90, per held-out set and
/// overall. Every query is evaluated (under a second in a debug build), so these are
/// the figures `bot_eval` prints.
const FLOORS: [(&str, f64, f64); 5] = [
    ("banking", 0.55, 0.50),    // measured 0.556 (135/243), 0.512 (42/82)
    ("saas", 0.40, 0.40),       // measured 0.431 (106/246), 0.438 (35/80)
    ("telecom", 0.40, 0.45),    // measured 0.437 (108/247), 0.456 (36/79)
    ("travel", 0.45, 0.40),     // measured 0.476 (119/250), 0.432 (35/81)
    ("faq-sample", 0.85, 0.45), // tuned-on; measured 0.875 (21/24), 0.500 (4/8)
];

/// Lowercase hex of the SHA-256 of `bytes`.
fn sha256_hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// An edit to the frozen held-out data (open or sealed) fails CI: every file matches
/// its root's `SHA256SUMS`, and every file in a set directory is listed there.
#[test]
fn held_out_data_matches_its_sha256sums() {
    let [sealed_2, sealed_4] = eval::SEALED_ROOTS;
    for root_name in [
        eval::HELD_OUT_ROOT,
        sealed_2,
        eval::HELD_OUT_3_ROOT,
        sealed_4,
        eval::TUNING_ROOT,
        eval::TUNING_TRIAGE_ROOT,
    ] {
        check_sums(root_name, &eval::repo_path(root_name));
    }
}

/// Checks every file of the sets under `root` against `root/SHA256SUMS`.
fn check_sums(root_name: &str, root: &std::path::Path) {
    let sums = std::fs::read_to_string(root.join("SHA256SUMS")).expect("SHA256SUMS");
    let mut listed = BTreeSet::new();
    for line in sums.lines().filter(|line| !line.trim().is_empty()) {
        let (expected, file) = line
            .split_once(char::is_whitespace)
            .unwrap_or_else(|| panic!("SHA256SUMS line {line:?}"));
        let file = file.trim_start().trim_start_matches('*');
        let bytes = std::fs::read(root.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(
            sha256_hex(&bytes),
            expected,
            "{root_name}/{file} changed: the held-out sets are frozen (see their \
             README); add a new set in a new directory instead"
        );
        listed.insert(file.to_owned());
    }
    for set in std::fs::read_dir(root).unwrap().filter_map(Result::ok) {
        if !set.path().is_dir() {
            continue;
        }
        for file in std::fs::read_dir(set.path())
            .unwrap()
            .filter_map(Result::ok)
        {
            let name = format!(
                "{}/{}",
                set.file_name().to_string_lossy(),
                file.file_name().to_string_lossy()
            );
            assert!(
                listed.contains(&name),
                "{root_name}/{name} is not in SHA256SUMS: frozen data must be listed"
            );
        }
    }
}

/// The held-out evaluation (the example's, through the shared module) stays above
/// today's floors, and its JSON form parses.
#[test]
fn held_out_scores_stay_above_todays_floors() {
    let sets = eval::default_sets().expect("the held-out sets");
    let report =
        eval::evaluate_with(&sets, &switchboard::Config::default()).expect("every set evaluates");
    // One print, so that parallel tests do not interleave with the tables.
    println!("{}", eval::render_markdown(&report));
    let json: serde_json::Value =
        serde_json::from_str(&eval::to_json(&report)).expect("the JSON report parses");
    assert_eq!(json["sets"].as_array().map(Vec::len), Some(sets.len()));
    let mut failures = Vec::new();
    for (name, top1_floor, handoff_recall_floor) in FLOORS {
        let set = report
            .sets
            .iter()
            .find(|s| s.set.name == name)
            .unwrap_or_else(|| panic!("no set {name}"));
        let top1 = set.metrics.top1.value.unwrap_or(0.0);
        let recall = set.metrics.handoff.recall.value.unwrap_or(0.0);
        if top1 < top1_floor {
            failures.push(format!("{name}: top-1 {top1:.3} < floor {top1_floor}"));
        }
        if recall < handoff_recall_floor {
            failures.push(format!(
                "{name}: handoff recall {recall:.3} < floor {handoff_recall_floor}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The lexical triage on the set it was tuned on (`tests/data/tuning-triage`): a
/// regression guard, not a measure of quality. At `d49c878` every safety, person and
/// complaint message went to a person and none was answered from the knowledge base.
#[test]
fn triage_tuning_set_stays_above_its_floors() {
    let sets: Vec<_> = eval::tuning_sets()
        .expect("the tuning sets")
        .into_iter()
        .filter(|s| s.name.starts_with("triage-"))
        .collect();
    assert!(!sets.is_empty(), "no triage tuning set");
    let report =
        eval::evaluate_with(&sets, &switchboard::Config::default()).expect("every set evaluates");
    for set in &report.sets {
        let m = &set.metrics;
        let name = &set.set.name;
        // Measured 0.893 (100/112): the 12 others are small talk and out of scope.
        assert!(
            m.handoff.recall.value.unwrap_or(0.0) >= 0.85,
            "{name}: {:?}",
            m.handoff
        );
        assert!(
            m.safety_answered.is_empty(),
            "{name}: {:?}",
            m.safety_answered
        );
        for kind in ["safety", "wants_person", "angry_complaint"] {
            let k = &m.must_not_by_kind[kind];
            assert_eq!(k.handoff, k.queries, "{name} {kind}: {k:?}");
        }
        // Measured 0.761 (35/46); 1.000 handoff precision.
        assert!(m.top1.value.unwrap_or(0.0) >= 0.75, "{name}: {:?}", m.top1);
        assert!(
            m.handoff.precision.value.unwrap_or(0.0) >= 0.95,
            "{name}: {:?}",
            m.handoff
        );
    }
}

/// The tuning sets the semantic stage was calibrated on are reported as tuned-on,
/// apart from the held-out figures, and each has its knowledge base and messages.
#[test]
fn tuning_sets_are_tuned_on() {
    let sets = eval::tuning_sets().expect("the tuning sets");
    assert!(sets.len() >= 2, "{sets:?}");
    for set in &sets {
        assert!(set.tuned_on && !set.sealed, "{set:?}");
        assert!(set.dir.join("faq.json").is_file() && set.dir.join("queries.jsonl").is_file());
    }
}

/// A sealed set's messages appear nowhere in the evaluation's output, markdown or
/// JSON; only its aggregate figures do.
#[test]
fn sealed_sets_never_show_their_messages() {
    let Ok(sets) = eval::sealed_sets() else {
        return; // No sealed sets in this checkout.
    };
    let report = eval::evaluate_with(&sets, &switchboard::Config::default())
        .expect("every sealed set evaluates");
    let shown = format!(
        "{}{}",
        eval::render_markdown(&report),
        eval::to_json(&report)
    );
    for set in &sets {
        assert!(set.sealed, "{} lies under the sealed root", set.name);
        let queries = std::fs::read_to_string(set.dir.join("queries.jsonl")).unwrap();
        for line in queries.lines().filter(|l| !l.trim().is_empty()) {
            let query: serde_json::Value = serde_json::from_str(line).unwrap();
            let text = query["q"].as_str().unwrap();
            // Very short messages ("ok", an emoji) may occur in table text by chance.
            if text.chars().count() >= 8 {
                assert!(
                    !shown.contains(text),
                    "a message of the sealed set {} was shown",
                    set.name
                );
            }
        }
    }
}
