//! Evaluation specs (`evals/*.yaml`): which policies run on which scenarios, for how many
//! episodes, with which randomization.

use crate::EvalError;
use dreamrig_policies::external::ExternalPolicies;
use dreamrig_policies::PolicySpec;
use dreamrig_sim::scenario::overrides::{OverrideSource, RandomizeOverrides, ScenarioOverrides};
use dreamrig_sim::scenario::positions::PositionIndex;
use dreamrig_sim::scenario::spec::DynamicsSpec;
use dreamrig_sim::{PhysicsWorld, Scenario, World};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// An evaluation spec as the YAML file says it, before any check (unknown keys are refused);
/// [`EvalSpec::load`] turns it into an [`EvalSpec`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalSpecFile {
    /// Format version; only 1 is accepted.
    pub version: i64,
    /// Name shown in reports and run manifests; defaults to the file's stem.
    pub name: Option<String>,
    /// Free text for readers; the runner ignores it.
    pub description: Option<String>,
    /// Master seed; every episode's seed derives from it.
    #[serde(default)]
    pub seed: u64,
    /// Episodes per policy and scenario. Every policy sees the same episodes (same seeds).
    pub episodes: i64,
    /// Wall-clock budget of one episode in seconds; an episode over it is recorded as failed.
    pub episode_timeout_s: Option<f64>,
    /// The scenarios to run, at least one.
    pub scenarios: Vec<ScenarioEntry>,
    /// The policies to run, at least one, with unique names.
    pub policies: Vec<PolicySpec>,
}

/// One entry of a spec's `scenarios` list.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioEntry {
    /// A scenario file (relative to the spec) or the name of a shipped scenario.
    pub scenario: String,
    /// Keys that replace those of the scenario's `randomize` section.
    pub randomize: Option<RandomizeOverrides>,
    /// Names of the policies to run here (default: all).
    pub policies: Option<Vec<String>>,
}

/// A checked evaluation: scenarios loaded, policies resolved for each.
#[derive(Debug, Clone)]
pub struct EvalSpec {
    /// The spec file, as given to [`EvalSpec::load`].
    pub path: PathBuf,
    /// The spec's `name`, or the file's stem.
    pub name: String,
    /// Hash of the spec and of every scenario it uses: shards and resumed runs must match it.
    pub fingerprint: String,
    /// Master seed; see [`crate::grid::episode_seed`].
    pub seed: u64,
    /// Episodes per scenario × policy pair (1 to 10 000 000).
    pub episodes: u32,
    /// Wall-clock budget of one episode in seconds (`None`: no limit); an episode over it is an error.
    pub episode_timeout_s: Option<f64>,
    /// The loaded scenarios in spec order, overrides applied; [`EpisodeKey::scenario`](crate::EpisodeKey) indexes it.
    pub scenarios: Vec<Scenario>,
    /// For each scenario, the name its episodes' seeds derive from: the name of the scenario
    /// the spec lists, even where `physics:SCENARIO` runs another one in its place, so that
    /// two worlds compared on one spec run the same episodes (initial states, goals, noise).
    pub seed_names: Vec<String>,
    /// Every policy of the spec in spec order; [`EpisodeKey::policy`](crate::EpisodeKey) indexes it.
    pub policies: Vec<PolicySpec>,
    /// For each scenario, the indices of the policies that run on it.
    pub pairs: Vec<Vec<usize>>,
    /// What runs the spec's `python:` policies (`None`: the spec has none, or was loaded by a
    /// process that cannot run them, and then it did not load).
    pub external: Option<ExternalHost>,
}

/// The `python:` reference of a policy added with [`EvalSpec::add_external_policy`]: the host
/// finds it by the policy's name.
pub const GIVEN_POLICY: &str = "<given>";

/// The host of a spec's external (`python:`) policies, shared by the runner's workers.
#[derive(Clone)]
pub struct ExternalHost(pub Arc<dyn ExternalPolicies>);

