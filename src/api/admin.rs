//! The admin service: views of one tenant for supervisors and tooling, and the few
//! writes (knowledge-base reload) for operators. Every call is audit-logged.

use tonic::{Request, Response, Status};

use super::access::{Caller, authorize};
use super::agent_kpis;
use super::convert::{self, MAX_ID_BYTES};
use super::pb;
use super::profiles;
use super::status::{rejected, settled, status_of};
use crate::auth::{Role, TenantScope};
use crate::routing::taught::{Lesson, TaughtEntry};
use crate::routing::{
    Applied, Command, ConversationId, ConversationSnapshot, ConversationState, Millis, Router, Rule,
};
use crate::tenants::builtin_bot::KnowledgeBaseSummary;
use crate::tenants::{Tenant, Tenants};

/// Default and largest number of groups of `ListUnansweredQuestions`.
const DEFAULT_UNANSWERED_GROUPS: u32 = 50;
const MAX_UNANSWERED_GROUPS: u32 = 500;

/// Default and largest page of `ListWaiting`.
const DEFAULT_WAITING: u32 = 100;
const MAX_WAITING: u32 = 10_000;

/// Serves `switchboard.v1.Admin`.
#[derive(Debug, Clone)]
pub struct AdminService {
    tenants: Tenants,
}

impl AdminService {
    /// Admin views over every tenant.
    pub fn new(tenants: Tenants) -> AdminService {
        AdminService { tenants }
    }

    /// The tenant of a supervisor's read.
    fn tenant<T>(
        &self,
        request: &Request<T>,
        action: &'static str,
    ) -> Result<std::sync::Arc<Tenant>, Status> {
        Ok(authorize(&self.tenants, request, Role::Supervisor, action)?.tenant)
    }

    /// The caller of an operator's call.
    fn operator<T>(&self, request: &Request<T>, action: &'static str) -> Result<Caller, Status> {
        authorize(&self.tenants, request, Role::Operator, action)
    }
}

fn knowledge_base_view(summary: KnowledgeBaseSummary) -> pb::KnowledgeBaseView {
    pb::KnowledgeBaseView {
        path: summary
            .path
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        entries: summary.entries as u32,
        languages: summary.languages,
    }
}

fn state_to_pb(state: ConversationState) -> pb::ConversationState {
    match state {
        ConversationState::Queued => pb::ConversationState::Queued,
        ConversationState::Offered => pb::ConversationState::Offered,
        ConversationState::Assigned => pb::ConversationState::Assigned,
        ConversationState::Parked => pb::ConversationState::Parked,
        ConversationState::Closed => pb::ConversationState::Closed,
        ConversationState::Abandoned => pb::ConversationState::Abandoned,
        ConversationState::WithBot => pb::ConversationState::WithBot,
        ConversationState::BotFinished => pb::ConversationState::BotFinished,
    }
}

fn conversation_view(
    c: &ConversationSnapshot,
    router: &Router,
    position: usize,
    now: Millis,
) -> pb::ConversationView {
    pb::ConversationView {
        conversation_id: c.id.to_string(),
        channel: convert::channel_to_pb(c.channel) as i32,
        channel_conversation_id: c.channel_conversation_id.to_string(),
        customer_id: c.customer.id.to_string(),
        state: state_to_pb(c.state) as i32,
        queue: router.queue_name(c.queue).to_owned(),
        value_tier: router.tier_name(c.tier).to_owned(),
        clv: c.customer.clv,
        agent_id: c.agent.as_deref().unwrap_or_default().to_owned(),
        waited_ms: c.waited_ms(now),
        required_skills: c
            .required
            .iter()
            .map(|(skill, level)| pb::SkillRequirement {
                skill: skill.to_string(),
                min_proficiency: u32::from(*level),
            })
            .collect(),
        position: position as u32,
        intent: c.intent.as_deref().unwrap_or_default().to_owned(),
        handoff_reason: c.handoff.map(|r| r.as_str()).unwrap_or_default().to_owned(),
        transcript: Vec::new(),
        satisfaction: c.satisfaction.map_or(0, u32::from),
        recommend: c.recommend.map_or(-1, i32::from),
    }
}

