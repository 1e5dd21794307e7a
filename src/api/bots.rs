//! The bot pool service: one stream per external bot worker.
//!
//! A worker registers with the languages and channels it serves and its capacity;
//! tasks come down the stream and answers or handoffs go up. What happens to a task
//! whose worker is slow or gone is the tenant layer's business ([`crate::tenants::bot_pool`]): the
//! built-in bot answers it.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::access::{Caller, open_stream};
use super::convert::{self, MAX_ID_BYTES, MAX_LANGUAGE_BYTES};
use super::pb::{self, bot_frame::Frame};
use super::session::{self, Turn};
use super::status::{draining, invalid, rejected};
use crate::auth::Role;
use crate::routing::{
    BotAction, Button, Command, Handoff, HandoffReason, Understood, language_skill,
};
use crate::telemetry::metrics::{self, StreamGauge};
use crate::tenants::bot_pool::{ExternalTask, WorkerSpec};
use crate::tenants::{SessionSlot, Tenants};

/// Frames buffered towards one bot stream.
const STREAM_BUFFER: usize = 256;
/// Highest capacity a worker may register with.
const MAX_BOT_CAPACITY: u32 = 10_000;
/// Most languages or channels in a registration.
const MAX_LIST: usize = 64;
/// Most quick-reply buttons on one answer.
const MAX_BUTTONS: usize = 16;

/// Serves `switchboard.v1.BotPool`.
#[derive(Debug, Clone)]
pub struct BotPoolService {
    tenants: Tenants,
}

impl BotPoolService {
    /// A bot pool over every tenant.
    pub fn new(tenants: Tenants) -> BotPoolService {
        BotPoolService { tenants }
    }
}

#[tonic::async_trait]
impl pb::bot_pool_server::BotPool for BotPoolService {
    type SessionStream = ReceiverStream<Result<pb::BotTask, Status>>;

