//! Conversion between the wire contract and the routing core, with every validation
//! of client input in one place. Errors name the field as the contract spells it.

use std::sync::Arc;

use tonic::Status;

use super::pb;
use super::status::invalid;
use crate::config::Limits;
use crate::customer::{ClaimedIdentity, ContactPurpose, Identity, IdentityKind};
use crate::routing::engine::{AnsweredNotice, CustomerSummary};
use crate::routing::{
    self, AdapterId, AgentNotice, Boost, Boosts, Channel, CustomerNotice, CustomerNoticeBody,
    EndReason, OfferDetails, PerClass, Presence, Sender, TransferRequest, ValueFacts,
};

/// Longest id accepted (agent, adapter, client message, request ids).
pub const MAX_ID_BYTES: usize = 128;
/// Longest channel conversation id or customer id.
pub const MAX_EXTERNAL_ID_BYTES: usize = 256;
/// Longest display name or decline reason.
pub const MAX_NAME_BYTES: usize = 256;
/// Longest skill name.
pub const MAX_SKILL_BYTES: usize = 64;
/// Longest language tag.
pub const MAX_LANGUAGE_BYTES: usize = 16;
/// Most skills required by one message.
pub const MAX_REQUIRED_SKILLS: usize = 16;
/// Most skills one agent signs in with.
pub const MAX_AGENT_SKILLS: usize = 64;
/// Highest capacity per channel class.
pub const MAX_CAPACITY: u32 = 100;

/// A required id: not empty, not too long.
pub fn id(field: &str, value: &str, max: usize) -> Result<(), Status> {
    if value.is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    bounded(field, value, max)
}

/// Checked tags: at most [`crate::customer::tags::MAX_TAGS`], each a valid tag; the
/// error names the field and the tag's place (`add[2]`).
pub fn tags(field: &str, given: &[String]) -> Result<Vec<crate::customer::Tag>, Status> {
    let limit = crate::customer::tags::MAX_TAGS;
    if given.len() > limit {
        return Err(Status::invalid_argument(format!(
            "{field}: at most {limit} tags"
        )));
    }
    given
        .iter()
        .enumerate()
        .map(|(i, t)| {
            crate::customer::Tag::new(t)
                .map_err(|e| Status::invalid_argument(format!("{field}[{i}]: {e}")))
        })
        .collect()
}

/// An optional text: not too long.
pub fn bounded(field: &str, value: &str, max: usize) -> Result<(), Status> {
    if value.len() > max {
        return Err(invalid(field, format_args!("longer than {max} bytes")));
    }
    Ok(())
}

/// Message text: 1 byte up to the configured limit.
pub fn text(field: &str, value: &str, limits: &Limits) -> Result<(), Status> {
    if value.is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    bounded(field, value, limits.max_text_bytes)
}

/// A channel from its wire number.
pub fn channel(field: &str, value: i32) -> Result<Channel, Status> {
    let channel = match pb::Channel::try_from(value) {
        Ok(pb::Channel::Web) => Channel::Web,
        Ok(pb::Channel::App) => Channel::App,
        Ok(pb::Channel::WechatOfficialAccount) => Channel::WechatOfficialAccount,
        Ok(pb::Channel::WechatMiniProgram) => Channel::WechatMiniProgram,
        Ok(pb::Channel::Weibo) => Channel::Weibo,
        Ok(pb::Channel::Douyin) => Channel::Douyin,
        Ok(pb::Channel::Email) => Channel::Email,
        Ok(pb::Channel::Sms) => Channel::Sms,
        Ok(pb::Channel::Voice) => Channel::Voice,
        Ok(pb::Channel::Other) => Channel::Other,
        Ok(pb::Channel::Unspecified) => return Err(invalid(field, "must be set")),
        Err(_) => return Err(invalid(field, format_args!("unknown channel {value}"))),
    };
    Ok(channel)
}

/// A channel's wire number.
pub fn channel_to_pb(channel: Channel) -> pb::Channel {
    match channel {
        Channel::Web => pb::Channel::Web,
        Channel::App => pb::Channel::App,
        Channel::WechatOfficialAccount => pb::Channel::WechatOfficialAccount,
        Channel::WechatMiniProgram => pb::Channel::WechatMiniProgram,
        Channel::Weibo => pb::Channel::Weibo,
        Channel::Douyin => pb::Channel::Douyin,
        Channel::Email => pb::Channel::Email,
        Channel::Sms => pb::Channel::Sms,
        Channel::Voice => pb::Channel::Voice,
        Channel::Other => pb::Channel::Other,
    }
}

