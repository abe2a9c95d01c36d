// Process-wide settings of libtorch: threads, seeds, grad mode, autocast, devices, build facts.
// Grad mode and autocast are thread-local in libtorch, so each worker thread has its own.
#include <ATen/Parallel.h>

#include <mutex>
#include <ATen/autocast_mode.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <dlfcn.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

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
// getRngState(device) / setRngState(device, state): a device's default generator state as a
// uint8 tensor, and back: what an exact resume restores (the CPU's, and a GPU's for CUDA runs).
static at::Generator DefaultGenerator(const Napi::Value& device) {
  return at::globalContext().defaultGenerator(Device(device));
}
PCAM_FN(GetRngState) {
  at::Generator gen = DefaultGenerator(info[0]);
  std::lock_guard<std::mutex> lock(gen.mutex());
  return Wrap(info.Env(), gen.get_state());
}
PCAM_FN(SetRngState) {
  at::Generator gen = DefaultGenerator(info[0]);
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(Unwrap(info[1]));
  return info.Env().Undefined();
}
PCAM_FN(SetGradEnabled) {
  at::GradMode::set_enabled(Bool(info[0]));
  return info.Env().Undefined();
}
PCAM_FN(IsGradEnabled) { return Napi::Boolean::New(info.Env(), at::GradMode::is_enabled()); }

// Autocast's per-device calls: libtorch 2.4 folded set_cpu_enabled / set_enabled (CUDA) and their
// dtype setters into calls that take the device type, and deprecated the old ones.
#if PCAM_TORCH_AT_LEAST(2, 4)
static void SetAutocastFor(c10::DeviceType device, bool enabled, at::ScalarType dtype) {
  at::autocast::set_autocast_enabled(device, enabled);
  at::autocast::set_autocast_dtype(device, dtype);
}
static bool AutocastEnabledFor(c10::DeviceType device) { return at::autocast::is_autocast_enabled(device); }
#else
static void SetAutocastFor(c10::DeviceType device, bool enabled, at::ScalarType dtype) {
  if (device == c10::DeviceType::CPU) {
    at::autocast::set_cpu_enabled(enabled);
    at::autocast::set_autocast_cpu_dtype(dtype);
  } else {
    at::autocast::set_enabled(enabled);
    at::autocast::set_autocast_gpu_dtype(dtype);
  }
}
static bool AutocastEnabledFor(c10::DeviceType device) {
  return device == c10::DeviceType::CPU ? at::autocast::is_cpu_enabled() : at::autocast::is_enabled();
}
#endif

static c10::DeviceType AutocastDevice(const Napi::Value& value) {
  std::string device = String(value);
  if (device == "cpu") return c10::DeviceType::CPU;
  if (device == "cuda") return c10::DeviceType::CUDA;
  throw std::invalid_argument("autocast device type must be \"cpu\" or \"cuda\", not \"" + device + "\"");
}

// setAutocast(deviceType, enabled, dtype): mixed precision as torch.autocast sets it.
PCAM_FN(SetAutocast) {
  bool enabled = Bool(info[1]);
  SetAutocastFor(AutocastDevice(info[0]), enabled, Dtype(info[2]));
  if (!enabled) at::autocast::clear_cache();
  return info.Env().Undefined();
}
PCAM_FN(IsAutocastEnabled) {
  return Napi::Boolean::New(info.Env(), AutocastEnabledFor(AutocastDevice(info[0])));
}

#if defined(__x86_64__) || defined(__i386__)
static uint64_t ExtendedControlRegister0() {
  uint32_t low = 0, high = 0;
  __asm__ volatile("xgetbv" : "=a"(low), "=d"(high) : "c"(0));
  return (static_cast<uint64_t>(high) << 32) | low;
}
#endif

// cpuFeatures(): the vector and matrix units this CPU can use, read from CPUID as cpuinfo
// (PyTorch's) reads them: a unit counts only when the CPU has it and the OS saves its registers
// (XCR0: AVX state for AVX2, opmask and ZMM state for AVX-512, tile state for AMX). All false
// off x86.
PCAM_FN(CpuFeatures) {
  bool avx2 = false, avx512f = false, avx512Bf16 = false, amxBf16 = false;
#if defined(__x86_64__) || defined(__i386__)
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  unsigned maxLeaf = __get_cpuid_max(0, nullptr);
  if (maxLeaf >= 7 && __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & (1u << 27))) {
    uint64_t xcr0 = ExtendedControlRegister0();
    bool avxState = (xcr0 & 0x6) == 0x6;
    bool avx512State = (xcr0 & 0xE6) == 0xE6;
    bool amxState = (xcr0 & 0x60000) == 0x60000;
    __cpuid_count(7, 0, eax, ebx, ecx, edx);
    unsigned subleaves = eax;
    avx2 = avxState && (ebx & (1u << 5));
    avx512f = avx512State && (ebx & (1u << 16));
    amxBf16 = amxState && (edx & (1u << 22));
    if (subleaves >= 1) {
      __cpuid_count(7, 1, eax, ebx, ecx, edx);
      avx512Bf16 = avx512State && (eax & (1u << 5));
    }
  }
