//! `dreamrig._dreamrig`: the Rust half of the `dreamrig` Python package.
//!
//! - [`Worlds`]: B worlds of one scenario (physics, learned or hybrid), reset and stepped
//!   together in Rust with the GIL released; observations come back as one NumPy array per
//!   field, shape `[B, *field_shape]`. The Gymnasium environments (`dreamrig/env.py`) are thin
//!   Python wrappers around it.
//! - [`evaluate`]: `dreamrig eval` from Python, with Python callables as policies, called once
//!   per lock-step batch step ([`PythonHost`], [`PythonBatch`]).
//! - [`BuiltinPolicy`]: dreamrig's Rust baselines and controllers as batched Python callables.
//!
//! Every entry point turns errors into Python exceptions carrying the same text the `dreamrig`
//! command prints, and a Rust panic into `DreamrigError` instead of aborting or raising
//! `PanicException`.

use dreamrig_eval::{EvalSpec, RunOptions, SpecOverrides};
use dreamrig_policies::external::ExternalPolicies;
use dreamrig_policies::{BatchPolicy, Policy, PolicyError as RustPolicyError};
use dreamrig_sim::scenario::config::ScenarioConfig;
use dreamrig_sim::scenario::overrides::ScenarioOverrides;
use dreamrig_sim::{
    ActionSpec, ImageData, Observation, ObservationSpec, PixelType, Scenario, StateSpec, StepInfo, StepResult, WorldBatch,
    WorldState as RustWorldState,
};
use numpy::{IntoPyArray, PyArrayMethods, PyUntypedArrayMethods};
use pyo3::exceptions::{PyException, PyKeyboardInterrupt, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

pyo3::create_exception!(_dreamrig, DreamrigError, PyException, "Base class of every error dreamrig raises.");
pyo3::create_exception!(
    _dreamrig,
    ScenarioError,
    DreamrigError,
    "A scenario that cannot be found, read or validated (the same text `dreamrig validate` prints)."
);
pyo3::create_exception!(
    _dreamrig,
    SimulationError,
    DreamrigError,
    "A world that cannot step: an invalid action or state, diverging physics, a world-model failure."
);
pyo3::create_exception!(_dreamrig, PolicyError, DreamrigError, "A policy that cannot be built, checked or run.");
pyo3::create_exception!(
    _dreamrig,
    EvaluationError,
    DreamrigError,
    "An evaluation spec or run that fails (the same text `dreamrig eval` prints)."
);

/// Runs `f`, turning a Rust panic into `DreamrigError` (never `PanicException`, never an abort).
fn guard<T>(f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    std::panic::catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| Err(panic_error(payload)))
}

/// `DreamrigError` for a caught panic, with the panic's message.
fn panic_error(payload: Box<dyn std::any::Any + Send>) -> PyErr {
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown panic".into());
    DreamrigError::new_err(format!("internal error in dreamrig (a bug; please report it): {message}"))
}

fn sim_error(env: usize, e: impl std::fmt::Display) -> PyErr {
    SimulationError::new_err(format!("env {env}: {e}"))
}

/// Loads a scenario given by path or shipped name, as the `dreamrig` command does, with another
/// `dynamics` backend when asked (`physics`, `learned:MODEL.json`, `hybrid:MODEL.json`).
fn load_scenario(scenario: &str, dynamics: Option<&str>) -> PyResult<Scenario> {
    let path = dreamrig_sim::scenario::resolve(scenario).map_err(|e| ScenarioError::new_err(e.to_string()))?;
    let mut overrides = ScenarioOverrides::default();
    if let Some(text) = dynamics {
        let o = SpecOverrides::for_dynamics(text).map_err(|e| PyValueError::new_err(format!("dynamics: {e}")))?;
        overrides.dynamics = o.dynamics_spec();
    }
    Scenario::load_with(&path, &overrides).map_err(|e| ScenarioError::new_err(e.to_string()))
}

/// `{field name: ndarray[B, *shape] float32}` from B observations (one per world).
fn observation_arrays<'py>(py: Python<'py>, spec: &ObservationSpec, rows: &[&Observation]) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (f, field) in spec.fields.iter().enumerate() {
        let mut values = Vec::with_capacity(rows.len() * field.len());
        for row in rows {
            values.extend_from_slice(&row.fields[f]);
        }
        let mut shape = vec![rows.len()];
        shape.extend_from_slice(&field.shape);
        // One allocation per field, handed to NumPy without a copy; the reshape is a view.
        let array = values.into_pyarray(py).reshape(shape)?;
        dict.set_item(&field.name, array)?;
    }
    for (i, image) in spec.images.iter().enumerate() {
        let mut shape = vec![rows.len()];
        shape.extend_from_slice(&image.shape());
        let array = match image.dtype {
            PixelType::U8 => image_rows(rows, i, image.len(), |d| if let ImageData::U8(v) = d { Some(v) } else { None })
                .into_pyarray(py)
                .reshape(shape)?
                .into_any(),
            PixelType::U16 => image_rows(rows, i, image.len(), |d| if let ImageData::U16(v) = d { Some(v) } else { None })
                .into_pyarray(py)
                .reshape(shape)?
                .into_any(),
            PixelType::F32 => image_rows(rows, i, image.len(), |d| if let ImageData::F32(v) = d { Some(v) } else { None })
                .into_pyarray(py)
                .reshape(shape)?
                .into_any(),
        };
        dict.set_item(&image.name, array)?;
    }
    Ok(dict)
}

/// Image `i` of every row, concatenated (zeros for a row whose image has another type, which a
/// world never produces).
fn image_rows<T: Copy + Default>(rows: &[&Observation], i: usize, len: usize, pick: impl Fn(&ImageData) -> Option<&Vec<T>>) -> Vec<T> {
    let mut values = Vec::with_capacity(rows.len() * len);
    for row in rows {
        match row.images.get(i).and_then(&pick) {
            Some(v) if v.len() == len => values.extend_from_slice(v),
            _ => values.resize(values.len() + len, T::default()),
        }
    }
    values
}

