//! The `switchboard` binary: parse configuration, set up logging, bind, serve, drain;
//! or, with `simulate`, run a what-if scenario on the routing core and print the report.

use anyhow::Context;
use clap::Parser;
use tokio::net::TcpListener;

use switchboard::config::{Cli, Command};
use switchboard::telemetry::logging;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Command::Simulate(args)) = &cli.command {
        std::process::exit(simulate(args));
    }
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

/// `switchboard simulate`: runs the scenario and prints the report; the exit code.
fn simulate(args: &switchboard::config::SimulateArgs) -> i32 {
    let result =
        switchboard::simulate::Scenario::from_file(&args.config).and_then(|mut scenario| {
            if let Some(seed) = args.seed {
                scenario.seed = seed;
            }
            switchboard::simulate::report_text(&scenario)
        });
    match result {
        Ok(text) => {
            print!("{text}");
            0
        }
        Err(e) => {
            eprintln!("switchboard simulate: {}: {e}", args.config.display());
            2
        }
    }
}
