//! The world-model network and its files: an ensemble of MLPs in candle, a JSON config beside
//! safetensors weights, and the checks that tie a model to the scenario it was trained for.

use crate::nn::{Activation, Mlp};
use crate::physics::WorldLayout;
use crate::scenario::config::ScenarioConfig;
use crate::world_model::identify::{prior_configs, IdentifiedPrior};
use crate::world_model::WorldModelError;
use candle_core::{DType, Device, Module, Tensor};
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Value of the `format` key of a world-model config; [`WorldModel::load`] refuses any other.
pub const WORLD_MODEL_FORMAT: &str = "dreamrig-world-model/1";

/// What the network predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// next state = state + f(state, actions)
    Learned,
    /// next state = physics(state, action) + r(state, actions, physics(state, action) − state)
    Hybrid,
}

impl std::fmt::Display for ModelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ModelKind::Learned => "learned",
            ModelKind::Hybrid => "hybrid",
        })
    }
}

/// The scenario a model was trained for: enough to refuse a model that does not fit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFingerprint {
    /// Name of the scenario the model was trained for.
    pub name: String,
    /// SHA-256 of everything that shapes the dynamics: state and action layout, timing,
    /// gravity, world bodies, the robot's joints, masses and actuators.
    pub hash: String,
    /// Names of the state values the model predicts, in state order.
    pub state_names: Vec<String>,
    /// Names of the action values the model takes, in action order.
    pub action_names: Vec<String>,
    /// Control period in s that one prediction spans.
    pub control_period: f64,
}

impl ScenarioFingerprint {
    /// The fingerprint of `config`: its name, state and action names, control period (s), and the
    /// SHA-256 (hex) of the JSON serialization (serde_json, shortest round-trip floats) of the
    /// settings that shape the dynamics.
    pub fn of(config: &ScenarioConfig) -> Self {
        let layout = WorldLayout::new(config);
        let model = &config.robot.model;
        /// What shapes the dynamics. Task, sensors, randomization and the dynamics backend are
        /// left out on purpose, so a model serves every task variant of the same robot and world.
        #[derive(serde::Serialize)]
        struct Shaping<'a> {
            state: &'a [String],
            action: &'a crate::ActionSpec,
            timing: &'a crate::scenario::config::TimingConfig,
            world: &'a crate::scenario::config::WorldConfig,
            joints: &'a [crate::robot::JointInfo],
            /// (name, mass in kg, centre of mass in the link frame in m) per URDF link.
            links: Vec<(&'a str, f64, [f64; 3])>,
            actuators: &'a [crate::scenario::config::ActuatorConfig],
            payload: &'a [crate::scenario::config::PayloadConfig],
            fixed_base: bool,
            base: &'a crate::scenario::config::PoseConfig,
        }
        let shaping = Shaping {
            state: &layout.state.names,
            action: &layout.action,
            timing: &config.timing,
            world: &config.world,
            joints: &model.joints,
            links: model.urdf.links.iter().map(|l| (l.name.as_str(), l.inertial.mass.value, l.inertial.origin.xyz.0)).collect(),
            actuators: &config.robot.actuators,
            payload: &config.robot.payload,
            fixed_base: config.robot.fixed_base,
            base: &config.robot.base,
        };
        let description = serde_json::to_vec(&shaping).expect("plain data serializes");
        let hash = Sha256::digest(&description).iter().map(|b| format!("{b:02x}")).collect();
        Self {
            name: config.name.clone(),
            hash,
            state_names: layout.state.names.clone(),
            action_names: layout.action.names.clone(),
            control_period: config.timing.control_period(),
        }
    }
}

