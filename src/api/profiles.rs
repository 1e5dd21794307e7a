//! The Admin calls on customer profiles: read one, push facts and consent, link and unlink
//! identifiers, merge and unmerge. Validated and converted here; each change is a
//! router command, journaled like any other, and audit-logged with its principal.

use tonic::Status;

use super::access::Caller;
use super::convert::{self, linked_identity_to_pb};
use super::pb;
use super::status::{invalid, rejected, settled, status_of};
use crate::customer::{
    ConsentRecord, ContactPurpose, Fact, FactKind, Identity, MAX_CONSENT_SOURCE_BYTES, MergeId,
    MergeRecord, Profile, ProfileId, ValueExplanation,
};
use crate::routing::surveys::FollowUp;
use crate::routing::{Applied, Command, Millis, ProfileRef, Router};
use crate::telemetry::metrics;
use crate::tenants::{Tenant, Tenants};

/// How far ahead of now a fact may be dated (clocks of the tenant's systems drift).
const FACT_FUTURE_MS: i64 = 24 * 3600 * 1000;

/// Largest fact amount taken: beyond it a figure is a unit mistake, not a purchase.
const MAX_FACT_AMOUNT: f64 = 1e12;

pub(super) fn selector(given: Option<pb::ProfileSelector>) -> Result<ProfileRef, Status> {
    match given.and_then(|s| s.who) {
        Some(pb::profile_selector::Who::ProfileId(id)) => Ok(ProfileRef::Id(ProfileId(id))),
        Some(pb::profile_selector::Who::Identifier(identifier)) => Ok(ProfileRef::Identity(
            convert::identity("customer.identifier", &identifier)?,
        )),
        None => Err(invalid("customer", "give a profile_id or an identifier")),
    }
}

fn identifier(given: Option<pb::CustomerIdentifier>) -> Result<Identity, Status> {
    let given = given.ok_or_else(|| invalid("identifier", "required"))?;
    convert::identity("identifier", &given)
}

fn facts(given: Vec<pb::CustomerFact>, now: Millis) -> Result<Vec<Fact>, Status> {
    if given.is_empty() || given.len() > crate::routing::MAX_FACTS_PER_CALL {
        return Err(invalid(
            "facts",
            format_args!("1-{} facts per call", crate::routing::MAX_FACTS_PER_CALL),
        ));
    }
    given
        .into_iter()
        .enumerate()
        .map(|(i, f)| {
            let kind = match pb::FactKind::try_from(f.kind) {
                Ok(pb::FactKind::Order) => FactKind::Order,
                Ok(pb::FactKind::Refund) => FactKind::Refund,
                Ok(pb::FactKind::AcquisitionCost) => FactKind::AcquisitionCost,
                Ok(pb::FactKind::Referral) => FactKind::Referral,
                Ok(pb::FactKind::Unspecified) | Err(_) => {
                    return Err(invalid(
                        &format!("facts[{i}].kind"),
                        "must be order, refund, acquisition cost or referral",
                    ));
                }
            };
            if !f.amount.is_finite() || !(0.0..=MAX_FACT_AMOUNT).contains(&f.amount) {
                return Err(invalid(
                    &format!("facts[{i}].amount"),
                    format_args!("must be between 0 and {MAX_FACT_AMOUNT}"),
                ));
            }
            let at = match f.at_unix_ms {
                0 => now,
                at if at < 0 || at > now as i64 + FACT_FUTURE_MS => {
                    return Err(invalid(
                        &format!("facts[{i}].at_unix_ms"),
                        "must be a time in the past (or within a day ahead), or 0 for now",
                    ));
                }
                at => at as Millis,
            };
            Ok(Fact {
                kind,
                amount: f.amount,
                at,
            })
        })
        .collect()
}

