//! Triage before matching: does the customer ask for a person, complain, or just say
//! hello or thanks?
//!
//! Plain phrase rules in Chinese and English, colloquial forms included. They run on
//! the whole message before the knowledge base is searched, so "转人工" or "this is
//! ridiculous!!!" is handed off even when it also names a topic. English phrases match
//! on word boundaries ("rep" does not fire inside "repair"); a few exclusions keep
//! common non-requests quiet ("agent of change", "人工智能").

use rustc_hash::FxHashSet;

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
    "机器回复",
    "别让机器",
    "机器人听不懂",
    "机器人回复",
    "跟机器人",
    "和机器人",
    "机器人客服",
    "别用机器人",
    "不想跟机器人",
    "有人值班",
    "让个人来",
    "叫个人来",
    "你们人呢",
    "客服人呢",
    "来个人",
    "换个人",
    "叫个人",
    "让个人",
    "派个人",
    "人出来",
    "管事的",
    "做主的",
    "说了算的",
    "客服人员",
    "在线客服",
    "客服在哪",
    "客服小姐姐",
    "客服妹",
    "接线员",
    "话务员",
    "当面说",
    "电话联系我",
    "给我回电话",
    "回个电话",
    "听不懂",
    "说不明白",
    "说不清楚",
    "讲不明白",
    "沟通不了",
    "要客服",
    "叫客服",
    "请客服",
    "让客服",
    "换客服",
    "客服出来",
    "客服呢",
    "接通客服",
    "回电",
    "跟机器",
    "和机器",
];

/// Chinese words that contain a human-request phrase but are not one.
const HUMAN_ZH_EXCEPT: &[&str] = &[
    "人工智能",
    "人工费",
    "人工成本",
    "真人秀",
    "扫地机器人",
    "机器人玩具",
    "机器人吸尘器",
    "拖地机器人",
    "陪伴机器人",
    "编程机器人",
];

/// "跟/和 <a person> 说": a Chinese request to talk with someone, as three steps a few
/// characters apart ("我要和前台的人说话", "跟你们的人沟通一下").
const HUMAN_ZH_TALK: [&[&str]; 3] = [
    &["跟", "和", "同", "与"],
    &[
        "人工",
        "真人",
        "活人",
        "工作人员",
        "客服",
        "员工",
        "前台",
        "经理",
        "主管",
        "领导",
        "负责",
        "专员",
        "同事",
        "工程师",
        "技术",
        "售后",
        "你们的人",
    ],
    &[
        "说 ",
        "说话",
        "说一下",
        "说几句",
        "说清",
        "说明白",
        "说说",
        "讲 ",
        "讲话",
        "谈谈",
        "谈一下",
        "聊",
        "沟通",
        "通话",
        "对接",
    ],
];

/// A Chinese verb of putting through with a colleague ("帮我接一下售后的同事").
const HUMAN_ZH_CONNECT: [&[&str]; 2] = [
    &["接", "转", "找", "叫", "安排", "联系", "换"],
    &[
        "同事",
        "工作人员",
        "专员",
        "人工",
        "客服人员",
        "负责人",
        "负责的人",
        "经理",
        "主管",
    ],
];

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
    "customer care",
    "please call me",
    "can you call me",
    "could you call me",
    "someone call me",
    "call me asap",
    "request a call back",
    "a call back from",
    "ring me back",
    "phone me back",
    "call me back",
    "give me a call",
    "than a machine",
    "not a machine",
    "not a robot",
    "no bot",
    "no bots",
    "stupid bot",
    "useless bot",
    "someone in charge",
    "anybody real",
    "anyone real",
    "human support",
    "someone i can talk to",
    "who can i talk to",
    "who can i speak to",
    "who do i talk to",
    "who do i speak to",
    "anyone i can talk to",
    "person i can talk to",
    "dont want a bot",
];

/// Verbs that, followed closely by any person word ([`HUMAN_NOUNS_EN`] or
/// [`GROUP_NOUNS_EN`]), ask for a person.
const HUMAN_VERBS_EN: &[&str] = &[
    "speak", "talk", "chat", "connect", "transfer", "hand", "pass", "escalate", "reach", "contact",
    "put",
];

/// Verbs that ask for a person only with a word for one person ([`HUMAN_NOUNS_EN`]):
/// "get me an agent", not "give the team access".
const WEAK_HUMAN_VERBS_EN: &[&str] = &["get", "want", "need", "call", "send"];

/// Words for one person, typos included.
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
    "humans",
    "employee",
    "colleague",
    "advisor",
    "adviser",
    "specialist",
    "agnet",
    "agant",
    "humna",
    "humen",
    "hooman",
    "persn",
    "preson",
    "perosn",
    "represenative",
    "representitive",
    "represntative",
    "reprasentative",
    "operater",
    "supervisior",
];

