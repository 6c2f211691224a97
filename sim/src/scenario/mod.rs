//! Scenario files: parse (`spec`), locate (`positions`), validate (`config`).

/// Validated scenario settings ([`ScenarioConfig`]) built from a parsed spec.
pub mod config;
/// Typed changes merged into a scenario as it loads (eval spec entries, `--dynamics`).
pub mod overrides;
/// Line and column of every key path in the YAML text, for error messages.
pub mod positions;
/// The scenario file as parsed from YAML, before validation (one type per mapping).
pub mod spec;

use crate::error::{ScenarioError, ScenarioErrors};
use config::ScenarioConfig;
use overrides::ScenarioOverrides;
use positions::PositionIndex;
use spec::ScenarioSpec;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A loaded, validated scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The scenario file it was loaded from, as given.
    pub path: PathBuf,
    /// FNV-1a hash of the file's bytes, in hex: identifies the exact scenario a result or a
    /// model came from.
    pub source_hash: String,
    /// The validated settings, shared by every world built from this scenario.
    pub config: Arc<ScenarioConfig>,
}

impl Scenario {
    /// Reads and validates a scenario file, reporting every problem found.
    pub fn load(path: &Path) -> Result<Self, ScenarioErrors> {
        Self::load_with(path, &ScenarioOverrides::default())
    }

    /// Reads a scenario file, merges `overrides` into it and validates the result, reporting
    /// every problem found: a problem in an overriding value is reported at its place in the
    /// file it was written in.
    pub fn load_with(path: &Path, overrides: &ScenarioOverrides) -> Result<Self, ScenarioErrors> {
        let bytes = std::fs::read(path).map_err(|e| ScenarioError::Io { file: path.to_path_buf(), reason: e.to_string() })?;
        Self::from_bytes_with(&bytes, path, overrides)
    }

    /// Validates scenario text as if it were read from `path` (relative paths inside it are
    /// resolved against `path`'s folder).
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Self, ScenarioErrors> {
        Self::from_bytes_with(bytes, path, &ScenarioOverrides::default())
    }

    /// [`Scenario::from_bytes`] with `overrides` merged in before validation.
    pub fn from_bytes_with(bytes: &[u8], path: &Path, overrides: &ScenarioOverrides) -> Result<Self, ScenarioErrors> {
        let file = path.to_path_buf();
        let text = std::str::from_utf8(bytes).map_err(|e| {
            let offset = e.valid_up_to();
            let before = &bytes[..offset];
            let line = before.iter().filter(|b| **b == b'\n').count() + 1;
            let column = offset - before.iter().rposition(|b| *b == b'\n').map(|p| p + 1).unwrap_or(0) + 1;
            ScenarioError::NotUtf8 { file: file.clone(), line, column, offset }
        })?;
        if text.lines().all(|l| l.trim().is_empty() || l.trim_start().starts_with('#')) {
            return Err(ScenarioError::Empty { file }.into());
        }
        let index = PositionIndex::build(text);
        if let Some(duplicate) = index.duplicates().first() {
            return Err(duplicate_key(&file, duplicate).into());
        }
        let mut spec: ScenarioSpec = serde_yaml::from_str(text).map_err(|e| syntax_error(&file, &e))?;
        let relocations = overrides.apply(&mut spec);
        let config = ScenarioConfig::from_spec(&spec, path, &index, &relocations).map_err(ScenarioErrors)?;
        Ok(Self { path: file, source_hash: format!("{:016x}", fnv1a(bytes)), config: Arc::new(config) })
    }
}

/// The error for a key given twice in one mapping, at its second occurrence.
pub fn duplicate_key(file: &Path, duplicate: &positions::DuplicateKey) -> ScenarioError {
    let (line, column) = duplicate.again;
    ScenarioError::Syntax {
        file: file.to_path_buf(),
        line,
        column,
        message: format!(
            "duplicate key {}: first given at line {}; a YAML mapping's keys must be unique",
            duplicate.path, duplicate.first.0
        ),
    }
}

fn syntax_error(file: &Path, error: &serde_yaml::Error) -> ScenarioError {
    let (line, column) = error.location().map(|l| (l.line(), l.column())).unwrap_or((1, 1));
    let mut message = error.to_string();
    if let Some(cut) = message.rfind(" at line ") {
        message.truncate(cut);
    }
    if message.contains("ScenarioSpec") {
        message = message.replace("struct ScenarioSpec", "a scenario mapping (version, robot, task, timing, …)");
    }
    ScenarioError::Syntax { file: file.to_path_buf(), line, column, message }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    crate::seed::fnv1a(&[bytes])
}

/// Folders searched for scenarios given by name: `$DREAMRIG_SCENARIO_PATH` (colon-separated),
/// `./scenarios`, and the `scenarios/` folder of the source tree dreamrig was built from.
pub fn search_path() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> =
        std::env::var_os("DREAMRIG_SCENARIO_PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default();
    dirs.push(PathBuf::from("scenarios"));
    dirs.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("scenarios"));
    dirs
}

/// A scenario file from a path, or from a name such as `cartpole-balance` looked up in
/// [`search_path`].
pub fn resolve(name_or_path: &str) -> Result<PathBuf, ScenarioError> {
    let direct = PathBuf::from(name_or_path);
    if direct.is_file() {
        return Ok(direct);
    }
    let file_name = if name_or_path.ends_with(".yaml") || name_or_path.ends_with(".yml") {
        name_or_path.to_string()
    } else {
        format!("{name_or_path}.yaml")
    };
    let searched = search_path();
    for dir in &searched {
        let candidate = dir.join(&file_name);
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    let places: Vec<String> = searched.iter().map(|d| d.display().to_string()).collect();
    Err(ScenarioError::Io {
        file: direct,
        reason: format!("no such file, and no scenario of that name in {} (run `dreamrig scenarios` to list them)", places.join(", ")),
    })
}

/// The scenario files shipped with dreamrig: every `*.yaml` in the first folder of the
/// search path that has any.
pub fn shipped() -> Vec<PathBuf> {
    for dir in search_path() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        let mut files: Vec<PathBuf> =
            entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|e| e == "yaml")).collect();
        if !files.is_empty() {
            files.sort();
            return files;
        }
    }
    Vec::new()
}
