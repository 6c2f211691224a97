//! Factorizations of a multibody's joint-space mass matrices whose storage is reused from one
//! solver substep to the next, so that refactoring allocates nothing once the multibody's size
//! is known.

use crate::alloc_prelude::*;
use crate::math::Real;
use na::allocator::Allocator;
use na::constraint::{SameNumberOfRows, ShapeConstraint};
use na::{Cholesky, DMatrix, DMatrixView, DefaultAllocator, Dim, Dyn, Matrix, StorageMut};

/// An LU factorization with partial (row) pivoting, computed in place into storage kept across
/// calls to [`DenseLu::factor`].
///
/// It performs exactly the operations of `nalgebra::LU::new` and `LU::solve_mut` (same pivot
/// choice, same Gauss steps, same triangular solves), so its results are bit-identical to
/// theirs; only the allocations are gone.
#[cfg_attr(feature = "serde-serialize", derive(Serialize, Deserialize))]
#[derive(Clone, Debug)]
pub struct DenseLu {
    /// `L` (unit diagonal, below) and `U` (on and above the diagonal), packed.
    lu: DMatrix<Real>,
    /// Row swapped with row `i` at step `i` (`i` itself when no swap happened).
    pivots: Vec<usize>,
}

impl Default for DenseLu {
    fn default() -> Self {
        Self {
            lu: DMatrix::zeros(0, 0),
            pivots: Vec::new(),
        }
    }
}

impl DenseLu {
    /// Factorizes the square matrix `m`, reusing this factorization's storage (it allocates only
    /// when `m`'s size differs from the previous one).
    pub fn factor(&mut self, m: DMatrixView<'_, Real>) {
        let n = m.nrows();
        assert_eq!(n, m.ncols(), "LU: the matrix must be square.");
        if self.lu.shape() != (n, n) {
            self.lu = DMatrix::zeros(n, n);
        }
        self.lu.copy_from(&m);
        self.pivots.clear();
        for i in 0..n {
            let piv = self.lu.view_range(i.., i).icamax() + i;
            let diag = self.lu[(piv, i)];
            if diag == 0.0 {
                // No non-zero entry in this column: nothing to eliminate.
                self.pivots.push(i);
                continue;
            }
            if piv != i {
                self.pivots.push(piv);
                self.lu.columns_range_mut(..i).swap_rows(i, piv);
                na::linalg::gauss_step_swap(&mut self.lu, diag, i, piv);
            } else {
                self.pivots.push(i);
                na::linalg::gauss_step(&mut self.lu, diag, i);
            }
        }
    }

    /// Solves `A x = b` in place (`b` becomes `x`), `A` the last matrix factorized. Returns
    /// `false` when `A` is singular (then `b` holds garbage), as `nalgebra::LU::solve_mut` does.
    pub fn solve_mut<R2: Dim, C2: Dim, S2>(&self, b: &mut Matrix<Real, R2, C2, S2>) -> bool
    where
        S2: StorageMut<Real, R2, C2>,
        ShapeConstraint: SameNumberOfRows<R2, Dyn>,
    {
        assert_eq!(
            self.lu.nrows(),
            b.nrows(),
            "LU solve matrix dimension mismatch."
        );
        for (i, &piv) in self.pivots.iter().enumerate() {
            if piv != i {
                b.swap_rows(i, piv);
            }
        }
        let _ = self.lu.solve_lower_triangular_with_diag_mut(b, 1.0);
        self.lu.solve_upper_triangular_mut(b)
    }
}

/// The factorization of a multibody's joint-space mass matrix (with armature, and the implicit
/// damping and spring terms on its diagonal): Cholesky, since that matrix is symmetric
/// positive-definite, with an LU fallback for a matrix that is not (a massless, inertia-free
/// chain), so that such a multibody behaves as it did with LU alone.
///
/// The storage of both is kept across calls to [`MassFactorization::factor`]: refactoring the
/// matrix every substep allocates nothing once the multibody's size is known. Once a matrix has
/// not been positive-definite, the multibody stays on LU (which also solves positive-definite
/// systems), since `Cholesky::new` drops its storage when it fails.
#[cfg_attr(feature = "serde-serialize", derive(Serialize, Deserialize))]
#[derive(Clone, Debug)]
pub struct MassFactorization {
    /// The Cholesky factor, when the last matrix was positive-definite and `lu_only` is false.
    cholesky: Option<Cholesky<Real, Dyn>>,
    /// Set when a matrix was not positive-definite: every later factorization is LU.
    lu_only: bool,
    /// The fallback, used when `cholesky` is `None`.
    lu: DenseLu,
}

