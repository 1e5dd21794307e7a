//! Triage before matching: does the customer ask for a person, complain, or just say
//! hello or thanks?
//!
//! Plain phrase rules in Chinese and English, colloquial forms included. They run on
//! the whole message before the knowledge base is searched, so "转人工" or "this is
//! ridiculous!!!" is handed off even when it also names a topic. English phrases match
//! on word boundaries ("rep" does not fire inside "repair"); a few exclusions keep
//! common non-requests quiet ("agent of change", "人工智能").

/// Chinese phrases asking for a person.
const HUMAN_ZH: &[&str] = &[
    "转人工",
    "人工客服",
    "人工服务",
    "人工坐席",
    "找人工",
    "要人工",
    "接人工",
    "人工",
    "真人",
    "活人",
    "转客服",
    "找客服",
    "联系客服",
    "客服电话",
    "找个人",
    "叫你们经理",
    "找你们经理",
    "找经理",
    "找领导",
    "找主管",
    "不要机器人",
    "不跟机器人",
    "你是机器人",
    "别自动回复",
];

/// Chinese words that contain a human-request phrase but are not one.
const HUMAN_ZH_EXCEPT: &[&str] = &["人工智能", "人工费", "人工成本", "真人秀", "扫地机器人"];

/// English phrases asking for a person, matched as whole words.
const HUMAN_EN: &[&str] = &[
    "real person",
    "live person",
    "actual person",
    "real human",
    "human being",
    "live agent",
    "human agent",
    "a human",
    "to human",
    "representative",
    "operator",
    "customer service rep",
    "speak to someone",
    "talk to someone",
    "speak with someone",
    "talk with someone",
    "speak to somebody",
    "talk to somebody",
    "someone real",
    "are you a bot",
    "are you a robot",
    "not a bot",
    "stop the bot",
    "staff member",
    "member of staff",
    "transfer me",
    "speak to a manager",
    "speak to your manager",
    "your supervisor",
];

/// Verbs that, followed closely by a person word, ask for a person.
const HUMAN_VERBS_EN: &[&str] = &[
    "speak", "talk", "chat", "connect", "transfer", "put", "get", "want", "need", "give", "call",
];

/// Person words for [`HUMAN_VERBS_EN`].
const HUMAN_NOUNS_EN: &[&str] = &[
    "human",
    "person",
    "agent",
    "staff",
    "someone",
    "somebody",
    "representative",
    "rep",
    "operator",
    "manager",
    "supervisor",
    "people",
    "humans",
];

/// Words a one-word request may carry around its person word ("agent please").
const REQUEST_FILLER_EN: &[&str] = &[
    "please", "pls", "plz", "i", "want", "need", "an", "a", "the", "to", "me", "now", "asap",
    "live", "real", "customer", "service",
];

/// Chinese complaint and anger markers.
const COMPLAINT_ZH: &[&str] = &[
    "投诉",
    "气死",
    "生气",
    "火大",
    "律师",
    "起诉",
    "法院",
    "告你们",
    "举报",
    "差评",
    "垃圾",
    "骗子",
    "骗人",
    "坑人",
    "太坑",
    "坑爹",
    "太差",
    "无语",
    "什么破",
    "破玩意",
    "滚",
    "消协",
    "消费者协会",
    "12315",
    "工商局",
    "曝光",
    "答非所问",
    "恶心",
    "离谱",
    "忍无可忍",
    "欺诈",
    "退一赔三",
    "找媒体",
    "烂透",
    "服了你们",
];

/// English complaint and anger markers, matched as whole words.
const COMPLAINT_EN: &[&str] = &[
    "complain",
    "complaint",
    "complaints",
    "complaining",
    "complained",
    "terrible",
    "ridiculous",
    "unacceptable",
    "lawyer",
    "lawyers",
    "attorney",
    "sue",
    "legal action",
    "scam",
    "scammers",
    "fraud",
    "worst",
    "awful",
    "useless",
    "pathetic",
    "disgusting",
    "furious",
    "angry",
    "pissed",
    "rip off",
    "ripoff",
    "wtf",
    "horrible",
    "incompetent",
    "disgrace",
    "fed up",
    "sick of",
    "trading standards",
    "report you",
];

