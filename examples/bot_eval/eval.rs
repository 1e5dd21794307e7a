//! Evaluation of the built-in knowledge-base bot on labelled query sets, shared by the
//! `bot_eval` example (tables, JSON) and the `bot_heldout` test (regression floors), so
//! both measure with one piece of code.
//!
//! Every query is the first customer message of a new web-chat conversation with no
//! language set, decided as the server decides it: see [`decide_first_message`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use switchboard::Config;
use switchboard::bot::BuiltinBot;
use switchboard::routing::{
    Boosts, BotAction, Channel, Command, EventKind, InboundMessage, Notice, Router, RoutingPolicy,
    Understood, ValueFacts,
};
use switchboard::tenants::builtin_bot::{Matching, SharedBot, builtin_actions};

/// The held-out sets' parent directory, relative to the repository.
pub(crate) const HELD_OUT_ROOT: &str = "tests/data/heldout";

/// The sealed held-out sets' parent directories: evaluated only when asked for, and
/// their messages are never shown (see their READMEs). `heldout-4` was written blind
/// on 2026-12-03, before the two-model fusion was calibrated.
pub(crate) const SEALED_ROOTS: [&str; 2] = ["tests/data/heldout-2", "tests/data/heldout-4"];

/// The third held-out set's parent directory (frozen, not sealed; evaluate it with
/// `--set`).
pub(crate) const HELD_OUT_3_ROOT: &str = "tests/data/heldout-3";

/// A file that marks a set (or every set under a directory) as sealed.
const SEALED_MARKER: &str = "SEALED";

/// What a sealed set's messages are shown as.
const SEALED_TEXT: &str = "(sealed set: message not shown)";

/// The shared sample the matcher was tuned on, relative to the repository.
pub(crate) const TUNED_ON_SAMPLE: &str = "tests/data/faq-sample";

/// The sets the semantic stage's fusion was calibrated on (issue 12): tuned-on, like
/// the sample.
pub(crate) const TUNING_ROOT: &str = "tests/data/tuning";

/// The triage tuning sets (safety, a person asked for, complaints): tuned-on, their
/// names prefixed `triage-` to tell them from the tuning sets of the same business.
pub(crate) const TUNING_TRIAGE_ROOT: &str = "tests/data/tuning-triage";

/// The `kind` of the sample's queries, which carry none.
const UNLABELLED: &str = "(unlabelled)";

/// The must-not-answer kind whose answers are the worst mistake.
const SAFETY: &str = "safety";

/// Answerable kinds in the order the held-out README lists them (tables follow it).
const ANSWERABLE_KINDS: [&str; 8] = [
    "paraphrase",
    "typo",
    "emoji",
    "short",
    "long",
    "mixed",
    "cross_lang",
    "complaint_progress",
];

/// Must-not-answer kinds in the order the held-out README lists them.
const MUST_NOT_KINDS: [&str; 6] = [
    "wants_person",
    "angry_complaint",
    "safety",
    "out_of_scope",
    "small_talk",
    "gibberish",
];

/// A path inside the repository, wherever the program is run from.
pub(crate) fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// One labelled set: a directory with `faq.json` and `queries.jsonl`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct EvalSet {
    /// The directory's name, used as the set's label.
    pub(crate) name: String,
    /// The directory.
    pub(crate) dir: PathBuf,
    /// True for the sample the matcher was tuned on: reported apart, never pooled into
    /// the held-out overall.
    pub(crate) tuned_on: bool,
    /// True for a sealed set: its messages never appear in any output.
    pub(crate) sealed: bool,
    /// True for the first held-out sets: the semantic stage's fusion was calibrated on
    /// them (2026-12-03), so with a model they count as tuned-on.
    pub(crate) semantic_tuned_on: bool,
}

impl EvalSet {
    /// The set in `dir`; tuned-on when it is the shared sample.
    pub(crate) fn from_dir(dir: &Path) -> EvalSet {
        let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
            (Ok(a), Ok(b)) => a == b,
            _ => a == b,
        };
        let under = |root: &str| dir.parent().is_some_and(|p| same(p, &repo_path(root)));
        let name = dir
            .file_name()
            .map_or_else(|| dir.display().to_string(), |n| n.to_string_lossy().into());
        EvalSet {
            name: if under(TUNING_TRIAGE_ROOT) {
                format!("triage-{name}")
            } else {
                name
            },
            dir: dir.to_owned(),
            tuned_on: same(dir, &repo_path(TUNED_ON_SAMPLE))
                || under(TUNING_ROOT)
                || under(TUNING_TRIAGE_ROOT),
            sealed: dir.join(SEALED_MARKER).exists()
                || dir.parent().is_some_and(|p| p.join(SEALED_MARKER).exists()),
            semantic_tuned_on: under(HELD_OUT_ROOT),
        }
    }
}

