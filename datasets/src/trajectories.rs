//! A dataset's episodes as state/action trajectories for world-model training, identification
//! and fidelity: dreamrig's full-state datasets as they are, and logs of real robots (joint
//! positions only, other names and units) through [`FeatureMap`].

use crate::log_map::{element_quantity, estimate_velocities, unwrap_angles, Element, FeatureMap, Quantity, Source};
use crate::reader::LeRobotDataset;
use crate::DatasetError;
use dreamrig_sim::robot::JointKind;
use dreamrig_sim::scenario::config::ScenarioConfig;
use dreamrig_sim::world_model::data::Trajectory;
use std::path::Path;

/// Trajectories read from a dataset, and how they were read: one line per mapping decision
/// (where each joint's position, velocity and command came from, where the seeds did), for the
/// user to check.
#[derive(Debug, Clone)]
pub struct LoadedLog {
    /// One per episode, in episode order.
    pub trajectories: Vec<Trajectory>,
    /// How the dataset's features were mapped onto the scenario.
    pub mapping: Vec<String>,
}

/// [`load_log`] without a map file, trajectories only.
///
/// # Errors
/// As [`load_log`].
pub fn load_trajectories(dataset: &Path, config: &ScenarioConfig) -> Result<Vec<Trajectory>, DatasetError> {
    Ok(load_log(dataset, config, None)?.trajectories)
}

