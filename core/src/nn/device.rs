//! Which LibTorch device a run trains on: `cpu`, `cuda`/`cuda:N`, or `auto` (the first GPU when there
//! is one, else the CPU). Asking for a GPU that is not there is a validation error.

use burn::tensor::Device;

use crate::error::{Error, Result};

/// How many CUDA devices LibTorch sees.
pub fn cuda_devices() -> usize {
    if tch::Cuda::is_available() { tch::Cuda::device_count().max(0) as usize } else { 0 }
}

/// The device named by `requested` (see [`crate::domain::run`]'s device names), and its resolved name.
#[allow(deprecated)] // burn-tch is the backend this project builds on (LibTorch from the torch wheel).
pub fn resolve(field: &str, requested: &str) -> Result<(Device, String)> {
    let gpus = cuda_devices();
    let index = match requested {
        "cpu" => return Ok((Device::libtorch(), "cpu".into())),
        "auto" if gpus == 0 => return Ok((Device::libtorch(), "cpu".into())),
        "auto" | "cuda" => 0,
        other => other
            .strip_prefix("cuda:")
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| Error::invalid(field, format!("unknown device {other:?}; expected cpu, auto, cuda or cuda:N")))?,
    };
    if index >= gpus {
        return Err(Error::invalid(field, format!("{requested}: LibTorch sees {gpus} CUDA device(s) on this machine")));
    }
    Ok((Device::libtorch_cuda(index), format!("cuda:{index}")))
}
