/**
 * pcam data show: a labelled grid PNG of patches from a store.
 * @module
 */
import { writeFileSync } from 'node:fs'
import { DEFAULT_TRAIN_AUGMENT } from '../../data/augment.js'
import { showBatch } from '../../data/show.js'
import { PatchStore } from '../../data/store.js'
import type { SplitName } from '../../data/sources/source.js'
import { ValidationError } from '../../errors.js'
import { checkInteger } from '../../torch/index.js'
import type { Command } from '../command.js'

export const dataShowCommand: Command = {
  name: 'data show',
  args: '<store>',
  summary: 'Write a labelled grid of patches from a store to a PNG, to see what the network sees.',
  options: {
    out: { type: 'string', default: 'grid.png', description: 'PNG file to write' },
    rows: { type: 'number', default: 4, description: 'Rows of patches' },
    cols: { type: 'number', default: 8, description: 'Columns of patches' },
    split: {
      type: 'string',
      default: 'train',
      description: 'Split to sample from: train, valid, test or all',
    },
    augment: { type: 'boolean', description: 'Apply the default training augmentation first' },
    tile: { type: 'number', default: 128, description: 'Pixels per patch side in the picture' },
    seed: { type: 'number', default: 0, description: 'Seed of the sample and of the augmentation' },
  },
  async run(values, positionals) {
    if (positionals.length !== 1)
      throw new ValidationError('Give one store: pcam data show <store> [--out grid.png]')
    const split = values.split as string
    if (!['train', 'valid', 'test', 'all'].includes(split)) {
      throw new ValidationError(
        `Expected train, valid, test or all for --split but received "${split}"`,
      )
    }
    const store = PatchStore.open(positionals[0] as string)
    try {
      const png = await showBatch(store, {
        rows: checkInteger(values.rows, '--rows', 1),
        cols: checkInteger(values.cols, '--cols', 1),
        tile: checkInteger(values.tile, '--tile', 8),
        seed: checkInteger(values.seed, '--seed', 0),
        split: split === 'all' ? null : (split as SplitName),
        augment: values.augment === true ? DEFAULT_TRAIN_AUGMENT : null,
      })
      writeFileSync(values.out as string, png)
      console.log(`Wrote ${values.out}`)
    } finally {
      store.dispose()
    }
  },
}
