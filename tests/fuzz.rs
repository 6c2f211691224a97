//! Fuzzing URDF and scenario files (issue "Robots from the wild", item 6): real files mutated in
//! their numbers (NaN, ±inf, 0, negatives, huge and tiny values), their structure (lines
//! deleted, duplicated, swapped) and their bytes (flipped, inserted, truncated), each validated
//! and, when valid, run for a short episode. Bad input must give an error, never a panic or a
//! hang.
//!
//! CI runs 10⁴ inputs. The long run (10⁶ inputs; README, "Fuzzing") is
//! `DREAMRIG_FUZZ_INPUTS=1000000 cargo test --release --test fuzz -- --ignored --nocapture`;
//! `DREAMRIG_FUZZ_SEED` picks another sequence. A panicking or hanging input is written to
//! `$TMPDIR/dreamrig-fuzz-*/` so that it can be replayed with `dreamrig run`.

mod common;

use common::repo;
use dreamrig_sim::{PhysicsWorld, Scenario, World};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// SplitMix64: a small, seedable generator; the sequence of inputs is a function of the seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// The byte ranges of the numbers in `text` (an optional sign, digits, a point, an exponent).
fn numbers(text: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < text.len() {
        let start = i;
        if text[i] == b'-' || text[i] == b'+' {
            i += 1;
        }
        let digits = i;
        while i < text.len() && (text[i].is_ascii_digit() || text[i] == b'.') {
            i += 1;
        }
        if i > digits && text[digits..i].iter().any(u8::is_ascii_digit) {
            if i < text.len() && (text[i] == b'e' || text[i] == b'E') {
                i += 1;
                while i < text.len() && (text[i].is_ascii_digit() || text[i] == b'-' || text[i] == b'+') {
                    i += 1;
                }
            }
            out.push((start, i));
        } else {
            i = start + 1;
        }
    }
    out
}

const NUMBERS: [&str; 16] =
    ["NaN", "nan", "inf", "-inf", "0", "-0", "-1", "1e308", "-1e308", "1e-308", "1e30", "1e-30", "3.4e38", "99999999999", "0.5", "-2.5"];

/// One mutation of `seed_text`: a number, the structure or the bytes, as `rng` draws.
fn mutate(seed_text: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut text = seed_text.to_vec();
    for _ in 0..1 + rng.below(3) {
        match rng.below(10) {
            0..=4 => {
                let spans = numbers(&text);
                if spans.is_empty() {
                    continue;
                }
                let (a, b) = spans[rng.below(spans.len())];
                let value: Vec<u8> = if rng.below(4) == 0 {
                    format!("{}", (rng.next() as i64 as f64) / (1u64 << rng.below(64)) as f64).into_bytes()
                } else {
                    NUMBERS[rng.below(NUMBERS.len())].as_bytes().to_vec()
                };
                text.splice(a..b, value);
            }
            5..=7 => {
                let lines: Vec<&[u8]> = text.split(|c| *c == b'\n').collect();
                if lines.len() < 2 {
                    continue;
                }
                let (i, j) = (rng.below(lines.len()), rng.below(lines.len()));
                let mut out: Vec<Vec<u8>> = lines.iter().map(|l| l.to_vec()).collect();
                match rng.below(3) {
                    0 => {
                        out.remove(i);
                    }
                    1 => {
                        let copy = out[i].clone();
                        out.insert(j, copy);
                    }
                    _ => out.swap(i, j),
                }
                text = out.join(&b'\n');
            }
            _ => {
                if text.is_empty() {
                    continue;
                }
                let at = rng.below(text.len());
                match rng.below(3) {
                    0 => text[at] ^= 1 << rng.below(8),
                    1 => text.insert(at, rng.next() as u8),
                    _ => text.truncate(at),
                }
            }
        }
    }
    text
}

/// The seed files: every shipped robot and scenario, and the URDF fixtures (meshes included).
struct Seeds {
    urdfs: Vec<(PathBuf, Vec<u8>)>,
    scenarios: Vec<(PathBuf, Vec<u8>)>,
}

