//! Physics against closed-form answers.

mod common;

use common::{fixture, world};
use dreamrig_sim::World;

#[test]
fn a_free_body_falls_half_g_t_squared() {
    let mut world = world(&fixture("free-fall.yaml"));
    world.reset(0).unwrap();
    let z_index = world.state_spec().names.iter().position(|n| n == "object.ball.z").unwrap();
    let z0 = world.state().unwrap().values[z_index];
    for _ in 0..50 {
        world.step(&[]).unwrap();
    }
    let t = 1.0;
    let z = world.state().unwrap().values[z_index];
    let exact = z0 - 0.5 * 9.81 * t * t;
    // Semi-implicit Euler lags the exact parabola by g·t·dt/2 (0.0098 m here).
    let dt = 0.002;
    assert!((z - exact).abs() <= 9.81 * t * dt, "z = {z}, closed form {exact}");
}

fn hinge_trace(world: &mut dyn World, steps: usize) -> Vec<(f64, f64)> {
    let names = &world.state_spec().names;
    let q = names.iter().position(|n| n == "robot.joint.hinge.position").unwrap();
    let v = names.iter().position(|n| n == "robot.joint.hinge.velocity").unwrap();
    (0..steps)
        .map(|_| {
            world.step(&[]).unwrap();
            let s = world.state().unwrap().values;
            (s[q], s[v])
        })
        .collect()
}

#[test]
fn a_small_angle_pendulum_swings_with_the_textbook_period() {
    let mut world = world(&fixture("pendulum.yaml"));
    world.reset(0).unwrap();
    let measured = measured_period(&mut world, 2000); // 20 s at 10 ms
                                                      // Compound pendulum: T = 2π √(I_pivot / (m g d)), with I_pivot = I_com + m d².
    let (m, d, i_com, g): (f64, f64, f64, f64) = (1.0, 1.0, 0.001, 9.81);
    let expected = 2.0 * std::f64::consts::PI * ((i_com + m * d * d) / (m * g * d)).sqrt();
    let error = (measured - expected).abs() / expected;
    assert!(error < 0.01, "period {measured:.5} s, expected {expected:.5} s ({:.3}% off)", error * 100.0);
}

/// Period of upward zero crossings of the hinge angle.
fn measured_period(world: &mut dyn World, steps: usize) -> f64 {
    let trace = hinge_trace(world, steps);
    let dt = world.control_period();
    let crossings: Vec<f64> = trace
        .windows(2)
        .enumerate()
        .filter(|(_, w)| w[0].0 < 0.0 && w[1].0 >= 0.0)
        .map(|(i, w)| (i as f64 + w[0].0.abs() / (w[1].0 - w[0].0)) * dt)
        .collect();
    assert!(crossings.len() >= 3, "only {} crossings", crossings.len());
    (crossings[crossings.len() - 1] - crossings[0]) / (crossings.len() - 1) as f64
}

#[test]
fn a_payload_changes_the_pendulum_period_as_a_point_mass_should() {
    let text = std::fs::read_to_string(fixture("pendulum.yaml"))
        .unwrap()
        .replace("  initial_joints:", "  payload:\n    - {link: bob, mass: 0.5, position: [0, 0, -2.0]}\n  initial_joints:");
    let scenario = dreamrig_sim::Scenario::from_bytes(text.as_bytes(), &fixture("pendulum.yaml")).unwrap_or_else(|e| panic!("{e}"));
    let mut world = dreamrig_sim::PhysicsWorld::new(scenario.config);
    world.reset(0).unwrap();
    let measured = measured_period(&mut world, 2000);
    // A point mass m2 at 2d from the pivot: I = I_com + m d² + m2 (2d)², restoring m g d + m2 g 2d.
    let (m, d, i_com, g, m2): (f64, f64, f64, f64, f64) = (1.0, 1.0, 0.001, 9.81, 0.5);
    let expected = 2.0 * std::f64::consts::PI * ((i_com + m * d * d + m2 * 4.0 * d * d) / (g * (m * d + m2 * 2.0 * d))).sqrt();
    let error = (measured - expected).abs() / expected;
    assert!(error < 0.01, "period {measured:.5} s, expected {expected:.5} s ({:.3}% off)", error * 100.0);
}

