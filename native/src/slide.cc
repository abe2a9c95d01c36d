// Whole-slide images through OpenSlide: open and close, levels, properties, the associated images'
// names and sizes, and region reads into uint8 H x W x 3 tensors. Mechanism only: which level,
// where and how much to read is decided in TypeScript (src/slide). Reads run on libuv's thread
// pool (Napi::AsyncWorker).
#include <openslide.h>

#include <functional>
#include <memory>

#include "common.h"

namespace pcam {

namespace {

// OpenSlide handles are thread-safe for reads. A handle is shared by the JavaScript box and every
// read in flight, so close() from JavaScript never frees it under a worker: openslide_close runs
// when the last owner lets go.
using SlidePtr = std::shared_ptr<openslide_t>;

struct SlideBox {
  SlidePtr slide;
  std::string path;
};

}  // namespace

template <>
struct HandleKind<SlideBox> {
  static constexpr napi_type_tag tag{0x2b7e151628aed2a6ULL, 0xabf7158809cf4f3cULL};
  static constexpr const char* name = "slide handle";
};

namespace {

SlideBox& Box(const Napi::Value& value) { return *HandleData<SlideBox>(value); }

SlidePtr Slide(const Napi::Value& value) {
  SlideBox& box = Box(value);
  if (!box.slide) ThrowJs(value.Env(), "the slide " + box.path + " was closed", "SLIDE");
  return box.slide;
}

// OpenSlide's sticky error: once set, every later call on the handle fails.
void CheckError(openslide_t* osr) {
  const char* error = openslide_get_error(osr);
  if (error != nullptr) throw std::runtime_error(error);
}

// Premultiplied ARGB (OpenSlide's format) composited on white into packed RGB: with
// premultiplied colour, c + (255 - a) is c/a * a + 255 * (1 - a), rounded as OpenSlide's tools do.
at::Tensor ArgbToRgb(const std::vector<uint32_t>& argb, int64_t height, int64_t width) {
  at::Tensor out = at::empty({height, width, 3}, at::kByte);
  uint8_t* dst = out.data_ptr<uint8_t>();
  for (size_t i = 0; i < argb.size(); i++) {
    uint32_t p = argb[i];
    uint32_t background = 255 - (p >> 24);
    dst[3 * i] = static_cast<uint8_t>(((p >> 16) & 0xff) + background);
    dst[3 * i + 1] = static_cast<uint8_t>(((p >> 8) & 0xff) + background);
    dst[3 * i + 2] = static_cast<uint8_t>((p & 0xff) + background);
  }
  return out;
}

// Runs `read` on the thread pool and settles a promise with the tensor it returns.
class ReadWorker : public Napi::AsyncWorker {
 public:
  ReadWorker(Napi::Env env, std::function<at::Tensor()> read)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), read_(std::move(read)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    try {
      result_ = read_();
    } catch (const std::exception& e) {
      SetError(e.what());
    }
  }
  void OnOK() override { deferred_.Resolve(Wrap(Env(), std::move(result_))); }
  void OnError(const Napi::Error& error) override {
    error.Set("code", Napi::String::New(Env(), "SLIDE"));
    deferred_.Reject(error.Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::function<at::Tensor()> read_;
  at::Tensor result_;
};

Napi::Value Queue(Napi::Env env, std::function<at::Tensor()> read) {
  auto* worker = new ReadWorker(env, std::move(read));  // deletes itself when settled
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

}  // namespace

// slideOpen(path): null when OpenSlide does not recognise the format; throws when it does but the
// file is broken (OpenSlide's message).
PCAM_FN(SlideOpen) {
  std::string path = String(info[0]);
  openslide_t* osr = openslide_open(path.c_str());
  if (osr == nullptr) return info.Env().Null();
  SlidePtr slide(osr, openslide_close);
  const char* error = openslide_get_error(osr);
  if (error != nullptr) ThrowJs(info.Env(), error, "SLIDE");
  auto* box = new SlideBox{std::move(slide), path};
  return NewHandle(info.Env(), box, [](Napi::Env, SlideBox* b) { delete b; });
}

PCAM_FN(SlideClose) {
  Box(info[0]).slide.reset();
  return info.Env().Undefined();
}

// slideLevels(h): [{ width, height, downsample }] from level 0 (full resolution) down.
PCAM_FN(SlideLevels) {
  SlidePtr slide = Slide(info[0]);
  int32_t count = openslide_get_level_count(slide.get());
  CheckError(slide.get());
  Napi::Array levels = Napi::Array::New(info.Env(), count);
  for (int32_t i = 0; i < count; i++) {
    int64_t w = 0, h = 0;
    openslide_get_level_dimensions(slide.get(), i, &w, &h);
    Napi::Object level = Napi::Object::New(info.Env());
    level.Set("width", Napi::Number::New(info.Env(), static_cast<double>(w)));
    level.Set("height", Napi::Number::New(info.Env(), static_cast<double>(h)));
    level.Set("downsample", Napi::Number::New(info.Env(), openslide_get_level_downsample(slide.get(), i)));
    levels.Set(static_cast<uint32_t>(i), level);
  }
  CheckError(slide.get());
  return levels;
}

PCAM_FN(SlideProperties) {
  SlidePtr slide = Slide(info[0]);
  Napi::Object out = Napi::Object::New(info.Env());
  const char* const* names = openslide_get_property_names(slide.get());
  for (; names != nullptr && *names != nullptr; names++) {
    const char* value = openslide_get_property_value(slide.get(), *names);
    if (value != nullptr) out.Set(*names, Napi::String::New(info.Env(), value));
  }
  CheckError(slide.get());
  return out;
}

// slideAssociated(h): [{ name, width, height }] (label, macro, thumbnail, ... by vendor).
PCAM_FN(SlideAssociated) {
  SlidePtr slide = Slide(info[0]);
  Napi::Array out = Napi::Array::New(info.Env());
  const char* const* names = openslide_get_associated_image_names(slide.get());
  for (uint32_t i = 0; names != nullptr && names[i] != nullptr; i++) {
    int64_t w = 0, h = 0;
    openslide_get_associated_image_dimensions(slide.get(), names[i], &w, &h);
    Napi::Object image = Napi::Object::New(info.Env());
    image.Set("name", Napi::String::New(info.Env(), names[i]));
    image.Set("width", Napi::Number::New(info.Env(), static_cast<double>(w)));
    image.Set("height", Napi::Number::New(info.Env(), static_cast<double>(h)));
    out.Set(i, image);
  }
  CheckError(slide.get());
  return out;
}

// slideReadRegion(h, x, y, level, width, height) → Promise<uint8 H x W x 3>. x, y are level-0
// pixels (OpenSlide's convention); width, height are pixels of `level`. Areas outside the slide
// are transparent in OpenSlide, so they come back white.
PCAM_FN(SlideReadRegion) {
  SlidePtr slide = Slide(info[0]);
  int64_t x = Int(info[1]);
  int64_t y = Int(info[2]);
  int32_t level = static_cast<int32_t>(Int(info[3]));
  int64_t width = Int(info[4]);
  int64_t height = Int(info[5]);
  return Queue(info.Env(), [slide, x, y, level, width, height]() {
    std::vector<uint32_t> argb(static_cast<size_t>(width * height));
    openslide_read_region(slide.get(), argb.data(), x, y, level, width, height);
    CheckError(slide.get());
    return ArgbToRgb(argb, height, width);
  });
}

void RegisterSlide(Napi::Env env, Napi::Object exports) {
  Export(env, exports, "slideOpen", SlideOpen);
  Export(env, exports, "slideClose", SlideClose);
  Export(env, exports, "slideLevels", SlideLevels);
  Export(env, exports, "slideProperties", SlideProperties);
  Export(env, exports, "slideAssociated", SlideAssociated);
  Export(env, exports, "slideReadRegion", SlideReadRegion);
}

}  // namespace pcam
