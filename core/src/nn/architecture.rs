//! 004's layer-list architecture: parsed into typed layers, then checked by shape inference before
//! anything trains.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::json_fields::Fields;

/// Largest size accepted for any one dimension, channel count or feature count.
const MAX_DIM: u64 = 1 << 20;

/// Padding of a convolution or pooling layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Padding {
    /// Output keeps the input's height and width (stride 1 only, as in PyTorch).
    Same,
    /// Zeros added on each side: (rows, columns).
    Explicit(u64, u64),
}

/// One layer of the list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Layer {
    Conv2d {
        in_channels: u64,
        out_channels: u64,
        kernel_size: (u64, u64),
        stride: (u64, u64),
        padding: Padding,
        bias: bool,
        /// Channel groups (`in_channels` = `groups` gives a depthwise convolution).
        #[serde(default = "one")]
        groups: u64,
    },
    Maxpool2d {
        kernel_size: (u64, u64),
        stride: (u64, u64),
        padding: (u64, u64),
    },
    Avgpool2d {
        kernel_size: (u64, u64),
        stride: (u64, u64),
        padding: (u64, u64),
    },
    AdaptiveAvgpool2d {
        output_size: (u64, u64),
    },
    Batchnorm2d {
        num_features: u64,
    },
    Flatten,
    Linear {
        in_features: u64,
        out_features: u64,
        bias: bool,
    },
    Dropout {
        p: f64,
    },
    Relu,
    Gelu,
    Tanh,
    Sigmoid,
    Softmax,
    Layernorm {
        normalized_shape: u64,
    },
    Embedding {
        num_embeddings: u64,
        embedding_dim: u64,
    },
    /// x · sigmoid(x) (swish).
    Silu,
    /// `layers(x) + shortcut(x)`; an empty shortcut is the identity (ResNet, MobileNetV2/EfficientNet).
    Residual {
        layers: Vec<Layer>,
        shortcut: Vec<Layer>,
    },
    /// The branches side by side, each on the same input, joined on channels (Inception).
    Concat {
        branches: Vec<Vec<Layer>>,
    },
    /// Channel attention: x scaled per channel by sigmoid(fc(relu(fc(mean over H×W)))) (EfficientNet).
    SqueezeExcite {
        channels: u64,
        reduced: u64,
    },
}

fn one() -> u64 {
    1
}

/// The layer types, as 004 writes them.
pub const LAYER_TYPES: &[&str] = &[
    "conv2d",
    "maxpool2d",
    "avgpool2d",
    "adaptive_avgpool2d",
    "batchnorm2d",
    "flatten",
    "linear",
    "dropout",
    "relu",
    "gelu",
    "tanh",
    "sigmoid",
    "softmax",
    "layernorm",
    "embedding",
    "silu",
    "residual",
    "concat",
    "squeeze_excite",
];

/// A checked architecture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Architecture {
    /// Shape of one sample without the batch dimension: `[C, H, W]` for images, `[N]` for vectors
    /// (or token sequences when the first layer is an embedding).
    pub input_shape: Vec<u64>,
    pub layers: Vec<Layer>,
}

/// What shape inference found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShapeReport {
    pub input_shape: Vec<u64>,
    /// Output shape and trainable parameters of each layer, in order.
    pub layers: Vec<LayerShape>,
    pub output_shape: Vec<u64>,
    pub parameters: u64,
}

/// One layer's line of a [`ShapeReport`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerShape {
    pub index: usize,
    #[serde(rename = "type")]
    pub kind: String,
    pub output_shape: Vec<u64>,
    pub parameters: u64,
}

impl Layer {
    /// The type name as 004 writes it.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Conv2d { .. } => "conv2d",
            Self::Maxpool2d { .. } => "maxpool2d",
            Self::Avgpool2d { .. } => "avgpool2d",
            Self::AdaptiveAvgpool2d { .. } => "adaptive_avgpool2d",
            Self::Batchnorm2d { .. } => "batchnorm2d",
            Self::Flatten => "flatten",
            Self::Linear { .. } => "linear",
            Self::Dropout { .. } => "dropout",
            Self::Relu => "relu",
            Self::Gelu => "gelu",
            Self::Tanh => "tanh",
            Self::Sigmoid => "sigmoid",
            Self::Softmax => "softmax",
            Self::Layernorm { .. } => "layernorm",
            Self::Embedding { .. } => "embedding",
            Self::Silu => "silu",
            Self::Residual { .. } => "residual",
            Self::Concat { .. } => "concat",
            Self::SqueezeExcite { .. } => "squeeze_excite",
        }
    }
}

