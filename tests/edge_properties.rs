//! Property tests of the gRPC edge, fed arbitrary and malformed client input: every
//! conversion and validation in `switchboard::api::convert`, the `x-switchboard-tenant`
//! header (`api::tenant::tenant_of`), credential parsing (`auth::Credential`) and
//! bearer-token authentication (`auth::Authenticator`).
//!
//! They prove:
//! - nothing here panics, whatever the input: empty, huge, non-ASCII and control
//!   characters, enum numbers out of range, NaN, infinite and negative numbers, too
//!   many skills, header values of any byte the metadata map takes, any token text;
//! - a message is refused exactly when the contract (the proto comments and the
//!   `MAX_*` limits) makes one of its fields invalid, always with INVALID_ARGUMENT
//!   (never INTERNAL or UNKNOWN) and a message `<field>: <reason>` naming a field that
//!   really is invalid;
//! - well-formed input is accepted and converted field for field, and its value facts
//!   give a finite, non-negative lifetime value;
//! - the tenant header picks the tenant of the loopback principal when it is valid and
//!   is refused with INVALID_ARGUMENT naming it when not; a principal bound to one
//!   tenant cannot pick another; a shard refuses tenants it does not own with
//!   FAILED_PRECONDITION;
//! - `Credential::from_metadata` takes only `Bearer` tokens and API keys;
//! - an HS256 authenticator accepts no garbage, forged, re-signed, expired or
//!   ill-claimed token, and accepts a correctly minted one as exactly the tenant and
//!   subject it names, from any peer.
//!
//! The bot and desk validators in `api::bots` and `api::desk` are private; they are
//! built from `convert::{id, bounded, text, channel, presence, skill_requirements,
//! transfer_target}`, which are tested here directly (with the field names those
//! handlers pass).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::{Value, json};
use switchboard::api::convert::{
    self, MAX_AGENT_SKILLS, MAX_CAPACITY, MAX_EXTERNAL_ID_BYTES, MAX_ID_BYTES, MAX_LANGUAGE_BYTES,
    MAX_NAME_BYTES, MAX_REQUIRED_SKILLS, MAX_SKILL_BYTES,
};
use switchboard::api::pb;
use switchboard::api::tenant::{TENANT_HEADER, TenantRefusal, tenant_of};
use switchboard::auth::{
    AuthSettings, Authenticator, Credential, Method, Peer, Principal, Refusal, Role, Roles,
    TenantScope,
};
use switchboard::config::{Config, Limits, Tenancy};
use switchboard::routing::{
    self, AdapterId, Boost, Channel, ClvModel, PerClass, Presence, Sender, TransferRequest,
};
use tonic::metadata::{AsciiMetadataValue, MetadataMap};
use tonic::{Code, Status};

fn cases() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------
// Strings

/// Byte lengths at and around every limit the edge checks.
const EDGE_LENGTHS: [usize; 21] = [
    0, 1, 2, 15, 16, 17, 63, 64, 65, 127, 128, 129, 255, 256, 257, 4095, 4096, 4097, 16383, 16384,
    16385,
];

/// Characters of one to four bytes, NUL, a newline and a right-to-left override.
const FILL: [char; 7] = ['a', 'é', '中', '😀', '\0', '\n', '\u{202e}'];

/// Exactly `n` bytes, mostly `c`.
fn of_bytes(n: usize, c: char) -> String {
    let mut s = c.to_string().repeat(n / c.len_utf8());
    while s.len() < n {
        s.push('a');
    }
    s
}

/// `s` cut (at a character boundary) or padded to `min..=max` bytes.
fn fit(mut s: String, min: usize, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    while s.len() < min {
        s.push('a');
    }
    s
}

/// Up to `max` arbitrary Unicode scalar values, control characters included.
fn any_chars(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), 0..=max).prop_map(String::from_iter)
}

/// Any string a client could send: empty, short arbitrary Unicode, exactly at or one
/// past a limit, or far too long for any field.
fn wild() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => Just(String::new()),
        4 => any_chars(24),
        4 => (prop::sample::select(&EDGE_LENGTHS[..]), prop::sample::select(&FILL[..]))
            .prop_map(|(n, c)| of_bytes(n, c)),
        1 => (16_385usize..=(1 << 18)).prop_map(|n| "x".repeat(n)),
    ]
}

/// A valid string of `min..=max` bytes, often exactly at a bound.
fn sized(min: usize, max: usize) -> impl Strategy<Value = String> {
    let length = prop_oneof![Just(min), Just(max), min..=max];
    prop_oneof![
        3 => any_chars(max.min(40)).prop_map(move |s| fit(s, min, max)),
        1 => (length, prop::sample::select(&FILL[..]))
            .prop_map(move |(n, c)| fit(of_bytes(n, c), min, max)),
    ]
}

// ---------------------------------------------------------------------------------
// Numbers

/// Any enum number: known values, just past them, and the extremes.
fn any_enum() -> impl Strategy<Value = i32> {
    prop_oneof![
        4 => -2..15i32,
        1 => any::<i32>(),
        1 => prop::sample::select(vec![i32::MIN, i32::MAX, -1, 99]),
    ]
}

/// Any `u32` a level or capacity field could hold, weighted to the limits.
fn any_small_u32() -> impl Strategy<Value = u32> {
    prop_oneof![
        4 => 0..=7u32,
        2 => 98..=102u32,
        1 => any::<u32>(),
        1 => Just(u32::MAX),
    ]
}

/// Any double: NaN, infinities, negative zero, negatives, extremes, subnormals.
fn any_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        2 => any::<f64>(),
        2 => 0.0..1e9f64,
        1 => -1e9..0.0f64,
        2 => prop::sample::select(vec![
            f64::NAN,
            -f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -0.0,
            0.0,
            -f64::MIN_POSITIVE,
            f64::MIN_POSITIVE,
            5e-324,
            f64::MAX,
            f64::MIN,
        ]),
    ]
}

/// A finite double >= 0, extremes included.
fn good_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        3 => 0.0..1e12f64,
        1 => prop::sample::select(vec![0.0, -0.0, 5e-324, f64::MIN_POSITIVE, 1.0, f64::MAX]),
    ]
}

// ---------------------------------------------------------------------------------
// Messages

fn any_value() -> impl Strategy<Value = pb::CustomerValue> {
    (
        prop::option::of(any_f64()),
        any_f64(),
        any_f64(),
        any_f64(),
        any_f64(),
        any::<u32>(),
    )
        .prop_map(
            |(clv, aov, ppy, tenure, cost, referrals)| pb::CustomerValue {
                clv,
                average_order_value: aov,
                purchases_per_year: ppy,
                tenure_years: tenure,
                acquisition_cost: cost,
                referrals,
            },
        )
}

fn any_customer() -> impl Strategy<Value = pb::Customer> {
    (wild(), wild(), prop::option::of(any_value())).prop_map(|(id, name, value)| pb::Customer {
        customer_id: id,
        display_name: name,
        value,
        identifiers: Vec::new(),
    })
}

fn any_requirement() -> impl Strategy<Value = pb::SkillRequirement> {
    (wild(), any_small_u32()).prop_map(|(skill, min_proficiency)| pb::SkillRequirement {
        skill,
        min_proficiency,
    })
}

fn any_requirements() -> impl Strategy<Value = Vec<pb::SkillRequirement>> {
    prop_oneof![
        3 => prop::collection::vec(any_requirement(), 0..=4),
        1 => prop::collection::vec(any_requirement(), 0..=24),
        1 => prop::collection::vec(good_requirement(), 15..=18),
    ]
}

