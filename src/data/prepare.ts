/**
 * `pcam data prepare`: decodes a source once into a patch store. Writes into "<out>.partial" and
 * renames at the end, so an interrupted run leaves no half store and a re-run starts cleanly.
 * Every bad input is collected with its location; by default the run fails with a summary,
 * with skipBad the store is written and the skipped files are listed in it.
 * @module
 */
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, open, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { DataError } from '../errors.js'
import { decodePatch } from './decode.js'
import { openSource } from './sources/detect.js'
import type { PatchItem, Problem, Source } from './sources/source.js'
import { assignSplits, describeSplit, type SplitSpec } from './split.js'
import { channelStats } from './stats.js'
import { PatchStore, STORE_FORMAT, STORE_VERSION, UNLABELLED, type StoreMeta } from './store.js'

const DECODE_WINDOW = 64
const WRITE_BATCH = 512
const SUMMARY_LINES = 20

export interface PrepareProgress {
  done: number
  total: number
}

export interface PrepareOptions {
  sources: string[]
  out: string
  /** How to split; null: the source's own split when it has one, else random 20%. */
  split: SplitSpec | null
  dedupe?: boolean
  skipBad?: boolean
  overwrite?: boolean
  /** Expected patch size; default: the size of the first patch. */
  size?: number
  onProgress?: (progress: PrepareProgress) => void
  signal?: AbortSignal
}

export interface PrepareResult {
  out: string
  count: number
  source: string
  duplicatesDropped: number
  skipped: Problem[]
  splitCounts: Record<string, number>
  restarted: boolean
  seconds: number
}

interface Accepted {
  id: string
  label: number | null
  split: PatchItem['split']
  slide: string | null
}

/** Decodes (or takes) the pixels of one item, or says why it cannot be used. */
async function pixelsOf(
  item: PatchItem,
): Promise<{ pixels: Uint8Array; height: number; width: number } | string> {
  if (item.pixels)
    return { pixels: item.pixels, height: item.height as number, width: item.width as number }
  try {
    return await decodePatch(item.encoded as Buffer)
  } catch (error) {
    return `cannot decode image: ${(error as Error).message.split('\n')[0]}`
  }
}

export async function prepareStore(options: PrepareOptions): Promise<PrepareResult> {
  const started = performance.now()
  const { out } = options
  if (existsSync(out) && !options.overwrite) {
    throw new DataError(
      `${out} already exists. Pass --overwrite to replace it, or choose another --out.`,
    )
  }
  const source = await openSource(options.sources)
  const partial = `${out}.partial`
  const restarted = existsSync(partial)
  try {
    await rm(partial, { recursive: true, force: true })
    await mkdir(partial, { recursive: true })
    const written = await writePatches(source, partial, options)
    const problems = [...source.problems, ...written.problems]
    if (problems.length > 0 && !options.skipBad) {
      const listPath = `${out}.problems.txt`
      await writeFile(listPath, problems.map((p) => `${p.location}\t${p.reason}`).join('\n') + '\n')
      throw new DataError(summarise(problems, listPath))
    }
    if (written.accepted.length === 0)
      throw new DataError(`No usable patches in ${options.sources.join(', ')}.`)
    // Default: the source's own split when it has a validation part, else a random 20%.
    const hasValid = written.accepted.some((a) => a.split === 'valid')
    const spec: SplitSpec =
      options.split ?? (hasValid ? { kind: 'source' } : { kind: 'random', validPct: 0.2, seed: 42 })
    const splits = assignSplits(written.accepted, spec)
    const labels = Uint8Array.from(written.accepted, (a) => a.label ?? UNLABELLED)
    await writeFile(join(partial, 'labels.u8'), labels)
    const meta: StoreMeta = {
      format: STORE_FORMAT,
      version: STORE_VERSION,
      count: written.accepted.length,
      height: written.height,
      width: written.width,
      channels: 3,
      classes: source.classes,
      source: { kind: source.kind, description: source.description, paths: options.sources },
      ids: written.accepted.map((a) => a.id),
      slides: written.accepted.some((a) => a.slide !== null)
        ? written.accepted.map((a) => a.slide)
        : null,
      splits,
      splitMethod: describeSplit(spec),
      mean: [0, 0, 0],
      std: [1, 1, 1],
      duplicatesDropped: written.duplicates,
      skipped: problems.length,
      createdAt: new Date().toISOString(),
      pcamVersion: '0.1.0',
    }
    await writeFile(join(partial, 'meta.json'), JSON.stringify(meta))
    // Statistics come from the written store itself, computed by the engine over the mapped file.
    const store = PatchStore.open(partial)
    const trainIndices = store.indicesOf('train')
    Object.assign(
      meta,
      channelStats(
        store.images,
        trainIndices.length ? trainIndices : [...Array(store.count).keys()],
      ),
    )
    store.dispose()
    await writeFile(join(partial, 'meta.json'), JSON.stringify(meta))
    if (problems.length > 0) {
      await writeFile(
        join(partial, 'skipped.txt'),
        problems.map((p) => `${p.location}\t${p.reason}`).join('\n') + '\n',
      )
    }
    if (existsSync(out)) await rm(out, { recursive: true })
    await rename(partial, out)
    const splitCounts: Record<string, number> = {}
    for (const s of splits) splitCounts[s] = (splitCounts[s] ?? 0) + 1
    return {
      out,
      count: meta.count,
      source: source.description,
      duplicatesDropped: written.duplicates,
      skipped: problems,
      splitCounts,
      restarted,
      seconds: (performance.now() - started) / 1000,
    }
  } catch (error) {
    await rm(partial, { recursive: true, force: true })
    throw error
  } finally {
    await source.close()
  }
}

