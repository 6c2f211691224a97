//! `meta/stats.json`: per-element statistics of every numeric feature over all frames, as
//! LeRobot computes them (min, max, mean, std, count, and the 1/10/50/90/99% quantiles).

use serde::{Deserialize, Serialize};

/// One feature's entry in `meta/stats.json`: every vector has one value per element of the feature
/// (length = its width), except `count`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureStats {
    /// Smallest value over all frames (0 when there are none).
    pub min: Vec<f64>,
    /// Largest value over all frames (0 when there are none).
    pub max: Vec<f64>,
    /// Mean over all frames.
    pub mean: Vec<f64>,
    /// Population standard deviation (ddof = 0, as numpy's `std`).
    pub std: Vec<f64>,
    /// Number of frames, as a one-element list (LeRobot's shape `(1,)`).
    pub count: Vec<u64>,
    /// 1% quantile, linear interpolation (numpy's default); 0 when there are no frames.
    pub q01: Vec<f64>,
    /// 10% quantile.
    pub q10: Vec<f64>,
    /// Median.
    pub q50: Vec<f64>,
    /// 90% quantile.
    pub q90: Vec<f64>,
    /// 99% quantile.
    pub q99: Vec<f64>,
}

/// Linear-interpolation quantile of sorted values (numpy's default method).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let position = q * (sorted.len() - 1) as f64;
    let lower = position.floor() as usize;
    let upper = position.ceil() as usize;
    sorted[lower] + (sorted[upper] - sorted[lower]) * (position - lower as f64)
}

/// Statistics of `rows` (frames × width), element by element.
/// Every row must hold at least `width` values (it panics otherwise).
pub fn feature_stats(rows: &[&[f64]], width: usize) -> FeatureStats {
    let n = rows.len();
    let mut stats = FeatureStats {
        min: Vec::with_capacity(width),
        max: Vec::with_capacity(width),
        mean: Vec::with_capacity(width),
        std: Vec::with_capacity(width),
        count: vec![n as u64],
        q01: Vec::with_capacity(width),
        q10: Vec::with_capacity(width),
        q50: Vec::with_capacity(width),
        q90: Vec::with_capacity(width),
        q99: Vec::with_capacity(width),
    };
    let mut column = Vec::with_capacity(n);
    for k in 0..width {
        column.clear();
        column.extend(rows.iter().map(|r| r[k]));
        let mean = column.iter().sum::<f64>() / n.max(1) as f64;
        let variance = column.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n.max(1) as f64;
        column.sort_by(f64::total_cmp);
        stats.min.push(column.first().copied().unwrap_or(0.0));
        stats.max.push(column.last().copied().unwrap_or(0.0));
        stats.mean.push(mean);
        stats.std.push(variance.sqrt());
        for (q, out) in
            [(0.01, &mut stats.q01), (0.10, &mut stats.q10), (0.50, &mut stats.q50), (0.90, &mut stats.q90), (0.99, &mut stats.q99)]
        {
            out.push(if column.is_empty() { 0.0 } else { quantile(&column, q) });
        }
    }
    stats
}

