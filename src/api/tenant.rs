//! Which tenant a call belongs to.
//!
//! Today the tenant comes from the `x-switchboard-tenant` request header, falling back
//! to the configured default tenant. When tenants are derived from credentials, this
//! is the one function to change.
//!
//! When the replica is one shard of several, it serves only the tenants its shard owns
//! and refuses the others, so a misrouted client can never open a second pool for a
//! tenant on the wrong replica.

use tonic::{Request, Status};

use crate::config::Config;

/// Request metadata key naming the tenant.
pub const TENANT_HEADER: &str = "x-switchboard-tenant";

/// Whether `id` is an acceptable tenant id: 1-64 characters of `[A-Za-z0-9._-]`.
pub fn is_valid_tenant(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The tenant of a request, if this replica serves it.
pub fn tenant_of<T>(request: &Request<T>, config: &Config) -> Result<String, Status> {
    let tenant = match request.metadata().get(TENANT_HEADER) {
        None => config.default_tenant.clone(),
        Some(value) => value
            .to_str()
            .ok()
            .filter(|id| is_valid_tenant(id))
            .map(str::to_owned)
            .ok_or_else(|| {
                Status::invalid_argument(format!(
                    "{TENANT_HEADER}: 1-64 characters of [A-Za-z0-9._-]"
                ))
            })?,
    };
    if !config.tenancy.serves(&tenant) {
        return Err(Status::failed_precondition(format!(
            "{TENANT_HEADER}: tenant {tenant:?} is not served by shard {:?}; \
             connect to the shard that owns it (see the shard table in the config)",
            config.tenancy.shard
        )));
    }
    Ok(tenant)
}
