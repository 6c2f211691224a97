//! Neural policies: a multilayer perceptron in candle, with weights in safetensors and a JSON
//! config beside them (`NAME.json` + `NAME.safetensors`).

use crate::{BatchPolicy, Policy, PolicyError};
use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{VarBuilder, VarMap};
use dreamrig_sim::nn::Activation;
use dreamrig_sim::{ActionSpec, Observation, ObservationSpec};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// `format` of an MLP policy's JSON config; [`MlpPolicy::load`] refuses any other.
pub const FORMAT: &str = "dreamrig-mlp-policy/1";

/// Everything about an MLP policy except its weights.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MlpPolicyConfig {
    /// Always [`FORMAT`].
    pub format: String,
    /// Observation fields concatenated, in this order, to make the network input.
    pub observation_fields: Vec<String>,
    /// Network input width: the total length of `observation_fields` (checked against the scenario).
    pub observation_size: usize,
    /// The action vector the network produces.
    pub action_names: Vec<String>,
    /// Widths of the hidden layers, input side first.
    pub hidden: Vec<usize>,
    /// `tanh` or `relu`.
    pub activation: String,
    /// Input normalization, length = `observation_size`: the network sees (x − mean) / std.
    pub observation_mean: Vec<f32>,
    /// See `observation_mean`; length = `observation_size`.
    pub observation_std: Vec<f32>,
    /// Output scaling, length = `action_names.len()`: actions are y · std + mean.
    pub action_mean: Vec<f32>,
    /// See `action_mean`; length = `action_names.len()`.
    pub action_std: Vec<f32>,
    /// How the weights were made (free-form).
    #[serde(default)]
    pub provenance: serde_json::Value,
}

/// `layers.0 … layers.N`: linear layers with the activation between them (`relu`, else tanh):
/// dreamrig's shared [`dreamrig_sim::nn::Mlp`], sized from a policy config.
pub struct Mlp(dreamrig_sim::nn::Mlp);

impl Mlp {
    /// Layers `layers.{i}.weight` (out × in) and `layers.{i}.bias` from `vb`, sized `observation_size`
    /// → `hidden`… → `action_names.len()`. Any activation but `relu` means tanh. Errors when `vb` lacks
    /// a tensor or a tensor's shape differs.
    pub fn new(config: &MlpPolicyConfig, vb: VarBuilder) -> candle_core::Result<Self> {
        let activation = if config.activation == "relu" { Activation::Relu } else { Activation::Tanh };
        Ok(Self(dreamrig_sim::nn::Mlp::new(&Self::sizes(config), activation, vb)?))
    }

    /// Layer widths: `observation_size`, the hidden widths, the number of actions.
    pub fn sizes(config: &MlpPolicyConfig) -> Vec<usize> {
        let mut sizes = vec![config.observation_size];
        sizes.extend(&config.hidden);
        sizes.push(config.action_names.len());
        sizes
    }
}

impl Module for Mlp {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        self.0.forward(xs)
    }
}

/// The weights file that belongs to a config file.
pub fn weights_path(config_path: &Path) -> PathBuf {
    config_path.with_extension("safetensors")
}

/// An [`Mlp`] and its config, run on the CPU in f32: a deterministic [`Policy`] and a [`BatchPolicy`]
/// (one forward pass per batch). Inputs are the config's `observation_fields` concatenated.
pub struct MlpPolicy {
    name: String,
    config: MlpPolicyConfig,
    mlp: Mlp,
    device: Device,
}

fn model_error(file: &Path, reason: impl std::fmt::Display) -> PolicyError {
    PolicyError::Model { file: file.display().to_string(), reason: reason.to_string() }
}

