//! Policies declared in YAML (evaluation specs): what to run, and how to degrade it.

use crate::wrappers::{ActionNoise, GainScale, Latency, ObservationNoise};
use crate::{Policy, PolicyError};
use dreamrig_sim::scenario::config::ScenarioConfig;
use dreamrig_sim::{ActionSpec, ObservationSpec};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One policy of an evaluation: exactly one of `controller`, `baseline`, `neural`, `remote`,
/// `python`, plus optional wrappers applied in order (the first wraps the policy itself).
/// `Default` is a spec with no name and no kind, to fill in with struct-update syntax.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct PolicySpec {
    /// The name in results and error messages (and in a remote policy's episode names).
    pub name: String,
    /// A shipped controller: `auto` (the one for the scenario's task), `lqr`, `reach`,
    /// `navigate`, `push`.
    pub controller: Option<String>,
    /// `zero` or `random`.
    pub baseline: Option<String>,
    /// An MLP policy: the path of its JSON config (weights beside it).
    pub neural: Option<NeuralSpec>,
    /// A policy served by another process over Zenoh.
    pub remote: Option<crate::remote::RemoteSpec>,
    /// A Python callable, `module:callable` (or `module:object.attribute`), run in the process
    /// that evaluates: only `dreamrig.evaluate` / `python -m dreamrig eval` (the Python package)
    /// can run it; see [`crate::external`].
    pub python: Option<String>,
    /// Degradations, applied in order: the first wraps the policy, each next one the previous wrapper.
    #[serde(default)]
    pub wrappers: Vec<WrapperSpec>,
}

/// `neural:` in a policy spec.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NeuralSpec {
    /// Path of the MLP's JSON config (weights: the same path with `.safetensors`), relative to the
    /// `base_dir` given to [`PolicySpec::build`].
    pub model: PathBuf,
}

/// One degradation; exactly one key.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct WrapperSpec {
    /// Gaussian action noise, as a fraction of each action's half-range.
    pub action_noise: Option<f64>,
    /// Gaussian observation noise, in each field's unit.
    pub observation_noise: Option<f64>,
    /// Actions delayed by this many control steps.
    pub latency_steps: Option<u32>,
    /// Actions scaled about the centre of their range.
    pub gain_scale: Option<f64>,
}

/// What a spec resolves to.
#[derive(Debug, Clone, PartialEq)]
pub enum PolicyKind {
    /// A shipped controller's name, one of [`crate::controllers::CONTROLLERS`].
    Controller(String),
    /// `zero` or `random`.
    Baseline(String),
    /// The MLP config's path as written in the spec (not yet resolved against a folder).
    Neural(PathBuf),
    /// A remote policy's spec, checked with [`RemoteSpec::check`](crate::remote::RemoteSpec::check).
    Remote(crate::remote::RemoteSpec),
    /// A Python callable's reference, `module:callable`, checked by [`crate::external::check_reference`].
    Python(String),
}

/// A problem with one key of a policy spec.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{key}{}{message}", if key.is_empty() { "" } else { ": " })]
pub struct SpecProblem {
    /// Key path relative to the policy's mapping (`controller`, `remote.router`, `wrappers[1]`);
    /// empty for the mapping as a whole.
    pub key: String,
    /// What was expected and what was found.
    pub message: String,
}

impl SpecProblem {
    /// A problem with `key` (empty for the whole mapping).
    pub fn new(key: &str, message: impl Into<String>) -> Self {
        Self { key: key.into(), message: message.into() }
    }

    /// The same problem seen from a mapping one level up: `key` is prefixed with `parent`.
    pub fn under(self, parent: &str) -> Self {
        let key = if self.key.is_empty() { parent.to_string() } else { format!("{parent}.{}", self.key) };
        Self { key, message: self.message }
    }
}

impl PolicySpec {
    /// A baseline or shipped controller by bare name, as `dreamrig run --policy` and
    /// `dataset generate --policy` take it: `zero` and `random` are baselines, any other name
    /// a controller (checked when the spec is built).
    pub fn from_bare_name(name: &str) -> Self {
        match name {
            "zero" | "random" => Self { name: name.into(), baseline: Some(name.into()), ..Self::default() },
            other => Self { name: other.into(), controller: Some(other.into()), ..Self::default() },
        }
    }

