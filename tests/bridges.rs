//! The bridges against the other side's real libraries: `dreamrig serve` seen and driven by a
//! Python eclipse-zenoh node speaking rmw_zenoh's wire format (rosbags decodes the CDR and
//! computes the type hashes), remote policies served by the Python example server, and Rerun
//! recordings read back by rerun-sdk.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A loopback endpoint nothing listens on, so the first process there serves it as router.
fn free_endpoint() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("tcp/127.0.0.1:{}", listener.local_addr().unwrap().port())
}

/// Kills the child when dropped, so a failing assertion leaves no process behind.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `dreamrig serve ARGS --json`, running.
fn spawn_serve(args: &[&str]) -> Running {
    let child = Command::new(env!("CARGO_BIN_EXE_dreamrig"))
        .arg("serve")
        .args(args)
        .arg("--json")
        .current_dir(common::repo())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    Running(child)
}

/// Stops a serving session as Ctrl-C does; returns its JSON report and its log.
fn stop_serve(serve: &mut Running) -> (serde_json::Value, String) {
    let status = Command::new("kill").args(["-INT", &serve.0.id().to_string()]).status().unwrap();
    assert!(status.success());
    let (mut report, mut log) = (String::new(), String::new());
    std::io::Read::read_to_string(serve.0.stdout.as_mut().unwrap(), &mut report).unwrap();
    std::io::Read::read_to_string(serve.0.stderr.as_mut().unwrap(), &mut log).unwrap();
    assert!(serve.0.wait().unwrap().success(), "serve: {log}");
    let report = serde_json::from_str(&report).unwrap_or_else(|e| panic!("{e}: {report}\n{log}"));
    (report, log)
}