fn non_negative(field: &str, value: f64) -> Result<f64, Status> {
    if value.is_finite() && value >= 0.0 {
        Ok(value)
    } else {
        Err(invalid(field, "must be a finite number >= 0"))
    }
}

fn value_facts(value: Option<pb::CustomerValue>) -> Result<ValueFacts, Status> {
    let Some(v) = value else {
        return Ok(ValueFacts::default());
    };
    Ok(ValueFacts {
        clv: v
            .clv
            .map(|clv| non_negative("customer.value.clv", clv))
            .transpose()?,
        average_order_value: non_negative(
            "customer.value.average_order_value",
            v.average_order_value,
        )?,
        purchases_per_year: non_negative(
            "customer.value.purchases_per_year",
            v.purchases_per_year,
        )?,
        tenure_years: non_negative("customer.value.tenure_years", v.tenure_years)?,
        acquisition_cost: non_negative("customer.value.acquisition_cost", v.acquisition_cost)?,
        referrals: v.referrals,
    })
}

/// Required skills with minimum levels (0 means 1).
pub fn skill_requirements(
    field: &'static str,
    skills: Vec<pb::SkillRequirement>,
) -> Result<Vec<(String, u8)>, Status> {
    if skills.len() > MAX_REQUIRED_SKILLS {
        return Err(invalid(
            field,
            format_args!("more than {MAX_REQUIRED_SKILLS} skills"),
        ));
    }
    skills
        .into_iter()
        .map(|s| {
            id(&format!("{field}.skill"), &s.skill, MAX_SKILL_BYTES)?;
            let level = match s.min_proficiency {
                0 => 1,
                l @ 1..=5 => l as u8,
                _ => return Err(invalid(&format!("{field}.min_proficiency"), "must be 0-5")),
            };
            Ok((s.skill, level))
        })
        .collect()
}

fn boosts(values: &[i32]) -> Result<Boosts, Status> {
    let mut boosts = Boosts::default();
    for &value in values {
        let boost = match pb::Boost::try_from(value) {
            Ok(pb::Boost::Complaint) => Boost::Complaint,
            Ok(pb::Boost::ChurnRisk) => Boost::ChurnRisk,
            Ok(pb::Boost::Unspecified) | Err(_) => {
                return Err(invalid("boosts", format_args!("unknown boost {value}")));
            }
        };
        boosts.insert(boost);
    }
    Ok(boosts)
}

/// A customer message. `stream_adapter` is the hello's adapter id on a stream; for
/// `Submit` the message must name its adapter.
pub fn inbound_message(
    msg: pb::InboundMessage,
    stream_adapter: Option<&AdapterId>,
    limits: &Limits,
) -> Result<routing::InboundMessage, Status> {
    let adapter = match stream_adapter {
        Some(adapter) => adapter.clone(),
        None => {
            id("adapter_id", &msg.adapter_id, MAX_ID_BYTES)?;
            Arc::from(msg.adapter_id.as_str())
        }
    };
    let channel = channel("channel", msg.channel)?;
    id(
        "channel_conversation_id",
        &msg.channel_conversation_id,
        MAX_EXTERNAL_ID_BYTES,
    )?;
    let customer = msg
        .customer
        .ok_or_else(|| invalid("customer", "must be set"))?;
    id(
        "customer.customer_id",
        &customer.customer_id,
        MAX_EXTERNAL_ID_BYTES,
    )?;
    bounded(
        "customer.display_name",
        &customer.display_name,
        MAX_NAME_BYTES,
    )?;
    let value = value_facts(customer.value)?;
    let identities = identifiers(customer.identifiers)?;
    text("text", &msg.text, limits)?;
    bounded("language", &msg.language, MAX_LANGUAGE_BYTES)?;
    bounded("client_message_id", &msg.client_message_id, MAX_ID_BYTES)?;
    bounded("queue", &msg.queue, MAX_NAME_BYTES)?;
    let required_skills = skill_requirements("required_skills", msg.required_skills)?;
    Ok(routing::InboundMessage {
        adapter,
        channel,
        channel_conversation_id: msg.channel_conversation_id,
        customer_id: customer.customer_id,
        display_name: customer.display_name,
        value,
        text: msg.text,
        language: msg.language,
        client_message_id: (!msg.client_message_id.is_empty()).then_some(msg.client_message_id),
        queue: (!msg.queue.is_empty()).then_some(msg.queue),
        required_skills,
        boosts: boosts(&msg.boosts)?,
        identities,
    })
}

