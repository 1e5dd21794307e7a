//! The gRPC listener: plain TCP or TLS (rustls), optionally asking for client
//! certificates (mTLS), with certificates re-read when their files change.
//!
//! cert-manager rotates certificates in place on Kubernetes: the files are checked
//! every `tls.reload_secs` and a changed set is loaded for new connections, while open
//! streams carry on over the connection they have. A file that no longer loads is
//! logged and the last good certificate stays in use.
//!
//! Handshakes run on their own tasks, bounded in number and time, so a peer that opens
//! a connection and says nothing holds up nobody else.

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use arc_swap::ArcSwap;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{self, RootCertStore, ServerConfig};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::Connected;

use crate::auth::Peer;

/// TLS on the gRPC port. Off unless `cert_file` and `key_file` are set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsSettings {
    /// PEM certificate chain of the server.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of the server.
    pub key_file: Option<PathBuf>,
    /// PEM CA certificates that client certificates must chain to; with it, clients
    /// may present a certificate (mapped to a principal in the API key file).
    pub client_ca_file: Option<PathBuf>,
    /// Refuse connections without a client certificate from `client_ca_file`.
    pub require_client_cert: bool,
    /// Seconds between checks of the certificate files (0 = never re-read).
    pub reload_secs: u64,
}

impl Default for TlsSettings {
    fn default() -> Self {
        TlsSettings {
            cert_file: None,
            key_file: None,
            client_ca_file: None,
            require_client_cert: false,
            reload_secs: 10,
        }
    }
}

impl TlsSettings {
    /// Whether TLS is on.
    pub fn enabled(&self) -> bool {
        self.cert_file.is_some() || self.key_file.is_some()
    }

    /// Checks that the settings make sense and the files load.
    pub fn validate(&self) -> Result<(), String> {
        if !self.enabled() {
            if self.client_ca_file.is_some() || self.require_client_cert {
                return Err("tls: client certificates need tls.cert_file and tls.key_file".into());
            }
            return Ok(());
        }
        if self.require_client_cert && self.client_ca_file.is_none() {
            return Err("tls.require_client_cert needs tls.client_ca_file".into());
        }
        server_config(self).map(|_| ())
    }

    fn files(&self) -> Vec<PathBuf> {
        [&self.cert_file, &self.key_file, &self.client_ca_file]
            .into_iter()
            .flatten()
            .cloned()
            .collect()
    }
}

/// Most TLS handshakes in progress at once.
const MAX_HANDSHAKES: usize = 256;
/// Longest a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Accepted connections waiting for the gRPC server to take them.
const ACCEPT_BACKLOG: usize = 128;

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no PEM certificate in it", path.display()));
    }
    Ok(certs)
}

/// A rustls server configuration from the files, speaking HTTP/2 only.
fn server_config(settings: &TlsSettings) -> Result<ServerConfig, String> {
    let (Some(cert_file), Some(key_file)) = (&settings.cert_file, &settings.key_file) else {
        return Err("tls needs both tls.cert_file and tls.key_file".into());
    };
    let certs = read_certs(cert_file)?;
    let key = PrivateKeyDer::from_pem_file(key_file)
        .map_err(|e| format!("{}: {e}", key_file.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("tls: {e}"))?;
    let builder = match &settings.client_ca_file {
        None => builder.with_no_client_auth(),
        Some(ca_file) => {
            let mut roots = RootCertStore::empty();
            for ca in read_certs(ca_file)? {
                roots
                    .add(ca)
                    .map_err(|e| format!("{}: {e}", ca_file.display()))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = if settings.require_client_cert {
                verifier
            } else {
                verifier.allow_unauthenticated()
            };
            builder.with_client_cert_verifier(
                verifier
                    .build()
                    .map_err(|e| format!("{}: {e}", ca_file.display()))?,
            )
        }
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("{}: {e}", cert_file.display()))?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

/// The names a verified client certificate carries: its DNS and URI subject
/// alternative names.
fn certificate_names(cert: &CertificateDer<'_>) -> Vec<String> {
    match webpki::EndEntityCert::try_from(cert) {
        Ok(cert) => cert
            .valid_dns_names()
            .chain(cert.valid_uri_names())
            .map(str::to_owned)
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// One accepted connection, plain or TLS.
pub enum Conn {
    /// Plain TCP.
    Plain(TcpStream, Peer),
    /// TLS over TCP.
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>, Peer),
}

impl Connected for Conn {
    type ConnectInfo = Peer;

    fn connect_info(&self) -> Peer {
        match self {
            Conn::Plain(_, peer) | Conn::Tls(_, peer) => peer.clone(),
        }
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s, _) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s, _) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s, _) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s, _) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s, _) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s, _) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s, _) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s, _) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s, _) => Pin::new(s).poll_write_vectored(cx, bufs),
            Conn::Tls(s, _) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Conn::Plain(s, _) => s.is_write_vectored(),
            Conn::Tls(s, _) => s.is_write_vectored(),
        }
    }
}