/// Every open held-out set (each subdirectory of [`HELD_OUT_ROOT`], then of
/// [`HELD_OUT_3_ROOT`], by name), then the tuned-on sample.
pub(crate) fn default_sets() -> Result<Vec<EvalSet>, String> {
    let mut dirs = set_dirs(HELD_OUT_ROOT)?;
    dirs.extend(set_dirs(HELD_OUT_3_ROOT)?);
    dirs.push(repo_path(TUNED_ON_SAMPLE));
    Ok(dirs.iter().map(|dir| EvalSet::from_dir(dir)).collect())
}

/// Every tuning set (each subdirectory of [`TUNING_ROOT`], then of
/// [`TUNING_TRIAGE_ROOT`], by name), tuned-on.
pub(crate) fn tuning_sets() -> Result<Vec<EvalSet>, String> {
    let mut dirs = set_dirs(TUNING_ROOT)?;
    dirs.extend(set_dirs(TUNING_TRIAGE_ROOT)?);
    Ok(dirs.iter().map(|dir| EvalSet::from_dir(dir)).collect())
}

/// Every sealed set (each subdirectory of each of [`SEALED_ROOTS`], by name).
pub(crate) fn sealed_sets() -> Result<Vec<EvalSet>, String> {
    let mut sets = Vec::new();
    for root in SEALED_ROOTS {
        sets.extend(set_dirs(root)?.iter().map(|dir| EvalSet::from_dir(dir)));
    }
    Ok(sets)
}

/// The subdirectories of `root` (relative to the repository), by name.
pub(crate) fn set_dirs(root: &str) -> Result<Vec<PathBuf>, String> {
    let root = repo_path(root);
    let listing = std::fs::read_dir(&root).map_err(|e| format!("{}: {e}", root.display()))?;
    let mut dirs: Vec<PathBuf> = listing
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.is_dir())
        .collect();
    dirs.sort();
    Ok(dirs)
}

/// One labelled customer message, a line of `queries.jsonl`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Query {
    /// The message, verbatim.
    pub(crate) q: String,
    /// The entry that should answer it; `None` when the bot must not answer.
    pub(crate) expect: Option<String>,
    /// What the message tests; the sample's queries have none.
    #[serde(default = "unlabelled")]
    pub(crate) kind: String,
    /// Other entries that also count as correct.
    #[serde(default)]
    pub(crate) accept: Vec<String>,
}

/// The kind given to queries without one.
fn unlabelled() -> String {
    UNLABELLED.to_owned()
}

/// What the customer got in reply to their first message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// An answer from this knowledge-base entry.
    Answered(String),
    /// The greeting with buttons ("did you mean" first when unsure), no answer.
    Clarify,
    /// Sent to a person.
    Handoff,
}

/// What the bot decided for one first message and how long the bot took.
#[derive(Debug, Clone)]
pub(crate) struct Decision {
    /// The outcome; an answer names the entry answered from.
    pub(crate) outcome: Outcome,
    /// Wall time of [`builtin_actions`] alone: the work the server's matching pool
    /// does for the message.
    pub(crate) bot_time: Duration,
}

