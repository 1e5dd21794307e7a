//! The outbound service: the tenant's systems send one customer a notification from a
//! template, and ask where it stands. Operators only, like the other writes of the
//! tenant's systems (facts, consent); every send is audit-logged.

use std::collections::HashMap;

use tonic::{Request, Response, Status};

use super::access::{Caller, authorize};
use super::convert;
use super::pb;
use super::profiles;
use super::status::{invalid, rejected, settled, status_of};
use crate::auth::Role;
use crate::outbound::{
    ButtonSource, Campaign, CampaignId, CampaignRequest, CampaignStatus, Notification,
    NotificationId, NotificationRequest, NotificationStatus, RenderError, Rendered, Segment,
    TemplateSource,
};
use crate::routing::{Applied, Command, Millis};
use crate::tenants::Tenants;

/// Longest template name, client notification id and language tag, in bytes.
const MAX_NAME_BYTES: usize = 128;
const MAX_LANGUAGE_BYTES: usize = 35;
/// Most variables per send, and the longest value.
const MAX_VARIABLES: usize = 32;
const MAX_VARIABLE_BYTES: usize = 1024;
/// The deadline when none is given, and the furthest one taken.
const DEFAULT_DEADLINE_MS: u64 = 24 * 3_600_000;
const MAX_DEADLINE_MS: u64 = 30 * 24 * 3_600_000;
/// A campaign's length when none is given, and its pace.
const DEFAULT_CAMPAIGN_MS: u64 = 7 * 24 * 3_600_000;
const DEFAULT_PER_MINUTE: u32 = 60;
const MAX_PER_MINUTE: u32 = 60_000;

/// Serves `switchboard.v1.Outbound`.
#[derive(Debug, Clone)]
pub struct OutboundService {
    tenants: Tenants,
}

impl OutboundService {
    /// Outbound notifications for every tenant.
    pub fn new(tenants: Tenants) -> OutboundService {
        OutboundService { tenants }
    }

    fn operator<T>(&self, request: &Request<T>, action: &'static str) -> Result<Caller, Status> {
        authorize(&self.tenants, request, Role::Operator, action)
    }

    fn supervisor<T>(&self, request: &Request<T>, action: &'static str) -> Result<Caller, Status> {
        authorize(&self.tenants, request, Role::Supervisor, action)
    }
}

/// The template, variables and language a send or a campaign fills.
struct Fill<'a> {
    template: &'a str,
    variables: &'a HashMap<String, String>,
    language: &'a str,
}

fn check_fill(fill: &Fill<'_>) -> Result<(), Status> {
    if fill.template.is_empty() {
        return Err(invalid("template", "required"));
    }
    convert::bounded("template", fill.template, MAX_NAME_BYTES)?;
    convert::bounded("language", fill.language, MAX_LANGUAGE_BYTES)?;
    if fill.variables.len() > MAX_VARIABLES {
        return Err(invalid(
            "variables",
            format_args!("at most {MAX_VARIABLES}"),
        ));
    }
    if let Some((name, _)) = fill
        .variables
        .iter()
        .find(|(name, value)| name.len() > MAX_NAME_BYTES || value.len() > MAX_VARIABLE_BYTES)
    {
        return Err(invalid(
            "variables",
            format_args!(
                "{name:?}: names up to {MAX_NAME_BYTES} bytes, values up to \
                 {MAX_VARIABLE_BYTES}"
            ),
        ));
    }
    Ok(())
}

/// Fills the template with the tenant's templates, bounded by the text limit.
fn render(
    router: &crate::routing::Router,
    fill: &Fill<'_>,
    max_text: usize,
) -> Result<Rendered, Status> {
    let rendered = router
        .templates()
        .render(fill.template, fill.language, "", fill.variables)
        .map_err(render_error)?;
    convert::bounded("variables (the filled text)", &rendered.text, max_text)?;
    Ok(rendered)
}

fn preferred_channel(given: i32) -> Result<Option<crate::routing::Channel>, Status> {
    match given {
        0 => Ok(None),
        given => convert::channel("preferred_channel", given).map(Some),
    }
}

fn client_id(field: &'static str, given: String) -> Result<Option<String>, Status> {
    convert::bounded(field, &given, MAX_NAME_BYTES)?;
    Ok((!given.is_empty()).then_some(given))
}

/// What a send asks for, checked, before its template is filled.
struct Checked {
    purpose: crate::customer::ContactPurpose,
    template: String,
    variables: HashMap<String, String>,
    language: String,
    preferred_channel: Option<crate::routing::Channel>,
    deadline: Millis,
    client_id: Option<String>,
}

