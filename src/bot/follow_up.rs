//! Follow-ups to an outbound notice: a customer who writes back to a shipping notice
//! with "where is it now?" asks about the notice itself, which no knowledge-base entry
//! knows. The bot recognises such a status question and answers from the notice.

/// Words (lower case, whole) that ask where something is or when it comes.
const STATUS_WORDS: &[&str] = &[
    "where",
    "where's",
    "wheres",
    "status",
    "track",
    "tracking",
    "arrive",
    "arrived",
    "arriving",
    "arrival",
    "eta",
    "delivered",
    "delivery",
    "shipped",
    "update",
];

/// Phrases of two words that ask the same (a word alone would be too weak: "when"
/// or "long" occur in any question).
const STATUS_PHRASES: &[[&str; 2]] = &[
    ["when", "will"],
    ["when", "does"],
    ["when", "do"],
    ["how", "long"],
    ["not", "here"],
    ["not", "yet"],
    ["still", "waiting"],
];

/// Chinese fragments that ask where a parcel is or when it comes.
const STATUS_FRAGMENTS_ZH: &[&str] = &[
    "到哪",
    "在哪",
    "哪里了",
    "什么时候到",
    "啥时候到",
    "何时到",
    "多久到",
    "几天到",
    "还没到",
    "还没收到",
    "没收到",
    "物流",
    "快递",
    "进度",
    "查一下",
    "查询",
    "签收",
    "派送",
    "发货了吗",
];

/// Whether `text` asks where the thing a notice is about is, or when it arrives.
pub fn asks_for_status(text: &str) -> bool {
    if STATUS_FRAGMENTS_ZH.iter().any(|f| text.contains(f)) {
        return true;
    }
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .filter(|w| !w.is_empty())
        .collect();
    words.iter().any(|w| STATUS_WORDS.contains(w))
        || words.windows(2).any(|pair| {
            STATUS_PHRASES
                .iter()
                .any(|p| p[0] == pair[0] && p[1] == pair[1])
        })
}

/// The answer to a status question about a notice: what the notice said, and that a
/// person can help if that does not answer it.
pub fn status_answer(notice_text: &str, chinese: bool) -> String {
    if chinese {
        format!(
            "关于这件事，我们最新的消息是：“{notice_text}”如果这没有解答您的问题，可以转人工客服。"
        )
    } else {
        format!(
            "The latest we have on this is the message we sent you: \"{notice_text}\" If that does not answer it, you can talk to a person."
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_questions_are_recognised_in_both_languages() {
        for text in [
            "where is it now?",
            "Where's my parcel",
            "any update??",
            "when will it get here",
            "how long does shipping take",
            "where-is-it",
            "still waiting for it 😩",
            "到哪了",
            "我的快递什么时候到啊",
            "怎么还没收到",
            "帮我查一下物流",
        ] {
            assert!(asks_for_status(text), "{text}");
        }
    }

    #[test]
    fn other_replies_are_left_to_the_knowledge_base() {
        for text in [
            "thanks!",
            "I want a refund",
            "can I change the address",
            "the item is broken",
            "STOP",
            "谢谢",
            "我要退款",
            "怎么开发票",
        ] {
            assert!(!asks_for_status(text), "{text}");
        }
    }

    #[test]
    fn the_answer_quotes_the_notice() {
        let en = status_answer("Your order A123 has shipped.", false);
        assert!(en.contains("\"Your order A123 has shipped.\"") && en.contains("person"));
        let zh = status_answer("您的订单 A123 已发货。", true);
        assert!(zh.contains("“您的订单 A123 已发货。”") && zh.contains("人工"));
    }
}
