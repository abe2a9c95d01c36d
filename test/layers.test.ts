/**
 * The source folders form layers (docs/architecture.md): each may import only from itself and from the
 * folders listed before it. A new import that reaches upward fails here with the file and the
 * import that does it.
 */
import assert from 'node:assert/strict'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, normalize, relative } from 'node:path'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'

const SRC = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src')

/**
 * Lowest first. The files directly in src/ (errors, paths, version) sit below everything, except
 * src/index.ts, the library's public face, which sits above it all.
 */
const LAYERS = [
  '.',
  'torch',
  'nn',
  'data',
  'models',
  'weights',
  'metrics',
  'run',
  'learn',
  'export',
  'eval',
  'recipe',
  'slide',
  'serve',
  'bench',
  'cli',
  'index.ts',
]

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) return sources(path)
    return name.endsWith('.ts') && !name.endsWith('.test.ts') ? [path] : []
  })
}

/** The top-level folder of src/ that a path lies in ('.' for src/ itself). */
function layerOf(path: string): string {
  const parts = relative(SRC, path).split('/')
  if (parts.length > 1) return parts[0] as string
  return parts[0] === 'index.ts' ? 'index.ts' : '.'
}

describe('layers', () => {
  const files = sources(SRC)

  it('every source folder has its place in the order', () => {
    assert.ok(files.length > 50)
    const unknown = [...new Set(files.map(layerOf))].filter((l) => !LAYERS.includes(l))
    assert.deepEqual(unknown, [])
  })

  it('no folder imports one above it', () => {
    const upward: string[] = []
    for (const file of files) {
      const text = readFileSync(file, 'utf8')
      for (const match of text.matchAll(/(?:from|import\()\s*'(\.{1,2}\/[^']+)'/g)) {
        const target = normalize(join(dirname(file), match[1] as string))
        const from = LAYERS.indexOf(layerOf(file))
        const to = LAYERS.indexOf(layerOf(target))
        if (to > from) upward.push(`${relative(SRC, file)} imports ${match[1]}`)
      }
    }
    assert.deepEqual(upward, [])
  })
})
