//! Golden results: what the quickstart evaluation and dataset generation write must not change
//! when the code around them is reorganized. The golden files in `tests/golden/` were written
//! by the release before the rollout engine (commit d4ae8cc); a change that alters them on
//! purpose regenerates them and says why in its commit.
//!
//! Physics is IEEE-754 arithmetic without fused multiply-add on the default x86-64 target, so
//! these bytes hold on any x86-64 machine; the quickstart's one neural policy runs a tiny MLP
//! whose results could differ on a CPU with other SIMD kernels, which would show here first.

mod common;

use common::repo;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::process::{Command, Output};

fn dreamrig(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dreamrig")).args(args).current_dir(repo()).output().expect("dreamrig runs")
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

fn golden(path: &str) -> Vec<u8> {
    let file = repo().join("tests/golden").join(path);
    std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

/// `sha256  relative/path` for every file under `root`, sorted by path.
fn hashes(root: &Path) -> String {
    fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(root, &mut files);
    files.sort();
    files
        .iter()
        .map(|f| {
            let digest = Sha256::digest(std::fs::read(f).unwrap());
            let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
            format!("{hex}  {}\n", f.strip_prefix(root).unwrap().display())
        })
        .collect()
}

#[test]
fn the_quickstart_evaluation_writes_the_golden_tables() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("quickstart");
    let run = dreamrig(&["eval", "evals/quickstart.yaml", "--out", out.to_str().unwrap()]);
    assert!(run.status.success(), "{}", text(&run));
    for file in ["episodes.csv", "summary.csv", "episodes.parquet", "summary.parquet"] {
        let written = std::fs::read(out.join(file)).unwrap();
        let expected = golden(&format!("quickstart/{file}"));
        if file.ends_with(".csv") && written != expected {
            // Show the first differing row of a text table.
            let (a, b) = (String::from_utf8_lossy(&written), String::from_utf8_lossy(&expected));
            let row = a.lines().zip(b.lines()).find(|(x, y)| x != y);
            panic!("{file} differs from tests/golden/quickstart/{file}; first differing row (written, golden): {row:?}");
        }
        assert!(written == expected, "{file} differs from tests/golden/quickstart/{file}");
    }
}

#[test]
fn generated_datasets_are_byte_identical_to_the_golden_ones() {
    let dir = tempfile::tempdir().unwrap();
    for (scenario, episodes, seed) in [("arm7-reach", "3", "5"), ("diffdrive-nav", "2", "11")] {
        let out = dir.path().join(scenario);
        let run = dreamrig(&["dataset", "generate", scenario, "--episodes", episodes, "--seed", seed, "--out", out.to_str().unwrap()]);
        assert!(run.status.success(), "{}", text(&run));
        let expected = String::from_utf8(golden(&format!("datasets/{scenario}.sha256"))).unwrap();
        assert_eq!(hashes(&out), expected, "{scenario}: the dataset's files differ from tests/golden/datasets/{scenario}.sha256");
    }
}
