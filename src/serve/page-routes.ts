/**
 * The web page's own files (page-files.ts), and the slide viewer's with --slides, read once at
 * start-up and served from memory: nothing else on disk is reachable through the server.
 * @module
 */
import type { FastifyPluginAsync } from 'fastify'
import { PAGE_FILES, readPageFile, slidePageFiles } from './page-files.js'

export interface PageRoutesOptions {
  /** Also serve the slide viewer (/slides, its script and OpenSeadragon). */
  slideViewer: boolean
}

/** GET at each page file's url; a file missing on disk (the page not built) fails registration. */
export const pageRoutes: FastifyPluginAsync<PageRoutesOptions> = async (app, { slideViewer }) => {
  const files = [...PAGE_FILES, ...(slideViewer ? slidePageFiles() : [])]
  for (const file of files) {
    let body = readPageFile(file)
    // The patch page links the slide viewer when there is one (its link is hidden otherwise).
    if (slideViewer && file.url === '/')
      body = Buffer.from(
        body.toString('utf8').replace('<nav id="slides-link" hidden>', '<nav id="slides-link">'),
      )
    app.get(file.url, async (_request, reply) => reply.type(file.type).send(body))
  }
}