/// Most identifiers one message may carry.
pub const MAX_IDENTIFIERS: usize = 8;

/// A customer's identifiers, checked and normalised; errors name the field.
fn identifiers(list: Vec<pb::CustomerIdentifier>) -> Result<Vec<ClaimedIdentity>, Status> {
    if list.len() > MAX_IDENTIFIERS {
        return Err(invalid(
            "customer.identifiers",
            format_args!("at most {MAX_IDENTIFIERS}"),
        ));
    }
    list.into_iter()
        .enumerate()
        .map(|(i, given)| {
            Ok(ClaimedIdentity {
                identity: identity(&format!("customer.identifiers[{i}]"), &given)?,
                verified: given.verified,
            })
        })
        .collect()
}

/// One identifier (its `verified` flag aside); errors name `field.kind` or
/// `field.value`.
pub fn identity(field: &str, given: &pb::CustomerIdentifier) -> Result<Identity, Status> {
    let kind = match pb::IdentifierKind::try_from(given.kind) {
        Ok(pb::IdentifierKind::Phone) => IdentityKind::Phone,
        Ok(pb::IdentifierKind::Email) => IdentityKind::Email,
        Ok(pb::IdentifierKind::WechatUnionId) => IdentityKind::WechatUnion,
        Ok(pb::IdentifierKind::WechatOpenId) => IdentityKind::WechatOpen,
        Ok(pb::IdentifierKind::AppUserId) => IdentityKind::AppUser,
        Ok(pb::IdentifierKind::Unspecified) if given.channel != 0 => {
            IdentityKind::Channel(channel(&format!("{field}.channel"), given.channel)?)
        }
        Ok(pb::IdentifierKind::Unspecified) | Err(_) => {
            return Err(invalid(
                &format!("{field}.kind"),
                "must be phone, email, wechat union id, wechat open id or app user id \
                 (or unspecified, with a channel: that channel's customer id)",
            ));
        }
    };
    Identity::new(kind, &given.value).map_err(|e| invalid(&format!("{field}.value"), e.reason))
}

/// An identifier as the contract shows it.
pub fn linked_identity_to_pb(
    identity: &Identity,
    verified: bool,
    at: crate::routing::Millis,
) -> pb::LinkedIdentifier {
    let (kind, channel) = match identity.kind() {
        IdentityKind::Phone => (pb::IdentifierKind::Phone, pb::Channel::Unspecified),
        IdentityKind::Email => (pb::IdentifierKind::Email, pb::Channel::Unspecified),
        IdentityKind::WechatUnion => (pb::IdentifierKind::WechatUnionId, pb::Channel::Unspecified),
        IdentityKind::WechatOpen => (pb::IdentifierKind::WechatOpenId, pb::Channel::Unspecified),
        IdentityKind::AppUser => (pb::IdentifierKind::AppUserId, pb::Channel::Unspecified),
        IdentityKind::Channel(c) => (pb::IdentifierKind::Unspecified, channel_to_pb(c)),
    };
    pb::LinkedIdentifier {
        kind: kind as i32,
        value: identity.value().to_owned(),
        verified,
        linked_at_unix_ms: at as i64,
        channel: channel as i32,
    }
}

/// The `limit` of a listing: 0 asks for `default`; above `max` is refused, naming the
/// field.
pub fn page_limit(given: u32, default: u32, max: u32) -> Result<usize, Status> {
    match given {
        0 => Ok(default as usize),
        n if n > max => Err(super::status::rejected(invalid(
            "limit",
            format_args!("at most {max}"),
        ))),
        n => Ok(n as usize),
    }
}

