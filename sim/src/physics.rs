//! `PhysicsWorld`: the world API on rapier, with URDF robots as multibodies.

use crate::error::SimError;
use crate::randomize::{episode_rng, sample_parameters, EpisodeParameters, NOISE_STREAM};
use crate::render::CameraRig;
use crate::robot::JointKind;
use crate::scenario::config::*;
use crate::scene::{
    build_pristine, joint_coordinate, link_velocities_into, read_articulation, read_object, ColliderOwner, PristineScene, Scene,
    SceneTemplates, StateLayout,
};
use crate::sensors::{read_sensor, reads_velocities, sensor_fields, sensor_rays, SensorContext};
use crate::task::{evaluate_task, tracked_position, TaskProgress};
use crate::world::*;
use rand_chacha::ChaCha8Rng;
use rapier3d::glamx::Vec3;
use rapier3d::math::Real;
use rapier3d::prelude::*;
use std::collections::VecDeque;
use std::sync::Arc;

/// The parts of a world that do not change between episodes: specs and prebuilt templates.
pub struct WorldLayout {
    /// Observation fields: each sensor's, in scenario order, then `task.goal` and `task.tracked_position` (not for balance).
    pub observation: Arc<ObservationSpec>,
    /// One name, unit and bound pair per action value, in actuator order.
    pub action: ActionSpec,
    /// Names of the state values.
    pub state: StateSpec,
    /// Where each part of the scene sits in the state vector.
    pub state_layout: StateLayout,
    /// Index of the first observation field of each sensor.
    sensor_field_start: Vec<usize>,
    /// Per sensor: for a camera, its index among the cameras and the index of its first image.
    cameras: Vec<Option<(usize, usize)>>,
    /// Each sensor's ray directions in its own frame ([`sensor_rays`]), computed once.
    sensor_rays: Vec<Vec<Vec3>>,
    /// Whether any sensor reads link velocities (IMU, odometry) and any reads accelerations
    /// (IMU): the velocities are computed per step only then.
    reads_velocities: bool,
    reads_accelerations: bool,
}

impl WorldLayout {
    /// Derives the specs of a validated scenario: observation fields (each sensor's, in scenario
    /// order, then `task.goal` and `task.tracked_position` in m unless the task is `balance`), one
    /// action value per joint actuator (rad, m, rad/s, m/s, N·m or N by kind) and two per
    /// differential drive (m/s, rad/s), and the [`StateLayout`]. Cannot fail.
    pub fn new(config: &ScenarioConfig) -> Self {
        let mut fields = Vec::new();
        let mut images = Vec::new();
        let mut sensor_field_start = Vec::new();
        let mut cameras = Vec::new();
        let mut camera_count = 0;
        for sensor in &config.sensors {
            sensor_field_start.push(fields.len());
            fields.extend(sensor_fields(sensor, config));
            match (&sensor.kind, &config.visuals) {
                (SensorKind::Camera(camera), Some(visuals)) => {
                    cameras.push(Some((camera_count, images.len())));
                    camera_count += 1;
                    images.extend(crate::render::camera_images(&sensor.name, camera, visuals));
                }
                _ => cameras.push(None),
            }
        }
        if config.task.kind != TaskKind::Balance {
            let inf = f64::INFINITY;
            for name in ["task.goal", "task.tracked_position"] {
                fields.push(FieldSpec {
                    name: name.into(),
                    shape: vec![3],
                    unit: "m".into(),
                    element_names: vec!["x".into(), "y".into(), "z".into()],
                    low: vec![-inf; 3],
                    high: vec![inf; 3],
                });
            }
        }
        let mut action = ActionSpec::default();
        for actuator in &config.robot.actuators {
            match actuator {
                ActuatorConfig::Joint { joint, kind, command_range, .. } => {
                    let info = &config.robot.model.joints[*joint];
                    let angular = info.kind.is_angular();
                    let (suffix, unit) = match (kind, angular) {
                        (JointActuatorKind::Position, true) => ("position", "rad"),
                        (JointActuatorKind::Position, false) => ("position", "m"),
                        (JointActuatorKind::Velocity, true) => ("velocity", "rad/s"),
                        (JointActuatorKind::Velocity, false) => ("velocity", "m/s"),
                        (JointActuatorKind::Torque, true) => ("effort", "N·m"),
                        (JointActuatorKind::Torque, false) => ("effort", "N"),
                    };
                    action.names.push(format!("{}.{suffix}", info.name));
                    action.units.push(unit.into());
                    action.low.push(command_range.0);
                    action.high.push(command_range.1);
                }
                ActuatorConfig::DifferentialDrive { max_linear_velocity, max_angular_velocity, .. } => {
                    action.names.extend(["base.linear_velocity".to_string(), "base.angular_velocity".to_string()]);
                    action.units.extend(["m/s".to_string(), "rad/s".to_string()]);
                    action.low.extend([-max_linear_velocity, -max_angular_velocity]);
                    action.high.extend([*max_linear_velocity, *max_angular_velocity]);
                }
            }
        }
        let state_layout = StateLayout::new(config);
        Self {
            observation: Arc::new(ObservationSpec { fields, images }),
            action,
            state: StateSpec { names: state_layout.names.clone() },
            state_layout,
            sensor_field_start,
            cameras,
            sensor_rays: config.sensors.iter().map(sensor_rays).collect(),
            reads_velocities: config.sensors.iter().any(reads_velocities),
            reads_accelerations: config.sensors.iter().any(|s| matches!(s.kind, SensorKind::Imu { .. })),
        }
    }
}

