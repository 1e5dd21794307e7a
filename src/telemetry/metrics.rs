//! Every metric Switchboard exports: names, help texts, buckets, and the functions
//! that record them. Conversation metrics are derived from routing events only.
//!
//! Conventions: `switchboard_` prefix, base units (seconds), `_total` on counters,
//! bounded labels only (channel, tier, queue, outcome, state; never a customer,
//! conversation or agent id).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::routing::agent_kpis::Measure;
use crate::routing::answer_ratings::Verdict;
use crate::routing::surveys::Question;
use crate::routing::{
    AgentStateCounts, ChannelClass, Event, EventKind, HandoffReason, TransferTarget,
};

/// Conversations opened, by channel.
pub const CONVERSATIONS_CREATED: &str = "switchboard_conversations_created_total";
/// Conversations ended, by channel and outcome (`closed`, `abandoned`).
pub const CONVERSATIONS_ENDED: &str = "switchboard_conversations_ended_total";
/// Time from a customer's first message to the first response, by channel and responder.
pub const FIRST_RESPONSE: &str = "switchboard_first_response_seconds";
/// Time a conversation waited for an agent (at accept), by queue and value tier.
pub const QUEUE_WAIT: &str = "switchboard_queue_wait_seconds";
/// Conversations waiting for an agent now.
pub const QUEUE_DEPTH: &str = "switchboard_queue_depth";
/// Open conversations now.
pub const OPEN_CONVERSATIONS: &str = "switchboard_open_conversations";
/// Signed-in agents by state (`available`, `busy`, `away`).
pub const AGENTS: &str = "switchboard_agents";
/// Share of agent capacity in use, by channel class (`messaging`, `email`, `voice`).
pub const OCCUPANCY: &str = "switchboard_agent_occupancy_ratio";
/// Time the router took for one operation, including the decisions it made.
pub const ROUTING_DECISION: &str = "switchboard_routing_decision_seconds";
/// Histogram: time an operation waited for its tenant's lock, by operation.
pub const LOCK_WAIT: &str = "switchboard_tenant_lock_wait_seconds";
/// Histogram: time an operation held its tenant's lock, by operation.
pub const LOCK_HOLD: &str = "switchboard_tenant_lock_hold_seconds";
/// Counter: tenants whose state was left half-updated by a panic (the replica then
/// reports itself unhealthy, to be restarted and recovered from the journal).
pub const TENANT_FAILURES: &str = "switchboard_tenant_failures_total";
/// Counter: customers' data exported or erased on request, by action (`export`,
/// `erase`).
pub const PRIVACY_REQUESTS: &str = "switchboard_privacy_requests_total";
/// Counter: personal data retention forgot, by kind (`past_conversation`, `profile`,
/// `unanswered_question`, `follow_up`).
pub const RETENTION_FORGOTTEN: &str = "switchboard_retention_forgotten_total";
/// Counter: outbound notifications by kind and result (`sent`, `delivered`,
/// `replied`, `expired`, `failed`, `deferred`, or the rule that skipped it:
/// `no_consent`, `open_complaint`, `daily_cap`, `weekly_cap`, `quiet_hours`).
pub const OUTBOUND_NOTIFICATIONS: &str = "switchboard_outbound_notifications_total";
/// Gauge: active outbound campaigns by state (`scheduled`, `running`,
/// `paused_service_level`, `paused_no_agents`, `paused_outbox_full`).
pub const OUTBOUND_CAMPAIGNS: &str = "switchboard_outbound_campaigns";
/// Counter: consents withdrawn, by purpose (`kind`) and how (`via`: `reply`, the
/// customer wrote "退订" or "STOP"; `api`, the tenant's systems recorded it).
pub const OPT_OUTS: &str = "switchboard_consent_opt_outs_total";
/// Counter: agents held for a return (their desk connection dropped, or the server
/// restarted), by how the window ended (`resumed`: they signed in again and got their
/// conversations back; `expired`: signed out, their conversations routed again).
pub const AGENT_RECONNECTS: &str = "switchboard_agent_reconnects_total";
/// Offers made to agents.
pub const OFFERS: &str = "switchboard_offers_total";
/// Offers accepted by agents.
pub const ACCEPTS: &str = "switchboard_accepts_total";
/// Conversations put back in the queue, by reason.
pub const REQUEUES: &str = "switchboard_requeues_total";
/// Conversations handed from one agent to another agent, skill or queue, by target kind.
pub const TRANSFERS: &str = "switchboard_transfers_total";
/// Quiet conversations parked, releasing agent capacity.
pub const PARKED: &str = "switchboard_conversations_parked_total";
/// Escalation steps taken, by step reached (`required`, `overflow`).
pub const ESCALATIONS: &str = "switchboard_escalations_total";
/// Boosts given to conversations, by boost.
pub const BOOSTS: &str = "switchboard_boosts_total";
/// Messages relayed, by direction (`to_agent`, `to_customer`).
pub const MESSAGES_RELAYED: &str = "switchboard_messages_relayed_total";
/// Requests and frames refused, by gRPC code name.
pub const REJECTED: &str = "switchboard_requests_rejected_total";
/// Deliveries dropped because a bounded buffer was full, by reason.
pub const DROPPED: &str = "switchboard_deliveries_dropped_total";
/// Open streams by kind (`adapter`, `agent`).
/// Counter: conversations bots handed to people, by reason.
pub const HANDOFFS: &str = "switchboard_handoffs_total";
/// Counter: bot turns by bot (`builtin`, `external`) and outcome.
pub const BOT_TURNS: &str = "switchboard_bot_turns_total";
/// Counter: customers' verdicts on bot answers, by channel and verdict (`solved`,
/// `not_solved`); per-intent figures are in Admin `ListAnswerRatings`.
pub const ANSWER_RATINGS: &str = "switchboard_bot_answer_ratings_total";
/// Counter: satisfaction surveys by queue, channel and outcome (`asked`, `answered`,
/// `recommend_answered`, `lapsed`, `moved_on`); response rate = answered ÷ asked.
pub const SURVEYS: &str = "switchboard_surveys_total";
/// Histogram: satisfaction answers by queue and channel, on the survey's scale.
pub const SATISFACTION: &str = "switchboard_satisfaction_score";
/// Histogram: "would you recommend us" answers (0-10) by queue and channel.
pub const RECOMMEND: &str = "switchboard_recommend_score";
/// Histogram: agents' handle time (accept to close, parked stretches left out) of the
/// conversations they closed, by queue. Per-agent figures are in Admin `GetAgentKpis`.
pub const AGENT_HANDLE: &str = "switchboard_agent_handle_seconds";
/// Histogram: time from an agent's accept to its first reply, by queue.
pub const AGENT_FIRST_REPLY: &str = "switchboard_agent_first_reply_seconds";
/// Histogram: time from an offer to the agent's accept, by queue.
pub const OFFER_ACCEPT: &str = "switchboard_offer_accept_seconds";
/// Counter: offers accepted within `[routing.kpis] accept_within_secs`, by queue; the
/// share = this ÷ `switchboard_offers_total`.
pub const ACCEPTED_WITHIN: &str = "switchboard_offers_accepted_within_threshold_total";
/// Counter: conversations agents closed that were complaints, by queue.
pub const AGENT_COMPLAINTS: &str = "switchboard_agent_complaints_handled_total";
/// Counter: seconds agents were idle between conversations while customers waited
/// (see `routing::agent_kpis` for the exact definition).
pub const AGENT_IDLE: &str = "switchboard_agent_idle_while_waiting_seconds_total";
/// Counter: customer messages for which agents got assist suggestions.
pub const ASSISTS: &str = "switchboard_assist_suggestions_total";
/// Counter: jobs of the matching pool by kind (`turns`, `assist`) and outcome.
pub const MATCHING_JOBS: &str = "switchboard_matching_jobs_total";
/// Histogram: time a job waited for a matching thread, by kind.
pub const MATCHING_WAIT: &str = "switchboard_matching_wait_seconds";
/// Histogram: time the built-in bot's semantic stage took to embed one message (its
/// count is the number of messages embedded).
pub const SEMANTIC_EMBEDDING: &str = "switchboard_bot_semantic_embedding_seconds";
/// Counter: messages the semantic stage would have embedded but did not, by reason
/// (`late`: the turn waited past the pool's deadline; `caller_ran`: the pool was full
/// and the caller answered; `model_error`: the model failed).
pub const SEMANTIC_SKIPPED: &str = "switchboard_bot_semantic_skipped_total";
/// Counter: knowledge-base reloads by result (`ok`, `rejected`).
pub const KB_RELOADS: &str = "switchboard_knowledge_base_reloads_total";
/// Gauge: open gRPC streams by kind.
pub const OPEN_STREAMS: &str = "switchboard_open_streams";
/// Counter: calls refused before authentication succeeded, by reason.
pub const AUTH_REFUSED: &str = "switchboard_auth_refused_total";
/// Counter: calls authenticated, by method (`jwt`, `api_key`, `loopback`, ...).
pub const AUTHENTICATED: &str = "switchboard_authenticated_total";
/// Counter: authenticated calls refused for acting outside their tenant, role or subject.
pub const PERMISSION_DENIED: &str = "switchboard_permission_denied_total";
/// Counter: calls refused because a limit was reached, by limit.
pub const LIMITED: &str = "switchboard_limit_refusals_total";
/// Gauge: tenants with state on this replica.
pub const TENANTS: &str = "switchboard_tenants";
/// Histogram: time to write one journal batch (before its fsync).
pub const JOURNAL_WRITE: &str = "switchboard_journal_write_seconds";
/// Histogram: time to make one journal batch durable (fsync, or the OS write when
/// buffered).
pub const JOURNAL_FSYNC: &str = "switchboard_journal_fsync_seconds";
/// Counter: journal records written.
pub const JOURNAL_RECORDS: &str = "switchboard_journal_records_total";
/// Counter: journal bytes written (record payloads).
pub const JOURNAL_BYTES: &str = "switchboard_journal_bytes_total";
/// Counter: journal writes that failed (disk full or failing).
pub const JOURNAL_FAILURES: &str = "switchboard_journal_write_failures_total";
/// Gauge: bytes the journal takes on disk.
pub const JOURNAL_DISK: &str = "switchboard_journal_disk_bytes";
/// Histogram: time to take one round of snapshots.
pub const SNAPSHOT_DURATION: &str = "switchboard_snapshot_duration_seconds";
/// Gauge: Unix time of the last completed round of snapshots (age = now - this).
pub const SNAPSHOT_LAST: &str = "switchboard_snapshot_last_success_timestamp_seconds";
/// Gauge: seconds the last start-up spent loading snapshots and replaying the journal.
pub const REPLAY_DURATION: &str = "switchboard_replay_duration_seconds";
/// Counter: journal records replayed at start-up.
pub const REPLAYED: &str = "switchboard_replayed_records_total";
/// Counter: damage found in stored data, by kind (`snapshot`, `journal`).
pub const CORRUPTION: &str = "switchboard_storage_corruption_total";
/// Always 1, labelled with the version.
pub const BUILD_INFO: &str = "switchboard_build_info";

