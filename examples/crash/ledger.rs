//! What the harness knows: every message sent and whether it was acknowledged, every
//! delivery, every agent action; and the checks against what a restarted server shows.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use switchboard::api::pb;
use tonic::{Code, Status};

use super::Rng;

/// Customer messages one conversation gets at most: well inside the 64 client ids the
/// server remembers per conversation, and, with the replies and system notes, inside
/// the transcript limit.
const MESSAGES_PER_CONVERSATION: u32 = 24;
/// Agent replies one conversation gets at most.
const REPLIES_PER_CONVERSATION: u32 = 8;
/// Listings of the waiting queue kept since the last restart.
const LISTINGS_KEPT: usize = 100;
/// Violations printed as they happen (all are in the report).
const PRINTED: usize = 40;

/// What a violation breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Kind {
    /// Something acknowledged is gone.
    Loss,
    /// Something is there twice.
    Duplicate,
    /// A conversation id names another conversation.
    Reuse,
    /// The waiting order changed.
    Order,
    /// Delivery ids: content changed, a gap, an unacknowledged delivery dropped.
    Relay,
    /// Agents after a restart: held conversations, resumed offers, offers in flight.
    Agent,
    /// Anything else the harness did not expect.
    Other,
}

impl Kind {
    /// Name in reports.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Loss => "loss",
            Kind::Duplicate => "duplicate",
            Kind::Reuse => "id reuse",
            Kind::Order => "order",
            Kind::Relay => "relay",
            Kind::Agent => "agent",
            Kind::Other => "other",
        }
    }
}

/// One broken guarantee.
#[derive(Debug, Clone)]
pub(crate) struct Violation {
    /// The crash it was found after (0: before the first).
    pub(crate) round: usize,
    /// What it breaks.
    pub(crate) kind: Kind,
    /// How many things it concerns (messages lost, copies too many).
    pub(crate) weight: u64,
    /// What was expected and what was seen.
    pub(crate) what: String,
}

/// One adapter of the load.
#[derive(Debug, Clone)]
pub(crate) struct AdapterSpec {
    /// Adapter id.
    pub(crate) id: String,
    /// Channel of its conversations.
    pub(crate) channel: pb::Channel,
    /// Prefix of its channel conversation ids.
    pub(crate) prefix: String,
    /// Sends with `Submit` (its stream only takes deliveries).
    pub(crate) unary: bool,
}

/// A customer message sent.
#[derive(Debug, Clone)]
struct Msg {
    client_id: String,
    text: String,
    thread: usize,
    /// Sent again after a restart.
    resend: bool,
    /// The thread's conversation had ended (as far as the harness knew) when it was
    /// sent: it must not join that conversation.
    after_end: Option<String>,
}

/// One (channel, channel conversation id): a customer's thread, which has one open
/// conversation at a time and a new one after each close.
#[derive(Debug)]
struct Thread {
    key: String,
    adapter: usize,
    customer: String,
    clv: f64,
    billing: bool,
    /// The conversation its messages joined last.
    current: Option<String>,
    next_n: u32,
    /// A message sent and not answered yet (at most one at a time).
    in_flight: Option<String>,
    /// The message in flight at the last crash, to send again.
    unacked: Option<Msg>,
}

/// Whether an agent ended a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum End {
    #[default]
    Open,
    /// A close was sent, not confirmed.
    Closing,
    /// Closed (confirmed, or the customer was told).
    Ended,
}

/// One conversation id.
#[derive(Debug, Default)]
struct Conv {
    thread: usize,
    /// Acknowledged customer messages: client id, text.
    acked: Vec<(String, String)>,
    /// Agent replies acknowledged with `done`.
    replies: Vec<String>,
    end: End,
    /// Customer messages sent into it.
    sent: u32,
    /// Agent replies sent into it.
    replies_sent: u32,
    /// A message was acknowledged as creating it.
    created: bool,
}

/// An agent reply.
#[derive(Debug)]
struct Reply {
    conv: String,
    acked: bool,
    /// Acknowledged before the last crash: must have reached the customer once the
    /// adapter took its announced deliveries.
    due: bool,
    /// Delivery ids that carried it: adapter index, id.
    ids: BTreeSet<(usize, u64)>,
    flagged: bool,
}

/// One adapter's deliveries.
#[derive(Debug)]
pub(crate) struct AdapterBook {
    /// The adapter.
    pub(crate) spec: AdapterSpec,
    /// What each delivery id carried the first time.
    contents: HashMap<u64, String>,
    max_seen: u64,
    /// The highest id an ack was sent for.
    ack_sent: u64,
    /// The last id on the current stream.
    stream_last: Option<u64>,
    /// Deliveries the current stream's welcome announced.
    pub(crate) pending: usize,
    /// Deliveries since that welcome.
    pub(crate) since_welcome: usize,
}

/// Where a conversation stands with an agent, as the agent's side knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hold {
    Offered,
    Accepting,
    Assigned,
    Declining,
    Closing,
}

/// An action sent and not answered.
#[derive(Debug, Clone)]
enum Req {
    Accept(String),
    Decline(String),
    Reply {
        conv: String,
        text: String,
        resumed: bool,
    },
    Close(String),
    Presence,
}

/// One agent.
#[derive(Debug)]
pub(crate) struct AgentBook {
    /// Agent id.
    pub(crate) id: String,
    held: BTreeMap<String, Hold>,
    requests: HashMap<String, Req>,
    next_request: u64,
    /// Customer messages not answered yet, per conversation.
    owed: HashMap<String, u32>,
    /// What the restarted server says the agent holds: the resumed offers expected.
    expect_resumed: BTreeSet<String>,
    resumed_seen: BTreeSet<String>,
    /// Signed in with this server process (an agent may sit a round out).
    pub(crate) present: bool,
}

/// Counters for the report.
#[derive(Debug, Default, Clone)]
pub(crate) struct Stats {
    /// Customer messages acknowledged.
    pub(crate) acknowledged: u64,
    /// Transcript checks of acknowledged messages.
    pub(crate) checks: u64,
    /// Messages in flight at a crash.
    pub(crate) unacked_at_crash: u64,
    /// Of those, sent again.
    pub(crate) resent_unacked: u64,
    /// Replies acknowledged.
    pub(crate) replies_acked: u64,
    /// Replies due after a crash and seen delivered.
    pub(crate) replies_checked: u64,
    /// Deliveries received.
    pub(crate) deliveries: u64,
    /// Deliveries received again under an id already seen.
    pub(crate) redelivered: u64,
    /// Conversations opened.
    pub(crate) conversations: u64,
    /// Resumed offers.
    pub(crate) resumed: u64,
    /// Frames or calls refused.
    pub(crate) refused: u64,
    /// Offers not yet accepted, accepts, declines and closes in flight at a crash.
    pub(crate) in_flight_holds: u64,
    /// Abandons acknowledged.
    pub(crate) abandons: u64,
    /// Rounds an agent sat out (signed in again only after the next crash).
    pub(crate) absences: u64,
    /// Conversations waiting both in the last listing before a crash and right after it.
    pub(crate) order_compared: u64,
}

