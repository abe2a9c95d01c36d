/**
 * Folders of patches, one per class (<root>/<class>/*.png|jpg|tif), optionally inside split
 * folders (<root>/train/<class>/...), or a flat folder of unlabelled patches.
 * @module
 */
import { DataError } from '../../errors.js'
import type { Tree } from '../tree.js'
import {
  IMAGE_EXTENSIONS,
  MAX_IMAGE,
  readAhead,
  type PatchItem,
  type Source,
  type SplitName,
} from './source.js'

const SPLIT_FOLDERS: Record<string, SplitName> = {
  train: 'train',
  valid: 'valid',
  val: 'valid',
  test: 'test',
}

/** Class names in label order: "0", "1", ... numerically when they are numbers, else sorted. */
export function orderClasses(names: Iterable<string>): string[] {
  const unique = [...new Set(names)]
  const numeric = unique.every((n) => /^\d+$/.test(n))
  return numeric ? unique.sort((a, b) => Number(a) - Number(b)) : unique.sort()
}

export async function classFoldersSource(tree: Tree): Promise<Source> {
  const images = (await tree.files()).filter((f) => IMAGE_EXTENSIONS.test(f))
  if (images.length === 0) {
    throw new DataError(
      `No images found in ${tree.origin} (looked for .png, .jpg, .jpeg, .tif, .tiff files).`,
    )
  }
  const depths = new Set(images.map((f) => f.split('/').length))
  if (depths.size !== 1) {
    throw new DataError(
      `${tree.origin} mixes images at different folder depths; expected <class>/<image> or ` +
        `<split>/<class>/<image> (e.g. ${images[0]} and ${images.find((f) => f.split('/').length !== images[0]!.split('/').length)}).`,
    )
  }
  const depth = [...depths][0] as number
  if (depth > 3)
    throw new DataError(`Images in ${tree.origin} are nested too deeply (e.g. ${images[0]}).`)
  if (depth === 3) {
    const bad = images.find((f) => SPLIT_FOLDERS[f.split('/')[0] as string] === undefined)
    if (bad)
      throw new DataError(
        `Expected split folders train/, valid/ or test/ in ${tree.origin} but found ${tree.describe(bad)}.`,
      )
  }
  const classOf = (f: string) => (depth === 1 ? null : (f.split('/')[depth - 2] as string))
  const classes = depth === 1 ? [] : orderClasses(images.map((f) => classOf(f) as string))
  const labelOf = new Map(classes.map((name, i) => [name, i]))
  const description = depth === 1 ? 'unlabelled folder' : `class folders (${classes.join(', ')})`
  return {
    kind: 'class-folders',
    description: `${description} in ${tree.name}`,
    classes,
    count: images.length,
    problems: [],
    async *read(): AsyncGenerator<PatchItem> {
      yield* readAhead(images, 16, async (path) => {
        const name = classOf(path)
        return {
          id: path.replace(IMAGE_EXTENSIONS, ''),
          label: name === null ? null : (labelOf.get(name) as number),
          split: depth === 3 ? (SPLIT_FOLDERS[path.split('/')[0] as string] as SplitName) : null,
          slide: null,
          location: tree.describe(path),
          encoded: await tree.read(path, MAX_IMAGE),
        }
      })
    },
    close: () => tree.close(),
  }
}