struct Episode {
    params: EpisodeParameters,
    /// The episode's scene as built, never stepped: reset and every state written copy it.
    pristine: PristineScene,
    scene: Scene,
    step: u64,
    noise: ChaCha8Rng,
    pending: VecDeque<Vec<f64>>,
    progress: TaskProgress,
    done: bool,
    /// Last reading of each observation field (sensors hold values between updates).
    readings: Vec<Vec<f32>>,
    /// Last image of each camera output (cameras hold their images between updates).
    images: Vec<ImageData>,
    efforts: Vec<f64>,
    /// Link velocities now and at the start of the last control step (see
    /// [`WorldLayout::reads_velocities`]), buffers reused every step.
    velocities: Vec<(RigidBodyHandle, Vec3, Vec3)>,
    previous_velocities: Vec<(RigidBodyHandle, Vec3, Vec3)>,
    /// Generalized positions and velocities of the robot read when actuating, reused every step.
    scratch_positions: Vec<f64>,
    scratch_velocities: Vec<f64>,
}

/// A world simulated by rapier.
pub struct PhysicsWorld {
    config: Arc<ScenarioConfig>,
    templates: SceneTemplates,
    layout: WorldLayout,
    episode: Option<Episode>,
    /// Renders the cameras, when the scenario has any.
    cameras: Option<CameraRig>,
}

impl PhysicsWorld {
    /// A rapier world for `config`, with the robot's and URDF objects' multibody templates built
    /// once; it has no episode until [`World::reset`]. Cannot fail (the config is validated).
    pub fn new(config: Arc<ScenarioConfig>) -> Self {
        let templates = SceneTemplates::new(&config);
        let layout = WorldLayout::new(&config);
        let cameras = config.visuals.clone().map(CameraRig::new);
        Self { config, templates, layout, episode: None, cameras }
    }

    /// The validated scenario this world simulates.
    pub fn config(&self) -> &Arc<ScenarioConfig> {
        &self.config
    }

    /// The rapier scene of the current episode, for inspection.
    pub fn scene(&self) -> Option<&Scene> {
        self.episode.as_ref().map(|e| &e.scene)
    }