/// Everything the harness knows.
#[derive(Debug)]
pub(crate) struct Ledger {
    /// The crash last survived (0 before the first).
    pub(crate) round: usize,
    threads: Vec<Thread>,
    thread_by_key: HashMap<String, usize>,
    thread_by_customer: HashMap<String, usize>,
    conversations: BTreeMap<String, Conv>,
    /// Conversation id to thread, from acknowledgements and deliveries only.
    registry: HashMap<String, usize>,
    /// Messages sent and not answered, by client id.
    in_flight: HashMap<String, Msg>,
    replies: HashMap<String, Reply>,
    /// Customer messages relayed to agents (`customer_message` frames), by
    /// conversation and text.
    relayed: HashMap<(String, String), u32>,
    /// The adapters.
    pub(crate) adapters: Vec<AdapterBook>,
    /// The agents.
    pub(crate) agents: Vec<AgentBook>,
    /// Waiting listings since the last restart, oldest first: (id, thread key).
    listings: Vec<Vec<(String, String)>>,
    /// Every violation found.
    pub(crate) violations: Vec<Violation>,
    /// Counters.
    pub(crate) stats: Stats,
    /// Client ids of acknowledged messages checked at least once.
    checked: HashSet<String>,
    open_cap: usize,
    verbose: bool,
    /// `routing.transcript_limit` of the server.
    pub(crate) transcript_limit: usize,
}

impl Ledger {
    /// A ledger for these adapters and agents.
    pub(crate) fn new(
        adapters: Vec<AdapterSpec>,
        agents: Vec<String>,
        open_cap: usize,
        verbose: bool,
    ) -> Ledger {
        Ledger {
            round: 0,
            threads: Vec::new(),
            thread_by_key: HashMap::new(),
            thread_by_customer: HashMap::new(),
            conversations: BTreeMap::new(),
            registry: HashMap::new(),
            in_flight: HashMap::new(),
            replies: HashMap::new(),
            relayed: HashMap::new(),
            adapters: adapters
                .into_iter()
                .map(|spec| AdapterBook {
                    spec,
                    contents: HashMap::new(),
                    max_seen: 0,
                    ack_sent: 0,
                    stream_last: None,
                    pending: 0,
                    since_welcome: 0,
                })
                .collect(),
            agents: agents
                .into_iter()
                .map(|id| AgentBook {
                    id,
                    held: BTreeMap::new(),
                    requests: HashMap::new(),
                    next_request: 0,
                    owed: HashMap::new(),
                    expect_resumed: BTreeSet::new(),
                    resumed_seen: BTreeSet::new(),
                    present: true,
                })
                .collect(),
            listings: Vec::new(),
            violations: Vec::new(),
            stats: Stats::default(),
            checked: HashSet::new(),
            open_cap,
            verbose,
            transcript_limit: usize::MAX,
        }
    }

    /// Records a violation (and prints the first ones at once).
    pub(crate) fn violate(&mut self, kind: Kind, weight: u64, what: String) {
        if self.violations.len() < PRINTED || self.verbose {
            eprintln!("crash: round {} {}: {what}", self.round, kind.name());
        }
        self.violations.push(Violation {
            round: self.round,
            kind,
            weight,
            what,
        });
    }

    /// Acknowledged replies seen delivered (each under exactly one id, or a
    /// duplicate was reported).
    pub(crate) fn replies_seen_delivered(&self) -> u64 {
        self.replies
            .values()
            .filter(|r| r.acked && !r.ids.is_empty())
            .count() as u64
    }

    /// Distinct acknowledged messages checked at least once.
    pub(crate) fn checked_distinct(&self) -> u64 {
        self.checked.len() as u64
    }

    /// Conversations not known to have ended.
    pub(crate) fn open_count(&self) -> usize {
        self.conversations
            .values()
            .filter(|c| c.end != End::Ended)
            .count()
    }

    /// Ids of the conversations not known to have ended.
    pub(crate) fn open_conversation_ids(&self) -> Vec<String> {
        self.conversations
            .iter()
            .filter(|(_, c)| c.end != End::Ended)
            .map(|(id, _)| id.clone())
            .collect()
    }

    fn key(&self, thread: usize) -> &str {
        &self.threads[thread].key
    }

    /// Notes that `conv` belongs to `thread`, as `source` says; a different thread
    /// already holding the id is a reuse.
    fn register(&mut self, conv: &str, thread: usize, source: &str) {
        match self.registry.get(conv).copied() {
            Some(t) if t != thread => {
                let what = format!(
                    "conversation {conv} belonged to thread {}, now {source} names it for thread {}",
                    self.key(t),
                    self.key(thread)
                );
                self.violate(Kind::Reuse, 1, what);
            }
            Some(_) => {}
            None => {
                self.registry.insert(conv.to_owned(), thread);
                self.conversations
                    .entry(conv.to_owned())
                    .or_insert_with(|| Conv {
                        thread,
                        ..Conv::default()
                    });
            }
        }
    }

    // ---- customer messages ----

    /// The next customer message of an adapter's load, if any thread can take one.
    pub(crate) fn next_message(
        &mut self,
        adapter: usize,
        rng: &mut Rng,
    ) -> Option<pb::InboundMessage> {
        let open = self.open_count();
        let candidates: Vec<usize> = self
            .threads
            .iter()
            .enumerate()
            .filter(|(_, t)| t.adapter == adapter && t.in_flight.is_none())
            .filter(|(_, t)| {
                t.current.as_ref().is_some_and(|c| {
                    let c = &self.conversations[c];
                    c.end == End::Open && c.sent < MESSAGES_PER_CONVERSATION
                })
            })
            .map(|(i, _)| i)
            .collect();
        let fresh = open < self.open_cap && (candidates.is_empty() || rng.chance(0.2));
        let thread = if fresh {
            // A customer writes again on a thread whose conversation ended (a new
            // conversation, so a new id), or a new customer.
            let ended: Vec<usize> = self
                .threads
                .iter()
                .enumerate()
                .filter(|(_, t)| t.adapter == adapter && t.in_flight.is_none())
                .filter(|(_, t)| {
                    t.current
                        .as_ref()
                        .is_some_and(|c| self.conversations[c].end == End::Ended)
                })
                .map(|(i, _)| i)
                .collect();
            if !ended.is_empty() && rng.chance(0.3) {
                ended[rng.below(ended.len() as u64) as usize]
            } else {
                self.new_thread(adapter, rng)
            }
        } else if candidates.is_empty() {
            return None;
        } else {
            candidates[rng.below(candidates.len() as u64) as usize]
        };
        Some(self.message_on(thread))
    }

