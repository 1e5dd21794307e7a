//! One function per `ctl` subcommand: connect, make the call, print the view as a
//! table or as JSON.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use serde::Serialize;

use super::client::Client;
use super::error::CtlError;
use super::view::{
    AgentCounts, Agents, Bots, Campaigns, ConfigToml, Conversation, Explanation, KnowledgeBase,
    Kpis, Notification, Profile, Sent, Snapshot, Waiting,
};
use super::{CtlArgs, CtlCommand, SendArgs, format, render};
use crate::api::pb;

/// How output is written.
#[derive(Clone, Copy)]
struct Out {
    /// `--json`.
    json: bool,
    /// stdout is a terminal: `watch` redraws the screen.
    terminal: bool,
    /// Bold table headers: a terminal, and `NO_COLOR` unset.
    bold: bool,
}

impl Out {
    /// Prints `view` as JSON, or `human` (computed only when needed).
    fn print<V: Serialize>(&self, view: &V, human: impl FnOnce() -> String) {
        if self.json {
            let text = serde_json::to_string_pretty(view)
                .unwrap_or_else(|e| format!("{{\"error\": \"cannot render JSON: {e}\"}}"));
            emit(&format!("{text}\n"));
        } else {
            emit(&human());
        }
    }
}

/// Writes to stdout; false once nobody reads it (`ctl watch | head` after the head
/// is done), which is not an error.
fn emit(text: &str) -> bool {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .is_ok()
}

/// Runs the subcommand.
pub(crate) async fn run(args: &CtlArgs) -> Result<(), CtlError> {
    let terminal = std::io::stdout().is_terminal();
    let out = Out {
        json: args.json,
        terminal,
        bold: terminal && std::env::var_os("NO_COLOR").is_none(),
    };
    // Input is checked before connecting, so a typo never waits on the network.
    let profile_who = match &args.command {
        CtlCommand::Profile { who } => Some(profile_selector(who)?),
        _ => None,
    };
    let send = match &args.command {
        CtlCommand::Send(send) => Some(message(send)?),
        _ => None,
    };
    let client = Client::connect(args).await?;
    let mut admin = client.admin();
    let failed = |s| client.failed(s);
    match &args.command {
        CtlCommand::Waiting { limit } => {
            let list = admin
                .list_waiting(pb::ListWaitingRequest { limit: *limit })
                .await
                .map_err(failed)?
                .into_inner();
            let view = Waiting::from(&list);
            out.print(&view, || render::waiting(&view, out.bold));
        }
        CtlCommand::Agents => {
            let view = agents(&client).await?;
            out.print(&view, || render::agents(&view, out.bold));
        }
        CtlCommand::Explain {
            conversation,
            limit,
        } => {
            let e = admin
                .explain_conversation(pb::ExplainConversationRequest {
                    conversation_id: conversation.clone(),
                    limit: *limit,
                })
                .await
                .map_err(failed)?
                .into_inner();
            let view = Explanation::from(&e);
            out.print(&view, || render::explanation(&view, out.bold));
        }
        CtlCommand::Conversation { id } => {
            let c = admin
                .get_conversation(pb::GetConversationRequest {
                    conversation_id: id.clone(),
                })
                .await
                .map_err(failed)?
                .into_inner();
            let view = Conversation::new(&c, true);
            out.print(&view, || render::conversation(&view));
        }
        CtlCommand::ReloadKb => {
            let kb = admin
                .reload_knowledge_base(pb::ReloadKnowledgeBaseRequest {})
                .await
                .map_err(failed)?
                .into_inner();
            let view = KnowledgeBase::from(&kb);
            out.print(&view, || render::knowledge_base(&view));
        }
        CtlCommand::Config => {
            let config = admin
                .get_config(pb::GetConfigRequest {})
                .await
                .map_err(failed)?
                .into_inner();
            let view = ConfigToml { toml: config.toml };
            out.print(&view, || {
                let mut text = view.toml.clone();
                if !text.ends_with('\n') {
                    text.push('\n');
                }
                text
            });
        }
        CtlCommand::Send(args) => {
            let message = send.unwrap_or_default();
            let response = client
                .gateway()
                .submit(message)
                .await
                .map_err(failed)?
                .into_inner();
            let view = Sent::from(&response);
            out.print(&view, || render::sent(&view, &args.adapter));
        }
        CtlCommand::Watch { interval, count } => watch(&client, out, *interval, *count).await?,
        CtlCommand::Kpis { agent, window } => {
            let window_secs = u32::try_from(window.as_secs()).unwrap_or(u32::MAX);
            let k = admin
                .get_agent_kpis(pb::GetAgentKpisRequest {
                    agent_id: agent.clone().unwrap_or_default(),
                    window_secs: window_secs.max(1),
                })
                .await
                .map_err(failed)?
                .into_inner();
            let view = Kpis::from(&k);
            out.print(&view, || render::kpis(&view, out.bold));
        }
        CtlCommand::Profile { .. } => {
            let p = admin
                .get_customer_profile(pb::GetCustomerProfileRequest {
                    customer: profile_who,
                })
                .await
                .map_err(failed)?
                .into_inner();
            let view = Profile::from(&p);
            out.print(&view, || render::profile(&view, out.bold));
        }
        CtlCommand::Bots => {
            let b = admin
                .list_bots(pb::ListBotsRequest {})
                .await
                .map_err(failed)?
                .into_inner();
            let view = Bots::from(&b);
            out.print(&view, || render::bots(&view, out.bold));
        }
        CtlCommand::Campaigns => {
            let c = client
                .outbound()
                .list_campaigns(pb::ListCampaignsRequest {})
                .await
                .map_err(failed)?
                .into_inner();
            let view = Campaigns::from(&c);
            out.print(&view, || render::campaigns(&view, out.bold));
        }
        CtlCommand::Notification { id } => {
            let n = client
                .outbound()
                .get_notification(pb::GetNotificationRequest {
                    notification_id: *id,
                })
                .await
                .map_err(failed)?
                .into_inner();
            let view = Notification::from(&n);
            out.print(&view, || render::notification(&view, out.bold));
        }
    }
    Ok(())
}

