//! Which tenant a call acts in.
//!
//! The tenant comes from the caller's credential. The `x-switchboard-tenant` header
//! only picks among the tenants a principal may act in: it must match a credential
//! bound to one tenant, and it picks a declared tenant for the unauthenticated
//! loopback principal and for operators whose credential names every tenant (`*`).
//!
//! When the replica is one shard of several, it serves only the tenants its shard owns
//! and refuses the others, so a misrouted client can never open a second pool for a
//! tenant on the wrong replica.

use tonic::Status;
use tonic::metadata::MetadataMap;

use crate::auth::{Principal, TenantScope};
use crate::config::{Config, is_valid_tenant};

/// Request metadata key naming the tenant.
pub const TENANT_HEADER: &str = "x-switchboard-tenant";

/// Why a call may not act in the tenant it asked for.
#[derive(Debug)]
pub enum TenantRefusal {
    /// The header is malformed, or the shard does not serve the tenant.
    Status(Status),
    /// The header names a tenant the credential is not for.
    OtherTenant,
}

/// The tenant a principal acts in on this call, if this replica serves it.
pub fn tenant_of(
    metadata: &MetadataMap,
    principal: &Principal,
    config: &Config,
) -> Result<String, TenantRefusal> {
    let asked = match metadata.get(TENANT_HEADER) {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .filter(|id| is_valid_tenant(id))
                .ok_or_else(|| {
                    TenantRefusal::Status(Status::invalid_argument(format!(
                        "{TENANT_HEADER}: 1-64 characters of [A-Za-z0-9._-]"
                    )))
                })?,
        ),
    };
    let tenant = match (&principal.tenant, asked) {
        (TenantScope::One(own), None) => own.to_string(),
        (TenantScope::One(own), Some(asked)) if **own == *asked => own.to_string(),
        (TenantScope::One(_), Some(_)) => return Err(TenantRefusal::OtherTenant),
        (TenantScope::Declared, Some(asked)) => asked.to_owned(),
        (TenantScope::Declared, None) => config.default_tenant.clone(),
    };
    if !config.tenancy.serves(&tenant) {
        return Err(TenantRefusal::Status(Status::failed_precondition(format!(
            "{TENANT_HEADER}: tenant {tenant:?} is not served by shard {:?}; \
             connect to the shard that owns it (see the shard table in the config)",
            config.tenancy.shard
        ))));
    }
    Ok(tenant)
}