/// Buckets around the one-second first-response target.
pub const FIRST_RESPONSE_BUCKETS: &[f64] = &[
    0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];
/// Buckets for waiting for a human: seconds to an hour.
pub const QUEUE_WAIT_BUCKETS: &[f64] = &[
    0.5, 1.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
];
/// Buckets for router operations and tenant-lock waits and holds: a microsecond (an
/// uncontended lock, a simple decision) to the tens of milliseconds a stall shows.
pub const ROUTING_DECISION_BUCKETS: &[f64] = &[
    0.000_001,
    0.000_002_5,
    0.000_005,
    0.000_01,
    0.000_025,
    0.000_05,
    0.000_1,
    0.000_25,
    0.000_5,
    0.001,
    0.002_5,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
];

/// Buckets for journal writes: tens of microseconds to a second.
pub const JOURNAL_BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

/// Buckets for survey answers: one per score, so the histogram is the distribution.
pub const SCORE_BUCKETS: &[f64] = &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0];

/// Buckets for an agent's handle time: half a minute to two hours.
pub const HANDLE_BUCKETS: &[f64] = &[
    30.0, 60.0, 120.0, 180.0, 300.0, 600.0, 900.0, 1200.0, 1800.0, 3600.0, 7200.0,
];
/// Buckets for an agent's answer (offer to accept, accept to first reply): a second to
/// ten minutes, with 15 s, the usual accept target, among them.
pub const AGENT_ANSWER_BUCKETS: &[f64] = &[
    1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 120.0, 300.0, 600.0,
];

