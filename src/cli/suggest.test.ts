import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { closest } from './suggest.js'

describe('closest', () => {
  it('suggests for a typo or a prefix, and nothing for an empty word', () => {
    assert.equal(closest('trian', ['train', 'eval']), 'train')
    assert.equal(closest('ev', ['train', 'eval']), 'eval')
    assert.equal(closest('', ['download', 'train']), undefined)
  })
})
