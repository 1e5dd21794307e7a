//! The built-in bot's semantic stage with the real model (issue 12).
//!
//! Needs the model from `tools/embedding-model/setup-model.sh DIR`:
//! `SWITCHBOARD_MODEL_DIR=DIR/multilingual-e5-small`, and the runtime from
//! `ORT_DYLIB_PATH` or `DIR/onnxruntime/libonnxruntime.so` (beside the model
//! directory); the two-model tests also need the second model from `WITH_USE=1
//! setup-model.sh DIR`: `SWITCHBOARD_SECOND_MODEL_DIR=DIR/use-multilingual-v3`.
//! Without a model each test prints a skip line and passes, except when `CI=true`:
//! then it fails, so CI cannot pass without testing the stage.

#[allow(dead_code)]
#[path = "../examples/bot_eval/eval.rs"]
mod eval;

use std::path::PathBuf;
use std::sync::Arc;

use switchboard::Config;
use switchboard::bot::embedding::{Embedder, EmbedderSettings, dot};
use switchboard::bot::semantic_triage::TriageSettings;
use switchboard::bot::{
    BotReply, BotSettings, BuiltinBot, HandoffReason, KnowledgeBase, SemanticStep, SemanticUse,
    Turn,
};

/// The model and runtime settings from the environment, or `None` (after the skip
/// line) when the model is not there; panics when it must be (CI).
fn model(test: &str) -> Option<EmbedderSettings> {
    let dir = std::env::var_os("SWITCHBOARD_MODEL_DIR").map(PathBuf::from);
    let Some(dir) = dir.filter(|d| d.is_dir()) else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{test}: SWITCHBOARD_MODEL_DIR is not set to a model directory, and CI=true: \
             run tools/embedding-model/setup-model.sh first"
        );
        eprintln!(
            "SKIP {test}: set SWITCHBOARD_MODEL_DIR (tools/embedding-model/setup-model.sh) to test the semantic stage"
        );
        return None;
    };
    let runtime = std::env::var_os("ORT_DYLIB_PATH")
        .map(PathBuf::from)
        .or_else(|| {
            dir.parent()
                .map(|p| p.join("onnxruntime/libonnxruntime.so"))
                .filter(|p| p.is_file())
        });
    let mut settings = EmbedderSettings::new(dir);
    settings.runtime = runtime;
    Some(settings)
}

/// The second model's settings from the environment (beside [`model`]'s), or `None`
/// after the skip line; panics when it must be there (CI).
fn second_model(test: &str) -> Option<(EmbedderSettings, EmbedderSettings)> {
    let first = model(test)?;
    let dir = std::env::var_os("SWITCHBOARD_SECOND_MODEL_DIR").map(PathBuf::from);
    let Some(dir) = dir.filter(|d| d.is_dir()) else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{test}: SWITCHBOARD_SECOND_MODEL_DIR is not set to a model directory, and \
             CI=true: run WITH_USE=1 tools/embedding-model/setup-model.sh first"
        );
        eprintln!("SKIP {test}: set SWITCHBOARD_SECOND_MODEL_DIR to test two models");
        return None;
    };
    let mut second = EmbedderSettings::new(dir);
    second.runtime = first.runtime.clone();
    Some((first, second))
}

fn embedder(settings: &EmbedderSettings) -> Arc<Embedder> {
    Embedder::shared(settings).expect("the model loads")
}

fn respond(bot: &BuiltinBot, text: &str) -> (BotReply, SemanticStep) {
    let language = switchboard::bot::detect_language(text);
    bot.respond_traced(
        &Turn {
            text,
            language,
            channel: "web",
        },
        SemanticUse::Allowed,
    )
}

fn answered(reply: &BotReply) -> Option<&str> {
    match reply {
        BotReply::Answer { entry_id, .. } => Some(entry_id),
        _ => None,
    }
}

