//! The `switchboard` binary: parse configuration, set up logging, bind, serve, drain.

use anyhow::Context;
use clap::Parser;
use tokio::net::TcpListener;

use switchboard::config::Cli;
use switchboard::telemetry::logging;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = match cli.load() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("switchboard: {e}");
            std::process::exit(2);
        }
    };
    logging::init(config.log_format);
    let grpc = TcpListener::bind(config.grpc_addr)
        .await
        .with_context(|| format!("cannot listen for gRPC on {}", config.grpc_addr))?;
    let metrics = TcpListener::bind(config.metrics_addr)
        .await
        .with_context(|| format!("cannot listen for metrics on {}", config.metrics_addr))?;
    switchboard::run(config, grpc, metrics, switchboard::shutdown::signal()).await
}
