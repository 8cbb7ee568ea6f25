//! Agones's own SDK server in local mode (no Kubernetes), as a child process: what the
//! end-to-end tests run the server against, and a way to try a fleet's lifecycle on a
//! laptop. Its log is kept line by line with the time each line arrived.

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Where the team's machines keep the SDK server, relative to a checkout's root; the
/// `TICKWIRE_AGONES_SDK_SERVER` environment variable overrides it.
pub const SHARED_PATH: &str = "../shared/agones/sdk-server";

/// The SDK server binary for the checkout at `workspace_root`, if there is one; otherwise
/// why not (a clone outside the team's machines has none).
///
/// # Errors
/// Where it looked, when it is not there.
pub fn find(workspace_root: &Path) -> Result<PathBuf, String> {
    let path = std::env::var_os("TICKWIRE_AGONES_SDK_SERVER")
        .map_or_else(|| workspace_root.join(SHARED_PATH), PathBuf::from);
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "no Agones SDK server at {} (set TICKWIRE_AGONES_SDK_SERVER to one)",
            path.display()
        ))
    }
}

/// A GameServer for the local SDK server: `name`, a health period of `health_period_s`, a
/// `players` List of capacity 1000, and `annotations` (what an allocation would set), with
/// the `status` local mode needs (in a cluster the controller fills it from the spec).
#[must_use]
pub fn game_server_yaml(name: &str, health_period_s: u32, annotations: &[(&str, &str)]) -> String {
    use std::fmt::Write as _;
    let mut yaml = format!(
        "apiVersion: agones.dev/v1\nkind: GameServer\nmetadata:\n  name: {name}\n  annotations:\n"
    );
    for (key, value) in annotations {
        let _ = writeln!(yaml, "    {key}: {value:?}");
    }
    let _ = write!(
        yaml,
        "spec:\n  health:\n    periodSeconds: {health_period_s}\n  lists:\n    players:\n      \
         capacity: 1000\nstatus:\n  state: Scheduled\n  lists:\n    players:\n      \
         capacity: 1000\n"
    );
    yaml
}

/// A running local SDK server; killed when dropped.
#[derive(Debug)]
pub struct LocalSdkServer {
    /// The GameServer file it was started with, when it wrote it itself (removed on drop).
    own_file: Option<PathBuf>,
    child: Child,
    /// Its HTTP/JSON gateway's port on 127.0.0.1 (`AGONES_SDK_HTTP_PORT`).
    pub http_port: u16,
    /// Its gRPC port on 127.0.0.1 (`AGONES_SDK_GRPC_PORT`).
    pub grpc_port: u16,
    log: Arc<Mutex<Vec<(Instant, String)>>>,
}

impl LocalSdkServer {
    /// Starts `binary --local --file game_server` on two free ports and waits (at most
    /// 10 s) until its HTTP gateway accepts connections.
    ///
    /// # Errors
    /// It cannot be started, or does not listen in time.
    pub fn start(binary: &Path, game_server: &Path) -> std::io::Result<Self> {
        let http_port = free_port()?;
        let grpc_port = free_port()?;
        let mut child = Command::new(binary)
            .args(["--local", "--file"])
            .arg(game_server)
            .args(["--http-port", &http_port.to_string()])
            .args(["--grpc-port", &grpc_port.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let log = Arc::new(Mutex::new(Vec::new()));
        let streams: [Option<Box<dyn std::io::Read + Send>>; 2] = [
            child.stdout.take().map(|s| Box::new(s) as _),
            child.stderr.take().map(|s| Box::new(s) as _),
        ];
        for stream in streams.into_iter().flatten() {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    log.lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push((Instant::now(), line));
                }
            });
        }
        let server = Self {
            own_file: None,
            child,
            http_port,
            grpc_port,
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect((Ipv4Addr::LOCALHOST, http_port)).is_err() {
            if Instant::now() > deadline {
                return Err(std::io::Error::other(format!(
                    "the SDK server did not listen on {http_port} within 10 s; its log: {:?}",
                    server.log_lines()
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(server)
    }

    /// As [`start`](Self::start), with the GameServer given as YAML text (written to a file
    /// of its own in the temp directory, removed when the server is dropped).
    ///
    /// # Errors
    /// The file cannot be written, or as [`start`](Self::start).
    pub fn start_with(binary: &Path, game_server_yaml: &str) -> std::io::Result<Self> {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let file = std::env::temp_dir().join(format!(
            "tickwire-gameserver-{}-{}.yaml",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::write(&file, game_server_yaml)?;
        let started = Self::start(binary, &file);
        if started.is_err() {
            let _ = std::fs::remove_file(&file);
        }
        let mut server = started?;
        server.own_file = Some(file);
        Ok(server)
    }

    /// Every line it has logged so far.
    #[must_use]
    pub fn log_lines(&self) -> Vec<String> {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(_, line)| line.clone())
            .collect()
    }

    /// When each line containing `needle` arrived.
    #[must_use]
    pub fn times_of(&self, needle: &str) -> Vec<Instant> {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|(_, line)| line.contains(needle))
            .map(|(at, _)| *at)
            .collect()
    }
}

impl Drop for LocalSdkServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(file) = &self.own_file {
            let _ = std::fs::remove_file(file);
        }
    }
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}
