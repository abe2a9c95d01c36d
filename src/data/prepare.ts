/**
 * `pcam data prepare`: decodes a source once into a patch store. Writes into "<out>.partial" and
 * renames at the end, so an interrupted run leaves no half store and a re-run starts cleanly.
 * Every bad input is collected with its location; by default the run fails with a summary,
 * with skipBad the store is written and the skipped files are listed in it.
 * @module
 */
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { open, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { DataError, ValidationError } from '../errors.js'
import { checkNumber } from '../torch/check.js'
import { writeTsv } from './csv.js'
import { decodePatch } from './decode.js'
import { checkOutFolder, writeViaPartial } from './out-folder.js'
import { PCAM_VERSION } from '../version.js'
import { openSource } from './sources/detect.js'
import {
  MAX_PATCH_PIXELS,
  type PatchItem,
  type Problem,
  type Source,
  type SplitName,
} from './sources/source.js'
import { assignSplits, describeSplit, type SplitSpec } from './split.js'
import { channelStats } from './stats.js'
import {
  PatchStore,
  sourceMpp,
  STORE_FORMAT,
  STORE_FILES,
  STORE_VERSION,
  UNLABELLED,
  type StoreMeta,
} from './store.js'

const DECODE_WINDOW = 64
const WRITE_BATCH = 512
const SUMMARY_LINES = 20
/** With skipBad, the largest share of the inputs that may be left out unless maxSkipped allows more. */
export const DEFAULT_MAX_SKIPPED = 0.01

/** How far prepareStore has read its source. */
export interface PrepareProgress {
  /** Inputs read so far, bad ones included. */
  done: number
  /** Inputs the source holds. */
  total: number
}

/** The store's mpp: the one given, else what its source kind implies (PCam, Kaggle), else none. */
function patchMpp(mpp: number | undefined, kind: string): { mpp?: number } {
  const known = mpp ?? sourceMpp(kind)
  return known === undefined ? {} : { mpp: known }
}

/** What prepareStore reads, where it writes, and how (the options of `pcam data prepare`). */
export interface PrepareOptions {
  /** Files, folders or archives to read (the command's arguments). */
  sources: string[]
  /** The source, opened by the caller (patches cut from slides); default: detected from `sources`. */
  source?: Source
  /** Folder to write the store to (`--out`). */
  out: string
  /** How to split; null: the source's own split when it has one, else random 20%. */
  split?: SplitSpec | null
  /** Drop patches whose pixels exactly repeat an earlier one (`--dedupe`). */
  dedupe?: boolean
  /** Leave out bad inputs, up to maxSkipped of them, instead of failing (`--skip-bad`). */
  skipBad?: boolean
  /** With skipBad, the largest share (0..1) of the inputs that may be skipped; default 1%. */
  maxSkipped?: number
  /** Replace the patch store at out (never anything else). */
  overwrite?: boolean
  /** Expected patch size; default: the size most patches have. */
  size?: number
  /** Micrometres per pixel of the patches; default PCAM_MPP for PCam and Kaggle sources. */
  mpp?: number
  /** Called every 256 inputs read, and once at the end of a pass over the source. */
  onProgress?: (progress: PrepareProgress) => void
  /** Stops the run before the next input when aborted; nothing is written. */
  signal?: AbortSignal
}

/** What prepareStore wrote. */
export interface PrepareResult {
  /** The store's folder. */
  out: string
  /** Patches in the store. */
  count: number
  /** The source, in words. */
  source: string
  /** Exact duplicates left out (with dedupe). */
  duplicatesDropped: number
  /** The bad inputs left out, each with its location and the reason. */
  skipped: Problem[]
  /** Patches per split (train, valid, test). */
  splitCounts: Record<string, number>
  /** Whether a `<out>.partial` folder left by an interrupted run was found and started over. */
  restarted: boolean
  /** Wall-clock time taken, in seconds. */
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
    return await decodePatch(item.encoded as Buffer, { maxPixels: MAX_PATCH_PIXELS })
  } catch (error) {
    return `cannot decode image: ${(error as Error).message}`
  }
}

