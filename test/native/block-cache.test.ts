// The CPU block cache: freed tensor memory comes back for the same size class, never with stale
// values where a result is expected, within its cap, and off with PCAM_CPU_CACHE_MB=0.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import * as t from '../../src/torch/index.js'

const TORCH_INDEX = fileURLToPath(new URL('../../src/torch/index.js', import.meta.url))

/** Runs `code` in a fresh Node with `env` added; returns its stdout, stderr and status. */
function child(code: string, env: Record<string, string>) {
  return spawnSync(process.execPath, ['--input-type=module', '-e', code], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
  })
}

describe('CPU block cache', () => {
  it('a freed block serves the next tensors of its size class, and results are computed anew', () => {
    t.emptyCpuBlockCache()
    const before = t.cpuBlockCacheStats()
    assert.ok(before.capBytes > 0, 'the cache is on by default')
    const a = t.full([1000, 1000], 7) // 4 MB
    const sum = a.sum().item()
    assert.equal(sum, 7_000_000)
    a.dispose()
    const afterFree = t.cpuBlockCacheStats()
    assert.ok(afterFree.cachedBytes >= 4_000_000, `${afterFree.cachedBytes} bytes cached`)
    // The same size again comes from the cache, and zeros() still fills it with zeros.
    const b = t.zeros([1000, 1000])
    const reused = t.cpuBlockCacheStats()
    assert.ok(reused.hits > afterFree.hits)
    assert.equal(b.sum().item(), 0)
    assert.equal(b.abs().max().item(), 0)
    b.dispose()
    // A slightly smaller request (a smaller batch) is served by the same block.
    const hitsBefore = t.cpuBlockCacheStats().hits
    const c = t.full([975_000], 2)
    assert.equal(t.cpuBlockCacheStats().hits, hitsBefore + 1)
    assert.equal(c.sum().item(), 1_950_000)
    c.dispose()
    t.emptyCpuBlockCache()
    assert.equal(t.cpuBlockCacheStats().cachedBytes, 0)
  })

  it('keeps no more than its cap; 0 turns it off; a bad PCAM_CPU_CACHE_MB is refused', () => {
    const code = `
      import * as t from ${JSON.stringify(TORCH_INDEX)}
      for (let i = 1; i <= 8; i++) t.full([i * 100_000], 1).dispose() // 0.4 to 3.2 MB, 14.4 MB in all
      console.log(JSON.stringify(t.cpuBlockCacheStats()))`
    const capped = child(code, { PCAM_CPU_CACHE_MB: '4' })
    assert.equal(capped.status, 0, capped.stderr)
    const stats = JSON.parse(capped.stdout) as { cachedBytes: number; capBytes: number }
    assert.equal(stats.capBytes, 4 * 2 ** 20)
    assert.ok(stats.cachedBytes > 0 && stats.cachedBytes <= stats.capBytes, capped.stdout)
    const off = child(code, { PCAM_CPU_CACHE_MB: '0' })
    assert.equal(off.status, 0, off.stderr)
    assert.equal((JSON.parse(off.stdout) as { cachedBytes: number }).cachedBytes, 0)
    const bad = child(code, { PCAM_CPU_CACHE_MB: 'lots' })
    assert.notEqual(bad.status, 0)
    assert.match(bad.stderr, /PCAM_CPU_CACHE_MB must be a number of MiB.*"lots"/)
  })

  it('a training step reuses its blocks instead of asking the system again', () => {
    const model = t.scope(() => ({
      w: t.keep(t.randn([256, 256]).requiresGrad_()),
    }))
    const step = () =>
      t.scope(() => {
        const x = t.randn([512, 256])
        const loss = x.matmul(model.w).relu().square().mean()
        loss.backward()
        model.w.grad?.zero_()
      })
    step()
    step()
    const before = t.cpuBlockCacheStats()
    for (let i = 0; i < 5; i++) step()
    const after = t.cpuBlockCacheStats()
    const misses = after.misses - before.misses
    const hits = after.hits - before.hits
    assert.ok(hits > 0 && misses <= hits / 10, `${hits} hits, ${misses} misses in 5 steps`)
    model.w.dispose()
  })
})