/// An int `n` (meaning `(n, n)`) or a `[rows, cols]` pair, each in `min..=MAX_DIM`.
fn pair_of(path: &str, v: &Value, min: u64) -> Result<(u64, u64)> {
    let one = |x: &Value| x.as_u64().filter(|n| (min..=MAX_DIM).contains(n));
    let bad = || Error::invalid(path, format!("must be an integer between {min} and {MAX_DIM} or a pair of them, got {v}"));
    match v {
        Value::Array(items) if items.len() == 2 => Ok((one(&items[0]).ok_or_else(bad)?, one(&items[1]).ok_or_else(bad)?)),
        _ => one(v).map(|n| (n, n)).ok_or_else(bad),
    }
}

fn pair(f: &mut Fields<'_>, name: &'static str, min: u64) -> Result<Option<(u64, u64)>> {
    let path = f.path(name);
    f.get(name).map(|v| pair_of(&path, v, min)).transpose()
}

fn required_pair(f: &mut Fields<'_>, name: &'static str, min: u64) -> Result<(u64, u64)> {
    let path = f.path(name);
    pair(f, name, min)?.ok_or_else(|| Error::invalid(path, "is required"))
}

fn parse_layer(path: &str, value: &Value) -> Result<Layer> {
    let mut f = Fields::new(path, value)?;
    let kind = f.required("type")?;
    let kind = kind.as_str().ok_or_else(|| Error::invalid(format!("{path}.type"), "must be a string"))?;
    let dims = 1..=MAX_DIM;
    let layer = match kind {
        "conv2d" => {
            let in_channels = f.required_uint("in_channels", dims.clone())?;
            let out_channels = f.required_uint("out_channels", dims.clone())?;
            let kernel_size = required_pair(&mut f, "kernel_size", 1)?;
            let stride = pair(&mut f, "stride", 1)?.unwrap_or((1, 1));
            let padding_path = f.path("padding");
            let padding = match f.get("padding") {
                None => Padding::Explicit(0, 0),
                Some(Value::String(s)) if s == "same" => {
                    if stride != (1, 1) {
                        return Err(Error::invalid(padding_path, "\"same\" needs stride 1"));
                    }
                    Padding::Same
                }
                Some(Value::String(s)) if s == "valid" => Padding::Explicit(0, 0),
                Some(v) => {
                    let (r, c) = pair_of(&padding_path, v, 0)?;
                    Padding::Explicit(r, c)
                }
            };
            let bias = f.boolean("bias")?.unwrap_or(true);
            let groups = f.uint("groups", dims.clone())?.unwrap_or(1);
            if in_channels % groups != 0 || out_channels % groups != 0 {
                return Err(Error::invalid(
                    f.path("groups"),
                    format!("must divide in_channels ({in_channels}) and out_channels ({out_channels}), got {groups}"),
                ));
            }
            Layer::Conv2d { in_channels, out_channels, kernel_size, stride, padding, bias, groups }
        }
        "maxpool2d" | "avgpool2d" => {
            let kernel_size = required_pair(&mut f, "kernel_size", 1)?;
            let stride = pair(&mut f, "stride", 1)?.unwrap_or(kernel_size);
            let padding = pair(&mut f, "padding", 0)?.unwrap_or((0, 0));
            if padding.0 * 2 > kernel_size.0 || padding.1 * 2 > kernel_size.1 {
                return Err(Error::invalid(f.path("padding"), "must be at most half the kernel size"));
            }
            if kind == "maxpool2d" {
                Layer::Maxpool2d { kernel_size, stride, padding }
            } else {
                Layer::Avgpool2d { kernel_size, stride, padding }
            }
        }
        "adaptive_avgpool2d" => Layer::AdaptiveAvgpool2d { output_size: required_pair(&mut f, "output_size", 1)? },
        "batchnorm2d" => Layer::Batchnorm2d { num_features: f.required_uint("num_features", dims)? },
        "flatten" => Layer::Flatten,
        "linear" => {
            let in_features = f.required_uint("in", dims.clone())?;
            let out_features = f.required_uint("out", dims)?;
            Layer::Linear { in_features, out_features, bias: f.boolean("bias")?.unwrap_or(true) }
        }
        "dropout" => {
            let p = f.number("p", "a probability in [0, 1)", |p| (0.0..1.0).contains(&p))?.unwrap_or(0.5);
            Layer::Dropout { p }
        }
        "relu" => Layer::Relu,
        "gelu" => Layer::Gelu,
        "tanh" => Layer::Tanh,
        "sigmoid" => Layer::Sigmoid,
        "softmax" => {
            // Over the last dimension, the class scores; `dim: -1` (or 1 for a [batch, classes] view) says so.
            let dim_path = f.path("dim");
            if let Some(d) = f.get("dim")
                && !matches!(d.as_i64(), Some(-1 | 1))
            {
                return Err(Error::invalid(dim_path, "only the last dimension is supported (-1)"));
            }
            Layer::Softmax
        }
        "layernorm" => Layer::Layernorm { normalized_shape: f.required_uint("normalized_shape", dims)? },
        "embedding" => {
            let num_embeddings = f.required_uint("num_embeddings", dims.clone())?;
            Layer::Embedding { num_embeddings, embedding_dim: f.required_uint("embedding_dim", dims)? }
        }
        "silu" => Layer::Silu,
        "residual" => {
            let layers = layer_list(&mut f, "layers", true)?;
            let shortcut = layer_list(&mut f, "shortcut", false)?;
            Layer::Residual { layers, shortcut }
        }
        "concat" => {
            let branches_path = f.path("branches");
            let branches = f.required("branches")?;
            let items = branches
                .as_array()
                .filter(|b| b.len() >= 2)
                .ok_or_else(|| Error::invalid(&branches_path, "must be a list of at least two branches, each a list of layers"))?;
            let branches = items
                .iter()
                .enumerate()
                .map(|(j, b)| parse_layers(&format!("{branches_path}[{j}]"), b, true))
                .collect::<Result<Vec<_>>>()?;
            Layer::Concat { branches }
        }
        "squeeze_excite" => {
            let channels = f.required_uint("channels", dims.clone())?;
            Layer::SqueezeExcite { channels, reduced: f.required_uint("reduced", dims)? }
        }
        other => {
            return Err(Error::invalid(
                format!("{path}.type"),
                format!("unknown layer type {other:?}; expected one of {}", LAYER_TYPES.join(", ")),
            ));
        }
    };
    f.finish()?;
    Ok(layer)
}

