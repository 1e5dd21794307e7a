//! The console's WebSocket bridge into the very same tonic services the gRPC port
//! serves, so a browser speaks the one `switchboard.v1` contract: same
//! authentication, tenant isolation, limits and validation as every other client.
//!
//! Browsers cannot carry gRPC's bidirectional streams (gRPC-web has no client
//! streaming), so each call is one WebSocket at
//! `/console/grpc?method=/switchboard.v1.<Service>/<Method>`:
//!
//! 1. The page sends one text message first, the call's metadata as JSON:
//!    `{"metadata": {"authorization": "Bearer ...", "x-switchboard-tenant": "acme"}}`
//!    (`{}` for none). Browsers cannot set headers on a WebSocket; this is where the
//!    credential goes.
//! 2. Each binary message is one protobuf-encoded request message; the text message
//!    `{"end": true}` ends the request stream (a unary call sends one message, then
//!    that). A socket that closes or goes silent without it breaks the request
//!    stream instead, as a dropped connection does on the gRPC port: a desk whose
//!    page went away is held for its return rather than signed out.
//! 3. Each binary message back is one response message; the last message is text,
//!    the gRPC status: `{"code": 0, "message": "", "metadata": {}}`. Then the socket
//!    closes.
//!
//! The bridge builds an in-process `http::Request` (gRPC content type, the method
//! path, the metadata as headers, a body of length-prefixed frames fed from the
//! socket) and calls the shared [`Routes`], whose services carry the `Authenticate`
//! interceptor. The browser's address goes in as the [`Peer`] that the gRPC listener
//! attaches to its connections, so with no credentials configured a remote browser is
//! refused exactly as a remote gRPC client is.
//!
//! Bounded: at most [`Limits::max_sockets`] sockets at once and
//! [`Limits::max_message_bytes`] per request message, both counted in
//! [`super::metrics`]; a socket that answers no ping within [`Limits::silent_limit`]
//! loses its call, as the gRPC port's HTTP/2 keepalive drops a dead connection; a
//! WebSocket opened by a page of another origin is refused (a page on another site
//! must not reach a loopback-trusted server through the operator's browser).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use serde::Deserialize;
use tokio::sync::{Semaphore, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tonic::service::Routes;
use tonic::{Code, Status};
use tower_service::Service;

use super::metrics::{self, Refusal};
use crate::auth::Peer;
use crate::server::SERVICES;

/// The path the bridge is mounted at.
pub const PATH: &str = "/console/grpc";

/// The bridge's bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Console sockets open at once, over every page and tenant.
    pub max_sockets: usize,
    /// Largest request message, in bytes (the protobuf message, without framing).
    pub max_message_bytes: usize,
    /// How often the bridge pings its socket (browsers answer by themselves), as the
    /// gRPC port's HTTP/2 keepalive does.
    pub keepalive: Duration,
    /// A socket silent this long (no message, no pong) is taken as gone and its call
    /// dropped: a desk whose network vanished stops taking offers (it is held for
    /// its return, as after any dropped connection).
    pub silent_limit: Duration,
}

impl Default for Limits {
    /// 256 sockets (a chat or a desk takes one, plus a short-lived one per unary
    /// call), 256 KiB messages (the API's largest fields, transcripts and
    /// knowledge-base texts, stay far below), a ping every 10 s and 30 s of silence
    /// at most.
    fn default() -> Self {
        Limits {
            max_sockets: 256,
            max_message_bytes: 256 * 1024,
            keepalive: Duration::from_secs(10),
            silent_limit: Duration::from_secs(30),
        }
    }
}

/// Longest the page may take to send the call's metadata after the socket opens.
const METADATA_TIMEOUT: Duration = Duration::from_secs(10);
/// Request messages read from the socket ahead of the service.
const REQUEST_BUFFER: usize = 16;
/// Most metadata entries a call may carry.
const MAX_METADATA: usize = 32;
/// Length of gRPC's message prefix: a compression flag and a big-endian u32 length.
const PREFIX: usize = 5;

/// The bridge: the services to call and the sockets in use. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Bridge {
    /// The `switchboard.v1` services, the same the gRPC port serves.
    routes: Routes,
    /// One permit per open socket.
    sockets: Arc<Semaphore>,
    /// The bounds.
    limits: Limits,
}