    fn new_thread(&mut self, adapter: usize, rng: &mut Rng) -> usize {
        let index = self.threads.len();
        let key = format!("{}-k{index}", self.adapters[adapter].spec.prefix);
        let customer = format!("cust-{key}");
        let clv = [0.0, 500.0, 2_000.0, 20_000.0, 200_000.0][rng.below(5) as usize];
        self.thread_by_key.insert(key.clone(), index);
        self.thread_by_customer.insert(customer.clone(), index);
        self.threads.push(Thread {
            key,
            adapter,
            customer,
            clv,
            billing: rng.chance(0.3),
            current: None,
            next_n: 0,
            in_flight: None,
            unacked: None,
        });
        index
    }

    fn message_on(&mut self, thread: usize) -> pb::InboundMessage {
        let t = &mut self.threads[thread];
        t.next_n += 1;
        let after_end = t
            .current
            .clone()
            .filter(|c| self.conversations[c].end == End::Ended);
        let msg = Msg {
            client_id: format!("{}-m{}", t.key, t.next_n),
            text: format!("{} says m{}", t.key, t.next_n),
            thread,
            resend: false,
            after_end,
        };
        t.in_flight = Some(msg.client_id.clone());
        if let Some(conv) = t.current.clone()
            && let Some(c) = self.conversations.get_mut(&conv)
            && c.end == End::Open
        {
            c.sent += 1;
        }
        let inbound = self.inbound(&msg);
        self.in_flight.insert(msg.client_id.clone(), msg);
        inbound
    }

    fn inbound(&self, msg: &Msg) -> pb::InboundMessage {
        let t = &self.threads[msg.thread];
        let spec = &self.adapters[t.adapter].spec;
        pb::InboundMessage {
            adapter_id: spec.id.clone(),
            channel: spec.channel as i32,
            channel_conversation_id: t.key.clone(),
            customer: Some(pb::Customer {
                customer_id: t.customer.clone(),
                display_name: String::new(),
                value: Some(pb::CustomerValue {
                    clv: Some(t.clv),
                    ..Default::default()
                }),
                identifiers: Vec::new(),
            }),
            text: msg.text.clone(),
            language: "en".to_owned(),
            client_message_id: msg.client_id.clone(),
            queue: String::new(),
            required_skills: if t.billing {
                vec![pb::SkillRequirement {
                    skill: "billing".to_owned(),
                    min_proficiency: 2,
                }]
            } else {
                Vec::new()
            },
            boosts: Vec::new(),
        }
    }

    /// A message was acknowledged (an `accepted` frame or a `Submit` response).
    pub(crate) fn accepted(&mut self, client_id: &str, conv: &str, created: bool, source: &str) {
        let Some(msg) = self.in_flight.remove(client_id) else {
            let what = format!("{source} acknowledged {client_id:?}, which is not in flight");
            self.violate(Kind::Other, 1, what);
            return;
        };
        let thread = msg.thread;
        if self.threads[thread].in_flight.as_deref() == Some(client_id) {
            self.threads[thread].in_flight = None;
        }
        self.register(conv, thread, source);
        let key = self.key(thread).to_owned();
        let previous = self.threads[thread].current.clone();
        if let Some(prev) = &previous
            && prev != conv
        {
            match self.conversations[prev].end {
                End::Open => {
                    let what = format!(
                        "{key}: {client_id} joined {conv} ({source}) while its conversation \
                         {prev} is open (no agent closed it)"
                    );
                    self.violate(Kind::Other, 1, what);
                }
                // The close took effect (the customer wrote again after it).
                End::Closing | End::Ended => {
                    if let Some(p) = self.conversations.get_mut(prev) {
                        p.end = End::Ended;
                    }
                }
            }
        }
        let c = self.conversations.get_mut(conv).expect("registered");
        if created {
            self.stats.conversations += 1;
            // Created anew under an id already acknowledged: either an old conversation
            // of the thread, or this one acknowledged before and lost.
            if c.created || !c.acked.is_empty() {
                let what = format!(
                    "{key}: {client_id} created conversation {conv} ({source}), an id already \
                     acknowledged for this thread ({} acknowledged messages in it)",
                    c.acked.len()
                );
                self.violate(Kind::Reuse, 1, what);
            }
            let c = self.conversations.get_mut(conv).expect("registered");
            c.created = true;
        } else if msg.after_end.as_deref() == Some(conv) {
            let what = format!(
                "{key}: {client_id}, sent after {conv} was closed (done, or the customer \
                 was told), joined {conv} ({source}): an acknowledged close was lost"
            );
            self.violate(Kind::Loss, 1, what);
            let c = self.conversations.get_mut(conv).expect("registered");
            c.end = End::Open;
        }
        let c = self.conversations.get_mut(conv).expect("registered");
        if previous.as_deref() != Some(conv) && !msg.resend {
            c.sent += 1;
        }
        if !c.acked.iter().any(|(id, _)| *id == msg.client_id) {
            c.acked.push((msg.client_id.clone(), msg.text.clone()));
            self.stats.acknowledged += 1;
        }
        self.threads[thread].current = Some(conv.to_owned());
    }

    /// A message was refused: it may or may not be in its conversation (a refusal
    /// for an unwritable journal comes after the change), but never twice.
    pub(crate) fn rejected(&mut self, client_id: &str, code: i32, message: &str) {
        self.stats.refused += 1;
        if let Some(msg) = self.in_flight.remove(client_id) {
            let t = &mut self.threads[msg.thread];
            if t.in_flight.as_deref() == Some(client_id) {
                t.in_flight = None;
            }
        }
        if self.stats.refused <= 5 {
            eprintln!(
                "crash: round {}: message {client_id} refused ({code}: {message})",
                self.round
            );
        }
    }

    /// An abandon for one of an adapter's open conversations, now and then.
    pub(crate) fn abandon_target(
        &mut self,
        adapter: usize,
        rng: &mut Rng,
    ) -> Option<(usize, pb::AbandonRequest)> {
        let candidates: Vec<usize> = self
            .threads
            .iter()
            .enumerate()
            .filter(|(_, t)| t.adapter == adapter && t.in_flight.is_none())
            .filter(|(_, t)| {
                t.current
                    .as_ref()
                    .is_some_and(|c| self.conversations[c].end == End::Open)
            })
            .map(|(i, _)| i)
            .collect();
        if candidates.is_empty() {
            return None;
        }
        let thread = candidates[rng.below(candidates.len() as u64) as usize];
        let t = &mut self.threads[thread];
        t.in_flight = Some("abandon".to_owned());
        let conv = t.current.clone().expect("open");
        self.conversations.get_mut(&conv).expect("known").end = End::Closing;
        let t = &self.threads[thread];
        Some((
            thread,
            pb::AbandonRequest {
                channel: self.adapters[t.adapter].spec.channel as i32,
                channel_conversation_id: t.key.clone(),
                customer_id: t.customer.clone(),
            },
        ))
    }

