//! Commands: every change asked of a router, as data.
//!
//! The router is deterministic: the same commands at the same times, applied to a
//! router built with the same policy, leave it in the same state. So a journal of the
//! commands that succeeded, replayed after the latest snapshot, rebuilds a tenant
//! after a crash. A command that fails leaves the router as it was, which is why only
//! the ones that succeed need journaling (the property tests check both).

use serde::{Deserialize, Serialize};

use super::engine::ProfileRef;
use super::engine::{BotAction, InboundMessage, Router, RoutingError, SignIn, TransferRequest};
use super::model::{Channel, ConversationId, Millis, Presence};
use super::taught::Lesson;
use crate::customer::{ConsentRecord, Fact, Identity, MergeId, ProfileId};
use crate::outbound::{CampaignId, CampaignRequest, NotificationId, NotificationRequest};

/// One change asked of a router. Commands are built one at a time and moved into the
/// router at once, so the size of the largest variant (a customer message) costs
/// nothing that boxing it (an allocation per message) would not cost more.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// A customer message.
    CustomerMessage(InboundMessage),
    /// The customer left.
    Abandon {
        /// The channel.
        channel: Channel,
        /// The channel's conversation id.
        channel_conversation_id: String,
        /// The customer, who must own the conversation.
        customer_id: String,
    },
    /// An agent signs in (or comes back after a restart).
    SignIn(SignIn),
    /// An agent's session ended.
    SignOut {
        /// The agent.
        agent: String,
    },
    /// An agent sets its presence.
    SetPresence {
        /// The agent.
        agent: String,
        /// The presence.
        presence: Presence,
    },
    /// An agent accepts an offer.
    Accept {
        /// The agent.
        agent: String,
        /// The conversation id as the desk sent it.
        conversation: String,
    },
    /// An agent declines an offer.
    Decline {
        /// The agent.
        agent: String,
        /// The conversation id as the desk sent it.
        conversation: String,
    },
    /// An agent writes to the customer.
    Reply {
        /// The agent.
        agent: String,
        /// The conversation id as the desk sent it.
        conversation: String,
        /// The text.
        text: String,
    },
    /// An agent hands a conversation on.
    Transfer {
        /// The agent.
        agent: String,
        /// The conversation id as the desk sent it.
        conversation: String,
        /// Where to.
        target: TransferRequest,
    },
    /// An agent closes a conversation.
    Close {
        /// The agent.
        agent: String,
        /// The conversation id as the desk sent it.
        conversation: String,
    },
    /// A bot's answer to one turn: its actions, applied in order until one is refused.
    BotAnswer {
        /// The conversation.
        conversation: ConversationId,
        /// What the bot does.
        actions: Vec<BotAction>,
    },
    /// An operator teaches the bot questions for an entry, or a new entry.
    Teach {
        /// The lesson.
        lesson: Lesson,
        /// Whether the bot's knowledge-base file had the entry when it was taught.
        entry_exists: bool,
    },
    /// The tenant's systems push facts about a person (orders, refunds, ...).
    CustomerFacts {
        /// The person: a profile id, or an identifier (a new profile gets it).
        who: ProfileRef,
        /// The facts.
        facts: Vec<Fact>,
    },
    /// An operator links a verified identifier to a profile.
    LinkIdentifier {
        /// The profile.
        profile: ProfileId,
        /// The identifier.
        identity: Identity,
    },
    /// An operator takes an identifier off a profile.
    UnlinkIdentifier {
        /// The profile.
        profile: ProfileId,
        /// The identifier.
        identity: Identity,
    },
    /// An operator merges one profile into another.
    MergeProfiles {
        /// The profile kept.
        into: ProfileId,
        /// The profile merged into it.
        from: ProfileId,
        /// The operator's principal, recorded with the merge.
        by: String,
    },
    /// An operator undoes a merge.
    UnmergeProfiles {
        /// The merge.
        merge: MergeId,
        /// The operator's principal, recorded with the undoing.
        by: String,
    },
    /// Timers run.
    Tick,
    /// The server shuts down without a journal: every open conversation ends.
    ShutDown,
    /// The server restarted from its journal: agents are awaited for `grace_ms`.
    Restarted {
        /// How long returning agents keep their conversations.
        grace_ms: u64,
        /// Conversation ids to skip: after damage cost journal records, ids that may
        /// have been handed out in them are never given again.
        skip_ids: u64,
    },
    // New variants go last: journal records name variants by position.
    /// An operator erases a customer and everything kept about them (a data
    /// subject's request).
    EraseCustomer {
        /// The person.
        who: ProfileRef,
    },
    /// The tenant's systems record what a customer agreed to be contacted about.
    RecordConsent {
        /// The person: a profile id, or an identifier (a new profile gets it).
        who: ProfileRef,
        /// The decision; its origin is set to the profile it lands on.
        decision: ConsentRecord,
    },
    /// The tenant's systems send a person a notification.
    SendNotification {
        /// The person: a profile id, or an identifier (a new profile gets it).
        who: ProfileRef,
        /// The notification, its text filled in.
        request: NotificationRequest,
    },
    /// Adapters acknowledged notifications, or their mailboxes had no room.
    NotificationReports {
        /// Acknowledged.
        delivered: Vec<NotificationId>,
        /// Refused for lack of room: tried again.
        refused: Vec<NotificationId>,
    },
    /// The tenant's systems start a campaign.
    StartCampaign(CampaignRequest),
    /// An operator stops a campaign.
    StopCampaign {
        /// The campaign.
        campaign: CampaignId,
    },
    /// An operator replaces the tenant's outbound templates.
    SetTemplates(Vec<crate::outbound::TemplateSource>),
    /// The tenant's systems tag a person (for campaign segments).
    TagCustomer {
        /// The person: a profile id, or an identifier (a new profile gets it).
        who: ProfileRef,
        /// Tags to set.
        add: Vec<crate::customer::Tag>,
        /// Tags to take off.
        remove: Vec<crate::customer::Tag>,
    },
    /// An agent's desk connection dropped without signing out: the agent holds its
    /// accepted conversations for `grace_ms`, awaiting its return
    /// ([`Router::connection_lost`]).
    ConnectionLost {
        /// The agent.
        agent: String,
        /// How long the agent keeps its conversations (0 signs it out at once). In the
        /// command, not read from the policy, so a replay under another configuration
        /// does what was done.
        grace_ms: u64,
    },
}

