//! "Cubes3d": players drive pusher cubes with an analog stick across a floor strewn with
//! hundreds of cubes, which tumble, slide, come to rest and sleep — the scene of the cube
//! demo in Glenn Fiedler's snapshot-compression articles, as a game.
//!
//! Unlike the arena it is 3D (positions are `glam::Vec3`, orientations `glam::Quat`, sent
//! as smallest three: [`quantize`]), its world is mostly physics the server alone runs
//! ([`physics`]: impulses at a cube's corners against the floor, spheres between cubes, a
//! moving box for a pusher, sleep), and it has no shooting, so no lag compensation.
//! A client predicts only its own pusher ([`pusher`]: cubes never slow a pusher, so its
//! path is a function of its own state and stick alone).
//!
//! [`World`] steps it; [`Cubes3d`] is the game as a Tickwire server hosts it
//! ([`tickwire_netcode::game::Game`]); [`CubesConfig`] holds its `[game]` values
//! (`sim/config/cubes3d.toml` documents each).

pub mod client;
pub mod config;
pub mod game;
pub mod physics;
pub mod pusher;
pub mod quantize;
pub mod replication;
pub mod rules;
pub mod world;

pub use client::CubesPrediction;
pub use config::CubesConfig;
pub use game::{Cubes3d, CubesEvent};
pub use replication::{CubesInput, PusherId};
pub use rules::CubesRules;
pub use world::World;
