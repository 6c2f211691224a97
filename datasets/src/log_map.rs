//! Logs of real robots as world-model data: how a dataset's `observation.state` and `action`
//! elements map onto a scenario's joints and actuators, by name or through a `--map` file, and
//! joint velocities estimated from positions where the log has none.
//!
//! Real robots record joint positions (LeRobot's `observation.state`, e.g. `shoulder_pan.pos`),
//! not a simulator's full state. [`StateSource`] says where each joint's position and velocity
//! come from; [`estimate_velocities`] is how velocities a log lacks are estimated.

use crate::DatasetError;
use dreamrig_sim::scenario::positions::PositionIndex;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What a state or action element measures, read from its name's suffix or prefix
/// (`shoulder.pos`, `joint_state.velocity.shoulder`, `elbow_torque`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantity {
    /// A joint position (rad or m), or a position target.
    Position,
    /// A joint velocity (rad/s or m/s), or a velocity target.
    Velocity,
    /// A joint effort (N·m or N): a torque or force command.
    Effort,
}

impl Quantity {
    /// The words that name the quantity in an element name (LeRobot's `.pos`, ROS's
    /// `JointState` fields, common `q`/`qd`/`tau`).
    const WORDS: [(&'static str, Quantity); 14] = [
        ("pos", Quantity::Position),
        ("position", Quantity::Position),
        ("q", Quantity::Position),
        ("angle", Quantity::Position),
        ("vel", Quantity::Velocity),
        ("velocity", Quantity::Velocity),
        ("qd", Quantity::Velocity),
        ("dq", Quantity::Velocity),
        ("qvel", Quantity::Velocity),
        ("effort", Quantity::Effort),
        ("eff", Quantity::Effort),
        ("torque", Quantity::Effort),
        ("tau", Quantity::Effort),
        ("force", Quantity::Effort),
    ];

    fn from_word(word: &str) -> Option<Self> {
        Self::WORDS.iter().find(|(w, _)| w.eq_ignore_ascii_case(word)).map(|(_, q)| *q)
    }

    /// The quantity a dreamrig action name ends with (`J.position`, `J.velocity`, `J.effort`);
    /// `None` for other actions (`base.linear_velocity`).
    pub fn of_action(name: &str) -> Option<Self> {
        match name.rsplit_once('.').map(|(_, suffix)| suffix) {
            Some("position") => Some(Quantity::Position),
            Some("velocity") => Some(Quantity::Velocity),
            Some("effort") => Some(Quantity::Effort),
            _ => None,
        }
    }

    pub(crate) fn describe(self) -> &'static str {
        match self {
            Quantity::Position => "a position",
            Quantity::Velocity => "a velocity",
            Quantity::Effort => "an effort (torque or force)",
        }
    }
}

/// Whether the element named `element` belongs to `joint`, and what it measures: `Some(None)`
/// for the bare joint name (the quantity is not said), `Some(Some(q))` for `JOINT.WORD`,
/// `JOINT_WORD`, `JOINT/WORD` or `….WORD.JOINT` (with any prefix ending in `.` or `/`, such as
/// `robot.joint.` or `joint_state.`), `None` for an element of another joint.
pub fn element_quantity(element: &str, joint: &str) -> Option<Option<Quantity>> {
    if element == joint {
        return Some(None);
    }
    let boundary = |before: &str| before.is_empty() || before.ends_with('.') || before.ends_with('/');
    // JOINT{sep}WORD, after an optional prefix.
    for sep in ['.', '_', '/'] {
        if let Some(word) = element.rsplit_once(sep).map(|(_, w)| w) {
            let head = &element[..element.len() - word.len() - 1];
            if let Some(before) = head.strip_suffix(joint) {
                if boundary(before) {
                    if let Some(q) = Quantity::from_word(word) {
                        return Some(Some(q));
                    }
                }
            }
        }
    }
    // …WORD.JOINT (or WORD/JOINT): ROS-style and dreamrig's own `joint_state.position.JOINT`.
    for sep in ['.', '/'] {
        if let Some(head) = element.strip_suffix(joint).and_then(|h| h.strip_suffix(sep)) {
            let word = head.rsplit(['.', '/']).next().unwrap_or(head);
            if let Some(q) = Quantity::from_word(word) {
                return Some(Some(q));
            }
        }
    }
    None
}

