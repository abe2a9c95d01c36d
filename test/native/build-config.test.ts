// The native build's OpenSlide switch: on by default, off with PCAM_OPENSLIDE=0 (a machine without
// libopenslide-dev, such as a bare GPU box), and binding.gyp takes every OpenSlide setting from it,
// so no hard-wired -lopenslide can make such a build fail. (Opening a slide in a build without it
// gives a ConfigError naming the fix: src/torch/openslide.ts.)
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { PACKAGE_ROOT } from '../../src/paths.js'

const NATIVE = join(PACKAGE_ROOT, 'native')
const SETTINGS = ['sources', 'include_dirs', 'libraries', 'defines']

function setting(name: string, env: Record<string, string> = {}): string {
  return execFileSync(process.execPath, ['openslide.mjs', name], {
    cwd: NATIVE,
    env: { ...process.env, PCAM_OPENSLIDE: '', ...env },
    encoding: 'utf8',
  }).trim()
}

describe('native build configuration', () => {
  it('builds OpenSlide in by default and leaves it out with PCAM_OPENSLIDE=0', () => {
    assert.deepEqual(
      SETTINGS.map((s) => setting(s)),
      ['src/slide.cc', '/usr/include/openslide', '-lopenslide', ''],
    )
    assert.deepEqual(
      SETTINGS.map((s) => setting(s, { PCAM_OPENSLIDE: '0' })),
      ['', '', '', 'PCAM_WITHOUT_OPENSLIDE'],
    )
  })

  it('binding.gyp names OpenSlide only through that switch', () => {
    const gyp = readFileSync(join(NATIVE, 'binding.gyp'), 'utf8')
    for (const s of SETTINGS) assert.ok(gyp.includes(`node openslide.mjs ${s}`), s)
    assert.doesNotMatch(gyp, /-lopenslide|slide\.cc|\/usr\/include\/openslide/)
  })
})