#[test]
fn an_embedding_is_a_unit_vector_of_384_dimensions() {
    let Some(settings) = model("an_embedding_is_a_unit_vector_of_384_dimensions") else {
        return;
    };
    let e = embedder(&settings);
    assert_eq!(e.dimensions(), 384);
    let vectors = e
        .embed_all(&[
            "我的快递什么时候到？",
            "When will my parcel arrive?",
            "退款",
        ])
        .unwrap();
    for v in &vectors {
        assert_eq!(v.len(), 384);
        assert!((dot(v, v) - 1.0).abs() < 1e-4);
    }
    // A translation is closer than an unrelated question.
    assert!(dot(&vectors[0], &vectors[1]) > dot(&vectors[0], &vectors[2]));
    // Texts of a list are embedded exactly as each alone (as a message is).
    let alone = e.embed("退款").unwrap();
    assert!(dot(&alone, &vectors[2]) > 0.9999);
    // In one padded batch, close to alone (int8 activations are quantised per run).
    let batch = e
        .embed_batch(&["退款", "When will my parcel arrive?"])
        .unwrap();
    assert!(dot(&alone, &batch[0]) > 0.97, "{}", dot(&alone, &batch[0]));
    // Long input is cut at max_tokens, not refused.
    assert_eq!(e.embed(&"refund ".repeat(2000)).unwrap().len(), 384);
}

/// Two topics that share no words with the messages below.
const TINY: &str = r#"[
  {"id": "ship-zh", "lang": "zh", "group": "shipping", "question": "下单后多久发货？", "answer": "付款后24小时内发货。"},
  {"id": "ship-en", "lang": "en", "group": "shipping", "question": "How soon will my order be shipped?", "answer": "Orders leave within 24 hours of payment."},
  {"id": "pw-en", "lang": "en", "question": "How do I reset my password?", "answer": "Use Forgot password on the sign-in page."},
  {"id": "hours-zh", "lang": "zh", "question": "营业时间是几点？", "answer": "每天9点到21点。"}
]"#;

fn tiny(settings: &EmbedderSettings) -> BuiltinBot {
    BuiltinBot::with_semantic(
        KnowledgeBase::parse(TINY).unwrap(),
        BotSettings::default(),
        embedder(settings),
    )
    .unwrap()
}

#[test]
fn a_paraphrase_without_shared_words_finds_its_entry() {
    let Some(settings) = model("a_paraphrase_without_shared_words_finds_its_entry") else {
        return;
    };
    let bot = tiny(&settings);
    let lexical = BuiltinBot::new(KnowledgeBase::parse(TINY).unwrap(), BotSettings::default());
    let text = "I can't remember my login secret, help";
    let (reply, step) = respond(&bot, text);
    assert_eq!(answered(&reply), Some("pw-en"), "{reply:?}");
    assert!(matches!(step, SemanticStep::Embedded(_)), "{step:?}");
    // Forbidden, the same bot answers from the lexical match alone, and says so.
    let (alone, step) = bot.respond_traced(
        &Turn {
            text,
            language: "en",
            channel: "web",
        },
        SemanticUse::Forbidden,
    );
    assert_eq!(step, SemanticStep::Skipped);
    assert_eq!(
        alone,
        lexical.respond(&Turn {
            text,
            language: "en",
            channel: "web",
        })
    );
}

#[test]
fn a_cross_language_question_gets_its_twins_answer_in_the_customers_language() {
    let Some(settings) =
        model("a_cross_language_question_gets_its_twins_answer_in_the_customers_language")
    else {
        return;
    };
    let bot = tiny(&settings);
    for (text, id) in [
        (
            "my package still hasn't left your warehouse, when does it go out",
            "ship-en",
        ),
        ("东西付完钱了还没寄出来，啥时候寄", "ship-zh"),
        ("你们几点开门", "hours-zh"),
    ] {
        let (reply, _) = respond(&bot, text);
        assert_eq!(answered(&reply), Some(id), "{text}: {reply:?}");
    }
    // Safety triage keeps priority over any match.
    let (reply, _) = respond(
        &bot,
        "someone hacked my account right now and changed the password",
    );
    assert!(matches!(reply, BotReply::Handoff { .. }), "{reply:?}");
}

