//! Configuration: embedded defaults that run with no file, an optional TOML file,
//! `SWITCHBOARD_*` environment variables and command-line flags, in rising precedence.
//!
//! The flag and variable names for the listen addresses are part of the contract
//! (`--grpc-addr` / `SWITCHBOARD_GRPC_ADDR`, `--metrics-addr` / `SWITCHBOARD_METRICS_ADDR`):
//! operators and tooling rely on them.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::{Deserialize, Serialize};

use crate::auth::AuthSettings;
use crate::routing::{BotRouting, Channel, Router, RoutingPolicy};
use crate::storage::{Durability, StorageSettings};
use crate::transport::TlsSettings;

/// Whether `id` is an acceptable tenant id: 1-64 characters of `[A-Za-z0-9._-]`.
pub fn is_valid_tenant(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable when stdout is a terminal, JSON otherwise (containers).
    Auto,
    /// Human-readable lines, coloured only when stdout is a terminal.
    Text,
    /// One JSON object per line.
    Json,
}

/// Bounds that protect the service from oversized or runaway clients.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest message text accepted, in bytes.
    pub max_text_bytes: usize,
    /// Deliveries kept per adapter id while it is away or has not acknowledged them.
    pub adapter_mailbox: usize,
    /// Frames kept for an agent session that reads too slowly; beyond it the session
    /// ends with RESOURCE_EXHAUSTED and its conversations are routed again.
    pub agent_mailbox: usize,
    /// Ended conversations kept visible to the admin API per tenant.
    pub ended_visible: usize,
    /// Bytes of deliveries kept per adapter id (texts, buttons and ids counted): the
    /// delivery count alone would let 10,000 × 16 KiB hold 160 MB per adapter.
    pub adapter_mailbox_bytes: usize,
    /// Tenants with routing state in this process: declared ones, and those a valid
    /// credential names. Beyond it a credential for a new tenant gets
    /// RESOURCE_EXHAUSTED.
    pub max_tenants: usize,
    /// Open streams (adapter, desk and bot sessions together) per tenant.
    pub max_sessions_per_tenant: usize,
    /// Open streams in the whole process.
    pub max_sessions: usize,
    /// Requests per second per principal and role (process-wide; not overridable per
    /// tenant).
    pub rates: crate::tenants::rates::RateSettings,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_text_bytes: 16 * 1024,
            adapter_mailbox: 10_000,
            agent_mailbox: 10_000,
            ended_visible: 10_000,
            adapter_mailbox_bytes: 16 * 1024 * 1024,
            max_tenants: 1_000,
            max_sessions_per_tenant: 5_000,
            max_sessions: 20_000,
            rates: crate::tenants::rates::RateSettings::default(),
        }
    }
}

/// Bots: where they serve first, how sure the built-in bot must be, how long external
/// bots may take, and agent assist.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BotConfig {
    /// Channels where a bot greets and answers first; conversations on other channels
    /// queue for a person at once. Names as in metrics: web, app,
    /// wechat_official_account, wechat_mini_program, weibo, douyin, email, sms, voice,
    /// other.
    pub channels: Vec<String>,
    /// Confidence (0-1) the built-in bot needs to answer from the knowledge base.
    pub confidence_threshold: f32,
    /// Unsure answers in a row after which the conversation goes to a person.
    pub low_confidence_limit: u32,
    /// Milliseconds an external bot has to answer a task before the built-in bot
    /// answers instead; at most 850, so a first response stays within one second.
    pub answer_deadline_ms: u64,
    /// Knowledge-base suggestions sent to the agent per customer message after a
    /// handoff (agent assist), 0-3; 0 turns assist off.
    pub suggestions: usize,
    /// At a handoff, the conversation's language (`zh`, `en`, ...) becomes a required
    /// skill, so it reaches an agent who speaks it.
    pub language_skills: bool,
    /// Seconds without a customer message after which a conversation still with a
    /// bot ends as finished by the bot; 0 = never.
    pub idle_end_secs: u64,
    /// Knowledge-base answers come with "solved" / "not solved" buttons; verdicts are
    /// tallied per intent (Admin `ListAnswerRatings`), and "not solved" offers a person
    /// or the next-best entries.
    pub ask_solved: bool,
    /// Sentence-embedding model directory (ONNX + tokenizer.json) for the built-in
    /// bot's semantic stage; absent = lexical matching only (the default). See
    /// `tools/embedding-model/setup-model.sh`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<PathBuf>,
    /// The ONNX Runtime library (`libonnxruntime.so`) for `model`; absent = the
    /// `ORT_DYLIB_PATH` environment variable, then the system's library path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub onnxruntime: Option<PathBuf>,
    /// A second sentence-embedding model whose evidence is fused with `model`'s (used
    /// only with `model`); absent = one model. The setup script's `WITH_USE=1` makes
    /// the one the defaults are calibrated for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub second_model: Option<PathBuf>,
    /// How the semantic stage prepares texts and fuses its evidence (used only with
    /// `model`).
    pub semantic: SemanticConfig,
}

