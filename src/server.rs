//! Serving: the gRPC services, health, reflection, `/metrics`, timers, and the drain
//! on shutdown.

use std::future::Future;
use std::time::Duration;

/// How often histogram samples are folded into their buckets.
const METRICS_UPKEEP: Duration = Duration::from_secs(5);

use axum::routing::get;
use tokio::net::TcpListener;
use tonic::service::Routes;
use tonic::transport::Server;
use tonic_health::ServingStatus;

use crate::api::access::Authenticate;
use crate::api::admin::AdminService;
use crate::api::bots::BotPoolService;
use crate::api::desk::{DeskService, WatchBodyEnd};
use crate::api::gateway::GatewayService;
use crate::api::outbound::OutboundService;
use crate::api::{FILE_DESCRIPTOR_SET, pb};
use crate::auth::Auth;
use crate::config::Config;
use crate::console;
use crate::storage::Storage;
use crate::telemetry::metrics;
use crate::tenants::Tenants;
use crate::tenants::builtin_bot::SharedBot;
use crate::transport;

/// Fully qualified names of the served `switchboard.v1` services.
pub const SERVICES: &[&str] = &[
    "switchboard.v1.ChannelGateway",
    "switchboard.v1.AgentDesk",
    "switchboard.v1.Admin",
    "switchboard.v1.BotPool",
    "switchboard.v1.Outbound",
];

/// The `switchboard.v1` services, each behind the `Authenticate` interceptor: served
/// on the gRPC port and called in-process by the console's bridge.
pub fn api_routes(tenants: &Tenants, authenticate: Authenticate) -> Routes {
    Routes::default()
        .add_service(
            pb::channel_gateway_server::ChannelGatewayServer::with_interceptor(
                GatewayService::new(tenants.clone()),
                authenticate.clone(),
            ),
        )
        .add_service(WatchBodyEnd(
            pb::agent_desk_server::AgentDeskServer::with_interceptor(
                DeskService::new(tenants.clone()),
                authenticate.clone(),
            ),
        ))
        .add_service(pb::admin_server::AdminServer::with_interceptor(
            AdminService::new(tenants.clone()),
            authenticate.clone(),
        ))
        .add_service(pb::bot_pool_server::BotPoolServer::with_interceptor(
            BotPoolService::new(tenants.clone()),
            authenticate.clone(),
        ))
        .add_service(pb::outbound_server::OutboundServer::with_interceptor(
            OutboundService::new(tenants.clone()),
            authenticate,
        ))
        .prepare()
}