/// The signed-in agents.
async fn agents(client: &Client) -> Result<Agents, CtlError> {
    let list = client
        .admin()
        .list_agents(pb::ListAgentsRequest {})
        .await
        .map_err(|s| client.failed(s))?
        .into_inner();
    Ok(Agents {
        agents: list.agents.iter().map(Into::into).collect(),
    })
}

/// The waiting list and the agents, now.
async fn snapshot(client: &Client) -> Result<Snapshot, CtlError> {
    let waiting = client
        .admin()
        .list_waiting(pb::ListWaitingRequest { limit: 100 })
        .await
        .map_err(|s| client.failed(s))?
        .into_inner();
    let agents = agents(client).await?;
    Ok(Snapshot {
        at_unix_ms: format::now_unix_ms(),
        waiting: Waiting::from(&waiting),
        agents: AgentCounts::from(&agents),
    })
}

/// `watch`: a snapshot every `interval` until Ctrl-C (or `count` refreshes). On a
/// terminal each refresh replaces the screen; otherwise refreshes follow each other.
/// A failed refresh is reported on stderr and the next one is tried.
async fn watch(
    client: &Client,
    out: Out,
    interval: Duration,
    count: Option<u64>,
) -> Result<(), CtlError> {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut done = 0u64;
    while count.is_none_or(|n| done < n) {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = &mut ctrl_c => return Ok(()),
        }
        let taken = tokio::select! {
            taken = snapshot(client) => taken,
            _ = &mut ctrl_c => return Ok(()),
        };
        done += 1;
        match taken {
            Ok(s) if out.json => {
                let line = serde_json::to_string(&s).unwrap_or_default();
                if !emit(&format!("{line}\n")) {
                    return Ok(());
                }
            }
            Ok(s) => {
                let mut text = render::snapshot(&s, &client.addr, out.bold);
                if out.terminal {
                    // Clear the screen and go home, then the refresh.
                    text = format!(
                        "\x1b[2J\x1b[H{text}\n(every {}; Ctrl-C stops)\n",
                        format::duration_ms(interval.as_millis() as u64)
                    );
                } else {
                    text.push('\n');
                }
                if !emit(&text) {
                    return Ok(());
                }
            }
            Err(e) if count.is_some() => return Err(e),
            Err(e) => eprintln!("switchboard ctl: {e}"),
        }
    }
    Ok(())
}