/// A list of layers at `path`; `required` lists must hold at least one.
fn parse_layers(path: &str, value: &Value, required: bool) -> Result<Vec<Layer>> {
    let items = value.as_array().ok_or_else(|| Error::invalid(path, "must be a list of layers"))?;
    if required && items.is_empty() {
        return Err(Error::invalid(path, "must hold at least one layer"));
    }
    items.iter().enumerate().map(|(i, l)| parse_layer(&format!("{path}[{i}]"), l)).collect()
}

/// The nested layer list `name` of a composite layer (empty when absent and not `required`).
fn layer_list(f: &mut Fields<'_>, name: &'static str, required: bool) -> Result<Vec<Layer>> {
    let path = f.path(name);
    match (f.get(name), required) {
        (Some(v), _) => parse_layers(&path, v, required),
        (None, true) => Err(Error::invalid(path, "is required")),
        (None, false) => Ok(Vec::new()),
    }
}

impl Architecture {
    /// Parses 004's architecture JSON (`input_size`, `input_channels`, `input_height`, `input_width`,
    /// `layers`) and checks it by shape inference. Errors name the field (`architecture.layers[7].in`).
    pub fn parse(value: &Value) -> Result<(Self, ShapeReport)> {
        let mut f = Fields::new("architecture", value)?;
        let dims = 1..=MAX_DIM;
        let size = f.uint("input_size", dims.clone())?;
        let channels = f.uint("input_channels", dims.clone())?;
        let height = f.uint("input_height", dims.clone())?;
        let width = f.uint("input_width", dims)?;
        let layers_path = f.path("layers");
        let layers = parse_layers(&layers_path, f.required("layers")?, true)?;
        f.finish()?;
        let input_shape = match (size, channels, height, width) {
            (size, Some(c), Some(h), Some(w)) => {
                if let Some(n) = size.filter(|n| *n != c * h * w) {
                    return Err(Error::invalid(
                        "architecture.input_size",
                        format!("must equal input_channels × input_height × input_width = {}, got {n}", c * h * w),
                    ));
                }
                vec![c, h, w]
            }
            (Some(n), None, None, None) => vec![n],
            (_, c, h, w) => {
                let missing: Vec<&str> = [("input_channels", c), ("input_height", h), ("input_width", w)]
                    .iter()
                    .filter(|(_, v)| v.is_none())
                    .map(|(k, _)| *k)
                    .collect();
                return Err(Error::invalid(
                    format!("architecture.{}", missing[0]),
                    "is required: give input_channels, input_height and input_width for images, or input_size alone for vectors",
                ));
            }
        };
        let arch = Self { input_shape, layers };
        let report = arch.infer_shapes()?;
        Ok((arch, report))
    }

