//! Who may call what: the interceptor that authenticates every call to the
//! `switchboard.v1` services, and the per-call check of role, tenant and subject.
//!
//! Health and reflection stay open (probes and `grpcurl list` need no credential);
//! every other call carries a [`Principal`] proven by [`Authenticate`], and each
//! handler asks [`authorize`] for the role it needs before it touches a tenant.

use std::sync::Arc;

use tonic::{Request, Status};

use super::status::{draining, rejected};
use super::tenant::{TenantRefusal, tenant_of};
use crate::auth::{Auth, Credential, Peer, Principal, Role, TenantScope};
use crate::telemetry::metrics;
use crate::tenants::{SessionSlot, Tenant, TenantError, Tenants};

/// Authenticates every call once, when it opens (a stream authenticates at its
/// start, not per frame), and attaches the principal to the request.
#[derive(Debug, Clone)]
pub struct Authenticate {
    auth: Auth,
}

impl Authenticate {
    /// An interceptor checking calls against the live credentials.
    pub fn new(auth: Auth) -> Authenticate {
        Authenticate { auth }
    }
}

impl tonic::service::Interceptor for Authenticate {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        // Every connection comes through `transport::incoming`, which attaches it.
        let peer = request
            .extensions()
            .get::<Peer>()
            .cloned()
            .unwrap_or_default();
        let result = Credential::from_metadata(request.metadata())
            .and_then(|credential| self.auth.current().authenticate(credential, &peer));
        match result {
            Ok(principal) => {
                metrics::record_authenticated(principal.method.as_str());
                request.extensions_mut().insert(Arc::new(principal));
                Ok(request)
            }
            Err(refusal) => {
                metrics::record_auth_refused(refusal.as_str());
                tracing::warn!(
                    target: "audit",
                    action = "authenticate",
                    outcome = "refused",
                    reason = refusal.as_str(),
                    peer = ?peer.addr,
                    "call refused: not authenticated"
                );
                Err(rejected(Status::unauthenticated(refusal.client_message())))
            }
        }
    }
}

/// An authorized caller: who it is and the tenant it acts in.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The principal.
    pub principal: Arc<Principal>,
    /// The tenant of this call.
    pub tenant: Arc<Tenant>,
    /// The role it acts in.
    pub role: Role,
}

impl Caller {
    /// Takes one request (a stream frame) from the principal's rate.
    pub fn admit_frame(&self, tenants: &Tenants) -> Result<(), Status> {
        admit(tenants, self.role, &self.principal, &self.tenant.name)
    }

    /// Refuses with `PERMISSION_DENIED` unless the principal holds the adapter, agent
    /// or bot id `id` given in `field`.
    pub fn check_subject(&self, field: &str, id: &str) -> Result<(), Status> {
        if self.principal.holds(id) {
            return Ok(());
        }
        Err(deny(
            &self.principal,
            "subject",
            field,
            format!("{field}: this credential does not hold that id"),
        ))
    }
}

/// The caller of a new stream, and its place under the session limits: authorized
/// for `role`, refused while the server drains, and counted against the tenant's and
/// the process's open streams.
pub fn open_stream<T>(
    tenants: &Tenants,
    request: &Request<T>,
    role: Role,
    action: &'static str,
) -> Result<(Caller, SessionSlot), Status> {
    let caller = authorize(tenants, request, role, action)?;
    if tenants.is_draining() {
        return Err(rejected(draining()));
    }
    let slot = tenants
        .open_session(&caller.tenant)
        .map_err(|e| rejected(Status::resource_exhausted(e)))?;
    Ok((caller, slot))
}

/// Logs, counts and builds a `PERMISSION_DENIED`.
pub fn deny(principal: &Principal, what: &'static str, action: &str, message: String) -> Status {
    metrics::record_permission_denied(what);
    tracing::warn!(
        target: "audit",
        principal = %principal,
        action,
        outcome = "denied",
        what,
        "permission denied"
    );
    rejected(Status::permission_denied(message))
}

/// The caller of `request` if its principal may act as `role` in the tenant it asks
/// for. `action` names the call in the audit log, which records every supervisor and
/// operator call.
pub fn authorize<T>(
    tenants: &Tenants,
    request: &Request<T>,
    role: Role,
    action: &'static str,
) -> Result<Caller, Status> {
    let principal = request
        .extensions()
        .get::<Arc<Principal>>()
        .cloned()
        .ok_or_else(|| rejected(Status::unauthenticated("credentials required")))?;
    if !principal.roles.allow(role) {
        return Err(deny(
            &principal,
            "role",
            action,
            format!(
                "this credential may not call {action} (needs the {} role)",
                role.as_str()
            ),
        ));
    }
    let tenant_id = match tenant_of(request.metadata(), &principal, tenants.config()) {
        Ok(id) => id,
        Err(TenantRefusal::Status(status)) => return Err(rejected(status)),
        Err(TenantRefusal::OtherTenant) => {
            return Err(deny(
                &principal,
                "tenant",
                action,
                "x-switchboard-tenant: this credential is for another tenant".to_owned(),
            ));
        }
    };
    let named = matches!(principal.tenant, TenantScope::One(_)) && principal.is_authenticated();
    let tenant = tenants.tenant(&tenant_id, named).map_err(|e| {
        rejected(match e {
            TenantError::NotDeclared(_) => Status::not_found(format!(
                "x-switchboard-tenant: {e}; declare it under [tenants] or use a credential for it"
            )),
            TenantError::Exhausted(_) => Status::resource_exhausted(e.to_string()),
            TenantError::Settings { .. } => Status::internal(e.to_string()),
        })
    })?;
    admit(tenants, role, &principal, &tenant.name)?;
    if matches!(role, Role::Supervisor | Role::Operator) {
        tracing::info!(
            target: "audit",
            principal = %principal,
            tenant = %tenant.name,
            action,
            "admin call"
        );
    }
    Ok(Caller {
        principal,
        tenant,
        role,
    })
}

/// Takes one request from the principal's rate; `RESOURCE_EXHAUSTED` with the time to
/// wait (also as `grpc-retry-pushback-ms`, which gRPC clients honour) when it is spent.
fn admit(
    tenants: &Tenants,
    role: Role,
    principal: &Principal,
    tenant: &Arc<str>,
) -> Result<(), Status> {
    tenants
        .rates()
        .admit(role, principal, tenant)
        .map_err(|wait| {
            metrics::record_limited("request_rate");
            let ms = wait.as_millis().max(1);
            let mut status = Status::resource_exhausted(format!(
                "request rate over this credential's limit for the {} role; retry in {ms} ms",
                role.as_str()
            ));
            if let Ok(value) = ms.to_string().parse() {
                status
                    .metadata_mut()
                    .insert("grpc-retry-pushback-ms", value);
            }
            rejected(status)
        })
}