    /// What an abandon came back with; `None` when the server died under it.
    pub(crate) fn abandoned(&mut self, thread: usize, result: Option<Result<String, Status>>) {
        let t = &mut self.threads[thread];
        if t.in_flight.as_deref() == Some("abandon") {
            t.in_flight = None;
        }
        let Some(result) = result else {
            // In flight at the crash: the conversation may have ended or not.
            return;
        };
        let key = t.key.clone();
        let Some(conv) = t.current.clone() else {
            return;
        };
        match result {
            Ok(id) => {
                self.stats.abandons += 1;
                if id != conv {
                    let what =
                        format!("{key}: abandoning it ended {id}, not its conversation {conv}");
                    self.violate(Kind::Other, 1, what);
                }
                self.conversations.get_mut(&conv).expect("known").end = End::Ended;
            }
            Err(status) if status.code() == Code::NotFound => {
                // Ended meanwhile: by an agent's close (sent or acknowledged), or lost.
                let closing = self.agents.iter().any(|a| {
                    a.requests
                        .values()
                        .any(|r| matches!(r, Req::Close(c) if *c == conv))
                });
                let c = self.conversations.get_mut(&conv).expect("known");
                let ended = c.end == End::Ended;
                c.end = End::Ended;
                if !closing && !ended {
                    let what = format!(
                        "{key}: abandoning open {conv} found no open conversation ({status})"
                    );
                    self.violate(Kind::Loss, 1, what);
                }
            }
            Err(status) => {
                self.stats.refused += 1;
                self.conversations.get_mut(&conv).expect("known").end = End::Open;
                eprintln!(
                    "crash: round {}: abandon of {key} refused: {status}",
                    self.round
                );
            }
        }
    }

    // ---- deliveries ----

    /// An adapter stream got its welcome.
    pub(crate) fn adapter_connected(&mut self, adapter: usize, pending: usize) {
        let book = &mut self.adapters[adapter];
        book.stream_last = None;
        book.pending = pending;
        book.since_welcome = 0;
    }

    /// Whether the stream has had every delivery its welcome announced.
    pub(crate) fn adapter_drained(&self, adapter: usize) -> bool {
        let book = &self.adapters[adapter];
        book.since_welcome >= book.pending
    }

    /// The id to acknowledge up to, when there is something new to acknowledge.
    pub(crate) fn ack_due(&mut self, adapter: usize) -> Option<u64> {
        let book = &mut self.adapters[adapter];
        (book.max_seen > book.ack_sent).then(|| {
            book.ack_sent = book.max_seen;
            book.max_seen
        })
    }

    /// A delivery arrived on an adapter stream.
    pub(crate) fn delivery(&mut self, adapter: usize, d: &pb::Delivery) {
        self.stats.deliveries += 1;
        let desc = describe(d);
        let id = d.delivery_id;
        let adapter_id = self.adapters[adapter].spec.id.clone();
        let book = &mut self.adapters[adapter];
        book.since_welcome += 1;
        let mut found = Vec::new();
        match book.contents.get(&id) {
            Some(old) if *old != desc => found.push((
                Kind::Relay,
                format!(
                    "adapter {adapter_id}: delivery {id} changed content: first {old}, now {desc}"
                ),
            )),
            Some(_) => self.stats.redelivered += 1,
            None => {
                book.contents.insert(id, desc.clone());
            }
        }
        match book.stream_last {
            None if id > book.ack_sent + 1 => found.push((
                Kind::Relay,
                format!(
                    "adapter {adapter_id}: a new stream starts at delivery {id}, but only up \
                     to {} was acknowledged: {}..={} were dropped unacknowledged",
                    book.ack_sent,
                    book.ack_sent + 1,
                    id - 1
                ),
            )),
            Some(last) if id != last + 1 => found.push((
                Kind::Relay,
                format!("adapter {adapter_id}: delivery {id} follows {last} on one stream"),
            )),
            _ => {}
        }
        book.stream_last = Some(id);
        book.max_seen = book.max_seen.max(id);
        for (kind, what) in found {
            self.violate(kind, 1, what);
        }
        match self.thread_by_key.get(&d.channel_conversation_id).copied() {
            Some(t) => self.register(&d.conversation_id, t, "a delivery"),
            None => {
                let what = format!("delivery {id} for an unknown thread: {desc}");
                self.violate(Kind::Other, 1, what);
                return;
            }
        }
        match &d.body {
            Some(pb::delivery::Body::Message(m)) if m.sender == pb::Sender::Agent as i32 => {
                let Some(reply) = self.replies.get_mut(&m.text) else {
                    let what = format!("delivery {id} carries a reply nobody sent: {desc}");
                    self.violate(Kind::Other, 1, what);
                    return;
                };
                if reply.ids.insert((adapter, id)) && reply.ids.len() > 1 {
                    let what = format!(
                        "reply {:?} delivered under {} delivery ids: {:?}",
                        m.text,
                        reply.ids.len(),
                        reply.ids
                    );
                    self.violate(Kind::Duplicate, 1, what);
                }
            }
            Some(pb::delivery::Body::Closed(_)) => {
                if let Some(c) = self.conversations.get_mut(&d.conversation_id) {
                    c.end = End::Ended;
                }
            }
            _ => {}
        }
    }

    /// After an adapter took the deliveries its welcome announced: every reply
    /// acknowledged before the crash on its conversations has reached it.
    pub(crate) fn replies_delivered(&mut self, adapter: usize) {
        let mut missing = Vec::new();
        for (text, reply) in &mut self.replies {
            if !reply.due || reply.flagged {
                continue;
            }
            let Some(conv) = self.conversations.get(&reply.conv) else {
                continue;
            };
            if self.threads[conv.thread].adapter != adapter {
                continue;
            }
            reply.due = false;
            if reply.ids.is_empty() {
                reply.flagged = true;
                missing.push((text.clone(), reply.conv.clone()));
            } else {
                self.stats.replies_checked += 1;
            }
        }
        let adapter_id = self.adapters[adapter].spec.id.clone();
        for (text, conv) in missing {
            let what = format!(
                "reply {text:?} in {conv} was acknowledged (done) before the crash but never \
                 reached adapter {adapter_id}, not even among the deliveries its welcome \
                 announced after the restart"
            );
            self.violate(Kind::Loss, 1, what);
        }
    }

    // ---- the crash ----

