//! Same scenario and seed, same trajectory: across runs, thread counts and state round trips.

mod common;

use common::{fixture, scripted_action, shipped, world, SHIPPED};
use dreamrig_sim::{World, WorldBatch};

fn trajectory(world: &mut dyn World, seed: u64, steps: u64) -> Vec<Vec<f64>> {
    world.reset(seed).unwrap();
    let mut states = Vec::new();
    for step in 0..steps {
        let action = scripted_action(world, step);
        let result = world.step(&action).unwrap();
        states.push(world.state().unwrap().values);
        if result.terminated || result.truncated {
            break;
        }
    }
    states
}

#[test]
fn the_same_seed_gives_bit_identical_trajectories() {
    for name in SHIPPED {
        let a = trajectory(&mut world(&shipped(name)), 11, 60);
        let b = trajectory(&mut world(&shipped(name)), 11, 60);
        assert_eq!(a, b, "{name}");
    }
}

#[test]
fn different_seeds_give_different_episodes() {
    for name in SHIPPED {
        let a = trajectory(&mut world(&shipped(name)), 1, 20);
        let b = trajectory(&mut world(&shipped(name)), 2, 20);
        assert_ne!(a, b, "{name}: seeds 1 and 2 gave the same trajectory");
    }
}

fn batch_run(name: &str, threads: usize) -> Vec<Vec<f64>> {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    pool.install(|| {
        let probe = world(&shipped(name));
        let worlds: Vec<Box<dyn World>> = (0..6).map(|_| Box::new(world(&shipped(name))) as Box<dyn World>).collect();
        let mut batch = WorldBatch::from_worlds(worlds);
        assert!(batch.reset(&[0, 1, 2, 3, 4, 5]).iter().all(Result::is_ok));
        let mut out = Vec::new();
        for step in 0..40 {
            // Episodes that end early stop stepping (and give an error); the others keep going.
            let actions: Vec<Option<Vec<f64>>> = (0..6).map(|_| Some(scripted_action(&probe, step))).collect();
            batch.step(&actions);
            for i in 0..batch.len() {
                out.push(batch.state(i).unwrap().values);
            }
        }
        out
    })
}

#[test]
fn one_thread_and_two_threads_give_identical_batches() {
    for name in SHIPPED {
        assert_eq!(batch_run(name, 1), batch_run(name, 2), "{name}");
    }
}

fn assert_round_trip(world: &mut dyn World, label: &str) {
    world.reset(5).unwrap();
    for step in 0..5 {
        world.step(&scripted_action(world, step)).unwrap();
    }
    let snapshot = world.state().unwrap();
    // What the sensors see at the snapshot (rays against objects and obstacles included). Joint
    // efforts and IMU accelerations come from the last step, which the state does not hold.
    let sensed = |world: &mut dyn World| {
        let names: Vec<String> = world.observation_spec().fields.iter().map(|f| f.name.clone()).collect();
        let fields = world.observe().unwrap().fields;
        names
            .into_iter()
            .zip(fields)
            .filter(|(name, _)| !(name.ends_with("effort") || name.ends_with("linear_acceleration")))
            .collect::<Vec<_>>()
    };
    let seen = sensed(world);
    let mut first = Vec::new();
    for step in 5..45 {
        let result = world.step(&scripted_action(world, step)).unwrap();
        let done = result.terminated || result.truncated;
        first.push((world.state().unwrap().values, result.observation.fields, result.reward));
        if done {
            break;
        }
    }
    assert!(first.len() >= 10, "{label}: the episode ended after {} steps", first.len());
    world.set_state(&snapshot).unwrap();
    assert_eq!(world.state().unwrap(), snapshot, "{label}: state() right after set_state()");
    assert_eq!(sensed(world), seen, "{label}: the sensors right after set_state()");
    for (k, expected) in first.iter().enumerate() {
        let step = 5 + k as u64;
        let result = world.step(&scripted_action(world, step)).unwrap();
        let again = (world.state().unwrap().values, result.observation.fields, result.reward);
        assert_eq!(&again, expected, "{label}: step {step} after set_state differs");
    }
}

#[test]
fn set_state_then_stepping_reproduces_the_trajectory() {
    for name in SHIPPED {
        assert_round_trip(&mut world(&shipped(name)), name);
    }
    assert_round_trip(&mut world(&fixture("box-drop.yaml")), "box-drop");
    // Collision meshes: an OBJ wall the lidar sees and an STL block on the ground.
    assert_round_trip(&mut world(&fixture("mesh-room.yaml")), "mesh-room");
    // A free robot without joints: one rigid body, whose state used to read as empty.
    assert_round_trip(&mut world(&fixture("no-actuators.yaml")), "no-actuators");
}