/// Statistics that map raw values to the network's normalized inputs and outputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Normalization {
    /// Mean of each state value in the training data (one per state value).
    pub state_mean: Vec<f32>,
    /// Standard deviation of each state value in the training data (one per state value, > 0).
    pub state_std: Vec<f32>,
    /// Mean of each action value in the training data (one per action value).
    pub action_mean: Vec<f32>,
    /// Standard deviation of each action value in the training data (one per action value, > 0).
    pub action_std: Vec<f32>,
    /// The physics step's state change (hybrid models only; empty for learned).
    pub prior_mean: Vec<f32>,
    /// Standard deviation of each value of the physics step's state change (hybrid only; empty for learned, > 0).
    pub prior_std: Vec<f32>,
    /// The predicted quantity: state change (learned) or correction of the physics step
    /// (hybrid).
    pub target_mean: Vec<f32>,
    /// Standard deviation of each value of the target (one per state value, > 0).
    pub target_std: Vec<f32>,
}

/// A world model's config file (`MODEL.json`; the weights are `MODEL.safetensors`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorldModelConfig {
    /// Format tag; must be [`WORLD_MODEL_FORMAT`].
    pub format: String,
    /// What the network predicts: `learned` (state change) or `hybrid` (correction of the physics step).
    pub kind: ModelKind,
    /// The scenario the model was trained for; a scenario that does not match it is refused.
    pub scenario: ScenarioFingerprint,
    /// Hidden layer widths of each ensemble member.
    pub hidden: Vec<usize>,
    /// `silu` or `tanh`.
    pub activation: String,
    /// Number of ensemble members.
    pub ensemble: usize,
    /// How many earlier actions the network sees besides the current one (actuator delays
    /// and filters need them).
    pub action_history: usize,
    /// Hybrid models: how many of those earlier actions the physics is also stepped with (from
    /// the same state), each change an input beside the current action's. They let the
    /// correction express actuator delays in terms of physics rather than learn them whole.
    #[serde(default)]
    pub prior_history: usize,
    /// Statistics that normalize the network's inputs and targets.
    pub normalization: Normalization,
    /// Per-episode mean disagreement above which an episode's score is not to be trusted,
    /// calibrated on validation episodes.
    pub disagreement_threshold: f64,
    /// The open-loop error the threshold stands for: 1.5 × the largest validation episode's
    /// error after the calibration's rollout steps (see `calibrate::Calibration::error_target`);
    /// `dreamrig wm eval` measures the flag's precision and recall against it. `None` in model
    /// files written before it was stored, and when no validation episode was long enough.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disagreement_error_target: Option<f64>,
    /// How the model was trained: dataset, episodes, seed, settings, losses.
    #[serde(default)]
    pub training: serde_json::Value,
    /// Hybrid models: the physical parameters the prior steps with, fitted to the training data
    /// (`None`: the scenario's nominal physics).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identified_prior: Option<IdentifiedPrior>,
    /// Hybrid models: the share (0…1) of the learned correction a step adds to the prior's
    /// step, chosen after training so that the open-loop error on validation episodes is
    /// nowhere above the prior's ([`crate::world_model::gate`]; 0 steps the prior alone).
    /// Models trained before the gate existed have none: 1. Learned models: 1.
    #[serde(default = "full_correction")]
    pub correction_scale: f64,
    /// State indices (ascending) of the joint angles the network sees as their sine and cosine
    /// rather than as a normalized angle ([`angle_dimensions`]: continuous joints, and revolute
    /// joints spanning less than a turn), so that a continuous joint's whole turns, or an angle
    /// a held-out episode reaches beyond the training range, reach it as a bounded pair on the
    /// unit circle instead of an input far outside anything it was trained on. Empty in model
    /// files written before the encoding existed: every state value normalized.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub angle_inputs: Vec<usize>,
}

