//! Training world models from logged trajectories: normalization, a train/validation split by
//! episode, a k-step rollout loss, AdamW, early stopping and disagreement calibration.
//!
//! Everything random (weight initialization, the split, minibatch order) comes from the seed,
//! and the work is done in a fixed order, so the same data and seed give the same model.

use crate::scenario::config::ScenarioConfig;
use crate::world_model::calibrate::{calibrate, CALIBRATION_MARGIN};
use crate::world_model::data::{split_by_episode, Trajectory};
use crate::world_model::fidelity::MIN_SCALE;
use crate::world_model::gate::{gate_correction, CorrectionGate};
use crate::world_model::identify::IdentifiedPrior;
use crate::world_model::model::*;
use crate::world_model::normalize::{normalization, robust_target_scale, targets};
use crate::world_model::prepare::PreparedEpisode;
use crate::world_model::WorldModelError;
use candle_core::{DType, Device, Module, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
/// How to train a world model: architecture, ensemble, optimizer, k-step rollout loss, split and seed.
pub struct TrainOptions {
    /// What the network predicts: the whole state change (learned) or a correction of the physics step (hybrid, the default).
    pub kind: ModelKind,
    /// Hidden layer widths of each member (default [128, 128]).
    pub hidden: Vec<usize>,
    /// Activation between layers: `silu` (default) or `tanh`.
    pub activation: String,
    /// Number of ensemble members (default 3).
    pub ensemble: usize,
    /// Earlier actions the network sees besides the current one (default 2).
    pub action_history: usize,
    /// Hybrid models: earlier actions the physics is also stepped with (see
    /// `WorldModelConfig::prior_history`).
    pub prior_history: usize,
    /// Most epochs each member trains for (default 60).
    pub max_epochs: usize,
    /// Windows of `rollout_steps` transitions per minibatch (default 256).
    pub batch_size: usize,
    /// Peak AdamW learning rate, cosine-decayed to a tenth of it over `max_epochs` (default 1e-3).
    pub learning_rate: f64,
    /// Steps of the rollout loss (1 is the one-step loss).
    pub rollout_steps: usize,
    /// Where the rollout loss turns from squared to linear (Huber's δ), in robust standard
    /// deviations of the target (1.4826 × its median absolute deviation, which a few outliers
    /// cannot inflate; default 1): errors beyond it, such as the few transitions at a joint
    /// limit that carry most of a residual's variance, pull with a bounded gradient.
    pub huber_delta: f64,
    /// Share of episodes held out for validation, early stopping and calibration (default 0.2; at least one episode each side).
    pub validation_fraction: f64,
    /// Epochs without a better validation loss before training stops.
    pub patience: usize,
    /// Seed of the weight initialization, the split and the minibatch order (default 0).
    pub seed: u64,
    /// Hybrid models: the physics the prior steps with, from [`identify_prior`]
    /// (`None`: nominal). The episodes must have been prepared with the same.
    ///
    /// [`identify_prior`]: crate::world_model::identify_prior
    #[serde(skip)]
    pub identified_prior: Option<IdentifiedPrior>,
    /// Hybrid models: an identified prior that was not used because it did worse than the
    /// nominal physics on the validation episodes; stored in the model's training record as
    /// `rejected_identified_prior`.
    #[serde(skip)]
    pub rejected_prior: Option<IdentifiedPrior>,
}

impl TrainOptions {
    /// How many physics changes per transition [`prepare_episodes`] must compute.
    pub fn priors(&self) -> usize {
        if self.kind == ModelKind::Hybrid {
            1 + self.prior_history
        } else {
            0
        }
    }
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self {
            kind: ModelKind::Hybrid,
            hidden: vec![128, 128],
            activation: "silu".into(),
            ensemble: 3,
            action_history: 2,
            prior_history: 1,
            max_epochs: 60,
            batch_size: 256,
            learning_rate: 1e-3,
            rollout_steps: 5,
            huber_delta: 1.0,
            validation_fraction: 0.2,
            patience: 8,
            seed: 0,
            identified_prior: None,
            rejected_prior: None,
        }
    }
}