    /// The server was killed: what was in flight is now unknown.
    pub(crate) fn after_crash(&mut self, round: usize) {
        self.round = round;
        for (_, msg) in self.in_flight.drain() {
            let t = &mut self.threads[msg.thread];
            t.in_flight = None;
            t.unacked = Some(msg);
            self.stats.unacked_at_crash += 1;
        }
        for reply in self.replies.values_mut() {
            if reply.acked && reply.ids.is_empty() && !reply.flagged {
                reply.due = true;
            }
        }
        for t in &mut self.threads {
            if t.in_flight.as_deref() == Some("abandon") {
                t.in_flight = None;
            }
        }
        for agent in &mut self.agents {
            agent.requests.clear();
            agent.owed.clear();
            agent.expect_resumed.clear();
            agent.resumed_seen.clear();
        }
    }

    /// The waiting list right after a restart: every conversation it shares with a
    /// listing since the previous restart is in the same relative order.
    pub(crate) fn waiting_after_restart(&mut self, waiting: &pb::ListWaitingResponse) {
        let now = listing(waiting);
        self.listing_has_no_repeats(&now);
        let mut conflicts = Vec::new();
        let last = self.listings.last();
        let common = last.map_or(0, |before| {
            let ids: HashSet<&(String, String)> = now.iter().collect();
            before.iter().filter(|k| ids.contains(k)).count()
        });
        self.stats.order_compared += common as u64;
        for (i, before) in self.listings.iter().enumerate() {
            if let Some(what) = order_conflict(before, &now) {
                conflicts.push(format!("listing {i} of {}: {what}", self.listings.len()));
            }
        }
        if !conflicts.is_empty() {
            let what = format!(
                "after the restart the waiting order disagrees with {} of the {} listings polled \
                 since the previous restart; first: {}",
                conflicts.len(),
                self.listings.len(),
                conflicts[0]
            );
            self.violate(Kind::Order, 1, what);
        }
        self.listings.clear();
        self.listings.push(now);
    }

    /// A waiting list polled during the load: the same relative order as the last.
    pub(crate) fn waiting_polled(&mut self, waiting: &pb::ListWaitingResponse) {
        let now = listing(waiting);
        self.listing_has_no_repeats(&now);
        if let Some(before) = self.listings.last()
            && let Some(what) = order_conflict(before, &now)
        {
            let what = format!("between two polls during the load: {what}");
            self.violate(Kind::Order, 1, what);
        }
        if self.listings.len() >= LISTINGS_KEPT {
            self.listings.remove(1);
        }
        self.listings.push(now);
    }

    fn listing_has_no_repeats(&mut self, listing: &[(String, String)]) {
        let mut seen = HashSet::new();
        for (id, _) in listing {
            if !seen.insert(id) {
                let what = format!("{id} is listed twice in one ListWaiting answer");
                self.violate(Kind::Duplicate, 1, what);
            }
        }
    }

    /// One open conversation right after a restart: its transcript and state. Returns
    /// its state and agent when it is open.
    pub(crate) fn sweep_one(
        &mut self,
        id: &str,
        got: Result<pb::ConversationView, Status>,
        limit: usize,
    ) -> Option<(i32, String)> {
        let conv = self.conversations.get(id)?;
        let key = self.threads[conv.thread].key.clone();
        let ended = match &got {
            Err(status) if status.code() == Code::NotFound => Some("not found".to_owned()),
            Err(status) => {
                let what = format!("GetConversation({id}) failed: {status}");
                self.violate(Kind::Other, 1, what);
                return None;
            }
            Ok(view)
                if [
                    pb::ConversationState::Closed,
                    pb::ConversationState::Abandoned,
                    pb::ConversationState::BotFinished,
                ]
                .iter()
                .any(|s| *s as i32 == view.state) =>
            {
                Some(format!("state {}", state_name(view.state)))
            }
            Ok(_) => None,
        };
        if let Some(why) = ended {
            let conv = self.conversations.get_mut(id).expect("known");
            let end = conv.end;
            conv.end = End::Ended;
            if end == End::Open {
                let lost = conv.acked.len() as u64;
                let what = format!(
                    "{id} ({key}) has ended after the restart ({why}) though no agent closed \
                     it; {lost} acknowledged messages went with it"
                );
                self.violate(Kind::Loss, lost.max(1), what);
            }
            return None;
        }
        let view = got.expect("open");
        if view.channel_conversation_id != key {
            let what = format!(
                "{id} is thread {key}'s, but GetConversation shows thread {}",
                view.channel_conversation_id
            );
            self.violate(Kind::Reuse, 1, what);
            return None;
        }
        let conv = self.conversations.get_mut(id).expect("known");
        if conv.end == End::Ended {
            let what = format!(
                "{id} ({key}) was closed (done, or the customer was told) but is open \
                 after the restart ({}): an acknowledged close was lost",
                state_name(view.state)
            );
            conv.end = End::Open;
            self.violate(Kind::Loss, 1, what);
        }
        let conv = self.conversations.get_mut(id).expect("known");
        if conv.end == End::Closing {
            // The close was in flight and did not take.
            conv.end = End::Open;
        }
        let mut customer: HashMap<&str, usize> = HashMap::new();
        let mut agent: HashMap<&str, usize> = HashMap::new();
        for e in &view.transcript {
            if e.sender == pb::Sender::Customer as i32 {
                *customer.entry(&e.text).or_default() += 1;
            } else if e.sender == pb::Sender::Agent as i32 {
                *agent.entry(&e.text).or_default() += 1;
            }
        }
        let truncated = view.transcript.len() >= limit;
        let mut found = Vec::new();
        for (text, n) in customer.iter().chain(agent.iter()) {
            if *n > 1 {
                found.push((
                    Kind::Duplicate,
                    *n as u64 - 1,
                    format!("{id} ({key}): {text:?} is in the transcript {n} times"),
                ));
            }
        }
        let conv = &self.conversations[id];
        if !truncated {
            for (client_id, text) in &conv.acked {
                if customer.contains_key(text.as_str()) {
                    self.stats.checks += 1;
                    self.checked.insert(client_id.clone());
                } else {
                    found.push((
                        Kind::Loss,
                        1,
                        format!(
                            "{id} ({key}): acknowledged message {client_id} {text:?} is not in \
                             the transcript ({} customer entries, {} in all)",
                            customer.len(),
                            view.transcript.len()
                        ),
                    ));
                }
            }
            for text in &conv.replies {
                if !agent.contains_key(text.as_str()) {
                    found.push((
                        Kind::Loss,
                        1,
                        format!(
                            "{id} ({key}): reply {text:?}, acknowledged with done, is not in \
                             the transcript"
                        ),
                    ));
                }
            }
        }
        if view.state == pb::ConversationState::Offered as i32 {
            found.push((
                Kind::Agent,
                1,
                format!(
                    "{id} ({key}) is offered to {} right after the restart, before any agent \
                     signed in again (every agent is returning and takes no offers)",
                    view.agent_id
                ),
            ));
        }
        for (kind, weight, what) in found {
            self.violate(kind, weight, what);
        }
        Some((view.state, view.agent_id))
    }