    /// The action that holds the robot still: position actuators at their initial targets.
    fn default_action(&self, params: &EpisodeParameters) -> Vec<f64> {
        let mut action = Vec::with_capacity(self.layout.action.len());
        for actuator in &self.config.robot.actuators {
            match actuator {
                ActuatorConfig::Joint { joint, kind: JointActuatorKind::Position, command_range, .. } => {
                    action.push(params.initial_joints[*joint].clamp(command_range.0, command_range.1))
                }
                ActuatorConfig::Joint { .. } => action.push(0.0),
                ActuatorConfig::DifferentialDrive { .. } => action.extend([0.0, 0.0]),
            }
        }
        action
    }

    fn episode(&self) -> Result<&Episode, SimError> {
        self.episode.as_ref().ok_or(SimError::NotReset)
    }

    fn state_values(&self, scene: &Scene) -> Vec<f64> {
        let mut positions = Vec::with_capacity(self.layout.state_layout.len);
        let mut velocities = Vec::new();
        read_articulation(&scene.rapier, &scene.robot, &mut positions, &mut velocities);
        for object in &scene.objects {
            read_object(&scene.rapier, object, &mut positions, &mut velocities);
        }
        positions.extend(velocities);
        positions
    }

    /// Applies the episode's action to the actuators: motor targets for position and velocity
    /// actuators, body torques for torque actuators. Writes the effort each joint will apply to
    /// `episode.efforts`.
    fn apply_action(config: &ScenarioConfig, episode: &mut Episode, action: &[f64]) {
        let Episode { scene, params, efforts, scratch_positions: positions, scratch_velocities: velocities, .. } = episode;
        let gain = params.actuator_gain_scale;
        let Scene { rapier, robot, .. } = scene;
        efforts.clear();
        efforts.resize(config.robot.model.joints.len(), 0.0);
        positions.clear();
        velocities.clear();
        read_articulation(rapier, robot, positions, velocities);
        let (oq, ov) = if robot.floating { (7, 6) } else { (0, 0) };
        for body in robot.links.values() {
            if let Some(b) = rapier.bodies.get_mut(*body) {
                b.reset_forces(false);
                b.reset_torques(false);
            }
        }
        let mut cursor = 0;
        for actuator in &config.robot.actuators {
            match actuator {
                ActuatorConfig::Joint { joint, kind, effort_limit, kp, kd, .. } => {
                    let command = action[cursor];
                    cursor += 1;
                    let slot = &robot.joints[*joint];
                    let axis = if slot.kind == JointKind::Prismatic { JointAxis::LinX } else { JointAxis::AngX };
                    let limit = effort_limit * gain;
                    let (q, qd) = (positions[oq + joint], velocities[ov + joint]);
                    match kind {
                        JointActuatorKind::Position | JointActuatorKind::Velocity => {
                            let (target_position, target_velocity, stiffness, damping) = match kind {
                                JointActuatorKind::Position => (command, 0.0, kp * gain, kd * gain),
                                _ => (0.0, command, 0.0, kd * gain),
                            };
                            efforts[*joint] = (stiffness * (target_position - q) + damping * (target_velocity - qd)).clamp(-limit, limit);
                            if let Some(multibody) = robot.multibody_mut(rapier) {
                                let data = &mut multibody.link_mut(slot.link_id).expect("joint link").joint.data;
                                data.set_motor_model(axis, MotorModel::ForceBased);
                                data.set_motor(axis, target_position as Real, target_velocity as Real, stiffness as Real, damping as Real);
                                data.set_motor_max_force(axis, limit as Real);
                            }
                        }
                        JointActuatorKind::Torque => {
                            // A weaker motor (gain < 1) delivers that share of the commanded,
                            // limited torque.
                            let torque = command.clamp(-effort_limit, *effort_limit) * gain;
                            efforts[*joint] = torque;
                            apply_joint_effort(rapier, robot, slot, torque);
                        }
                    }
                }
                ActuatorConfig::DifferentialDrive { left, right, wheel_radius, wheel_separation, effort_limit, kd, .. } => {
                    let (v, w) = (action[cursor], action[cursor + 1]);
                    cursor += 2;
                    let targets = [
                        (*left, (v - w * wheel_separation / 2.0) / wheel_radius),
                        (*right, (v + w * wheel_separation / 2.0) / wheel_radius),
                    ];
                    for (joint, target) in targets {
                        let slot = &robot.joints[joint];
                        let limit = effort_limit * gain;
                        efforts[joint] = (kd * gain * (target - velocities[ov + joint])).clamp(-limit, limit);
                        if let Some(multibody) = robot.multibody_mut(rapier) {
                            let data = &mut multibody.link_mut(slot.link_id).expect("joint link").joint.data;
                            data.set_motor_model(JointAxis::AngX, MotorModel::ForceBased);
                            data.set_motor_velocity(JointAxis::AngX, target as Real, (kd * gain) as Real);
                            data.set_motor_max_force(JointAxis::AngX, limit as Real);
                        }
                    }
                }
            }
        }
    }