/// Decides one message as the first customer message of a new web-chat conversation
/// with no language, the way the server does.
///
/// The server (`Tenant::serve_bot_work`, with no external bot worker connected) takes
/// the router's [`Notice::ToBot`] turn for the new conversation, calls
/// [`builtin_actions`] on it, and applies the actions to the router as
/// [`Command::BotAnswer`]; the router decides whether an unsure reply hands the
/// conversation to a person (`bot.low_confidence_limit`). This drives the same three
/// public steps on a real [`Router`] built from the server's policy: the turn's text,
/// language (empty, so detected from the text) and `first_turn` come from the router,
/// not from this harness. What it leaves out (the tenant lock, the journal, delivery
/// to mailboxes) does not change the decision.
pub(crate) fn decide_first_message(
    bot: &BuiltinBot,
    policy: &RoutingPolicy,
    text: &str,
) -> Result<Decision, String> {
    let mut router = Router::new(policy.clone()).map_err(|e| format!("routing policy: {e}"))?;
    let message = InboundMessage {
        adapter: Arc::from("bot-eval"),
        channel: Channel::Web,
        channel_conversation_id: "bot-eval-1".to_owned(),
        customer_id: "bot-eval-customer".to_owned(),
        display_name: String::new(),
        value: ValueFacts::default(),
        text: text.to_owned(),
        language: String::new(),
        client_message_id: None,
        queue: None,
        required_skills: Vec::new(),
        boosts: Boosts::default(),
        identities: Vec::new(),
    };
    router
        .apply(0, Command::CustomerMessage(message))
        .map_err(|e| format!("customer message {text:?}: {e}"))?;
    let (events, notices) = router.drain();
    let Some(turn) = notices.into_iter().find_map(|notice| match notice {
        Notice::ToBot(turn) => Some(turn),
        _ => None,
    }) else {
        // A whole-message "退订" / "STOP" is answered by the system and ends there:
        // no knowledge-base answer and no person, as the server does.
        if events
            .iter()
            .any(|event| matches!(event.kind, EventKind::BotFinished))
        {
            return Ok(Decision {
                outcome: Outcome::Clarify,
                bot_time: Duration::ZERO,
            });
        }
        return Err("web chat is not bot-first in this policy: no bot turn".to_owned());
    };
    if !turn.first_turn {
        return Err(format!("{text:?}: the router's turn is not a first turn"));
    }
    let started = Instant::now();
    let actions = builtin_actions(bot, &turn, Matching::Full);
    let bot_time = started.elapsed();
    let answered = actions
        .iter()
        .find_map(|action| match action {
            BotAction::Say {
                understood: Understood::Answered,
                intent,
                text: answer,
                language,
                ..
            } => Some(answered_entry(
                bot,
                intent.as_deref(),
                answer,
                language.as_deref(),
            )),
            _ => None,
        })
        .transpose()?;
    router
        .apply(
            0,
            Command::BotAnswer {
                conversation: turn.conversation,
                actions,
            },
        )
        .map_err(|e| format!("bot answer to {text:?}: {e}"))?;
    let (events, _) = router.drain();
    let handed_off = events
        .iter()
        .any(|event| matches!(event.kind, EventKind::HandedOff { .. }));
    let outcome = match (handed_off, answered) {
        (true, _) => Outcome::Handoff,
        (false, Some(entry)) => Outcome::Answered(entry),
        (false, None) => Outcome::Clarify,
    };
    Ok(Decision { outcome, bot_time })
}

/// The entry an answer came from. The router's action names the intent, which
/// language twins (entries sharing a `group`) share, so the entry is the one of that
/// intent with that answer text (then, if twins' answers were identical, the one in
/// the answer's language).
fn answered_entry(
    bot: &BuiltinBot,
    intent: Option<&str>,
    answer: &str,
    language: Option<&str>,
) -> Result<String, String> {
    let intent = intent.ok_or("an answer without an intent")?;
    let same_answer: Vec<_> = bot
        .knowledge()
        .entries
        .iter()
        .filter(|e| e.intent == intent && e.answer == answer)
        .collect();
    let in_language = |e: &&switchboard::bot::knowledge::Entry| {
        language.is_some_and(|l| primary_language(&e.lang) == primary_language(l))
    };
    let chosen = match same_answer.as_slice() {
        [entry] => Some(*entry),
        several => several.iter().copied().find(in_language),
    };
    chosen
        .map(|entry| entry.id.clone())
        .ok_or_else(|| format!("cannot tell which entry of intent {intent:?} answered"))
}

/// Loads a set's `faq.json` as the server's `--kb` does: [`SharedBot::load`] with
/// the server's settings and the file as `kb`.
fn load_as_server(path: &Path, config: &Config) -> Result<Arc<BuiltinBot>, String> {
    let server_config = Config {
        kb: Some(path.to_owned()),
        ..config.clone()
    };
    SharedBot::load(&server_config)
        .map(|shared| shared.current())
        .map_err(|e| e.to_string())
}

/// One query with the bot's outcome.
#[derive(Debug, Clone)]
pub(crate) struct Scored {
    /// The query.
    pub(crate) query: Query,
    /// The primary language of the expected entry (`zh`, `en`); `None` for must-not-answer.
    pub(crate) expected_language: Option<String>,
    /// What the bot did.
    pub(crate) outcome: Outcome,
    /// The bot's wall time for it, in microseconds.
    pub(crate) micros: f64,
}

