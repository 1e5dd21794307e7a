//! Which tenant a call belongs to.
//!
//! Today the tenant comes from the `x-switchboard-tenant` request header, falling back
//! to the configured default tenant. When tenants are derived from credentials, this
//! is the one function to change.

use tonic::{Request, Status};

/// Request metadata key naming the tenant.
pub const TENANT_HEADER: &str = "x-switchboard-tenant";

/// Whether `id` is an acceptable tenant id: 1-64 characters of `[A-Za-z0-9._-]`.
pub fn is_valid_tenant(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The tenant of a request.
pub fn tenant_of<T>(request: &Request<T>, default: &str) -> Result<String, Status> {
    let Some(value) = request.metadata().get(TENANT_HEADER) else {
        return Ok(default.to_owned());
    };
    value
        .to_str()
        .ok()
        .filter(|id| is_valid_tenant(id))
        .map(str::to_owned)
        .ok_or_else(|| {
            Status::invalid_argument(format!(
                "{TENANT_HEADER}: 1-64 characters of [A-Za-z0-9._-]"
            ))
        })
}