    /// What each agent holds right after a restart, against what its side knew:
    /// accepted conversations stay, offers in flight went back to the queue. Sets the
    /// resumed offers each agent must get when it signs in again.
    pub(crate) fn agents_after_restart(
        &mut self,
        states: &HashMap<String, (i32, String)>,
        held: &HashMap<String, BTreeSet<String>>,
    ) {
        let mut found = Vec::new();
        let queued = pb::ConversationState::Queued as i32;
        let assigned = pb::ConversationState::Assigned as i32;
        for (id, (state, agent)) in states {
            if *state == assigned && !held.get(agent).is_some_and(|h| h.contains(id)) {
                found.push(format!(
                    "{id} is assigned to {agent} by GetConversation but not in ListAgents"
                ));
            }
        }
        let empty = BTreeSet::new();
        for a in &mut self.agents {
            let server = held.get(&a.id).unwrap_or(&empty);
            for (id, hold) in &a.held {
                let state = states.get(id).map(|s| s.0);
                let ended = state.is_none();
                // A conversation that ended was checked by the sweep (it ends only by
                // a close or an abandon the harness sent).
                let ok = match hold {
                    Hold::Assigned | Hold::Closing => server.contains(id) || ended,
                    Hold::Accepting => server.contains(id) || state == Some(queued) || ended,
                    Hold::Offered | Hold::Declining => {
                        !server.contains(id) && (state == Some(queued) || ended)
                    }
                };
                self.stats.in_flight_holds += u64::from(*hold != Hold::Assigned);
                if !ok {
                    found.push(format!(
                        "{}: {id} was {hold:?} on the agent's side at the crash; after the \
                         restart the server {} it to the agent and shows it {}",
                        a.id,
                        if server.contains(id) {
                            "gives"
                        } else {
                            "does not give"
                        },
                        state.map_or("ended", state_name)
                    ));
                }
            }
            for id in server {
                if !matches!(
                    a.held.get(id),
                    Some(Hold::Assigned | Hold::Accepting | Hold::Closing)
                ) {
                    found.push(format!(
                        "{}: the server gives the agent {id}, which it never accepted ({:?})",
                        a.id,
                        a.held.get(id)
                    ));
                }
            }
            a.held = server
                .iter()
                .map(|id| (id.clone(), Hold::Assigned))
                .collect();
            a.expect_resumed = server.clone();
        }
        for what in found {
            self.violate(Kind::Agent, 1, what);
        }
    }

    /// Messages to send again after a restart: those in flight at the crash whose
    /// conversation is still open (or which would open one), and a few acknowledged
    /// ones of open conversations.
    pub(crate) fn resends(&mut self, rng: &mut Rng) -> Vec<pb::InboundMessage> {
        let mut out = Vec::new();
        for t in 0..self.threads.len() {
            let Some(mut msg) = self.threads[t].unacked.take() else {
                continue;
            };
            let open = match &self.threads[t].current {
                None => true,
                Some(c) => self.conversations[c].end == End::Open,
            };
            // Into an ended conversation a resend would open a new one, beside a copy
            // the closed one may hold: such a message is left as it is.
            if !open {
                continue;
            }
            msg.resend = true;
            self.stats.resent_unacked += 1;
            out.push(self.inbound(&msg));
            self.threads[t].in_flight = Some(msg.client_id.clone());
            self.in_flight.insert(msg.client_id.clone(), msg);
        }
        let acked: Vec<(usize, String, String)> = self
            .conversations
            .values()
            .filter(|c| c.end == End::Open)
            .flat_map(|c| {
                c.acked
                    .iter()
                    .map(|(id, text)| (c.thread, id.clone(), text.clone()))
            })
            .collect();
        for _ in 0..acked.len().min(4) {
            let (thread, client_id, text) = acked[rng.below(acked.len() as u64) as usize].clone();
            if self.in_flight.contains_key(&client_id) || self.threads[thread].in_flight.is_some() {
                continue;
            }
            let msg = Msg {
                client_id: client_id.clone(),
                text,
                thread,
                resend: true,
                after_end: None,
            };
            out.push(self.inbound(&msg));
            self.threads[thread].in_flight = Some(client_id.clone());
            self.in_flight.insert(client_id, msg);
        }
        out
    }

    /// A conversation after messages were sent to it again: each acknowledged message
    /// is there exactly once.
    pub(crate) fn check_resent(&mut self, id: &str, got: Result<pb::ConversationView, Status>) {
        let view = match got {
            Ok(view) => view,
            Err(status) => {
                let what = format!("GetConversation({id}) after resending: {status}");
                self.violate(Kind::Other, 1, what);
                return;
            }
        };
        let Some(conv) = self.conversations.get(id) else {
            return;
        };
        let mut found = Vec::new();
        for (client_id, text) in &conv.acked {
            let n = view
                .transcript
                .iter()
                .filter(|e| e.sender == pb::Sender::Customer as i32 && e.text == *text)
                .count();
            match n {
                1 => {}
                0 => found.push((
                    Kind::Loss,
                    1,
                    format!("{id}: {client_id} {text:?} is missing after it was sent again"),
                )),
                n => found.push((
                    Kind::Duplicate,
                    n as u64 - 1,
                    format!(
                        "{id}: {client_id} {text:?} is there {n} times after it was sent again \
                         with the same client_message_id"
                    ),
                )),
            }
        }
        for (kind, weight, what) in found {
            self.violate(kind, weight, what);
        }
    }

    // ---- agents ----

    /// A request id for an action, remembered until it is answered.
    fn request(&mut self, agent: usize, req: Req) -> String {
        let a = &mut self.agents[agent];
        a.next_request += 1;
        let id = format!("{}-{}-{}", a.id, self.round, a.next_request);
        a.requests.insert(id.clone(), req);
        id
    }

