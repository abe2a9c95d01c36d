// Finds libtorch for the native build and prints one gyp setting (include_dirs, libraries, ldflags,
// defines) as a space-separated list. Order: $LIBTORCH, the torch package of the python3 on PATH,
// then the system (Debian's libtorch-dev). Run with "describe" to see what was found and why.
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'

const SYSTEM_INCLUDE = '/usr/include/torch/csrc/api/include'
const INSTALL_HINT =
  'libtorch not found. Install it with "sudo apt-get install libtorch-dev" (Debian/Ubuntu), ' +
  'or "pip install torch" (then the python3 on PATH provides it), ' +
  'or set LIBTORCH to an unpacked libtorch folder (one with include/ and lib/).'

function fromPrefix(prefix, origin) {
  const include = join(prefix, 'include')
  const lib = join(prefix, 'lib')
  if (!existsSync(join(include, 'ATen', 'ATen.h')) || !existsSync(lib)) return undefined
  return {
    origin,
    prefix,
    includeDirs: [include, join(include, 'torch', 'csrc', 'api', 'include')],
    libDir: lib,
    cuda: existsSync(join(lib, 'libtorch_cuda.so')),
    cxx11Abi: readAbi(prefix),
  }
}

// TorchConfig.cmake records the ABI the libraries were built with; pip wheels have used both.
function readAbi(prefix) {
  const config = join(prefix, 'share', 'cmake', 'Torch', 'TorchConfig.cmake')
  if (!existsSync(config)) return 1
  const match = /_GLIBCXX_USE_CXX11_ABI=(\d)/.exec(readFileSync(config, 'utf8'))
  return match ? Number(match[1]) : 1
}

function fromPython() {
  try {
    const dir = execFileSync(
      'python3',
      ['-c', 'import os, torch; print(os.path.dirname(torch.__file__))'],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
    ).trim()
    return dir ? fromPrefix(dir, `torch package of python3 (${dir})`) : undefined
  } catch {
    // best effort: no python3 or no torch module means this source does not apply
    return undefined
  }
}

function fromSystem() {
  if (!existsSync(SYSTEM_INCLUDE)) return undefined
  return {
    origin: 'system (/usr/include/torch)',
    includeDirs: [SYSTEM_INCLUDE],
    libDir: undefined,
    cuda: existsSync('/usr/lib/x86_64-linux-gnu/libtorch_cuda.so'),
    cxx11Abi: 1,
  }
}

function find() {
  if (process.env.LIBTORCH) {
    const found = fromPrefix(process.env.LIBTORCH, `$LIBTORCH (${process.env.LIBTORCH})`)
    if (!found)
      throw new Error(`LIBTORCH=${process.env.LIBTORCH} has no include/ATen/ATen.h or lib/.`)
    return found
  }
  const found = fromPython() ?? fromSystem()
  if (!found) throw new Error(INSTALL_HINT)
  return found
}

// c10d's Gloo process group needs Gloo's headers (Debian: libgloo-dev; pip wheels ship them).
function hasGloo(torch) {
  return [...torch.includeDirs, '/usr/include'].some((dir) =>
    existsSync(join(dir, 'gloo', 'algorithm.h')),
  )
}

// Where a CUDA libtorch's companion headers live: the CUDA toolkit ($CUDA_HOME, /usr/local/cuda),
// and, for a pip wheel, the nvidia-* packages beside torch in site-packages (nccl, cuda_runtime).
// The wheel's own come first, so that a system toolkit of another CUDA version does not mix in.
function cudaIncludeDirs(torch) {
  const dirs = []
  const nvidia = join(dirname(torch.prefix ?? '/nonexistent'), 'nvidia')
  if (existsSync(nvidia))
    for (const name of readdirSync(nvidia).sort()) dirs.push(join(nvidia, name, 'include'))
  for (const home of [process.env.CUDA_HOME, '/usr/local/cuda'])
    if (home) dirs.push(join(home, 'include'))
  return dirs.filter((dir) => existsSync(dir))
}