fn check(req: pb::SendNotificationRequest, now: Millis) -> Result<Checked, Status> {
    let purpose = convert::purpose_from_pb("kind", req.kind)?;
    let template = req.template.trim().to_owned();
    check_fill(&Fill {
        template: &template,
        variables: &req.variables,
        language: &req.language,
    })?;
    let deadline = match req.deadline_unix_ms {
        0 => now + DEFAULT_DEADLINE_MS,
        at if at <= now as i64 => {
            return Err(invalid("deadline_unix_ms", "is already past"));
        }
        at if at as u64 > now + MAX_DEADLINE_MS => {
            return Err(invalid("deadline_unix_ms", "at most 30 days ahead"));
        }
        at => at as u64,
    };
    Ok(Checked {
        purpose,
        template,
        variables: req.variables,
        language: req.language,
        preferred_channel: preferred_channel(req.preferred_channel)?,
        deadline,
        client_id: client_id("client_notification_id", req.client_notification_id)?,
    })
}

fn render_error(e: RenderError) -> Status {
    match e {
        RenderError::Unknown(_) => invalid("template", e),
        RenderError::MissingVariable { .. } => invalid("variables", e),
    }
}

#[tonic::async_trait]
impl pb::outbound_server::Outbound for OutboundService {
    async fn send_notification(
        &self,
        request: Request<pb::SendNotificationRequest>,
    ) -> Result<Response<pb::NotificationView>, Status> {
        let caller = self.operator(&request, "Outbound/SendNotification")?;
        let mut req = request.into_inner();
        let who = profiles::selector(req.customer.take()).map_err(rejected)?;
        let checked = check(req, self.tenants.clock().now()).map_err(rejected)?;
        let max_text = self.tenants.config().limits.max_text_bytes;
        let applied = caller
            .tenant
            .run("outbound", self.tenants.clock(), |state, now| {
                let fill = Fill {
                    template: &checked.template,
                    variables: &checked.variables,
                    language: &checked.language,
                };
                let rendered = render(&state.router, &fill, max_text)?;
                let request = NotificationRequest {
                    purpose: checked.purpose,
                    template: checked.template.as_str().into(),
                    text: rendered.text.into(),
                    buttons: rendered.buttons,
                    preferred_channel: checked.preferred_channel,
                    deadline: checked.deadline,
                    client_id: checked.client_id.clone(),
                };
                state
                    .execute(now, Command::SendNotification { who, request })
                    .map_err(status_of)
            })
            .map_err(rejected)?;
        settled(&self.tenants).await?;
        let Applied::Notification(id) = applied else {
            return Err(Status::internal("sent without a notification"));
        };
        tracing::info!(target: "audit", tenant = %caller.tenant.name, principal = %caller.principal,
            notification = %id, kind = checked.purpose.name(), template = %checked.template,
            "notification sent");
        view(&caller, id).map(Response::new)
    }

    async fn get_notification(
        &self,
        request: Request<pb::GetNotificationRequest>,
    ) -> Result<Response<pb::NotificationView>, Status> {
        let caller = self.supervisor(&request, "Outbound/GetNotification")?;
        let id = NotificationId(request.into_inner().notification_id);
        view(&caller, id).map(Response::new)
    }

    async fn start_campaign(
        &self,
        request: Request<pb::StartCampaignRequest>,
    ) -> Result<Response<pb::CampaignView>, Status> {
        let caller = self.operator(&request, "Outbound/StartCampaign")?;
        let req = request.into_inner();
        let now = self.tenants.clock().now();
        let max_text = self.tenants.config().limits.max_text_bytes;
        let (name, template) = (req.name.trim().to_owned(), req.template.trim().to_owned());
        let checked = check_campaign(&req, &name, &template, now).map_err(rejected)?;
        let applied = caller
            .tenant
            .run("outbound", self.tenants.clock(), |state, now| {
                let fill = Fill {
                    template: &template,
                    variables: &req.variables,
                    language: &req.language,
                };
                let rendered = render(&state.router, &fill, max_text)?;
                let request = campaign_request(&state.router, &req, checked, rendered)?;
                state
                    .execute(now, Command::StartCampaign(request))
                    .map_err(status_of)
            })
            .map_err(rejected)?;
        settled(&self.tenants).await?;
        let Applied::Campaign(id) = applied else {
            return Err(Status::internal("started without a campaign"));
        };
        tracing::info!(target: "audit", tenant = %caller.tenant.name, principal = %caller.principal,
            campaign = %id, name = %name, "campaign started");
        campaign_of(&caller, id, now).map(Response::new)
    }