/// Asking to be called: a call ([`CALL_ME_EN`]) with a request word
/// ([`CALL_REQUEST_EN`]) and no sign of calls the customer wants to stop or of a call
/// from someone else ([`UNWANTED_CALLS_EN`]): "can someone call me", not "they call me
/// every day" nor "can the rider call me when he arrives".
const CALL_ME_EN: &[&str] = &["call me", "ring me", "phone me"];

/// See [`CALL_ME_EN`].
const CALL_REQUEST_EN: &[&str] = &[
    "can", "could", "please", "pls", "would", "someone", "somebody", "anyone",
];

/// See [`CALL_ME_EN`].
const UNWANTED_CALLS_EN: &[&str] = &[
    "they", "keep", "keeps", "spam", "every", "stop", "why", "dont", "always", "rider", "driver",
    "courier", "delivery", "when", "arrive", "arrives",
];

/// Words for a group of people, asked for only with [`HUMAN_VERBS_EN`] and a "to" or
/// "with" between ("talk to your team"; not "invite people", nor "chat support").
const GROUP_NOUNS_EN: &[&str] = &[
    "people",
    "team",
    "support",
    "anyone",
    "anybody",
    "employees",
    "colleagues",
    "staff",
];

/// Words that may stand between a verb of [`HUMAN_VERBS_EN`] and its person word:
/// "let me speak to one of your agents", "hand me over to a colleague".
const HUMAN_GAP_EN: &[&str] = &[
    "me",
    "to",
    "with",
    "w",
    "a",
    "an",
    "the",
    "one",
    "of",
    "your",
    "you",
    "some",
    "real",
    "live",
    "actual",
    "human",
    "proper",
    "customer",
    "service",
    "support",
    "care",
    "please",
    "pls",
    "plz",
    "directly",
    "right",
    "now",
    "over",
    "through",
    "in",
    "on",
    "back",
    "from",
    "us",
    "someone",
    "member",
    "members",
    "sales",
    "tech",
    "technical",
    "billing",
    "senior",
    "another",
    "other",
    "different",
    "qualified",
    "competent",
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
    "良心",
    "监管局",
    "什么鬼",
    "非常不满",
    "极度不满",
    "很不满",
    "愤怒",
    "愤慨",
    "太失望",
    "什么态度",
    "耍我",
    "耍人",
    "玩我",
    "糊弄",
    "不讲理",
    "乱扣",
    "吸血",
    "吃相难看",
    "神经病",
    "烦死",
    "气炸",
    "无法忍受",
    "失望透顶",
    "骂人",
    "什么玩意",
    "仲裁",
    "黑猫投诉",
    "消保",
    "银监会",
    "金融监管",
    "监管部门",
    "没完没了",
    "跟你们没完",
    "不然没完",
    "诈骗吧",
    "是诈骗",
    "这是诈骗",
    "诈骗犯",
    "要崩溃",
    "搞什么鬼",
    "搞什么啊",
    "他妈的",
    "tmd",
    "过分",
    "敷衍",
    "推脱",
    "推卸",
    "推诿",
    "踢皮球",
    "不负责",
    "欺负",
    "欺骗",
    "被坑",
    "坑了",
    "黑心",
    "黑店",
    "乱收费",
    "霸王条款",
    "走着瞧",
    "等着瞧",
    "后果自负",
    "受够",
    "电视台",
    "维权",
    "卫健委",
    "工信部",
    "银保监",
    "记者",
    "态度差",
    "态度很差",
    "态度太差",
    "态度恶劣",
    "服务态度",
    "挂我电话",
    "差劲",
    "太烂",
    "破店",
    "流氓",
    "强盗",
    "土匪",
    "奸商",
    "无耻",
    "不要脸",
    "尼玛",
    "卧槽",
    "混蛋",
    "王八",
    "傻逼",
    "脑残",
    "智障",
    "废物",
    "白痴",
    "到底怎么回事",
    "凭什么",
    "骗钱",
    "三番五次",
    "一而再",
    "好几次了",
    "第三次了",
    "再也不买",
    "再也不用你们",
    "再也不来",
    "有病吧",
    "你们有病",
    "太过分",
    "欺人太甚",
    "气人",
    "抓狂",
    "受不了",
    "忍不了",
    "我服了",
    "真服了",
    "给我退钱",
    "赶紧退钱",
    "马上退钱",
    "一星",
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
    "reporting you",
    "to the media",
    "take you to court",
    "see you in court",
    "how dare",
    "so mad",
    "really mad",
    "very upset",
    "scandal",
    "how you treat",
    "never recommend",
    "horrendous",
    "dreadful",
    "lousy",
    "worthless",
    "incompetence",
    "compensate me",
    "demand compensation",
    "dare you",
    "insane",
    "absurd",
    "shocking",
    "fix this now",
    "fix it now",
    "sort it out",
    "sort this out",
    "get your act together",
    "what is wrong with you",
    "whats wrong with you",
    "kidding me",
    "are you kidding",
    "final warning",
    "hopeless",
    "shambles",
    "clueless",
    "criminals",
    "ashamed",
    "fuming",
    "how many times",
    "third time",
    "fourth time",
    "fifth time",
    "times now",
    "for the last time",
    "ofcom",
    "fca",
    "ftc",
    "cfpb",
    "fcc",
    "solicitor",
    "lawsuit",
    "journalist",
    "stop lying",
    "you lied",
    "lying to me",
    "lying to us",
    "joke",
    "liar",
    "liars",
    "lied to",
    "1 star",
    "one star",
    "bad review",
    "negative review",
    "avoid you",
    "the press",
    "regulator",
    "ombudsman",
    "consumer protection",
    "better business bureau",
    "bbb",
    "small claims",
    "rude",
    "disgusted",
    "outrageous",
    "unbelievable",
    "shameful",
    "shame on you",
    "nonsense",
    "bullshit",
    "crap",
    "crappy",
    "damn",
    "the hell",
    "fuck",
    "fucking",
    "fck",
    "shit",
    "shitty",
    "garbage",
    "clowns",
    "idiots",
    "idiot",
    "stupid",
    "morons",
    "never again",
    "never buy",
    "never order",
    "never use",
    "done with you",
    "had enough",
    "enough is enough",
    "waste of time",
    "wasted my time",
    "wasting my time",
    "ignored",
    "ignoring me",
    "nobody cares",
    "no one cares",
    "i demand",
    "or else",
    "livid",
    "outraged",
    "appalling",
    "atrocious",
    "unprofessional",
    "thieves",
    "thief",
    "stole my money",
    "stealing my money",
    "cheated",
    "conned",
    "ripped off",
    "daylight robbery",
    "fraudsters",
    "crooks",
    "scamming",
];