/// Every histogram with its buckets; one not listed would render as a summary.
const HISTOGRAM_BUCKETS: &[(&str, &[f64])] = &[
    (FIRST_RESPONSE, FIRST_RESPONSE_BUCKETS),
    (QUEUE_WAIT, QUEUE_WAIT_BUCKETS),
    (ROUTING_DECISION, ROUTING_DECISION_BUCKETS),
    (JOURNAL_WRITE, JOURNAL_BUCKETS),
    (JOURNAL_FSYNC, JOURNAL_BUCKETS),
    (MATCHING_WAIT, JOURNAL_BUCKETS),
    (SEMANTIC_EMBEDDING, JOURNAL_BUCKETS),
    (LOCK_WAIT, ROUTING_DECISION_BUCKETS),
    (LOCK_HOLD, ROUTING_DECISION_BUCKETS),
    (SATISFACTION, SCORE_BUCKETS),
    (RECOMMEND, SCORE_BUCKETS),
    (AGENT_HANDLE, HANDLE_BUCKETS),
    (AGENT_FIRST_REPLY, AGENT_ANSWER_BUCKETS),
    (OFFER_ACCEPT, AGENT_ANSWER_BUCKETS),
];

/// Installs the process-wide Prometheus recorder once and returns its handle; later
/// calls return the same handle (tests start many servers in one process).
pub fn install() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = HISTOGRAM_BUCKETS
                .iter()
                .try_fold(PrometheusBuilder::new(), |builder, (name, bounds)| {
                    builder.set_buckets_for_metric(Matcher::Full((*name).into()), bounds)
                })
                .expect("bucket lists are non-empty");
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (an embedding program's); then
            // this handle renders our own registry only, which is still correct.
            let _ = metrics::set_global_recorder(recorder);
            describe();
            super::hot::register();
            handle
        })
        .clone()
}

