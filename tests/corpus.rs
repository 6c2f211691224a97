//! The public URDF corpus (issue "Robots from the wild"): every URDF of example-robot-data and
//! pybullet_data that PyBullet loads (`scripts/urdf-corpus.py` lists them and writes a scenario
//! for each) either runs an episode with the zero and the random policy, with finite
//! observations, or is refused with an error naming a real defect of the file.
//!
//! pybullet_data's `random_urdfs` (1,000 generated objects of one kind) are sampled one in 50;
//! `DREAMRIG_CORPUS_FULL=1` walks them all. `DREAMRIG_ROBOTS_MD=PATH` writes the outcome table
//! that docs/robots.md holds.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

/// Refusals that name a defect of the file itself (against the URDF specification, or physics
/// no simulator can run as written), with what a user can do about it.
const DEFECTS: &[(&str, &str)] = &[
    ("breaks the triangle inequality", "inertia not physical; `robot.inertia: from_geometry`"),
    ("is not positive-definite", "inertia not physical; `robot.inertia: from_geometry`"),
    ("expected a number, got", "number typo"),
    ("expected 3 numbers", "vector with the wrong count of numbers"),
    ("given twice in", "element given twice"),
    ("needs a `", "required attribute missing"),
    ("is not a URDF shape", "geometry that is not URDF (PyBullet extension)"),
    ("joint type spherical is not supported", "spherical joint (not URDF)"),
    ("joint type floating is not supported", "floating joint"),
    ("joint type planar is not supported", "planar joint"),
    ("must be finite with lower ≤ upper", "limits reversed"),
    ("expected a movable joint of this robot", "mimic names a joint that does not exist"),
    ("neither it nor the links it carries have mass", "a joint that moves no mass"),
];

struct Outcome {
    name: String,
    package: String,
    result: String,
}

