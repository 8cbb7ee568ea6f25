//! The Tickwire server: configuration, rooms, and the tick loop.
//!
//! The binary (`tickwire-server`) is a thin shell over this library, which the bot demo and
//! the end-to-end tests also start in-process.
//!
//! - [`config`]: the designer's TOML file, layered over the embedded default and validated.
//! - [`clock`]: the one place the server reads the time and sleeps (hybrid sleep + spin).
//! - [`tick_loop`]: absolute tick deadlines, bounded catch-up, counted skips.
//! - [`room_core`]: one room's game and netcode, sans-IO.
//! - [`room`]: one match — a [`room_core::RoomCore`] and the thread that ticks it.
//! - [`rate_limit`]: each client's datagram size and rate limit.
//! - [`stats`]: tick duration and lateness distributions.
//! - [`endpoint`]: the QUIC endpoint: TLS identity, accepting connections, each one's task.
//! - [`webtransport`]: the WebTransport endpoint browsers play through.
//! - [`auth`]: who may join (open, or seat tokens).
//! - [`recorder`]: the Prometheus recorder and what each metric means.
//! - [`admin`]: the admin HTTP address (`/metrics`, `/status`, kicking).
//! - [`link`]: a player's connection, native QUIC or WebTransport, as rooms use it.
//! - [`presence`]: who is connected, for rosters outside the rooms.
//! - [`agones`]: running as a GameServer of an Agones fleet (Ready, health, players,
//!   allocation, shutdown).
//! - [`launch`]: a whole server (rooms, QUIC endpoint, admin address) from a config.
//! - [`cli`]: the `tickwire-server` command line, for whichever games a binary hosts.
//!
//! A server hosts one [`Game`](tickwire_netcode::game::Game) per process, monomorphized:
//! `Server::start::<G>`, `RoomCore<G>`, `ServerConfig<G::Config>`.

pub mod admin;
pub mod agones;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod endpoint;
pub mod launch;
pub mod link;
pub mod presence;
pub mod rate_limit;
pub mod recorder;
pub mod room;
pub mod room_core;
pub mod stats;
pub mod tick_loop;
pub mod webtransport;

pub use launch::Server;
pub use room::{Room, RoomError, RoomView};
pub use stats::{TickStats, TickSummary};

pub use config::{AuthMode, ConfigLayers, ConfigLoadError, ServerConfig};