/// What a command did, for the caller to answer with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// A customer message was filed.
    Message(super::engine::MessageOutcome),
    /// A conversation was abandoned.
    Abandoned(ConversationId),
    /// So many conversations ended, or so many agents are awaited.
    Count(usize),
    /// Facts went to this profile.
    Profile(ProfileId),
    /// Profiles were merged by this merge.
    Merge(MergeId),
    /// A customer was erased.
    Erased(Box<super::engine::ErasedCustomer>),
    /// A notification was accepted (or was already, under the same client id).
    Notification(NotificationId),
    /// A campaign was accepted (or was already, under the same client id).
    Campaign(CampaignId),
    /// Done; nothing to report.
    Done,
}

impl Command {
    /// Stable name, used as a metric label value.
    pub fn name(&self) -> &'static str {
        match self {
            Command::CustomerMessage(_) => "customer_message",
            Command::Abandon { .. } => "abandon",
            Command::SignIn(_) => "sign_in",
            Command::SignOut { .. } => "sign_out",
            Command::SetPresence { .. } => "set_presence",
            Command::Accept { .. } => "accept",
            Command::Decline { .. } => "decline",
            Command::Reply { .. } => "reply",
            Command::Transfer { .. } => "transfer",
            Command::Close { .. } => "close",
            Command::BotAnswer { .. } => "bot_answer",
            Command::Teach { .. } => "teach",
            Command::CustomerFacts { .. } => "customer_facts",
            Command::LinkIdentifier { .. } => "link_identifier",
            Command::UnlinkIdentifier { .. } => "unlink_identifier",
            Command::MergeProfiles { .. } => "merge_profiles",
            Command::UnmergeProfiles { .. } => "unmerge_profiles",
            Command::EraseCustomer { .. } => "erase_customer",
            Command::RecordConsent { .. } => "record_consent",
            Command::SendNotification { .. } => "send_notification",
            Command::NotificationReports { .. } => "notification_reports",
            Command::StartCampaign(_) => "start_campaign",
            Command::StopCampaign { .. } => "stop_campaign",
            Command::SetTemplates(_) => "set_templates",
            Command::TagCustomer { .. } => "tag_customer",
            Command::ConnectionLost { .. } => "connection_lost",
            Command::Tick => "tick",
            Command::ShutDown => "shutdown",
            Command::Restarted { .. } => "restarted",
        }
    }
}

