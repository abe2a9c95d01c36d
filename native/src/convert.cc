// Conversions between JavaScript values and libtorch types, and the tensor handle's life cycle.
#include <atomic>
#include <cmath>

#include "common.h"

namespace pcam {

static std::atomic<int64_t> liveTensors{0};

int64_t LiveTensorCount() { return liveTensors.load(); }

// Bytes a handle makes V8 count as external memory, so that the garbage collector feels the
// native memory behind handles it could collect: the storage, when this handle is its only
// owner (a view of a storage another handle holds is already counted) and it was allocated by
// libtorch (a memory-mapped file is not process memory).
static int64_t OwnedBytes(const at::Tensor& tensor) {
  if (!tensor.defined() || !tensor.has_storage()) return 0;
  const c10::Storage& storage = tensor.storage();
  if (storage.use_count() != 1 || storage.allocator() == nullptr) return 0;
  return static_cast<int64_t>(storage.nbytes());
}

static void Forget(Napi::Env env, TensorBox* box) {
  if (box->externalBytes > 0) Napi::MemoryManagement::AdjustExternalMemory(env, -box->externalBytes);
  box->externalBytes = 0;
}

Napi::Value Wrap(Napi::Env env, at::Tensor tensor) {
  auto* box = new TensorBox{std::move(tensor), 0};
  liveTensors++;
  // The finalizer runs on the thread that owns env (the main or a worker thread), after dispose()
  // or instead of it when the handle was never disposed.
  return NewHandle(env, box, [](Napi::Env env, TensorBox* b) {
    if (b->tensor.defined()) liveTensors--;
    Forget(env, b);
    delete b;
  });
}

void ThrowJs(Napi::Env env, const std::string& message, const char* code) {
  Napi::Error err = Napi::Error::New(env, message);
  err.Set("code", Napi::String::New(env, code));
  throw err;
}

static TensorBox* Box(const Napi::Value& value) { return HandleData<TensorBox>(value); }

at::Tensor& Unwrap(const Napi::Value& value) {
  TensorBox* box = Box(value);
  if (!box->tensor.defined()) ThrowJs(value.Env(), "tensor was used after dispose()", "TENSOR_DISPOSED");
  return box->tensor;
}

void ReportExternalMemory(const Napi::Value& value) {
  TensorBox* box = Box(value);
  if (!box->tensor.defined() || box->externalBytes > 0) return;
  box->externalBytes = OwnedBytes(box->tensor);
  if (box->externalBytes > 0) Napi::MemoryManagement::AdjustExternalMemory(value.Env(), box->externalBytes);
}

void Release(const Napi::Value& value) {
  TensorBox* box = Box(value);
  if (box->tensor.defined()) {
    box->tensor = at::Tensor();
    liveTensors--;
    Forget(value.Env(), box);
  }
}

std::optional<at::Tensor> OptionalTensor(const Napi::Value& value) {
  if (value.IsUndefined() || value.IsNull()) return std::nullopt;
  return Unwrap(value);
}

std::vector<at::Tensor> TensorList(const Napi::Value& value) {
  Napi::Array array = value.As<Napi::Array>();
  std::vector<at::Tensor> tensors;
  tensors.reserve(array.Length());
  for (uint32_t i = 0; i < array.Length(); i++) tensors.push_back(Unwrap(array.Get(i)));
  return tensors;
}

Napi::Array WrapList(Napi::Env env, const std::vector<at::Tensor>& tensors) {
  Napi::Array array = Napi::Array::New(env, tensors.size());
  for (size_t i = 0; i < tensors.size(); i++) array.Set(static_cast<uint32_t>(i), Wrap(env, tensors[i]));
  return array;
}

std::vector<int64_t> IntList(const Napi::Value& value) {
  Napi::Array array = value.As<Napi::Array>();
  std::vector<int64_t> ints(array.Length());
  for (uint32_t i = 0; i < array.Length(); i++) ints[i] = Int(array.Get(i));
  return ints;
}

int64_t Int(const Napi::Value& value) {
  if (value.IsBigInt()) {
    bool lossless = true;
    return value.As<Napi::BigInt>().Int64Value(&lossless);
  }
  return value.As<Napi::Number>().Int64Value();
}

double Double(const Napi::Value& value) { return value.As<Napi::Number>().DoubleValue(); }
bool Bool(const Napi::Value& value) { return value.As<Napi::Boolean>().Value(); }
std::string String(const Napi::Value& value) { return value.As<Napi::String>().Utf8Value(); }

// JavaScript has one number type: integral values become integer scalars (as Python's 1 does),
// so `intTensor.add(1)` stays integral while `x.mul(0.5)` is a float.
at::Scalar Scalar(const Napi::Value& value) {
  if (value.IsBoolean()) return at::Scalar(Bool(value));
  if (value.IsBigInt()) return at::Scalar(Int(value));
  double d = Double(value);
  if (std::trunc(d) == d && std::fabs(d) <= 9007199254740992.0) return at::Scalar(static_cast<int64_t>(d));
  return at::Scalar(d);
}

static const std::pair<const char*, at::ScalarType> kDtypes[] = {
    {"float32", at::kFloat}, {"float64", at::kDouble}, {"float16", at::kHalf},
    {"bfloat16", at::kBFloat16}, {"uint8", at::kByte}, {"int8", at::kChar},
    {"int32", at::kInt}, {"int64", at::kLong}, {"bool", at::kBool},
};

at::ScalarType Dtype(const Napi::Value& value) {
  std::string name = String(value);
  for (const auto& [n, type] : kDtypes)
    if (name == n) return type;
  throw Napi::TypeError::New(value.Env(), "unknown dtype " + name);
}

std::string DtypeName(at::ScalarType type) {
  for (const auto& [n, t] : kDtypes)
    if (t == type) return n;
  return c10::toString(type);
}

at::Device Device(const Napi::Value& value) { return at::Device(String(value)); }

at::MemoryFormat MemoryFormat(const Napi::Value& value) {
  std::string name = String(value);
  if (name == "contiguous") return at::MemoryFormat::Contiguous;
  if (name == "channelsLast") return at::MemoryFormat::ChannelsLast;
  if (name == "preserve") return at::MemoryFormat::Preserve;
  throw Napi::TypeError::New(value.Env(), "unknown memory format " + name);
}

}  // namespace pcam
