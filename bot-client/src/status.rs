//! Reading a server's own figures from its admin address (`GET /status`, JSON).

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Longest a status request may take.
const TIMEOUT: Duration = Duration::from_secs(2);
/// Largest status document read (a server with many clients lists each).
const MAX_BYTES: u64 = 16 * 1024 * 1024;

/// The server's `/status` document.
///
/// # Errors
/// If the server cannot be reached in time or does not answer 200 with JSON.
pub async fn fetch(admin: SocketAddr) -> anyhow::Result<serde_json::Value> {
    let body = fetch_path(admin, "/status").await?;
    serde_json::from_str(&body).with_context(|| format!("{admin}/status is not JSON"))
}

/// The body of `GET path` on the admin address (`/status`, `/metrics`).
///
/// # Errors
/// If the server cannot be reached in time or does not answer 200.
pub async fn fetch_path(admin: SocketAddr, path: &str) -> anyhow::Result<String> {
    let request = async {
        let mut stream = tokio::net::TcpStream::connect(admin).await?;
        stream
            .write_all(
                format!("GET {path} HTTP/1.1\r\nhost: tickwire\r\nconnection: close\r\n\r\n")
                    .as_bytes(),
            )
            .await?;
        let mut response = Vec::new();
        stream.take(MAX_BYTES).read_to_end(&mut response).await?;
        anyhow::Ok(response)
    };
    let response = tokio::time::timeout(TIMEOUT, request)
        .await
        .with_context(|| format!("{admin}{path} did not answer within {TIMEOUT:?}"))??;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .with_context(|| format!("{admin}{path}: not an HTTP response"))?;
    anyhow::ensure!(
        head.starts_with("HTTP/1.1 200"),
        "{admin}{path} answered {}",
        head.lines().next().unwrap_or_default()
    );
    Ok(body.to_owned())
}