/// Words that name a complaint, claim or dispute without anger in them. Alone they
/// are a complaint being made; with [`PROGRESS_ZH`] or [`PROGRESS_EN`] and no anger,
/// they are a calm question about one already made ("我的投诉处理到哪了").
const COMPLAINT_NOUNS: &[&str] = &["投诉", "complaint", "complaints", "complained"];

/// Chinese ways of asking where something stands.
const PROGRESS_ZH: &[&str] = &[
    "进度",
    "进展",
    "处理到哪",
    "到哪一步",
    "到哪了",
    "怎么样了",
    "有结果",
    "结果出来",
    "什么结果",
    "处理结果",
    "查询",
    "查一下",
    "查查",
    "状态",
    "处理了吗",
    "处理了没",
    "处理好了吗",
    "受理了吗",
    "受理了没",
    "回复了吗",
    "有回复",
    "有没有回复",
    "多久",
    "什么时候",
    "跟进",
    "编号",
    "工单",
];

/// English ways of asking where something stands, matched as whole words.
const PROGRESS_EN: &[&str] = &[
    "status",
    "progress",
    "update",
    "updates",
    "any news",
    "follow up",
    "followup",
    "check on",
    "checking on",
    "track",
    "where is",
    "where's",
    "wheres",
    "how long",
    "when will",
    "when can",
    "ticket",
    "reference",
    "case number",
    "heard back",
    "hear back",
    "outcome",
    "been handled",
    "being handled",
    "resolved yet",
];

/// Chinese signs that someone is in danger now, or that a crime against the customer
/// is under way: a person must take these at once, whatever topic they also name.
const URGENT_ZH: &[&str] = &[
    "救命",
    "救救",
    "报警",
    "报了警",
    "打110",
    "打120",
    "打119",
    "急救",
    "救护车",
    "晕倒",
    "昏倒",
    "昏迷",
    "不省人事",
    "大出血",
    "流了很多血",
    "吐血",
    "呼吸困难",
    "喘不上气",
    "喘不过气",
    "心脏病",
    "中风",
    "抽搐",
    "过敏休克",
    "不想活",
    "活不下去",
    "想死",
    "去死",
    "自杀",
    "轻生",
    "寻短见",
    "割腕",
    "跳楼",
    "了结自己",
    "伤害自己",
    "被跟踪",
    "一直跟着我",
    "有人跟着我",
    "跟踪我",
    "威胁我",
    "恐吓",
    "要杀",
    "打我",
    "被打",
    "家暴",
    "抢劫",
    "被抢",
    "绑架",
    "被绑",
    "拿刀",
    "持刀",
    "有刀",
    "有枪",
    "着火",
    "起火",
    "失火",
    "火灾",
    "冒烟",
    "煤气味",
    "燃气泄漏",
    "漏气",
    "触电",
    "爆炸",
    "地震",
    "被困",
    "困住",
    "困在",
    "溺水",
    "走失",
    "孩子不见",
    "正在被盗",
    "正在盗刷",
    "还在扣钱",
    "一直在扣钱",
    "钱一直在少",
];

/// English signs that someone is in danger now, or that a crime against the customer
/// is under way, matched as whole words.
const URGENT_EN: &[&str] = &[
    "help me please",
    "please help me",
    "emergency",
    "ambulance",
    "call the police",
    "called the police",
    "call 911",
    "call 999",
    "call 112",
    "unconscious",
    "passed out",
    "collapsed",
    "not breathing",
    "can't breathe",
    "cant breathe",
    "cannot breathe",
    "heart attack",
    "stroke",
    "seizure",
    "overdose",
    "bleeding",
    "vomiting blood",
    "suicide",
    "suicidal",
    "kill myself",
    "end my life",
    "end it all",
    "want to die",
    "don't want to live",
    "dont want to live",
    "hurt myself",
    "self harm",
    "following me",
    "followed me",
    "being followed",
    "stalking me",
    "threatening me",
    "threatened me",
    "attacked",
    "assaulted",
    "robbed",
    "mugged",
    "kidnapped",
    "hostage",
    "with a gun",
    "has a gun",
    "pulled a gun",
    "with a knife",
    "has a knife",
    "pulled a knife",
    "on fire",
    "fire in",
    "smoke coming",
    "there is smoke",
    "full of smoke",
    "smell gas",
    "smells of gas",
    "gas leak",
    "sparks",
    "electrocuted",
    "explosion",
    "earthquake",
    "evacuated",
    "trapped",
    "drowning",
    "missing child",
    "right now",
    "as we speak",
    "happening now",
];