/// One row of the per-epoch metrics table.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct EpochMetrics {
    /// Ensemble member, from 0.
    pub member: usize,
    /// Epoch, from 0.
    pub epoch: usize,
    /// Mean over the epoch's minibatches of the k-step rollout loss (weighted Huber loss; see
    /// [`train`]).
    pub train_loss: f64,
    /// The same loss over every validation window, after the epoch.
    pub validation_loss: f64,
    /// Transitions trained on in the epoch: windows × rollout steps.
    pub samples: usize,
    /// Wall-clock seconds the epoch took.
    pub seconds: f64,
}

/// A trained world model: its config (with normalization and threshold), weights and per-epoch metrics.
pub struct TrainedModel {
    /// The config to save as `MODEL.json`, normalization, disagreement threshold and training record included.
    pub config: WorldModelConfig,
    /// Every member's weights (`member.{k}.layers.{i}.weight` and `.bias`), saved as `MODEL.safetensors`.
    pub varmap: VarMap,
    /// Per-epoch metrics of every member, in training order.
    pub metrics: Vec<EpochMetrics>,
    /// Dataset episode indices ([`Trajectory::episode_index`]) of the training split.
    pub train_episodes: Vec<u64>,
    /// Dataset episode indices ([`Trajectory::episode_index`]) of the validation split.
    pub validation_episodes: Vec<u64>,
    /// Hybrid models: the correction's share kept and what it was chosen from (also in the
    /// config's `training.correction_gate`); `None` for learned models.
    pub gate: Option<CorrectionGate>,
}

impl TrainedModel {
    /// The per-epoch metrics as CSV: `member,epoch,train_loss,validation_loss,samples,seconds`.
    pub fn metrics_csv(&self) -> String {
        let mut csv = String::from("member,epoch,train_loss,validation_loss,samples,seconds\n");
        for m in &self.metrics {
            csv.push_str(&format!("{},{},{},{},{},{}\n", m.member, m.epoch, m.train_loss, m.validation_loss, m.samples, m.seconds));
        }
        csv
    }

    /// Where [`TrainedModel::save`] writes the metrics of the model saved to `path`.
    pub fn metrics_path(path: &Path) -> PathBuf {
        path.with_extension("metrics.csv")
    }

    /// Writes `path` (config), its weights beside it (`.safetensors`) and the per-epoch metrics
    /// (`.metrics.csv`), each atomically (temporary file, fsync, rename).
    ///
    /// # Errors
    /// [`WorldModelError::File`] naming the file that could not be written.
    pub fn save(&self, path: &Path) -> Result<(), WorldModelError> {
        let error = |file: &Path, e: &dyn std::fmt::Display| WorldModelError::File { file: file.to_path_buf(), reason: e.to_string() };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| error(dir, &e))?;
        }
        let weights = weights_path(path);
        let temporary = crate::atomic::temporary_path(&weights);
        self.varmap.save(&temporary).map_err(|e| error(&temporary, &e))?;
        crate::atomic::commit(&temporary, &weights).map_err(|e| error(&weights, &e))?;
        let text = serde_json::to_string_pretty(&self.config).expect("config serializes");
        crate::atomic::write_atomic(path, text.as_bytes()).map_err(|e| error(path, &e))?;
        let metrics = Self::metrics_path(path);
        crate::atomic::write_atomic(&metrics, self.metrics_csv().as_bytes()).map_err(|e| error(&metrics, &e))?;
        Ok(())
    }

    /// The trained model, ready to step worlds.
    pub fn model(&self, path: &Path) -> Result<WorldModel, WorldModelError> {
        let device = Device::Cpu;
        let vb = VarBuilder::from_varmap(&self.varmap, DType::F32, &device);
        let members = (0..self.config.ensemble)
            .map(|k| MemberNetwork::new(&self.config, vb.pp(format!("member.{k}"))))
            .collect::<candle_core::Result<Vec<_>>>()
            .map_err(|e| WorldModelError::Network(e.to_string()))?;
        Ok(WorldModel::from_parts(self.config.clone(), members, path.to_path_buf()))
    }
}

fn hybrid_priors_missing(episodes: &[PreparedEpisode], options: &TrainOptions) -> bool {
    options.kind == ModelKind::Hybrid
        && episodes
            .iter()
            .any(|e| e.prior.len() < e.trajectory.transitions() || e.earlier_prior.iter().any(|p| p.len() < options.prior_history))
}

