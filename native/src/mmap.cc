// A file memory-mapped as a 1-D uint8 tensor, so a patch store larger than Node's 4 GiB buffer
// limit is read by the kernel's page cache on demand.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common.h"

namespace pcam {

// mmapFile(path): the mapping is private and copy-on-write, so a stray in-place op on the tensor
// can never change the file. It is unmapped when the last tensor viewing it is released.
PCAM_FN(MmapFile) {
  std::string path = String(info[0]);
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Napi::Error::New(info.Env(), "cannot open " + path + ": " + std::strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int code = errno;
    close(fd);
    throw Napi::Error::New(info.Env(), "cannot stat " + path + ": " + std::strerror(code));
  }
  size_t length = static_cast<size_t>(st.st_size);
  if (length == 0) {
    close(fd);
    return Wrap(info.Env(), at::empty({0}, at::kByte));
  }
  void* data = mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  int code = errno;
  close(fd);  // the mapping keeps its own reference to the file
  if (data == MAP_FAILED) throw Napi::Error::New(info.Env(), "cannot map " + path + ": " + std::strerror(code));
  at::Tensor tensor = at::from_blob(
      data, {static_cast<int64_t>(length)}, [length](void* p) { munmap(p, length); }, at::kByte);
  return Wrap(info.Env(), tensor);
}

void RegisterMmap(Napi::Env env, Napi::Object exports) { Export(env, exports, "mmapFile", MmapFile); }

}  // namespace pcam
