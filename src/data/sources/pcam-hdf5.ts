/**
 * The official PCam release: camelyonpatch_level_2_split_<split>_x.h5 (N x 96 x 96 x 3 uint8) and
 * _y.h5 (N x 1 x 1 x 1), plain or .h5.gz, with the optional _meta.csv (its "wsi" column names the
 * slide). Read with libhdf5 (h5wasm) in slices, so a 6 GB file never sits whole in memory; a
 * gzipped or zipped file is first streamed to a temporary file (hdf5-file.ts), removed on close
 * and on every failure.
 * @module
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DataError } from '../../errors.js'
import { readCsv } from '../csv.js'
import type { Tree } from '../tree.js'
import { hdf5OnDisk } from './hdf5-file.js'
import {
  MAX_PATCH_PIXELS,
  MAX_TABLE,
  SPLIT_NAMES,
  type PatchItem,
  type Problem,
  type Source,
  type SplitName,
} from './source.js'

const PATTERN = /(?:^|\/)camelyonpatch_level_2_split_(train|valid|test)_(x|y)\.h5(\.gz)?$/
const META_PATTERN = /(?:^|\/)camelyonpatch_level_2_split_(train|valid|test)_meta\.csv$/
const SLICE = 512
// h5wasm's names of an unsigned byte: '<B', '>B', '|u1'...
const UINT8 = /^[<>|=]?(B|u1)$/

type H5Module = typeof import('h5wasm/node')
type H5File = InstanceType<H5Module['File']>
type H5Dataset = ReturnType<H5File['get']> & { shape: number[]; slice(ranges: number[][]): unknown }

let h5: Promise<H5Module> | undefined
async function loadH5(): Promise<H5Module> {
  h5 ??= import('h5wasm/node').then(async (m) => {
    await m.ready
    return m
  })
  return h5
}

export function isPcamHdf5(files: string[]): boolean {
  return files.some((f) => PATTERN.test(f))
}

/** The "wsi" column of a _meta.csv (the slide of each patch), or none when it has no such column. */
function slidesFromMeta(text: string, origin: string): string[] {
  const { header, rows } = readCsv(text, origin)
  const column = header.findIndex((c) => c.trim() === 'wsi')
  return column < 0 ? [] : rows.map((r) => r.fields[column]?.trim() ?? '')
}