impl MlpPolicy {
    /// Loads `path` (the JSON config) and the safetensors weights beside it.
    /// The policy's name is the file stem. Errors: [`PolicyError::Model`] when the config cannot be
    /// read or parsed, its `format`, statistics lengths or `activation` are wrong, or the weights cannot
    /// be loaded or do not fit the config.
    pub fn load(path: &Path) -> Result<Self, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|e| model_error(path, format!("cannot read: {e}")))?;
        let config: MlpPolicyConfig = serde_json::from_str(&text).map_err(|e| model_error(path, format!("not a policy config: {e}")))?;
        if config.format != FORMAT {
            return Err(model_error(path, format!("format is {:?}, expected {FORMAT:?}", config.format)));
        }
        let n = config.observation_size;
        let m = config.action_names.len();
        if config.observation_mean.len() != n
            || config.observation_std.len() != n
            || config.action_mean.len() != m
            || config.action_std.len() != m
        {
            return Err(model_error(path, "normalization statistics do not match observation_size and action_names"));
        }
        if !matches!(config.activation.as_str(), "tanh" | "relu") {
            return Err(model_error(path, format!("activation {:?}: expected tanh or relu", config.activation)));
        }
        let weights = weights_path(path);
        let device = Device::Cpu;
        let tensors =
            candle_core::safetensors::load(&weights, &device).map_err(|e| model_error(&weights, format!("cannot load weights: {e}")))?;
        let vb = VarBuilder::from_tensors(tensors, DType::F32, &device);
        let mlp = Mlp::new(&config, vb).map_err(|e| model_error(&weights, format!("weights do not fit the config: {e}")))?;
        let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "mlp".into());
        Ok(Self { name, config, mlp, device })
    }

    /// The config the policy was loaded from.
    pub fn config(&self) -> &MlpPolicyConfig {
        &self.config
    }

    fn input(&self, observation: &Observation) -> Result<Vec<f32>, PolicyError> {
        let mut x = Vec::with_capacity(self.config.observation_size);
        for name in &self.config.observation_fields {
            let values = observation
                .get(name)
                .ok_or_else(|| PolicyError::Failed { policy: self.name.clone(), reason: format!("observation has no field `{name}`") })?;
            x.extend_from_slice(values);
        }
        for (i, v) in x.iter_mut().enumerate() {
            *v = (*v - self.config.observation_mean[i]) / self.config.observation_std[i];
        }
        Ok(x)
    }

    fn run(&self, inputs: Vec<f32>, rows: usize) -> Result<Vec<Vec<f64>>, PolicyError> {
        let fail = |e: candle_core::Error| PolicyError::Failed { policy: self.name.clone(), reason: e.to_string() };
        let x = Tensor::from_vec(inputs, (rows, self.config.observation_size), &self.device).map_err(fail)?;
        let y = self.mlp.forward(&x).map_err(fail)?.to_vec2::<f32>().map_err(fail)?;
        Ok(y.into_iter()
            .map(|row| row.iter().enumerate().map(|(i, v)| (v * self.config.action_std[i] + self.config.action_mean[i]) as f64).collect())
            .collect())
    }
}

impl Policy for MlpPolicy {
    fn name(&self) -> &str {
        &self.name
    }

    fn check(&self, observation: &ObservationSpec, action: &ActionSpec) -> Result<(), PolicyError> {
        let mut size = 0;
        for name in &self.config.observation_fields {
            crate::require_field(&self.name, observation, name, None)?;
            size += observation.field(name).expect("checked").len();
        }
        if size != self.config.observation_size {
            return Err(PolicyError::SpecMismatch {
                policy: self.name.clone(),
                needed: format!("{} observation values", self.config.observation_size),
                provided: format!("{size}"),
            });
        }
        crate::require_actions(&self.name, action, &self.config.action_names)
    }

    fn reset(&mut self, _seed: u64) {}

    fn act(&mut self, observation: &Observation) -> Result<Vec<f64>, PolicyError> {
        let x = self.input(observation)?;
        Ok(self.run(x, 1)?.remove(0))
    }
}

impl BatchPolicy for MlpPolicy {
    fn reset(&mut self, _seeds: &[u64]) {}

    /// One forward pass for the environments whose episode is still running.
    fn act(&mut self, observations: &[Option<&Observation>]) -> Result<Vec<Option<Vec<f64>>>, PolicyError> {
        let mut inputs = Vec::with_capacity(observations.len() * self.config.observation_size);
        let mut rows = 0;
        for o in observations.iter().flatten() {
            inputs.extend(self.input(o)?);
            rows += 1;
        }
        let mut actions = if rows == 0 { Vec::new() } else { self.run(inputs, rows)? }.into_iter();
        Ok(observations.iter().map(|o| o.and_then(|_| actions.next())).collect())
    }
}