/// Phrases that hold an anger marker but are none ("a stupid question", "on-demand").
const COMPLAINT_EXCEPT: &[&str] = &[
    "stupid question",
    "dumb question",
    "tell me a joke",
    "a joke about",
    "no joke",
    "tennis court",
    "food court",
    "court date",
    "滚动",
    "滚筒",
    "滚轮",
    "滚屏",
    "翻滚",
];

/// Anger words that describe what a complaint was about ("a rude courier"): a
/// complaint alone, but not in a calm question about one already made.
const COMPLAINT_MILD: &[&str] = &[
    "rude",
    "ignored",
    "unprofessional",
    "态度差",
    "态度很差",
    "态度太差",
    "态度恶劣",
    "服务态度",
    "敷衍",
    "挂我电话",
];

/// Emoji of anger: a complaint whatever the words.
const ANGRY_EMOJI: &[char] = &['🤬', '🖕'];

/// Emoji of annoyance: each counts as an exclamation mark ("到底发不发货😡😡").
const ANNOYED_EMOJI: &[char] = &['😡', '😠', '👿', '💢', '😤'];

/// English words that, with two or more exclamation marks, make a message angry
/// ("still nothing!!"; not "still not here!!", which may be a plain question).
const EXCLAIMED_NEGATIVE_EN: &[&str] = &["never", "nothing", "nobody", "seriously", "enough"];

