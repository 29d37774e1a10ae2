//! A checked layer list as a burn module: one block per layer, run in order, the activation's rank
//! following the layers (images `[N, C, H, W]`, vectors `[N, F]`, token ids `[N, T]` into an
//! embedding, sequences `[N, T, E]`).

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, AvgPool2d, AvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{
    BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Embedding, EmbeddingConfig, Gelu, LayerNorm, LayerNormConfig, Linear, LinearConfig,
    PaddingConfig2d, Relu, Sigmoid, Tanh, activation::SiLU,
};
use burn::tensor::{Device, Int, Tensor, TensorData, activation};

use super::architecture::{Architecture, Layer, Padding};
use super::libtorch_grads;
use crate::data::split::SplitMix64;
use crate::error::{Error, Result};

/// Flattens everything after the batch dimension.
#[derive(Module, Debug, Default)]
pub struct Flatten;

/// Softmax over the last dimension.
#[derive(Module, Debug, Default)]
pub struct Softmax;

/// `body(x) + shortcut(x)` (an empty shortcut is the identity).
#[derive(Module, Debug)]
pub struct Residual {
    pub body: Vec<Block>,
    pub shortcut: Vec<Block>,
}

/// Branches on the same input, joined on channels.
#[derive(Module, Debug)]
pub struct Concat {
    pub branches: Vec<Vec<Block>>,
}

/// Squeeze-and-excitation: per-channel weights from the pooled image.
#[derive(Module, Debug)]
pub struct SqueezeExcite {
    pub reduce: Linear,
    pub expand: Linear,
}

impl SqueezeExcite {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [n, c, _, _] = x.dims();
        let squeezed: Tensor<2> = x.clone().mean_dim(3).mean_dim(2).reshape([n, c]);
        let weights = activation::sigmoid(self.expand.forward(activation::relu(self.reduce.forward(squeezed))));
        x * weights.reshape([n, c, 1, 1])
    }
}

/// One layer.
#[derive(Module, Debug)]
pub enum Block {
    Conv2d(Conv2d),
    MaxPool2d(MaxPool2d),
    AvgPool2d(AvgPool2d),
    AdaptiveAvgPool2d(AdaptiveAvgPool2d),
    BatchNorm(BatchNorm),
    Linear(Linear),
    Dropout(Dropout),
    LayerNorm(LayerNorm),
    Embedding(Embedding),
    Relu(Relu),
    Gelu(Gelu),
    Tanh(Tanh),
    Sigmoid(Sigmoid),
    Flatten(Flatten),
    Softmax(Softmax),
    Silu(SiLU),
    Residual(Residual),
    Concat(Concat),
    SqueezeExcite(SqueezeExcite),
}

/// The model: its blocks in order.
#[derive(Module, Debug)]
pub struct Network {
    pub blocks: Vec<Block>,
}

/// An activation between blocks.
#[derive(Debug, Clone)]
pub enum Activation {
    Image(Tensor<4>),
    Matrix(Tensor<2>),
    Sequence(Tensor<3>),
    Tokens(Tensor<2, Int>),
}

impl Activation {
    fn kind(&self) -> &'static str {
        match self {
            Self::Image(_) => "an image batch [N, C, H, W]",
            Self::Matrix(_) => "a matrix [N, F]",
            Self::Sequence(_) => "a sequence batch [N, T, E]",
            Self::Tokens(_) => "token ids [N, T]",
        }
    }
}

fn pad2(p: (u64, u64)) -> PaddingConfig2d {
    match p {
        (0, 0) => PaddingConfig2d::Valid,
        (r, c) => PaddingConfig2d::Explicit(r as usize, c as usize, r as usize, c as usize),
    }
}

fn pair(p: (u64, u64)) -> [usize; 2] {
    [p.0 as usize, p.1 as usize]
}

