//! The connection `switchboard ctl` talks over: plain HTTP/2 or TLS (rustls, the same
//! stack the server's listener uses, so no TLS feature of tonic is compiled), with the
//! credential and tenant put on every call.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use tonic::codegen::http::Uri;
use tonic::metadata::{AsciiMetadataValue, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Status};

use super::CtlArgs;
use super::error::CtlError;
use crate::api::pb::admin_client::AdminClient;
use crate::api::pb::channel_gateway_client::ChannelGatewayClient;
use crate::api::pb::outbound_client::OutboundClient;

/// How long connecting may take before the server counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one call may take (the admin calls answer from memory at once).
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Where Debian, Fedora and macOS keep the system's CA bundle, tried in order when
/// `--ca-cert` is absent (after `SSL_CERT_FILE`).
const SYSTEM_BUNDLES: [&str; 3] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
];

/// An admin client that sends the credentials.
pub(crate) type Admin = AdminClient<InterceptedService<Channel, Credentials>>;
/// A channel-gateway client that sends the credentials.
pub(crate) type Gateway = ChannelGatewayClient<InterceptedService<Channel, Credentials>>;
/// The Outbound client `ctl` uses.
pub(crate) type Outbound = OutboundClient<InterceptedService<Channel, Credentials>>;

/// A connected server.
pub(crate) struct Client {
    /// The address as given, for messages.
    pub(crate) addr: String,
    /// The HTTP/2 connection; cheap to clone, reconnects by itself.
    channel: Channel,
    /// What every call carries.
    credentials: Credentials,
}

impl Client {
    /// Connects to `--addr` with `--token`, `--tenant` and `--ca-cert`.
    pub(crate) async fn connect(args: &CtlArgs) -> Result<Client, CtlError> {
        let credentials = Credentials::new(args.token.as_deref(), args.tenant.as_deref())?;
        // `host:port` alone means plain HTTP/2, as `--grpc-addr` is written.
        let addr = if args.addr.contains("://") {
            args.addr.clone()
        } else {
            format!("http://{}", args.addr)
        };
        let not_an_address = || {
            CtlError::Usage(format!(
                "--addr {:?} is not a server address (expected http://host:port or \
                 https://host:port)",
                args.addr
            ))
        };
        let uri: Uri = addr.parse().map_err(|_| not_an_address())?;
        let host = uri.host().ok_or_else(not_an_address)?.to_owned();
        let endpoint = Endpoint::from(uri.clone())
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(CALL_TIMEOUT);
        let connected = match uri.scheme_str() {
            Some("http") => {
                if args.ca_cert.is_some() {
                    return Err(CtlError::Usage(
                        "--ca-cert is for https:// addresses".to_owned(),
                    ));
                }
                endpoint.connect().await
            }
            Some("https") => {
                let dial = TlsDial::new(&host, uri.port_u16().unwrap_or(443), args)?;
                endpoint.connect_with_connector(dial).await
            }
            _ => return Err(not_an_address()),
        };
        let channel = connected.map_err(|e| {
            let mut cause = causes(&e);
            if cause.contains("UnknownIssuer") {
                cause
                    .push_str(" (name the CA that signed the server's certificate with --ca-cert)");
            }
            CtlError::Connect {
                addr: addr.clone(),
                cause,
            }
        })?;
        Ok(Client {
            addr,
            channel,
            credentials,
        })
    }

    /// The Admin service.
    pub(crate) fn admin(&self) -> Admin {
        AdminClient::with_interceptor(self.channel.clone(), self.credentials.clone())
    }

    /// The ChannelGateway service.
    pub(crate) fn gateway(&self) -> Gateway {
        ChannelGatewayClient::with_interceptor(self.channel.clone(), self.credentials.clone())
    }

    /// The Outbound service.
    pub(crate) fn outbound(&self) -> Outbound {
        OutboundClient::with_interceptor(self.channel.clone(), self.credentials.clone())
    }

    /// Turns a call's status into the command's error.
    pub(crate) fn failed(&self, status: Status) -> CtlError {
        CtlError::status(&self.addr, status)
    }
}

/// An error with its sources, each said once (tonic's top error says only
/// "transport error", which is left out; the reason is inside).
fn causes(e: &dyn std::error::Error) -> String {
    let (mut text, mut source) = match e.source() {
        Some(inner) if e.to_string() == "transport error" => (inner.to_string(), inner.source()),
        _ => (e.to_string(), e.source()),
    };
    while let Some(s) = source {
        let inner = s.to_string();
        if !text.ends_with(&inner) {
            text = format!("{text}: {inner}");
        }
        source = s.source();
    }
    text
}