/// The observation's images: a list of dicts with `name`, `camera`, `shape` ([H, W, C]),
/// `dtype` (numpy name), `encoding` (ROS), `unit`, `intrinsics` ([fx, fy, cx, cy]) and `legend`.
fn image_dicts<'py>(py: Python<'py>, spec: &ObservationSpec) -> PyResult<Bound<'py, PyList>> {
    let list = PyList::empty(py);
    for image in &spec.images {
        let d = PyDict::new(py);
        d.set_item("name", &image.name)?;
        d.set_item("camera", &image.camera)?;
        d.set_item("shape", image.shape().to_vec())?;
        d.set_item("dtype", image.dtype.name())?;
        d.set_item("encoding", &image.encoding)?;
        d.set_item("unit", &image.unit)?;
        d.set_item("intrinsics", image.intrinsics.to_vec())?;
        d.set_item("legend", image.legend.clone())?;
        list.append(d)?;
    }
    Ok(list)
}

/// Gymnasium's `info` for B steps: one array per key (`nan` where a value does not apply).
fn info_arrays<'py>(py: Python<'py>, infos: &[&StepInfo]) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    let floats = |f: &dyn Fn(&StepInfo) -> f64| infos.iter().map(|i| f(i)).collect::<Vec<f64>>();
    dict.set_item("time", floats(&|i| i.time).into_pyarray(py))?;
    dict.set_item("step", infos.iter().map(|i| i.step as i64).collect::<Vec<i64>>().into_pyarray(py))?;
    dict.set_item("success", infos.iter().map(|i| i.success).collect::<Vec<bool>>().into_pyarray(py))?;
    dict.set_item("collision", infos.iter().map(|i| i.collision).collect::<Vec<bool>>().into_pyarray(py))?;
    dict.set_item("goal_distance", floats(&|i| i.goal_distance.unwrap_or(f64::NAN)).into_pyarray(py))?;
    dict.set_item("clearance", floats(&|i| i.clearance.unwrap_or(f64::NAN)).into_pyarray(py))?;
    dict.set_item("model_disagreement", floats(&|i| i.model_disagreement.unwrap_or(f64::NAN)).into_pyarray(py))?;
    let reasons: Vec<String> = infos
        .iter()
        .map(|i| match &i.end_reason {
            None => String::new(),
            Some(dreamrig_sim::EndReason::Success) => "success".into(),
            Some(dreamrig_sim::EndReason::Horizon) => "horizon".into(),
            Some(dreamrig_sim::EndReason::Failure(why)) => format!("failure: {why}"),
        })
        .collect();
    let reasons = py.import("numpy")?.getattr("array")?.call1((PyList::new(py, reasons)?, "object"))?;
    dict.set_item("end_reason", reasons)?;
    Ok(dict)
}

/// The specs of a scenario's worlds, as Python values.
fn field_dicts<'py>(py: Python<'py>, spec: &ObservationSpec) -> PyResult<Bound<'py, PyList>> {
    let list = PyList::empty(py);
    for field in &spec.fields {
        let d = PyDict::new(py);
        d.set_item("name", &field.name)?;
        d.set_item("shape", field.shape.clone())?;
        d.set_item("unit", &field.unit)?;
        d.set_item("element_names", field.element_names.clone())?;
        d.set_item("low", field.low.clone().into_pyarray(py))?;
        d.set_item("high", field.high.clone().into_pyarray(py))?;
        list.append(d)?;
    }
    Ok(list)
}

struct WorldsInner {
    batch: WorldBatch,
    /// The last observation of each world (what `observe` without stepping returns).
    last: Vec<Option<Observation>>,
}

/// B worlds of one scenario, stepped together in Rust (in parallel, with the GIL released).
///
/// `Worlds(scenario, num_envs=1, dynamics=None)`: `scenario` is a file or a shipped name
/// (`dreamrig.scenarios()`); `dynamics` replaces the scenario's backend with `physics`,
/// `learned:MODEL.json` or `hybrid:MODEL.json`.
#[pyclass(module = "dreamrig._dreamrig")]
struct Worlds {
    inner: Mutex<WorldsInner>,
    scenario: Scenario,
    state: StateSpec,
    observation: Arc<ObservationSpec>,
    action: ActionSpec,
    control_period: f64,
}

impl Worlds {
    fn inner(&mut self) -> &mut WorldsInner {
        // `&mut self` already excludes every other user; a poisoned lock only means a panic was
        // caught in an earlier call, whose world was then reset or reported.
        self.inner.get_mut().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn check_index(&self, index: usize, len: usize) -> PyResult<()> {
        if index >= len {
            return Err(PyValueError::new_err(format!("index {index}: expected an env index below num_envs = {len}")));
        }
        Ok(())
    }
}

#[pymethods]
impl Worlds {
    #[new]
    #[pyo3(signature = (scenario, num_envs = 1, dynamics = None))]
    fn new(scenario: &str, num_envs: usize, dynamics: Option<&str>) -> PyResult<Self> {
        guard(|| {
            if !(1..=65_536).contains(&num_envs) {
                return Err(PyValueError::new_err(format!("num_envs: expected 1 to 65536, got {num_envs}")));
            }
            let scenario = load_scenario(scenario, dynamics)?;
            let batch = WorldBatch::for_scenario(&scenario.config, num_envs).map_err(|e| ScenarioError::new_err(e.to_string()))?;
            let (Some(observation), Some(action), Some(state), Some(period)) =
                (batch.observation_spec(), batch.action_spec(), batch.state_spec(), batch.control_period())
            else {
                return Err(DreamrigError::new_err("no world was built"));
            };
            Ok(Self {
                observation: observation.clone(),
                action: action.clone(),
                state: state.clone(),
                control_period: period,
                scenario,
                inner: Mutex::new(WorldsInner { last: vec![None; num_envs], batch }),
            })
        })
    }

    /// The scenario's name.
    #[getter]
    fn name(&self) -> String {
        self.scenario.config.name.clone()
    }

    /// The scenario's file.
    #[getter]
    fn scenario_path(&self) -> String {
        self.scenario.path.display().to_string()
    }

    /// B, the number of worlds.
    #[getter]
    fn num_envs(&mut self) -> usize {
        self.inner().batch.len()
    }