impl Bridge {
    /// A bridge into `routes` with `limits`.
    pub fn new(routes: Routes, limits: Limits) -> Bridge {
        Bridge {
            routes,
            sockets: Arc::new(Semaphore::new(limits.max_sockets)),
            limits,
        }
    }

    fn open_sockets(&self) -> usize {
        self.limits.max_sockets - self.sockets.available_permits()
    }
}

/// `GET /console/grpc?method=...`: upgrades to a WebSocket and bridges one call.
pub async fn upgrade(
    State(bridge): State<Bridge>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
    ws: WebSocketUpgrade,
) -> Response {
    if let Err(message) = same_origin(&headers) {
        metrics::record_refused(Refusal::Origin);
        tracing::warn!(peer = %addr, %message, "console socket refused");
        return (StatusCode::FORBIDDEN, message).into_response();
    }
    let method = method_of(&uri);
    // The socket's own frames may be somewhat larger than a message, so that an
    // oversize message is read whole and answered with a clear status rather than a
    // dropped connection.
    let ws = ws
        .max_message_size(bridge.limits.max_message_bytes * 2 + 1024)
        .max_frame_size(bridge.limits.max_message_bytes * 2 + 1024);
    ws.on_upgrade(move |socket| serve(bridge, socket, method, addr))
}

/// A WebSocket carrying a browser's `Origin` is only taken from this server's own
/// pages: the origin's host and port must be the `Host` the page was served from.
fn same_origin(headers: &HeaderMap) -> Result<(), String> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(()); // not a browser: it could speak gRPC to the gRPC port anyway
    };
    let origin = origin.to_str().unwrap_or_default();
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let origin_host = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .unwrap_or_default();
    if !host.is_empty() && origin_host.eq_ignore_ascii_case(host) {
        Ok(())
    } else {
        Err(format!(
            "origin {origin:?} is not this console's ({host:?}); the console bridge takes \
             calls from its own pages only\n"
        ))
    }
}

/// The `method` query parameter (`%2F` decoded), empty when missing.
fn method_of(uri: &Uri) -> String {
    uri.query()
        .unwrap_or_default()
        .split('&')
        .find_map(|pair| pair.strip_prefix("method="))
        .unwrap_or_default()
        .replace("%2F", "/")
        .replace("%2f", "/")
}

/// Checks that `method` names a method of a served `switchboard.v1` service.
fn check_method(method: &str) -> Result<(), Status> {
    let service = method
        .strip_prefix('/')
        .and_then(|rest| rest.split_once('/'))
        .filter(|(_, name)| !name.is_empty() && !name.contains('/'))
        .map(|(service, _)| service);
    match service {
        Some(service) if SERVICES.contains(&service) => Ok(()),
        _ => Err(Status::unimplemented(format!(
            "method {method:?}: not a switchboard.v1 method; the console bridges \
             ?method=/switchboard.v1.<Service>/<Method> for the services {}",
            SERVICES.join(", ")
        ))),
    }
}

/// Holds one socket slot and keeps the gauge current.
struct Slot {
    /// Whose slot.
    bridge: Bridge,
    /// The slot; `None` once given back.
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        drop(self.permit.take());
        metrics::record_sockets(self.bridge.open_sockets());
    }
}

/// Bridges one call on `socket`, then sends its status and closes.
async fn serve(bridge: Bridge, socket: WebSocket, method: String, addr: SocketAddr) {
    let (mut sink, stream) = socket.split();
    let status = match bridge.sockets.clone().try_acquire_owned() {
        Ok(permit) => {
            let slot = Slot {
                bridge: bridge.clone(),
                permit: Some(permit),
            };
            metrics::record_sockets(bridge.open_sockets());
            let status = call(&bridge, &mut sink, stream, &method, addr).await;
            drop(slot);
            status
        }
        Err(_) => {
            metrics::record_refused(Refusal::Sockets);
            tracing::warn!(
                peer = %addr,
                limit = bridge.limits.max_sockets,
                "console socket refused: every slot is taken"
            );
            Some(Status::resource_exhausted(format!(
                "every console socket is in use ({} at most); close a console page or \
                 retry shortly",
                bridge.limits.max_sockets
            )))
        }
    };
    if let Some(status) = status {
        let _ = sink.send(Message::text(status_json(&status))).await;
        let _ = sink
            .send(Message::Close(Some(CloseFrame {
                code: axum::extract::ws::close_code::NORMAL,
                reason: "".into(),
            })))
            .await;
    }
}