/// A presence from its wire number; `unspecified_as` stands in for UNSPECIFIED.
pub fn presence(
    field: &str,
    value: i32,
    unspecified_as: Option<Presence>,
) -> Result<Presence, Status> {
    match pb::Presence::try_from(value) {
        Ok(pb::Presence::Available) => Ok(Presence::Available),
        Ok(pb::Presence::Away) => Ok(Presence::Away),
        Ok(pb::Presence::WrapUp) => Err(invalid(
            field,
            "wrap-up is set by the router, not by agents",
        )),
        Ok(pb::Presence::Unspecified) => {
            unspecified_as.ok_or_else(|| invalid(field, "must be set"))
        }
        Err(_) => Err(invalid(field, format_args!("unknown presence {value}"))),
    }
}

/// A presence's wire number.
pub fn presence_to_pb(presence: Presence) -> pb::Presence {
    match presence {
        Presence::Available => pb::Presence::Available,
        Presence::Away => pb::Presence::Away,
        Presence::WrapUp => pb::Presence::WrapUp,
    }
}

/// A sign-in.
pub fn sign_in(s: pb::SignIn) -> Result<routing::SignIn, Status> {
    id("sign_in.agent_id", &s.agent_id, MAX_ID_BYTES)?;
    bounded("sign_in.display_name", &s.display_name, MAX_NAME_BYTES)?;
    if s.skills.len() > MAX_AGENT_SKILLS {
        return Err(invalid(
            "sign_in.skills",
            format_args!("more than {MAX_AGENT_SKILLS} skills"),
        ));
    }
    let skills = s
        .skills
        .into_iter()
        .map(|k| {
            id("sign_in.skills.skill", &k.skill, MAX_SKILL_BYTES)?;
            let level = match k.proficiency {
                0 => 3,
                l @ 1..=5 => l as u8,
                _ => return Err(invalid("sign_in.skills.proficiency", "must be 0-5")),
            };
            Ok((k.skill, level))
        })
        .collect::<Result<Vec<_>, Status>>()?;
    let c = s
        .capacity
        .ok_or_else(|| invalid("sign_in.capacity", "must be set"))?;
    if [c.messaging, c.email, c.voice]
        .iter()
        .any(|&n| n > MAX_CAPACITY)
    {
        return Err(invalid(
            "sign_in.capacity",
            format_args!("at most {MAX_CAPACITY} per class"),
        ));
    }
    if c.messaging + c.email + c.voice == 0 {
        return Err(invalid(
            "sign_in.capacity",
            "at least one class must be above 0",
        ));
    }
    Ok(routing::SignIn {
        agent_id: s.agent_id,
        display_name: s.display_name,
        skills,
        capacity: PerClass([c.messaging, c.email, c.voice]),
        presence: presence("sign_in.presence", s.presence, Some(Presence::Available))?,
    })
}

/// A transfer target.
pub fn transfer_target(target: Option<pb::transfer::Target>) -> Result<TransferRequest, Status> {
    match target {
        Some(pb::transfer::Target::AgentId(agent)) => {
            id("transfer.agent_id", &agent, MAX_ID_BYTES)?;
            Ok(TransferRequest::Agent(agent))
        }
        Some(pb::transfer::Target::Skill(skill)) => {
            id("transfer.skill", &skill, MAX_SKILL_BYTES)?;
            Ok(TransferRequest::Skill(skill))
        }
        Some(pb::transfer::Target::Queue(queue)) => {
            id("transfer.queue", &queue, MAX_NAME_BYTES)?;
            Ok(TransferRequest::Queue(queue))
        }
        None => Err(invalid("transfer.target", "must be set")),
    }
}

fn sender_to_pb(sender: Sender) -> pb::Sender {
    match sender {
        Sender::Customer => pb::Sender::Customer,
        Sender::Agent => pb::Sender::Agent,
        Sender::Bot => pb::Sender::Bot,
        Sender::System => pb::Sender::System,
    }
}

/// An end reason's wire number.
pub fn end_reason_to_pb(reason: EndReason) -> pb::EndReason {
    match reason {
        EndReason::ClosedByAgent => pb::EndReason::ClosedByAgent,
        EndReason::Abandoned => pb::EndReason::Abandoned,
        EndReason::BotFinished => pb::EndReason::BotFinished,
        EndReason::WaitLimit => pb::EndReason::WaitLimit,
        EndReason::Shutdown => pb::EndReason::Shutdown,
    }
}

