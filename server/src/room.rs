//! A room: one match, with its own world and the thread that ticks it.
//!
//! Each room's tick loop runs on a dedicated `std::thread` (not a tokio task: an async timer
//! is a millisecond late at best) and sleeps to absolute deadlines with [`SystemClock`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use tickwire_netcode::{ConfigError, Tick};
use tickwire_sim::{Body, World};

use crate::clock::{Clock, SystemClock};
use crate::config::ServerConfig;
use crate::stats::TickStats;
use crate::tick_loop::TickSchedule;

/// A room could not be started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RoomError {
    /// The configuration does not make a valid world.
    #[error("invalid room configuration: {0}")]
    Config(#[from] ConfigError),
    /// The OS refused to start the tick thread.
    #[error("cannot start the tick thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// What a room's world looks like, refreshed about once a second for status displays.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoomView {
    /// The world's current tick.
    pub tick: Tick,
    /// Players in the world.
    pub players: usize,
    /// Props in the world.
    pub props: usize,
    /// Props in motion.
    pub moving_props: usize,
}

#[derive(Debug, Default)]
struct Shared {
    stop: AtomicBool,
    stats: Mutex<TickStats>,
    view: Mutex<RoomView>,
}

/// A running room. Dropping it stops the tick thread and waits for it.
#[derive(Debug)]
pub struct Room {
    name: String,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Room {
    /// Builds a world from `config` and starts ticking it.
    ///
    /// # Errors
    /// [`RoomError::Config`] if the arena or tick rate is invalid, [`RoomError::Thread`] if
    /// the thread cannot be spawned.
    pub fn start(name: &str, config: &ServerConfig) -> Result<Self, RoomError> {
        let world = World::new(config.rules()?);
        let rate = config.tick_rate()?;
        let clock = SystemClock::new(config.spin());
        let max_catch_up = config.tick.max_catch_up_ticks;
        let shared = Arc::new(Shared::default());
        let thread = std::thread::Builder::new()
            .name(format!("room-{name}"))
            .spawn({
                let shared = Arc::clone(&shared);
                move || {
                    let schedule = TickSchedule::new(clock.now(), rate, world.tick(), max_catch_up);
                    run(world, schedule, &clock, &shared, rate.hz());
                }
            })?;
        tracing::info!(room = name, tick_hz = rate.hz(), "room started");
        Ok(Self {
            name: name.to_owned(),
            shared,
            thread: Some(thread),
        })
    }

    /// The room's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A copy of the tick figures so far.
    #[must_use]
    pub fn stats(&self) -> TickStats {
        self.shared
            .stats
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The latest view of the world.
    #[must_use]
    pub fn view(&self) -> RoomView {
        *self
            .shared
            .view
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the tick thread is still running.
    #[must_use]
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Stops the tick thread, waits for it, and returns the final figures.
    #[must_use]
    pub fn stop(mut self) -> TickStats {
        self.halt();
        self.stats()
    }

    fn halt(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!(room = %self.name, "tick thread panicked");
            }
        }
    }
}

impl Drop for Room {
    fn drop(&mut self) {
        self.halt();
    }
}

/// The tick thread's loop.
fn run(
    mut world: World,
    mut schedule: TickSchedule,
    clock: &impl Clock,
    shared: &Shared,
    view_every: u32,
) {
    let mut since_view = 0;
    while !shared.stop.load(Ordering::Relaxed) {
        let start = schedule.wait(clock);
        if start.skipped > 0 {
            tracing::warn!(skipped = start.skipped, tick = %start.tick, "tick loop fell behind; skipped ticks");
        }
        let began = clock.now();
        world.step(&[]);
        let took = clock.now().saturating_duration_since(began);
        shared
            .stats
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .record(took, start.lateness, start.skipped);
        since_view += 1;
        if since_view >= view_every {
            since_view = 0;
            *shared.view.lock().unwrap_or_else(PoisonError::into_inner) = view_of(&world);
        }
    }
}

fn view_of(world: &World) -> RoomView {
    let mut view = RoomView {
        tick: world.tick(),
        ..RoomView::default()
    };
    for (_, e) in world.entities() {
        match e.body {
            Body::Player(_) => view.players += 1,
            Body::Prop(_) => {
                view.props += 1;
                view.moving_props += usize::from(e.vel != glam::Vec2::ZERO);
            }
        }
    }
    view
}