    /// Reads the sensors due at this step (all with `force_all`) and renders the cameras due.
    ///
    /// # Errors
    /// [`SimError::Render`] when a camera cannot render.
    fn observe_episode(
        config: &ScenarioConfig,
        layout: &WorldLayout,
        episode: &mut Episode,
        mut cameras: Option<&mut CameraRig>,
        force_all: bool,
    ) -> Result<Observation, SimError> {
        if layout.reads_velocities {
            link_velocities_into(&episode.scene.rapier, &episode.scene.robot, &mut episode.velocities);
        }
        let context = SensorContext {
            velocities: &episode.velocities,
            gravity: Vec3::new(config.world.gravity[0] as Real, config.world.gravity[1] as Real, config.world.gravity[2] as Real),
            control_period: config.timing.control_period(),
            previous_velocities: &episode.previous_velocities,
            joint_efforts: &episode.efforts,
            noise_scale: episode.params.sensor_noise_scale,
        };
        let mut placed = false;
        for (((sensor, start), rays), camera) in
            config.sensors.iter().zip(&layout.sensor_field_start).zip(&layout.sensor_rays).zip(&layout.cameras)
        {
            if force_all || episode.step % sensor.period_steps as u64 == 0 {
                if let (SensorKind::Camera(c), Some((index, first)), Some(rig)) = (&sensor.kind, camera, cameras.as_deref_mut()) {
                    if !placed {
                        rig.update(&episode.scene, &episode.params);
                        placed = true;
                    }
                    let images = &mut episode.images[*first..];
                    rig.render(c, *index, &episode.scene, &episode.params, &config.world.lighting, episode.step, images)?;
                    continue;
                }
                let values = read_sensor(sensor, rays, &episode.scene, &context, &mut episode.noise);
                for (k, v) in values.into_iter().enumerate() {
                    episode.readings[start + k] = v;
                }
            }
        }
        if config.task.kind != TaskKind::Balance {
            let n = episode.readings.len();
            let tracked = tracked_position(config, &episode.scene);
            episode.readings[n - 2] = episode.params.goal.iter().map(|v| *v as f32).collect();
            episode.readings[n - 1] = tracked.iter().map(|v| *v as f32).collect();
        }
        Ok(Observation { spec: layout.observation.clone(), fields: episode.readings.clone(), images: episode.images.clone() })
    }

    fn record_velocities(layout: &WorldLayout, episode: &mut Episode) {
        if layout.reads_accelerations {
            link_velocities_into(&episode.scene.rapier, &episode.scene.robot, &mut episode.previous_velocities);
        }
    }

    /// First part of a step: checks and clips the action, passes it through the latency
    /// queue and sets the actuators. Returns the clipped action (what the task scores).
    pub(crate) fn begin_step(&mut self, action: &[f64]) -> Result<Vec<f64>, SimError> {
        check_action(&self.layout.action, action)?;
        let episode = self.episode.as_mut().ok_or(SimError::NotReset)?;
        if episode.done {
            return Err(SimError::EpisodeOver);
        }
        let clipped: Vec<f64> =
            action.iter().zip(self.layout.action.low.iter().zip(&self.layout.action.high)).map(|(a, (lo, hi))| a.clamp(*lo, *hi)).collect();
        episode.pending.push_back(clipped.clone());
        let applied = episode.pending.pop_front().expect("just pushed");
        Self::record_velocities(&self.layout, episode);
        Self::apply_action(&self.config, episode, &applied);
        Ok(clipped)
    }