#endif
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("avx2", Napi::Boolean::New(info.Env(), avx2));
  out.Set("avx512f", Napi::Boolean::New(info.Env(), avx512f));
  out.Set("avx512Bf16", Napi::Boolean::New(info.Env(), avx512Bf16));
  out.Set("amxBf16", Napi::Boolean::New(info.Env(), amxBf16));
  return out;
}

// The few CUDA driver calls that describe a GPU, loaded from libcuda at run time so that a
// CPU-only build needs no CUDA headers. Attribute numbers are the driver API's (cuda.h).
namespace {
using CuInit = int (*)(unsigned);
using CuDeviceGet = int (*)(int*, int);
using CuDeviceGetAttribute = int (*)(int*, int, int);
using CuDeviceGetName = int (*)(char*, int, int);
using CuDeviceTotalMem = int (*)(size_t*, int);
constexpr int kComputeCapabilityMajor = 75;
constexpr int kComputeCapabilityMinor = 76;

struct CudaDriver {
  CuInit init = nullptr;
  CuDeviceGet deviceGet = nullptr;
  CuDeviceGetAttribute attribute = nullptr;
  CuDeviceGetName name = nullptr;
  CuDeviceTotalMem totalMem = nullptr;
  bool ready = false;
};

const CudaDriver& Driver() {
  static const CudaDriver driver = [] {
    CudaDriver d;
    void* lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) return d;
    d.init = reinterpret_cast<CuInit>(dlsym(lib, "cuInit"));
    d.deviceGet = reinterpret_cast<CuDeviceGet>(dlsym(lib, "cuDeviceGet"));
    d.attribute = reinterpret_cast<CuDeviceGetAttribute>(dlsym(lib, "cuDeviceGetAttribute"));
    d.name = reinterpret_cast<CuDeviceGetName>(dlsym(lib, "cuDeviceGetName"));
    d.totalMem = reinterpret_cast<CuDeviceTotalMem>(dlsym(lib, "cuDeviceTotalMem_v2"));
    d.ready = d.init && d.deviceGet && d.attribute && d.name && d.totalMem && d.init(0) == 0;
    return d;
  }();
  return driver;
}
}  // namespace

// cudaDeviceFacts(index): { name, major, minor, totalMemory } of a visible GPU, or null when
// the driver is absent or has no such device.
PCAM_FN(CudaDeviceFacts) {
  Napi::Env env = info.Env();
  const CudaDriver& d = Driver();
  int device = 0;
  if (!d.ready || d.deviceGet(&device, static_cast<int>(Int(info[0]))) != 0) return env.Null();
  int major = 0, minor = 0;
  char name[256] = {0};
  size_t memory = 0;
  if (d.attribute(&major, kComputeCapabilityMajor, device) != 0 ||
      d.attribute(&minor, kComputeCapabilityMinor, device) != 0 ||
      d.name(name, sizeof(name) - 1, device) != 0 || d.totalMem(&memory, device) != 0)
    return env.Null();
  Napi::Object out = Napi::Object::New(env);
  out.Set("name", std::string(name));
  out.Set("major", Napi::Number::New(env, major));
  out.Set("minor", Napi::Number::New(env, minor));
  out.Set("totalMemory", Napi::Number::New(env, static_cast<double>(memory)));
  return out;
}

// setCurrentDevice(device): the calling thread's current GPU (torch.cuda.set_device), through
// c10's device guard registry, so no CUDA header is needed. What a rank on cuda:N allocates
// without naming a device (pinned memory, its CUDA context) then lives on its own GPU.
PCAM_FN(SetCurrentDevice) {
  c10::Device device = Device(info[0]);
  c10::impl::getDeviceGuardImpl(device.type())->setDevice(device);
  return info.Env().Undefined();
}

// setCudnnBenchmark(enabled): cuDNN tries its algorithms once per input shape and keeps the
// fastest (torch.backends.cudnn.benchmark).
PCAM_FN(SetCudnnBenchmark) {
  at::globalContext().setBenchmarkCuDNN(Bool(info[0]));
  return info.Env().Undefined();
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
  Export(env, exports, "cudaDeviceFacts", CudaDeviceFacts);
  Export(env, exports, "cpuFeatures", CpuFeatures);
  Export(env, exports, "setCudnnBenchmark", SetCudnnBenchmark);
  Export(env, exports, "setCurrentDevice", SetCurrentDevice);
  Export(env, exports, "liveTensors", LiveTensors);
  Export(env, exports, "buildInfo", BuildInfo);
}

}  // namespace pcam