/// Chinese words that, with two or more exclamation marks, make a message angry
/// ("到底发不发货！！"; not "还没到！！").
const EXCLAIMED_NEGATIVE_ZH: &[&str] = &["到底", "凭什么", "根本", "再不", "怎么回事", "什么玩意"];

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
    "受理",
    "处理得",
    "怎么看",
    "有人跟进",
    "有人联系",
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
    "how far",
    "far along",
    "looked at",
    "looking at",
    "look into",
    "looked into",
    "looking into",
    "is at",
    "still open",
    "reviewed",
    "news on",
    "what happened with",
    "happened to",
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
    "冒黑烟",
    "冒白烟",
    "冒青烟",
    "冒火",
    "火星子",
    "火花",
    "烧起来",
    "烧着了",
    "烧了个洞",
    "烧焦",
    "焦糊",
    "焦味",
    "糊味",
    "烧糊",
    "浓烟",
    "自燃",
    "被电了",
    "被电到",
    "被电击",
    "电了一下",
    "电到我",
    "电到手",
    "电击",
    "麻手",
    "鼓包",
    "烫伤",
    "烧伤",
    "灼伤",
    "被烫",
    "烫红",
    "好多血",
    "很多血",
    "满手血",
    "满脸血",
    "一地血",
    "血流不止",
    "流血不止",
    "出血不止",
    "血止不住",
    "止不住血",
    "头破血流",
    "现在出血",
    "耳朵出血",
    "昏过去",
    "晕过去",
    "叫不醒",
    "没意识",
    "没有意识",
    "没呼吸",
    "没有呼吸",
    "停止呼吸",
    "窒息",
    "噎住",
    "卡在喉咙",
    "卡住喉咙",
    "胸口疼",
    "胸口痛",
    "胸痛",
    "食物中毒",
    "一氧化碳中毒",
    "煤气中毒",
    "过敏反应",
    "严重过敏",
    "喉咙肿",
    "药吃多了",
    "吃多了药",
    "吃了很多药",
    "一整瓶",
    "安眠药",
    "撑不下去",
    "跳下去",
    "从楼上跳",
    "跳河",
    "结束生命",
    "结束自己",
    "活着没意思",
    "活着没什么意思",
    "死了算了",
    "一了百了",
    "想不开",
    "自残",
    "没法活",
    "威胁说",
    "威胁要",
    "被威胁",
    "受到威胁",
    "找我麻烦",
    "知道我住",
    "知道我家",
    "上门找我",
    "找上门",
    "弄死",
    "杀了",
    "打死",
    "报复",
    "堵我",
    "让我小心",
    "很害怕",
    "好害怕",
    "人身安全",
    "验证码给",
    "被转走",
    "正在被转",
    "钱被转",
    "被人刷",
    "一条接一条",
    "有人在用我",
    "有人用我的",
    "别人在用我",
    "有人登录了我",
    "有人登了我",
    "账号被盗",
    "账户被盗",
    "号被盗",
    "被盗号",
    "被黑了",
    "被骗了",
    "上当受骗",
    "骗走",
    "被诈骗",
    "冒名",
    "被黑客",
    "被骗",
    "骗了我",
    "钓鱼网站",
    "钓鱼链接",
    "钓鱼短信",
    "点了链接",
    "点了一个链接",
    "假客服",
    "假冒客服",
    "自称客服",
    "呕吐不止",
    "不让我下车",
    "锁车门",
    "性骚扰",
    "骚扰我",
    "猥亵",
    "摸我",
    "数据泄露",
    "信息泄露",
    "泄露了",
    "不如死了",
    "想去死",
    "活不了",
    "没有活路",
    "走投无路",
    "绝望",
    "打电话给客服",
    "打电话给你们",
    "安全账户",
    "要我转账",
    "让我转账",
    "勒索",
    "敲诈",
    "有人闯进",
    "闯进来",
    "电线掉",
    "电线断了",
    "电线冒火",
    "数据被删",
    "正在删除",
    "勒索病毒",
    "被入侵",
    "快死了",
    "救我",
    "求救",
];

/// Chinese phrases holding a sign of danger that are none ("打我电话": call me),
/// removed before [`URGENT_ZH`] is looked for.
const URGENT_ZH_EXCEPT: &[&str] = &[
    "打我电话",
    "打我手机",
    "打我的电话",
    "打我的手机",
    "烟雾报警",
];

/// Chinese words for an appliance or its parts, for [`HAZARD_ZH`].
const DEVICE_ZH: &[&str] = &[
    "手机",
    "电池",
    "充电",
    "电脑",
    "笔记本",
    "平板",
    "耳机",
    "插座",
    "插头",
    "插排",
    "插线板",
    "电器",
    "电视",
    "热水器",
    "电热毯",
    "机箱",
    "电线",
    "线头",
    "手表",
    "电源",
    "适配器",
    "吹风机",
    "取暖器",
    "暖风机",
    "电暖",
    "微波炉",
    "电饭煲",
    "空调",
    "冰箱",
    "洗衣机",
    "煤气",
    "燃气",
    "锂电",
    "主板",
    "键盘",
];

/// What an appliance does when it is dangerous ("充电器炸了", "电池鼓得像个包子").
const HAZARD_ZH: &[&str] = &[
    "炸了",
    "炸开",
    "爆开",
    "自己爆了",
    "突然爆了",
    "熔化",
    "融化",
    "鼓起",
    "鼓得",
    "会麻",
    "烫得拿不住",
    "冒火星",
];

/// Chinese words for swallowing; with no card or machine about, a child or a part
/// went down ("宝宝把电池吞了").
const SWALLOW_ZH: &[&str] = &[
    "误食",
    "误吞",
    "吞下",
    "吞进",
    "吞了",
    "咽了",
    "咽下",
    "塞嘴里",
    "塞进嘴",
    "放嘴里",
    "吃进去",
];

