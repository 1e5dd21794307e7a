//! The console's static files, embedded with `include_bytes!` so the binary needs no
//! asset directory and the build no JavaScript toolchain: plain HTML, CSS and ES
//! modules, protobuf.js vendored unchanged, and the contract's `.proto` files, which
//! the page parses to encode and decode the messages it bridges.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// One embedded file.
struct Asset {
    /// Path under its prefix.
    name: &'static str,
    /// `Content-Type`.
    content_type: &'static str,
    /// The bytes.
    body: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $type:expr) => {
        Asset {
            name: $name,
            content_type: $type,
            body: include_bytes!(concat!("assets/", $name)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Files under `/console/assets/`.
const ASSETS: &[Asset] = &[
    asset!("console.css", "text/css; charset=utf-8"),
    asset!("app.js", JS),
    asset!("grpc.js", JS),
    asset!("chat.js", JS),
    asset!("desk.js", JS),
    asset!("wallboard.js", JS),
    asset!("dom.js", JS),
    asset!("vendor/protobuf.min.js", JS),
    asset!("vendor/protobufjs.LICENSE", "text/plain; charset=utf-8"),
];

macro_rules! proto {
    ($name:literal) => {
        Asset {
            name: concat!("switchboard/v1/", $name),
            content_type: "text/plain; charset=utf-8",
            body: include_bytes!(concat!("../../proto/switchboard/v1/", $name)),
        }
    };
}

/// The contract under `/console/proto/`, as the import paths name it.
const PROTOS: &[Asset] = &[
    proto!("common.proto"),
    proto!("gateway.proto"),
    proto!("desk.proto"),
    proto!("admin.proto"),
    proto!("bots.proto"),
    proto!("outbound.proto"),
];

/// The page: scripts from this server only (protobuf.js compiles its coders with
/// `new Function`, hence `unsafe-eval`), sockets to this server only, never framed.
const CSP: &str = "default-src 'self'; script-src 'self' 'unsafe-eval'; \
                   connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'";

fn serve(asset: &Asset) -> Response {
    let mut response = asset.body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    // The files change with the binary: always ask again (cheap, and never stale).
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

fn find(list: &[Asset], name: &str) -> Response {
    match list.iter().find(|a| a.name == name) {
        Some(asset) => serve(asset),
        None => (StatusCode::NOT_FOUND, format!("no console file {name:?}\n")).into_response(),
    }
}

/// `GET /`: the console page (its views are `#chat`, `#desk` and `#wallboard`).
pub async fn index() -> Response {
    let mut response = serve(&Asset {
        name: "index.html",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("assets/index.html"),
    });
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    response
}

/// `GET /console/assets/{file}`.
pub async fn asset(Path(file): Path<String>) -> Response {
    find(ASSETS, &file)
}

/// `GET /console/proto/{file}`: the contract the page parses.
pub async fn proto(Path(file): Path<String>) -> Response {
    find(PROTOS, &file)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `.proto` file added to the contract must be served, and parsed by the page,
    /// or the page's contract would lack its types (or fail to resolve an import).
    #[test]
    fn every_contract_file_is_served_and_parsed() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/proto/switchboard/v1");
        let grpc_js = std::str::from_utf8(
            ASSETS
                .iter()
                .find(|a| a.name == "grpc.js")
                .expect("grpc.js")
                .body,
        )
        .unwrap();
        for entry in std::fs::read_dir(dir).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            let Some(stem) = name.strip_suffix(".proto") else {
                continue;
            };
            let served = format!("switchboard/v1/{name}");
            assert!(
                PROTOS.iter().any(|p| p.name == served),
                "{name}: add it to PROTOS in src/console/assets.rs"
            );
            assert!(
                grpc_js.contains(&format!("\"{stem}\"")),
                "{name}: add \"{stem}\" to FILES in src/console/assets/grpc.js"
            );
        }
    }

    #[test]
    fn files_are_found_by_name_and_others_are_not() {
        let found = find(ASSETS, "app.js");
        assert_eq!(found.status(), StatusCode::OK);
        assert_eq!(found.headers()[header::CONTENT_TYPE], JS);
        assert_eq!(
            find(ASSETS, "../Cargo.toml").status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            find(PROTOS, "switchboard/v1/desk.proto").status(),
            StatusCode::OK
        );
    }
}
