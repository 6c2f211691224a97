//! ROS 2 messages checked against rosbags, an independent ROS 2 implementation.

mod common;

use dreamrig_bridges::ros2::definitions::{type_hash, DEFINITIONS};
use dreamrig_bridges::ros2::messages::*;

#[test]
fn rosbags_decodes_our_messages_and_agrees_on_every_type_hash() {
    let dir = tempfile::tempdir().unwrap();
    let header = |frame: &str| Header { stamp: Time::from_seconds(12.25), frame_id: frame.into() };
    let files: Vec<(&str, Vec<u8>)> = vec![
        (Clock::TYPE_NAME, Clock { clock: Time::from_seconds(3.5) }.encode()),
        (
            JointState::TYPE_NAME,
            JointState {
                header: header("base_link"),
                name: vec!["shoulder".into(), "elbow".into()],
                position: vec![0.25, -1.5],
                velocity: vec![0.0, 2.0],
                effort: vec![0.125, -0.5],
            }
            .encode(),
        ),
        (
            LaserScan::TYPE_NAME,
            LaserScan {
                header: header("lidar_link"),
                angle_min: -std::f32::consts::PI,
                angle_max: std::f32::consts::PI - 0.035,
                angle_increment: 0.035,
                time_increment: 0.0,
                scan_time: 0.1,
                range_min: 0.1,
                range_max: 6.0,
                ranges: vec![1.0, 2.5, 6.0],
                intensities: vec![],
            }
            .encode(),
        ),
        (Twist::TYPE_NAME, Twist { linear: [0.5, 0.0, 0.0], angular: [0.0, 0.0, -0.25] }.encode()),
        (Image::TYPE_NAME, Image::depth(header("camera_optical_frame"), 3, 2, &[1.0, 1.5, 2.0, 2.5, 3.0, f32::INFINITY]).encode()),
        (CameraInfo::TYPE_NAME, CameraInfo::pinhole(header("camera_optical_frame"), 640, 480, 500.0).encode()),
        (Float64MultiArray::TYPE_NAME, Float64MultiArray { data: vec![0.5, -2.0, 3.25] }.encode()),
        (
            Imu::TYPE_NAME,
            Imu {
                header: header("imu_link"),
                orientation: [0.0, 0.0, 0.0, 1.0],
                angular_velocity: [0.1, 0.2, 0.3],
                linear_acceleration: [0.0, 0.0, 9.81],
            }
            .encode(),
        ),
        (
            Odometry::TYPE_NAME,
            Odometry {
                header: header("odom"),
                child_frame_id: "base_link".into(),
                position: [1.0, 2.0, 0.0],
                orientation: [0.0, 0.0, 0.0, 1.0],
                linear: [0.5, 0.0, 0.0],
                angular: [0.0, 0.0, 0.25],
            }
            .encode(),
        ),
        (
            TfMessage::TYPE_NAME,
            TfMessage {
                transforms: vec![TransformStamped {
                    header: header("odom"),
                    child_frame_id: "base_link".into(),
                    translation: [1.0, 2.0, 0.0],
                    rotation: [0.0, 0.0, 0.38268343, 0.9238795],
                }],
            }
            .encode(),
        ),
    ];
    for (name, bytes) in &files {
        std::fs::write(dir.path().join(format!("{}.cdr", name.replace('/', "__"))), bytes).unwrap();
    }
    let hashes: serde_json::Map<String, serde_json::Value> =
        DEFINITIONS.iter().map(|(n, _)| (n.to_string(), serde_json::json!(type_hash(n).unwrap()))).collect();
    std::fs::write(dir.path().join("hashes.json"), serde_json::Value::Object(hashes).to_string()).unwrap();

    let out = std::process::Command::new(common::python())
        .arg(common::repo().join("tests/python/check_ros2_messages.py"))
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let decoded: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();

    assert_eq!(decoded["rosgraph_msgs/msg/Clock"]["clock"], serde_json::json!({"sec": 3, "nanosec": 500000000}));
    let joints = &decoded["sensor_msgs/msg/JointState"];
    assert_eq!(joints["header"]["frame_id"], "base_link");
    assert_eq!(joints["header"]["stamp"], serde_json::json!({"sec": 12, "nanosec": 250000000}));
    assert_eq!(joints["name"], serde_json::json!(["shoulder", "elbow"]));
    assert_eq!(joints["position"], serde_json::json!([0.25, -1.5]));
    assert_eq!(joints["effort"], serde_json::json!([0.125, -0.5]));
    let scan = &decoded["sensor_msgs/msg/LaserScan"];
    assert_eq!(scan["ranges"], serde_json::json!([1.0, 2.5, 6.0]));
    assert!((scan["range_max"].as_f64().unwrap() - 6.0).abs() < 1e-6);
    assert_eq!(decoded["geometry_msgs/msg/Twist"]["angular"], serde_json::json!({"x": 0.0, "y": 0.0, "z": -0.25}));
    let image = &decoded["sensor_msgs/msg/Image"];
    assert_eq!(
        (image["encoding"].as_str(), image["width"].as_u64(), image["height"].as_u64(), image["step"].as_u64()),
        (Some("32FC1"), Some(3), Some(2), Some(12))
    );
    let pixels: Vec<u8> = image["data"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u8).collect();
    assert_eq!(f32::from_le_bytes(pixels[4..8].try_into().unwrap()), 1.5);
    let info = &decoded["sensor_msgs/msg/CameraInfo"];
    assert_eq!(info["k"], serde_json::json!([500.0, 0.0, 319.5, 0.0, 500.0, 239.5, 0.0, 0.0, 1.0]));
    assert_eq!(info["distortion_model"], "plumb_bob");
    assert_eq!(decoded["std_msgs/msg/Float64MultiArray"]["data"], serde_json::json!([0.5, -2.0, 3.25]));
    assert_eq!(decoded["sensor_msgs/msg/Imu"]["linear_acceleration"], serde_json::json!({"x": 0.0, "y": 0.0, "z": 9.81}));
    assert_eq!(decoded["nav_msgs/msg/Odometry"]["twist"]["twist"]["angular"]["z"], 0.25);
    let tf = &decoded["tf2_msgs/msg/TFMessage"]["transforms"][0];
    assert_eq!(tf["child_frame_id"], "base_link");
    assert_eq!(tf["transform"]["translation"], serde_json::json!({"x": 1.0, "y": 2.0, "z": 0.0}));
}