/// The blocks of `layers`, with fresh weights.
fn blocks(layers: &[Layer], device: &Device) -> Vec<Block> {
    layers
        .iter()
        .map(|layer| match layer {
            Layer::Conv2d { in_channels, out_channels, kernel_size, stride, padding, bias, groups } => Block::Conv2d(
                Conv2dConfig::new([*in_channels as usize, *out_channels as usize], pair(*kernel_size))
                    .with_stride(pair(*stride))
                    .with_padding(match padding {
                        Padding::Same => PaddingConfig2d::Same,
                        Padding::Explicit(r, c) => pad2((*r, *c)),
                    })
                    .with_bias(*bias)
                    .with_groups(*groups as usize)
                    .init(device),
            ),
            Layer::Maxpool2d { kernel_size, stride, padding } => {
                Block::MaxPool2d(MaxPool2dConfig::new(pair(*kernel_size)).with_strides(pair(*stride)).with_padding(pad2(*padding)).init())
            }
            Layer::Avgpool2d { kernel_size, stride, padding } => {
                Block::AvgPool2d(AvgPool2dConfig::new(pair(*kernel_size)).with_strides(pair(*stride)).with_padding(pad2(*padding)).init())
            }
            Layer::AdaptiveAvgpool2d { output_size } => Block::AdaptiveAvgPool2d(AdaptiveAvgPool2dConfig::new(pair(*output_size)).init()),
            Layer::Batchnorm2d { num_features } => Block::BatchNorm(BatchNormConfig::new(*num_features as usize).init(device)),
            Layer::Linear { in_features, out_features, bias } => {
                Block::Linear(LinearConfig::new(*in_features as usize, *out_features as usize).with_bias(*bias).init(device))
            }
            Layer::Dropout { p } => Block::Dropout(DropoutConfig::new(*p).init()),
            Layer::Layernorm { normalized_shape } => Block::LayerNorm(LayerNormConfig::new(*normalized_shape as usize).init(device)),
            Layer::Embedding { num_embeddings, embedding_dim } => {
                Block::Embedding(EmbeddingConfig::new(*num_embeddings as usize, *embedding_dim as usize).init(device))
            }
            Layer::Relu => Block::Relu(Relu::new()),
            Layer::Gelu => Block::Gelu(Gelu::new()),
            Layer::Tanh => Block::Tanh(Tanh::new()),
            Layer::Sigmoid => Block::Sigmoid(Sigmoid::new()),
            Layer::Silu => Block::Silu(SiLU::new()),
            Layer::Flatten => Block::Flatten(Flatten),
            Layer::Softmax => Block::Softmax(Softmax),
            Layer::Residual { layers, shortcut } => {
                Block::Residual(Residual { body: blocks(layers, device), shortcut: blocks(shortcut, device) })
            }
            Layer::Concat { branches } => Block::Concat(Concat { branches: branches.iter().map(|b| blocks(b, device)).collect() }),
            Layer::SqueezeExcite { channels, reduced } => {
                let (c, r) = (*channels as usize, *reduced as usize);
                Block::SqueezeExcite(SqueezeExcite {
                    reduce: LinearConfig::new(c, r).init(device),
                    expand: LinearConfig::new(r, c).init(device),
                })
            }
        })
        .collect()
}

impl Network {
    /// Builds the blocks of a checked architecture on `device`, with fresh weights (PyTorch's
    /// default initialisations: Kaiming-uniform with bound 1/√fan_in for convolutions and linears).
    pub fn new(architecture: &Architecture, device: &Device) -> Self {
        Self { blocks: blocks(&architecture.layers, device) }
    }

    /// Whether the last block is a softmax (its scores are probabilities).
    pub fn ends_in_softmax(&self) -> bool {
        matches!(self.blocks.last(), Some(Block::Softmax(_)))
    }

    /// Runs every block but a final softmax: the scores a cross-entropy loss takes. Dropout is off.
    pub fn forward_logits(&self, input: Activation) -> Result<Tensor<2>> {
        self.scores(input, None)
    }

    /// [`Network::forward_logits`] while training: dropout masks are drawn from `rng`, the run's own
    /// generator, so concurrent runs never take each other's random numbers.
    pub fn forward_train(&self, input: Activation, rng: &mut SplitMix64) -> Result<Tensor<2>> {
        self.scores(input, Some(rng))
    }

    fn scores(&self, input: Activation, rng: Option<&mut SplitMix64>) -> Result<Tensor<2>> {
        let n = self.blocks.len() - usize::from(self.ends_in_softmax());
        match run(input, &self.blocks[..n], rng)? {
            Activation::Matrix(x) => Ok(x),
            other => Err(Error::invalid("architecture.layers", format!("the model ends in {}, not a matrix of scores", other.kind()))),
        }
    }

    /// Runs every block (probabilities when the model ends in a softmax).
    pub fn forward(&self, input: Activation) -> Result<Tensor<2>> {
        let logits = self.forward_logits(input)?;
        Ok(if self.ends_in_softmax() { activation::softmax(logits, 1) } else { logits })
    }
}

