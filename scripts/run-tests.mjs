// Runs every compiled test file (dist/**/*.test.js) with node's test runner, one file at a time:
// each file already uses every core through libtorch. Exits non-zero on any failure.
import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'

function findTests(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return findTests(path)
    return entry.name.endsWith('.test.js') ? [path] : []
  })
}

const filter = process.argv[2]
const files = ['dist/src', 'dist/test']
  .flatMap(findTests)
  .filter((f) => !filter || f.includes(filter))
  .sort()
if (files.length === 0) {
  console.error(
    `no test files found${filter ? ` matching "${filter}"` : ''}; run "make build" first`,
  )
  process.exit(1)
}
const result = spawnSync(process.execPath, ['--test', '--test-concurrency=1', ...files], {
  stdio: 'inherit',
})
process.exit(result.status ?? 1)