type Sink = futures_util::stream::SplitSink<WebSocket, Message>;
type Source = futures_util::stream::SplitStream<WebSocket>;
type RequestSender = mpsc::Sender<Fed>;
type BridgedRequest = axum::http::Request<StreamBody<RequestFrames>>;

/// What the socket reader hands the call's request body.
#[derive(Debug)]
enum Fed {
    /// One length-prefixed request message.
    Message(Bytes),
    /// The page's `{"end": true}`: the request stream ends here.
    End,
}

/// The call's request body: the messages fed, then the end the page asked for; or,
/// when the feed stops without one (the page closed, vanished or was dropped), an
/// error, so the service sees a broken stream, not a finished one.
#[derive(Debug)]
struct RequestFrames {
    /// From the socket reader.
    fed: ReceiverStream<Fed>,
    /// Nothing more comes (the end, or the error, was given).
    done: bool,
}

impl RequestFrames {
    fn new(rx: mpsc::Receiver<Fed>) -> RequestFrames {
        RequestFrames {
            fed: ReceiverStream::new(rx),
            done: false,
        }
    }
}

impl futures_util::Stream for RequestFrames {
    type Item = Result<Frame<Bytes>, Status>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        if self.done {
            return Poll::Ready(None);
        }
        match std::pin::Pin::new(&mut self.fed).poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Fed::Message(bytes))) => Poll::Ready(Some(Ok(Frame::data(bytes)))),
            Poll::Ready(Some(Fed::End)) => {
                self.done = true;
                Poll::Ready(None)
            }
            Poll::Ready(None) => {
                self.done = true;
                // Not CANCELLED: tonic reads a cancelled request stream as ended.
                Poll::Ready(Some(Err(Status::unavailable(
                    "the console page went away without ending its call",
                ))))
            }
        }
    }
}

/// The first text message of a call.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Opening {
    /// Metadata sent as request headers.
    #[serde(default)]
    metadata: std::collections::BTreeMap<String, String>,
}

/// A later text message of a call.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Control {
    /// Ends the request stream.
    end: bool,
}

/// Runs one call; its status, or `None` when the page is gone and nobody is told.
async fn call(
    bridge: &Bridge,
    sink: &mut Sink,
    mut stream: Source,
    method: &str,
    addr: SocketAddr,
) -> Option<Status> {
    if let Err(status) = check_method(method) {
        return Some(status);
    }
    let opening = match tokio::time::timeout(METADATA_TIMEOUT, stream.next()).await {
        Err(_) => {
            return Some(Status::deadline_exceeded(format!(
                "no metadata within {} s of opening: send {{\"metadata\": {{...}}}} first",
                METADATA_TIMEOUT.as_secs()
            )));
        }
        Ok(None | Some(Err(_)) | Some(Ok(Message::Close(_)))) => return None,
        Ok(Some(Ok(Message::Text(text)))) => text,
        Ok(Some(Ok(_))) => {
            return Some(Status::invalid_argument(
                "first message: expected the call's metadata as JSON text \
                 ({\"metadata\": {...}}), got another kind of message",
            ));
        }
    };
    let opening: Opening = match serde_json::from_str(opening.as_str()) {
        Ok(opening) => opening,
        Err(e) => {
            return Some(Status::invalid_argument(format!(
                "first message: not the call's metadata ({{\"metadata\": {{...}}}}): {e}"
            )));
        }
    };
    let (request, tx) = match build_request(method, &opening, addr) {
        Ok(built) => built,
        Err(status) => return Some(status),
    };
    let heard = Heard::new();
    let mut reader = tokio::spawn(read_requests(
        stream,
        tx,
        bridge.limits.max_message_bytes,
        heard.clone(),
    ));
    let every = bridge.limits.keepalive;
    let mut keepalive = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    let _abort = AbortOnDrop(reader.abort_handle());
    metrics::record_call();

    let mut routes = bridge.routes.clone();
    // The router is always ready (axum's is); poll it as the contract asks.
    if let Err(never) =
        std::future::poll_fn(|cx| Service::<BridgedRequest>::poll_ready(&mut routes, cx)).await
    {
        match never {}
    }
    let response = routes.call(request);
    tokio::pin!(response);
    let response = loop {
        tokio::select! {
            response = &mut response => match response {
                Ok(response) => break response,
                Err(never) => match never {},
            },
            _ = keepalive.tick() => {
                if !ping(sink, &heard, &bridge.limits, addr).await {
                    return None;
                }
            }
            ended = &mut reader => return page_ended(ended),
        }
    };
    // A call refused before any message answers with its status in the headers.
    if let Some(status) = Status::from_header_map(response.headers()) {
        return Some(named(status, method));
    }
    let mut body = response.into_body();
    let mut buffer: Vec<u8> = Vec::new();
    loop {
        tokio::select! {
            frame = body.frame() => match frame {
                None => return Some(Status::internal("the call ended without a status")),
                Some(Err(status)) => return Some(status),
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => {
                        buffer.extend_from_slice(&data);
                        loop {
                            match next_message(&mut buffer) {
                                Ok(Some(message)) => {
                                    if sink.send(Message::Binary(message)).await.is_err() {
                                        return None;
                                    }
                                }
                                Ok(None) => break,
                                Err(status) => return Some(status),
                            }
                        }
                    }
                    Err(frame) => {
                        if let Ok(trailers) = frame.into_trailers() {
                            let status = Status::from_header_map(&trailers).unwrap_or_else(|| {
                                Status::unknown("the call ended without a grpc-status")
                            });
                            return Some(named(status, method));
                        }
                    }
                },
            },
            _ = keepalive.tick() => {
                if !ping(sink, &heard, &bridge.limits, addr).await {
                    return None;
                }
            }
            ended = &mut reader => return page_ended(ended),
        }
    }
}