/// Chinese greetings, thanks and acknowledgements.
const SMALL_TALK_ZH: &[&str] = &[
    "你好",
    "您好",
    "早上好",
    "早安",
    "中午好",
    "下午好",
    "晚上好",
    "晚安",
    "哈喽",
    "嗨",
    "在吗",
    "在不在",
    "有人吗",
    "谢谢",
    "多谢",
    "感谢",
    "谢了",
    "辛苦了",
    "好的",
    "知道了",
    "明白了",
    "拜拜",
    "再见",
    "没事了",
    "没问题了",
    "客服",
    "亲",
    "早",
    "好",
    "嗯",
    "哦",
    "行",
];

/// English greetings, thanks and acknowledgements (whole words).
const SMALL_TALK_EN: &[&str] = &[
    "good morning",
    "good afternoon",
    "good evening",
    "good night",
    "thank you",
    "thanks",
    "thank u",
    "thx",
    "ty",
    "cheers",
    "hi",
    "hello",
    "hey",
    "hiya",
    "yo",
    "morning",
    "ok",
    "okay",
    "bye",
    "goodbye",
    "see you",
    "anyone there",
    "is anyone there",
    "you there",
    "great",
    "cool",
    "got it",
    "appreciate it",
    "much appreciated",
    "nice",
    "awesome",
];

/// What may remain of a small-talk message: particles and fillers.
const SMALL_TALK_FILLER: &[&str] = &[
    "呀", "啊", "哈", "呢", "吧", "啦", "哦", "嘛", "哈哈", "呵呵", "嘿", "喔", "噢", "哟", "了",
    "你", "您", "们", "so", "much", "very", "a", "lot", "there", "all", "guys", "team", "again",
    "you", "u", "for", "the", "help", "your", "and", "again", "a lot", "o",
];

/// The message with English letters lower-cased, full-width ASCII folded, and
/// everything that is not a letter, digit or ideograph replaced by one space, padded
/// with a space on each side.
fn words(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push(' ');
    for c in text.chars() {
        let c = fold(c);
        if c.is_alphanumeric() || c == '\'' {
            if c != '\'' {
                out.extend(c.to_lowercase());
            }
        } else if !out.ends_with(' ') {
            out.push(' ');
        }
    }
    if !out.ends_with(' ') {
        out.push(' ');
    }
    out
}

/// Folds full-width ASCII forms (U+FF01..U+FF5E) and the ideographic space to ASCII.
pub(crate) fn fold(c: char) -> char {
    match c as u32 {
        0xFF01..=0xFF5E => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        0x3000 => ' ',
        _ => c,
    }
}

/// Whether the padded word string contains `phrase` as whole words (English) or as a
/// substring (Chinese).
fn has(words: &str, phrase: &str) -> bool {
    if phrase.is_ascii() {
        find_word(words, phrase).is_some()
    } else {
        words.contains(phrase)
    }
}