    /// Seconds of simulated time per step.
    #[getter]
    fn control_period(&self) -> f64 {
        self.control_period
    }

    /// Control steps after which an episode is truncated (`task.horizon_steps`).
    #[getter]
    fn max_episode_steps(&self) -> u32 {
        self.scenario.config.task.horizon_steps
    }

    /// The backend: `physics`, `learned` or `hybrid`.
    #[getter]
    fn dynamics(&self) -> &'static str {
        match self.scenario.config.dynamics {
            dreamrig_sim::scenario::config::DynamicsConfig::Physics => "physics",
            dreamrig_sim::scenario::config::DynamicsConfig::Learned { .. } => "learned",
            dreamrig_sim::scenario::config::DynamicsConfig::Hybrid { .. } => "hybrid",
        }
    }

    /// The observation fields: a list of dicts with `name`, `shape`, `unit`, `element_names`,
    /// `low`, `high` (float64 arrays of the field's flat length; ±inf where unbounded).
    fn observation_fields<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        field_dicts(py, &self.observation)
    }

    /// The camera images of each observation: a list of dicts with `name` (e.g. `front.rgb`),
    /// `camera`, `shape` ([H, W, C]), `dtype` (`uint8`, `uint16` or `float32`), `encoding` (ROS:
    /// `rgb8`, `32FC1`, `16UC1`), `unit`, `intrinsics` ([fx, fy, cx, cy], pixels) and `legend`
    /// (segmentation: the name of id k at k − 1). Empty without cameras.
    fn observation_images<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        image_dicts(py, &self.observation)
    }

    /// The action: a dict with `names`, `units`, `low`, `high` (float64 arrays of the action's length).
    fn action_spec<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("names", self.action.names.clone())?;
        d.set_item("units", self.action.units.clone())?;
        d.set_item("low", self.action.low.clone().into_pyarray(py))?;
        d.set_item("high", self.action.high.clone().into_pyarray(py))?;
        Ok(d)
    }

    /// Names of the values of `WorldState.values`: every position, then every velocity.
    #[getter]
    fn state_names(&self) -> Vec<String> {
        self.state.names.clone()
    }

    /// How dreamrig's LeRobot datasets lay out this scenario's frames (the same
    /// `dreamrig_datasets::FrameLayout` the recorder writes with), so that a LeRobot policy
    /// trained on a dreamrig dataset is fed the same vectors when it acts. A dict:
    /// - `fps` (int): the control rate, Hz;
    /// - `task` (str): the LeRobot task string (the scenario's description, or its name);
    /// - `state_fields` (list of str): the observation fields concatenated, in this order, into
    ///   `observation.state`;
    /// - `array_features` (list of (field, feature key)): fields stored as features of their
    ///   own (lidar ranges, depth images), flattened;
    /// - `features` (dict): every feature of `meta/info.json`, `{key: {dtype, shape, names}}`.
    ///
    /// Raises `ScenarioError` when the control rate is not a whole number of hertz.
    fn lerobot_layout<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let fps = dreamrig_datasets::fps_of(&self.scenario).map_err(|e| ScenarioError::new_err(e.to_string()))?;
        let layout = dreamrig_datasets::FrameLayout::new(&self.observation, &self.action, &self.state, fps);
        let d = PyDict::new(py);
        d.set_item("fps", fps)?;
        d.set_item("task", dreamrig_datasets::task_of(&self.scenario.config))?;
        d.set_item("state_fields", layout.state_fields.clone())?;
        d.set_item("array_features", layout.array_fields.clone())?;
        let features = PyDict::new(py);
        for (key, feature) in &layout.features {
            let f = PyDict::new(py);
            f.set_item("dtype", &feature.dtype)?;
            f.set_item("shape", feature.shape.clone())?;
            let names: Option<Vec<String>> = serde_json::from_value(feature.names.clone()).ok();
            f.set_item("names", names)?;
            features.set_item(key, f)?;
        }
        d.set_item("features", features)?;
        Ok(d)
    }

    /// The full state of every world: float64 `[B, S]`, row i `WorldState.values` of world i
    /// (positions then velocities, named by `state_names`), what dreamrig's datasets record as
    /// `observation.environment_state`.
    fn state_values<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, numpy::PyArray2<f64>>> {
        guard(|| {
            let width = self.state.names.len();
            let inner = self.inner();
            let b = inner.batch.len();
            let mut values = Vec::with_capacity(b * width);
            for i in 0..b {
                let state = inner.batch.state(i).map_err(|e| sim_error(i, e))?;
                values.extend_from_slice(&state.values);
            }
            values.into_pyarray(py).reshape([b, width])
        })
    }

    /// Resets every world: world i with `seeds[i]` (B seeds, each 0 ≤ seed < 2**64).
    /// Returns `(observation, info)`: `{field: ndarray[B, *shape] float32}` and a dict of
    /// arrays of B values.
    fn reset<'py>(&mut self, py: Python<'py>, seeds: Vec<u64>) -> PyResult<(Bound<'py, PyDict>, Bound<'py, PyDict>)> {
        let seeds: Vec<Option<u64>> = seeds.into_iter().map(Some).collect();
        let (observation, info, ..) = self.step_or_reset(py, None, Some(seeds))?;
        Ok((observation, info))
    }

    /// Steps the worlds: `actions` is float64 `[B, A]`; where `reset_seeds[i]` is an int,
    /// world i is reset with that seed instead (its action is ignored, its reward is 0 and it
    /// is neither terminated nor truncated: Gymnasium's next-step autoreset). Returns
    /// `(observation, reward[B] float64, terminated[B] bool, truncated[B] bool, info)`.
    #[pyo3(signature = (actions, reset_seeds = None))]
    #[allow(clippy::type_complexity)]
    fn step<'py>(
        &mut self,
        py: Python<'py>,
        actions: numpy::PyReadonlyArray2<'py, f64>,
        reset_seeds: Option<Vec<Option<u64>>>,
    ) -> PyResult<(Bound<'py, PyDict>, Bound<'py, PyAny>, Bound<'py, PyAny>, Bound<'py, PyAny>, Bound<'py, PyDict>)> {
        let b = self.inner().batch.len();
        let shape = actions.shape();
        if shape != [b, self.action.len()] {
            return Err(PyValueError::new_err(format!(
                "actions: expected shape ({b}, {}) (num_envs × [{}]), got {:?}",
                self.action.len(),
                self.action.names.join(", "),
                shape
            )));
        }
        let rows: Vec<Vec<f64>> = actions.as_array().rows().into_iter().map(|r| r.to_vec()).collect();
        let (observation, info, reward, terminated, truncated) = self.step_or_reset(py, Some(rows), reset_seeds)?;
        Ok((
            observation,
            reward.into_pyarray(py).into_any(),
            terminated.into_pyarray(py).into_any(),
            truncated.into_pyarray(py).into_any(),
            info,
        ))
    }

    /// The full state of world `index`'s episode (for counterfactual branching).
    #[pyo3(signature = (index = 0))]
    fn get_state(&mut self, index: usize) -> PyResult<WorldState> {
        guard(|| {
            let len = self.inner().batch.len();
            self.check_index(index, len)?;
            let state = self.inner().batch.state(index).map_err(|e| sim_error(index, e))?;
            Ok(WorldState { state, scenario: self.scenario.config.name.clone(), names: self.state.names.clone() })
        })
    }

    /// Puts world `index`'s episode in `state` (taken with `get_state` from a world of the same
    /// scenario); stepping from here repeats what stepping from that moment gave, bit for bit.
    /// Returns the observation of that state, `{field: ndarray[*shape] float32}`.
    #[pyo3(signature = (state, index = 0))]
    fn set_state<'py>(&mut self, py: Python<'py>, state: &WorldState, index: usize) -> PyResult<Bound<'py, PyDict>> {
        guard(|| {
            let len = self.inner().batch.len();
            self.check_index(index, len)?;
            if state.scenario != self.scenario.config.name || state.names != self.state.names {
                return Err(PyValueError::new_err(format!(
                    "state: taken from a world of scenario {} ({} state values); this is {} ({} state values)",
                    state.scenario,
                    state.names.len(),
                    self.scenario.config.name,
                    self.state.names.len()
                )));
            }
            let inner = self.inner.get_mut().unwrap_or_else(|poisoned| poisoned.into_inner());
            inner.batch.set_state(index, &state.state).map_err(|e| sim_error(index, e))?;
            let observation = inner.batch.observe(index).map_err(|e| sim_error(index, e))?;
            // Reading the sensors drew from the episode's noise stream: put the state back, so
            // that the steps from here repeat the original ones bit for bit.
            inner.batch.set_state(index, &state.state).map_err(|e| sim_error(index, e))?;
            let dict = observation_arrays(py, &self.observation, &[&observation])?;
            inner.last[index] = Some(observation);
            unbatch(py, &dict)
        })
    }

    /// Scores one control step of world `index` whose outcome was computed outside dreamrig —
    /// by another engine, or measured on a real robot: `action` (float64 `[A]`) is what was
    /// applied and `next` (float64 `[S]`, named by `state_names`) the state it led to. The
    /// episode moves to `next` and the scenario's sensors and task read it, so the result is
    /// what `step` would have returned had the world's own physics reached that state:
    /// `(observation, reward, terminated, truncated, info)`, unbatched. Physics worlds only.
    ///
    /// Raises `ValueError` for an action or state of the wrong length, and `SimulationError`
    /// for a non-finite action or state value (the episode is left as it was), a world not
    /// reset or whose episode ended, and learned or hybrid worlds.
    #[pyo3(signature = (action, next, index = 0))]
    #[allow(clippy::type_complexity)]
    fn step_to<'py>(
        &mut self,
        py: Python<'py>,
        action: numpy::PyReadonlyArray1<'py, f64>,
        next: numpy::PyReadonlyArray1<'py, f64>,
        index: usize,
    ) -> PyResult<(Bound<'py, PyDict>, f64, bool, bool, Bound<'py, PyDict>)> {
        guard(|| {
            let len = self.inner().batch.len();
            self.check_index(index, len)?;
            let (action, next) = (action.as_array().to_vec(), next.as_array().to_vec());
            for (what, got, expected, names) in [
                ("action", action.len(), self.action.len(), &self.action.names),
                ("next", next.len(), self.state.names.len(), &self.state.names),
            ] {
                if got != expected {
                    return Err(PyValueError::new_err(format!("{what}: expected {expected} values ([{}]), got {got}", names.join(", "))));
                }
            }
            let inner = self.inner.get_mut().unwrap_or_else(|poisoned| poisoned.into_inner());
            let result = inner.batch.step_to(index, &action, &next).map_err(|e| sim_error(index, e))?;
            let observation = unbatch(py, &observation_arrays(py, &self.observation, &[&result.observation])?)?;
            let info = unbatch(py, &info_arrays(py, &[&result.info])?)?;
            inner.last[index] = Some(result.observation);
            Ok((observation, result.reward, result.terminated, result.truncated, info))
        })
    }
}