/// Reads the episodes of the LeRobot v3.0 dataset at `dataset` as trajectories of `config`'s
/// full state and actions.
///
/// - **Full state**: with no `map` and an `observation.environment_state` feature (what
///   dreamrig records), the state is that feature, whose names must be the scenario's state
///   names.
/// - **Joint positions** (a real robot's log): otherwise the state comes from
///   `observation.state` (or `map.state_feature`). Each movable joint's position is the element
///   the map names, or the one element named after the joint ([`element_quantity`]: `J`,
///   `J.pos`, `joint_state.position.J`, …); its velocity likewise, or estimated from the
///   positions ([`estimate_velocities`], after unwrapping a continuous joint's angles). The
///   scenario's state must hold joints only (a fixed base and no free objects), and positions
///   beyond a joint's limits by more than 10% of its range are refused (a unit the map should
///   convert, such as degrees).
/// - **Actions**: each of the scenario's action names (`J.effort`, `J.position`, …) is the
///   element the map names, the element of that name, or the one element named after the joint
///   whose quantity is not another (a position target logged for a torque actuator is refused).
///   Every action element must be used or listed in `map.ignore_actions`.
/// - **Seeds**: `dreamrig/seed` from `meta/episodes`; a dataset without it (a real robot's)
///   resets each episode with its index as the seed. The logged state then replaces the initial
///   state, so the seed draws only what the log does not hold (a goal).
///
/// # Errors
/// The dataset cannot be read ([`DatasetError::Io`], [`DatasetError::Format`]); its fps is
/// not the scenario's control rate, or its features or names do not fit the scenario
/// ([`DatasetError::Mismatch`]); the map names what does not exist ([`DatasetError::Map`]).
pub fn load_log(dataset: &Path, config: &ScenarioConfig, map: Option<&FeatureMap>) -> Result<LoadedLog, DatasetError> {
    let data = LeRobotDataset::open(dataset)?;
    // A world model steps one control period per frame: frames at another rate would be
    // learned (or identified) as a different robot, without a word.
    let rate = 1.0 / config.timing.control_period();
    if (data.info.fps as f64 - rate).abs() > 1e-6 * rate {
        return Err(DatasetError::Mismatch(format!(
            "{}: the dataset has {} frames per second, and scenario {} steps at {rate} Hz (control_period {} s); \
             use the scenario the data was recorded with, or one whose control_period is 1/{} s",
            dataset.display(),
            data.info.fps,
            config.name,
            config.timing.control_period(),
            data.info.fps
        )));
    }
    let layout = dreamrig_sim::physics::WorldLayout::new(config);
    let mut mapping = Vec::new();
    let full = map.is_none() && data.info.feature("observation.environment_state").is_some();
    let state_plan = if full {
        check_full_state(&data, dataset, config, &layout.state.names)?;
        mapping.push("state: observation.environment_state (the full simulator state)".to_string());
        None
    } else {
        Some(plan_state(&data, dataset, config, map, &layout.state.names, &mut mapping)?)
    };
    let action_feature = map.and_then(|m| m.action_feature.clone()).unwrap_or_else(|| "action".to_string());
    let actions = plan_actions(&data, dataset, config, map, &action_feature, &layout.action.names, &mut mapping)?;
    let seeds = data.episode_seeds()?;
    mapping.push(if seeds.is_empty() {
        "seeds: no dreamrig/seed in meta/episodes; each episode resets with its index as seed (the logged state replaces the initial state)"
            .to_string()
    } else {
        "seeds: dreamrig/seed from meta/episodes".to_string()
    });
    let state_feature = match &state_plan {
        None => "observation.environment_state".to_string(),
        Some(plan) => plan.feature.clone(),
    };
    // Timestamps, where the dataset has them (LeRobot's default feature), show dropped and
    // repeated frames, which a model stepping one control period per frame would learn as
    // faster or frozen motion.
    let has_timestamps = data.info.feature("timestamp").is_some();
    let mut features = vec![state_feature.as_str(), action_feature.as_str()];
    if has_timestamps {
        features.push("timestamp");
    }
    let episodes = data.episodes(&features)?;
    let dt = config.timing.control_period();
    let mut out = Vec::with_capacity(episodes.len());
    for e in episodes {
        let seed = if seeds.is_empty() {
            e.episode_index as u64
        } else {
            *seeds.get(&e.episode_index).ok_or_else(|| {
                DatasetError::Mismatch(format!("{}: episode {} has no dreamrig/seed in meta/episodes", dataset.display(), e.episode_index))
            })?
        };
        let row = |feature: &str, t: usize| -> Vec<f64> { e.frame(feature, t).unwrap_or_default().iter().map(|v| *v as f64).collect() };
        let states = match &state_plan {
            None => (0..e.frames).map(|t| row(&state_feature, t)).collect(),
            Some(plan) => plan.states(&e, dataset, config, dt)?,
        };
        let action_rows: Vec<Vec<f64>> = (0..e.frames)
            .map(|t| {
                let logged = row(&action_feature, t);
                actions.iter().map(|(i, el)| logged.get(*i).map_or(f64::NAN, |v| v * el.scale + el.offset)).collect()
            })
            .collect();
        if has_timestamps {
            check_timestamps(&e, data.info.fps, dataset)?;
        }
        check_finite(&states, &layout.state.names, "state", dataset, e.episode_index)?;
        check_finite(&action_rows, &layout.action.names, "action", dataset, e.episode_index)?;
        if state_plan.is_some() {
            check_action_range(&action_rows, &layout.action, &actions, dataset, e.episode_index)?;
        }
        out.push(Trajectory { episode_index: e.episode_index as u64, seed, states, actions: action_rows });
    }
    Ok(LoadedLog { trajectories: out, mapping })
}

/// Successive frames of an episode must be one period (1/fps) apart: a gap (dropped frames) or
/// a repeat (a frame logged twice) is refused naming the episode and frame. Tolerance: a tenth of
/// a period, since timestamps are float32 seconds.
fn check_timestamps(e: &crate::reader::EpisodeFrames, fps: u32, dataset: &Path) -> Result<(), DatasetError> {
    let period = 1.0 / fps as f64;
    let at = |t: usize| e.frame("timestamp", t).and_then(|v| v.first()).map(|v| *v as f64);
    for t in 1..e.frames {
        let (Some(before), Some(now)) = (at(t - 1), at(t)) else { continue };
        let step = now - before;
        if !step.is_finite() || (step - period).abs() > 0.1 * period {
            let what = if step.abs() < 0.1 * period {
                "repeats the frame before it"
            } else if step > period {
                "comes after a gap (dropped frames)"
            } else {
                "is out of order"
            };
            return Err(DatasetError::Mismatch(format!(
                "{}: episode {} frame {t}: timestamp {now:.4} s {what}: {step:.4} s after frame {} ({before:.4} s), expected {period:.4} s \
                 (1/fps); a world model steps one period per frame — split the episode at the gap or drop it",
                dataset.display(),
                e.episode_index,
                t - 1
            )));
        }
    }
    Ok(())
}

