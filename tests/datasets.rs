//! LeRobot v3.0 datasets: written, read back, checked with pyarrow and pandas.

mod common;

use common::{repo, shipped};
use dreamrig_datasets::{validate, write_dataset, LeRobotDataset, WriteOptions};
use dreamrig_eval::{generate_dataset, GenerateOptions};
use dreamrig_policies::PolicySpec;
use dreamrig_sim::Scenario;
use std::path::Path;
use std::process::{Command, Output};

fn dreamrig(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dreamrig")).args(args).current_dir(repo()).output().expect("dreamrig runs")
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

fn hidden() -> indicatif::ProgressBar {
    indicatif::ProgressBar::hidden()
}

fn controller() -> PolicySpec {
    PolicySpec { name: "controller".into(), controller: Some("auto".into()), ..PolicySpec::default() }
}

fn options(fps: u32) -> WriteOptions {
    WriteOptions { robot_type: "test".into(), fps, append: false, data_file_size_mb: 100 }
}

#[test]
fn written_episodes_read_back_identically() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = Scenario::load(&shipped("diffdrive-nav")).unwrap();
    let (layout, episodes) = generate_dataset(
        &scenario,
        &controller(),
        Path::new("."),
        &GenerateOptions { episodes: 3, seed: 1, first_episode: 0, shard: None },
        &hidden(),
    )
    .unwrap();
    let root = dir.path().join("nav");
    let info = write_dataset(&root, &layout, &episodes, &options(20)).unwrap();
    assert_eq!(info.total_episodes, 3);
    let dataset = LeRobotDataset::open(&root).unwrap();
    let read = dataset
        .episodes(&["observation.state", "observation.lidar.ranges", "observation.environment_state", "action", "next.reward"])
        .unwrap();
    assert_eq!(read.len(), 3);
    for (original, back) in episodes.iter().zip(&read) {
        assert_eq!(back.frames, original.frames);
        assert_eq!(back.features["observation.state"].1, original.state);
        assert_eq!(back.features["observation.lidar.ranges"].1, original.arrays[0]);
        assert_eq!(back.features["observation.environment_state"].1, original.environment_state);
        assert_eq!(back.features["action"].1, original.action);
        assert_eq!(back.features["next.reward"].1, original.reward);
    }
    // Windows for multi-step training never cross an episode boundary.
    let windows = LeRobotDataset::windows(&read, 10);
    assert_eq!(windows.len(), read.iter().map(|e| e.frames - 9).sum::<usize>());
    assert!(windows.iter().all(|w| w.start + w.length <= read.iter().find(|e| e.episode_index == w.episode_index).unwrap().frames));
    assert!(validate(&root).unwrap().is_empty());
}

#[test]
fn pyarrow_and_pandas_read_generated_datasets_as_lerobot_v3() {
    let dir = tempfile::tempdir().unwrap();
    let python = common::python();
    // The last: a world without actuators, whose action is empty (../shared/cases/dataset-no-actuators).
    for (scenario, episodes, policy) in
        [("arm7-reach", "3", "auto"), ("diffdrive-nav", "2", "auto"), ("tests/fixtures/no-actuators.yaml", "2", "zero")]
    {
        let out_dir = dir.path().join(scenario.replace('/', "_"));
        let out =
            dreamrig(&["dataset", "generate", scenario, "--episodes", episodes, "--policy", policy, "--out", out_dir.to_str().unwrap()]);
        assert!(out.status.success(), "{}", text(&out));
        let check = Command::new(&python).arg(repo().join("tests/python/check_lerobot.py")).arg(&out_dir).output().unwrap();
        assert!(check.status.success(), "{scenario}: {}", text(&check));
        assert_eq!(String::from_utf8_lossy(&check.stdout).trim(), "ok");
    }
}

