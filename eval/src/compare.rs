//! Does a world rank policies as another does? Success rates of one policy zoo in a reference
//! world (the "real" one) and a candidate world (a world model), with Pearson r, Spearman ρ
//! and the mean maximum rank violation (MMRV) of SIMPLER (Li et al., 2024).

use crate::journal::write_atomic;
use crate::record::SummaryRecord;
use crate::tables::{write_csv, write_parquet};
use crate::EvalError;
use plotters::prelude::*;
use polars::prelude::*;
use std::path::Path;

/// One policy's results in both worlds (a row of `comparison.csv`, with the scenario added).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ComparisonRow {
    /// Policy name, the same on both sides.
    pub policy: String,
    /// Success rate in the reference world, 0 to 1.
    pub reference_success_rate: f64,
    /// Success rate in the candidate world, 0 to 1.
    pub candidate_success_rate: f64,
    /// candidate − reference
    pub difference: f64,
    /// Mean episode return in the reference world.
    pub reference_mean_return: f64,
    /// Mean episode return in the candidate world.
    pub candidate_mean_return: f64,
    /// Candidate episodes whose world-model disagreement exceeded the model's trust threshold.
    pub candidate_untrusted_episodes: u64,
}

/// How a candidate world ranks policies against a reference world on one scenario; the three
/// measures are computed on success rates.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Comparison {
    /// Name of the reference world (a label for reports).
    pub reference: String,
    /// Name of the candidate world.
    pub candidate: String,
    /// One row per policy present on both sides, in the reference's order.
    pub rows: Vec<ComparisonRow>,
    /// Pearson r of the success rates; see [`pearson`].
    pub pearson: f64,
    /// Spearman ρ of the success rates; see [`spearman`].
    pub spearman: f64,
    /// Mean maximum rank violation of the success rates, 0 (same order) to 1; see [`mmrv`].
    pub mmrv: f64,
}

/// Pearson correlation; 0 when either side has no spread.
///
/// `x` and `y` are paired values of equal length; 0 for fewer than two pairs.
pub fn pearson(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len().min(y.len()) as f64;
    if n < 2.0 {
        return 0.0;
    }
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let cov: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let (vx, vy): (f64, f64) = (x.iter().map(|a| (a - mx).powi(2)).sum(), y.iter().map(|b| (b - my).powi(2)).sum());
    if vx <= 0.0 || vy <= 0.0 {
        return 0.0;
    }
    cov / (vx * vy).sqrt()
}

/// Ranks with ties given their average rank (1 = smallest).
pub fn average_ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|a, b| values[*a].total_cmp(&values[*b]));
    let mut ranks = vec![0.0; values.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && values[order[j + 1]] == values[order[i]] {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for k in i..=j {
            ranks[order[k]] = rank;
        }
        i = j + 1;
    }
    ranks
}

/// Spearman's ρ: Pearson correlation of the average ranks.
pub fn spearman(x: &[f64], y: &[f64]) -> f64 {
    pearson(&average_ranks(x), &average_ranks(y))
}

/// Mean maximum rank violation: for each policy, the largest reference-performance gap to a
/// policy the candidate orders the other way round, averaged over policies.
///
/// `reference` and `candidate` hold one value per policy, same order and length; 0 for none.
/// Lower is better: 0 means the candidate never orders two policies against the reference.
pub fn mmrv(reference: &[f64], candidate: &[f64]) -> f64 {
    let n = reference.len();
    if n == 0 {
        return 0.0;
    }
    let total: f64 = (0..n)
        .map(|i| {
            (0..n)
                .filter(|&j| (candidate[i] < candidate[j]) != (reference[i] < reference[j]))
                .map(|j| (reference[i] - reference[j]).abs())
                .fold(0.0, f64::max)
        })
        .sum();
    total / n as f64
}

/// Pairs policies by name (each side's summaries of one scenario) and computes the measures.
pub fn compare(reference_name: &str, reference: &[SummaryRecord], candidate_name: &str, candidate: &[SummaryRecord]) -> Comparison {
    let mut rows = Vec::new();
    for r in reference {
        if let Some(c) = candidate.iter().find(|c| c.policy == r.policy) {
            rows.push(ComparisonRow {
                policy: r.policy.clone(),
                reference_success_rate: r.success_rate,
                candidate_success_rate: c.success_rate,
                difference: c.success_rate - r.success_rate,
                reference_mean_return: r.mean_return,
                candidate_mean_return: c.mean_return,
                candidate_untrusted_episodes: c.untrusted_episodes,
            });
        }
    }
    let x: Vec<f64> = rows.iter().map(|r| r.reference_success_rate).collect();
    let y: Vec<f64> = rows.iter().map(|r| r.candidate_success_rate).collect();
    Comparison {
        reference: reference_name.into(),
        candidate: candidate_name.into(),
        pearson: pearson(&x, &y),
        spearman: spearman(&x, &y),
        mmrv: mmrv(&x, &y),
        rows,
    }
}

fn scatter(comparison: &Comparison) -> String {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (520, 460)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let chart = ChartBuilder::on(&root)
            .caption("success rate per policy", ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(-0.02f64..1.02, -0.02f64..1.02);
        if let Ok(mut chart) = chart {
            let _ = chart.configure_mesh().x_desc(comparison.reference.as_str()).y_desc(comparison.candidate.as_str()).draw();
            let _ = chart.draw_series(LineSeries::new([(0.0, 0.0), (1.0, 1.0)], BLACK.mix(0.3)));
            let _ = chart.draw_series(
                comparison.rows.iter().map(|r| Circle::new((r.reference_success_rate, r.candidate_success_rate), 4, BLUE.filled())),
            );
        }
        let _ = root.present();
    }
    svg
}