fn describe() {
    describe_counter!(CONVERSATIONS_CREATED, "Conversations opened, by channel.");
    describe_counter!(
        CONVERSATIONS_ENDED,
        "Conversations ended, by channel and outcome."
    );
    describe_histogram!(
        FIRST_RESPONSE,
        metrics::Unit::Seconds,
        "Time from a customer's first message to the first response, by channel and responder."
    );
    describe_histogram!(
        QUEUE_WAIT,
        metrics::Unit::Seconds,
        "Time a conversation waited for an agent, observed at accept, by queue and value tier."
    );
    describe_gauge!(QUEUE_DEPTH, "Conversations waiting for an agent.");
    describe_gauge!(OPEN_CONVERSATIONS, "Open conversations.");
    describe_gauge!(AGENTS, "Signed-in agents by state.");
    describe_gauge!(
        OCCUPANCY,
        "Conversations held over capacity of signed-in agents, by channel class."
    );
    describe_histogram!(
        ROUTING_DECISION,
        metrics::Unit::Seconds,
        "Time the router took for one operation and the decisions it made, by operation."
    );
    describe_counter!(OFFERS, "Conversations offered to agents.");
    describe_counter!(
        AGENT_RECONNECTS,
        "Agents held for a return after a dropped connection or a restart, by result \
         (resumed, expired)."
    );
    describe_counter!(ACCEPTS, "Offers accepted by agents.");
    describe_counter!(REQUEUES, "Conversations put back in the queue, by reason.");
    describe_counter!(
        TRANSFERS,
        "Agent transfers, by target kind (agent, skill, queue)."
    );
    describe_counter!(
        PARKED,
        "Quiet conversations parked, releasing agent capacity."
    );
    describe_counter!(ESCALATIONS, "Escalation steps taken, by step reached.");
    describe_counter!(BOOSTS, "Boosts given to waiting conversations, by boost.");
    describe_counter!(MESSAGES_RELAYED, "Messages relayed, by direction.");
    describe_counter!(REJECTED, "Requests and frames refused, by gRPC code.");
    describe_counter!(
        DROPPED,
        "Deliveries dropped because a bounded buffer was full, by reason."
    );
    describe_counter!(
        HANDOFFS,
        "Conversations a bot handed to a person, by reason."
    );
    describe_counter!(
        BOT_TURNS,
        "Customer messages a bot took, by bot (builtin, external) and outcome."
    );
    describe_counter!(
        SURVEYS,
        "Satisfaction surveys after a close, by queue, channel and outcome."
    );
    describe_histogram!(
        SATISFACTION,
        "Satisfaction answers after a close, by queue and channel, on the survey's scale."
    );
    describe_histogram!(
        RECOMMEND,
        "Answers to 'would you recommend us' (0-10), by queue and channel."
    );
    describe_histogram!(
        AGENT_HANDLE,
        metrics::Unit::Seconds,
        "Agents' handle time (accept to close) of the conversations they closed, by queue."
    );
    describe_histogram!(
        AGENT_FIRST_REPLY,
        metrics::Unit::Seconds,
        "Time from an agent's accept to its first reply, by queue."
    );
    describe_histogram!(
        OFFER_ACCEPT,
        metrics::Unit::Seconds,
        "Time from an offer to the agent's accept, by queue."
    );
    describe_counter!(
        ACCEPTED_WITHIN,
        "Offers accepted within the tenant's accept_within_secs, by queue."
    );
    describe_counter!(
        AGENT_COMPLAINTS,
        "Conversations agents closed that were complaints, by queue."
    );
    describe_counter!(
        AGENT_IDLE,
        metrics::Unit::Seconds,
        "Seconds agents were idle between conversations while their queue had customers waiting."
    );
    describe_counter!(
        ANSWER_RATINGS,
        "Customers' verdicts on bot answers (did that solve it?), by channel and verdict."
    );
    describe_counter!(
        ASSISTS,
        "Customer messages for which the agent got knowledge-base suggestions."
    );
    describe_counter!(KB_RELOADS, "Knowledge-base reloads, by result.");
    describe_histogram!(
        SEMANTIC_EMBEDDING,
        metrics::Unit::Seconds,
        "Time the built-in bot's semantic stage took to embed one message."
    );
    describe_counter!(
        SEMANTIC_SKIPPED,
        "Messages answered lexically without the semantic stage they needed, by reason."
    );
    describe_histogram!(
        LOCK_WAIT,
        metrics::Unit::Seconds,
        "Time an operation waited for its tenant's lock, by operation."
    );
    describe_histogram!(
        LOCK_HOLD,
        metrics::Unit::Seconds,
        "Time an operation held its tenant's lock, by operation."
    );
    describe_counter!(
        TENANT_FAILURES,
        "Tenants left half-updated by a panic; the replica turns unhealthy to be restarted."
    );
    describe_counter!(
        OPT_OUTS,
        "Consents withdrawn, by purpose (kind) and how (via: reply or api)."
    );
    describe_counter!(
        PRIVACY_REQUESTS,
        "Customers' data exported or erased on request (Admin), by action."
    );
    describe_counter!(
        RETENTION_FORGOTTEN,
        "Personal data forgotten by [routing.retention], by kind."
    );
    describe_counter!(
        OUTBOUND_NOTIFICATIONS,
        "Outbound notifications by kind and result: sent, delivered, replied, expired, \
         failed, deferred (held for quiet hours or an adapter), or the rule that skipped it."
    );
    describe_gauge!(
        OUTBOUND_CAMPAIGNS,
        "Active outbound campaigns by state; paused ones by why (their queue's service level, \
         no agent to serve it, no room for more notifications)."
    );
    describe_counter!(
        MATCHING_JOBS,
        "Matching-pool jobs (built-in bot turns, assist suggestions), by kind and outcome."
    );
    describe_histogram!(
        MATCHING_WAIT,
        metrics::Unit::Seconds,
        "Time a job waited for a matching thread, by kind."
    );
    describe_gauge!(OPEN_STREAMS, "Open gRPC streams by kind.");
    describe_gauge!(BUILD_INFO, "Build information; always 1.");
    describe_counter!(
        AUTH_REFUSED,
        "Calls refused before authentication succeeded, by reason."
    );
    describe_counter!(AUTHENTICATED, "Calls authenticated, by method.");
    describe_counter!(
        PERMISSION_DENIED,
        "Authenticated calls refused for acting outside their tenant, role or subject, by what."
    );
    describe_counter!(
        LIMITED,
        "Calls refused because a limit was reached, by limit."
    );
    describe_gauge!(TENANTS, "Tenants with routing state on this replica.");
    describe_histogram!(
        JOURNAL_WRITE,
        metrics::Unit::Seconds,
        "Time to write one journal batch, before it is made durable."
    );
    describe_histogram!(
        JOURNAL_FSYNC,
        metrics::Unit::Seconds,
        "Time to make one journal batch durable (fsync; the OS write when buffered)."
    );
    describe_counter!(JOURNAL_RECORDS, "Journal records written.");
    describe_counter!(JOURNAL_BYTES, "Journal record bytes written.");
    describe_counter!(
        JOURNAL_FAILURES,
        "Journal writes that failed (disk full or failing); new work is refused meanwhile."
    );
    describe_gauge!(JOURNAL_DISK, "Bytes the journal takes on disk.");
    describe_histogram!(
        SNAPSHOT_DURATION,
        metrics::Unit::Seconds,
        "Time to take one round of tenant snapshots."
    );
    describe_gauge!(
        SNAPSHOT_LAST,
        "Unix time of the last completed round of snapshots."
    );
    describe_gauge!(
        REPLAY_DURATION,
        "Seconds the last start-up spent loading snapshots and replaying the journal."
    );
    describe_counter!(REPLAYED, "Journal records replayed at start-up.");
    describe_counter!(
        CORRUPTION,
        "Damage found in stored data, by kind (snapshot, journal)."
    );
    counter!(JOURNAL_RECORDS).absolute(0);
    counter!(JOURNAL_BYTES).absolute(0);
    counter!(JOURNAL_FAILURES).absolute(0);
    counter!(REPLAYED).absolute(0);
    counter!(AGENT_IDLE).absolute(0);
    for kind in ["snapshot", "journal"] {
        counter!(CORRUPTION, "kind" => kind).absolute(0);
    }
    gauge!(TENANTS).set(0.0);
    for reason in crate::auth::Refusal::ALL {
        counter!(AUTH_REFUSED, "reason" => reason.as_str()).absolute(0);
    }
    for what in ["role", "tenant", "subject", "owner"] {
        counter!(PERMISSION_DENIED, "what" => what).absolute(0);
    }
    for limit in LIMIT_NAMES {
        counter!(LIMITED, "limit" => *limit).absolute(0);
    }
    gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    for state in ["available", "busy", "away", "wrap_up"] {
        gauge!(AGENTS, "state" => state).set(0.0);
    }
    gauge!(QUEUE_DEPTH).set(0.0);
    gauge!(OPEN_CONVERSATIONS).set(0.0);
    for reason in HandoffReason::ALL {
        counter!(HANDOFFS, "reason" => reason.as_str()).absolute(0);
    }
    for action in ["export", "erase"] {
        counter!(PRIVACY_REQUESTS, "action" => action).absolute(0);
    }
    for kind in RETENTION_KINDS {
        counter!(RETENTION_FORGOTTEN, "kind" => kind).absolute(0);
    }
    for state in crate::routing::CAMPAIGN_STATES {
        gauge!(OUTBOUND_CAMPAIGNS, "state" => state).set(0.0);
    }
    for kind in crate::customer::ContactPurpose::ALL {
        for via in crate::routing::OptOutVia::ALL {
            counter!(OPT_OUTS, "kind" => kind.name(), "via" => via.as_str()).absolute(0);
        }
        for result in crate::routing::OUTBOUND_RESULTS {
            if crate::routing::OUTBOUND_RESULTS_BY_CHANNEL.contains(&result) {
                for channel in crate::routing::Channel::ALL {
                    counter!(OUTBOUND_NOTIFICATIONS, "kind" => kind.name(), "result" => result,
                        "channel" => channel.as_str())
                    .absolute(0);
                }
            } else {
                counter!(OUTBOUND_NOTIFICATIONS, "kind" => kind.name(), "result" => result,
                    "channel" => NO_CHANNEL)
                .absolute(0);
            }
        }
    }
    zero_known_series();
}

