// One entry point into LibTorch that tch does not bind: `at::convolution_backward`, the fused
// backward pass of a convolution (oneDNN's on CPU, cuDNN's on CUDA). burn's autodiff otherwise
// computes a weight gradient as a second convolution whose kernel is the whole image, which on
// 004's first layer costs 6 ms where this costs 0.3 ms.
//
// Tensors cross as `at::Tensor*`, the same handles tch's `Tensor` wraps; results are allocated with
// `new` for tch to free. On a LibTorch error nothing is allocated and the message is returned (the
// caller frees it with `mr_free_message`).

#include <ATen/ATen.h>

#include <cstdlib>
#include <cstring>
#include <exception>

extern "C" {

char* mr_conv2d_backward(const at::Tensor* grad, const at::Tensor* input, const at::Tensor* weight, int64_t bias_len,
                         const int64_t* stride, const int64_t* padding, const int64_t* dilation, int64_t groups,
                         int need_input, at::Tensor** grad_input, at::Tensor** grad_weight, at::Tensor** grad_bias) {
    try {
        std::array<bool, 3> mask{need_input != 0, true, bias_len >= 0};
        auto bias_sizes = bias_len >= 0 ? at::OptionalIntArrayRef(at::IntArrayRef(&bias_len, 1)) : at::OptionalIntArrayRef();
        auto out = at::convolution_backward(*grad, *input, *weight, bias_sizes, at::IntArrayRef(stride, 2),
                                            at::IntArrayRef(padding, 2), at::IntArrayRef(dilation, 2), false,
                                            at::IntArrayRef({0, 0}), groups, mask);
        *grad_input = mask[0] ? new at::Tensor(std::get<0>(out)) : nullptr;
        *grad_weight = new at::Tensor(std::get<1>(out));
        *grad_bias = mask[2] ? new at::Tensor(std::get<2>(out)) : nullptr;
        return nullptr;
    } catch (const std::exception& e) {
        return strdup(e.what());
    }
}

void mr_free_message(char* message) { free(message); }
}
