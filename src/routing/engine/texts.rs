//! What the router says to customers, in their language (Chinese or English).
//!
//! Every text comes back as a shared string: the fixed ones are made once per process
//! and cloned, and the ones with figures in them are formatted on the stack and
//! allocated once, not built as a `String` and then copied.

use std::fmt::{self, Write as _};
use std::sync::{Arc, LazyLock};

use rustc_hash::FxHashMap;

use crate::customer::Scale;
use crate::routing::answer_ratings::{NOT_SOLVED_PAYLOAD, SOLVED_PAYLOAD};
use crate::routing::model::{Button, QueueStatus};
use crate::routing::surveys::Question;

pub(super) fn is_chinese(language: &str) -> bool {
    language.eq_ignore_ascii_case("zh") || language.to_ascii_lowercase().starts_with("zh-")
}

/// A fixed text in Chinese and English, made once.
struct Fixed {
    zh: LazyLock<Arc<str>>,
    en: LazyLock<Arc<str>>,
}

macro_rules! fixed {
    ($zh:expr, $en:expr) => {
        Fixed {
            zh: LazyLock::new(|| Arc::from($zh)),
            en: LazyLock::new(|| Arc::from($en)),
        }
    };
}

impl Fixed {
    fn get(&self, language: &str) -> Arc<str> {
        if is_chinese(language) {
            Arc::clone(&self.zh)
        } else {
            Arc::clone(&self.en)
        }
    }
}

static CONNECTING: Fixed = fixed!(
    "正在为您接入人工客服，请稍候。",
    "Connecting you with an agent now."
);
static WAIT_LIMIT: Fixed = fixed!(
    "非常抱歉，目前没有客服能及时接待您，本次会话已结束。请稍后再联系我们，或给我们留言。",
    "We are sorry: no agent could take your conversation in time, so it has ended. Please write again later, or leave us a message."
);
static UNSUBSCRIBED: Fixed = fixed!(
    "您已退订营销和节日问候消息，我们不会再向您发送。订单、物流等服务通知不受影响；如需重新订阅，请联系客服。",
    "You are unsubscribed from offers and greetings; we will not send you any more. Service messages about your orders and deliveries still reach you. To subscribe again, ask us any time."
);
static SHUTDOWN: Fixed = fixed!(
    "系统正在重启，本次会话已结束。请稍后再次联系我们，给您带来不便敬请谅解。",
    "We are restarting our service, so this conversation has ended. Please write to us again in a moment; sorry for the trouble."
);
static RECONNECTING: Fixed = fixed!(
    "刚才的客服已断开，正在为您重新接入，您的排队位置保持不变。",
    "Your agent was disconnected; we are connecting you with another agent and you keep your place."
);

/// Bytes formatted on the stack before [`shared`] falls back to a `String`.
const STACK_TEXT: usize = 256;

/// A formatting target on the stack that spills to the heap only when it overflows.
struct StackText {
    bytes: [u8; STACK_TEXT],
    len: usize,
    spill: Option<String>,
}

impl fmt::Write for StackText {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if let Some(spill) = self.spill.as_mut() {
            spill.push_str(s);
        } else if self.len + s.len() <= STACK_TEXT {
            self.bytes[self.len..self.len + s.len()].copy_from_slice(s.as_bytes());
            self.len += s.len();
        } else {
            let mut spill = String::with_capacity(2 * STACK_TEXT);
            spill.push_str(self.as_str());
            spill.push_str(s);
            self.spill = Some(spill);
        }
        Ok(())
    }
}

impl StackText {
    fn as_str(&self) -> &str {
        // Only whole `&str` pieces are ever copied in, so the bytes are UTF-8.
        std::str::from_utf8(&self.bytes[..self.len]).expect("whole str pieces")
    }
}

/// Formats `args` into one shared string, with a single allocation.
fn shared(args: fmt::Arguments<'_>) -> Arc<str> {
    let mut text = StackText {
        bytes: [0; STACK_TEXT],
        len: 0,
        spill: None,
    };
    text.write_fmt(args).expect("formatting into memory");
    match &text.spill {
        Some(spill) => Arc::from(spill.as_str()),
        None => Arc::from(text.as_str()),
    }
}

/// What a customer is told while no agent who takes offers can serve them: no estimate (there
/// is none to give), their place kept, and that they will hear from us either way:
/// from an agent, or, at the queue's wait limits, a fallback offer or the end.
fn no_agent_text(lead: &str, language: &str, position: u32) -> Arc<str> {
    if is_chinese(language) {
        shared(format_args!(
            "{lead}目前没有能处理您这个问题的客服可以接待。您前面还有 {} 位客户，您的排队位置会一直保留；一有客服可以接待就会尽快回复您，如果等待时间过长，我们也会告诉您。",
            position - 1
        ))
    } else {
        let space = if lead.is_empty() { "" } else { " " };
        shared(format_args!(
            "{lead}{space}No agent who can help with this is available right now. You are number {position} in the queue and keep your place: an agent will reply as soon as one is available, and if nobody can take your conversation in time, we will tell you."
        ))
    }
}

