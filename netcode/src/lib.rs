//! Game-agnostic netcode for an authoritative fixed-tick server and its clients.
//!
//! `tickwire-netcode` is a sans-IO library, as `quinn-proto` is to `quinn`: it is fed bytes
//! and time and hands back bytes and state. It never opens a socket, spawns a task or a
//! thread, sleeps, or reads a clock; the server and client shells do that at the edges.
//! That is what lets a test run a hundred seeded network conditions in a second.
//!
//! ```text
//!   server shell                         client shell
//!   (sockets, tick thread)               (socket, render loop)
//!        │ datagrams, now                       │ datagrams, now
//!        ▼                                      ▼
//!   ┌──────────────┐   snapshot deltas   ┌──────────────┐
//!   │ server state │ ──────────────────► │ client state │ ─► render state
//!   │  machine     │ ◄────────────────── │  machine     │
//!   └──────────────┘   inputs + acks     └──────────────┘
//! ```
//!
//! The modules, one idea each:
//! - [`tick`]: simulation time as numbered ticks ([`Tick`]) and the one place that converts
//!   ticks to and from wall-clock durations ([`TickRate`]).
//! - [`codec`]: the single module that knows the byte format of messages (bincode 2 today).
//!   Every decoder takes any byte string and returns a value or a typed error.
//! - [`protocol`]: the control messages, input datagrams, reject and goodbye reasons, and
//!   QUIC close codes.
//! - [`bits`]: bit packing and Exp-Golomb codes for snapshots.
//! - `range_coder`: the adaptive binary range coder of a snapshot part's entities.
//! - [`schema`]: what a game replicates: entity kinds and their quantized fields.
//! - [`snapshot`]: delta-compressed snapshots: the server's sender per client, the client's
//!   receiver, the wire layout.
//! - [`clock`]: the client's clock sync (prediction and render clocks).
//! - [`prediction`]: client-side prediction and reconciliation.
//! - [`interpolation`]: rendering remote entities between snapshots.
//! - [`input_buffer`]: the server's per-client inputs waiting for their tick.
//! - [`lag_compensation`]: the server's hitbox history, rewound to what a shooter saw.
//! - [`client`]: the client side tied together ([`client::ClientNetcode`]).
//! - [`server`]: the server side tied together ([`server::ServerNetcode`]): every client's
//!   snapshot sender, input buffer, feedback and back-off, for a game loop to drive.
//! - [`link_conditioner`]: a seeded simulated network (latency, jitter, loss, bursts).
//! - [`rng`]: the seeded generator behind it.
//! - [`testing`]: helpers for tests of code built on this crate.
//! - [`tunables`]: a game's configuration as flat dotted keys, as the welcome carries it.
//! - [`config`]: the error type every configuration layer reports with ([`ConfigError`]).
//! - `token` (feature `token`): seat tokens, minted by a matchmaker and checked by servers.
//! - `quic` and `udp` (feature `quic`): the quinn glue for both ends and the UDP socket.
//!
//! # Feature flags
//! - `quic`: the quinn glue for both ends, and the UDP socket under it (`udp`). Off by
//!   default so the core stays free of any runtime; the simulation crate depends on this
//!   crate with default features off.
//! - `token`: seat tokens (HMAC-SHA256 with `ring`); for servers and matchmakers.
#![forbid(unsafe_code)]
#![warn(clippy::indexing_slicing)]

pub mod bits;
pub mod client;
pub mod clock;
pub mod codec;
pub mod config;
pub mod game;
pub mod input_buffer;
pub mod interpolation;
pub mod lag_compensation;
pub mod link_conditioner;
pub mod prediction;
pub mod protocol;
#[cfg(feature = "quic")]
pub mod quic;
mod range_coder;
pub mod rng;
pub mod rotation;
pub mod schema;
pub mod server;
pub mod snapshot;
pub mod testing;
pub mod tick;
#[cfg(feature = "token")]
pub mod token;
pub mod tunables;
#[cfg(feature = "quic")]
pub mod udp;

pub use codec::{DecodeError, EncodeError};
pub use config::ConfigError;
pub use tick::{Tick, TickRate, TickTime};