#[tonic::async_trait]
impl pb::admin_server::Admin for AdminService {
    async fn list_agents(
        &self,
        request: Request<pb::ListAgentsRequest>,
    ) -> Result<Response<pb::ListAgentsResponse>, Status> {
        let tenant = self.tenant(&request, "Admin/ListAgents")?;
        let now = self.tenants.clock().now();
        let agents = tenant.lock_for("admin").router.agents(now);
        let capacity = |c: crate::routing::PerClass| pb::Capacity {
            messaging: c.0[0],
            email: c.0[1],
            voice: c.0[2],
        };
        let agents = agents
            .into_iter()
            .map(|a| pb::AgentView {
                agent_id: a.id.to_string(),
                display_name: a.display_name,
                presence: convert::presence_to_pb(a.presence) as i32,
                skills: a
                    .skills
                    .iter()
                    .map(|(skill, level)| pb::AgentSkill {
                        skill: skill.to_string(),
                        proficiency: u32::from(*level),
                    })
                    .collect(),
                capacity: Some(capacity(a.capacity)),
                load: Some(capacity(a.load)),
                idle_ms: a.idle_ms,
                conversation_ids: a.conversations.iter().map(|c| c.to_string()).collect(),
                reconnecting: a.returning,
            })
            .collect();
        Ok(Response::new(pb::ListAgentsResponse { agents }))
    }

    async fn list_waiting(
        &self,
        request: Request<pb::ListWaitingRequest>,
    ) -> Result<Response<pb::ListWaitingResponse>, Status> {
        let tenant = self.tenant(&request, "Admin/ListWaiting")?;
        let limit = convert::page_limit(request.get_ref().limit, DEFAULT_WAITING, MAX_WAITING)?;
        let now = self.tenants.clock().now();
        let state = tenant.lock_for("admin");
        let router = &state.router;
        let conversations = router
            .waiting_in_order(limit)
            .into_iter()
            .filter_map(|id| router.snapshot(id))
            .enumerate()
            .map(|(i, c)| conversation_view(&c, router, i + 1, now))
            .collect();
        Ok(Response::new(pb::ListWaitingResponse {
            conversations,
            total: router.waiting_len() as u32,
        }))
    }

    async fn get_conversation(
        &self,
        request: Request<pb::GetConversationRequest>,
    ) -> Result<Response<pb::ConversationView>, Status> {
        let tenant = self.tenant(&request, "Admin/GetConversation")?;
        let text = &request.get_ref().conversation_id;
        convert::id("conversation_id", text, MAX_ID_BYTES).map_err(rejected)?;
        let not_found = || rejected(Status::not_found(format!("conversation {text} not found")));
        let id: ConversationId = text.parse().map_err(|()| not_found())?;
        let now = self.tenants.clock().now();
        let state = tenant.lock_for("admin");
        let c = state.router.conversation(id).ok_or_else(not_found)?;
        let position = state.router.waiting_position(id).unwrap_or(0);
        let mut view = conversation_view(&c, &state.router, position, now);
        view.transcript = state
            .router
            .transcript(id)
            .unwrap_or_default()
            .iter()
            .map(convert::transcript_entry)
            .collect();
        Ok(Response::new(view))
    }