    /// Runs shape inference: each layer's output shape and parameter count, or the first mismatch.
    pub fn infer_shapes(&self) -> Result<ShapeReport> {
        let (shape, out) = list_output("architecture.layers", &self.layers, &self.input_shape)?;
        Ok(ShapeReport {
            input_shape: self.input_shape.clone(),
            parameters: out.iter().map(|l| l.parameters).sum(),
            layers: out,
            output_shape: shape,
        })
    }
}

/// Shape inference over the list at `path`: the output shape and each layer's line.
fn list_output(path: &str, layers: &[Layer], input: &[u64]) -> Result<(Vec<u64>, Vec<LayerShape>)> {
    let mut shape = input.to_vec();
    let mut out: Vec<LayerShape> = Vec::with_capacity(layers.len());
    for (i, layer) in layers.iter().enumerate() {
        let (next, params) = layer_output(&format!("{path}[{i}]"), layer, &shape, out.last())?;
        out.push(LayerShape { index: i, kind: layer.kind().to_owned(), output_shape: next.clone(), parameters: params });
        shape = next;
    }
    Ok((shape, out))
}

fn total(lines: &[LayerShape]) -> u64 {
    lines.iter().map(|l| l.parameters).sum()
}

/// Where the input of layer `i` comes from, for error messages.
fn source(prev: Option<&LayerShape>) -> String {
    prev.map_or("the input".to_owned(), |p| format!("layer {} ({})", p.index, p.kind))
}

fn image(at: &str, layer: &Layer, shape: &[u64], prev: Option<&LayerShape>) -> Result<(u64, u64, u64)> {
    match *shape {
        [c, h, w] => Ok((c, h, w)),
        _ => Err(Error::invalid(
            at,
            format!("{} needs a [channels, height, width] input, but {} produces {shape:?}", layer.kind(), source(prev)),
        )),
    }
}

/// Output size of a sliding window, or `None` when the window does not fit.
fn window(size: u64, kernel: u64, stride: u64, pad: u64) -> Option<u64> {
    (size + 2 * pad).checked_sub(kernel).map(|n| n / stride + 1)
}