/// `{name: array[1, ...]}` → `{name: array[...]}` (views, no copies).
fn unbatch<'py>(py: Python<'py>, dict: &Bound<'py, PyDict>) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    for (key, value) in dict.iter() {
        out.set_item(key, value.get_item(0)?)?;
    }
    Ok(out)
}

type Stepped<'py> = (Bound<'py, PyDict>, Bound<'py, PyDict>, Vec<f64>, Vec<bool>, Vec<bool>);

impl Worlds {
    /// One parallel pass over the worlds, without the GIL: reset those with a seed, step the
    /// others with their action.
    fn step_or_reset<'py>(
        &mut self,
        py: Python<'py>,
        actions: Option<Vec<Vec<f64>>>,
        seeds: Option<Vec<Option<u64>>>,
    ) -> PyResult<Stepped<'py>> {
        let b = self.inner().batch.len();
        let seeds = seeds.unwrap_or_else(|| vec![None; b]);
        if seeds.len() != b {
            return Err(PyValueError::new_err(format!("seeds: expected {b} (one per env), got {}", seeds.len())));
        }
        let actions: Vec<Option<Vec<f64>>> = match actions {
            Some(rows) => rows.into_iter().zip(&seeds).map(|(a, s)| s.is_none().then_some(a)).collect(),
            None => vec![None; b],
        };
        // Every action is checked before any world moves: a bad one raises and leaves all
        // worlds where they were.
        for (i, action) in actions.iter().enumerate() {
            if let Some(action) = action {
                dreamrig_sim::check_action(&self.action, action).map_err(|e| sim_error(i, e))?;
            }
        }
        let inner = self.inner.get_mut().unwrap_or_else(|poisoned| poisoned.into_inner());
        let batch = &mut inner.batch;
        type Pass =
            (Vec<Option<Result<(Observation, StepInfo), dreamrig_sim::SimError>>>, Vec<Option<Result<StepResult, dreamrig_sim::SimError>>>);
        let pass: std::thread::Result<Pass> = py.detach(|| {
            std::panic::catch_unwind(AssertUnwindSafe(|| {
                let resets =
                    if seeds.iter().any(Option::is_some) { batch.reset_some(&seeds) } else { (0..seeds.len()).map(|_| None).collect() };
                let steps =
                    if actions.iter().any(Option::is_some) { batch.step(&actions) } else { (0..actions.len()).map(|_| None).collect() };
                (resets, steps)
            }))
        });
        let (resets, steps) = pass.map_err(panic_error)?;
        let mut reward = vec![0.0; b];
        let mut terminated = vec![false; b];
        let mut truncated = vec![false; b];
        let mut infos: Vec<StepInfo> = Vec::with_capacity(b);
        for (i, (reset, step)) in resets.into_iter().zip(steps).enumerate() {
            match (reset, step) {
                (Some(r), _) => {
                    let (observation, info) = r.map_err(|e| sim_error(i, e))?;
                    inner.last[i] = Some(observation);
                    infos.push(info);
                }
                (None, Some(s)) => {
                    let result = s.map_err(|e| sim_error(i, e))?;
                    reward[i] = result.reward;
                    terminated[i] = result.terminated;
                    truncated[i] = result.truncated;
                    inner.last[i] = Some(result.observation);
                    infos.push(result.info);
                }
                (None, None) => return Err(PyValueError::new_err(format!("env {i}: neither stepped nor reset"))),
            }
        }
        let rows: Vec<&Observation> = match inner.last.iter().map(Option::as_ref).collect::<Option<Vec<_>>>() {
            Some(rows) => rows,
            None => return Err(DreamrigError::new_err("step before reset: call reset first")),
        };
        let observation = observation_arrays(py, &self.observation, &rows)?;
        let info_refs: Vec<&StepInfo> = infos.iter().collect();
        let info = info_arrays(py, &info_refs)?;
        Ok((observation, info, reward, terminated, truncated))
    }
}