/// `[bot.semantic]`: text preparation and the fusion calibration of the semantic
/// stage. The defaults are calibrated for multilingual-e5-small on the tuning set
/// (`tests/data/tuning/`); another model needs its own (see `examples/bot_tune.rs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SemanticConfig {
    /// Text put before every message and entry question (e5 models: `"query: "`).
    pub prefix: String,
    /// Text put before an entry's question and answer read as one passage (e5 models:
    /// `"passage: "`). Models with a ragged input (USE) take no prefixes.
    pub passage_prefix: String,
    /// Most tokens of a text the model reads (8-512); longer texts are cut.
    pub max_tokens: usize,
    /// Lexical confidence at or above which a message is answered without embedding.
    pub lexical_sure: f32,
    /// Share of the lexical evidence in the fused score (0-1).
    pub lexical_weight: f32,
    /// Cosine at which the semantic evidence is 0.
    pub cosine_floor: f32,
    /// Cosine at which the semantic evidence is 1.
    pub cosine_ceiling: f32,
    /// Gap in fused score to the runner-up intent at which nothing is discounted.
    pub margin: f32,
    /// Share of the fused score kept when the runner-up intent ties the best.
    pub ambiguity_floor: f32,
    /// Share of each entry language's cosine bias taken out before fusion (0-1).
    pub language_centring: f32,
    /// Share of `second_model`'s evidence in the semantic evidence (0-1).
    pub second_share: f32,
    /// `second_model`'s cosine at which its evidence is 0.
    pub second_cosine_floor: f32,
    /// `second_model`'s cosine at which its evidence is 1.
    pub second_cosine_ceiling: f32,
    /// Embedding triage: safety, person and complaint messages that no phrase rule
    /// catches are handed off. Off by default: on the held-out sets it took safety
    /// messages answered from 20 to 4 of 49, but handoff precision fell from 0.93 to
    /// 0.70 (BENCHMARKS.md).
    pub triage: bool,
}

impl Default for SemanticConfig {
    fn default() -> Self {
        let f = crate::bot::fusion::FusionSettings::default();
        SemanticConfig {
            prefix: crate::bot::embedding::DEFAULT_PREFIX.to_owned(),
            passage_prefix: crate::bot::embedding::DEFAULT_PASSAGE_PREFIX.to_owned(),
            max_tokens: crate::bot::embedding::DEFAULT_MAX_TOKENS,
            lexical_sure: f.lexical_sure,
            lexical_weight: f.lexical_weight,
            cosine_floor: f.cosine_floor,
            cosine_ceiling: f.cosine_ceiling,
            margin: f.margin,
            ambiguity_floor: f.ambiguity_floor,
            language_centring: f.language_centring,
            second_share: f.second_share,
            second_cosine_floor: f.second_cosine_floor,
            second_cosine_ceiling: f.second_cosine_ceiling,
            triage: false,
        }
    }
}

impl SemanticConfig {
    /// The fusion calibration.
    pub fn fusion(&self) -> crate::bot::fusion::FusionSettings {
        crate::bot::fusion::FusionSettings {
            lexical_sure: self.lexical_sure,
            lexical_weight: self.lexical_weight,
            cosine_floor: self.cosine_floor,
            cosine_ceiling: self.cosine_ceiling,
            margin: self.margin,
            ambiguity_floor: self.ambiguity_floor,
            language_centring: self.language_centring,
            second_share: self.second_share,
            second_cosine_floor: self.second_cosine_floor,
            second_cosine_ceiling: self.second_cosine_ceiling,
        }
    }
}

/// Highest `bot.answer_deadline_ms`: with the 100 ms timer tick it keeps the first
/// response within one second.
pub const MAX_ANSWER_DEADLINE_MS: u64 = 850;

impl Default for BotConfig {
    fn default() -> Self {
        BotConfig {
            channels: [
                "web",
                "app",
                "wechat_official_account",
                "wechat_mini_program",
                "weibo",
                "douyin",
            ]
            .map(str::to_owned)
            .to_vec(),
            confidence_threshold: crate::bot::BotSettings::default().confidence_threshold,
            low_confidence_limit: 2,
            answer_deadline_ms: 700,
            suggestions: 3,
            language_skills: true,
            idle_end_secs: 1800,
            ask_solved: false,
            model: None,
            onnxruntime: None,
            second_model: None,
            semantic: SemanticConfig::default(),
        }
    }
}