fn any_inbound() -> impl Strategy<Value = pb::InboundMessage> {
    (
        wild(),
        any_enum(),
        wild(),
        prop::option::of(any_customer()),
        wild(),
        wild(),
        wild(),
        wild(),
        any_requirements(),
        prop::collection::vec(
            prop_oneof![prop::sample::select(vec![0, 1, 2, 3]), any_enum()],
            0..4,
        ),
    )
        .prop_map(
            |(
                adapter,
                channel,
                conversation,
                customer,
                text,
                language,
                client,
                queue,
                skills,
                boosts,
            )| {
                pb::InboundMessage {
                    adapter_id: adapter,
                    channel,
                    channel_conversation_id: conversation,
                    customer,
                    text,
                    language,
                    client_message_id: client,
                    queue,
                    required_skills: skills,
                    boosts,
                }
            },
        )
}

/// An arbitrary message with at most one field broken, so each check is reached.
fn nearly_good_inbound() -> impl Strategy<Value = pb::InboundMessage> {
    (good_inbound(), any_inbound(), 0..14usize, edge()).prop_map(|(mut good, bad, which, edge)| {
        let text_max = Limits::default().max_text_bytes;
        match which {
            0 => good.adapter_id = edge.or(bad.adapter_id, MAX_ID_BYTES),
            1 => good.channel = bad.channel,
            2 => {
                good.channel_conversation_id =
                    edge.or(bad.channel_conversation_id, MAX_EXTERNAL_ID_BYTES)
            }
            3 => good.customer = bad.customer,
            4 => good.text = edge.or(bad.text, text_max),
            5 => good.language = edge.or(bad.language, MAX_LANGUAGE_BYTES),
            6 => good.client_message_id = edge.or(bad.client_message_id, MAX_ID_BYTES),
            7 => good.queue = edge.or(bad.queue, MAX_NAME_BYTES),
            8 => good.required_skills = bad.required_skills,
            9 => good.boosts = bad.boosts,
            10 | 11 => {
                if let Some(c) = good.customer.as_mut() {
                    let wild = bad.customer.unwrap_or_default();
                    if which == 10 {
                        c.value = wild.value;
                    } else {
                        c.customer_id = edge.or(wild.customer_id, MAX_EXTERNAL_ID_BYTES);
                        c.display_name = edge.or(wild.display_name, MAX_NAME_BYTES);
                    }
                }
            }
            _ => {}
        }
        good
    })
}

/// Maybe a string at a limit: empty, one byte, or a byte or two either side of it.
#[derive(Debug, Clone)]
struct Edge(Option<(usize, char)>);

impl Edge {
    /// The edge string for a field of at most `max` bytes, or else `other`.
    fn or(&self, other: String, max: usize) -> String {
        match self.0 {
            None => other,
            Some((k, c)) => {
                let n = [0, 1, max - 1, max, max + 1, max + 2][k];
                of_bytes(n, c)
            }
        }
    }
}

fn edge() -> impl Strategy<Value = Edge> {
    // Mostly just past the limit, the likeliest place for an off-by-one.
    let k = prop::sample::select(vec![0, 1, 2, 3, 3, 4, 4, 4, 5]);
    prop_oneof![
        1 => Just(Edge(None)),
        3 => (k, prop::sample::select(&FILL[..])).prop_map(|e| Edge(Some(e))),
    ]
}

fn good_requirement() -> impl Strategy<Value = pb::SkillRequirement> {
    (sized(1, MAX_SKILL_BYTES), 0..=5u32).prop_map(|(skill, min_proficiency)| {
        pb::SkillRequirement {
            skill,
            min_proficiency,
        }
    })
}

fn good_value() -> impl Strategy<Value = pb::CustomerValue> {
    (
        prop::option::of(good_f64()),
        good_f64(),
        good_f64(),
        good_f64(),
        good_f64(),
        any::<u32>(),
    )
        .prop_map(
            |(clv, aov, ppy, tenure, cost, referrals)| pb::CustomerValue {
                clv,
                average_order_value: aov,
                purchases_per_year: ppy,
                tenure_years: tenure,
                acquisition_cost: cost,
                referrals,
            },
        )
}

/// A message every field of which the contract accepts.
fn good_inbound() -> impl Strategy<Value = pb::InboundMessage> {
    let customer = (
        sized(1, MAX_EXTERNAL_ID_BYTES),
        sized(0, MAX_NAME_BYTES),
        prop::option::of(good_value()),
    )
        .prop_map(|(id, name, value)| pb::Customer {
            customer_id: id,
            display_name: name,
            value,
            identifiers: Vec::new(),
        });
    let boosts = prop::sample::select(vec![
        vec![],
        vec![Boost::Complaint],
        vec![Boost::ChurnRisk],
        vec![Boost::Complaint, Boost::ChurnRisk],
        vec![Boost::ChurnRisk, Boost::Complaint],
    ]);
    (
        sized(1, MAX_ID_BYTES),
        1..=10i32,
        sized(1, MAX_EXTERNAL_ID_BYTES),
        customer,
        sized(1, Limits::default().max_text_bytes),
        sized(0, MAX_LANGUAGE_BYTES),
        sized(0, MAX_ID_BYTES),
        sized(0, MAX_NAME_BYTES),
        prop::collection::vec(good_requirement(), 0..=MAX_REQUIRED_SKILLS),
        boosts,
    )
        .prop_map(
            |(
                adapter,
                channel,
                conversation,
                customer,
                text,
                language,
                client,
                queue,
                skills,
                boosts,
            )| {
                pb::InboundMessage {
                    adapter_id: adapter,
                    channel,
                    channel_conversation_id: conversation,
                    customer: Some(customer),
                    text,
                    language,
                    client_message_id: client,
                    queue,
                    required_skills: skills,
                    boosts: boosts.into_iter().filter_map(boost_number).collect(),
                }
            },
        )
}

/// The wire number of a boost adapters may set; the router sets the others itself.
fn boost_number(boost: Boost) -> Option<i32> {
    match boost {
        Boost::Complaint => Some(pb::Boost::Complaint as i32),
        Boost::ChurnRisk => Some(pb::Boost::ChurnRisk as i32),
        _ => None,
    }
}

fn any_sign_in() -> impl Strategy<Value = pb::SignIn> {
    let skill = || {
        (wild(), any_small_u32())
            .prop_map(|(skill, proficiency)| pb::AgentSkill { skill, proficiency })
    };
    let skills = prop_oneof![
        3 => prop::collection::vec(skill(), 0..=4),
        1 => prop::collection::vec(skill(), 0..=70),
        1 => prop::collection::vec(good_agent_skill(), 63..=66),
    ];
    let class = || {
        prop_oneof![
            2 => prop::sample::select(vec![0, 1, MAX_CAPACITY, MAX_CAPACITY + 1]),
            1 => any_small_u32(),
        ]
    };
    let capacity = (class(), class(), class()).prop_map(|(messaging, email, voice)| pb::Capacity {
        messaging,
        email,
        voice,
    });
    (
        wild(),
        wild(),
        skills,
        prop::option::of(capacity),
        any_enum(),
    )
        .prop_map(
            |(agent_id, display_name, skills, capacity, presence)| pb::SignIn {
                agent_id,
                display_name,
                skills,
                capacity,
                presence,
            },
        )
}

/// An arbitrary sign-in with at most one field broken, so each check is reached.
fn nearly_good_sign_in() -> impl Strategy<Value = pb::SignIn> {
    (good_sign_in(), any_sign_in(), 0..6usize, edge()).prop_map(|(mut good, bad, which, edge)| {
        match which {
            0 => good.agent_id = edge.or(bad.agent_id, MAX_ID_BYTES),
            1 => good.display_name = edge.or(bad.display_name, MAX_NAME_BYTES),
            2 => good.skills = bad.skills,
            3 => good.capacity = bad.capacity,
            4 => good.presence = bad.presence,
            _ => {}
        }
        good
    })
}