fn run(scenario: &Path, policy: &str, path_env: &std::ffi::OsStr) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_dreamrig"))
        .args(["run", scenario.to_str().unwrap(), "--policy", policy, "--episodes", "1", "--threads", "1"])
        .env("PATH", path_env)
        .output()
        .expect("dreamrig runs");
    (out.status.code(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn every_public_urdf_pybullet_loads_runs_or_is_refused_for_a_real_defect() {
    let python = PathBuf::from(common::python());
    let out = std::env::temp_dir().join(format!("dreamrig-corpus-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let listed = Command::new(&python).arg(common::repo().join("scripts/urdf-corpus.py")).arg(&out).output().expect("python runs");
    assert!(listed.status.success(), "urdf-corpus.py failed: {}", String::from_utf8_lossy(&listed.stderr));
    // The `xacro` command of the same environment expands the files that are xacro.
    let path_env = std::env::join_paths(
        [python.parent().unwrap().to_path_buf()].into_iter().chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
    )
    .unwrap();
    let full = std::env::var_os("DREAMRIG_CORPUS_FULL").is_some();
    let manifest = std::fs::read_to_string(out.join("corpus.jsonl")).unwrap();
    let mut outcomes = Vec::new();
    let mut wrong = Vec::new();
    let mut random_urdfs = 0;
    for line in manifest.lines() {
        let entry: serde_json::Value = serde_json::from_str(line).unwrap();
        let name = entry["name"].as_str().unwrap().to_string();
        if name.contains("__random_urdfs__") {
            random_urdfs += 1;
            if !full && random_urdfs % 50 != 1 {
                continue;
            }
        }
        let scenario = PathBuf::from(entry["scenario"].as_str().unwrap());
        let (code, text) = run(&scenario, "zero", &path_env);
        let result = match code {
            Some(0) => {
                let (code, random_text) = run(&scenario, "random", &path_env);
                if code != Some(0) {
                    wrong.push(format!("{name}: the random policy failed: {random_text}"));
                    continue;
                }
                // `run` exits 1 when an episode ends in an error, a non-finite state included.
                if !(text.contains("summary: 1 episodes") && random_text.contains("summary: 1 episodes")) {
                    wrong.push(format!("{name}: no episode summary: {text}{random_text}"));
                    continue;
                }
                "runs".to_string()
            }
            Some(2) => match DEFECTS.iter().find(|(needle, _)| text.contains(needle)) {
                Some((_, what)) => {
                    if what.contains("from_geometry") {
                        // The way out the error names must work.
                        let yaml = std::fs::read_to_string(&scenario).unwrap().replace("  base:", "  inertia: from_geometry\n  base:");
                        let fixed = scenario.with_extension("from-geometry.yaml");
                        std::fs::write(&fixed, yaml).unwrap();
                        let (code, fixed_text) = run(&fixed, "random", &path_env);
                        match code {
                            Some(0) => "refused: inertia not physical; runs with `robot.inertia: from_geometry`".to_string(),
                            // A link without collision shapes keeps its URDF inertia, which may be wrong too (PR2's sensor mount).
                            _ => match DEFECTS.iter().find(|(needle, _)| fixed_text.contains(needle)) {
                                Some((_, other)) if other.contains("from_geometry") => {
                                    "refused: inertia not physical, also on a link without collision shapes (`from_geometry` cannot help)"
                                        .to_string()
                                }
                                Some((_, other)) => format!("refused: inertia not physical; with `robot.inertia: from_geometry`: {other}"),
                                None => {
                                    wrong.push(format!("{name}: still fails with `robot.inertia: from_geometry`: {fixed_text}"));
                                    continue;
                                }
                            },
                        }
                    } else {
                        format!("refused: {what}")
                    }
                }
                None => {
                    wrong.push(format!("{name}: refused for no known defect: {text}"));
                    continue;
                }
            },
            _ => {
                wrong.push(format!("{name}: exit {code:?}: {text}"));
                continue;
            }
        };
        // The element and the reason, after "robot URDF PATH: ".
        let urdf = entry["urdf"].as_str().unwrap();
        let message = text.lines().find_map(|l| l.split_once(&format!("robot URDF {urdf}: ")).map(|(_, m)| m.to_string()));
        let result = match message {
            Some(m) if result.starts_with("refused") => format!("{result} — {}", m.chars().take(160).collect::<String>()),
            _ => result,
        };
        outcomes.push(Outcome { name, package: entry["package"].as_str().unwrap().to_string(), result });
    }
    if let Some(path) = std::env::var_os("DREAMRIG_ROBOTS_MD") {
        let runs = outcomes.iter().filter(|o| o.result == "runs").count();
        let with_option = outcomes.iter().filter(|o| o.result.contains("runs with `robot.inertia: from_geometry`")).count();
        let mut md = format!(
            "# Robots from the wild\n\nGenerated by `DREAMRIG_ROBOTS_MD=docs/robots.md cargo test --release --test corpus`: every URDF of \
             example-robot-data 6.0.0 and pybullet 3.2.7's pybullet_data that PyBullet loads ({} here{}), each run for one \
             episode with the zero and the random policy (root welded 1 m above the ground, a torque actuator on every joint).\n\n\
             **{runs} of {} run as they are, {} more with `robot.inertia: from_geometry`**; the others are refused with the \
             defect of the file named (element and reason as `dreamrig validate` prints them).\n\n| package | file | outcome |\n|---|---|---|\n",
            outcomes.len(),
            if full { "" } else { "; random_urdfs sampled 1 in 50" },
            outcomes.len(),
            with_option
        );
        for o in &outcomes {
            let file = o.name.split("__").skip(1).collect::<Vec<_>>().join("/");
            md += &format!("| {} | {} | {} |\n", o.package, file, o.result.replace('|', "\\|"));
        }
        std::fs::write(path, md).unwrap();
    }
    let _ = std::fs::remove_dir_all(&out);
    assert!(wrong.is_empty(), "{} of {} robots went wrong:\n{}", wrong.len(), outcomes.len() + wrong.len(), wrong.join("\n"));
    assert!(outcomes.len() > 150, "the corpus is smaller than expected: {}", outcomes.len());
}