impl BotConfig {
    /// The routing side of these settings; channel names must have passed validation.
    pub fn routing(&self) -> BotRouting {
        BotRouting {
            channels: self
                .channels
                .iter()
                .filter_map(|c| Channel::from_name(c))
                .collect(),
            low_confidence_limit: self.low_confidence_limit,
            language_skills: self.language_skills,
            idle_end_ms: self.idle_end_secs * 1000,
            ask_solved: self.ask_solved,
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |what: String| Err(ConfigError::Invalid(format!("bot.{what}")));
        if let Some(c) = self
            .channels
            .iter()
            .find(|c| Channel::from_name(c).is_none())
        {
            return bad(format!("channels: unknown channel {c:?}"));
        }
        if !(self.confidence_threshold > 0.0 && self.confidence_threshold <= 1.0) {
            return bad("confidence_threshold must be in (0, 1]".to_owned());
        }
        if self.low_confidence_limit == 0 {
            return bad("low_confidence_limit must be at least 1".to_owned());
        }
        if !(10..=MAX_ANSWER_DEADLINE_MS).contains(&self.answer_deadline_ms) {
            return bad(format!(
                "answer_deadline_ms must be 10-{MAX_ANSWER_DEADLINE_MS}, so the first \
                 response stays within one second"
            ));
        }
        if self.suggestions > 3 {
            return bad("suggestions must be 0-3".to_owned());
        }
        if let Some(model) = &self.model {
            crate::bot::embedding::model_files(model)
                .map_err(|e| ConfigError::Invalid(format!("bot.model: {e}")))?;
        }
        if let Some(model) = &self.second_model {
            if self.model.is_none() {
                return bad("second_model needs bot.model".to_owned());
            }
            crate::bot::embedding::model_files(model)
                .map_err(|e| ConfigError::Invalid(format!("bot.second_model: {e}")))?;
        }
        if let Some(lib) = &self.onnxruntime
            && !lib.is_file()
        {
            return bad(format!("onnxruntime: no such file {}", lib.display()));
        }
        let s = &self.semantic;
        if !(8..=crate::bot::embedding::MAX_MAX_TOKENS).contains(&s.max_tokens) {
            return bad(format!(
                "semantic.max_tokens must be 8-{}",
                crate::bot::embedding::MAX_MAX_TOKENS
            ));
        }
        s.fusion()
            .validate()
            .or_else(|e| bad(format!("semantic.{e}")))?;
        Ok(())
    }

    /// The built-in bot's settings.
    pub fn bot_settings(&self) -> crate::bot::BotSettings {
        crate::bot::BotSettings {
            confidence_threshold: self.confidence_threshold,
            fusion: self.semantic.fusion(),
            triage: self.semantic.triage,
        }
    }

    /// Where the semantic stage's model and runtime are, if one is configured.
    pub fn embedder_settings(&self) -> Option<crate::bot::embedding::EmbedderSettings> {
        self.model.as_ref().map(|model| self.embedder_for(model))
    }

    /// Where the semantic stage's second model is, if one is configured.
    pub fn second_embedder_settings(&self) -> Option<crate::bot::embedding::EmbedderSettings> {
        self.second_model
            .as_ref()
            .map(|model| self.embedder_for(model))
    }

    fn embedder_for(&self, model: &Path) -> crate::bot::embedding::EmbedderSettings {
        crate::bot::embedding::EmbedderSettings {
            model: model.to_owned(),
            runtime: self.onnxruntime.clone(),
            prefix: self.semantic.prefix.clone(),
            passage_prefix: self.semantic.passage_prefix.clone(),
            max_tokens: self.semantic.max_tokens,
        }
    }
}

/// Which tenants this replica serves, when tenants are sharded across replicas.
///
/// Every replica reads the same table; `shard` (set per replica, e.g. from the pod name)
/// picks its row. A tenant appears in at most one row, so its agents, bots and
/// conversations always meet on one replica. Without a shard name, or with an empty
/// table, the replica serves every tenant (single-replica installs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Tenancy {
    /// This replica's shard name (flag `--shard`, env `SWITCHBOARD_SHARD`).
    pub shard: String,
    /// Shard name to the tenants it owns.
    pub shards: BTreeMap<String, Vec<String>>,
}

impl Tenancy {
    /// Whether this replica serves `tenant`.
    pub fn serves(&self, tenant: &str) -> bool {
        if self.shard.is_empty() || self.shards.is_empty() {
            return true;
        }
        self.shards
            .get(&self.shard)
            .is_some_and(|owned| owned.iter().any(|t| t == tenant))
    }