#[test]
fn appending_keeps_indices_and_stats_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("cartpole");
    let root_s = root.to_str().unwrap();
    let first = dreamrig(&["dataset", "generate", "cartpole-balance", "--episodes", "2", "--policy", "random", "--out", root_s]);
    assert!(first.status.success(), "{}", text(&first));
    let refused = dreamrig(&["dataset", "generate", "cartpole-balance", "--episodes", "2", "--out", root_s]);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    assert!(text(&refused).contains("--append"));
    let second = dreamrig(&["dataset", "generate", "cartpole-balance", "--episodes", "3", "--seed", "9", "--out", root_s, "--append"]);
    assert!(second.status.success(), "{}", text(&second));
    let dataset = LeRobotDataset::open(&root).unwrap();
    assert_eq!(dataset.info.total_episodes, 5);
    assert_eq!(dataset.data_files.len(), 2);
    let valid = dreamrig(&["dataset", "validate", root_s]);
    assert!(valid.status.success(), "{}", text(&valid));
    // The episodes' randomized parameters and success labels are kept.
    let episodes = dreamrig_eval::tables::read_parquet(&root.join("meta/episodes/chunk-000/file-000.parquet")).unwrap();
    let parameters = episodes.column("dreamrig/parameters").unwrap().str().unwrap().get(4).unwrap().to_string();
    let parameters: serde_json::Value = serde_json::from_str(&parameters).unwrap();
    assert!(parameters["mass_scale"].as_f64().is_some_and(|m| (0.9..=1.1).contains(&m)), "{parameters}");
    assert_eq!(episodes.column("dreamrig/success").unwrap().len(), 5);
    let from: Vec<i64> = episodes.column("dataset_from_index").unwrap().i64().unwrap().iter().map(|v| v.unwrap()).collect();
    let lengths: Vec<i64> = episodes.column("length").unwrap().i64().unwrap().iter().map(|v| v.unwrap()).collect();
    for k in 1..5 {
        assert_eq!(from[k], from[k - 1] + lengths[k - 1], "episode {k} does not start where episode {} ends", k - 1);
    }
}

#[test]
fn validate_catches_stats_that_do_not_match_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("d");
    assert!(dreamrig(&["dataset", "generate", "reacher-2link", "--episodes", "2", "--out", root.to_str().unwrap()]).status.success());
    let stats_path = root.join("meta/stats.json");
    let mut stats: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&stats_path).unwrap()).unwrap();
    stats["action"]["mean"][0] = serde_json::json!(123.0);
    std::fs::write(&stats_path, stats.to_string()).unwrap();
    let out = dreamrig(&["dataset", "validate", root.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("meta/stats.json: action.mean does not match the data"), "{}", text(&out));
}

#[test]
fn a_truncated_data_file_gives_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("d");
    assert!(dreamrig(&["dataset", "generate", "pusher", "--episodes", "1", "--out", root.to_str().unwrap()]).status.success());
    let data = root.join("data/chunk-000/file-000.parquet");
    let bytes = std::fs::read(&data).unwrap();
    std::fs::write(&data, &bytes[..bytes.len() / 2]).unwrap();
    let out = dreamrig(&["dataset", "validate", root.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("file-000.parquet: not a readable Parquet file"), "{}", text(&out));
    assert!(!text(&out).contains("panicked"));
}

#[test]
fn a_v2_1_dataset_is_refused_with_the_conversion_command() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("meta")).unwrap();
    std::fs::write(
        dir.path().join("meta/info.json"),
        r#"{"codebase_version": "v2.1", "fps": 30, "total_episodes": 1, "total_frames": 10, "features": {}}"#,
    )
    .unwrap();
    let out = dreamrig(&["dataset", "info", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("dreamrig dataset convert"), "{}", text(&out));
}

