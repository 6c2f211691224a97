//! Many worlds stepped at once, in parallel with rayon. Each world runs on one thread at a
//! time and owns all its state, so the results do not depend on the number of threads.

use crate::error::SimError;
use crate::world::{Observation, StepInfo, StepResult, World};
use rayon::prelude::*;

pub struct BatchWorld<W: World> {
    worlds: Vec<W>,
}

impl<W: World> BatchWorld<W> {
    pub fn new(worlds: Vec<W>) -> Self {
        Self { worlds }
    }

    pub fn len(&self) -> usize {
        self.worlds.len()
    }

    pub fn is_empty(&self) -> bool {
        self.worlds.is_empty()
    }

    pub fn worlds(&self) -> &[W] {
        &self.worlds
    }

    pub fn worlds_mut(&mut self) -> &mut [W] {
        &mut self.worlds
    }

    /// Resets world `i` with `seeds[i]`.
    pub fn reset(&mut self, seeds: &[u64]) -> Result<Vec<(Observation, StepInfo)>, SimError> {
        if seeds.len() != self.worlds.len() {
            return Err(SimError::BatchSize { expected: self.worlds.len(), got: seeds.len() });
        }
        self.worlds.par_iter_mut().zip(seeds.par_iter()).map(|(w, s)| w.reset(*s)).collect()
    }

    /// Steps world `i` with `actions[i]`; each world's result is independent of the others'.
    pub fn step(&mut self, actions: &[Vec<f64>]) -> Vec<Result<StepResult, SimError>> {
        if actions.len() != self.worlds.len() {
            let error = SimError::BatchSize { expected: self.worlds.len(), got: actions.len() };
            return vec![Err(error); self.worlds.len().max(1)];
        }
        self.worlds.par_iter_mut().zip(actions.par_iter()).map(|(w, a)| w.step(a)).collect()
    }
}
