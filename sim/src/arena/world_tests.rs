use glam::Vec2;
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use tickwire_netcode::TickRate;

use super::*;
use crate::arena::config::ArenaConfig;

fn rules(config: ArenaConfig) -> Rules {
    Rules::new(config, TickRate::new(60).unwrap()).unwrap()
}

/// An empty field: no obstacles, no props, so scripted scenes are exact.
fn empty_field() -> ArenaConfig {
    ArenaConfig {
        obstacles: Vec::new(),
        prop_count: 0,
        ..ArenaConfig::default()
    }
}

fn place(world: &mut World, id: EntityId, pos: Vec2) {
    let entity = world.get_mut(id).unwrap();
    entity.pos = pos;
    entity.vel = Vec2::ZERO;
}

fn player(world: &World, id: EntityId) -> &Player {
    world.get(id).and_then(Entity::as_player).unwrap()
}

fn fire_at(aim_rad: f32) -> PlayerInput {
    PlayerInput {
        movement: Vec2::ZERO,
        aim_rad,
        fire: true,
    }
}

/// Random inputs for `players`, including garbage a hostile client might send.
fn random_inputs(
    rng: &mut ChaCha8Rng,
    players: &[EntityId],
    out: &mut Vec<(EntityId, PlayerInput)>,
) {
    out.clear();
    for &id in players {
        if rng.random::<f32>() < 0.1 {
            continue; // a missing input
        }
        let movement = Vec2::new(rng.random_range(-1.5..1.5), rng.random_range(-1.5..1.5));
        let aim = if rng.random::<f32>() < 0.01 {
            f32::NAN
        } else {
            rng.random_range(-4.0..4.0)
        };
        out.push((
            id,
            PlayerInput {
                movement,
                aim_rad: aim,
                fire: rng.random::<f32>() < 0.3,
            },
        ));
    }
}

#[test]
fn same_seed_and_inputs_give_bit_identical_state() {
    let config = ArenaConfig {
        prop_kick_per_s: 0.5,
        ..ArenaConfig::default()
    };
    let mut a = World::new(rules(config.clone()));
    let mut b = World::new(rules(config));
    let players_a: Vec<_> = (0..24).map(|_| a.spawn_player()).collect();
    let players_b: Vec<_> = (0..24).map(|_| b.spawn_player()).collect();
    assert_eq!(players_a, players_b);
    let mut script = ChaCha8Rng::seed_from_u64(7);
    let mut inputs = Vec::new();
    let mut kills = 0;
    for _ in 0..5000 {
        random_inputs(&mut script, &players_a, &mut inputs);
        a.step(&inputs);
        b.step(&inputs);
        assert_eq!(a.state_hash(), b.state_hash(), "diverged at {}", a.tick());
        assert_eq!(a.events(), b.events());
        kills += a
            .events()
            .iter()
            .filter(|e| matches!(e, GameEvent::Killed { .. }))
            .count();
    }
    assert_eq!(a.tick(), Tick::new(5000));
    // The run exercised the interesting paths, not an idle world.
    assert!(kills > 10, "only {kills} kills");
    assert!(
        a.entities()
            .any(|(_, e)| e.as_prop().is_some() && e.vel != Vec2::ZERO)
    );
}

#[test]
fn different_seeds_differ() {
    let a = World::new(rules(ArenaConfig::default()));
    let b = World::new(rules(ArenaConfig {
        seed: 2,
        ..ArenaConfig::default()
    }));
    assert_ne!(a.state_hash(), b.state_hash());
}

#[test]
fn nan_inputs_never_reach_the_state() {
    let mut world = World::new(rules(ArenaConfig::default()));
    let id = world.spawn_player();
    let garbage = PlayerInput {
        movement: Vec2::new(f32::NAN, f32::INFINITY),
        aim_rad: f32::NEG_INFINITY,
        fire: true,
    };
    for _ in 0..100 {
        world.step(&[(id, garbage)]);
    }
    for (_, e) in world.entities() {
        assert!(e.pos.is_finite() && e.vel.is_finite());
    }
    assert!(player(&world, id).aim_rad.is_finite());
}

