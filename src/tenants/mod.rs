//! The tenant layer: every tenant's routing state, the clock, and the drain flag, shared by all
//! gRPC services as one cheap-to-clone handle.

pub mod bot_pool;
pub mod builtin_bot;
pub mod clock;
pub mod image;
pub mod mailbox;
pub mod matching;
pub mod rates;
pub mod recovery;
pub mod snapshots;
pub mod tenant;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use dashmap::DashMap;
use tokio::sync::watch;

use builtin_bot::SharedBot;
pub use clock::Clock;
pub use tenant::{SessionEnd, Tenant, TenantState};

use crate::config::Config;
use crate::routing::{AgentStateCounts, ChannelClass, Command, Router};
use crate::storage::{NotDurable, Storage};
use crate::telemetry::metrics;

/// How often offer timeouts and other timers are checked.
pub const TICK: Duration = Duration::from_millis(100);

/// Shared handle to all tenants.
#[derive(Debug, Clone)]
pub struct Tenants {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    /// Tenants by id; a concurrent map so looking one up never blocks another tenant.
    tenants: DashMap<Arc<str>, Arc<Tenant>>,
    /// Effective configuration.
    config: Arc<Config>,
    /// Routing time.
    clock: Clock,
    /// Set once shutdown starts: new conversations and sessions are refused.
    draining: AtomicBool,
    /// Flips to true when shutdown starts; streams watch it to close with a status.
    shutdown: watch::Sender<bool>,
    /// Source of stream tokens.
    next_token: AtomicU64,
    /// The built-in bot of tenants without a knowledge base of their own; each tenant
    /// gets its own cell holding it, so a reload touches one tenant only.
    bot: SharedBot,
    /// Tenants created or being created, bounded by `limits.max_tenants`.
    tenant_count: AtomicUsize,
    /// Open streams in the process, bounded by `limits.max_sessions`.
    sessions: Arc<AtomicUsize>,
    /// Knowledge-base reloads running now; one at a time, so reloads cannot starve
    /// routing of CPU.
    reloads: Arc<tokio::sync::Semaphore>,
    /// Request rates per principal.
    rates: rates::RateLimits,
    /// The journal and snapshots; `None` when durability is off.
    storage: Option<Storage>,
    /// Threads that run the built-in bot for every tenant.
    matching: matching::MatchingPool,
}

/// Why a tenant cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    /// Not declared in the config, and no credential names it.
    #[error("tenant {0:?} is not declared on this server")]
    NotDeclared(String),
    /// The process holds `limits.max_tenants` tenants already.
    #[error("this server holds its limit of {0} tenants")]
    Exhausted(usize),
    /// Its settings cannot run (only for a config that skipped validation).
    #[error("tenant {id:?}: {reason}")]
    Settings {
        /// The tenant.
        id: String,
        /// What is wrong.
        reason: String,
    },
}

/// An open stream counted against the tenant's and the process's session limits;
/// dropping it frees the slots.
#[derive(Debug)]
pub struct SessionSlot {
    process: Arc<AtomicUsize>,
    tenant: Arc<Tenant>,
}

impl Drop for SessionSlot {
    fn drop(&mut self) {
        self.process.fetch_sub(1, Ordering::AcqRel);
        self.tenant.release_session();
    }
}

impl Tenants {
    /// A tenant layer with no tenants; the config must have passed [`Config::validate`].
    /// With `storage`, every accepted change is journaled there.
    pub fn new(config: Config, bot: SharedBot, storage: Option<Storage>) -> Tenants {
        let (shutdown, _) = watch::channel(false);
        let rates = rates::RateLimits::new(&config.limits.rates);
        Tenants {
            shared: Arc::new(Shared {
                tenants: DashMap::new(),
                config: Arc::new(config),
                clock: Clock::new(),
                draining: AtomicBool::new(false),
                shutdown,
                next_token: AtomicU64::new(1),
                bot,
                tenant_count: AtomicUsize::new(0),
                sessions: Arc::new(AtomicUsize::new(0)),
                reloads: Arc::new(tokio::sync::Semaphore::new(1)),
                rates,
                storage,
                matching: matching::MatchingPool::start(matching::MatchingPool::threads_for(
                    std::thread::available_parallelism().map_or(1, |n| n.get()),
                )),
            }),
        }
    }