/// Pings the page; `false` when it is gone: silent past the limit, or the ping
/// cannot be sent.
async fn ping(sink: &mut Sink, heard: &Heard, limits: &Limits, addr: SocketAddr) -> bool {
    if heard.silent_for() > limits.silent_limit {
        tracing::debug!(peer = %addr, "console socket silent; call dropped");
        return false;
    }
    sink.send(Message::Ping(Bytes::new())).await.is_ok()
}

/// What the end of the socket reader means for the call: the page is gone (`None`:
/// the call is dropped, nobody to tell), or it broke the protocol (that status).
fn page_ended(ended: Result<Ending, tokio::task::JoinError>) -> Option<Status> {
    match ended.map(|ending| ending.result) {
        Ok(Ok(())) | Err(_) => None,
        Ok(Err(status)) => Some(status),
    }
}

/// Says which method an `UNIMPLEMENTED` without a message was about.
fn named(status: Status, method: &str) -> Status {
    if status.code() == Code::Unimplemented && status.message().is_empty() {
        return Status::unimplemented(format!(
            "method {method:?}: no such method in the switchboard.v1 contract"
        ));
    }
    status
}

/// Takes one whole length-prefixed message off the front of `buffer`, if there is one.
fn next_message(buffer: &mut Vec<u8>) -> Result<Option<Bytes>, Status> {
    if buffer.len() < PREFIX {
        return Ok(None);
    }
    if buffer[0] != 0 {
        return Err(Status::internal(
            "a compressed response message: the console bridge takes none",
        ));
    }
    let len = u32::from_be_bytes([buffer[1], buffer[2], buffer[3], buffer[4]]) as usize;
    if buffer.len() < PREFIX + len {
        return Ok(None);
    }
    let message = Bytes::copy_from_slice(&buffer[PREFIX..PREFIX + len]);
    buffer.drain(..PREFIX + len);
    Ok(Some(message))
}

/// When the page was last heard from (any message, pongs included), shared by the
/// socket reader and the call.
#[derive(Clone)]
struct Heard {
    /// When the call started.
    started: std::time::Instant,
    /// Milliseconds after `started` of the last message: one writer, one reader, no
    /// ordering with other memory needed.
    at_ms: Arc<std::sync::atomic::AtomicU64>,
}

impl Heard {
    fn new() -> Heard {
        Heard {
            started: std::time::Instant::now(),
            at_ms: Arc::default(),
        }
    }

    fn now(&self) {
        let ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.at_ms.store(ms, std::sync::atomic::Ordering::Relaxed);
    }

    fn silent_for(&self) -> Duration {
        let at = Duration::from_millis(self.at_ms.load(std::sync::atomic::Ordering::Relaxed));
        self.started.elapsed().saturating_sub(at)
    }
}

/// Aborts the socket reader when the call ends, whichever way.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Metadata keys the bridge sets itself or that HTTP/2 reserves.
fn reserved(name: &HeaderName) -> bool {
    let name = name.as_str();
    name.starts_with("grpc-")
        || name.ends_with("-bin")
        || matches!(
            name,
            "content-type" | "te" | "host" | "connection" | "upgrade" | "transfer-encoding"
        )
}