/// A consent decision from the request, validated; its origin is set by the router.
fn consent(req: &pb::RecordCustomerConsentRequest, now: Millis) -> Result<ConsentRecord, Status> {
    let purpose = convert::purpose_from_pb("purpose", req.purpose)?;
    let source = req.source.trim();
    if source.is_empty() || source.len() > MAX_CONSENT_SOURCE_BYTES {
        return Err(invalid(
            "source",
            format_args!("1-{MAX_CONSENT_SOURCE_BYTES} bytes: where the customer decided"),
        ));
    }
    let at = match req.decided_at_unix_ms {
        0 => now,
        at if at < 0 || at > now as i64 + FACT_FUTURE_MS => {
            return Err(invalid(
                "decided_at_unix_ms",
                "must be a time in the past (or within a day ahead), or 0 for now",
            ));
        }
        at => at as Millis,
    };
    Ok(ConsentRecord {
        purpose,
        granted: req.granted,
        at,
        source: source.into(),
        origin: ProfileId(0),
    })
}

/// A value as the contract shows it.
pub fn lifetime_value(v: &ValueExplanation) -> pb::LifetimeValue {
    pb::LifetimeValue {
        formula: match v.formula {
            crate::customer::value::Formula::Continuing => "continuing",
            crate::customer::value::Formula::Discounted => "discounted",
        }
        .to_owned(),
        value: v.value,
        loss_value: v.loss_value,
        terms: v
            .terms
            .iter()
            .map(|t| pb::ValueTerm {
                name: t.name.to_owned(),
                amount: t.amount,
                how: t.how.clone(),
            })
            .collect(),
    }
}

fn merge_view(m: &MergeRecord) -> pb::MergeView {
    let (undone_at, undone_by) = m
        .undone
        .as_ref()
        .map_or((0, ""), |(at, by)| (*at as i64, &**by));
    pb::MergeView {
        merge_id: m.id.0,
        at_unix_ms: m.at as i64,
        by: m.by.to_string(),
        into_profile_id: m.into.0,
        from_profile_id: m.from.0,
        identifiers: m
            .identities
            .iter()
            .map(|i| linked_identity_to_pb(i, true, m.at))
            .collect(),
        undone: m.undone.is_some(),
        undone_at_unix_ms: undone_at,
        undone_by: undone_by.to_owned(),
    }
}

fn profile_view(router: &Router, profile: &Profile, now: Millis) -> pb::CustomerProfileView {
    let totals = profile.value_facts();
    let value = router.customer_value(profile.id(), now);
    pb::CustomerProfileView {
        profile_id: profile.id().0,
        created_at_unix_ms: profile.created_at() as i64,
        identifiers: profile
            .identities()
            .iter()
            .map(|l| linked_identity_to_pb(&l.identity, l.verified, l.linked_at))
            .collect(),
        facts: Some(pb::FactTotals {
            orders: totals.orders,
            order_total: totals.order_total,
            refund_total: totals.refund_total,
            acquisition_cost: totals.acquisition_cost,
            referrals: totals.referrals,
            referral_total: totals.referral_total,
            first_order_unix_ms: totals.first_order.map_or(0, |(at, _)| at as i64),
        }),
        tier: value
            .as_ref()
            .map(|v| router.value_tier(v.routing_value()).to_string())
            .unwrap_or_default(),
        value: value.as_ref().map(lifetime_value),
        merges: router
            .profile_merges()
            .filter(|m| m.into == profile.id() || m.from == profile.id())
            .map(merge_view)
            .collect(),
        health: router
            .customer_health(profile.id(), now)
            .map(|h| pb::CustomerHealth {
                score: h.score,
                at_risk: h.at_risk,
                r#use: h.parts[0].1,
                engagement: h.parts[1].1,
                satisfaction: h.parts[2].1,
                open_complaints_penalty: h.penalties[0].1,
                abandoned_waits_penalty: h.penalties[1].1,
                repeat_contacts_penalty: h.penalties[2].1,
            }),
        history: profile
            .history()
            .contacts()
            .rev()
            .map(convert::past_conversation)
            .collect(),
        consents: profile
            .consents()
            .in_force()
            .map(|d| pb::ConsentDecision {
                purpose: convert::purpose_to_pb(d.purpose) as i32,
                granted: d.granted,
                decided_at_unix_ms: d.at as i64,
                source: d.source.to_string(),
            })
            .collect(),
        allowed_purposes: ContactPurpose::ALL
            .into_iter()
            .filter(|&p| profile.consents().allows(p))
            .map(|p| convert::purpose_to_pb(p) as i32)
            .collect(),
        tags: profile
            .tags()
            .names()
            .into_iter()
            .map(|t| t.as_str().to_owned())
            .collect(),
    }
}

