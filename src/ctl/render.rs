//! Human output: each view as aligned text. Pure functions of the views, so they are
//! tested without a server.

use super::format::{cell, duration_ms, duration_secs, message_text, time_of_day, utc};
use super::table::Table;
use super::view::{
    AgentCounts, Agents, Bots, Campaigns, Classes, Conversation, Explanation, KnowledgeBase, Kpis,
    Notification, Profile, Sent, Skill, Snapshot, Value, Waiting,
};

/// `skill>=level` pairs, comma-separated; `-` for none.
fn skills(list: &[Skill], sep: &str) -> String {
    if list.is_empty() {
        return "-".to_owned();
    }
    let parts: Vec<String> = list
        .iter()
        .map(|s| format!("{}{sep}{}", cell(&s.skill), s.level))
        .collect();
    parts.join(",")
}

/// Load over capacity for the classes the agent takes: `msg 1/2 email 0/5`.
fn load(load: Classes, capacity: Classes) -> String {
    let parts: Vec<String> = [
        ("msg", load.messaging, capacity.messaging),
        ("email", load.email, capacity.email),
        ("voice", load.voice, capacity.voice),
    ]
    .into_iter()
    .filter(|&(_, l, c)| c > 0 || l > 0)
    .map(|(name, l, c)| format!("{name} {l}/{c}"))
    .collect();
    if parts.is_empty() {
        "-".to_owned()
    } else {
        parts.join(" ")
    }
}

/// `key  value` lines with the values aligned.
fn fields(pairs: &[(&str, String)]) -> String {
    let width = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    pairs
        .iter()
        .map(|(k, v)| format!("{k:width$}  {v}\n"))
        .collect()
}

/// A money-like amount with two decimals.
fn amount(v: f64) -> String {
    format!("{v:.2}")
}

/// The waiting list as a table, with the total.
pub(crate) fn waiting(w: &Waiting, bold: bool) -> String {
    if w.conversations.is_empty() {
        return if w.total == 0 {
            "no conversations waiting\n".to_owned()
        } else {
            format!("{} waiting (none listed)\n", w.total)
        };
    }
    let mut t = Table::new(&[
        "POS",
        "CONVERSATION",
        "QUEUE",
        "TIER",
        "WAITED",
        "CHANNEL",
        "CUSTOMER",
        "SKILLS",
    ])
    .right(&[0, 4]);
    for c in &w.conversations {
        t.row(vec![
            c.position.to_string(),
            cell(&c.conversation_id),
            cell(&c.queue),
            cell(&c.value_tier),
            duration_ms(c.waited_ms),
            c.channel.clone(),
            cell(&c.customer_id),
            skills(&c.required_skills, ">="),
        ]);
    }
    let mut text = t.render(bold);
    let shown = w.conversations.len();
    if (w.total as usize) > shown {
        text.push_str(&format!("{shown} of {} waiting\n", w.total));
    } else {
        text.push_str(&format!("{} waiting\n", w.total));
    }
    text
}

/// "3 agents: 2 available, 1 away, 0 in wrap-up".
fn agent_counts(c: &AgentCounts) -> String {
    format!(
        "{} agent{} signed in: {} available, {} away, {} in wrap-up",
        c.signed_in,
        if c.signed_in == 1 { "" } else { "s" },
        c.available,
        c.away,
        c.wrap_up
    )
}

/// The signed-in agents as a table, with counts by presence.
pub(crate) fn agents(a: &Agents, bold: bool) -> String {
    if a.agents.is_empty() {
        return "no agents signed in\n".to_owned();
    }
    let mut t = Table::new(&[
        "AGENT",
        "NAME",
        "PRESENCE",
        "LOAD",
        "IDLE",
        "SKILLS",
        "CONVERSATIONS",
    ])
    .right(&[4]);
    for agent in &a.agents {
        let busy = agent.load.messaging + agent.load.email + agent.load.voice > 0;
        t.row(vec![
            cell(&agent.agent_id),
            cell(&agent.display_name),
            agent.presence.clone(),
            load(agent.load, agent.capacity),
            if busy {
                "-".to_owned()
            } else {
                duration_ms(agent.idle_ms)
            },
            skills(&agent.skills, ":"),
            cell(&agent.conversation_ids.join(",")),
        ]);
    }
    let mut text = t.render(bold);
    text.push_str(&agent_counts(&AgentCounts::from(a)));
    text.push('\n');
    text
}