impl std::fmt::Debug for ExternalHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ExternalHost")
    }
}

fn invalid(path: &Path, key: &str, message: impl Into<String>) -> EvalError {
    EvalError::Spec { file: path.to_path_buf(), key: key.to_string(), message: message.into() }
}

fn fnv1a(hash: u64, bytes: &[u8]) -> u64 {
    dreamrig_sim::seed::Fnv1a::resume(hash).update(bytes).finish()
}

/// A world name that is none of `physics`, `physics:SCENARIO`, `learned:MODEL`, `hybrid:MODEL`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("expected physics, physics:SCENARIO, learned:MODEL.json or hybrid:MODEL.json, got {0:?}")]
pub struct WorldNameError(pub String);

/// Changes applied to a spec as it loads (what `--dynamics` and `dreamrig wm compare` ask).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpecOverrides {
    /// Run every entry on this scenario (a file or a shipped name) instead of its own.
    pub scenario: Option<String>,
    /// Replace every scenario's `dynamics` section: backend (`physics`, `learned`, `hybrid`)
    /// and model file.
    pub dynamics: Option<(String, Option<PathBuf>)>,
}

impl SpecOverrides {
    /// The scenario `dynamics` section these overrides put in place (backend and model path),
    /// if they replace it.
    pub fn dynamics_spec(&self) -> Option<DynamicsSpec> {
        self.dynamics
            .as_ref()
            .map(|(backend, model)| DynamicsSpec { backend: backend.clone(), model: model.as_ref().map(|m| m.display().to_string()) })
    }

    /// Parses `physics`, `physics:SCENARIO`, `learned:MODEL` or `hybrid:MODEL`.
    ///
    /// # Errors
    /// [`WorldNameError`] for anything else (an unknown backend, a missing model path).
    pub fn parse_world(text: &str) -> Result<Self, WorldNameError> {
        let (backend, rest) = match text.split_once(':') {
            Some((b, r)) => (b, Some(r)),
            None => (text, None),
        };
        match (backend, rest) {
            ("physics", None) => Ok(Self::default()),
            ("physics", Some(scenario)) if !scenario.is_empty() => Ok(Self { scenario: Some(scenario.into()), dynamics: None }),
            ("learned" | "hybrid", Some(model)) if !model.is_empty() => {
                let model = PathBuf::from(model);
                let model = std::path::absolute(&model).unwrap_or(model);
                Ok(Self { scenario: None, dynamics: Some((backend.into(), Some(model))) })
            }
            _ => Err(WorldNameError(text.to_string())),
        }
    }
}

impl SpecOverrides {
    /// What `dreamrig eval --dynamics TEXT` (and `dreamrig.evaluate(dynamics=TEXT)`) asks:
    /// `physics` makes every scenario rapier whatever it says, `learned:MODEL` and
    /// `hybrid:MODEL` run every scenario in that world model.
    ///
    /// # Errors
    /// What was expected and what was found (`physics:SCENARIO` names a scenario, which
    /// `--dynamics` does not take).
    pub fn for_dynamics(text: &str) -> Result<Self, String> {
        let o = Self::parse_world(text).map_err(|e| e.to_string())?;
        if o.scenario.is_some() {
            return Err(format!("{text:?} names a scenario; use physics, learned:MODEL or hybrid:MODEL"));
        }
        // `physics` alone means: whatever the scenarios say becomes rapier.
        Ok(if o.dynamics.is_none() { Self { scenario: None, dynamics: Some(("physics".into(), None)) } } else { o })
    }
}

impl EvalSpec {
    /// Replaces the master seed (to draw other episodes from the same spec); the fingerprint
    /// changes with it, so a run of one seed is never resumed with another.
    pub fn override_seed(&mut self, seed: u64) {
        self.seed = seed;
        self.fingerprint = format!("{}-seed-{seed}", self.fingerprint);
    }

