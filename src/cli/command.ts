/**
 * What a CLI command is, and how its options are parsed and described in --help.
 * @module
 */
import { parseArgs } from 'node:util'
import { ValidationError } from '../errors.js'
import { closest } from './suggest.js'

export interface OptionSpec {
  type: 'string' | 'boolean' | 'number'
  description: string
  default?: string | number | boolean
  short?: string
  /** parseOptions refuses a command line without it; --help says "(required)". */
  required?: boolean
  /** What the value is, for --help and the missing-option message (default: its type). */
  value?: string
}

export type OptionValues = Record<string, string | number | boolean | undefined>

export interface Command {
  /** Words after "pcam", e.g. "bench engine". */
  name: string
  summary: string
  /** Longer explanation printed by --help. */
  description?: string
  /** The positional arguments in usage form, e.g. "<source...>"; none are accepted without. */
  args?: string
  options: Record<string, OptionSpec>
  /** `given`: the options named on the command line (the others hold their defaults). */
  run(values: OptionValues, positionals: string[], given: ReadonlySet<string>): Promise<void> | void
}

/** Node's parser's complaint, said in pcam's words (with the closest option for a typo). */
function parseProblem(command: Command, error: Error & { code?: string }): string {
  const option = /'(-[^' ]+)/.exec(error.message)?.[1] ?? ''
  if (error.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const flags = Object.keys(command.options).map((name) => `--${name}`)
    const guess = closest(option.split('=')[0] as string, [...flags, '--help'])
    return `Unknown option '${option}'${guess ? `; did you mean ${guess}?` : '.'}`
  }
  if (error.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    return /argument missing/.test(error.message)
      ? `${option} needs a value.`
      : `${option} is a switch and takes no value.`
  }
  return `${error.message}.`
}

/** Parses argv for one command; numbers are checked here so commands receive numbers. */
export function parseOptions(
  command: Command,
  argv: string[],
): { values: OptionValues; positionals: string[]; given: Set<string> } {
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
    throw new ValidationError(
      `${parseProblem(command, error as Error)} See "pcam ${command.name} --help".`,
    )
  }
  if (!command.args && parsed.positionals.length > 0)
    throw new ValidationError(
      `pcam ${command.name} takes options only, not "${parsed.positionals.join(' ')}". See "pcam ${command.name} --help".`,
    )
  for (const [name, spec] of Object.entries(command.options)) {
    if (spec.required && parsed.values[name] === undefined)
      throw new ValidationError(`Missing --${name} <${spec.value ?? spec.type}>`)
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
  const given = new Set(Object.keys(parsed.values).filter((name) => name in command.options))
  return { values, positionals: parsed.positionals, given }
}

export function helpText(command: Command): string {
  const usage = `pcam ${command.name}${command.args ? ` ${command.args}` : ''} [options]`
  const lines = [`Usage: ${usage}`, '', command.summary]
  if (command.description) lines.push('', command.description)
  lines.push('', 'Options:')
  const entries = Object.entries(command.options)
  const flags = entries.map(([name, spec]) => {
    const short = spec.short ? `-${spec.short}, ` : ''
    return `${short}--${name}${spec.type === 'boolean' ? '' : ` <${spec.value ?? spec.type}>`}`
  })
  const width = Math.max(...flags.map((f) => f.length), 10) + 2
  entries.forEach(([, spec], i) => {
    const fallback =
      spec.default === undefined || spec.type === 'boolean' ? '' : ` (default: ${spec.default})`
    const required = spec.required ? ' (required)' : ''
    lines.push(`  ${(flags[i] as string).padEnd(width)}${spec.description}${required}${fallback}`)
  })
  lines.push(`  ${'-h, --help'.padEnd(width)}Show this help`)
  return lines.join('\n')
}