/// A snapshot of one world's episode: what `Worlds.get_state` returns and `set_state` takes.
#[pyclass(module = "dreamrig._dreamrig", frozen)]
#[derive(Clone)]
struct WorldState {
    state: RustWorldState,
    scenario: String,
    names: Vec<String>,
}

#[pymethods]
impl WorldState {
    /// The full dynamic state, float64 `[len(names)]`: every position, then every velocity.
    #[getter]
    fn values<'py>(&self, py: Python<'py>) -> Bound<'py, numpy::PyArray1<f64>> {
        self.state.values.clone().into_pyarray(py)
    }

    /// Names of `values` (`robot.joint.NAME.position`, …).
    #[getter]
    fn names(&self) -> Vec<String> {
        self.names.clone()
    }

    /// Control steps since reset.
    #[getter]
    fn step(&self) -> u64 {
        self.state.step
    }

    /// The scenario of the world it was taken from.
    #[getter]
    fn scenario(&self) -> String {
        self.scenario.clone()
    }

    /// The same snapshot (step, delayed actions, noise stream) with other dynamic values, e.g. a
    /// state another simulator or a robot's log holds: float64 `[len(names)]`, in `names` order.
    /// Raises `ValueError` for another length or a non-finite value (naming it).
    fn with_values(&self, values: numpy::PyReadonlyArray1<'_, f64>) -> PyResult<WorldState> {
        let values = values.as_slice().map_err(|e| PyValueError::new_err(format!("values: {e}")))?.to_vec();
        if values.len() != self.names.len() {
            return Err(PyValueError::new_err(format!(
                "values: expected {} state values ({} …), got {}",
                self.names.len(),
                self.names.iter().take(3).cloned().collect::<Vec<_>>().join(", "),
                values.len()
            )));
        }
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(PyValueError::new_err(format!("values: {} is {}", self.names[i], values[i])));
        }
        let mut state = self.state.clone();
        state.values = values;
        Ok(WorldState { state, scenario: self.scenario.clone(), names: self.names.clone() })
    }

    fn __repr__(&self) -> String {
        format!("WorldState(scenario={:?}, step={}, {} values)", self.scenario, self.state.step, self.state.values.len())
    }
}