/// The customer message `send` submits, checked before connecting.
fn message(args: &SendArgs) -> Result<pb::InboundMessage, CtlError> {
    let usage = |m: String| Err(CtlError::Usage(m));
    let text = args.text.join(" ");
    if text.trim().is_empty() {
        return usage("send: the message text is empty".to_owned());
    }
    if let Some(clv) = args.clv
        && !(clv.is_finite() && clv >= 0.0)
    {
        return usage(format!("send: --clv {clv} must be a number >= 0"));
    }
    let mut required_skills = Vec::new();
    for s in &args.skills {
        let (skill, level) = match s.split_once(':') {
            Some((skill, level)) => match level.parse::<u32>() {
                Ok(l @ 1..=5) => (skill, l),
                _ => return usage(format!("send: --skill {s:?}: the level must be 1-5")),
            },
            None => (s.as_str(), 1),
        };
        required_skills.push(pb::SkillRequirement {
            skill: skill.to_owned(),
            min_proficiency: level,
        });
    }
    Ok(pb::InboundMessage {
        adapter_id: args.adapter.clone(),
        channel: args.channel,
        channel_conversation_id: args
            .thread
            .clone()
            .unwrap_or_else(|| format!("ctl-{}", args.customer)),
        customer: Some(pb::Customer {
            customer_id: args.customer.clone(),
            value: args.clv.map(|clv| pb::CustomerValue {
                clv: Some(clv),
                ..Default::default()
            }),
            ..Default::default()
        }),
        text,
        language: args.language.clone().unwrap_or_default(),
        queue: args.queue.clone().unwrap_or_default(),
        required_skills,
        ..Default::default()
    })
}

/// `profile`'s argument: a profile id, or `kind:value` for a verified identifier.
fn profile_selector(who: &str) -> Result<pb::ProfileSelector, CtlError> {
    use pb::profile_selector::Who;
    if let Ok(id) = who.trim().parse::<u64>() {
        return Ok(pb::ProfileSelector {
            who: Some(Who::ProfileId(id)),
        });
    }
    let kinds = [
        ("phone", pb::IdentifierKind::Phone),
        ("email", pb::IdentifierKind::Email),
        ("app", pb::IdentifierKind::AppUserId),
        ("wechat-union", pb::IdentifierKind::WechatUnionId),
        ("wechat-open", pb::IdentifierKind::WechatOpenId),
    ];
    let found = who.split_once(':').and_then(|(kind, value)| {
        kinds
            .iter()
            .find(|(name, _)| *name == kind)
            .map(|(_, k)| (*k, value))
    });
    match found {
        Some((kind, value)) if !value.is_empty() => Ok(pb::ProfileSelector {
            who: Some(Who::Identifier(pb::CustomerIdentifier {
                kind: kind as i32,
                value: value.to_owned(),
                verified: true,
                channel: 0,
            })),
        }),
        _ => Err(CtlError::Usage(format!(
            "profile {who:?}: expected a profile id or phone:, email:, app:, wechat-union: \
             or wechat-open: followed by the identifier"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_arguments_are_ids_or_kind_and_value() {
        use pb::profile_selector::Who;
        assert!(matches!(
            profile_selector("42").unwrap().who,
            Some(Who::ProfileId(42))
        ));
        match profile_selector("phone:+86 138 0013 8000").unwrap().who {
            Some(Who::Identifier(i)) => {
                assert_eq!(i.kind, pb::IdentifierKind::Phone as i32);
                assert_eq!(i.value, "+86 138 0013 8000");
            }
            other => panic!("{other:?}"),
        }
        assert!(profile_selector("fax:123").is_err());
        assert!(profile_selector("email:").is_err());
    }
}