pub(super) fn queue_text(language: &str, status: QueueStatus) -> Arc<str> {
    let minutes = status.estimated_wait_secs.div_ceil(60).max(1);
    match (status.position, is_chinese(language)) {
        (0, _) => CONNECTING.get(language),
        (p, _) if status.no_agent() => no_agent_text("", language, p),
        (p, true) => shared(format_args!(
            "您前面还有 {} 位客户在排队，预计等待约 {minutes} 分钟。",
            p - 1
        )),
        (p, false) => shared(format_args!(
            "Thanks for your message. You are number {p} in the queue; the estimated wait is about {minutes} min."
        )),
    }
}

/// Queue notes kept by [`QueueTexts`]; beyond it the cache starts over (it only saves
/// work and memory).
const QUEUE_TEXTS_KEPT: usize = 4_096;

/// Queue and handoff notes by what they say (handoff or not, Chinese or not, position,
/// minutes), one shared string each: customers told the same place share one text,
/// in the notice and in their transcripts, instead of formatting and keeping a copy
/// each. A cache, so routers compare equal whatever it holds.
#[derive(Debug, Default)]
pub(super) struct QueueTexts(FxHashMap<(bool, bool, u32, u32), Arc<str>>);

impl PartialEq for QueueTexts {
    fn eq(&self, _: &QueueTexts) -> bool {
        true
    }
}

impl QueueTexts {
    /// [`queue_text`], shared.
    pub(super) fn queue(&mut self, language: &str, status: QueueStatus) -> Arc<str> {
        self.get(false, language, status)
    }

    /// [`handoff_text`], shared.
    pub(super) fn handoff(&mut self, language: &str, status: QueueStatus) -> Arc<str> {
        self.get(true, language, status)
    }

    fn get(&mut self, handoff: bool, language: &str, status: QueueStatus) -> Arc<str> {
        let make = if handoff { handoff_text } else { queue_text };
        if status.position == 0 {
            return make(language, status);
        }
        // 0 minutes: the no-agent note, which has no estimate.
        let minutes = if status.no_agent() {
            0
        } else {
            status.estimated_wait_secs.div_ceil(60).max(1)
        };
        let key = (handoff, is_chinese(language), status.position, minutes);
        if let Some(text) = self.0.get(&key) {
            return text.clone();
        }
        if self.0.len() >= QUEUE_TEXTS_KEPT {
            self.0.clear();
        }
        let text = make(language, status);
        self.0.insert(key, text.clone());
        text
    }
}

pub(super) fn wait_limit_text(language: &str) -> Arc<str> {
    WAIT_LIMIT.get(language)
}

/// The confirmation of an opt-out by reply ("退订", "STOP").
pub(super) fn unsubscribed_text(language: &str) -> Arc<str> {
    UNSUBSCRIBED.get(language)
}

pub(super) fn shutdown_text(language: &str) -> Arc<str> {
    SHUTDOWN.get(language)
}

pub(super) fn reconnecting_text(language: &str) -> Arc<str> {
    RECONNECTING.get(language)
}

static GLAD: Fixed = fixed!(
    "很高兴帮到您！还有其他问题随时问我。",
    "Glad that helped! Ask me anything else at any time."
);

static SURVEY_FIVE: Fixed = fixed!(
    "本次服务您满意吗？请为我们打分（1 = 非常不满意，5 = 非常满意）。",
    "How satisfied were you with our service? Please rate us from 1 (very dissatisfied) to 5 (very satisfied)."
);
static SURVEY_FACES: Fixed = fixed!(
    "本次服务您满意吗？请选择一个表情。",
    "How was our service today? Pick a face."
);
static SURVEY_REMINDER: Fixed = fixed!(
    "打扰一下：您对刚才的服务还满意吗？您的评价对我们很重要。",
    "A quick reminder: how satisfied were you with our service? Your rating helps us."
);
static RECOMMEND: Fixed = fixed!(
    "您有多大可能向朋友推荐我们？请打分 0-10。",
    "How likely are you to recommend us to a friend? 0 (not at all) to 10 (certainly)."
);
static SURVEY_THANKS: Fixed = fixed!("感谢您的评价！", "Thank you for your rating!");
static SURVEY_SORRY: Fixed = fixed!(
    "感谢您的评价，很抱歉这次没能让您满意。我们的主管会跟进。",
    "Thank you for telling us, and we are sorry we let you down. A supervisor will follow up."
);

/// The survey question on `question`'s scale, or the reminder of it.
pub(super) fn survey_text(language: &str, question: Question, reminder: bool) -> Arc<str> {
    match (question, reminder) {
        (Question::Recommend, _) => RECOMMEND.get(language),
        (_, true) => SURVEY_REMINDER.get(language),
        (Question::Satisfaction(Scale::ThreeFaces), false) => SURVEY_FACES.get(language),
        (Question::Satisfaction(_), false) => SURVEY_FIVE.get(language),
    }
}