/// Identifies a hybrid's physics prior ([`crate::world_model::identify_prior`]) on the training
/// episodes alone — the split [`train`] will make of the same trajectories with `options` — so
/// that validation episodes never shape the prior; then checks it against the nominal physics
/// on the validation episodes ([`crate::world_model::identify::validate_prior`]), recorded in
/// [`IdentifiedPrior::validation`].
///
/// Errors: as [`crate::world_model::identify_prior`] and
/// [`crate::world_model::identify::validate_prior`].
pub fn identify_on_training_split(
    config: &ScenarioConfig,
    trajectories: &[Trajectory],
    options: &TrainOptions,
    identify: &crate::world_model::IdentifyOptions,
    on_progress: &mut dyn FnMut(&str),
) -> Result<crate::world_model::IdentifiedPrior, WorldModelError> {
    let (train_set, validation_set) = split_by_episode(trajectories.len(), options.validation_fraction, options.seed);
    let pick = |set: &[usize]| -> Vec<Trajectory> { set.iter().map(|&i| trajectories[i].clone()).collect() };
    let mut prior = crate::world_model::identify_prior(config, &pick(&train_set), identify, on_progress)?;
    on_progress("checking the identified prior against the nominal physics on the validation episodes");
    prior.validation = crate::world_model::identify::validate_prior(config, &prior, &pick(&validation_set))?;
    Ok(prior)
}

/// Windows of `k` consecutive transitions: (episode, start).
fn windows(episodes: &[PreparedEpisode], selected: &[usize], k: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for &e in selected {
        let n = episodes[e].trajectory.transitions();
        if n >= k {
            out.extend((0..=n - k).map(|t| (e, t)));
        }
    }
    out
}

/// Tensors of a minibatch of windows, in raw units.
struct WindowBatch {
    /// [B, S] first state
    start: Tensor,
    /// per step j: normalized action inputs [B, A·(1+H)], prior [B, S] raw, normalized prior
    /// [B, S], true next state [B, S]
    actions: Vec<Tensor>,
    prior: Vec<Tensor>,
    prior_input: Vec<Tensor>,
    next: Vec<Tensor>,
}

struct Context<'a> {
    episodes: &'a [PreparedEpisode],
    config: &'a WorldModelConfig,
    k: usize,
    device: Device,
    /// The loss's constants, built once.
    constants: LossConstants,
}

/// What the rollout loss uses at every step of every minibatch.
struct LossConstants {
    /// [1, S] each: the state's and the target's mean and standard deviation.
    state_mean: Tensor,
    state_std: Tensor,
    target_mean: Tensor,
    target_std: Tensor,
    /// [1, S]: [`dimension_weights`].
    weights: Tensor,
    /// [1, S]: Huber's δ of each state value, in target standard deviations.
    huber_delta: Tensor,
    /// Indices of the state values the network sees normalized, and of those it sees as sine
    /// and cosine (`angle_inputs`).
    plain: Tensor,
    angles: Option<Tensor>,
}

impl LossConstants {
    fn new(config: &WorldModelConfig, huber_delta: &[f32], device: &Device) -> candle_core::Result<Self> {
        let n = &config.normalization;
        let s = config.state_size();
        let row = |v: &[f32]| Tensor::from_slice(v, (1, s), device);
        let angles = &config.angle_inputs;
        let plain: Vec<u32> = (0..s).filter(|i| !angles.contains(i)).map(|i| i as u32).collect();
        Ok(Self {
            state_mean: row(&n.state_mean)?,
            state_std: row(&n.state_std)?,
            target_mean: row(&n.target_mean)?,
            target_std: row(&n.target_std)?,
            weights: row(&dimension_weights(n))?,
            huber_delta: row(huber_delta)?,
            plain: Tensor::from_vec(plain.clone(), plain.len(), device)?,
            angles: if angles.is_empty() {
                None
            } else {
                Some(Tensor::from_vec(angles.iter().map(|&i| i as u32).collect::<Vec<_>>(), angles.len(), device)?)
            },
        })
    }
}