    async fn session(
        &self,
        request: Request<Streaming<pb::BotFrame>>,
    ) -> Result<Response<Self::SessionStream>, Status> {
        let (caller, slot) = open_stream(&self.tenants, &request, Role::Bot, "BotPool/Session")?;
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        let session = BotSession {
            caller,
            tenants: self.tenants.clone(),
            tx,
            _slot: slot,
        };
        tokio::spawn(session.run(request.into_inner()));
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

/// Checks a registration.
fn worker_spec(register: pb::BotRegister) -> Result<WorkerSpec, Status> {
    convert::id("register.bot_id", &register.bot_id, MAX_ID_BYTES)?;
    if register.capacity == 0 || register.capacity > MAX_BOT_CAPACITY {
        return Err(invalid(
            "register.capacity",
            format_args!("must be 1-{MAX_BOT_CAPACITY}"),
        ));
    }
    if register.languages.len() > MAX_LIST || register.channels.len() > MAX_LIST {
        return Err(invalid(
            "register.languages",
            format_args!("at most {MAX_LIST} languages and {MAX_LIST} channels"),
        ));
    }
    let languages = register
        .languages
        .iter()
        .map(|l| {
            convert::id("register.languages", l, MAX_LANGUAGE_BYTES)?;
            Ok(language_skill(l))
        })
        .collect::<Result<Vec<_>, Status>>()?;
    let channels = register
        .channels
        .iter()
        .map(|&c| convert::channel("register.channels", c))
        .collect::<Result<Vec<_>, Status>>()?;
    Ok(WorkerSpec {
        bot_id: Arc::from(register.bot_id.as_str()),
        languages,
        channels,
        capacity: register.capacity as usize,
    })
}

/// One external bot worker's stream.
struct BotSession {
    tenants: Tenants,
    caller: Caller,
    tx: mpsc::Sender<Result<pb::BotTask, Status>>,
    /// The stream's place under the session limits.
    _slot: SessionSlot,
}

impl BotSession {
    async fn run(self, mut inbound: Streaming<pb::BotFrame>) {
        let opened = session::opening(&mut inbound, |frame| match frame.frame {
            Some(Frame::Register(register)) => {
                worker_spec(register).map_err(rejected).and_then(|spec| {
                    self.caller
                        .check_subject("register.bot_id", &spec.bot_id)
                        .map(|()| spec)
                })
            }
            _ => Err(rejected(invalid(
                "register",
                "the first frame must register",
            ))),
        });
        let spec = match opened.await {
            Some(Ok(spec)) => spec,
            Some(Err(status)) => return self.end(status).await,
            None => return,
        };
        let bot_id = spec.bot_id.clone();
        let token = self.tenants.next_token();
        // The bot id is this principal's: a newer stream replaces an older one at once.
        let mut tasks = self
            .caller
            .tenant
            .run("bot_connect", self.tenants.clock(), |state, _| {
                let (tasks, lost) = state.bots.connect(spec, token);
                state.return_to_builtin(lost);
                tasks
            });
        let _gauge = StreamGauge::open("bot");
        tracing::info!(tenant = %self.caller.tenant.name, bot_id = %bot_id, "bot connected");
        self.serve(&bot_id, &mut inbound, &mut tasks).await;
        // Whatever it still held goes to the built-in bot now.
        self.caller
            .tenant
            .run("bot_lost", self.tenants.clock(), |state, _| {
                let lost = state.bots.disconnect(&bot_id, token);
                state.return_to_builtin(lost);
            });
        tracing::info!(tenant = %self.caller.tenant.name, bot_id = %bot_id, "bot disconnected");
    }

    async fn serve(
        &self,
        bot_id: &Arc<str>,
        inbound: &mut Streaming<pb::BotFrame>,
        tasks: &mut mpsc::UnboundedReceiver<ExternalTask>,
    ) {
        let stopped = self.tenants.stopped();
        tokio::pin!(stopped);
        loop {
            match session::next_turn(stopped.as_mut(), tasks.recv(), inbound).await {
                Turn::Stopped => {
                    let _ = self.tx.send(Err(draining())).await;
                    return;
                }
                Turn::Work(Some(task)) => {
                    if self.tx.send(Ok(task_to_pb(task))).await.is_err() {
                        return;
                    }
                }
                Turn::Work(None) => {
                    // The pool dropped this worker: a newer stream took its bot id.
                    let _ = self
                        .tx
                        .send(Err(Status::aborted(
                            "replaced by a newer stream of the same bot id",
                        )))
                        .await;
                    return;
                }
                Turn::Frame(frame) => self.handle(bot_id, frame),
                Turn::PeerGone(_) => return,
            }
        }
    }

    /// Applies an answer or handoff. A task that is unknown, not this worker's or past
    /// its deadline is ignored (the built-in bot has taken it); an answer that fails
    /// validation is handed to the built-in bot, so the customer still gets one.
    fn handle(&self, bot_id: &Arc<str>, frame: pb::BotFrame) {
        let (task_id, action) = match frame.frame {
            Some(Frame::Answer(answer)) => (answer.task_id, answer_action(answer, self.limit())),
            Some(Frame::Handoff(handoff)) => (handoff.task_id, handoff_action(handoff)),
            Some(Frame::Register(_)) | None => {
                tracing::debug!(bot_id = %bot_id, "bot frame without an answer ignored");
                return;
            }
        };
        self.caller
            .tenant
            .run("bot_answer", self.tenants.clock(), |state, now| {
                let Some(turn) = state.bots.complete(bot_id, task_id) else {
                    metrics::record_bot_turn("external", "late");
                    return;
                };
                match action {
                    Ok((action, outcome)) => {
                        metrics::record_bot_turn("external", outcome);
                        // Refused only when the conversation left the bot meanwhile.
                        let _ = state.execute(
                            now,
                            Command::BotAnswer {
                                conversation: turn.conversation,
                                actions: vec![action],
                            },
                        );
                    }
                    Err(status) => {
                        tracing::warn!(bot_id = %bot_id, task_id, error = %status.message(),
                        "bad bot answer; the built-in bot answers instead");
                        metrics::record_bot_turn("external", "invalid");
                        state.return_to_builtin(vec![turn]);
                    }
                }
            });
    }

    fn limit(&self) -> usize {
        self.tenants.config().limits.max_text_bytes
    }

    /// Ends the stream with a status.
    async fn end(self, status: Status) {
        let _ = self.tx.send(Err(status)).await;
    }
}

fn answer_action(
    answer: pb::BotAnswer,
    max_text_bytes: usize,
) -> Result<(BotAction, &'static str), Status> {
    if answer.text.trim().is_empty() {
        return Err(invalid("answer.text", "must not be empty"));
    }
    convert::bounded("answer.text", &answer.text, max_text_bytes)?;
    if answer.buttons.len() > MAX_BUTTONS {
        return Err(invalid(
            "answer.buttons",
            format_args!("at most {MAX_BUTTONS}"),
        ));
    }
    let buttons = answer
        .buttons
        .into_iter()
        .map(|b| {
            convert::id("answer.buttons.label", &b.label, MAX_ID_BYTES)?;
            convert::id("answer.buttons.payload", &b.payload, MAX_ID_BYTES)?;
            Ok(Button {
                label: b.label,
                payload: b.payload,
            })
        })
        .collect::<Result<Vec<_>, Status>>()?;
    let intent = (!answer.intent.is_empty()).then_some(answer.intent);
    Ok((
        BotAction::Say {
            text: answer.text,
            buttons,
            understood: Understood::Answered,
            intent,
            language: None,
        },
        "answered",
    ))
}

fn handoff_action(handoff: pb::BotHandoff) -> Result<(BotAction, &'static str), Status> {
    let reason = match pb::HandoffReason::try_from(handoff.reason) {
        Ok(pb::HandoffReason::CustomerRequest) => HandoffReason::CustomerRequest,
        Ok(pb::HandoffReason::LowConfidence) => HandoffReason::LowConfidence,
        Ok(pb::HandoffReason::Complaint) => HandoffReason::Complaint,
        Ok(pb::HandoffReason::IntentNeedsHuman) => HandoffReason::IntentNeedsHuman,
        Ok(pb::HandoffReason::Safety) => HandoffReason::Safety,
        Ok(pb::HandoffReason::Unspecified) | Err(_) => HandoffReason::BotDecision,
    };
    convert::bounded("handoff.intent", &handoff.intent, MAX_ID_BYTES)?;
    convert::bounded("handoff.note", &handoff.note, 4096)?;
    let skills = convert::skill_requirements("handoff.required_skills", handoff.required_skills)?;
    Ok((
        BotAction::HandOff(Handoff {
            reason,
            intent: (!handoff.intent.is_empty()).then_some(handoff.intent),
            skills,
            language: None,
            note: (!handoff.note.is_empty()).then_some(handoff.note),
        }),
        "handoff",
    ))
}

fn task_to_pb(task: ExternalTask) -> pb::BotTask {
    pb::BotTask {
        task_id: task.task_id,
        conversation_id: task.conversation.to_string(),
        channel: convert::channel_to_pb(task.channel) as i32,
        language: task.language.to_string(),
        customer: Some(convert::customer_to_pb(&task.customer)),
        transcript: task
            .transcript
            .iter()
            .map(convert::transcript_entry)
            .collect(),
        deadline_unix_ms: task.deadline as i64,
        first_turn: task.first_turn,
        answers: task.answers.as_deref().map(convert::answered_notice_to_pb),
    }
}