    /// Checks that no tenant is owned twice and this replica's shard is in the table.
    fn validate(&self) -> Result<(), ConfigError> {
        let mut owner: BTreeMap<&str, &str> = BTreeMap::new();
        for (shard, tenants) in &self.shards {
            for tenant in tenants {
                if !is_valid_tenant(tenant) {
                    return Err(ConfigError::Invalid(format!(
                        "tenancy.shards.{shard}: bad tenant id {tenant:?}"
                    )));
                }
                if let Some(other) = owner.insert(tenant, shard) {
                    return Err(ConfigError::Invalid(format!(
                        "tenancy.shards: tenant {tenant:?} is in both {other:?} and {shard:?}; \
                         that would split its pools"
                    )));
                }
            }
        }
        if !self.shard.is_empty()
            && !self.shards.is_empty()
            && !self.shards.contains_key(&self.shard)
        {
            return Err(ConfigError::Invalid(format!(
                "tenancy.shard {:?} has no row in tenancy.shards",
                self.shard
            )));
        }
        Ok(())
    }
}

/// The whole configuration. Every field has a default; the config file uses the same
/// shape (see `GetConfig` in the admin API for the effective values).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// gRPC listen address.
    pub grpc_addr: SocketAddr,
    /// Prometheus `/metrics` listen address.
    pub metrics_addr: SocketAddr,
    /// Log format; the level comes from `SWITCHBOARD_LOG` or `RUST_LOG` (default `info`).
    pub log_format: LogFormat,
    /// Seconds to drain streams after SIGTERM or Ctrl-C before exiting anyway.
    pub shutdown_grace_secs: u64,
    /// Tenant of calls without an `x-switchboard-tenant` header.
    pub default_tenant: String,
    /// Knowledge base file of the built-in bot (`--kb`, `SWITCHBOARD_KB`); checked at
    /// start-up, so a malformed file stops the process with a message that names it.
    pub kb: Option<PathBuf>,
    /// Tenant sharding across replicas.
    pub tenancy: Tenancy,
    /// Input and buffer bounds.
    pub limits: Limits,
    /// Routing: queues, value tiers, aging, timeouts.
    pub routing: RoutingPolicy,
    /// Bots: channels served first, confidence, external deadline, agent assist.
    pub bot: BotConfig,
    /// Where credentials come from; none configured means loopback peers only.
    pub auth: AuthSettings,
    /// TLS on the gRPC port, optionally with client certificates.
    pub tls: TlsSettings,
    /// The journal and snapshots: durability mode, data directory, windows.
    pub storage: StorageSettings,
    /// Declared tenants, each with what it changes of `kb`, `[routing]`, `[bot]` and
    /// `[limits]` (everything else inherited). The default tenant is always declared.
    pub tenants: BTreeMap<String, toml::Table>,
}

/// The settings one tenant runs with: the top-level ones, with the tenant's own
/// `[tenants.<id>]` table merged over them key by key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TenantSettings {
    /// Knowledge base file of the tenant's built-in bot.
    pub kb: Option<PathBuf>,
    /// Routing: queues, value tiers, aging, timeouts.
    pub routing: RoutingPolicy,
    /// Bots.
    pub bot: BotConfig,
    /// Input and buffer bounds.
    pub limits: Limits,
}

impl Default for TenantSettings {
    fn default() -> Self {
        let c = Config::default();
        TenantSettings {
            kb: c.kb,
            routing: c.routing,
            bot: c.bot,
            limits: c.limits,
        }
    }
}

impl TenantSettings {
    /// The routing policy the tenant's router runs: `[routing]` plus the routing side
    /// of `[bot]`.
    pub fn routing_policy(&self) -> RoutingPolicy {
        RoutingPolicy {
            bot: self.bot.routing(),
            ..self.routing.clone()
        }
    }
}

/// Merges `over` into `base`: tables key by key, any other value replaced.
fn merge(base: &mut toml::Table, over: &toml::Table) {
    for (key, value) in over {
        match (base.get_mut(key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            _ => {
                base.insert(key.clone(), value.clone());
            }
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            grpc_addr: SocketAddr::from(([0, 0, 0, 0], 50051)),
            metrics_addr: SocketAddr::from(([0, 0, 0, 0], 9090)),
            log_format: LogFormat::Auto,
            shutdown_grace_secs: 20,
            default_tenant: "default".to_owned(),
            kb: None,
            tenancy: Tenancy::default(),
            limits: Limits::default(),
            routing: RoutingPolicy::default(),
            bot: BotConfig::default(),
            auth: AuthSettings::default(),
            tls: TlsSettings::default(),
            storage: StorageSettings::default(),
            tenants: BTreeMap::new(),
        }
    }
}

/// A configuration that cannot run.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML of the expected shape.
    #[error("config file {path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong, with line and column.
        source: Box<toml::de::Error>,
    },
    /// A value is out of range.
    #[error("config: {0}")]
    Invalid(String),
}