fn buttons_to_pb(buttons: &[routing::Button]) -> Vec<pb::Button> {
    buttons
        .iter()
        .map(|b| pb::Button {
            label: b.label.clone(),
            payload: b.payload.clone(),
        })
        .collect()
}

/// A customer notice as a delivery.
pub fn delivery(id: u64, notice: &CustomerNotice) -> pb::Delivery {
    let body = match &notice.body {
        CustomerNoticeBody::Message {
            sender,
            text,
            buttons,
            agent,
            queue_status,
        } => pb::delivery::Body::Message(pb::OutboundMessage {
            sender: sender_to_pb(*sender) as i32,
            text: text.to_string(),
            buttons: buttons_to_pb(buttons),
            agent_id: agent.as_deref().unwrap_or_default().to_owned(),
            queue_status: queue_status.map(|q| pb::QueueStatus {
                position: q.position,
                estimated_wait_seconds: q.estimated_wait_secs,
            }),
        }),
        CustomerNoticeBody::Closed(reason) => pb::delivery::Body::Closed(pb::ConversationClosed {
            reason: end_reason_to_pb(*reason) as i32,
        }),
        CustomerNoticeBody::Notification(n) => pb::delivery::Body::Message(pb::OutboundMessage {
            sender: pb::Sender::Bot as i32,
            text: n.text.to_string(),
            buttons: buttons_to_pb(&n.buttons),
            agent_id: String::new(),
            queue_status: None,
        }),
    };
    let (conversation_id, notification) = match &notice.body {
        CustomerNoticeBody::Notification(n) => (
            String::new(),
            Some(pb::NotificationContext {
                notification_id: n.id.0,
                kind: purpose_to_pb(n.purpose) as i32,
                template: n.template.to_string(),
                deadline_unix_ms: n.deadline as i64,
                campaign_id: n.campaign.map_or(0, |c| c.0),
            }),
        ),
        _ => (notice.conversation.to_string(), None),
    };
    pb::Delivery {
        notification,
        delivery_id: id,
        conversation_id,
        channel: channel_to_pb(notice.channel) as i32,
        channel_conversation_id: notice.channel_conversation_id.to_string(),
        customer_id: notice.customer_id.to_string(),
        body: Some(body),
    }
}

/// A customer as the contract shows it to agents.
pub fn customer_to_pb(customer: &routing::Customer) -> pb::Customer {
    pb::Customer {
        customer_id: customer.id.to_string(),
        display_name: customer.display_name.to_string(),
        value: Some(pb::CustomerValue {
            clv: Some(customer.clv),
            ..pb::CustomerValue::default()
        }),
        // Agents see the person's value, not the identifiers that recognised them.
        identifiers: Vec::new(),
    }
}

/// A transcript entry.
pub fn transcript_entry(e: &routing::TranscriptEntry) -> pb::TranscriptEntry {
    pb::TranscriptEntry {
        sender: sender_to_pb(e.sender) as i32,
        text: e.text.to_string(),
        at_unix_ms: e.at as i64,
        agent_id: e.agent.as_deref().unwrap_or_default().to_owned(),
    }
}

/// An offer (or a conversation given back after a restart) as its desk frame.
fn offer_to_pb(o: OfferDetails, resumed: bool) -> pb::Offer {
    pb::Offer {
        conversation_id: o.conversation.to_string(),
        channel: channel_to_pb(o.channel) as i32,
        customer: Some(customer_to_pb(&o.customer)),
        value_tier: o.tier.to_string(),
        queue: o.queue.to_string(),
        transcript: o.transcript.iter().map(transcript_entry).collect(),
        waited_ms: o.waited_ms,
        language: o.language.to_string(),
        intent: o.intent.as_deref().unwrap_or_default().to_owned(),
        handoff_reason: o.handoff.map(|r| r.as_str()).unwrap_or_default().to_owned(),
        resumed,
        customer_summary: o.customer_summary.map(customer_summary_to_pb),
        answers: o.answers.as_deref().map(answered_notice_to_pb),
    }
}

