//! TLS on the gRPC port: a real rustls client over loopback, client certificates
//! mapped to principals (mTLS), and certificates rotated in place without a restart
//! or a dropped stream.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use switchboard::api::pb;
use switchboard::api::pb::channel_gateway_client::ChannelGatewayClient;
use switchboard::auth::api_keys::{CertificateEntry, KeyFile};
use switchboard::transport::TlsSettings;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use tonic::Code;
use tonic::transport::{Channel, Endpoint, Uri};

use crate::common::{message, spawn_server, test_config};

/// A certificate authority for one test.
struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
    der: CertificateDer<'static>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Ca {
            pem: cert.pem(),
            der: cert.der().clone(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A leaf certificate for `names`, as (cert PEM, key PEM, cert DER, key DER).
    fn leaf(&self, names: &[&str], client: bool) -> Leaf {
        let mut params =
            CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
                .unwrap();
        params.extended_key_usages = vec![if client {
            ExtendedKeyUsagePurpose::ClientAuth
        } else {
            ExtendedKeyUsagePurpose::ServerAuth
        }];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().clone(),
            key_der: PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
        }
    }
}

struct Leaf {
    cert_pem: String,
    key_pem: String,
    cert_der: CertificateDer<'static>,
    key_der: PrivateKeyDer<'static>,
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sb-tls-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes a file atomically (a rename), as cert-manager's projected volumes do.
fn write(path: &Path, contents: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, contents).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// A gRPC channel over TLS trusting `ca`, presenting `client` if given.
async fn connect(
    addr: std::net::SocketAddr,
    ca: &CertificateDer<'static>,
    client: Option<&Leaf>,
) -> Result<Channel, tonic::transport::Error> {
    let mut roots = RootCertStore::empty();
    roots.add(ca.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let mut config = match client {
        Some(leaf) => builder
            .with_client_auth_cert(vec![leaf.cert_der.clone()], leaf.key_der.clone_key())
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    let connector = TlsConnector::from(Arc::new(config));
    Endpoint::from_shared(format!("http://localhost:{}", addr.port()))
        .unwrap()
        .connect_with_connector(TlsDial { addr, connector })
        .await
}

/// Dials loopback and runs the TLS handshake for server name `localhost`.
#[derive(Clone)]
struct TlsDial {
    addr: std::net::SocketAddr,
    connector: TlsConnector,
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
        let (addr, connector) = (self.addr, self.connector.clone());
        Box::pin(async move {
            let tcp = tokio::net::TcpStream::connect(addr).await?;
            let name = ServerName::try_from("localhost").unwrap();
            let tls = connector.connect(name, tcp).await?;
            Ok(hyper_util::rt::TokioIo::new(tls))
        })
    }
}

/// Server TLS settings with files in `dir`.
fn tls_files(dir: &Path, ca: &Ca, client_ca: Option<&Ca>) -> TlsSettings {
    let leaf = ca.leaf(&["localhost"], false);
    let (cert, key) = (dir.join("tls.crt"), dir.join("tls.key"));
    write(&cert, &leaf.cert_pem);
    write(&key, &leaf.key_pem);
    let client_ca_file = client_ca.map(|c| {
        let path = dir.join("client-ca.crt");
        write(&path, &c.pem);
        path
    });
    TlsSettings {
        cert_file: Some(cert),
        key_file: Some(key),
        require_client_cert: client_ca_file.is_some(),
        client_ca_file,
        reload_secs: 1,
    }
}

#[tokio::test]
async fn a_tls_client_is_served_and_a_plaintext_one_is_not() {
    let dir = scratch("plain");
    let ca = Ca::new("test ca");
    let mut config = test_config();
    config.tls = tls_files(&dir, &ca, None);
    let server = spawn_server(config).await;
    let channel = connect(server.addr, &ca.der, None).await.unwrap();
    let response = ChannelGatewayClient::new(channel)
        .submit(message("over-tls", 0.0, "hello"))
        .await
        .unwrap()
        .into_inner();
    assert!(response.created);
    // A client speaking plaintext HTTP/2 to the TLS port gets nowhere.
    let plain = Endpoint::from_shared(format!("http://{}", server.addr))
        .unwrap()
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(2));
    let refused = match plain.connect().await {
        Err(_) => true,
        Ok(channel) => ChannelGatewayClient::new(channel)
            .submit(message("plain", 0.0, "hello"))
            .await
            .is_err(),
    };
    assert!(refused, "plaintext must not be served on a TLS port");
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn a_client_certificate_is_a_principal_and_none_is_refused() {
    let dir = scratch("mtls");
    let ca = Ca::new("server ca");
    let clients = Ca::new("client ca");
    let mut config = test_config();
    config.tls = tls_files(&dir, &ca, Some(&clients));
    let keys = dir.join("keys.toml");
    let file = KeyFile {
        keys: Vec::new(),
        certificates: vec![CertificateEntry {
            name: "web-1.adapters.acme.test".into(),
            tenant: "acme".into(),
            roles: vec!["adapter".into()],
            subject: "web-adapter".into(),
        }],
    };
    write(&keys, &toml::to_string(&file).unwrap());
    config.auth.api_keys_file = Some(keys);
    let server = spawn_server(config).await;

    let mapped = clients.leaf(&["web-1.adapters.acme.test"], true);
    let channel = connect(server.addr, &ca.der, Some(&mapped)).await.unwrap();
    let mut gateway = ChannelGatewayClient::new(channel);
    let response = gateway
        .submit(message("by-certificate", 0.0, "hello"))
        .await
        .unwrap()
        .into_inner();
    assert!(response.created);
    // The certificate's principal holds adapter id web-adapter, no other.
    let mut other = message("as-another-adapter", 0.0, "hello");
    other.adapter_id = "web-2".into();
    let denied = gateway.submit(other).await.unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);

    // A verified certificate the key file does not map proves nobody.
    let unmapped = clients.leaf(&["stranger.test"], true);
    let channel = connect(server.addr, &ca.der, Some(&unmapped))
        .await
        .unwrap();
    let refused = ChannelGatewayClient::new(channel)
        .submit(message("unmapped", 0.0, "hello"))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);

