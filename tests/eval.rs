//! `dreamrig eval` and `dreamrig merge` as a user runs them.

mod common;

use common::{fixture, repo};
use std::path::Path;
use std::process::{Command, Output};

fn dreamrig(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dreamrig")).args(args).current_dir(repo()).output().expect("dreamrig runs")
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

fn eval(spec: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["eval", spec.to_str().unwrap(), "--out", out.to_str().unwrap()];
    args.extend(extra);
    let output = dreamrig(&args);
    assert!(output.status.success(), "{}", text(&output));
    output
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The outputs that must not depend on how a run was executed.
const DETERMINISTIC: [&str; 7] =
    ["episodes.parquet", "episodes.csv", "summary.parquet", "summary.csv", "summary.json", "report.md", "report.html"];

fn assert_same_outputs(a: &Path, b: &Path) {
    for file in DETERMINISTIC {
        assert!(read(&a.join(file)) == read(&b.join(file)), "{file} differs between {} and {}", a.display(), b.display());
    }
}

#[test]
fn one_two_and_four_threads_give_identical_results() {
    let dir = tempfile::tempdir().unwrap();
    let spec = fixture("evals/small.yaml");
    for threads in ["1", "2", "4"] {
        eval(&spec, &dir.path().join(threads), &["--threads", threads]);
    }
    assert_same_outputs(&dir.path().join("1"), &dir.path().join("2"));
    assert_same_outputs(&dir.path().join("1"), &dir.path().join("4"));
    // And the results are real: 2 scenarios × 4 policies × 4 episodes.
    let df = dreamrig_eval::tables::read_parquet(&dir.path().join("1/episodes.parquet")).unwrap();
    assert_eq!(df.height(), 32);
}

#[test]
fn shards_merged_equal_a_single_run() {
    let dir = tempfile::tempdir().unwrap();
    let spec = fixture("evals/small.yaml");
    eval(&spec, &dir.path().join("single"), &[]);
    let mut shards = Vec::new();
    for i in 0..3 {
        let out = dir.path().join(format!("shard-{i}"));
        eval(&spec, &out, &["--shard", &format!("{i}/3")]);
        shards.push(out);
    }
    let merged = dir.path().join("merged");
    let mut args = vec!["merge", spec.to_str().unwrap()];
    args.extend(shards.iter().map(|p| p.to_str().unwrap()));
    args.extend(["--out", merged.to_str().unwrap()]);
    let out = dreamrig(&args);
    assert!(out.status.success(), "{}", text(&out));
    assert_same_outputs(&dir.path().join("single"), &merged);
}

#[test]
fn a_kubernetes_indexed_job_environment_selects_the_shard() {
    let dir = tempfile::tempdir().unwrap();
    let spec = fixture("evals/small.yaml");
    let out = Command::new(env!("CARGO_BIN_EXE_dreamrig"))
        .args(["eval", spec.to_str().unwrap(), "--out", dir.path().join("k8s").to_str().unwrap()])
        .env("JOB_COMPLETION_INDEX", "1")
        .env("JOB_COMPLETIONS", "4")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("running shard 1/4"));
    let manifest = std::fs::read_to_string(dir.path().join("k8s/run.json")).unwrap();
    assert!(manifest.contains("\"shard\": [\n    1,\n    4\n  ]"), "{manifest}");
    // 32 episodes, every fourth starting at index 1.
    let df = dreamrig_eval::tables::read_parquet(&dir.path().join("k8s/episodes.parquet")).unwrap();
    assert_eq!(df.height(), 8);
}

#[test]
fn kill_minus_9_then_resume_equals_an_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let spec = fixture("evals/small.yaml");
    let reference = dir.path().join("reference");
    eval(&spec, &reference, &[]);

    let interrupted = dir.path().join("interrupted");
    let mut child = Command::new(env!("CARGO_BIN_EXE_dreamrig"))
        .args(["eval", spec.to_str().unwrap(), "--out", interrupted.to_str().unwrap(), "--threads", "1"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until some, but not all, episodes are committed, then SIGKILL.
    let journal = interrupted.join("journal");
    let started = std::time::Instant::now();
    loop {
        let done = std::fs::read_dir(&journal)
            .map(|d| d.filter(|e| e.as_ref().is_ok_and(|e| !e.file_name().to_string_lossy().starts_with('.'))).count())
            .unwrap_or(0);
        if done >= 3 || started.elapsed().as_secs() > 120 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let kept = std::fs::read_dir(&journal).unwrap().filter(|e| !e.as_ref().unwrap().file_name().to_string_lossy().starts_with('.')).count();
    assert!((3..32).contains(&kept), "{kept} episodes committed when killed");

    // Without --resume the folder is refused rather than overwritten.
    let refused = dreamrig(&["eval", spec.to_str().unwrap(), "--out", interrupted.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    assert!(text(&refused).contains("--resume"));

    let resumed = eval(&spec, &interrupted, &["--resume"]);
    let report = text(&resumed);
    assert!(report.contains(&format!("{} episodes ran, {kept} already done", 32 - kept)), "{report}");
    assert_same_outputs(&reference, &interrupted);
}

#[test]
fn the_shipped_controllers_reach_their_success_targets() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("controllers.yaml");
    let scenarios = repo().join("scenarios");
    std::fs::write(
        &spec,
        format!(
            "version: 1\nseed: 99\nepisodes: 30\nscenarios:\n{}\npolicies:\n  - {{name: controller, controller: auto}}\n",
            common::SHIPPED
                .iter()
                .map(|n| format!("  - scenario: {}", scenarios.join(format!("{n}.yaml")).display()))
                .collect::<Vec<_>>()
                .join("\n")
        ),
    )
    .unwrap();
    eval(&spec, &dir.path().join("out"), &[]);
    let summary: serde_json::Value = serde_json::from_slice(&read(&dir.path().join("out/summary.json"))).unwrap();
    for row in summary.as_array().unwrap() {
        let rate = row["success_rate"].as_f64().unwrap();
        assert!(rate >= 0.9, "{}: success rate {rate}", row["scenario"]);
    }
}

#[test]
fn a_nan_policy_is_recorded_as_failed_and_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let out = eval(&fixture("evals/nan-policy.yaml"), dir.path(), &[]);
    let summary: serde_json::Value = serde_json::from_slice(&read(&dir.path().join("summary.json"))).unwrap();
    let rows = summary.as_array().unwrap();
    let broken = rows.iter().find(|r| r["policy"] == "broken-network").unwrap();
    assert_eq!(broken["errors"].as_u64(), Some(3), "{}", text(&out));
    assert_eq!(broken["success_rate"].as_f64(), Some(0.0));
    let controller = rows.iter().find(|r| r["policy"] == "controller").unwrap();
    assert_eq!(controller["success_rate"].as_f64(), Some(1.0));
    let episodes = std::fs::read_to_string(dir.path().join("episodes.csv")).unwrap();
    assert!(episodes.contains("invalid action: action value 0 (slider.effort) is NaN"), "{episodes}");
}

#[test]
fn malformed_eval_specs_get_clear_errors() {
    let cases: &[(&str, &str)] = &[
        ("empty.yaml", "the file is empty"),
        ("duplicate-policy.yaml", "policies[1].name: policy names must be unique; a is used twice"),
        ("negative-episodes.yaml", "episodes: expected a positive integer"),
        ("missing-scenario.yaml", "scenarios[0].scenario: no-such-scenario"),
        ("wrong-controller.yaml", "needs a push task with an object"),
        ("two-kinds.yaml", "policies[0]: expected exactly one of controller, baseline, neural"),
        ("bad-wrapper.yaml", "policies[0].wrappers[0].action_noise: expected a number from 0 to 10, got -1"),
        ("unknown-key.yaml", "unknown field `policy_count`"),
        ("bad-override.yaml", "bad-override.yaml:3:67: scenarios[0].randomize.mass_scale.uniform: expected [low, high] with low ≤ high"),
        ("missing-model.yaml", "missing.json: cannot read"),
    ];
    for (file, needle) in cases {
        let path = fixture(&format!("evals/bad/{file}"));
        let out = dreamrig(&["eval", path.to_str().unwrap(), "--out", "/nonexistent/never-written"]);
        assert_eq!(out.status.code(), Some(2), "{file}: {}", text(&out));
        assert!(text(&out).contains(needle), "{file}: expected {needle:?} in {}", text(&out));
        assert!(!text(&out).contains("panicked"));
    }
}

#[test]
fn ctrl_c_stops_cleanly_keeping_completed_episodes() {
    let dir = tempfile::tempdir().unwrap();
    let spec = fixture("evals/small.yaml");
    let out = dir.path().join("run");
    let child = Command::new(env!("CARGO_BIN_EXE_dreamrig"))
        .args(["eval", spec.to_str().unwrap(), "--out", out.to_str().unwrap(), "--threads", "1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let journal = out.join("journal");
    let started = std::time::Instant::now();
    while std::fs::read_dir(&journal).map(|d| d.count()).unwrap_or(0) < 2 && started.elapsed().as_secs() < 120 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let interrupted = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(interrupted.success());
    let output = child.wait_with_output().unwrap();
    let report = text(&output);
    assert_eq!(output.status.code(), Some(130), "{report}");
    assert!(report.contains("--resume"), "{report}");
    // What finished is kept, with tables for it; --resume completes the rest.
    assert!(out.join("episodes.parquet").exists());
    let resumed = eval(&spec, &out, &["--resume"]);
    assert!(text(&resumed).contains("already done"));
    let reference = dir.path().join("reference");
    eval(&spec, &reference, &[]);
    assert_same_outputs(&reference, &out);
}

#[test]
fn merging_with_a_shard_missing_is_refused_and_names_the_shard() {
    let dir = tempfile::tempdir().unwrap();
    let spec = fixture("evals/small.yaml");
    let s0 = dir.path().join("s0");
    eval(&spec, &s0, &["--shard", "0/2"]);
    let merged = dir.path().join("all");
    let (spec_s, s0_s, merged_s) = (spec.to_str().unwrap(), s0.to_str().unwrap(), merged.to_str().unwrap());

    let missing = dreamrig(&["merge", spec_s, s0_s, "--out", merged_s]);
    assert_eq!(missing.status.code(), Some(2), "{}", text(&missing));
    assert!(text(&missing).contains("16 of the spec's 32 episodes (missing shards: 1/2)"), "{}", text(&missing));
    assert!(text(&missing).contains("--allow-partial"), "{}", text(&missing));
    assert!(!merged.join("run.json").exists(), "a refused merge writes nothing");

    let twice = dreamrig(&["merge", spec_s, s0_s, s0_s, "--out", merged_s]);
    assert_eq!(twice.status.code(), Some(2), "{}", text(&twice));
    assert!(text(&twice).contains("is given twice"), "{}", text(&twice));

    let copy = dir.path().join("s0-copy");
    eval(&spec, &copy, &["--shard", "0/2"]);
    let same_shard = dreamrig(&["merge", spec_s, s0_s, copy.to_str().unwrap(), "--out", merged_s]);
    assert_eq!(same_shard.status.code(), Some(2), "{}", text(&same_shard));
    assert!(text(&same_shard).contains("are both shard 0/2"), "{}", text(&same_shard));

    // Asked for, a partial merge is written and says so in run.json and the report.
    let partial = dreamrig(&["merge", spec_s, s0_s, "--out", merged_s, "--allow-partial"]);
    assert!(partial.status.success(), "{}", text(&partial));
    let manifest: serde_json::Value = serde_json::from_slice(&read(&merged.join("run.json"))).unwrap();
    assert_eq!(manifest["partial"], serde_json::json!(true), "{manifest}");
    assert_eq!(manifest["episodes_done"], serde_json::json!(16), "{manifest}");
    assert_eq!(manifest["episodes_planned"], serde_json::json!(32), "{manifest}");
    let report = String::from_utf8(read(&merged.join("report.md"))).unwrap();
    assert!(report.contains("PARTIAL: 16 of 32 episodes"), "{report}");
}

#[test]
fn an_output_folder_that_is_an_existing_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("results.txt");
    std::fs::write(&file, "keep me").unwrap();
    let spec = fixture("evals/small.yaml");
    let out = dreamrig(&["eval", spec.to_str().unwrap(), "--out", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("is an existing file; expected a folder"), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");
}

#[test]
fn the_report_shows_a_success_and_a_failure_video_per_policy_identical_on_any_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("camera.yaml");
    std::fs::write(
        &spec,
        format!(
            "version: 1\nseed: 5\nepisodes: 3\nscenarios:\n  - scenario: {}\npolicies:\n  - {{name: pusher, controller: auto}}\n  - {{name: still, baseline: zero}}\n",
            repo().join("scenarios/pusher-camera.yaml").display()
        ),
    )
    .unwrap();
    let (one, two) = (dir.path().join("one"), dir.path().join("two"));
    eval(&spec, &one, &["--threads", "1", "--videos", "2"]);
    eval(&spec, &two, &["--threads", "2", "--videos", "2"]);
    assert_same_outputs(&one, &two);
    let report = String::from_utf8(read(&one.join("report.html"))).unwrap();
    let episodes = dreamrig_eval::tables::read_parquet(&one.join("episodes.parquet")).unwrap();
    let lengths: Vec<u64> = episodes.column("length").unwrap().u64().unwrap().iter().map(|v| v.unwrap()).collect();
    let policies: Vec<String> = episodes.column("policy").unwrap().str().unwrap().iter().map(|v| v.unwrap().to_string()).collect();
    // Episodes 0 and 1 of each policy were recorded, episode 2 not; the controller succeeds and
    // standing still fails, so the report shows one video each, the first of its kind.
    for (policy, outcome) in [("pusher", "success"), ("still", "failure")] {
        let video = format!("videos/pusher-camera/{policy}/episode-0.mp4");
        assert!(report.contains(&format!("<video src=\"{video}\"")), "{policy}: {report}");
        assert!(report.contains(&format!("{policy}, episode 0 ({outcome})")), "{policy}");
        let row = policies.iter().position(|p| p == policy).unwrap();
        let (frames, width, height) = dreamrig_datasets::video::mp4_frames(&one.join(&video)).unwrap();
        assert_eq!((frames as u64, width, height), (lengths[row], 64, 64), "{policy}: one frame per step");
        assert!(one.join(format!("videos/pusher-camera/{policy}/episode-1.mp4")).is_file());
        assert!(!one.join(format!("videos/pusher-camera/{policy}/episode-2.mp4")).exists());
        assert_eq!(read(&one.join(&video)), read(&two.join(&video)), "{policy}: video bytes depend on the thread count");
    }
    assert_eq!(report.matches("<video ").count(), 2, "one video per policy: no failure of the controller, no success of zero");
}
