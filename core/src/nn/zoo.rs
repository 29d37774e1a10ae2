//! Small real versions of the image architectures 002 names — `resnet`, `vgg`, `alexnet`,
//! `inception`, `mobilenet`, `efficientnet` — written as layer lists, so they are shape-checked,
//! trained, saved and served exactly like a 004 architecture. Each keeps its family's defining block
//! (residual basic blocks; stacked 3×3 convolutions; large early kernels with overlapping pools;
//! parallel branches joined on channels; depthwise-separable convolutions; inverted residuals with
//! squeeze-and-excitation and SiLU), at a width (`width`, the first stage's channels) that trains on a
//! CPU.

use serde_json::{Value, json};

use crate::error::{Error, Result};

/// The model types this module builds.
pub const MODEL_TYPES: &[&str] = &["resnet", "vgg", "alexnet", "inception", "mobilenet", "efficientnet"];

/// What sizes an architecture: the data's shape and classes, and 002's hyperparameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ZooShape {
    pub channels: u64,
    pub size: u64,
    pub classes: u64,
    /// Channels of the first stage (later stages double it).
    pub width: u64,
    pub dropout: f64,
}

fn conv(i: u64, o: u64, k: u64, stride: u64, pad: u64) -> Value {
    json!({"type": "conv2d", "in_channels": i, "out_channels": o, "kernel_size": k, "stride": stride, "padding": pad, "bias": false})
}

fn depthwise(c: u64, stride: u64) -> Value {
    json!({"type": "conv2d", "in_channels": c, "out_channels": c, "kernel_size": 3, "stride": stride, "padding": 1, "groups": c, "bias": false})
}

fn bn(c: u64) -> Value {
    json!({"type": "batchnorm2d", "num_features": c})
}

fn act(kind: &str) -> Value {
    json!({"type": kind})
}

fn maxpool(k: u64, stride: u64, pad: u64) -> Value {
    json!({"type": "maxpool2d", "kernel_size": k, "stride": stride, "padding": pad})
}

/// Global average pooling, flatten, dropout and the classifier.
fn head(c: u64, s: &ZooShape) -> Vec<Value> {
    vec![
        json!({"type": "adaptive_avgpool2d", "output_size": 1}),
        act("flatten"),
        json!({"type": "dropout", "p": s.dropout}),
        json!({"type": "linear", "in": c, "out": s.classes}),
    ]
}

/// ResNet: a stem, then three stages of basic blocks (two 3×3 convolutions added to a shortcut, a
/// 1×1 projection where the shape changes).
fn resnet(s: &ZooShape) -> Vec<Value> {
    let w = s.width;
    let mut layers = vec![conv(s.channels, w, 3, 1, 1), bn(w), act("relu")];
    let mut c = w;
    for (stage, out) in [w, 2 * w, 4 * w].into_iter().enumerate() {
        let stride = if stage == 0 { 1 } else { 2 };
        let shortcut = if stride == 1 && c == out { json!([]) } else { json!([conv(c, out, 1, stride, 0), bn(out)]) };
        layers.push(json!({"type": "residual", "layers": [conv(c, out, 3, stride, 1), bn(out), act("relu"), conv(out, out, 3, 1, 1), bn(out)], "shortcut": shortcut}));
        layers.push(act("relu"));
        c = out;
    }
    layers.extend(head(c, s));
    layers
}

/// VGG: stacks of two 3×3 convolutions and a 2×2 max-pool, then two fully connected layers.
fn vgg(s: &ZooShape) -> Vec<Value> {
    let mut layers = Vec::new();
    let mut c = s.channels;
    for out in [s.width, 2 * s.width, 4 * s.width] {
        for i in [c, out] {
            layers.extend([conv(i, out, 3, 1, 1), bn(out), act("relu")]);
        }
        layers.push(maxpool(2, 2, 0));
        c = out;
    }
    let hidden = 8 * s.width;
    layers.extend([
        json!({"type": "adaptive_avgpool2d", "output_size": 2}),
        act("flatten"),
        json!({"type": "linear", "in": c * 4, "out": hidden}),
        act("relu"),
        json!({"type": "dropout", "p": s.dropout}),
        json!({"type": "linear", "in": hidden, "out": s.classes}),
    ]);
    layers
}