/// A missing or non-finite value (a dropped sample, a NaN) is refused where it is, rather than
/// found later as "a non-finite value" somewhere in the data.
fn check_finite(rows: &[Vec<f64>], names: &[String], what: &str, dataset: &Path, episode: i64) -> Result<(), DatasetError> {
    for (t, row) in rows.iter().enumerate() {
        if let Some((i, v)) = row.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(DatasetError::Mismatch(format!(
                "{}: episode {episode} frame {t}: {what} {} is {v}; a world model needs every value of every frame \
                 (drop or repair the frames, or the episode)",
                dataset.display(),
                names.get(i).map_or("?", String::as_str)
            )));
        }
    }
    Ok(())
}

/// A real robot's commands beyond the scenario's action bounds by more than half their range
/// are refused: a unit the map should convert (degrees, a normalized range), not saturation,
/// which training would clip to the bounds without a word.
fn check_action_range(
    rows: &[Vec<f64>],
    spec: &dreamrig_sim::world::ActionSpec,
    plan: &[(usize, Element)],
    dataset: &Path,
    episode: i64,
) -> Result<(), DatasetError> {
    for (t, row) in rows.iter().enumerate() {
        for (i, v) in row.iter().enumerate() {
            let (low, high) = (spec.low[i], spec.high[i]);
            if !(low.is_finite() && high.is_finite()) {
                continue;
            }
            let margin = 0.5 * (high - low);
            if *v < low - margin || *v > high + margin {
                let element = &plan[i].1;
                return Err(DatasetError::Mismatch(format!(
                    "{}: episode {episode} frame {t}: action {} at {v} (from {} × {} + {}) is outside its range [{low}, {high}] by more than half of it; \
                     if the log is in other units (degrees, a normalized range), give scale and offset in a --map file (action.elements.{})",
                    dataset.display(),
                    spec.names[i],
                    element.name,
                    element.scale,
                    element.offset,
                    spec.names[i]
                )));
            }
        }
    }
    Ok(())
}

/// The element names of `feature`: its `names` list, or the one list of a `{group: [...]}`
/// mapping (as LeRobot v2 datasets wrote, e.g. `{"motors": [...]}`).
fn element_names(data: &LeRobotDataset, feature: &str) -> Option<Vec<String>> {
    let names = &data.info.feature(feature)?.names;
    let list = match names {
        serde_json::Value::Array(a) => a,
        serde_json::Value::Object(o) if o.len() == 1 => o.values().next()?.as_array()?,
        _ => return None,
    };
    list.iter().map(|v| v.as_str().map(str::to_string)).collect()
}

fn check_full_state(data: &LeRobotDataset, dataset: &Path, config: &ScenarioConfig, names: &[String]) -> Result<(), DatasetError> {
    let width: usize = data.info.feature("observation.environment_state").map_or(0, |f| f.shape.iter().product());
    if width != names.len() {
        return Err(DatasetError::Mismatch(format!(
            "{}: observation.environment_state has {width} values a frame, scenario {} has {} state values [{}]; \
             if it is not dreamrig's state, read the log's joints with a --map file",
            dataset.display(),
            config.name,
            names.len(),
            names.join(", ")
        )));
    }
    if let Some(listed) = element_names(data, "observation.environment_state") {
        if listed != names {
            return Err(DatasetError::Mismatch(format!(
                "{}: observation.environment_state holds [{}], scenario {} has state [{}]; if it is not dreamrig's state, read the log's joints with a --map file",
                dataset.display(),
                listed.join(", "),
                config.name,
                names.join(", ")
            )));
        }
    }
    Ok(())
}