/// The credential and tenant put on every request.
#[derive(Clone, Debug)]
pub(crate) struct Credentials {
    /// `Bearer <token>`, when a token was given.
    authorization: Option<AsciiMetadataValue>,
    /// `x-switchboard-tenant`, when a tenant was given.
    tenant: Option<AsciiMetadataValue>,
}

impl Credentials {
    /// Checks the token and tenant can travel as metadata.
    fn new(token: Option<&str>, tenant: Option<&str>) -> Result<Credentials, CtlError> {
        let authorization = match token.map(str::trim).filter(|t| !t.is_empty()) {
            Some(token) => Some(MetadataValue::try_from(format!("Bearer {token}")).map_err(
                |_| CtlError::Usage("--token has characters a header cannot carry".to_owned()),
            )?),
            None => None,
        };
        let tenant = match tenant.filter(|t| !t.is_empty()) {
            Some(t) if crate::config::is_valid_tenant(t) => Some(
                MetadataValue::try_from(t)
                    .map_err(|_| CtlError::Usage(format!("--tenant {t:?} is not a tenant id")))?,
            ),
            Some(t) => {
                return Err(CtlError::Usage(format!(
                    "--tenant {t:?} is not a tenant id (1-64 characters of A-Z a-z 0-9 . _ -)"
                )));
            }
            None => None,
        };
        Ok(Credentials {
            authorization,
            tenant,
        })
    }
}

impl tonic::service::Interceptor for Credentials {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let metadata = request.metadata_mut();
        if let Some(value) = &self.authorization {
            metadata.insert("authorization", value.clone());
        }
        if let Some(value) = &self.tenant {
            metadata.insert("x-switchboard-tenant", value.clone());
        }
        Ok(request)
    }
}

/// Dials the server and runs the TLS handshake for its host name.
#[derive(Clone)]
struct TlsDial {
    /// Host to dial and to verify the certificate for.
    host: String,
    /// Port to dial.
    port: u16,
    /// rustls with the trusted roots and `h2` offered by ALPN.
    connector: TlsConnector,
}

impl TlsDial {
    fn new(host: &str, port: u16, args: &CtlArgs) -> Result<TlsDial, CtlError> {
        let roots = roots(args.ca_cert.as_deref())?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| CtlError::Usage(format!("TLS: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"h2".to_vec()];
        // An IPv6 literal comes bracketed in a URI, not in a certificate.
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        Ok(TlsDial {
            host,
            port,
            connector: TlsConnector::from(Arc::new(config)),
        })
    }
}

/// The CAs to trust: `--ca-cert`, else the system bundle.
fn roots(ca_cert: Option<&Path>) -> Result<RootCertStore, CtlError> {
    let path = match ca_cert {
        Some(path) => path.to_owned(),
        None => std::env::var_os("SSL_CERT_FILE")
            .map(std::path::PathBuf::from)
            .or_else(|| {
                SYSTEM_BUNDLES
                    .iter()
                    .map(Path::new)
                    .find(|p| p.is_file())
                    .map(Path::to_owned)
            })
            .ok_or_else(|| {
                CtlError::Usage(
                    "https: no system CA bundle found; name the server's CA with --ca-cert"
                        .to_owned(),
                )
            })?,
    };
    let unreadable = |why: String| CtlError::Usage(format!("{}: {why}", path.display()));
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&path)
        .map_err(|e| unreadable(e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| unreadable(e.to_string()))?;
    let mut store = RootCertStore::empty();
    let (added, _ignored) = store.add_parsable_certificates(certs);
    if added == 0 {
        return Err(unreadable("no PEM certificate in it".to_owned()));
    }
    Ok(store)
}

impl tower_service::Service<Uri> for TlsDial {
    type Response = hyper_util::rt::TokioIo<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;
    type Error = std::io::Error;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>,
    >;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, _uri: Uri) -> Self::Future {
        let dial = self.clone();
        Box::pin(async move {
            let name = ServerName::try_from(dial.host.clone())
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
            let tcp = tokio::net::TcpStream::connect((dial.host.as_str(), dial.port)).await?;
            let tls = dial.connector.connect(name, tcp).await?;
            Ok(hyper_util::rt::TokioIo::new(tls))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_token_or_tenant_is_refused_before_sending() {
        assert!(Credentials::new(Some("ok.token"), Some("acme")).is_ok());
        assert!(matches!(
            Credentials::new(Some("line\nbreak"), None),
            Err(CtlError::Usage(_))
        ));
        assert!(matches!(
            Credentials::new(None, Some("no spaces")),
            Err(CtlError::Usage(_))
        ));
    }
}