/// What a machine swallows: then [`SWALLOW_ZH`] is no emergency ("ATM吞了我的卡").
const SWALLOWED_BY_MACHINE: &[&str] = &[
    "卡",
    "atm",
    "取款机",
    "柜员机",
    "机器",
    "钱",
    "card",
    "machine",
];

/// Chinese signs of fraud under way, as pairs that must both occur: someone posing as
/// staff got a code or money, a card being charged now, a login from elsewhere now.
const FRAUD_ZH: [(&[&str], &[&str]); 3] = [
    (
        &["冒充", "假冒", "自称是"],
        &[
            "验证码",
            "转账",
            "转了",
            "汇款",
            "共享屏幕",
            "屏幕共享",
            "给他",
            "给她",
            "钱",
            "链接",
            "电话",
            "打来",
            "打给",
            "退款",
            "理赔",
            "短信",
            "中奖",
        ],
    ),
    (
        &["盗刷"],
        &[
            "正在",
            "一直",
            "还在",
            "不停",
            "接一条",
            "刚刚",
            "刚才",
            "现在",
        ],
    ),
    (
        &[
            "异地登录",
            "外地登录",
            "别的地方登录",
            "陌生设备",
            "别人登录",
        ],
        &[
            "现在",
            "刚才",
            "刚刚",
            "正在",
            "下单",
            "转账",
            "在用",
            "买东西",
        ],
    ),
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
    "caught fire",
    "catching fire",
    "catch fire",
    "in flames",
    "flames",
    "burst into flames",
    "is smoking",
    "started smoking",
    "was smoking",
    "and smoking",
    "smoking and",
    "its smoking",
    "smoke from",
    "smoke out",
    "smoke pouring",
    "theres smoke",
    "smoke everywhere",
    "smells like burning",
    "smell of burning",
    "burning smell",
    "smells burnt",
    "smells like burnt",
    "burnt plastic",
    "burning plastic",
    "smell burning",
    "sparked",
    "sparking",
    "exploded",
    "explode",
    "exploding",
    "blew up",
    "electric shock",
    "electrocution",
    "got burned",
    "got burnt",
    "burned my",
    "burnt my",
    "burned his",
    "burned her",
    "burns on",
    "burn on",
    "burned by",
    "burnt by",
    "was burned",
    "lots of blood",
    "so much blood",
    "blood everywhere",
    "covered in blood",
    "losing blood",
    "cut her hand",
    "cut his hand",
    "cut my hand",
    "cut herself",
    "cut himself",
    "badly cut",
    "chest pain",
    "chest pains",
    "took too many",
    "too many pills",
    "too many painkillers",
    "poisoned",
    "food poisoning",
    "allergic reaction",
    "anaphylaxis",
    "anaphylactic",
    "fainted",
    "choking",
    "choked",
    "not waking up",
    "wont wake up",
    "hurting myself",
    "harm myself",
    "harming myself",
    "cut myself",
    "cutting myself",
    "ending it all",
    "ending my life",
    "take my own life",
    "killing myself",
    "wanna die",
    "better off dead",
    "no reason to live",
    "jump off",
    "threatening",
    "threatened",
    "threatens",
    "knows where i live",
    "know where i live",
    "come after me",
    "coming after me",
    "going to hurt me",
    "gonna hurt me",
    "will hurt me",
    "kill me",
    "beat me up",
    "scared for my life",
    "afraid for my",
    "in danger",
    "dont feel safe",
    "impersonating",
    "pretending to be",
    "posing as",
    "got my code",
    "gave my code",
    "gave him my code",
    "gave them my code",
    "gave her my code",
    "shared my code",
    "money is leaving",
    "leaving my account",
    "draining my",
    "being drained",
    "drained my",
    "hijacked",
    "taken over my",
    "took over my",
    "account was taken over",
    "hacked",
    "someone is logged",
    "someone logged into",
    "someone is using my",
    "somebody is using my",
    "getting my codes",
    "safe account",
    "asked for my pin",
    "gave my pin",
    "gave them my pin",
    "told them my pin",
    "gave my password",
    "gave my card details",
    "blackmail",
    "blackmailing",
    "extortion",
    "extorting",
    "harassing me",
    "stalker",
    "intruder",
    "badly hurt",
    "hurt badly",
    "seriously hurt",
    "evacuate",
    "live wire",
    "exposed wires",
    "wire is sparking",
    "ransomware",
    "being hacked",
    "deleting everything",
    "need an ambulance",
    "need a doctor",
    "sos",
    "emptied my",
    "emptying my",
    "cleaned out my",
    "cleared out my",
    "wiped out my",
    "been scammed",
    "got scammed",
    "was scammed",
    "clicked a link",
    "clicked on a link",
    "fake website",
    "fake call",
    "called pretending",
    "claiming to be",
    "wont let me out",
    "wont let me leave",
    "locked me in",
    "sexually",
    "groped",
    "touched me",
    "data breach",
    "end myself",
    "unalive",
    "not worth living",
];

