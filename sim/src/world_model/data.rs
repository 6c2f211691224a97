//! Logged episodes as world models train on them: state/action trajectories, episode choice
//! and the training/validation split by episode.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// One logged episode: `states[t]` is the state before `actions[t]`; the last state has no
/// action after it.
#[derive(Debug, Clone, PartialEq)]
pub struct Trajectory {
    /// Index of the episode in its dataset.
    pub episode_index: u64,
    /// The episode's seed (its randomized parameters and goal in the nominal scenario).
    pub seed: u64,
    /// Full world state at each frame ([`crate::world::WorldState::values`]: one value per state name).
    pub states: Vec<Vec<f64>>,
    /// Action taken at each frame, one value per action name; `actions[t]` is applied in `states[t]`.
    pub actions: Vec<Vec<f64>>,
}

impl Trajectory {
    /// Transitions (state, action, next state) in the trajectory: `min(states − 1, actions)`.
    pub fn transitions(&self) -> usize {
        self.states.len().saturating_sub(1).min(self.actions.len())
    }
}

/// `count` episodes drawn at random with `seed` (all of them when there are no more), kept in
/// their logged order. Datasets recorded by `dreamrig eval` are grouped by policy, so the first
/// N episodes would hold only the first policies' behaviour.
pub fn choose_episodes(trajectories: Vec<Trajectory>, count: usize, seed: u64) -> Vec<Trajectory> {
    if count >= trajectories.len() {
        return trajectories;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut order: Vec<usize> = (0..trajectories.len()).collect();
    crate::seed::shuffle(&mut order, &mut rng);
    let mut keep = vec![false; trajectories.len()];
    for &i in &order[..count] {
        keep[i] = true;
    }
    trajectories.into_iter().zip(keep).filter_map(|(t, k)| k.then_some(t)).collect()
}

/// Splits `count` episodes into training and validation sets (indices) as [`train`] does with
/// the same seed.
pub fn split_by_episode(count: usize, fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    split(count, fraction, &mut ChaCha8Rng::seed_from_u64(seed))
}

fn split(count: usize, fraction: f64, rng: &mut ChaCha8Rng) -> (Vec<usize>, Vec<usize>) {
    let mut order: Vec<usize> = (0..count).collect();
    crate::seed::shuffle(&mut order, rng);
    let validation = if count >= 2 { ((count as f64 * fraction).round() as usize).clamp(1, count - 1) } else { 0 };
    let mut val: Vec<usize> = order[..validation].to_vec();
    let mut train: Vec<usize> = order[validation..].to_vec();
    val.sort_unstable();
    train.sort_unstable();
    (train, val)
}
