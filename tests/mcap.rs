//! MCAP recordings read back by the `mcap` Python library (with its ROS 2 decoder) and by
//! rosbags.

mod common;

use std::process::Command;

fn record_and_read(scenario: &str, episodes: &str) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.mcap");
    let out = Command::new(env!("CARGO_BIN_EXE_dreamrig"))
        .args(["run", scenario, "--policy", "auto", "--episodes", episodes, "--record-mcap", path.to_str().unwrap()])
        .current_dir(common::repo())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let check = Command::new(common::python()).arg(common::repo().join("tests/python/check_mcap.py")).arg(&path).output().unwrap();
    assert!(check.status.success(), "{}{}", String::from_utf8_lossy(&check.stdout), String::from_utf8_lossy(&check.stderr));
    serde_json::from_slice(&check.stdout).unwrap()
}

#[test]
fn a_navigation_run_is_a_ros2_mcap_that_both_readers_decode() {
    let report = record_and_read("diffdrive-nav", "2");
    assert_eq!(report["profile"], "ros2");
    // /joint_states too, though no joint-state sensor is configured: every movable joint is
    // published from the world's state, as robot_state_publisher and rviz expect.
    let topics = ["/clock", "/joint_states", "/imu", "/odom", "/tf"];
    let steps = report["mcap"]["/clock"].as_u64().unwrap();
    assert!(steps > 10);
    for topic in topics {
        assert_eq!(report["mcap"][topic].as_u64(), Some(steps), "{topic}: every step publishes it");
        assert_eq!(report["rosbags"][topic].as_u64(), Some(steps), "{topic}");
    }
    // The lidar runs at 10 Hz under a 20 Hz control loop: a scan every other step of each
    // episode (steps 0, 2, 4, …), never a stale one restamped.
    let scans = report["mcap"]["/scan"].as_u64().unwrap();
    assert!(2 * scans >= steps && 2 * scans <= steps + 2, "{scans} scans in {steps} steps");
    assert_eq!(report["rosbags"]["/scan"].as_u64(), Some(scans));
    // Plus /tf_static once per episode (two episodes).
    assert_eq!(report["mcap"]["/tf_static"].as_u64(), Some(2));
    assert_eq!(report["statistics_messages"].as_u64(), Some(steps * topics.len() as u64 + scans + 2));
    for schema in report["schemas"].as_array().unwrap() {
        assert_eq!(schema[1], "ros2msg");
    }
    for channel in report["channels"].as_array().unwrap() {
        assert_eq!(channel[1], "cdr");
        let type_hash = channel[2].as_str().unwrap();
        assert!(type_hash.starts_with("RIHS01_") && type_hash.len() == 7 + 64, "{channel}");
    }
    assert_eq!(report["last_scan_ranges"].as_u64(), Some(180));
    assert_eq!(report["last_odom_frame"], serde_json::json!(["odom", "base_link"]));
    assert_eq!(report["joint_names"], serde_json::json!(["left_wheel_joint", "right_wheel_joint"]));
    // The controller drove the base forward: both wheels turned.
    let wheels = report["last_joint_positions"].as_array().unwrap();
    assert!(wheels.iter().all(|p| p.as_f64().unwrap().abs() > 1.0), "{report}");
}

#[test]
fn an_arm_run_records_its_joint_states() {
    let report = record_and_read("arm7-reach", "1");
    assert_eq!(report["joint_names"], serde_json::json!(["joint1", "joint2", "joint3", "joint4", "joint5", "joint6", "joint7"]));
    assert_eq!(report["rosbags"]["/joint_states"], report["mcap"]["/clock"]);
}

#[test]
fn a_camera_run_records_images_and_camera_info_in_the_cameras_optical_frame() {
    let report = record_and_read("pusher-camera", "1");
    let steps = report["mcap"]["/clock"].as_u64().unwrap();
    for topic in ["/top/image_raw", "/top/camera_info"] {
        assert_eq!(report["mcap"][topic].as_u64(), Some(steps), "{topic}: {report}");
        assert_eq!(report["rosbags"][topic].as_u64(), Some(steps), "{topic}");
    }
    let image = &report["images"]["/top/image_raw"];
    assert_eq!(image["encoding"], "rgb8");
    assert_eq!((image["width"].as_u64(), image["height"].as_u64(), image["step"].as_u64()), (Some(64), Some(64), Some(192)));
    assert_eq!(image["bytes"].as_u64(), Some(64 * 64 * 3));
    assert_eq!(image["frame"], "top_optical_frame");
    assert!(image["red_pixels"].as_u64().unwrap() > 4, "the red box is in view: {image}");
    // 60° vertical field of view over 64 rows: f = 32 / tan(30°); centre at (63/2, 63/2).
    let info = &report["camera_info"]["/top/camera_info"];
    let f = 32.0 / (30f64.to_radians()).tan();
    let k: Vec<f64> = info["k"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    let expected = [f, 0.0, 31.5, 0.0, f, 31.5, 0.0, 0.0, 1.0];
    assert!(k.iter().zip(expected).all(|(a, b)| (a - b).abs() < 1e-9), "{k:?}");
    assert_eq!(info["frame"], "top_optical_frame");
    let frames: Vec<&str> = report["tf_static_frames"].as_array().unwrap().iter().map(|f| f.as_str().unwrap()).collect();
    assert!(frames.contains(&"world->top_optical_frame"), "a world-fixed camera hangs off the world frame: {frames:?}");
}
