//! Result tables through polars: Parquet, CSV and JSON, each written atomically.

use crate::journal::write_atomic;
use crate::record::{EpisodeRecord, EpisodeTiming, SummaryRecord};
use crate::EvalError;
use polars::prelude::*;
use std::path::Path;

fn table_error(path: &Path, e: PolarsError) -> EvalError {
    EvalError::Io { path: path.to_path_buf(), reason: e.to_string() }
}

fn frame(path: &Path, height: usize, columns: Vec<Column>) -> Result<DataFrame, EvalError> {
    DataFrame::new(height, columns).map_err(|e| table_error(path, e))
}

/// The `episodes` table: one row per record, in the order given, one column per
/// [`EpisodeRecord`] field (`episode_return` is named `return`).
///
/// # Errors
/// [`EvalError::Io`] (path `episodes`) if polars refuses the columns.
pub fn episodes_frame(records: &[EpisodeRecord]) -> Result<DataFrame, EvalError> {
    let c = |name: &str| PlSmallStr::from(name);
    let columns = vec![
        Column::new(c("scenario"), records.iter().map(|r| r.scenario.as_str()).collect::<Vec<_>>()),
        Column::new(c("policy"), records.iter().map(|r| r.policy.as_str()).collect::<Vec<_>>()),
        Column::new(c("episode"), records.iter().map(|r| r.episode).collect::<Vec<_>>()),
        Column::new(c("seed"), records.iter().map(|r| r.seed).collect::<Vec<_>>()),
        Column::new(c("success"), records.iter().map(|r| r.success).collect::<Vec<_>>()),
        Column::new(c("return"), records.iter().map(|r| r.episode_return).collect::<Vec<_>>()),
        Column::new(c("length"), records.iter().map(|r| r.length).collect::<Vec<_>>()),
        Column::new(c("time_to_success_s"), records.iter().map(|r| r.time_to_success_s).collect::<Vec<_>>()),
        Column::new(c("end_reason"), records.iter().map(|r| r.end_reason.as_str()).collect::<Vec<_>>()),
        Column::new(c("end_detail"), records.iter().map(|r| r.end_detail.as_str()).collect::<Vec<_>>()),
        Column::new(c("collisions"), records.iter().map(|r| r.collisions).collect::<Vec<_>>()),
        Column::new(c("min_clearance_m"), records.iter().map(|r| r.min_clearance_m).collect::<Vec<_>>()),
        Column::new(c("final_goal_error_m"), records.iter().map(|r| r.final_goal_error_m).collect::<Vec<_>>()),
        Column::new(c("action_smoothness"), records.iter().map(|r| r.action_smoothness).collect::<Vec<_>>()),
        Column::new(c("effort"), records.iter().map(|r| r.effort).collect::<Vec<_>>()),
        Column::new(c("model_disagreement"), records.iter().map(|r| r.model_disagreement).collect::<Vec<_>>()),
        Column::new(c("untrusted"), records.iter().map(|r| r.untrusted).collect::<Vec<_>>()),
    ];
    frame(Path::new("episodes"), records.len(), columns)
}

/// The `timings` table: scenario, policy, episode and wall_time_s, one row per timing in order.
///
/// # Errors
/// [`EvalError::Io`] (path `timings`) if polars refuses the columns.
pub fn timings_frame(timings: &[EpisodeTiming]) -> Result<DataFrame, EvalError> {
    let c = |name: &str| PlSmallStr::from(name);
    let columns = vec![
        Column::new(c("scenario"), timings.iter().map(|r| r.scenario.as_str()).collect::<Vec<_>>()),
        Column::new(c("policy"), timings.iter().map(|r| r.policy.as_str()).collect::<Vec<_>>()),
        Column::new(c("episode"), timings.iter().map(|r| r.episode).collect::<Vec<_>>()),
        Column::new(c("wall_time_s"), timings.iter().map(|r| r.wall_time_s).collect::<Vec<_>>()),
    ];
    frame(Path::new("timings"), timings.len(), columns)
}