    /// Adds a policy that the spec's `external` host provides by name (a callable handed to
    /// `dreamrig.evaluate(policies=...)`), run on every scenario after the spec's own. Its name
    /// enters the fingerprint.
    ///
    /// # Errors
    /// [`EvalError::Usage`] when the spec has no external host or already has a policy of that name.
    pub fn add_external_policy(&mut self, name: &str) -> Result<(), EvalError> {
        if self.external.is_none() {
            return Err(EvalError::Usage(format!("policy {name}: this evaluation has no host for python policies")));
        }
        if self.policies.iter().any(|p| p.name == name) {
            return Err(EvalError::Usage(format!(
                "policy {name}: the spec {} already has a policy of that name; policy names must be unique",
                self.path.display()
            )));
        }
        self.policies.push(PolicySpec { name: name.into(), python: Some(GIVEN_POLICY.into()), ..PolicySpec::default() });
        let index = self.policies.len() - 1;
        self.pairs.iter_mut().for_each(|pair| pair.push(index));
        self.fingerprint = format!("{}-python-{name}", self.fingerprint);
        Ok(())
    }

    /// Loads and checks the spec at `path` with no overrides; see [`EvalSpec::load_with`].
    ///
    /// # Errors
    /// As [`EvalSpec::load_with`].
    pub fn load(path: &Path) -> Result<Self, EvalError> {
        Self::load_with(path, &SpecOverrides::default())
    }

    /// Loads and checks the spec at `path`, applying `overrides`: resolves each scenario (a file
    /// relative to the spec, else a shipped name), merges its `randomize` overrides, and builds every
    /// selected policy once against it. The fingerprint is FNV-1a (64-bit, 16 hex digits) of the spec's
    /// bytes, each scenario file's bytes and, with a `--dynamics` model, the model's `.json` and
    /// `.safetensors` files and the backend name.
    ///
    /// # Errors
    /// [`EvalError::Located`] for invalid `randomize` values (located in the spec);
    /// [`EvalError::Spec`] for anything else: an unreadable, non-UTF-8, empty or malformed file,
    /// `version` ≠ 1, `episodes` outside 1..=10 000 000, a non-positive `episode_timeout_s`, no
    /// scenarios or policies, duplicate policy names, an unknown policy kind or wrapper, a scenario
    /// or model that cannot be read, a `policies` entry naming no policy, or a policy that cannot be
    /// built for its scenario.
    pub fn load_with(path: &Path, overrides: &SpecOverrides) -> Result<Self, EvalError> {
        Self::load_hosted(path, overrides, None)
    }