    /// Runs the physics substeps of one control period; true when the robot touched an
    /// obstacle.
    /// A solver that meets a non-finite value inside rapier (which asserts on some) leaves the
    /// episode unusable: it ends as [`SimError::Diverged`], naming the first state value that
    /// went non-finite where one did, instead of unwinding through the caller.
    pub(crate) fn advance(&mut self) -> Result<bool, SimError> {
        let Some(episode) = self.episode.as_mut() else { return Ok(false) };
        let mut collision = false;
        let mut failure = None;
        for _ in 0..self.config.timing.substeps {
            hold_mimic_joints(&self.config, &mut episode.scene);
            let stepped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| episode.scene.rapier.step()));
            if let Err(payload) = stepped {
                episode.done = true;
                failure = Some(
                    payload
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| payload.downcast_ref::<String>().cloned())
                        .unwrap_or_default(),
                );
                break;
            }
            collision |= touches_obstacle(&episode.scene);
        }
        let Some(message) = failure else { return Ok(collision) };
        let episode = self.episode.as_ref().expect("episode exists");
        let state = self.state_values(&episode.scene);
        Err(SimError::Diverged {
            time: (episode.step + 1) as f64 * self.config.timing.control_period(),
            step: episode.step + 1,
            detail: match state.iter().position(|v| !v.is_finite()) {
                Some(i) => format!("{} is {} (rapier stopped: {message})", self.layout.state.names[i], state[i]),
                None => format!("rapier's solver stopped on a non-finite value ({message})"),
            },
        })
    }

    /// Last part of a step: counts it, checks the state, reads the sensors and scores the task.
    pub(crate) fn finish_step(&mut self, clipped: &[f64], collision: bool) -> Result<StepResult, SimError> {
        let episode = self.episode.as_mut().ok_or(SimError::NotReset)?;
        episode.step += 1;
        let episode = self.episode.as_ref().expect("episode exists");
        self.check_finite(episode)?;
        let episode = self.episode.as_mut().expect("episode exists");
        let observation = Self::observe_episode(&self.config, &self.layout, episode, self.cameras.as_mut(), false)?;
        let outcome = evaluate_task(&self.config, &episode.scene, &episode.params, &mut episode.progress, clipped, collision, episode.step);
        episode.done = outcome.terminated || outcome.truncated;
        Ok(StepResult {
            observation,
            reward: outcome.reward,
            terminated: outcome.terminated,
            truncated: outcome.truncated,
            info: StepInfo {
                time: episode.step as f64 * self.config.timing.control_period(),
                step: episode.step,
                success: outcome.success,
                collision,
                goal_distance: outcome.goal_distance,
                end_reason: outcome.end_reason,
                clearance: if self.config.task.kind == TaskKind::Navigate { obstacle_clearance(&episode.scene) } else { None },
                model_disagreement: None,
            },
        })
    }

    /// The dynamic state of the current episode as a flat vector ([`World::state_spec`]).
    pub fn state_values_now(&self) -> Result<Vec<f64>, SimError> {
        Ok(self.state_values(&self.episode()?.scene))
    }

    /// Replaces the actions waiting in the latency queue (oldest first): a hybrid world keeps
    /// the actions itself and hands them to its prior each step.
    pub(crate) fn set_pending_actions(&mut self, pending: Vec<Vec<f64>>) -> Result<(), SimError> {
        let episode = self.episode.as_mut().ok_or(SimError::NotReset)?;
        episode.pending = pending.into();
        Ok(())
    }

    /// Moves the current episode to the dynamic state `values`, keeping its step count,
    /// latency queue, task progress and noise stream (what a world model predicts is the
    /// dynamic state only).
    pub(crate) fn replace_state_values(&mut self, values: &[f64]) -> Result<(), SimError> {
        let expected = self.layout.state_layout.len;
        if values.len() != expected {
            return Err(SimError::StateLength { expected, got: values.len() });
        }
        let episode = self.episode.as_mut().ok_or(SimError::NotReset)?;
        if let Some(index) = values.iter().position(|v| !v.is_finite()) {
            return Err(SimError::Diverged {
                time: (episode.step + 1) as f64 * self.config.timing.control_period(),
                step: episode.step + 1,
                detail: format!("the world model predicted {} = {}", self.layout.state.names[index], values[index]),
            });
        }
        episode.scene = episode.pristine.instantiate(&self.layout.state_layout, Some(values));
        Ok(())
    }

    /// The action that holds the robot still in the current episode (what a latency queue
    /// starts filled with).
    pub fn hold_action(&self) -> Result<Vec<f64>, SimError> {
        Ok(self.default_action(&self.episode()?.params))
    }

    /// Checks a state given from outside: one value per state value, all finite.
    fn check_state_values(&self, values: &[f64]) -> Result<(), SimError> {
        let expected = self.layout.state_layout.len;
        if values.len() != expected {
            return Err(SimError::StateLength { expected, got: values.len() });
        }
        if let Some(index) = values.iter().position(|v| !v.is_finite()) {
            return Err(SimError::StateNotFinite { index, name: self.layout.state.names[index].clone(), value: values[index] });
        }
        Ok(())
    }

    fn check_finite(&self, episode: &Episode) -> Result<(), SimError> {
        let values = self.state_values(&episode.scene);
        if let Some(index) = values.iter().position(|v| !v.is_finite()) {
            return Err(SimError::Diverged {
                time: episode.step as f64 * self.config.timing.control_period(),
                step: episode.step,
                detail: format!("{} is {}", self.layout.state.names[index], values[index]),
            });
        }
        Ok(())
    }
}