/// Regression guards with the semantic stage on, NOT targets: (top-1, handoff recall)
/// per set, a little under what it scored at the two-model calibration (the margin
/// leaves room for int8 kernels that differ slightly between CPUs). The fusion was
/// calibrated on tests/data/tuning, the sample and the first held-out sets (banking,
/// saas, telecom, travel: tuned-on since then); appliance-repair (heldout-3) was not
/// used to tune. Raise them when the bot improves; never lower them to let a change
/// through.
const FLOORS: [(&str, f64, f64); 6] = [
    ("banking", 0.72, 0.45),          // measured 0.749 (182/243), 0.512
    ("saas", 0.72, 0.40),             // measured 0.756 (186/246), 0.438
    ("telecom", 0.65, 0.40),          // measured 0.680 (168/247), 0.456
    ("travel", 0.74, 0.40),           // measured 0.776 (194/250), 0.432
    ("appliance-repair", 0.75, 0.55), // held out; measured 0.788 (82/104), 0.594
    ("faq-sample", 0.88, 0.45),       // tuned-on; measured 0.917 (22/24), 0.500
];

/// [`FLOORS`] with the second model fused in.
const TWO_MODEL_FLOORS: [(&str, f64, f64); 6] = [
    ("banking", 0.76, 0.45),          // measured 0.790 (192/243), 0.512
    ("saas", 0.74, 0.40),             // measured 0.768 (189/246), 0.438
    ("telecom", 0.66, 0.40),          // measured 0.696 (172/247), 0.456
    ("travel", 0.76, 0.40),           // measured 0.788 (197/250), 0.432
    ("appliance-repair", 0.79, 0.55), // held out; measured 0.827 (86/104), 0.594
    ("faq-sample", 0.88, 0.45),       // tuned-on; measured 0.917 (22/24), 0.500
];

/// The unmarked language twins of two held-out sets (`tests/data/heldout/README.md`),
/// first ids: with two models, `travel`'s are all found and `saas`'s but S11/S25.
const UNMARKED_TWINS_FOUND: [(&str, &[&str]); 2] = [
    ("travel", &["V01", "V02", "V04", "V06", "V09", "V10", "V13"]),
    ("saas", &["S01", "S02", "S04", "S06", "S09", "S10"]),
];

/// Evaluates the open sets with `config` and names every set under its floors.
fn floor_failures(config: &Config, floors: &[(&str, f64, f64)]) -> Vec<String> {
    floor_report(config, floors).1
}

/// [`floor_failures`] with the report.
fn floor_report(config: &Config, floors: &[(&str, f64, f64)]) -> (eval::Report, Vec<String>) {
    let sets = eval::default_sets().expect("the held-out sets");
    let report = eval::evaluate_with(&sets, config).expect("every set evaluates");
    println!("{}", eval::render_markdown(&report));
    let mut failures = Vec::new();
    for &(name, top1_floor, recall_floor) in floors {
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
        if recall < recall_floor {
            failures.push(format!(
                "{name}: handoff recall {recall:.3} < floor {recall_floor}"
            ));
        }
    }
    (report, failures)
}

