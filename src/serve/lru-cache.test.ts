// The slide routes close an open slide when the cache lets go of it: evicted, replaced under its
// name, or cleared when the server closes. This holds lru-cache to that contract.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { LRUCache } from 'lru-cache'

describe('lru-cache, as the slide routes use it', () => {
  it('disposes of the least recently used beyond max, a replaced value, and all on clear', () => {
    const disposed: string[] = []
    const cache = new LRUCache<string, string>({ max: 2, dispose: (v) => void disposed.push(v) })
    cache.set('a', 'A')
    cache.set('b', 'B')
    cache.get('a') // b is now the oldest
    cache.set('c', 'C')
    assert.deepEqual(disposed, ['B'])
    cache.set('a', 'A2') // replaced: the old value goes
    assert.deepEqual(disposed, ['B', 'A'])
    cache.set('a', 'A2') // the same value again: nothing to dispose of
    assert.deepEqual(disposed, ['B', 'A'])
    assert.equal(cache.get('a'), 'A2')
    cache.clear()
    assert.deepEqual(disposed.sort(), ['A', 'A2', 'B', 'C'])
  })
})