/// Applies a joint force or torque as equal and opposite wrenches on the two links it joins.
fn apply_joint_effort(
    rapier: &mut rapier3d::pipeline::PhysicsWorld,
    robot: &crate::scene::Articulation,
    slot: &crate::scene::JointSlot,
    effort: f64,
) {
    let Some(multibody) = robot.multibody(rapier) else { return };
    let Some(link) = multibody.link(slot.link_id) else { return };
    let frame = link.joint().data.local_frame2;
    let child_pose = *rapier.bodies[slot.child].position();
    let axis = child_pose.rotation * (frame.rotation * Vec3::X);
    let wrench = axis * effort as Real;
    let angular = slot.kind != JointKind::Prismatic;
    for (body, sign) in [(slot.child, 1.0), (slot.parent, -1.0)] {
        if let Some(b) = rapier.bodies.get_mut(body) {
            if angular {
                b.add_torque(wrench * sign, false);
            } else {
                b.add_force(wrench * sign, false);
            }
        }
    }
}

impl World for PhysicsWorld {
    fn reset(&mut self, seed: u64) -> Result<(Observation, StepInfo), SimError> {
        let params = sample_parameters(&self.config, seed);
        let pristine = build_pristine(&self.config, &self.templates, &params)?;
        let scene = pristine.instantiate(&self.layout.state_layout, None);
        let latency = params.action_latency_steps as usize;
        let default_action = self.default_action(&params);
        let mut episode = Episode {
            pristine,
            pending: std::iter::repeat_n(default_action.clone(), latency).collect(),
            scene,
            step: 0,
            noise: episode_rng(seed, NOISE_STREAM),
            progress: TaskProgress::default(),
            done: false,
            readings: self.layout.observation.fields.iter().map(|f| vec![0.0; f.len()]).collect(),
            images: self.layout.observation.images.iter().map(ImageData::zeros).collect(),
            efforts: vec![0.0; self.config.robot.model.joints.len()],
            velocities: Vec::new(),
            previous_velocities: Vec::new(),
            scratch_positions: Vec::new(),
            scratch_velocities: Vec::new(),
            params,
        };
        Self::record_velocities(&self.layout, &mut episode);
        // Position actuators hold the initial pose from the first instant.
        Self::apply_action(&self.config, &mut episode, &default_action);
        episode.efforts.fill(0.0);
        let observation = Self::observe_episode(&self.config, &self.layout, &mut episode, self.cameras.as_mut(), true)?;
        let goal_distance = (self.config.task.kind != TaskKind::Balance).then(|| {
            let tracked = tracked_position(&self.config, &episode.scene);
            crate::task::distance(&tracked, &episode.params.goal, self.config.task.kind)
        });
        episode.progress.previous_distance = goal_distance;
        self.episode = Some(episode);
        Ok((observation, StepInfo { goal_distance, ..StepInfo::default() }))
    }