/// The in-process request for `method` with the page's metadata, and the sender that
/// feeds its body.
fn build_request(
    method: &str,
    opening: &Opening,
    addr: SocketAddr,
) -> Result<(BridgedRequest, RequestSender), Status> {
    if opening.metadata.len() > MAX_METADATA {
        return Err(Status::invalid_argument(format!(
            "metadata: {} entries, at most {MAX_METADATA}",
            opening.metadata.len()
        )));
    }
    let (tx, rx) = mpsc::channel(REQUEST_BUFFER);
    let mut request = axum::http::Request::builder()
        .method(axum::http::Method::POST)
        .version(axum::http::Version::HTTP_2)
        .uri(method)
        .body(StreamBody::new(RequestFrames::new(rx)))
        .map_err(|e| Status::invalid_argument(format!("method {method:?}: {e}")))?;
    let headers = request.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    headers.insert(header::TE, HeaderValue::from_static("trailers"));
    for (key, value) in &opening.metadata {
        let name = HeaderName::from_bytes(key.as_bytes()).map_err(|_| {
            Status::invalid_argument(format!("metadata.{key}: not a valid metadata key"))
        })?;
        if reserved(&name) {
            return Err(Status::invalid_argument(format!(
                "metadata.{key}: reserved; the bridge sets it or does not carry it"
            )));
        }
        // gRPC's ASCII metadata: printable ASCII and spaces only.
        let value = Some(value)
            .filter(|v| v.bytes().all(|b| b == b' ' || b.is_ascii_graphic()))
            .and_then(|v| HeaderValue::from_str(v).ok())
            .ok_or_else(|| {
                Status::invalid_argument(format!("metadata.{key}: not a printable ASCII value"))
            })?;
        headers.append(name, value);
    }
    // What `transport::incoming` attaches to a gRPC connection: the interceptor
    // decides on it (loopback only without credentials).
    request.extensions_mut().insert(Peer {
        addr: Some(addr),
        certificate_names: Arc::from([]),
    });
    Ok((request, tx))
}

/// How the socket reader ended: `Ok` when the page is gone, `Err` when it broke the
/// protocol or a limit. It hands back the request sender, so the service sees its
/// request stream break (the page left without `{"end": true}`) only once the call
/// has taken this in: a refusal is what the page is told, not the service's
/// complaint about the missing message.
struct Ending {
    /// The outcome.
    result: Result<(), Status>,
    /// The request sender, if the stream was still open.
    _tx: Option<RequestSender>,
}

/// Feeds request messages from the socket into the call's body, and keeps reading
/// after the page's `{"end": true}` (pongs keep the call alive, a close ends it).
async fn read_requests(
    stream: Source,
    tx: RequestSender,
    max_message_bytes: usize,
    heard: Heard,
) -> Ending {
    let mut tx = Some(tx);
    let result = feed(stream, &mut tx, max_message_bytes, heard).await;
    Ending { result, _tx: tx }
}

async fn feed(
    mut stream: Source,
    tx: &mut Option<RequestSender>,
    max_message_bytes: usize,
    heard: Heard,
) -> Result<(), Status> {
    // `tx` is `None` once the request stream is over: by the page's end, or because
    // the service stopped reading (its status follows).
    let mut ended_by_page = false;
    while let Some(message) = stream.next().await {
        heard.now();
        match message {
            Ok(Message::Binary(bytes)) => {
                if ended_by_page {
                    return Err(Status::invalid_argument(
                        "a request message after {\"end\": true}",
                    ));
                }
                let Some(len) = u32::try_from(bytes.len())
                    .ok()
                    .filter(|_| bytes.len() <= max_message_bytes)
                else {
                    metrics::record_refused(Refusal::MessageSize);
                    return Err(Status::resource_exhausted(format!(
                        "request message of {} bytes: over the console's limit of \
                         {max_message_bytes} bytes",
                        bytes.len()
                    )));
                };
                let Some(sender) = tx.as_ref() else {
                    continue;
                };
                let mut framed = Vec::with_capacity(PREFIX + bytes.len());
                framed.push(0);
                framed.extend_from_slice(&len.to_be_bytes());
                framed.extend_from_slice(&bytes);
                if sender
                    .send(Fed::Message(Bytes::from(framed)))
                    .await
                    .is_err()
                {
                    *tx = None;
                }
            }
            Ok(Message::Text(text)) => match serde_json::from_str::<Control>(text.as_str()) {
                Ok(Control { end: true }) => {
                    ended_by_page = true;
                    // A service that stopped reading has its status on the way.
                    if let Some(sender) = tx.take() {
                        let _ = sender.send(Fed::End).await;
                    }
                }
                _ => {
                    return Err(Status::invalid_argument(
                        "a text message after the metadata must be {\"end\": true}; \
                         request messages go as binary messages",
                    ));
                }
            },
            Ok(Message::Ping(_) | Message::Pong(_)) => {}
            Ok(Message::Close(_)) | Err(_) => return Ok(()),
        }
    }
    Ok(())
}

