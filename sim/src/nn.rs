//! The neural-network pieces dreamrig's world models and neural policies share: a plain MLP,
//! its Glorot-uniform initialization, and per-dimension mean and standard deviation for
//! normalizing its inputs and targets. candle does the tensor work; this module only fixes the
//! layout (`{prefix}layers.{i}.weight`, out × in, and `.bias`) both kinds of model store.

use candle_core::{DType, Device, Module, Tensor, Var};
use candle_nn::{linear, Linear, VarBuilder, VarMap};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// The nonlinearity between an MLP's layers (none after the last).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// Hyperbolic tangent.
    Tanh,
    /// max(0, x).
    Relu,
    /// x · sigmoid(x) (Elfwing et al. 2018).
    Silu,
}

impl Activation {
    fn apply(self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Activation::Tanh => x.tanh(),
            Activation::Relu => x.relu(),
            Activation::Silu => candle_nn::ops::silu(x),
        }
    }
}

/// A multilayer perceptron `sizes[0] → sizes[1] → … → sizes[n]`: linear layers
/// `layers.{i}` (weight out × in, bias out) with `activation` between them. Input and output are
/// f32 tensors of shape (rows, sizes[0]) and (rows, sizes[n]).
pub struct Mlp {
    layers: Vec<Linear>,
    activation: Activation,
}

impl Mlp {
    /// Reads the layers' tensors from `vb`.
    ///
    /// # Errors
    /// A candle error when a tensor is missing or has another shape.
    pub fn new(sizes: &[usize], activation: Activation, vb: VarBuilder) -> candle_core::Result<Self> {
        let layers = sizes
            .windows(2)
            .enumerate()
            .map(|(i, w)| linear(w[0], w[1], vb.pp(format!("layers.{i}"))))
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Self { layers, activation })
    }

    /// Floating-point operations of one forward pass for one input row (2 per weight).
    pub fn flops_per_row(sizes: &[usize]) -> f64 {
        sizes.windows(2).map(|w| 2.0 * (w[0] * w[1]) as f64).sum()
    }
}

impl Module for Mlp {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let mut x = xs.clone();
        for (i, layer) in self.layers.iter().enumerate() {
            x = layer.forward(&x)?;
            if i + 1 < self.layers.len() {
                x = self.activation.apply(&x)?;
            }
        }
        Ok(x)
    }
}

/// Fills `varmap` with fresh weights for an [`Mlp`] of `sizes` under `prefix` (such as
/// `member.0.`): Glorot-uniform weights U(±√(6 / (fan_in + fan_out))) (Glorot & Bengio 2010),
/// the last layer's bound multiplied by `last_layer_scale`, and zero biases. The weights are drawn
/// from `rng` layer by layer, row-major, as f64 then rounded to f32, so a seed fixes them.
///
/// # Errors
/// A candle error when a tensor cannot be made.
pub fn glorot_uniform(
    varmap: &VarMap,
    prefix: &str,
    sizes: &[usize],
    last_layer_scale: f64,
    rng: &mut ChaCha8Rng,
) -> candle_core::Result<()> {
    let device = Device::Cpu;
    let mut vars = varmap.data().lock().unwrap_or_else(|p| p.into_inner());
    let layers = sizes.len().saturating_sub(1);
    for (i, w) in sizes.windows(2).enumerate() {
        let scale = if i + 1 == layers { last_layer_scale } else { 1.0 };
        let bound = scale * (6.0 / (w[0] + w[1]) as f64).sqrt();
        let weights: Vec<f32> = (0..w[0] * w[1]).map(|_| rng.random_range(-bound..bound) as f32).collect();
        vars.insert(format!("{prefix}layers.{i}.weight"), Var::from_tensor(&Tensor::from_vec(weights, (w[1], w[0]), &device)?)?);
        vars.insert(format!("{prefix}layers.{i}.bias"), Var::from_tensor(&Tensor::zeros(w[1], DType::F32, &device)?)?);
    }
    Ok(())
}

/// Per-dimension mean and population standard deviation of `rows` (each of length `width`), in
/// one pass of sums and sums of squares in f64. No rows gives zeros.
pub fn mean_std<'a>(rows: impl Iterator<Item = &'a [f64]>, width: usize) -> (Vec<f64>, Vec<f64>) {
    let mut n = 0.0;
    let mut sum = vec![0.0; width];
    let mut sum_sq = vec![0.0; width];
    for row in rows {
        n += 1.0;
        for (i, v) in row.iter().enumerate() {
            sum[i] += v;
            sum_sq[i] += v * v;
        }
    }
    let n: f64 = f64::max(n, 1.0);
    let mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
    let std = sum_sq.iter().zip(&mean).map(|(q, m)| ((q / n - m * m).max(0.0)).sqrt()).collect();
    (mean, std)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn mean_and_std_of_known_rows() {
        let rows = [vec![1.0, 10.0], vec![3.0, 10.0]];
        let (mean, std) = mean_std(rows.iter().map(Vec::as_slice), 2);
        assert_eq!(mean, vec![2.0, 10.0]);
        assert_eq!(std, vec![1.0, 0.0]);
    }

    #[test]
    fn the_same_seed_gives_the_same_weights_within_the_glorot_bound() {
        let draw = || {
            let varmap = VarMap::new();
            glorot_uniform(&varmap, "m.", &[3, 4, 2], 0.1, &mut ChaCha8Rng::seed_from_u64(9)).unwrap();
            let data = varmap.data().lock().unwrap();
            let w = data["m.layers.0.weight"].as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let last = data["m.layers.1.weight"].as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap();
            (w, last)
        };
        let (w, last) = draw();
        assert_eq!((w.clone(), last.clone()), draw());
        assert!(w.iter().all(|v| v.abs() <= (6.0f32 / 7.0).sqrt()));
        assert!(last.iter().all(|v| v.abs() <= 0.1 * (6.0f32 / 6.0).sqrt()));
    }
}