/// English phrases holding a sign of danger that are none ("choking hazard", "no
/// smoking"), removed before [`URGENT_EN`] is looked for.
const URGENT_EN_EXCEPT: &[&str] = &[
    "choking hazard",
    "carbon monoxide alarm",
    "hard to swallow",
    "smoking room",
    "non smoking",
    "no smoking",
    "smoking area",
    "smoke alarm",
    "smoke detector",
    "fire alarm",
    "fire extinguisher",
    "fire safety",
    "fire door",
];

/// English words for swelling, for a battery or a device ([`BATTERY_EN`]).
const SWELL_EN: &[&str] = &[
    "swollen",
    "swelling",
    "bulging",
    "swelled",
    "puffed up",
    "puffy",
    "inflated",
];

/// A battery or the devices that hold one.
const BATTERY_EN: &[&str] = &[
    "battery",
    "batteries",
    "power bank",
    "powerbank",
    "phone",
    "laptop",
    "tablet",
    "charger",
    "case",
    "vape",
];

/// A shock ([`SHOCK_EN`]) with something electric about ([`ELECTRIC_EN`]): "a shock
/// from the charger", not "a shock when I saw the bill".
const SHOCK_EN: &[&str] = &[
    "got a shock",
    "shock from",
    "shocked me",
    "gave me a shock",
    "zapped",
];

/// See [`SHOCK_EN`].
const ELECTRIC_EN: &[&str] = &[
    "electric",
    "plug",
    "socket",
    "outlet",
    "charger",
    "wire",
    "wires",
    "cable",
    "appliance",
    "machine",
    "door",
    "metal",
    "tingling",
    "hand",
    "arm",
    "fingers",
    "switch",
    "heater",
];

/// English words for swallowing; with no card or machine about, a child or a part
/// went down.
const SWALLOW_EN: &[&str] = &["swallowed", "swallow", "swallowing"];

/// Someone else ([`INTRUDER_EN`]) doing something with the customer's account
/// ([`INTRUSION_EN`]): an account taken over now.
const INTRUDER_EN: &[&str] = &[
    "someone", "somebody", "they", "hacker", "hackers", "scammer", "scammers", "stranger",
];

/// See [`INTRUDER_EN`].
const INTRUSION_EN: &[&str] = &[
    "logged into",
    "logged in to",
    "is using",
    "using my",
    "placing orders",
    "buying stuff",
    "changed the email",
    "changed my email",
    "changed the password",
    "transferring",
    "moving money",
    "taking money",
    "draining",
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

/// Byte offset of `phrase` in `words`: on word boundaries when it is English, anywhere
/// when Chinese.
fn find_phrase(words: &str, phrase: &str) -> Option<usize> {
    if phrase.is_ascii() {
        find_word(words, phrase)
    } else {
        words.find(phrase)
    }
}

/// Whether one phrase of each step occurs in `text` in order, each after the first
/// starting at most `gap` characters after the previous one ends (substrings: for
/// Chinese).
fn sequence(text: &str, steps: &[&[&str]], gap: usize) -> bool {
    fn from(text: &str, at: usize, steps: &[&[&str]], gap: Option<usize>, next: usize) -> bool {
        let Some((step, rest)) = steps.split_first() else {
            return true;
        };
        for phrase in *step {
            let mut start = at;
            while let Some(i) = text[start..].find(phrase) {
                let found = start + i;
                if gap.is_some_and(|g| text[at..found].chars().count() > g) {
                    break;
                }
                let end = found + phrase.len();
                if from(text, end, rest, Some(next), next) {
                    return true;
                }
                start = end;
            }
        }
        false
    }
    from(text, 0, steps, None, gap)
}

/// A folded message ([`words`]) with the English words and the other characters it
/// holds: a phrase whose first word or character is not among them cannot occur, so
/// most of the phrase lists cost a hash lookup per phrase, not a substring search.
struct Message {
    /// The folded text.
    text: String,
    /// Its ASCII words (split at anything else) and its non-ASCII characters.
    starts: FxHashSet<String>,
}

impl Message {
    /// The folded form of `text` with exceptions (phrases that only look like a
    /// signal) blanked out.
    fn new(text: &str, exceptions: &[&[&str]]) -> Message {
        let mut text = words(text);
        for except in exceptions.iter().flat_map(|list| list.iter()) {
            while let Some(at) = find_phrase(&text, except) {
                text.replace_range(at..at + except.len(), " ");
            }
        }
        let mut starts: FxHashSet<String> = text
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_owned)
            .collect();
        starts.extend(text.chars().filter(|c| !c.is_ascii()).map(String::from));
        Message { text, starts }
    }

    /// Whether the message holds `phrase` ([`has`]).
    fn has(&self, phrase: &str) -> bool {
        let first = if phrase.is_ascii() {
            phrase.split(' ').next().unwrap_or(phrase)
        } else {
            phrase
                .chars()
                .next()
                .map_or(phrase, |c| &phrase[..c.len_utf8()])
        };
        self.starts.contains(first) && has(&self.text, phrase)
    }

    /// Whether the message holds any phrase of `list`.
    fn any(&self, list: &[&str]) -> bool {
        list.iter().any(|p| self.has(p))
    }
}