/// Following `/tf_static` and `/tf` from the root frame down a chain reproduces where the
/// simulator has every link, fixed joints (from the URDF) and moving ones (from the state) alike.
#[test]
fn the_transform_tree_composes_to_the_simulated_link_poses() {
    use dreamrig_bridges::ros2::transforms::{from_parts, rotation_xyzw, translation, Transform, TransformTree};
    use dreamrig_sim::World;
    for scenario in ["arm7-reach", "diffdrive-nav"] {
        let mut world = common::world(&common::shipped(scenario));
        world.reset(4).unwrap();
        for step in 0..30 {
            let action = common::scripted_action(&world, step);
            world.step(&action).unwrap();
        }
        let poses = world.link_poses();
        let tree = TransformTree::new(world.config());
        let stamp = Time::default();
        let mut edges = tree.static_transforms(&poses, stamp).transforms;
        edges.extend(tree.dynamic_transforms(&poses, None, stamp).transforms);
        let mut known = vec![(tree.root_frame.to_string(), Transform::identity())];
        while let Some(edge) = edges.iter().position(|e| known.iter().any(|(f, _)| *f == e.header.frame_id)) {
            let edge = edges.remove(edge);
            let parent = known.iter().find(|(f, _)| *f == edge.header.frame_id).unwrap().1;
            let child = parent * from_parts(edge.translation, edge.rotation);
            known.push((edge.child_frame_id.clone(), child));
        }
        assert!(edges.is_empty(), "{scenario}: frames not connected to {}: {edges:?}", tree.root_frame);
        for pose in &poses {
            let (_, composed) = known.iter().find(|(f, _)| *f == pose.link).unwrap_or_else(|| panic!("{scenario}: no frame {}", pose.link));
            let distance = translation(composed).iter().zip(&pose.translation).map(|(a, b)| (a - b).powi(2)).sum::<f64>().sqrt();
            // Orientations agree when the normalized quaternions do: rapier's poses are f32, and
            // a chain of them composed drifts from unit norm by ~1e-6 without turning.
            let (q, p) = (rotation_xyzw(composed), pose.rotation_xyzw);
            let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
            let alignment = q.iter().zip(&p).map(|(a, b)| a * b).sum::<f64>().abs() / (norm(&q) * norm(&p));
            assert!(distance < 1e-4 && alignment > 1.0 - 1e-6, "{scenario} {}: {composed:?} vs {pose:?}", pose.link);
        }
    }
}