/// Two entries of `meta/stats.json` for the same feature pooled into one, as lerobot's
/// `aggregate_feature_stats` does (`compute_stats.py`): means weighted by `count`, variances
/// pooled around the new mean, min and max element-wise, quantiles count-weighted means (an
/// approximation lerobot makes too), counts summed. Values may be nested lists of any shape
/// (images: (3, 1, 1)); the result has `a`'s shape. A statistic missing from either is left out.
pub fn pool_stats(a: &serde_json::Value, b: &serde_json::Value) -> serde_json::Value {
    fn flat(v: &serde_json::Value, out: &mut Vec<f64>) {
        match v {
            serde_json::Value::Array(items) => items.iter().for_each(|i| flat(i, out)),
            other => out.push(other.as_f64().unwrap_or(f64::NAN)),
        }
    }
    fn shaped(template: &serde_json::Value, values: &mut std::slice::Iter<'_, f64>) -> serde_json::Value {
        match template {
            serde_json::Value::Array(items) => serde_json::Value::Array(items.iter().map(|i| shaped(i, values)).collect()),
            _ => serde_json::json!(values.next().copied().unwrap_or(f64::NAN)),
        }
    }
    let get = |v: &serde_json::Value, key: &str| {
        let mut out = Vec::new();
        if let Some(x) = v.get(key) {
            flat(x, &mut out);
        }
        out
    };
    let (na, nb) = (get(a, "count").first().copied().unwrap_or(0.0), get(b, "count").first().copied().unwrap_or(0.0));
    let total = (na + nb).max(1.0);
    let (ma, mb) = (get(a, "mean"), get(b, "mean"));
    let mean: Vec<f64> = ma.iter().zip(&mb).map(|(x, y)| (x * na + y * nb) / total).collect();
    let (sa, sb) = (get(a, "std"), get(b, "std"));
    let std: Vec<f64> = (0..mean.len().min(sa.len()).min(sb.len()))
        .map(|i| {
            let va = sa[i] * sa[i] + (ma[i] - mean[i]).powi(2);
            let vb = sb[i] * sb[i] + (mb[i] - mean[i]).powi(2);
            ((va * na + vb * nb) / total).sqrt()
        })
        .collect();
    let mut out = serde_json::Map::new();
    let mut put = |key: &str, values: Vec<f64>| {
        if let Some(template) = a.get(key) {
            if !values.is_empty() {
                out.insert(key.into(), shaped(template, &mut values.iter()));
            }
        }
    };
    put("min", get(a, "min").iter().zip(get(b, "min")).map(|(x, y)| x.min(y)).collect());
    put("max", get(a, "max").iter().zip(get(b, "max")).map(|(x, y)| x.max(y)).collect());
    put("mean", mean);
    put("std", std);
    for q in ["q01", "q10", "q50", "q90", "q99"] {
        put(q, get(a, q).iter().zip(get(b, q)).map(|(x, y)| (x * na + y * nb) / total).collect());
    }
    out.insert("count".into(), serde_json::json!([(na + nb) as u64]));
    serde_json::Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_of_a_known_column() {
        let values: Vec<[f64; 1]> = (1..=101).map(|v| [v as f64]).collect();
        let rows: Vec<&[f64]> = values.iter().map(|v| &v[..]).collect();
        let s = feature_stats(&rows, 1);
        assert_eq!((s.min[0], s.max[0], s.mean[0], s.q50[0], s.q01[0], s.q99[0]), (1.0, 101.0, 51.0, 51.0, 2.0, 100.0));
        assert!((s.std[0] - (850.0f64).sqrt()).abs() < 1e-9);
        assert_eq!(s.count, vec![101]);
    }

    #[test]
    fn pooling_the_stats_of_two_halves_gives_the_stats_of_the_whole() {
        let rows: Vec<Vec<f64>> = (0..10).map(|i| vec![i as f64, (i * i) as f64]).collect();
        let json = |r: &[Vec<f64>]| serde_json::to_value(feature_stats(&r.iter().map(Vec::as_slice).collect::<Vec<_>>(), 2)).unwrap();
        let pooled = pool_stats(&json(&rows[..4]), &json(&rows[4..]));
        let whole = json(&rows);
        for key in ["min", "max", "mean", "std"] {
            for e in 0..2 {
                let (a, b) = (pooled[key][e].as_f64().unwrap(), whole[key][e].as_f64().unwrap());
                assert!((a - b).abs() < 1e-9, "{key}[{e}]: {a} vs {b}");
            }
        }
        assert_eq!(pooled["count"], serde_json::json!([10]));
    }

    #[test]
    fn pooling_keeps_the_nested_shape_of_image_statistics_and_weights_by_count() {
        let image = |mean: f64, count: u64| {
            serde_json::json!({"min": [[[0.0]], [[0.1]], [[0.2]]], "max": [[[1.0]], [[0.9]], [[0.8]]], "mean": [[[mean]], [[mean]], [[mean]]],
                "std": [[[0.0]], [[0.0]], [[0.0]]], "count": [count], "q50": [[[mean]], [[mean]], [[mean]]]})
        };
        let pooled = pool_stats(&image(0.2, 30), &image(0.6, 10));
        assert_eq!(pooled["count"], serde_json::json!([40]));
        assert_eq!(pooled["min"], serde_json::json!([[[0.0]], [[0.1]], [[0.2]]]));
        let mean = pooled["mean"][1][0][0].as_f64().unwrap();
        assert!((mean - 0.3).abs() < 1e-12, "{mean}");
        // Two constant halves 0.4 apart, weighted 3:1: std = 0.4 * sqrt(3/16).
        let std = pooled["std"][2][0][0].as_f64().unwrap();
        assert!((std - 0.4 * (3.0f64 / 16.0).sqrt()).abs() < 1e-12, "{std}");
        assert!((pooled["q50"][0][0][0].as_f64().unwrap() - 0.3).abs() < 1e-12);
        assert!(pooled.get("q01").is_none(), "a statistic neither has is not made up");
    }
}
