/**
 * The Kaggle "histopathologic-cancer-detection" layout: train/<id>.tif with train_labels.csv
 * (id,label), and test/<id>.tif without labels. Ids are 40 hex digits.
 * @module
 */
import { DataError } from '../../errors.js'
import { readCsv } from '../csv.js'
import type { Tree } from '../tree.js'
import {
  MAX_IMAGE,
  MAX_TABLE,
  readAhead,
  type PatchItem,
  type Problem,
  type Source,
  type SplitName,
} from './source.js'

export const KAGGLE_LABELS = 'train_labels.csv'

/** Parses train_labels.csv; every malformed row becomes a problem naming its line. */
export function parseKaggleLabels(
  text: string,
  location: string,
): { labels: Map<string, number>; problems: Problem[] } {
  const { header, rows } = readCsv(text, location)
  if (header.map((h) => h.trim().toLowerCase()).join(',') !== 'id,label') {
    throw new DataError(
      `${location} must start with the header "id,label" but starts with "${header.join(',')}".`,
    )
  }
  const labels = new Map<string, number>()
  const problems: Problem[] = []
  for (const { line, fields } of rows) {
    const where = `${location}:${line}`
    const [id, label] = fields.map((f) => f.trim())
    if (!id || label === undefined || fields.length !== 2) {
      problems.push({
        location: where,
        reason: `expected "id,label" but found ${fields.length} fields: ${JSON.stringify(fields)}`,
      })
    } else if (label !== '0' && label !== '1') {
      problems.push({ location: where, reason: `label of ${id} is "${label}", expected 0 or 1` })
    } else if (labels.has(id)) {
      problems.push({
        location: where,
        reason: `duplicate id ${id} (already labelled earlier in the file)`,
      })
    } else {
      labels.set(id, Number(label))
    }
  }
  return { labels, problems }
}

export async function kaggleSource(tree: Tree): Promise<Source> {
  const files = await tree.files()
  const labelFile = files.find((f) => f === KAGGLE_LABELS || f.endsWith(`/${KAGGLE_LABELS}`))
  const prefix = labelFile ? labelFile.slice(0, -KAGGLE_LABELS.length) : ''
  const tifs = (split: string) =>
    files.filter((f) => f.startsWith(`${prefix}${split}/`) && /\.tif$/i.test(f))
  const train = tifs('train')
  const test = tifs('test')
  const problems: Problem[] = []
  let labels = new Map<string, number>()
  if (train.length > 0) {
    if (!labelFile) {
      throw new DataError(
        `${tree.origin} has train/*.tif but no ${KAGGLE_LABELS}; pass the labels file too.`,
      )
    }
    const parsed = parseKaggleLabels(
      (await tree.read(labelFile, MAX_TABLE)).toString('utf8'),
      tree.describe(labelFile),
    )
    labels = parsed.labels
    problems.push(...parsed.problems)
  }
  const idOf = (path: string) => path.slice(path.lastIndexOf('/') + 1).replace(/\.tif$/i, '')
  const trainIds = new Set(train.map(idOf))
  const usable = train.filter((path) => {
    if (labels.has(idOf(path))) return true
    problems.push({
      location: tree.describe(path),
      reason: `missing label: ${idOf(path)} is not in ${KAGGLE_LABELS}`,
    })
    return false
  })
  for (const id of labels.keys()) {
    if (!trainIds.has(id)) {
      problems.push({
        location: tree.describe(labelFile as string),
        reason: `${id} is labelled but ${prefix}train/${id}.tif is missing`,
      })
    }
  }
  const items: { path: string; split: SplitName }[] = [
    ...usable.map((path) => ({ path, split: 'train' as const })),
    ...test.map((path) => ({ path, split: 'test' as const })),
  ]
  if (items.length === 0 && problems.length === 0) {
    throw new DataError(
      `No Kaggle patches found in ${tree.origin} (expected train/<id>.tif or test/<id>.tif).`,
    )
  }
  return {
    kind: 'kaggle',
    description: `Kaggle layout in ${tree.name} (${usable.length} labelled, ${test.length} test)`,
    classes: ['0', '1'],
    count: items.length,
    problems,
    async *read(): AsyncGenerator<PatchItem> {
      yield* readAhead(items, 16, async ({ path, split }) => ({
        id: idOf(path),
        label: split === 'train' ? (labels.get(idOf(path)) as number) : null,
        split,
        slide: null,
        location: tree.describe(path),
        encoded: await tree.read(path, MAX_IMAGE),
      }))
    },
    close: () => tree.close(),
  }
}

/** Whether a tree looks like the Kaggle layout. */
export async function isKaggle(tree: Tree): Promise<boolean> {
  const files = await tree.files()
  return (
    files.some((f) => f.endsWith(KAGGLE_LABELS)) ||
    files.some((f) => /(^|\/)(train|test)\/[0-9a-f]{40}\.tif$/i.test(f))
  )
}