impl Scored {
    /// Answered with the expected entry or an accepted one.
    fn correct(&self) -> bool {
        match (&self.outcome, &self.query.expect) {
            (Outcome::Answered(id), Some(expect)) => id == expect || self.query.accept.contains(id),
            _ => false,
        }
    }
}

/// One set run through the bot.
#[derive(Debug, Clone)]
pub(crate) struct SetRun {
    /// The set.
    pub(crate) set: EvalSet,
    /// Knowledge-base entries.
    pub(crate) entries: usize,
    /// Language twins the loader grouped (intent and entry ids), as it reports them.
    pub(crate) twins: Vec<(String, Vec<String>)>,
    /// Every evaluated query with its outcome, in file order.
    pub(crate) scored: Vec<Scored>,
}

/// The primary subtag of a language tag, lowercased: `zh-CN` -> `zh`.
fn primary_language(tag: &str) -> String {
    tag.split(['-', '_'])
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase()
}

/// Runs every query of a set, in file order, through the bot.
pub(crate) fn run_set(set: &EvalSet, config: &Config) -> Result<SetRun, String> {
    let bot = load_as_server(&set.dir.join("faq.json"), config)?;
    let kb = bot.knowledge();
    let language_of: HashMap<&str, String> = kb
        .entries
        .iter()
        .map(|e| (e.id.as_str(), primary_language(&e.lang)))
        .collect();
    let path = set.dir.join("queries.jsonl");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let policy = config.routing_policy();
    let mut scored = Vec::new();
    let lines = text.lines().filter(|line| !line.trim().is_empty());
    for (line, json) in lines.enumerate() {
        let mut query: Query = serde_json::from_str(json)
            .map_err(|e| format!("{} query {}: {e}", path.display(), line + 1))?;
        for id in query.expect.iter().chain(&query.accept) {
            if !language_of.contains_key(id.as_str()) {
                return Err(format!(
                    "{}: query {} names no entry {id}",
                    set.name,
                    line + 1
                ));
            }
        }
        let decision = decide_first_message(&bot, &policy, &query.q).map_err(|e| {
            if set.sealed {
                format!("{}: query {}", set.name, line + 1)
            } else {
                e
            }
        })?;
        if set.sealed {
            // Nothing downstream can show what it no longer holds.
            query.q = SEALED_TEXT.to_owned();
        }
        scored.push(Scored {
            expected_language: query
                .expect
                .as_ref()
                .map(|id| language_of[id.as_str()].clone()),
            outcome: decision.outcome,
            micros: decision.bot_time.as_secs_f64() * 1e6,
            query,
        });
    }
    Ok(SetRun {
        set: set.clone(),
        entries: kb.entries.len(),
        twins: kb
            .language_twins()
            .into_iter()
            .map(|(intent, ids)| {
                (
                    intent.to_owned(),
                    ids.into_iter().map(str::to_owned).collect(),
                )
            })
            .collect(),
        scored,
    })
}

/// A share with its counts; `value` is `None` when nothing was counted.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Ratio {
    /// Numerator.
    pub(crate) hits: usize,
    /// Denominator.
    pub(crate) of: usize,
    /// `hits / of`.
    pub(crate) value: Option<f64>,
}

impl Ratio {
    /// `hits / of`.
    fn new(hits: usize, of: usize) -> Ratio {
        Ratio {
            hits,
            of,
            value: (of > 0).then(|| hits as f64 / of as f64),
        }
    }
}

/// Precision and recall of one yes/no decision against the must-not-answer label.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct PrecisionRecall {
    /// Of the positives, how many are must-not-answer.
    pub(crate) precision: Ratio,
    /// Of the must-not-answer queries, how many are positives.
    pub(crate) recall: Ratio,
}

impl PrecisionRecall {
    /// From the queries the decision flags (`positive`), over `scored`.
    fn of(scored: &[&Scored], positive: impl Fn(&Outcome) -> bool) -> PrecisionRecall {
        let flagged = scored.iter().filter(|s| positive(&s.outcome));
        let positives = flagged.clone().count();
        let true_positives = flagged.filter(|s| s.query.expect.is_none()).count();
        let relevant = scored.iter().filter(|s| s.query.expect.is_none()).count();
        PrecisionRecall {
            precision: Ratio::new(true_positives, positives),
            recall: Ratio::new(true_positives, relevant),
        }
    }
}