#[test]
fn bad_actions_are_rejected_with_a_clear_error() {
    let mut world = world(&shipped("reacher-2link"));
    world.reset(0).unwrap();
    let error = world.step(&[0.0]).unwrap_err().to_string();
    assert!(error.contains("action has 1 values, expected 2 (shoulder.effort, elbow.effort)"), "{error}");
    let error = world.step(&[0.0, f64::NAN]).unwrap_err().to_string();
    assert!(error.contains("action value 1 (elbow.effort) is NaN"), "{error}");
    let error = world.step(&[f64::INFINITY, 0.0]).unwrap_err().to_string();
    assert!(error.contains("is inf"), "{error}");
    // A rejected action leaves the episode usable.
    world.step(&[0.0, 0.0]).unwrap();
}

#[test]
fn a_wrong_state_is_rejected() {
    let mut world = world(&shipped("pusher"));
    world.reset(0).unwrap();
    let mut state = world.state().unwrap();
    state.values.pop();
    assert!(world.set_state(&state).unwrap_err().to_string().contains("expected"));
    let mut state = world.state().unwrap();
    state.values[0] = f64::NAN;
    assert!(world.set_state(&state).unwrap_err().to_string().contains("robot.joint.slide_x.position"));
}

#[test]
fn a_step_scored_from_outside_returns_what_the_world_returned_when_it_took_that_step() {
    for name in SHIPPED {
        let (mut own, mut scored) = (world(&shipped(name)), world(&shipped(name)));
        own.reset(5).unwrap();
        scored.reset(5).unwrap();
        for step in 0..40 {
            let action = scripted_action(&own, step);
            let stepped = own.step(&action).unwrap();
            let next = own.state().unwrap().values;
            let result = scored.step_to(&action, &next).unwrap();
            // Obstacle contact is judged by clearance when no solver ran; the shipped episodes
            // here never come within 1 mm of one without touching it, or the reverse.
            assert_eq!(result, stepped, "{name}: step {step}");
            assert_eq!(scored.state().unwrap(), own.state().unwrap(), "{name}: step {step}");
            if stepped.terminated || stepped.truncated {
                break;
            }
        }
    }
}

#[test]
fn a_state_reached_elsewhere_is_what_the_sensors_and_the_task_then_read() {
    let mut world = world(&shipped("cartpole-balance"));
    world.reset(2).unwrap();
    let names = world.state_spec().names.clone();
    let hinge = names.iter().position(|n| n == "robot.joint.hinge.position").unwrap();
    // Another engine's cart-pole, a little off upright: the sensors read that state.
    let mut next = world.state().unwrap().values;
    next[hinge] = 0.1;
    let result = world.step_to(&[0.0], &next).unwrap();
    // rapier keeps f32: the state reads back rounded to it.
    for (read, given) in world.state().unwrap().values.iter().zip(&next) {
        assert!((read - given).abs() < 1e-6, "{read} against {given}");
    }
    assert_eq!(result.observation.get("joint_state.position").unwrap()[hinge], 0.1);
    assert!(!result.terminated && result.info.step == 1);
    // …and past the task's failure bound (±0.21 rad) the episode fails there.
    next[hinge] = 0.3;
    let result = world.step_to(&[0.0], &next).unwrap();
    assert!(result.terminated && !result.info.success, "{result:?}");
    assert!(matches!(&result.info.end_reason, Some(dreamrig_sim::EndReason::Failure(why)) if why.contains("hinge")), "{result:?}");
}

#[test]
fn a_bad_state_from_outside_is_refused_and_leaves_the_episode_as_it_was() {
    let mut world = world(&shipped("cartpole-balance"));
    world.reset(2).unwrap();
    let before = world.state().unwrap();
    let error = world.step_to(&[0.0], &[0.0, f64::NAN, 0.0, 0.0]).unwrap_err();
    assert!(error.to_string().contains("robot.joint.hinge.position") && error.to_string().contains("NaN"), "{error}");
    let error = world.step_to(&[0.0], &[0.0; 3]).unwrap_err();
    assert!(error.to_string().contains("state has 3 values, expected 4"), "{error}");
    assert_eq!(world.state().unwrap(), before);
}