fn good_agent_skill() -> impl Strategy<Value = pb::AgentSkill> {
    (sized(1, MAX_SKILL_BYTES), 0..=5u32)
        .prop_map(|(skill, proficiency)| pb::AgentSkill { skill, proficiency })
}

fn good_sign_in() -> impl Strategy<Value = pb::SignIn> {
    let capacity = (0..=MAX_CAPACITY, 0..=MAX_CAPACITY, 0..=MAX_CAPACITY)
        .prop_filter("one class above 0", |&(m, e, v)| m + e + v > 0)
        .prop_map(|(messaging, email, voice)| pb::Capacity {
            messaging,
            email,
            voice,
        });
    (
        sized(1, MAX_ID_BYTES),
        sized(0, MAX_NAME_BYTES),
        prop::collection::vec(good_agent_skill(), 0..=MAX_AGENT_SKILLS),
        capacity,
        0..=2i32,
    )
        .prop_map(
            |(agent_id, display_name, skills, capacity, presence)| pb::SignIn {
                agent_id,
                display_name,
                skills,
                capacity: Some(capacity),
                presence,
            },
        )
}

fn any_target() -> impl Strategy<Value = Option<pb::transfer::Target>> {
    use pb::transfer::Target;
    prop::option::of(prop_oneof![
        wild().prop_map(Target::AgentId),
        wild().prop_map(Target::Skill),
        wild().prop_map(Target::Queue),
    ])
}

// ---------------------------------------------------------------------------------
// What the contract says is wrong with a message (the oracle)

fn bad_id(value: &str, max: usize) -> bool {
    value.is_empty() || value.len() > max
}

fn bad_number(value: f64) -> bool {
    !value.is_finite() || value < 0.0
}

/// The fields of `skills` (under `field`) the contract refuses.
fn requirement_faults(field: &str, skills: &[pb::SkillRequirement]) -> Vec<String> {
    let mut faults = Vec::new();
    if skills.len() > MAX_REQUIRED_SKILLS {
        faults.push(field.to_owned());
    }
    if skills.iter().any(|s| bad_id(&s.skill, MAX_SKILL_BYTES)) {
        faults.push(format!("{field}.skill"));
    }
    if skills.iter().any(|s| s.min_proficiency > 5) {
        faults.push(format!("{field}.min_proficiency"));
    }
    faults
}

/// The fields of an inbound message the contract refuses; `adapter_id` is only read
/// off the stream.
fn inbound_faults(m: &pb::InboundMessage, on_stream: bool, limits: &Limits) -> Vec<String> {
    let mut faults: Vec<String> = Vec::new();
    let mut fault = |field: &str, bad: bool| {
        if bad {
            faults.push(field.to_owned());
        }
    };
    fault(
        "adapter_id",
        !on_stream && bad_id(&m.adapter_id, MAX_ID_BYTES),
    );
    fault("channel", !(1..=10).contains(&m.channel));
    fault(
        "channel_conversation_id",
        bad_id(&m.channel_conversation_id, MAX_EXTERNAL_ID_BYTES),
    );
    fault("customer", m.customer.is_none());
    if let Some(c) = &m.customer {
        fault(
            "customer.customer_id",
            bad_id(&c.customer_id, MAX_EXTERNAL_ID_BYTES),
        );
        fault(
            "customer.display_name",
            c.display_name.len() > MAX_NAME_BYTES,
        );
        if let Some(v) = &c.value {
            fault("customer.value.clv", v.clv.is_some_and(bad_number));
            fault(
                "customer.value.average_order_value",
                bad_number(v.average_order_value),
            );
            fault(
                "customer.value.purchases_per_year",
                bad_number(v.purchases_per_year),
            );
            fault("customer.value.tenure_years", bad_number(v.tenure_years));
            fault(
                "customer.value.acquisition_cost",
                bad_number(v.acquisition_cost),
            );
        }
    }
    fault("text", bad_id(&m.text, limits.max_text_bytes));
    fault("language", m.language.len() > MAX_LANGUAGE_BYTES);
    fault(
        "client_message_id",
        m.client_message_id.len() > MAX_ID_BYTES,
    );
    fault("queue", m.queue.len() > MAX_NAME_BYTES);
    // Repeated boosts are tolerated (they form a set); unknown ones are not.
    fault("boosts", m.boosts.iter().any(|b| !(1..=2).contains(b)));
    faults.extend(requirement_faults("required_skills", &m.required_skills));
    faults
}

fn sign_in_faults(s: &pb::SignIn) -> Vec<String> {
    let mut faults: Vec<String> = Vec::new();
    let mut fault = |field: &str, bad: bool| {
        if bad {
            faults.push(field.to_owned());
        }
    };
    fault("sign_in.agent_id", bad_id(&s.agent_id, MAX_ID_BYTES));
    fault(
        "sign_in.display_name",
        s.display_name.len() > MAX_NAME_BYTES,
    );
    fault("sign_in.skills", s.skills.len() > MAX_AGENT_SKILLS);
    fault(
        "sign_in.skills.skill",
        s.skills.iter().any(|k| bad_id(&k.skill, MAX_SKILL_BYTES)),
    );
    fault(
        "sign_in.skills.proficiency",
        s.skills.iter().any(|k| k.proficiency > 5),
    );
    fault(
        "sign_in.capacity",
        s.capacity.as_ref().is_none_or(|c| {
            let all = [c.messaging, c.email, c.voice];
            all.iter().any(|&n| n > MAX_CAPACITY) || all.iter().all(|&n| n == 0)
        }),
    );
    // Unspecified means available; wrap-up (3) is the router's, not the agent's.
    fault("sign_in.presence", !(0..=2).contains(&s.presence));
    faults
}

/// The routing channel of each wire number, from `common.proto`.
fn channel_of(number: i32) -> Option<Channel> {
    Some(match number {
        1 => Channel::Web,
        2 => Channel::App,
        3 => Channel::WechatOfficialAccount,
        4 => Channel::WechatMiniProgram,
        5 => Channel::Weibo,
        6 => Channel::Douyin,
        7 => Channel::Email,
        8 => Channel::Sms,
        9 => Channel::Voice,
        10 => Channel::Other,
        _ => return None,
    })
}

// ---------------------------------------------------------------------------------
// Checks

/// A refusal is INVALID_ARGUMENT `<field>: <reason>`, naming one of `faults`.
fn check_refusal(status: &Status, faults: &[String]) -> Result<(), TestCaseError> {
    prop_assert!(
        !matches!(status.code(), Code::Internal | Code::Unknown),
        "INTERNAL/UNKNOWN for client input: {:?}",
        status
    );
    prop_assert_eq!(status.code(), Code::InvalidArgument, "{:?}", status);
    let Some((field, reason)) = status.message().split_once(": ") else {
        return Err(TestCaseError::fail(format!(
            "refusal names no field: {:?}",
            status.message()
        )));
    };
    prop_assert!(
        faults.iter().any(|f| f == field),
        "refusal names {:?}, but the invalid fields are {:?}",
        field,
        faults
    );
    prop_assert!(!reason.trim().is_empty(), "{:?}", status.message());
    Ok(())
}

/// Converts `m` and checks the outcome against the oracle and, when accepted, field
/// for field.
fn check_inbound(
    m: pb::InboundMessage,
    stream: Option<&AdapterId>,
    limits: &Limits,
) -> Result<(), TestCaseError> {
    let faults = inbound_faults(&m, stream.is_some(), limits);
    let sent = m.clone();
    match convert::inbound_message(m, stream, limits) {
        Err(status) => {
            prop_assert!(
                !faults.is_empty(),
                "a well-formed message was refused: {:?}",
                status
            );
            check_refusal(&status, &faults)
        }
        Ok(got) => {
            prop_assert!(
                faults.is_empty(),
                "accepted, though {:?} are invalid",
                faults
            );
            check_converted(&sent, stream, &got)
        }
    }
}