/// Outcomes of the answerable queries of one kind.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub(crate) struct AnswerableOutcomes {
    /// Queries.
    pub(crate) queries: usize,
    /// Answered with the expected (or an accepted) entry.
    pub(crate) correct: usize,
    /// Answered with another entry.
    pub(crate) wrong_entry: usize,
    /// Greeting and buttons, no answer.
    pub(crate) clarify: usize,
    /// Sent to a person.
    pub(crate) handoff: usize,
}

/// Outcomes of the must-not-answer queries of one kind.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub(crate) struct MustNotOutcomes {
    /// Queries.
    pub(crate) queries: usize,
    /// Sent to a person.
    pub(crate) handoff: usize,
    /// Greeting and buttons, no answer.
    pub(crate) clarify: usize,
    /// Answered from the knowledge base (a mistake).
    pub(crate) answered: usize,
}

/// A must-not-answer query the bot answered, kept verbatim.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct WronglyAnswered {
    /// The set.
    pub(crate) set: String,
    /// The message.
    pub(crate) q: String,
    /// The entry it was answered with.
    pub(crate) answered_with: String,
}

/// The bot's cost per message; indicative (one run, wall time, shared machine).
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Cost {
    /// Messages timed.
    pub(crate) messages: usize,
    /// Mean microseconds per message.
    pub(crate) mean_us: f64,
    /// 99th percentile (nearest rank), microseconds.
    pub(crate) p99_us: f64,
}

/// Every figure for one group of scored queries (a set, or the held-out sets pooled).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Metrics {
    /// Queries.
    pub(crate) queries: usize,
    /// Answered with the expected (or an accepted) entry, of the answerable queries.
    pub(crate) top1: Ratio,
    /// Top-1 by the primary language of the expected entry.
    pub(crate) top1_by_language: BTreeMap<String, Ratio>,
    /// Positive: not answered from the knowledge base (clarify or handoff).
    pub(crate) abstain: PrecisionRecall,
    /// Positive: sent to a person.
    pub(crate) handoff: PrecisionRecall,
    /// Answerable queries answered with a wrong entry.
    pub(crate) wrong_entry: usize,
    /// Must-not-answer queries answered at all.
    pub(crate) must_not_answered: usize,
    /// Safety queries answered, verbatim (the worst mistake).
    pub(crate) safety_answered: Vec<WronglyAnswered>,
    /// Outcomes of the answerable queries by kind.
    pub(crate) answerable_by_kind: BTreeMap<String, AnswerableOutcomes>,
    /// Outcomes of the must-not-answer queries by kind.
    pub(crate) must_not_by_kind: BTreeMap<String, MustNotOutcomes>,
    /// The bot's cost per message.
    pub(crate) cost: Cost,
}

impl Metrics {
    /// The figures of `scored`, each paired with the name of its set.
    fn of(scored: &[(&str, &Scored)]) -> Metrics {
        let all: Vec<&Scored> = scored.iter().map(|(_, s)| *s).collect();
        let answerable: Vec<&Scored> = all
            .iter()
            .copied()
            .filter(|s| s.query.expect.is_some())
            .collect();
        let correct = |group: &[&Scored]| group.iter().filter(|s| s.correct()).count();
        let mut by_language: BTreeMap<String, Vec<&Scored>> = BTreeMap::new();
        let mut answerable_by_kind: BTreeMap<String, AnswerableOutcomes> = BTreeMap::new();
        for s in &answerable {
            if let Some(language) = &s.expected_language {
                by_language.entry(language.clone()).or_default().push(s);
            }
            let kind = answerable_by_kind.entry(s.query.kind.clone()).or_default();
            kind.queries += 1;
            match &s.outcome {
                Outcome::Answered(_) if s.correct() => kind.correct += 1,
                Outcome::Answered(_) => kind.wrong_entry += 1,
                Outcome::Clarify => kind.clarify += 1,
                Outcome::Handoff => kind.handoff += 1,
            }
        }
        let mut must_not_by_kind: BTreeMap<String, MustNotOutcomes> = BTreeMap::new();
        let mut safety_answered = Vec::new();
        for (set, s) in scored.iter().filter(|(_, s)| s.query.expect.is_none()) {
            let kind = must_not_by_kind.entry(s.query.kind.clone()).or_default();
            kind.queries += 1;
            match &s.outcome {
                Outcome::Answered(id) => {
                    kind.answered += 1;
                    if s.query.kind == SAFETY {
                        safety_answered.push(WronglyAnswered {
                            set: (*set).to_owned(),
                            q: s.query.q.clone(),
                            answered_with: id.clone(),
                        });
                    }
                }
                Outcome::Clarify => kind.clarify += 1,
                Outcome::Handoff => kind.handoff += 1,
            }
        }
        Metrics {
            queries: all.len(),
            top1: Ratio::new(correct(&answerable), answerable.len()),
            top1_by_language: by_language
                .into_iter()
                .map(|(language, group)| (language, Ratio::new(correct(&group), group.len())))
                .collect(),
            abstain: PrecisionRecall::of(&all, |o| !matches!(o, Outcome::Answered(_))),
            handoff: PrecisionRecall::of(&all, |o| *o == Outcome::Handoff),
            wrong_entry: answerable_by_kind.values().map(|k| k.wrong_entry).sum(),
            must_not_answered: must_not_by_kind.values().map(|k| k.answered).sum(),
            safety_answered,
            answerable_by_kind,
            must_not_by_kind,
            cost: cost(&all),
        }
    }
}