/**
 * Decodes the sources into a patch store at `out` (`pcam data prepare`), via `<out>.partial`.
 * Throws a DataError listing the bad inputs when there are more than skipBad and maxSkipped allow.
 */
export async function prepareStore(options: PrepareOptions): Promise<PrepareResult> {
  const started = performance.now()
  const { out } = options
  const maxSkipped = options.maxSkipped ?? DEFAULT_MAX_SKIPPED
  if (!(maxSkipped >= 0 && maxSkipped <= 1)) {
    throw new ValidationError(
      `Expected --max-skipped between 0 and 1 (a share of the inputs) but received ${maxSkipped}`,
    )
  }
  // Checked here with maxSkipped, for every caller: the CLI only parses the numbers.
  const mpp = options.mpp === undefined ? undefined : checkNumber(options.mpp, '--mpp', 0.01, 100)
  checkOutFolder(out, options.sources, options.overwrite === true)
  const restarted = existsSync(`${out}.partial`)
  const problemsPath = `${out}.problems.txt`
  const source = options.source ?? (await openSource(options.sources))
  try {
    const { meta, written, problems, splits } = await writeViaPartial(
      out,
      'pcam data prepare',
      async (partial) => {
        const written = await writeAtCommonSize(source, partial, options)
        const problems = [...source.problems, ...written.problems]
        const inputs = written.seen + source.problems.length
        const allowed = options.skipBad ? maxSkipped : 0
        if (problems.length > allowed * inputs) {
          await writeFile(problemsPath, writeTsv(problems.map((p) => [p.location, p.reason])))
          throw new DataError(
            summarise(problems, problemsPath, options.skipBad ? { inputs, allowed } : null),
          )
        }
        if (written.accepted.length === 0)
          throw new DataError(`No usable patches in ${options.sources.join(', ')}.`)
        const { splits, splitMethod } = chooseSplits(
          written.accepted,
          options.split ?? null,
          source,
        )
        const labels = Uint8Array.from(written.accepted, (a) => a.label ?? UNLABELLED)
        await writeFile(join(partial, STORE_FILES.labels), labels)
        const meta: StoreMeta = {
          format: STORE_FORMAT,
          version: STORE_VERSION,
          count: written.accepted.length,
          height: written.height,
          width: written.width,
          channels: 3,
          classes: source.classes,
          source: { kind: source.kind, description: source.description, paths: options.sources },
          ...patchMpp(mpp, source.kind),
          ids: written.accepted.map((a) => a.id),
          slides: written.accepted.some((a) => a.slide !== null)
            ? written.accepted.map((a) => a.slide)
            : null,
          splits,
          splitMethod,
          mean: [0, 0, 0],
          std: [1, 1, 1],
          statsFrom: 'train',
          duplicatesDropped: written.duplicates,
          skipped: problems.length,
          createdAt: new Date().toISOString(),
          pcamVersion: PCAM_VERSION,
        }
        await writeFile(join(partial, STORE_FILES.meta), JSON.stringify(meta))
        // Statistics come from the written store itself, computed by the engine over the mapped file:
        // from the training patches, or from every patch when the source has none (a test set).
        const store = PatchStore.open(partial)
        const trainIndices = store.indicesOf('train')
        meta.statsFrom = trainIndices.length ? 'train' : 'all'
        Object.assign(
          meta,
          channelStats(
            store.images,
            trainIndices.length ? trainIndices : [...Array(store.count).keys()],
          ),
        )
        store.dispose()
        await writeFile(join(partial, STORE_FILES.meta), JSON.stringify(meta))
        if (problems.length > 0) {
          await writeFile(
            join(partial, STORE_FILES.skipped),
            writeTsv(problems.map((p) => [p.location, p.reason])),
          )
        }
        return { meta, written, problems, splits }
      },
    )
    // A list left by an earlier failed run describes problems this store no longer has.
    await rm(problemsPath, { force: true })
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
  } finally {
    await source.close()
  }
}