impl Config {
    /// Reads a TOML file over the defaults.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::from_toml(&text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source: Box::new(source),
        })
    }

    /// Parses TOML text over the defaults.
    pub fn from_toml(text: &str) -> Result<Config, toml::de::Error> {
        toml::from_str(text)
    }

    /// Checks values a running service depends on.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.bot.validate()?;
        Router::new(self.routing_policy())
            .map_err(|e| ConfigError::Invalid(format!("routing: {e}")))?;
        if !is_valid_tenant(&self.default_tenant) {
            return Err(ConfigError::Invalid(format!(
                "default_tenant {:?}: 1-64 characters of [A-Za-z0-9._-]",
                self.default_tenant
            )));
        }
        self.tenancy.validate()?;
        self.storage.validate().map_err(ConfigError::Invalid)?;
        if let Some(path) = &self.kb {
            crate::bot::knowledge::KnowledgeBase::load(path)
                .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        }
        validate_limits("limits", &self.limits)?;
        let l = &self.limits;
        for (name, value) in [
            ("limits.max_tenants", l.max_tenants),
            ("limits.max_sessions", l.max_sessions),
        ] {
            if value == 0 {
                return Err(ConfigError::Invalid(format!(
                    "{name} must be greater than 0"
                )));
            }
        }
        if self.tenants.len() + 1 > l.max_tenants {
            return Err(ConfigError::Invalid(format!(
                "tenants: {} declared, more than limits.max_tenants ({})",
                self.tenants.len() + 1,
                l.max_tenants
            )));
        }
        for id in self.tenants.keys() {
            if !is_valid_tenant(id) {
                return Err(ConfigError::Invalid(format!(
                    "tenants.{id}: a tenant id is 1-64 characters of [A-Za-z0-9._-]"
                )));
            }
            let settings = self.tenant_settings(id)?;
            settings
                .bot
                .validate()
                .map_err(|e| ConfigError::Invalid(format!("tenants.{id}: {e}")))?;
            Router::new(settings.routing_policy())
                .map_err(|e| ConfigError::Invalid(format!("tenants.{id}.routing: {e}")))?;
            validate_limits(&format!("tenants.{id}.limits"), &settings.limits)?;
            if let Some(path) = &settings.kb
                && Some(path) != self.kb.as_ref()
            {
                crate::bot::knowledge::KnowledgeBase::load(path)
                    .map_err(|e| ConfigError::Invalid(format!("tenants.{id}: {e}")))?;
            }
        }
        if self.auth.clock_skew_secs > crate::auth::settings::MAX_CLOCK_SKEW_SECS {
            return Err(ConfigError::Invalid(format!(
                "auth.clock_skew_secs must be at most {}",
                crate::auth::settings::MAX_CLOCK_SKEW_SECS
            )));
        }
        crate::auth::Authenticator::load(&self.auth)
            .map_err(|e| ConfigError::Invalid(format!("auth: {e}")))?;
        self.tls.validate().map_err(ConfigError::Invalid)?;
        Ok(())
    }

    /// Whether `id` is declared: the default tenant or one under `[tenants]`.
    pub fn declares(&self, id: &str) -> bool {
        id == self.default_tenant || self.tenants.contains_key(id)
    }

    /// The settings tenant `id` runs with: its `[tenants.<id>]` table (if any) merged
    /// over the top-level `kb`, `[routing]`, `[bot]` and `[limits]`.
    pub fn tenant_settings(&self, id: &str) -> Result<TenantSettings, ConfigError> {
        let base = TenantSettings {
            kb: self.kb.clone(),
            routing: self.routing.clone(),
            bot: self.bot.clone(),
            limits: self.limits.clone(),
        };
        let Some(over) = self.tenants.get(id) else {
            return Ok(base);
        };
        let invalid =
            |e: &dyn std::fmt::Display| ConfigError::Invalid(format!("tenants.{id}: {e}"));
        let mut table = toml::Table::try_from(&base).map_err(|e| invalid(&e))?;
        merge(&mut table, over);
        toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| invalid(&e))
    }

    /// The routing policy of tenants without overrides: `[routing]` plus the routing
    /// side of `[bot]`.
    pub fn routing_policy(&self) -> RoutingPolicy {
        RoutingPolicy {
            bot: self.bot.routing(),
            ..self.routing.clone()
        }
    }

    /// The effective configuration as TOML, for the admin API.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_else(|e| format!("# cannot render: {e}"))
    }
}

/// Checks the bounds that must be positive.
fn validate_limits(section: &str, l: &Limits) -> Result<(), ConfigError> {
    for (name, value) in [
        ("max_text_bytes", l.max_text_bytes),
        ("adapter_mailbox", l.adapter_mailbox),
        ("adapter_mailbox_bytes", l.adapter_mailbox_bytes),
        ("agent_mailbox", l.agent_mailbox),
        ("max_sessions_per_tenant", l.max_sessions_per_tenant),
    ] {
        if value == 0 {
            return Err(ConfigError::Invalid(format!(
                "{section}.{name} must be greater than 0"
            )));
        }
    }
    if l.adapter_mailbox_bytes < l.max_text_bytes * 4 {
        return Err(ConfigError::Invalid(format!(
            "{section}.adapter_mailbox_bytes must hold at least four of the largest messages \
             (4 × max_text_bytes)"
        )));
    }
    Ok(())
}