/// The live TLS configuration, swapped whole when the files change.
#[derive(Clone)]
struct LiveTls {
    current: Arc<ArcSwap<ServerConfig>>,
    settings: Arc<TlsSettings>,
}

impl LiveTls {
    /// Re-reads the files whenever one changes, until the listener ends.
    async fn watch(self, stopped: impl std::future::Future<Output = ()>) {
        let every = Duration::from_secs(self.settings.reload_secs);
        crate::file_watch::on_change(
            self.settings.files(),
            every,
            stopped,
            || match server_config(&self.settings) {
                Ok(fresh) => {
                    self.current.store(Arc::new(fresh));
                    tracing::info!("TLS certificate files read again; new connections use them");
                }
                Err(e) => tracing::warn!(
                    error = %e,
                    "TLS files changed but do not load; the previous certificate stays"
                ),
            },
        )
        .await;
    }
}

/// Accepts connections on `listener` (with TLS when configured) until `stopped`
/// resolves; the stream feeds tonic's `serve_with_incoming_shutdown`.
pub fn incoming(
    listener: TcpListener,
    tls: &TlsSettings,
    stopped: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<ReceiverStream<std::io::Result<Conn>>, String> {
    let live = if tls.enabled() {
        let config = server_config(tls)?;
        Some(LiveTls {
            current: Arc::new(ArcSwap::from_pointee(config)),
            settings: Arc::new(tls.clone()),
        })
    } else {
        None
    };
    let (tx, rx) = mpsc::channel(ACCEPT_BACKLOG);
    tokio::spawn(accept_loop(listener, live, tx, stopped));
    Ok(ReceiverStream::new(rx))
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<LiveTls>,
    tx: mpsc::Sender<std::io::Result<Conn>>,
    stopped: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        stopped.await;
        let _ = stop_tx.send(true);
    });
    if let Some(live) = &tls {
        let mut rx = stop_rx.clone();
        tokio::spawn(live.clone().watch(async move {
            let _ = rx.wait_for(|&s| s).await;
        }));
    }
    let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    let mut stop = stop_rx;
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.wait_for(|&s| s) => return,
        };
        let (stream, addr) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // Out of file descriptors and the like: back off rather than spin.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Small frames go out at once: without TCP_NODELAY a second small write waits
        // for the peer's delayed ACK (about 40 ms), which the load bench showed.
        let _ = stream.set_nodelay(true);
        let Some(live) = &tls else {
            let peer = Peer {
                addr: Some(addr),
                certificate_names: Arc::from([]),
            };
            if tx.send(Ok(Conn::Plain(stream, peer))).await.is_err() {
                return;
            }
            continue;
        };
        let Ok(permit) = handshakes.clone().try_acquire_owned() else {
            tracing::warn!(peer = %addr, "too many TLS handshakes in progress; connection closed");
            continue;
        };
        let acceptor = TlsAcceptor::from(live.current.load_full());
        let tx = tx.clone();
        tokio::spawn(async move {
            let _permit = permit;
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls_stream)) => {
                    let names = tls_stream
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|chain| chain.first())
                        .map(certificate_names)
                        .unwrap_or_default();
                    let peer = Peer {
                        addr: Some(addr),
                        certificate_names: Arc::from(names),
                    };
                    let _ = tx.send(Ok(Conn::Tls(Box::new(tls_stream), peer))).await;
                }
                Ok(Err(e)) => tracing::debug!(peer = %addr, error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!(peer = %addr, "TLS handshake timed out"),
            }
        });
    }
}