/// The thanks for a survey answer; `low` when the score asks for a follow-up.
pub(super) fn survey_thanks(language: &str, low: bool) -> Arc<str> {
    if low {
        SURVEY_SORRY.get(language)
    } else {
        SURVEY_THANKS.get(language)
    }
}

/// Quick replies for a survey question; payloads are the digits, which the answer
/// reader takes in any language.
pub(super) fn survey_buttons(question: Question) -> Vec<Button> {
    let button = |label: String, payload: u8| Button {
        label,
        payload: payload.to_string(),
    };
    match question {
        Question::Satisfaction(Scale::ThreeFaces) => [("😞", 1), ("😐", 2), ("😀", 3)]
            .into_iter()
            .map(|(face, v)| button(face.to_owned(), v))
            .collect(),
        Question::Recommend => (0..=10).map(|v| button(v.to_string(), v)).collect(),
        Question::Satisfaction(_) => [("1 😞", 1), ("2", 2), ("3 😐", 3), ("4", 4), ("5 😀", 5)]
            .into_iter()
            .map(|(label, v)| button(label.to_owned(), v))
            .collect(),
    }
}

/// The reply to a customer who said an answer solved it.
pub(super) fn solved_text(language: &str) -> Arc<str> {
    GLAD.get(language)
}

/// The "did that solve it?" buttons under a knowledge-base answer; their payloads are
/// the same in every language, so the verdict reads alike whatever the labels say.
pub(super) fn verdict_buttons(language: &str) -> [Button; 2] {
    let (solved, not_solved) = if is_chinese(language) {
        ("已解决", "没解决")
    } else {
        ("Solved", "Not solved")
    };
    [
        Button {
            label: solved.to_owned(),
            payload: SOLVED_PAYLOAD.to_owned(),
        },
        Button {
            label: not_solved.to_owned(),
            payload: NOT_SOLVED_PAYLOAD.to_owned(),
        },
    ]
}

/// The note after a bot hands a conversation to a person: what happens, and where
/// the customer stands.
pub(super) fn handoff_text(language: &str, status: QueueStatus) -> Arc<str> {
    let lead = if is_chinese(language) {
        "好的，正在为您转接人工客服。"
    } else {
        "Sure, I'm passing you to a person, with our conversation so far."
    };
    let minutes = status.estimated_wait_secs.div_ceil(60).max(1);
    match (status.position, is_chinese(language)) {
        (0, true) => shared(format_args!("{lead}客服马上就到。")),
        (0, false) => shared(format_args!("{lead} An agent is joining now.")),
        (p, _) if status.no_agent() => no_agent_text(lead, language, p),
        (p, true) => shared(format_args!(
            "{lead}您前面还有 {} 位客户，预计等待约 {minutes} 分钟。",
            p - 1
        )),
        (p, false) => shared(format_args!(
            "{lead} You are number {p} in the queue; the estimated wait is about {minutes} min."
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_longer_than_the_stack_buffer_spill_whole() {
        let long = "é".repeat(STACK_TEXT);
        let text = shared(format_args!("{long}{long}!"));
        assert_eq!(&*text, format!("{long}{long}!"));
        let short = shared(format_args!("number {}", 7));
        assert_eq!(&*short, "number 7");
    }

    #[test]
    fn no_agent_notes_give_the_place_and_no_estimate() {
        let none = QueueStatus {
            position: 2,
            estimated_wait_secs: 0,
        };
        let some = QueueStatus {
            estimated_wait_secs: 30,
            ..none
        };
        let handoff = handoff_text("en", none);
        assert!(
            handoff.starts_with(
                "Sure, I'm passing you to a person, with our conversation so far. No agent"
            ) && handoff.contains("number 2")
                && !handoff.contains("min."),
            "{handoff}"
        );
        let queue = queue_text("en", none);
        assert!(queue.starts_with("No agent who can help") && queue.contains("tell you"));
        assert!(handoff_text("zh", none).contains("您前面还有 1 位客户"));
        assert!(queue_text("zh", none).starts_with("目前没有"));
        // The cache keeps the two notes apart from the one-minute estimate.
        let mut texts = QueueTexts::default();
        assert_eq!(texts.queue("en", none), queue);
        assert!(texts.queue("en", some).contains("about 1 min"));
        assert_eq!(texts.queue("en", none), queue);
        assert_eq!(texts.handoff("en", none), handoff);
    }

    #[test]
    fn fixed_texts_are_shared_not_rebuilt() {
        assert!(Arc::ptr_eq(&shutdown_text("en"), &shutdown_text("en-GB")));
        assert!(is_chinese("zh-CN") && shutdown_text("zh-CN").starts_with("系统"));
    }
}