/// Bot turn outcomes by bot, as the bots record them: the label sets of [`BOT_TURNS`]
/// exported at zero from start-up (keep in step with the `record_bot_turn` calls).
pub const BOT_TURN_OUTCOMES: &[(&str, &[&str])] = &[
    (
        "builtin",
        &[
            "answered",
            "small_talk",
            "not_sure",
            "handoff",
            "not_solved",
        ],
    ),
    (
        "external",
        &[
            "answered",
            "handoff",
            "late",
            "invalid",
            "timeout",
            "disconnected",
        ],
    ),
];

/// Matching-pool job outcomes by kind, as the pool records them (the label sets of
/// [`MATCHING_JOBS`]).
pub const MATCHING_OUTCOMES: &[(&str, &[&str])] = &[
    ("turns", &["inline", "caller_ran", "answered"]),
    (
        "assist",
        &[
            "sent",
            "nothing_found",
            "dropped_queue_full",
            "dropped_late",
            "dropped_mailbox",
        ],
    ),
];

/// Why deliveries are dropped (the labels of [`DROPPED`]).
pub const DROP_REASONS: &[&str] = &[
    "adapter_mailbox_full",
    "agent_mailbox_full",
    "agent_signed_out",
];

/// Why the semantic stage was skipped (the labels of [`SEMANTIC_SKIPPED`]).
pub const SEMANTIC_SKIP_REASONS: &[&str] = &["caller_ran", "late", "model_error"];

/// Ways a conversation ends that [`CONVERSATIONS_ENDED`] counts.
const END_OUTCOMES: [&str; 3] = ["closed", "abandoned", "bot_finished"];

/// Every counter and histogram series whose labels are a closed set, at zero: a fresh server
/// exports them before their first event, so dashboards show 0 rather than "No
/// data" and `rate()` alerts see zero rather than nothing. Series labelled by queue
/// name come from the configuration ([`register_routing`]).
fn zero_known_series() {
    use crate::auth::Method;
    use crate::routing::{Boost, Channel, EscalationStep, QueueReason, Responder};
    for name in [OFFERS, ACCEPTS, PARKED, ASSISTS, TENANT_FAILURES] {
        counter!(name).absolute(0);
    }
    for channel in Channel::ALL.map(Channel::as_str) {
        counter!(CONVERSATIONS_CREATED, "channel" => channel).absolute(0);
        for outcome in END_OUTCOMES {
            counter!(CONVERSATIONS_ENDED, "channel" => channel, "outcome" => outcome).absolute(0);
        }
        for verdict in ["solved", "not_solved"] {
            counter!(ANSWER_RATINGS, "channel" => channel, "verdict" => verdict).absolute(0);
        }
    }
    for (bot, outcomes) in BOT_TURN_OUTCOMES {
        for outcome in *outcomes {
            counter!(BOT_TURNS, "bot" => *bot, "outcome" => *outcome).absolute(0);
        }
    }
    for (kind, outcomes) in MATCHING_OUTCOMES {
        for outcome in *outcomes {
            counter!(MATCHING_JOBS, "kind" => *kind, "outcome" => *outcome).absolute(0);
        }
    }
    for reason in DROP_REASONS {
        counter!(DROPPED, "reason" => *reason).absolute(0);
    }
    for reason in SEMANTIC_SKIP_REASONS {
        counter!(SEMANTIC_SKIPPED, "reason" => *reason).absolute(0);
    }
    for result in ["ok", "rejected"] {
        counter!(KB_RELOADS, "result" => result).absolute(0);
    }
    for result in RECONNECT_RESULTS {
        counter!(AGENT_RECONNECTS, "result" => result).absolute(0);
    }
    // New arrivals and handoffs are not requeues (see `record_event`).
    let requeues = [
        QueueReason::Declined,
        QueueReason::OfferTimeout,
        QueueReason::AgentLost,
        QueueReason::Transferred,
        QueueReason::Resumed,
        QueueReason::Returned,
    ];
    for reason in requeues {
        counter!(REQUEUES, "reason" => reason.as_str()).absolute(0);
    }
    for target in ["agent", "skill", "queue"] {
        counter!(TRANSFERS, "target" => target).absolute(0);
    }
    // Preferred is where every conversation starts, never a step taken.
    for step in [EscalationStep::Required, EscalationStep::Overflow] {
        counter!(ESCALATIONS, "step" => step.as_str()).absolute(0);
    }
    for boost in Boost::ALL {
        counter!(BOOSTS, "boost" => boost.as_str()).absolute(0);
    }
    let methods = [
        Method::Jwt,
        Method::ApiKey,
        Method::ClientCertificate,
        Method::Loopback,
        Method::Unauthenticated,
    ];
    for method in methods {
        counter!(AUTHENTICATED, "method" => method.as_str()).absolute(0);
    }
    for code in ALL_CODES {
        counter!(REJECTED, "code" => code_name(code)).absolute(0);
    }
    // Histograms too: a registered one is exported with empty buckets.
    for channel in Channel::ALL.map(Channel::as_str) {
        for responder in [Responder::System, Responder::Bot, Responder::Agent] {
            let _ =
                histogram!(FIRST_RESPONSE, "channel" => channel, "responder" => responder.as_str());
        }
    }
    for name in [JOURNAL_WRITE, JOURNAL_FSYNC] {
        let _ = histogram!(name);
    }
}

