//! Normalization of a world model's inputs and targets, from the training transitions.

use crate::world_model::model::Normalization;
use crate::world_model::prepare::PreparedEpisode;

/// Normalization statistics in f32: [`crate::nn::mean_std`], each std floored.
fn mean_std<'a>(rows: impl Iterator<Item = &'a [f64]>, width: usize) -> (Vec<f32>, Vec<f32>) {
    let (mean, std) = crate::nn::mean_std(rows, width);
    // A constant dimension (a fixed joint, a zero gravity axis) would divide by zero; 1e-6
    // of scale keeps it finite and still tiny.
    let std: Vec<f32> = std.iter().zip(&mean).map(|(s, m)| s.max(1e-6 * (1.0 + m.abs())).max(1e-8) as f32).collect();
    (mean.iter().map(|m| *m as f32).collect(), std)
}

/// The statistics of the training transitions `(episode, t)`: states, actions, the prior's
/// changes (hybrid only) and `targets` (from [`targets`], one row per transition). `s` and `a`
/// are the state and action widths.
pub(crate) fn normalization(
    episodes: &[PreparedEpisode],
    transitions: &[(usize, usize)],
    targets: &[Vec<f64>],
    s: usize,
    a: usize,
    hybrid: bool,
) -> Normalization {
    let (state_mean, state_std) = mean_std(transitions.iter().map(|&(e, t)| episodes[e].trajectory.states[t].as_slice()), s);
    let (action_mean, action_std) = mean_std(transitions.iter().map(|&(e, t)| episodes[e].trajectory.actions[t].as_slice()), a);
    let (prior_mean, prior_std) =
        if hybrid { mean_std(transitions.iter().map(|&(e, t)| episodes[e].prior[t].as_slice()), s) } else { (Vec::new(), Vec::new()) };
    let (target_mean, target_std) = mean_std(targets.iter().map(Vec::as_slice), s);
    Normalization { state_mean, state_std, action_mean, action_std, prior_mean, prior_std, target_mean, target_std }
}

/// The network's target of each transition `(episode, t)`: the state change, minus the prior's
/// change for a hybrid.
pub(crate) fn targets(episodes: &[PreparedEpisode], transitions: &[(usize, usize)], s: usize, hybrid: bool) -> Vec<Vec<f64>> {
    transitions
        .iter()
        .map(|&(e, t)| {
            let ep = &episodes[e];
            (0..s)
                .map(|d| {
                    let change = ep.trajectory.states[t + 1][d] - ep.trajectory.states[t][d];
                    if hybrid {
                        change - ep.prior[t][d]
                    } else {
                        change
                    }
                })
                .collect()
        })
        .collect()
}

/// Consistency constant of the median absolute deviation: 1.4826 × MAD estimates a normal
/// distribution's standard deviation (Huber & Ronchetti, *Robust Statistics*, 2nd ed., §5.1).
const MAD_TO_STD: f64 = 1.482_602_218_505_602;

/// A scale of each target value that a few outliers cannot inflate: 1.4826 × the median
/// absolute deviation from the median over `targets` (the training transitions' rows), in units of `target_std`
/// (one per state value), floored at 0.01 (a value that is almost always exactly predicted by
/// the prior would otherwise get a zero scale). Where the targets are normal it is about 1;
/// where a few transitions carry most of the variance (contacts at a joint limit) it is far
/// below 1. The rollout loss's Huber threshold is measured in it.
pub(crate) fn robust_target_scale(targets: &[Vec<f64>], normalization: &Normalization) -> Vec<f32> {
    let s = normalization.target_std.len();
    let median = |values: &mut Vec<f64>| -> f64 {
        values.sort_by(f64::total_cmp);
        let n = values.len();
        if n == 0 {
            0.0
        } else if n % 2 == 1 {
            values[n / 2]
        } else {
            0.5 * (values[n / 2 - 1] + values[n / 2])
        }
    };
    (0..s)
        .map(|d| {
            let mut column: Vec<f64> = targets.iter().map(|row| row[d]).collect();
            let centre = median(&mut column);
            let mut deviations: Vec<f64> = column.iter().map(|v| (v - centre).abs()).collect();
            let scale = MAD_TO_STD * median(&mut deviations) / f64::from(normalization.target_std[d]);
            scale.clamp(0.01, f64::INFINITY) as f32
        })
        .collect()
}