/// The status message the page gets last.
fn status_json(status: &Status) -> String {
    let metadata: std::collections::BTreeMap<&str, &str> = status
        .metadata()
        .iter()
        .filter_map(|entry| match entry {
            tonic::metadata::KeyAndValueRef::Ascii(key, value) => {
                Some((key.as_str(), value.to_str().ok()?))
            }
            tonic::metadata::KeyAndValueRef::Binary(..) => None,
        })
        .filter(|(key, _)| !key.starts_with("grpc-status") && *key != "grpc-message")
        .filter(|(key, _)| *key != "content-type")
        .collect();
    serde_json::json!({
        "code": status.code() as i32,
        "message": status.message(),
        "metadata": metadata,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_outside_the_contract_are_named() {
        assert!(check_method("/switchboard.v1.Admin/ListWaiting").is_ok());
        for bad in [
            "",
            "/",
            "/grpc.health.v1.Health/Check",
            "/switchboard.v1.Admin/",
            "x",
        ] {
            let status = check_method(bad).unwrap_err();
            assert_eq!(status.code(), Code::Unimplemented, "{bad}");
            assert!(status.message().contains("not a switchboard.v1 method"));
        }
    }

    #[test]
    fn the_method_comes_from_the_query() {
        let uri: Uri = "/console/grpc?x=1&method=%2Fswitchboard.v1.Admin%2FListAgents"
            .parse()
            .unwrap();
        assert_eq!(method_of(&uri), "/switchboard.v1.Admin/ListAgents");
        assert_eq!(method_of(&"/console/grpc".parse().unwrap()), "");
    }

    #[test]
    fn only_the_console_own_origin_may_open_a_socket() {
        let mut headers = HeaderMap::new();
        assert!(same_origin(&headers).is_ok());
        headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:9090"));
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:9090"),
        );
        assert!(same_origin(&headers).is_ok());
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        assert!(same_origin(&headers).unwrap_err().contains("evil.example"));
    }

    #[test]
    fn response_frames_are_split_whole() {
        let mut buffer = vec![0, 0, 0, 0, 2, 7, 8, 0, 0, 0];
        assert_eq!(next_message(&mut buffer).unwrap().unwrap(), &[7u8, 8][..]);
        assert_eq!(next_message(&mut buffer).unwrap(), None);
        buffer.extend_from_slice(&[0, 0]);
        assert_eq!(next_message(&mut buffer).unwrap().unwrap(), &[][..]);
        assert!(buffer.is_empty());
        assert!(next_message(&mut vec![1, 0, 0, 0, 0]).is_err());
    }

    #[test]
    fn page_metadata_cannot_set_what_the_bridge_sets() {
        let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let opening = |key: &str, value: &str| Opening {
            metadata: [(key.to_owned(), value.to_owned())].into(),
        };
        let method = "/switchboard.v1.Admin/ListAgents";
        let (request, _tx) = build_request(method, &opening("authorization", "Bearer x"), addr)
            .expect("authorization is the page's to send");
        assert_eq!(request.headers()["authorization"], "Bearer x");
        assert_eq!(request.extensions().get::<Peer>().unwrap().addr, Some(addr));
        for key in ["grpc-timeout", "content-type", "te"] {
            let status = build_request(method, &opening(key, "1"), addr).unwrap_err();
            assert!(status.message().starts_with(&format!("metadata.{key}")));
        }
        let status = build_request(method, &opening("a b", "1"), addr).unwrap_err();
        assert!(status.message().contains("metadata.a b"));
        let status = build_request(method, &opening("x-id", "caf\u{e9}"), addr).unwrap_err();
        assert!(status.message().contains("metadata.x-id"));
    }
}