impl Default for MassFactorization {
    fn default() -> Self {
        Self {
            cholesky: None,
            lu_only: false,
            lu: DenseLu::default(),
        }
    }
}

impl MassFactorization {
    /// Factorizes the square, symmetric matrix `m` (its lower triangle is read), reusing this
    /// factorization's storage.
    pub fn factor(&mut self, m: DMatrixView<'_, Real>) {
        let n = m.nrows();
        if self.lu_only {
            self.lu.factor(m);
            return;
        }
        let mut storage = match self.cholesky.take() {
            Some(cholesky) => cholesky.unpack_dirty(),
            None => DMatrix::zeros(n, n), // The first factorization.
        };
        if storage.shape() != (n, n) {
            storage = DMatrix::zeros(n, n);
        }
        storage.copy_from(&m);
        // `Cholesky::new` consumes its storage even when it fails (the matrix is then not
        // positive-definite): from then on this multibody uses LU only.
        self.cholesky = Cholesky::new(storage);
        if self.cholesky.is_none() {
            self.lu_only = true;
            self.lu.factor(m);
        }
    }

    /// Whether the last matrix factorized was positive-definite (Cholesky was used, not LU).
    pub fn is_cholesky(&self) -> bool {
        self.cholesky.is_some()
    }

    /// Solves `M x = b` in place (`b` becomes `x`), `M` the last matrix factorized. Returns
    /// `false` when `M` was singular (then `b` holds garbage).
    pub fn solve_mut<R2: Dim, C2: Dim, S2>(&self, b: &mut Matrix<Real, R2, C2, S2>) -> bool
    where
        S2: StorageMut<Real, R2, C2>,
        ShapeConstraint: SameNumberOfRows<R2, Dyn>,
        DefaultAllocator: Allocator<Dyn, Dyn>,
    {
        match &self.cholesky {
            Some(cholesky) => {
                // nalgebra's Cholesky solve indexes without bounds checks: check the size here.
                assert_eq!(
                    cholesky.l_dirty().nrows(),
                    b.nrows(),
                    "Cholesky solve matrix dimension mismatch."
                );
                cholesky.solve_mut(b);
                true
            }
            None => self.lu.solve_mut(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spd(n: usize) -> DMatrix<Real> {
        let a = DMatrix::from_fn(n, n, |i, j| {
            ((i * 7 + j * 3) % 5) as Real * 0.3 + if i == j { 1.0 } else { 0.0 }
        });
        &a * a.transpose() + DMatrix::identity(n, n)
    }

    #[test]
    fn dense_lu_matches_nalgebra_lu_bit_for_bit() {
        let m = DMatrix::from_fn(6, 6, |i, j| {
            ((i * 5 + j * 11) % 7) as Real - 3.0 + if i == j { 0.5 } else { 0.0 }
        });
        let mut lu = DenseLu::default();
        lu.factor(m.view((0, 0), (6, 6)));
        let reference = na::LU::new(m.clone());
        let b = na::DVector::from_fn(6, |i, _| i as Real - 2.5);
        let (mut x, mut y) = (b.clone(), b.clone());
        assert!(lu.solve_mut(&mut x));
        assert!(reference.solve_mut(&mut y));
        assert_eq!(x, y);
    }

    #[test]
    fn mass_factorization_solves_spd_systems_and_reuses_its_storage() {
        let mut f = MassFactorization::default();
        for n in [3, 3, 7, 7] {
            let m = spd(n);
            f.factor(m.view((0, 0), (n, n)));
            assert!(f.is_cholesky());
            let b = na::DVector::from_fn(n, |i, _| 1.0 + i as Real);
            let mut x = b.clone();
            assert!(f.solve_mut(&mut x));
            assert!((&m * &x - &b).amax() < 1.0e-3);
        }
    }

    #[test]
    fn mass_factorization_falls_back_to_lu_when_not_positive_definite() {
        let m = DMatrix::from_row_slice(2, 2, &[0.0, 1.0, 1.0, 0.0]);
        let mut f = MassFactorization::default();
        f.factor(m.view((0, 0), (2, 2)));
        assert!(!f.is_cholesky());
        let mut x = na::DVector::from_row_slice(&[2.0, 3.0]);
        assert!(f.solve_mut(&mut x));
        assert_eq!(x.as_slice(), &[3.0, 2.0]);
        // It stays on LU, even for a positive-definite matrix, and still solves it.
        let m = spd(2);
        f.factor(m.view((0, 0), (2, 2)));
        assert!(!f.is_cholesky());
        let b = na::DVector::from_row_slice(&[1.0, -1.0]);
        let mut x = b.clone();
        assert!(f.solve_mut(&mut x));
        assert!((&m * &x - &b).amax() < 1.0e-4);
    }
}
