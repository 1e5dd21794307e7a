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
    Notification, NotificationId, NotificationRequest, NotificationStatus, RenderError,
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
    let template = req.template.trim();
    if template.is_empty() {
        return Err(invalid("template", "required"));
    }
    convert::bounded("template", template, MAX_NAME_BYTES)?;
    convert::bounded("language", &req.language, MAX_LANGUAGE_BYTES)?;
    convert::bounded(
        "client_notification_id",
        &req.client_notification_id,
        MAX_NAME_BYTES,
    )?;
    if req.variables.len() > MAX_VARIABLES {
        return Err(invalid(
            "variables",
            format_args!("at most {MAX_VARIABLES}"),
        ));
    }
    if let Some((name, _)) = req
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
    let preferred_channel = match req.preferred_channel {
        0 => None,
        given => Some(convert::channel("preferred_channel", given)?),
    };
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
        template: template.to_owned(),
        variables: req.variables,
        language: req.language,
        preferred_channel,
        deadline,
        client_id: (!req.client_notification_id.is_empty()).then_some(req.client_notification_id),
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
                let rendered = state
                    .router
                    .templates()
                    .render(&checked.template, &checked.language, "", &checked.variables)
                    .map_err(render_error)?;
                convert::bounded("variables (the filled text)", &rendered.text, max_text)?;
                let request = NotificationRequest {
                    purpose: checked.purpose,
                    template: checked.template.clone(),
                    text: rendered.text,
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
        let caller = self.operator(&request, "Outbound/GetNotification")?;
        let id = NotificationId(request.into_inner().notification_id);
        view(&caller, id).map(Response::new)
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