/// The state indices of `config`'s joint angles that a world model's network sees as (sin, cos),
/// ascending: `robot.joint.NAME.position` of every continuous joint, and of every revolute joint
/// whose limits span less than a turn (2π rad). On a wider revolute joint the sine and cosine
/// would not say where the joint is (two positions a turn apart give the same pair, with
/// different distances to the limits), so its normalized angle is kept.
pub fn angle_dimensions(config: &ScenarioConfig) -> Vec<usize> {
    let layout = WorldLayout::new(config);
    let angles: std::collections::BTreeSet<String> = config
        .robot
        .model
        .joints
        .iter()
        .filter(|j| match j.kind {
            crate::robot::JointKind::Continuous => true,
            crate::robot::JointKind::Revolute => j.limits.is_some_and(|(lo, hi)| hi - lo < std::f64::consts::TAU),
            crate::robot::JointKind::Prismatic => false,
        })
        .map(|j| format!("robot.joint.{}.position", j.name))
        .collect();
    layout.state.names.iter().enumerate().filter(|(_, n)| angles.contains(*n)).map(|(i, _)| i).collect()
}

fn full_correction() -> f64 {
    1.0
}

impl WorldModelConfig {
    /// Number of state values (the length of `scenario.state_names`).
    pub fn state_size(&self) -> usize {
        self.scenario.state_names.len()
    }

    /// Number of action values (the length of `scenario.action_names`).
    pub fn action_size(&self) -> usize {
        self.scenario.action_names.len()
    }

    /// Input width: the state (normalized values, then the sines and the cosines of
    /// `angle_inputs`), current and earlier actions, and for hybrid models the physics step's
    /// state change.
    pub fn input_size(&self) -> usize {
        self.state_size()
            + self.angle_inputs.len()
            + self.action_size() * (1 + self.action_history)
            + self.prior_inputs() * self.state_size()
    }

    /// Physics changes a hybrid's network sees: the current action's and `prior_history`
    /// earlier ones'.
    pub fn prior_inputs(&self) -> usize {
        if self.kind == ModelKind::Hybrid {
            1 + self.prior_history
        } else {
            0
        }
    }

    fn check(&self) -> Result<(), String> {
        if self.format != WORLD_MODEL_FORMAT {
            return Err(format!("format is {:?}, expected {WORLD_MODEL_FORMAT:?}", self.format));
        }
        if !(0.0..=1.0).contains(&self.correction_scale) || (self.kind == ModelKind::Learned && self.correction_scale != 1.0) {
            return Err(format!(
                "correction_scale is {}, expected a share from 0 to 1 (hybrid models) or 1 (learned models)",
                self.correction_scale
            ));
        }
        if !matches!(self.activation.as_str(), "silu" | "tanh") {
            return Err(format!("activation is {:?}, expected silu or tanh", self.activation));
        }
        if self.prior_history > self.action_history || (self.kind == ModelKind::Learned && self.prior_history > 0) {
            return Err(format!(
                "prior_history is {}, expected at most action_history ({}) and 0 for learned models",
                self.prior_history, self.action_history
            ));
        }
        if let Some(prior) = &self.identified_prior {
            if prior.action_latency_steps > self.action_history {
                return Err(format!(
                    "identified_prior.action_latency_steps is {}, expected at most action_history ({})",
                    prior.action_latency_steps, self.action_history
                ));
            }
        }
        if self.ensemble == 0 || self.ensemble > 64 {
            return Err(format!("ensemble is {}, expected 1 to 64 members", self.ensemble));
        }
        if self.hidden.is_empty() || self.hidden.iter().any(|h| *h == 0 || *h > 65536) {
            return Err(format!("hidden is {:?}, expected one or more widths from 1 to 65536", self.hidden));
        }
        let (s, a) = (self.state_size(), self.action_size());
        let prior = if self.kind == ModelKind::Hybrid { s } else { 0 };
        let n = &self.normalization;
        for (name, len, expected) in [
            ("normalization.state_mean", n.state_mean.len(), s),
            ("normalization.state_std", n.state_std.len(), s),
            ("normalization.action_mean", n.action_mean.len(), a),
            ("normalization.action_std", n.action_std.len(), a),
            ("normalization.prior_mean", n.prior_mean.len(), prior),
            ("normalization.prior_std", n.prior_std.len(), prior),
            ("normalization.target_mean", n.target_mean.len(), s),
            ("normalization.target_std", n.target_std.len(), s),
        ] {
            if len != expected {
                return Err(format!("{name} has {len} values, expected {expected}"));
            }
        }
        let stds = n.state_std.iter().chain(&n.action_std).chain(&n.prior_std).chain(&n.target_std);
        if let Some(v) = stds.clone().find(|v| !(v.is_finite() && **v > 0.0)) {
            return Err(format!("a normalization standard deviation is {v}, expected a positive number"));
        }
        let means = n.state_mean.iter().chain(&n.action_mean).chain(&n.prior_mean).chain(&n.target_mean);
        if let Some(v) = means.clone().find(|v| !v.is_finite()) {
            return Err(format!("a normalization mean is {v}, expected a finite number"));
        }
        if self.identified_prior.is_some() && self.kind != ModelKind::Hybrid {
            return Err("identified_prior is set, but only hybrid models have a physics prior".into());
        }
        let angles_ok = self.angle_inputs.windows(2).all(|w| w[0] < w[1]) && self.angle_inputs.iter().all(|&i| i < s);
        if !angles_ok {
            return Err(format!("angle_inputs is {:?}, expected ascending state indices below {s}", self.angle_inputs));
        }
        if let Some(target) = self.disagreement_error_target.filter(|t| !(t.is_finite() && *t >= 0.0)) {
            return Err(format!("disagreement_error_target is {target}, expected a finite number ≥ 0"));
        }
        if !(self.disagreement_threshold.is_finite() && self.disagreement_threshold >= 0.0) {
            return Err(format!("disagreement_threshold is {}, expected a finite number ≥ 0", self.disagreement_threshold));
        }
        Ok(())
    }
}