#[test]
fn a_python_zenoh_node_sees_the_served_topics_and_drives_the_robot() {
    let endpoint = free_endpoint();
    let mut serve = spawn_serve(&[
        "tests/fixtures/serve-diffbot.yaml",
        "--router",
        &endpoint,
        "--domain-id",
        "7",
        "--command-timeout-ms",
        "300",
        "--node-name",
        "sim",
    ]);
    let check = Command::new("timeout")
        .arg("90")
        .arg(common::python())
        .arg(common::repo().join("tests/python/check_serve.py"))
        .args([&endpoint, "7", "3"])
        .output()
        .unwrap();
    let (report, log) = stop_serve(&mut serve);
    assert!(
        check.status.success(),
        "{}{}\nserve log:\n{log}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    let seen: serde_json::Value = serde_json::from_slice(&check.stdout).unwrap();

    assert_eq!(seen["errors"], serde_json::json!([]), "rosbags decodes every message");
    for topic in ["/joint_states", "/scan", "/odom", "/tf", "/clock", "/depth/image_raw", "/depth/camera_info"] {
        assert!(seen["received"][topic].as_u64().unwrap_or(0) > 0, "{topic}: {seen}");
    }
    assert_eq!(seen["attachments_ok"], true, "every sample carries the 33-byte rmw_zenoh attachment");
    assert_eq!(seen["sequences_increase"], true);
    assert_eq!(seen["joint_names"], serde_json::json!(["left_wheel_joint", "right_wheel_joint"]));
    assert_eq!(seen["scan"]["ranges"], 90);
    assert_eq!(seen["scan"]["frame"], "lidar_frame");
    assert_eq!(seen["image"], serde_json::json!({"encoding": "32FC1", "width": 16, "height": 12, "bytes": 768}));
    let frames: Vec<&str> = seen["tf_frames"].as_array().unwrap().iter().map(|f| f.as_str().unwrap()).collect();
    assert!(frames.contains(&"odom->base_link") && frames.contains(&"base_link->left_wheel"), "{frames:?}");

    // The ROS graph: the node, its publishers and its subscriptions, with rmw_zenoh's fields.
    let tokens: Vec<&str> = seen["tokens"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    assert!(tokens.iter().any(|t| t.starts_with("@ros2_lv/7/") && t.ends_with("/0/0/NN/%/%/sim")), "{tokens:?}");
    assert!(tokens.iter().any(|t| t.contains("/MP/%/%/sim/%joint_states/sensor_msgs::msg::dds_::JointState_/RIHS01_a13ee3a330e346c9d87b5aa18d24e11690752bd33a0350f11c5882bc9179260e/::,10:,:,:,,")), "{tokens:?}");
    assert!(tokens.iter().any(|t| t.contains("/MS/%/%/sim/%cmd_vel/geometry_msgs::msg::dds_::Twist_/")), "{tokens:?}");
    assert!(tokens.iter().any(|t| t.contains("/MP/%/%/sim/%tf_static/tf2_msgs::msg::dds_::TFMessage_/") && t.ends_with("/:1:,1:,:,:,,")));

    // 0.5 m/s for 3 s: the base moved forward; then the silence stopped it.
    let (start, end) = (seen["odom_start"][0].as_f64().unwrap(), seen["odom_end"][0].as_f64().unwrap());
    assert!(end - start > 0.6, "moved {:.3} m: {seen}", end - start);
    assert!(seen["speed_after_silence"].as_f64().unwrap().abs() < 0.05, "{seen}");
    // The garbage bytes and the NaN Twist (../shared/cases/serve-cmdvel-nan-exits).
    assert_eq!(report["malformed_commands"], 2, "{report}");
    assert!(report["commands"].as_u64().unwrap() >= 30, "{report}");
    assert!(report["safe_stops"].as_u64().unwrap() >= 1, "{report}");
    assert!(report["published"]["/joint_states"].as_u64().unwrap() > 100, "{report}");
}

fn start_policy_server(endpoint: &str, key: &str, extra: &[&str]) -> Running {
    let mut child = Command::new(common::python())
        .arg(common::repo().join("examples/remote_policy_server.py"))
        .args(["--router", endpoint, "--key", key])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
    assert!(line.starts_with("remote policy on"), "the server did not start: {line}");
    Running(child)
}

fn remote_spec(dir: &Path, endpoint: &str, key: &str, policies: &[&str]) -> std::path::PathBuf {
    let spec = dir.join("remote.yaml");
    let scenario = common::shipped("cartpole-balance");
    let policies: String = policies
        .iter()
        .map(|p| {
            format!(
                "  - {{name: {p}, remote: {{zenoh: {key}, router: '{endpoint}', timeout_ms: 2000}}{}}}\n",
                if p.contains("noisy") { ", wrappers: [{action_noise: 0.05}]" } else { "" }
            )
        })
        .collect();
    std::fs::write(
        &spec,
        format!("version: 1\nseed: 5\nepisodes: 6\nscenarios:\n  - scenario: {}\npolicies:\n{policies}", scenario.display()),
    )
    .unwrap();
    spec
}

fn summary(out: &Path) -> Vec<serde_json::Value> {
    let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    summary.as_array().unwrap().clone()
}

#[test]
fn a_python_policy_server_balances_the_cart_pole_batched_and_unbatched() {
    let endpoint = free_endpoint();
    let _server = start_policy_server(&endpoint, "test/cartpole", &[]);
    let dir = tempfile::tempdir().unwrap();
    let spec = remote_spec(dir.path(), &endpoint, "test/cartpole", &["remote", "remote-noisy"]);
    let out =
        Command::new(env!("CARGO_BIN_EXE_dreamrig")).arg("eval").arg(&spec).arg("--out").arg(dir.path().join("out")).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for row in summary(&dir.path().join("out")) {
        assert_eq!(row["success_rate"].as_f64(), Some(1.0), "{row}");
        assert_eq!(row["errors"].as_u64(), Some(0), "{row}");
    }
}

#[test]
fn a_server_that_dies_or_stalls_fails_its_episodes_and_the_run_goes_on() {
    for (extra, expected) in
        [(&["--exit-after", "40"][..], "no reply within 2000 ms"), (&["--delay-ms", "2500"][..], "no reply within 2000 ms")]
    {
        let endpoint = free_endpoint();
        let server = start_policy_server(&endpoint, "test/flaky", extra);
        let dir = tempfile::tempdir().unwrap();
        let spec = remote_spec(dir.path(), &endpoint, "test/flaky", &["remote"]);
        let started = Instant::now();
        let out =
            Command::new(env!("CARGO_BIN_EXE_dreamrig")).arg("eval").arg(&spec).arg("--out").arg(dir.path().join("out")).output().unwrap();
        drop(server);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(started.elapsed() < Duration::from_secs(120));
        let rows = summary(&dir.path().join("out"));
        assert_eq!(rows[0]["episodes"].as_u64(), Some(6));
        assert_eq!(rows[0]["errors"].as_u64(), Some(6), "{extra:?}: {}", rows[0]);
        let episodes = std::fs::read_to_string(dir.path().join("out/episodes.csv")).unwrap();
        assert!(episodes.contains(expected), "{extra:?}: {episodes}");
    }
}

#[test]
fn a_rerun_recording_of_a_run_reads_back_in_rerun_sdk() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nav.rrd");
    let out = Command::new(env!("CARGO_BIN_EXE_dreamrig"))
        .args(["run", "diffdrive-nav", "--policy", "auto", "--seed", "3", "--rerun", path.to_str().unwrap()])
        .current_dir(common::repo())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let steps: u64 = String::from_utf8_lossy(&out.stdout)
        .split(" steps)")
        .next()
        .and_then(|s| s.rsplit('(').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("{}", String::from_utf8_lossy(&out.stdout)));
    let check = Command::new(common::python()).arg(common::repo().join("tests/python/check_rerun.py")).arg(&path).output().unwrap();
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
    let report: serde_json::Value = serde_json::from_slice(&check.stdout).unwrap();
    assert_eq!(report["sdk_version"].as_str().map(|v| &v[..5]), Some("0.36."));
    let timelines = report["timelines"].as_array().unwrap();
    assert!(timelines.contains(&"step".into()) && timelines.contains(&"sim_time".into()), "{report}");
    let entities = &report["entities"];
    let rows = |entity: &str| entities[entity]["rows"].as_u64().unwrap_or(0);
    // Every step: the links' poses and the lidar points the policy saw, its action and reward.
    for entity in ["/world/robot/base_link", "/world/robot/left_wheel", "/world/lidar", "/reward", "/actions/base.linear_velocity"] {
        assert_eq!(rows(entity), steps, "{entity}: {report}");
    }
    assert_eq!(rows("/world/goal"), 1);
    let components = &report["components"];
    assert!(components["/world/robot/base_link/visual_0"].as_array().unwrap().contains(&"Boxes3D:half_sizes".into()), "{report}");
    assert!(components["/world/robot/left_wheel/visual_0"].as_array().unwrap().contains(&"Cylinders3D:radii".into()));
    assert_eq!(entities["/world/robot/base_link/visual_0"]["static_rows"], 2, "the shape and its offset in the link");
}

#[test]
fn an_evaluation_records_every_episode_to_mcap_and_rerun() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("spec.yaml");
    std::fs::write(
        &spec,
        format!(
            "version: 1\nseed: 3\nepisodes: 3\nscenarios:\n  - scenario: {}\npolicies:\n  - {{name: lqr, controller: lqr}}\n  - {{name: zero, baseline: zero}}\n",
            common::shipped("cartpole-balance").display()
        ),
    )
    .unwrap();
    let (mcap, rrd) = (dir.path().join("mcap"), dir.path().join("all.rrd"));
    let out = Command::new(env!("CARGO_BIN_EXE_dreamrig"))
        .arg("eval")
        .arg(&spec)
        .arg("--out")
        .arg(dir.path().join("out"))
        .arg("--record-mcap")
        .arg(&mcap)
        .arg("--rerun")
        .arg(&rrd)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let episodes = std::fs::read_to_string(dir.path().join("out/episodes.csv")).unwrap();
    let lengths: Vec<(String, String, u64)> = episodes
        .lines()
        .skip(1)
        .map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            (fields[1].to_string(), fields[2].to_string(), fields[6].parse().unwrap())
        })
        .collect();
    assert_eq!(lengths.len(), 6);
    let rerun = Command::new(common::python()).arg(common::repo().join("tests/python/check_rerun.py")).arg(&rrd).output().unwrap();
    assert!(rerun.status.success(), "{}", String::from_utf8_lossy(&rerun.stderr));
    let rerun: serde_json::Value = serde_json::from_slice(&rerun.stdout).unwrap();
    for (policy, episode, length) in &lengths {
        let file = mcap.join("cartpole-balance").join(policy).join(format!("episode-{episode}.mcap"));
        let check = Command::new(common::python()).arg(common::repo().join("tests/python/check_mcap.py")).arg(&file).output().unwrap();
        assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
        let report: serde_json::Value = serde_json::from_slice(&check.stdout).unwrap();
        assert_eq!(report["rosbags"]["/joint_states"].as_u64(), Some(*length), "{policy} {episode}: {report}");
        let reward = &rerun["entities"][format!("/episodes/cartpole-balance/{policy}/{episode}/reward")];
        assert_eq!(reward["rows"].as_u64(), Some(*length), "{policy} {episode}");
    }
}

