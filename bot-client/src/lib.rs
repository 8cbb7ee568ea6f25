//! Headless bots for Tickwire.
//!
//! A bot is a game client without a screen: it decides its inputs from what its client
//! renders, the way a person would. [`behaviour`] holds the seeded decision-making (wander,
//! strafe, chase-and-shoot); [`view`] reads a bot's rendered world; [`netsim`] runs a room
//! and a swarm of bots over seeded, simulated bad networks in one thread.
#![forbid(unsafe_code)]

pub mod behaviour;
pub mod conditioned_socket;
pub mod cpu;
pub mod fail_if;
pub mod hostile;
pub mod load_test;
pub mod monitor;
pub mod netsim;
pub mod pilot;
pub mod report;
pub mod server_process;
pub mod status;
pub mod swarm;
pub mod view;

pub use behaviour::{Behaviour, Brain};
