//! Drives one conversation through a running Switchboard: an agent signs in, a channel
//! adapter sends a customer message, the built-in bot greets (with buttons) and
//! answers from its knowledge base, the customer asks for a person, the agent gets the
//! conversation with its transcript, accepts, they exchange messages (the agent also
//! gets knowledge-base suggestions), and the agent closes; the customer answers the
//! satisfaction survey (when the server runs with `[routing.survey] enabled`, as
//! `examples/quickstart.toml` sets), then writes again on WeChat and is recognised.
//!
//! Start the server (`cargo run`, or `cargo run -- --config examples/quickstart.toml`
//! for the survey too), then in another terminal:
//!
//! ```text
//! cargo run --example quickstart                 # server at http://127.0.0.1:50051
//! cargo run --example quickstart -- http://host:port
//! ```
//!
//! A server still starting (`cargo run &` builds first) is waited for: the example
//! tries again every half second for up to three minutes.

use std::time::Duration;

use switchboard::api::pb;
use switchboard::api::pb::agent_desk_client::AgentDeskClient;
use switchboard::api::pb::channel_gateway_client::ChannelGatewayClient;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Streaming;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// How often a server that is not listening yet is tried again.
const RETRY_EVERY: Duration = Duration::from_millis(500);
/// How long a server may take to come up (a first `cargo run` compiles for minutes).
const WAIT_AT_MOST: Duration = Duration::from_secs(180);

