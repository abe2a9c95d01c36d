// The guides hold what they claim: every relative link and anchor resolves, every block marked
// "tested by <file>" names a test that reads that guide, and every `npx pcam ...` line in a shell
// block names a real command with options it has, so a renamed option cannot leave a stale guide.
import assert from 'node:assert/strict'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { describe, it } from 'node:test'
import { COMMANDS } from '../../src/cli/main.js'
import { PACKAGE_ROOT } from '../../src/paths.js'

const DOCS = join(PACKAGE_ROOT, 'docs')
const FILES = [
  join(PACKAGE_ROOT, 'README.md'),
  ...readdirSync(DOCS)
    .filter((f) => f.endsWith('.md'))
    .map((f) => join(DOCS, f)),
]

/** The text outside code fences, and the fenced blocks with their language. */
function parse(path: string) {
  const prose: string[] = []
  const blocks: { lang: string; lines: string[]; after: string }[] = []
  let block: { lang: string; lines: string[]; after: string } | null = null
  let before = ''
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (line.startsWith('```')) {
      if (block) {
        blocks.push(block)
        block = null
      } else block = { lang: line.slice(3).trim(), lines: [], after: before }
      continue
    }
    if (block) block.lines.push(line)
    else {
      prose.push(line)
      if (line.trim() !== '') before = line
    }
  }
  return { prose: prose.join('\n'), blocks }
}

/** GitHub's anchor of a heading. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\- _]/gu, '')
    .replace(/ /g, '-')
}

function anchors(path: string): Set<string> {
  return new Set(
    parse(path)
      .prose.split('\n')
      .flatMap((line) => /^#+ (.*)$/.exec(line)?.[1] ?? [])
      .map(slug),
  )
}

describe('documentation', () => {
  it('has a README of at most 250 lines and a guide for every task', () => {
    const readme = readFileSync(join(PACKAGE_ROOT, 'README.md'), 'utf8')
    assert.ok(readme.split('\n').length <= 250, 'README.md is over 250 lines')
    for (const guide of ['getting-started', 'data', 'training', 'evaluation', 'slides'])
      assert.ok(existsSync(join(DOCS, `${guide}.md`)), `docs/${guide}.md`)
    const linked = [...readme.matchAll(/\]\(docs\/([\w-]+\.md)\)/g)].map((m) => m[1])
    const guides = readdirSync(DOCS).filter((f) => f.endsWith('.md'))
    assert.deepEqual(
      guides.filter((g) => !linked.includes(g)),
      [],
      'every guide is linked from the README',
    )
  })

  it('every relative link and anchor resolves', () => {
    const broken: string[] = []
    for (const file of FILES) {
      for (const [, target] of parse(file).prose.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^(https?:|mailto:)/.test(target as string)) continue
        const [path, anchor] = (target as string).split('#') as [string, string | undefined]
        const resolved = path === '' ? file : join(dirname(file), path)
        const where = `${relative(PACKAGE_ROOT, file)} -> ${target}`
        if (!existsSync(resolved)) broken.push(`${where} (no such file)`)
        else if (anchor && resolved.endsWith('.md') && !anchors(resolved).has(anchor))
          broken.push(`${where} (no such heading)`)
      }
    }
    assert.deepEqual(broken, [])
  })

  it('every block marked as tested names a test that reads its guide', () => {
    let marked = 0
    for (const file of FILES) {
      for (const block of parse(file).blocks) {
        const test = /^<!-- tested by (\S+) -->$/.exec(block.after)?.[1]
        if (!test) continue
        marked++
        const path = join(PACKAGE_ROOT, test)
        assert.ok(existsSync(path), `${file}: ${test} does not exist`)
        const source = readFileSync(path, 'utf8')
        const name = relative(PACKAGE_ROOT, file)
        assert.ok(
          source.includes(`'${name}'`) || source.includes(`"${name}"`),
          `${test} does not read ${name}`,
        )
      }
    }
    assert.ok(marked >= 2, `${marked} tested blocks`)
  })

  it('every `npx pcam` line in a shell block uses a real command and its options', async () => {
    const commands = await Promise.all(COMMANDS.map((entry) => entry.load()))
    const problems: string[] = []
    let checked = 0
    for (const file of FILES) {
      for (const block of parse(file).blocks.filter((b) => b.lang === 'sh')) {
        // Continuation lines join the line they continue.
        const lines = block.lines.join('\n').replace(/\\\n/g, ' ').split('\n')
        for (const line of lines) {
          const words = /^npx pcam (.*)$/.exec(line.trim())?.[1]?.split('#')[0]?.trim().split(/\s+/)
          if (!words || words[0] === '--help') continue
          const command = commands
            .filter((c) => c.name.split(' ').every((w, i) => words[i] === w))
            .sort((a, b) => b.name.length - a.name.length)[0]
          const where = `${relative(PACKAGE_ROOT, file)}: ${line.trim()}`
          if (!command) {
            problems.push(`${where} (no such command)`)
            continue
          }
          checked++
          for (const word of words.filter((w) => w.startsWith('--'))) {
            const option = word.slice(2).split('=')[0] as string
            if (option !== 'help' && !(option in command.options))
              problems.push(`${where} (no option --${option})`)
          }
        }
      }
    }
    assert.deepEqual(problems, [])
    assert.ok(checked > 20, `${checked} command lines checked`)
  })
})
