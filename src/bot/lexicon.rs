//! The concept lexicon: synonym groups across Chinese and English for customer service
//! and online retail.
//!
//! Each group is one concept: words and phrases customers use for the same thing, in
//! either language, formal or colloquial ("退款", "钱退回来", "refund", "money back").
//! The matcher indexes a concept wherever one of its terms appears, so a question worded
//! one way finds an entry written another way, and a Chinese question can find an
//! English entry.
//!
//! # Where it comes from, and its limits
//!
//! Written by hand as general domain knowledge of after-sales service and e-commerce
//! (orders, delivery, returns, refunds, payment, invoices, accounts, warranty, repair,
//! promotions, membership, devices, shipping abroad), not extracted from any data set
//! and not from the evaluation queries. Its limits:
//!
//! - Groups are coarse: "card" stands for bank cards only; a word with two senses
//!   (e.g. "送" as *deliver* or as *give for free*) sits in the group of the sense that
//!   is most common in customer messages, and segmentation decides the rest
//!   ("送货" is one word).
//! - English terms are stemmed (Snowball) before lookup; multi-word terms match as
//!   adjacent words. Chinese terms are added to the segmenter's dictionary so they are
//!   kept whole.
//! - It knows nothing of a particular shop's products or policies: operators add their
//!   own groups with the knowledge base's top-level `"synonyms"` field.