    /// An offer arrived. Returns the conversation id when it is a new one to decide on.
    pub(crate) fn offered(&mut self, agent: usize, offer: &pb::Offer) -> Option<String> {
        let id = offer.conversation_id.clone();
        let customer = offer
            .customer
            .as_ref()
            .map(|c| c.customer_id.clone())
            .unwrap_or_default();
        match self.thread_by_customer.get(&customer).copied() {
            Some(t) => {
                // Offers carry no thread key, so they do not establish ids; the id must
                // be known for this customer's thread if it is known at all.
                if let Some(owner) = self.registry.get(&id).copied()
                    && owner != t
                {
                    let what = format!(
                        "offer of {id} for customer {customer}, but {id} is thread {}'s",
                        self.key(owner)
                    );
                    self.violate(Kind::Reuse, 1, what);
                }
                self.conversations
                    .entry(id.clone())
                    .or_insert_with(|| Conv {
                        thread: t,
                        ..Conv::default()
                    });
            }
            None => {
                let what = format!("offer of {id} for an unknown customer {customer:?}");
                self.violate(Kind::Other, 1, what);
                return None;
            }
        }
        if offer.resumed {
            // The resumed offer carries the transcript: every acknowledged customer
            // message, those written while the agent was away included.
            let missing: Vec<&str> = self.conversations[&id]
                .acked
                .iter()
                .filter(|(_, text)| {
                    !offer
                        .transcript
                        .iter()
                        .any(|e| e.sender == pb::Sender::Customer as i32 && e.text == *text)
                })
                .map(|(client_id, _)| client_id.as_str())
                .collect();
            if !missing.is_empty() && offer.transcript.len() < self.transcript_limit {
                let what = format!(
                    "the resumed offer of {id} to {} lacks acknowledged messages {missing:?}",
                    self.agents[agent].id
                );
                self.violate(Kind::Agent, missing.len() as u64, what);
            }
        }
        let a = &mut self.agents[agent];
        if offer.resumed {
            self.stats.resumed += 1;
            let expected = a.expect_resumed.contains(&id);
            a.resumed_seen.insert(id.clone());
            a.held.insert(id.clone(), Hold::Assigned);
            if !expected {
                let what = format!(
                    "{} got a resumed offer of {id}, which the restarted server did not list \
                     as the agent's",
                    a.id
                );
                self.violate(Kind::Agent, 1, what);
            }
            return None;
        }
        if let Some(hold) = a.held.get(&id) {
            let what = format!("{} was offered {id} while holding it ({hold:?})", a.id);
            self.violate(Kind::Agent, 1, what);
            return None;
        }
        a.held.insert(id.clone(), Hold::Offered);
        Some(id)
    }

    /// The frame accepting an offer, if the agent still has it.
    pub(crate) fn accept(
        &mut self,
        agent: usize,
        conv: &str,
        decline: bool,
    ) -> Option<pb::AgentFrame> {
        let a = &mut self.agents[agent];
        if a.held.get(conv) != Some(&Hold::Offered) {
            return None;
        }
        let (hold, req, action) = if decline {
            (
                Hold::Declining,
                Req::Decline(conv.to_owned()),
                pb::agent_frame::Action::Decline(pb::Decline {
                    conversation_id: conv.to_owned(),
                    reason: "busy".to_owned(),
                }),
            )
        } else {
            (
                Hold::Accepting,
                Req::Accept(conv.to_owned()),
                pb::agent_frame::Action::Accept(pb::ConversationRef {
                    conversation_id: conv.to_owned(),
                }),
            )
        };
        a.held.insert(conv.to_owned(), hold);
        let request_id = self.request(agent, req);
        Some(pb::AgentFrame {
            request_id,
            action: Some(action),
        })
    }

    /// The reply frame to a resumed conversation (sent at once: no accept needed).
    pub(crate) fn resumed_reply(&mut self, agent: usize, conv: &str) -> Option<pb::AgentFrame> {
        self.reply_frame(agent, conv, true)
    }

    fn reply_frame(&mut self, agent: usize, conv: &str, resumed: bool) -> Option<pb::AgentFrame> {
        let c = self.conversations.get_mut(conv)?;
        c.replies_sent += 1;
        let text = format!(
            "{} says r{} in {conv}",
            self.agents[agent].id, c.replies_sent
        );
        self.replies.insert(
            text.clone(),
            Reply {
                conv: conv.to_owned(),
                acked: false,
                due: false,
                ids: BTreeSet::new(),
                flagged: false,
            },
        );
        if let Some(n) = self.agents[agent].owed.get_mut(conv) {
            *n = 0;
        }
        let request_id = self.request(
            agent,
            Req::Reply {
                conv: conv.to_owned(),
                text: text.clone(),
                resumed,
            },
        );
        Some(pb::AgentFrame {
            request_id,
            action: Some(pb::agent_frame::Action::Reply(pb::Reply {
                conversation_id: conv.to_owned(),
                text,
            })),
        })
    }

    /// The agent's next piece of work on what it holds: a reply, a close, or nothing.
    pub(crate) fn work(&mut self, agent: usize, rng: &mut Rng) -> Option<pb::AgentFrame> {
        let assigned: Vec<String> = self.agents[agent]
            .held
            .iter()
            .filter(|(_, h)| **h == Hold::Assigned)
            .map(|(id, _)| id.clone())
            .collect();
        if assigned.is_empty() {
            return None;
        }
        let conv = assigned[rng.below(assigned.len() as u64) as usize].clone();
        let owed = self.agents[agent].owed.get(&conv).copied().unwrap_or(0);
        let c = self.conversations.get(&conv)?;
        let replies = c.replies_sent;
        if replies < 2 || (owed > 0 && replies < REPLIES_PER_CONVERSATION) {
            return if rng.chance(0.5) {
                self.reply_frame(agent, &conv, false)
            } else {
                None
            };
        }
        if !rng.chance(0.15) {
            return None;
        }
        self.agents[agent].held.insert(conv.clone(), Hold::Closing);
        if let Some(c) = self.conversations.get_mut(&conv) {
            c.end = End::Closing;
        }
        let request_id = self.request(agent, Req::Close(conv.clone()));
        Some(pb::AgentFrame {
            request_id,
            action: Some(pb::agent_frame::Action::Close(pb::ConversationRef {
                conversation_id: conv,
            })),
        })
    }

    /// The frame setting the agent available again (an offer timed out).
    pub(crate) fn available(&mut self, agent: usize) -> pb::AgentFrame {
        let request_id = self.request(agent, Req::Presence);
        pb::AgentFrame {
            request_id,
            action: Some(pb::agent_frame::Action::SetPresence(pb::SetPresence {
                presence: pb::Presence::Available as i32,
            })),
        }
    }

    /// An action succeeded.
    pub(crate) fn done(&mut self, agent: usize, request_id: &str) {
        let Some(req) = self.agents[agent].requests.remove(request_id) else {
            return;
        };
        let a = &mut self.agents[agent];
        match req {
            Req::Accept(conv) => {
                a.held.insert(conv, Hold::Assigned);
            }
            Req::Decline(conv) => {
                a.held.remove(&conv);
            }
            Req::Reply { conv, text, .. } => {
                self.stats.replies_acked += 1;
                if let Some(r) = self.replies.get_mut(&text) {
                    r.acked = true;
                }
                if let Some(c) = self.conversations.get_mut(&conv) {
                    c.replies.push(text);
                }
            }
            Req::Close(conv) => {
                a.held.remove(&conv);
                if let Some(c) = self.conversations.get_mut(&conv) {
                    c.end = End::Ended;
                }
            }
            Req::Presence => {}
        }
    }