    async fn explain_conversation(
        &self,
        request: Request<pb::ExplainConversationRequest>,
    ) -> Result<Response<pb::Explanation>, Status> {
        let tenant = self.tenant(&request, "Admin/ExplainConversation")?;
        let req = request.get_ref();
        convert::id("conversation_id", &req.conversation_id, MAX_ID_BYTES).map_err(rejected)?;
        let limit = convert::page_limit(req.limit, 20, 1_000)?;
        let text = &req.conversation_id;
        let not_found = || {
            rejected(Status::not_found(format!(
                "conversation {text} is not open"
            )))
        };
        let id: ConversationId = text.parse().map_err(|()| not_found())?;
        let now = self.tenants.clock().now();
        let e = tenant
            .lock_for("admin")
            .router
            .explain(now, id, limit)
            .ok_or_else(not_found)?;
        let skills = |list: &[(std::sync::Arc<str>, u8)]| {
            list.iter()
                .map(|(skill, level)| pb::SkillRequirement {
                    skill: skill.to_string(),
                    min_proficiency: u32::from(*level),
                })
                .collect()
        };
        Ok(Response::new(pb::Explanation {
            conversation_id: e.conversation.to_string(),
            state: state_to_pb(e.state) as i32,
            agent_id: e.agent.as_deref().unwrap_or_default().to_owned(),
            verdict: e.verdict,
            rule: match e.rule {
                None => pb::RoutingRule::Unspecified,
                Some(Rule::LongestIdleEligible) => pb::RoutingRule::LongestIdleEligible,
                Some(Rule::BestWaitingForFreedAgent) => pb::RoutingRule::BestWaitingForFreedAgent,
                Some(Rule::TransferToAgent) => pb::RoutingRule::TransferToAgent,
                Some(Rule::LeastOccupiedEligible) => pb::RoutingRule::LeastOccupiedEligible,
                Some(Rule::MostProficientEligible) => pb::RoutingRule::MostProficientEligible,
                Some(Rule::RoundRobinEligible) => pb::RoutingRule::RoundRobinEligible,
                Some(Rule::LastAgent) => pb::RoutingRule::LastAgent,
            } as i32,
            decided_at_unix_ms: e.decided_at.unwrap_or(0) as i64,
            position: e.position.unwrap_or(0) as u32,
            priority: e.priority,
            value_tier: e.tier,
            boosts: e.boosts.iter().map(|b| (*b).to_owned()).collect(),
            required_skills: skills(&e.required),
            candidates: e
                .candidates
                .iter()
                .map(|c| pb::CandidateAgent {
                    agent_id: c.agent.to_string(),
                    eligible: c.eligible,
                    missing_skills: skills(&c.missing),
                    has_room: c.has_room,
                    presence: convert::presence_to_pb(c.presence) as i32,
                    declined_recently: c.declined,
                    idle_ms: c.idle_ms,
                    score: c.score,
                    chosen: c.chosen,
                })
                .collect(),
            candidates_total: e.candidates_total as u32,
            escalation_step: e
                .escalation
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
            customer_value: e.customer_value.as_ref().map(profiles::lifetime_value),
        }))
    }

    async fn get_config(
        &self,
        request: Request<pb::GetConfigRequest>,
    ) -> Result<Response<pb::ConfigView>, Status> {
        let caller = self.operator(&request, "Admin/GetConfig")?;
        // An operator of one tenant sees that tenant's settings only: the whole file
        // names every other tenant.
        let toml = match caller.principal.tenant {
            TenantScope::Declared => self.tenants.config().to_toml(),
            TenantScope::One(_) => self
                .tenants
                .config()
                .tenant_settings(&caller.tenant.name)
                .map_err(|e| Status::internal(e.to_string()))
                .and_then(|settings| {
                    toml::to_string(&settings).map_err(|e| Status::internal(e.to_string()))
                })?,
        };
        Ok(Response::new(pb::ConfigView { toml }))
    }

