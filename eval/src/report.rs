//! The report a person opens: `report.md` and `report.html` with SVG plots (plotters).

use crate::record::{EpisodeRecord, SummaryRecord};
use plotters::prelude::*;

fn scenarios_in_order(summaries: &[SummaryRecord]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in summaries {
        if !out.contains(&s.scenario) {
            out.push(s.scenario.clone());
        }
    }
    out
}

fn ranked<'a>(summaries: &'a [SummaryRecord], scenario: &str) -> Vec<&'a SummaryRecord> {
    let mut rows: Vec<&SummaryRecord> = summaries.iter().filter(|s| s.scenario == scenario).collect();
    rows.sort_by_key(|s| s.rank);
    rows
}

fn optional(value: Option<f64>, digits: usize) -> String {
    value.map(|v| format!("{v:.digits$}")).unwrap_or_else(|| "–".into())
}

/// The cells of a summary row, as both the Markdown and the HTML tables show them.
fn cells(s: &SummaryRecord) -> [String; 7] {
    [
        s.rank.to_string(),
        s.policy.clone(),
        s.episodes.to_string(),
        format!("{:.1}% [{:.1}, {:.1}]", 100.0 * s.success_rate, 100.0 * s.success_ci_low, 100.0 * s.success_ci_high),
        format!("{:.3} [{:.3}, {:.3}]", s.mean_return, s.return_ci_low, s.return_ci_high),
        optional(s.median_time_to_success_s, 2),
        s.errors.to_string(),
    ]
}

