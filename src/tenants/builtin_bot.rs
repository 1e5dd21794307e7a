//! The built-in knowledge-base bot as the tenant layer runs it: shared by every tenant,
//! swapped whole on a reload, and turned into [`BotAction`]s for the router.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use crate::bot::embedding::{Embedder, EmbedderSettings, EmbeddingError};
use crate::bot::knowledge::{Entry, KnowledgeBase, KnowledgeBaseError};
use crate::bot::{self, BotReply, BotSettings, BuiltinBot, SemanticStep, SemanticUse, Turn};
use crate::config::{BotConfig, Config};
use crate::routing::answer_ratings::AskedVerdict;
use crate::routing::taught::Taught;
use crate::routing::{
    AssistSuggestion, AssistSuggestions, BotAction, BotTurn, Button, ConversationId, Handoff,
    HandoffReason, Understood,
};
use crate::telemetry::metrics;

/// Bytes of a customer message the built-in bot reads. Questions are short; a long
/// message (a pasted e-mail) is matched on its opening, which bounds the cost of one
/// answer (typo correction grows with the number of words) at about 2 ms.
const MATCH_TEXT_BYTES: usize = 1024;

/// The opening of a message, cut at a character boundary.
fn opening(text: &str) -> &str {
    if text.len() <= MATCH_TEXT_BYTES {
        return text;
    }
    let mut end = MATCH_TEXT_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The language of a bot turn: the conversation's primary tag, or detected from the
/// opening of the message when the conversation has none yet.
pub fn turn_language(turn: &BotTurn) -> String {
    if turn.language.is_empty() {
        bot::detect_language(opening(&turn.text)).to_owned()
    } else {
        crate::routing::language_skill(&turn.language)
    }
}

/// The starter knowledge base, served when no `--kb` file is given.
const STARTER_KB: &str = include_str!("../../kb/starter.json");

/// One tenant's built-in bot; a reload swaps it for that tenant only. Tenants that
/// run the same file start out sharing one index in memory.
#[derive(Debug, Clone)]
pub struct SharedBot {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    current: RwLock<Arc<BuiltinBot>>,
    /// What operators taught this tenant's bot, applied over the file at every build.
    taught: RwLock<Taught>,
    path: Option<PathBuf>,
    settings: BotSettings,
    /// The semantic stage's models, if configured.
    embedder: Option<Models>,
}

/// The semantic stage's models: the first, and a second one fused with it.
#[derive(Debug, Clone, PartialEq)]
struct Models {
    first: EmbedderSettings,
    second: Option<EmbedderSettings>,
}

impl Models {
    /// The models `bot` configures, if any.
    fn of(bot: &BotConfig) -> Option<Models> {
        bot.embedder_settings().map(|first| Models {
            first,
            second: bot.second_embedder_settings(),
        })
    }
}

/// A built-in bot that cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum BotLoadError {
    /// The knowledge base does not load.
    #[error(transparent)]
    KnowledgeBase(#[from] KnowledgeBaseError),
    /// The semantic stage's model (`bot.model`, `bot.onnxruntime`) does not load or run.
    #[error("bot.model: {0}")]
    Model(#[from] EmbeddingError),
}

/// Builds a bot over `kb`, with the semantic stage when a model is configured (the
/// model is loaded once per process and shared; the entry vectors are made here).
fn build(
    kb: KnowledgeBase,
    settings: &BotSettings,
    embedder: Option<&Models>,
) -> Result<BuiltinBot, EmbeddingError> {
    match embedder {
        None => Ok(BuiltinBot::new(kb, settings.clone())),
        Some(models) => {
            let started = std::time::Instant::now();
            let first = Embedder::shared(&models.first)?;
            let second = match &models.second {
                Some(second) => Some(Embedder::shared(second)?),
                None => None,
            };
            let bot = BuiltinBot::with_models(kb, settings.clone(), first, second)?;
            tracing::info!(model = %models.first.model.display(),
                second_model = ?models.second.as_ref().map(|m| m.model.display().to_string()),
                entries = bot.knowledge().entries.len(),
                millis = started.elapsed().as_millis() as u64,
                "semantic stage ready: entry vectors made");
            Ok(bot)
        }
    }
}

/// Adds what operators taught to a knowledge base read from its file: new entries,
/// then taught questions as variants of their entries (entries the file no longer has
/// are skipped, with a warning: the questions stay taught for when it does again).
fn apply_taught(kb: &mut KnowledgeBase, taught: &Taught) {
    for entry in taught.entries() {
        if kb.entries.iter().any(|e| e.id == entry.id) {
            continue;
        }
        kb.entries.push(Entry {
            id: entry.id.clone(),
            lang: entry.lang.clone(),
            intent: if entry.intent.is_empty() {
                entry.id.clone()
            } else {
                entry.intent.clone()
            },
            questions: Vec::new(),
            answer: entry.answer.clone(),
            buttons: Vec::new(),
            needs_human: false,
            keywords: Vec::new(),
            skill: None,
        });
    }
    for (id, questions) in taught.questions() {
        match kb.entries.iter_mut().find(|e| e.id == id) {
            Some(entry) => {
                for q in questions {
                    if !entry.questions.contains(q) {
                        entry.questions.push(q.clone());
                    }
                }
            }
            None => tracing::warn!(
                entry_id = id,
                "taught questions for an entry the knowledge base no longer has; skipped"
            ),
        }
    }
}

/// What a knowledge base holds, for the admin API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnowledgeBaseSummary {
    /// The file, if not the embedded starter.
    pub path: Option<PathBuf>,
    /// Entries.
    pub entries: usize,
    /// Language tags, sorted.
    pub languages: Vec<String>,
}

/// Why a reload was refused.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The service runs the embedded starter knowledge base; there is no file.
    #[error(
        "no knowledge base file is configured (--kb, SWITCHBOARD_KB, or kb in the config file)"
    )]
    NoFile,
    /// The file does not load; the knowledge base in use keeps serving.
    #[error("{0}; the knowledge base in use keeps serving")]
    Invalid(#[from] KnowledgeBaseError),
    /// The semantic stage could not embed the new entries; the knowledge base in use
    /// keeps serving.
    #[error("bot.model: {0}; the knowledge base in use keeps serving")]
    Model(#[from] EmbeddingError),
}

/// The embedded starter knowledge base.
fn starter() -> Result<KnowledgeBase, KnowledgeBaseError> {
    KnowledgeBase::parse(STARTER_KB).map_err(|reason| KnowledgeBaseError {
        path: PathBuf::from("(embedded kb/starter.json)"),
        reason,
    })
}

impl SharedBot {
    /// Loads the configured knowledge base, or the embedded starter, and the semantic
    /// stage's model when `bot.model` is set.
    pub fn load(config: &Config) -> Result<SharedBot, BotLoadError> {
        let kb = match &config.kb {
            Some(path) => KnowledgeBase::load(path)?,
            None => starter()?,
        };
        let settings = config.bot.bot_settings();
        let embedder = Models::of(&config.bot);
        let bot = build(kb, &settings, embedder.as_ref())?;
        Ok(SharedBot {
            inner: Arc::new(Inner {
                current: RwLock::new(Arc::new(bot)),
                taught: RwLock::default(),
                path: config.kb.clone(),
                settings,
                embedder,
            }),
        })
    }

    /// The bot for a tenant with its own settings: this bot's index when the tenant
    /// uses the same file, threshold and model (shared in memory, but reloaded on its
    /// own), otherwise its file loaded afresh (the model itself is shared whenever it
    /// is the same).
    pub fn for_tenant(
        &self,
        kb: Option<&std::path::Path>,
        bot: &BotConfig,
    ) -> Result<SharedBot, BotLoadError> {
        let settings = bot.bot_settings();
        let embedder = Models::of(bot);
        let current = if kb == self.inner.path.as_deref()
            && settings == self.inner.settings
            && embedder == self.inner.embedder
        {
            self.current()
        } else {
            let kb = match kb {
                Some(path) => KnowledgeBase::load(path)?,
                None => starter()?,
            };
            Arc::new(build(kb, &settings, embedder.as_ref())?)
        };
        Ok(SharedBot {
            inner: Arc::new(Inner {
                current: RwLock::new(current),
                taught: RwLock::default(),
                path: kb.map(std::path::Path::to_owned),
                settings,
                embedder,
            }),
        })
    }

    /// Whether the bot has a semantic stage (a model); fixed for the bot's life, so it
    /// is read without the lock.
    pub fn has_semantic(&self) -> bool {
        self.inner.embedder.is_some()
    }

    /// The bot in use.
    pub fn current(&self) -> Arc<BuiltinBot> {
        self.inner
            .current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Reads the configured file again and swaps it in, with what was taught; on any
    /// error the bot in use stays. Builds the index on the calling thread: call it off
    /// the async runtime.
    pub fn reload(&self) -> Result<KnowledgeBaseSummary, ReloadError> {
        let result = self
            .inner
            .path
            .as_ref()
            .ok_or(ReloadError::NoFile)
            .and_then(|path| Ok(KnowledgeBase::load(path)?))
            .and_then(|kb| self.rebuild(kb));
        metrics::record_kb_reload(result.is_ok());
        result
    }

    /// Rebuilds the bot from its file (or the starter) with `taught` over it, and
    /// keeps `taught` for later reloads. Builds on the calling thread, like
    /// [`SharedBot::reload`]; on an error the bot in use stays.
    pub fn teach(&self, taught: Taught) -> Result<KnowledgeBaseSummary, ReloadError> {
        *self
            .inner
            .taught
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = taught;
        let kb = match &self.inner.path {
            Some(path) => KnowledgeBase::load(path)?,
            None => starter()?,
        };
        self.rebuild(kb)
    }

    fn rebuild(&self, mut kb: KnowledgeBase) -> Result<KnowledgeBaseSummary, ReloadError> {
        apply_taught(
            &mut kb,
            &self
                .inner
                .taught
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        );
        let bot = build(kb, &self.inner.settings, self.inner.embedder.as_ref())?;
        *self
            .inner
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(bot);
        Ok(self.summary())
    }

    /// What the bot in use answers from.
    pub fn summary(&self) -> KnowledgeBaseSummary {
        let bot = self.current();
        let kb = bot.knowledge();
        let mut languages: Vec<String> = kb.entries.iter().map(|e| e.lang.clone()).collect();
        languages.sort();
        languages.dedup();
        KnowledgeBaseSummary {
            path: self.inner.path.clone(),
            entries: kb.entries.len(),
            languages,
        }
    }
}

/// How a bot turn may be matched: with the semantic stage when the bot has one, or
/// lexically only, with why (a fixed metric label: `late` for a turn that waited past
/// the matching pool's deadline, `caller_ran` for one run on an async worker).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Matching {
    /// Embed the message when the lexical match is unsure.
    Full,
    /// Answer from the lexical match alone.
    LexicalOnly(&'static str),
}

/// The built-in bot's answer to one turn, as router actions: on the first turn a
/// greeting with navigation buttons, then the answer (or handoff) to the message.
/// The semantic stage runs when the bot has one, the lexical match is unsure and
/// `matching` allows it.
pub fn builtin_actions(bot: &BuiltinBot, turn: &BotTurn, matching: Matching) -> Vec<BotAction> {
    let text = opening(&turn.text);
    let language = turn_language(turn);
    let language = language.as_str();
    if let Some(asked) = &turn.unsolved {
        metrics::record_bot_turn("builtin", "not_solved");
        return vec![not_solved_offer(bot, asked, language)];
    }
    let semantic = match matching {
        Matching::Full => SemanticUse::Allowed,
        Matching::LexicalOnly(_) => SemanticUse::Forbidden,
    };
    let (reply, step) = bot.respond_traced(
        &Turn {
            text,
            language,
            channel: turn.channel.as_str(),
        },
        semantic,
    );
    match step {
        SemanticStep::Embedded(took) => metrics::record_semantic_embedding(took),
        SemanticStep::Skipped => {
            if let Matching::LexicalOnly(reason) = matching {
                metrics::record_semantic_skipped(reason);
            }
        }
        SemanticStep::Failed => metrics::record_semantic_skipped("model_error"),
        SemanticStep::Off | SemanticStep::NotNeeded => {}
    }
    if let Some(answer) = notice_follow_up(turn, &reply, text, language) {
        metrics::record_bot_turn("builtin", "answered");
        return vec![answer];
    }
    let mut actions = Vec::with_capacity(2);
    if turn.first_turn {
        let mut greeting = bot.greeting(turn.channel.as_str(), language);
        if let BotReply::NotSure { message, .. } = &reply {
            // Unsure of the first question: the greeting leads with the bot's best
            // guess ("did you mean") rather than a second "please rephrase" message.
            let guesses: Vec<_> = message
                .buttons
                .iter()
                .filter(|b| !greeting.buttons.contains(b))
                .cloned()
                .collect();
            greeting.buttons.splice(0..0, guesses);
        }
        actions.push(say(greeting, Understood::SmallTalk, None, language));
    }
    let (action, outcome) = match reply {
        BotReply::Answer {
            message, intent, ..
        } => (
            Some(say(message, Understood::Answered, Some(intent), language)),
            "answered",
        ),
        // The greeting just sent is the small-talk reply on a first turn.
        BotReply::SmallTalk { message, .. } => (
            (!turn.first_turn).then(|| say(message, Understood::SmallTalk, None, language)),
            "small_talk",
        ),
        BotReply::NotSure { mut message, .. } => {
            if turn.first_turn {
                // The greeting carries the guess; count the miss only.
                message.text.clear();
                message.buttons.clear();
            }
            (
                Some(say(message, Understood::NotSure, None, language)),
                "not_sure",
            )
        }
        BotReply::Handoff {
            reason,
            intent,
            skill,
            ..
        } => (
            Some(BotAction::HandOff(Handoff {
                reason: match reason {
                    bot::HandoffReason::Safety => HandoffReason::Safety,
                    bot::HandoffReason::CustomerRequest => HandoffReason::CustomerRequest,
                    bot::HandoffReason::Complaint => HandoffReason::Complaint,
                    bot::HandoffReason::IntentNeedsHuman => HandoffReason::IntentNeedsHuman,
                },
                // Only a confident match of an intent that needs a person makes its
                // skill a hard requirement; a guess behind a request for a person or
                // a complaint is kept as the intent, for the agent, but must not
                // narrow who can take the customer.
                skills: match (reason, skill) {
                    (bot::HandoffReason::IntentNeedsHuman, Some(skill)) => vec![(skill, 1)],
                    _ => Vec::new(),
                },
                intent,
                language: Some(language.to_owned()),
                note: None,
            })),
            "handoff",
        ),
    };
    metrics::record_bot_turn("builtin", outcome);
    actions.extend(action);
    actions
}

/// Intent of an answer given from the notice a customer wrote back to.
pub const NOTICE_STATUS_INTENT: &str = "notice_status";

/// The answer to a customer who wrote back to a shipping notice asking where it is
/// now: what the notice said, with a way to a person. No greeting first, since they
/// are answering us. `None` for any other turn, and for one the knowledge base's
/// rules hand to a person (a request for one, a complaint, a safety matter), which
/// goes first.
fn notice_follow_up(
    turn: &BotTurn,
    reply: &BotReply,
    text: &str,
    language: &str,
) -> Option<BotAction> {
    let notice = turn.answers.as_ref()?;
    if notice.purpose != crate::customer::ContactPurpose::Logistics
        || matches!(reply, BotReply::Handoff { .. })
        || !bot::follow_up::asks_for_status(text)
    {
        return None;
    }
    let zh = language.starts_with("zh");
    let message = bot::BotMessage {
        text: bot::follow_up::status_answer(&notice.text, zh),
        buttons: vec![person_button(zh)],
    };
    Some(say(
        message,
        Understood::Answered,
        Some(NOTICE_STATUS_INTENT.to_owned()),
        language,
    ))
}

/// A button that asks for a person, in words the triage rules know.
fn person_button(zh: bool) -> Button {
    if zh {
        Button {
            label: "转人工客服".to_owned(),
            payload: "转人工".to_owned(),
        }
    } else {
        Button {
            label: "Talk to a person".to_owned(),
            payload: "I want a live agent".to_owned(),
        }
    }
}

/// Next-best entries offered after "not solved", besides a person.
const NEXT_BEST: usize = 2;

/// What the bot says after "not solved": sorry, a person, or the next-best entries
/// for the question it answered (their questions as buttons, which the matcher
/// answers when pressed). It counts as an unsure answer, so a second miss in a row
/// hands the customer to a person as any run of unsure answers does.
fn not_solved_offer(bot: &BuiltinBot, asked: &AskedVerdict, language: &str) -> BotAction {
    let zh = language.starts_with("zh");
    let kb = bot.knowledge();
    let mut buttons: Vec<Button> = bot
        .suggest(opening(&asked.question), language, NEXT_BEST + 1)
        .into_iter()
        .filter(|s| *s.intent != *asked.intent)
        .filter_map(|s| kb.entries.iter().find(|e| e.id == s.entry_id))
        .filter_map(|e| e.questions.first())
        .take(NEXT_BEST)
        .map(|q| Button {
            label: q.clone(),
            payload: q.clone(),
        })
        .collect();
    buttons.push(person_button(zh));
    let text = match (zh, buttons.len() > 1) {
        (true, true) => "抱歉没能解决您的问题。您可以看看下面这些相关问题，或转人工客服。",
        (true, false) => "抱歉没能解决您的问题。您可以换个说法再问我，或转人工客服。",
        (false, true) => {
            "Sorry that didn't solve it. One of these may help, or you can talk to a person."
        }
        (false, false) => {
            "Sorry that didn't solve it. Try asking in other words, or talk to a person."
        }
    };
    BotAction::Say {
        text: text.to_owned(),
        buttons,
        understood: Understood::NotSure,
        intent: None,
        language: Some(language.to_owned()),
    }
}

fn say(
    message: bot::BotMessage,
    understood: Understood,
    intent: Option<String>,
    language: &str,
) -> BotAction {
    BotAction::Say {
        text: message.text,
        buttons: message.buttons,
        understood,
        intent,
        language: Some(language.to_owned()),
    }
}

/// Knowledge-base suggestions for an agent about one customer message; `None` when
/// nothing in the knowledge base is close enough.
pub fn assist(
    bot: &BuiltinBot,
    conversation: ConversationId,
    text: Arc<str>,
    limit: usize,
) -> Option<AssistSuggestions> {
    let suggestions: Vec<AssistSuggestion> = bot
        .suggest(opening(&text), "", limit)
        .into_iter()
        .map(|s| AssistSuggestion {
            text: s.text,
            entry_id: s.entry_id,
            intent: s.intent,
            confidence: s.confidence,
        })
        .collect();
    (!suggestions.is_empty()).then_some(AssistSuggestions {
        conversation,
        customer_text: text,
        suggestions,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::routing::Channel;

    fn first_turn(text: &str) -> BotTurn {
        BotTurn {
            conversation: ConversationId(1),
            channel: Channel::Web,
            language: Arc::from("en"),
            text: Arc::from(text),
            first_turn: true,
            unsolved: None,
            answers: None,
        }
    }

    /// A first turn of a conversation that answers a notice of `purpose`.
    fn answering(purpose: crate::customer::ContactPurpose, text: &str) -> BotTurn {
        BotTurn {
            answers: Some(Arc::new(crate::routing::AnsweredNotice {
                notification: crate::outbound::NotificationId(7),
                purpose,
                template: Arc::from("order-shipped"),
                text: Arc::from("Your order A123 has shipped."),
                campaign: None,
            })),
            ..first_turn(text)
        }
    }

    #[test]
    fn a_status_question_after_a_shipping_notice_is_answered_from_the_notice() {
        use crate::customer::ContactPurpose;
        let bot = BuiltinBot::new(KnowledgeBase::parse(TIED).unwrap(), BotSettings::default());
        let actions = builtin_actions(
            &bot,
            &answering(ContactPurpose::Logistics, "where is it now?"),
            Matching::Full,
        );
        let [
            BotAction::Say {
                text,
                buttons,
                intent,
                understood,
                ..
            },
        ] = &actions[..]
        else {
            panic!("one answer, no greeting: {actions:?}");
        };
        assert!(text.contains("Your order A123 has shipped."), "{text}");
        assert_eq!(*understood, Understood::Answered);
        assert_eq!(intent.as_deref(), Some(NOTICE_STATUS_INTENT));
        assert_eq!(buttons[0].label, "Talk to a person");
        // A request for a person still goes to one.
        let actions = builtin_actions(
            &bot,
            &answering(
                ContactPurpose::Logistics,
                "where is it?? I want a live agent",
            ),
            Matching::Full,
        );
        assert!(
            actions.iter().any(|a| matches!(a, BotAction::HandOff(_))),
            "{actions:?}"
        );
        // Not a status question, or not a shipping notice: the knowledge base answers.
        for turn in [
            answering(
                ContactPurpose::Logistics,
                "How do I return an item for a refund?",
            ),
            answering(ContactPurpose::Feedback, "where is it now?"),
        ] {
            let actions = builtin_actions(&bot, &turn, Matching::Full);
            assert!(
                !actions.iter().any(|a| matches!(a, BotAction::Say { intent: Some(i), .. } if i == NOTICE_STATUS_INTENT)),
                "{turn:?}: {actions:?}"
            );
        }
    }

    #[test]
    fn reloading_one_tenants_knowledge_base_leaves_the_others_alone() {
        let dir = std::env::temp_dir().join(format!("sb-kb-reload-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("kb.json");
        std::fs::write(&path, TIED).unwrap();
        let config = Config {
            kb: Some(path.clone()),
            ..Config::default()
        };
        let top = SharedBot::load(&config).unwrap();
        let acme = top.for_tenant(Some(&path), &config.bot).unwrap();
        let globex = top.for_tenant(Some(&path), &config.bot).unwrap();
        assert!(
            Arc::ptr_eq(&acme.current(), &globex.current()),
            "tenants of one file share its index"
        );
        let before = globex.current();
        let one_entry = r#"{"entries": [{"id": "returns", "lang": "en",
            "questions": ["How do I return an item?"], "answer": "Start a return."}]}"#;
        std::fs::write(&path, one_entry).unwrap();
        assert_eq!(acme.reload().unwrap().entries, 1);
        assert!(Arc::ptr_eq(&globex.current(), &before), "globex untouched");
        assert_eq!(globex.summary().entries, 2);
        assert!(Arc::ptr_eq(&top.current(), &before));
        std::fs::remove_dir_all(&dir).ok();
    }

    /// Two intents a bare "refund" ties between, and a greeting that names neither.
    const TIED: &str = r#"{
        "greetings": {"en": {"text": "Hello!", "buttons": [{"label": "Person", "payload": "agent"}]}},
        "entries": [
            {"id": "returns", "lang": "en", "questions": ["How do I return an item for a refund?"],
             "answer": "Start a return under Orders."},
            {"id": "refund-timing", "lang": "en", "questions": ["When will my refund arrive?"],
             "answer": "Refunds take 1-3 days."}
        ]
    }"#;

    #[test]
    fn an_unsure_first_turn_is_one_greeting_that_leads_with_the_guess() {
        let bot = BuiltinBot::new(KnowledgeBase::parse(TIED).unwrap(), BotSettings::default());
        let greeting = bot.greeting("web", "en");
        let reply = bot.respond(&Turn {
            text: "refund",
            language: "en",
            channel: "web",
        });
        let BotReply::NotSure { message, .. } = reply else {
            panic!("expected an unsure reply to a bare \"refund\", got {reply:?}");
        };
        let guess = &message.buttons[0];
        assert!(
            !greeting.buttons.contains(guess),
            "a guess the greeting lacks"
        );
        let actions = builtin_actions(&bot, &first_turn("refund"), Matching::Full);
        let [
            BotAction::Say { text, buttons, .. },
            BotAction::Say {
                text: second,
                buttons: none,
                understood,
                ..
            },
        ] = actions.as_slice()
        else {
            panic!("{actions:?}");
        };
        assert_eq!(*text, greeting.text);
        assert_eq!(&buttons[0], guess, "the guess comes first");
        assert_eq!(
            buttons[1..],
            greeting.buttons[..],
            "then the greeting's own"
        );
        assert!(second.is_empty() && none.is_empty() && *understood == Understood::NotSure);
    }

    #[test]
    fn a_long_message_is_read_up_to_a_character_boundary() {
        let short = "退款";
        assert_eq!(opening(short), short);
        let long = "退".repeat(MATCH_TEXT_BYTES); // 3 bytes a character
        let cut = opening(&long);
        assert!(cut.len() <= MATCH_TEXT_BYTES && cut.len() > MATCH_TEXT_BYTES - 3);
        assert!(cut.chars().all(|c| c == '退'));
    }
}
