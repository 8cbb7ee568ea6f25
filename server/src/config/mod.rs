//! The server's configuration: one TOML file a designer can read.
//!
//! The documented default ([`DEFAULT_TOML`]) is embedded in the binary, so the server runs
//! with no file. [`ConfigLayers`] overlays files and single-key overrides on it, then
//! [`ConfigLayers::load`] deserializes and validates the result, naming the key, the value,
//! the allowed range and where the bad value came from.

mod layers;

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};
use std::time::Duration;
use tickwire_netcode::config::{ConfigError, check_range};

use tickwire_netcode::TickRate;
use tickwire_netcode::game::GameConfig;

pub use layers::{ConfigLayers, ConfigLoadError};

/// The documented default configuration, as shipped in `server/config/default.toml`.
pub const DEFAULT_TOML: &str = include_str!("../../config/default.toml");

/// The embedded default with the `[game]` section of a game configured by a `C`: the whole
/// default configuration as a designer reads it, every key documented.
#[must_use]
pub fn default_toml<C: GameConfig>() -> String {
    let mut out = with_game_server_defaults(DEFAULT_TOML, C::SERVER_TOML);
    out.push_str("\n[game]\n");
    for line in C::DEFAULT_TOML.lines() {
        // The game's own file is the section's content: its table headers nest under it.
        let trimmed = line.trim_start();
        let header = |open: &str| {
            trimmed.strip_prefix(open).filter(|rest| {
                rest.split(']').next().is_some_and(|name| {
                    !name.is_empty()
                        && name
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
                })
            })
        };
        if let Some(rest) = header("[[") {
            out.push_str("[[game.");
            out.push_str(rest);
        } else if let Some(rest) = header("[") {
            out.push_str("[game.");
            out.push_str(rest);
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

/// `text` (the server's documented defaults) with the values a game's
/// [`GameConfig::SERVER_TOML`] sets written in place, each marked as the game's.
fn with_game_server_defaults(text: &str, game: &str) -> String {
    let Ok(overrides) = game.parse::<toml::Table>() else {
        return text.to_owned();
    };
    let mut out = String::with_capacity(text.len());
    let mut section = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if let Some(name) = trimmed.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
            section = name.to_owned();
        }
        let key = trimmed.split('=').next().unwrap_or_default().trim();
        let value = (!trimmed.starts_with('#') && trimmed.contains('='))
            .then(|| overrides.get(&section)?.get(key))
            .flatten();
        match value {
            Some(value) => out.push_str(&format!("{key} = {value}  # the game's default")),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// The whole server configuration, for a game whose `[game]` section is a `C`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig<C> {
    /// Addresses and capacity.
    pub server: ServerSection,
    /// Simulation and snapshot rates, and the tick loop's timing.
    pub tick: TickSection,
    /// What the netcode needs: interpolation, lag compensation, input buffering, bandwidth.
    pub net: NetSection,
    /// The game's own values (`[game]`; each game documents its keys).
    pub game: C,
    /// The TLS certificate; empty paths mean a self-signed development certificate.
    pub tls: TlsSection,
    /// Who may join: anyone, or players with a seat token.
    pub auth: AuthSection,
    /// Running under Agones: lifecycle, health, players, allocation.
    pub agones: AgonesSection,
}

/// `[agones]`: the server as a GameServer of an Agones fleet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgonesSection {
    /// Talk to the Agones SDK sidecar even where its environment variables
    /// (`AGONES_SDK_HTTP_PORT`, `AGONES_SDK_GRPC_PORT`) are not set.
    pub enabled: bool,
    /// The sidecar's HTTP/JSON port on localhost; 0 takes `AGONES_SDK_HTTP_PORT`, or 9358.
    pub sdk_http_port: u16,
    /// Agones's health period (seconds): the server pings twice per period while every
    /// room ticks, and stops when any room has not ticked for a period. 0 reads the
    /// GameServer's `spec.health.periodSeconds`.
    pub health_period_s: u32,
    /// The Agones List the connected players are kept in (one value per player).
    pub players_list: String,
    /// Shut down once an allocated match's last player has left.
    pub shutdown_when_empty: bool,
}

/// `[auth]`: who may join.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSection {
    /// `open` (anyone who reaches the port) or `token` (a seat token from the matchmaker).
    pub mode: AuthMode,
    /// The key file tokens are checked against (token mode).
    pub key_file: String,
    /// Longest a token may still be valid when presented (seconds).
    pub max_token_ttl_s: u32,
}

/// Whether a server checks seat tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// Anyone who reaches the port may join.
    Open,
    /// Only clients with a valid, unused seat token.
    Token,
}