/// The loss's weight of each state value: (target std / state std)², the state std floored at
/// [`MIN_SCALE`] as `wm eval` floors it, scaled to a mean of 1. An error of one target std in
/// dimension d is `target_std[d] / state_std[d]` of the state's spread, the unit `wm eval`
/// measures errors in, so the weighted loss ranks dimensions as the evaluation does.
fn dimension_weights(n: &crate::world_model::model::Normalization) -> Vec<f32> {
    let raw: Vec<f64> =
        n.target_std.iter().zip(&n.state_std).map(|(t, s)| (f64::from(*t) / f64::from(*s).max(MIN_SCALE)).powi(2)).collect();
    let mean = raw.iter().sum::<f64>() / raw.len().max(1) as f64;
    raw.iter().map(|w| if mean > 0.0 { (w / mean) as f32 } else { 1.0 }).collect()
}

impl Context<'_> {
    fn batch(&self, windows: &[(usize, usize)]) -> candle_core::Result<WindowBatch> {
        let n = &self.config.normalization;
        let (s, a, h) = (self.config.state_size(), self.config.action_size(), self.config.action_history);
        let b = windows.len();
        let hybrid = self.config.kind == ModelKind::Hybrid;
        let mut start = Vec::with_capacity(b * s);
        for &(e, t) in windows {
            start.extend(self.episodes[e].trajectory.states[t].iter().map(|v| *v as f32));
        }
        let mut batch = WindowBatch {
            start: Tensor::from_vec(start, (b, s), &self.device)?,
            actions: Vec::new(),
            prior: Vec::new(),
            prior_input: Vec::new(),
            next: Vec::new(),
        };
        for j in 0..self.k {
            let mut actions = Vec::with_capacity(b * a * (1 + h));
            let mut prior = Vec::new();
            let mut prior_input = Vec::new();
            let mut next = Vec::with_capacity(b * s);
            for &(e, t) in windows {
                let episode = &self.episodes[e];
                let step = t + j;
                for back in 0..=h {
                    let action = if step >= back { &episode.trajectory.actions[step - back] } else { &episode.hold };
                    actions.extend(action.iter().enumerate().map(|(i, v)| ((*v as f32) - n.action_mean[i]) / n.action_std[i]));
                }
                if hybrid {
                    prior.extend(episode.prior[step].iter().map(|v| *v as f32));
                    let earlier = episode.earlier_prior[step].iter().take(self.config.prior_history);
                    for change in std::iter::once(&episode.prior[step]).chain(earlier) {
                        prior_input.extend(change.iter().enumerate().map(|(i, v)| ((*v as f32) - n.prior_mean[i]) / n.prior_std[i]));
                    }
                }
                next.extend(episode.trajectory.states[step + 1].iter().map(|v| *v as f32));
            }
            batch.actions.push(Tensor::from_vec(actions, (b, a * (1 + h)), &self.device)?);
            if hybrid {
                batch.prior.push(Tensor::from_vec(prior, (b, s), &self.device)?);
                batch.prior_input.push(Tensor::from_vec(prior_input, (b, s * self.config.prior_inputs()), &self.device)?);
            }
            batch.next.push(Tensor::from_vec(next, (b, s), &self.device)?);
        }
        Ok(batch)
    }

    /// The k-step open-loop rollout loss: per step and state value, Huber's loss (δ =
    /// `huber_delta` robust target scales, scaled by 2 so that it is the squared error below δ)
    /// of the error in target standard deviations, weighted by [`dimension_weights`], averaged over values,
    /// windows and steps. For hybrid models the physics step's change is taken along the logged
    /// trajectory: stepping rapier inside the loss would not be differentiable. The state enters
    /// the network as [`WorldModel::input_row`] lays it out (angles as sine and cosine).
    fn loss(&self, network: &MemberNetwork, batch: &WindowBatch) -> candle_core::Result<Tensor> {
        let LossConstants { state_mean, state_std, target_mean, target_std, weights, huber_delta: delta, plain, angles } = &self.constants;
        let mut state = batch.start.clone();
        let mut total: Option<Tensor> = None;
        for j in 0..self.k {
            let normalized = state.broadcast_sub(state_mean)?.broadcast_div(state_std)?;
            let mut parts = vec![normalized.index_select(plain, 1)?];
            if let Some(angles) = angles {
                let angle = state.index_select(angles, 1)?;
                parts.push(angle.sin()?);
                parts.push(angle.cos()?);
            }
            parts.push(batch.actions[j].clone());
            if self.config.kind == ModelKind::Hybrid {
                parts.push(batch.prior_input[j].clone());
            }
            let input = Tensor::cat(&parts, 1)?;
            let target = network.forward(&input)?.broadcast_mul(target_std)?.broadcast_add(target_mean)?;
            let base = if self.config.kind == ModelKind::Hybrid { (&state + &batch.prior[j])? } else { state.clone() };
            state = (base + target)?;
            // Huber: a² below δ, 2δa − δ² above, with a the error's size; written as m² + 2δ(a − m)
            // with m = min(a, δ), so candle differentiates it piece by piece.
            let size = (&state - &batch.next[j])?.broadcast_div(target_std)?.abs()?;
            let inner = size.broadcast_minimum(delta)?;
            let huber = (inner.sqr()? + (size - &inner)?.broadcast_mul(delta)?.affine(2.0, 0.0)?)?;
            let error = huber.broadcast_mul(weights)?.mean_all()?;
            total = Some(match total {
                Some(t) => (t + error)?,
                None => error,
            });
        }
        total.expect("k ≥ 1") / self.k as f64
    }
}