/// A value, term by term.
fn value_lines(v: &Value) -> String {
    let mut text = format!(
        "{} value {} (loss value {})",
        cell(&v.formula),
        amount(v.value),
        amount(v.loss_value)
    );
    for term in &v.terms {
        text.push_str(&format!(
            "\n    {} = {} ({})",
            cell(&term.name),
            amount(term.amount),
            cell(&term.how)
        ));
    }
    text
}

/// Why a conversation is where it is: the verdict, the facts behind it, and every
/// agent considered.
pub(crate) fn explanation(e: &Explanation, bold: bool) -> String {
    let mut pairs = vec![
        ("conversation", cell(&e.conversation_id)),
        ("state", e.state.clone()),
        ("agent", cell(&e.agent_id)),
        ("verdict", cell(&e.verdict)),
        (
            "rule",
            if e.rule == "unspecified" {
                "- (not routed yet)".to_owned()
            } else {
                e.rule.replace('_', " ")
            },
        ),
        ("decided", utc(e.decided_at_unix_ms)),
        (
            "position",
            if e.position == 0 {
                "-".to_owned()
            } else {
                e.position.to_string()
            },
        ),
        ("priority", format!("{:.1}", e.priority)),
        ("tier", cell(&e.value_tier)),
        ("boosts", cell(&e.boosts.join(","))),
        ("skills", skills(&e.required_skills, ">=")),
        ("escalation", cell(&e.escalation_step)),
    ];
    if let Some(v) = &e.customer_value {
        pairs.push(("value", value_lines(v)));
    }
    let mut text = fields(&pairs);
    if e.candidates.is_empty() {
        text.push_str("\nno agent signed in to consider\n");
        return text;
    }
    text.push_str(&format!(
        "\n{} of {} signed-in agents considered:\n",
        e.candidates.len(),
        e.candidates_total
    ));
    let mut t = Table::new(&[
        "AGENT", "ELIGIBLE", "ROOM", "PRESENCE", "DECLINED", "IDLE", "SCORE", "HOLDS", "MISSING",
    ])
    .right(&[5, 6]);
    let yes = |b: bool| if b { "yes" } else { "no" }.to_owned();
    for c in &e.candidates {
        t.row(vec![
            cell(&c.agent_id),
            yes(c.eligible),
            yes(c.has_room),
            c.presence.clone(),
            yes(c.declined_recently),
            duration_ms(c.idle_ms),
            format!("{:.1}", c.score),
            yes(c.chosen),
            skills(&c.missing_skills, ">="),
        ]);
    }
    text.push_str(&t.render(bold));
    text
}

/// One conversation with its transcript.
pub(crate) fn conversation(c: &Conversation) -> String {
    let mut pairs = vec![
        ("conversation", cell(&c.conversation_id)),
        ("state", c.state.clone()),
        (
            "channel",
            format!("{} ({})", c.channel, cell(&c.channel_conversation_id)),
        ),
        ("customer", cell(&c.customer_id)),
        ("queue", cell(&c.queue)),
        (
            "tier",
            format!("{} (clv {})", cell(&c.value_tier), amount(c.clv)),
        ),
        ("agent", cell(&c.agent_id)),
        ("waited", duration_ms(c.waited_ms)),
        ("skills", skills(&c.required_skills, ">=")),
        ("intent", cell(&c.intent)),
        ("handoff", cell(&c.handoff_reason)),
    ];
    if c.position > 0 {
        pairs.push(("position", c.position.to_string()));
    }
    if c.satisfaction > 0 {
        pairs.push(("satisfaction", c.satisfaction.to_string()));
    }
    let mut text = fields(&pairs);
    let transcript = c.transcript.as_deref().unwrap_or_default();
    if transcript.is_empty() {
        text.push_str("\nno transcript (it is kept while the conversation is open)\n");
        return text;
    }
    text.push_str("\ntranscript (UTC):\n");
    let width = transcript
        .iter()
        .map(|m| who(m).chars().count())
        .max()
        .unwrap_or(0);
    let indent = " ".repeat(2 + 8 + 2 + width + 2);
    for m in transcript {
        text.push_str(&format!(
            "  {}  {:width$}  {}\n",
            time_of_day(m.at_unix_ms),
            who(m),
            message_text(&m.text, &indent)
        ));
    }
    text
}

