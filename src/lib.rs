//! Switchboard routes customer-service conversations from channel adapters to bots and
//! human agents, by skill and by customer value, over gRPC.
//!
//! # Layout
//!
//! - [`routing`]: the routing core, plain Rust: skills, priority, queues, agents, the
//!   router state machine and its lifecycle events. No transport types.
//! - [`bot`]: the built-in bot's knowledge base (format, loading, validation).
//! - [`customer`]: customer profiles, plain Rust: identities across channels, merges,
//!   lifetime and loss value from facts.
//! - [`outbound`]: outbound messages, plain Rust: templates and the rules (consent,
//!   caps, quiet hours) that hold a message back.
//! - [`tenants`]: tenants, each a router behind its own lock, with mailboxes towards streams.
//! - [`api`]: the gRPC edge: generated contract, validation and conversion, status
//!   mapping, tenancy, and the gateway, desk and admin services.
//! - [`storage`]: the journal of accepted changes and per-tenant snapshots.
//! - [`server`]: wires services, health, reflection and `/metrics`; drains on shutdown.
//! - [`console`]: the browser console (web chat, agent desk, wallboard) on the HTTP
//!   address, calling the same services through a WebSocket bridge.
//! - [`config`]: defaults, TOML file, `SWITCHBOARD_*` environment, flags.
//! - [`telemetry`]: Prometheus metrics fed by routing events; tracing setup.
//! - [`auth`]: principals proven by credentials (JWTs, API keys, client certificates).
//! - [`transport`]: the gRPC listener, plain or TLS with reloading certificates.
//! - [`file_watch`]: files read again when they change (credentials, certificates).
//! - [`shutdown`]: SIGTERM and Ctrl-C.
//! - [`simulate`]: what-if simulator: scenarios run on the real router in virtual time.
//! - [`ctl`]: `switchboard ctl`, the operator's command line over the public contract.

pub mod api;
pub mod auth;
pub mod bot;
pub mod config;
pub mod console;
pub mod ctl;
pub mod customer;
pub mod file_watch;
pub mod outbound;
pub mod routing;
pub mod server;
pub mod shutdown;
pub mod simulate;
pub mod storage;
pub mod telemetry;
pub mod tenants;
pub mod transport;

pub use config::Config;
pub use server::run;
