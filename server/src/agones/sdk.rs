//! A client of the Agones SDK sidecar's HTTP/JSON gateway (the REST face of its gRPC SDK):
//! lifecycle calls, the GameServer and its watch stream, and Lists. Every call is bounded by
//! a timeout; none is made from a tick thread.

use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;

use super::gameserver::{GameServer, List};

/// Longest a call waits for the sidecar.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(2);

/// A call to the sidecar failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SdkError {
    /// Nothing answered (the sidecar is not running, or not yet).
    #[error("cannot reach the Agones SDK server at {url}")]
    Unreachable {
        /// What was called.
        url: String,
        /// Why.
        #[source]
        source: hyper_util::client::legacy::Error,
    },
    /// It answered with an error.
    #[error("the Agones SDK server answered {status} to {path}: {message}")]
    Status {
        /// What was called.
        path: String,
        /// The HTTP status.
        status: StatusCode,
        /// Its message.
        message: String,
    },
    /// It did not answer in time.
    #[error("the Agones SDK server did not answer {path} within {CALL_TIMEOUT:?}")]
    Timeout {
        /// What was called.
        path: String,
    },
    /// Its answer was cut short.
    #[error("reading the Agones SDK server's answer to {path}")]
    Body {
        /// What was called.
        path: String,
        /// Why.
        #[source]
        source: hyper::Error,
    },
    /// Its answer was not the JSON expected.
    #[error("unexpected JSON from the Agones SDK server for {path}")]
    Json {
        /// What was called.
        path: String,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
}

impl SdkError {
    /// The sidecar's message for an error answer, if it was one.
    #[must_use]
    pub fn message(&self) -> Option<&str> {
        match self {
            Self::Status { message, .. } => Some(message),
            _ => None,
        }
    }
}

/// The sidecar's HTTP/JSON gateway on localhost.
#[derive(Clone, Debug)]
pub struct SdkClient {
    base: String,
    client: Client<HttpConnector, Full<Bytes>>,
}

/// The gateway's error body (a gRPC status).
#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    message: String,
}

/// One line of the watch stream.
#[derive(Deserialize)]
struct WatchLine {
    #[serde(default)]
    result: Option<GameServer>,
    #[serde(default)]
    error: Option<ErrorBody>,
}

impl SdkClient {
    /// A client of the sidecar at `127.0.0.1:port`.
    #[must_use]
    pub fn new(port: u16) -> Self {
        Self {
            base: format!("http://127.0.0.1:{port}"),
            client: Client::builder(TokioExecutor::new()).build(HttpConnector::new()),
        }
    }

    /// Tells Agones the server is ready for players.
    ///
    /// # Errors
    /// The call failed.
    pub async fn ready(&self) -> Result<(), SdkError> {
        self.call(Method::POST, "/ready", "{}").await.map(drop)
    }

    /// One health ping.
    ///
    /// # Errors
    /// The call failed.
    pub async fn health(&self) -> Result<(), SdkError> {
        self.call(Method::POST, "/health", "{}").await.map(drop)
    }

    /// Asks Agones to shut the GameServer down.
    ///
    /// # Errors
    /// The call failed.
    pub async fn shutdown(&self) -> Result<(), SdkError> {
        self.call(Method::POST, "/shutdown", "{}").await.map(drop)
    }

    /// Marks the GameServer allocated (what an allocator does; for tests and tools).
    ///
    /// # Errors
    /// The call failed.
    pub async fn allocate(&self) -> Result<(), SdkError> {
        self.call(Method::POST, "/allocate", "{}").await.map(drop)
    }

    /// The GameServer as Agones sees it now.
    ///
    /// # Errors
    /// The call failed, or its answer was not a GameServer.
    pub async fn game_server(&self) -> Result<GameServer, SdkError> {
        let body = self.call(Method::GET, "/gameserver", "").await?;
        json("/gameserver", &body)
    }

    /// The List `name`.
    ///
    /// # Errors
    /// The call failed (no such List, among others).
    pub async fn list(&self, name: &str) -> Result<List, SdkError> {
        let path = format!("/v1beta1/lists/{name}");
        let body = self.call(Method::GET, &path, "").await?;
        json(&path, &body)
    }

    /// Adds `value` to the List `name`; a value already there is not an error.
    ///
    /// # Errors
    /// The call failed.
    pub async fn add_list_value(&self, name: &str, value: &str) -> Result<(), SdkError> {
        let path = format!("/v1beta1/lists/{name}:addValue");
        let body = serde_json::json!({ "value": value }).to_string();
        match self.call(Method::POST, &path, &body).await {
            Err(e) if e.message().is_some_and(|m| m.starts_with("already exists")) => Ok(()),
            other => other.map(drop),
        }
    }

    /// Removes `value` from the List `name`; a value not there is not an error.
    ///
    /// # Errors
    /// The call failed.
    pub async fn remove_list_value(&self, name: &str, value: &str) -> Result<(), SdkError> {
        let path = format!("/v1beta1/lists/{name}:removeValue");
        let body = serde_json::json!({ "value": value }).to_string();
        match self.call(Method::POST, &path, &body).await {
            Err(e)
                if e.message().is_some_and(|m| {
                    m.starts_with("not found") && m.contains("not found in List")
                }) =>
            {
                Ok(())
            }
            other => other.map(drop),
        }
    }

