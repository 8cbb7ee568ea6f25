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
//! What is here so far:
//! - [`tick`]: simulation time as numbered ticks ([`Tick`]) and the one place that converts
//!   ticks to and from wall-clock durations ([`TickRate`]).
//! - [`codec`]: the single module that knows the byte format of messages (bincode 2 today).
//!   Every decoder takes any byte string and returns a value or a typed error.
//! - [`config`]: the error type every configuration layer reports with ([`ConfigError`]).
//!
//! The snapshot, prediction, interpolation, clock-sync and lag-compensation state machines
//! build on these (see the project's architecture notes).
//!
//! # Feature flags
//! - `quic`: the quinn glue for both ends, and the UDP socket under it (`udp`). Off by default so the core stays free of any
//!   runtime; the simulation crate depends on this crate with default features off.
#![forbid(unsafe_code)]
#![warn(clippy::indexing_slicing)]

pub mod bits;
pub mod client;
pub mod clock;
pub mod codec;
pub mod config;
pub mod input_buffer;
pub mod interpolation;
pub mod lag_compensation;
pub mod link_conditioner;
pub mod prediction;
pub mod protocol;
#[cfg(feature = "quic")]
pub mod quic;
pub mod rng;
pub mod schema;
pub mod snapshot;
pub mod testing;
pub mod tick;
#[cfg(feature = "token")]
pub mod token;
#[cfg(feature = "quic")]
pub mod udp;

pub use codec::{DecodeError, EncodeError};
pub use config::ConfigError;
pub use tick::{Tick, TickRate};