fn check_converted(
    sent: &pb::InboundMessage,
    stream: Option<&AdapterId>,
    got: &routing::InboundMessage,
) -> Result<(), TestCaseError> {
    match stream {
        Some(adapter) => prop_assert_eq!(&got.adapter, adapter),
        None => prop_assert_eq!(&*got.adapter, sent.adapter_id.as_str()),
    }
    prop_assert_eq!(Some(got.channel), channel_of(sent.channel));
    prop_assert_eq!(&got.channel_conversation_id, &sent.channel_conversation_id);
    let customer = sent.customer.as_ref().expect("accepted, so set");
    prop_assert_eq!(&got.customer_id, &customer.customer_id);
    prop_assert_eq!(&got.display_name, &customer.display_name);
    let value = customer.value.unwrap_or_default();
    prop_assert_eq!(got.value.clv, value.clv);
    prop_assert_eq!(got.value.average_order_value, value.average_order_value);
    prop_assert_eq!(got.value.purchases_per_year, value.purchases_per_year);
    prop_assert_eq!(got.value.tenure_years, value.tenure_years);
    prop_assert_eq!(got.value.acquisition_cost, value.acquisition_cost);
    prop_assert_eq!(got.value.referrals, value.referrals);
    let clv = ClvModel::default().lifetime_value(&got.value);
    prop_assert!(clv.is_finite() && clv >= 0.0, "lifetime value {}", clv);
    prop_assert_eq!(&got.text, &sent.text);
    prop_assert_eq!(&got.language, &sent.language);
    prop_assert_eq!(
        got.client_message_id.as_deref(),
        Some(sent.client_message_id.as_str()).filter(|s| !s.is_empty())
    );
    prop_assert_eq!(
        got.queue.as_deref(),
        Some(sent.queue.as_str()).filter(|s| !s.is_empty())
    );
    let wanted: Vec<(String, u8)> = sent
        .required_skills
        .iter()
        .map(|s| (s.skill.clone(), s.min_proficiency.max(1) as u8))
        .collect();
    prop_assert_eq!(&got.required_skills, &wanted);
    for boost in Boost::ALL {
        let sent_it = boost_number(boost).is_some_and(|n| sent.boosts.contains(&n));
        prop_assert_eq!(got.boosts.contains(boost), sent_it, "{:?}", boost);
    }
    Ok(())
}

fn check_sign_in(s: pb::SignIn) -> Result<(), TestCaseError> {
    let faults = sign_in_faults(&s);
    let sent = s.clone();
    match convert::sign_in(s) {
        Err(status) => {
            prop_assert!(
                !faults.is_empty(),
                "a well-formed sign-in was refused: {:?}",
                status
            );
            check_refusal(&status, &faults)
        }
        Ok(got) => {
            prop_assert!(
                faults.is_empty(),
                "accepted, though {:?} are invalid",
                faults
            );
            prop_assert_eq!(&got.agent_id, &sent.agent_id);
            prop_assert_eq!(&got.display_name, &sent.display_name);
            let skills: Vec<(String, u8)> = sent
                .skills
                .iter()
                .map(|k| {
                    let level = if k.proficiency == 0 { 3 } else { k.proficiency };
                    (k.skill.clone(), level as u8)
                })
                .collect();
            prop_assert_eq!(&got.skills, &skills);
            let c = sent.capacity.expect("accepted, so set");
            prop_assert_eq!(got.capacity, PerClass([c.messaging, c.email, c.voice]));
            let presence = if sent.presence == 2 {
                Presence::Away
            } else {
                Presence::Available
            };
            prop_assert_eq!(got.presence, presence);
            Ok(())
        }
    }
}

