/**
 * `pcam export --format web`: a static folder that predicts inside the browser with no pcam
 * process at all: the page (index.html, style.css, app.js), model.json (what the page's model card
 * shows), model.onnx and onnxruntime-web's files under ort/. Any static file server serves it.
 * @module
 */
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { join } from 'node:path'
import { ConfigError } from '../errors.js'
import { PACKAGE_ROOT } from '../paths.js'
import { modelCard } from '../eval/model-card.js'
import { ORT_WEB_FILES, ortWebDir } from '../export/ort-web.js'
import { exportOnnx } from '../export/export.js'

const MARKER = 'pcam-web-export.json'

export async function exportWeb(
  run: string,
  out: string,
  options: { overwrite?: boolean } = {},
): Promise<string[]> {
  if (existsSync(out) && readdirSync(out).length > 0) {
    if (!options.overwrite || !existsSync(join(out, MARKER)))
      throw new ConfigError(
        `${out} exists and is not empty; give an empty or new folder (--overwrite replaces a folder pcam exported).`,
      )
    rmSync(out, { recursive: true })
  }
  mkdirSync(join(out, 'ort'), { recursive: true })
  const { config } = exportOnnx(run, join(out, 'model.onnx'))
  const card = { ...modelCard(run, config, false), static: true }
  writeFileSync(join(out, 'model.json'), `${JSON.stringify(card, null, 2)}\n`)
  const page: [string, string][] = [
    [join(PACKAGE_ROOT, 'web', 'index.html'), 'index.html'],
    [join(PACKAGE_ROOT, 'web', 'style.css'), 'style.css'],
    [join(PACKAGE_ROOT, 'dist', 'web', 'app.js'), 'app.js'],
  ]
  const ort = ortWebDir()
  for (const name of Object.keys(ORT_WEB_FILES)) page.push([join(ort, name), join('ort', name)])
  for (const [from, to] of page) {
    if (to === 'index.html' && existsSync(from)) {
      // Relative addresses, so the folder works at any path of any static server.
      const html = readFileSync(from, 'utf8').replace(
        /(href|src)="\/(style\.css|app\.js)"/g,
        '$1="$2"',
      )
      writeFileSync(join(out, to), html)
      continue
    }
    if (!existsSync(from))
      throw new ConfigError(`${from} is missing: build pcam first ("npm run build").`)
    copyFileSync(from, join(out, to))
  }
  writeFileSync(join(out, MARKER), `${JSON.stringify({ run, format: 'web' })}\n`)
  return ['model.onnx', 'model.json', ...page.map(([, to]) => to), MARKER]
}
