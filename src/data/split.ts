/**
 * Train / valid / test assignment: the source's own split, a seeded stratified random split, or
 * a split by slide so that no slide has patches on both sides.
 * @module
 */
import { basename } from 'node:path'
import { DataError } from '../errors.js'
import { readCsv } from './csv.js'
import type { SplitName } from './sources/source.js'

/**
 * How `pcam data prepare` assigns train and valid: keep the source's own split, move a random
 * stratified share to valid (`--valid-pct`), or move whole slides to valid (`--split-by-slide`).
 */
export type SplitSpec =
  | {
      /** Keep the source's own split; patches without one go to train. */
      kind: 'source'
    }
  | {
      /** Move a random share of each label's non-test patches to valid. */
      kind: 'random'
      /** Fraction of the non-test patches moved to valid, between 0 and 1 (`--valid-pct`). */
      validPct: number
      /** Seed of the random choice (`--seed`): the same seed gives the same split. */
      seed: number
    }
  | {
      /** Move whole slides to valid, so no slide has patches on both sides. */
      kind: 'slide'
      /** Fraction of the non-test patches to move to valid, in whole slides (`--valid-pct`). */
      validPct: number
      /** Seed of the slide order (`--seed`): the same seed gives the same split. */
      seed: number
      /**
       * Patch id → slide, read from the `--split-by-slide` CSV; null to use the slides the source
       * names.
       */
      slides: Map<string, string> | null
      /**
       * The `--split-by-slide` CSV's path, named in messages and (by file name) in the split's
       * description; "source" when `slides` is null.
       */
      origin: string
    }

export interface SplitItem {
  id: string
  label: number | null
  split: SplitName | null
  slide: string | null
}

/** mulberry32: a small seeded generator, so the same seed gives the same split everywhere. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export function shuffle<T>(items: T[], random: () => number): T[] {
  const out = [...items]
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[out[i], out[j]] = [out[j] as T, out[i] as T]
  }
  return out
}

function groupBy<K>(indices: number[], key: (i: number) => K): Map<K, number[]> {
  const groups = new Map<K, number[]>()
  for (const i of indices) {
    const k = key(i)
    const group = groups.get(k)
    if (group) group.push(i)
    else groups.set(k, [i])
  }
  return groups
}

/** Parses a patch-id → slide CSV (header "id,slide" or any two columns). */
export function parseSlideMap(text: string, origin: string): Map<string, string> {
  const map = new Map<string, string>()
  for (const { line, fields } of readCsv(text, origin).rows) {
    const [id, slide] = fields.map((c) => c.trim())
    if (!id || !slide)
      throw new DataError(
        `${origin}:${line}: expected "id,slide" but found ${JSON.stringify(fields)}`,
      )
    map.set(id, slide)
  }
  return map
}

export function describeSplit(spec: SplitSpec): string {
  switch (spec.kind) {
    case 'source':
      return "the source's own split"
    case 'random':
      return `random ${spec.validPct * 100}% of the patches to valid, stratified by label, seed ${spec.seed}`
    case 'slide':
      // Recorded in the store and shown on model cards: the CSV's name, not the machine's folders.
      return `by slide (${spec.slides ? basename(spec.origin) : "the source's slide ids"}): ${spec.validPct * 100}% of patches to valid, no slide on both sides, seed ${spec.seed}`
  }
}

/** The split of every item. A source's test patches stay test; the rest are re-split on request. */
export function assignSplits(items: SplitItem[], spec: SplitSpec): SplitName[] {
  const out: SplitName[] = items.map((item) => item.split ?? 'train')
  if (spec.kind === 'source') return out
  if (!(spec.validPct > 0 && spec.validPct < 1)) {
    throw new DataError(
      `Expected --valid-pct between 0 and 1 (exclusive) but received ${spec.validPct}`,
    )
  }
  const pool = items.map((_, i) => i).filter((i) => out[i] !== 'test')
  for (const i of pool) out[i] = 'train'
  const random = seededRandom(spec.seed)
  if (spec.kind === 'random') {
    for (const group of groupBy(pool, (i) => items[i]!.label).values()) {
      for (const i of shuffle(group, random).slice(0, Math.round(group.length * spec.validPct)))
        out[i] = 'valid'
    }
    return out
  }
  const slideOf = (i: number) =>
    (spec.slides ? spec.slides.get(items[i]!.id) : items[i]!.slide) ?? undefined
  const missing = pool.filter((i) => slideOf(i) === undefined)
  if (missing.length > 0) {
    const examples = missing
      .slice(0, 3)
      .map((i) => items[i]!.id)
      .join(', ')
    throw new DataError(
      `${missing.length} patches have no slide in ${spec.slides ? spec.origin : 'the source'} (e.g. ${examples}). Pass a CSV of id,slide to --split-by-slide.`,
    )
  }
  const bySlide = groupBy(pool, (i) => slideOf(i) as string)
  const target = pool.length * spec.validPct
  let taken = 0
  for (const slide of shuffle([...bySlide.keys()].sort(), random)) {
    if (taken >= target) break
    const members = bySlide.get(slide) as number[]
    for (const i of members) out[i] = 'valid'
    taken += members.length
  }
  return out
}