/// Exports the series labelled by queue (and tier) at zero for one tenant's routing
/// policy: the agent KPI counters and histograms per queue, and the queue-wait
/// histogram per queue and tier, so the agent and wait panels read 0 from start-up.
/// Called for every tenant the configuration declares. Survey series, labelled by
/// queue, channel and outcome, are left to their first event.
pub fn register_routing(routing: &crate::routing::RoutingPolicy) {
    for queue in &routing.queues {
        let queue = queue.name.as_str();
        counter!(AGENT_COMPLAINTS, "queue" => queue.to_owned()).absolute(0);
        counter!(ACCEPTED_WITHIN, "queue" => queue.to_owned()).absolute(0);
        for name in [AGENT_HANDLE, AGENT_FIRST_REPLY, OFFER_ACCEPT] {
            let _ = histogram!(name, "queue" => queue.to_owned());
        }
        for tier in &routing.priority.tiers {
            let _ =
                histogram!(QUEUE_WAIT, "queue" => queue.to_owned(), "tier" => tier.name.clone());
        }
    }
}

const RETENTION_KINDS: [&str; 4] = [
    "past_conversation",
    "profile",
    "unanswered_question",
    "follow_up",
];

/// Counts a customer's data exported or erased on request.
pub fn record_privacy_request(action: &'static str) {
    counter!(PRIVACY_REQUESTS, "action" => action).increment(1);
}

/// Counts withdrawn consents, per purpose and how.
pub fn record_opt_outs(
    counts: Vec<(
        crate::customer::ContactPurpose,
        crate::routing::OptOutVia,
        u64,
    )>,
) {
    for (kind, via, n) in counts {
        counter!(OPT_OUTS, "kind" => kind.name(), "via" => via.as_str()).increment(n);
    }
}

/// Counts what retention forgot.
pub fn record_forgotten(forgotten: crate::routing::Forgotten) {
    let counts = [
        forgotten.contacts,
        forgotten.profiles,
        forgotten.questions,
        forgotten.follow_ups,
    ];
    for (kind, n) in RETENTION_KINDS.into_iter().zip(counts) {
        if n > 0 {
            counter!(RETENTION_FORGOTTEN, "kind" => kind).increment(n);
        }
    }
}