#[test]
fn a_v2_1_dataset_lerobot_wrote_converts_into_a_valid_v3_dataset_with_the_same_frames_and_videos() {
    // tests/fixtures/lerobot-v21 was written by lerobot 0.3.3 (scripts/lerobot_v21_fixture.py).
    let old = repo().join("tests/fixtures/lerobot-v21");
    let dir = tempfile::tempdir().unwrap();
    let new = dir.path().join("v30");
    let out = dreamrig(&["dataset", "convert", old.to_str().unwrap(), "--out", new.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("3 episodes, 36 frames"), "{}", text(&out));
    let validated = dreamrig(&["dataset", "validate", new.to_str().unwrap()]);
    assert!(validated.status.success(), "{}", text(&validated));

    let dataset = dreamrig_datasets::LeRobotDataset::open(&new).unwrap();
    assert_eq!(dataset.tasks, vec!["reach the cube".to_string(), "push the cube".to_string()]);
    let episodes = dataset.episodes(&["observation.state", "action"]).unwrap();
    assert_eq!(episodes.iter().map(|e| e.frames).collect::<Vec<_>>(), vec![12, 9, 15]);
    // Each episode's frames are the ones lerobot summarized in episodes_stats.jsonl.
    let stats = std::fs::read_to_string(old.join("meta/episodes_stats.jsonl")).unwrap();
    for (line, episode) in stats.lines().zip(&episodes) {
        let stats: serde_json::Value = serde_json::from_str(line).unwrap();
        for feature in ["observation.state", "action"] {
            let (width, values) = &episode.features[feature];
            for d in 0..*width {
                let mean = (0..episode.frames).map(|t| values[t * width + d] as f64).sum::<f64>() / episode.frames as f64;
                let logged = stats["stats"][feature]["mean"][d].as_f64().unwrap();
                assert!((mean - logged).abs() < 1e-6, "episode {} {feature}[{d}]: {mean} vs {logged}", episode.episode_index);
            }
        }
    }
    // The videos come over byte for byte, one file per episode.
    for e in 0..3 {
        let before = std::fs::read(old.join(format!("videos/chunk-000/observation.images.front/episode_00000{e}.mp4"))).unwrap();
        let after = std::fs::read(new.join(format!("videos/observation.images.front/chunk-000/file-00{e}.mp4"))).unwrap();
        assert_eq!(before, after, "episode {e}");
    }
    // Converting again into the same folder, or converting the v3.0 result, is refused.
    for (from, to) in [(old.clone(), new.clone()), (new.clone(), dir.path().join("again"))] {
        let out = dreamrig(&["dataset", "convert", from.to_str().unwrap(), "--out", to.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    }
    assert!(!dir.path().join("again").exists());
}

#[test]
fn an_interrupted_generation_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("big");
    let mut child = Command::new(env!("CARGO_BIN_EXE_dreamrig"))
        .args(["dataset", "generate", "diffdrive-nav", "--episodes", "400", "--out", root.to_str().unwrap()])
        .current_dir(repo())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!root.exists(), "a partial dataset was left at {}", root.display());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn eval_records_every_episode_as_a_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let spec = common::fixture("evals/small.yaml");
    let data = dir.path().join("data");
    let out = dreamrig(&[
        "eval",
        spec.to_str().unwrap(),
        "--out",
        dir.path().join("run").to_str().unwrap(),
        "--record-dataset",
        data.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    for scenario in ["cartpole-balance", "reacher-2link"] {
        let root = data.join(scenario);
        assert!(validate(&root).unwrap().is_empty());
        let dataset = LeRobotDataset::open(&root).unwrap();
        assert_eq!(dataset.info.total_episodes, 16, "4 policies × 4 episodes");
    }
}

#[test]
fn validate_follows_the_episode_metadata_pointers_to_the_data_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("d");
    assert!(dreamrig(&["dataset", "generate", "reacher-2link", "--episodes", "2", "--out", root.to_str().unwrap()]).status.success());
    let meta = root.join("meta/episodes/chunk-000/file-000.parquet");
    // Point episode 1 at a data file that does not exist, with pandas (as a hand edit would).
    let script = format!(
        "import pandas as pd\ndf = pd.read_parquet({meta:?})\ndf.loc[1, 'data/file_index'] = 7\ndf.to_parquet({meta:?}, index=False)\n",
        meta = meta.to_str().unwrap()
    );
    let out = Command::new(common::python()).args(["-c", &script]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = dreamrig(&["dataset", "validate", root.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("row 1 (episode 1) points at data/chunk_index 0 file_index 7, but")
            && text(&out).contains("file-007.parquet does not exist"),
        "{}",
        text(&out)
    );
}

#[test]
fn appending_continues_the_seed_sequence_instead_of_repeating_episodes() {
    // ../shared/cases/dataset-append-duplicates: the appended episodes repeated seeds 0 and 1.
    let dir = tempfile::tempdir().unwrap();
    let (once, twice) = (dir.path().join("once"), dir.path().join("twice"));
    let generate = |out: &Path, episodes: &str, append: bool| {
        let mut args =
            vec!["dataset", "generate", "reacher-2link", "--policy", "random", "--episodes", episodes, "--out", out.to_str().unwrap()];
        if append {
            args.push("--append");
        }
        let out = dreamrig(&args);
        assert!(out.status.success(), "{}", text(&out));
    };
    generate(&once, "5", false);
    generate(&twice, "3", false);
    generate(&twice, "2", true);
    let seeds =
        |root: &Path| -> Vec<u64> { LeRobotDataset::open(root).unwrap().episode_metadata().unwrap().iter().map(|m| m.seed).collect() };
    let appended = seeds(&twice);
    assert_eq!(appended, seeds(&once), "3 episodes then 2 more are the 5 episodes of one run");
    let unique: std::collections::BTreeSet<_> = appended.iter().collect();
    assert_eq!(unique.len(), 5, "seeds {appended:?}");
}

#[test]
fn task_strings_in_an_unnamed_pandas_index_are_read_as_lerobot_writes_them() {
    // lerobot's `LeRobotDataset.create` … `finalize` writes meta/tasks.parquet from
    // `pd.DataFrame({"task_index": …}, index=tasks)`: the strings land in `__index_level_0__`,
    // not in a column called `task`. Rewrite a generated dataset's tasks file that way, with pandas.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("reacher");
    let root_s = root.to_str().unwrap();
    let out = dreamrig(&["dataset", "generate", "reacher-2link", "--episodes", "2", "--policy", "auto", "--out", root_s]);
    assert!(out.status.success(), "{}", text(&out));
    let script = "import sys, pandas as pd\n\
                  path = sys.argv[1] + '/meta/tasks.parquet'\n\
                  tasks = list(pd.read_parquet(path).index)\n\
                  pd.DataFrame({'task_index': range(len(tasks))}, index=tasks).to_parquet(path)\n\
                  import pyarrow.parquet as pq\n\
                  print(pq.read_schema(path).names)";
    let rewrite = Command::new(common::python()).args(["-c", script, root_s]).output().unwrap();
    assert!(rewrite.status.success(), "{}", text(&rewrite));
    assert!(String::from_utf8_lossy(&rewrite.stdout).contains("__index_level_0__"), "{}", text(&rewrite));
    let dataset = LeRobotDataset::open(&root).unwrap();
    assert_eq!(dataset.tasks, vec!["Move the fingertip of a torque-driven planar 2-link arm onto a random target.".to_string()]);
    let validated = dreamrig(&["dataset", "validate", root_s]);
    assert!(validated.status.success(), "{}", text(&validated));
    let info = dreamrig(&["dataset", "info", root_s]);
    assert!(text(&info).contains("tasks: Move the fingertip"), "{}", text(&info));
}

#[test]
fn a_tasks_file_without_task_strings_is_refused_with_what_it_holds() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("reacher");
    let root_s = root.to_str().unwrap();
    let out = dreamrig(&["dataset", "generate", "reacher-2link", "--episodes", "1", "--policy", "auto", "--out", root_s]);
    assert!(out.status.success(), "{}", text(&out));
    let script = "import sys, pandas as pd\n\
                  pd.DataFrame({'task_index': [0]}).to_parquet(sys.argv[1] + '/meta/tasks.parquet', index=False)";
    let rewrite = Command::new(common::python()).args(["-c", script, root_s]).output().unwrap();
    assert!(rewrite.status.success(), "{}", text(&rewrite));
    let info = dreamrig(&["dataset", "info", root_s]);
    assert_eq!(info.status.code(), Some(2), "{}", text(&info));
    assert!(text(&info).contains("meta/tasks.parquet") && text(&info).contains("found task_index (i64)"), "{}", text(&info));
}

#[test]
fn seeds_are_uint64_and_datasets_that_stored_them_as_int64_read_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("cartpole");
    let root_s = root.to_str().unwrap();
    let out = dreamrig(&["dataset", "generate", "cartpole-balance", "--episodes", "4", "--policy", "random", "--out", root_s]);
    assert!(out.status.success(), "{}", text(&out));
    let seeds: Vec<u64> = LeRobotDataset::open(&root).unwrap().episode_metadata().unwrap().iter().map(|m| m.seed).collect();
    assert!(seeds.iter().any(|s| *s > i64::MAX as u64), "some derived seed uses the 64th bit: {seeds:?}");
    // pandas reads them as they are, and writing them back as int64 keeps their bits (older datasets).
    let script = "import sys, glob, pandas as pd\n\
                  path = glob.glob(sys.argv[1] + '/meta/episodes/*/*.parquet')[0]\n\
                  frame = pd.read_parquet(path)\n\
                  print(frame['dreamrig/seed'].dtype, ' '.join(str(s) for s in frame['dreamrig/seed']))\n\
                  frame['dreamrig/seed'] = frame['dreamrig/seed'].astype('int64')\n\
                  frame.to_parquet(path, index=False)";
    let rewrite = Command::new(common::python()).args(["-c", script, root_s]).output().unwrap();
    assert!(rewrite.status.success(), "{}", text(&rewrite));
    let listed: Vec<String> = seeds.iter().map(|s| s.to_string()).collect();
    assert_eq!(String::from_utf8_lossy(&rewrite.stdout).trim(), format!("uint64 {}", listed.join(" ")));
    let again: Vec<u64> = LeRobotDataset::open(&root).unwrap().episode_metadata().unwrap().iter().map(|m| m.seed).collect();
    assert_eq!(again, seeds);
}

/// The per-file frame count of each video file of a dataset, by file path.
fn video_frames(root: &Path) -> std::collections::BTreeMap<String, u32> {
    let mut out = std::collections::BTreeMap::new();
    let dir = root.join("videos/observation.images.top/chunk-000");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let (frames, width, height) = dreamrig_datasets::video::mp4_frames(&path).expect("an MP4 with a video track");
        assert_eq!((width, height), (64, 64));
        out.insert(path.file_name().unwrap().to_string_lossy().into_owned(), frames);
    }
    out
}

#[test]
fn camera_images_become_video_features_with_every_frame_and_appends_add_video_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("pusher-camera");
    let root_s = root.to_str().unwrap();
    let first = dreamrig(&["dataset", "generate", "pusher-camera", "--episodes", "2", "--policy", "auto", "--out", root_s]);
    assert!(first.status.success(), "{}", text(&first));
    let dataset = LeRobotDataset::open(&root).unwrap();
    let feature = dataset.info.feature("observation.images.top").expect("a video feature per camera");
    assert_eq!((feature.dtype.as_str(), feature.shape.as_slice()), ("video", &[64, 64, 3][..]));
    let video_info = feature.info.as_ref().expect("video info");
    assert_eq!(video_info["video.codec"], "h264");
    assert_eq!(video_info["video.fps"], 20);
    assert_eq!(dataset.info.video_path.as_deref(), Some(dreamrig_datasets::VIDEO_PATH));
    assert_eq!(video_frames(&root), [("file-000.mp4".to_string(), dataset.info.total_frames as u32)].into());

    let second = dreamrig(&["dataset", "generate", "pusher-camera", "--episodes", "1", "--policy", "auto", "--out", root_s, "--append"]);
    assert!(second.status.success(), "{}", text(&second));
    let valid = dreamrig(&["dataset", "validate", root_s]);
    assert!(valid.status.success(), "{}", text(&valid));
    // Each data file has its video file, frame for frame; episodes tile their file in time.
    let episodes = dreamrig_eval::tables::read_parquet(&root.join("meta/episodes/chunk-000/file-000.parquet")).unwrap();
    let int = |name: &str| -> Vec<f64> { episodes.column(name).unwrap().i64().unwrap().iter().map(|v| v.unwrap() as f64).collect() };
    let float = |name: &str| -> Vec<f64> { episodes.column(name).unwrap().f64().unwrap().iter().map(|v| v.unwrap()).collect() };
    let (file, from, to, length) = (
        int("videos/observation.images.top/file_index"),
        float("videos/observation.images.top/from_timestamp"),
        float("videos/observation.images.top/to_timestamp"),
        int("length"),
    );
    assert_eq!(file, [0.0, 0.0, 1.0]);
    assert_eq!((from[0], from[2]), (0.0, 0.0));
    assert!((from[1] - to[0]).abs() < 1e-9 && (to[1] - from[1] - length[1] / 20.0).abs() < 1e-9);
    let frames = video_frames(&root);
    assert_eq!(frames["file-000.mp4"] as f64, length[0] + length[1]);
    assert_eq!(frames["file-001.mp4"] as f64, length[2]);
    // Image statistics are per channel in [0, 1] and count every frame.
    let stats: serde_json::Value = serde_json::from_slice(&std::fs::read(root.join("meta/stats.json")).unwrap()).unwrap();
    let image = &stats["observation.images.top"];
    assert_eq!(image["count"][0].as_f64().unwrap(), length.iter().sum::<f64>());
    for c in 0..3 {
        let (min, mean, max) =
            (image["min"][c][0][0].as_f64().unwrap(), image["mean"][c][0][0].as_f64().unwrap(), image["max"][c][0][0].as_f64().unwrap());
        assert!((0.0..=1.0).contains(&min) && min <= mean && mean <= max && max <= 1.0, "channel {c}: {min} {mean} {max}");
    }
}

