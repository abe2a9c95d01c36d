// The LRU cache hands every value it lets go of to onEvict: the oldest beyond the limit, one
// replaced under its key (a slide reopened: the old handle must be closed), and all on clear().
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Lru } from './lru.js'

describe('Lru', () => {
  it('evicts the least recently used beyond its limit, a replaced value, and all on clear', () => {
    const evicted: string[] = []
    const lru = new Lru<string>(2, (v) => evicted.push(v))
    lru.set('a', 'A')
    lru.set('b', 'B')
    lru.get('a') // b is now the oldest
    lru.set('c', 'C')
    assert.deepEqual(evicted, ['B'])
    lru.set('a', 'A2') // replaced: the old value goes
    assert.deepEqual(evicted, ['B', 'A'])
    lru.set('a', 'A2') // the same value again: nothing to evict
    assert.deepEqual(evicted, ['B', 'A'])
    assert.equal(lru.get('a'), 'A2')
    lru.clear()
    assert.deepEqual(evicted.sort(), ['A', 'A2', 'B', 'C'])
  })
})