/// The `summary` table: one row per summary, in order, one column per [`SummaryRecord`] field.
///
/// # Errors
/// [`EvalError::Io`] (path `summary`) if polars refuses the columns.
pub fn summary_frame(summaries: &[SummaryRecord]) -> Result<DataFrame, EvalError> {
    let c = |name: &str| PlSmallStr::from(name);
    let columns = vec![
        Column::new(c("scenario"), summaries.iter().map(|r| r.scenario.as_str()).collect::<Vec<_>>()),
        Column::new(c("policy"), summaries.iter().map(|r| r.policy.as_str()).collect::<Vec<_>>()),
        Column::new(c("rank"), summaries.iter().map(|r| r.rank).collect::<Vec<_>>()),
        Column::new(c("episodes"), summaries.iter().map(|r| r.episodes).collect::<Vec<_>>()),
        Column::new(c("successes"), summaries.iter().map(|r| r.successes).collect::<Vec<_>>()),
        Column::new(c("success_rate"), summaries.iter().map(|r| r.success_rate).collect::<Vec<_>>()),
        Column::new(c("success_ci_low"), summaries.iter().map(|r| r.success_ci_low).collect::<Vec<_>>()),
        Column::new(c("success_ci_high"), summaries.iter().map(|r| r.success_ci_high).collect::<Vec<_>>()),
        Column::new(c("mean_return"), summaries.iter().map(|r| r.mean_return).collect::<Vec<_>>()),
        Column::new(c("return_ci_low"), summaries.iter().map(|r| r.return_ci_low).collect::<Vec<_>>()),
        Column::new(c("return_ci_high"), summaries.iter().map(|r| r.return_ci_high).collect::<Vec<_>>()),
        Column::new(c("median_time_to_success_s"), summaries.iter().map(|r| r.median_time_to_success_s).collect::<Vec<_>>()),
        Column::new(c("mean_length"), summaries.iter().map(|r| r.mean_length).collect::<Vec<_>>()),
        Column::new(c("errors"), summaries.iter().map(|r| r.errors).collect::<Vec<_>>()),
        Column::new(c("collisions_per_episode"), summaries.iter().map(|r| r.collisions_per_episode).collect::<Vec<_>>()),
        Column::new(c("min_clearance_m"), summaries.iter().map(|r| r.min_clearance_m).collect::<Vec<_>>()),
        Column::new(c("mean_final_goal_error_m"), summaries.iter().map(|r| r.mean_final_goal_error_m).collect::<Vec<_>>()),
        Column::new(c("mean_action_smoothness"), summaries.iter().map(|r| r.mean_action_smoothness).collect::<Vec<_>>()),
        Column::new(c("mean_effort"), summaries.iter().map(|r| r.mean_effort).collect::<Vec<_>>()),
        Column::new(c("mean_model_disagreement"), summaries.iter().map(|r| r.mean_model_disagreement).collect::<Vec<_>>()),
        Column::new(c("untrusted_episodes"), summaries.iter().map(|r| r.untrusted_episodes).collect::<Vec<_>>()),
    ];
    frame(Path::new("summary"), summaries.len(), columns)
}

/// Writes `df` as a Parquet file (polars' default compression), atomically.
///
/// # Errors
/// [`EvalError::Io`] if encoding or writing fails.
pub fn write_parquet(path: &Path, df: &mut DataFrame) -> Result<(), EvalError> {
    let mut bytes = Vec::new();
    ParquetWriter::new(&mut bytes).finish(df).map_err(|e| table_error(path, e))?;
    write_atomic(path, &bytes)
}

/// Writes `df` as CSV with a header row, atomically.
///
/// # Errors
/// [`EvalError::Io`] if encoding or writing fails.
pub fn write_csv(path: &Path, df: &mut DataFrame) -> Result<(), EvalError> {
    let mut bytes = Vec::new();
    CsvWriter::new(&mut bytes).finish(df).map_err(|e| table_error(path, e))?;
    write_atomic(path, &bytes)
}

/// Writes `df` as one JSON array of row objects, atomically.
///
/// # Errors
/// [`EvalError::Io`] if encoding or writing fails.
pub fn write_json(path: &Path, df: &mut DataFrame) -> Result<(), EvalError> {
    let mut bytes = Vec::new();
    JsonWriter::new(&mut bytes).with_json_format(JsonFormat::Json).finish(df).map_err(|e| table_error(path, e))?;
    write_atomic(path, &bytes)
}

/// Reads a Parquet file back (for tests and tools).
///
/// # Errors
/// [`EvalError::Io`] if the file cannot be opened or is not valid Parquet.
pub fn read_parquet(path: &Path) -> Result<DataFrame, EvalError> {
    let file = std::fs::File::open(path).map_err(|e| EvalError::Io { path: path.to_path_buf(), reason: e.to_string() })?;
    ParquetReader::new(file).finish().map_err(|e| table_error(path, e))
}
