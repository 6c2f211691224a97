//! Sensors read the scene as a physical sensor would.

mod common;

use common::{fixture, world};
use dreamrig_sim::World;

#[test]
fn lidar_rays_hit_a_wall_at_the_known_distance() {
    let mut world = world(&fixture("sensor-room.yaml"));
    let (observation, _) = world.reset(0).unwrap();
    let ranges = observation.get("lidar.ranges").unwrap();
    assert_eq!(ranges.len(), 9);
    // 9 rays over 90°: the middle one looks straight at the wall face 2.0 m ahead; a ray at
    // angle a travels 2 / cos(a).
    for (i, range) in ranges.iter().enumerate() {
        let angle = (-45.0 + i as f64 * 90.0 / 8.0_f64).to_radians();
        let expected = 2.0 / angle.cos();
        assert!((*range as f64 - expected).abs() < 1e-3, "ray {i}: {range} m, expected {expected} m");
    }
}

#[test]
fn a_3d_lidar_scans_several_elevations() {
    let mut world = world(&fixture("sensor-room.yaml"));
    let (observation, _) = world.reset(0).unwrap();
    let spec = world.observation_spec().field("lidar3d.ranges").unwrap().clone();
    assert_eq!(spec.shape, vec![3, 5]);
    let ranges = observation.get("lidar3d.ranges").unwrap();
    // Middle ray of the lowest channel: 10° down, 2 m ahead.
    let expected = 2.0 / (10.0_f64).to_radians().cos();
    assert!((ranges[2] as f64 - expected).abs() < 1e-3, "{} vs {expected}", ranges[2]);
    assert!((ranges[7] as f64 - 2.0).abs() < 1e-3);
}

#[test]
fn a_depth_camera_sees_a_flat_wall_at_constant_depth() {
    let mut world = world(&fixture("sensor-room.yaml"));
    let (observation, _) = world.reset(0).unwrap();
    let depth = observation.get("depth_camera.depth").unwrap();
    assert_eq!(depth.len(), 8 * 6);
    // Depth is measured along the optical axis, so a wall facing the camera is flat.
    for d in depth {
        assert!((*d as f64 - 2.0).abs() < 1e-3, "{d}");
    }
}

#[test]
fn an_imu_at_rest_reads_gravity_upwards() {
    let mut world = world(&fixture("sensor-room.yaml"));
    world.reset(0).unwrap();
    let result = world.step(&[]).unwrap();
    let a = result.observation.get("imu.linear_acceleration").unwrap();
    assert!((a[2] - 9.81).abs() < 1e-3 && a[0].abs() < 1e-3 && a[1].abs() < 1e-3, "{a:?}");
    let w = result.observation.get("imu.angular_velocity").unwrap();
    assert!(w.iter().all(|v| v.abs() < 1e-6), "{w:?}");
}

#[test]
fn a_contact_sensor_feels_the_weight_of_a_resting_body() {
    let mut world = world(&fixture("box-drop.yaml"));
    world.reset(0).unwrap();
    let (mut touching, mut force) = (0.0, 0.0);
    for _ in 0..100 {
        let r = world.step(&[]).unwrap();
        touching = r.observation.get("contact.in_contact").unwrap()[0];
        force = r.observation.get("contact.force").unwrap()[0];
    }
    assert_eq!(touching, 1.0);
    // The 1 kg mast rests on its foot: about m·g.
    assert!((force - 9.81).abs() < 1.0, "contact force {force} N");
}

#[test]
fn sensor_noise_is_reproducible_and_seed_dependent() {
    let path = common::shipped("diffdrive-nav");
    let scan = |seed| {
        let mut w = world(&path);
        w.reset(seed).unwrap().0.get("lidar.ranges").unwrap().to_vec()
    };
    assert_eq!(scan(4), scan(4));
    assert_ne!(scan(4), scan(5));
}

#[test]
fn a_sensor_holds_its_reading_between_updates() {
    // The lidar runs at 10 Hz with control at 20 Hz: it updates on even steps only.
    let mut w = world(&common::shipped("diffdrive-nav"));
    let (first, _) = w.reset(1).unwrap();
    let first = first.get("lidar.ranges").unwrap().to_vec();
    let scans: Vec<Vec<f32>> = (1..=3).map(|_| w.step(&[0.5, 0.3]).unwrap().observation.get("lidar.ranges").unwrap().to_vec()).collect();
    assert_eq!(scans[0], first, "step 1 repeats the scan of step 0");
    assert_ne!(scans[1], scans[0], "step 2 takes a new scan");
    assert_eq!(scans[2], scans[1], "step 3 repeats the scan of step 2");
}

#[test]
fn collision_meshes_are_seen_by_rays_and_collide() {
    let mut world = world(&fixture("mesh-room.yaml"));
    let (observation, _) = world.reset(0).unwrap();
    // The OBJ wall: same geometry as the box wall of sensor-room, so the same ranges.
    let ranges = observation.get("lidar.ranges").unwrap().to_vec();
    for (i, range) in ranges.iter().enumerate() {
        let angle = (-45.0 + i as f64 * 90.0 / 8.0_f64).to_radians();
        assert!((*range as f64 - 2.0 / angle.cos()).abs() < 1e-3, "ray {i}: {range}");
    }
    // The STL block falls and comes to rest on the ground, half its 0.2 m height up.
    for _ in 0..100 {
        world.step(&[]).unwrap();
    }
    let names = world.state_spec().names.clone();
    let z = world.state().unwrap().values[names.iter().position(|n| n == "object.block.z").unwrap()];
    assert!((z - 0.1).abs() < 0.01, "block at z = {z}");
}

#[test]
fn rays_see_an_object_where_a_written_state_puts_it() {
    // What a learned or hybrid world does every step: write a state, then read the sensors.
    let mut world = world(&fixture("mesh-room.yaml"));
    world.reset(0).unwrap();
    let head = world.link_poses().into_iter().find(|p| p.link == "head").unwrap().translation;
    let names = world.state_spec().names.clone();
    let mut state = world.state().unwrap();
    // The STL block (0.2 m) 1 m in front of the lidar, on its central ray.
    for (axis, value) in [("x", head[0] + 1.0), ("y", head[1]), ("z", head[2])] {
        let index = names.iter().position(|n| *n == format!("object.block.{axis}")).unwrap();
        state.values[index] = value;
    }
    world.set_state(&state).unwrap();
    let ranges = world.observe().unwrap().get("lidar.ranges").unwrap().to_vec();
    assert!((ranges[4] - 0.9).abs() < 1e-3, "central ray: {ranges:?}");
}

#[test]
fn an_imu_on_a_free_robot_without_joints_feels_free_fall() {
    // One rigid body (rapier makes no multibody of it): its velocities come from the body itself.
    let mut world = world(&fixture("no-actuators.yaml"));
    world.reset(0).unwrap();
    let mut result = None;
    for _ in 0..5 {
        result = Some(world.step(&[]).unwrap());
    }
    let observation = result.unwrap().observation;
    let acceleration = observation.get("imu.linear_acceleration").unwrap();
    assert!(acceleration[2].abs() < 0.5, "falling, the IMU reads {acceleration:?}");
}