/// Who wrote a transcript message: the sender, with the agent's id.
fn who(m: &super::view::Message) -> String {
    if m.agent_id.is_empty() {
        m.sender.clone()
    } else {
        format!("{} {}", m.sender, cell(&m.agent_id))
    }
}

/// The knowledge base now in use.
pub(crate) fn knowledge_base(k: &KnowledgeBase) -> String {
    let from = if k.path.is_empty() {
        "the embedded starter knowledge base".to_owned()
    } else {
        cell(&k.path)
    };
    format!(
        "knowledge base reloaded: {} entries ({}) from {from}\n",
        k.entries,
        cell(&k.languages.join(", "))
    )
}

/// What `Submit` answered: the conversation, then each reply as the customer sees it.
pub(crate) fn sent(s: &Sent, adapter: &str) -> String {
    let mut text = format!(
        "conversation {} ({})\n",
        cell(&s.conversation_id),
        if s.created { "opened" } else { "continued" }
    );
    if s.replies.is_empty() {
        text.push_str(&format!(
            "no reply at once; later messages wait in the mailbox of adapter {}\n",
            cell(adapter)
        ));
    }
    for r in &s.replies {
        let indent = " ".repeat(r.sender.len() + 2);
        text.push_str(&format!(
            "{}: {}\n",
            r.sender,
            message_text(&r.text, &indent)
        ));
        if !r.buttons.is_empty() {
            let labels: Vec<String> = r
                .buttons
                .iter()
                .map(|b| format!("[{}]", cell(&b.label)))
                .collect();
            text.push_str(&format!("{indent}buttons: {}\n", labels.join(" ")));
        }
        if let Some(position) = r.queue_position {
            let estimate = match r.estimated_wait_seconds {
                Some(0) | None => "no estimate (no available agent can serve it)".to_owned(),
                Some(secs) => format!("estimated wait {}", duration_ms(u64::from(secs) * 1000)),
            };
            text.push_str(&format!("{indent}queue: position {position}, {estimate}\n"));
        }
    }
    text
}

/// One refresh of `watch`: the time, counts, then the waiting list.
pub(crate) fn snapshot(s: &Snapshot, addr: &str, bold: bool) -> String {
    let longest = s
        .waiting
        .conversations
        .iter()
        .map(|c| c.waited_ms)
        .max()
        .map_or(String::new(), |ms| format!(", longest {}", duration_ms(ms)));
    let a = &s.agents;
    let mut text = format!(
        "{} UTC  {}  {} waiting{longest}\n{}; load {}\n\n",
        time_of_day(s.at_unix_ms),
        cell(addr),
        s.waiting.total,
        agent_counts(a),
        load(a.load, a.capacity),
    );
    text.push_str(&waiting(&s.waiting, bold));
    text
}

