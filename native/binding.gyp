{
  "targets": [
    {
      "target_name": "pcam",
      "sources": [
        "src/addon.cc",
        "src/convert.cc",
        "src/tensor.cc",
        "src/ops.cc",
        "src/nn.cc",
        "src/optim.cc",
        "src/mmap.cc",
        "src/runtime.cc",
        "src/dist.cc",
        "src/block_cache.cc",
        "<!@(node openslide.mjs sources)"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!@(node libtorch.mjs include_dirs)",
        "<!@(node openslide.mjs include_dirs)"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_CPP_EXCEPTIONS",
        "<!@(node libtorch.mjs defines)",
        "<!@(node openslide.mjs defines)"
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17"],
      "cflags_cc": ["<!@(node libtorch.mjs cxx_standard)", "-O2", "-fexceptions", "-frtti", "-Wno-unused-parameter"],
      "libraries": ["<!@(node libtorch.mjs libraries)", "<!@(node openslide.mjs libraries)", "-ldl"],
      "ldflags": ["<!@(node libtorch.mjs ldflags)"]
    }
  ]
}