/// One ensemble member: an MLP from normalized inputs to the normalized target.
pub struct MemberNetwork(Mlp);

impl MemberNetwork {
    /// Builds the MLP `input_size → hidden… → state_size` from tensors `layers.{i}` under `vb`;
    /// a candle error when they are missing or have the wrong shape.
    pub fn new(config: &WorldModelConfig, vb: VarBuilder) -> candle_core::Result<Self> {
        Ok(Self(Mlp::new(&Self::sizes(config), Self::activation(config), vb)?))
    }

    /// Layer widths: `input_size`, the hidden widths, `state_size`.
    pub fn sizes(config: &WorldModelConfig) -> Vec<usize> {
        let mut sizes = vec![config.input_size()];
        sizes.extend(&config.hidden);
        sizes.push(config.state_size());
        sizes
    }

    fn activation(config: &WorldModelConfig) -> Activation {
        if config.activation == "silu" {
            Activation::Silu
        } else {
            Activation::Tanh
        }
    }

    /// Floating-point operations of one forward pass for one input row.
    pub fn flops_per_row(config: &WorldModelConfig) -> f64 {
        Mlp::flops_per_row(&Self::sizes(config))
    }
}

impl Module for MemberNetwork {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        self.0.forward(xs)
    }
}

/// The ensemble's prediction for a batch of rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// Ensemble mean of the target (state change or correction) in raw units, row-major
    /// `rows × state_size`.
    pub target: Vec<f64>,
    /// Per row: mean over state dimensions of the members' standard deviation of the next
    /// state, divided by that dimension's standard deviation in the training data (0 for a
    /// single-member model).
    pub disagreement: Vec<f64>,
}

/// A loaded world model.
pub struct WorldModel {
    /// The model's config (`MODEL.json`).
    pub config: WorldModelConfig,
    /// Path of the config file: where it was loaded from, or where training will save it.
    pub path: PathBuf,
    members: Vec<MemberNetwork>,
    device: Device,
}