#[test]
fn shots_damage_kill_score_and_respect_cooldown() {
    let mut world = World::new(rules(empty_field()));
    let shooter = world.spawn_player();
    let target = world.spawn_player();
    place(&mut world, shooter, Vec2::new(10.0, 50.0));
    place(&mut world, target, Vec2::new(30.0, 50.0));
    let cooldown = world.rules().fire_cooldown_ticks();
    let mut hits = 0;
    let mut ticks = 0;
    while player(&world, target).is_alive() {
        world.step(&[(shooter, fire_at(0.0))]);
        ticks += 1;
        hits += world
            .events()
            .iter()
            .filter(|e| matches!(e, GameEvent::Damaged { .. }))
            .count();
        assert!(ticks < 1000, "target never died");
    }
    // 100 hp at 25 damage: four hits, the first on tick 1 and one per cooldown after.
    assert_eq!(hits, 4);
    assert_eq!(ticks, 1 + 3 * cooldown);
    assert!(
        world
            .events()
            .contains(&GameEvent::Killed { shooter, target })
    );
    assert_eq!(player(&world, shooter).score, 1);
    assert_eq!(player(&world, target).deaths, 1);
    assert_eq!(player(&world, target).health, 0);
}

#[test]
fn the_dead_respawn_at_a_spawn_point_after_the_delay() {
    let mut world = World::new(rules(ArenaConfig {
        weapon_damage: 255,
        ..empty_field()
    }));
    let shooter = world.spawn_player();
    let target = world.spawn_player();
    place(&mut world, shooter, Vec2::new(10.0, 50.0));
    place(&mut world, target, Vec2::new(30.0, 50.0));
    world.step(&[(shooter, fire_at(0.0))]);
    assert!(!player(&world, target).is_alive());
    // The dead do not move; they fire only within the trade window after death.
    let at_death = world.get(target).unwrap().pos;
    let respawn = world.rules().respawn_ticks();
    let window = world.rules().trade_window_ticks();
    let mut shots = Vec::new();
    for dead_for in 1..respawn {
        let input = PlayerInput {
            movement: Vec2::X,
            aim_rad: 3.1,
            fire: true,
        };
        world.step(&[(target, input)]);
        assert_eq!(world.get(target).unwrap().pos, at_death);
        if world
            .events()
            .iter()
            .any(|e| matches!(e, GameEvent::Fired { shooter, .. } if *shooter == target))
        {
            shots.push(dead_for);
        }
    }
    assert!(
        !shots.is_empty() && shots.iter().all(|&t| t <= window),
        "shots after death at {shots:?}"
    );
    world.step(&[]);
    assert!(
        world
            .events()
            .contains(&GameEvent::Respawned { player: target })
    );
    let revived = world.get(target).unwrap();
    assert_eq!(revived.as_player().unwrap().health, 100);
    assert!(world.spawn_points().contains(&revived.pos));
}

#[test]
fn obstacles_block_shots_in_the_world() {
    let wall = crate::arena::Obstacle {
        x_m: 20.0,
        y_m: 50.0,
        width_m: 2.0,
        height_m: 10.0,
    };
    let mut world = World::new(rules(ArenaConfig {
        obstacles: vec![wall],
        ..empty_field()
    }));
    let shooter = world.spawn_player();
    let target = world.spawn_player();
    place(&mut world, shooter, Vec2::new(10.0, 50.0));
    place(&mut world, target, Vec2::new(30.0, 50.0));
    world.step(&[(shooter, fire_at(0.0))]);
    assert_eq!(world.events(), &[GameEvent::Fired { shooter, hit: None }]);
}

