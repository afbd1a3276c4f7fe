//! Moving small results between the device and the host.

use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::error::{ModelError, Result};

/// A float tensor's values as f64, row-major.
pub(crate) fn to_f64<const D: usize>(tensor: Tensor<D>) -> Result<Vec<f64>> {
    tensor
        .try_into_vec_as::<f32>()
        .map(|v| v.into_iter().map(f64::from).collect())
        .map_err(|e| ModelError::Device(format!("{e:?}")))
}

/// An integer tensor's values.
pub(crate) fn to_i64<const D: usize>(tensor: Tensor<D, Int>) -> Result<Vec<i64>> {
    tensor
        .try_into_vec_as::<i64>()
        .map_err(|e| ModelError::Device(format!("{e:?}")))
}

/// A `[rows, cols]` float tensor from row-major f64 values.
pub(crate) fn matrix(values: &[f64], rows: usize, cols: usize, device: &Device) -> Tensor<2> {
    let values: Vec<f32> = values.iter().map(|v| *v as f32).collect();
    Tensor::from_data(TensorData::new(values, [rows, cols]), device)
}

/// A `[len]` float tensor from f64 values.
pub(crate) fn vector(values: &[f64], device: &Device) -> Tensor<1> {
    let values: Vec<f32> = values.iter().map(|v| *v as f32).collect();
    let len = values.len();
    Tensor::from_data(TensorData::new(values, [len]), device)
}
