/**
 * What a CLI command is, and how its options are parsed and described in --help.
 * @module
 */
import { parseArgs } from 'node:util'
import { ValidationError } from '../errors.js'

export interface OptionSpec {
  type: 'string' | 'boolean' | 'number'
  description: string
  default?: string | number | boolean
  short?: string
}

export type OptionValues = Record<string, string | number | boolean | undefined>

export interface Command {
  /** Words after "pcam", e.g. "bench engine". */
  name: string
  summary: string
  /** Longer explanation printed by --help. */
  description?: string
  options: Record<string, OptionSpec>
  run(values: OptionValues, positionals: string[]): Promise<void> | void
}

/** Parses argv for one command; numbers are checked here so commands receive numbers. */
export function parseOptions(
  command: Command,
  argv: string[],
): { values: OptionValues; positionals: string[] } {
  const config = Object.fromEntries(
    Object.entries(command.options).map(([name, spec]) => [
      name,
      {
        type: spec.type === 'boolean' ? 'boolean' : 'string',
        ...(spec.short ? { short: spec.short } : {}),
      } as const,
    ]),
  )
  let parsed
  try {
    parsed = parseArgs({ args: argv, options: config, allowPositionals: true, strict: true })
  } catch (error) {
    throw new ValidationError(`${(error as Error).message}. See "pcam ${command.name} --help".`)
  }
  const values: OptionValues = {}
  for (const [name, spec] of Object.entries(command.options)) {
    const raw = parsed.values[name] as string | boolean | undefined
    if (raw === undefined) {
      values[name] = spec.default
    } else if (spec.type === 'number') {
      const number = Number(raw)
      if (raw === '' || !Number.isFinite(number)) {
        throw new ValidationError(`Expected a number for --${name} but received "${String(raw)}"`)
      }
      values[name] = number
    } else {
      values[name] = raw
    }
  }
  return { values, positionals: parsed.positionals }
}

export function helpText(command: Command): string {
  const lines = [`Usage: pcam ${command.name} [options]`, '', command.summary]
  if (command.description) lines.push('', command.description)
  lines.push('', 'Options:')
  const entries = Object.entries(command.options)
  const flags = entries.map(([name, spec]) => {
    const short = spec.short ? `-${spec.short}, ` : ''
    return `${short}--${name}${spec.type === 'boolean' ? '' : ` <${spec.type}>`}`
  })
  const width = Math.max(...flags.map((f) => f.length), 10) + 2
  entries.forEach(([, spec], i) => {
    const fallback =
      spec.default === undefined || spec.type === 'boolean' ? '' : ` (default: ${spec.default})`
    lines.push(`  ${(flags[i] as string).padEnd(width)}${spec.description}${fallback}`)
  })
  lines.push(`  ${'-h, --help'.padEnd(width)}Show this help`)
  return lines.join('\n')
}