// c10d's NCCL process group (compiled into libtorch_cuda) needs nccl.h and the CUDA headers at
// build time. PCAM_NCCL=0 leaves it out (Gloo alone).
function hasNccl(torch) {
  if (!torch.cuda || process.env.PCAM_NCCL === '0') return false
  const dirs = [...torch.includeDirs, ...cudaIncludeDirs(torch), '/usr/include']
  const found = (file) => dirs.some((dir) => existsSync(join(dir, file)))
  // ProcessGroupNCCL.hpp reaches the CUDA math libraries' headers through ATen/cuda, and the
  // runtime's headers need the compiler's crt/ (which a pip cudart package alone lacks).
  return [
    join('torch', 'csrc', 'distributed', 'c10d', 'ProcessGroupNCCL.hpp'),
    'nccl.h',
    'cuda_runtime_api.h',
    join('crt', 'host_defines.h'),
    'cublas_v2.h',
    'cublasLt.h',
    'cusparse.h',
    'cusolverDn.h',
  ].every(found)
}

// libtorch's version, from torch/version.h: 2.13 and later need C++20 (ATen.h checks), older C++17.
function version(torch) {
  for (const dir of [...torch.includeDirs, '/usr/include']) {
    const file = join(dir, 'torch', 'version.h')
    if (!existsSync(file)) continue
    const text = readFileSync(file, 'utf8')
    const major = /TORCH_VERSION_MAJOR (\d+)/.exec(text)
    const minor = /TORCH_VERSION_MINOR (\d+)/.exec(text)
    if (major && minor) return [Number(major[1]), Number(minor[1])]
  }
  return [1, 13]
}

function cxxStandard(torch) {
  const [major, minor] = version(torch)
  return major > 2 || (major === 2 && minor >= 13) ? '-std=c++20' : '-std=c++17'
}

function setting(torch, name) {
  const libs = ['-ltorch', '-ltorch_cpu', '-lc10']
  if (torch.cuda) libs.push('-ltorch_cuda', '-lc10_cuda')
  switch (name) {
    case 'include_dirs':
      return hasNccl(torch) ? [...torch.includeDirs, ...cudaIncludeDirs(torch)] : torch.includeDirs
    case 'libraries':
      return torch.libDir ? [`-L${torch.libDir}`, ...libs] : libs
    case 'ldflags':
      // --no-as-needed keeps libtorch.so (which registers the CPU kernels) although no symbol of it
      // is referenced directly; the rpath lets a non-system libtorch load without LD_LIBRARY_PATH.
      return ['-Wl,--no-as-needed', ...(torch.libDir ? [`-Wl,-rpath,${torch.libDir}`] : [])]
    case 'defines':
      return [
        `_GLIBCXX_USE_CXX11_ABI=${torch.cxx11Abi}`,
        ...(torch.cuda ? ['PCAM_WITH_CUDA=1'] : []),
        ...(hasGloo(torch) ? ['USE_C10D_GLOO=1', 'PCAM_WITH_GLOO=1'] : []),
        ...(hasNccl(torch) ? ['USE_C10D_NCCL=1', 'PCAM_WITH_NCCL=1'] : []),
      ]
    case 'cxx_standard':
      return [cxxStandard(torch)]
    case 'describe':
      return [
        JSON.stringify(
          {
            ...torch,
            version: version(torch).join('.'),
            cxxStandard: cxxStandard(torch),
            gloo: hasGloo(torch),
            nccl: hasNccl(torch),
          },
          null,
          2,
        ),
      ]
    default:
      throw new Error(`unknown setting "${name}"`)
  }
}

try {
  console.log(setting(find(), process.argv[2] ?? 'describe').join(' '))
} catch (error) {
  console.error(`pcam native build: ${error.message}`)
  process.exit(1)
}
