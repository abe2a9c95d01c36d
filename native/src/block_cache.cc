// A CPU allocator for libtorch that keeps freed blocks and hands them out again for requests of
// the same size class.
// Training asks for the same sizes every step. glibc maps blocks above its mmap threshold (32 MiB
// at most) afresh on every request and trims the heaps of a worker thread's arena, so each step
// faulted its pages in again: 40,000 page faults a second for MobileNet at 160 px, costly in a VM.
// Mechanism only: the cap on cached bytes (and whether to install it at all) is set from TypeScript.
#include <c10/core/CPUAllocator.h>

#include <atomic>
#include <cstring>
#include <cstdlib>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "common.h"

namespace pcam {
namespace {

// Each block starts with a header holding its size, so the deleter (given only the data pointer)
// knows where to file it; 64 bytes keep the data aligned as libtorch's own allocator does.
constexpr size_t kHeader = 64;

// Requests are rounded up to four classes per power of two (at most 25% more), so that blocks
// serve nearby sizes too: a server's batches of 1 to 32 images would otherwise each keep blocks
// of their own exact sizes. Small requests keep their size.
size_t SizeClass(size_t n) {
  if (n <= 4096) return n;
  size_t power = size_t{1} << (63 - __builtin_clzll(n));  // the largest power of two <= n
  size_t step = power / 4;
  return (n + step - 1) / step * step;
}

class BlockCache final : public c10::Allocator {
 public:
  // libtorch 2.3 made allocate non-const.
#if PCAM_TORCH_AT_LEAST(2, 3)
  c10::DataPtr allocate(size_t n) override {
#else
  c10::DataPtr allocate(size_t n) const override {
#endif
    if (n == 0) return {nullptr, nullptr, &Release, c10::Device(c10::DeviceType::CPU)};
    void* data = Instance().Take(n);
    return {data, data, &Release, c10::Device(c10::DeviceType::CPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &Release; }
  // Pure virtual since libtorch 2.2 (copy-on-write clones); no override keyword, as 1.13 lacks it.
  void copy_data(void* dest, const void* src, std::size_t count) const { std::memcpy(dest, src, count); }

  // Never destroyed: tensors freed during process exit (statics of libtorch, threads still
  // finishing) call Release after every function-local static is gone, so the cache must outlive
  // them all. What it holds at exit goes back to the system with the process.
  static BlockCache& Instance() {
    static BlockCache* cache = new BlockCache();
    return *cache;
  }

  void SetCap(size_t bytes) {
    cap_.store(bytes);
    if (bytes == 0) Empty();
  }

  void Empty() {
    std::vector<void*> stale;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      DrainLocked(stale);
    }
    for (void* block : stale) std::free(block);
  }

  struct Stats {
    size_t cachedBytes, capBytes;
    uint64_t hits, misses;
  };
  Stats Read() {
    std::lock_guard<std::mutex> lock(mutex_);
    return {cached_, cap_.load(), hits_, misses_};
  }

 private:
  void* Take(size_t request) {
    // Beyond any machine's memory; also keeps the rounding and the header from overflowing.
    TORCH_CHECK(request < (size_t{1} << 56), "CPU out of memory: cannot allocate ", request, " bytes");
    size_t n = SizeClass(request);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto found = free_.find(n);
      if (found != free_.end() && !found->second.empty()) {
        void* block = found->second.back();
        found->second.pop_back();
        cached_ -= n;
        ++hits_;
        return static_cast<char*>(block) + kHeader;
      }
      ++misses_;
    }
    void* block = nullptr;
    if (posix_memalign(&block, kHeader, n + kHeader) != 0) {
      Empty();  // what the cache holds may be what the system lacks
      if (posix_memalign(&block, kHeader, n + kHeader) != 0)
        TORCH_CHECK(false, "CPU out of memory: cannot allocate ", request, " bytes");
    }
    *static_cast<size_t*>(block) = n;
    return static_cast<char*>(block) + kHeader;
  }

  static void Release(void* data) {
    if (data == nullptr) return;
    void* block = static_cast<char*>(data) - kHeader;
    Instance().Keep(block, *static_cast<size_t*>(block));
  }

  // Files the block for reuse; when the cap would be passed, everything cached is freed first, so
  // sizes no longer asked for (an earlier batch shape) cannot hold the cache.
  void Keep(void* block, size_t n) {
    size_t cap = cap_.load();
    std::vector<void*> stale;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (n > cap) {
        stale.push_back(block);
      } else {
        if (cached_ + n > cap) DrainLocked(stale);
        free_[n].push_back(block);
        cached_ += n;
      }
    }
    for (void* b : stale) std::free(b);
  }

  // Moves every cached block into `out` (to be freed outside the lock) and empties the cache.
  void DrainLocked(std::vector<void*>& out) {
    for (auto& [size, blocks] : free_) out.insert(out.end(), blocks.begin(), blocks.end());
    free_.clear();
    cached_ = 0;
  }

  std::mutex mutex_;
  std::unordered_map<size_t, std::vector<void*>> free_;
  size_t cached_ = 0;
  std::atomic<size_t> cap_{0};
  uint64_t hits_ = 0;
  uint64_t misses_ = 0;
};

// setCpuBlockCache(capBytes): installs the cache as libtorch's CPU allocator (once per process;
// later calls, e.g. from worker threads, only change the cap). Blocks made before stay with their
// own deleter. A cap of 0 frees what is cached and caches nothing more.
PCAM_FN(SetCpuBlockCache) {
  static std::once_flag installed;
  BlockCache& cache = BlockCache::Instance();
  cache.SetCap(static_cast<size_t>(Int(info[0])));
  std::call_once(installed, [&cache] { c10::SetCPUAllocator(&cache, /*priority=*/1); });
  return info.Env().Undefined();
}
PCAM_FN(EmptyCpuBlockCache) {
  BlockCache::Instance().Empty();
  return info.Env().Undefined();
}
PCAM_FN(CpuBlockCacheStats) {
  BlockCache::Stats stats = BlockCache::Instance().Read();
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("cachedBytes", static_cast<double>(stats.cachedBytes));
  out.Set("capBytes", static_cast<double>(stats.capBytes));
  out.Set("hits", static_cast<double>(stats.hits));
  out.Set("misses", static_cast<double>(stats.misses));
  return out;
}

}  // namespace

void RegisterBlockCache(Napi::Env env, Napi::Object exports) {
  Export(env, exports, "setCpuBlockCache", SetCpuBlockCache);
  Export(env, exports, "emptyCpuBlockCache", EmptyCpuBlockCache);
  Export(env, exports, "cpuBlockCacheStats", CpuBlockCacheStats);
}

}  // namespace pcam