/// Sets the active campaigns per state, summed over tenants.
pub fn record_campaign_states(counts: &[(&'static str, usize)]) {
    for state in crate::routing::CAMPAIGN_STATES {
        let n: usize = counts
            .iter()
            .filter(|(s, _)| *s == state)
            .map(|(_, n)| n)
            .sum();
        gauge!(OUTBOUND_CAMPAIGNS, "state" => state).set(n as f64);
    }
}

/// The `channel` label of notification outcomes reached before a channel was chosen.
const NO_CHANNEL: &str = "none";

/// Counts notification outcomes, per kind, result and channel.
pub fn record_outbound(counts: Vec<crate::routing::OutboundCount>) {
    for c in counts {
        let channel = c.channel.map_or(NO_CHANNEL, |channel| channel.as_str());
        counter!(OUTBOUND_NOTIFICATIONS, "kind" => c.purpose.name(), "result" => c.result,
            "channel" => channel)
        .increment(c.n);
    }
}

/// Records one bot turn: which bot took it and how it ended.
pub fn record_bot_turn(bot: &'static str, outcome: &'static str) {
    counter!(BOT_TURNS, "bot" => bot, "outcome" => outcome).increment(1);
}

/// Records suggestions sent to an agent for one customer message.
pub fn record_assist() {
    counter!(ASSISTS).increment(1);
}

/// Counts a matching-pool job by kind and outcome.
pub fn record_matching(kind: &'static str, outcome: &'static str) {
    counter!(MATCHING_JOBS, "kind" => kind, "outcome" => outcome).increment(1);
}

/// Records how long a job waited for a matching thread.
pub fn record_matching_wait(kind: &'static str, waited: Duration) {
    histogram!(MATCHING_WAIT, "kind" => kind).record(waited.as_secs_f64());
}

/// Records one message embedded by the semantic stage and how long it took.
pub fn record_semantic_embedding(took: Duration) {
    histogram!(SEMANTIC_EMBEDDING).record(took.as_secs_f64());
}

/// Records a message answered without the semantic stage it needed; `reason` is one
/// of a few fixed labels.
pub fn record_semantic_skipped(reason: &'static str) {
    counter!(SEMANTIC_SKIPPED, "reason" => reason).increment(1);
}

/// How an agent's return window ends (the labels of [`AGENT_RECONNECTS`]).
pub const RECONNECT_RESULTS: [&str; 2] = ["resumed", "expired"];

/// Counts agents held for a return whose window ended since the router last reported.
pub fn record_reconnects(reconnects: crate::routing::Reconnects) {
    for (result, n) in RECONNECT_RESULTS
        .into_iter()
        .zip([reconnects.resumed, reconnects.expired])
    {
        if n > 0 {
            counter!(AGENT_RECONNECTS, "result" => result).increment(n);
        }
    }
}

/// Records a knowledge-base reload attempt.
pub fn record_kb_reload(ok: bool) {
    counter!(KB_RELOADS, "result" => if ok { "ok" } else { "rejected" }).increment(1);
}

/// Records what one routing event means for the metrics. `elapsed` is how long the
/// operation that produced it has run, which bounds first-response latency from below.
pub fn record_event(event: &Event, tier: &str, queue: &str, elapsed: Duration) {
    let channel = event.channel.as_str();
    match &event.kind {
        EventKind::Created { .. } => {
            counter!(CONVERSATIONS_CREATED, "channel" => channel).increment(1)
        }
        EventKind::FirstResponse {
            responder,
            latency_ms,
        } => {
            let seconds = (*latency_ms as f64 / 1000.0).max(elapsed.as_secs_f64());
            histogram!(FIRST_RESPONSE, "channel" => channel, "responder" => responder.as_str())
                .record(seconds);
        }
        EventKind::HandedOff { reason, .. } => {
            counter!(HANDOFFS, "reason" => reason.as_str()).increment(1)
        }
        EventKind::AnswerRated { verdict, .. } => {
            let verdict = match verdict {
                Verdict::Solved => "solved",
                Verdict::NotSolved => "not_solved",
            };
            counter!(ANSWER_RATINGS, "channel" => channel, "verdict" => verdict).increment(1)
        }
        EventKind::SurveyAsked => {
            counter!(SURVEYS, "queue" => queue.to_owned(), "channel" => channel, "outcome" => "asked")
                .increment(1)
        }
        EventKind::SurveyAnswered { question, score, .. } => {
            let (histogram_name, outcome) = match question {
                Question::Recommend => (RECOMMEND, "recommend_answered"),
                Question::Satisfaction(_) => (SATISFACTION, "answered"),
            };
            counter!(SURVEYS, "queue" => queue.to_owned(), "channel" => channel, "outcome" => outcome)
                .increment(1);
            histogram!(histogram_name, "queue" => queue.to_owned(), "channel" => channel)
                .record(f64::from(*score));
        }
        EventKind::SurveyUnanswered { moved_on } => {
            let outcome = if *moved_on { "moved_on" } else { "lapsed" };
            counter!(SURVEYS, "queue" => queue.to_owned(), "channel" => channel, "outcome" => outcome)
                .increment(1)
        }
        EventKind::BotFinished => {
            counter!(CONVERSATIONS_ENDED, "channel" => channel, "outcome" => "bot_finished")
                .increment(1)
        }
        EventKind::Queued { reason, .. } => {
            use crate::routing::QueueReason;
            if !matches!(reason, QueueReason::New | QueueReason::Handoff) {
                counter!(REQUEUES, "reason" => reason.as_str()).increment(1);
            }
        }
        EventKind::Boosted { boost, .. } => {
            counter!(BOOSTS, "boost" => boost.as_str()).increment(1)
        }
        EventKind::Escalated { step, .. } => {
            counter!(ESCALATIONS, "step" => step.as_str()).increment(1)
        }
        EventKind::Offered { .. } => counter!(OFFERS).increment(1),
        EventKind::Accepted { waited_ms, .. } => {
            counter!(ACCEPTS).increment(1);
            histogram!(QUEUE_WAIT, "queue" => queue.to_owned(), "tier" => tier.to_owned())
                .record(*waited_ms as f64 / 1000.0);
        }
        EventKind::Parked { .. } => counter!(PARKED).increment(1),
        // Agent figures come from the KPI fold ([`record_agent_measure`]).
        EventKind::AgentReplied { .. } => {}
        EventKind::Transferred { target, .. } => {
            let kind = match target {
                TransferTarget::Agent(_) => "agent",
                TransferTarget::Skill(_) => "skill",
                TransferTarget::Queue(_) => "queue",
            };
            counter!(TRANSFERS, "target" => kind).increment(1);
        }
        EventKind::Closed { .. } => {
            counter!(CONVERSATIONS_ENDED, "channel" => channel, "outcome" => "closed").increment(1)
        }
        EventKind::Abandoned { .. } => {
            counter!(CONVERSATIONS_ENDED, "channel" => channel, "outcome" => "abandoned")
                .increment(1)
        }
    }
}

/// Records a figure the agent KPI fold completed, as aggregates without the agent:
/// `queue` is the event's (none for an idle stretch a sign-out or presence ended).
pub fn record_agent_measure(measure: Measure, queue: Option<&str>) {
    let queue = || queue.unwrap_or_default().to_owned();
    match measure {
        Measure::Handled {
            handle_ms,
            complaint,
        } => {
            if complaint {
                counter!(AGENT_COMPLAINTS, "queue" => queue()).increment(1);
            }
            histogram!(AGENT_HANDLE, "queue" => queue()).record(handle_ms as f64 / 1000.0);
        }
        Measure::Accepted { after_ms, within } => {
            if within {
                counter!(ACCEPTED_WITHIN, "queue" => queue()).increment(1);
            }
            histogram!(OFFER_ACCEPT, "queue" => queue()).record(after_ms as f64 / 1000.0);
        }
        Measure::FirstReply { after_ms } => {
            histogram!(AGENT_FIRST_REPLY, "queue" => queue()).record(after_ms as f64 / 1000.0)
        }
        // Counters are whole numbers: the milliseconds short of a second are carried
        // to the next stretch, so nothing is lost.
        Measure::Idle { ms } => {
            static CARRY_MS: AtomicU64 = AtomicU64::new(0);
            // One atomic step, so tenants on other threads never carry the same
            // milliseconds twice.
            let carried = CARRY_MS
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| {
                    Some((c + ms) % 1000)
                })
                .expect("the update always succeeds");
            let secs = (carried + ms) / 1000;
            if secs > 0 {
                counter!(AGENT_IDLE).increment(secs);
            }
        }
    }
}

/// Counts a tenant left half-updated by a panic.
pub fn record_tenant_failure() {
    counter!(TENANT_FAILURES).increment(1);
}

/// Sets the point-in-time gauges, summed over tenants.
pub fn record_gauges(waiting: usize, open: usize, agents: AgentStateCounts) {
    gauge!(QUEUE_DEPTH).set(waiting as f64);
    gauge!(OPEN_CONVERSATIONS).set(open as f64);
    gauge!(AGENTS, "state" => "available").set(agents.available as f64);
    gauge!(AGENTS, "state" => "busy").set(agents.busy as f64);
    gauge!(AGENTS, "state" => "away").set(agents.away as f64);
    gauge!(AGENTS, "state" => "wrap_up").set(agents.wrap_up as f64);
    for class in ChannelClass::ALL {
        let capacity = agents.capacity.get(class);
        let ratio = if capacity == 0 {
            0.0
        } else {
            f64::from(agents.load.get(class)) / f64::from(capacity)
        };
        gauge!(OCCUPANCY, "class" => class.as_str()).set(ratio);
    }
}

/// Counts a relayed message, towards the customer or towards the agent.
pub fn record_relayed(to_customer: bool) {
    super::hot::relayed(to_customer);
}

/// Counts a refused request or frame.
pub fn record_rejected(code: tonic::Code) {
    counter!(REJECTED, "code" => code_name(code)).increment(1);
}

/// Limits that refuse calls, as labels of [`LIMITED`].
pub const LIMIT_NAMES: &[&str] = &[
    "tenants",
    "open_conversations",
    "agents",
    "sessions",
    "skills",
    "adapter_mailbox",
    "request_rate",
    "max_queue_time",
    "kb_reloads",
    "storage",
];

/// Counts a call refused before authentication succeeded.
pub fn record_auth_refused(reason: &'static str) {
    counter!(AUTH_REFUSED, "reason" => reason).increment(1);
}

/// Counts an authenticated call.
pub fn record_authenticated(method: &'static str) {
    counter!(AUTHENTICATED, "method" => method).increment(1);
}

/// Counts a call refused for acting outside its tenant, role, subject or ownership.
pub fn record_permission_denied(what: &'static str) {
    counter!(PERMISSION_DENIED, "what" => what).increment(1);
}

/// Counts a call refused at a limit (one of [`LIMIT_NAMES`]).
pub fn record_limited(limit: &'static str) {
    counter!(LIMITED, "limit" => limit).increment(1);
}

/// Sets the tenant gauge.
pub fn record_tenants(count: usize) {
    gauge!(TENANTS).set(count as f64);
}

/// Counts a dropped delivery.
pub fn record_dropped(reason: &'static str) {
    counter!(DROPPED, "reason" => reason).increment(1);
}

/// Tracks an open stream for as long as the guard lives.
pub struct StreamGauge(&'static str);

impl StreamGauge {
    /// Counts a stream of `kind` open until the guard drops.
    pub fn open(kind: &'static str) -> StreamGauge {
        gauge!(OPEN_STREAMS, "kind" => kind).increment(1.0);
        StreamGauge(kind)
    }
}

impl Drop for StreamGauge {
    fn drop(&mut self) {
        gauge!(OPEN_STREAMS, "kind" => self.0).decrement(1.0);
    }
}

/// Every code a refusal can carry (all but `OK`).
const ALL_CODES: [tonic::Code; 16] = {
    use tonic::Code::*;
    [
        Cancelled,
        Unknown,
        InvalidArgument,
        DeadlineExceeded,
        NotFound,
        AlreadyExists,
        PermissionDenied,
        ResourceExhausted,
        FailedPrecondition,
        Aborted,
        OutOfRange,
        Unimplemented,
        Internal,
        Unavailable,
        DataLoss,
        Unauthenticated,
    ]
};

fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "ok",
        Cancelled => "cancelled",
        Unknown => "unknown",
        InvalidArgument => "invalid_argument",
        DeadlineExceeded => "deadline_exceeded",
        NotFound => "not_found",
        AlreadyExists => "already_exists",
        PermissionDenied => "permission_denied",
        ResourceExhausted => "resource_exhausted",
        FailedPrecondition => "failed_precondition",
        Aborted => "aborted",
        OutOfRange => "out_of_range",
        Unimplemented => "unimplemented",
        Internal => "internal",
        Unavailable => "unavailable",
        DataLoss => "data_loss",
        Unauthenticated => "unauthenticated",
    }
}