    // Without a client certificate the handshake itself fails.
    let no_cert = match connect(server.addr, &ca.der, None).await {
        Err(_) => true,
        Ok(channel) => ChannelGatewayClient::new(channel)
            .submit(message("no-cert", 0.0, "hello"))
            .await
            .is_err(),
    };
    assert!(no_cert, "mTLS requires a client certificate");
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn rotated_certificates_serve_new_connections_and_open_streams_carry_on() {
    let dir = scratch("rotate");
    let old_ca = Ca::new("old ca");
    let mut config = test_config();
    config.tls = tls_files(&dir, &old_ca, None);
    let settings = config.tls.clone();
    let server = spawn_server(config).await;

    // An adapter stream opened over the old certificate.
    let channel = connect(server.addr, &old_ca.der, None).await.unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    tx.send(pb::AdapterFrame {
        frame: Some(pb::adapter_frame::Frame::Hello(pb::AdapterHello {
            adapter_id: "web-adapter".into(),
        })),
    })
    .await
    .unwrap();
    let mut stream = ChannelGatewayClient::new(channel)
        .session(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    assert!(matches!(
        stream.message().await.unwrap().unwrap().frame,
        Some(pb::gateway_frame::Frame::Welcome(_))
    ));

    // cert-manager writes a certificate from a new CA in place.
    let new_ca = Ca::new("new ca");
    let leaf = new_ca.leaf(&["localhost"], false);
    write(settings.key_file.as_ref().unwrap(), &leaf.key_pem);
    write(settings.cert_file.as_ref().unwrap(), &leaf.cert_pem);
    let mut rotated = false;
    for _ in 0..50 {
        if let Ok(channel) = connect(server.addr, &new_ca.der, None).await
            && ChannelGatewayClient::new(channel)
                .submit(message("after-rotation", 0.0, "hello"))
                .await
                .is_ok()
        {
            rotated = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(rotated, "new connections get the rotated certificate");
    assert!(
        connect(server.addr, &old_ca.der, None).await.is_err(),
        "the old certificate is no longer served"
    );

    // The stream opened before the rotation still works.
    let mut msg = message("old-stream", 0.0, "still here");
    msg.client_message_id = "m1".into();
    tx.send(pb::AdapterFrame {
        frame: Some(pb::adapter_frame::Frame::Message(msg)),
    })
    .await
    .unwrap();
    let accepted = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match stream.message().await.unwrap().unwrap().frame {
                Some(pb::gateway_frame::Frame::Accepted(a)) => return a,
                _ => continue,
            }
        }
    })
    .await
    .expect("the open stream is still served");
    assert_eq!(accepted.client_message_id, "m1");
    std::fs::remove_dir_all(&dir).ok();
}
