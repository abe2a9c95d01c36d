// Tensor creation, metadata, data transfer to and from JavaScript, in-place fills, and autograd
// entry points (requires_grad, grad, backward). Each function is a thin call into ATen.
#include <cstring>

#include <ATen/CPUGeneratorImpl.h>

#include "common.h"

namespace pcam {

static at::TensorOptions Options(const Napi::Value& dtype, const Napi::Value& device) {
  return at::TensorOptions().dtype(Dtype(dtype)).device(Device(device));
}

// fromBuffer(typedArray, srcDtype, shape, dtype, device): copies the array's bytes into a new tensor.
PCAM_FN(FromBuffer) {
  if (!info[0].IsTypedArray()) throw Napi::TypeError::New(info.Env(), "fromBuffer: expected a typed array");
  Napi::TypedArray array = info[0].As<Napi::TypedArray>();
  uint8_t* data = static_cast<uint8_t*>(array.ArrayBuffer().Data()) + array.ByteOffset();
  at::ScalarType source = Dtype(info[1]);
  std::vector<int64_t> shape = IntList(info[2]);
  // The view must cover exactly the array's bytes: a shape larger than the array would read past
  // its end. Sizes are checked one by one, so no product overflows.
  size_t bytes = c10::elementSize(source);
  for (int64_t d : shape) {
    if (d < 0) throw std::invalid_argument("fromBuffer: negative size in the shape");
    if (d != 0 && bytes > array.ByteLength() / static_cast<size_t>(d)) {
      bytes = SIZE_MAX;
      break;
    }
    bytes *= static_cast<size_t>(d);
  }
  if (bytes != array.ByteLength())
    throw std::invalid_argument("fromBuffer: the shape needs " +
                                (bytes == SIZE_MAX ? std::string("more") : std::to_string(bytes)) +
                                " bytes but the array holds " + std::to_string(array.ByteLength()));
  at::Tensor view = at::from_blob(data, shape, at::TensorOptions().dtype(source));
  at::Tensor out = view.to(Options(info[3], info[4]), /*non_blocking=*/false, /*copy=*/true);
  return Wrap(info.Env(), out);
}

// toBuffer(h, raw): a new ArrayBuffer holding the tensor's elements in row-major order. Unless raw,
// float16 and bfloat16 come back as float32 and bool as uint8, since JavaScript has no arrays of
// those; raw keeps the stored bytes (for writing weight files).
PCAM_FN(ToBuffer) {
  at::Tensor t = Unwrap(info[0]).detach().to(at::kCPU);
  bool raw = info.Length() > 1 && Bool(info[1]);
  if (!raw && (t.scalar_type() == at::kHalf || t.scalar_type() == at::kBFloat16)) t = t.to(at::kFloat);
  if (!raw && t.scalar_type() == at::kBool) t = t.to(at::kByte);
  t = t.contiguous();
  size_t bytes = t.numel() * t.element_size();
  Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(info.Env(), bytes);
  if (bytes > 0) std::memcpy(buffer.Data(), t.data_ptr(), bytes);
  return buffer;
}

PCAM_FN(Item) {
  at::Scalar s = Unwrap(info[0]).item();
  if (s.isBoolean()) return Napi::Boolean::New(info.Env(), s.toBool());
  return Napi::Number::New(info.Env(), s.toDouble());
}

// Factories: full(shape, value, dtype, device), rand/randn(shape, dtype, device), ...
PCAM_FN(Full) {
  return Wrap(info.Env(), at::full(IntList(info[0]), Scalar(info[1]), Options(info[2], info[3])));
}
// The strides of `like` are kept (torch.full_like's preserve_format): a channels-last weight's
// optimizer state is channels-last too, so their element-wise updates stay on the dense path.
PCAM_FN(FullLike) {
  return Wrap(info.Env(), at::full_like(Unwrap(info[0]), Scalar(info[1]), Options(info[2], info[3])));
}
PCAM_FN(Empty) { return Wrap(info.Env(), at::empty(IntList(info[0]), Options(info[1], info[2]))); }
// The random factories take an optional generator (last argument) so a data loader can draw
// from its own seeded stream without disturbing the global one (model init, dropout).
template <>
struct HandleKind<at::Generator> {
  static constexpr napi_type_tag tag{0x3c6ef372fe94f82bULL, 0xa54ff53a5f1d36f1ULL};
  static constexpr const char* name = "generator handle";
};
static c10::optional<at::Generator> OptionalGenerator(const Napi::Value& value) {
  if (value.IsUndefined() || value.IsNull()) return c10::nullopt;
  return *HandleData<at::Generator>(value);
}
PCAM_FN(Generator) {
  auto* gen = new at::Generator(at::detail::createCPUGenerator(static_cast<uint64_t>(Int(info[0]))));
  return NewHandle(info.Env(), gen, [](Napi::Env, at::Generator* g) { delete g; });
}
PCAM_FN(Rand) {
  return Wrap(info.Env(), at::rand(IntList(info[0]), OptionalGenerator(info[3]), Options(info[1], info[2])));
}
PCAM_FN(Randn) {
  return Wrap(info.Env(), at::randn(IntList(info[0]), OptionalGenerator(info[3]), Options(info[1], info[2])));
}
PCAM_FN(Randint) {
  return Wrap(info.Env(), at::randint(Int(info[0]), Int(info[1]), IntList(info[2]), OptionalGenerator(info[5]),
                                      Options(info[3], info[4])));
}
PCAM_FN(Randperm) {
  return Wrap(info.Env(), at::randperm(Int(info[0]), OptionalGenerator(info[3]), Options(info[1], info[2])));
}
PCAM_FN(Arange) {
  return Wrap(info.Env(), at::arange(Scalar(info[0]), Scalar(info[1]), Scalar(info[2]), Options(info[3], info[4])));
}

PCAM_FN(Dispose) {
  Release(info[0]);
  return info.Env().Undefined();
}
PCAM_FN(ReportExternal) {
  ReportExternalMemory(info[0]);
  return info.Env().Undefined();
}

PCAM_FN(Shape) {
  at::IntArrayRef sizes = Unwrap(info[0]).sizes();
  Napi::Array out = Napi::Array::New(info.Env(), sizes.size());
  for (size_t i = 0; i < sizes.size(); i++) out.Set(static_cast<uint32_t>(i), Napi::Number::New(info.Env(), sizes[i]));
  return out;
}
PCAM_FN(DtypeOf) { return Napi::String::New(info.Env(), DtypeName(Unwrap(info[0]).scalar_type())); }
PCAM_FN(DeviceOf) { return Napi::String::New(info.Env(), Unwrap(info[0]).device().str()); }
PCAM_FN(IsContiguous) {
  return Napi::Boolean::New(info.Env(), Unwrap(info[0]).is_contiguous(MemoryFormat(info[1])));
}

// to(h, dtype, device, copy, nonBlocking): nonBlocking copies from pinned memory to a GPU
// return before the copy ends (ordered on the GPU's current stream).
PCAM_FN(To) {
  at::Tensor& t = Unwrap(info[0]);
  return Wrap(info.Env(), t.to(Options(info[1], info[2]), Bool(info[4]), Bool(info[3])));
}
// pinMemory(h): a copy in page-locked host memory, which a GPU copies from asynchronously. Needs
// a CUDA libtorch; libtorch's own error says so otherwise.
PCAM_FN(PinMemory) { return Wrap(info.Env(), Unwrap(info[0]).pin_memory()); }
PCAM_FN(IsPinned) { return Napi::Boolean::New(info.Env(), Unwrap(info[0]).is_pinned()); }
PCAM_FN(Contiguous) { return Wrap(info.Env(), Unwrap(info[0]).contiguous(MemoryFormat(info[1]))); }
PCAM_FN(Clone) { return Wrap(info.Env(), Unwrap(info[0]).clone(MemoryFormat(info[1]))); }

// In-place writes, used by initialisers, optimizers and state loading. They return nothing: the
// caller keeps its own handle.
PCAM_FN(Copy_) {
  Unwrap(info[0]).copy_(Unwrap(info[1]));
  return info.Env().Undefined();
}
PCAM_FN(Fill_) {
  Unwrap(info[0]).fill_(Scalar(info[1]));
  return info.Env().Undefined();
}
PCAM_FN(Uniform_) {
  Unwrap(info[0]).uniform_(Double(info[1]), Double(info[2]));
  return info.Env().Undefined();
}
PCAM_FN(Normal_) {
  Unwrap(info[0]).normal_(Double(info[1]), Double(info[2]));
  return info.Env().Undefined();
}

PCAM_FN(RequiresGrad) { return Napi::Boolean::New(info.Env(), Unwrap(info[0]).requires_grad()); }
PCAM_FN(SetRequiresGrad) {
  Unwrap(info[0]).requires_grad_(Bool(info[1]));
  return info.Env().Undefined();
}
PCAM_FN(IsLeaf) { return Napi::Boolean::New(info.Env(), Unwrap(info[0]).is_leaf()); }
// setData(h, src): h now holds src's data (shape, dtype, device may change) but keeps its
// identity, autograd leaf status and handle, as torch's `param.data = ...` does.
PCAM_FN(SetData) {
  Unwrap(info[0]).set_data(Unwrap(info[1]));
  return info.Env().Undefined();
}
PCAM_FN(Detach) { return Wrap(info.Env(), Unwrap(info[0]).detach()); }

// grad(h): a new handle on the accumulated gradient, or null when there is none.
PCAM_FN(Grad) {
  const at::Tensor& g = Unwrap(info[0]).grad();
  if (!g.defined()) return info.Env().Null();
  return Wrap(info.Env(), g);
}
PCAM_FN(HasGrad) { return Napi::Boolean::New(info.Env(), Unwrap(info[0]).grad().defined()); }
// setGrad(h, g | null): null drops the gradient (PyTorch's zero_grad(set_to_none=True)).
PCAM_FN(SetGrad) {
  std::optional<at::Tensor> g = OptionalTensor(info[1]);
  Unwrap(info[0]).mutable_grad() = g ? *g : at::Tensor();
  return info.Env().Undefined();
}
PCAM_FN(RetainGrad) {
  Unwrap(info[0]).retain_grad();
  return info.Env().Undefined();
}
// backward(h, gradient | null, retainGraph)
PCAM_FN(Backward) {
  std::optional<at::Tensor> gradient = OptionalTensor(info[1]);
  Unwrap(info[0]).backward(gradient ? *gradient : at::Tensor(), Bool(info[2]));
  return info.Env().Undefined();
}

void RegisterTensor(Napi::Env env, Napi::Object exports) {
  Export(env, exports, "fromBuffer", FromBuffer);
  Export(env, exports, "toBuffer", ToBuffer);
  Export(env, exports, "item", Item);
  Export(env, exports, "full", Full);
  Export(env, exports, "fullLike", FullLike);
  Export(env, exports, "empty", Empty);
  Export(env, exports, "generator", Generator);
  Export(env, exports, "rand", Rand);
  Export(env, exports, "randn", Randn);
  Export(env, exports, "randint", Randint);
  Export(env, exports, "randperm", Randperm);
  Export(env, exports, "arange", Arange);
  Export(env, exports, "dispose", Dispose);
  Export(env, exports, "reportExternalMemory", ReportExternal);
  Export(env, exports, "shape", Shape);
  Export(env, exports, "dtype", DtypeOf);
  Export(env, exports, "device", DeviceOf);
  Export(env, exports, "isContiguous", IsContiguous);
  Export(env, exports, "to", To);
  Export(env, exports, "pinMemory", PinMemory);
  Export(env, exports, "isPinned", IsPinned);
  Export(env, exports, "contiguous", Contiguous);
  Export(env, exports, "clone", Clone);
  Export(env, exports, "copy_", Copy_);
  Export(env, exports, "fill_", Fill_);
  Export(env, exports, "uniform_", Uniform_);
  Export(env, exports, "normal_", Normal_);
  Export(env, exports, "requiresGrad", RequiresGrad);
  Export(env, exports, "setRequiresGrad", SetRequiresGrad);
  Export(env, exports, "isLeaf", IsLeaf);
  Export(env, exports, "setData", SetData);
  Export(env, exports, "detach", Detach);
  Export(env, exports, "grad", Grad);
  Export(env, exports, "hasGrad", HasGrad);
  Export(env, exports, "setGrad", SetGrad);
  Export(env, exports, "retainGrad", RetainGrad);
  Export(env, exports, "backward", Backward);
}

}  // namespace pcam
