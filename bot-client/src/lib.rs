//! Headless bots for Tickwire.
//!
//! A bot is a game client without a screen: it decides its inputs from what its client
//! renders, the way a person would. Each game brings its [`pilot`] ([`BotGame`]): the
//! [`arena`]'s seeded brains wander, strafe, chase and shoot; [`cubes3d`]'s bots bulldoze
//! cubes. [`swarm`] runs bots over real
//! QUIC; [`netsim`] runs a room and bots over seeded, simulated bad networks in one thread.
#![forbid(unsafe_code)]

pub mod arena;
pub mod behaviour;
pub mod conditioned_socket;
pub mod cpu;
pub mod cubes3d;
pub mod fail_if;
pub mod hostile;
pub mod load_test;
pub mod merge;
pub mod monitor;
pub mod netsim;
pub mod pilot;
pub mod report;
pub mod server_process;
pub mod status;
pub mod swarm;

pub use behaviour::Behaviour;
pub use pilot::{BotGame, Pilot, Script, Verdict};