proptest! {
    #![proptest_config(cases())]

    /// Arbitrary `Submit` messages: refused exactly when a field is invalid, naming it.
    #[test]
    fn any_submitted_message_is_converted_or_refused_by_field(m in any_inbound()) {
        check_inbound(m, None, &Limits::default())?;
    }

    /// Messages with one field broken reach every check past the first.
    #[test]
    fn a_message_with_one_bad_field_is_refused_by_that_field(
        m in nearly_good_inbound(),
        on_stream in any::<bool>(),
    ) {
        let adapter: AdapterId = Arc::from("stream-adapter");
        check_inbound(m, on_stream.then_some(&adapter), &Limits::default())?;
    }

    /// On a stream the hello's adapter wins and the message's `adapter_id` is ignored;
    /// the text limit is the configured one.
    #[test]
    fn any_streamed_message_is_converted_or_refused_by_field(
        m in any_inbound(),
        adapter in sized(1, MAX_ID_BYTES),
        max_text_bytes in prop_oneof![Just(16 * 1024), 1..=64usize, 1..=40_000usize],
    ) {
        let adapter: AdapterId = Arc::from(adapter.as_str());
        let limits = Limits { max_text_bytes, ..Limits::default() };
        check_inbound(m, Some(&adapter), &limits)?;
    }

    /// Well-formed messages are accepted, on `Submit` and on a stream.
    #[test]
    fn a_well_formed_message_is_accepted(m in good_inbound(), on_stream in any::<bool>()) {
        prop_assert!(inbound_faults(&m, false, &Limits::default()).is_empty());
        let adapter: AdapterId = Arc::from("stream-adapter");
        let stream = on_stream.then_some(&adapter);
        let sent = m.clone();
        match convert::inbound_message(m, stream, &Limits::default()) {
            Ok(got) => check_converted(&sent, stream, &got)?,
            Err(status) => {
                return Err(TestCaseError::fail(format!("well-formed message refused: {status:?}")));
            }
        }
    }

    /// Arbitrary sign-ins: refused exactly when a field is invalid, naming it.
    #[test]
    fn any_sign_in_is_converted_or_refused_by_field(s in any_sign_in()) {
        check_sign_in(s)?;
    }

    /// Sign-ins with one field broken reach every check past the first.
    #[test]
    fn a_sign_in_with_one_bad_field_is_refused_by_that_field(s in nearly_good_sign_in()) {
        check_sign_in(s)?;
    }

    /// Well-formed sign-ins are accepted.
    #[test]
    fn a_well_formed_sign_in_is_accepted(s in good_sign_in()) {
        prop_assert!(sign_in_faults(&s).is_empty());
        prop_assert!(convert::sign_in(s.clone()).is_ok(), "{:?}", convert::sign_in(s).err());
    }

    /// Transfer targets: agent ids up to 128 bytes, skills up to 64, queues up to 256.
    #[test]
    fn any_transfer_target_is_converted_or_refused_by_field(target in any_target()) {
        use pb::transfer::Target;
        let (field, ok) = match &target {
            None => ("transfer.target", false),
            Some(Target::AgentId(a)) => ("transfer.agent_id", !bad_id(a, MAX_ID_BYTES)),
            Some(Target::Skill(s)) => ("transfer.skill", !bad_id(s, MAX_SKILL_BYTES)),
            Some(Target::Queue(q)) => ("transfer.queue", !bad_id(q, MAX_NAME_BYTES)),
        };
        match (convert::transfer_target(target.clone()), target) {
            (Err(status), _) => {
                prop_assert!(!ok, "a well-formed target was refused: {:?}", status);
                check_refusal(&status, &[field.to_owned()])?;
            }
            (Ok(got), target) => {
                prop_assert!(ok, "accepted, though {} is invalid", field);
                let same = match (got, target) {
                    (TransferRequest::Agent(g), Some(Target::AgentId(s)))
                    | (TransferRequest::Skill(g), Some(Target::Skill(s)))
                    | (TransferRequest::Queue(g), Some(Target::Queue(s))) => g == s,
                    _ => false,
                };
                prop_assert!(same, "the target changed kind or value");
            }
        }
    }

    /// Skill requirements as a bot handoff sends them.
    #[test]
    fn any_handoff_skills_are_converted_or_refused_by_field(skills in any_requirements()) {
        let field = "handoff.required_skills";
        let faults = requirement_faults(field, &skills);
        match convert::skill_requirements(field, skills.clone()) {
            Err(status) => {
                prop_assert!(!faults.is_empty(), "well-formed skills refused: {:?}", status);
                check_refusal(&status, &faults)?;
            }
            Ok(got) => {
                prop_assert!(faults.is_empty(), "accepted, though {:?} are invalid", faults);
                let wanted: Vec<(String, u8)> = skills
                    .into_iter()
                    .map(|s| (s.skill, s.min_proficiency.max(1) as u8))
                    .collect();
                prop_assert_eq!(got, wanted);
            }
        }
    }

    /// Channels: exactly the ten known numbers convert, and round-trip.
    #[test]
    fn any_channel_number_is_converted_or_refused(number in any_enum()) {
        match convert::channel("register.channels", number) {
            Ok(channel) => {
                prop_assert_eq!(Some(channel), channel_of(number));
                prop_assert_eq!(convert::channel_to_pb(channel) as i32, number);
            }
            Err(status) => {
                prop_assert_eq!(channel_of(number), None);
                check_refusal(&status, &["register.channels".to_owned()])?;
            }
        }
    }

    /// Presences: agents may set available or away, UNSPECIFIED only where a default
    /// stands in, never wrap-up or an unknown number.
    #[test]
    fn any_presence_number_is_converted_or_refused(
        number in any_enum(),
        default in prop::option::of(prop::sample::select(vec![
            Presence::Available,
            Presence::Away,
            Presence::WrapUp,
        ])),
    ) {
        let wanted = match number {
            0 => default,
            1 => Some(Presence::Available),
            2 => Some(Presence::Away),
            _ => None,
        };
        match convert::presence("set_presence.presence", number, default) {
            Ok(presence) => {
                prop_assert_eq!(Some(presence), wanted);
                if number != 0 {
                    prop_assert_eq!(convert::presence_to_pb(presence) as i32, number);
                }
            }
            Err(status) => {
                prop_assert_eq!(wanted, None);
                check_refusal(&status, &["set_presence.presence".to_owned()])?;
            }
        }
    }

    /// The building blocks every handler uses: required ids, optional texts, message
    /// texts, against any bound.
    #[test]
    fn ids_texts_and_bounds_refuse_by_field(
        field in "[a-z_]{1,12}(\\.[a-z_]{1,12}){0,2}",
        value in wild(),
        max in prop_oneof![prop::sample::select(&EDGE_LENGTHS[..]), 0..=300usize],
    ) {
        let faults = [field.clone()];
        let limits = Limits { max_text_bytes: max, ..Limits::default() };
        for (result, ok) in [
            (convert::id(&field, &value, max), !value.is_empty() && value.len() <= max),
            (convert::bounded(&field, &value, max), value.len() <= max),
            (convert::text(&field, &value, &limits), !value.is_empty() && value.len() <= max),
        ] {
            match result {
                Ok(()) => prop_assert!(ok, "{} bytes accepted under {}", value.len(), max),
                Err(status) => {
                    prop_assert!(!ok, "{} bytes refused under {}: {:?}", value.len(), max, status);
                    check_refusal(&status, &faults)?;
                }
            }
        }
    }

    /// What the router shows agents and bots is copied out, whatever it holds.
    #[test]
    fn outbound_customers_and_transcripts_copy_their_fields(
        id in wild(),
        name in wild(),
        clv in any_f64(),
        text in wild(),
        at in any::<u64>(),
        agent in prop::option::of(wild()),
        sender in prop::sample::select(vec![Sender::Customer, Sender::Agent, Sender::Bot, Sender::System]),
    ) {
        let customer = routing::Customer {
            id: Arc::from(id.as_str()),
            display_name: Arc::from(name.as_str()),
            clv,
        };
        let shown = convert::customer_to_pb(&customer);
        prop_assert_eq!(&shown.customer_id, &id);
        prop_assert_eq!(&shown.display_name, &name);
        let shown_clv = shown.value.and_then(|v| v.clv);
        prop_assert!(shown_clv.is_some_and(|c| c.to_bits() == clv.to_bits()));
        let entry = routing::TranscriptEntry {
            sender,
            text: Arc::from(text.as_str()),
            at,
            agent: agent.as_deref().map(Arc::<str>::from),
        };
        let shown = convert::transcript_entry(&entry);
        prop_assert_eq!(&shown.text, &text);
        prop_assert_eq!(shown.agent_id, agent.unwrap_or_default());
        prop_assert!(shown.sender != pb::Sender::Unspecified as i32);
    }
}

// ---------------------------------------------------------------------------------
// Metadata: the tenant header and credentials

/// Whether `id` is a tenant id by the contract: 1-64 characters of `[A-Za-z0-9._-]`.
fn is_tenant_id(id: &[u8]) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// Value bytes of any header the metadata map takes: visible ASCII, tabs and obs-text
/// bytes (0x80-0xff, which are not text), weighted to tenant- and bearer-like values.
fn header_bytes() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        6 => 0x20u8..0x7f,
        1 => Just(b'\t'),
        1 => 0x80u8..=0xff,
    ];
    prop_oneof![
        3 => "[ -~]{0,80}".prop_map(String::into_bytes),
        3 => "[A-Za-z0-9._-]{1,64}".prop_map(String::into_bytes),
        1 => "[A-Za-z0-9._-]{65,70}".prop_map(String::into_bytes),
        2 => "[A-Za-z0-9._ -]{0,8}[^A-Za-z0-9._-][A-Za-z0-9._-]{0,8}".prop_map(String::into_bytes),
        3 => "(Bearer|bearer|BEARER|BeArEr|Basic|Token|Bearer\t|)( {0,3}|\t)(sbk_)?[ -~]{0,60}[ \t]{0,2}"
            .prop_map(String::into_bytes),
        2 => prop::collection::vec(byte, 0..80),
        1 => (prop::sample::select(&EDGE_LENGTHS[..]), any::<bool>())
            .prop_map(|(n, bearer)| {
                let head = if bearer { "Bearer " } else { "" };
                format!("{head}{}", "A".repeat(n)).into_bytes()
            }),
    ]
}

/// The metadata value of `bytes`, if the metadata map takes them.
fn header_value(bytes: &[u8]) -> Option<AsciiMetadataValue> {
    AsciiMetadataValue::try_from(bytes).ok()
}

fn metadata(headers: &[(&'static str, Option<&[u8]>)]) -> MetadataMap {
    let mut md = MetadataMap::new();
    for (key, value) in headers {
        if let Some(value) = value.and_then(header_value) {
            md.insert(*key, value);
        }
    }
    md
}

/// The header's bytes as the map holds them, if it took them.
fn held<'a>(md: &'a MetadataMap, key: &str) -> Option<&'a [u8]> {
    md.get(key).map(|v| v.as_bytes())
}

fn sharded_config() -> Config {
    Config {
        tenancy: Tenancy {
            shard: "east".to_owned(),
            shards: BTreeMap::from([
                (
                    "east".to_owned(),
                    vec![
                        "default".to_owned(),
                        "acme".to_owned(),
                        "a.b-c_9".to_owned(),
                    ],
                ),
                ("west".to_owned(), vec!["globex".to_owned()]),
            ]),
        },
        ..Config::default()
    }
}