/// Byte offset of `phrase` in `words` on word boundaries.
fn find_word(words: &str, phrase: &str) -> Option<usize> {
    let bytes = words.as_bytes();
    let mut from = 0;
    while let Some(at) = words[from..].find(phrase).map(|i| i + from) {
        let end = at + phrase.len();
        let before = at == 0 || bytes[at - 1] == b' ' || !bytes[at - 1].is_ascii();
        let after = end == bytes.len() || bytes[end] == b' ' || !bytes[end].is_ascii();
        if before && after {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// The customer asks to talk to a person.
pub(crate) fn wants_human(text: &str) -> bool {
    let w = words(text);
    let mut zh = w.clone();
    for except in HUMAN_ZH_EXCEPT {
        zh = zh.replace(except, " ");
    }
    if HUMAN_ZH.iter().any(|p| zh.contains(p)) {
        return true;
    }
    if HUMAN_EN.iter().any(|p| has(&w, p)) {
        return true;
    }
    let tokens: Vec<&str> = w.split_whitespace().collect();
    // "let me speak to one of your agents", "connect me with staff"; not "agent of change".
    for (i, t) in tokens.iter().enumerate() {
        if HUMAN_VERBS_EN.contains(t) {
            let end = tokens.len().min(i + 7);
            let found = (i + 1..end).any(|j| {
                let n = tokens[j];
                (HUMAN_NOUNS_EN.contains(&n) || HUMAN_NOUNS_EN.contains(&n.trim_end_matches('s')))
                    && tokens.get(j + 1) != Some(&"of")
            });
            if found {
                return true;
            }
        }
    }
    // "agent", "human please", "live agent now".
    let content: Vec<&&str> = tokens
        .iter()
        .filter(|t| !REQUEST_FILLER_EN.contains(t))
        .collect();
    !content.is_empty() && content.len() <= 2 && content.iter().all(|t| HUMAN_NOUNS_EN.contains(t))
}

/// The message is a complaint or angry.
pub(crate) fn is_complaint(text: &str) -> bool {
    let w = words(text);
    let angry = |p: &&str| !COMPLAINT_NOUNS.contains(p) && has(&w, p);
    if COMPLAINT_ZH.iter().any(angry) || COMPLAINT_EN.iter().any(angry) {
        return true;
    }
    // "投诉" or "complaint" with no anger: a complaint being made, unless the message
    // asks how one already made stands.
    if COMPLAINT_NOUNS.iter().any(|p| has(&w, p)) && !asks_progress(&w) {
        return true;
    }
    // "!!!", "！！！", "?!?" and the like.
    let (mut run, mut bang) = (0, false);
    for c in text.chars().map(fold) {
        if c == '!' || c == '?' {
            run += 1;
            bang |= c == '!';
            if run >= 3 && bang {
                return true;
            }
        } else if !c.is_whitespace() {
            (run, bang) = (0, false);
        }
    }
    // Shouting: three or more words of capitals.
    let shouted = text
        .split(|c: char| !c.is_ascii_alphabetic())
        .filter(|w| w.len() >= 2 && w.chars().all(|c| c.is_ascii_uppercase()))
        .count();
    let lower = text.chars().filter(char::is_ascii_lowercase).count();
    shouted >= 3 && lower < 3
}

/// Whether the padded word string asks where something stands.
fn asks_progress(words: &str) -> bool {
    PROGRESS_ZH.iter().any(|p| words.contains(p)) || PROGRESS_EN.iter().any(|p| has(words, p))
}

/// Someone is in danger now, or a crime against the customer is under way ("right
/// now" counts only beside words of loss or attack: "I need it right now" is not).
pub(crate) fn is_urgent(text: &str) -> bool {
    let w = words(text);
    if URGENT_ZH.iter().any(|p| w.contains(p)) {
        return true;
    }
    const NOW: [&str; 3] = ["right now", "as we speak", "happening now"];
    const UNDER_WAY: &[&str] = &[
        "hacked",
        "stolen",
        "stealing",
        "steal",
        "taking",
        "draining",
        "disappearing",
        "using my",
        "logged in",
        "logging in",
        "locked out",
        "deleting",
        "downloading",
        "transferring",
        "charging",
        "scam",
        "scammed",
        "fraud",
    ];
    URGENT_EN
        .iter()
        .any(|p| has(&w, p) && (!NOW.contains(p) || UNDER_WAY.iter().any(|u| has(&w, u))))
}

/// The whole message is a greeting, thanks or acknowledgement and nothing else.
pub(crate) fn is_small_talk(text: &str) -> bool {
    let mut w = words(text);
    let mut found = false;
    for p in SMALL_TALK_EN {
        while let Some(at) = find_word(&w, p) {
            w.replace_range(at..at + p.len(), " ");
            found = true;
        }
    }
    for p in SMALL_TALK_ZH {
        if w.contains(p) {
            w = w.replace(p, " ");
            found = true;
        }
    }
    found
        && w.split_whitespace().all(|rest| {
            SMALL_TALK_FILLER.contains(&rest)
                || rest
                    .chars()
                    .all(|c| SMALL_TALK_FILLER.iter().any(|f| f.chars().eq([c])))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_for_a_person_in_both_languages() {
        for yes in [
            "转人工",
            "人工客服",
            "找个活人跟我说话",
            "我要转人工！",
            "能不能找个真人",
            "agent",
            "Agent please",
            "real person",
            "connect me to a staff member please",
            "can I speak to someone",
            "I want to talk to a human",
            "HUMAN",
            "let me speak to one of your agents",
            "get me a representative now",
        ] {
            assert!(wants_human(yes), "{yes}");
        }
        for no in [
            "where is my order",
            "人工智能音箱怎么配对",
            "he is an agent of change",
            "my repair",
            "退货",
            "the courier person left it outside",
            "refund",
        ] {
            assert!(!wants_human(no), "{no}");
        }
    }

    #[test]
    fn danger_and_crimes_under_way_are_urgent_in_both_languages() {
        for urgent in [
            "救命 有人在撬我家门",
            "我爸突然晕倒了 怎么办",
            "卡里的钱一直在少 是不是被盗了",
            "活不下去了",
            "厨房有很浓的煤气味",
            "my dad collapsed in the lobby",
            "someone is using my card right now",
            "there is smoke coming out of the charger",
            "I think I want to end my life",
            "a man with a knife is outside",
            "we are trapped in the lift",
        ] {
            assert!(is_urgent(urgent), "{urgent}");
        }
        for calm in [
            "怎么修改密码",
            "我的卡丢了 怎么挂失",
            "I need the invoice right now",
            "how do I report a stolen card",
            "where is my order",
            "火锅店的优惠券怎么用",
        ] {
            assert!(!is_urgent(calm), "{calm}");
        }
    }

    #[test]
    fn a_calm_question_about_a_complaint_is_not_a_complaint() {
        for calm in [
            "我上周的投诉处理到哪一步了",
            "投诉有结果了吗",
            "想查一下投诉进度",
            "what's the status of my complaint",
            "any update on the complaint I made on Monday?",
            "I complained last week, when will I hear back",
        ] {
            assert!(!is_complaint(calm), "{calm}");
        }
        for angry in [
            "投诉了三次还没结果 气死了",
            "我要投诉你们",
            "I want to file a complaint",
            "what is the status of my complaint?!?!",
            "this is ridiculous, any update on my complaint",
            "STATUS OF MY COMPLAINT NOW",
        ] {
            assert!(is_complaint(angry), "{angry}");
        }
    }

    #[test]
    fn complaints_and_anger_in_both_languages() {
        for yes in [
            "气死了",
            "我要投诉",
            "再不处理我找律师",
            "给差评",
            "什么垃圾服务",
            "this is terrible",
            "ridiculous",
            "I want to complain",
            "my lawyer will hear of this",
            "where is my order!!!",
            "还不发货！！！",
            "WHERE IS MY ORDER",
            "why?!?",
        ] {
            assert!(is_complaint(yes), "{yes}");
        }
        for no in [
            "where is my order?",
            "怎么退货",
            "Hi!",
            "I love the new USB C port",
            "why???",
        ] {
            assert!(!is_complaint(no), "{no}");
        }
    }

    #[test]
    fn greetings_and_thanks_are_small_talk_and_questions_are_not() {
        for yes in [
            "早上好呀",
            "你好",
            "在吗？",
            "hi",
            "Hello there!",
            "thanks",
            "谢谢啦",
            "thank you so much",
            "ok thx",
            "嗯嗯好的",
        ] {
            assert!(is_small_talk(yes), "{yes}");
        }
        for no in [
            "hi, where is my order",
            "你好，怎么退货",
            "refund",
            "",
            "👍",
            "history",
        ] {
            assert!(!is_small_talk(no), "{no}");
        }
    }
}