    /// [`EvalSpec::load_with`], with a host for the spec's `python:` policies: each is checked
    /// with [`ExternalPolicies::check`] instead of being built (without a host, a `python:`
    /// policy is an error saying how to run it).
    ///
    /// # Errors
    /// As [`EvalSpec::load_with`].
    pub fn load_hosted(path: &Path, overrides: &SpecOverrides, external: Option<Arc<dyn ExternalPolicies>>) -> Result<Self, EvalError> {
        let bytes = std::fs::read(path).map_err(|e| invalid(path, "", format!("cannot read: {e}")))?;
        let text = std::str::from_utf8(&bytes).map_err(|e| invalid(path, "", format!("not valid UTF-8 at byte {}", e.valid_up_to())))?;
        if text.trim().is_empty() {
            return Err(invalid(path, "", "the file is empty; expected an evaluation spec with version, episodes, scenarios and policies"));
        }
        let file: EvalSpecFile = serde_yaml::from_str(text).map_err(|e| {
            let location = e.location().map(|l| format!(":{}:{}", l.line(), l.column())).unwrap_or_default();
            let mut message = e.to_string();
            if let Some(cut) = message.rfind(" at line ") {
                message.truncate(cut);
            }
            EvalError::Spec { file: PathBuf::from(format!("{}{location}", path.display())), key: String::new(), message }
        })?;
        if file.version != 1 {
            return Err(invalid(path, "version", format!("expected 1, got {}", file.version)));
        }
        if !(1..=10_000_000).contains(&file.episodes) {
            return Err(invalid(path, "episodes", format!("expected a positive integer up to 10000000, got {}", file.episodes)));
        }
        if let Some(t) = file.episode_timeout_s {
            if !(t.is_finite() && t > 0.0) {
                return Err(invalid(path, "episode_timeout_s", format!("expected a positive number of seconds, got {t}")));
            }
        }
        if file.scenarios.is_empty() {
            return Err(invalid(path, "scenarios", "expected at least one scenario"));
        }
        if file.policies.is_empty() {
            return Err(invalid(path, "policies", "expected at least one policy"));
        }
        let mut names = std::collections::HashSet::new();
        for (i, p) in file.policies.iter().enumerate() {
            if !names.insert(p.name.as_str()) {
                return Err(invalid(
                    path,
                    &format!("policies[{i}].name"),
                    format!("policy names must be unique; {} is used twice", p.name),
                ));
            }
            let problem = |e: dreamrig_policies::zoo::SpecProblem| {
                let e = e.under(&format!("policies[{i}]"));
                invalid(path, &e.key, e.message)
            };
            p.kind().map_err(problem)?;
            p.check_wrappers().map_err(problem)?;
        }
        let index = PositionIndex::build(text);
        if let Some(duplicate) = index.duplicates().first() {
            return Err(EvalError::Located(dreamrig_sim::scenario::duplicate_key(path, duplicate).into()));
        }
        let base = path.parent().unwrap_or(Path::new("."));
        let mut fingerprint = fnv1a(dreamrig_sim::seed::Fnv1a::OFFSET_BASIS, &bytes);
        let mut scenarios = Vec::new();
        let mut seed_names = Vec::new();
        let mut pairs = Vec::new();
        for (i, entry) in file.scenarios.iter().enumerate() {
            let key = format!("scenarios[{i}]");
            let listed_path = {
                let relative = base.join(&entry.scenario);
                if relative.is_file() {
                    relative
                } else {
                    dreamrig_sim::scenario::resolve(&entry.scenario)
                        .map_err(|e| invalid(path, &format!("{key}.scenario"), e.to_string()))?
                }
            };
            let scenario_path = match &overrides.scenario {
                // `resolve` takes an existing path as it is, else a shipped name.
                Some(name) => dreamrig_sim::scenario::resolve(name)
                    .map_err(|e| invalid(path, &format!("{key}.scenario (overridden)"), e.to_string()))?,
                None => listed_path.clone(),
            };
            let seed_name = match &overrides.scenario {
                None => None,
                Some(_) => {
                    let listed = Scenario::load(&listed_path).map_err(|e| invalid(path, &key, e.to_string()))?;
                    Some(listed.config.name.clone())
                }
            };
            let scenario_bytes = std::fs::read(&scenario_path)
                .map_err(|e| invalid(path, &format!("{key}.scenario"), format!("{}: {e}", scenario_path.display())))?;
            fingerprint = fnv1a(fingerprint, &scenario_bytes);
            let mut scenario_overrides = ScenarioOverrides::default();
            if let Some(randomize) = &entry.randomize {
                let source = OverrideSource { file: path.to_path_buf(), index: index.clone(), prefix: format!("{key}.randomize") };
                scenario_overrides.randomize = Some((randomize.clone(), source));
            }
            if let Some((_, model)) = &overrides.dynamics {
                if let Some(model) = model {
                    // The model is part of what the run depends on.
                    for file in [model.clone(), model.with_extension("safetensors")] {
                        let bytes = std::fs::read(&file).map_err(|e| invalid(path, "--dynamics", format!("{}: {e}", file.display())))?;
                        fingerprint = fnv1a(fingerprint, &bytes);
                    }
                }
                let dynamics = overrides.dynamics_spec().expect("dynamics are overridden here");
                fingerprint =
                    fnv1a(fingerprint, format!("dynamics {}:{}", dynamics.backend, dynamics.model.as_deref().unwrap_or("")).as_bytes());
                scenario_overrides.dynamics = Some(dynamics);
            }
            let scenario = Scenario::from_bytes_with(&scenario_bytes, &scenario_path, &scenario_overrides).map_err(|e| {
                if e.0.iter().all(|e| e.file() == path) {
                    EvalError::Located(e)
                } else {
                    invalid(path, &key, e.to_string())
                }
            })?;
            let selected: Vec<usize> = match &entry.policies {
                None => (0..file.policies.len()).collect(),
                Some(wanted) => wanted
                    .iter()
                    .enumerate()
                    .map(|(j, w)| {
                        file.policies
                            .iter()
                            .position(|p| &p.name == w)
                            .ok_or_else(|| invalid(path, &format!("{key}.policies[{j}]"), format!("no policy named {w}")))
                    })
                    .collect::<Result<_, _>>()?,
            };
            // Every policy is built and checked against the scenario before any episode runs.
            let probe = PhysicsWorld::new(scenario.config.clone());
            for &p in &selected {
                if let (Some(reference), Some(host)) = (&file.policies[p].python, &external) {
                    host.check(&file.policies[p].name, reference)
                        .map_err(|e| invalid(path, &format!("policies[{p}] ({})", file.policies[p].name), e.to_string()))?;
                    continue;
                }
                file.policies[p].build(&scenario.config, probe.observation_spec(), probe.action_spec(), base).map_err(|e| {
                    invalid(path, &format!("policies[{p}] ({}) on {key} ({})", file.policies[p].name, scenario.config.name), e.to_string())
                })?;
            }
            seed_names.push(seed_name.unwrap_or_else(|| scenario.config.name.clone()));
            scenarios.push(scenario);
            pairs.push(selected);
        }
        Ok(Self {
            path: path.to_path_buf(),
            name: file.name.clone().unwrap_or_else(|| path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()),
            fingerprint: format!("{fingerprint:016x}"),
            seed: file.seed,
            episodes: file.episodes as u32,
            episode_timeout_s: file.episode_timeout_s,
            scenarios,
            seed_names,
            policies: file.policies,
            pairs,
            external: external.map(ExternalHost),
        })
    }

