//! The `switchboard` binary: parse configuration, set up logging, bind, serve, drain;
//! or, with `simulate`, run a what-if scenario on the routing core and print the report;
//! or, with `ctl`, operate a running server over its gRPC contract.

use anyhow::Context;
use clap::Parser;
use tokio::net::TcpListener;

use switchboard::config::{Cli, Command};
use switchboard::telemetry::logging;

/// mimalloc instead of the system allocator: the relay makes many small, short-lived
/// allocations on both worker threads (frames, notices, transcript entries).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match &cli.command {
        Some(Command::Simulate(args)) => std::process::exit(simulate(args)),
        Some(Command::ApiKey(args)) => std::process::exit(api_key(args)),
        Some(Command::Ctl(args)) => std::process::exit(switchboard::ctl::run(args).await),
        None => {}
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

/// `switchboard api-key`: prints a new key and its file entry; the exit code.
fn api_key(args: &switchboard::config::ApiKeyArgs) -> i32 {
    use switchboard::auth::{Role, api_keys};
    let roles: Option<Vec<Role>> = args.roles.iter().map(|r| Role::from_name(r)).collect();
    let Some(roles) = roles else {
        eprintln!("switchboard api-key: roles are adapter, agent, bot, supervisor, operator");
        return 2;
    };
    match api_keys::new_key(&args.tenant, &roles, &args.subject) {
        Ok((key, entry)) => {
            let file = api_keys::KeyFile {
                keys: vec![entry],
                certificates: Vec::new(),
            };
            println!("# The key, shown once; give it to the client (authorization: Bearer <key>):");
            println!("# {key}");
            println!("# Add this entry to the API key file (auth.api_keys_file):");
            print!("{}", toml::to_string(&file).unwrap_or_default());
            0
        }
        Err(why) => {
            eprintln!("switchboard api-key: {why}");
            2
        }
    }
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