export async function pcamHdf5Source(tree: Tree): Promise<Source> {
  const files = await tree.files()
  const h5wasm = await loadH5()
  let scratchDir: string | undefined
  const scratch = async () => (scratchDir ??= await mkdtemp(join(tmpdir(), 'pcam-h5-')))
  const opened: H5File[] = []
  const parts: {
    split: SplitName
    x: H5Dataset
    y: H5Dataset
    count: number
    slides: string[]
    location: string
  }[] = []
  const problems: Problem[] = []
  /** Closes what was opened and removes inflated copies: on close, and on any failure here. */
  const release = async () => {
    for (const file of opened) {
      try {
        file.close()
      } catch {
        // libhdf5 aborted on a corrupt file: nothing is left to close (the error said why).
      }
    }
    if (scratchDir) await rm(scratchDir, { recursive: true, force: true })
  }
  try {
    for (const split of SPLIT_NAMES) {
      const find = (kind: 'x' | 'y') =>
        files.find((f) => PATTERN.exec(f)?.[1] === split && PATTERN.exec(f)?.[2] === kind)
      const [xPath, yPath] = [find('x'), find('y')]
      if (!xPath && !yPath) continue
      if (!xPath || !yPath) {
        throw new DataError(
          `${tree.describe((xPath ?? yPath) as string)} needs its partner _${xPath ? 'y' : 'x'}.h5 for the ${split} split.`,
        )
      }
      const open = async (path: string) => {
        try {
          const file = new h5wasm.File(await hdf5OnDisk(tree, path, scratch), 'r')
          opened.push(file)
          const name = file.keys()[0]
          const dataset = (name === undefined ? null : file.get(name)) as H5Dataset | null
          if (!dataset || !Array.isArray(dataset.shape)) throw new Error('it holds no dataset')
          return dataset
        } catch (error) {
          if (error instanceof DataError) throw error
          throw new DataError(
            `Cannot read HDF5 file ${tree.describe(path)}: ${(error as Error).message}`,
            { cause: error },
          )
        }
      }
      const x = await open(xPath)
      const y = await open(yPath)
      const [n, , , channels] = x.shape as [number, number, number, number]
      const [, h, w] = x.shape as [number, number, number]
      if (
        x.shape.length !== 4 ||
        channels !== 3 ||
        !(h >= 1 && w >= 1 && h * w <= MAX_PATCH_PIXELS)
      ) {
        throw new DataError(
          `${tree.describe(xPath)} holds shape [${x.shape}], expected N x H x W x 3 patches of at most ${MAX_PATCH_PIXELS} pixels.`,
        )
      }
      // Pixels and labels are bytes in PCam's files; other types would be misread, not refused.
      for (const [dataset, path] of [
        [x, xPath],
        [y, yPath],
      ] as const)
        if (!UINT8.test(String((dataset as { dtype?: unknown }).dtype)))
          throw new DataError(
            `${tree.describe(path)} holds ${String((dataset as { dtype?: unknown }).dtype)} values, not the uint8 of PCam's files.`,
          )
      if ((y.shape[0] as number) !== n) {
        throw new DataError(
          `${tree.describe(yPath)} has ${y.shape[0]} labels for ${n} patches in ${tree.describe(xPath)}.`,
        )
      }
      const metaPath = files.find((f) => META_PATTERN.exec(f)?.[1] === split)
      const slides = metaPath
        ? slidesFromMeta(
            (await tree.read(metaPath, MAX_TABLE)).toString('utf8'),
            tree.describe(metaPath),
          )
        : []
      if (metaPath && slides.length !== n) {
        problems.push({
          location: tree.describe(metaPath),
          reason: `has ${slides.length} rows with a wsi for ${n} patches; slides ignored`,
        })
        slides.length = 0
      }
      parts.push({ split, x, y, count: n, slides, location: tree.describe(xPath) })
    }
    if (parts.length === 0) throw new DataError(`No PCam HDF5 files in ${tree.origin}.`)
  } catch (error) {
    await release()
    throw error
  }
  return {
    kind: 'pcam-hdf5',
    description: `PCam HDF5 in ${tree.name} (${parts.map((p) => `${p.split} ${p.count}`).join(', ')})`,
    classes: ['0', '1'],
    count: parts.reduce((a, p) => a + p.count, 0),
    problems,
    async *read(): AsyncGenerator<PatchItem> {
      for (const part of parts) {
        const [, height, width] = part.x.shape as [number, number, number]
        const patchBytes = height * width * 3
        for (let start = 0; start < part.count; start += SLICE) {
          const end = Math.min(start + SLICE, part.count)
          let pixels: Uint8Array
          let labels: Uint8Array
          try {
            pixels = part.x.slice([[start, end], [], [], []]) as Uint8Array
            labels = part.y.slice([[start, end], [], [], []]) as Uint8Array
          } catch (error) {
            // libhdf5 aborts (a WebAssembly RuntimeError) on some corrupt files.
            throw new DataError(
              `Cannot read ${part.location}[${start}..${end - 1}]: ${(error as Error).message}`,
              { cause: error },
            )
          }
          for (let i = start; i < end; i++) {
            const label = labels[i - start] as number
            if (label !== 0 && label !== 1)
              throw new DataError(
                `${part.location}[${i}] has the label ${label}; PCam's are 0 or 1.`,
              )
            yield {
              id: `${part.split}/${i}`,
              label,
              split: part.split,
              slide: part.slides[i] || null,
              location: `${part.location}[${i}]`,
              pixels: pixels.subarray((i - start) * patchBytes, (i - start + 1) * patchBytes),
              height,
              width,
            }
          }
          // Let other work (progress output, signals) run between slices.
          await new Promise((resolve) => setImmediate(resolve))
        }
      }
    },
    async close() {
      await release()
      await tree.close()
    },
  }
}
