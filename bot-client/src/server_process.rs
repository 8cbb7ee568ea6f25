//! A Tickwire server in a child process, for runs whose server figures must be its own (its
//! memory and CPU apart from the bots'): the demo, the soak and the hostile-clients bench.
//!
//! The child is the calling program itself run with a `serve` argument (each binary that
//! spawns one hands that argument to [`serve`]); it prints where it listens as one JSON line
//! and runs until its stdin closes or it is signalled.

use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};
use tickwire_netcode::game::{Game, GameConfig};
use tickwire_server::{ConfigLayers, Server, ServerConfig};
use tickwire_sim::Builtin;

/// Where a server listens, as its child process announces it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Listening {
    /// The QUIC game address.
    pub game: SocketAddr,
    /// The admin HTTP address (`/status`, `/metrics`).
    pub admin: SocketAddr,
    /// SHA-256 of its certificate, for clients to pin.
    pub fingerprint: String,
}

impl Listening {
    /// Where `server` listens and the fingerprint to pin.
    ///
    /// # Errors
    /// If its socket is gone.
    pub fn of(server: &Server) -> Result<Self> {
        Ok(Self {
            game: server.game_addr()?,
            admin: server.admin_addr(),
            fingerprint: server.identity().fingerprint(),
        })
    }
}

/// The embedded default configuration's layers with `sets` (`key=value`) applied.
///
/// # Errors
/// A malformed assignment, named.
pub fn layers_with(sets: &[String]) -> Result<ConfigLayers> {
    let mut layers = ConfigLayers::new();
    for set in sets {
        layers.set(set, "--set")?;
    }
    Ok(layers)
}

/// The embedded default configuration with `sets` (`key=value`) applied, for a game
/// configured by a `C`.
///
/// # Errors
/// A bad key or value, named.
pub fn config_with<C: GameConfig>(sets: &[String]) -> Result<ServerConfig<C>> {
    Ok(layers_with(sets)?.load()?)
}

/// The built-in game `sets` select (`server.game`, the arena by default).
///
/// # Errors
/// A malformed assignment, or a game this program does not know.
pub fn game_of(sets: &[String]) -> Result<Builtin> {
    let layers = layers_with(sets)?;
    let name = layers.game().unwrap_or_default();
    name.parse()
        .with_context(|| format!("server.game = {name:?}"))
}

/// [`serve`] for the game `sets` select, on the embedded default with `sets` applied.
///
/// # Errors
/// A bad configuration, or the server cannot start.
pub async fn serve_sets(sets: &[String]) -> Result<()> {
    match game_of(sets)? {
        Builtin::Arena => serve::<tickwire_sim::arena::Arena>(&config_with(sets)?).await,
        Builtin::Cubes3d => serve::<tickwire_sim::cubes3d::Cubes3d>(&config_with(sets)?).await,
    }
}

/// The `--set`s this program was given when it was started as a server child
/// (`PROGRAM serve --set KEY=VALUE …`), `None` when it was not: a binary that spawns
/// [`ServerProcess`]es of itself asks this first and, if so, runs [`serve`].
#[must_use]
pub fn child_sets() -> Option<Vec<String>> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    (argv.first().map(String::as_str) == Some("serve")).then(|| {
        argv.get(1..)
            .unwrap_or_default()
            .chunks(2)
            .filter_map(|pair| match pair {
                [flag, value] if flag == "--set" => Some(value.clone()),
                _ => None,
            })
            .collect()
    })
}

/// The child's side: starts a server on `config`, prints its [`Listening`] line, and runs
/// until stdin closes, Ctrl-C or SIGTERM; then says goodbye to its clients.
///
/// # Errors
/// If the server cannot start.
pub async fn serve<G: Game>(config: &ServerConfig<G::Config>) -> Result<()> {
    let server = Server::start::<G>(config).await?;
    let listening = Listening::of(&server)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", serde_json::to_string(&listening)?)?;
    out.flush()?;
    drop(out);
    let stdin_closed = async {
        use tokio::io::AsyncReadExt;
        let mut stdin = tokio::io::stdin();
        let mut buf = [0u8; 64];
        while matches!(stdin.read(&mut buf).await, Ok(n) if n > 0) {}
    };
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        () = stdin_closed => {}
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    server.shutdown("run over").await;
    Ok(())
}

/// A server child process. Dropping it stops the server (gracefully, then by force).
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    /// Where it listens.
    pub listening: Listening,
}

impl ServerProcess {
    /// Runs `exe serve --set KEY=VALUE …` (with `sets`), its stderr going to `stderr`, and
    /// waits for it to say where it listens.
    ///
    /// # Errors
    /// If it cannot start or says something else first.
    pub async fn spawn(exe: &Path, sets: &[String], stderr: Stdio) -> Result<Self> {
        let mut child = Command::new(exe)
            .arg("serve")
            .args(sets.iter().flat_map(|s| ["--set", s.as_str()]))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("cannot start the server process {}", exe.display()))?;
        let stdout = child.stdout.take().context("no server stdout")?;
        // From here a failure drops the half-started child, which stops it.
        let mut process = Self {
            child,
            listening: Listening {
                game: SocketAddr::from(([0, 0, 0, 0], 0)),
                admin: SocketAddr::from(([0, 0, 0, 0], 0)),
                fingerprint: String::new(),
            },
        };
        let line = tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            std::io::BufReader::new(stdout)
                .read_line(&mut line)
                .map(|_| line)
        })
        .await??;
        process.listening = serde_json::from_str(&line)
            .with_context(|| format!("the server did not start (it said {line:?})"))?;
        Ok(process)
    }

    /// Its process id.
    #[must_use]
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Stops it gracefully (its clients get a goodbye) and returns how it exited.
    ///
    /// # Errors
    /// If it cannot be waited for.
    pub fn stop(mut self) -> Result<ExitStatus> {
        drop(self.child.stdin.take());
        for _ in 0..250 {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.child.kill()?;
        Ok(self.child.wait()?)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        drop(self.child.stdin.take()); // a graceful stop first
        for _ in 0..50 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