    async fn get_campaign(
        &self,
        request: Request<pb::GetCampaignRequest>,
    ) -> Result<Response<pb::CampaignView>, Status> {
        let caller = self.supervisor(&request, "Outbound/GetCampaign")?;
        let id = CampaignId(request.into_inner().campaign_id);
        campaign_of(&caller, id, self.tenants.clock().now()).map(Response::new)
    }

    async fn list_campaigns(
        &self,
        request: Request<pb::ListCampaignsRequest>,
    ) -> Result<Response<pb::ListCampaignsResponse>, Status> {
        let caller = self.supervisor(&request, "Outbound/ListCampaigns")?;
        let now = self.tenants.clock().now();
        let state = caller.tenant.lock_for("outbound");
        let campaigns = state
            .router
            .campaign_list()
            .map(|c| campaign_view(&state.router, c, now))
            .collect();
        Ok(Response::new(pb::ListCampaignsResponse { campaigns }))
    }

    async fn set_templates(
        &self,
        request: Request<pb::SetTemplatesRequest>,
    ) -> Result<Response<pb::TemplatesView>, Status> {
        let caller = self.operator(&request, "Outbound/SetTemplates")?;
        let mut sources = Vec::new();
        for (i, t) in request.into_inner().templates.into_iter().enumerate() {
            convert::bounded(&format!("templates[{i}].name"), &t.name, MAX_NAME_BYTES)
                .and_then(|()| {
                    convert::bounded(
                        &format!("templates[{i}].language"),
                        &t.language,
                        MAX_LANGUAGE_BYTES,
                    )
                })
                .map_err(rejected)?;
            sources.push(TemplateSource {
                name: t.name,
                language: t.language,
                text: t.text,
                buttons: t
                    .buttons
                    .into_iter()
                    .map(|b| ButtonSource {
                        label: b.label,
                        payload: b.payload,
                    })
                    .collect(),
            });
        }
        let count = sources.len();
        caller
            .tenant
            .run("outbound", self.tenants.clock(), |state, now| {
                state.execute(now, Command::SetTemplates(sources))
            })
            .map_err(|e| rejected(status_of(e)))?;
        settled(&self.tenants).await?;
        tracing::info!(target: "audit", tenant = %caller.tenant.name, principal = %caller.principal,
            templates = count, "outbound templates replaced");
        Ok(Response::new(templates_view(&caller)))
    }

    async fn get_templates(
        &self,
        request: Request<pb::GetTemplatesRequest>,
    ) -> Result<Response<pb::TemplatesView>, Status> {
        let caller = self.supervisor(&request, "Outbound/GetTemplates")?;
        Ok(Response::new(templates_view(&caller)))
    }

    async fn stop_campaign(
        &self,
        request: Request<pb::StopCampaignRequest>,
    ) -> Result<Response<pb::CampaignView>, Status> {
        let caller = self.operator(&request, "Outbound/StopCampaign")?;
        let campaign = CampaignId(request.into_inner().campaign_id);
        caller
            .tenant
            .run("outbound", self.tenants.clock(), |state, now| {
                state.execute(now, Command::StopCampaign { campaign })
            })
            .map_err(|e| rejected(status_of(e)))?;
        settled(&self.tenants).await?;
        tracing::info!(target: "audit", tenant = %caller.tenant.name, principal = %caller.principal,
            campaign = %campaign, "campaign stopped");
        campaign_of(&caller, campaign, self.tenants.clock().now()).map(Response::new)
    }
}

/// A campaign's times and pace, checked.
#[derive(Clone, Copy)]
struct CampaignTimes {
    purpose: crate::customer::ContactPurpose,
    start_at: Millis,
    deadline: Millis,
    per_minute: u32,
    per_free_agent_per_minute: u32,
}