/// The built-in synonym groups.
#[rustfmt::skip]
pub(crate) const GROUPS: &[&[&str]] = &[
    // Orders and tracking.
    &["订单", "单子", "order", "orders", "purchase"],
    &["快递", "包裹", "parcel", "package", "shipment", "courier", "delivery man"],
    &["物流", "物流信息", "查物流", "跟踪", "追踪", "tracking", "track", "trace", "tracking info"],
    &["快递单号", "运单号", "单号", "物流单号", "tracking number", "waybill"],
    &["到哪了", "到哪", "在哪", "where is", "where's"],
    &["没到", "还没到", "没收到", "没有收到", "收不到", "not arrived", "hasn't arrived", "not received", "never arrived", "didn't get", "missing"],
    &["没动静", "卡住", "stuck", "no update", "not moving"],
    &["下单", "拍下", "买了", "买的", "bought", "placed an order"],
    &["发货", "出库", "寄出", "dispatch", "dispatched", "ship", "shipped", "ships", "send out"],
    // Delivery.
    &["送货", "配送", "派送", "送到", "送", "收到", "到货", "delivery", "deliver", "delivered", "arrive", "arrives", "get it"],
    &["多久", "几天", "多长时间", "多少天", "how long", "how many days", "how soon"],
    &["次日达", "当日达", "加急", "急送", "express", "next day", "next-day", "same day", "overnight", "faster shipping"],
    &["预约", "约", "指定时间", "预约配送", "schedule", "scheduled", "appointment", "book a slot", "time slot"],
    &["周末", "周六", "周日", "星期六", "星期天", "weekend", "saturday", "sunday"],
    &["上午", "下午", "晚上", "白天", "morning", "afternoon", "evening", "daytime"],
    &["不在家", "not home", "nobody home", "away"],
    &["运费", "邮费", "快递费", "配送费", "shipping fee", "shipping cost", "delivery fee", "delivery charge", "postage"],
    &["包邮", "免运费", "免邮", "free shipping", "free delivery"],
    &["地址", "收货地址", "address", "addr", "shipping address"],
    &["搬家", "换地址", "改地址", "moved", "new address", "redirect"],
    &["自提", "门店自提", "快递柜", "驿站", "pickup", "pick up", "collection point", "locker"],
    &["签收", "代收", "signed", "sign for"],
    &["拒收", "refuse", "refused", "reject delivery"],
    &["海外", "国外", "国际", "出国", "abroad", "overseas", "international", "other countries", "foreign"],
    &["关税", "清关", "海关", "customs", "duty", "import tax"],
    // Returns, exchanges, refunds.
    &["退货", "退掉", "寄回", "return", "returns", "send back", "send it back", "ship back"],
    &["七天无理由", "无理由", "no reason", "change of mind", "changed my mind"],
    &["换货", "换一个", "调换", "exchange", "swap", "replacement", "replace"],
    &["退款", "退钱", "钱退回来", "返还", "refund", "refunds", "money back", "get my money"],
    &["到账", "到帐", "入账", "收到钱", "in my account", "credited", "show up", "appear"],
    &["原路退回", "原路", "original payment method", "back to my card"],
    &["不想要", "不要了", "不想买", "后悔", "不需要了", "don't want", "dont want", "no longer want", "regret", "changed mind"],
    &["不合适", "不合身", "尺码不对", "大了", "小了", "doesn't fit", "dont fit", "don't fit", "too big", "too small", "wrong size"],
    &["尺码", "尺寸", "码数", "size", "sizes", "sizing"],
    &["取消", "撤销", "作废", "cancel", "cancelled", "canceled", "cancellation", "call off"],
    &["拍错", "下错", "买错", "by mistake", "wrong order", "mistakenly"],
    // Damage and claims.
    &["破损", "损坏", "压坏", "摔坏", "碎了", "裂了", "裂", "碎", "坏的", "damaged", "damage", "broken", "cracked", "smashed", "shattered", "dented"],
    &["发错", "发错货", "错发", "货不对版", "wrong item", "wrong product", "not what i ordered", "incorrect item"],
    &["少件", "漏发", "缺件", "少了", "missing parts", "missing item", "incomplete"],
    &["包装", "盒子", "箱子", "外包装", "box", "packing", "carton"],
    // Payment.
    &["付款", "支付", "付钱", "买单", "结账", "结算", "pay", "payment", "paying", "checkout", "check out"],
    &["支付方式", "付款方式", "payment method", "payment methods", "payment options", "ways to pay"],
    &["信用卡", "银行卡", "借记卡", "储蓄卡", "卡", "credit card", "debit card", "bank card", "card", "visa", "mastercard"],
    &["支付宝", "花呗", "alipay"],
    &["微信支付", "微信", "wechat pay", "wechat"],
    &["paypal", "apple pay", "google pay", "云闪付", "银联", "unionpay"],
    &["分期", "分期付款", "免息", "instalment", "instalments", "installment", "installments", "pay later", "monthly payments"],
    &["失败", "不成功", "付不了", "付不上", "支付不了", "扣款失败", "fail", "failed", "fails", "failing", "declined", "decline", "rejected", "reject", "unsuccessful", "didn't go through", "won't go through", "not going through"],
    &["余额不足", "钱不够", "insufficient funds", "not enough money"],
    &["风控", "拦截", "冻结", "blocked", "block", "frozen", "fraud check"],
    &["扣款", "扣钱", "扣了两次", "重复扣款", "charged twice", "double charged", "deducted"],
    &["价格", "多少钱", "价钱", "价", "费用", "收费", "要钱", "手续费", "price", "cost", "costs", "how much", "fee", "fees", "charge", "charges", "charged"],
    &["降价", "差价", "保价", "价格保护", "price drop", "price match", "price protection", "cheaper now"],
    &["定金", "订金", "预付款", "deposit", "down payment"],
    &["尾款", "余款", "balance payment", "final payment", "remaining balance"],
    &["预售", "预订", "pre-order", "preorder", "pre order", "presale"],
    &["货到付款", "cash on delivery", "cod"],
    // Invoices.
    &["发票", "开票", "电子发票", "专票", "普票", "invoice", "invoices", "invoicing", "receipt", "receipts", "vat receipt", "fapiao", "tax invoice"],
    &["抬头", "公司名称", "单位名称", "company name", "invoice title", "billing name"],
    &["税号", "纳税人识别号", "tax id", "tax number", "vat number"],
    &["报销", "公司用", "expense", "expenses", "reimbursement"],
    &["重开", "换开", "改发票", "重新开", "reissue", "re-issue", "correct the invoice"],
    &["写错", "填错", "打错", "错了", "输错", "typo", "wrong", "mistake", "incorrect", "misspelled"],
    // Accounts.
    &["账号", "账户", "帐号", "帐户", "用户", "account", "accounts", "profile"],
    &["注销", "销户", "注销账号", "删除账号", "删号", "close account", "close my account", "delete account", "delete my account", "deactivate", "terminate account"],
    &["删除", "删掉", "删了", "清除", "delete", "remove", "erase", "wipe"],
    &["个人数据", "个人信息", "隐私", "数据", "personal data", "my data", "privacy", "gdpr", "personal information"],
    &["密码", "password", "passcode", "pw", "pwd"],
    &["忘记", "忘了", "想不起来", "forgot", "forget", "forgotten", "lost"],
    &["重置", "找回", "重设", "reset", "recover", "change password"],
    &["登录", "登陆", "登不上", "登录不上", "log in", "login", "sign in", "signin", "log on", "can't log in"],
    &["注册", "开户", "sign up", "signup", "register", "create an account"],
    &["验证码", "短信验证", "verification code", "otp", "code not received", "sms code"],
    &["手机号", "绑定手机", "换手机号", "phone number", "mobile number"],
    &["邮箱", "电子邮件", "email", "e-mail", "mail"],
    &["实名", "身份证", "认证", "identity", "id card", "verify identity", "verification"],
    // Warranty and repair.
    &["保修", "质保", "保修期", "三包", "warranty", "guarantee", "covered", "under warranty"],
    &["延保", "延长保修", "extended warranty", "warranty extension", "care plan", "protection plan"],
    &["维修", "修", "修理", "返修", "送修", "repair", "repaired", "fix", "fixed", "service center"],
    &["坏了", "故障", "出问题", "不工作", "用不了", "不能用", "没反应", "死机", "stopped working", "not working", "doesn't work", "broke", "faulty", "defective", "malfunction", "dead"],
    &["进水", "泡水", "water damage", "liquid damage", "got wet"],
    &["人为损坏", "摔", "摔了", "掉地上", "dropped", "accidental damage"],
    &["免费", "不要钱", "白送", "free", "free of charge", "no charge", "for free"],
    // Promotions.
    &["优惠券", "券", "优惠码", "红包", "coupon", "coupons", "voucher", "vouchers", "promo code", "discount code", "promo", "code"],
    &["满减", "折扣", "打折", "优惠", "促销", "活动", "discount", "sale", "deal", "offer", "promotion"],
    &["过期", "失效", "到期", "expired", "expire", "expiry"],
    &["会员", "vip", "plus会员", "membership", "member", "loyalty", "subscription"],
    &["积分", "points", "reward points", "rewards"],
    &["赠品", "送的", "赠送", "附赠", "白送的", "买一送一", "freebie", "free gift", "bonus item", "gift with purchase"],
    &["礼物", "礼品", "送人", "送礼", "gift", "present", "gifts"],
    &["包装纸", "礼盒", "礼品包装", "包起来", "gift wrap", "wrap", "wrapping", "wrapped", "gift box"],
    &["贺卡", "留言卡", "卡片", "祝福语", "message card", "greeting card", "gift message", "note"],
    &["以旧换新", "旧换新", "回收", "折抵", "抵扣", "trade in", "trade-in", "tradein", "recycle"],
    &["估价", "评估", "值多少钱", "valuation", "estimate", "quote", "how much is it worth"],
    &["成色", "新旧", "condition"],
    &["旧", "旧手机", "旧机", "old", "used", "second hand"],
    &["新", "新的", "新机", "新手机", "new", "brand new"],
    &["库存", "有货", "缺货", "补货", "到货通知", "in stock", "out of stock", "restock", "back in stock", "available", "availability"],
    &["秒杀", "抢购", "限时", "flash sale", "limited time"],
    // Products and devices.
    &["手机", "phone", "phones", "smartphone", "mobile", "iphone", "android"],
    &["耳机", "耳塞", "蓝牙耳机", "无线耳机", "earphones", "earphone", "earbuds", "earbud", "headphones", "headphone", "headset", "airpods"],
    &["蓝牙", "bluetooth", "bt"],
    &["配对", "连接", "连不上", "连", "回连", "pair", "pairing", "paired", "connect", "connecting", "connection", "link"],
    &["充电", "充不进电", "充电器", "charger", "battery", "电池", "续航"],
    &["屏幕", "屏", "显示屏", "screen", "display"],
    &["相机", "摄像头", "监控", "camera", "cam", "webcam", "security camera"],
    &["电脑", "笔记本", "主机", "台式机", "computer", "laptop", "pc", "desktop"],
    &["鼠标", "键盘", "mouse", "keyboard"],
    &["手表", "手环", "watch", "smartwatch", "wristband", "tracker"],
    &["平板", "ipad", "tablet"],
    &["电视", "tv", "television"],
    &["固件", "软件", "系统", "版本", "firmware", "software", "version", "os", "system"],
    &["升级", "更新", "update", "updates", "updating", "upgrade", "outdated", "new version"],
    &["设置", "setting", "settings", "configure", "setup", "set up"],
    &["信号", "网络", "运营商", "基站", "sim", "sim卡", "电话卡", "signal", "network", "carrier", "carriers", "reception", "bands", "4g", "5g", "lte", "roaming"],
    &["能用吗", "兼容", "支持", "work with", "compatible", "compatibility", "will it work", "support", "supported"],
    &["说明书", "使用方法", "怎么用", "manual", "instructions", "how to use", "user guide"],
    &["app", "应用", "客户端", "application"],
    // Service and contact.
    &["客服", "售后", "customer service", "after-sales", "after sales", "support team", "help desk"],
    &["电话", "热线", "打电话", "phone call", "hotline", "call", "ring"],
    &["营业时间", "工作时间", "几点", "opening hours", "business hours", "open"],
    &["门店", "实体店", "线下", "store", "shop", "retail store"],
    &["投诉", "complaint", "complain"],
    // Intents in plain words.
    &["修改", "改", "更改", "变更", "改一下", "change", "edit", "modify", "amend", "update details"],
    &["查", "查询", "查看", "看", "check", "look up", "see", "view"],
    &["申请", "提交", "apply", "request", "submit", "file"],
    &["公司", "企业", "单位", "company", "business", "corporate", "firm"],
    // Not "personal" alone: it stems to "person", so "talk to a person" read as 个人
    // and guessed a Chinese account-closure entry ("删除我的账号和个人数据").
    &["个人", "individual", "personal account", "personal use"],
    &["钱", "money", "cash", "funds"],
    &["衣服", "鞋", "鞋子", "裤子", "clothes", "shoes", "shirt", "dress", "jacket", "trousers"],
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lexicon_is_broad_and_every_group_has_synonyms() {
        assert!(GROUPS.len() >= 100, "{} groups", GROUPS.len());
        for g in GROUPS {
            assert!(g.len() >= 2, "{g:?}");
            assert!(
                g.iter()
                    .all(|t| !t.trim().is_empty() && *t == t.to_lowercase()),
                "{g:?}"
            );
        }
    }
}
