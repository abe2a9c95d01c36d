// Neural-network ops: convolution, batch norm, pooling, resizing, padding, activations with
// parameters, dropout, softmax and the losses. Arguments arrive fully specified from src/torch.
#include "common.h"

namespace pcam {

static at::Reduction::Reduction Reduction(const Napi::Value& value) {
  std::string name = String(value);
  if (name == "mean") return at::Reduction::Mean;
  if (name == "sum") return at::Reduction::Sum;
  if (name == "none") return at::Reduction::None;
  throw Napi::TypeError::New(value.Env(), "unknown reduction " + name);
}

static at::Tensor OrUndefined(const std::optional<at::Tensor>& t) { return t ? *t : at::Tensor(); }

// conv2d(x, weight, bias | null, stride[2], padding[2], dilation[2], groups)
PCAM_FN(Conv2d) {
  return Wrap(info.Env(), at::conv2d(Unwrap(info[0]), Unwrap(info[1]), OrUndefined(OptionalTensor(info[2])),
                                     IntList(info[3]), IntList(info[4]), IntList(info[5]), Int(info[6])));
}

// linear(x, weight, bias | null)
PCAM_FN(Linear) {
  return Wrap(info.Env(), at::linear(Unwrap(info[0]), Unwrap(info[1]), OrUndefined(OptionalTensor(info[2]))));
}

// batchNorm(x, weight | null, bias | null, runningMean | null, runningVar | null, training, momentum, eps)
// In training mode ATen updates the running statistics in place.
PCAM_FN(BatchNorm) {
  return Wrap(info.Env(), at::batch_norm(Unwrap(info[0]), OrUndefined(OptionalTensor(info[1])),
                                         OrUndefined(OptionalTensor(info[2])), OrUndefined(OptionalTensor(info[3])),
                                         OrUndefined(OptionalTensor(info[4])), Bool(info[5]), Double(info[6]),
                                         Double(info[7]), /*cudnn_enabled=*/true));
}

// maxPool2d(x, kernel[2], stride[2], padding[2], dilation[2], ceilMode)
PCAM_FN(MaxPool2d) {
  return Wrap(info.Env(), at::max_pool2d(Unwrap(info[0]), IntList(info[1]), IntList(info[2]), IntList(info[3]),
                                         IntList(info[4]), Bool(info[5])));
}

// avgPool2d(x, kernel[2], stride[2], padding[2], ceilMode, countIncludePad)
PCAM_FN(AvgPool2d) {
  return Wrap(info.Env(), at::avg_pool2d(Unwrap(info[0]), IntList(info[1]), IntList(info[2]), IntList(info[3]),
                                         Bool(info[4]), Bool(info[5])));
}

PCAM_FN(AdaptiveAvgPool2d) { return Wrap(info.Env(), at::adaptive_avg_pool2d(Unwrap(info[0]), IntList(info[1]))); }
PCAM_FN(AdaptiveMaxPool2d) {
  return Wrap(info.Env(), std::get<0>(at::adaptive_max_pool2d(Unwrap(info[0]), IntList(info[1]))));
}

// interpolate(x, size[2], mode, alignCorners): mode is "nearest", "bilinear" or "bicubic".
PCAM_FN(Interpolate) {
  const at::Tensor& x = Unwrap(info[0]);
  std::vector<int64_t> size = IntList(info[1]);
  std::string mode = String(info[2]);
  bool align = Bool(info[3]);
  if (mode == "nearest") return Wrap(info.Env(), at::upsample_nearest2d(x, size));
  if (mode == "bilinear") return Wrap(info.Env(), at::upsample_bilinear2d(x, size, align));
  if (mode == "bicubic") return Wrap(info.Env(), at::upsample_bicubic2d(x, size, align));
  throw Napi::TypeError::New(info.Env(), "unknown interpolation mode " + mode);
}

// pad(x, pads, mode, value): pads as in torch.nn.functional.pad (last dimension first).
PCAM_FN(Pad) {
  std::string mode = String(info[2]);
  c10::optional<double> value;
  if (mode == "constant") value = Double(info[3]);
  return Wrap(info.Env(), at::pad(Unwrap(info[0]), IntList(info[1]), mode, value));
}

// affineGrid(theta N x 2 x 3, size [N, C, H, W], alignCorners): sampling grid of affine maps.
PCAM_FN(AffineGrid) {
  return Wrap(info.Env(), at::affine_grid_generator(Unwrap(info[0]), IntList(info[1]), Bool(info[2])));
}
// gridSample(x, grid, mode 0 bilinear / 1 nearest / 2 bicubic, padding 0 zeros / 1 border / 2 reflection, alignCorners)
PCAM_FN(GridSample) {
  return Wrap(info.Env(), at::grid_sampler(Unwrap(info[0]), Unwrap(info[1]), Int(info[2]), Int(info[3]), Bool(info[4])));
}

PCAM_FN(Hardtanh) { return Wrap(info.Env(), at::hardtanh(Unwrap(info[0]), Scalar(info[1]), Scalar(info[2]))); }
PCAM_FN(LeakyRelu) { return Wrap(info.Env(), at::leaky_relu(Unwrap(info[0]), Scalar(info[1]))); }
PCAM_FN(Softmax) { return Wrap(info.Env(), at::softmax(Unwrap(info[0]), Int(info[1]))); }
PCAM_FN(LogSoftmax) { return Wrap(info.Env(), at::log_softmax(Unwrap(info[0]), Int(info[1]))); }
// dropout(x, p, training)
PCAM_FN(Dropout) { return Wrap(info.Env(), at::dropout(Unwrap(info[0]), Double(info[1]), Bool(info[2]))); }

// bceWithLogits(x, target, weight | null, posWeight | null, reduction)
PCAM_FN(BceWithLogits) {
  return Wrap(info.Env(), at::binary_cross_entropy_with_logits(Unwrap(info[0]), Unwrap(info[1]),
                                                                OrUndefined(OptionalTensor(info[2])),
                                                                OrUndefined(OptionalTensor(info[3])),
                                                                Reduction(info[4])));
}

// crossEntropy(x, target, weight | null, reduction, ignoreIndex, labelSmoothing)
PCAM_FN(CrossEntropy) {
  return Wrap(info.Env(), at::cross_entropy_loss(Unwrap(info[0]), Unwrap(info[1]), OrUndefined(OptionalTensor(info[2])),
                                                 Reduction(info[3]), Int(info[4]), Double(info[5])));
}

// mseLoss(x, target, reduction)
PCAM_FN(MseLoss) {
  return Wrap(info.Env(), at::mse_loss(Unwrap(info[0]), Unwrap(info[1]), Reduction(info[2])));
}

void RegisterNn(Napi::Env env, Napi::Object exports) {
  Export(env, exports, "conv2d", Conv2d);
  Export(env, exports, "linear", Linear);
  Export(env, exports, "batchNorm", BatchNorm);
  Export(env, exports, "maxPool2d", MaxPool2d);
  Export(env, exports, "avgPool2d", AvgPool2d);
  Export(env, exports, "adaptiveAvgPool2d", AdaptiveAvgPool2d);
  Export(env, exports, "adaptiveMaxPool2d", AdaptiveMaxPool2d);
  Export(env, exports, "interpolate", Interpolate);
  Export(env, exports, "pad", Pad);
  Export(env, exports, "affineGrid", AffineGrid);
  Export(env, exports, "gridSample", GridSample);
  Export(env, exports, "hardtanh", Hardtanh);
  Export(env, exports, "leakyRelu", LeakyRelu);
  Export(env, exports, "softmax", Softmax);
  Export(env, exports, "logSoftmax", LogSoftmax);
  Export(env, exports, "dropout", Dropout);
  Export(env, exports, "bceWithLogits", BceWithLogits);
  Export(env, exports, "crossEntropy", CrossEntropy);
  Export(env, exports, "mseLoss", MseLoss);
}

}  // namespace pcam
