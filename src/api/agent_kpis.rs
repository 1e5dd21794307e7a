//! `Admin/GetAgentKpis`: the request checked, the tenant's KPI fold summed over the
//! window, and each agent's sums turned into the contract's row.

use tonic::Status;

use super::convert::{self, MAX_ID_BYTES};
use super::pb;
use super::status::rejected;
use crate::routing::Millis;
use crate::routing::agent_kpis::{AgentKpis, Tally};

/// Answers a `GetAgentKpisRequest` from the tenant's fold, as of `now`.
pub fn get(
    kpis: &AgentKpis,
    accept_within_secs: u64,
    now: Millis,
    req: &pb::GetAgentKpisRequest,
) -> Result<pb::GetAgentKpisResponse, Status> {
    let agent = match req.agent_id.as_str() {
        "" => None,
        id => {
            convert::id("agent_id", id, MAX_ID_BYTES).map_err(rejected)?;
            Some(id)
        }
    };
    let window = kpis
        .window(now, u64::from(req.window_secs), agent)
        .map_err(|e| rejected(Status::invalid_argument(e.to_string())))?;
    Ok(pb::GetAgentKpisResponse {
        agents: window.agents.iter().map(|(id, t)| row(id, t)).collect(),
        window_secs: u32::try_from(window.window_secs).unwrap_or(u32::MAX),
        since_unix_ms: window.since as i64,
        accept_within_secs: u32::try_from(accept_within_secs).unwrap_or(u32::MAX),
    })
}

fn row(agent: &str, t: &Tally) -> pb::AgentKpis {
    pb::AgentKpis {
        agent_id: agent.to_owned(),
        handled: t.handled,
        handle_seconds_mean: t.handle_secs_mean().unwrap_or(0.0),
        satisfaction_answers: t.satisfaction_answers,
        satisfaction_mean: t.satisfaction_mean().unwrap_or(0.0),
        good_reviews: t.good_reviews,
        good_review_rate: t.good_review_rate().unwrap_or(0.0),
        offers: t.offers,
        accepted: t.accepted,
        accepted_within: t.accepted_within,
        accepted_within_rate: t.accepted_within_rate().unwrap_or(0.0),
        first_replies: t.first_replies,
        first_reply_seconds_mean: t.first_reply_secs_mean().unwrap_or(0.0),
        idle_while_waiting_seconds: t.idle_waiting_ms as f64 / 1000.0,
        transfers: t.transfers,
        complaints: t.complaints,
    }
}
