//! The episode grid of an evaluation (scenario × policy × episode), the seed of each episode,
//! and shards: slices of the grid for Kubernetes Indexed Jobs and Slurm job arrays.

use crate::spec::EvalSpec;

/// Why a shard could not be read from `--shard I/N` or the scheduler's environment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    /// The text has no `/`.
    #[error("expected I/N (e.g. 0/4), got {0:?}")]
    NotIOverN(String),
    /// The `index` or `count` part of `I/N` is not a whole number.
    #[error("shard {part} {text:?} is not a whole number")]
    NotAWholeNumber {
        /// Which part is wrong: `index` or `count`.
        part: &'static str,
        /// The part as given.
        text: String,
    },
    /// N is 0 or I ≥ N.
    #[error("expected 0 ≤ I < N, got {index}/{count}")]
    OutOfRange {
        /// I (for Slurm: the task ID minus `SLURM_ARRAY_TASK_MIN`).
        index: u32,
        /// N, the number of shards.
        count: u32,
    },
    /// A scheduler variable (`JOB_COMPLETION_INDEX`, `SLURM_ARRAY_TASK_ID`, …) is not a whole number.
    #[error("{name}={value:?} is not a whole number")]
    Variable {
        /// The variable's name.
        name: &'static str,
        /// Its value.
        value: String,
    },
    /// A scheduler's index variable is set without its count variable.
    #[error("{set} is set but {missing} is not{hint}")]
    MissingVariable {
        /// The index variable that is set (`JOB_COMPLETION_INDEX` or `SLURM_ARRAY_TASK_ID`).
        set: &'static str,
        /// The count variable that is not (`JOB_COMPLETIONS` or `SLURM_ARRAY_TASK_COUNT`).
        missing: &'static str,
        /// Advice appended to the message (starts with `: `), or empty.
        hint: &'static str,
    },
}

/// Which slice of the episode grid a process runs: episodes whose grid index ≡ `index` mod
/// `count`, so every shard gets a similar mix of scenarios and policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// I, from 0.
    pub index: u32,
    /// N, the number of shards.
    pub count: u32,
}

impl Shard {
    /// Parses `I/N` (0 ≤ I < N).
    ///
    /// Errors: no `/`, a part that is not a whole number, or I ≥ N or N = 0.
    pub fn parse(text: &str) -> Result<Self, ShardError> {
        let (i, n) = text.split_once('/').ok_or_else(|| ShardError::NotIOverN(text.into()))?;
        let index: u32 = i.trim().parse().map_err(|_| ShardError::NotAWholeNumber { part: "index", text: i.into() })?;
        let count: u32 = n.trim().parse().map_err(|_| ShardError::NotAWholeNumber { part: "count", text: n.into() })?;
        if count == 0 || index >= count {
            return Err(ShardError::OutOfRange { index, count });
        }
        Ok(Self { index, count })
    }

    /// The shard of a Kubernetes Indexed Job (`JOB_COMPLETION_INDEX`, with the completion
    /// count in `JOB_COMPLETIONS`) or a Slurm job array (`SLURM_ARRAY_TASK_ID`,
    /// `SLURM_ARRAY_TASK_COUNT`, `SLURM_ARRAY_TASK_MIN`), if the environment describes one.
    ///
    /// Errors: a variable that is not a whole number, an index without its count, or an index
    /// out of range.
    pub fn from_environment(env: &dyn Fn(&str) -> Option<String>) -> Result<Option<Self>, ShardError> {
        let number = |name: &'static str| -> Result<Option<u32>, ShardError> {
            match env(name) {
                None => Ok(None),
                Some(v) => v.trim().parse().map(Some).map_err(|_| ShardError::Variable { name, value: v }),
            }
        };
        if let Some(index) = number("JOB_COMPLETION_INDEX")? {
            let count = number("JOB_COMPLETIONS")?.ok_or(ShardError::MissingVariable {
                set: "JOB_COMPLETION_INDEX",
                missing: "JOB_COMPLETIONS",
                hint: ": set it to the Job's completions (see docs/scale-out.md)",
            })?;
            return Self::parse(&format!("{index}/{count}")).map(Some);
        }
        if let Some(task) = number("SLURM_ARRAY_TASK_ID")? {
            let count = number("SLURM_ARRAY_TASK_COUNT")?.ok_or(ShardError::MissingVariable {
                set: "SLURM_ARRAY_TASK_ID",
                missing: "SLURM_ARRAY_TASK_COUNT",
                hint: "",
            })?;
            let min = number("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
            return Self::parse(&format!("{}/{count}", task.saturating_sub(min))).map(Some);
        }
        Ok(None)
    }

    /// Whether the episode at `grid_index` (its place in [`grid`]) belongs to this shard.
    pub fn contains(&self, grid_index: usize) -> bool {
        grid_index % self.count as usize == self.index as usize
    }
}

/// One cell of the grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EpisodeKey {
    /// Index into [`EvalSpec::scenarios`].
    pub scenario: usize,
    /// Index into [`EvalSpec::policies`].
    pub policy: usize,
    /// Episode index within the scenario × policy pair, from 0.
    pub episode: u32,
}

/// The seed of episode `k` of a scenario: shared by every policy (common random numbers, so
/// policies are compared on the same episodes) and independent of sharding and threads.
///
/// The seed is 64-bit FNV-1a of `master` (little endian), the scenario's seed name (see
/// [`EvalSpec::seed_names`]) and `episode` (little endian), concatenated.
pub fn episode_seed(master: u64, scenario: &str, episode: u32) -> u64 {
    fnv1a(&[&master.to_le_bytes(), scenario.as_bytes(), &episode.to_le_bytes()])
}

pub use dreamrig_sim::seed::fnv1a;

/// Every episode of the spec in grid order.
///
/// Grid order is scenarios as the spec lists them, then each scenario's policies (see
/// [`EvalSpec::pairs`]), then episodes 0..`spec.episodes`; a key's place in it is its grid index.
pub fn grid(spec: &EvalSpec) -> Vec<EpisodeKey> {
    let mut keys = Vec::new();
    for (scenario, policies) in spec.pairs.iter().enumerate() {
        for &policy in policies {
            for episode in 0..spec.episodes {
                keys.push(EpisodeKey { scenario, policy, episode });
            }
        }
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_the_grid() {
        let n = 37;
        let shards: Vec<Shard> = (0..4).map(|i| Shard { index: i, count: 4 }).collect();
        for i in 0..n {
            assert_eq!(shards.iter().filter(|s| s.contains(i)).count(), 1);
        }
        assert!(Shard::parse("4/4").is_err());
        assert!(Shard::parse("x/4").is_err());
        assert_eq!(Shard::parse("2/5"), Ok(Shard { index: 2, count: 5 }));
    }

    #[test]
    fn slurm_array_variables_select_a_shard() {
        let env = |name: &str| match name {
            "SLURM_ARRAY_TASK_ID" => Some("12".to_string()),
            "SLURM_ARRAY_TASK_COUNT" => Some("8".to_string()),
            "SLURM_ARRAY_TASK_MIN" => Some("10".to_string()),
            _ => None,
        };
        assert_eq!(Shard::from_environment(&env), Ok(Some(Shard { index: 2, count: 8 })));
        let k8s_without_count = |name: &str| (name == "JOB_COMPLETION_INDEX").then(|| "3".to_string());
        assert!(Shard::from_environment(&k8s_without_count).unwrap_err().to_string().contains("JOB_COMPLETIONS"));
        assert_eq!(Shard::from_environment(&|_| None), Ok(None));
    }
}
