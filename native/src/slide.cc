// Whole-slide images through OpenSlide: open and close, levels, properties, the associated images'
// names and sizes, and region reads into uint8 H x W x 3 tensors. Mechanism only: which level,
// where and how much to read is decided in TypeScript (src/slide). Opens and reads run on libuv's
// thread pool (Napi::AsyncWorker).
#include <openslide.h>

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

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

// What opening a slide learns, gathered on the thread pool: a crafted TIFF of a million tiles or
// 20,000 levels takes OpenSlide seconds to open and list, which must not stall the event loop.
struct Opened {
  SlidePtr slide;
  struct Level {
    int64_t width, height;
    double downsample;
  };
  std::vector<Level> levels;
  std::vector<std::pair<std::string, std::string>> properties;
};

Opened OpenAndDescribe(const std::string& path) {
  Opened out;
  openslide_t* osr = openslide_open(path.c_str());
  if (osr == nullptr) return out;  // not a format OpenSlide knows
  out.slide = SlidePtr(osr, openslide_close);
  CheckError(osr);
  int32_t count = openslide_get_level_count(osr);
  CheckError(osr);
  for (int32_t i = 0; i < count; i++) {
    Opened::Level level{0, 0, openslide_get_level_downsample(osr, i)};
    openslide_get_level_dimensions(osr, i, &level.width, &level.height);
    out.levels.push_back(level);
  }
  const char* const* names = openslide_get_property_names(osr);
  for (; names != nullptr && *names != nullptr; names++) {
    const char* value = openslide_get_property_value(osr, *names);
    if (value != nullptr) out.properties.emplace_back(*names, value);
  }
  CheckError(osr);
  return out;
}

class OpenWorker : public Napi::AsyncWorker {
 public:
  OpenWorker(Napi::Env env, std::string path)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), path_(std::move(path)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    try {
      opened_ = OpenAndDescribe(path_);
    } catch (const std::exception& e) {
      SetError(e.what());
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (!opened_.slide) return deferred_.Resolve(env.Null());
    Napi::Array levels = Napi::Array::New(env, opened_.levels.size());
    for (size_t i = 0; i < opened_.levels.size(); i++) {
      Napi::Object level = Napi::Object::New(env);
      level.Set("width", static_cast<double>(opened_.levels[i].width));
      level.Set("height", static_cast<double>(opened_.levels[i].height));
      level.Set("downsample", opened_.levels[i].downsample);
      levels.Set(static_cast<uint32_t>(i), level);
    }
    Napi::Object properties = Napi::Object::New(env);
    for (const auto& [name, value] : opened_.properties) properties.Set(name, value);
    auto* box = new SlideBox{std::move(opened_.slide), path_};
    Napi::Object result = Napi::Object::New(env);
    result.Set("handle", NewHandle(env, box, [](Napi::Env, SlideBox* b) { delete b; }));
    result.Set("levels", levels);
    result.Set("properties", properties);
    deferred_.Resolve(result);
  }
  void OnError(const Napi::Error& error) override {
    error.Set("code", Napi::String::New(Env(), "SLIDE"));
    deferred_.Reject(error.Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::string path_;
  Opened opened_;
};

}  // namespace

// slideOpen(path) → Promise<{ handle, levels, properties } | null>: null when OpenSlide does not
// recognise the format; rejects when it does but the file is broken (OpenSlide's message).
PCAM_FN(SlideOpen) {
  auto* worker = new OpenWorker(info.Env(), String(info[0]));  // deletes itself when settled
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

PCAM_FN(SlideClose) {
  Box(info[0]).slide.reset();
  return info.Env().Undefined();
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
  Export(env, exports, "slideAssociated", SlideAssociated);
  Export(env, exports, "slideReadRegion", SlideReadRegion);
}

}  // namespace pcam