fn check_campaign(
    req: &pb::StartCampaignRequest,
    name: &str,
    template: &str,
    now: Millis,
) -> Result<CampaignTimes, Status> {
    if name.is_empty() {
        return Err(invalid("name", "required"));
    }
    convert::bounded("name", name, MAX_NAME_BYTES)?;
    let purpose = convert::purpose_from_pb("kind", req.kind)?;
    check_fill(&Fill {
        template,
        variables: &req.variables,
        language: &req.language,
    })?;
    let start_at = match req.start_at_unix_ms {
        0 => now,
        at if at < 0 || at as u64 > now + MAX_DEADLINE_MS => {
            return Err(invalid("start_at_unix_ms", "within the next 30 days"));
        }
        at => (at as u64).max(now),
    };
    let deadline = match req.deadline_unix_ms {
        0 => start_at + DEFAULT_CAMPAIGN_MS,
        at if at as u64 <= start_at.max(now) => {
            return Err(invalid("deadline_unix_ms", "must be after the start"));
        }
        at if at as u64 > now + MAX_DEADLINE_MS => {
            return Err(invalid("deadline_unix_ms", "at most 30 days ahead"));
        }
        at => at as u64,
    }
    .min(now + MAX_DEADLINE_MS);
    let per_minute = match req.per_minute {
        0 => DEFAULT_PER_MINUTE,
        n if n > MAX_PER_MINUTE => {
            return Err(invalid(
                "per_minute",
                format_args!("at most {MAX_PER_MINUTE}"),
            ));
        }
        n => n,
    };
    if req.per_free_agent_per_minute > MAX_PER_MINUTE {
        return Err(invalid(
            "per_free_agent_per_minute",
            format_args!("at most {MAX_PER_MINUTE}"),
        ));
    }
    let segment = req.segment.clone().unwrap_or_default();
    if !(0.0..=100.0).contains(&segment.health_below) {
        return Err(invalid("segment.health_below", "a score, 0-100"));
    }
    Ok(CampaignTimes {
        purpose,
        start_at,
        deadline,
        per_minute,
        per_free_agent_per_minute: req.per_free_agent_per_minute,
    })
}

/// The campaign the router runs, with names resolved against the tenant's config.
fn campaign_request(
    router: &crate::routing::Router,
    req: &pb::StartCampaignRequest,
    times: CampaignTimes,
    rendered: Rendered,
) -> Result<CampaignRequest, Status> {
    let queue = match req.queue.as_str() {
        "" => 0,
        name => router
            .queue_index(name)
            .ok_or_else(|| invalid("queue", format_args!("unknown queue {name:?}")))?,
    };
    let segment = req.segment.clone().unwrap_or_default();
    let tiers = &router.policy().priority.tiers;
    let tiers = segment
        .tiers
        .iter()
        .map(|name| {
            tiers
                .iter()
                .position(|t| t.name == *name)
                .ok_or_else(|| invalid("segment.tiers", format_args!("unknown tier {name:?}")))
        })
        .collect::<Result<Vec<usize>, Status>>()?;
    let days = |d: u32| (d > 0).then_some(d);
    Ok(CampaignRequest {
        name: req.name.trim().to_owned(),
        purpose: times.purpose,
        template: req.template.trim().to_owned(),
        text: rendered.text,
        buttons: rendered.buttons,
        preferred_channel: preferred_channel(req.preferred_channel)?,
        segment: Segment {
            tiers,
            health_below: (segment.health_below > 0.0).then_some(segment.health_below),
            no_purchase_days: days(segment.no_purchase_days),
            no_contact_days: days(segment.no_contact_days),
            tags: convert::tags("segment.tags", &segment.tags)?,
        },
        start_at: times.start_at,
        deadline: times.deadline,
        per_minute: times.per_minute,
        per_free_agent_per_minute: times.per_free_agent_per_minute,
        queue,
        client_id: client_id("client_campaign_id", req.client_campaign_id.clone())?,
    })
}

fn campaign_of(caller: &Caller, id: CampaignId, now: Millis) -> Result<pb::CampaignView, Status> {
    let state = caller.tenant.lock_for("outbound");
    let router = &state.router;
    router
        .campaign(id)
        .map(|c| campaign_view(router, c, now))
        .ok_or_else(|| {
            rejected(Status::not_found(format!(
                "campaign_id: {} is not known (or was forgotten)",
                id.0
            )))
        })
}

fn templates_view(caller: &Caller) -> pb::TemplatesView {
    let state = caller.tenant.lock_for("outbound");
    let (sources, from_api) = state.router.template_sources();
    pb::TemplatesView {
        templates: sources
            .iter()
            .map(|t| pb::Template {
                name: t.name.clone(),
                language: t.language.clone(),
                text: t.text.clone(),
                buttons: t
                    .buttons
                    .iter()
                    .map(|b| pb::Button {
                        label: b.label.clone(),
                        payload: b.payload.clone(),
                    })
                    .collect(),
            })
            .collect(),
        source: if from_api { "api" } else { "config" }.to_owned(),
    }
}