#[test]
fn a_custom_hitbox_source_decides_what_is_hit() {
    // The server's lag compensation supplies past positions: a target that has since moved
    // away is still hit where the shooter saw it.
    struct Past(Vec2);
    impl HitboxSource for Past {
        fn hitboxes(&self, world: &World, shooter: EntityId, out: &mut Vec<Hitbox>) {
            for (entity, _, _) in world.players().filter(|(id, _, _)| *id != shooter) {
                out.push(Hitbox {
                    entity,
                    center: self.0,
                    radius: 0.5,
                });
            }
        }
    }
    let mut world = World::new(rules(empty_field()));
    let shooter = world.spawn_player();
    let target = world.spawn_player();
    place(&mut world, shooter, Vec2::new(10.0, 50.0));
    place(&mut world, target, Vec2::new(30.0, 80.0));
    world.step(&[(shooter, fire_at(0.0))]);
    assert_eq!(world.events(), &[GameEvent::Fired { shooter, hit: None }]);
    world.step_with(&[(shooter, fire_at(0.0))], &Past(Vec2::new(30.0, 50.0)));
    assert!(
        world.events().is_empty(),
        "cooldown should hold the second shot"
    );
    while world.events().is_empty() {
        world.step_with(&[(shooter, fire_at(0.0))], &Past(Vec2::new(30.0, 50.0)));
    }
    assert_eq!(
        world.tick(),
        Tick::new(1 + world.rules().fire_cooldown_ticks())
    );
    assert!(world.events().contains(&GameEvent::Damaged {
        shooter,
        target,
        damage: 25
    }));
}

#[test]
fn kicked_props_come_to_rest_exactly() {
    let config = ArenaConfig {
        prop_count: 50,
        prop_kick_per_s: 0.0,
        ..ArenaConfig::default()
    };
    let mut world = World::new(rules(config));
    let ids: Vec<_> = world.entities().map(|(id, _)| id).collect();
    for &id in &ids {
        world.get_mut(id).unwrap().vel = Vec2::new(3.0, -2.0);
    }
    for _ in 0..120 {
        world.step(&[]);
    }
    // 3.6 m/s at 3 m/s² stops in 1.2 s (72 ticks) — bounces only slow it further.
    for &id in &ids {
        let e = world.get(id).unwrap();
        assert_eq!(e.vel, Vec2::ZERO);
        assert_eq!(e.as_prop().unwrap().spin_radps, 0.0);
    }
    let before = world.state_hash();
    world.step(&[]);
    let after: Vec<_> = ids.iter().map(|&id| world.get(id).unwrap().pos).collect();
    world.step(&[]);
    let again: Vec<_> = ids.iter().map(|&id| world.get(id).unwrap().pos).collect();
    assert_eq!(after, again);
    assert_ne!(before, world.state_hash(), "the tick is part of the state");
}

#[test]
fn players_push_props_and_stay_in_bounds() {
    let mut world = World::new(rules(ArenaConfig {
        prop_count: 1,
        prop_kick_per_s: 0.0,
        ..empty_field()
    }));
    let prop = world.entities().map(|(id, _)| id).next().unwrap();
    let runner = world.spawn_player();
    place(&mut world, prop, Vec2::new(20.0, 50.0));
    place(&mut world, runner, Vec2::new(15.0, 50.0));
    for _ in 0..120 {
        world.step(&[(
            runner,
            PlayerInput {
                movement: Vec2::X,
                aim_rad: 0.0,
                fire: false,
            },
        )]);
        for (_, e) in world.entities() {
            assert!((0.0..=100.0).contains(&e.pos.x) && (0.0..=100.0).contains(&e.pos.y));
        }
    }
    assert!(
        world.get(prop).unwrap().pos.x > 25.0,
        "the prop was not pushed"
    );
}

#[test]
fn a_warm_world_steps_without_reallocating_its_buffers() {
    let mut world = World::new(rules(ArenaConfig::default()));
    let players: Vec<_> = (0..16).map(|_| world.spawn_player()).collect();
    let inputs: Vec<_> = players.iter().map(|&id| (id, fire_at(1.0))).collect();
    for _ in 0..10 {
        world.step(&inputs);
    }
    let caps = (
        world.shooters.capacity(),
        world.hitboxes.capacity(),
        world.pushers.capacity(),
        world.events.capacity(),
    );
    for _ in 0..600 {
        world.step(&inputs);
    }
    assert_eq!(
        caps,
        (
            world.shooters.capacity(),
            world.hitboxes.capacity(),
            world.pushers.capacity(),
            world.events.capacity()
        )
    );
}
