//! Reading a satisfaction answer the way customers type it: a button's digit, a typed
//! digit (full-width too), a Chinese numeral, stars, a face emoji, or a word in either
//! language. Anything longer than a short answer is not a rating: it is the customer
//! saying something else, and goes on as a message.

/// The scale a survey asks on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scale {
    /// 1 (very dissatisfied) to 5 (very satisfied).
    FivePoint,
    /// Three faces: 1 unhappy, 2 neutral, 3 happy.
    ThreeFaces,
    /// Would you recommend us, 0-10.
    Recommend,
}

impl Scale {
    /// The lowest and highest answer.
    pub fn range(self) -> (u8, u8) {
        match self {
            Scale::FivePoint => (1, 5),
            Scale::ThreeFaces => (1, 3),
            Scale::Recommend => (0, 10),
        }
    }
}

/// Longest text, in characters, still read as an answer.
const MAX_ANSWER_CHARS: usize = 24;

/// Faces and signs, from most unhappy (1) to happiest (5).
const FACES: [(&str, u8); 19] = [
    ("😡", 1),
    ("😠", 1),
    ("🤬", 1),
    ("👎", 1),
    ("😞", 2),
    ("☹", 2),
    ("🙁", 2),
    ("😟", 2),
    ("😕", 2),
    ("😐", 3),
    ("😶", 3),
    ("🙂", 4),
    ("😊", 4),
    ("👍", 4),
    ("😀", 5),
    ("😃", 5),
    ("😄", 5),
    ("😁", 5),
    ("😍", 5),
];

/// Words, longest and negated first ("不满意" holds "满意"), with their 1-5 value.
const WORDS: [(&str, u8); 26] = [
    ("非常不满意", 1),
    ("很不满意", 1),
    ("very dissatisfied", 1),
    ("very unsatisfied", 1),
    ("不满意", 2),
    ("dissatisfied", 2),
    ("unsatisfied", 2),
    ("非常满意", 5),
    ("很满意", 5),
    ("very satisfied", 5),
    ("满意", 4),
    ("satisfied", 4),
    ("差评", 1),
    ("terrible", 1),
    ("awful", 1),
    ("很差", 1),
    ("不好", 2),
    ("bad", 2),
    ("poor", 2),
    ("一般", 3),
    ("average", 3),
    ("okay", 3),
    ("ok", 3),
    ("好评", 5),
    ("excellent", 5),
    ("good", 4),
];

/// Chinese numerals zero to ten.
const NUMERALS: [(char, u8); 12] = [
    ('零', 0),
    ('一', 1),
    ('二', 2),
    ('两', 2),
    ('三', 3),
    ('四', 4),
    ('五', 5),
    ('六', 6),
    ('七', 7),
    ('八', 8),
    ('九', 9),
    ('十', 10),
];

/// The rating `text` gives on `scale`, if it is one.
pub fn read_answer(text: &str, scale: Scale) -> Option<u8> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > MAX_ANSWER_CHARS {
        return None;
    }
    let (lo, hi) = scale.range();
    let in_range = |v: u8| (lo..=hi).contains(&v).then_some(v);
    if let Some(number) = lone_number(text) {
        return in_range(number);
    }
    let stars = text.chars().filter(|c| matches!(c, '⭐' | '★')).count();
    if stars > 0 && scale == Scale::FivePoint {
        return in_range(stars.min(5) as u8);
    }
    let five = FACES
        .iter()
        .find(|(face, _)| text.contains(face))
        .map(|(_, v)| *v)
        .or_else(|| {
            let lower = text.to_lowercase();
            WORDS
                .iter()
                .find(|(word, _)| contains_word(&lower, word))
                .map(|(_, v)| *v)
        })?;
    match scale {
        Scale::FivePoint => Some(five),
        Scale::ThreeFaces => Some(match five {
            1 | 2 => 1,
            3 => 2,
            _ => 3,
        }),
        // A face is no answer to "how likely are you to recommend us, 0-10".
        Scale::Recommend => None,
    }
}