/// Where each of the scenario's state values comes from in a joint log.
struct StatePlan {
    feature: String,
    /// Per movable joint, in the scenario's joint order: (joint index, position, velocity).
    joints: Vec<(usize, Source, Source)>,
}

impl StatePlan {
    /// The episode's states in the scenario's order (positions, then velocities).
    fn states(
        &self,
        e: &crate::reader::EpisodeFrames,
        dataset: &Path,
        config: &ScenarioConfig,
        dt: f64,
    ) -> Result<Vec<Vec<f64>>, DatasetError> {
        let column = |source: &Source| -> Vec<f64> {
            match source {
                Source::Logged { index, element } => (0..e.frames)
                    .map(|t| {
                        e.frame(&self.feature, t)
                            .and_then(|f| f.get(*index))
                            .map_or(f64::NAN, |v| *v as f64 * element.scale + element.offset)
                    })
                    .collect(),
                Source::Estimated => Vec::new(),
            }
        };
        let n = self.joints.len();
        let mut positions = Vec::with_capacity(n);
        let mut velocities = Vec::with_capacity(n);
        for (joint, position, velocity) in &self.joints {
            let info = &config.robot.model.joints[*joint];
            let mut q = column(position);
            if info.kind == JointKind::Continuous {
                unwrap_angles(&mut q);
            }
            if let (Some((low, high)), Source::Logged { element, .. }) = (info.limits, position) {
                let margin = 0.1 * (high - low);
                if let Some((t, v)) = q.iter().enumerate().find(|(_, v)| **v < low - margin || **v > high + margin) {
                    return Err(DatasetError::Mismatch(format!(
                        "{}: episode {} frame {t}: joint {} at {v} (from {} × {} + {}) is outside its limits [{low}, {high}] by more than 10% of the range; \
                         if the log is in other units (degrees, encoder ticks, a normalized range), give scale and offset in a --map file (state.positions.{})",
                        dataset.display(),
                        e.episode_index,
                        info.name,
                        element.name,
                        element.scale,
                        element.offset,
                        info.name
                    )));
                }
            }
            let qd = match velocity {
                Source::Estimated => estimate_velocities(&q, dt),
                logged => column(logged),
            };
            positions.push(q);
            velocities.push(qd);
        }
        Ok((0..e.frames).map(|t| positions.iter().chain(&velocities).map(|c| c[t]).collect()).collect())
    }
}

