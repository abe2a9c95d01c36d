// Runs every compiled test file (dist/**/*.test.js) with node's test runner, one file at a time:
// each file already uses every core through libtorch. Exits non-zero on any failure.
// The tests, and every process they start, get a temporary folder of their own (TMPDIR) that is
// removed at the end, so nothing a test leaves behind outlives the run, even on Ctrl-C.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, rmSync, statfsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

function findTests(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return findTests(path)
    return entry.name.endsWith('.test.js') ? [path] : []
  })
}

const NEEDED_GIB = 3
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
const scratch = mkdtempSync(join(tmpdir(), 'pcam-tests-'))
// The ONNX and slide tests write over a gigabyte at a time; say so before they fail midway.
const disk = statfsSync(scratch)
const freeGiB = (disk.bavail * disk.bsize) / 2 ** 30
if (freeGiB < NEEDED_GIB) {
  console.warn(
    `warning: only ${freeGiB.toFixed(1)} GiB free in ${tmpdir()}; the full suite needs about ` +
      `${NEEDED_GIB} GiB there (set TMPDIR to a folder on a larger disk)`,
  )
}
// Ctrl-C reaches the test runner too; this process waits for it to end, then cleans up.
process.on('SIGINT', () => {})
const result = spawnSync(process.execPath, ['--test', '--test-concurrency=1', ...files], {
  stdio: 'inherit',
  env: { ...process.env, TMPDIR: scratch },
})
rmSync(scratch, { recursive: true, force: true })
process.exit(result.status ?? 1)