/// Connects to `server`, waiting for it while it is not listening yet.
async fn connect(server: &str) -> Result<tonic::transport::Channel> {
    let not_an_address =
        || format!("{server:?} is not a server address (expected http://host:port)");
    let endpoint = tonic::transport::Endpoint::from_shared(server.to_owned())
        .map_err(|e| format!("{}: {e}", not_an_address()))?
        .connect_timeout(Duration::from_secs(5));
    let uri = endpoint.uri();
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
        return Err(not_an_address().into());
    }
    let deadline = tokio::time::Instant::now() + WAIT_AT_MOST;
    let mut told = false;
    loop {
        match endpoint.connect().await {
            Ok(channel) => return Ok(channel),
            Err(e) if tokio::time::Instant::now() >= deadline => {
                // tonic's error says "transport error"; the cause is in its sources.
                let mut cause = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(s) = source {
                    let text = s.to_string();
                    // Layers repeat their inner error's text; say each once.
                    if !cause.ends_with(&text) {
                        cause = format!("{cause}: {text}");
                    }
                    source = s.source();
                }
                return Err(format!(
                    "no server at {server} after {} s ({cause}); start one with `cargo run` \
                     or pass its address: cargo run --example quickstart -- http://host:port",
                    WAIT_AT_MOST.as_secs()
                )
                .into());
            }
            Err(_) => {
                if !told {
                    println!("waiting for the server at {server} ...");
                    told = true;
                }
                tokio::time::sleep(RETRY_EVERY).await;
            }
        }
    }
}

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("quickstart: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<()> {
    let server = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "http://127.0.0.1:50051".to_owned());
    let channel = connect(&server).await?;
    println!("connected to {server}");

    // The agent desk: sign in with a skill and room for two chats.
    let (agent_tx, agent_rx) = mpsc::channel(16);
    agent_tx
        .send(agent_frame(
            "sign-in",
            pb::agent_frame::Action::SignIn(pb::SignIn {
                agent_id: "demo-agent".into(),
                display_name: "Demo Agent".into(),
                // "en": a bot hands English conversations to English speakers.
                skills: vec![
                    pb::AgentSkill {
                        skill: "orders".into(),
                        proficiency: 4,
                    },
                    pb::AgentSkill {
                        skill: "en".into(),
                        proficiency: 5,
                    },
                ],
                capacity: Some(pb::Capacity {
                    messaging: 2,
                    email: 0,
                    voice: 0,
                }),
                presence: pb::Presence::Available as i32,
            }),
        ))
        .await?;
    let mut desk = AgentDeskClient::new(channel.clone())
        .session(ReceiverStream::new(agent_rx))
        .await?
        .into_inner();
    let signed_in = next_desk(&mut desk).await?;
    println!("agent   <- {signed_in:?}");

    // The channel adapter: one stream, a customer writes in.
    let (adapter_tx, adapter_rx) = mpsc::channel(16);
    adapter_tx
        .send(adapter_frame(pb::adapter_frame::Frame::Hello(
            pb::AdapterHello {
                adapter_id: "quickstart-web".into(),
            },
        )))
        .await?;
    let mut gateway = ChannelGatewayClient::new(channel)
        .session(ReceiverStream::new(adapter_rx))
        .await?
        .into_inner();
    // The customer's phone number, verified by the shop's login: it makes them one
    // person on every channel.
    let phone = pb::CustomerIdentifier {
        kind: pb::IdentifierKind::Phone as i32,
        value: "+86 138 0013 8000".into(),
        verified: true,
        ..Default::default()
    };
    let says_on = |channel: pb::Channel, thread: &str, text: &str, id: &str| {
        adapter_frame(pb::adapter_frame::Frame::Message(pb::InboundMessage {
            channel: channel as i32,
            channel_conversation_id: thread.into(),
            customer: Some(pb::Customer {
                customer_id: format!("customer-42-{}", channel.as_str_name()),
                display_name: "Li Lei".into(),
                value: Some(pb::CustomerValue {
                    clv: Some(12_000.0),
                    ..Default::default()
                }),
                identifiers: vec![phone.clone()],
            }),
            text: text.into(),
            language: "en".into(),
            client_message_id: id.into(),
            required_skills: vec![pb::SkillRequirement {
                skill: "orders".into(),
                min_proficiency: 2,
            }],
            ..Default::default()
        }))
    };
    let customer_says =
        |text: &str, id: &str| says_on(pb::Channel::Web, "quickstart-thread-1", text, id);
    // Web chat is bot-first: a greeting with buttons, then the answer.
    adapter_tx
        .send(customer_says("Where is my order #1234?", "m1"))
        .await?;
    print_until(&mut gateway, 2, |m| m.sender == pb::Sender::Bot as i32).await?;
    // Asking for a person hands the conversation over; the customer hears their place.
    adapter_tx
        .send(customer_says("Can I talk to a person, please?", "m2"))
        .await?;
    print_until(&mut gateway, 1, |m| m.queue_status.is_some()).await?;

    // The agent gets the offer (with transcript), accepts and answers.
    let conversation_id = loop {
        if let Some(pb::desk_frame::Frame::Offer(offer)) = next_desk(&mut desk).await?.frame {
            println!(
                "agent   <- offer {} ({} tier, waited {} ms, {} transcript entries, handoff: {})",
                offer.conversation_id,
                offer.value_tier,
                offer.waited_ms,
                offer.transcript.len(),
                offer.handoff_reason
            );
            break offer.conversation_id;
        }
    };
    let conversation = || pb::ConversationRef {
        conversation_id: conversation_id.clone(),
    };
    agent_tx
        .send(agent_frame(
            "accept",
            pb::agent_frame::Action::Accept(conversation()),
        ))
        .await?;
    agent_tx
        .send(agent_frame(
            "reply",
            pb::agent_frame::Action::Reply(pb::Reply {
                conversation_id: conversation_id.clone(),
                text: "It left our warehouse this morning; it arrives tomorrow.".into(),
            }),
        ))
        .await?;
    adapter_tx
        .send(customer_says(
            "Great, thanks! Can I still return it if it's wrong?",
            "m3",
        ))
        .await?;
    loop {
        let frame = next_desk(&mut desk).await?.frame;
        println!("agent   <- {frame:?}");
        if matches!(frame, Some(pb::desk_frame::Frame::Suggestions(_))) {
            break; // agent assist: knowledge-base answers for that customer message
        }
    }
    agent_tx
        .send(agent_frame(
            "close",
            pb::agent_frame::Action::Close(conversation()),
        ))
        .await?;
    // With `[routing.survey] enabled` the customer is asked how it went, with quick
    // replies, before the close notice.
    let mut surveyed = false;
    loop {
        let frame = next_gateway(&mut gateway).await?.frame;
        println!("adapter <- {frame:?}");
        match frame {
            Some(pb::gateway_frame::Frame::Delivery(pb::Delivery {
                body: Some(pb::delivery::Body::Closed(_)),
                ..
            })) => break,
            Some(pb::gateway_frame::Frame::Delivery(pb::Delivery {
                body: Some(pb::delivery::Body::Message(m)),
                ..
            })) if !m.buttons.is_empty() => surveyed = true,
            _ => {}
        }
    }
    println!("conversation {conversation_id} closed");
    if surveyed {
        // The customer taps "5"; the answer is kept with the conversation, the agent
        // and the person's history, and they are thanked.
        adapter_tx.send(customer_says("5", "m4")).await?;
        print_until(&mut gateway, 1, |_| true).await?;
    } else {
        println!(
            "(no satisfaction survey: this server runs without [routing.survey]; \
             `cargo run -- --config examples/quickstart.toml` turns it on)"
        );
    }

    // The same person writes on WeChat a day later: recognised by the verified phone,
    // their web conversation comes with the offer.
    adapter_tx
        .send(says_on(
            pb::Channel::WechatOfficialAccount,
            "quickstart-wechat-1",
            "转人工",
            "w1",
        ))
        .await?;
    loop {
        if let Some(pb::desk_frame::Frame::Offer(offer)) = next_desk(&mut desk).await?.frame {
            let summary = offer
                .customer_summary
                .ok_or("the returning customer was not recognised")?;
            let last = summary.recent.first().ok_or("no past conversation")?;
            println!(
                "agent   <- offer {} on WeChat: recognised as profile {}, last conversation {} on {:?} ({}, agent {}, satisfaction {})",
                offer.conversation_id,
                summary.profile_id,
                last.conversation_id,
                pb::Channel::try_from(last.channel).unwrap_or_default(),
                last.outcome,
                last.agent_id,
                match last.satisfaction {
                    0 => "not given".to_owned(),
                    s => format!("{s}/5"),
                }
            );
            break;
        }
    }
    println!("done");
    Ok(())
}

