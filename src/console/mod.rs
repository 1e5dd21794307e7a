//! The browser console on the HTTP address (beside `/metrics`): a web chat, an agent
//! desk and a supervisor wallboard, as static pages embedded in the binary that call
//! the `switchboard.v1` services through [`bridge`], the same contract every other
//! client speaks.
//!
//! - [`assets`]: the pages, scripts, styles and `.proto` files, embedded and served.
//! - [`bridge`]: one WebSocket per call into the gRPC services.
//! - [`metrics`]: the bridge's open sockets, calls and refusals.

pub mod assets;
pub mod bridge;
pub mod metrics;

use axum::routing::get;
use tonic::service::Routes;

pub use bridge::{Bridge, Limits};

/// The console's routes: `/` (the page), `/console/assets/*`, `/console/proto/*`
/// and the bridge at [`bridge::PATH`] into `routes`. Serve it with
/// `into_make_service_with_connect_info::<SocketAddr>()`: the bridge passes the
/// browser's address to the services' authentication.
pub fn router(routes: Routes, limits: Limits) -> axum::Router {
    axum::Router::new()
        .route("/", get(assets::index))
        .route("/console/assets/{*file}", get(assets::asset))
        .route("/console/proto/{*file}", get(assets::proto))
        .route(bridge::PATH, get(bridge::upgrade))
        .with_state(Bridge::new(routes, limits))
}
