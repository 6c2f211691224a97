//! Changes made to a scenario as it loads, by another file that uses it (an evaluation spec's
//! `randomize` entry) or by a flag (`--dynamics`). They are typed values merged into the parsed
//! [`ScenarioSpec`] before validation — never edits of the YAML text — so a bad value is
//! reported at its line in the file it was written in.

use super::positions::PositionIndex;
use super::spec::{DistributionSpec, DynamicsSpec, ObstacleFieldSpec, RandomizeSpec, ScenarioSpec};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Keys that replace those of a scenario's `randomize` section: each key given replaces the
/// scenario's whole entry of that name (a map such as `initial_joints` is replaced, not merged);
/// keys not given keep the scenario's. Same keys and value types as [`RandomizeSpec`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RandomizeOverrides {
    /// Replaces `randomize.initial_joints`: joint name → distribution of the offset added to its initial position (rad or m).
    pub initial_joints: Option<BTreeMap<String, DistributionSpec>>,
    /// Replaces `randomize.initial_base`: `x`, `y`, `z` (m), `yaw` (rad) → distribution of the offset added to the base pose.
    pub initial_base: Option<BTreeMap<String, DistributionSpec>>,
    /// Replaces `randomize.goal`: `x`, `y`, `z` → distribution of that goal coordinate (m).
    pub goal: Option<BTreeMap<String, DistributionSpec>>,
    /// Replaces `randomize.objects`: object name → `x`, `y` (m), `yaw` (rad) → distribution of the offset added to its pose.
    pub objects: Option<BTreeMap<String, BTreeMap<String, DistributionSpec>>>,
    /// Replaces `randomize.obstacle_field`.
    pub obstacle_field: Option<ObstacleFieldSpec>,
    /// Replaces `randomize.mass_scale`: factor on every link and object mass.
    pub mass_scale: Option<DistributionSpec>,
    /// Replaces `randomize.friction`: friction coefficient of every surface.
    pub friction: Option<DistributionSpec>,
    /// Replaces `randomize.actuator_gain_scale`: factor on actuator gains and effort limits.
    pub actuator_gain_scale: Option<DistributionSpec>,
    /// Replaces `randomize.sensor_noise_scale`: factor on every noise standard deviation.
    pub sensor_noise_scale: Option<DistributionSpec>,
    /// Replaces `randomize.action_latency_steps`: control steps between an action and its application.
    pub action_latency_steps: Option<DistributionSpec>,
}

impl RandomizeOverrides {
    /// Replaces the given keys in `spec`; returns the names of the keys replaced.
    fn apply(&self, spec: &mut RandomizeSpec) -> Vec<&'static str> {
        let mut replaced = Vec::new();
        macro_rules! replace {
            (map $field:ident) => {
                if let Some(value) = &self.$field {
                    spec.$field = value.clone();
                    replaced.push(stringify!($field));
                }
            };
            (option $field:ident) => {
                if let Some(value) = &self.$field {
                    spec.$field = Some(value.clone());
                    replaced.push(stringify!($field));
                }
            };
        }
        replace!(map initial_joints);
        replace!(map initial_base);
        replace!(map goal);
        replace!(map objects);
        replace!(option obstacle_field);
        replace!(option mass_scale);
        replace!(option friction);
        replace!(option actuator_gain_scale);
        replace!(option sensor_noise_scale);
        replace!(option action_latency_steps);
        replaced
    }
}

/// Where override values were written: a file, the positions of its keys, and the key path of
/// the overriding mapping in it (such as `scenarios[2].randomize`).
#[derive(Debug, Clone)]
pub struct OverrideSource {
    /// The file the values were written in (e.g. an eval spec).
    pub file: PathBuf,
    /// Line and column of every key path in that file.
    pub index: PositionIndex,
    /// Key path of the overriding mapping in that file, e.g. `scenarios[2].randomize`.
    pub prefix: String,
}

/// Everything a scenario may be changed by as it loads.
#[derive(Debug, Clone, Default)]
pub struct ScenarioOverrides {
    /// Keys of the `randomize` section, and the file they were written in.
    pub randomize: Option<(RandomizeOverrides, OverrideSource)>,
    /// A `dynamics` section replacing the scenario's (its model path absolute, or relative to
    /// the scenario file).
    pub dynamics: Option<DynamicsSpec>,
}

/// Scenario key paths whose values came from another file, and where to point errors about
/// them instead.
#[derive(Debug, Default)]
pub(crate) struct Relocations<'a> {
    /// (scenario key path such as `randomize.mass_scale`, source).
    entries: Vec<(String, &'a OverrideSource)>,
}

impl<'a> Relocations<'a> {
    /// Where an error about scenario key `key` belongs, when it came from an override: the
    /// file, its line and column there, and the key path in that file.
    pub(crate) fn locate(&self, key: &str) -> Option<(&'a Path, (usize, usize), String)> {
        self.entries.iter().find_map(|(scenario_key, source)| {
            let rest = key.strip_prefix(scenario_key.as_str())?;
            if !(rest.is_empty() || rest.starts_with('.') || rest.starts_with('[')) {
                return None;
            }
            // `randomize.mass_scale.uniform` → `scenarios[0].randomize.mass_scale.uniform`.
            let tail = key.strip_prefix("randomize").unwrap_or(key);
            let path = format!("{}{tail}", source.prefix);
            Some((source.file.as_path(), source.index.locate(&path), path))
        })
    }
}

impl ScenarioOverrides {
    /// Applies the overrides to `spec`; returns where errors about the replaced keys belong.
    pub(crate) fn apply<'a>(&'a self, spec: &mut ScenarioSpec) -> Relocations<'a> {
        let mut relocations = Relocations::default();
        if let Some((randomize, source)) = &self.randomize {
            for key in randomize.apply(&mut spec.randomize) {
                relocations.entries.push((format!("randomize.{key}"), source));
            }
        }
        if let Some(dynamics) = &self.dynamics {
            spec.dynamics = dynamics.clone();
        }
        relocations
    }
}