#[test]
fn camera_datasets_are_byte_identical_on_one_and_two_threads() {
    let dir = tempfile::tempdir().unwrap();
    let write = |threads: &str| {
        let root = dir.path().join(format!("t{threads}"));
        let out =
            dreamrig(&["dataset", "generate", "pusher-camera", "--episodes", "3", "--threads", threads, "--out", root.to_str().unwrap()]);
        assert!(out.status.success(), "{}", text(&out));
        let video = std::fs::read(root.join("videos/observation.images.top/chunk-000/file-000.mp4")).unwrap();
        let data = std::fs::read(root.join("data/chunk-000/file-000.parquet")).unwrap();
        (video, data)
    };
    assert!(write("1") == write("2"), "the video or data bytes depend on the thread count");
}

#[test]
fn a_camera_whose_size_cannot_be_video_is_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("odd");
    let out = dreamrig(&["dataset", "generate", "tests/fixtures/odd-camera.yaml", "--episodes", "1", "--out", root.to_str().unwrap()]);
    assert!(!out.status.success());
    let message = text(&out);
    assert!(message.contains("odd-camera.yaml") && message.contains("camera \"front\"") && message.contains("47×48"), "{message}");
    assert!(message.contains("must be even"), "{message}");
    assert!(!root.exists(), "nothing is written");
}