/// The one number in `text` (ASCII or full-width digits, or a Chinese numeral), when
/// there is exactly one and nothing but a unit or punctuation around it.
fn lone_number(text: &str) -> Option<u8> {
    let digit = |c: char| match c {
        '0'..='9' => Some(c as u32 - '0' as u32),
        '０'..='９' => Some(c as u32 - '０' as u32),
        _ => None,
    };
    let mut value: Option<u32> = None;
    let mut runs = 0;
    let mut in_run = false;
    for c in text.chars() {
        if let Some(d) = digit(c) {
            if !in_run {
                runs += 1;
                in_run = true;
                value = Some(0);
            }
            value = value.map(|v| (v * 10 + d).min(1_000));
            continue;
        }
        in_run = false;
        let unit = c.is_whitespace()
            || c.is_ascii_punctuation()
            || "分星颗。！，".contains(c)
            || c.is_alphabetic() && c.is_ascii() && text.len() <= 12;
        if !unit && !NUMERALS.iter().any(|(n, _)| *n == c) {
            return None;
        }
    }
    if runs == 1 {
        return value.and_then(|v| u8::try_from(v).ok());
    }
    if runs > 1 {
        return None;
    }
    let numerals: Vec<u8> = text
        .chars()
        .filter_map(|c| NUMERALS.iter().find(|(n, _)| *n == c).map(|(_, v)| *v))
        .collect();
    match numerals.as_slice() {
        [one] => Some(*one),
        _ => None,
    }
}

/// Whether `word` occurs in `text` on its own (for Latin words: not inside another
/// word, so "ok" is not found in "book"); Chinese words match anywhere.
fn contains_word(text: &str, word: &str) -> bool {
    if !word.is_ascii() {
        return text.contains(word);
    }
    text.match_indices(word).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        let outside = |c: Option<char>| c.is_none_or(|c| !c.is_alphanumeric());
        outside(before) && outside(after)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buttons_digits_numerals_and_stars_read_as_ratings() {
        for (text, want) in [
            ("5", 5),
            ("５", 5),
            (" 4 ", 4),
            ("3分", 3),
            ("五星", 5),
            ("二", 2),
            ("⭐⭐⭐⭐", 4),
            ("★★", 2),
            ("1!", 1),
            ("5 stars", 5),
        ] {
            assert_eq!(read_answer(text, Scale::FivePoint), Some(want), "{text:?}");
        }
    }

    #[test]
    fn faces_and_words_in_both_languages_read_as_ratings() {
        for (text, want) in [
            ("😡", 1),
            ("😞", 2),
            ("😐", 3),
            ("🙂", 4),
            ("😍😍", 5),
            ("非常满意", 5),
            ("满意", 4),
            ("不满意", 2),
            ("很不满意!", 1),
            ("一般吧", 3),
            ("Very satisfied", 5),
            ("it was OK", 3),
            ("terrible", 1),
        ] {
            assert_eq!(read_answer(text, Scale::FivePoint), Some(want), "{text:?}");
        }
    }

    #[test]
    fn three_faces_fold_the_five_point_reading() {
        assert_eq!(read_answer("😡", Scale::ThreeFaces), Some(1));
        assert_eq!(read_answer("一般", Scale::ThreeFaces), Some(2));
        assert_eq!(read_answer("👍", Scale::ThreeFaces), Some(3));
        assert_eq!(read_answer("3", Scale::ThreeFaces), Some(3));
        assert_eq!(read_answer("4", Scale::ThreeFaces), None);
    }

    #[test]
    fn recommendation_takes_numbers_0_to_10_only() {
        assert_eq!(read_answer("10", Scale::Recommend), Some(10));
        assert_eq!(read_answer("0", Scale::Recommend), Some(0));
        assert_eq!(read_answer("十", Scale::Recommend), Some(10));
        assert_eq!(read_answer("11", Scale::Recommend), None);
        assert_eq!(read_answer("😍", Scale::Recommend), None);
    }

    #[test]
    fn other_messages_are_not_ratings() {
        for text in [
            "",
            "6",
            "0",
            "my order 12345 has not arrived",
            "订单号 20231201 还没到",
            "3 or 4",
            "book",
            "我想问一下退款的事情，已经等了三天了还没有到账",
            "hello",
        ] {
            assert_eq!(read_answer(text, Scale::FivePoint), None, "{text:?}");
        }
    }
}
