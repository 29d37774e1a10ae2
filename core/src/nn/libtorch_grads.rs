//! Convolution and ReLU whose backward passes are LibTorch's own kernels, for training on LibTorch.
//!
//! burn's autodiff builds both backward passes from generic tensor ops:
//! - a convolution's weight gradient is a second convolution whose kernel is the whole output
//!   gradient (6.1 ms for 004's first layer at batch 64, where LibTorch's fused
//!   `convolution_backward` takes 0.3 ms);
//! - a ReLU's gradient is a comparison, a copy and a masked fill (3.6 ms on 004's first activation,
//!   where `threshold_backward` takes 0.2 ms).
//!
//! These ops record themselves in burn's autodiff graph like any other, so the optimiser, gradient
//! clipping and every other layer see no difference. Convolutions also run channels-last, in training
//! and at inference. Anywhere else burn's own ops run: other backends, gradient checkpointing, and a
//! convolution burn pads asymmetrically.

// The core's one call into C++: LibTorch's `convolution_backward`, which tch does not bind.
#![allow(unsafe_code)]
// burn-tch is the backend this project builds on (LibTorch from the torch wheel).
#![allow(deprecated)]

use std::ffi::{CStr, c_char, c_int, c_void};

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, unary};
use burn::backend::libtorch::TchTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, LibTorch};
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::tensor::Tensor;

/// burn's autodiff over LibTorch, without gradient checkpointing.
type Ad = Autodiff<LibTorch>;

unsafe extern "C" {
    fn mr_conv2d_backward(
        grad: *const c_void,
        input: *const c_void,
        weight: *const c_void,
        bias_len: i64,
        stride: *const i64,
        padding: *const i64,
        dilation: *const i64,
        groups: i64,
        need_input: c_int,
        grad_input: *mut *mut c_void,
        grad_weight: *mut *mut c_void,
        grad_bias: *mut *mut c_void,
    ) -> *mut c_char;
    fn mr_free_message(message: *mut c_char);
}

/// The tensor as backend `B`'s primitive, when it lives there.
fn primitive<B: burn::backend::Backend, const D: usize>(t: &Tensor<D>) -> Option<FloatTensor<B>>
where
    burn::backend::DispatchTensor: burn::backend::DispatchKindConversion<B>,
{
    t.clone().try_into_primitive::<B>().ok()
}

/// `relu(x)`, with `threshold_backward` as its backward pass on LibTorch.
pub fn relu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    let Some(primitive) = primitive::<Ad, D>(&x) else {
        return burn::tensor::activation::relu(x);
    };
    drop(x);
    let (input, guard) = primitive.into_parts();
    let output = TchTensor::new(input.tensor.relu());
    let output = match ReluGrad.prepare::<NoCheckpointing>([guard]).compute_bound().stateful() {
        OpsKind::Tracked(prep) => prep.finish(output.clone(), output),
        OpsKind::UnTracked(prep) => prep.finish(output),
    };
    Tensor::from_primitive::<Ad>(output)
}

/// ReLU's backward: the gradient where the output is positive, zero elsewhere.
#[derive(Debug)]
struct ReluGrad;

impl Backward<LibTorch, 1> for ReluGrad {
    /// The ReLU's output.
    type State = TchTensor;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let output = ops.state;
        unary::<LibTorch, _>(ops.parents, ops.node, grads, |grad| TchTensor::new(output.tensor.threshold_backward(&grad.tensor, 0.0)));
    }
}

/// `conv.forward(x)` on LibTorch: channels-last, and with LibTorch's fused `convolution_backward` as
/// its backward pass when training.
pub fn conv2d(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let [_, _, height, width] = x.dims();
    let (Some(rows), Some(cols)) = (
        symmetric_padding(&conv.padding, 0, height, conv.kernel_size[0], conv.stride[0]),
        symmetric_padding(&conv.padding, 1, width, conv.kernel_size[1], conv.stride[1]),
    ) else {
        return conv.forward(x);
    };
    let geometry = Geometry {
        stride: conv.stride.map(|s| s as i64),
        padding: [rows as i64, cols as i64],
        dilation: conv.dilation.map(|d| d as i64),
        groups: conv.groups as i64,
    };
    let weight = conv.weight.val();
    let bias = conv.bias.as_ref().map(|b| b.val());
    if let Some((x, weight, bias)) = primitives::<Ad>(&x, &weight, bias.as_ref()) {
        return Tensor::from_primitive::<Ad>(tracked_conv2d(x, weight, bias, geometry));
    }
    if let Some((x, weight, bias)) = primitives::<LibTorch>(&x, &weight, bias.as_ref()) {
        return Tensor::from_primitive::<LibTorch>(forward_conv2d(channels_last(x), &weight, bias.as_ref(), geometry));
    }
    conv.forward(x)
}