/// One element of a feature, and the affine map from its unit to the scenario's:
/// `scenario value = logged value × scale + offset`.
#[derive(Debug, Clone, PartialEq)]
pub struct Element {
    /// The element's name in the feature's `names`.
    pub name: String,
    /// Multiplies the logged value (e.g. π/180 for degrees).
    pub scale: f64,
    /// Added after scaling (e.g. a calibration offset), in the scenario's unit.
    pub offset: f64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateMapSpec {
    feature: Option<String>,
    #[serde(default)]
    positions: BTreeMap<String, serde_yaml::Value>,
    #[serde(default)]
    velocities: BTreeMap<String, serde_yaml::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionMapSpec {
    feature: Option<String>,
    #[serde(default)]
    elements: BTreeMap<String, serde_yaml::Value>,
    #[serde(default)]
    ignore: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FeatureMapSpec {
    #[serde(default)]
    state: StateMapSpec,
    #[serde(default)]
    action: ActionMapSpec,
}

/// A `--map` file: which dataset elements hold which scenario joint's position and velocity,
/// and which hold which action, with units. Every key is optional; what it leaves out is
/// matched by name ([`element_quantity`]).
///
/// ```yaml
/// state:
///   feature: observation.state          # the default
///   positions:
///     shoulder: {element: shoulder_pan.pos, scale: 0.017453292519943295}   # degrees → rad
///     elbow: elbow_flex.pos             # the element's name alone: scale 1, offset 0
///   velocities:                         # joints left out are estimated from positions
///     shoulder: shoulder_pan.vel
/// action:
///   feature: action                     # the default
///   elements:                           # keys are the scenario's action names
///     shoulder.effort: {element: tau_1}
///   ignore: [gripper.pos]               # logged commands the scenario has no actuator for
/// ```
#[derive(Debug, Clone, Default)]
pub struct FeatureMap {
    /// The file it was read from (errors name it).
    pub path: PathBuf,
    /// The feature holding the joint positions (default `observation.state`).
    pub state_feature: Option<String>,
    /// Scenario joint name → element holding its position.
    pub positions: BTreeMap<String, Element>,
    /// Scenario joint name → element holding its velocity.
    pub velocities: BTreeMap<String, Element>,
    /// The feature holding the commands (default `action`).
    pub action_feature: Option<String>,
    /// Scenario action name (`shoulder.effort`) → element holding it.
    pub actions: BTreeMap<String, Element>,
    /// Action elements the scenario has no actuator for, left out on purpose.
    pub ignore_actions: Vec<String>,
    index: PositionIndex,
}

impl FeatureMap {
    /// Reads a map file. Errors ([`DatasetError::Map`]): unreadable, not YAML, an unknown key, a
    /// key given twice, a non-finite or zero scale, a non-finite offset.
    pub fn load(path: &Path) -> Result<Self, DatasetError> {
        let text = std::fs::read_to_string(path).map_err(|e| crate::io(path, format!("cannot read the feature map: {e}")))?;
        Self::parse(&text, path)
    }

    /// [`FeatureMap::load`] from text, as if read from `path`.
    pub fn parse(text: &str, path: &Path) -> Result<Self, DatasetError> {
        let index = PositionIndex::build(text);
        let at = |key: &str, reason: String| {
            let (line, column) = index.locate(key);
            DatasetError::Map { file: path.to_path_buf(), line, column, key: key.to_string(), reason }
        };
        if let Some(d) = index.duplicates().first() {
            return Err(at(&d.path, format!("given twice (first at line {}); a YAML mapping's keys must be unique", d.first.0)));
        }
        let spec: FeatureMapSpec = if text.trim().is_empty() {
            FeatureMapSpec::default()
        } else {
            serde_yaml::from_str(text).map_err(|e| {
                let (line, column) = e.location().map(|l| (l.line(), l.column())).unwrap_or((1, 1));
                let mut message = e.to_string();
                if let Some(cut) = message.rfind(" at line ") {
                    message.truncate(cut);
                }
                DatasetError::Map {
                    file: path.to_path_buf(),
                    line,
                    column,
                    key: "(document)".into(),
                    reason: format!(
                        "{message}; expected `state:` (feature, positions, velocities) and `action:` (feature, elements, ignore)"
                    ),
                }
            })?
        };
        let convert = |group: &str, specs: BTreeMap<String, serde_yaml::Value>| -> Result<BTreeMap<String, Element>, DatasetError> {
            let mut out = BTreeMap::new();
            for (key, spec) in specs {
                let path = format!("{group}.{key}");
                let element = element_from_yaml(&spec, &path, &at)?;
                out.insert(key, element);
            }
            Ok(out)
        };
        Ok(Self {
            path: path.to_path_buf(),
            state_feature: spec.state.feature,
            positions: convert("state.positions", spec.state.positions)?,
            velocities: convert("state.velocities", spec.state.velocities)?,
            action_feature: spec.action.feature,
            actions: convert("action.elements", spec.action.elements)?,
            ignore_actions: spec.action.ignore,
            index,
        })
    }

    /// The error for `key` of this file.
    pub(crate) fn error(&self, key: &str, reason: impl Into<String>) -> DatasetError {
        let (line, column) = self.index.locate(key);
        DatasetError::Map { file: self.path.clone(), line, column, key: key.to_string(), reason: reason.into() }
    }
}

/// One map entry: an element's name alone, or `{element, scale, offset}` (scale 1 and offset 0
/// when left out); any other key, a missing `element`, a zero or non-finite scale or a
/// non-finite offset is an error naming the key path.
fn element_from_yaml(spec: &serde_yaml::Value, path: &str, at: &dyn Fn(&str, String) -> DatasetError) -> Result<Element, DatasetError> {
    use serde_yaml::Value;
    let number = |key: &str, value: &Value| -> Result<f64, DatasetError> {
        value.as_f64().ok_or_else(|| at(&format!("{path}.{key}"), format!("expected a number, got {}", yaml_text(value))))
    };
    let element = match spec {
        Value::String(name) => Element { name: name.clone(), scale: 1.0, offset: 0.0 },
        Value::Mapping(map) => {
            let mut element = Element { name: String::new(), scale: 1.0, offset: 0.0 };
            for (key, value) in map {
                match key.as_str() {
                    Some("element") => {
                        element.name = value
                            .as_str()
                            .ok_or_else(|| at(&format!("{path}.element"), format!("expected an element name, got {}", yaml_text(value))))?
                            .to_string()
                    }
                    Some("scale") => element.scale = number("scale", value)?,
                    Some("offset") => element.offset = number("offset", value)?,
                    _ => {
                        return Err(at(
                            &format!("{path}.{}", yaml_text(key)),
                            format!("unknown key {}; expected element, scale or offset", yaml_text(key)),
                        ))
                    }
                }
            }
            if element.name.is_empty() {
                return Err(at(path, "expected `element: NAME` (the dataset element this maps), found none".into()));
            }
            element
        }
        other => {
            return Err(at(path, format!("expected an element name or {{element, scale, offset}}, got {}", yaml_text(other))));
        }
    };
    if !element.scale.is_finite() || element.scale == 0.0 {
        return Err(at(&format!("{path}.scale"), format!("expected a finite, non-zero scale, got {}", element.scale)));
    }
    if !element.offset.is_finite() {
        return Err(at(&format!("{path}.offset"), format!("expected a finite offset, got {}", element.offset)));
    }
    Ok(element)
}

/// A YAML value as it would be written (for messages).
fn yaml_text(value: &serde_yaml::Value) -> String {
    serde_yaml::to_string(value).map(|t| t.trim_end().to_string()).unwrap_or_else(|_| format!("{value:?}"))
}

/// Where a joint's position or velocity comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// An element of the state feature, at this index, converted.
    Logged {
        /// Index of the element in the feature.
        index: usize,
        /// Name, scale and offset.
        element: Element,
    },
    /// Estimated from the joint's positions ([`estimate_velocities`]).
    Estimated,
}

/// Estimates velocities from positions sampled every `dt` seconds with the second-order
/// backward difference `v_t = (3q_t − 4q_{t−1} + q_{t−2}) / (2 dt)`: the slope at t of the
/// parabola through the last three frames, exact for motion of constant acceleration over them.
/// It is causal (frame t's velocity uses no frame after t), so a state never holds the effect of
/// the action taken in it — which a world model is to predict, and which a counterfactual replay
/// from that state replaces. Frame 1 takes the first-order difference `(q_1 − q_0) / dt`, and
/// frame 0, with nothing before it, the same forward difference.
///
/// Chosen by the physics' own error on logs of dreamrig's robots (positions only, velocities
/// estimated, the physics stepped one and ten control steps from each logged state; normalized
/// as `wm eval` does): at 10 steps it was the lowest or level of the centred, the first-order
/// backward and this difference on the reacher under random torques (0.18 against 0.23 and
/// 0.27), the reacher's controller (0.32 against 0.37 and 0.35) and the position-servoed arm
/// (0.075 against 0.076 and 0.080); at one step the centred difference, which averages in the
/// next action's effect, did better on the arm (0.17 against 0.25) and worse on the reacher.
///
/// `positions`: one value per frame. Returns one velocity per frame (0 for a one-frame episode).
pub fn estimate_velocities(positions: &[f64], dt: f64) -> Vec<f64> {
    let q = positions;
    (0..q.len())
        .map(|t| match t {
            _ if q.len() == 1 => 0.0,
            0 | 1 => (q[1] - q[0]) / dt,
            t => (3.0 * q[t] - 4.0 * q[t - 1] + q[t - 2]) / (2.0 * dt),
        })
        .collect()
}

/// Unwraps the angles of a continuous joint in place: adds whole turns so that no step between
/// frames exceeds π (a log that wraps at ±π would otherwise jump by a turn).
pub fn unwrap_angles(angles: &mut [f64]) {
    let turn = std::f64::consts::TAU;
    let mut shift = 0.0;
    for t in 1..angles.len() {
        let raw_step = angles[t] + shift - angles[t - 1];
        shift -= (raw_step / turn).round() * turn;
        angles[t] += shift;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn element_names_say_which_joint_and_what_quantity() {
        use Quantity::*;
        assert_eq!(element_quantity("shoulder", "shoulder"), Some(None));
        assert_eq!(element_quantity("shoulder.pos", "shoulder"), Some(Some(Position)));
        assert_eq!(element_quantity("shoulder_vel", "shoulder"), Some(Some(Velocity)));
        assert_eq!(element_quantity("robot.joint.shoulder.position", "shoulder"), Some(Some(Position)));
        assert_eq!(element_quantity("joint_state.velocity.shoulder", "shoulder"), Some(Some(Velocity)));
        assert_eq!(element_quantity("shoulder.effort", "shoulder"), Some(Some(Effort)));
        assert_eq!(element_quantity("shoulder_pan.pos", "shoulder_pan"), Some(Some(Position)));
        // Another joint whose name ends with this one's is not this one.
        assert_eq!(element_quantity("left_shoulder.pos", "shoulder"), None);
        assert_eq!(element_quantity("shoulder_pan.pos", "shoulder"), None);
        assert_eq!(element_quantity("shoulder.unknown", "shoulder"), None);
        assert_eq!(element_quantity("elbow.pos", "shoulder"), None);
    }

    #[test]
    fn velocities_from_positions_are_exact_on_parabolas_and_close_on_a_sine() {
        let dt = 0.02;
        let q: Vec<f64> = (0..20).map(|t| 0.3 + 1.5 * (t as f64 * dt) - 2.0 * (t as f64 * dt).powi(2)).collect();
        let v = estimate_velocities(&q, dt);
        for (t, v) in v.iter().enumerate().skip(2) {
            let exact = 1.5 - 4.0 * (t as f64 * dt);
            assert!((v - exact).abs() < 1e-9, "frame {t}: {v} vs {exact}");
        }
        let q: Vec<f64> = (0..100).map(|t| (2.0 * t as f64 * dt).sin()).collect();
        let v = estimate_velocities(&q, dt);
        let worst = (2..100).map(|t| (v[t] - 2.0 * (2.0 * t as f64 * dt).cos()).abs()).fold(0.0, f64::max);
        assert!(worst < 2e-3, "{worst}");
        assert_eq!(estimate_velocities(&[1.0], dt), vec![0.0]);
        assert_eq!(estimate_velocities(&[1.0, 2.0], 0.5), vec![2.0, 2.0]);
    }

    #[test]
    fn wrapped_angles_are_unwrapped_into_a_continuous_path() {
        let pi = std::f64::consts::PI;
        let mut a = vec![pi - 0.1, -pi + 0.1, -pi + 0.3, pi - 0.1];
        unwrap_angles(&mut a);
        let expected = [pi - 0.1, pi + 0.1, pi + 0.3, pi - 0.1];
        for (x, e) in a.iter().zip(expected) {
            assert!((x - e).abs() < 1e-12, "{a:?}");
        }
    }

    #[test]
    fn a_map_file_reads_names_units_and_refuses_a_zero_scale_at_its_line() {
        let map = FeatureMap::parse(
            "state:\n  positions:\n    shoulder: {element: a.pos, scale: 2.0, offset: 0.5}\n    elbow: b.pos\naction:\n  ignore: [g]\n",
            Path::new("map.yaml"),
        )
        .unwrap();
        assert_eq!(map.positions["shoulder"], Element { name: "a.pos".into(), scale: 2.0, offset: 0.5 });
        assert_eq!(map.positions["elbow"], Element { name: "b.pos".into(), scale: 1.0, offset: 0.0 });
        assert_eq!(map.ignore_actions, vec!["g".to_string()]);
        let error = FeatureMap::parse("state:\n  positions:\n    shoulder: {element: a, scale: 0}\n", Path::new("map.yaml")).unwrap_err();
        let text = error.to_string();
        assert!(text.starts_with("map.yaml:3:") && text.contains("state.positions.shoulder.scale") && text.contains("got 0"), "{text}");
        let error = FeatureMap::parse("state:\n  positions:\n    shoulder: {element: a, sacle: 2}\n", Path::new("map.yaml")).unwrap_err();
        let text = error.to_string();
        assert!(text.starts_with("map.yaml:3:") && text.contains("state.positions.shoulder.sacle: unknown key sacle"), "{text}");
        let error = FeatureMap::parse("state:\n  positions:\n    shoulder: {elemnt: a}\n", Path::new("map.yaml")).unwrap_err();
        assert!(error.to_string().contains("unknown key elemnt"), "{error}");
        let error = FeatureMap::parse("state:\n  position: {}\n", Path::new("map.yaml")).unwrap_err().to_string();
        assert!(error.contains("map.yaml:2:") && error.contains("unknown field `position`"), "{error}");
    }
}