/// Glorot-uniform weights for ensemble member `member`, the last layer's scaled by 0.1 so an
/// untrained model predicts nearly the mean change (or no correction).
fn initialize(varmap: &VarMap, config: &WorldModelConfig, member: usize, rng: &mut ChaCha8Rng) -> candle_core::Result<()> {
    crate::nn::glorot_uniform(varmap, &format!("member.{member}."), &MemberNetwork::sizes(config), 0.1, rng)
}

/// Trains a world model for `config` on `episodes` (from [`prepare_episodes`]).
/// `on_epoch` sees each epoch's metrics as they come (progress and logs).
///
/// The loss is a k-step open-loop rollout from logged states (`rollout_steps`): at every step
/// and state value, Huber's loss (Huber 1964; ×2, so it is the squared error below δ) of the
/// error in target standard deviations, with δ = `huber_delta` × the target's robust scale
/// (1.4826 × its median absolute deviation), weighted by (target std / state std)² scaled to
/// a mean of 1 (the state std floored at [`MIN_SCALE`], as `wm eval` measures errors), and
/// averaged over values, windows and steps.
pub fn train(
    config: &Arc<ScenarioConfig>,
    episodes: &[PreparedEpisode],
    options: &TrainOptions,
    provenance: serde_json::Value,
    on_epoch: &mut dyn FnMut(&EpochMetrics),
) -> Result<TrainedModel, WorldModelError> {
    let net = |e: candle_core::Error| WorldModelError::Network(e.to_string());
    if options.rollout_steps == 0 || options.batch_size == 0 || options.ensemble == 0 || options.max_epochs == 0 {
        return Err(WorldModelError::Data("rollout steps, batch size, ensemble size and epochs must be at least 1".into()));
    }
    if !(options.huber_delta.is_finite() && options.huber_delta > 0.0) {
        return Err(WorldModelError::Data(format!("the Huber loss's δ is {}, expected a positive number", options.huber_delta)));
    }
    if options.kind == ModelKind::Hybrid && options.prior_history > options.action_history {
        return Err(WorldModelError::Data(format!(
            "prior history {} is longer than the action history {}: the physics can only be stepped with actions the model sees",
            options.prior_history, options.action_history
        )));
    }
    if hybrid_priors_missing(episodes, options) {
        return Err(WorldModelError::Data("the episodes were prepared without the physics steps a hybrid model needs".into()));
    }
    if episodes.len() < 2 {
        return Err(WorldModelError::Data(format!("{} episodes: training needs at least 2 (one for validation)", episodes.len())));
    }
    let hybrid = options.kind == ModelKind::Hybrid;
    if let Some(prior) = options.identified_prior.as_ref().filter(|_| options.kind == ModelKind::Hybrid) {
        if prior.action_latency_steps > options.action_history {
            return Err(WorldModelError::Data(format!(
                "the identified prior delays actions by {} steps, longer than the action history {}: the model could not hand the prior its delayed actions",
                prior.action_latency_steps, options.action_history
            )));
        }
    }
    let (train_set, validation_set) = split_by_episode(episodes.len(), options.validation_fraction, options.seed);
    let fingerprint = ScenarioFingerprint::of(config);
    let (s, a) = (fingerprint.state_names.len(), fingerprint.action_names.len());

    let transitions = |set: &[usize]| -> Vec<(usize, usize)> {
        set.iter().flat_map(|&e| (0..episodes[e].trajectory.transitions()).map(move |t| (e, t))).collect()
    };
    let train_transitions = transitions(&train_set);
    if train_transitions.is_empty() {
        return Err(WorldModelError::Data("the training episodes hold no transitions (each needs at least two frames)".into()));
    }
    let targets = targets(episodes, &train_transitions, s, hybrid);
    let normalization = normalization(episodes, &train_transitions, &targets, s, a, hybrid);
    let mut model_config = WorldModelConfig {
        format: WORLD_MODEL_FORMAT.into(),
        kind: options.kind,
        scenario: fingerprint,
        hidden: options.hidden.clone(),
        activation: options.activation.clone(),
        ensemble: options.ensemble,
        action_history: options.action_history,
        prior_history: if hybrid { options.prior_history } else { 0 },
        normalization,
        disagreement_threshold: 0.0,
        disagreement_error_target: None,
        training: serde_json::Value::Null,
        identified_prior: if hybrid { options.identified_prior.clone() } else { None },
        correction_scale: 1.0,
        angle_inputs: angle_dimensions(config),
    };

    // Episodes shorter than the rollout use what they have.
    let k = options.rollout_steps.min(episodes.iter().map(|e| e.trajectory.transitions()).max().unwrap_or(1)).max(1);
    let huber_delta: Vec<f32> =
        robust_target_scale(&targets, &model_config.normalization).iter().map(|scale| scale * options.huber_delta as f32).collect();
    let constants = LossConstants::new(&model_config, &huber_delta, &Device::Cpu).map_err(net)?;
    let context = Context { episodes, config: &model_config, k, device: Device::Cpu, constants };
    let train_windows = windows(episodes, &train_set, k);
    let validation_windows = windows(episodes, &validation_set, k);
    if train_windows.is_empty() || validation_windows.is_empty() {
        return Err(WorldModelError::Data(format!("no episode in the training or validation set is {k} transitions long")));
    }
    let validation_batches: Vec<WindowBatch> =
        validation_windows.chunks(4096).map(|c| context.batch(c)).collect::<candle_core::Result<_>>().map_err(net)?;

    let varmap = VarMap::new();
    let mut metrics = Vec::new();
    let device = Device::Cpu;
    for member in 0..options.ensemble {
        let mut member_rng = ChaCha8Rng::seed_from_u64(options.seed.wrapping_add(1 + member as u64));
        initialize(&varmap, &model_config, member, &mut member_rng).map_err(net)?;
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &device);
        let network = MemberNetwork::new(&model_config, vb.pp(format!("member.{member}"))).map_err(net)?;
        let prefix = format!("member.{member}.");
        let member_vars: Vec<(String, Var)> = {
            let data = varmap.data().lock().expect("varmap lock");
            let mut vars: Vec<(String, Var)> =
                data.iter().filter(|(n, _)| n.starts_with(&prefix)).map(|(n, v)| (n.clone(), v.clone())).collect();
            vars.sort_by(|x, y| x.0.cmp(&y.0));
            vars
        };
        let mut optimizer = <candle_nn::AdamW as candle_nn::Optimizer>::new(
            member_vars.iter().map(|(_, v)| v.clone()).collect(),
            candle_nn::ParamsAdamW { lr: options.learning_rate, weight_decay: 1e-5, ..Default::default() },
        )
        .map_err(net)?;
        let mut best: Option<(f64, HashMap<String, Tensor>)> = None;
        let mut since_best = 0;
        let mut order = train_windows.clone();
        for epoch in 0..options.max_epochs {
            let started = std::time::Instant::now();
            // Cosine decay to a tenth of the rate: late epochs refine rather than wander.
            let progress = epoch as f64 / options.max_epochs as f64;
            let rate = options.learning_rate * (0.1 + 0.45 * (1.0 + (std::f64::consts::PI * progress).cos()));
            candle_nn::Optimizer::set_learning_rate(&mut optimizer, rate);
            crate::seed::shuffle(&mut order, &mut member_rng);
            let (mut total, mut batches) = (0.0, 0usize);
            for chunk in order.chunks(options.batch_size) {
                let batch = context.batch(chunk).map_err(net)?;
                let loss = context.loss(&network, &batch).map_err(net)?;
                candle_nn::Optimizer::backward_step(&mut optimizer, &loss).map_err(net)?;
                total += loss.to_scalar::<f32>().map_err(net)? as f64;
                batches += 1;
            }
            let mut validation = 0.0;
            for batch in &validation_batches {
                validation += context.loss(&network, batch).and_then(|l| l.to_scalar::<f32>()).map_err(net)? as f64
                    * batch.start.dim(0).map_err(net)? as f64;
            }
            validation /= validation_windows.len() as f64;
            let row = EpochMetrics {
                member,
                epoch,
                train_loss: total / batches.max(1) as f64,
                validation_loss: validation,
                samples: order.len() * k,
                seconds: started.elapsed().as_secs_f64(),
            };
            on_epoch(&row);
            metrics.push(row);
            if !validation.is_finite() {
                return Err(WorldModelError::Network(format!("member {member}: the validation loss became {validation} at epoch {epoch}")));
            }
            if best.as_ref().is_none_or(|(b, _)| validation < *b) {
                let snapshot = member_vars
                    .iter()
                    .map(|(n, v)| v.as_tensor().copy().map(|t| (n.clone(), t)))
                    .collect::<candle_core::Result<_>>()
                    .map_err(net)?;
                best = Some((validation, snapshot));
                since_best = 0;
            } else {
                since_best += 1;
                if since_best >= options.patience {
                    break;
                }
            }
        }
        if let Some((_, snapshot)) = best {
            for (name, var) in &member_vars {
                var.set(&snapshot[name]).map_err(net)?;
            }
        }
    }

    let train_episodes: Vec<u64> = train_set.iter().map(|&e| episodes[e].trajectory.episode_index).collect();
    let validation_episodes: Vec<u64> = validation_set.iter().map(|&e| episodes[e].trajectory.episode_index).collect();
    let mut trained = TrainedModel { config: model_config.clone(), varmap, metrics, train_episodes, validation_episodes, gate: None };

    let validation: Vec<&PreparedEpisode> = validation_set.iter().map(|&e| &episodes[e]).collect();
    if hybrid {
        let training = Path::new("(training)");
        let (prior, _) = trained.model(training)?.prior_configs(config)?;
        let gate = gate_correction(config, &Arc::new(prior), &validation, &|scale| {
            let mut model = trained.model(training)?;
            model.config.correction_scale = scale;
            Ok(Arc::new(model))
        })?;
        model_config.correction_scale = gate.scale;
        trained.config.correction_scale = gate.scale;
        trained.gate = Some(gate);
    }
    let model = Arc::new(trained.model(Path::new("(training)"))?);
    let calibration = calibrate(config, &model, &validation)?;
    model_config.disagreement_threshold = calibration.threshold;
    model_config.disagreement_error_target = calibration.error_target;
    model_config.training = serde_json::json!({
        "options": options,
        "train_episodes": trained.train_episodes.len(),
        "validation_episodes": trained.validation_episodes.len(),
        "transitions": train_transitions.len(),
        "best_validation_loss": trained.metrics.iter().map(|m| m.validation_loss).fold(f64::INFINITY, f64::min),
        "calibration": {"validation_episode_disagreement_max": calibration.worst, "margin": CALIBRATION_MARGIN, "rollout_steps": calibration.horizon, "error_target": calibration.error_target},
        "correction_gate": trained.gate,
        "rejected_identified_prior": options.rejected_prior,
        "dreamrig_version": env!("CARGO_PKG_VERSION"),
        "provenance": provenance,
    });
    trained.config = model_config;
    Ok(trained)
}
