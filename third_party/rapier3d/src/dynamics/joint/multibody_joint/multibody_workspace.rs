use crate::alloc_prelude::*;
use crate::dynamics::RigidBodyVelocity;
use crate::math::{DVector, Real};

/// A temporary workspace for various updates of the multibody.
#[cfg_attr(feature = "serde-serialize", derive(Serialize, Deserialize))]
#[derive(Clone, Debug)]
pub(crate) struct MultibodyWorkspace {
    pub accs: Vec<RigidBodyVelocity<Real>>,
    pub ndofs_vec: DVector,
    /// Generalized forces from positions and external inputs (`update_acceleration`).
    pub pos_forces: DVector,
    /// All generalized forces, before the solve (`update_acceleration`).
    pub gen_forces: DVector,
    /// The energy guard's velocities, forces, position forces, accelerations, `M a` and `M v`,
    /// in the kinematic-reduced ordering.
    pub guard: [DVector; 6],
}

impl MultibodyWorkspace {
    /// Create an empty workspace.
    pub fn new() -> Self {
        MultibodyWorkspace {
            accs: Vec::new(),
            ndofs_vec: DVector::zeros(0),
            pos_forces: DVector::zeros(0),
            gen_forces: DVector::zeros(0),
            guard: core::array::from_fn(|_| DVector::zeros(0)),
        }
    }

    /// `buffer` with `n` rows: unchanged (no allocation) when it already has them, else zeroed.
    pub fn sized(buffer: &mut DVector, n: usize) {
        if buffer.len() != n {
            *buffer = DVector::zeros(n);
        }
    }

    /// Resize the workspace so it is enough for `nlinks` links.
    pub fn resize(&mut self, nlinks: usize, ndofs: usize) {
        self.accs.resize(nlinks, RigidBodyVelocity::zero());
        self.ndofs_vec = DVector::zeros(ndofs)
    }
}