/// The primitives of a convolution's operands, when all three live on backend `B`.
#[allow(clippy::type_complexity)]
fn primitives<B: burn::backend::Backend>(
    x: &Tensor<4>,
    weight: &Tensor<4>,
    bias: Option<&Tensor<1>>,
) -> Option<(FloatTensor<B>, FloatTensor<B>, Option<FloatTensor<B>>)>
where
    burn::backend::DispatchTensor: burn::backend::DispatchKindConversion<B>,
{
    let bias = match bias {
        Some(b) => Some(primitive::<B, 1>(b)?),
        None => None,
    };
    Some((primitive::<B, 4>(x)?, primitive::<B, 4>(weight)?, bias))
}

/// The convolution itself, its output channels-last when its input is.
fn forward_conv2d(x: TchTensor, weight: &TchTensor, bias: Option<&TchTensor>, g: Geometry) -> TchTensor {
    TchTensor::new(tch::Tensor::conv2d(&x.tensor, &weight.tensor, bias.map(|b| &b.tensor), g.stride, g.padding, g.dilation, g.groups))
}

/// The convolution recorded in burn's autodiff graph, with [`ConvGrad`] as its backward pass.
fn tracked_conv2d(x: FloatTensor<Ad>, weight: FloatTensor<Ad>, bias: Option<FloatTensor<Ad>>, geometry: Geometry) -> FloatTensor<Ad> {
    let (x, x_guard) = x.into_parts();
    let (w, w_guard) = weight.into_parts();
    let b = bias.map(FloatTensor::<Ad>::into_parts);
    let x = channels_last(x);
    let output = forward_conv2d(x.clone(), &w, b.as_ref().map(|(b, _)| b), geometry);
    let state = ConvState { x, weight: w, bias_len: b.as_ref().map(|(b, _)| b.tensor.size()[0]), geometry };
    match b {
        Some((_, b_guard)) => {
            match <ConvGrad as Backward<LibTorch, 3>>::prepare::<NoCheckpointing>(ConvGrad, [x_guard, w_guard, b_guard])
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => prep.finish(state, output),
                OpsKind::UnTracked(prep) => prep.finish(output),
            }
        }
        None => {
            match <ConvGrad as Backward<LibTorch, 2>>::prepare::<NoCheckpointing>(ConvGrad, [x_guard, w_guard]).compute_bound().stateful() {
                OpsKind::Tracked(prep) => prep.finish(state, output),
                OpsKind::UnTracked(prep) => prep.finish(output),
            }
        }
    }
}

/// `x` laid out channels-last (`[N, H, W, C]` in memory, still indexed `[N, C, H, W]`), the layout
/// oneDNN's convolutions and LibTorch's max-pooling run fastest on; a convolution fed one returns one,
/// so after the first layer this is free.
fn channels_last(x: TchTensor) -> TchTensor {
    let (size, stride) = (x.tensor.size(), x.tensor.stride());
    let expected = [size[1] * size[2] * size[3], 1, size[3] * size[1], size[1]];
    // Strides decide, even where a dimension of 1 makes both layouts describe the same memory: oneDNN
    // reads the layout from them.
    if stride[1..] == expected[1..] {
        return x;
    }
    let mut laid_out = tch::Tensor::empty_strided(&size, expected, (x.tensor.kind(), x.tensor.device()));
    laid_out.copy_(&x.tensor);
    TchTensor::new(laid_out)
}

/// The padding burn applies on one side of dimension `dim` (`PaddingConfig2d`'s rule: `Same` spreads
/// what keeps `ceil(size / stride)` outputs), when it is the same on both sides.
fn symmetric_padding(padding: &PaddingConfig2d, dim: usize, size: usize, kernel: usize, stride: usize) -> Option<usize> {
    let (start, end) = match padding {
        PaddingConfig2d::Valid => (0, 0),
        PaddingConfig2d::Explicit(top, left, bottom, right) => [(*top, *bottom), (*left, *right)][dim],
        PaddingConfig2d::Same => {
            let total = ((size.div_ceil(stride).max(1) - 1) * stride + kernel).saturating_sub(size);
            (total / 2, total - total / 2)
        }
    };
    (start == end).then_some(start)
}