/// `report.md`: the title, the spec fingerprint, and per scenario (in `summaries` order) a table of
/// policies by rank: episodes, success rate and mean return with 95% intervals, median time to
/// success (s) and errors.
pub fn markdown(title: &str, fingerprint: &str, summaries: &[SummaryRecord]) -> String {
    let mut out = format!("# Evaluation: {title}\n\nSpec fingerprint `{fingerprint}`. Success rates with 95% Wilson intervals; mean returns with 95% bootstrap intervals. Policies are ranked per scenario by success rate, then mean return.\n");
    for scenario in scenarios_in_order(summaries) {
        out.push_str(&format!("\n## {scenario}\n\n| rank | policy | episodes | success rate [95% CI] | mean return [95% CI] | median time to success (s) | errors |\n|---|---|---|---|---|---|---|\n"));
        for s in ranked(summaries, &scenario) {
            out.push_str(&format!("| {} |\n", cells(s).join(" | ")));
        }
    }
    out
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

/// The policy name for a tick at a whole row number, nothing between rows.
fn label_at(labels: &[String], value: f64) -> String {
    let row = value.round();
    if (value - row).abs() < 1e-6 && row >= 0.0 && (row as usize) < labels.len() {
        // Rows are drawn best first from the top.
        labels.get(labels.len() - 1 - row as usize).cloned().unwrap_or_default()
    } else {
        String::new()
    }
}

/// Success rate per policy with its Wilson interval, best first.
///
/// `rows` (one scenario's summaries) are drawn top to bottom in the order given; returns an SVG document, 640 px wide.
pub fn success_plot(scenario: &str, rows: &[&SummaryRecord]) -> String {
    let mut svg = String::new();
    {
        let height = 80 + 28 * rows.len() as u32;
        let root = SVGBackend::with_string(&mut svg, (640, height)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let labels: Vec<String> = rows.iter().map(|r| r.policy.clone()).collect();
        let chart = ChartBuilder::on(&root)
            .caption(format!("{scenario}: success rate (95% Wilson CI)"), ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(160)
            .build_cartesian_2d(0.0f64..1.0, -0.5f64..rows.len() as f64 - 0.5);
        if let Ok(mut chart) = chart {
            let _ = chart
                .configure_mesh()
                .disable_y_mesh()
                .y_labels(rows.len())
                .y_label_formatter(&|v| label_at(&labels, *v))
                .x_label_formatter(&|v| format!("{:.0}%", v * 100.0))
                .draw();
            for (i, r) in rows.iter().enumerate() {
                let y = (rows.len() - 1 - i) as f64;
                let _ =
                    chart.draw_series(std::iter::once(Rectangle::new([(0.0, y - 0.3), (r.success_rate, y + 0.3)], BLUE.mix(0.4).filled())));
                let _ = chart.draw_series(std::iter::once(PathElement::new(
                    vec![(r.success_ci_low, y), (r.success_ci_high, y)],
                    BLACK.stroke_width(2),
                )));
                for x in [r.success_ci_low, r.success_ci_high] {
                    let _ = chart.draw_series(std::iter::once(PathElement::new(vec![(x, y - 0.12), (x, y + 0.12)], BLACK.stroke_width(2))));
                }
            }
        }
        let _ = root.present();
    }
    svg
}

/// Each policy's episode returns as points, with the mean and its bootstrap interval above.
///
/// Rows as in [`success_plot`]; only `records` of `scenario` are drawn. Returns an SVG document, 640 px wide.
pub fn return_plot(scenario: &str, rows: &[&SummaryRecord], records: &[EpisodeRecord]) -> String {
    let mut svg = String::new();
    {
        let height = 80 + 28 * rows.len() as u32;
        let root = SVGBackend::with_string(&mut svg, (640, height)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let returns: Vec<f64> = records.iter().filter(|r| r.scenario == scenario).map(|r| r.episode_return).collect();
        let (lo, hi) = returns.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(*v), b.max(*v)));
        let (lo, hi) = if lo.is_finite() && hi > lo { (lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo)) } else { (lo - 1.0, lo + 1.0) };
        let labels: Vec<String> = rows.iter().map(|r| r.policy.clone()).collect();
        let chart = ChartBuilder::on(&root)
            .caption(format!("{scenario}: episode returns"), ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(160)
            .build_cartesian_2d(lo..hi, -0.5f64..rows.len() as f64 - 0.5);
        if let Ok(mut chart) = chart {
            let _ = chart.configure_mesh().disable_y_mesh().y_labels(rows.len()).y_label_formatter(&|v| label_at(&labels, *v)).draw();
            for (i, r) in rows.iter().enumerate() {
                let y = (rows.len() - 1 - i) as f64;
                let points = records
                    .iter()
                    .filter(|e| e.scenario == scenario && e.policy == r.policy)
                    .map(|e| Circle::new((e.episode_return, y), 3, BLUE.mix(0.35).filled()));
                let _ = chart.draw_series(points);
                let _ = chart.draw_series(std::iter::once(PathElement::new(
                    vec![(r.return_ci_low, y + 0.25), (r.return_ci_high, y + 0.25)],
                    RED.stroke_width(2),
                )));
                let _ = chart.draw_series(std::iter::once(Cross::new((r.mean_return, y + 0.25), 5, RED.stroke_width(2))));
            }
        }
        let _ = root.present();
    }
    svg
}

/// `report.html`: the tables of [`markdown`] (text HTML-escaped) plus, per scenario, the inline
/// SVG plots of [`success_plot`] and [`return_plot`]; `records` gives the points of the latter;
/// and, per scenario, `videos` (paths relative to the report) as looping `<video>` elements.
pub fn html(
    title: &str,
    fingerprint: &str,
    summaries: &[SummaryRecord],
    records: &[EpisodeRecord],
    videos: &[crate::videos::ReportVideo],
) -> String {
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Evaluation: {t}</title>\n<style>body{{font-family:sans-serif;max-width:960px;margin:2em auto;color:#222}}table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}td:nth-child(2),th:nth-child(2){{text-align:left}}</style></head><body>\n<h1>Evaluation: {t}</h1>\n<p>Spec fingerprint <code>{f}</code>. Success rates with 95% Wilson intervals; mean returns with 95% bootstrap intervals. Policies are ranked per scenario by success rate, then mean return.</p>\n",
        t = escape(title),
        f = escape(fingerprint)
    );
    for scenario in scenarios_in_order(summaries) {
        let rows = ranked(summaries, &scenario);
        out.push_str(&format!("<h2>{}</h2>\n<table><tr><th>rank</th><th>policy</th><th>episodes</th><th>success rate [95% CI]</th><th>mean return [95% CI]</th><th>median time to success (s)</th><th>errors</th></tr>\n", escape(&scenario)));
        for s in &rows {
            let row: Vec<String> = cells(s).iter().map(|c| format!("<td>{}</td>", escape(c))).collect();
            out.push_str(&format!("<tr>{}</tr>\n", row.concat()));
        }
        out.push_str("</table>\n");
        out.push_str(&success_plot(&scenario, &rows));
        out.push('\n');
        out.push_str(&return_plot(&scenario, &rows, records));
        out.push('\n');
        let shown: Vec<&crate::videos::ReportVideo> = videos.iter().filter(|v| v.scenario == scenario).collect();
        if !shown.is_empty() {
            out.push_str("<h3>Episodes</h3>\n<div style=\"display:flex;flex-wrap:wrap;gap:12px\">\n");
            for s in &rows {
                for v in shown.iter().filter(|v| v.policy == s.policy) {
                    let outcome = if v.success { "success" } else { "failure" };
                    out.push_str(&format!(
                        "<figure style=\"margin:0\"><video src=\"{src}\" controls loop muted autoplay playsinline width=\"192\"></video><figcaption>{p}, episode {k} ({outcome})</figcaption></figure>\n",
                        // Path segments are letters, digits, '-', '.', '_' only (videos::path_segment).
                        src = escape(&v.path.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/")),
                        p = escape(&v.policy),
                        k = v.episode
                    ));
                }
            }
            out.push_str("</div>\n");
        }
    }
    out.push_str("</body></html>\n");
    out
}
