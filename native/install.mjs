// Builds the native addon when pcam is installed as a package (npm runs this on install). A source
// checkout builds with "make build" instead, so there this does nothing.
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
if (existsSync(join(root, 'Makefile')) && existsSync(join(root, 'src'))) process.exit(0)

function fail(message) {
  console.error(`pcam install: ${message}\nThen run "npm rebuild pcam".`)
  process.exit(1)
}

try {
  execFileSync(process.execPath, [join(root, 'native', 'libtorch.mjs'), 'include_dirs'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  })
} catch (error) {
  fail(String(error.stderr ?? error.message).trim())
}
if (process.env.PCAM_OPENSLIDE !== '0' && !existsSync('/usr/include/openslide/openslide.h'))
  fail(
    'OpenSlide\'s headers are missing: "sudo apt-get install libopenslide-dev" (Debian/Ubuntu), ' +
      'or build without whole slides: PCAM_OPENSLIDE=0.',
  )

// npm puts its own node-gyp on the PATH of install scripts; npm_config_node_gyp names it too.
const gyp = process.env.npm_config_node_gyp
const [command, args] = gyp ? [process.execPath, [gyp]] : ['node-gyp', []]
const build = spawnSync(command, [...args, 'rebuild', '--directory', 'native', '-j', 'max'], {
  cwd: root,
  stdio: 'inherit',
})
if (build.status !== 0) fail('building the native addon failed (see the compiler output above).')