/// One layer, at `at` (`architecture.layers[3]`, `architecture.layers[3].layers[0]`).
fn layer_output(at: &str, layer: &Layer, shape: &[u64], prev: Option<&LayerShape>) -> Result<(Vec<u64>, u64)> {
    let expect = |name: &str, expected: u64, given: u64| {
        Error::invalid(format!("{at}.{name}"), format!("expected {expected} (what {} produces), got {given}", source(prev)))
    };
    let too_small = |h: u64, w: u64| Error::invalid(at, format!("the {h}×{w} input from {} is smaller than the window", source(prev)));
    Ok(match layer {
        Layer::Conv2d { in_channels, out_channels, kernel_size: (kh, kw), stride: (sh, sw), padding, bias, groups } => {
            let (c, h, w) = image(at, layer, shape, prev)?;
            if c != *in_channels {
                return Err(expect("in_channels", c, *in_channels));
            }
            let (oh, ow) = match padding {
                Padding::Same => (h, w),
                Padding::Explicit(ph, pw) => {
                    (window(h, *kh, *sh, *ph).ok_or_else(|| too_small(h, w))?, window(w, *kw, *sw, *pw).ok_or_else(|| too_small(h, w))?)
                }
            };
            (vec![*out_channels, oh, ow], out_channels * (in_channels / groups) * kh * kw + if *bias { *out_channels } else { 0 })
        }
        Layer::Maxpool2d { kernel_size: (kh, kw), stride: (sh, sw), padding: (ph, pw) }
        | Layer::Avgpool2d { kernel_size: (kh, kw), stride: (sh, sw), padding: (ph, pw) } => {
            let (c, h, w) = image(at, layer, shape, prev)?;
            let oh = window(h, *kh, *sh, *ph).ok_or_else(|| too_small(h, w))?;
            let ow = window(w, *kw, *sw, *pw).ok_or_else(|| too_small(h, w))?;
            (vec![c, oh, ow], 0)
        }
        Layer::AdaptiveAvgpool2d { output_size: (oh, ow) } => {
            let (c, _, _) = image(at, layer, shape, prev)?;
            (vec![c, *oh, *ow], 0)
        }
        Layer::Batchnorm2d { num_features } => {
            let (c, _, _) = image(at, layer, shape, prev)?;
            if c != *num_features {
                return Err(expect("num_features", c, *num_features));
            }
            (shape.to_vec(), 2 * c)
        }
        Layer::Flatten => (vec![shape.iter().product()], 0),
        Layer::Linear { in_features, out_features, bias } => {
            let last = *shape.last().unwrap_or(&0);
            if shape.len() > 2 {
                return Err(Error::invalid(
                    at,
                    format!(
                        "linear needs a vector (or a sequence of vectors), but {} produces {shape:?}; add a flatten layer first",
                        source(prev)
                    ),
                ));
            }
            if last != *in_features {
                return Err(expect("in", last, *in_features));
            }
            let mut next = shape.to_vec();
            if let Some(l) = next.last_mut() {
                *l = *out_features;
            }
            (next, in_features * out_features + if *bias { *out_features } else { 0 })
        }
        Layer::Layernorm { normalized_shape } => {
            let last = *shape.last().unwrap_or(&0);
            if last != *normalized_shape {
                return Err(expect("normalized_shape", last, *normalized_shape));
            }
            (shape.to_vec(), 2 * normalized_shape)
        }
        Layer::Embedding { num_embeddings, embedding_dim } => {
            if at != "architecture.layers[0]" || shape.len() != 1 {
                return Err(Error::invalid(at, "embedding takes token ids: it must be the first layer, on an input_size-long sequence"));
            }
            (vec![shape[0], *embedding_dim], num_embeddings * embedding_dim)
        }
        Layer::Dropout { .. } | Layer::Relu | Layer::Gelu | Layer::Tanh | Layer::Sigmoid | Layer::Softmax | Layer::Silu => {
            (shape.to_vec(), 0)
        }
        Layer::Residual { layers, shortcut } => {
            let (main, main_lines) = list_output(&format!("{at}.layers"), layers, shape)?;
            let (side, side_lines) = list_output(&format!("{at}.shortcut"), shortcut, shape)?;
            if main != side {
                let side_from = if shortcut.is_empty() { "the identity shortcut" } else { "the shortcut" };
                return Err(Error::invalid(
                    at,
                    format!("its layers produce {main:?} but {side_from} produces {side:?}; the two are added, so they must match"),
                ));
            }
            (main, total(&main_lines) + total(&side_lines))
        }
        Layer::Concat { branches } => {
            let mut joined: Option<Vec<u64>> = None;
            let mut params = 0;
            for (j, branch) in branches.iter().enumerate() {
                let (out, lines) = list_output(&format!("{at}.branches[{j}]"), branch, shape)?;
                params += total(&lines);
                joined = Some(match joined {
                    None => out,
                    Some(mut acc) => {
                        if acc.len() != out.len() || acc[1..] != out[1..] {
                            return Err(Error::invalid(
                                format!("{at}.branches[{j}]"),
                                format!("produces {out:?}, which cannot join {acc:?} on channels: all but the first dimension must match"),
                            ));
                        }
                        acc[0] += out[0];
                        acc
                    }
                });
            }
            (joined.unwrap_or_else(|| shape.to_vec()), params)
        }
        Layer::SqueezeExcite { channels, reduced } => {
            let (c, _, _) = image(at, layer, shape, prev)?;
            if c != *channels {
                return Err(expect("channels", c, *channels));
            }
            (shape.to_vec(), 2 * channels * reduced + channels + reduced)
        }
    })
}
