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
/// changes (hybrid only) and the targets (the state change, minus the prior's for a hybrid).
/// `s` and `a` are the state and action widths.
pub(crate) fn normalization(
    episodes: &[PreparedEpisode],
    transitions: &[(usize, usize)],
    s: usize,
    a: usize,
    hybrid: bool,
) -> Normalization {
    let (state_mean, state_std) = mean_std(transitions.iter().map(|&(e, t)| episodes[e].trajectory.states[t].as_slice()), s);
    let (action_mean, action_std) = mean_std(transitions.iter().map(|&(e, t)| episodes[e].trajectory.actions[t].as_slice()), a);
    let (prior_mean, prior_std) =
        if hybrid { mean_std(transitions.iter().map(|&(e, t)| episodes[e].prior[t].as_slice()), s) } else { (Vec::new(), Vec::new()) };
    let targets: Vec<Vec<f64>> = transitions
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
        .collect();
    let (target_mean, target_std) = mean_std(targets.iter().map(Vec::as_slice), s);
    Normalization { state_mean, state_std, action_mean, action_std, prior_mean, prior_std, target_mean, target_std }
}