/// The device world models run on: the CPU, or with the `cuda` feature and
/// `DREAMRIG_DEVICE=cuda`, GPU 0.
pub fn compute_device() -> Result<Device, WorldModelError> {
    match std::env::var("DREAMRIG_DEVICE").as_deref() {
        Err(_) | Ok("") | Ok("cpu") => Ok(Device::Cpu),
        #[cfg(feature = "cuda")]
        Ok("cuda") => Device::new_cuda(0).map_err(|e| WorldModelError::Network(format!("DREAMRIG_DEVICE=cuda: {e}"))),
        Ok(other) => Err(WorldModelError::Network(format!(
            "DREAMRIG_DEVICE={other:?}: expected cpu{}",
            if cfg!(feature = "cuda") { " or cuda" } else { " (this build has no cuda feature)" }
        ))),
    }
}

/// Where a model's weights live, given its config file.
pub fn weights_path(config_path: &Path) -> PathBuf {
    config_path.with_extension("safetensors")
}

impl WorldModel {
    /// Loads `MODEL.json` and `MODEL.safetensors`, checking that they fit each other.
    pub fn load(path: &Path) -> Result<Self, WorldModelError> {
        let error = |file: &Path, reason: String| WorldModelError::File { file: file.to_path_buf(), reason };
        let text = std::fs::read_to_string(path).map_err(|e| error(path, format!("cannot read: {e}")))?;
        let config: WorldModelConfig =
            serde_json::from_str(&text).map_err(|e| error(path, format!("not a dreamrig world-model config: {e}")))?;
        config.check().map_err(|reason| error(path, reason))?;
        let weights = weights_path(path);
        let device = compute_device()?;
        let tensors =
            candle_core::safetensors::load(&weights, &device).map_err(|e| error(&weights, format!("cannot load weights: {e}")))?;
        let vb = VarBuilder::from_tensors(tensors, DType::F32, &device);
        let members = (0..config.ensemble)
            .map(|k| MemberNetwork::new(&config, vb.pp(format!("member.{k}"))))
            .collect::<candle_core::Result<Vec<_>>>()
            .map_err(|e| error(&weights, format!("weights do not fit the config in {}: {e}", path.display())))?;
        Ok(Self { config, path: path.to_path_buf(), members, device })
    }

    /// Builds a model from trained members (what training produces before saving).
    pub fn from_parts(config: WorldModelConfig, members: Vec<MemberNetwork>, path: PathBuf) -> Self {
        Self { config, path, members, device: Device::Cpu }
    }

    /// Refuses a model trained for another scenario layout or robot.
    pub fn check_scenario(&self, scenario: &ScenarioConfig) -> Result<(), WorldModelError> {
        let mismatch = |reason: String| WorldModelError::Mismatch { file: self.path.clone(), scenario: scenario.name.clone(), reason };
        let here = ScenarioFingerprint::of(scenario);
        let trained = &self.config.scenario;
        if here.state_names != trained.state_names {
            return Err(mismatch(format!(
                "the model predicts state [{}], the scenario's state is [{}]",
                trained.state_names.join(", "),
                here.state_names.join(", ")
            )));
        }
        if here.action_names != trained.action_names {
            return Err(mismatch(format!(
                "the model takes actions [{}], the scenario's actions are [{}]",
                trained.action_names.join(", "),
                here.action_names.join(", ")
            )));
        }
        if (here.control_period - trained.control_period).abs() > 1e-12 {
            return Err(mismatch(format!(
                "the model steps {} s per control period, the scenario {} s",
                trained.control_period, here.control_period
            )));
        }
        if here.hash != trained.hash {
            return Err(mismatch(format!(
                "it was trained for scenario {:?} (hash {}), whose robot, actuators, timing or world differ from this one's (hash {})",
                trained.name,
                &trained.hash[..12.min(trained.hash.len())],
                &here.hash[..12]
            )));
        }
        Ok(())
    }

