//! A room started through the server library ticks a world built from the designer config.

// Test code: a panic is a failed test, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::Duration;

use tickwire_server::Room;
use tickwire_tests::config_with;

#[test]
fn a_room_ticks_the_configured_world_and_stops_cleanly() {
    let config = config_with(&[
        "arena.prop_count=200",
        "tick.tick_hz=120",
        "tick.snapshot_hz=60",
    ]);
    let room = Room::start("e2e", &config).unwrap();
    // Wait (bounded) for the first once-a-second view of the world.
    let mut view = room.view();
    for _ in 0..100 {
        if view.props > 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
        view = room.view();
    }
    assert!(room.is_running());
    assert_eq!(view.props, 200, "the world holds the configured props");
    assert!(
        view.tick.0 >= 120,
        "the view is taken after a second of 120 Hz ticks"
    );
    let stats = room.stop();
    assert!(stats.ticks >= u64::from(view.tick.0));
    assert_eq!(stats.duration_ns.len(), stats.ticks, "every tick was timed");
}

#[test]
fn an_invalid_arena_is_refused_before_any_thread_starts() {
    let mut config = config_with(&[]);
    config.arena.max_speed_mps = f32::NAN;
    let err = Room::start("bad", &config).unwrap_err();
    assert!(err.to_string().contains("arena.max_speed_mps"), "{err}");
}