/// A convolution's stride, padding, dilation and groups, as LibTorch takes them.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    stride: [i64; 2],
    padding: [i64; 2],
    dilation: [i64; 2],
    groups: i64,
}

/// What a convolution's backward pass needs from its forward pass.
#[derive(Debug, Clone)]
struct ConvState {
    x: TchTensor,
    weight: TchTensor,
    bias_len: Option<i64>,
    geometry: Geometry,
}

/// A convolution's backward: input, weight and bias gradients from one `convolution_backward` call.
#[derive(Debug)]
struct ConvGrad;

impl ConvGrad {
    fn backward_n<const N: usize>(ops: Ops<ConvState, N>, grads: &mut Gradients) {
        let grad = grads.consume::<LibTorch>(&ops.node);
        let ConvState { x, weight, bias_len, geometry } = ops.state;
        let [input_grad, weight_grad, bias_grad] =
            conv2d_backward(&grad.tensor, &x.tensor, &weight.tensor, bias_len, geometry, ops.parents[0].is_some());
        for (parent, value) in ops.parents.into_iter().zip([input_grad, weight_grad, bias_grad]) {
            if let (Some(node), Some(value)) = (parent, value) {
                grads.register::<LibTorch>(node.id, TchTensor::new(value));
            }
        }
    }
}

impl Backward<LibTorch, 2> for ConvGrad {
    type State = ConvState;

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        Self::backward_n(ops, grads);
    }
}

impl Backward<LibTorch, 3> for ConvGrad {
    type State = ConvState;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        Self::backward_n(ops, grads);
    }
}

/// `at::convolution_backward` (see `csrc/conv_backward.cpp`): the input gradient when asked for, the
/// weight gradient, and the bias gradient when there is a bias.
fn conv2d_backward(
    grad: &tch::Tensor,
    x: &tch::Tensor,
    weight: &tch::Tensor,
    bias_len: Option<i64>,
    g: Geometry,
    need_input: bool,
) -> [Option<tch::Tensor>; 3] {
    let mut out = [std::ptr::null_mut::<c_void>(); 3];
    let [gi, gw, gb] = &mut out;
    // SAFETY: the three tensors are live LibTorch tensors (tch hands out `at::Tensor*`), the arrays
    // hold two values each as the C++ side reads, and the out-pointers are written only on success.
    let error = unsafe {
        mr_conv2d_backward(
            grad.as_ptr().cast(),
            x.as_ptr().cast(),
            weight.as_ptr().cast(),
            bias_len.unwrap_or(-1),
            g.stride.as_ptr(),
            g.padding.as_ptr(),
            g.dilation.as_ptr(),
            g.groups,
            c_int::from(need_input),
            gi,
            gw,
            gb,
        )
    };
    if !error.is_null() {
        // SAFETY: a non-null result is a NUL-terminated message from `strdup`, freed once here.
        let message = unsafe { CStr::from_ptr(error) }.to_string_lossy().into_owned();
        unsafe { mr_free_message(error) };
        panic!("LibTorch convolution_backward failed: {message}");
    }
    // SAFETY: each non-null pointer is a fresh `new at::Tensor`, owned (and freed) by the tch tensor.
    out.map(|p| (!p.is_null()).then(|| unsafe { tch::Tensor::from_ptr(p.cast()) }))
}

#[cfg(test)]
mod tests {
    use burn::module::Module;
    use burn::nn::conv::Conv2dConfig;
    use burn::tensor::{Device, Distribution, Tensor, activation};

    use super::*;

    #[allow(deprecated)]
    fn device() -> Device {
        Device::libtorch().autodiff()
    }

    fn close<const D: usize>(a: Tensor<D>, b: Tensor<D>, what: &str) {
        let (a, b) = (a.into_data().to_vec::<f32>().unwrap(), b.into_data().to_vec::<f32>().unwrap());
        assert_eq!(a.len(), b.len(), "{what}: lengths");
        let scale = b.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
        let worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
        assert!(worst <= 1e-4 * scale, "{what}: differs by {worst} (scale {scale})");
    }