    /// Folder that relative paths in the spec (neural models) are resolved against.
    pub fn base_dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }
}

#[cfg(test)]
mod world_override_tests {
    use super::SpecOverrides;

    #[test]
    fn world_names_parse_into_overrides() {
        assert_eq!(SpecOverrides::parse_world("physics").unwrap(), SpecOverrides::default());
        assert_eq!(SpecOverrides::parse_world("physics:real.yaml").unwrap().scenario.as_deref(), Some("real.yaml"));
        let hybrid = SpecOverrides::parse_world("hybrid:models/m.json").unwrap();
        let (backend, model) = hybrid.dynamics.unwrap();
        assert_eq!(backend, "hybrid");
        assert!(model.unwrap().is_absolute());
        for bad in ["hybrid", "learned:", "physics:", "mujoco:x.xml", ""] {
            assert!(SpecOverrides::parse_world(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn a_scenario_run_in_place_of_another_keeps_the_listed_scenarios_episode_seeds() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let spec_path = root.join("evals/reality-gap/cartpole-zoo.yaml");
        let listed = super::EvalSpec::load(&spec_path).unwrap();
        let real = root.join("scenarios/reality-gap/cartpole-balance-real.yaml");
        let overridden = SpecOverrides::parse_world(&format!("physics:{}", real.display())).unwrap();
        let replaced = super::EvalSpec::load_with(&spec_path, &overridden).unwrap();
        assert_eq!(replaced.scenarios[0].config.name, "cartpole-balance-real");
        assert_eq!(listed.seed_names, vec!["cartpole-balance".to_string()]);
        assert_eq!(replaced.seed_names, listed.seed_names, "both worlds must run the same episodes");
    }
}
