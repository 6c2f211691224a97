//! Statistics: confidence intervals and aggregation of episodes into summaries.

use crate::record::{EpisodeRecord, SummaryRecord};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// 95% Wilson score interval for `successes` out of `n`.
///
/// Returns `(low, high)` with z = 1.959964 (Wilson 1927), clamped to [0, 1]; `(0, 1)` when `n` is 0.
pub fn wilson_interval(successes: u64, n: u64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let z = 1.959963984540054;
    let n_f = n as f64;
    let p = successes as f64 / n_f;
    let denominator = 1.0 + z * z / n_f;
    let centre = (p + z * z / (2.0 * n_f)) / denominator;
    let half = z * ((p * (1.0 - p) + z * z / (4.0 * n_f)) / n_f).sqrt() / denominator;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// 95% percentile-bootstrap interval of the mean, from `resamples` resamples drawn with a
/// seeded RNG (so the interval is reproducible).
///
/// Returns `(low, high)`, the 2.5th and 97.5th percentiles of the resampled means; `(NaN, NaN)`
/// for no values and `(v, v)` for one. `resamples` must be at least 1.
pub fn bootstrap_mean_interval(values: &[f64], resamples: usize, seed: u64) -> (f64, f64) {
    if values.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    if values.len() == 1 {
        return (values[0], values[0]);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = values.len();
    let mut means: Vec<f64> = (0..resamples).map(|_| (0..n).map(|_| values[rng.random_range(0..n)]).sum::<f64>() / n as f64).collect();
    means.sort_by(f64::total_cmp);
    let at = |q: f64| means[((q * (resamples - 1) as f64).round() as usize).min(resamples - 1)];
    (at(0.025), at(0.975))
}

/// The median of `values` (the mean of the two middle ones for an even count), sorting `values`
/// in place by total order; `None` if empty.
pub fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    Some(if n % 2 == 1 { values[n / 2] } else { (values[n / 2 - 1] + values[n / 2]) / 2.0 })
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, count) = values.fold((0.0, 0usize), |(s, c), v| (s + v, c + 1));
    if count == 0 {
        f64::NAN
    } else {
        sum / count as f64
    }
}

fn seed_for(scenario: &str, policy: &str) -> u64 {
    dreamrig_sim::seed::fnv1a(&[scenario.as_bytes(), b"\0", policy.as_bytes()])
}

/// Summaries per (scenario, policy), in the order the pairs first appear in `records` (which
/// are sorted), ranked within each scenario.
pub fn summarize(records: &[EpisodeRecord]) -> Vec<SummaryRecord> {
    let mut groups: Vec<((String, String), Vec<&EpisodeRecord>)> = Vec::new();
    for r in records {
        match groups.iter_mut().find(|(k, _)| k.0 == r.scenario && k.1 == r.policy) {
            Some((_, v)) => v.push(r),
            None => groups.push(((r.scenario.clone(), r.policy.clone()), vec![r])),
        }
    }
    let mut summaries: Vec<SummaryRecord> = groups
        .into_iter()
        .map(|((scenario, policy), episodes)| {
            let n = episodes.len() as u64;
            let successes = episodes.iter().filter(|e| e.success).count() as u64;
            let (success_ci_low, success_ci_high) = wilson_interval(successes, n);
            let returns: Vec<f64> = episodes.iter().map(|e| e.episode_return).collect();
            let (return_ci_low, return_ci_high) = bootstrap_mean_interval(&returns, 2000, seed_for(&scenario, &policy));
            let mut times: Vec<f64> = episodes.iter().filter_map(|e| e.time_to_success_s).collect();
            let clearances: Vec<f64> = episodes.iter().filter_map(|e| e.min_clearance_m).collect();
            let goal_errors: Vec<f64> = episodes.iter().filter_map(|e| e.final_goal_error_m).collect();
            SummaryRecord {
                rank: 0,
                episodes: n,
                successes,
                success_rate: successes as f64 / n as f64,
                success_ci_low,
                success_ci_high,
                mean_return: mean(returns.iter().copied()),
                return_ci_low,
                return_ci_high,
                median_time_to_success_s: median(&mut times),
                mean_length: mean(episodes.iter().map(|e| e.length as f64)),
                errors: episodes.iter().filter(|e| e.end_reason == "error").count() as u64,
                mean_model_disagreement: {
                    let d: Vec<f64> = episodes.iter().filter_map(|e| e.model_disagreement).collect();
                    (!d.is_empty()).then(|| mean(d.iter().copied()))
                },
                untrusted_episodes: episodes.iter().filter(|e| e.untrusted).count() as u64,
                collisions_per_episode: mean(episodes.iter().map(|e| e.collisions as f64)),
                min_clearance_m: clearances.iter().copied().reduce(f64::min),
                mean_final_goal_error_m: (!goal_errors.is_empty()).then(|| mean(goal_errors.iter().copied())),
                mean_action_smoothness: mean(episodes.iter().map(|e| e.action_smoothness)),
                mean_effort: mean(episodes.iter().map(|e| e.effort)),
                scenario,
                policy,
            }
        })
        .collect();
    let scenarios: Vec<String> = summaries.iter().map(|s| s.scenario.clone()).fold(Vec::new(), |mut v, s| {
        if !v.contains(&s) {
            v.push(s)
        }
        v
    });
    for scenario in scenarios {
        let mut indices: Vec<usize> = (0..summaries.len()).filter(|i| summaries[*i].scenario == scenario).collect();
        indices.sort_by(|a, b| {
            let (a, b) = (&summaries[*a], &summaries[*b]);
            b.success_rate.total_cmp(&a.success_rate).then(b.mean_return.total_cmp(&a.mean_return)).then(a.policy.cmp(&b.policy))
        });
        for (rank, i) in indices.into_iter().enumerate() {
            summaries[i].rank = rank as u32 + 1;
        }
    }
    summaries
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_interval_matches_the_textbook_example() {
        // 8 of 10: Wilson 95% interval [0.490, 0.943] (Newcombe 1998, method 3).
        let (lo, hi) = wilson_interval(8, 10);
        assert!((lo - 0.4902).abs() < 1e-3 && (hi - 0.9433).abs() < 1e-3, "{lo} {hi}");
        let (lo, hi) = wilson_interval(0, 20);
        assert_eq!(lo, 0.0);
        assert!((hi - 0.1611).abs() < 1e-3, "{hi}");
    }

    #[test]
    fn bootstrap_interval_brackets_the_mean_and_is_reproducible() {
        let values: Vec<f64> = (0..100).map(|i| i as f64).collect();
        let (lo, hi) = bootstrap_mean_interval(&values, 2000, 3);
        assert!(lo < 49.5 && hi > 49.5 && hi - lo < 20.0, "{lo} {hi}");
        assert_eq!((lo, hi), bootstrap_mean_interval(&values, 2000, 3));
    }

    #[test]
    fn median_of_even_and_odd_counts() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&mut []), None);
    }
}
