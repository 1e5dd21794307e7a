//! The one mapping from routing errors to gRPC statuses.

use tonic::{Code, Status};

use crate::routing::RoutingError;
use crate::telemetry::metrics;

/// The gRPC status for a routing error.
pub fn status_of(error: RoutingError) -> Status {
    let code = match &error {
        RoutingError::InvalidArgument { .. } => Code::InvalidArgument,
        RoutingError::ConversationNotFound(_)
        | RoutingError::AgentNotFound(_)
        | RoutingError::ProfileNotFound(_)
        | RoutingError::NotFound(_) => Code::NotFound,
        RoutingError::AlreadySignedIn(_) => Code::AlreadyExists,
        RoutingError::FailedPrecondition(_) => Code::FailedPrecondition,
        RoutingError::Exhausted(_) => Code::ResourceExhausted,
        RoutingError::NotOwner(_) => {
            metrics::record_permission_denied("owner");
            tracing::warn!(target: "audit", action = "conversation", outcome = "denied", what = "owner", "{error}");
            Code::PermissionDenied
        }
    };
    Status::new(code, error.to_string())
}

/// `INVALID_ARGUMENT` naming the field.
pub fn invalid(field: &str, reason: impl std::fmt::Display) -> Status {
    Status::invalid_argument(format!("{field}: {reason}"))
}

/// Counts a refused request and passes the status on.
pub fn rejected(status: Status) -> Status {
    metrics::record_rejected(status.code());
    tracing::debug!(code = ?status.code(), message = status.message(), "request refused");
    status
}

/// Status for work refused because the server is shutting down: adapters should retry
/// on another replica or after restart.
pub fn draining() -> Status {
    Status::unavailable("server is shutting down; retry shortly")
}

/// Status for a change the journal could not make durable: the client must not take
/// it as accepted, and may retry (a retry with the same ids is not applied twice).
pub fn not_durable(error: crate::storage::NotDurable) -> Status {
    rejected(Status::unavailable(format!("{error}; retry shortly")))
}

/// Waits until what the caller changed is durable, as a status.
pub async fn settled(tenants: &crate::tenants::Tenants) -> Result<(), Status> {
    tenants.settle().await.map_err(not_durable)
}