fn seeds() -> Seeds {
    let read_dir = |dir: PathBuf, extension: &str| -> Vec<(PathBuf, Vec<u8>)> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == extension))
            .collect();
        files.sort();
        files.into_iter().map(|p| (p.clone(), std::fs::read(&p).unwrap())).collect()
    };
    let mut urdfs = read_dir(repo().join("scenarios/robots"), "urdf");
    urdfs.extend(["pendulum.urdf", "mesh-block.urdf", "mast.urdf"].map(|f| {
        let p = repo().join("tests/fixtures").join(f);
        (p.clone(), std::fs::read(&p).unwrap())
    }));
    let mut scenarios = read_dir(repo().join("scenarios"), "yaml");
    scenarios.extend(["sensor-room.yaml", "mesh-room.yaml", "box-drop.yaml", "mimic-arm.yaml"].map(|f| {
        let p = repo().join("tests/fixtures").join(f);
        (p.clone(), std::fs::read(&p).unwrap())
    }));
    Seeds { urdfs, scenarios }
}

/// Validates a scenario and, when it is valid, runs 3 steps of an in-range action pattern.
fn try_scenario(path: &Path, bytes: &[u8]) {
    let Ok(scenario) = Scenario::from_bytes(bytes, path) else { return };
    let mut world = PhysicsWorld::new(scenario.config);
    if world.reset(0).is_err() {
        return;
    }
    let spec = world.action_spec().clone();
    for step in 0..3 {
        let action: Vec<f64> = (0..spec.len())
            .map(|i| {
                let (lo, hi) = (spec.low[i].max(-1e3), spec.high[i].min(1e3));
                if step % 2 == 0 {
                    hi
                } else {
                    lo
                }
            })
            .collect();
        if world.step(&action).is_err() {
            return;
        }
    }
}

/// A scenario that runs `urdf` as a free robot over the ground, every movable joint
/// torque-driven (names as in the unmutated file), with joint-state and IMU sensors.
fn urdf_scenario(urdf_name: &str, joints: &[String], root: &str) -> String {
    let actuators: String = joints.iter().map(|j| format!("    - {{kind: torque, joint: {j}, effort_limit: 5}}\n")).collect();
    format!(
        "version: 1\nrobot:\n  urdf: {urdf_name}\n  base: {{fixed: false, position: [0, 0, 1]}}\n  actuators:\n{actuators}\
         sensors:\n  - joint_state: {{}}\n  - imu: {{link: {root}}}\ntask: {{kind: balance, horizon_steps: 10}}\n\
         timing: {{physics_dt: 0.002, control_period: 0.02}}\n"
    )
}