/// The customer asks to talk to a person.
pub(crate) fn wants_human(text: &str) -> bool {
    let m = Message::new(text, &[HUMAN_ZH_EXCEPT]);
    // "人呢" opening a clause asks where the staff are; "骑手人呢" asks for the rider.
    if m.any(HUMAN_ZH) || m.any(HUMAN_EN) || m.text.contains(" 人呢") {
        return true;
    }
    if sequence(&m.text, &HUMAN_ZH_TALK, 8) || sequence(&m.text, &HUMAN_ZH_CONNECT, 6) {
        return true;
    }
    if m.any(CALL_ME_EN) && m.any(CALL_REQUEST_EN) && !m.any(UNWANTED_CALLS_EN) {
        return true;
    }
    let tokens: Vec<&str> = m.text.split_whitespace().collect();
    // "let me speak to one of your agents", "connect me with staff"; not "agent of
    // change", nor "I want to invite people".
    for (i, t) in tokens.iter().enumerate() {
        let strong = HUMAN_VERBS_EN.contains(t);
        if !strong && !WEAK_HUMAN_VERBS_EN.contains(t) {
            continue;
        }
        let mut preposition = false;
        for j in i + 1..tokens.len().min(i + 8) {
            let n = tokens[j];
            let singular = n.strip_suffix('s').unwrap_or(n);
            let person = HUMAN_NOUNS_EN.contains(&n)
                || HUMAN_NOUNS_EN.contains(&singular)
                || (strong && preposition && GROUP_NOUNS_EN.contains(&n));
            preposition |= matches!(n, "to" | "with" | "w");
            let of_what = tokens.get(j + 1) == Some(&"of")
                && !matches!(tokens.get(j + 2), Some(&("yours" | "your" | "you" | "the")));
            if person && !of_what {
                return true;
            }
            if !HUMAN_GAP_EN.contains(&n) {
                break;
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
    if text.chars().any(|c| ANGRY_EMOJI.contains(&c)) {
        return true;
    }
    let m = Message::new(text, &[COMPLAINT_EXCEPT]);
    let progress = m.any(PROGRESS_ZH) || m.any(PROGRESS_EN);
    let angry = |p: &&str| {
        let calm = COMPLAINT_NOUNS.contains(p) || (progress && COMPLAINT_MILD.contains(p));
        !calm && m.has(p)
    };
    if COMPLAINT_ZH.iter().any(angry) || COMPLAINT_EN.iter().any(angry) {
        return true;
    }
    let bangs = text
        .chars()
        .map(fold)
        .filter(|&c| c == '!' || ANNOYED_EMOJI.contains(&c))
        .count();
    if bangs >= 2 && (m.any(EXCLAIMED_NEGATIVE_ZH) || m.any(EXCLAIMED_NEGATIVE_EN)) {
        return true;
    }
    // "投诉" or "complaint" with no anger: a complaint being made, unless the message
    // asks how one already made stands.
    if m.any(COMPLAINT_NOUNS) && !progress {
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

/// Someone is in danger now, or a crime against the customer is under way ("right
/// now" counts only beside words of loss or attack: "I need it right now" is not).
pub(crate) fn is_urgent(text: &str) -> bool {
    let m = Message::new(text, &[URGENT_ZH_EXCEPT, URGENT_EN_EXCEPT]);
    let swallowed = (m.any(SWALLOW_ZH) || m.any(SWALLOW_EN)) && !m.any(SWALLOWED_BY_MACHINE);
    if m.any(URGENT_ZH)
        || swallowed
        || (m.any(DEVICE_ZH) && m.any(HAZARD_ZH))
        || FRAUD_ZH.iter().any(|(a, b)| m.any(a) && m.any(b))
        || (m.any(SWELL_EN) && m.any(BATTERY_EN))
        || (m.any(INTRUDER_EN) && m.any(INTRUSION_EN))
        || (m.any(SHOCK_EN) && m.any(ELECTRIC_EN))
    {
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
        .any(|p| m.has(p) && (!NOW.contains(p) || m.any(UNDER_WAY)))
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
    fn more_ways_of_asking_for_a_person_and_words_that_only_look_like_it() {
        for yes in [
            "我要跟工作人员说",
            "叫你们负责的人来",
            "机器人听不懂 换个人",
            "能帮我接一下售后的同事吗",
            "有没有客服人员在线",
            "hand me over to a colleague please",
            "I want to talk to your support team",
            "can someone call me back",
            "could somebody from billing call me",
            "operater pls",
            "who can I speak to about this",
        ] {
            assert!(wants_human(yes), "{yes}");
        }
        for no in [
            "I want to invite people to my project",
            "does the chat support emoji",
            "how do I give the team access",
            "how do I send money to someone",
            "快递员打电话给我说放门口了",
            "扫地机器人怎么充电",
            "售后说可以退",
            "退货和退款说明在哪",
            "spam callers call me every day, how do I block them",
            "can the rider call me when he arrives",
            "骑手人呢 怎么还没到",
            "送餐的人来了没",
            "快递员没给我打电话",
            "怎么添加机器人到群里",
            "跟送货的人说放门口就行",
        ] {
            assert!(!wants_human(no), "{no}");
        }
    }

    #[test]
    fn fire_shock_injury_swallowing_threats_and_fraud_under_way_are_urgent() {
        for urgent in [
            "电池鼓包了还发烫",
            "孩子把纽扣电池吞下去了",
            "插座冒火星了",
            "充电器炸了",
            "刚才被电了一下",
            "有人冒充客服让我把验证码发给他",
            "my toddler swallowed a magnet",
            "the battery is swollen",
            "my laptop started smoking",
            "someone logged into my account and is placing orders",
            "I gave them my code and money is leaving my account",
            "got an electric shock from the plug",
            "thinking about ending it all",
            "he said he knows where I live",
        ] {
            assert!(is_urgent(urgent), "{urgent}");
        }
        for calm in [
            "ATM吞了我的卡",
            "the ATM swallowed my card",
            "is this toy a choking hazard",
            "do you have non smoking rooms",
            "请打我电话",
            "手机屏幕黑了",
            "电脑中毒了怎么办",
            "拔完牙出血正常吗",
            "烟雾报警器怎么装",
            "my phone overheats when gaming",
            "手机充电有点烫正常吗",
            "I got a shock when I saw my bill",
            "does my policy cover hurricane damage",
            "I had an accident, how do I make a claim",
            "do you sell carbon monoxide alarms",
        ] {
            assert!(!is_urgent(calm), "{calm}");
        }
    }

    #[test]
    fn more_anger_in_both_languages_and_words_that_only_look_like_it() {
        for angry in [
            "absolute joke of a shop",
            "stop lying to me",
            "I'll leave a 1 star review",
            "三番五次推脱",
            "你们太过分了",
            "到底还发不发货！！",
            "垃圾🤬",
            "still nothing!!",
        ] {
            assert!(is_complaint(angry), "{angry}");
        }
        for calm in [
            "sorry, stupid question: how do I pay",
            "屏幕有划痕😡",
            "I reported a rude driver, has anyone looked at it",
            "页面滚动不了",
            "滚筒洗衣机保修多久",
            "订单还没完成",
            "how do I restore a file from the trash",
            "got it!!",
            "where is it!! still not here",
            "天气恶劣航班取消了怎么办",
            "tell me a joke",
            "有病史能投保吗",
        ] {
            assert!(!is_complaint(calm), "{calm}");
        }
    }

    #[test]
    fn every_english_phrase_can_match_the_folded_text() {
        // `words` lower-cases and drops apostrophes and punctuation: a phrase with
        // any of them would never match.
        let lists: [&[&str]; 21] = [
            CALL_ME_EN,
            CALL_REQUEST_EN,
            UNWANTED_CALLS_EN,
            SHOCK_EN,
            ELECTRIC_EN,
            HUMAN_EN,
            HUMAN_VERBS_EN,
            WEAK_HUMAN_VERBS_EN,
            HUMAN_NOUNS_EN,
            GROUP_NOUNS_EN,
            HUMAN_GAP_EN,
            COMPLAINT_EN,
            COMPLAINT_EXCEPT,
            EXCLAIMED_NEGATIVE_EN,
            PROGRESS_EN,
            URGENT_EN,
            URGENT_EN_EXCEPT,
            SWELL_EN,
            BATTERY_EN,
            INTRUDER_EN,
            INTRUSION_EN,
        ];
        for phrase in lists.iter().flat_map(|l| l.iter()).filter(|p| p.is_ascii()) {
            assert_eq!(words(phrase).trim(), *phrase, "{phrase:?}");
        }
        for phrase in COMPLAINT_MILD {
            assert!(
                COMPLAINT_EN.contains(phrase) || COMPLAINT_ZH.contains(phrase),
                "{phrase}"
            );
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
