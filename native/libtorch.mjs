// Finds libtorch for the native build and prints one gyp setting (include_dirs, libraries, ldflags,
// defines) as a space-separated list. Order: $LIBTORCH, the torch package of the python3 on PATH,
// then the system (Debian's libtorch-dev). Run with "describe" to see what was found and why.
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

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

function setting(torch, name) {
  const libs = ['-ltorch', '-ltorch_cpu', '-lc10']
  if (torch.cuda) libs.push('-ltorch_cuda', '-lc10_cuda')
  switch (name) {
    case 'include_dirs':
      return torch.includeDirs
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
      ]
    case 'describe':
      return [JSON.stringify({ ...torch, gloo: hasGloo(torch) }, null, 2)]
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