/// Mean and nearest-rank p99 of the bot's time per message.
fn cost(scored: &[&Scored]) -> Cost {
    let mut micros: Vec<f64> = scored.iter().map(|s| s.micros).collect();
    micros.sort_by(f64::total_cmp);
    let messages = micros.len();
    let p99_rank = (messages as f64 * 0.99).ceil() as usize;
    Cost {
        messages,
        mean_us: micros.iter().sum::<f64>() / messages.max(1) as f64,
        p99_us: micros
            .get(p99_rank.saturating_sub(1))
            .copied()
            .unwrap_or(0.0),
    }
}

/// The figures of one set.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct SetReport {
    /// The set.
    #[serde(flatten)]
    pub(crate) set: EvalSet,
    /// Knowledge-base entries.
    pub(crate) entries: usize,
    /// Language twins the loader grouped (intent and entry ids).
    pub(crate) twins: Vec<(String, Vec<String>)>,
    /// Its figures.
    pub(crate) metrics: Metrics,
}

/// How each message was put to the bot, for the record.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Setup {
    /// The channel (`web`).
    pub(crate) channel: &'static str,
    /// The conversation's language before the message (empty: detected).
    pub(crate) language: &'static str,
    /// `bot.confidence_threshold` (the server's default).
    pub(crate) confidence_threshold: f32,
    /// `bot.low_confidence_limit` (the server's default).
    pub(crate) low_confidence_limit: u32,
    /// `bot.model`: the semantic stage's model, if on.
    pub(crate) model: Option<PathBuf>,
    /// `bot.second_model`: the second model fused with it, if any.
    pub(crate) second_model: Option<PathBuf>,
}

/// The whole evaluation: every set, and the held-out sets pooled.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Report {
    /// How the messages were put to the bot.
    pub(crate) setup: Setup,
    /// Each set, in the order given.
    pub(crate) sets: Vec<SetReport>,
    /// The held-out sets pooled (tuned-on sets excluded); `None` without held-out sets.
    pub(crate) overall_held_out: Option<Metrics>,
}

/// Evaluates every query of each set with `config` (its `kb` aside: each set's own).
pub(crate) fn evaluate_with(sets: &[EvalSet], config: &Config) -> Result<Report, String> {
    let config = config.clone();
    let semantic = config.bot.model.is_some();
    let sets: Vec<EvalSet> = sets
        .iter()
        .map(|set| EvalSet {
            tuned_on: set.tuned_on || (semantic && set.semantic_tuned_on),
            ..set.clone()
        })
        .collect();
    let runs = sets
        .iter()
        .map(|set| run_set(set, &config))
        .collect::<Result<Vec<_>, _>>()?;
    let named = |run: &SetRun| -> Vec<(String, Scored)> {
        run.scored
            .iter()
            .map(|s| (run.set.name.clone(), s.clone()))
            .collect()
    };
    let held_out: Vec<(String, Scored)> = runs
        .iter()
        .filter(|run| !run.set.tuned_on)
        .flat_map(named)
        .collect();
    let borrowed = |group: &[(String, Scored)]| -> Metrics {
        let pairs: Vec<(&str, &Scored)> = group.iter().map(|(n, s)| (n.as_str(), s)).collect();
        Metrics::of(&pairs)
    };
    Ok(Report {
        setup: Setup {
            channel: Channel::Web.as_str(),
            language: "",
            confidence_threshold: config.bot.confidence_threshold,
            low_confidence_limit: config.bot.low_confidence_limit,
            model: config.bot.model.clone(),
            second_model: config.bot.second_model.clone(),
        },
        overall_held_out: (!held_out.is_empty()).then(|| borrowed(&held_out)),
        sets: runs
            .iter()
            .map(|run| SetReport {
                set: run.set.clone(),
                entries: run.entries,
                twins: run.twins.clone(),
                metrics: borrowed(&named(run)),
            })
            .collect(),
    })
}

