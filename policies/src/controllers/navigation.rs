//! Go-to-goal with lidar obstacle avoidance: lidar returns accumulate in an occupancy grid
//! (in the odometry frame) inflated by the robot's footprint; A* plans a path to the goal on
//! it, replanned as new scans arrive, and a pure-pursuit law follows the path (turn towards a
//! point 0.5 m ahead, drive when facing it, slow down near the goal).

use crate::kinematics::{base_pose, KinematicChain};
use crate::{field, require_field, Policy, PolicyError};
use dreamrig_sim::scenario::config::{ActuatorConfig, ScenarioConfig, SensorKind};
use dreamrig_sim::sensors::lidar_directions;
use dreamrig_sim::{ActionSpec, Observation, ObservationSpec};

const NAME: &str = "navigate";

/// Occupancy grid cell size in metres.
const CELL: f64 = 0.05;

/// Drives a differential-drive base to `task.goal` (x, y; odometry frame) around obstacles seen by
/// the first 2D lidar: occupancy grid of 0.05 m cells covering start and goal ± 3 m, A* replanned
/// when a new scan arrives (at most every 4 steps), pure pursuit 0.5 m ahead. Action: linear velocity
/// (m/s, up to the drive's maximum), then angular velocity (rad/s, up to 0.6 × the drive's maximum).
pub struct MapNavigator {
    lidar_field: String,
    /// Lidar origin in the base frame (x, y) and its yaw.
    lidar_offset: (f64, f64, f64),
    /// Ray directions in the lidar frame, as angles in the ground plane.
    ray_angles: Vec<f64>,
    range_max: f64,
    odometry: String,
    max_linear: f64,
    max_angular: f64,
    robot_radius: f64,
    map: Option<OccupancyMap>,
    scan_ranges: Option<Vec<f64>>,
    path: Vec<(f64, f64)>,
    steps_since_plan: u32,
}

fn failed(reason: impl Into<String>) -> PolicyError {
    PolicyError::Failed { policy: NAME.into(), reason: reason.into() }
}

/// Obstacles seen so far, on a grid around the start and the goal, inflated by the robot's
/// radius so that the robot can be planned for as a point.
struct OccupancyMap {
    origin: (f64, f64),
    width: usize,
    height: usize,
    /// Cells within the inflation radius of a seen obstacle point (a count, so points are
    /// added incrementally).
    blocked: Vec<u16>,
    /// Cells close to obstacles, where paths cost more (keeps the robot mid-gap).
    near: Vec<u16>,
    hit: Vec<bool>,
    inflation: f64,
}

impl OccupancyMap {
    fn new(start: (f64, f64), goal: (f64, f64), inflation: f64) -> Self {
        let margin = 3.0;
        let origin = (start.0.min(goal.0) - margin, start.1.min(goal.1) - margin);
        let width = (((start.0.max(goal.0) + margin) - origin.0) / CELL).ceil() as usize;
        let height = (((start.1.max(goal.1) + margin) - origin.1) / CELL).ceil() as usize;
        Self {
            origin,
            width,
            height,
            blocked: vec![0; width * height],
            near: vec![0; width * height],
            hit: vec![false; width * height],
            inflation,
        }
    }

    fn cell(&self, p: (f64, f64)) -> Option<(usize, usize)> {
        let x = ((p.0 - self.origin.0) / CELL).floor();
        let y = ((p.1 - self.origin.1) / CELL).floor();
        (x >= 0.0 && y >= 0.0 && (x as usize) < self.width && (y as usize) < self.height).then_some((x as usize, y as usize))
    }

    fn centre(&self, c: (usize, usize)) -> (f64, f64) {
        (self.origin.0 + (c.0 as f64 + 0.5) * CELL, self.origin.1 + (c.1 as f64 + 0.5) * CELL)
    }

    fn add_point(&mut self, p: (f64, f64)) {
        let Some((cx, cy)) = self.cell(p) else { return };
        let index = cy * self.width + cx;
        if self.hit[index] {
            return;
        }
        self.hit[index] = true;
        let soft = self.inflation + 0.25;
        let reach = (soft / CELL).ceil() as isize;
        for dy in -reach..=reach {
            for dx in -reach..=reach {
                let (x, y) = (cx as isize + dx, cy as isize + dy);
                if x < 0 || y < 0 || x as usize >= self.width || y as usize >= self.height {
                    continue;
                }
                let d = ((dx * dx + dy * dy) as f64).sqrt() * CELL;
                let i = y as usize * self.width + x as usize;
                if d <= self.inflation {
                    self.blocked[i] = self.blocked[i].saturating_add(1);
                } else if d <= soft {
                    self.near[i] = self.near[i].saturating_add(1);
                }
            }
        }
    }

