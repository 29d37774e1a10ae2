//! Training samples as the network takes them: flat `f32` inputs of one shape, and class or value
//! targets; batches of them as tensors.

use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::network::Activation;

/// What the model learns.
#[derive(Debug, Clone, PartialEq)]
pub enum Targets {
    /// A class index per sample.
    Classes(Vec<i64>),
    /// `width` values per sample.
    Values { values: Vec<f32>, width: usize },
}

/// Inputs of one shape and their targets.
#[derive(Debug, Clone, PartialEq)]
pub struct Samples {
    /// `len × sample_len` values.
    pub inputs: Vec<f32>,
    /// One sample's shape: `[C, H, W]` or `[F]`.
    pub shape: Vec<usize>,
    pub targets: Targets,
    /// Integer token ids into an embedding rather than values.
    pub tokens: bool,
}

/// How inputs were standardised before training (tabular data), kept with the saved model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Standardise {
    pub mean: Vec<f32>,
    pub scale: Vec<f32>,
}

impl Samples {
    pub fn sample_len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn len(&self) -> usize {
        self.inputs.len() / self.sample_len().max(1)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The inputs of samples `idx` as one batch on `device`.
    pub fn batch(&self, idx: &[usize], device: &Device) -> Activation {
        let d = self.sample_len();
        let mut values = Vec::with_capacity(idx.len() * d);
        for &i in idx {
            values.extend_from_slice(&self.inputs[i * d..(i + 1) * d]);
        }
        batch_of(values, idx.len(), &self.shape, self.tokens, device)
    }

    /// Like [`Samples::batch`], with each image moved by its `(rows, columns)` shift (vacated pixels
    /// are zero). Only image samples (`[C, H, W]`) can be shifted.
    pub fn shifted_batch(&self, idx: &[usize], shifts: &[(i64, i64)], device: &Device) -> Activation {
        let [c, h, w] = self.shape[..] else { return self.batch(idx, device) };
        let d = c * h * w;
        let mut values = vec![0.0f32; idx.len() * d];
        for (b, (&i, &(dy, dx))) in idx.iter().zip(shifts).enumerate() {
            let src = &self.inputs[i * d..(i + 1) * d];
            let dst = &mut values[b * d..(b + 1) * d];
            for ch in 0..c {
                for y in 0..h as i64 {
                    let sy = y - dy;
                    if sy < 0 || sy >= h as i64 {
                        continue;
                    }
                    for x in 0..w as i64 {
                        let sx = x - dx;
                        if sx >= 0 && sx < w as i64 {
                            dst[ch * h * w + (y as usize) * w + x as usize] = src[ch * h * w + (sy as usize) * w + sx as usize];
                        }
                    }
                }
            }
        }
        batch_of(values, idx.len(), &self.shape, self.tokens, device)
    }

    /// The class targets of samples `idx` (panics for value targets).
    pub fn class_batch(&self, idx: &[usize], device: &Device) -> Tensor<1, Int> {
        let Targets::Classes(labels) = &self.targets else { panic!("class targets expected") };
        let v: Vec<i64> = idx.iter().map(|&i| labels[i]).collect();
        Tensor::from_data(TensorData::new(v, [idx.len()]), device)
    }

    /// The value targets of samples `idx` (panics for class targets).
    pub fn value_batch(&self, idx: &[usize], device: &Device) -> Tensor<2> {
        let Targets::Values { values, width } = &self.targets else { panic!("value targets expected") };
        let mut v = Vec::with_capacity(idx.len() * width);
        for &i in idx {
            v.extend_from_slice(&values[i * width..(i + 1) * width]);
        }
        Tensor::from_data(TensorData::new(v, [idx.len(), *width]), device)
    }
}

/// A batch of `n` flat samples of `shape` as the network's input.
pub fn batch_of(values: Vec<f32>, n: usize, shape: &[usize], tokens: bool, device: &Device) -> Activation {
    match (shape, tokens) {
        ([c, h, w], _) => Activation::Image(Tensor::from_data(TensorData::new(values, [n, *c, *h, *w]), device)),
        ([t], true) => {
            let ids: Vec<i64> = values.iter().map(|v| *v as i64).collect();
            Activation::Tokens(Tensor::from_data(TensorData::new(ids, [n, *t]), device))
        }
        _ => Activation::Matrix(Tensor::from_data(TensorData::new(values, [n, shape.iter().product::<usize>()]), device)),
    }
}
