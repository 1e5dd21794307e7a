//! `switchboard ctl`: the operator's command line, in the same binary as the server.
//!
//! It speaks only the public gRPC contract (`Admin`, `ChannelGateway.Submit`), as any
//! other client would, so what it shows is what the API shows. Output is an aligned
//! table for people (bold headers only on a terminal) or JSON with `--json`.
//!
//! Exit codes: 0 done, 1 the server answered with an error (printed as `CODE:
//! message`), 2 bad flags or input, 3 the server could not be reached.
//!
//! - `client`: connection (plain or TLS), credential and tenant on every call.
//! - `commands`: one function per subcommand: call, then print.
//! - `view`: the JSON views of the contract's messages.
//! - `render`: the human text of those views.
//! - `table`, `format`: aligned columns; durations, times, safe cells.
//! - `error`: failures and their exit codes.

mod client;
mod commands;
pub mod error;
mod format;
mod render;
mod table;
mod view;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};

pub use error::CtlError;

/// Where `ctl` looks for the server when neither `--addr` nor `SWITCHBOARD_ADDR` is set.
pub const DEFAULT_ADDR: &str = "http://127.0.0.1:50051";

/// Flags of `switchboard ctl`; they may come before or after the subcommand.
#[derive(Debug, Args)]
pub struct CtlArgs {
    /// The server's gRPC address: http://host:port, https://host:port (TLS), or
    /// host:port for http.
    #[arg(long, env = "SWITCHBOARD_ADDR", default_value = DEFAULT_ADDR, global = true)]
    pub addr: String,
    /// Credential (JWT or API key), sent as `authorization: Bearer <token>`; none is
    /// needed on loopback when the server has no credentials configured.
    #[arg(long, env = "SWITCHBOARD_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// PEM file of the CA(s) to trust for https:// [default: SSL_CERT_FILE, then the
    /// system bundle].
    #[arg(long, env = "SWITCHBOARD_CA_CERT", global = true)]
    pub ca_cert: Option<PathBuf>,
    /// Tenant to act in (`x-switchboard-tenant`) [default: the credential's, or
    /// `default`].
    #[arg(long, env = "SWITCHBOARD_TENANT", global = true)]
    pub tenant: Option<String>,
    /// Print JSON instead of tables (`watch`: one JSON object per line per refresh).
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: CtlCommand,
}

/// Subcommands of `switchboard ctl`.
#[derive(Debug, Subcommand)]
pub enum CtlCommand {
    /// Conversations waiting for an agent, in serving order.
    Waiting {
        /// Most to list (the total is always given); at most 10000.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Signed-in agents: presence, load over capacity, skills.
    Agents,
    /// Why a conversation was routed where it is, or why it still waits.
    Explain {
        /// Switchboard's conversation id.
        conversation: String,
        /// Most candidate agents to list; at most 1000.
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// One conversation with its transcript.
    Conversation {
        /// Switchboard's conversation id.
        id: String,
    },
    /// Read the knowledge base file again and swap it in (the old one keeps serving
    /// when the file does not load).
    ReloadKb,
    /// The server's effective configuration, as TOML.
    Config,
    /// Send a test message as a customer (ChannelGateway.Submit) and print what came
    /// back at once.
    Send(SendArgs),
    /// Refresh the waiting list and agent counts until Ctrl-C.
    Watch {
        /// Time between refreshes (500ms, 2s, 1m).
        #[arg(long, default_value = "2s", value_parser = parse_interval)]
        interval: Duration,
        /// Stop after this many refreshes.
        #[arg(long)]
        count: Option<u64>,
    },
    /// Per-agent KPIs: handled, handle time, acceptance, first reply, satisfaction.
    Kpis {
        /// One agent; all agents with figures when absent.
        #[arg(long)]
        agent: Option<String>,
        /// The window back from now (up to 7d).
        #[arg(long, default_value = "1h", value_parser = format::parse_duration)]
        window: Duration,
    },
    /// One customer's profile: value, health, identifiers, recent conversations.
    Profile {
        /// A profile id, or a verified identifier as `phone:+86 138...`,
        /// `email:li@example.com`, `app:USER`, `wechat-union:ID`, `wechat-open:ID`.
        who: String,
    },
    /// Connected external bot workers.
    Bots,
    /// Outbound campaigns: status, why paused, progress, replies.
    Campaigns,
    /// Where one outbound notification stands.
    Notification {
        /// Its id, as `SendNotification` answered.
        id: u64,
    },
}

/// Flags of `switchboard ctl send`.
#[derive(Debug, Args)]
pub struct SendArgs {
    /// The channel: web, app, wechat_official_account, wechat_mini_program, weibo,
    /// douyin, email, sms, voice or other (bot-first ones are answered by the bot).
    #[arg(long, value_parser = parse_channel)]
    pub channel: i32,
    /// The customer's id on that channel.
    #[arg(long)]
    pub customer: String,
    /// The channel's conversation id; the same one continues the same conversation
    /// [default: ctl-<customer>].
    #[arg(long)]
    pub thread: Option<String>,
    /// Queue to wait in [default: the queue `default`].
    #[arg(long)]
    pub queue: Option<String>,
    /// Language tag (`en`, `zh`).
    #[arg(long)]
    pub language: Option<String>,
    /// The customer's lifetime value.
    #[arg(long)]
    pub clv: Option<f64>,
    /// A required skill, `skill` or `skill:level` (repeat for several).
    #[arg(long = "skill")]
    pub skills: Vec<String>,
    /// Adapter id replies are kept for; with a token it must be the token's subject.
    #[arg(long, default_value = "switchboard-ctl")]
    pub adapter: String,
    /// The message text.
    #[arg(required = true, num_args = 1..)]
    pub text: Vec<String>,
}

/// A channel name as the config file spells it, as the proto's number.
fn parse_channel(name: &str) -> Result<i32, String> {
    let proto = format!(
        "CHANNEL_{}",
        name.trim().to_ascii_uppercase().replace('-', "_")
    );
    match crate::api::pb::Channel::from_str_name(&proto) {
        Some(c) if c != crate::api::pb::Channel::Unspecified => Ok(c as i32),
        _ => Err(format!(
            "unknown channel {name:?}; one of web, app, wechat_official_account, \
             wechat_mini_program, weibo, douyin, email, sms, voice, other"
        )),
    }
}

/// A refresh interval: a duration of at least 100 ms.
fn parse_interval(text: &str) -> Result<Duration, String> {
    let d = format::parse_duration(text)?;
    if d < Duration::from_millis(100) {
        return Err("the interval must be at least 100ms".to_owned());
    }
    Ok(d)
}

/// Runs `switchboard ctl`: prints the result (or the error, on stderr) and returns the
/// process exit code.
pub async fn run(args: &CtlArgs) -> i32 {
    match commands::run(args).await {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("switchboard ctl: {e}");
            e.exit_code()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_parse_by_their_config_names() {
        use crate::api::pb::Channel;
        assert_eq!(parse_channel("sms"), Ok(Channel::Sms as i32));
        assert_eq!(
            parse_channel("wechat-official-account"),
            Ok(Channel::WechatOfficialAccount as i32)
        );
        assert!(parse_channel("unspecified").is_err());
        assert!(parse_channel("fax").is_err());
        assert!(parse_interval("10ms").is_err());
    }
}