/// The notification a conversation answers, as offers and bot tasks carry it.
pub fn answered_notice_to_pb(n: &AnsweredNotice) -> pb::NotificationContext {
    pb::NotificationContext {
        notification_id: n.notification.0,
        kind: purpose_to_pb(n.purpose) as i32,
        template: n.template.to_string(),
        deadline_unix_ms: 0,
        campaign_id: n.campaign.map_or(0, |c| c.0),
    }
}

/// A past conversation as the contract shows it.
pub fn past_conversation(c: &crate::customer::Contact) -> pb::PastConversation {
    pb::PastConversation {
        conversation_id: crate::routing::ConversationId(c.conversation).to_string(),
        channel: channel_to_pb(c.channel) as i32,
        started_at_unix_ms: c.started_at as i64,
        ended_at_unix_ms: c.ended_at as i64,
        outcome: c.outcome.name().to_owned(),
        agent_id: c.agent.as_deref().unwrap_or_default().to_owned(),
        intent: c.intent.as_deref().unwrap_or_default().to_owned(),
        complaint: c.complaint,
        satisfaction: c.satisfaction.map_or(0, u32::from),
    }
}

fn customer_summary_to_pb(s: CustomerSummary) -> pb::CustomerSummary {
    let (value, loss_value) = s.valued.unwrap_or((0.0, 0.0));
    let (health, at_risk) = s.health.unwrap_or((0.0, false));
    pb::CustomerSummary {
        profile_id: s.profile.0,
        valued_from_facts: s.valued.is_some(),
        value,
        loss_value,
        health_known: s.health.is_some(),
        health,
        at_risk,
        open_complaints: s.open_complaints,
        recent: s.recent.iter().map(past_conversation).collect(),
    }
}

/// An agent notice as a desk frame.
pub fn desk_frame(notice: AgentNotice) -> pb::DeskFrame {
    use pb::desk_frame::Frame;
    let frame = match notice {
        AgentNotice::Offer(o) => Frame::Offer(Box::new(offer_to_pb(*o, false))),
        AgentNotice::Resumed(o) => Frame::Offer(Box::new(offer_to_pb(*o, true))),
        AgentNotice::Suggestions(a) => Frame::Suggestions(pb::AssistSuggestions {
            conversation_id: a.conversation.to_string(),
            customer_text: a.customer_text.to_string(),
            suggestions: a
                .suggestions
                .into_iter()
                .map(|s| pb::Suggestion {
                    text: s.text,
                    entry_id: s.entry_id,
                    intent: s.intent,
                    confidence: s.confidence,
                })
                .collect(),
        }),
        AgentNotice::Parked {
            conversation,
            until,
        } => Frame::Parked(pb::ConversationParked {
            conversation_id: conversation.to_string(),
            until_unix_ms: until as i64,
        }),
        AgentNotice::OfferWithdrawn {
            conversation,
            reason,
        } => Frame::OfferWithdrawn(pb::OfferWithdrawn {
            conversation_id: conversation.to_string(),
            reason: reason.to_owned(),
        }),
        AgentNotice::PresenceChanged { presence, reason } => {
            Frame::PresenceChanged(pb::PresenceChanged {
                presence: presence_to_pb(presence) as i32,
                reason: reason.to_owned(),
            })
        }
        AgentNotice::CustomerMessage {
            conversation,
            text,
            at,
        } => Frame::CustomerMessage(pb::CustomerMessage {
            conversation_id: conversation.to_string(),
            text: text.to_string(),
            at_unix_ms: at as i64,
        }),
        AgentNotice::Ended {
            conversation,
            reason,
        } => Frame::Ended(pb::ConversationEnded {
            conversation_id: conversation.to_string(),
            reason: end_reason_to_pb(reason) as i32,
        }),
    };
    pb::DeskFrame { frame: Some(frame) }
}