/// `[tls]`: the server's certificate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    /// PEM certificate chain, leaf first; empty for a self-signed development certificate.
    pub cert: String,
    /// PEM private key of that certificate; empty with `cert`.
    pub key: String,
}

/// `[server]`: addresses and capacity.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    /// The game hosted (`"arena"`, `"cubes3d"`): which `[game]` keys apply.
    pub game: String,
    /// UDP address of the QUIC game endpoint.
    pub bind: SocketAddr,
    /// HTTP address of the monitor, `/metrics` and `/status`.
    pub admin: SocketAddr,
    /// A file holding the bearer token the admin address requires; empty for none (only
    /// allowed on loopback).
    pub admin_token_file: String,
    /// UDP address of the WebTransport endpoint for browser players; empty turns it off.
    pub webtransport: String,
    /// Rooms started at launch.
    pub rooms: u32,
    /// Players one room accepts.
    pub max_clients_per_room: u32,
}

/// `[tick]`: rates and the tick loop's timing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TickSection {
    /// Simulation ticks per second (Hz).
    pub tick_hz: u32,
    /// Snapshots per second to each client (Hz); divides `tick_hz`.
    pub snapshot_hz: u32,
    /// Ticks run back to back after a stall before the rest are skipped.
    pub max_catch_up_ticks: u32,
    /// How close to a deadline the tick thread stops sleeping and spins (microseconds).
    pub spin_us: u32,
    /// SCHED_FIFO priority of the tick threads (1..=99); 0 leaves them to the normal
    /// scheduler.
    pub realtime_priority: u32,
}

/// `[net]`: netcode tunables.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetSection {
    /// Initial interpolation delay of remote entities (milliseconds).
    pub interpolation_delay_ms: u32,
    /// Furthest lag compensation rewinds (milliseconds).
    pub max_rewind_ms: u32,
    /// The least lead (ticks) clients aim for between an input's arrival and its tick.
    pub input_buffer_ticks: u32,
    /// Downstream budget per client (bytes per second).
    pub client_budget_bytes_per_s: u32,
    /// Largest snapshot datagram (bytes).
    pub max_datagram_bytes: u32,
    /// Silence after which a connection is dropped (milliseconds).
    pub idle_timeout_ms: u32,
    /// Keep-alive interval when nothing else is sent (milliseconds).
    pub keep_alive_ms: u32,
    /// UDP socket receive and send buffer asked of the kernel, each way (bytes).
    pub udp_buffer_bytes: u32,
}

