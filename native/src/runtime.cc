// Process-wide settings of libtorch: threads, seeds, grad mode, autocast, devices, build facts.
// Grad mode and autocast are thread-local in libtorch, so each worker thread has its own.
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>

#include <mutex>
#include <ATen/autocast_mode.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <torch/version.h>

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "common.h"

namespace pcam {

PCAM_FN(SetNumThreads) {
  at::set_num_threads(static_cast<int>(Int(info[0])));
  return info.Env().Undefined();
}
PCAM_FN(GetNumThreads) { return Napi::Number::New(info.Env(), at::get_num_threads()); }
// Allowed once per process, before any inter-op work; libtorch throws otherwise.
PCAM_FN(SetNumInteropThreads) {
  at::set_num_interop_threads(static_cast<int>(Int(info[0])));
  return info.Env().Undefined();
}
PCAM_FN(ManualSeed) {
  at::manual_seed(static_cast<uint64_t>(Int(info[0])));
  return info.Env().Undefined();
}
// The default CPU generator's state as a uint8 tensor, and back: what an exact resume restores.
PCAM_FN(GetRngState) {
  at::Generator gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  return Wrap(info.Env(), gen.get_state());
}
PCAM_FN(SetRngState) {
  at::Generator gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(Unwrap(info[0]));
  return info.Env().Undefined();
}
PCAM_FN(SetGradEnabled) {
  at::GradMode::set_enabled(Bool(info[0]));
  return info.Env().Undefined();
}
PCAM_FN(IsGradEnabled) { return Napi::Boolean::New(info.Env(), at::GradMode::is_enabled()); }

// setAutocast(deviceType, enabled, dtype): mixed precision as torch.autocast sets it.
PCAM_FN(SetAutocast) {
  std::string device = String(info[0]);
  bool enabled = Bool(info[1]);
  at::ScalarType dtype = Dtype(info[2]);
  if (device == "cpu") {
    at::autocast::set_cpu_enabled(enabled);
    at::autocast::set_autocast_cpu_dtype(dtype);
  } else {
    at::autocast::set_enabled(enabled);
    at::autocast::set_autocast_gpu_dtype(dtype);
  }
  if (!enabled) at::autocast::clear_cache();
  return info.Env().Undefined();
}
PCAM_FN(IsAutocastEnabled) {
  bool cpu = String(info[0]) == "cpu";
  return Napi::Boolean::New(info.Env(), cpu ? at::autocast::is_cpu_enabled() : at::autocast::is_enabled());
}

// setMallocOptions(mmapThreshold, trimThreshold): glibc's allocator settings for the whole
// process. Returns false where the C library is not glibc.
PCAM_FN(SetMallocOptions) {
#ifdef __GLIBC__
  bool ok = mallopt(M_MMAP_THRESHOLD, static_cast<int>(Int(info[0]))) == 1;
  ok = mallopt(M_TRIM_THRESHOLD, static_cast<int>(Int(info[1]))) == 1 && ok;
  return Napi::Boolean::New(info.Env(), ok);
#else
  return Napi::Boolean::New(info.Env(), false);
#endif
}

PCAM_FN(CudaDeviceCount) {
  return Napi::Number::New(info.Env(), at::hasCUDA() ? at::detail::getCUDAHooks().getNumGPUs() : 0);
}
PCAM_FN(LiveTensors) { return Napi::Number::New(info.Env(), static_cast<double>(LiveTensorCount())); }

PCAM_FN(BuildInfo) {
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("torchVersion", TORCH_VERSION);
  out.Set("cxx11Abi", Napi::Boolean::New(info.Env(), _GLIBCXX_USE_CXX11_ABI == 1));
#ifdef PCAM_WITH_CUDA
  out.Set("cuda", Napi::Boolean::New(info.Env(), true));
#else
  out.Set("cuda", Napi::Boolean::New(info.Env(), false));
#endif
  out.Set("parallel", at::get_parallel_info());
  return out;
}

void RegisterRuntime(Napi::Env env, Napi::Object exports) {
  Export(env, exports, "setNumThreads", SetNumThreads);
  Export(env, exports, "getNumThreads", GetNumThreads);
  Export(env, exports, "setNumInteropThreads", SetNumInteropThreads);
  Export(env, exports, "manualSeed", ManualSeed);
  Export(env, exports, "getRngState", GetRngState);
  Export(env, exports, "setRngState", SetRngState);
  Export(env, exports, "setGradEnabled", SetGradEnabled);
  Export(env, exports, "isGradEnabled", IsGradEnabled);
  Export(env, exports, "setAutocast", SetAutocast);
  Export(env, exports, "isAutocastEnabled", IsAutocastEnabled);
  Export(env, exports, "setMallocOptions", SetMallocOptions);
  Export(env, exports, "cudaDeviceCount", CudaDeviceCount);
  Export(env, exports, "liveTensors", LiveTensors);
  Export(env, exports, "buildInfo", BuildInfo);
}

}  // namespace pcam
