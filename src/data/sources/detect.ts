/**
 * Opens what the user points at and picks the source kind from its files: PCam HDF5, the Kaggle
 * layout, or class folders.
 * @module
 */
import { openTree } from '../tree.js'
import { classFoldersSource } from './class-folders.js'
import { isKaggle, kaggleSource } from './kaggle.js'
import { isPcamHdf5, pcamHdf5Source } from './pcam-hdf5.js'
import type { Source } from './source.js'

/** @example const source = await openSource(['data/train.zip', 'data/train_labels.csv.zip']) */
export async function openSource(paths: string[]): Promise<Source> {
  const tree = await openTree(paths)
  try {
    const files = await tree.files()
    if (isPcamHdf5(files)) return await pcamHdf5Source(tree)
    if (await isKaggle(tree)) return await kaggleSource(tree)
    return await classFoldersSource(tree)
  } catch (error) {
    await tree.close()
    throw error
  }
}