/// The observations of a batch as `{field: ndarray[B, *shape] float32}` and back.
fn observations_from_arrays(spec: &Arc<ObservationSpec>, observation: &Bound<'_, PyAny>) -> PyResult<Vec<Observation>> {
    let dict = observation.cast::<PyDict>().map_err(|_| PyTypeError::new_err("observation: expected a dict of arrays"))?;
    let mut fields: Vec<Vec<Vec<f32>>> = Vec::new();
    let mut b = None;
    for field in &spec.fields {
        let value = dict.get_item(&field.name)?.ok_or_else(|| PyValueError::new_err(format!("observation: no field {:?}", field.name)))?;
        let array: numpy::PyReadonlyArrayDyn<'_, f32> =
            value.extract().map_err(|_| PyTypeError::new_err(format!("observation[{:?}]: expected a float32 array", field.name)))?;
        let view = array.as_array();
        let rows = view.shape().first().copied().unwrap_or(0);
        if view.len() != rows * field.len() || b.is_some_and(|b| b != rows) {
            return Err(PyValueError::new_err(format!(
                "observation[{:?}]: expected shape (B, {:?}), got {:?}",
                field.name,
                field.shape,
                view.shape()
            )));
        }
        b = Some(rows);
        let flat: Vec<f32> = view.iter().copied().collect();
        fields.push(flat.chunks(field.len().max(1)).map(<[f32]>::to_vec).collect());
    }
    let mut images: Vec<Vec<ImageData>> = Vec::new();
    for image in &spec.images {
        let value = dict.get_item(&image.name)?.ok_or_else(|| PyValueError::new_err(format!("observation: no image {:?}", image.name)))?;
        let expected = |got: &[usize]| {
            PyValueError::new_err(format!("observation[{:?}]: expected shape (B, {:?}), got {got:?}", image.name, image.shape()))
        };
        let wrong_type = || PyTypeError::new_err(format!("observation[{:?}]: expected a {} array", image.name, image.dtype.name()));
        macro_rules! rows_of {
            ($t:ty, $variant:ident) => {{
                let array: numpy::PyReadonlyArrayDyn<'_, $t> = value.extract().map_err(|_| wrong_type())?;
                let view = array.as_array();
                let rows = view.shape().first().copied().unwrap_or(0);
                if view.shape().get(1..) != Some(&image.shape()[..]) || b.is_some_and(|b| b != rows) {
                    return Err(expected(view.shape()));
                }
                b = Some(rows);
                let flat: Vec<$t> = view.iter().copied().collect();
                flat.chunks(image.len().max(1)).map(|c| ImageData::$variant(c.to_vec())).collect::<Vec<_>>()
            }};
        }
        images.push(match image.dtype {
            PixelType::U8 => rows_of!(u8, U8),
            PixelType::U16 => rows_of!(u16, U16),
            PixelType::F32 => rows_of!(f32, F32),
        });
    }
    let b = b.unwrap_or(0);
    Ok((0..b)
        .map(|i| Observation {
            spec: spec.clone(),
            fields: fields.iter().map(|f| f.get(i).cloned().unwrap_or_default()).collect(),
            images: images.iter().map(|im| im[i].clone()).collect(),
        })
        .collect())
}

/// dreamrig's Rust baselines and controllers as a batched Python callable:
/// `BuiltinPolicy(name, scenario)` with `name` one of `zero`, `random`, `auto`, `lqr`, `reach`,
/// `navigate`, `push` (as `dreamrig run --policy` takes it). Call it with
/// `{field: ndarray[B, *shape] float32}`; it returns float64 `[B, A]`. Row i is served by its
/// own policy instance; `reset(seeds)` starts B episodes.
#[pyclass(module = "dreamrig._dreamrig")]
struct BuiltinPolicy {
    name: String,
    config: Arc<ScenarioConfig>,
    observation: Arc<ObservationSpec>,
    action: ActionSpec,
    policies: Mutex<Vec<Box<dyn Policy>>>,
}

impl BuiltinPolicy {
    fn ensure(&self, policies: &mut Vec<Box<dyn Policy>>, b: usize) -> PyResult<()> {
        while policies.len() < b {
            let policy = dreamrig_policies::zoo::by_name(&self.name, &self.config, &self.observation, &self.action)
                .map_err(|e| PolicyError::new_err(e.to_string()))?;
            policies.push(policy);
        }
        Ok(())
    }
}

#[pymethods]
impl BuiltinPolicy {
    #[new]
    #[pyo3(signature = (name, scenario, dynamics = None))]
    fn new(name: &str, scenario: &str, dynamics: Option<&str>) -> PyResult<Self> {
        guard(|| {
            let known = ["zero", "random", "auto", "lqr", "reach", "navigate", "push"];
            if !known.contains(&name) {
                return Err(PyValueError::new_err(format!("name: expected one of {}, got {name:?}", known.join(", "))));
            }
            let scenario = load_scenario(scenario, dynamics)?;
            let world = dreamrig_sim::PhysicsWorld::new(scenario.config.clone());
            use dreamrig_sim::World;
            let (observation, action) = (world.observation_spec().clone(), world.action_spec().clone());
            let first = dreamrig_policies::zoo::by_name(name, &scenario.config, &observation, &action)
                .map_err(|e| PolicyError::new_err(e.to_string()))?;
            Ok(Self { name: name.into(), config: scenario.config.clone(), observation, action, policies: Mutex::new(vec![first]) })
        })
    }

    /// Starts B episodes: row i's policy derives its randomness from `seeds[i]`.
    fn reset(&self, seeds: Vec<u64>) -> PyResult<()> {
        guard(|| {
            let mut policies = self.policies.lock().unwrap_or_else(|p| p.into_inner());
            self.ensure(&mut policies, seeds.len())?;
            policies.iter_mut().zip(&seeds).for_each(|(p, s)| p.reset(*s));
            Ok(())
        })
    }

    fn __call__<'py>(&self, py: Python<'py>, observation: &Bound<'py, PyAny>) -> PyResult<Bound<'py, numpy::PyArray2<f64>>> {
        guard(|| {
            let rows = observations_from_arrays(&self.observation, observation)?;
            let mut policies = self.policies.lock().unwrap_or_else(|p| p.into_inner());
            self.ensure(&mut policies, rows.len())?;
            let mut out = Vec::with_capacity(rows.len() * self.action.len());
            for (policy, row) in policies.iter_mut().zip(&rows) {
                out.extend(policy.act(row).map_err(|e| PolicyError::new_err(e.to_string()))?);
            }
            out.into_pyarray(py).reshape([rows.len(), self.action.len()])
        })
    }
}

/// Resolves `module:callable` (the attribute path may be dotted) by importing the module.
fn import_callable(py: Python<'_>, reference: &str) -> Result<Py<PyAny>, String> {
    let (module, attribute) = reference.split_once(':').ok_or_else(|| format!("expected module:callable, got {reference:?}"))?;
    let mut object = py.import(module).map_err(|e| format!("cannot import {module}: {e}"))?.into_any();
    for part in attribute.split('.') {
        object = object.getattr(part).map_err(|e| format!("{module} has no {attribute}: {e}"))?;
    }
    if !object.is_callable() {
        return Err(format!("{reference} is not callable"));
    }
    Ok(object.unbind())
}

