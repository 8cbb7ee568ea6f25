//! "Arena", the reference game that Tickwire's netcode is shown off and load-tested with.
//!
//! A top-down 2D arena (`glam::Vec2`, metres and seconds) with players who run, aim and fire
//! a hitscan weapon, static obstacles, and props: orbs that drift, bounce off walls and come
//! to rest, so a scene can hold thousands of entities while most of them stand still.
//!
//! The game is pure and deterministic: no I/O, no clocks, no threads, and randomness only
//! from a seeded generator held in the [`World`]. The same configuration, seed and inputs
//! give bit-identical state ([`World::state_hash`]), which is what lets a client predict its
//! own player with the very rules the server runs.
//!
//! One step, [`World::step`]:
//! 1. count down fire cooldowns and respawn timers; respawn the dead whose timer ran out;
//! 2. apply each living player's input: aim, then movement ([`movement::move_player`]);
//! 3. resolve shots against hitboxes from a [`HitboxSource`] (the present, or the past when
//!    the server compensates for lag): damage, kills, score, [`GameEvent`]s;
//! 4. move props: random kicks, pushes from players, friction, bounces, rest.
//!
//! All gameplay values come from [`ArenaConfig`], validated into [`Rules`]. The grids
//! positions, angles and velocities are kept on are in [`quantize`], which the movement and
//! the replication ([`replication`]: the schema, and typed access to a replicated state's
//! fields) share. [`Arena`] is the game as a Tickwire server hosts it
//! ([`tickwire_netcode::game::Game`]).

pub mod client;
pub mod collision;
pub mod config;
pub mod entity;
pub mod event;
pub mod game;
pub mod hit_test;
pub mod input;
pub mod movement;
pub mod props;
pub mod quantize;
pub mod replication;
pub mod rules;
pub mod world;

pub use config::{ArenaConfig, Obstacle};
pub use entity::{Body, Entity, EntityId, Player, Prop};
pub use event::GameEvent;
pub use game::Arena;
pub use hit_test::{Hit, Hitbox, HitboxSource, PresentHitboxes, hit_test};
pub use input::PlayerInput;
pub use rules::Rules;
pub use world::World;