    /// Sets the capacity of the List `name`.
    ///
    /// # Errors
    /// The call failed.
    pub async fn set_list_capacity(&self, name: &str, capacity: u64) -> Result<(), SdkError> {
        let path = format!("/v1beta1/lists/{name}?update_mask=capacity");
        let body = serde_json::json!({ "capacity": capacity.to_string() }).to_string();
        self.call(Method::PATCH, &path, &body).await.map(drop)
    }

    /// Starts watching the GameServer: every change arrives on the stream.
    ///
    /// # Errors
    /// The sidecar cannot be reached or refuses.
    pub async fn watch(&self) -> Result<Watch, SdkError> {
        let path = "/watch/gameserver";
        let response = tokio::time::timeout(CALL_TIMEOUT, self.send(Method::GET, path, ""))
            .await
            .map_err(|_| SdkError::Timeout {
                path: path.to_owned(),
            })??;
        let status = response.status();
        if !status.is_success() {
            let body = collect(path, response.into_body()).await?;
            return Err(error_answer(path, status, &body));
        }
        Ok(Watch {
            body: response.into_body(),
            pending: Vec::new(),
        })
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: &str,
    ) -> Result<hyper::Response<Incoming>, SdkError> {
        let url = format!("{}{path}", self.base);
        let request = Request::builder()
            .method(method)
            .uri(&url)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::copy_from_slice(body.as_bytes())));
        // Only a malformed URI fails to build, and every path here is a constant or a List
        // name the config checked.
        let Ok(request) = request else {
            return Err(SdkError::Status {
                path: path.to_owned(),
                status: StatusCode::BAD_REQUEST,
                message: "not a valid request URI".to_owned(),
            });
        };
        self.client
            .request(request)
            .await
            .map_err(|source| SdkError::Unreachable { url, source })
    }

    async fn call(&self, method: Method, path: &str, body: &str) -> Result<Bytes, SdkError> {
        let exchange = async {
            let response = self.send(method, path, body).await?;
            let status = response.status();
            let body = collect(path, response.into_body()).await?;
            if status.is_success() {
                Ok(body)
            } else {
                Err(error_answer(path, status, &body))
            }
        };
        tokio::time::timeout(CALL_TIMEOUT, exchange)
            .await
            .map_err(|_| SdkError::Timeout {
                path: path.to_owned(),
            })?
    }
}

async fn collect(path: &str, body: Incoming) -> Result<Bytes, SdkError> {
    body.collect()
        .await
        .map(http_body_util::Collected::to_bytes)
        .map_err(|source| SdkError::Body {
            path: path.to_owned(),
            source,
        })
}

fn error_answer(path: &str, status: StatusCode, body: &[u8]) -> SdkError {
    let message = serde_json::from_slice::<ErrorBody>(body)
        .map(|e| e.message)
        .unwrap_or_else(|_| String::from_utf8_lossy(body).into_owned());
    SdkError::Status {
        path: path.to_owned(),
        status,
        message,
    }
}

fn json<T: serde::de::DeserializeOwned>(path: &str, body: &[u8]) -> Result<T, SdkError> {
    serde_json::from_slice(body).map_err(|source| SdkError::Json {
        path: path.to_owned(),
        source,
    })
}

/// The GameServer's changes, one JSON object per line of a streamed answer.
#[derive(Debug)]
pub struct Watch {
    body: Incoming,
    pending: Vec<u8>,
}

impl Watch {
    /// The next GameServer, or `None` when the stream ends.
    pub async fn next(&mut self) -> Option<Result<GameServer, SdkError>> {
        const PATH: &str = "/watch/gameserver";
        loop {
            if let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=end).collect();
                if let Some(parsed) = parse_watch_line(&line) {
                    return Some(parsed);
                }
                continue;
            }
            match self.body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.pending.extend_from_slice(&data);
                    }
                }
                Some(Err(source)) => {
                    return Some(Err(SdkError::Body {
                        path: PATH.to_owned(),
                        source,
                    }));
                }
                None => {
                    let rest = std::mem::take(&mut self.pending);
                    return parse_watch_line(&rest);
                }
            }
        }
    }
}

/// A line of the watch stream: a GameServer, an error, or nothing (blank).
fn parse_watch_line(line: &[u8]) -> Option<Result<GameServer, SdkError>> {
    const PATH: &str = "/watch/gameserver";
    if line.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    Some(match json::<WatchLine>(PATH, line) {
        Ok(WatchLine {
            result: Some(server),
            ..
        }) => Ok(server),
        Ok(WatchLine { error, .. }) => Err(SdkError::Status {
            path: PATH.to_owned(),
            status: StatusCode::OK,
            message: error.map_or_else(|| "neither result nor error".to_owned(), |e| e.message),
        }),
        Err(e) => Err(e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watch_lines_are_game_servers_errors_or_blank() {
        let gs = parse_watch_line(br#"{"result":{"status":{"state":"Allocated"}}}"#);
        assert!(matches!(gs, Some(Ok(ref g)) if g.status.state == "Allocated"));
        let err = parse_watch_line(br#"{"error":{"code":14,"message":"gone"}}"#);
        assert!(matches!(err, Some(Err(ref e)) if e.message() == Some("gone")));
        assert!(parse_watch_line(b"  \n").is_none());
        assert!(matches!(
            parse_watch_line(b"{nope"),
            Some(Err(SdkError::Json { .. }))
        ));
    }
}
