//! The hub: every tenant's routing state, the clock, and the drain flag, shared by all
//! gRPC services as one cheap-to-clone handle.

pub mod bot_pool;
pub mod builtin_bot;
pub mod clock;
pub mod mailbox;
pub mod tenant;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use dashmap::DashMap;
use tokio::sync::watch;

use builtin_bot::SharedBot;
pub use clock::Clock;
pub use tenant::{Tenant, TenantState};

use crate::config::Config;
use crate::routing::{AgentStateCounts, ChannelClass, Router};
use crate::telemetry::metrics;

/// How often offer timeouts and other timers are checked.
pub const TICK: Duration = Duration::from_millis(100);

/// Shared handle to all tenants.
#[derive(Debug, Clone)]
pub struct Hub {
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
    /// The built-in bot, shared by every tenant.
    bot: SharedBot,
}

impl Hub {
    /// A hub with no tenants; the config must have passed [`Config::validate`].
    pub fn new(config: Config, bot: SharedBot) -> Hub {
        let (shutdown, _) = watch::channel(false);
        Hub {
            shared: Arc::new(Shared {
                tenants: DashMap::new(),
                config: Arc::new(config),
                clock: Clock::new(),
                draining: AtomicBool::new(false),
                shutdown,
                next_token: AtomicU64::new(1),
                bot,
            }),
        }
    }

    /// The tenant with this id, created on first use.
    pub fn tenant(&self, id: &str) -> Arc<Tenant> {
        if let Some(t) = self.shared.tenants.get(id) {
            return t.clone();
        }
        self.shared
            .tenants
            .entry(Arc::from(id))
            .or_insert_with(|| {
                let router = Router::new(self.shared.config.routing_policy())
                    .expect("routing policy validated at start-up");
                tracing::info!(tenant = id, "tenant created");
                Arc::new(Tenant::new(
                    Arc::from(id),
                    router,
                    self.shared.config.limits.clone(),
                    self.shared.bot.clone(),
                    &self.shared.config.bot,
                ))
            })
            .clone()
    }

    /// The built-in bot.
    pub fn bot(&self) -> &SharedBot {
        &self.shared.bot
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

    /// Starts shutdown: refuse new work and tell every stream to close.
    pub fn start_draining(&self) {
        self.shared.draining.store(true, Ordering::Release);
        self.shared.shutdown.send_replace(true);
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

    /// Runs every tenant's timers once.
    pub fn tick(&self) {
        let tenants: Vec<Arc<Tenant>> = self.shared.tenants.iter().map(|t| t.clone()).collect();
        for tenant in tenants {
            tenant.run("tick", self.clock(), |s, now| {
                s.router.tick(now);
                let late = s.bots.expire(now);
                s.return_to_builtin(late);
            });
        }
    }

    /// Sets the point-in-time gauges from every tenant.
    pub fn record_gauges(&self) {
        let (mut waiting, mut open) = (0, 0);
        let mut agents = AgentStateCounts::default();
        for tenant in self.shared.tenants.iter() {
            let state = tenant.lock();
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
        }
    }
}