/// A contact purpose from the wire; `field` names it in the error.
pub fn purpose_from_pb(field: &'static str, given: i32) -> Result<ContactPurpose, Status> {
    Ok(match pb::ContactPurpose::try_from(given) {
        Ok(pb::ContactPurpose::Service) => ContactPurpose::Service,
        Ok(pb::ContactPurpose::Logistics) => ContactPurpose::Logistics,
        Ok(pb::ContactPurpose::Feedback) => ContactPurpose::Feedback,
        Ok(pb::ContactPurpose::FollowUp) => ContactPurpose::FollowUp,
        Ok(pb::ContactPurpose::Greeting) => ContactPurpose::Greeting,
        Ok(pb::ContactPurpose::Marketing) => ContactPurpose::Marketing,
        Ok(pb::ContactPurpose::Unspecified) | Err(_) => {
            return Err(invalid(
                field,
                "must be service, logistics, feedback, follow-up, greeting or marketing",
            ));
        }
    })
}

/// A contact purpose's wire number.
pub fn purpose_to_pb(purpose: ContactPurpose) -> pb::ContactPurpose {
    match purpose {
        ContactPurpose::Service => pb::ContactPurpose::Service,
        ContactPurpose::Logistics => pb::ContactPurpose::Logistics,
        ContactPurpose::Feedback => pb::ContactPurpose::Feedback,
        ContactPurpose::FollowUp => pb::ContactPurpose::FollowUp,
        ContactPurpose::Greeting => pb::ContactPurpose::Greeting,
        ContactPurpose::Marketing => pb::ContactPurpose::Marketing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message() -> pb::InboundMessage {
        pb::InboundMessage {
            adapter_id: "web-1".into(),
            channel: pb::Channel::Web as i32,
            channel_conversation_id: "t-1".into(),
            customer: Some(pb::Customer {
                customer_id: "u-1".into(),
                ..Default::default()
            }),
            text: "hello".into(),
            ..Default::default()
        }
    }

    fn field_of(result: Result<routing::InboundMessage, Status>) -> String {
        result
            .unwrap_err()
            .message()
            .split(':')
            .next()
            .unwrap()
            .to_owned()
    }

    #[test]
    fn a_good_message_converts() {
        let m = inbound_message(message(), None, &Limits::default()).unwrap();
        assert_eq!(m.channel, Channel::Web);
        assert_eq!(m.client_message_id, None);
    }

    #[test]
    fn each_bad_field_is_named() {
        let limits = Limits::default();
        type Breaker = Box<dyn Fn(&mut pb::InboundMessage)>;
        let cases: Vec<(&str, Breaker)> = vec![
            ("adapter_id", Box::new(|m| m.adapter_id.clear())),
            ("channel", Box::new(|m| m.channel = 0)),
            ("channel", Box::new(|m| m.channel = 99)),
            (
                "channel_conversation_id",
                Box::new(|m| m.channel_conversation_id.clear()),
            ),
            ("customer", Box::new(|m| m.customer = None)),
            (
                "customer.customer_id",
                Box::new(|m| m.customer.as_mut().unwrap().customer_id.clear()),
            ),
            (
                "customer.value.clv",
                Box::new(|m| {
                    m.customer.as_mut().unwrap().value = Some(pb::CustomerValue {
                        clv: Some(-1.0),
                        ..Default::default()
                    })
                }),
            ),
            ("text", Box::new(|m| m.text.clear())),
            ("text", Box::new(|m| m.text = "x".repeat(16 * 1024 + 1))),
            (
                "required_skills.min_proficiency",
                Box::new(|m| {
                    m.required_skills.push(pb::SkillRequirement {
                        skill: "s".into(),
                        min_proficiency: 9,
                    })
                }),
            ),
        ];
        for (field, break_it) in cases {
            let mut m = message();
            break_it(&mut m);
            assert_eq!(field_of(inbound_message(m, None, &limits)), field);
        }
    }

    #[test]
    fn sign_in_capacity_must_be_positive_and_bounded() {
        let mut s = pb::SignIn {
            agent_id: "a".into(),
            capacity: Some(pb::Capacity::default()),
            ..Default::default()
        };
        let err = sign_in(s.clone()).unwrap_err();
        assert!(
            err.message().starts_with("sign_in.capacity"),
            "{}",
            err.message()
        );
        s.capacity = Some(pb::Capacity {
            messaging: 101,
            ..Default::default()
        });
        assert!(sign_in(s.clone()).is_err());
        s.capacity = Some(pb::Capacity {
            messaging: 2,
            ..Default::default()
        });
        assert_eq!(sign_in(s).unwrap().capacity, PerClass([2, 0, 0]));
    }
}