/// NOT_FOUND for a selector that names nobody (without the identifier's value).
fn no_profile() -> Status {
    rejected(Status::not_found(
        "no customer profile has that id or verified identifier",
    ))
}

fn view_of(
    tenants: &Tenants,
    tenant: &Tenant,
    who: &ProfileRef,
) -> Result<pb::CustomerProfileView, Status> {
    let state = tenant.lock_for("admin");
    let profile = state.router.customer_profile(who).ok_or_else(no_profile)?;
    Ok(profile_view(&state.router, profile, tenants.clock().now()))
}

/// `Admin/GetCustomerProfile`.
pub fn get(
    tenants: &Tenants,
    tenant: &Tenant,
    req: pb::GetCustomerProfileRequest,
) -> Result<pb::CustomerProfileView, Status> {
    let who = selector(req.customer).map_err(rejected)?;
    view_of(tenants, tenant, &who)
}

/// Default and largest number of rows of `ListAtRiskCustomers` and `ListFollowUps`.
const DEFAULT_ROWS: u32 = 100;
const MAX_ROWS: u32 = 10_000;

/// `Admin/ListAtRiskCustomers`.
pub fn at_risk(
    tenant: &Tenant,
    req: pb::ListAtRiskCustomersRequest,
) -> Result<pb::ListAtRiskCustomersResponse, Status> {
    let limit = convert::page_limit(req.limit, DEFAULT_ROWS, MAX_ROWS)?;
    let customers = tenant
        .lock_for("admin")
        .router
        .at_risk_customers(limit)
        .into_iter()
        .map(|r| pb::AtRiskCustomer {
            profile_id: r.profile.0,
            health: r.health,
            loss_value: r.loss_value,
            assessed_at_unix_ms: r.assessed_at as i64,
        })
        .collect();
    Ok(pb::ListAtRiskCustomersResponse { customers })
}

fn follow_up_item(router: &Router, f: &FollowUp) -> pb::FollowUpItem {
    pb::FollowUpItem {
        conversation_id: f.conversation.to_string(),
        rated_at_unix_ms: f.at as i64,
        score: u32::from(f.score),
        agent_id: f.agent.to_string(),
        queue: router.queue_name(f.queue).to_owned(),
        channel: convert::channel_to_pb(f.channel) as i32,
        profile_id: f.profile.map_or(0, |p| p.0),
    }
}

/// `Admin/ListFollowUps`.
pub fn follow_ups(
    tenant: &Tenant,
    req: pb::ListFollowUpsRequest,
) -> Result<pb::ListFollowUpsResponse, Status> {
    let limit = convert::page_limit(req.limit, DEFAULT_ROWS, MAX_ROWS)?;
    let state = tenant.lock_for("admin");
    let router = &state.router;
    let items = router
        .follow_ups()
        .take(limit)
        .map(|f| follow_up_item(router, f))
        .collect();
    Ok(pb::ListFollowUpsResponse { items })
}

/// Runs a profile command, waits for it to be durable, and logs it for audit.
async fn change(
    tenants: &Tenants,
    caller: &Caller,
    action: &'static str,
    command: Command,
) -> Result<Applied, Status> {
    let applied = caller
        .tenant
        .run(action, tenants.clock(), |state, now| {
            state.execute(now, command)
        })
        .map_err(|e| rejected(status_of(e)))?;
    settled(tenants).await?;
    tracing::info!(target: "audit", tenant = %caller.tenant.name, principal = %caller.principal,
        action, "customer profile changed");
    Ok(applied)
}

