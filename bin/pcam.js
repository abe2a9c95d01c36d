#!/usr/bin/env node
// The pcam command: runs the compiled CLI (build it with "make build").
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const main = new URL('../dist/src/cli/main.js', import.meta.url)
if (!existsSync(fileURLToPath(main))) {
  console.error('pcam is not built yet: run "make build" in the pcam folder.')
  process.exit(1)
}
const { run } = await import(main.href)
process.exitCode = await run(process.argv.slice(2))
