/**
 * Small folders of synthetic patches for data tests: each call to folder() makes a fresh one
 * under a temporary root, from a map of relative path → bytes.
 * @module
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { encodePng } from '../../src/data/decode.js'
import { prepareStore, type PrepareOptions } from '../../src/data/prepare.js'
import { tempDir } from './temp-dir.js'

export function patchFolders(name: string) {
  const root = tempDir(name)
  let counter = 0
  return {
    root,
    /** A fresh folder with the given files (path → bytes). */
    folder(files: Record<string, Buffer | string>): string {
      const dir = join(root, `case${counter++}`)
      mkdirSync(dir, { recursive: true })
      for (const [path, data] of Object.entries(files)) {
        mkdirSync(join(dir, path, '..'), { recursive: true })
        writeFileSync(join(dir, path), data)
      }
      return dir
    },
  }
}

/** A PNG patch of one grey value. */
export const patch = (value: number, size = 8) =>
  encodePng(new Uint8Array(size * size * 3).fill(value), size, size)

/** Prepares dir into "<dir>-store" with the source's own split, plus any other options. */
export const prepareFolder = (dir: string, extra: Partial<PrepareOptions> = {}) =>
  prepareStore({ sources: [dir], out: `${dir}-store`, split: { kind: 'source' }, ...extra })