/// AlexNet: a 5×5 convolution and overlapping 3×3/2 max-pools, three 3×3 convolutions, then a
/// dropout-regularised classifier of two hidden layers.
fn alexnet(s: &ZooShape) -> Vec<Value> {
    let w = s.width;
    let relu_conv =
        |i, o, k, p| [json!({"type": "conv2d", "in_channels": i, "out_channels": o, "kernel_size": k, "padding": p}), act("relu")];
    let mut layers = Vec::new();
    layers.extend(relu_conv(s.channels, 2 * w, 5, 2));
    layers.push(maxpool(3, 2, 1));
    layers.extend(relu_conv(2 * w, 4 * w, 5, 2));
    layers.push(maxpool(3, 2, 1));
    layers.extend(relu_conv(4 * w, 6 * w, 3, 1));
    layers.extend(relu_conv(6 * w, 4 * w, 3, 1));
    layers.extend(relu_conv(4 * w, 4 * w, 3, 1));
    layers.push(maxpool(3, 2, 1));
    let hidden = 8 * w;
    layers.extend([
        json!({"type": "adaptive_avgpool2d", "output_size": 2}),
        act("flatten"),
        json!({"type": "dropout", "p": s.dropout}),
        json!({"type": "linear", "in": 16 * w, "out": hidden}),
        act("relu"),
        json!({"type": "dropout", "p": s.dropout}),
        json!({"type": "linear", "in": hidden, "out": hidden}),
        act("relu"),
        json!({"type": "linear", "in": hidden, "out": s.classes}),
    ]);
    layers
}

/// One Inception module on `c` channels: 1×1, 1×1→3×3, 1×1→5×5 and 3×3 max-pool→1×1 branches side
/// by side; `o` channels out (o/4, o/4 + o/4 … split as GoogLeNet does: ¼, ½, ⅛, ⅛).
fn inception_module(c: u64, o: u64) -> Value {
    let (b1, b3, b5, bp) = (o / 4, o / 2, o / 8, o - o / 4 - o / 2 - o / 8);
    let reduce = |r: u64| [conv(c, r, 1, 1, 0), bn(r), act("relu")];
    let mut three = reduce((b3 / 2).max(1)).to_vec();
    three.extend([conv((b3 / 2).max(1), b3, 3, 1, 1), bn(b3), act("relu")]);
    let mut five = reduce((b5 / 2).max(1)).to_vec();
    five.extend([conv((b5 / 2).max(1), b5, 5, 1, 2), bn(b5), act("relu")]);
    json!({"type": "concat", "branches": [
        [conv(c, b1, 1, 1, 0), bn(b1), act("relu")],
        three,
        five,
        [maxpool(3, 1, 1), conv(c, bp, 1, 1, 0), bn(bp), act("relu")],
    ]})
}

/// Inception (GoogLeNet): a stem, two Inception modules with a max-pool between, global pooling.
fn inception(s: &ZooShape) -> Vec<Value> {
    let w = s.width;
    let (a, b) = (4 * w, 8 * w);
    vec![
        conv(s.channels, 2 * w, 3, 1, 1),
        bn(2 * w),
        act("relu"),
        maxpool(2, 2, 0),
        inception_module(2 * w, a),
        maxpool(2, 2, 0),
        inception_module(a, b),
    ]
    .into_iter()
    .chain(head(b, s))
    .collect()
}

/// MobileNet (v1): a stem, then depthwise 3×3 + pointwise 1×1 pairs, each with batch norm and ReLU.
fn mobilenet(s: &ZooShape) -> Vec<Value> {
    let w = s.width;
    let mut layers = vec![conv(s.channels, w, 3, 1, 1), bn(w), act("relu")];
    let mut c = w;
    for (out, stride) in [(2 * w, 1), (4 * w, 2), (4 * w, 1), (8 * w, 2), (8 * w, 1)] {
        layers.extend([depthwise(c, stride), bn(c), act("relu"), conv(c, out, 1, 1, 0), bn(out), act("relu")]);
        c = out;
    }
    layers.extend(head(c, s));
    layers
}