    async fn reload_knowledge_base(
        &self,
        request: Request<pb::ReloadKnowledgeBaseRequest>,
    ) -> Result<Response<pb::KnowledgeBaseView>, Status> {
        let caller = self.operator(&request, "Admin/ReloadKnowledgeBase")?;
        // One reload at a time in the process: building an index is CPU-heavy, and a
        // stream of reloads must not starve routing of every tenant.
        let permit = self.tenants.try_reload().ok_or_else(|| {
            crate::telemetry::metrics::record_limited("kb_reloads");
            rejected(Status::resource_exhausted(
                "a knowledge-base reload is running; retry when it has finished",
            ))
        })?;
        let bot = caller.tenant.bot().clone();
        // Building the index takes a moment for a large file: off the async workers.
        let result = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            bot.reload()
        })
        .await
        .map_err(|e| Status::internal(format!("reload task failed: {e}")))?;
        match result {
            Ok(summary) => {
                tracing::info!(
                    target: "audit",
                    tenant = %caller.tenant.name,
                    principal = %caller.principal,
                    entries = summary.entries,
                    "knowledge base reloaded"
                );
                Ok(Response::new(knowledge_base_view(summary)))
            }
            Err(e) => {
                tracing::warn!(error = %e, "knowledge base reload refused");
                Err(rejected(Status::failed_precondition(e.to_string())))
            }
        }
    }

    async fn list_bots(
        &self,
        request: Request<pb::ListBotsRequest>,
    ) -> Result<Response<pb::ListBotsResponse>, Status> {
        let tenant = self.tenant(&request, "Admin/ListBots")?;
        let workers = tenant.lock_for("admin").bots.workers();
        let bots = workers
            .into_iter()
            .map(|(spec, in_flight)| pb::BotView {
                bot_id: spec.bot_id.to_string(),
                languages: spec.languages,
                channels: spec
                    .channels
                    .iter()
                    .map(|&c| convert::channel_to_pb(c) as i32)
                    .collect(),
                capacity: spec.capacity as u32,
                in_flight: in_flight as u32,
            })
            .collect();
        Ok(Response::new(pb::ListBotsResponse { bots }))
    }

    async fn list_answer_ratings(
        &self,
        request: Request<pb::ListAnswerRatingsRequest>,
    ) -> Result<Response<pb::ListAnswerRatingsResponse>, Status> {
        let tenant = self.tenant(&request, "Admin/ListAnswerRatings")?;
        let state = tenant.lock_for("admin");
        let ratings = state
            .router
            .answer_ratings()
            .iter()
            .map(|(intent, r)| pb::AnswerRating {
                intent: intent.to_string(),
                answered: r.answered,
                solved: r.solved,
                not_solved: r.not_solved,
                resolution_rate: r.resolution_rate().unwrap_or(0.0),
                rated: r.resolution_rate().is_some(),
            })
            .collect();
        Ok(Response::new(pb::ListAnswerRatingsResponse { ratings }))
    }

    async fn list_unanswered_questions(
        &self,
        request: Request<pb::ListUnansweredQuestionsRequest>,
    ) -> Result<Response<pb::ListUnansweredQuestionsResponse>, Status> {
        let tenant = self.tenant(&request, "Admin/ListUnansweredQuestions")?;
        let limit = convert::page_limit(
            request.get_ref().limit,
            DEFAULT_UNANSWERED_GROUPS,
            MAX_UNANSWERED_GROUPS,
        )?;
        // Grouping 2,000 questions takes a few milliseconds: copy them out of the lock.
        let log = tenant.lock_for("admin").router.unanswered().clone();
        let groups = tokio::task::spawn_blocking(move || (log.len(), log.groups(limit)))
            .await
            .map_err(|e| Status::internal(format!("grouping task failed: {e}")))?;
        let (questions, groups) = groups;
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        Ok(Response::new(pb::ListUnansweredQuestionsResponse {
            questions: count(questions),
            groups: groups
                .into_iter()
                .map(|g| pb::UnansweredGroup {
                    texts: g
                        .texts
                        .into_iter()
                        .map(|(text, count)| pb::UnansweredText {
                            text: text.to_string(),
                            count,
                        })
                        .collect(),
                    count: g.count,
                    not_solved: g.not_solved,
                    intents: g
                        .intents
                        .into_iter()
                        .map(|(intent, count)| pb::IntentCount {
                            intent: intent.to_string(),
                            count,
                        })
                        .collect(),
                    languages: g.languages.iter().map(|l| l.to_string()).collect(),
                    last_asked_unix_ms: g.last_at as i64,
                })
                .collect(),
        }))
    }

    async fn teach_bot(
        &self,
        request: Request<pb::TeachBotRequest>,
    ) -> Result<Response<pb::TeachBotResponse>, Status> {
        let caller = self.operator(&request, "Admin/TeachBot")?;
        let req = request.into_inner();
        let lesson = Lesson {
            entry_id: req.entry_id.trim().to_owned(),
            new_entry: req.new_entry.map(|e| TaughtEntry {
                id: String::new(),
                lang: e.lang.trim().to_owned(),
                intent: e.intent.trim().to_owned(),
                answer: e.answer,
            }),
            questions: req.questions,
        };
        // Rebuilding the bot is as heavy as a reload, and shares its one-at-a-time bound.
        let permit = self.tenants.try_reload().ok_or_else(|| {
            crate::telemetry::metrics::record_limited("kb_reloads");
            rejected(Status::resource_exhausted(
                "a knowledge-base rebuild is running; retry when it has finished",
            ))
        })?;
        let bot = caller.tenant.bot().clone();
        let entry_exists = bot
            .current()
            .knowledge()
            .entries
            .iter()
            .any(|e| e.id == lesson.entry_id);
        let questions = lesson.questions.len();
        let entry_id = lesson.entry_id.clone();
        let (added, taught) = caller
            .tenant
            .run("teach", self.tenants.clock(), |state, now| {
                let added = state.execute(
                    now,
                    Command::Teach {
                        lesson,
                        entry_exists,
                    },
                );
                (added, state.router.taught().clone())
            });
        let added = match added.map_err(status_of)? {
            Applied::Count(n) => n,
            _ => 0,
        };
        // Journaled before the bot changes: a lesson the customer meets survives a crash.
        settled(&self.tenants).await?;
        let summary = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            bot.teach(taught)
        })
        .await
        .map_err(|e| Status::internal(format!("rebuild task failed: {e}")))?
        .map_err(|e| {
            Status::failed_precondition(format!(
                "the lesson is kept but the bot could not be rebuilt: {e}"
            ))
        })?;
        tracing::info!(
            target: "audit",
            tenant = %caller.tenant.name,
            principal = %caller.principal,
            entry_id = %entry_id,
            questions,
            added,
            "bot taught"
        );
        Ok(Response::new(pb::TeachBotResponse {
            questions_added: u32::try_from(added).unwrap_or(u32::MAX),
            knowledge_base: Some(knowledge_base_view(summary)),
        }))
    }

    async fn get_customer_profile(
        &self,
        request: Request<pb::GetCustomerProfileRequest>,
    ) -> Result<Response<pb::CustomerProfileView>, Status> {
        let tenant = self.tenant(&request, "Admin/GetCustomerProfile")?;
        profiles::get(&self.tenants, &tenant, request.into_inner()).map(Response::new)
    }

    async fn list_at_risk_customers(
        &self,
        request: Request<pb::ListAtRiskCustomersRequest>,
    ) -> Result<Response<pb::ListAtRiskCustomersResponse>, Status> {
        let tenant = self.tenant(&request, "Admin/ListAtRiskCustomers")?;
        profiles::at_risk(&tenant, request.into_inner()).map(Response::new)
    }

    async fn list_follow_ups(
        &self,
        request: Request<pb::ListFollowUpsRequest>,
    ) -> Result<Response<pb::ListFollowUpsResponse>, Status> {
        let tenant = self.tenant(&request, "Admin/ListFollowUps")?;
        profiles::follow_ups(&tenant, request.into_inner()).map(Response::new)
    }

    async fn get_agent_kpis(
        &self,
        request: Request<pb::GetAgentKpisRequest>,
    ) -> Result<Response<pb::GetAgentKpisResponse>, Status> {
        let tenant = self.tenant(&request, "Admin/GetAgentKpis")?;
        let now = self.tenants.clock().now();
        let state = tenant.lock_for("admin");
        let within = state.router.policy().kpis.accept_within_secs;
        agent_kpis::get(&state.kpis, within, now, request.get_ref()).map(Response::new)
    }

    async fn record_customer_facts(
        &self,
        request: Request<pb::RecordCustomerFactsRequest>,
    ) -> Result<Response<pb::CustomerProfileView>, Status> {
        let caller = self.operator(&request, "Admin/RecordCustomerFacts")?;
        profiles::record_facts(&self.tenants, &caller, request.into_inner())
            .await
            .map(Response::new)
    }

    async fn tag_customer(
        &self,
        request: Request<pb::TagCustomerRequest>,
    ) -> Result<Response<pb::CustomerProfileView>, Status> {
        let caller = self.operator(&request, "Admin/TagCustomer")?;
        profiles::tag(&self.tenants, &caller, request.into_inner())
            .await
            .map(Response::new)
    }

    async fn record_customer_consent(
        &self,
        request: Request<pb::RecordCustomerConsentRequest>,
    ) -> Result<Response<pb::CustomerProfileView>, Status> {
        let caller = self.operator(&request, "Admin/RecordCustomerConsent")?;
        profiles::record_consent(&self.tenants, &caller, request.into_inner())
            .await
            .map(Response::new)
    }

    async fn link_identifier(
        &self,
        request: Request<pb::LinkIdentifierRequest>,
    ) -> Result<Response<pb::CustomerProfileView>, Status> {
        let caller = self.operator(&request, "Admin/LinkIdentifier")?;
        let req = request.into_inner();
        profiles::relink(&self.tenants, &caller, req.profile_id, req.identifier, true)
            .await
            .map(Response::new)
    }

    async fn unlink_identifier(
        &self,
        request: Request<pb::UnlinkIdentifierRequest>,
    ) -> Result<Response<pb::CustomerProfileView>, Status> {
        let caller = self.operator(&request, "Admin/UnlinkIdentifier")?;
        let req = request.into_inner();
        profiles::relink(
            &self.tenants,
            &caller,
            req.profile_id,
            req.identifier,
            false,
        )
        .await
        .map(Response::new)
    }

    async fn merge_profiles(
        &self,
        request: Request<pb::MergeProfilesRequest>,
    ) -> Result<Response<pb::MergeView>, Status> {
        let caller = self.operator(&request, "Admin/MergeProfiles")?;
        profiles::merge(&self.tenants, &caller, request.into_inner())
            .await
            .map(Response::new)
    }

    async fn unmerge_profiles(
        &self,
        request: Request<pb::UnmergeProfilesRequest>,
    ) -> Result<Response<pb::MergeView>, Status> {
        let caller = self.operator(&request, "Admin/UnmergeProfiles")?;
        profiles::unmerge(&self.tenants, &caller, request.into_inner())
            .await
            .map(Response::new)
    }

    async fn export_customer_data(
        &self,
        request: Request<pb::ExportCustomerDataRequest>,
    ) -> Result<Response<pb::CustomerDataExport>, Status> {
        let caller = self.operator(&request, "Admin/ExportCustomerData")?;
        profiles::export(&self.tenants, &caller, request.into_inner()).map(Response::new)
    }

    async fn erase_customer_data(
        &self,
        request: Request<pb::EraseCustomerDataRequest>,
    ) -> Result<Response<pb::ErasedCustomerData>, Status> {
        let caller = self.operator(&request, "Admin/EraseCustomerData")?;
        profiles::erase(&self.tenants, &caller, request.into_inner())
            .await
            .map(Response::new)
    }
}
