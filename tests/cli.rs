//! The `dreamrig` command as a user runs it.

mod common;

use common::{fixture, repo, SHIPPED};
use std::process::{Command, Output};

fn dreamrig(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dreamrig")).args(args).current_dir(repo()).output().expect("dreamrig runs")
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

#[cfg(target_os = "linux")]
#[test]
fn output_into_a_closed_pipe_ends_quietly_without_a_panic() {
    // `dreamrig scenarios | head -0`: the reader is gone before the first line is written.
    use std::os::fd::{FromRawFd, OwnedFd};
    use std::os::unix::process::ExitStatusExt;
    let mut fds = [0i32; 2];
    // SAFETY: `pipe2` fills two fresh descriptors, each owned by exactly one OwnedFd below;
    // close-on-exec keeps children that other tests spawn meanwhile from holding the read end.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(read);
    let out = Command::new(env!("CARGO_BIN_EXE_dreamrig"))
        .arg("scenarios")
        .current_dir(repo())
        .stdout(std::process::Stdio::from(write))
        .stderr(std::process::Stdio::piped())
        .output()
        .expect("dreamrig runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "{:?}: {stderr}", out.status);
}

#[test]
fn every_shipped_scenario_validates() {
    let paths: Vec<String> = SHIPPED.iter().map(|n| format!("scenarios/{n}.yaml")).collect();
    let mut args = vec!["validate"];
    args.extend(paths.iter().map(String::as_str));
    let out = dreamrig(&args);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().filter(|l| l.starts_with("ok: ")).count(), SHIPPED.len());
}

#[test]
fn every_shipped_scenario_runs_and_prints_a_summary() {
    for name in SHIPPED {
        let out = dreamrig(&["run", name, "--episodes", "2", "--policy", "random", "--seed", "3"]);
        let text = text(&out);
        assert!(out.status.success(), "{name}: {text}");
        assert!(text.contains("summary: 2 episodes"), "{name}: {text}");
        assert!(text.contains("steps/s"), "{name}: {text}");
    }
}

#[test]
fn scenarios_lists_the_shipped_ones() {
    let out = dreamrig(&["scenarios"]);
    let text = text(&out);
    assert!(out.status.success(), "{text}");
    for name in SHIPPED {
        assert!(text.contains(name), "{name} missing from:\n{text}");
    }
}

/// Each malformed file, with what its error must say.
const MALFORMED: &[(&str, &[&str])] = &[
    ("empty.yaml", &["empty.yaml: the file is empty"]),
    ("comments-only.yaml", &["the file is empty"]),
    ("not-utf8.yaml", &["not-utf8.yaml:3:17: the file is not valid UTF-8"]),
    ("unknown-key.yaml", &["unknown-key.yaml:7:1: unknown field `wrold`, expected one of"]),
    ("wrong-type.yaml", &["wrong-type.yaml:13:18: task.horizon_steps: invalid type: string \"a long time\""]),
    ("negative-dt.yaml", &["negative-dt.yaml:16:10: timing.physics_dt: expected a time step in seconds", "got -0.002"]),
    ("negative-rays.yaml", &["negative-rays.yaml:13:7: sensors[1].lidar.rays: expected a positive integer, got -5"]),
    ("nan-gravity.yaml", &["nan-gravity.yaml:8:19: world.gravity[2]: expected a finite number, got NaN"]),
    ("huge-image.yaml", &["sensors[0].depth_camera.width: expected an integer from 1 to 4096, got 100000000"]),
    (
        "camera-names.yaml",
        &[
            "sensors[1].camera.name: expected a letter, then letters, digits or underscores (it names the camera's ROS 2 topics), got \"front-cam\"",
            "sensors[2].camera.name: expected another name than `depth`",
        ],
    ),
    ("infinite-mass.yaml", &["world.objects[0].mass"]),
    ("missing-urdf.yaml", &["robot.urdf: expected the path of an existing URDF file", "no-such-robot.urdf"]),
    // Run with an empty PATH: no `xacro` command, so the error gives the command to run.
    ("xacro-urdf.yaml", &["xacro.urdf: <file>: is xacro, and the `xacro` command is not installed", "expand the file by hand: xacro "]),
    ("missing-link-urdf.yaml", &["missing-link.urdf: joint \"elbow\": child link \"forearm\" is not defined"]),
    ("missing-mesh-urdf.yaml", &["missing-mesh.urdf: link \"arm\": <collision> mesh \"meshes/arm.stl\":", "meshes/arm.stl does not exist"]),
    ("unknown-joint.yaml", &["robot.actuators[0].joint: expected a movable joint of the robot (shoulder, elbow), got wrist"]),
    ("not-a-multiple.yaml", &["timing.control_period: expected a whole multiple of physics_dt (0.002), got 0.015"]),
    (
        "solver-out-of-range.yaml",
        &[
            "timing.solver.substeps: expected a positive integer, got 0",
            "timing.solver.iterations: expected an integer from 1 to 64, got 1000",
        ],
    ),
    ("bad-version.yaml", &["bad-version.yaml:1:1: version: expected 1"]),
    ("two-shapes.yaml", &["world.objects[0]: expected a shape: exactly one of box, sphere, cylinder, capsule, urdf, got box and sphere"]),
    ("missing-task.yaml", &["missing field `task`"]),
    ("reversed-uniform.yaml", &["randomize.goal.x.uniform: expected [low, high] with low ≤ high, got [0.2, -0.2]"]),
    ("yaml-syntax.yaml", &["yaml-syntax.yaml:12:9: task.kind"]),
    // URDFs from ../shared/cases that used to validate and then simulate wrongly or panic.
    ("joint-origin-nan-urdf.yaml", &["joint-origin-nan.urdf: joint \"j1\": <origin> must be finite, got xyz [NaN"]),
    ("inertial-origin-nan-urdf.yaml", &["inertial-origin-nan.urdf: link \"link1\": <inertial><origin> must be finite"]),
    ("inertia-zero-urdf.yaml", &["inertia-zero.urdf: link \"body\": <inertia> is not positive-definite", "moving link of 1 kg"]),
    ("revolute-no-limit-urdf.yaml", &["revolute-no-limit.urdf: joint \"j1\": a revolute joint needs <limit lower upper effort velocity>"]),
    ("float-typo-urdf.yaml", &["float-typo.urdf: joint \"j1\" <limit lower>: expected a number, got \"-1.57.\" (line"]),
    ("urdf-is-folder.yaml", &["is a folder, not a URDF file"]),
    // ../shared/cases/yaml-duplicate-map-key: the last value used to win silently.
    ("duplicate-key.yaml", &["duplicate-key.yaml:7:47: duplicate key robot.initial_joints.joint2: first given at line 7"]),
    ("rate-too-high.yaml", &["sensors[0].joint_state.rate_hz: expected a rate in Hz above 0 and at most the control rate"]),
    ("unknown-builtin.yaml", &["robot.builtin: expected one of the shipped robots", "got terminator"]),
    ("learned-backend.yaml", &["dynamics.model: expected the path of an existing world-model file", "model.safetensors"]),
    (
        "many-problems.yaml",
        &[
            "robot.actuators[0].joint: expected a movable joint",
            "task.horizon_steps: expected a positive integer, got -1",
            "timing.physics_dt: expected a time step",
        ],
    ),
];

#[test]
fn malformed_scenarios_get_clear_errors_and_exit_code_2() {
    assert!(MALFORMED.len() >= 15);
    for (file, expected) in MALFORMED {
        let path = fixture(&format!("bad/{file}"));
        let out = Command::new(env!("CARGO_BIN_EXE_dreamrig"))
            .args(["validate", path.to_str().unwrap()])
            .current_dir(repo())
            .env("PATH", "")
            .output()
            .expect("dreamrig runs");
        let text = text(&out);
        assert_eq!(out.status.code(), Some(2), "{file}: {text}");
        assert!(!text.contains("panicked"), "{file} panicked: {text}");
        for needle in *expected {
            assert!(text.contains(needle), "{file}: expected {needle:?} in:\n{text}");
        }
    }
}

#[test]
fn a_material_misplaced_inside_geometry_is_dropped_with_a_warning() {
    // ../shared/cases/material-inside-geometry (pybullet_data's racecar): urdfdom and PyBullet
    // accept it, and it is only ever about colours.
    let out = dreamrig(&["validate", fixture("material-inside-geometry.yaml").to_str().unwrap()]);
    let text = text(&out);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("ignoring a <material> inside <geometry>"), "{text}");
}

#[test]
fn run_rejects_a_malformed_scenario_with_exit_code_2() {
    let path = fixture("bad/negative-dt.yaml");
    let out = dreamrig(&["run", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("timing.physics_dt"));
}

#[test]
fn a_missing_scenario_names_the_places_searched() {
    let out = dreamrig(&["run", "no-such-scenario"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("no scenario of that name"), "{}", text(&out));
}

#[test]
fn usage_errors_exit_with_2() {
    for args in [&["run"][..], &["run", "pusher", "--policy", "genius"], &["run", "pusher", "--episodes", "0"], &["frobnicate"]] {
        let out = dreamrig(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
    }
}

#[test]
fn every_command_has_help() {
    for command in [&["--help"][..], &["validate", "--help"], &["run", "--help"], &["scenarios", "--help"]] {
        let out = dreamrig(command);
        assert!(out.status.success(), "{command:?}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("Usage: dreamrig"), "{command:?}");
    }
}