    /// Our convolution and ReLU against burn's own: same outputs, same gradients for input, weight and
    /// bias, over strides, paddings, dilations, groups and a convolution without bias.
    #[test]
    fn conv_and_relu_match_burns_ops_forward_and_backward() {
        let dev = device();
        // in and out channels, kernel, stride, padding, dilation, groups, bias
        type Case = (usize, usize, [usize; 2], [usize; 2], PaddingConfig2d, [usize; 2], usize, bool);
        let cases: [Case; 6] = [
            (1, 8, [3, 3], [1, 1], PaddingConfig2d::Same, [1, 1], 1, true),
            (4, 6, [3, 3], [2, 2], PaddingConfig2d::Explicit(1, 1, 1, 1), [1, 1], 1, true),
            (4, 6, [5, 3], [1, 2], PaddingConfig2d::Explicit(2, 0, 2, 0), [1, 1], 2, false),
            (6, 6, [3, 3], [1, 1], PaddingConfig2d::Valid, [2, 2], 3, true),
            (3, 5, [1, 1], [1, 1], PaddingConfig2d::Valid, [1, 1], 1, true),
            // burn pads an even kernel's `Same` asymmetrically: this one falls back to burn's op.
            (2, 4, [2, 2], [1, 1], PaddingConfig2d::Same, [1, 1], 1, true),
        ];
        for (i, (cin, cout, kernel, stride, padding, dilation, groups, bias)) in cases.into_iter().enumerate() {
            let conv = Conv2dConfig::new([cin, cout], kernel)
                .with_stride(stride)
                .with_padding(padding)
                .with_dilation(dilation)
                .with_groups(groups)
                .with_bias(bias)
                .init(&dev);
            let input = Tensor::<4>::random([3, cin, 11, 9], Distribution::Normal(0.0, 1.0), &dev).require_grad();
            assert!(
                primitive::<Ad, 4>(&input).is_some() && primitive::<Ad, 4>(&conv.weight.val()).is_some(),
                "case {i}: LibTorch autodiff tensors"
            );
            let ours_apply = symmetric_padding(&conv.padding, 0, 11, kernel[0], stride[0]).is_some();
            assert_eq!(ours_apply, i != 5, "case {i}: which convolution runs");
            let ours = relu(conv2d(&conv, input.clone()));
            let theirs = activation::relu(conv.forward(input.clone()));
            close(ours.clone(), theirs.clone(), &format!("case {i}: output"));
            let weights = Tensor::<4>::random(ours.dims(), Distribution::Normal(0.0, 1.0), &dev);
            let g_ours = (ours * weights.clone()).sum().backward();
            let g_theirs = (theirs * weights).sum().backward();
            close(input.grad(&g_ours).unwrap(), input.grad(&g_theirs).unwrap(), &format!("case {i}: input gradient"));
            close(conv.weight.grad(&g_ours).unwrap(), conv.weight.grad(&g_theirs).unwrap(), &format!("case {i}: weight gradient"));
            if let Some(b) = &conv.bias {
                close(b.grad(&g_ours).unwrap(), b.grad(&g_theirs).unwrap(), &format!("case {i}: bias gradient"));
            }
        }
    }

    /// An input that needs no gradient (the images) gets none computed while the parameters still do; at
    /// inference the channels-last convolution gives burn's result.
    #[test]
    fn data_input_gets_no_gradient_and_inference_matches_burns_convolution() {
        let dev = device();
        let conv = Conv2dConfig::new([1, 4], [3, 3]).with_padding(PaddingConfig2d::Same).init(&dev);
        let images = Tensor::<4>::random([2, 1, 6, 6], Distribution::Default, &dev);
        let grads = relu(conv2d(&conv, images.clone())).sum().backward();
        assert!(images.grad(&grads).is_none());
        assert!(conv.weight.grad(&grads).is_some());
        let frozen = conv.valid();
        let plain = images.without_autodiff();
        let (weight, bias) = (frozen.weight.val(), frozen.bias.as_ref().map(|b| b.val()));
        assert!(primitives::<LibTorch>(&plain, &weight, bias.as_ref()).is_some(), "inference runs LibTorch's convolution");
        close(conv2d(&frozen, plain.clone()), frozen.forward(plain), "inference output");
    }
}