function summarise(problems: Problem[], listPath: string): string {
  const lines = problems.slice(0, SUMMARY_LINES).map((p) => `  ${p.location}: ${p.reason}`)
  const more =
    problems.length > SUMMARY_LINES ? `\n  ... and ${problems.length - SUMMARY_LINES} more` : ''
  return (
    `${problems.length} bad input(s); nothing was written:\n${lines.join('\n')}${more}\n` +
    `Full list: ${listPath}. Fix them, or pass --skip-bad to leave them out.`
  )
}

/** Streams the source into images.u8 in source order, checking every patch. */
async function writePatches(source: Source, dir: string, options: PrepareOptions) {
  const file = await open(join(dir, 'images.u8'), 'w')
  const accepted: Accepted[] = []
  const problems: Problem[] = []
  const ids = new Set<string>()
  const hashes = new Set<string>()
  let duplicates = 0
  let height = options.size ?? 0
  let width = options.size ?? 0
  let pending: Uint8Array[] = []
  let seen = 0
  const flush = async () => {
    if (pending.length === 0) return
    await file.write(Buffer.concat(pending))
    pending = []
  }
  const commit = async (item: PatchItem, result: Awaited<ReturnType<typeof pixelsOf>>) => {
    seen++
    if (seen % 256 === 0) options.onProgress?.({ done: seen, total: source.count })
    if (typeof result === 'string')
      return void problems.push({ location: item.location, reason: result })
    if (height === 0) [height, width] = [result.height, result.width]
    if (result.height !== height || result.width !== width) {
      return void problems.push({
        location: item.location,
        reason: `wrong size ${result.width}x${result.height}, expected ${width}x${height}`,
      })
    }
    const label = item.label
    if (
      label !== null &&
      !(Number.isInteger(label) && label >= 0 && label < source.classes.length)
    ) {
      return void problems.push({
        location: item.location,
        reason: `label ${label} is not one of 0..${source.classes.length - 1}`,
      })
    }
    if (ids.has(item.id))
      return void problems.push({ location: item.location, reason: `duplicate id ${item.id}` })
    ids.add(item.id)
    if (options.dedupe) {
      const hash = createHash('sha1').update(result.pixels).digest('base64')
      if (hashes.has(hash)) return void duplicates++
      hashes.add(hash)
    }
    pending.push(result.pixels)
    accepted.push({ id: item.id, label, split: item.split, slide: item.slide })
    if (pending.length >= WRITE_BATCH) await flush()
  }
  try {
    const window: { item: PatchItem; result: Promise<Awaited<ReturnType<typeof pixelsOf>>> }[] = []
    for await (const item of source.read()) {
      if (options.signal?.aborted) throw new DataError('Interrupted; nothing was written.')
      window.push({ item, result: pixelsOf(item) })
      if (window.length >= DECODE_WINDOW) {
        const head = window.shift()!
        await commit(head.item, await head.result)
      }
    }
    for (const { item, result } of window) await commit(item, await result)
    await flush()
    options.onProgress?.({ done: seen, total: source.count })
  } finally {
    await file.close()
  }
  return { accepted, problems, duplicates, height, width }
}