fn one_tenant(tenant: &str) -> Principal {
    Principal {
        tenant: TenantScope::One(Arc::from(tenant)),
        roles: Roles::of([Role::Agent]),
        subject: Arc::from("agent-1"),
        method: Method::Jwt,
    }
}

/// The refusal of a malformed tenant header: INVALID_ARGUMENT naming the header.
fn check_bad_header(outcome: Result<String, TenantRefusal>) -> Result<(), TestCaseError> {
    match outcome {
        Err(TenantRefusal::Status(status)) => {
            prop_assert_eq!(status.code(), Code::InvalidArgument, "{:?}", status);
            prop_assert!(
                status.message().starts_with(&format!("{TENANT_HEADER}: ")),
                "{:?}",
                status.message()
            );
            Ok(())
        }
        other => Err(TestCaseError::fail(format!(
            "a malformed tenant header gave {other:?}"
        ))),
    }
}

/// A credential as read, owned.
#[derive(Debug, PartialEq, Eq)]
enum Read {
    Jwt(String),
    ApiKey(String),
}

fn owned(credential: Result<Option<Credential<'_>>, Refusal>) -> Result<Option<Read>, Refusal> {
    credential.map(|c| {
        c.map(|c| match c {
            Credential::Jwt(t) => Read::Jwt(t.to_owned()),
            Credential::ApiKey(k) => Read::ApiKey(k.to_owned()),
        })
    })
}

/// What `Credential::from_metadata` must read, by its contract: `authorization:
/// Bearer <token>` (scheme in any case, then one space; the token trimmed, not empty;
/// `sbk_` tokens are API keys), else `x-api-key: <key>` (trimmed).
fn expected_credential(md: &MetadataMap) -> Result<Option<Read>, Refusal> {
    let text = |bytes: &[u8]| -> Option<String> {
        bytes
            .iter()
            .all(|&b| (0x20..0x7f).contains(&b) || b == b'\t')
            .then(|| String::from_utf8(bytes.to_vec()).expect("ASCII"))
    };
    if let Some(bytes) = held(md, "authorization") {
        let value = text(bytes).ok_or(Refusal::Malformed)?;
        if value.len() < 7
            || !value[..6].eq_ignore_ascii_case("bearer")
            || value.as_bytes()[6] != b' '
        {
            return Err(Refusal::Malformed);
        }
        let token = value[7..].trim();
        if token.is_empty() {
            return Err(Refusal::Malformed);
        }
        let token = token.to_owned();
        return Ok(Some(if token.starts_with("sbk_") {
            Read::ApiKey(token)
        } else {
            Read::Jwt(token)
        }));
    }
    match held(md, "x-api-key") {
        None => Ok(None),
        Some(bytes) => {
            let value = text(bytes).ok_or(Refusal::Malformed)?;
            Ok(Some(Read::ApiKey(value.trim().to_owned())))
        }
    }
}

proptest! {
    #![proptest_config(cases())]

    /// The loopback principal acts in the tenant a valid header names, in the default
    /// tenant without one, and is refused by field for a malformed one.
    #[test]
    fn the_tenant_header_picks_or_is_refused_by_name(
        header in prop::option::of(header_bytes()),
        sharded in any::<bool>(),
    ) {
        let md = metadata(&[(TENANT_HEADER, header.as_deref())]);
        let config = if sharded { sharded_config() } else { Config::default() };
        let principal = Principal::unauthenticated(Method::Loopback);
        let outcome = tenant_of(&md, &principal, &config);
        let asked = held(&md, TENANT_HEADER);
        match asked {
            Some(bytes) if !is_tenant_id(bytes) => check_bad_header(outcome)?,
            _ => {
                let wanted = asked
                    .map_or("default".to_owned(), |b| String::from_utf8(b.to_vec()).unwrap());
                if config.tenancy.serves(&wanted) {
                    prop_assert_eq!(outcome.ok(), Some(wanted));
                } else {
                    match outcome {
                        Err(TenantRefusal::Status(status)) => {
                            prop_assert_eq!(status.code(), Code::FailedPrecondition);
                            prop_assert!(status.message().starts_with(TENANT_HEADER));
                        }
                        other => {
                            return Err(TestCaseError::fail(format!(
                                "another shard's tenant gave {other:?}"
                            )));
                        }
                    }
                }
            }
        }
    }

    /// A principal bound to one tenant acts only in it: no header or its own picks it,
    /// another valid one is `OtherTenant`, a malformed one is refused by name.
    #[test]
    fn a_tenant_bound_principal_cannot_pick_another_tenant(
        own in "[A-Za-z0-9._-]{1,64}",
        header in prop::option::of(header_bytes()),
        same in any::<bool>(),
    ) {
        let header = if same { Some(own.clone().into_bytes()) } else { header };
        let md = metadata(&[(TENANT_HEADER, header.as_deref())]);
        let outcome = tenant_of(&md, &one_tenant(&own), &Config::default());
        match held(&md, TENANT_HEADER) {
            None => prop_assert_eq!(outcome.ok(), Some(own)),
            Some(bytes) if bytes == own.as_bytes() => prop_assert_eq!(outcome.ok(), Some(own)),
            Some(bytes) if is_tenant_id(bytes) => prop_assert!(
                matches!(outcome, Err(TenantRefusal::OtherTenant)),
                "{:?}",
                outcome
            ),
            Some(_) => check_bad_header(outcome)?,
        }
    }

    /// Credentials are read from `authorization` (bearer only), else `x-api-key`.
    #[test]
    fn credentials_are_read_by_contract(
        authorization in prop::option::of(header_bytes()),
        api_key in prop::option::of(header_bytes()),
    ) {
        let md = metadata(&[
            ("authorization", authorization.as_deref()),
            ("x-api-key", api_key.as_deref()),
        ]);
        let got = Credential::from_metadata(&md);
        prop_assert_eq!(owned(got), expected_credential(&md));
    }

    /// A bearer token of any visible characters is read back as it was sent.
    #[test]
    fn a_bearer_token_is_read_back(
        scheme in "[Bb][Ee][Aa][Rr][Ee][Rr]",
        token in "[!-~]{1,300}",
        padding in " {0,3}",
    ) {
        let value = format!("{scheme} {padding}{token}{padding}");
        let md = metadata(&[("authorization", Some(value.as_bytes()))]);
        let wanted = if token.starts_with("sbk_") {
            Credential::ApiKey(&token)
        } else {
            Credential::Jwt(&token)
        };
        prop_assert_eq!(Credential::from_metadata(&md), Ok(Some(wanted)));
    }
}

// ---------------------------------------------------------------------------------
// Authentication

/// The HS256 secret the authenticator under test is loaded with.
const SECRET: &[u8; 40] = b"edge-properties-hs256-secret-of-40-bytes";

/// An authenticator loaded from a secret file (written, read, removed).
fn load_hs256(secret: &[u8]) -> Result<Authenticator, String> {
    static FILES: AtomicUsize = AtomicUsize::new(0);
    let n = FILES.fetch_add(1, Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!(
        "switchboard-edge-properties-{}-{n}.secret",
        std::process::id()
    ));
    std::fs::write(&path, secret).map_err(|e| e.to_string())?;
    let loaded = Authenticator::load(&AuthSettings {
        jwt_hs256_secret_file: Some(path.clone()),
        ..AuthSettings::default()
    });
    let _ = std::fs::remove_file(&path);
    loaded.map_err(|e| e.to_string())
}

fn authenticator() -> &'static Authenticator {
    static AUTH: OnceLock<Authenticator> = OnceLock::new();
    AUTH.get_or_init(|| load_hs256(SECRET).expect("a 40-byte HS256 secret loads"))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

fn mint(claims: &Value, secret: &[u8]) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .expect("claims encode")
}

