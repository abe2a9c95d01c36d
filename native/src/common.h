// Shared by every source file of the addon: the tensor handle, argument conversion, and the one
// place where C++ exceptions become JavaScript errors. Mechanism only: no defaults, no policy.
#pragma once

#include <ATen/ATen.h>
#include <c10/util/Optional.h>
#include <napi.h>
#include <torch/version.h>

#include <optional>
#include <string>
#include <vector>

// True when built against libtorch major.minor or later: the few API changes between Debian's
// 1.13 and PyTorch 2.x wheels are guarded with it.
#define PCAM_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) || (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

namespace pcam {

// A tensor handle is a Napi::External<TensorBox>. JavaScript owns the box: dispose() releases the
// tensor at once (deterministic), the finalizer deletes the box when V8 collects the handle.
struct TensorBox {
  at::Tensor tensor;
  // What this handle reported to V8 as external memory (napi_adjust_external_memory).
  int64_t externalBytes = 0;
};

// Every handle (tensor, slide, process group, generator) is an external tagged with its kind when
// made (napi_type_tag_object) and checked on every use: a handle of another kind, or any other
// value, is a TypeError instead of a cast to the wrong C++ type. Each kind specialises HandleKind
// with a random 128-bit tag and a name for the message.
template <class T>
struct HandleKind;

template <class T, class Finalizer>
Napi::External<T> NewHandle(Napi::Env env, T* data, Finalizer finalize) {
  Napi::External<T> handle = Napi::External<T>::New(env, data, std::move(finalize));
  handle.TypeTag(&HandleKind<T>::tag);
  return handle;
}

template <class T>
T* HandleData(const Napi::Value& value) {
  if (!value.IsExternal() || !value.As<Napi::External<T>>().CheckTypeTag(&HandleKind<T>::tag))
    throw Napi::TypeError::New(value.Env(), std::string("expected a ") + HandleKind<T>::name);
  return value.As<Napi::External<T>>().Data();
}

template <>
struct HandleKind<TensorBox> {
  static constexpr napi_type_tag tag{0x9c1f4e2a7b3d5608ULL, 0x51e2c7a9f04d8b36ULL};
  static constexpr const char* name = "tensor handle";
};

// Live (undisposed, uncollected) tensor handles, over all threads; a leak shows up here first.
int64_t LiveTensorCount();

Napi::Value Wrap(Napi::Env env, at::Tensor tensor);
at::Tensor& Unwrap(const Napi::Value& value);
void Release(const Napi::Value& value);
// Tells V8 of the handle's native memory (once): for handles only the garbage collector may free.
void ReportExternalMemory(const Napi::Value& value);
std::optional<at::Tensor> OptionalTensor(const Napi::Value& value);
std::vector<at::Tensor> TensorList(const Napi::Value& value);
Napi::Array WrapList(Napi::Env env, const std::vector<at::Tensor>& tensors);

std::vector<int64_t> IntList(const Napi::Value& value);
int64_t Int(const Napi::Value& value);
double Double(const Napi::Value& value);
bool Bool(const Napi::Value& value);
std::string String(const Napi::Value& value);
at::Scalar Scalar(const Napi::Value& value);
at::ScalarType Dtype(const Napi::Value& value);
std::string DtypeName(at::ScalarType type);
at::Device Device(const Napi::Value& value);
at::MemoryFormat MemoryFormat(const Napi::Value& value);

// A JavaScript Error with libtorch's message and a stable `code` for src/torch to map.
[[noreturn]] void ThrowJs(Napi::Env env, const std::string& message, const char* code);

// Runs f and turns a c10::Error (shape mismatch, out of memory, ...) or std::exception into a
// JavaScript Error carrying libtorch's message and a `code`; an escaping C++ exception would abort.
template <class F>
Napi::Value Guard(const Napi::CallbackInfo& info, F&& f) {
  Napi::Env env = info.Env();
  try {
    return f();
  } catch (const Napi::Error&) {
    throw;
  } catch (const c10::IndexError& e) {
    ThrowJs(env, e.what_without_backtrace(), "TORCH_INDEX");
  } catch (const c10::TypeError& e) {
    ThrowJs(env, e.what_without_backtrace(), "TORCH_TYPE");
  } catch (const c10::Error& e) {
    std::string message = e.what_without_backtrace();
    bool oom = message.find("out of memory") != std::string::npos ||
               message.find("DefaultCPUAllocator: can't allocate") != std::string::npos;
    ThrowJs(env, message, oom ? "TORCH_OUT_OF_MEMORY" : "TORCH");
  } catch (const std::bad_alloc&) {
    ThrowJs(env, "out of memory (std::bad_alloc)", "TORCH_OUT_OF_MEMORY");
  } catch (const std::exception& e) {
    ThrowJs(env, e.what(), "TORCH");
  }
}

// Declares an exported function whose body runs inside Guard.
#define PCAM_FN(name) \
  static Napi::Value name##Impl(const Napi::CallbackInfo& info); \
  Napi::Value name(const Napi::CallbackInfo& info) { return Guard(info, [&] { return name##Impl(info); }); } \
  static Napi::Value name##Impl(const Napi::CallbackInfo& info)

void RegisterTensor(Napi::Env env, Napi::Object exports);
void RegisterOps(Napi::Env env, Napi::Object exports);
void RegisterNn(Napi::Env env, Napi::Object exports);
void RegisterOptim(Napi::Env env, Napi::Object exports);
void RegisterMmap(Napi::Env env, Napi::Object exports);
void RegisterRuntime(Napi::Env env, Napi::Object exports);
void RegisterDist(Napi::Env env, Napi::Object exports);
void RegisterSlide(Napi::Env env, Napi::Object exports);
void RegisterBlockCache(Napi::Env env, Napi::Object exports);

inline void Export(Napi::Env env, Napi::Object exports, const char* name, Napi::Function::Callback fn) {
  exports.Set(name, Napi::Function::New(env, fn, name));
}

}  // namespace pcam