#[test]
fn armature_adds_rotor_inertia_to_the_pendulum_period_as_mujoco_defines_it() {
    let text = std::fs::read_to_string(fixture("pendulum.yaml"))
        .unwrap()
        .replace("  initial_joints:", "  joint_dynamics:\n    hinge: {armature: 0.5}\n  initial_joints:");
    let scenario = dreamrig_sim::Scenario::from_bytes(text.as_bytes(), &fixture("pendulum.yaml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(scenario.config.robot.model.joints[0].armature, 0.5);
    let mut world = dreamrig_sim::PhysicsWorld::new(scenario.config);
    world.reset(0).unwrap();
    let measured = measured_period(&mut world, 2000);
    // Armature adds to the joint's inertia and not to the gravity torque (MuJoCo's
    // joint/@armature): T = 2π √((I_com + m d² + armature) / (m g d)), 22% longer here.
    let (m, d, i_com, g, armature): (f64, f64, f64, f64, f64) = (1.0, 1.0, 0.001, 9.81, 0.5);
    let expected = 2.0 * std::f64::consts::PI * ((i_com + m * d * d + armature) / (m * g * d)).sqrt();
    let error = (measured - expected).abs() / expected;
    assert!(error < 0.01, "period {measured:.5} s, expected {expected:.5} s ({:.3}% off)", error * 100.0);
}

#[test]
fn a_negative_armature_is_refused_naming_its_key() {
    let text = std::fs::read_to_string(fixture("pendulum.yaml"))
        .unwrap()
        .replace("  initial_joints:", "  joint_dynamics:\n    hinge: {armature: -0.1}\n  initial_joints:");
    let Err(error) = dreamrig_sim::Scenario::from_bytes(text.as_bytes(), &fixture("pendulum.yaml")) else { panic!("accepted") };
    let error = error.to_string();
    assert!(error.contains("robot.joint_dynamics.hinge.armature"), "{error}");
}

#[test]
fn joint_damping_from_the_scenario_takes_the_energy_out_of_a_swing() {
    let text = std::fs::read_to_string(fixture("pendulum.yaml"))
        .unwrap()
        .replace("  initial_joints:", "  joint_dynamics:\n    hinge: {damping: 0.5}\n  initial_joints:");
    let scenario = dreamrig_sim::Scenario::from_bytes(text.as_bytes(), &fixture("pendulum.yaml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(scenario.config.robot.model.joints[0].damping, 0.5);
    let mut world = dreamrig_sim::PhysicsWorld::new(scenario.config);
    world.reset(0).unwrap();
    let trace = hinge_trace(&mut world, 1000);
    let late = trace[900..].iter().map(|(q, _)| q.abs()).fold(0.0, f64::max);
    assert!(late < 0.5 * 0.05, "after 9 s the swing is still {late:.4} rad of 0.05");
}

#[test]
fn a_frictionless_undamped_pendulum_gains_no_energy_over_ten_seconds() {
    let text = std::fs::read_to_string(fixture("pendulum.yaml")).unwrap().replace("hinge: 0.05", "hinge: 1.2");
    let scenario = dreamrig_sim::Scenario::from_bytes(text.as_bytes(), &fixture("pendulum.yaml")).unwrap();
    let mut world = dreamrig_sim::PhysicsWorld::new(scenario.config);
    world.reset(0).unwrap();
    let (m, d, i_com, g): (f64, f64, f64, f64) = (1.0, 1.0, 0.001, 9.81);
    let energy = |(q, v): (f64, f64)| 0.5 * (i_com + m * d * d) * v * v + m * g * d * (1.0 - q.cos());
    let e0 = energy((1.2, 0.0));
    let trace = hinge_trace(&mut world, 1000);
    let max = trace.iter().map(|s| energy(*s)).fold(f64::MIN, f64::max);
    assert!(max <= e0 * 1.001, "energy rose from {e0:.5} J to {max:.5} J");
    // And it did swing: the energy is not being lost to a hidden damper either.
    let last = energy(*trace.last().unwrap());
    assert!(last >= e0 * 0.97, "energy fell from {e0:.5} J to {last:.5} J");
}

#[test]
fn a_dropped_box_comes_to_rest_on_the_ground() {
    let mut world = world(&fixture("box-drop.yaml"));
    world.reset(0).unwrap();
    for _ in 0..150 {
        world.step(&[]).unwrap();
    }
    let names = world.state_spec().names.clone();
    let s = world.state().unwrap().values;
    let get = |n: &str| s[names.iter().position(|x| x == n).unwrap()];
    // Resting on its largest face: the centre is half the 0.1 m height above the ground.
    assert!((get("object.crate.z") - 0.05).abs() < 0.005, "crate at z = {}", get("object.crate.z"));
    for v in ["vx", "vy", "vz", "wx", "wy", "wz"] {
        assert!(get(&format!("object.crate.{v}")).abs() < 0.01, "crate {v} = {}", get(&format!("object.crate.{v}")));
    }
}

#[test]
fn a_differential_drive_base_drives_straight_at_the_commanded_speed() {
    let text = std::fs::read_to_string(common::shipped("diffdrive-nav"))
        .unwrap()
        .replace("count: 8", "count: 0")
        .replace("noise: 0.01", "noise: 0.0");
    let scenario = dreamrig_sim::Scenario::from_bytes(text.as_bytes(), &common::shipped("diffdrive-nav")).unwrap();
    let mut world = dreamrig_sim::PhysicsWorld::new(scenario.config);
    world.reset(3).unwrap();
    let start = world.observe().unwrap().get("odometry.position").unwrap().to_vec();
    let mut speed = 0.0;
    for step in 0..60 {
        let r = world.step(&[0.5, 0.0]).unwrap();
        if step >= 40 {
            speed = r.observation.get("odometry.linear_velocity").unwrap()[0];
        }
    }
    let end = world.observe().unwrap().get("odometry.position").unwrap().to_vec();
    let travelled = ((end[0] - start[0]).powi(2) + (end[1] - start[1]).powi(2)).sqrt();
    assert!((speed - 0.5).abs() < 0.05, "forward speed {speed} m/s after 2 s at 0.5 m/s");
    // 3 s at 0.5 m/s, less the time to accelerate.
    assert!(travelled > 1.2 && travelled < 1.55, "travelled {travelled} m");
}

#[test]
fn a_position_actuated_arm_holds_its_commanded_pose() {
    let mut world = world(&common::shipped("arm7-reach"));
    world.reset(0).unwrap();
    let target = [0.2, 0.4, -0.2, -1.2, 0.1, 1.0, 0.3];
    let mut q = vec![];
    for _ in 0..150 {
        q = world.step(&target).unwrap().observation.get("joint_state.position").unwrap().to_vec();
    }
    for (j, (q, t)) in q.iter().zip(target).enumerate() {
        // Gravity pulls a PD joint off its target by torque / kp; 0.1 rad covers the shoulder.
        assert!((*q as f64 - t).abs() < 0.1, "joint{} at {q}, target {t}", j + 1);
    }
}

#[test]
fn a_mimic_joint_follows_its_leader_under_a_payload_and_is_not_an_action() {
    let mut world = world(&fixture("mimic-arm.yaml"));
    assert_eq!(world.action_spec().len(), 1, "only the shoulder is driven");
    world.reset(0).unwrap();
    let names = world.state_spec().names.clone();
    let at = |name: &str| names.iter().position(|n| n == name).unwrap();
    let (shoulder, elbow) = (at("robot.joint.shoulder.position"), at("robot.joint.elbow.position"));
    let start = world.state().unwrap().values;
    assert!((start[elbow] - (0.5 * start[shoulder] + 0.1)).abs() < 1e-6, "the follower starts on its leader");
    let mut worst_moving: f64 = 0.0;
    let mut worst_held: f64 = 0.0;
    // Swing from 0.3 to -0.8 rad and hold: the payload pulls on the elbow throughout.
    for step in 0..300 {
        let target = if step < 100 { 0.3 - 1.1 * step as f64 / 100.0 } else { -0.8 };
        world.step(&[target]).unwrap();
        let s = world.state().unwrap().values;
        let error = (s[elbow] - (0.5 * s[shoulder] + 0.1)).abs();
        if step < 150 {
            worst_moving = worst_moving.max(error);
        } else {
            worst_held = worst_held.max(error);
        }
    }
    let end = world.state().unwrap().values;
    assert!((end[shoulder] + 0.8).abs() < 0.05, "the shoulder reached its target: {}", end[shoulder]);
    assert!(worst_held < 1e-3, "held under load the elbow is {worst_held} rad off its mimic target");
    assert!(worst_moving < 1e-3, "while moving the elbow is {worst_moving} rad off its mimic target");
}
