// Entry point of the pcam addon: every source file registers its functions here. Hand-written
// over node-addon-api because no npm package binds libtorch's C++ API (tensors, autograd, c10d)
// or OpenSlide; it holds mechanism only. The addon keeps no per-process JavaScript state, so it
// loads in any number of worker threads.
#include "common.h"

namespace pcam {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  RegisterRuntime(env, exports);
  RegisterTensor(env, exports);
  RegisterOps(env, exports);
  RegisterNn(env, exports);
  RegisterOptim(env, exports);
  RegisterMmap(env, exports);
  RegisterDist(env, exports);
#ifndef PCAM_WITHOUT_OPENSLIDE
  RegisterSlide(env, exports);
#endif
  RegisterBlockCache(env, exports);
  return exports;
}

NODE_API_MODULE(pcam, Init)

}  // namespace pcam