fn plan_state(
    data: &LeRobotDataset,
    dataset: &Path,
    config: &ScenarioConfig,
    map: Option<&FeatureMap>,
    state_names: &[String],
    mapping: &mut Vec<String>,
) -> Result<StatePlan, DatasetError> {
    let feature = map.and_then(|m| m.state_feature.clone()).unwrap_or_else(|| "observation.state".to_string());
    if data.info.feature(&feature).is_none() {
        let listed: Vec<&str> = data.info.features.iter().map(|(n, _)| n.as_str()).collect();
        return Err(DatasetError::Mismatch(format!(
            "{}: the dataset has neither observation.environment_state (dreamrig's full state) nor {feature} (joint positions); features: {}",
            dataset.display(),
            listed.join(", ")
        )));
    }
    let joints = &config.robot.model.joints;
    let not_joints: Vec<&str> = state_names.iter().filter(|n| !n.starts_with("robot.joint.")).map(String::as_str).collect();
    if !not_joints.is_empty() {
        return Err(DatasetError::Mismatch(format!(
            "{}: scenario {}'s state holds {} besides its joints, which a log of joint positions does not; \
             a log without observation.environment_state serves fixed-base robots without free objects",
            dataset.display(),
            config.name,
            not_joints.join(", ")
        )));
    }
    let names = element_names(data, &feature).ok_or_else(|| {
        DatasetError::Mismatch(format!(
            "{}: {feature} has no element names in meta/info.json; they say which element is which joint",
            dataset.display()
        ))
    })?;
    if let Some(map) = map {
        for (group, entries) in [("positions", &map.positions), ("velocities", &map.velocities)] {
            for key in entries.keys() {
                if !joints.iter().any(|j| &j.name == key) {
                    let known: Vec<&str> = joints.iter().map(|j| j.name.as_str()).collect();
                    return Err(map.error(
                        &format!("state.{group}.{key}"),
                        format!("scenario {} has no joint {key} (joints: {})", config.name, known.join(", ")),
                    ));
                }
            }
        }
    }
    let lookup = |group: &str, joint: &str, element: &Element, map: &FeatureMap| -> Result<Source, DatasetError> {
        let index = names.iter().position(|n| n == &element.name).ok_or_else(|| {
            map.error(
                &format!("state.{group}.{joint}"),
                format!("{feature} has no element {} (elements: {})", element.name, names.join(", ")),
            )
        })?;
        Ok(Source::Logged { index, element: element.clone() })
    };
    let by_name = |joint: &str, wanted: &[Option<Quantity>]| -> Result<Option<Source>, DatasetError> {
        let found: Vec<usize> =
            (0..names.len()).filter(|i| element_quantity(&names[*i], joint).is_some_and(|q| wanted.contains(&q))).collect();
        match found.as_slice() {
            [] => Ok(None),
            [index] => {
                Ok(Some(Source::Logged { index: *index, element: Element { name: names[*index].clone(), scale: 1.0, offset: 0.0 } }))
            }
            many => Err(DatasetError::Mismatch(format!(
                "{}: {feature}: elements {} could each be joint {joint}'s; name the one in a --map file",
                dataset.display(),
                many.iter().map(|i| names[*i].as_str()).collect::<Vec<_>>().join(", ")
            ))),
        }
    };
    let mut plan = Vec::new();
    for name in state_names.iter().filter(|n| n.ends_with(".position")) {
        let joint_name = &name["robot.joint.".len()..name.len() - ".position".len()];
        let joint = joints.iter().position(|j| j.name == joint_name).expect("state names come from the joints");
        let position = match map.and_then(|m| m.positions.get(joint_name).map(|e| (m, e))) {
            Some((m, element)) => lookup("positions", joint_name, element, m)?,
            None => by_name(joint_name, &[Some(Quantity::Position), None])?.ok_or_else(|| {
                DatasetError::Mismatch(format!(
                    "{}: {feature} has no element for joint {joint_name}'s position (elements: {}); name it in a --map file (state.positions.{joint_name})",
                    dataset.display(),
                    names.join(", ")
                ))
            })?,
        };
        let velocity = match map.and_then(|m| m.velocities.get(joint_name).map(|e| (m, e))) {
            Some((m, element)) => lookup("velocities", joint_name, element, m)?,
            // A velocity found by name is in the unit of the position's time derivative: the
            // position's scale carries over (degrees → deg/s), its offset does not.
            None => match by_name(joint_name, &[Some(Quantity::Velocity)])? {
                Some(Source::Logged { index, mut element }) => {
                    if let Source::Logged { element: p, .. } = &position {
                        element.scale = p.scale;
                    }
                    Source::Logged { index, element }
                }
                _ => Source::Estimated,
            },
        };
        mapping.push(format!(
            "joint {joint_name}: position ← {}, velocity ← {}",
            describe(&feature, &position),
            describe(&feature, &velocity)
        ));
        plan.push((joint, position, velocity));
    }
    let mut claimed: Vec<(usize, String)> = Vec::new();
    for (joint, position, velocity) in &plan {
        for (what, source) in [("position", position), ("velocity", velocity)] {
            if let Source::Logged { index, .. } = source {
                let by = format!("joint {}'s {what}", joints[*joint].name);
                if let Some((_, first)) = claimed.iter().find(|(i, _)| i == index) {
                    return Err(DatasetError::Mismatch(format!(
                        "{}: {feature} element {} is both {first} and {by}; each element holds one value",
                        dataset.display(),
                        names[*index]
                    )));
                }
                claimed.push((*index, by));
            }
        }
    }
    Ok(StatePlan { feature, joints: plan })
}