/// Runs a spec's `python:` policies, and the callables given to `evaluate(policies=...)`.
struct PythonHost {
    given: HashMap<String, Py<PyAny>>,
}

impl PythonHost {
    fn resolve(&self, policy: &str, reference: &str) -> Result<Py<PyAny>, RustPolicyError> {
        Python::attach(|py| match self.given.get(policy) {
            Some(callable) => Ok(callable.clone_ref(py)),
            None => import_callable(py, reference).map_err(|reason| RustPolicyError::Failed { policy: policy.into(), reason }),
        })
    }
}

impl ExternalPolicies for PythonHost {
    fn check(&self, policy: &str, reference: &str) -> Result<(), RustPolicyError> {
        self.resolve(policy, reference).map(|_| ())
    }

    fn batch(
        &self,
        policy: &str,
        reference: &str,
        observation: &Arc<ObservationSpec>,
        action: &ActionSpec,
    ) -> Result<Box<dyn BatchPolicy>, RustPolicyError> {
        Ok(Box::new(PythonBatch {
            name: policy.into(),
            callable: self.resolve(policy, reference)?,
            observation: observation.clone(),
            action: action.len(),
            last: Vec::new(),
            reset_error: None,
        }))
    }
}

/// A Python callable serving a lock-step batch of B episodes: one call per batch step with
/// `{field: ndarray[B, *shape] float32}`, returning `[B, A]` actions. Rows of episodes that
/// already ended repeat their last observation, and their actions are ignored.
struct PythonBatch {
    name: String,
    callable: Py<PyAny>,
    observation: Arc<ObservationSpec>,
    action: usize,
    last: Vec<Option<Observation>>,
    reset_error: Option<String>,
}

impl PythonBatch {
    fn failed(&self, reason: impl Into<String>) -> RustPolicyError {
        RustPolicyError::Failed { policy: self.name.clone(), reason: reason.into() }
    }
}

impl BatchPolicy for PythonBatch {
    fn reset(&mut self, seeds: &[u64]) {
        self.last = vec![None; seeds.len()];
        self.reset_error = Python::attach(|py| {
            let callable = self.callable.bind(py);
            match callable.hasattr("reset") {
                Ok(true) => callable.call_method1("reset", (seeds.to_vec(),)).err().map(|e| format!("reset: {e}")),
                _ => None,
            }
        });
    }

    fn act(&mut self, observations: &[Option<&Observation>]) -> Result<Vec<Option<Vec<f64>>>, RustPolicyError> {
        if let Some(e) = self.reset_error.take() {
            return Err(self.failed(e));
        }
        self.last.resize(observations.len(), None);
        for (slot, o) in self.last.iter_mut().zip(observations) {
            if let Some(o) = o {
                *slot = Some((*o).clone());
            }
        }
        // An episode whose reset failed never had an observation: its row is zeros, and it
        // gets no action (the engine already ended it).
        let zeros = Observation {
            spec: self.observation.clone(),
            fields: self.observation.fields.iter().map(|f| vec![0.0; f.len()]).collect(),
            images: self.observation.images.iter().map(ImageData::zeros).collect(),
        };
        let rows: Vec<&Observation> = self.last.iter().map(|o| o.as_ref().unwrap_or(&zeros)).collect();
        let b = rows.len();
        let actions: Vec<f64> = Python::attach(|py| -> PyResult<Vec<f64>> {
            let batch = observation_arrays(py, &self.observation, &rows)?;
            let out = self.callable.bind(py).call1((batch,))?;
            let array = py.import("numpy")?.getattr("asarray")?.call1((out, "float64"))?;
            let array: numpy::PyReadonlyArrayDyn<'_, f64> = array.extract()?;
            let view = array.as_array();
            if view.shape() != [b, self.action] {
                return Err(PyValueError::new_err(format!(
                    "returned actions of shape {:?}; expected ({b}, {})",
                    view.shape(),
                    self.action
                )));
            }
            Ok(view.iter().copied().collect())
        })
        .map_err(|e| self.failed(e.to_string()))?;
        Ok(observations.iter().enumerate().map(|(i, o)| o.map(|_| actions[i * self.action..(i + 1) * self.action].to_vec())).collect())
    }
}

/// `dreamrig eval` from Python. See `dreamrig.evaluate` for the arguments; returns the summary
/// rows as JSON text (one object per scenario × policy) and whether the run was interrupted.
#[pyfunction]
#[pyo3(signature = (spec, out, policies = None, threads = None, resume = false, dynamics = None, seed = None, progress = true, record_dataset = None))]
#[allow(clippy::too_many_arguments)]
fn evaluate(
    py: Python<'_>,
    spec: PathBuf,
    out: PathBuf,
    policies: Option<Bound<'_, PyDict>>,
    threads: Option<usize>,
    resume: bool,
    dynamics: Option<String>,
    seed: Option<u64>,
    progress: bool,
    record_dataset: Option<PathBuf>,
) -> PyResult<String> {
    guard(|| {
        let eval_error = |e: dreamrig_eval::EvalError| EvaluationError::new_err(e.to_string());
        let mut given = HashMap::new();
        let mut order = Vec::new();
        if let Some(policies) = &policies {
            for (name, callable) in policies.iter() {
                let name: String = name.extract().map_err(|_| PyTypeError::new_err("policies: expected a dict of name → callable"))?;
                if !callable.is_callable() {
                    return Err(PyTypeError::new_err(format!("policies[{name:?}]: expected a callable")));
                }
                order.push(name.clone());
                given.insert(name, callable.unbind());
            }
        }
        let overrides = match &dynamics {
            None => SpecOverrides::default(),
            Some(text) => SpecOverrides::for_dynamics(text).map_err(|e| PyValueError::new_err(format!("dynamics: {e}")))?,
        };
        let host = Arc::new(PythonHost { given });
        let mut loaded =
            py.detach(|| EvalSpec::load_hosted(&spec, &overrides, Some(host as Arc<dyn ExternalPolicies>))).map_err(eval_error)?;
        for name in &order {
            loaded.add_external_policy(name).map_err(eval_error)?;
        }
        if let Some(seed) = seed {
            loaded.override_seed(seed);
        }
        dreamrig_eval::check_output_folder(&out, "out").map_err(eval_error)?;
        if let Some(dir) = &record_dataset {
            dreamrig_eval::check_recorded_dataset_targets(&loaded, dir, "record_dataset").map_err(eval_error)?;
        }
        let interrupt = Arc::new(AtomicBool::new(false));
        let options = RunOptions {
            out: out.clone(),
            threads,
            resume,
            shard: None,
            interrupt: interrupt.clone(),
            show_progress: progress,
            record_frames: record_dataset.is_some(),
            videos: dreamrig_eval::runner::REPORT_VIDEOS,
            observers: None,
        };
        let outcome = run_interruptible(py, &interrupt, || dreamrig_eval::run(&loaded, &options))?.map_err(eval_error)?;
        let summaries = dreamrig_eval::write_outputs(&out, &loaded.name, &loaded.fingerprint, &outcome.entries).map_err(eval_error)?;
        if outcome.interrupted {
            return Err(PyKeyboardInterrupt::new_err(format!(
                "interrupted: {} episodes are saved in {}; call evaluate again with resume=True to finish",
                outcome.entries.len(),
                out.display()
            )));
        }
        if let Some(dir) = &record_dataset {
            dreamrig_eval::write_recorded_datasets(&loaded, &out, dir, &outcome.entries).map_err(eval_error)?;
        }
        serde_json::to_string(&summaries).map_err(|e| DreamrigError::new_err(e.to_string()))
    })
}

