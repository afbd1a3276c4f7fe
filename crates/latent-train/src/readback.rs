//! Values read back from a device to the host.

use burn::tensor::Tensor;

use crate::error::{Result, TrainError};

/// The values of `t`, row after row, as f32.
pub fn values<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>> {
    t.try_into_vec_as::<f32>()
        .map_err(|e| TrainError::ReadBack(format!("{e:?}")))
}

/// The values of `t`, row after row, as f64.
pub fn values_f64<const D: usize>(t: Tensor<D>) -> Result<Vec<f64>> {
    Ok(values(t)?.into_iter().map(f64::from).collect())
}

/// The one value of `t`.
pub fn scalar(t: Tensor<1>) -> Result<f64> {
    t.try_into_scalar::<f32>()
        .map(f64::from)
        .map_err(|e| TrainError::ReadBack(format!("{e:?}")))
}