/// Command line of the `switchboard` binary.
#[derive(Debug, Parser)]
#[command(
    name = "switchboard",
    version,
    about = "Routes customer-service conversations to bots and agents over gRPC"
)]
pub struct Cli {
    /// TOML config file; without it the embedded defaults run.
    #[arg(long, env = "SWITCHBOARD_CONFIG")]
    pub config: Option<PathBuf>,
    /// gRPC listen address [default: 0.0.0.0:50051].
    #[arg(long, env = "SWITCHBOARD_GRPC_ADDR")]
    pub grpc_addr: Option<SocketAddr>,
    /// Prometheus metrics listen address [default: 0.0.0.0:9090].
    #[arg(long, env = "SWITCHBOARD_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,
    /// Log format [default: auto].
    #[arg(long, env = "SWITCHBOARD_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Seconds to drain on shutdown [default: 20].
    #[arg(long, env = "SWITCHBOARD_SHUTDOWN_GRACE_SECS")]
    pub shutdown_grace_secs: Option<u64>,
    /// Knowledge base file for the built-in bot.
    #[arg(long, env = "SWITCHBOARD_KB")]
    pub kb: Option<PathBuf>,
    /// This replica's shard name, selecting its tenants from `tenancy.shards`.
    #[arg(long, env = "SWITCHBOARD_SHARD")]
    pub shard: Option<String>,
    /// Directory of the journal and snapshots (`storage.data_dir`).
    #[arg(long, env = "SWITCHBOARD_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// `fsync`, `buffered` or `off` (`storage.durability`).
    #[arg(long, env = "SWITCHBOARD_DURABILITY", value_parser = parse_durability)]
    pub durability: Option<Durability>,
    /// Something other than serving; without a subcommand the server runs.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands of the `switchboard` binary.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a what-if scenario on the routing core in virtual time and print the report.
    Simulate(SimulateArgs),
    /// Make a new API key: prints the key (once; it is stored nowhere) and the entry to
    /// add to the API key file, which holds only its hash.
    ApiKey(ApiKeyArgs),
    /// Operate a running server over its gRPC API: waiting list, agents, explanations,
    /// knowledge-base reload, config, test messages, a live watch.
    Ctl(Box<crate::ctl::CtlArgs>),
}

/// Flags of `switchboard api-key`.
#[derive(Debug, Args)]
pub struct ApiKeyArgs {
    /// The tenant the key acts in (`*`: every declared tenant, admin roles only).
    #[arg(long)]
    pub tenant: String,
    /// A role: adapter, agent, bot, supervisor or operator (repeat for several).
    #[arg(long = "role", required = true)]
    pub roles: Vec<String>,
    /// The adapter, agent or bot id the key holds (or a person, for admin roles).
    #[arg(long)]
    pub subject: String,
}

/// Flags of `switchboard simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Scenario TOML file (see scenarios/ for examples).
    #[arg(long)]
    pub config: PathBuf,
    /// Seed for every random draw, overriding the scenario's.
    #[arg(long)]
    pub seed: Option<u64>,
}

fn parse_durability(text: &str) -> Result<Durability, String> {
    match text {
        "fsync" => Ok(Durability::Fsync),
        "buffered" => Ok(Durability::Buffered),
        "off" => Ok(Durability::Off),
        _ => Err("expected fsync, buffered or off".to_owned()),
    }
}