/// Runs `work` on another thread without the GIL while this one watches for Ctrl-C: a
/// `KeyboardInterrupt` sets `interrupt`, which the rollout engine polls, and `work` then
/// returns what it finished.
fn run_interruptible<T: Send>(py: Python<'_>, interrupt: &Arc<AtomicBool>, work: impl FnOnce() -> T + Send) -> PyResult<T> {
    use std::sync::mpsc::RecvTimeoutError;
    let (done, mut finished) = std::sync::mpsc::channel();
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let _ = done.send(std::panic::catch_unwind(AssertUnwindSafe(work)));
        });
        loop {
            // Wait for the result without the GIL (the receiver goes along: it is not `Sync`);
            // every 100 ms take the GIL back to see Ctrl-C.
            let (receiver, received) = py.detach(move || {
                let received = finished.recv_timeout(std::time::Duration::from_millis(100));
                (finished, received)
            });
            finished = receiver;
            match received {
                Ok(result) => return result.map_err(panic_error),
                Err(RecvTimeoutError::Timeout) => {
                    if py.check_signals().is_err() {
                        interrupt.store(true, Ordering::SeqCst);
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(DreamrigError::new_err("internal error in dreamrig: the evaluation thread ended without a result"))
                }
            }
        }
    })
}

/// The seed of episode `episode` of `scenario` in an evaluation with master seed `master`
/// (FNV-1a of the three; what `dreamrig eval` uses).
#[pyfunction]
fn episode_seed(master: u64, scenario: &str, episode: u32) -> u64 {
    dreamrig_eval::episode_seed(master, scenario, episode)
}

/// How far a candidate's per-policy scores order the policies as a reference's do: a dict with
/// `pearson` (r), `spearman` (ρ, average ranks for ties) and `mmrv` (mean maximum rank
/// violation, Li et al. 2024; 0 is the same order) — the measures of `dreamrig wm compare`.
/// `reference` and `candidate` hold one score per policy, in the same order.
///
/// Raises `ValueError` when the lengths differ, a score is not finite, or there are fewer than
/// two policies.
#[pyfunction]
fn rank_agreement(reference: Vec<f64>, candidate: Vec<f64>) -> PyResult<HashMap<String, f64>> {
    if reference.len() != candidate.len() {
        return Err(PyValueError::new_err(format!(
            "reference has {} scores and candidate {}: expected one per policy on each side",
            reference.len(),
            candidate.len()
        )));
    }
    if let Some(v) = reference.iter().chain(&candidate).find(|v| !v.is_finite()) {
        return Err(PyValueError::new_err(format!("a score is {v}, expected finite numbers")));
    }
    if reference.len() < 2 {
        return Err(PyValueError::new_err(format!("{} policies: a ranking needs at least 2", reference.len())));
    }
    use dreamrig_eval::compare::{mmrv, pearson, spearman};
    Ok(HashMap::from([
        ("pearson".to_string(), pearson(&reference, &candidate)),
        ("spearman".to_string(), spearman(&reference, &candidate)),
        ("mmrv".to_string(), mmrv(&reference, &candidate)),
    ]))
}

/// Panics inside Rust, to prove that a panic reaches Python as `DreamrigError` (tests only).
#[pyfunction]
fn _test_panic() -> PyResult<()> {
    guard(|| panic!("a deliberate panic"))
}

/// The shipped scenarios: `[(name, path)]`, sorted.
#[pyfunction]
fn scenarios() -> Vec<(String, String)> {
    dreamrig_sim::scenario::shipped()
        .into_iter()
        .map(|p| (p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default(), p.display().to_string()))
        .collect()
}

#[pymodule]
fn _dreamrig(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<Worlds>()?;
    m.add_class::<WorldState>()?;
    m.add_class::<BuiltinPolicy>()?;
    m.add_function(wrap_pyfunction!(evaluate, m)?)?;
    m.add_function(wrap_pyfunction!(episode_seed, m)?)?;
    m.add_function(wrap_pyfunction!(rank_agreement, m)?)?;
    m.add_function(wrap_pyfunction!(scenarios, m)?)?;
    m.add_function(wrap_pyfunction!(_test_panic, m)?)?;
    m.add("DreamrigError", py.get_type::<DreamrigError>())?;
    m.add("ScenarioError", py.get_type::<ScenarioError>())?;
    m.add("SimulationError", py.get_type::<SimulationError>())?;
    m.add("PolicyError", py.get_type::<PolicyError>())?;
    m.add("EvaluationError", py.get_type::<EvaluationError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