impl Router {
    /// Applies one command at `now`.
    pub fn apply(&mut self, now: Millis, command: Command) -> Result<Applied, RoutingError> {
        let done = |r: Result<(), RoutingError>| r.map(|()| Applied::Done);
        match command {
            Command::CustomerMessage(msg) => self.customer_message(now, msg).map(Applied::Message),
            Command::Abandon {
                channel,
                channel_conversation_id,
                customer_id,
            } => self
                .abandon(now, channel, &channel_conversation_id, &customer_id)
                .map(Applied::Abandoned),
            Command::SignIn(sign_in) => done(self.sign_in(now, sign_in)),
            Command::SignOut { agent } => done(self.sign_out(now, &agent)),
            Command::SetPresence { agent, presence } => {
                done(self.set_presence(now, &agent, presence))
            }
            Command::Accept {
                agent,
                conversation,
            } => done(self.accept(now, &agent, &conversation)),
            Command::Decline {
                agent,
                conversation,
            } => done(self.decline(now, &agent, &conversation)),
            Command::Reply {
                agent,
                conversation,
                text,
            } => done(self.reply(now, &agent, &conversation, &text)),
            Command::Transfer {
                agent,
                conversation,
                target,
            } => done(self.transfer(now, &agent, &conversation, target)),
            Command::Close {
                agent,
                conversation,
            } => done(self.close(now, &agent, &conversation)),
            Command::BotAnswer {
                conversation,
                actions,
            } => {
                for action in actions {
                    self.bot_action(now, conversation, action)?;
                }
                Ok(Applied::Done)
            }
            Command::Teach {
                lesson,
                entry_exists,
            } => self.teach(lesson, entry_exists).map(Applied::Count),
            Command::CustomerFacts { who, facts } => {
                self.record_facts(now, who, facts).map(Applied::Profile)
            }
            Command::LinkIdentifier { profile, identity } => {
                done(self.link_identifier(now, profile, identity))
            }
            Command::UnlinkIdentifier { profile, identity } => {
                done(self.unlink_identifier(profile, &identity))
            }
            Command::MergeProfiles { into, from, by } => self
                .merge_profiles(now, into, from, &by)
                .map(Applied::Merge),
            Command::UnmergeProfiles { merge, by } => done(self.unmerge_profiles(now, merge, &by)),
            Command::EraseCustomer { who } => self
                .erase_customer(now, &who)
                .map(|e| Applied::Erased(Box::new(e))),
            Command::RecordConsent { who, decision } => self
                .record_consent(now, who, decision)
                .map(Applied::Profile),
            Command::SendNotification { who, request } => self
                .send_notification(now, who, request)
                .map(Applied::Notification),
            Command::NotificationReports { delivered, refused } => {
                self.notifications_reported(now, &delivered, &refused);
                Ok(Applied::Done)
            }
            Command::StartCampaign(request) => {
                self.start_campaign(now, request).map(Applied::Campaign)
            }
            Command::StopCampaign { campaign } => done(self.stop_campaign(now, campaign)),
            Command::SetTemplates(sources) => done(self.set_templates(sources)),
            Command::TagCustomer { who, add, remove } => self
                .tag_customer(now, who, &add, &remove)
                .map(Applied::Profile),
            Command::ConnectionLost { agent, grace_ms } => {
                done(self.connection_lost(now, &agent, grace_ms))
            }
            Command::Tick => {
                self.tick(now);
                Ok(Applied::Done)
            }
            Command::ShutDown => Ok(Applied::Count(self.shut_down(now))),
            Command::Restarted { grace_ms, skip_ids } => {
                Ok(Applied::Count(self.restarted(now, grace_ms, skip_ids)))
            }
        }
    }
}
