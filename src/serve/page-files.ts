/**
 * The web page's files, listed once: `pcam serve` serves them and `pcam export --format web`
 * copies them. Nothing else on disk is reachable through the server.
 * @module
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { ConfigError } from '../errors.js'
import { PACKAGE_ROOT } from '../paths.js'

export interface PageFile {
  /** Where the server serves it. */
  url: string
  /** Its name in a static web folder. */
  name: string
  path: string
  type: string
}

const HTML = 'text/html; charset=utf-8'
const JS = 'text/javascript; charset=utf-8'

export const PAGE_FILES: readonly PageFile[] = [
  { url: '/', name: 'index.html', path: join(PACKAGE_ROOT, 'web', 'index.html'), type: HTML },
  {
    url: '/style.css',
    name: 'style.css',
    path: join(PACKAGE_ROOT, 'web', 'style.css'),
    type: 'text/css; charset=utf-8',
  },
  { url: '/app.js', name: 'app.js', path: join(PACKAGE_ROOT, 'dist', 'web', 'app.js'), type: JS },
]

/** The slide viewer's files (pcam serve --slides), OpenSeadragon found where npm installed it. */
export function slidePageFiles(): PageFile[] {
  const openseadragon = dirname(createRequire(import.meta.url).resolve('openseadragon'))
  return [
    {
      url: '/slides',
      name: 'slide.html',
      path: join(PACKAGE_ROOT, 'web', 'slide.html'),
      type: HTML,
    },
    {
      url: '/slide.js',
      name: 'slide.js',
      path: join(PACKAGE_ROOT, 'dist', 'web', 'slide.js'),
      type: JS,
    },
    {
      url: '/vendor/openseadragon.min.js',
      name: 'openseadragon.min.js',
      path: join(openseadragon, 'openseadragon.min.js'),
      type: JS,
    },
    // The images of its zoom, home and full-page buttons.
    ...readdirSync(join(openseadragon, 'images'))
      .filter((name) => name.endsWith('.png'))
      .map((name) => ({
        url: `/vendor/images/${name}`,
        name,
        path: join(openseadragon, 'images', name),
        type: 'image/png',
      })),
  ]
}

/** A page file's bytes; a missing one (the page not compiled) says how to build it. */
export function readPageFile(file: PageFile): Buffer {
  if (!existsSync(file.path))
    throw new ConfigError(`${file.path} is missing: build pcam first ("npm run build").`)
  return readFileSync(file.path)
}