    /// A* over 8-connected cells; blocked cells are passable only within `escape` metres of
    /// the start (so that a robot already too close to an obstacle can back away).
    fn plan(&self, start: (f64, f64), goal: (f64, f64), escape: f64) -> Option<Vec<(f64, f64)>> {
        let s = self.cell(start)?;
        let g = self.cell(goal)?;
        let n = self.width * self.height;
        let index = |c: (usize, usize)| c.1 * self.width + c.0;
        let mut cost = vec![f64::INFINITY; n];
        let mut parent = vec![usize::MAX; n];
        let mut open = std::collections::BinaryHeap::new();
        let heuristic = |c: (usize, usize)| (((c.0 as f64 - g.0 as f64).powi(2) + (c.1 as f64 - g.1 as f64).powi(2)).sqrt()) * CELL;
        cost[index(s)] = 0.0;
        open.push(std::cmp::Reverse((OrderedCost(heuristic(s)), index(s))));
        while let Some(std::cmp::Reverse((_, i))) = open.pop() {
            if i == index(g) {
                let mut path = Vec::new();
                let mut at = i;
                while at != usize::MAX {
                    path.push(self.centre((at % self.width, at / self.width)));
                    at = parent[at];
                }
                path.reverse();
                return Some(path);
            }
            let c = (i % self.width, i / self.width);
            for (dx, dy) in [(-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1)] {
                let (x, y) = (c.0 as isize + dx, c.1 as isize + dy);
                if x < 0 || y < 0 || x as usize >= self.width || y as usize >= self.height {
                    continue;
                }
                let next = (x as usize, y as usize);
                let j = index(next);
                let centre = self.centre(next);
                let near_start = ((centre.0 - start.0).powi(2) + (centre.1 - start.1).powi(2)).sqrt() < escape;
                if self.blocked[j] > 0 && !near_start {
                    continue;
                }
                let step = if dx != 0 && dy != 0 { std::f64::consts::SQRT_2 } else { 1.0 } * CELL;
                let penalty = if self.near[j] > 0 { 2.0 * CELL } else { 0.0 } + if self.blocked[j] > 0 { 10.0 * CELL } else { 0.0 };
                let candidate = cost[i] + step + penalty;
                if candidate < cost[j] {
                    cost[j] = candidate;
                    parent[j] = i;
                    open.push(std::cmp::Reverse((OrderedCost(candidate + heuristic(next)), j)));
                }
            }
        }
        None
    }
}

/// A path cost with a total order, for the A* heap.
struct OrderedCost(f64);

impl PartialEq for OrderedCost {
    fn eq(&self, other: &Self) -> bool {
        self.0.total_cmp(&other.0).is_eq()
    }
}
impl Eq for OrderedCost {}
impl PartialOrd for OrderedCost {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for OrderedCost {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

impl MapNavigator {
    /// Errors: [`PolicyError::Failed`] without a `differential_drive` actuator, a lidar with one channel,
    /// or an odometry sensor, or when the lidar's link is not connected to the root link.
    pub fn new(config: &ScenarioConfig) -> Result<Self, PolicyError> {
        let (max_linear, max_angular) = config
            .robot
            .actuators
            .iter()
            .find_map(|a| match a {
                ActuatorConfig::DifferentialDrive { max_linear_velocity, max_angular_velocity, .. } => {
                    Some((*max_linear_velocity, *max_angular_velocity))
                }
                _ => None,
            })
            .ok_or_else(|| failed("needs a differential_drive actuator"))?;
        let (lidar_name, lidar) = config
            .sensors
            .iter()
            .find_map(|s| match &s.kind {
                SensorKind::Lidar(l) if l.channels == 1 => Some((s.name.clone(), l.clone())),
                _ => None,
            })
            .ok_or_else(|| failed("needs a 2D lidar (channels: 1)"))?;
        let odometry = config
            .sensors
            .iter()
            .find(|s| matches!(s.kind, SensorKind::Odometry { .. }))
            .map(|s| s.name.clone())
            .ok_or_else(|| failed("needs an odometry sensor"))?;
        let model = &config.robot.model;
        let chain = KinematicChain::new(model, base_pose([0.0; 3], [0.0; 3]), &lidar.link)?;
        let mount = chain.forward(&vec![0.0; model.joints.len()]) * base_pose(lidar.mount.position, lidar.mount.rpy);
        let (_, _, yaw) = mount.rotation.euler_angles();
        let ray_angles = lidar_directions(&lidar).iter().map(|d| (d.y as f64).atan2(d.x as f64)).collect();
        Ok(Self {
            lidar_field: format!("{lidar_name}.ranges"),
            lidar_offset: (mount.translation.x, mount.translation.y, yaw),
            ray_angles,
            range_max: lidar.range_max,
            odometry,
            max_linear,
            max_angular,
            robot_radius: footprint_radius(config),
            map: None,
            scan_ranges: None,
            path: Vec::new(),
            steps_since_plan: 0,
        })
    }
}

/// Radius of a circle around the base origin that holds every collision shape of the robot.
fn footprint_radius(config: &ScenarioConfig) -> f64 {
    use dreamrig_sim::robot::RobotModel;
    let model: &RobotModel = &config.robot.model;
    let mut radius: f64 = 0.1;
    for link in &model.urdf.links {
        let chain = match KinematicChain::new(model, base_pose([0.0; 3], [0.0; 3]), &link.name) {
            Ok(c) => c,
            Err(_) => continue,
        };
        let pose = chain.forward(&vec![0.0; model.joints.len()]);
        for collision in &link.collision {
            let o = collision.origin.xyz.0;
            let centre = pose * nalgebra::Point3::new(o[0], o[1], o[2]);
            let extent = match &collision.geometry {
                urdf_rs::Geometry::Box { size } => 0.5 * (size[0].powi(2) + size[1].powi(2)).sqrt(),
                urdf_rs::Geometry::Sphere { radius } => *radius,
                urdf_rs::Geometry::Cylinder { radius, .. } | urdf_rs::Geometry::Capsule { radius, .. } => *radius,
                urdf_rs::Geometry::Mesh { .. } => 0.1,
            };
            radius = radius.max((centre.x.powi(2) + centre.y.powi(2)).sqrt() + extent);
        }
    }
    radius
}

use dreamrig_sim::robot::urdf_rs;

fn angle_difference(a: f64, b: f64) -> f64 {
    let d = a - b;
    d.sin().atan2(d.cos())
}

fn yaw_from_quaternion(q: &[f64]) -> f64 {
    let (w, x, y, z) = (q[0], q[1], q[2], q[3]);
    (2.0 * (w * z + x * y)).atan2(1.0 - 2.0 * (y * y + z * z))
}

impl Policy for MapNavigator {
    fn name(&self) -> &str {
        NAME
    }