#[test]
fn run_writes_a_video_of_its_episodes_and_refuses_a_scenario_without_a_camera() {
    let dir = tempfile::tempdir().unwrap();
    let video = dir.path().join("episodes.mp4");
    let out = dreamrig(&["run", "pusher-camera", "--policy", "auto", "--episodes", "2", "--video", video.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let steps: u32 = String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("summary: 2 episodes, ").and_then(|r| r.split(' ').next()).and_then(|n| n.parse().ok()))
        .expect("a summary line");
    let (frames, width, height) = dreamrig_datasets::video::mp4_frames(&video).unwrap();
    assert_eq!((frames, width, height), (steps, 64, 64), "one frame per control step");
    let duration = dreamrig_datasets::video::mp4_duration_s(&video).unwrap();
    assert!((duration - steps as f64 * 0.05).abs() < 1e-6, "{duration} s for {steps} steps of 50 ms");

    // No camera: a clear error, and the existing file is left as it was.
    let before = std::fs::read(&video).unwrap();
    let refused = dreamrig(&["run", "arm7-reach", "--video", video.to_str().unwrap()]);
    assert!(!refused.status.success());
    assert!(text(&refused).contains("has no camera with an rgb output"), "{}", text(&refused));
    let unknown = dreamrig(&["run", "pusher-camera", "--video", video.to_str().unwrap(), "--video-camera", "wrist"]);
    assert!(!unknown.status.success());
    assert!(text(&unknown).contains("--video-camera wrist") && text(&unknown).contains("top"), "{}", text(&unknown));
    assert_eq!(std::fs::read(&video).unwrap(), before);
}