/// Serves until `shutdown` resolves, then drains: health turns NOT_SERVING, new work is
/// refused with UNAVAILABLE, open streams end with UNAVAILABLE, and the function
/// returns once connections close or the grace period ends.
pub async fn run(
    config: Config,
    grpc: TcpListener,
    metrics_listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let grace = Duration::from_secs(config.shutdown_grace_secs);
    let prometheus = metrics::install();
    console::metrics::register();
    // Queue and tier names are closed sets too, known from the configuration: the
    // default tenant's and each declared tenant's (a tenant whose settings do not
    // merge is refused further on, with its error).
    metrics::register_routing(&config.routing);
    for id in config.tenants.keys() {
        if let Ok(tenant) = config.tenant_settings(id) {
            metrics::register_routing(&tenant.routing);
        }
    }
    let bot = SharedBot::load(&config)?;
    let auth = Auth::new(&config.auth)?;
    let storage = Storage::open(&config.storage)?;
    if let Some(storage) = &storage {
        tracing::info!(
            data_dir = %storage.root().display(),
            durability = storage.settings.durability.as_str(),
            "journal open"
        );
    } else {
        tracing::warn!("storage.durability is off: a restart loses every open conversation");
    }
    let tenants = Tenants::new(config, bot, storage);
    tenants.create_declared()?;
    // Every tenant is back in place before the first call is taken.
    tenants.recover()?;
    if let Some(storage) = tenants.storage() {
        storage.journal.start();
    }
    let authenticate = Authenticate::new(auth.clone());

    let (health, health_service) = tonic_health::server::health_reporter();
    for service in SERVICES.iter().chain(&[""]) {
        health
            .set_service_status(*service, ServingStatus::Serving)
            .await;
    }
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;

    let grpc_addr = grpc.local_addr()?;
    let tls = tenants.config().tls.enabled();
    let incoming = transport::incoming(grpc, &tenants.config().tls, tenants.stopped())
        .map_err(|e| anyhow::anyhow!(e))?;
    // One set of services for the gRPC port and the console's bridge: a browser call
    // meets the same interceptor, limits and validation as any other.
    let api = api_routes(&tenants, authenticate);
    let grpc_server = Server::builder()
        .http2_keepalive_interval(Some(Duration::from_secs(10)))
        .http2_keepalive_timeout(Some(Duration::from_secs(20)))
        // Health and reflection stay open; every switchboard.v1 call is authenticated.
        .add_routes(api.clone())
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .serve_with_incoming_shutdown(incoming, tenants.stopped());
    let grpc_task = tokio::spawn(grpc_server);

    let metrics_addr = metrics_listener.local_addr()?;
    let ready = tenants.clone();
    let alive = tenants.clone();
    let kept = prometheus.clone();
    let app = axum::Router::new()
        // Plain-HTTP probes beside /metrics, for kubelets that cannot speak TLS to
        // the gRPC port: alive while the process serves and no tenant has failed (a
        // restart recovers a failed one from the journal); ready until a drain starts.
        .route(
            "/healthz",
            get(move || {
                let failed = alive.failed_tenants();
                async move {
                    if failed.is_empty() {
                        (axum::http::StatusCode::OK, "ok\n".to_owned())
                    } else {
                        let names: Vec<&str> = failed.iter().map(|n| &**n).collect();
                        (
                            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                            format!("failed tenants: {}\n", names.join(", ")),
                        )
                    }
                }
            }),
        )
        .route(
            "/readyz",
            get(move || {
                let draining = ready.is_draining();
                async move {
                    if draining {
                        (axum::http::StatusCode::SERVICE_UNAVAILABLE, "draining\n")
                    } else {
                        (axum::http::StatusCode::OK, "ready\n")
                    }
                }
            }),
        )
        .merge(console::router(api, console::Limits::default()))
        .route(
            "/metrics",
            get(move || {
                let prometheus = prometheus.clone();
                async move {
                    prometheus.run_upkeep();
                    (
                        [("content-type", "text/plain; version=0.0.4; charset=utf-8")],
                        prometheus.render(),
                    )
                }
            }),
        );
    let metrics_task = tokio::spawn(
        axum::serve(
            metrics_listener,
            // The console's bridge passes the browser's address to authentication.
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(tenants.stopped())
        .into_future(),
    );
    let timers = tokio::spawn(tenants.clone().run_timers());
    // Histogram samples are folded in by the recorder's upkeep, which otherwise runs
    // only when somebody scrapes: without a scraper they would grow without bound.
    let upkeep = {
        let stopped = tenants.stopped();
        tokio::spawn(async move {
            let mut stopped = std::pin::pin!(stopped);
            let mut every = tokio::time::interval(METRICS_UPKEEP);
            loop {
                tokio::select! {
                    _ = every.tick() => kept.run_upkeep(),
                    _ = &mut stopped => return,
                }
            }
        })
    };
    let snapshots = tokio::spawn(tenants.clone().run_snapshots());
    tokio::spawn(auth.watch(tenants.stopped()));
    tenants.record_gauges();
    tracing::info!(%grpc_addr, %metrics_addr, tls, "switchboard serving");

    shutdown.await;
    for service in SERVICES.iter().chain(&[""]) {
        health
            .set_service_status(*service, ServingStatus::NotServing)
            .await;
    }
    tenants.start_draining();
    let drained = tokio::time::timeout(grace, async {
        let served = grpc_task.await;
        let _ = metrics_task.await;
        let _ = timers.await;
        let _ = upkeep.await;
        served
    })
    .await;
    let _ = snapshots.await;
    if let Some(storage) = tenants.storage() {
        // The next process starts from here: a fresh snapshot makes its start quick,
        // and closing the journal writes what is still pending.
        match tokio::time::timeout(grace, tenants.snapshot_all()).await {
            Ok(Ok(tenants)) => tracing::info!(tenants, "snapshots written for the restart"),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "final snapshots failed; the journal has everything")
            }
            Err(_) => tracing::warn!("final snapshots ran out of time; the journal has everything"),
        }
        storage.journal.close();
    }
    match drained {
        Ok(Ok(Ok(()))) => tracing::info!("drained; exiting"),
        Ok(Ok(Err(e))) => tracing::warn!(error = %e, "gRPC server ended with an error"),
        Ok(Err(e)) => tracing::warn!(error = %e, "gRPC server task failed"),
        Err(_) => tracing::warn!(
            grace_secs = grace.as_secs(),
            "grace period over; exiting with streams still open"
        ),
    }
    Ok(())
}