/// One MBConv block: 1×1 expansion, depthwise 3×3, squeeze-and-excitation, 1×1 projection; residual
/// when the shape is kept.
fn mbconv(c: u64, out: u64, expand: u64, stride: u64) -> Value {
    let e = c * expand;
    let mut body = Vec::new();
    if expand > 1 {
        body.extend([conv(c, e, 1, 1, 0), bn(e), act("silu")]);
    }
    body.extend([depthwise(e, stride), bn(e), act("silu")]);
    body.push(json!({"type": "squeeze_excite", "channels": e, "reduced": (c / 4).max(1)}));
    body.extend([conv(e, out, 1, 1, 0), bn(out)]);
    if stride == 1 && c == out {
        json!({"type": "residual", "layers": body})
    } else {
        json!({"type": "residual", "layers": body, "shortcut": [conv(c, out, 1, stride, 0), bn(out)]})
    }
}

/// EfficientNet (B0's blocks): a SiLU stem, MBConv blocks with squeeze-and-excitation, a 1×1 head.
fn efficientnet(s: &ZooShape) -> Vec<Value> {
    let w = s.width;
    let mut layers = vec![conv(s.channels, w, 3, 1, 1), bn(w), act("silu")];
    let mut c = w;
    for (out, expand, stride) in [(w, 1, 1), (2 * w, 4, 2), (2 * w, 4, 1), (4 * w, 4, 2), (4 * w, 4, 1)] {
        layers.push(mbconv(c, out, expand, stride));
        c = out;
    }
    layers.extend([conv(c, 8 * w, 1, 1, 0), bn(8 * w), act("silu")]);
    layers.extend(head(8 * w, s));
    layers
}

/// The architecture JSON (004's format) of `model_type` for images of `shape`.
pub fn architecture(model_type: &str, shape: &ZooShape) -> Result<Value> {
    let layers = match model_type {
        "resnet" => resnet(shape),
        "vgg" => vgg(shape),
        "alexnet" => alexnet(shape),
        "inception" => inception(shape),
        "mobilenet" => mobilenet(shape),
        "efficientnet" => efficientnet(shape),
        other => {
            return Err(Error::invalid(
                "model_type",
                format!("no image architecture {other:?}; expected one of {}", MODEL_TYPES.join(", ")),
            ));
        }
    };
    Ok(json!({
        "input_channels": shape.channels, "input_height": shape.size, "input_width": shape.size,
        "layers": layers,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::Architecture;

    #[test]
    fn every_model_type_passes_shape_inference_at_common_sizes() {
        for model_type in MODEL_TYPES {
            for (channels, size) in [(1, 28), (3, 32), (3, 64), (1, 16)] {
                let shape = ZooShape { channels, size, classes: 10, width: 8, dropout: 0.2 };
                let arch = architecture(model_type, &shape).unwrap();
                let (_, report) = Architecture::parse(&arch).unwrap_or_else(|e| panic!("{model_type} at {channels}×{size}: {e}"));
                assert_eq!(report.output_shape, [10], "{model_type}");
                assert!(report.parameters > 1_000, "{model_type}: {}", report.parameters);
            }
        }
    }

    #[test]
    fn the_families_keep_their_defining_blocks() {
        let shape = ZooShape { channels: 3, size: 32, classes: 5, width: 8, dropout: 0.2 };
        let text = |t| architecture(t, &shape).unwrap().to_string();
        assert!(text("resnet").contains("\"residual\""));
        assert!(text("inception").contains("\"concat\""));
        assert!(text("mobilenet").contains("\"groups\":8"));
        assert!(text("efficientnet").contains("\"squeeze_excite\"") && text("efficientnet").contains("\"silu\""));
        assert!(architecture("lenet", &shape).unwrap_err().to_string().contains("resnet"));
    }
}
