/**
 * Headless Chromium for the tests that need a real browser (Debian's `chromium`, driven by
 * playwright-core). `make test` installs it; elsewhere PCAM_CHROMIUM names another binary.
 * @module
 */
import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { chromium, type Browser, type Page } from 'playwright-core'
import { PACKAGE_ROOT } from '../../src/paths.js'

export const CHROMIUM = process.env.PCAM_CHROMIUM ?? '/usr/bin/chromium'

/** Where screenshots are kept for people to look at after a run. */
export const ARTIFACTS = process.env.PCAM_TEST_ARTIFACTS ?? join(PACKAGE_ROOT, 'test-artifacts')

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM))
    throw new Error(
      `Chromium not found at ${CHROMIUM}: run "make test" (it installs Debian's chromium) or set PCAM_CHROMIUM.`,
    )
  mkdirSync(ARTIFACTS, { recursive: true })
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  })
}

/**
 * What went wrong on a page, collected as it happens: console errors, uncaught exceptions, and
 * requests to anywhere but the allowed origins (a report or page must work offline).
 */
export function watchPage(page: Page, allowed: string[]): string[] {
  const problems: string[] = []
  page.on('console', (m) => m.type() === 'error' && problems.push(m.text()))
  page.on('pageerror', (e) => problems.push(e.message))
  page.on('request', (r) => {
    if (!allowed.some((origin) => r.url().startsWith(origin))) problems.push(`request ${r.url()}`)
  })
  return problems
}
