//! Headless bots for Tickwire.
//!
//! A bot is a game client without a screen: it decides its inputs from what it sees, the way
//! a person would. [`behaviour`] holds the seeded decision-making (wander, strafe,
//! chase-and-shoot); the QUIC client, the load-test runner and its report build on it.
#![forbid(unsafe_code)]

pub mod behaviour;

pub use behaviour::{Behaviour, Brain};