/// Agent KPIs as a table.
pub(crate) fn kpis(k: &Kpis, bold: bool) -> String {
    let mut text = format!(
        "window {} since {} (on time: accepted within {}s)\n",
        duration_ms(u64::from(k.window_secs) * 1000),
        utc(k.since_unix_ms),
        k.accept_within_secs
    );
    if k.agents.is_empty() {
        text.push_str("no agent figures in this window\n");
        return text;
    }
    let mut t = Table::new(&[
        "AGENT",
        "HANDLED",
        "HANDLE",
        "OFFERS",
        "ACCEPTED",
        "ON-TIME",
        "FIRST-REPLY",
        "CSAT",
        "GOOD",
        "IDLE-WAITING",
        "TRANSFERS",
        "COMPLAINTS",
    ])
    .right(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    let pct = |count: u32, rate: f64| {
        if count == 0 {
            "-".to_owned()
        } else {
            format!("{:.0}%", rate * 100.0)
        }
    };
    let mean = |count: u32, secs: f64| {
        if count == 0 {
            "-".to_owned()
        } else {
            duration_secs(secs)
        }
    };
    for a in &k.agents {
        t.row(vec![
            cell(&a.agent_id),
            a.handled.to_string(),
            mean(a.handled, a.handle_seconds_mean),
            a.offers.to_string(),
            a.accepted.to_string(),
            pct(a.offers, a.accepted_within_rate),
            mean(a.first_replies, a.first_reply_seconds_mean),
            if a.satisfaction_answers == 0 {
                "-".to_owned()
            } else {
                format!("{:.1} ({})", a.satisfaction_mean, a.satisfaction_answers)
            },
            pct(a.satisfaction_answers, a.good_review_rate),
            duration_secs(a.idle_while_waiting_seconds),
            a.transfers.to_string(),
            a.complaints.to_string(),
        ]);
    }
    text.push_str(&t.render(bold));
    text
}

/// Connected external bot workers.
pub(crate) fn bots(b: &Bots, bold: bool) -> String {
    if b.bots.is_empty() {
        return "no external bot workers connected (the built-in bot serves)\n".to_owned();
    }
    let mut t = Table::new(&["BOT", "IN-FLIGHT", "LANGUAGES", "CHANNELS"]).right(&[1]);
    let all = |list: &[String]| {
        if list.is_empty() {
            "all".to_owned()
        } else {
            cell(&list.join(","))
        }
    };
    for bot in &b.bots {
        t.row(vec![
            cell(&bot.bot_id),
            format!("{}/{}", bot.in_flight, bot.capacity),
            all(&bot.languages),
            all(&bot.channels),
        ]);
    }
    t.render(bold)
}

/// A customer profile: value, health, identifiers and recent conversations.
pub(crate) fn profile(p: &Profile, bold: bool) -> String {
    let mut pairs = vec![
        ("profile", p.profile_id.to_string()),
        ("created", utc(p.created_at_unix_ms)),
        ("tier", cell(&p.tier)),
        (
            "health",
            match p.health {
                Some(h) if p.at_risk => format!("{h:.0}/100 (at risk)"),
                Some(h) => format!("{h:.0}/100"),
                None => "-".to_owned(),
            },
        ),
        ("contact for", cell(&p.allowed_purposes.join(", "))),
        ("tags", cell(&p.tags.join(", "))),
    ];
    if let Some(v) = &p.value {
        pairs.push(("value", value_lines(v)));
    }
    let mut text = fields(&pairs);
    if !p.identifiers.is_empty() {
        let mut t = Table::new(&["IDENTIFIER", "VALUE", "VERIFIED"]);
        for i in &p.identifiers {
            t.row(vec![
                i.kind.clone(),
                cell(&i.value),
                if i.verified { "yes" } else { "no" }.to_owned(),
            ]);
        }
        text.push('\n');
        text.push_str(&t.render(bold));
    }
    if !p.history.is_empty() {
        let mut t = Table::new(&[
            "STARTED",
            "CONVERSATION",
            "CHANNEL",
            "OUTCOME",
            "AGENT",
            "INTENT",
            "CSAT",
        ]);
        for h in &p.history {
            t.row(vec![
                utc(h.started_at_unix_ms),
                cell(&h.conversation_id),
                h.channel.clone(),
                cell(&h.outcome),
                cell(&h.agent_id),
                cell(&h.intent),
                if h.satisfaction == 0 {
                    "-".to_owned()
                } else {
                    h.satisfaction.to_string()
                },
            ]);
        }
        text.push('\n');
        text.push_str(&t.render(bold));
    }
    text
}

/// Campaigns: one row each.
pub(crate) fn campaigns(c: &Campaigns, bold: bool) -> String {
    if c.campaigns.is_empty() {
        return "no campaigns\n".to_owned();
    }
    let mut t = Table::new(&[
        "ID", "NAME", "KIND", "STATUS", "QUEUE", "PACE/MIN", "WALKED", "SENT", "SKIPPED",
        "REPLIED", "QUEUE SL",
    ])
    .right(&[0, 5, 6, 7, 8, 9, 10]);
    for k in &c.campaigns {
        let status = if k.paused_because.is_empty() {
            k.status.clone()
        } else {
            format!("{} ({})", k.status, k.paused_because)
        };
        t.row(vec![
            k.campaign_id.to_string(),
            cell(&k.name),
            k.kind.clone(),
            status,
            cell(&k.queue),
            k.per_minute.to_string(),
            format!("{}/{}", k.scanned, k.profiles),
            k.sent.to_string(),
            k.skipped.to_string(),
            k.replied.to_string(),
            k.queue_service_level
                .map_or_else(|| "-".to_owned(), |s| format!("{:.0}%", s * 100.0)),
        ]);
    }
    t.render(bold)
}

/// One notification, as name-value lines.
pub(crate) fn notification(n: &Notification, bold: bool) -> String {
    let mut t = Table::new(&["FIELD", "VALUE"]);
    for (name, value) in [
        ("notification", n.notification_id.to_string()),
        ("profile", n.profile_id.to_string()),
        ("kind", n.kind.clone()),
        ("template", cell(&n.template)),
        ("status", n.status.clone()),
        ("since", utc(n.status_at_unix_ms)),
        ("reason", n.reason.clone()),
        ("channel", n.channel.clone()),
        ("conversation", n.conversation_id.clone()),
        ("deadline", utc(n.deadline_unix_ms)),
        ("text", cell(&n.text)),
    ] {
        if !value.is_empty() {
            t.row(vec![name.to_owned(), value]);
        }
    }
    t.render(bold)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::pb;

    #[test]
    fn an_empty_waiting_list_says_so() {
        let w = Waiting::from(&pb::ListWaitingResponse::default());
        assert_eq!(waiting(&w, false), "no conversations waiting\n");
    }

    #[test]
    fn a_queue_note_without_an_estimate_says_why() {
        let s = Sent::from(&pb::SubmitResponse {
            conversation_id: "c-1".into(),
            created: true,
            replies: vec![pb::Delivery {
                body: Some(pb::delivery::Body::Message(pb::OutboundMessage {
                    sender: pb::Sender::System as i32,
                    text: "You are number 1.".into(),
                    queue_status: Some(pb::QueueStatus {
                        position: 1,
                        estimated_wait_seconds: 0,
                    }),
                    ..Default::default()
                })),
                ..Default::default()
            }],
        });
        let text = sent(&s, "ctl");
        assert!(text.starts_with("conversation c-1 (opened)\nsystem: You are number 1.\n"));
        assert!(text.contains("queue: position 1, no estimate"), "{text}");
    }

    #[test]
    fn agents_show_load_over_capacity_for_the_classes_they_take() {
        let a = Agents {
            agents: vec![
                (&pb::AgentView {
                    agent_id: "a1".into(),
                    presence: pb::Presence::Away as i32,
                    capacity: Some(pb::Capacity {
                        messaging: 2,
                        email: 0,
                        voice: 0,
                    }),
                    load: Some(pb::Capacity {
                        messaging: 1,
                        email: 0,
                        voice: 0,
                    }),
                    ..Default::default()
                })
                    .into(),
            ],
        };
        let text = agents(&a, false);
        assert!(text.contains("away      msg 1/2"), "{text}");
        assert!(text.ends_with("1 agent signed in: 0 available, 1 away, 0 in wrap-up\n"));
    }
}