/**
 * The split of every patch and how it was made: the requested one, else the source's own when
 * it has a validation part, else a random 20%. A source of test patches only (an unlabelled
 * Kaggle test/ folder) has nothing to split: its patches stay test, and the store says so.
 */
function chooseSplits(
  accepted: Accepted[],
  requested: SplitSpec | null,
  source: Source,
): { splits: SplitName[]; splitMethod: string } {
  if (accepted.every((a) => a.split === 'test')) {
    if (requested && requested.kind !== 'source') {
      throw new DataError(
        `Every patch of ${source.description} is a test patch, so there is nothing to split ` +
          'into train and valid. Leave out --valid-pct and --split-by-slide.',
      )
    }
    return {
      splits: accepted.map(() => 'test'),
      splitMethod: "the source's own: test patches only (no train or valid patches)",
    }
  }
  const hasValid = accepted.some((a) => a.split === 'valid')
  // Patches cut from slides are split by slide: neighbours on both sides would flatter valid.
  const bySlide: SplitSpec = {
    kind: 'slide',
    validPct: 0.2,
    seed: 42,
    slides: null,
    origin: 'source',
  }
  const spec: SplitSpec =
    requested ??
    (hasValid
      ? { kind: 'source' }
      : source.kind === 'slides'
        ? bySlide
        : { kind: 'random', validPct: 0.2, seed: 42 })
  return { splits: assignSplits(accepted, spec), splitMethod: describeSplit(spec) }
}

function summarise(
  problems: Problem[],
  listPath: string,
  share: { inputs: number; allowed: number } | null,
): string {
  const lines = problems.slice(0, SUMMARY_LINES).map((p) => `  ${p.location}: ${p.reason}`)
  const more =
    problems.length > SUMMARY_LINES ? `\n  ... and ${problems.length - SUMMARY_LINES} more` : ''
  const percent = (x: number) => `${+(x * 100).toFixed(2)}%`
  const head = share
    ? `${problems.length} of ${share.inputs} inputs are bad (${percent(problems.length / share.inputs)}), ` +
      `more than --max-skipped ${share.allowed} (${percent(share.allowed)}) allows; nothing was written:`
    : `${problems.length} bad input(s); nothing was written:`
  const fix = share
    ? 'Fix them, or pass a larger --max-skipped <share> to leave them out.'
    : 'Fix them, or pass --skip-bad to leave them out.'
  return `${head}\n${lines.join('\n')}${more}\nFull list: ${listPath}. ${fix}`
}

interface PatchSize {
  height: number
  width: number
}

/**
 * Writes the patches at --size, or at the size most of them have: when the first patch has an
 * odd size the source is read a second time, so one stray file cannot decide for all the others.
 */
async function writeAtCommonSize(source: Source, dir: string, options: PrepareOptions) {
  if (options.size !== undefined)
    return writePatches(source, dir, options, { height: options.size, width: options.size })
  const first = await writePatches(source, dir, options, null)
  let common: (PatchSize & { count: number }) | undefined
  for (const size of first.sizes.values()) if (!common || size.count > common.count) common = size
  if (!common || (common.height === first.height && common.width === first.width)) return first
  return writePatches(source, dir, options, common)
}

/** Streams the source into images.u8 in source order, checking every patch. */
async function writePatches(
  source: Source,
  dir: string,
  options: PrepareOptions,
  size: PatchSize | null,
) {
  const file = await open(join(dir, STORE_FILES.images), 'w')
  const accepted: Accepted[] = []
  const problems: Problem[] = []
  const ids = new Set<string>()
  const hashes = new Set<string>()
  let duplicates = 0
  let height = size?.height ?? 0
  let width = size?.width ?? 0
  /** How many decoded patches have each size, to find the common one. */
  const sizes = new Map<string, PatchSize & { count: number }>()
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
    const key = `${result.width}x${result.height}`
    const counted = sizes.get(key)
    if (counted) counted.count++
    else sizes.set(key, { height: result.height, width: result.width, count: 1 })
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
  return { accepted, problems, duplicates, height, width, sizes, seen }
}