    /// The tenant with this id. A declared tenant is created on first use; an
    /// undeclared one only when `named_by_credential` (a verified credential names
    /// it), and only while fewer than `limits.max_tenants` exist.
    pub fn tenant(&self, id: &str, named_by_credential: bool) -> Result<Arc<Tenant>, TenantError> {
        if let Some(t) = self.shared.tenants.get(id) {
            return Ok(t.clone());
        }
        let config = &self.shared.config;
        if !config.declares(id) && !named_by_credential {
            return Err(TenantError::NotDeclared(id.to_owned()));
        }
        let max = config.limits.max_tenants;
        if self.shared.tenant_count.fetch_add(1, Ordering::AcqRel) >= max {
            self.shared.tenant_count.fetch_sub(1, Ordering::AcqRel);
            metrics::record_limited("tenants");
            return Err(TenantError::Exhausted(max));
        }
        // An undeclared tenant runs the top-level settings and shares the top-level
        // knowledge base, so creating it under the map's entry lock is cheap; declared
        // tenants are created at start-up.
        let result = match self.shared.tenants.entry(Arc::from(id)) {
            dashmap::mapref::entry::Entry::Occupied(existing) => {
                self.shared.tenant_count.fetch_sub(1, Ordering::AcqRel);
                Ok(existing.get().clone())
            }
            dashmap::mapref::entry::Entry::Vacant(slot) => match self.create_tenant(id) {
                Ok(tenant) => Ok(slot.insert(tenant).clone()),
                Err(e) => {
                    self.shared.tenant_count.fetch_sub(1, Ordering::AcqRel);
                    Err(e)
                }
            },
        };
        metrics::record_tenants(self.shared.tenants.len());
        result
    }

    /// Creates every declared tenant, loading their own knowledge bases; at start-up.
    pub fn create_declared(&self) -> Result<(), TenantError> {
        let config = self.shared.config.clone();
        let ids = std::iter::once(&config.default_tenant).chain(config.tenants.keys());
        for id in ids.filter(|id| config.tenancy.serves(id)) {
            self.tenant(id, false)?;
        }
        Ok(())
    }

    fn create_tenant(&self, id: &str) -> Result<Arc<Tenant>, TenantError> {
        let settings_error = |reason: String| TenantError::Settings {
            id: id.to_owned(),
            reason,
        };
        let settings = self
            .shared
            .config
            .tenant_settings(id)
            .map_err(|e| settings_error(e.to_string()))?;
        let router =
            Router::new(settings.routing_policy()).map_err(|e| settings_error(e.to_string()))?;
        let bot = self
            .shared
            .bot
            .for_tenant(settings.kb.as_deref(), &settings.bot)
            .map_err(|e| settings_error(e.to_string()))?;
        tracing::info!(tenant = id, "tenant created");
        Ok(Arc::new(Tenant::new(
            Arc::from(id),
            router,
            settings.limits.clone(),
            bot,
            &settings.bot,
            tenant::TenantServices {
                journal: self.shared.storage.as_ref().map(|s| s.journal.clone()),
                matching: self.shared.matching.clone(),
                clock: self.shared.clock.clone(),
            },
        )))
    }