/// `Admin/RecordCustomerFacts`.
pub async fn record_facts(
    tenants: &Tenants,
    caller: &Caller,
    req: pb::RecordCustomerFactsRequest,
) -> Result<pb::CustomerProfileView, Status> {
    let who = selector(req.customer).map_err(rejected)?;
    let facts = facts(req.facts, tenants.clock().now()).map_err(rejected)?;
    recorded(
        tenants,
        caller,
        "customer_facts",
        Command::CustomerFacts { who, facts },
    )
    .await
}

/// `Admin/TagCustomer`.
pub async fn tag(
    tenants: &Tenants,
    caller: &Caller,
    req: pb::TagCustomerRequest,
) -> Result<pb::CustomerProfileView, Status> {
    let add = convert::tags("add", &req.add).map_err(rejected)?;
    let remove = convert::tags("remove", &req.remove).map_err(rejected)?;
    if add.is_empty() && remove.is_empty() {
        return Err(rejected(Status::invalid_argument(
            "add: at least one tag to add or remove",
        )));
    }
    let who = selector(req.customer).map_err(rejected)?;
    recorded(
        tenants,
        caller,
        "customer_tags",
        Command::TagCustomer { who, add, remove },
    )
    .await
}

/// Runs a command that records something on a profile (made for it if need be) and
/// answers with that profile's view.
async fn recorded(
    tenants: &Tenants,
    caller: &Caller,
    action: &'static str,
    command: Command,
) -> Result<pb::CustomerProfileView, Status> {
    let Applied::Profile(profile) = change(tenants, caller, action, command).await? else {
        return Err(Status::internal(format!(
            "{action} recorded without a profile"
        )));
    };
    view_of(tenants, &caller.tenant, &ProfileRef::Id(profile))
}

/// `Admin/RecordCustomerConsent`.
pub async fn record_consent(
    tenants: &Tenants,
    caller: &Caller,
    req: pb::RecordCustomerConsentRequest,
) -> Result<pb::CustomerProfileView, Status> {
    let decision = consent(&req, tenants.clock().now()).map_err(rejected)?;
    let who = selector(req.customer).map_err(rejected)?;
    recorded(
        tenants,
        caller,
        "customer_consent",
        Command::RecordConsent { who, decision },
    )
    .await
}

/// `Admin/LinkIdentifier` (`link`) and `Admin/UnlinkIdentifier`.
pub async fn relink(
    tenants: &Tenants,
    caller: &Caller,
    profile: u64,
    given: Option<pb::CustomerIdentifier>,
    link: bool,
) -> Result<pb::CustomerProfileView, Status> {
    let identity = identifier(given).map_err(rejected)?;
    let profile = ProfileId(profile);
    let (action, command) = if link {
        (
            "link_identifier",
            Command::LinkIdentifier { profile, identity },
        )
    } else {
        (
            "unlink_identifier",
            Command::UnlinkIdentifier { profile, identity },
        )
    };
    change(tenants, caller, action, command).await?;
    view_of(tenants, &caller.tenant, &ProfileRef::Id(profile))
}

fn merge_of(tenant: &Tenant, merge: MergeId) -> Result<pb::MergeView, Status> {
    let state = tenant.lock_for("admin");
    state
        .router
        .profile_merges()
        .find(|m| m.id == merge)
        .map(merge_view)
        .ok_or_else(|| Status::not_found(format!("merge {}: not found", merge.0)))
}

fn principal(caller: &Caller) -> String {
    caller.principal.to_string()
}

/// `Admin/MergeProfiles`.
pub async fn merge(
    tenants: &Tenants,
    caller: &Caller,
    req: pb::MergeProfilesRequest,
) -> Result<pb::MergeView, Status> {
    let command = Command::MergeProfiles {
        into: ProfileId(req.into_profile_id),
        from: ProfileId(req.from_profile_id),
        by: principal(caller),
    };
    let Applied::Merge(merge) = change(tenants, caller, "merge_profiles", command).await? else {
        return Err(Status::internal("merged without a merge record"));
    };
    merge_of(&caller.tenant, merge)
}