    /// An action was refused.
    pub(crate) fn refused(&mut self, agent: usize, r: &pb::RequestRejected) {
        let Some(req) = self.agents[agent].requests.remove(&r.request_id) else {
            return;
        };
        self.stats.refused += 1;
        let a = &mut self.agents[agent];
        let agent_id = a.id.clone();
        match req {
            Req::Accept(conv) | Req::Decline(conv) => {
                // The offer was taken back meanwhile.
                a.held.remove(&conv);
            }
            Req::Close(conv) => {
                if r.code == Code::FailedPrecondition as i32 || r.code == Code::NotFound as i32 {
                    a.held.remove(&conv);
                } else {
                    a.held.insert(conv.clone(), Hold::Assigned);
                    if let Some(c) = self.conversations.get_mut(&conv) {
                        c.end = End::Open;
                    }
                }
            }
            Req::Reply {
                conv,
                text,
                resumed,
            } => {
                // A customer may leave (abandon) before the reply lands: only a refusal
                // of a conversation nobody ended counts.
                let open = self
                    .conversations
                    .get(&conv)
                    .is_some_and(|c| c.end == End::Open);
                if resumed && open {
                    let (key, end) = self
                        .conversations
                        .get(&conv)
                        .map(|c| (self.threads[c.thread].key.clone(), c.end))
                        .unwrap_or_default();
                    let what = format!(
                        "{agent_id}: a reply to resumed {conv} (thread {key}, {end:?} as far as \
                         the harness knows) was refused ({}: {}); a resumed conversation needs \
                         no accept",
                        r.code, r.message
                    );
                    self.violate(Kind::Agent, 1, what);
                }
                if r.code == Code::FailedPrecondition as i32 {
                    self.agents[agent].held.remove(&conv);
                }
                // Refused after the change (an unwritable journal): it may arrive,
                // once at most; kept unacknowledged.
                let _ = text;
            }
            Req::Presence => {}
        }
    }

    /// A customer message arrived for the agent: relayed once at most, to whichever
    /// agent (a restart gives it back in the resumed offer's transcript, not again).
    pub(crate) fn owed(&mut self, agent: usize, conv: &str, text: &str) {
        *self.agents[agent].owed.entry(conv.to_owned()).or_default() += 1;
        let key = (conv.to_owned(), text.to_owned());
        let n = self.relayed.entry(key).or_default();
        *n += 1;
        if *n > 1 {
            let what = format!(
                "{conv}: customer message {text:?} relayed to agents {n} times (now to {})",
                self.agents[agent].id
            );
            self.violate(Kind::Duplicate, 1, what);
        }
    }

    /// An offer was taken back.
    pub(crate) fn withdrawn(&mut self, agent: usize, conv: &str) {
        let a = &mut self.agents[agent];
        if matches!(a.held.get(conv), Some(Hold::Offered | Hold::Accepting)) {
            a.held.remove(conv);
        }
    }

    /// A held conversation ended (the customer left, or a shutdown).
    pub(crate) fn ended(&mut self, agent: usize, conv: &str) {
        self.agents[agent].held.remove(conv);
        if let Some(c) = self.conversations.get_mut(conv) {
            c.end = End::Ended;
        }
    }

    /// Whether every agent has had every resumed offer expected.
    pub(crate) fn resumed_complete(&self) -> bool {
        self.agents
            .iter()
            .filter(|a| a.present)
            .all(|a| a.expect_resumed.is_subset(&a.resumed_seen))
    }

    /// Every agent signed in again got a resumed offer for each conversation the
    /// restarted server listed as theirs.
    pub(crate) fn check_resumed(&mut self) {
        let mut found = Vec::new();
        for a in self.agents.iter_mut().filter(|a| a.present) {
            let missing: Vec<&String> = a.expect_resumed.difference(&a.resumed_seen).collect();
            if !missing.is_empty() {
                found.push(format!(
                    "{} signed in again within the grace window but got no resumed offer for \
                     {missing:?}",
                    a.id
                ));
            }
            a.expect_resumed.clear();
        }
        for what in found {
            self.violate(Kind::Agent, 1, what);
        }
    }
}

/// A waiting listing as (conversation id, thread key) pairs.
fn listing(waiting: &pb::ListWaitingResponse) -> Vec<(String, String)> {
    waiting
        .conversations
        .iter()
        .map(|c| (c.conversation_id.clone(), c.channel_conversation_id.clone()))
        .collect()
}

/// The first pair of conversations `before` and `now` both list in opposite orders.
fn order_conflict(before: &[(String, String)], now: &[(String, String)]) -> Option<String> {
    let place: HashMap<&(String, String), usize> =
        now.iter().enumerate().map(|(i, k)| (k, i)).collect();
    let mut last: Option<(usize, usize)> = None;
    for (i, k) in before.iter().enumerate() {
        let Some(&p) = place.get(k) else {
            continue;
        };
        if let Some((li, lp)) = last
            && p < lp
        {
            let (a, b) = (&before[li], k);
            return Some(format!(
                "{} ({}) was before {} ({}) at places {} and {}, now at {} and {}",
                a.0,
                a.1,
                b.0,
                b.1,
                li + 1,
                i + 1,
                lp + 1,
                p + 1
            ));
        }
        last = Some((i, p));
    }
    None
}

/// What a delivery carries, as one comparable line.
fn describe(d: &pb::Delivery) -> String {
    let body = match &d.body {
        Some(pb::delivery::Body::Message(m)) => format!(
            "message from {} {:?} (agent {:?}, {} buttons, queue {:?})",
            m.sender,
            m.text,
            m.agent_id,
            m.buttons.len(),
            m.queue_status
                .as_ref()
                .map(|q| (q.position, q.estimated_wait_seconds))
        ),
        Some(pb::delivery::Body::Closed(c)) => format!("closed ({})", c.reason),
        None => "nothing".to_owned(),
    };
    format!(
        "[{} {} {} {}] {body}",
        d.conversation_id, d.channel, d.channel_conversation_id, d.customer_id
    )
}

fn state_name(state: i32) -> &'static str {
    match pb::ConversationState::try_from(state) {
        Ok(pb::ConversationState::Queued) => "QUEUED",
        Ok(pb::ConversationState::Offered) => "OFFERED",
        Ok(pb::ConversationState::Assigned) => "ASSIGNED",
        Ok(pb::ConversationState::Closed) => "CLOSED",
        Ok(pb::ConversationState::Abandoned) => "ABANDONED",
        Ok(pb::ConversationState::Parked) => "PARKED",
        Ok(pb::ConversationState::WithBot) => "WITH_BOT",
        Ok(pb::ConversationState::BotFinished) => "BOT_FINISHED",
        _ => "UNSPECIFIED",
    }
}