/// Writes `comparison.parquet`, `comparison.csv`, `comparison.json` and `comparison.html`.
///
/// `comparisons` holds (scenario, comparison) pairs; the tables have one row per policy and
/// scenario. `out` is created if needed.
///
/// # Errors
/// [`EvalError::Io`] if the folder cannot be created, the table cannot be assembled or a file
/// cannot be written.
pub fn write_comparison(out: &Path, comparisons: &[(String, Comparison)]) -> Result<(), EvalError> {
    std::fs::create_dir_all(out).map_err(|e| EvalError::Io { path: out.to_path_buf(), reason: e.to_string() })?;
    let rows: Vec<(&String, &ComparisonRow)> = comparisons.iter().flat_map(|(s, c)| c.rows.iter().map(move |r| (s, r))).collect();
    let c = |name: &str| PlSmallStr::from(name);
    let mut df = DataFrame::new(
        rows.len(),
        vec![
            Column::new(c("scenario"), rows.iter().map(|(s, _)| s.as_str()).collect::<Vec<_>>()),
            Column::new(c("policy"), rows.iter().map(|(_, r)| r.policy.as_str()).collect::<Vec<_>>()),
            Column::new(c("reference_success_rate"), rows.iter().map(|(_, r)| r.reference_success_rate).collect::<Vec<_>>()),
            Column::new(c("candidate_success_rate"), rows.iter().map(|(_, r)| r.candidate_success_rate).collect::<Vec<_>>()),
            Column::new(c("difference"), rows.iter().map(|(_, r)| r.difference).collect::<Vec<_>>()),
            Column::new(c("reference_mean_return"), rows.iter().map(|(_, r)| r.reference_mean_return).collect::<Vec<_>>()),
            Column::new(c("candidate_mean_return"), rows.iter().map(|(_, r)| r.candidate_mean_return).collect::<Vec<_>>()),
            Column::new(c("candidate_untrusted_episodes"), rows.iter().map(|(_, r)| r.candidate_untrusted_episodes).collect::<Vec<_>>()),
        ],
    )
    .map_err(|e| EvalError::Io { path: out.join("comparison.parquet"), reason: e.to_string() })?;
    write_parquet(&out.join("comparison.parquet"), &mut df)?;
    write_csv(&out.join("comparison.csv"), &mut df)?;
    let json: Vec<serde_json::Value> = comparisons.iter().map(|(s, c)| serde_json::json!({"scenario": s, "comparison": c})).collect();
    write_atomic(&out.join("comparison.json"), &serde_json::to_vec_pretty(&json).expect("comparison serializes"))?;
    let mut html = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>dreamrig world comparison</title>\
         <style>body{font-family:sans-serif;max-width:60em;margin:2em auto}table{border-collapse:collapse}\
         td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right}td:first-child{text-align:left}</style></head><body>\
         <h1>World comparison</h1><p>Success rates of the same policies and episode seeds in two worlds. Spearman ρ and Pearson r \
         near 1 and MMRV near 0 mean the candidate ranks policies as the reference does.</p>",
    );
    for (scenario, comparison) in comparisons {
        html.push_str(&format!(
            "<h2>{scenario}</h2><p>reference <b>{}</b>, candidate <b>{}</b>: Pearson r = {:.3}, Spearman ρ = {:.3}, MMRV = {:.3}</p>",
            comparison.reference, comparison.candidate, comparison.pearson, comparison.spearman, comparison.mmrv
        ));
        html.push_str("<table><tr><th>policy</th><th>reference success</th><th>candidate success</th><th>difference</th><th>untrusted episodes</th></tr>");
        for r in &comparison.rows {
            html.push_str(&format!(
                "<tr><td>{}</td><td>{:.1}%</td><td>{:.1}%</td><td>{:+.1}</td><td>{}</td></tr>",
                r.policy,
                100.0 * r.reference_success_rate,
                100.0 * r.candidate_success_rate,
                100.0 * r.difference,
                r.candidate_untrusted_episodes
            ));
        }
        html.push_str("</table>");
        html.push_str(&scatter(comparison));
    }
    html.push_str("</body></html>");
    write_atomic(&out.join("comparison.html"), html.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_orderings_score_perfectly() {
        let x = [0.1, 0.5, 0.9, 0.3];
        assert!((spearman(&x, &x) - 1.0).abs() < 1e-12);
        assert!((pearson(&x, &x) - 1.0).abs() < 1e-12);
        assert_eq!(mmrv(&x, &x), 0.0);
    }

    #[test]
    fn a_reversed_ordering_scores_minus_one_and_a_large_violation() {
        let x = [0.0, 0.5, 1.0];
        let y = [1.0, 0.5, 0.0];
        assert!((spearman(&x, &y) + 1.0).abs() < 1e-12);
        // policy 0: violated against 1 (0.5) and 2 (1.0) → 1.0; policy 1: 0.5; policy 2: 1.0
        assert!((mmrv(&x, &y) - 2.5 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn ties_get_average_ranks() {
        assert_eq!(average_ranks(&[0.3, 0.1, 0.3, 0.9]), vec![2.5, 1.0, 2.5, 4.0]);
    }
}
