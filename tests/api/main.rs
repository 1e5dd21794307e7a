//! Integration tests: each starts a real server on a loopback port and drives it with
//! real tonic clients, as channel adapters, agent desks and operators would.

mod agent_kpis;
mod bad_input;
mod bot_learning;
mod bots;
mod common;
mod consent;
mod conversation;
mod desk;
mod durability;
mod operations;
mod outbound;
mod privacy;
mod profiles;
mod routing;
mod security;
mod surveys;
mod tls;