fn campaign_status_to_pb(status: CampaignStatus) -> pb::CampaignStatus {
    match status {
        CampaignStatus::Scheduled => pb::CampaignStatus::Scheduled,
        CampaignStatus::Running => pb::CampaignStatus::Running,
        CampaignStatus::Paused(_) => pb::CampaignStatus::Paused,
        CampaignStatus::Done => pb::CampaignStatus::Done,
        CampaignStatus::Expired => pb::CampaignStatus::Expired,
        CampaignStatus::Stopped => pb::CampaignStatus::Stopped,
    }
}

/// A campaign as the contract shows it.
pub fn campaign_view(
    router: &crate::routing::Router,
    c: &Campaign,
    now: Millis,
) -> pb::CampaignView {
    pb::CampaignView {
        campaign_id: c.id.0,
        name: c.name.to_string(),
        kind: convert::purpose_to_pb(c.purpose) as i32,
        template: c.template.to_string(),
        status: campaign_status_to_pb(c.status) as i32,
        paused_because: match c.status {
            CampaignStatus::Paused(reason) => reason.name().to_owned(),
            _ => String::new(),
        },
        status_at_unix_ms: c.status_at as i64,
        start_at_unix_ms: c.start_at as i64,
        deadline_unix_ms: c.deadline as i64,
        per_minute: c.per_minute,
        queue: router.queue_name(c.queue).to_owned(),
        scanned: c.counts.scanned,
        matched: c.counts.matched,
        sent: c.counts.sent,
        skipped: c.counts.skipped,
        replied: c.counts.replied,
        pauses: c.counts.pauses,
        profiles: router.profiles_len() as u64,
        queue_service_level: router.queue_service_level(c.queue, now),
        client_campaign_id: c.client_id.as_deref().unwrap_or_default().to_owned(),
        per_free_agent_per_minute: c.per_free_agent_per_minute,
        free_agents: c.pace.free_agents,
        pace_per_minute: c.pace.per_minute,
    }
}

fn view(caller: &Caller, id: NotificationId) -> Result<pb::NotificationView, Status> {
    let state = caller.tenant.lock_for("outbound");
    state
        .router
        .notification(id)
        .map(notification_view)
        .ok_or_else(|| {
            rejected(Status::not_found(format!(
                "notification_id: {} is not known (or was forgotten)",
                id.0
            )))
        })
}

fn status_to_pb(status: NotificationStatus) -> pb::NotificationStatus {
    match status {
        NotificationStatus::Queued { .. } => pb::NotificationStatus::Queued,
        NotificationStatus::Sent { .. } => pb::NotificationStatus::Sent,
        NotificationStatus::Delivered { .. } => pb::NotificationStatus::Delivered,
        NotificationStatus::Replied { .. } => pb::NotificationStatus::Replied,
        NotificationStatus::Skipped(_) => pb::NotificationStatus::Skipped,
        NotificationStatus::Expired => pb::NotificationStatus::Expired,
        NotificationStatus::Failed => pb::NotificationStatus::Failed,
    }
}

/// A notification as the contract shows it.
pub fn notification_view(n: &Notification) -> pb::NotificationView {
    let mut view = pb::NotificationView {
        notification_id: n.id.0,
        profile_id: n.profile.0,
        kind: convert::purpose_to_pb(n.purpose) as i32,
        template: n.template.to_string(),
        text: n.text.to_string(),
        status: status_to_pb(n.status) as i32,
        status_at_unix_ms: n.status_at as i64,
        created_at_unix_ms: n.created_at as i64,
        deadline_unix_ms: n.deadline as i64,
        client_notification_id: n.client_id.as_deref().unwrap_or_default().to_owned(),
        ..pb::NotificationView::default()
    };
    match n.status {
        NotificationStatus::Queued { why, retry_at } => {
            view.waiting_for = why.name().to_owned();
            view.retry_at_unix_ms = retry_at as i64;
        }
        NotificationStatus::Sent { channel } | NotificationStatus::Delivered { channel } => {
            view.channel = convert::channel_to_pb(channel) as i32;
        }
        NotificationStatus::Replied {
            channel,
            conversation,
        } => {
            view.channel = convert::channel_to_pb(channel) as i32;
            view.conversation_id = conversation.to_string();
        }
        NotificationStatus::Skipped(rule) => view.skipped_because = rule.name().to_owned(),
        NotificationStatus::Expired | NotificationStatus::Failed => {}
    }
    view
}
