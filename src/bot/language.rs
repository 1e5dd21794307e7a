//! Language of a customer message, and language tags.
//!
//! Adapters may send a language tag ("zh-CN", "en_US", "") or none; the bot works with
//! the primary subtag ("zh", "en") and, when there is none, looks at the text itself.

/// Whether `c` is a CJK ideograph (the unified blocks and their extensions A and B, and
/// the compatibility block).
pub(crate) fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2A6DF)
}

/// The language of a message: "zh" when CJK dominates, else "en".
///
/// One ideograph carries about as much as a short English word, so CJK dominates when
/// the ideographs outnumber a third of the Latin letters ("deposit交了 能退吗" is "zh").
pub fn detect_language(text: &str) -> &'static str {
    let (mut cjk, mut latin) = (0usize, 0usize);
    for c in text.chars() {
        if is_cjk(c) {
            cjk += 1;
        } else if c.is_alphabetic() {
            latin += 1;
        }
    }
    if cjk > 0 && cjk * 3 >= latin {
        "zh"
    } else {
        "en"
    }
}

/// The primary subtag of a language tag, lower-cased: "zh-CN" → "zh", "EN_us" → "en";
/// "" stays "".
pub fn primary_language(tag: &str) -> String {
    tag.trim()
        .split(['-', '_'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// The language to answer in: the tag's primary subtag, or the detected language when
/// the tag is empty.
pub(crate) fn resolve(tag: &str, text: &str) -> String {
    let primary = primary_language(tag);
    if primary.is_empty() {
        detect_language(text).to_owned()
    } else {
        primary
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cjk_dominates_or_english() {
        assert_eq!(detect_language("我的订单到哪了"), "zh");
        assert_eq!(detect_language("where is my order"), "en");
        assert_eq!(detect_language("deposit交了 现在不想买了 能退吗"), "zh");
        assert_eq!(detect_language("trade in怎么弄"), "zh");
        assert_eq!(
            detect_language("my order from 京东 never arrived at all"),
            "en"
        );
        assert_eq!(detect_language(""), "en");
        assert_eq!(detect_language("👍!!"), "en");
    }

    #[test]
    fn tags_are_reduced_to_their_primary_subtag() {
        assert_eq!(primary_language("zh-CN"), "zh");
        assert_eq!(primary_language("EN_us"), "en");
        assert_eq!(primary_language(""), "");
        assert_eq!(resolve("", "退货"), "zh");
        assert_eq!(resolve("en-GB", "退货"), "en");
    }
}