/// The other side of these tests is dreamrig's own Zenoh stack, so they check behaviour (the
/// key mapping, the pacing), not wire compatibility, which the Python test above covers.
fn zenoh_peer(endpoint: &str) -> zenoh::Session {
    use zenoh::Wait;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut config = zenoh::Config::default();
        config.insert_json5("mode", "\"peer\"").unwrap();
        config.insert_json5("connect/endpoints", &format!("[\"{endpoint}\"]")).unwrap();
        config.insert_json5("scouting/multicast/enabled", "false").unwrap();
        config.insert_json5("connect/exit_on_failure", "{router: true, peer: true, client: true}").unwrap();
        config.insert_json5("connect/timeout_ms", "{router: 1000, peer: 1000, client: 1000}").unwrap();
        match zenoh::open(config).wait() {
            Ok(session) => return session,
            Err(e) if Instant::now() > deadline => panic!("cannot reach {endpoint}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

#[test]
fn in_lock_step_the_world_advances_one_step_per_command_on_dds_bridge_keys() {
    use dreamrig_bridges::ros2::messages::{Clock, Float64MultiArray, RosMessage};
    use zenoh::Wait;
    let endpoint = free_endpoint();
    let mut serve =
        spawn_serve(&["cartpole-balance", "--router", &endpoint, "--lockstep", "--key-mapping", "ros2dds", "--namespace", "/cart"]);
    let session = zenoh_peer(&endpoint);
    let clock = session.declare_subscriber("cart/clock").wait().unwrap();
    let joints = session.declare_subscriber("cart/joint_states").wait().unwrap();
    let commands = session.declare_publisher("cart/joint_commands").wait().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    for _ in 0..25 {
        commands.put(Float64MultiArray { data: vec![5.0] }.encode()).wait().unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    // Wrong length: counted as malformed, and no step taken for it.
    commands.put(Float64MultiArray { data: vec![5.0, 1.0] }.encode()).wait().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let (report, _) = stop_serve(&mut serve);
    assert_eq!(report["steps"], 25, "{report}");
    assert_eq!(report["commands"], 25);
    assert_eq!(report["malformed_commands"], 1);
    let mut last = None;
    while let Ok(Some(sample)) = clock.try_recv() {
        let payload = sample.payload().to_bytes();
        assert!(sample.attachment().is_none(), "the DDS bridge's keys carry no attachment");
        last = Some(payload.to_vec());
    }
    // The clock stops at 25 control steps of 20 ms.
    assert_eq!(last.unwrap(), Clock { clock: dreamrig_bridges::ros2::messages::Time { sec: 0, nanosec: 500_000_000 } }.encode());
    assert!(joints.try_recv().unwrap().is_some());
}