/// Runs `inputs` mutated inputs from `seed`; panics with the count and the saved files of any
/// input that panicked or ran past `deadline`.
fn fuzz(inputs: u64, seed: u64, deadline: Duration) {
    let seeds = seeds();
    let dir = std::env::temp_dir().join(format!("dreamrig-fuzz-{seed}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // The meshes the fixtures refer to, beside the mutated copies.
    let meshes = repo().join("tests/fixtures/meshes");
    let _ = std::fs::create_dir_all(dir.join("meshes"));
    for entry in std::fs::read_dir(&meshes).unwrap().flatten() {
        std::fs::copy(entry.path(), dir.join("meshes").join(entry.file_name())).unwrap();
    }
    // Each URDF seed's joint names and root link, read from the unmutated file.
    let urdf_shapes: Vec<(Vec<String>, String)> = seeds
        .urdfs
        .iter()
        .map(|(path, text)| {
            let model = dreamrig_sim::robot::RobotModel::from_str(std::str::from_utf8(text).unwrap(), path.clone(), &Default::default())
                .unwrap_or_else(|p| panic!("{}: {p:?}", path.display()));
            (model.joints.iter().filter(|j| j.mimic.is_none()).map(|j| j.name.clone()).collect(), model.root_link.clone())
        })
        .collect();
    let done = Arc::new(AtomicU64::new(0));
    let finished = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let current = Arc::new(std::sync::Mutex::new(String::new()));
    {
        // The hang detector: an input that runs past `deadline` stops the process, and names itself.
        let (done, current, finished) = (done.clone(), current.clone(), finished.clone());
        std::thread::spawn(move || {
            let mut last = (u64::MAX, Instant::now());
            while !finished.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(200));
                let now = done.load(Ordering::SeqCst);
                if now != last.0 {
                    last = (now, Instant::now());
                } else if last.1.elapsed() > deadline {
                    eprintln!("fuzz: input {now} ran past {deadline:?} (a hang): {}", current.lock().unwrap());
                    std::process::abort();
                }
            }
        });
    }
    // Every panic passes the hook, also those a world catches and ends the episode with
    // (rapier asserting on a non-finite value inside a step becomes `SimError::Diverged`).
    static PANICS_SEEN: AtomicU64 = AtomicU64::new(0);
    PANICS_SEEN.store(0, Ordering::SeqCst);
    std::panic::set_hook(Box::new(|_| {
        PANICS_SEEN.fetch_add(1, Ordering::SeqCst);
    }));
    let mut rng = Rng(seed);
    let mut panics = Vec::new();
    let (mut valid, started) = (0u64, Instant::now());
    for input in 0..inputs {
        let urdf_turn = rng.below(2) == 0;
        let (file, bytes) = if urdf_turn {
            let k = rng.below(seeds.urdfs.len());
            let urdf = mutate(&seeds.urdfs[k].1, &mut rng);
            let urdf_path = dir.join(format!("input-{}.urdf", input % 2));
            std::fs::write(&urdf_path, &urdf).unwrap();
            let (joints, root) = &urdf_shapes[k];
            let yaml = urdf_scenario(urdf_path.file_name().unwrap().to_str().unwrap(), joints, root);
            (dir.join("input.yaml"), yaml.into_bytes())
        } else {
            let k = rng.below(seeds.scenarios.len());
            (seeds.scenarios[k].0.clone(), mutate(&seeds.scenarios[k].1, &mut rng))
        };
        *current.lock().unwrap() = format!("input {input} ({})", file.display());
        let result = catch_unwind(AssertUnwindSafe(|| {
            if Scenario::from_bytes(&bytes, &file).is_ok() {
                valid += 1;
            }
            try_scenario(&file, &bytes);
        }));
        if let Err(payload) = result {
            let message = payload.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| payload.downcast_ref::<String>().cloned());
            let saved = dir.join(format!("panic-{input}"));
            std::fs::create_dir_all(&saved).unwrap();
            std::fs::write(saved.join("scenario.yaml"), &bytes).unwrap();
            if urdf_turn {
                std::fs::copy(dir.join(format!("input-{}.urdf", input % 2)), saved.join(format!("input-{}.urdf", input % 2))).unwrap();
            }
            panics.push(format!("input {input} (from {}): {message:?}; saved in {}", file.display(), saved.display()));
        }
        done.fetch_add(1, Ordering::SeqCst);
    }
    finished.store(true, Ordering::SeqCst);
    let _ = std::panic::take_hook();
    eprintln!(
        "fuzz: {inputs} inputs from seed {seed}, {valid} valid, {} panics, 0 hangs, {} solver stops ended as errors, {:.1} s",
        panics.len(),
        PANICS_SEEN.load(Ordering::SeqCst) - panics.len() as u64,
        started.elapsed().as_secs_f64()
    );
    assert!(panics.is_empty(), "{} of {inputs} inputs panicked:\n{}", panics.len(), panics.join("\n"));
    let _ = std::fs::remove_dir_all(&dir);
}

fn seed() -> u64 {
    std::env::var("DREAMRIG_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(1)
}

#[test]
fn ten_thousand_mutated_urdf_and_scenario_files_give_errors_never_panics_or_hangs() {
    fuzz(10_000, seed(), Duration::from_secs(120));
}

#[test]
#[ignore = "the long run: DREAMRIG_FUZZ_INPUTS=1000000 cargo test --release --test fuzz -- --ignored --nocapture"]
fn the_long_fuzz_run() {
    let inputs = std::env::var("DREAMRIG_FUZZ_INPUTS").ok().and_then(|s| s.parse().ok()).unwrap_or(1_000_000);
    fuzz(inputs, seed(), Duration::from_secs(120));
}