impl Cli {
    /// The effective configuration: defaults, then the file, then environment and flags.
    pub fn load(&self) -> Result<Config, ConfigError> {
        let mut config = match &self.config {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        if let Some(addr) = self.grpc_addr {
            config.grpc_addr = addr;
        }
        if let Some(addr) = self.metrics_addr {
            config.metrics_addr = addr;
        }
        if let Some(format) = self.log_format {
            config.log_format = format;
        }
        if let Some(secs) = self.shutdown_grace_secs {
            config.shutdown_grace_secs = secs;
        }
        if let Some(kb) = &self.kb {
            config.kb = Some(kb.clone());
        }
        if let Some(shard) = &self.shard {
            config.tenancy.shard = shard.clone();
        }
        if let Some(dir) = &self.data_dir {
            config.storage.data_dir = dir.clone();
        }
        if let Some(durability) = self.durability {
            config.storage.durability = durability;
        }
        config.validate()?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_documented_addresses_and_valid() {
        let c = Config::default();
        assert_eq!(c.grpc_addr.to_string(), "0.0.0.0:50051");
        assert_eq!(c.metrics_addr.to_string(), "0.0.0.0:9090");
        c.validate().unwrap();
    }

    #[test]
    fn effective_config_round_trips_through_toml() {
        let c = Config::default();
        assert_eq!(Config::from_toml(&c.to_toml()).unwrap(), c);
    }

    #[test]
    fn partial_file_overrides_only_what_it_names() {
        let c = Config::from_toml(
            "grpc_addr = \"127.0.0.1:6000\"\n[routing]\noffer_timeout_ms = 5000\n",
        )
        .unwrap();
        assert_eq!(c.grpc_addr.to_string(), "127.0.0.1:6000");
        assert_eq!(c.routing.offer_timeout_ms, 5000);
        assert_eq!(c.metrics_addr, Config::default().metrics_addr);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors() {
        assert!(Config::from_toml("grpc_adr = \"127.0.0.1:1\"").is_err());
        let c = Config::from_toml("[routing.priority]\naging_per_sec = 0.0\n").unwrap();
        assert!(c.validate().is_err());
    }

    #[test]
    fn the_agent_reconnect_window_is_bounded_and_named_when_not() {
        let c = Config::default();
        assert_eq!(c.routing.agent_reconnect_secs, 30);
        for secs in [0, 600] {
            let c =
                Config::from_toml(&format!("[routing]\nagent_reconnect_secs = {secs}\n")).unwrap();
            c.validate().unwrap();
        }
        let c = Config::from_toml("[routing]\nagent_reconnect_secs = 601\n").unwrap();
        let err = c.validate().unwrap_err().to_string();
        assert!(
            err.contains("routing.agent_reconnect_secs") && err.contains("at most 600"),
            "{err}"
        );
        let c = Config::from_toml("[tenants.acme]\nrouting = { agent_reconnect_secs = 700 }\n")
            .unwrap();
        let err = c.validate().unwrap_err().to_string();
        assert!(
            err.contains("tenants.acme") && err.contains("agent_reconnect_secs"),
            "{err}"
        );
    }

    #[test]
    fn a_shard_serves_only_its_tenants_and_no_tenant_has_two_shards() {
        let mut c = Config::from_toml(
            "[tenancy]\nshard = \"sb-0\"\n[tenancy.shards]\nsb-0 = [\"acme\"]\nsb-1 = [\"globex\"]\n",
        )
        .unwrap();
        c.validate().unwrap();
        assert!(c.tenancy.serves("acme"));
        assert!(!c.tenancy.serves("globex"));
        assert!(!c.tenancy.serves("default"));
        c.tenancy
            .shards
            .get_mut("sb-1")
            .unwrap()
            .push("acme".into());
        assert!(
            c.validate().is_err(),
            "a tenant in two shards splits its pools"
        );
        c.tenancy = Tenancy {
            shard: "sb-9".into(),
            ..Tenancy::default()
        };
        assert!(c.tenancy.serves("anyone"), "no table: serve everyone");
    }

    #[test]
    fn bad_bot_settings_are_named() {
        let bad = |toml: &str| {
            Config::from_toml(toml)
                .unwrap()
                .validate()
                .unwrap_err()
                .to_string()
        };
        assert!(bad("[bot]\nchannels = [\"fax\"]\n").contains("bot.channels"));
        assert!(bad("[bot]\nanswer_deadline_ms = 2000\n").contains("bot.answer_deadline_ms"));
        assert!(bad("[bot]\nsuggestions = 4\n").contains("bot.suggestions"));
        assert!(bad("[bot]\nconfidence_threshold = 0.0\n").contains("bot.confidence_threshold"));
        let e = bad("[bot]\nmodel = \"/no/such/model\"\n");
        assert!(
            e.contains("bot.model") && e.contains("/no/such/model"),
            "{e}"
        );
        let e = bad("[bot]\nonnxruntime = \"/no/libonnxruntime.so\"\n");
        assert!(e.contains("bot.onnxruntime"), "{e}");
        let e = bad("[bot.semantic]\nmax_tokens = 4\n");
        assert!(e.contains("bot.semantic.max_tokens"), "{e}");
        let e = bad("[bot.semantic]\ncosine_floor = 0.99\n");
        assert!(e.contains("bot.semantic.cosine_floor"), "{e}");
        let e = bad("[tenants.acme.bot.semantic]\nlexical_weight = 2.0\n");
        assert!(
            e.contains("tenants.acme") && e.contains("bot.semantic.lexical_weight"),
            "{e}"
        );
    }

    #[test]
    fn a_tenant_inherits_the_semantic_stage_and_may_change_it() {
        let config = Config::from_toml(
            "[bot]\nmodel = \"/models/e5\"\n[bot.semantic]\nlexical_sure = 0.8\n\
             [tenants.acme.bot.semantic]\nmargin = 0.3\n[tenants.lexical]\n",
        )
        .unwrap();
        let acme = config.tenant_settings("acme").unwrap().bot;
        assert_eq!(acme.model.as_deref(), Some(Path::new("/models/e5")));
        assert_eq!(
            (acme.semantic.lexical_sure, acme.semantic.margin),
            (0.8, 0.3)
        );
        assert_eq!(
            acme.semantic.prefix,
            crate::bot::embedding::DEFAULT_PREFIX,
            "unset keys keep the defaults"
        );
        let embedder = acme.embedder_settings().unwrap();
        assert_eq!(embedder.model, PathBuf::from("/models/e5"));
        assert!(
            Config::default().bot.embedder_settings().is_none(),
            "off by default"
        );
    }

    #[test]
    fn the_readme_documents_the_real_defaults() {
        let readme = include_str!("../README.md");
        let block = readme
            .split("```toml\n")
            .nth(1)
            .and_then(|rest| rest.split("```").next())
            .expect("a toml block in the README");
        let documented = Config::from_toml(block).expect("README toml parses");
        assert_eq!(documented, Config::default());
    }

    #[test]
    fn simulate_is_a_subcommand_and_plain_flags_still_serve() {
        let cli = Cli::parse_from([
            "switchboard",
            "simulate",
            "--config",
            "s.toml",
            "--seed",
            "9",
        ]);
        match cli.command {
            Some(Command::Simulate(args)) => {
                assert_eq!(args.config, PathBuf::from("s.toml"));
                assert_eq!(args.seed, Some(9));
            }
            _ => panic!("simulate not parsed"),
        }
        let cli = Cli::parse_from(["switchboard", "--metrics-addr", "127.0.0.1:9999"]);
        assert!(cli.command.is_none());
        assert_eq!(cli.metrics_addr, Some("127.0.0.1:9999".parse().unwrap()));
    }

    #[test]
    fn a_malformed_knowledge_base_stops_start_up_naming_the_file() {
        let path =
            std::env::temp_dir().join(format!("switchboard-bad-kb-{}.json", std::process::id()));
        std::fs::write(
            &path,
            r#"{"entries": [{"id": "x", "lang": "en", "questions": [], "answer": "a"}]}"#,
        )
        .unwrap();
        let cli = Cli::parse_from(["switchboard", "--kb", path.to_str().unwrap()]);
        let err = cli.load().unwrap_err().to_string();
        std::fs::remove_file(&path).ok();
        assert!(err.contains(path.to_str().unwrap()), "{err}");
        assert!(err.contains("entry 0 (id \"x\"): questions"), "{err}");
        let good = Path::new(env!("CARGO_MANIFEST_DIR")).join("kb/starter.json");
        let cli = Cli::parse_from(["switchboard", "--kb", good.to_str().unwrap()]);
        assert_eq!(cli.load().unwrap().kb.as_deref(), Some(good.as_path()));
    }

    #[test]
    fn a_tenant_changes_only_what_its_table_names() {
        let c = Config::from_toml(
            "[routing]\noffer_timeout_ms = 20000\ndecline_cooldown_ms = 7000\n\
             [tenants.acme]\nrouting = { offer_timeout_ms = 45000 }\n\
             limits = { max_sessions_per_tenant = 7 }\n[tenants.globex]\n",
        )
        .unwrap();
        c.validate().unwrap();
        let acme = c.tenant_settings("acme").unwrap();
        assert_eq!(acme.routing.offer_timeout_ms, 45_000);
        assert_eq!(acme.routing.decline_cooldown_ms, 7_000, "inherited");
        assert_eq!(acme.limits.max_sessions_per_tenant, 7);
        assert_eq!(acme.limits.max_text_bytes, c.limits.max_text_bytes);
        assert_eq!(
            c.tenant_settings("globex")
                .unwrap()
                .routing
                .offer_timeout_ms,
            20_000
        );
        assert!(c.declares("acme") && c.declares("default") && !c.declares("initech"));
        let bad = Config::from_toml("[tenants.acme]\nroutng = { offer_timeout_ms = 1 }\n")
            .unwrap()
            .validate()
            .unwrap_err()
            .to_string();
        assert!(bad.contains("tenants.acme"), "{bad}");
        let bad = Config::from_toml("[tenants.\"no spaces\"]\n")
            .unwrap()
            .validate()
            .unwrap_err()
            .to_string();
        assert!(bad.contains("tenants.no spaces"), "{bad}");
    }

    #[test]
    fn flags_override_the_file() {
        let cli = Cli::parse_from(["switchboard", "--grpc-addr", "127.0.0.1:7000"]);
        let c = cli.load().unwrap();
        assert_eq!(c.grpc_addr.to_string(), "127.0.0.1:7000");
    }
}