    /// The physics a world with this model steps for `scenario`: the scenario's nominal
    /// physics, with the identified parameters where the model has them. The second config is
    /// the same without the action delay: the probe that steps the physics under earlier
    /// actions applies each at once.
    pub fn prior_configs(&self, scenario: &ScenarioConfig) -> Result<(ScenarioConfig, ScenarioConfig), WorldModelError> {
        prior_configs(scenario, self.config.identified_prior.as_ref()).map_err(|source| WorldModelError::Prior {
            file: self.path.clone(),
            scenario: scenario.name.clone(),
            source,
        })
    }

    /// Control steps between an action and its effect in the prior's physics.
    pub fn prior_latency(&self) -> usize {
        self.config.identified_prior.as_ref().map_or(0, |p| p.action_latency_steps)
    }

    /// Normalized network input for one row. `actions` holds the current action then the
    /// earlier ones, newest first; `priors` are the physics step's state changes (hybrid: under
    /// the current action, then under `prior_history` earlier ones). The state comes first:
    /// every value not in `angle_inputs` normalized, then the sines, then the cosines of those
    /// that are.
    pub fn input_row(&self, state: &[f64], actions: &[&[f64]], priors: &[&[f64]], row: &mut Vec<f32>) {
        let n = &self.config.normalization;
        let angles = &self.config.angle_inputs;
        let mut next_angle = angles.iter().peekable();
        for (i, v) in state.iter().enumerate() {
            if next_angle.next_if_eq(&&i).is_none() {
                row.push(((*v as f32) - n.state_mean[i]) / n.state_std[i]);
            }
        }
        row.extend(angles.iter().map(|&i| state[i].sin() as f32));
        row.extend(angles.iter().map(|&i| state[i].cos() as f32));
        for action in actions.iter().take(1 + self.config.action_history) {
            row.extend(action.iter().enumerate().map(|(i, v)| ((*v as f32) - n.action_mean[i]) / n.action_std[i]));
        }
        for prior in priors.iter().take(self.config.prior_inputs()) {
            row.extend(prior.iter().enumerate().map(|(i, v)| ((*v as f32) - n.prior_mean[i]) / n.prior_std[i]));
        }
    }

    /// Runs every ensemble member on `rows` input rows in one batched forward pass each.
    pub fn predict(&self, inputs: Vec<f32>, rows: usize) -> Result<Prediction, WorldModelError> {
        let fail = |e: candle_core::Error| WorldModelError::Network(e.to_string());
        let s = self.config.state_size();
        if rows == 0 {
            return Ok(Prediction { target: Vec::new(), disagreement: Vec::new() });
        }
        let x = Tensor::from_vec(inputs, (rows, self.config.input_size()), &self.device).map_err(fail)?;
        let outputs: Vec<Vec<f32>> = self
            .members
            .iter()
            .map(|m| m.forward(&x).and_then(|y| y.flatten_all()).and_then(|y| y.to_vec1::<f32>()))
            .collect::<candle_core::Result<_>>()
            .map_err(fail)?;
        let k = outputs.len() as f64;
        let n = &self.config.normalization;
        let mut target = vec![0.0; rows * s];
        let mut disagreement = vec![0.0; rows];
        for (r, row_disagreement) in disagreement.iter_mut().enumerate() {
            let mut spread = 0.0;
            for d in 0..s {
                let i = r * s + d;
                let mean = outputs.iter().map(|o| o[i] as f64).sum::<f64>() / k;
                let variance = outputs.iter().map(|o| (o[i] as f64 - mean).powi(2)).sum::<f64>() / k;
                // In units of the state's spread: how far apart the members' next states are,
                // comparable across dimensions and models.
                spread += variance.sqrt() * n.target_std[d] as f64 / n.state_std[d] as f64;
                target[i] = mean * n.target_std[d] as f64 + n.target_mean[d] as f64;
            }
            *row_disagreement = spread / s as f64;
        }
        Ok(Prediction { target, disagreement })
    }

    /// Floating-point operations of one prediction row over the whole ensemble (2·in·out per layer per member).
    pub fn flops_per_row(&self) -> f64 {
        MemberNetwork::flops_per_row(&self.config) * self.config.ensemble as f64
    }
}