/// Runs `blocks` in order on `x`; dropout draws from `rng` while training.
fn run(mut x: Activation, blocks: &[Block], mut rng: Option<&mut SplitMix64>) -> Result<Activation> {
    use Activation as A;
    for (i, block) in blocks.iter().enumerate() {
        if let (Block::Dropout(d), Some(rng)) = (block, rng.as_deref_mut()) {
            x = match x {
                A::Image(t) => A::Image(dropout(t, d.prob, rng)),
                A::Matrix(t) => A::Matrix(dropout(t, d.prob, rng)),
                A::Sequence(t) => A::Sequence(dropout(t, d.prob, rng)),
                A::Tokens(_) => {
                    return Err(Error::invalid(format!("architecture.layers[{i}]"), "token ids must go into an embedding first"));
                }
            };
            continue;
        }
        x = match (block, x) {
            (Block::Residual(m), x) => add(i, run(x.clone(), &m.body, rng.as_deref_mut())?, run(x, &m.shortcut, rng.as_deref_mut())?)?,
            (Block::Concat(m), x) => {
                let outs = m.branches.iter().map(|b| run(x.clone(), b, rng.as_deref_mut())).collect::<Result<Vec<_>>>()?;
                join(i, outs)?
            }
            (Block::SqueezeExcite(m), A::Image(t)) => A::Image(m.forward(t)),
            (Block::Conv2d(m), A::Image(t)) => A::Image(libtorch_grads::conv2d(m, t)),
            (Block::MaxPool2d(m), A::Image(t)) => A::Image(m.forward(t)),
            (Block::AvgPool2d(m), A::Image(t)) => A::Image(m.forward(t)),
            (Block::AdaptiveAvgPool2d(m), A::Image(t)) => A::Image(m.forward(t)),
            (Block::BatchNorm(m), A::Image(t)) => A::Image(m.forward(t)),
            (Block::Linear(m), A::Matrix(t)) => A::Matrix(m.forward(t)),
            (Block::Linear(m), A::Sequence(t)) => A::Sequence(m.forward(t)),
            (Block::LayerNorm(m), A::Matrix(t)) => A::Matrix(m.forward(t)),
            (Block::LayerNorm(m), A::Sequence(t)) => A::Sequence(m.forward(t)),
            (Block::Embedding(m), A::Tokens(t)) => A::Sequence(m.forward(t)),
            (Block::Flatten(_), A::Image(t)) => A::Matrix(t.flatten(1, 3)),
            (Block::Flatten(_), A::Sequence(t)) => A::Matrix(t.flatten(1, 2)),
            (Block::Flatten(_), A::Matrix(t)) => A::Matrix(t),
            (b, x) => match x {
                A::Tokens(_) => {
                    return Err(Error::invalid(format!("architecture.layers[{i}]"), "token ids must go into an embedding first"));
                }
                A::Image(t) => A::Image(elementwise(b, t).ok_or_else(|| misplaced(i, "an image batch"))?),
                A::Matrix(t) => A::Matrix(elementwise(b, t).ok_or_else(|| misplaced(i, "a matrix"))?),
                A::Sequence(t) => A::Sequence(elementwise(b, t).ok_or_else(|| misplaced(i, "a sequence batch"))?),
            },
        };
    }
    Ok(x)
}

/// The sum of a residual block's two paths.
fn add(i: usize, a: Activation, b: Activation) -> Result<Activation> {
    use Activation as A;
    Ok(match (a, b) {
        (A::Image(a), A::Image(b)) => A::Image(a + b),
        (A::Matrix(a), A::Matrix(b)) => A::Matrix(a + b),
        (A::Sequence(a), A::Sequence(b)) => A::Sequence(a + b),
        (a, b) => {
            return Err(Error::invalid(format!("architecture.layers[{i}]"), format!("cannot add {} and {}", a.kind(), b.kind())));
        }
    })
}

/// Branch outputs joined on their channel (or feature) dimension.
fn join(i: usize, outs: Vec<Activation>) -> Result<Activation> {
    use Activation as A;
    let bad = || Error::invalid(format!("architecture.layers[{i}]"), "branches must all produce image batches or all matrices");
    match outs.first() {
        Some(A::Image(_)) => outs
            .into_iter()
            .map(|o| if let A::Image(t) = o { Ok(t) } else { Err(bad()) })
            .collect::<Result<Vec<_>>>()
            .map(|t| A::Image(Tensor::cat(t, 1))),
        Some(A::Matrix(_)) => outs
            .into_iter()
            .map(|o| if let A::Matrix(t) = o { Ok(t) } else { Err(bad()) })
            .collect::<Result<Vec<_>>>()
            .map(|t| A::Matrix(Tensor::cat(t, 1))),
        _ => Err(bad()),
    }
}

fn misplaced(i: usize, what: &str) -> Error {
    Error::invalid(format!("architecture.layers[{i}]"), format!("cannot take {what}"))
}

/// Zeroes each element with probability `p` and scales the rest by `1 / (1 - p)`, the mask drawn
/// from `rng`.
fn dropout<const D: usize>(t: Tensor<D>, p: f64, rng: &mut SplitMix64) -> Tensor<D> {
    if p <= 0.0 {
        return t;
    }
    let dims = t.dims();
    let n: usize = dims.iter().product();
    let keep = (1.0 / (1.0 - p)) as f32;
    let mask: Vec<f32> = (0..n).map(|_| if rng.unit() >= p { keep } else { 0.0 }).collect();
    let mask = Tensor::<D>::from_data(TensorData::new(mask, dims), &t.device());
    t * mask
}

/// Blocks that work on a tensor of any rank (dropout here only at inference, where it is the identity).
fn elementwise<const D: usize>(block: &Block, t: Tensor<D>) -> Option<Tensor<D>> {
    Some(match block {
        Block::Relu(_) => libtorch_grads::relu(t),
        Block::Gelu(m) => m.forward(t),
        Block::Tanh(m) => m.forward(t),
        Block::Sigmoid(m) => m.forward(t),
        Block::Silu(m) => m.forward(t),
        Block::Dropout(_) => t,
        Block::Softmax(_) => activation::softmax(t, D - 1),
        _ => return None,
    })
}