    fn check(&self, observation: &ObservationSpec, action: &ActionSpec) -> Result<(), PolicyError> {
        require_field(NAME, observation, &self.lidar_field, Some(self.ray_angles.len()))?;
        require_field(NAME, observation, &format!("{}.position", self.odometry), Some(3))?;
        require_field(NAME, observation, &format!("{}.orientation", self.odometry), Some(4))?;
        require_field(NAME, observation, "task.goal", Some(3))?;
        if action.len() != 2 {
            return Err(PolicyError::SpecMismatch {
                policy: NAME.into(),
                needed: "2 actions (linear and angular velocity)".into(),
                provided: action.names.join(", "),
            });
        }
        Ok(())
    }

    fn reset(&mut self, _seed: u64) {
        self.map = None;
        self.scan_ranges = None;
        self.path.clear();
        self.steps_since_plan = 0;
    }

    fn act(&mut self, observation: &Observation) -> Result<Vec<f64>, PolicyError> {
        let ranges = field(NAME, observation, &self.lidar_field)?;
        let position = field(NAME, observation, &format!("{}.position", self.odometry))?;
        let yaw = yaw_from_quaternion(&field(NAME, observation, &format!("{}.orientation", self.odometry))?);
        let goal = field(NAME, observation, "task.goal")?;
        let here = (position[0], position[1]);
        let target = (goal[0], goal[1]);
        let inflation = self.robot_radius + 0.05;
        let map = self.map.get_or_insert_with(|| OccupancyMap::new(here, target, inflation));
        // A new scan (the lidar may run slower than the control loop): add its points.
        let mut new_scan = false;
        if self.scan_ranges.as_deref() != Some(&ranges[..]) {
            let (ox, oy, oyaw) = self.lidar_offset;
            let (c, s) = (yaw.cos(), yaw.sin());
            for (r, a) in ranges.iter().zip(&self.ray_angles) {
                if *r < self.range_max - 1e-3 {
                    let (bx, by) = (ox + r * (a + oyaw).cos(), oy + r * (a + oyaw).sin());
                    map.add_point((here.0 + c * bx - s * by, here.1 + s * bx + c * by));
                }
            }
            self.scan_ranges = Some(ranges.clone());
            new_scan = true;
        }
        let goal_distance = ((target.0 - here.0).powi(2) + (target.1 - here.1).powi(2)).sqrt();
        self.steps_since_plan += 1;
        if self.path.is_empty() || (new_scan && self.steps_since_plan >= 4) {
            if let Some(path) = map.plan(here, target, inflation + 0.1) {
                self.path = path;
            }
            self.steps_since_plan = 0;
        }
        // Follow the path: aim at the first path point 0.5 m away.
        let nearest = self
            .path
            .iter()
            .enumerate()
            .min_by(|a, b| {
                let da = (a.1 .0 - here.0).powi(2) + (a.1 .1 - here.1).powi(2);
                let db = (b.1 .0 - here.0).powi(2) + (b.1 .1 - here.1).powi(2);
                da.total_cmp(&db)
            })
            .map(|(i, _)| i)
            .unwrap_or(0);
        let aim = self.path[nearest..]
            .iter()
            .find(|p| ((p.0 - here.0).powi(2) + (p.1 - here.1).powi(2)).sqrt() >= 0.5)
            .copied()
            .unwrap_or(target);
        let heading = angle_difference((aim.1 - here.1).atan2(aim.0 - here.0), yaw);
        let w = (2.0 * heading).clamp(-0.6 * self.max_angular, 0.6 * self.max_angular);
        let facing = heading.cos().max(0.0).powi(4);
        let v = self.max_linear * facing * (goal_distance / 0.5).min(1.0);
        Ok(vec![v, w])
    }
}