fn claims(sub: &str, tenant: &str, roles: &[Role]) -> Value {
    let roles: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
    json!({ "sub": sub, "tenant": tenant, "roles": roles, "exp": now() + 3600 })
}

/// Unpadded base64url, as JWTs use.
fn b64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

/// Peers, loopback or not, or of unknown address, with or without (unmapped) client
/// certificate names.
fn any_peer() -> impl Strategy<Value = Peer> {
    let addr = prop::option::of(prop_oneof![
        2 => any::<SocketAddr>(),
        1 => prop::sample::select(vec![
            "127.0.0.1:5000",
            "127.9.8.7:1",
            "[::1]:50051",
            "[::ffff:127.0.0.9]:5000",
            "10.1.2.3:443",
            "[2001:db8::1]:50051",
            "0.0.0.0:0",
        ])
        .prop_map(|a| a.parse().unwrap()),
    ]);
    let names = prop_oneof![
        3 => Just(vec![]),
        1 => prop::collection::vec(wild(), 1..3),
    ];
    (addr, names).prop_map(|(addr, names)| Peer {
        addr,
        certificate_names: Arc::from(names),
    })
}

fn is_loopback_peer(peer: &Peer) -> bool {
    match peer.addr.map(|p| p.ip()) {
        None => false,
        Some(IpAddr::V4(v4)) => v4.octets()[0] == 127,
        Some(IpAddr::V6(v6)) => {
            let s = v6.segments();
            v6 == Ipv6Addr::LOCALHOST || (s[..6] == [0, 0, 0, 0, 0, 0xffff] && s[6] >> 8 == 127)
        }
    }
}

/// JOSE headers, usable and not: other algorithms, `none`, key ids, odd members.
const HEADERS: [&str; 14] = [
    r#"{"alg":"HS256","typ":"JWT"}"#,
    r#"{"alg":"HS256"}"#,
    r#"{"alg":"none","typ":"JWT"}"#,
    r#"{"alg":"None"}"#,
    r#"{"alg":"RS256"}"#,
    r#"{"alg":"ES256"}"#,
    r#"{"alg":"EdDSA"}"#,
    r#"{"alg":"HS384"}"#,
    r#"{"alg":"HS256","kid":"k1"}"#,
    r#"{"alg":"HS256","crit":["exp"]}"#,
    r#"{"alg":"HS256","jku":"http://169.254.169.254/"}"#,
    r#"{"alg":"HS256","typ":"JWT","x5c":["AAAA"]}"#,
    r#"{}"#,
    r#"[]"#,
];

/// Payloads: good-looking claims (so only the signature stands in the way), bad
/// claims, and not JSON at all.
fn any_payload() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => ("[A-Za-z0-9._-]{1,64}", "\\PC{1,20}", prop::sample::select(&Role::ALL[..]))
            .prop_map(|(tenant, sub, role)| claims(&sub, &tenant, &[role]).to_string()),
        1 => prop::sample::select(vec![
            "{}", "null", "[]", "1", r#"{"sub":1,"tenant":[],"exp":"x"}"#,
            r#"{"sub":"a","tenant":"*","roles":["operator"],"exp":99999999999}"#,
        ])
        .prop_map(str::to_owned),
        2 => any_chars(40),
    ]
}

/// Any token text: arbitrary strings, base64-looking strings, dotted base64 segments,
/// and header.payload.signature with a random (or empty) signature.
fn garbage_token() -> impl Strategy<Value = String> {
    let segment = prop::collection::vec(any::<u8>(), 0..80).prop_map(|b| b64(&b));
    prop_oneof![
        2 => wild(),
        2 => "[A-Za-z0-9_=+/.-]{0,300}",
        2 => prop::collection::vec(segment, 0..6).prop_map(|parts| parts.join(".")),
        4 => (
            prop::sample::select(&HEADERS[..]),
            any_payload(),
            prop_oneof![Just(vec![]), prop::collection::vec(any::<u8>(), 0..64)],
        )
            .prop_map(|(h, p, sig)| format!("{}.{}.{}", b64(h.as_bytes()), b64(p.as_bytes()), b64(&sig))),
    ]
}

/// A subject a credential may carry: 1-128 bytes, not `*`.
fn good_subject() -> impl Strategy<Value = String> {
    sized(1, 128).prop_filter("`*` is the unauthenticated subject", |s| s != "*")
}

fn some_roles() -> impl Strategy<Value = Vec<Role>> {
    prop::collection::vec(prop::sample::select(&Role::ALL[..]), 1..=5)
}

/// How a minted token's claims are spoiled, and what the authenticator must say.
#[derive(Debug, Clone)]
enum Spoil {
    EmptySubject,
    LongSubject(usize),
    StarSubject,
    BadTenant(String),
    StarTenantForNonAdmin(Role),
    NoRoles,
    UnknownRole(String),
    NoExp,
    NoSub,
    Expired(u64),
    NotYetValid(u64),
    OtherSecret([u8; 40]),
    OtherAlgorithm(Algorithm),
    SwappedPayload(String),
}

fn any_spoil() -> impl Strategy<Value = Spoil> {
    prop_oneof![
        Just(Spoil::EmptySubject),
        (129usize..400).prop_map(Spoil::LongSubject),
        Just(Spoil::StarSubject),
        wild()
            .prop_filter("an invalid tenant", |t| !is_tenant_id(t.as_bytes())
                && t != "*")
            .prop_map(Spoil::BadTenant),
        prop::sample::select(vec![Role::Adapter, Role::Agent, Role::Bot])
            .prop_map(Spoil::StarTenantForNonAdmin),
        Just(Spoil::NoRoles),
        "\\PC{0,12}"
            .prop_filter("not a role", |r| Role::from_name(r).is_none())
            .prop_map(Spoil::UnknownRole),
        Just(Spoil::NoExp),
        Just(Spoil::NoSub),
        // Beyond the 30 s skew, with a margin for the clock ticking meanwhile.
        (60u64..100_000).prop_map(Spoil::Expired),
        (60u64..100_000).prop_map(Spoil::NotYetValid),
        any::<[u8; 40]>()
            .prop_filter("another secret", |s| s != SECRET)
            .prop_map(Spoil::OtherSecret),
        prop::sample::select(vec![Algorithm::HS384, Algorithm::HS512])
            .prop_map(Spoil::OtherAlgorithm),
        "[A-Za-z0-9._-]{1,64}".prop_map(Spoil::SwappedPayload),
    ]
}