/// `Admin/UnmergeProfiles`.
pub async fn unmerge(
    tenants: &Tenants,
    caller: &Caller,
    req: pb::UnmergeProfilesRequest,
) -> Result<pb::MergeView, Status> {
    let merge = MergeId(req.merge_id);
    let command = Command::UnmergeProfiles {
        merge,
        by: principal(caller),
    };
    change(tenants, caller, "unmerge_profiles", command).await?;
    merge_of(&caller.tenant, merge)
}

fn fact_kind_to_pb(kind: FactKind) -> pb::FactKind {
    match kind {
        FactKind::Order => pb::FactKind::Order,
        FactKind::Refund => pb::FactKind::Refund,
        FactKind::AcquisitionCost => pb::FactKind::AcquisitionCost,
        FactKind::Referral => pb::FactKind::Referral,
    }
}

/// `Admin/ExportCustomerData`: one consistent reading under the tenant lock.
pub fn export(
    tenants: &Tenants,
    caller: &Caller,
    req: pb::ExportCustomerDataRequest,
) -> Result<pb::CustomerDataExport, Status> {
    let who = selector(req.customer).map_err(rejected)?;
    let now = tenants.clock().now();
    let state = caller.tenant.lock_for("admin");
    let router = &state.router;
    let profile = router.customer_profile(&who).ok_or_else(no_profile)?;
    let export = router.customer_export(&who).ok_or_else(no_profile)?;
    let view = pb::CustomerDataExport {
        exported_at_unix_ms: now as i64,
        profile: Some(profile_view(router, profile, now)),
        profile_ids: export.profiles.iter().map(|p| p.0).collect(),
        facts: export
            .facts
            .iter()
            .map(|f| pb::CustomerFact {
                kind: fact_kind_to_pb(f.kind) as i32,
                amount: f.amount,
                at_unix_ms: f.at as i64,
            })
            .collect(),
        follow_ups: export
            .follow_ups
            .iter()
            .map(|f| follow_up_item(router, f))
            .collect(),
        open_conversations: export
            .open_conversations
            .iter()
            .map(|(id, transcript)| pb::ExportedConversation {
                conversation_id: id.to_string(),
                transcript: transcript.iter().map(convert::transcript_entry).collect(),
            })
            .collect(),
    };
    drop(state);
    metrics::record_privacy_request("export");
    tracing::info!(target: "audit", tenant = %caller.tenant.name, principal = %caller.principal,
        profile = %profile_id_of(&view), "customer data exported");
    Ok(view)
}

fn profile_id_of(export: &pb::CustomerDataExport) -> ProfileId {
    ProfileId(export.profile_ids.first().copied().unwrap_or_default())
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// `Admin/EraseCustomerData`.
pub async fn erase(
    tenants: &Tenants,
    caller: &Caller,
    req: pb::EraseCustomerDataRequest,
) -> Result<pb::ErasedCustomerData, Status> {
    let who = selector(req.customer).map_err(rejected)?;
    let applied = change(
        tenants,
        caller,
        "erase_customer",
        Command::EraseCustomer { who },
    )
    .await?;
    let Applied::Erased(done) = applied else {
        return Err(Status::internal("erased without a record of what"));
    };
    metrics::record_privacy_request("erase");
    let erased = &done.erased;
    tracing::info!(target: "audit", tenant = %caller.tenant.name, principal = %caller.principal,
        profile = %erased.profiles.first().copied().unwrap_or(ProfileId(0)),
        profiles = erased.profiles.len(), "customer data erased");
    Ok(pb::ErasedCustomerData {
        profile_ids: erased.profiles.iter().map(|p| p.0).collect(),
        identifiers: count(erased.identities),
        facts: count(erased.facts),
        past_conversations: count(erased.contacts),
        merges: count(erased.merges),
        follow_ups: count(done.follow_ups),
    })
}
