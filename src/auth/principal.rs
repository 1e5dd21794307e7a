//! Who is calling: a principal proven by a credential, with its tenant, roles and
//! subject.

use std::fmt;
use std::sync::Arc;

/// What a principal may do. Each role opens one service (or, for the admin roles, one
/// half of it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// A channel adapter: `ChannelGateway`, as its own adapter id.
    Adapter,
    /// An agent desktop: `AgentDesk`, as its own agent id.
    Agent,
    /// An external bot worker: `BotPool`, as its own bot id.
    Bot,
    /// Reads of the tenant through `Admin`.
    Supervisor,
    /// Reads and writes through `Admin` (reloads, configuration).
    Operator,
}

impl Role {
    /// Every role, in a fixed order.
    pub const ALL: [Role; 5] = [
        Role::Adapter,
        Role::Agent,
        Role::Bot,
        Role::Supervisor,
        Role::Operator,
    ];

    /// The role's name in credentials and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Adapter => "adapter",
            Role::Agent => "agent",
            Role::Bot => "bot",
            Role::Supervisor => "supervisor",
            Role::Operator => "operator",
        }
    }

    /// The role with this name.
    pub fn from_name(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == name)
    }

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// A set of roles. An operator may also do what a supervisor may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Roles(u8);

impl Roles {
    /// Every role: the unauthenticated principal of a server without credentials.
    pub const ALL: Roles = Roles(0b1_1111);

    /// The set holding these roles.
    pub fn of(roles: impl IntoIterator<Item = Role>) -> Roles {
        Roles(roles.into_iter().fold(0, |bits, r| bits | r.bit()))
    }

    /// Whether a principal with these roles may act in `role`.
    pub fn allow(self, role: Role) -> bool {
        self.0 & role.bit() != 0 || (role == Role::Supervisor && self.0 & Role::Operator.bit() != 0)
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The roles held, for logs.
    pub fn names(self) -> Vec<&'static str> {
        Role::ALL
            .into_iter()
            .filter(|r| self.0 & r.bit() != 0)
            .map(Role::as_str)
            .collect()
    }
}

/// The tenants a principal may act in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantScope {
    /// Exactly this tenant.
    One(Arc<str>),
    /// Any tenant this server declares, picked per call by the `x-switchboard-tenant`
    /// header: the unauthenticated loopback principal, and operators or supervisors
    /// whose credential names the tenant `*`.
    Declared,
}

/// How a principal proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// A bearer JWT verified against a configured key.
    Jwt,
    /// A static API key found in the key file.
    ApiKey,
    /// A client certificate chained to the configured CA, mapped by the key file.
    ClientCertificate,
    /// No credentials are configured and the peer is on loopback.
    Loopback,
    /// No credentials are configured and `auth.allow_unauthenticated_network` is set.
    Unauthenticated,
}

impl Method {
    /// The method's name in logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Jwt => "jwt",
            Method::ApiKey => "api_key",
            Method::ClientCertificate => "client_certificate",
            Method::Loopback => "loopback",
            Method::Unauthenticated => "unauthenticated",
        }
    }
}

/// Subject of the unauthenticated principal: it may act as any id.
pub const ANY_SUBJECT: &str = "*";

/// A caller: which tenant(s), which roles, and which adapter, agent or bot id it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The tenant(s) it may act in.
    pub tenant: TenantScope,
    /// What it may do.
    pub roles: Roles,
    /// The adapter, agent or bot id it holds (or a person's name for admin roles);
    /// [`ANY_SUBJECT`] for the unauthenticated principal.
    pub subject: Arc<str>,
    /// How it was proven.
    pub method: Method,
}

impl Principal {
    /// The principal of a server without credentials, for a peer it serves.
    pub fn unauthenticated(method: Method) -> Principal {
        Principal {
            tenant: TenantScope::Declared,
            roles: Roles::ALL,
            subject: Arc::from(ANY_SUBJECT),
            method,
        }
    }

    /// Whether this principal holds the adapter, agent or bot id `id`.
    pub fn holds(&self, id: &str) -> bool {
        &*self.subject == ANY_SUBJECT || &*self.subject == id
    }

    /// Whether the principal is proven by a credential (not just by where it calls from).
    pub fn is_authenticated(&self) -> bool {
        !matches!(self.method, Method::Loopback | Method::Unauthenticated)
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tenant = match &self.tenant {
            TenantScope::One(t) => t,
            TenantScope::Declared => "*",
        };
        write!(f, "{}:{}@{}", self.method.as_str(), self.subject, tenant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_operator_may_read_but_a_supervisor_may_not_write() {
        let operator = Roles::of([Role::Operator]);
        assert!(operator.allow(Role::Supervisor));
        assert!(operator.allow(Role::Operator));
        assert!(!operator.allow(Role::Agent));
        let supervisor = Roles::of([Role::Supervisor]);
        assert!(!supervisor.allow(Role::Operator));
        assert!(Roles::ALL.allow(Role::Bot));
        assert!(Roles::default().is_empty());
    }

    #[test]
    fn role_names_round_trip() {
        for role in Role::ALL {
            assert_eq!(Role::from_name(role.as_str()), Some(role));
        }
        assert_eq!(Role::from_name("admin"), None);
    }

    #[test]
    fn only_the_unauthenticated_principal_holds_every_id() {
        let anyone = Principal::unauthenticated(Method::Loopback);
        assert!(anyone.holds("alice"));
        let alice = Principal {
            subject: Arc::from("alice"),
            method: Method::Jwt,
            ..anyone
        };
        assert!(alice.holds("alice"));
        assert!(!alice.holds("mallory"));
        assert!(alice.is_authenticated());
    }
}
