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
        // The tests name their domains (keys start with it): an exported one must not leak in.
        .env_remove("ROS_DOMAIN_ID")
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

/// `dreamrig run SCENARIO --policy auto --seed SEED --rerun PATH`, then the recording as
/// rerun-sdk reads it (tests/python/check_rerun.py): the episode's step count and the report.
fn run_into_rerun(path: &std::path::Path, scenario: &str, seed: &str) -> (u64, serde_json::Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_dreamrig"))
        .args(["run", scenario, "--policy", "auto", "--seed", seed, "--rerun", path.to_str().unwrap()])
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
    let check = Command::new(common::python()).arg(common::repo().join("tests/python/check_rerun.py")).arg(path).output().unwrap();
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
    (steps, serde_json::from_slice(&check.stdout).unwrap())
}

#[test]
fn a_rerun_recording_of_a_run_reads_back_in_rerun_sdk() {
    let dir = tempfile::tempdir().unwrap();
    let (steps, report) = run_into_rerun(&dir.path().join("nav.rrd"), "diffdrive-nav", "3");
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
fn a_rerun_recording_shows_each_camera_as_a_pinhole_with_its_images() {
    let dir = tempfile::tempdir().unwrap();
    let (steps, report) = run_into_rerun(&dir.path().join("pusher.rrd"), "pusher-camera", "2");
    let components = &report["components"];
    let has = |entity: &str, component: &str| components[entity].as_array().is_some_and(|c| c.contains(&component.into()));
    // The overhead camera is fixed in the world: a pinhole with its intrinsics under /world/top.
    assert!(has("/world/top", "Pinhole:image_from_camera") && has("/world/top", "Pinhole:resolution"), "{report}");
    assert!(has("/world/top", "Transform3D:translation"), "{report}");
    // The image the policy saw at every step, as the lidar points are logged.
    assert!(has("/world/top/rgb", "Image:buffer"), "{report}");
    assert_eq!(report["entities"]["/world/top/rgb"]["rows"].as_u64(), Some(steps), "{report}");
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

/// Waits (up to 60 s) until `publisher` has a matching subscriber: until then Zenoh would
/// drop what it puts.
fn wait_for_subscriber(publisher: &zenoh::pubsub::Publisher<'_>) {
    use zenoh::Wait;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !publisher.matching_status().wait().unwrap().matching() {
        assert!(Instant::now() < deadline, "no subscriber on {} after 60 s", publisher.key_expr());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits (up to 60 s) until a `/clock` sample on `clock` says `time`; the samples seen.
fn wait_for_clock(clock: &zenoh::pubsub::Subscriber<zenoh::handlers::FifoChannelHandler<zenoh::sample::Sample>>, time: &[u8]) -> usize {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = 0;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "the clock did not reach {time:?} in 60 s ({seen} samples)");
        if let Ok(Some(sample)) = clock.recv_timeout(left) {
            seen += 1;
            assert!(sample.attachment().is_none(), "the DDS bridge's keys carry no attachment");
            if sample.payload().to_bytes().as_ref() == time {
                return seen;
            }
        }
    }
}

#[test]
fn in_lock_step_each_command_of_a_burst_is_one_step() {
    use dreamrig_bridges::ros2::messages::{Clock, Float64MultiArray, RosMessage, Time};
    use zenoh::qos::CongestionControl;
    use zenoh::Wait;
    let endpoint = free_endpoint();
    let mut serve =
        spawn_serve(&["cartpole-balance", "--router", &endpoint, "--lockstep", "--key-mapping", "ros2dds", "--namespace", "/cart"]);
    let session = zenoh_peer(&endpoint);
    // /clock is global to the domain, outside the namespace (use_sim_time reads /clock).
    let clock = session.declare_subscriber("clock").wait().unwrap();
    let joints = session.declare_subscriber("cart/joint_states").wait().unwrap();
    let commands = session.declare_publisher("cart/joint_commands").congestion_control(CongestionControl::Block).wait().unwrap();
    wait_for_subscriber(&commands);
    // Wrong length first: counted as malformed, and no step taken for it.
    commands.put(Float64MultiArray { data: vec![5.0, 1.0] }.encode()).wait().unwrap();
    // Then 50 commands back to back, far faster than the world steps and publishes: every one
    // is a step (they used to be merged into one).
    for i in 0..50 {
        let force = if i % 2 == 0 { 5.0 } else { -5.0 };
        commands.put(Float64MultiArray { data: vec![force] }.encode()).wait().unwrap();
    }
    // 50 control steps of 20 ms.
    wait_for_clock(&clock, &Clock { clock: Time { sec: 1, nanosec: 0 } }.encode());
    let (report, _) = stop_serve(&mut serve);
    assert_eq!(report["steps"], 50, "{report}");
    assert_eq!(report["commands"], 50);
    assert_eq!(report["malformed_commands"], 1);
    assert_eq!(report["dropped_commands"], 0);
    assert_eq!(report["pending_commands"], 0);
    assert!(joints.try_recv().unwrap().is_some());
}

#[test]
fn a_flood_of_commands_beyond_the_queue_is_stepped_dropped_or_pending_never_merged() {
    use dreamrig_bridges::ros2::messages::{Float64MultiArray, RosMessage};
    use zenoh::qos::CongestionControl;
    use zenoh::Wait;
    let endpoint = free_endpoint();
    let mut serve =
        spawn_serve(&["cartpole-balance", "--router", &endpoint, "--lockstep", "--key-mapping", "ros2dds", "--command-queue", "8"]);
    let session = zenoh_peer(&endpoint);
    let clock = session.declare_subscriber("clock").wait().unwrap();
    let commands = session.declare_publisher("joint_commands").congestion_control(CongestionControl::Block).wait().unwrap();
    wait_for_subscriber(&commands);
    let sent = 400;
    for _ in 0..sent {
        commands.put(Float64MultiArray { data: vec![1.0] }.encode()).wait().unwrap();
    }
    // At least one step taken; then stop whenever: each command is accounted for exactly once.
    let deadline = Instant::now() + Duration::from_secs(60);
    while clock
        .recv_timeout(Duration::from_millis(100))
        .ok()
        .flatten()
        .is_none_or(|s| s.payload().to_bytes().as_ref() == [0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    {
        assert!(Instant::now() < deadline, "no step in 60 s");
    }
    drop(clock);
    let (report, log) = stop_serve(&mut serve);
    let count = |key: &str| report[key].as_u64().unwrap();
    assert_eq!(count("steps"), count("commands"), "{report}");
    // Every command that arrived is accounted for exactly once (none merged). Commands still in
    // transit through the router when the session stopped never arrived: at most `sent`.
    let received = count("received_commands");
    assert_eq!(count("commands") + count("dropped_commands") + count("pending_commands"), received, "{report}");
    assert_eq!(count("malformed_commands"), 0, "{report}");
    assert!(received <= sent && received >= count("steps") && count("steps") >= 1, "{report}");
    assert!(count("pending_commands") <= 8, "{report}");
    if count("dropped_commands") > 0 {
        assert!(log.contains("dropped a command (the one that arrived): 8 commands already wait for the world"), "{log}");
    }
}

#[test]
fn two_serves_share_one_router_in_two_namespaces() {
    use zenoh::Wait;
    let endpoint = free_endpoint();
    // The first serves the router; the second finds it there and joins it as a peer, with a
    // transient-local /tf_static of its own.
    let mut first = spawn_serve(&["cartpole-balance", "--router", &endpoint, "--namespace", "/a", "--unpaced"]);
    let client = zenoh_peer(&endpoint);
    let a = client.declare_subscriber("0/a/joint_states/**").wait().unwrap();
    a.recv_timeout(Duration::from_secs(60)).unwrap().expect("the first serve publishes");
    // Undeclared at once: an undrained subscriber on an unpaced topic would fill its channel
    // and block the session's receive thread.
    drop(a);
    let mut second = spawn_serve(&["arm7-reach", "--router", &endpoint, "--namespace", "/b", "--unpaced"]);
    let b = client.declare_subscriber("0/b/joint_states/**").wait().unwrap();
    let sample = b.recv_timeout(Duration::from_secs(60)).unwrap().expect("the second serve publishes");
    drop(b);
    assert!(sample.key_expr().as_str().contains("sensor_msgs::msg::dds_::JointState_"), "{}", sample.key_expr());
    // A late joiner still gets each node's latched /tf_static (the advanced publisher's cache).
    let late = zenoh_peer(&endpoint);
    let tf_static = zenoh_ext::AdvancedSubscriberBuilderExt::advanced(late.declare_subscriber("0/b/tf_static/**"))
        .history(zenoh_ext::HistoryConfig::default().detect_late_publishers())
        .wait()
        .unwrap();
    tf_static.recv_timeout(Duration::from_secs(60)).unwrap().expect("the latched /tf_static of the joining serve");
    let (report_b, _) = stop_serve(&mut second);
    let (report_a, _) = stop_serve(&mut first);
    assert!(report_a["published"]["/a/joint_states"].as_u64().unwrap() > 0, "{report_a}");
    assert!(report_b["published"]["/b/joint_states"].as_u64().unwrap() > 0, "{report_b}");
}

#[test]
fn a_serve_joins_a_router_started_on_its_own() {
    use zenoh::Wait;
    let endpoint = free_endpoint();
    // A Zenoh router in router mode, listening where rmw_zenohd listens for its nodes.
    let mut config = zenoh::Config::default();
    config.insert_json5("mode", "\"router\"").unwrap();
    config.insert_json5("listen/endpoints", &format!("[\"{endpoint}\"]")).unwrap();
    config.insert_json5("scouting/multicast/enabled", "false").unwrap();
    let _router = zenoh::open(config).wait().unwrap();
    let mut serve = spawn_serve(&["diffdrive-nav", "--router", &endpoint, "--unpaced"]);
    let client = zenoh_peer(&endpoint);
    let joints = client.declare_subscriber("0/joint_states/**").wait().unwrap();
    joints.recv_timeout(Duration::from_secs(60)).unwrap().expect("the serve publishes through the router");
    drop(joints);
    // The router holds the port, so the serve joined it as a peer (that used to exit 1:
    // "the 'timestamping' setting must be enabled").
    let (report, _) = stop_serve(&mut serve);
    assert!(report["published"]["/joint_states"].as_u64().unwrap() > 0, "{report}");
}

#[cfg(not(feature = "ros2"))]
#[test]
fn rcl_without_the_ros2_feature_says_how_to_build_it() {
    let out = Command::new(env!("CARGO_BIN_EXE_dreamrig"))
        .args(["serve", "cartpole-balance", "--transport", "rcl"])
        .current_dir(common::repo())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("built without the `ros2` feature") && stderr.contains("scripts/ros2-env.sh"), "{stderr}");
}

#[test]
fn a_domain_id_that_disagrees_with_ros_domain_id_is_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_dreamrig"))
        .args(["serve", "cartpole-balance", "--domain-id", "3", "--steps", "1"])
        .env("ROS_DOMAIN_ID", "4")
        .current_dir(common::repo())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--domain-id 3 disagrees with ROS_DOMAIN_ID=4"), "{stderr}");
}