proptest! {
    #![proptest_config(cases())]

    /// No garbage token, and no API key (none are configured), is accepted, from any
    /// peer.
    #[test]
    fn garbage_is_never_accepted(token in garbage_token(), peer in any_peer()) {
        let auth = authenticator();
        prop_assert!(auth.requires_credentials());
        let got = auth.authenticate(Some(Credential::Jwt(&token)), &peer);
        prop_assert!(got.is_err(), "accepted {:?} as {:?}", token, got);
        prop_assert_eq!(
            auth.authenticate(Some(Credential::ApiKey(&token)), &peer),
            Err(Refusal::UnknownKey)
        );
        prop_assert_eq!(auth.authenticate(None, &peer), Err(Refusal::Missing));
    }

    /// Garbage credentials read from headers are refused too.
    #[test]
    fn garbage_headers_are_never_accepted(
        authorization in prop::option::of(header_bytes()),
        api_key in prop::option::of(header_bytes()),
        peer in any_peer(),
    ) {
        let md = metadata(&[
            ("authorization", authorization.as_deref()),
            ("x-api-key", api_key.as_deref()),
        ]);
        if let Ok(credential) = Credential::from_metadata(&md) {
            let got = authenticator().authenticate(credential, &peer);
            prop_assert!(got.is_err(), "accepted {:?} as {:?}", credential, got);
        }
    }

    /// A correctly minted token is accepted, from any peer, as exactly the tenant and
    /// subject it names, with its roles; that principal acts in its own tenant only.
    #[test]
    fn a_minted_token_is_accepted_as_its_tenant_and_subject(
        tenant in "[A-Za-z0-9._-]{1,64}",
        subject in good_subject(),
        roles in some_roles(),
        single_role in any::<bool>(),
        peer in any_peer(),
        other in "[A-Za-z0-9._-]{1,64}",
    ) {
        let mut claims = claims(&subject, &tenant, &roles);
        if single_role {
            claims["roles"] = json!(roles[1..].iter().map(|r| r.as_str()).collect::<Vec<_>>());
            claims["role"] = json!(roles[0].as_str());
        }
        let token = mint(&claims, SECRET);
        let md = metadata(&[("authorization", Some(format!("Bearer {token}").as_bytes()))]);
        prop_assert_eq!(Credential::from_metadata(&md), Ok(Some(Credential::Jwt(&token))));
        let principal = authenticator()
            .authenticate(Some(Credential::Jwt(&token)), &peer)
            .map_err(|r| TestCaseError::fail(format!("refused {claims}: {r:?}")))?;
        prop_assert_eq!(&principal.tenant, &TenantScope::One(Arc::from(tenant.as_str())));
        prop_assert_eq!(&*principal.subject, subject.as_str());
        prop_assert_eq!(principal.method, Method::Jwt);
        prop_assert!(principal.is_authenticated());
        for role in &roles {
            prop_assert!(principal.roles.allow(*role), "{:?} lost", role);
        }
        prop_assert!(principal.holds(&subject));
        let config = Config::default();
        let none = MetadataMap::new();
        prop_assert_eq!(tenant_of(&none, &principal, &config).ok(), Some(tenant.clone()));
        let md = metadata(&[(TENANT_HEADER, Some(other.as_bytes()))]);
        let outcome = tenant_of(&md, &principal, &config);
        if other == tenant {
            prop_assert_eq!(outcome.ok(), Some(tenant));
        } else {
            prop_assert!(matches!(outcome, Err(TenantRefusal::OtherTenant)), "{:?}", outcome);
        }
    }

    /// A token for every tenant (`*`) is accepted for supervisors and operators, who
    /// then pick a tenant by header.
    #[test]
    fn an_admin_token_for_every_tenant_picks_by_header(
        subject in good_subject(),
        roles in prop::collection::vec(
            prop::sample::select(vec![Role::Supervisor, Role::Operator]),
            1..=2,
        ),
        tenant in "[A-Za-z0-9._-]{1,64}",
    ) {
        let token = mint(&claims(&subject, "*", &roles), SECRET);
        let principal = authenticator()
            .authenticate(Some(Credential::Jwt(&token)), &Peer::default())
            .map_err(|r| TestCaseError::fail(format!("refused: {r:?}")))?;
        prop_assert_eq!(&principal.tenant, &TenantScope::Declared);
        let md = metadata(&[(TENANT_HEADER, Some(tenant.as_bytes()))]);
        prop_assert_eq!(tenant_of(&md, &principal, &Config::default()).ok(), Some(tenant));
    }

    /// A minted token with spoiled claims, the wrong key or algorithm, a swapped payload
    /// or outside its validity is refused, for the right reason.
    #[test]
    fn a_spoiled_token_is_refused(
        spoil in any_spoil(),
        tenant in "[A-Za-z0-9._-]{1,64}",
        subject in good_subject(),
        roles in some_roles(),
        peer in any_peer(),
    ) {
        let mut c = claims(&subject, &tenant, &roles);
        let mut secret: &[u8] = SECRET;
        let mut header = Header::new(Algorithm::HS256);
        let mut swap = None;
        let wanted = match &spoil {
            Spoil::EmptySubject => { c["sub"] = json!(""); Refusal::BadClaims }
            Spoil::LongSubject(n) => { c["sub"] = json!("s".repeat(*n)); Refusal::BadClaims }
            Spoil::StarSubject => { c["sub"] = json!("*"); Refusal::BadClaims }
            Spoil::BadTenant(t) => { c["tenant"] = json!(t); Refusal::BadClaims }
            Spoil::StarTenantForNonAdmin(r) => {
                c["tenant"] = json!("*");
                c["roles"] = json!([r.as_str(), "operator"]);
                Refusal::BadClaims
            }
            Spoil::NoRoles => { c["roles"] = json!([]); Refusal::BadClaims }
            Spoil::UnknownRole(r) => { c["roles"] = json!([r]); Refusal::BadClaims }
            Spoil::NoExp => { c.as_object_mut().unwrap().remove("exp"); Refusal::BadClaims }
            Spoil::NoSub => { c.as_object_mut().unwrap().remove("sub"); Refusal::BadClaims }
            Spoil::Expired(ago) => { c["exp"] = json!(now() - ago); Refusal::Expired }
            Spoil::NotYetValid(later) => {
                c["nbf"] = json!(now() + later);
                Refusal::NotYetValid
            }
            Spoil::OtherSecret(s) => { secret = s; Refusal::BadSignature }
            Spoil::OtherAlgorithm(alg) => { header = Header::new(*alg); Refusal::UnknownKey }
            Spoil::SwappedPayload(t) => {
                prop_assume!(*t != tenant);
                swap = Some(claims(&subject, t, &roles));
                Refusal::BadSignature
            }
        };
        let mut token = jsonwebtoken::encode(&header, &c, &EncodingKey::from_secret(secret))
            .expect("claims encode");
        if let Some(other) = swap {
            // The payload of a token for another tenant under this token's signature.
            let forged = mint(&other, SECRET);
            let mut ours = token.split('.');
            let theirs: Vec<&str> = forged.split('.').collect();
            token = format!("{}.{}.{}", ours.next().unwrap(), theirs[1], ours.nth(1).unwrap());
        }
        prop_assert_eq!(
            authenticator().authenticate(Some(Credential::Jwt(&token)), &peer),
            Err(wanted),
            "{:?}",
            spoil
        );
    }

    /// Without credentials configured, loopback peers act unauthenticated and other
    /// peers are refused, whatever they present.
    #[test]
    fn without_credentials_only_loopback_is_served(
        token in garbage_token(),
        api_key in any::<bool>(),
        peer in any_peer(),
    ) {
        let auth = Authenticator::load(&AuthSettings::default()).expect("defaults load");
        let credential = if api_key { Credential::ApiKey(&token) } else { Credential::Jwt(&token) };
        let got = auth.authenticate(Some(credential), &peer);
        if is_loopback_peer(&peer) {
            prop_assert_eq!(got, Ok(Principal::unauthenticated(Method::Loopback)));
        } else {
            prop_assert_eq!(got, Err(Refusal::NotLoopback));
        }
    }
}

#[test]
fn a_short_hs256_secret_does_not_load() {
    assert!(load_hs256(&SECRET[..31]).is_err());
    assert!(load_hs256(b"0123456789abcdef0123456789abcdef\r\n\n").is_ok());
    assert!(load_hs256(b"0123456789abcdef0123456789abcde\n").is_err());
}

#[test]
fn the_b64_helper_matches_known_vectors() {
    assert_eq!(b64(b""), "");
    assert_eq!(b64(b"f"), "Zg");
    assert_eq!(b64(b"fo"), "Zm8");
    assert_eq!(b64(b"foo"), "Zm9v");
    assert_eq!(b64(b"foob"), "Zm9vYg");
    assert_eq!(b64(&[0xfb, 0xff]), "-_8");
    let token = mint(&claims("a", "t", &[Role::Agent]), SECRET);
    let header = token.split('.').next().unwrap();
    assert_eq!(header, b64(br#"{"typ":"JWT","alg":"HS256"}"#));
}
