// The model card names the training data without the machine's folders, whatever their form.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { modelCard } from '../../src/eval/model-card.js'
import type { RunConfig } from '../../src/run/run-folder.js'
import { tempDir } from '../helpers/temp-dir.js'

describe('model card', () => {
  it('keeps the names of relative and Windows paths, not their folders, and leaves " /" in text alone', () => {
    const config = {
      model: { arch: 'small', head: 'linear' },
      classes: ['0', '1'],
      inputSize: 16,
      data: {
        store: 'private/stores/pcam',
        source: {
          kind: 'class-folders',
          description: 'class folders (0, 1) in patches',
          paths: ['C:\\Users\\someone\\patches', '../shared/more'],
        },
        splitMethod: 'random 20% of the patches to valid, 1 / 5, seed 42',
      },
    } as unknown as RunConfig
    const card = modelCard(tempDir('card'), config, false)
    const text = JSON.stringify(card.training)
    for (const folder of ['private', 'Users', 'someone', 'shared'])
      assert.ok(!text.includes(folder), text)
    assert.equal(card.training?.store, 'pcam')
    assert.deepEqual(card.training?.source.paths, ['patches', 'more'])
    assert.equal(card.training?.splitMethod, 'random 20% of the patches to valid, 1 / 5, seed 42')
  })
})