/// Regression data for behaviour cloning: observation rows and the teacher's actions.
#[derive(Debug, Clone, Default)]
pub struct Demonstrations {
    /// Network inputs, one row per labelled step: `observation_fields` concatenated, unnormalized
    /// (length = `observation_size`).
    pub observations: Vec<Vec<f32>>,
    /// The teacher's action for each row (length = `action_names.len()`).
    pub actions: Vec<Vec<f32>>,
}

/// Per-column mean and population std (floored at 1e-6) of f32 rows: [`dreamrig_sim::nn::mean_std`].
fn mean_std(rows: &[Vec<f32>]) -> (Vec<f32>, Vec<f32>) {
    let width = rows.first().map(Vec::len).unwrap_or(0);
    let rows: Vec<Vec<f64>> = rows.iter().map(|r| r.iter().map(|v| *v as f64).collect()).collect();
    let (mean, std) = dreamrig_sim::nn::mean_std(rows.iter().map(Vec::as_slice), width);
    (mean.iter().map(|m| *m as f32).collect(), std.iter().map(|s| s.max(1e-6) as f32).collect())
}

/// Fits an MLP to demonstrations by minibatch AdamW on the mean squared error. Weights are
/// initialized from `seed` (Xavier uniform) and batches drawn from it, so training is
/// reproducible.
/// Xavier: U(±√(6 / (fan_in + fan_out))), zero biases (Glorot & Bengio 2010); AdamW, weight decay
/// 1e-5. Returns the config with the data's normalization statistics (mean, population std floored
/// at 1e-6), the weights, and the last epoch's mean minibatch MSE in normalized units (NaN when
/// `epochs` is 0). Panics when `batch_size` is 0 or a row's width differs from the config's.
pub fn train_behavior_cloning(
    data: &Demonstrations,
    mut config: MlpPolicyConfig,
    epochs: usize,
    batch_size: usize,
    learning_rate: f64,
    seed: u64,
) -> candle_core::Result<(MlpPolicyConfig, VarMap, f32)> {
    let device = Device::Cpu;
    let (om, os) = mean_std(&data.observations);
    let (am, asd) = mean_std(&data.actions);
    config.observation_mean = om;
    config.observation_std = os;
    config.action_mean = am;
    config.action_std = asd;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let varmap = VarMap::new();
    dreamrig_sim::nn::glorot_uniform(&varmap, "", &Mlp::sizes(&config), 1.0, &mut rng)?;
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &device);
    let mlp = Mlp::new(&config, vb)?;
    let normalize = |rows: &[Vec<f32>], mean: &[f32], std: &[f32]| -> Vec<f32> {
        rows.iter().flat_map(|r| r.iter().enumerate().map(|(i, v)| (v - mean[i]) / std[i]).collect::<Vec<_>>()).collect()
    };
    let x_all = normalize(&data.observations, &config.observation_mean, &config.observation_std);
    let y_all = normalize(&data.actions, &config.action_mean, &config.action_std);
    let (n, input, output) = (data.observations.len(), config.observation_size, config.action_names.len());
    let mut optimizer = <candle_nn::AdamW as candle_nn::Optimizer>::new(
        varmap.all_vars(),
        candle_nn::ParamsAdamW { lr: learning_rate, weight_decay: 1e-5, ..Default::default() },
    )?;
    let mut order: Vec<usize> = (0..n).collect();
    let mut last_loss = f32::NAN;
    for _ in 0..epochs {
        dreamrig_sim::seed::shuffle(&mut order, &mut rng);
        let mut total = 0.0;
        let mut batches = 0;
        for chunk in order.chunks(batch_size) {
            let xs: Vec<f32> = chunk.iter().flat_map(|&r| x_all[r * input..(r + 1) * input].iter().copied()).collect();
            let ys: Vec<f32> = chunk.iter().flat_map(|&r| y_all[r * output..(r + 1) * output].iter().copied()).collect();
            let x = Tensor::from_vec(xs, (chunk.len(), input), &device)?;
            let y = Tensor::from_vec(ys, (chunk.len(), output), &device)?;
            let loss = (mlp.forward(&x)? - y)?.sqr()?.mean_all()?;
            candle_nn::Optimizer::backward_step(&mut optimizer, &loss)?;
            total += loss.to_scalar::<f32>()?;
            batches += 1;
        }
        last_loss = total / batches.max(1) as f32;
    }
    Ok((config, varmap, last_loss))
}