    /// The policy's kind, checked.
    ///
    /// # Errors
    /// Not exactly one of `controller`, `baseline`, `neural`, `remote`, `python`; an unknown
    /// controller or baseline; a remote spec that fails
    /// [`RemoteSpec::check`](crate::remote::RemoteSpec::check); a `python` reference that is not
    /// `module:callable`, or that has wrappers.
    pub fn kind(&self) -> Result<PolicyKind, SpecProblem> {
        let one_kind = || SpecProblem::new("", "expected exactly one of controller, baseline, neural, remote, python");
        let chosen =
            [self.controller.is_some(), self.baseline.is_some(), self.neural.is_some(), self.remote.is_some(), self.python.is_some()];
        if chosen.iter().filter(|c| **c).count() != 1 {
            return Err(one_kind());
        }
        if let Some(reference) = &self.python {
            crate::external::check_reference(reference).map_err(|message| SpecProblem::new("python", message))?;
            if !self.wrappers.is_empty() {
                return Err(SpecProblem::new(
                    "wrappers",
                    "wrappers degrade one episode at a time and a python policy acts on a whole batch; degrade inside the callable",
                ));
            }
            return Ok(PolicyKind::Python(reference.clone()));
        }
        if let Some(remote) = &self.remote {
            remote.check().map_err(|e| e.under("remote"))?;
            return Ok(PolicyKind::Remote(remote.clone()));
        }
        match (&self.controller, &self.baseline, &self.neural) {
            (Some(c), None, None) => {
                if crate::controllers::CONTROLLERS.contains(&c.as_str()) {
                    Ok(PolicyKind::Controller(c.clone()))
                } else {
                    Err(SpecProblem::new("controller", format!("expected one of {}, got {c}", crate::controllers::CONTROLLERS.join(", "))))
                }
            }
            (None, Some(b), None) => match b.as_str() {
                "zero" | "random" => Ok(PolicyKind::Baseline(b.clone())),
                other => Err(SpecProblem::new("baseline", format!("expected zero or random, got {other}"))),
            },
            (None, None, Some(n)) => Ok(PolicyKind::Neural(n.model.clone())),
            _ => Err(one_kind()),
        }
    }

    /// Checks the wrappers' values.
    ///
    /// # Errors
    /// The first problem: a wrapper with not exactly one key, or a value out of its range.
    pub fn check_wrappers(&self) -> Result<(), SpecProblem> {
        for (i, w) in self.wrappers.iter().enumerate() {
            let set = [w.action_noise.is_some(), w.observation_noise.is_some(), w.latency_steps.is_some(), w.gain_scale.is_some()]
                .iter()
                .filter(|s| **s)
                .count();
            if set != 1 {
                return Err(SpecProblem::new(
                    &format!("wrappers[{i}]"),
                    "expected exactly one of action_noise, observation_noise, latency_steps, gain_scale",
                ));
            }
            for (key, value, max) in [
                ("action_noise", w.action_noise, 10.0),
                ("observation_noise", w.observation_noise, 1e6),
                ("gain_scale", w.gain_scale, 100.0),
            ] {
                if let Some(v) = value {
                    if !(v.is_finite() && (0.0..=max).contains(&v)) {
                        return Err(SpecProblem::new(
                            &format!("wrappers[{i}].{key}"),
                            format!("expected a number from 0 to {max}, got {v}"),
                        ));
                    }
                }
            }
            if let Some(steps) = w.latency_steps {
                if steps > 1000 {
                    return Err(SpecProblem::new(&format!("wrappers[{i}].latency_steps"), format!("expected at most 1000, got {steps}")));
                }
            }
        }
        Ok(())
    }

    /// Builds the policy for a scenario; relative model paths are resolved against `base_dir`.
    /// Errors: [`PolicyError::Failed`] for an invalid kind or wrapper (`wrappers[i]: …`), the policy's
    /// own construction error, or [`PolicyError::SpecMismatch`] when it does not fit `observation` and
    /// `action`.
    pub fn build(
        &self,
        config: &ScenarioConfig,
        observation: &ObservationSpec,
        action: &ActionSpec,
        base_dir: &Path,
    ) -> Result<Box<dyn Policy>, PolicyError> {
        let invalid = |problem: SpecProblem| PolicyError::Spec { policy: self.name.clone(), problem };
        let mut policy: Box<dyn Policy> = match self.kind().map_err(invalid)? {
            PolicyKind::Controller(name) => crate::controllers::controller(&name, config)?,
            PolicyKind::Baseline(name) if name == "zero" => Box::new(crate::ZeroPolicy::new(action)),
            PolicyKind::Baseline(_) => Box::new(crate::RandomPolicy::new(action)),
            PolicyKind::Neural(path) => Box::new(crate::neural::MlpPolicy::load(&base_dir.join(path))?),
            PolicyKind::Remote(spec) => Box::new(crate::remote::RemotePolicy::new(Arc::new(crate::remote::RemoteClient::connect(
                &self.name, &spec, action, base_dir,
            )?))),
            PolicyKind::Python(reference) => {
                return Err(PolicyError::Failed { policy: self.name.clone(), reason: crate::external::not_here(&reference) })
            }
        };
        self.check_wrappers().map_err(invalid)?;
        for w in &self.wrappers {
            policy = if let Some(std) = w.action_noise {
                Box::new(ActionNoise::wrap(policy, std, action))
            } else if let Some(std) = w.observation_noise {
                Box::new(ObservationNoise::wrap(policy, std))
            } else if let Some(steps) = w.latency_steps {
                Box::new(Latency::wrap(policy, steps as usize))
            } else {
                Box::new(GainScale::wrap(policy, w.gain_scale.unwrap_or(1.0), action))
            };
        }
        policy.check(observation, action)?;
        Ok(policy)
    }
}

/// A baseline or shipped controller by bare name, as `dreamrig run --policy` takes it.
pub fn by_name(
    name: &str,
    config: &ScenarioConfig,
    observation: &ObservationSpec,
    action: &ActionSpec,
) -> Result<Box<dyn Policy>, PolicyError> {
    let spec = PolicySpec::from_bare_name(name);
    spec.build(config, observation, action, Path::new("."))
}