    fn step(&mut self, action: &[f64]) -> Result<StepResult, SimError> {
        let clipped = self.begin_step(action)?;
        let collision = self.advance()?;
        self.finish_step(&clipped, collision)
    }

    fn step_to(&mut self, action: &[f64], next: &[f64]) -> Result<StepResult, SimError> {
        self.check_state_values(next)?;
        let clipped = self.begin_step(action)?;
        self.replace_state_values(next)?;
        let collision = self.scene().and_then(obstacle_clearance).is_some_and(|c| c <= 1e-3);
        self.finish_step(&clipped, collision)
    }

    fn observation_spec(&self) -> &Arc<ObservationSpec> {
        &self.layout.observation
    }

    fn action_spec(&self) -> &ActionSpec {
        &self.layout.action
    }

    fn state_spec(&self) -> &StateSpec {
        &self.layout.state
    }

    fn state(&self) -> Result<WorldState, SimError> {
        let episode = self.episode()?;
        Ok(WorldState {
            values: self.state_values(&episode.scene),
            step: episode.step,
            pending_actions: episode.pending.iter().cloned().collect(),
            action_history: Vec::new(),
            success_streak: episode.progress.success_streak,
            noise: NoiseState { seed: episode.params.seed, word_pos: episode.noise.get_word_pos() },
        })
    }

    fn set_state(&mut self, state: &WorldState) -> Result<(), SimError> {
        self.check_state_values(&state.values)?;
        let episode = self.episode.as_mut().ok_or(SimError::NotReset)?;
        // A copy of the episode's never-stepped scene, rather than an edit of the current one,
        // leaves no solver cache behind, so the future depends on the state alone.
        episode.scene = episode.pristine.instantiate(&self.layout.state_layout, Some(&state.values));
        episode.step = state.step;
        episode.pending = state.pending_actions.iter().cloned().collect();
        episode.progress.success_streak = state.success_streak;
        episode.noise = episode_rng(state.noise.seed, NOISE_STREAM);
        episode.noise.set_word_pos(state.noise.word_pos);
        episode.done = false;
        Self::record_velocities(&self.layout, episode);
        let tracked = tracked_position(&self.config, &episode.scene);
        episode.progress.previous_distance = (self.config.task.kind != TaskKind::Balance)
            .then(|| crate::task::distance(&tracked, &episode.params.goal, self.config.task.kind));
        Ok(())
    }

    fn observe(&mut self) -> Result<Observation, SimError> {
        let episode = self.episode.as_mut().ok_or(SimError::NotReset)?;
        Self::observe_episode(&self.config, &self.layout, episode, self.cameras.as_mut(), true)
    }

    fn control_period(&self) -> f64 {
        self.config.timing.control_period()
    }

    fn parameters(&self) -> Option<&EpisodeParameters> {
        self.episode.as_ref().map(|e| &e.params)
    }

    fn link_poses(&self) -> Vec<crate::LinkPose> {
        let Some(episode) = &self.episode else { return Vec::new() };
        let scene = &episode.scene;
        self.config
            .robot
            .model
            .links
            .iter()
            .filter_map(|name| {
                let body = scene.rapier.bodies.get(*scene.robot.links.get(name)?)?;
                let pose = body.position();
                let (t, q) = (pose.translation, pose.rotation);
                Some(crate::LinkPose {
                    link: name.clone(),
                    translation: [t.x as f64, t.y as f64, t.z as f64],
                    rotation_xyzw: [q.x as f64, q.y as f64, q.z as f64, q.w as f64],
                })
            })
            .collect()
    }
}