    /// Takes a session slot in the tenant and the process, or says which limit is full.
    pub fn open_session(&self, tenant: &Arc<Tenant>) -> Result<SessionSlot, &'static str> {
        let max = self.shared.config.limits.max_sessions;
        if self.shared.sessions.fetch_add(1, Ordering::AcqRel) >= max {
            self.shared.sessions.fetch_sub(1, Ordering::AcqRel);
            metrics::record_limited("sessions");
            return Err(
                "this server holds its limit of open streams; retry later or on another replica",
            );
        }
        if !tenant.take_session() {
            self.shared.sessions.fetch_sub(1, Ordering::AcqRel);
            metrics::record_limited("sessions");
            return Err(
                "this tenant holds its limit of open streams (limits.max_sessions_per_tenant)",
            );
        }
        Ok(SessionSlot {
            process: self.shared.sessions.clone(),
            tenant: tenant.clone(),
        })
    }

    /// Request rates per principal.
    pub fn rates(&self) -> &rates::RateLimits {
        &self.shared.rates
    }

    /// Permission to run one knowledge-base reload now; `None` while another runs.
    pub fn try_reload(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.shared.reloads.clone().try_acquire_owned().ok()
    }

    /// The routing clock.
    pub fn clock(&self) -> &Clock {
        &self.shared.clock
    }

    /// The effective configuration.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// Whether shutdown has started.
    pub fn is_draining(&self) -> bool {
        self.shared.draining.load(Ordering::Acquire)
    }

    /// Starts shutdown: refuse new work and tell every stream to close. With a
    /// journal, open conversations stay as they are for the next process to carry
    /// on; without one, every customer is told the service is restarting.
    pub fn start_draining(&self) {
        self.shared.draining.store(true, Ordering::Release);
        if self.shared.storage.is_none() {
            let tenants: Vec<Arc<Tenant>> = self.shared.tenants.iter().map(|t| t.clone()).collect();
            let mut ended = 0;
            for tenant in tenants {
                // Told before the streams are told to close: they deliver what is in
                // their mailboxes first.
                ended += tenant.run("shutdown", self.clock(), |s, now| {
                    match s.execute(now, Command::ShutDown) {
                        Ok(crate::routing::Applied::Count(n)) => n,
                        _ => 0,
                    }
                });
            }
            if ended > 0 {
                tracing::info!(
                    conversations = ended,
                    "open conversations ended for the shutdown; customers told"
                );
            }
        }
        self.shared.shutdown.send_replace(true);
    }

    /// Whether conversations outlive this process (a journal is kept): a session
    /// ending in a drain then leaves its agent's conversations in place.
    pub fn carries_over(&self) -> bool {
        self.shared.storage.is_some()
    }

    /// The journal and snapshots, when durability is on.
    pub fn storage(&self) -> Option<&Storage> {
        self.shared.storage.as_ref()
    }

    /// The journal's position now: a frame queued now waits for this (0 without a
    /// journal).
    pub fn journal_mark(&self) -> u64 {
        self.shared
            .storage
            .as_ref()
            .map_or(0, |s| s.journal.appended())
    }

    /// Waits until the journal has made everything up to `mark` durable.
    pub async fn durable(&self, mark: u64) -> Result<(), NotDurable> {
        match &self.shared.storage {
            Some(storage) => storage.journal.wait_for(mark).await,
            None => Ok(()),
        }
    }

    /// Waits until every change made so far is durable; at once without a journal.
    /// Call it before telling a client its change was accepted.
    pub async fn settle(&self) -> Result<(), NotDurable> {
        self.durable(self.journal_mark()).await
    }

    /// Resolves once shutdown has started (at once if it already has).
    pub fn stopped(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut signal = self.shared.shutdown.subscribe();
        async move {
            let _ = signal.wait_for(|&down| down).await;
        }
    }

    /// A fresh token identifying one stream.
    pub fn next_token(&self) -> u64 {
        self.shared.next_token.fetch_add(1, Ordering::Relaxed)
    }

    /// Runs the timers of every tenant that has something to time.
    pub fn tick(&self) {
        let tenants: Vec<Arc<Tenant>> = self
            .shared
            .tenants
            .iter()
            .filter(|t| !t.is_idle())
            .map(|t| t.clone())
            .collect();
        for tenant in tenants {
            tenant.run("tick", self.clock(), |s, now| {
                s.journal_acks();
                s.report_notifications(now);
                // Refused only while the journal cannot write; timers wait then.
                let _ = s.execute(now, Command::Tick);
                let late = s.bots.expire(now);
                s.return_to_builtin(late);
            });
        }
    }

    /// Tenants a panic left half-updated: while there is one, the replica is not
    /// healthy and must be restarted to recover them from the journal.
    pub fn failed_tenants(&self) -> Vec<Arc<str>> {
        self.shared
            .tenants
            .iter()
            .filter(|t| t.has_failed())
            .map(|t| t.name.clone())
            .collect()
    }

    /// Sets the point-in-time gauges from every tenant, and counts what each tenant's
    /// retention forgot since the last call.
    pub fn record_gauges(&self) {
        let (mut waiting, mut open) = (0, 0);
        let mut campaigns = Vec::new();
        let mut agents = AgentStateCounts::default();
        for tenant in self.shared.tenants.iter() {
            let mut state = tenant.lock();
            metrics::record_forgotten(state.router.take_forgotten());
            metrics::record_outbound(state.router.take_outbound_counts());
            metrics::record_opt_outs(state.router.take_opt_outs());
            campaigns.extend(state.router.campaign_states());
            waiting += state.router.waiting_len();
            open += state.router.open_len();
            let counts = state.router.agent_state_counts();
            agents.available += counts.available;
            agents.busy += counts.busy;
            agents.away += counts.away;
            agents.wrap_up += counts.wrap_up;
            for class in ChannelClass::ALL {
                *agents.load.get_mut(class) += counts.load.get(class);
                *agents.capacity.get_mut(class) += counts.capacity.get(class);
            }
        }
        metrics::record_gauges(waiting, open, agents);
        metrics::record_campaign_states(&campaigns);
    }

    /// Every tenant, for recovery and snapshots.
    pub fn all(&self) -> Vec<Arc<Tenant>> {
        self.shared.tenants.iter().map(|t| t.clone()).collect()
    }

    /// Runs timers every [`TICK`] and refreshes gauges every second, until shutdown.
    pub async fn run_timers(self) {
        let mut interval = tokio::time::interval(TICK);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let stopped = self.stopped();
        tokio::pin!(stopped);
        let mut ticks: u64 = 0;
        loop {
            tokio::select! {
                _ = interval.tick() => {}
                _ = &mut stopped => return,
            }
            self.tick();
            ticks += 1;
            if ticks.is_multiple_of(10) {
                self.record_gauges();
            }
            if ticks.is_multiple_of(600) {
                self.shared.rates.tidy();
            }
        }
    }
}