/// Records one journal batch: its records and bytes, write and fsync time.
pub fn record_journal_write(records: usize, bytes: usize, write: Duration, fsync: Duration) {
    counter!(JOURNAL_RECORDS).increment(records as u64);
    counter!(JOURNAL_BYTES).increment(bytes as u64);
    histogram!(JOURNAL_WRITE).record(write.as_secs_f64());
    histogram!(JOURNAL_FSYNC).record(fsync.as_secs_f64());
}

/// Records a failed journal write.
pub fn record_journal_failure() {
    counter!(JOURNAL_FAILURES).increment(1);
}

/// Records a round of snapshots and the journal's size after it.
pub fn record_snapshot(took: Duration, journal_disk_bytes: u64) {
    histogram!(SNAPSHOT_DURATION).record(took.as_secs_f64());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    gauge!(SNAPSHOT_LAST).set(now);
    gauge!(JOURNAL_DISK).set(journal_disk_bytes as f64);
}

/// Records a start-up recovery.
pub fn record_replay(took: Duration, records: u64) {
    gauge!(REPLAY_DURATION).set(took.as_secs_f64());
    counter!(REPLAYED).increment(records);
}

/// Records damage found in stored data.
pub fn record_corruption(kind: &'static str) {
    counter!(CORRUPTION, "kind" => kind).increment(1);
}