impl<C: GameConfig> ServerConfig<C> {
    /// Checks every value against its range, and the rules that relate keys.
    ///
    /// # Errors
    /// The first [`ConfigError`] found, with its full dotted key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let Self {
            server,
            tick,
            net,
            game,
            tls,
            auth,
            agones,
        } = self;
        if server.game.is_empty() {
            return Err(ConfigError::invalid(
                "server.game",
                "\"\"",
                "name the game hosted (\"arena\", \"cubes3d\")",
            ));
        }
        if auth.mode == AuthMode::Token && auth.key_file.is_empty() {
            return Err(ConfigError::invalid(
                "auth.mode",
                "\"token\"",
                "token mode needs auth.key_file, the key file tokens are signed with \
                 (make one with `tickwire-server keygen --out PATH`)",
            ));
        }
        check_range("auth.max_token_ttl_s", auth.max_token_ttl_s, 1..=86_400)?;
        check_range("agones.health_period_s", agones.health_period_s, 0..=3600)?;
        // Agones names Lists as Kubernetes names labels: 1-63 characters.
        let list = &agones.players_list;
        if list.is_empty()
            || list.len() > 63
            || !list
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(ConfigError::invalid(
                "agones.players_list",
                format!("{list:?}"),
                "a List name of 1-63 letters, digits, '-', '_' or '.'",
            ));
        }
        // Name the key that was set: its layer is the one to fix.
        match (tls.cert.is_empty(), tls.key.is_empty()) {
            (false, true) => {
                return Err(ConfigError::invalid(
                    "tls.cert",
                    format!("{:?}", tls.cert),
                    "tls.key must be set too (or neither, for a self-signed certificate)",
                ));
            }
            (true, false) => {
                return Err(ConfigError::invalid(
                    "tls.key",
                    format!("{:?}", tls.key),
                    "tls.cert must be set too (or neither, for a self-signed certificate)",
                ));
            }
            _ => {}
        }
        if server.admin_token_file.is_empty() && !server.admin.ip().is_loopback() {
            return Err(ConfigError::invalid(
                "server.admin",
                server.admin,
                "reachable from other machines, so it needs a bearer token: set \
                 server.admin_token_file to a file holding one (or bind it to 127.0.0.1)",
            ));
        }
        if !server.webtransport.is_empty() {
            server.webtransport.parse::<SocketAddr>().map_err(|_| {
                ConfigError::invalid(
                    "server.webtransport",
                    format!("{:?}", server.webtransport),
                    "a UDP address like \"0.0.0.0:4434\", or \"\" for no browser players",
                )
            })?;
        }
        check_range("server.rooms", server.rooms, 1..=64)?;
        check_range(
            "server.max_clients_per_room",
            server.max_clients_per_room,
            1..=4096,
        )?;
        check_range(
            "tick.tick_hz",
            tick.tick_hz,
            TickRate::MIN_HZ..=TickRate::MAX_HZ,
        )?;
        check_range("tick.snapshot_hz", tick.snapshot_hz, 1..=tick.tick_hz)?;
        if tick.tick_hz % tick.snapshot_hz != 0 {
            let divisors: Vec<String> = (1..=tick.tick_hz)
                .filter(|d| tick.tick_hz % d == 0)
                .map(|d| d.to_string())
                .collect();
            return Err(ConfigError::invalid(
                "tick.snapshot_hz",
                tick.snapshot_hz,
                format!(
                    "must divide tick.tick_hz = {} evenly so snapshots are equally spaced; allowed {}",
                    tick.tick_hz,
                    divisors.join(", ")
                ),
            ));
        }
        check_range("tick.max_catch_up_ticks", tick.max_catch_up_ticks, 0..=60)?;
        check_range("tick.spin_us", tick.spin_us, 0..=2000)?;
        check_range("tick.realtime_priority", tick.realtime_priority, 0..=99)?;
        check_range(
            "net.interpolation_delay_ms",
            net.interpolation_delay_ms,
            0..=1000,
        )?;
        check_range("net.max_rewind_ms", net.max_rewind_ms, 0..=1000)?;
        check_range("net.input_buffer_ticks", net.input_buffer_ticks, 0..=16)?;
        check_range(
            "net.client_budget_bytes_per_s",
            net.client_budget_bytes_per_s,
            1000..=10_000_000,
        )?;
        check_range("net.max_datagram_bytes", net.max_datagram_bytes, 256..=1452)?;
        check_range("net.idle_timeout_ms", net.idle_timeout_ms, 1000..=600_000)?;
        check_range(
            "net.keep_alive_ms",
            net.keep_alive_ms,
            100..=net.idle_timeout_ms / 2,
        )?;
        check_range(
            "net.udp_buffer_bytes",
            net.udp_buffer_bytes,
            65_536..=268_435_456,
        )?;
        game.validate().map_err(|e| e.in_section("game"))
    }

    /// The WebTransport endpoint's address, if browsers may play (validated).
    #[must_use]
    pub fn webtransport_addr(&self) -> Option<SocketAddr> {
        self.server.webtransport.parse().ok()
    }

    /// The simulation's tick rate.
    ///
    /// # Errors
    /// If `tick.tick_hz` is out of range (never after [`validate`](Self::validate)).
    pub fn tick_rate(&self) -> Result<TickRate, ConfigError> {
        TickRate::new(self.tick.tick_hz)
            .map_err(|_| ConfigError::invalid("tick.tick_hz", self.tick.tick_hz, "out of range"))
    }

    /// Ticks between two snapshots to one client.
    #[must_use]
    pub fn snapshot_interval_ticks(&self) -> u32 {
        (self.tick.tick_hz / self.tick.snapshot_hz.max(1)).max(1)
    }

    /// The tick thread's spin margin.
    #[must_use]
    pub fn spin(&self) -> Duration {
        Duration::from_micros(u64::from(self.tick.spin_us))
    }

    /// Checks that `new` differs from `self` only in what a running server can take live:
    /// gameplay values (everything in `[game]` but what the game's
    /// [`GameConfig::restart_keys`] names: for the arena, its shape), `tick.snapshot_hz`,
    /// `net.interpolation_delay_ms` and `auth.key_file` (whose keys a reload reads again).
    ///
    /// # Errors
    /// The keys (or sections) that changed but need a restart.
    pub fn live_changes(&self, new: &Self) -> Result<(), Vec<String>> {
        let checks: [(&str, bool); 7] = [
            ("server", self.server != new.server),
            ("agones", self.agones != new.agones),
            (
                "tick (other than snapshot_hz)",
                differs_besides(&self.tick, &new.tick, |t| t.snapshot_hz = 0),
            ),
            ("tls", self.tls != new.tls),
            ("auth.mode", self.auth.mode != new.auth.mode),
            (
                "auth.max_token_ttl_s",
                self.auth.max_token_ttl_s != new.auth.max_token_ttl_s,
            ),
            (
                "net (other than interpolation_delay_ms)",
                differs_besides(&self.net, &new.net, |n| n.interpolation_delay_ms = 0),
            ),
        ];
        let restart: Vec<String> = checks
            .iter()
            .filter(|(_, changed)| *changed)
            .map(|(key, _)| (*key).to_owned())
            .chain(
                self.game
                    .restart_keys(&new.game)
                    .into_iter()
                    .map(|key| format!("game.{key}")),
            )
            .collect();
        if restart.is_empty() {
            Ok(())
        } else {
            Err(restart)
        }
    }

    /// The QUIC transport settings.
    #[must_use]
    pub fn transport(&self) -> tickwire_netcode::quic::GameTransport {
        tickwire_netcode::quic::GameTransport {
            idle_timeout: Duration::from_millis(u64::from(self.net.idle_timeout_ms)),
            keep_alive: Duration::from_millis(u64::from(self.net.keep_alive_ms)),
            udp_buffer_bytes: self.net.udp_buffer_bytes as usize,
            ..tickwire_netcode::quic::GameTransport::default()
        }
    }

    /// The effective configuration as TOML, for `--check-config` and logs.
    ///
    /// # Errors
    /// Never for a deserialized config; the error type is TOML's.
    pub fn to_toml(&self) -> Result<String, toml::ser::Error> {
        toml::to_string_pretty(self)
    }
}

/// Whether `a` and `b` differ in anything but what `forget` clears.
fn differs_besides<T: Clone + PartialEq>(a: &T, b: &T, forget: impl Fn(&mut T)) -> bool {
    let (mut a, mut b) = (a.clone(), b.clone());
    forget(&mut a);
    forget(&mut b);
    a != b
}

#[cfg(test)]
mod tests;