/// The report as one JSON object.
pub(crate) fn to_json(report: &Report) -> String {
    serde_json::to_string_pretty(report).expect("a report always serializes")
}

/// A table with a row per kind and a column per set: `cell` gives a set's figure for a
/// kind, "–" where the set has none of it.
fn kind_table(
    out: &mut String,
    columns: &[Column<'_>],
    kinds: &[String],
    cell: impl Fn(&Metrics, &str) -> Option<String>,
) {
    let labels: Vec<&str> = columns.iter().map(|c| c.label.as_str()).collect();
    let _ = writeln!(out, "| kind | {} |", labels.join(" | "));
    let _ = writeln!(out, "| --- |{}", " ---: |".repeat(columns.len()));
    for kind in kinds {
        let cells: Vec<String> = columns
            .iter()
            .map(|c| cell(c.metrics, kind).unwrap_or_else(|| "–".to_owned()))
            .collect();
        let _ = writeln!(out, "| {kind} | {} |", cells.join(" | "));
    }
}

/// A column of the tables: a set, or the held-out sets pooled.
struct Column<'a> {
    /// Header label.
    label: String,
    /// Knowledge-base entries (summed for the pool).
    entries: usize,
    /// The figures.
    metrics: &'a Metrics,
}

/// Held-out sets, the pooled overall, then tuned-on sets: the order of every table.
fn columns(report: &Report) -> Vec<Column<'_>> {
    fn column(s: &SetReport) -> Column<'_> {
        let tuned = if s.set.tuned_on { " (tuned-on)" } else { "" };
        Column {
            label: format!("{}{tuned}", s.set.name),
            entries: s.entries,
            metrics: &s.metrics,
        }
    }
    let mut columns: Vec<Column<'_>> = report
        .sets
        .iter()
        .filter(|s| !s.set.tuned_on)
        .map(column)
        .collect();
    if let Some(overall) = &report.overall_held_out {
        columns.push(Column {
            label: "**overall (held-out)**".to_owned(),
            entries: report
                .sets
                .iter()
                .filter(|s| !s.set.tuned_on)
                .map(|s| s.entries)
                .sum(),
            metrics: overall,
        });
    }
    columns.extend(report.sets.iter().filter(|s| s.set.tuned_on).map(column));
    columns
}

/// `0.494 (120/243)`, or `–` when nothing was counted.
fn share(ratio: &Ratio) -> String {
    match ratio.value {
        Some(value) => format!("{value:.3} ({}/{})", ratio.hits, ratio.of),
        None => "–".to_owned(),
    }
}

/// `0.613 / 0.951`.
fn precision_recall(pr: &PrecisionRecall) -> String {
    let value = |r: &Ratio| {
        r.value
            .map_or_else(|| "–".to_owned(), |v| format!("{v:.3}"))
    };
    format!("{} / {}", value(&pr.precision), value(&pr.recall))
}

/// Kinds present in any column, the README's order first, then the others by name.
fn ordered_kinds<'a>(known: &[&'a str], present: impl Iterator<Item = &'a String>) -> Vec<String> {
    let present: BTreeSet<&str> = present.map(String::as_str).collect();
    let mut kinds: Vec<String> = known
        .iter()
        .filter(|k| present.contains(*k))
        .map(|k| (*k).to_owned())
        .collect();
    kinds.extend(
        present
            .into_iter()
            .filter(|k| !known.contains(k))
            .map(str::to_owned),
    );
    kinds
}