#[test]
fn held_out_scores_with_the_semantic_stage_stay_above_their_floors() {
    let Some(settings) = model("held_out_scores_with_the_semantic_stage_stay_above_their_floors")
    else {
        return;
    };
    let mut config = Config::default();
    config.bot.model = Some(settings.model.clone());
    config.bot.onnxruntime = settings.runtime.clone();
    let failures = floor_failures(&config, &FLOORS);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn held_out_scores_with_two_models_stay_above_their_floors() {
    let Some((first, second)) =
        second_model("held_out_scores_with_two_models_stay_above_their_floors")
    else {
        return;
    };
    let mut config = Config::default();
    config.bot.model = Some(first.model.clone());
    config.bot.onnxruntime = first.runtime.clone();
    config.bot.second_model = Some(second.model.clone());
    let (report, failures) = floor_report(&config, &TWO_MODEL_FLOORS);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The second model groups the unmarked twins the first misses, and only twins.
    for (name, firsts) in UNMARKED_TWINS_FOUND {
        let set = report.sets.iter().find(|s| s.set.name == name).unwrap();
        let found: Vec<&str> = set
            .twins
            .iter()
            .map(|(intent, _)| intent.as_str())
            .collect();
        assert_eq!(found, firsts, "{name}: {:?}", set.twins);
        assert!(
            set.twins.iter().all(|(_, ids)| ids.len() == 2),
            "{name}: {:?}",
            set.twins
        );
    }
}

#[test]
fn a_ragged_input_model_gives_unit_vectors_that_know_a_translation() {
    let Some((_, second)) =
        second_model("a_ragged_input_model_gives_unit_vectors_that_know_a_translation")
    else {
        return;
    };
    let e = embedder(&second);
    assert_eq!(e.dimensions(), 512);
    let v = e
        .embed_all(&[
            "我的快递什么时候到？",
            "When will my parcel arrive?",
            "How do I reset my password?",
        ])
        .unwrap();
    for x in &v {
        assert!((dot(x, x) - 1.0).abs() < 1e-4);
    }
    assert!(dot(&v[0], &v[1]) > dot(&v[0], &v[2]) + 0.2, "{v:?}");
    // One run of several texts gives each text's own vector (ragged: no padding).
    let batch = e
        .embed_batch(&["When will my parcel arrive?", "我的快递什么时候到？"])
        .unwrap();
    assert!(dot(&batch[0], &v[1]) > 0.99 && dot(&batch[1], &v[0]) > 0.99);
    // Such a model takes no prefix: the passage form is the same text.
    let passage = e.embed_passage("When will my parcel arrive?").unwrap();
    assert!(dot(&passage, &v[1]) > 0.9999);
    assert_eq!(e.embed(&"refund ".repeat(2000)).unwrap().len(), 512);
}

#[test]
fn with_two_models_the_tiny_bot_still_answers_and_hands_off() {
    let Some((first, second)) =
        second_model("with_two_models_the_tiny_bot_still_answers_and_hands_off")
    else {
        return;
    };
    let bot = BuiltinBot::with_models(
        KnowledgeBase::parse(TINY).unwrap(),
        BotSettings::default(),
        embedder(&first),
        Some(embedder(&second)),
    )
    .unwrap();
    assert!(bot.second_embedder().is_some());
    for (text, id) in [
        ("I can't remember my login secret, help", "pw-en"),
        (
            "my package still hasn't left your warehouse, when does it go out",
            "ship-en",
        ),
        ("东西付完钱了还没寄出来，啥时候寄", "ship-zh"),
        ("你们几点开门", "hours-zh"),
    ] {
        let (reply, step) = respond(&bot, text);
        assert_eq!(answered(&reply), Some(id), "{text}: {reply:?}");
        assert!(matches!(step, SemanticStep::Embedded(_)), "{step:?}");
    }
    let (reply, _) = respond(
        &bot,
        "someone hacked my account right now and changed the password",
    );
    assert!(matches!(reply, BotReply::Handoff { .. }), "{reply:?}");
    // The calibration path decides as the live one does, given the same vectors.
    let text = "I can't remember my login secret, help";
    let turn = Turn {
        text,
        language: "en",
        channel: "web",
    };
    let v1 = bot.embed_message(text).unwrap().unwrap();
    let v2 = bot.embed_message_second(text).unwrap().unwrap();
    let given = bot.respond_calibrating_pair(&turn, &v1, Some(&v2), &bot.settings().fusion);
    assert_eq!(answered(&given), Some("pw-en"), "{given:?}");
}

#[test]
fn a_missing_model_fails_the_load_with_its_name() {
    // Needs no model: the configuration check names the field and the file.
    let mut config = Config::default();
    config.bot.model = Some(PathBuf::from("/no/such/model-dir"));
    let e = config.validate().unwrap_err().to_string();
    assert!(
        e.contains("bot.model") && e.contains("/no/such/model-dir"),
        "{e}"
    );
    let mut config = Config::default();
    config.bot.second_model = Some(PathBuf::from("/no/such/second"));
    let e = config.validate().unwrap_err().to_string();
    assert!(e.contains("bot.second_model needs bot.model"), "{e}");
    // A first model whose files are there: the second is the one named.
    let dir = std::env::temp_dir().join(format!("switchboard-model-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("tokenizer.json"), "{}").unwrap();
    std::fs::write(dir.join("model.onnx"), "").unwrap();
    config.bot.model = Some(dir.clone());
    let e = config.validate().unwrap_err().to_string();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        e.contains("bot.second_model") && e.contains("/no/such/second"),
        "{e}"
    );
}

/// A danger the phrase rules do not name: no rule fires on it. (The sparking power
/// strip this test used first is named by the phrase rules since `ebbf112`.)
const UNNAMED_DANGER: &str = "孩子把洗衣凝珠咬破了，嘴里全是泡沫，一直在吐";

#[test]
fn with_the_embedding_triage_a_danger_no_rule_names_goes_to_a_person() {
    let Some(settings) = model("with_the_embedding_triage_a_danger_no_rule_names_goes_to_a_person")
    else {
        return;
    };
    let lexical = BuiltinBot::new(KnowledgeBase::parse(TINY).unwrap(), BotSettings::default());
    let (rules_only, _) = respond(&lexical, UNNAMED_DANGER);
    assert!(
        !matches!(rules_only, BotReply::Handoff { .. }),
        "a rule fired: {rules_only:?}"
    );
    // The default bot with a model: the triage is off, nothing changes.
    let (off, _) = respond(&tiny(&settings), UNNAMED_DANGER);
    assert!(!matches!(off, BotReply::Handoff { .. }), "{off:?}");
    let bot = tiny(&settings).with_triage(TriageSettings::default());
    let (reply, step) = respond(&bot, UNNAMED_DANGER);
    assert!(
        matches!(
            reply,
            BotReply::Handoff {
                reason: HandoffReason::Safety,
                ..
            }
        ),
        "{reply:?}"
    );
    assert!(matches!(step, SemanticStep::Embedded(_)), "{step:?}");
    // Calm questions stay answerable, a complaint's progress included.
    let (reply, _) = respond(&bot, "I can't remember my login secret, help");
    assert_eq!(answered(&reply), Some("pw-en"), "{reply:?}");
}

/// Twins in two languages with no `group`, and two English entries on one topic.
const UNMARKED_TWINS: &str = r#"[
  {"id": "ret-zh", "lang": "zh", "question": "怎么申请退货？", "answer": "签收后7天内，可在订单页申请退货，快递员会上门取件。"},
  {"id": "pw-en", "lang": "en", "question": "How do I reset my password?", "answer": "Use Forgot password on the sign-in page."},
  {"id": "pw-en-2", "lang": "en", "question": "I forgot my password", "answer": "Click Forgot password and follow the e-mail to set a new one."},
  {"id": "hours-zh", "lang": "zh", "question": "营业时间是几点？", "answer": "每天9点到21点营业。"},
  {"id": "ret-en", "lang": "en", "question": "How do I return an item?", "answer": "Within 7 days of delivery, request a return on the order page and a courier will collect it."}
]"#;

#[test]
fn unmarked_twins_are_grouped_and_answered_in_the_customers_language() {
    let Some(settings) = model("unmarked_twins_are_grouped_and_answered_in_the_customers_language")
    else {
        return;
    };
    let bot = BuiltinBot::with_semantic(
        KnowledgeBase::parse(UNMARKED_TWINS).unwrap(),
        BotSettings::default(),
        embedder(&settings),
    )
    .unwrap();
    let twins = bot.knowledge().language_twins();
    assert_eq!(
        twins,
        vec![("ret-zh", vec!["ret-zh", "ret-en"])],
        "{twins:?}"
    );
    // Without a model nothing is grouped.
    let lexical = BuiltinBot::new(
        KnowledgeBase::parse(UNMARKED_TWINS).unwrap(),
        BotSettings::default(),
    );
    assert!(lexical.knowledge().language_twins().is_empty());
    for (text, id) in [
        ("东西不想要了，想寄回去", "ret-zh"),
        ("how can I return my item", "ret-en"),
    ] {
        let (reply, _) = respond(&bot, text);
        assert_eq!(answered(&reply), Some(id), "{text}: {reply:?}");
    }
}
