//! What the router says to customers, in their language (Chinese or English).

use crate::routing::model::QueueStatus;

pub(super) fn is_chinese(language: &str) -> bool {
    language.eq_ignore_ascii_case("zh") || language.to_ascii_lowercase().starts_with("zh-")
}

pub(super) fn queue_text(language: &str, status: QueueStatus) -> String {
    let minutes = status.estimated_wait_secs.div_ceil(60).max(1);
    match (status.position, is_chinese(language)) {
        (0, true) => "正在为您接入人工客服，请稍候。".to_owned(),
        (0, false) => "Connecting you with an agent now.".to_owned(),
        (p, true) => format!(
            "您前面还有 {} 位客户在排队，预计等待约 {minutes} 分钟。",
            p - 1
        ),
        (p, false) => format!(
            "Thanks for your message. You are number {p} in the queue; the estimated wait is about {minutes} min."
        ),
    }
}

pub(super) fn wait_limit_text(language: &str) -> &'static str {
    if is_chinese(language) {
        "非常抱歉，目前没有客服能及时接待您，本次会话已结束。请稍后再联系我们，或给我们留言。"
    } else {
        "We are sorry: no agent could take your conversation in time, so it has ended. Please write again later, or leave us a message."
    }
}

pub(super) fn shutdown_text(language: &str) -> &'static str {
    if is_chinese(language) {
        "系统正在重启，本次会话已结束。请稍后再次联系我们，给您带来不便敬请谅解。"
    } else {
        "We are restarting our service, so this conversation has ended. Please write to us again in a moment; sorry for the trouble."
    }
}

pub(super) fn reconnecting_text(language: &str) -> &'static str {
    if is_chinese(language) {
        "刚才的客服已断开，正在为您重新接入，您的排队位置保持不变。"
    } else {
        "Your agent was disconnected; we are connecting you with another agent and you keep your place."
    }
}

/// The note after a bot hands a conversation to a person: what happens, and where
/// the customer stands.
pub(super) fn handoff_text(language: &str, status: QueueStatus) -> String {
    let lead = if is_chinese(language) {
        "好的，正在为您转接人工客服。"
    } else {
        "Sure, I'm passing you to a person, with our conversation so far."
    };
    let minutes = status.estimated_wait_secs.div_ceil(60).max(1);
    match (status.position, is_chinese(language)) {
        (0, true) => format!("{lead}客服马上就到。"),
        (0, false) => format!("{lead} An agent is joining now."),
        (p, true) => format!(
            "{lead}您前面还有 {} 位客户，预计等待约 {minutes} 分钟。",
            p - 1
        ),
        (p, false) => format!(
            "{lead} You are number {p} in the queue; the estimated wait is about {minutes} min."
        ),
    }
}