/// Smallest distance between the robot and any obstacle (0 when touching), or `None` when
/// the scene has no obstacles.
pub fn obstacle_clearance(scene: &Scene) -> Option<f64> {
    let robot: Vec<&Collider> = scene
        .owners
        .iter()
        .filter(|(_, o)| matches!(o, ColliderOwner::RobotLink(_)))
        .filter_map(|(h, _)| scene.rapier.colliders.get(*h))
        .collect();
    let mut best: Option<f64> = None;
    for (handle, owner) in &scene.owners {
        if !matches!(owner, ColliderOwner::Obstacle(_)) {
            continue;
        }
        let Some(obstacle) = scene.rapier.colliders.get(*handle) else { continue };
        for link in &robot {
            if let Ok(d) = rapier3d::parry::query::distance(link.position(), link.shape(), obstacle.position(), obstacle.shape()) {
                let d = d.distance as f64;
                best = Some(best.map_or(d, |b: f64| b.min(d)));
            }
        }
    }
    best
}

/// Whether a robot link is in contact with an obstacle: the contact graph's edges at each
/// obstacle collider only, so a scene without obstacles costs nothing and one with a few walks a
/// few pairs, not every contact of the scene.
pub fn touches_obstacle(scene: &Scene) -> bool {
    scene.obstacle_colliders.iter().any(|obstacle| {
        scene.rapier.narrow_phase.contact_pairs_with(*obstacle).any(|pair| {
            let other = if pair.collider1 == *obstacle { pair.collider2 } else { pair.collider1 };
            matches!(scene.owners.get(&other), Some(ColliderOwner::RobotLink(_))) && pair.has_any_active_contact()
        })
    })
}

/// Stiffness of the motor that holds a `<mimic>` follower on its leader, in acceleration
/// units (1/s²): rapier solves it implicitly, so it stays stable at any step, and an error of
/// ε rad needs an acceleration of this × ε to persist.
const MIMIC_STIFFNESS: Real = 1.0e8;

/// Points each `<mimic>` follower's motor at `multiplier × leader + offset` (and its velocity at
/// `multiplier × leader velocity`) for the next physics substep, the leader's position taken
/// at the substep's end by its current velocity. The motor is
/// acceleration-based and unbounded in force, as a gear or linkage is; critically damped.
fn hold_mimic_joints(config: &ScenarioConfig, scene: &mut Scene) {
    let model = &config.robot.model;
    if model.joints.iter().all(|j| j.mimic.is_none()) {
        return;
    }
    let Scene { rapier, robot, .. } = scene;
    let dt = config.timing.physics_dt;
    let Some(multibody) = robot.multibody_mut(rapier) else { return };
    let velocities = multibody.generalized_velocity().clone_owned();
    for (slot, joint) in robot.joints.iter().zip(&model.joints) {
        let Some(mimic) = joint.mimic else { continue };
        let leader = &robot.joints[mimic.leader];
        let q = joint_coordinate(multibody.link(leader.link_id).expect("joint link").joint()) as f64;
        let qd = velocities[leader.dof] as f64;
        let axis = if slot.kind == JointKind::Prismatic { JointAxis::LinX } else { JointAxis::AngX };
        let data = &mut multibody.link_mut(slot.link_id).expect("joint link").joint.data;
        data.set_motor_model(axis, MotorModel::AccelerationBased);
        let damping = 2.0 * MIMIC_STIFFNESS.sqrt();
        // Aim where the leader will be at the end of the substep, not where it was at its start.
        let target = mimic.multiplier * (q + qd * dt) + mimic.offset;
        data.set_motor(axis, target as Real, (mimic.multiplier * qd) as Real, MIMIC_STIFFNESS, damping);
        data.set_motor_max_force(axis, Real::MAX);
    }
}