fn describe(feature: &str, source: &Source) -> String {
    match source {
        Source::Logged { element, .. } => {
            let mut text = format!("{feature}[{}]", element.name);
            if element.scale != 1.0 {
                text.push_str(&format!(" × {}", element.scale));
            }
            if element.offset != 0.0 {
                text.push_str(&format!(" + {}", element.offset));
            }
            text
        }
        Source::Estimated => "estimated from positions (second-order backward difference)".to_string(),
    }
}

fn plan_actions(
    data: &LeRobotDataset,
    dataset: &Path,
    config: &ScenarioConfig,
    map: Option<&FeatureMap>,
    feature: &str,
    action_names: &[String],
    mapping: &mut Vec<String>,
) -> Result<Vec<(usize, Element)>, DatasetError> {
    let Some(info) = data.info.feature(feature) else {
        return Err(DatasetError::Mismatch(format!("{}: the dataset has no {feature} feature (the commands sent)", dataset.display())));
    };
    let width: usize = info.shape.iter().product();
    let Some(names) = element_names(data, feature) else {
        // No names to go by: the commands are taken in the scenario's order, if they fit.
        if width != action_names.len() {
            return Err(DatasetError::Mismatch(format!(
                "{}: {feature} has {width} unnamed elements, scenario {} has {} actions [{}]",
                dataset.display(),
                config.name,
                action_names.len(),
                action_names.join(", ")
            )));
        }
        mapping.push(format!("actions: {feature} has no element names; taken in the scenario's order [{}]", action_names.join(", ")));
        return Ok((0..width).map(|i| (i, Element { name: format!("{i}"), scale: 1.0, offset: 0.0 })).collect());
    };
    if let Some(map) = map {
        for key in map.actions.keys() {
            if !action_names.contains(key) {
                return Err(map.error(
                    &format!("action.elements.{key}"),
                    format!("scenario {} has no action {key} (actions: {})", config.name, action_names.join(", ")),
                ));
            }
        }
        for (i, ignored) in map.ignore_actions.iter().enumerate() {
            if !names.contains(ignored) {
                return Err(map.error(
                    &format!("action.ignore[{i}]"),
                    format!("{feature} has no element {ignored} (elements: {})", names.join(", ")),
                ));
            }
        }
    }
    let mut plan = Vec::with_capacity(action_names.len());
    for action in action_names {
        let joint = action.rsplit_once('.').map_or(action.as_str(), |(joint, _)| joint);
        let kind = Quantity::of_action(action);
        let element = if let Some((m, element)) = map.and_then(|m| m.actions.get(action).map(|e| (m, e))) {
            let index = names.iter().position(|n| n == &element.name).ok_or_else(|| {
                m.error(
                    &format!("action.elements.{action}"),
                    format!("{feature} has no element {} (elements: {})", element.name, names.join(", ")),
                )
            })?;
            (index, element.clone())
        } else if let Some(index) = names.iter().position(|n| n == action) {
            (index, Element { name: action.clone(), scale: 1.0, offset: 0.0 })
        } else {
            let candidates: Vec<(usize, Option<Quantity>)> =
                (0..names.len()).filter_map(|i| element_quantity(&names[i], joint).map(|q| (i, q))).collect();
            let fitting: Vec<usize> = candidates.iter().filter(|(_, q)| q.is_none() || *q == kind).map(|(i, _)| *i).collect();
            match (fitting.as_slice(), candidates.first()) {
                ([index], _) => (*index, Element { name: names[*index].clone(), scale: 1.0, offset: 0.0 }),
                ([], Some((index, Some(logged)))) => {
                    return Err(DatasetError::Mismatch(format!(
                        "{}: {feature} element {} is {} command, and scenario {} drives joint {joint} with {} command (action {action}); \
                         use a scenario whose actuators take what the robot was sent",
                        dataset.display(),
                        names[*index],
                        logged.describe(),
                        config.name,
                        kind.map_or("another", Quantity::describe)
                    )))
                }
                ([], _) => {
                    return Err(DatasetError::Mismatch(format!(
                        "{}: {feature} has no element for scenario {}'s action {action} (elements: {}); name it in a --map file (action.elements)",
                        dataset.display(),
                        config.name,
                        names.join(", ")
                    )))
                }
                (many, _) => {
                    return Err(DatasetError::Mismatch(format!(
                        "{}: {feature}: elements {} could each be action {action}; name the one in a --map file (action.elements)",
                        dataset.display(),
                        many.iter().map(|i| names[*i].as_str()).collect::<Vec<_>>().join(", ")
                    )))
                }
            }
        };
        if element.1.name != *action || element.1.scale != 1.0 || element.1.offset != 0.0 {
            mapping
                .push(format!("action {action} ← {}", describe(feature, &Source::Logged { index: element.0, element: element.1.clone() })));
        }
        plan.push(element);
    }
    for (i, (index, element)) in plan.iter().enumerate() {
        if let Some(j) = plan[..i].iter().position(|(other, _)| other == index) {
            return Err(DatasetError::Mismatch(format!(
                "{}: {feature} element {} is both action {} and action {}; each element holds one command",
                dataset.display(),
                element.name,
                action_names[j],
                action_names[i]
            )));
        }
        if let Some(m) = map.filter(|m| m.ignore_actions.contains(&names[*index])) {
            let at = m.ignore_actions.iter().position(|n| n == &names[*index]).unwrap_or(0);
            return Err(m.error(
                &format!("action.ignore[{at}]"),
                format!("{} is action {}'s command; it cannot also be ignored", names[*index], action_names[i]),
            ));
        }
    }
    let unused: Vec<&str> = names
        .iter()
        .enumerate()
        .filter(|(i, n)| !plan.iter().any(|(j, _)| j == i) && !map.is_some_and(|m| m.ignore_actions.contains(n)))
        .map(|(_, n)| n.as_str())
        .collect();
    if !unused.is_empty() {
        return Err(DatasetError::Mismatch(format!(
            "{}: {feature} elements {} drive nothing in scenario {} (actions: {}); a robot sent commands the scenario cannot apply. \
             If they moved nothing the scenario models, list them under action.ignore in a --map file",
            dataset.display(),
            unused.join(", "),
            config.name,
            action_names.join(", ")
        )));
    }
    if plan.iter().enumerate().all(|(i, (j, e))| i == *j && e.name == action_names[i]) {
        mapping.push(format!("actions: {feature} [{}]", action_names.join(", ")));
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reader::EpisodeFrames;

    fn episode(timestamps: &[f32]) -> EpisodeFrames {
        EpisodeFrames {
            episode_index: 3,
            frames: timestamps.len(),
            features: [("timestamp".to_string(), (1, timestamps.to_vec()))].into_iter().collect(),
        }
    }

    #[test]
    fn a_repeated_or_dropped_frame_is_refused_naming_the_episode_and_frame() {
        let path = Path::new("log");
        assert!(check_timestamps(&episode(&[0.0, 0.02, 0.04, 0.06]), 50, path).is_ok());
        let repeated = check_timestamps(&episode(&[0.0, 0.02, 0.02, 0.04]), 50, path).unwrap_err().to_string();
        assert!(repeated.contains("episode 3 frame 2") && repeated.contains("repeats the frame before it"), "{repeated}");
        let gap = check_timestamps(&episode(&[0.0, 0.02, 0.08, 0.10]), 50, path).unwrap_err().to_string();
        assert!(gap.contains("episode 3 frame 2") && gap.contains("gap"), "{gap}");
    }
}