/// Prints adapter frames until `count` messages matching `pick` were delivered.
async fn print_until(
    gateway: &mut Streaming<pb::GatewayFrame>,
    count: usize,
    pick: impl Fn(&pb::OutboundMessage) -> bool,
) -> Result<()> {
    let mut seen = 0;
    while seen < count {
        let frame = next_gateway(gateway).await?;
        println!("adapter <- {frame:?}");
        if let Some(pb::gateway_frame::Frame::Delivery(pb::Delivery {
            body: Some(pb::delivery::Body::Message(m)),
            ..
        })) = &frame.frame
            && pick(m)
        {
            seen += 1;
        }
    }
    Ok(())
}

fn agent_frame(request_id: &str, action: pb::agent_frame::Action) -> pb::AgentFrame {
    pb::AgentFrame {
        request_id: request_id.into(),
        action: Some(action),
    }
}

fn adapter_frame(frame: pb::adapter_frame::Frame) -> pb::AdapterFrame {
    pb::AdapterFrame { frame: Some(frame) }
}

async fn next_desk(stream: &mut Streaming<pb::DeskFrame>) -> Result<pb::DeskFrame> {
    Ok(
        tokio::time::timeout(Duration::from_secs(5), stream.message())
            .await??
            .ok_or("desk stream ended")?,
    )
}

async fn next_gateway(stream: &mut Streaming<pb::GatewayFrame>) -> Result<pb::GatewayFrame> {
    Ok(
        tokio::time::timeout(Duration::from_secs(5), stream.message())
            .await??
            .ok_or("gateway stream ended")?,
    )
}