/// The report as markdown tables: the summary, the cost, then by kind.
pub(crate) fn render_markdown(report: &Report) -> String {
    let columns = columns(report);
    let mut out = String::new();
    let setup = &report.setup;
    let _ = writeln!(
        out,
        "Built-in bot, first message of a new `{}` conversation with no language set \
         (server defaults: confidence_threshold {}, low_confidence_limit {}; semantic \
         stage {}). \"overall\" pools the held-out sets; tuned-on sets are apart.\n",
        setup.channel,
        setup.confidence_threshold,
        setup.low_confidence_limit,
        setup.model.as_ref().map_or_else(
            || "off".to_owned(),
            |m| match &setup.second_model {
                Some(second) => format!(
                    "on, model {} with second model {}",
                    m.display(),
                    second.display()
                ),
                None => format!("on, model {}", m.display()),
            }
        )
    );
    out.push_str(
        "| set | entries | queries | top-1 | zh | en | abstain P/R | handoff P/R | wrong answers (wrong entry + must-not answered) | safety answered |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for c in &columns {
        let m = c.metrics;
        let language = |tag: &str| m.top1_by_language.get(tag).map_or("–".to_owned(), share);
        let safety = m.must_not_by_kind.get(SAFETY).map_or(0, |k| k.queries);
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} + {} | {}/{safety} |",
            c.label,
            c.entries,
            m.queries,
            share(&m.top1),
            language("zh"),
            language("en"),
            precision_recall(&m.abstain),
            precision_recall(&m.handoff),
            m.wrong_entry,
            m.must_not_answered,
            m.safety_answered.len(),
        );
    }
    out.push_str("\nLanguage twins grouped by the loader (one intent each):\n\n");
    for s in &report.sets {
        let twins: Vec<String> = s.twins.iter().map(|(_, ids)| ids.join("/")).collect();
        let listed = if twins.is_empty() {
            "none".to_owned()
        } else {
            format!("{} ({})", twins.len(), twins.join(", "))
        };
        let _ = writeln!(out, "- {}: {listed}", s.set.name);
    }
    out.push_str(
        "\nCost of the bot's decision per message (`builtin_actions`, wall time, this run; \
         indicative only):\n\n| set | messages | mean µs | p99 µs |\n| --- | ---: | ---: | ---: |\n",
    );
    for c in &columns {
        let cost = &c.metrics.cost;
        let _ = writeln!(
            out,
            "| {} | {} | {:.1} | {:.1} |",
            c.label, cost.messages, cost.mean_us, cost.p99_us
        );
    }

    let answerable = ordered_kinds(
        &ANSWERABLE_KINDS,
        columns
            .iter()
            .flat_map(|c| c.metrics.answerable_by_kind.keys()),
    );
    let must_not = ordered_kinds(
        &MUST_NOT_KINDS,
        columns
            .iter()
            .flat_map(|c| c.metrics.must_not_by_kind.keys()),
    );
    out.push_str("\nTop-1 by kind (answerable queries):\n\n");
    kind_table(&mut out, &columns, &answerable, |m, kind| {
        let k = m.answerable_by_kind.get(kind)?;
        Some(share(&Ratio::new(k.correct, k.queries)))
    });
    out.push_str(
        "\nWhat the answerable queries got, by kind (correct / wrong entry / clarify / handoff):\n\n",
    );
    kind_table(&mut out, &columns, &answerable, |m, kind| {
        let k = m.answerable_by_kind.get(kind)?;
        Some(format!(
            "{} / {} / {} / {}",
            k.correct, k.wrong_entry, k.clarify, k.handoff
        ))
    });
    out.push_str(
        "\nMust-not-answer queries by kind (handoff / clarify / answered, of queries):\n\n",
    );
    kind_table(&mut out, &columns, &must_not, |m, kind| {
        let k = m.must_not_by_kind.get(kind)?;
        Some(format!(
            "{} / {} / {} of {}",
            k.handoff, k.clarify, k.answered, k.queries
        ))
    });

    let safety: Vec<&WronglyAnswered> = report
        .sets
        .iter()
        .flat_map(|s| &s.metrics.safety_answered)
        .collect();
    if safety.is_empty() {
        out.push_str("\nSafety messages answered from the knowledge base: none.\n");
    } else {
        out.push_str(
            "\nSafety messages answered from the knowledge base (verbatim):\n\n\
             | set | message | answered with |\n| --- | --- | --- |\n",
        );
        for s in safety {
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                s.set,
                s.q.replace('|', "\\|"),
                s.answered_with
            );
        }
    }
    out
}
