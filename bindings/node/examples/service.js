'use strict'
// A small HTTP service on modelrunner (plain node:http): POST /runs submits a catalog model's run,
// GET /runs/:id/events streams its events as Server-Sent Events until it ends.
//
//   node examples/service.js 3000
//   curl -X POST localhost:3000/runs -d '{"model_id":"simulator","inputs":{"trials":1000}}'
//   curl -N localhost:3000/runs/<run_id>/events
const http = require('node:http')
const { Runner, ModelRunnerError } = require('modelrunner')

const STATUS = { NOT_FOUND: 404, VALIDATION: 422, CONFLICT: 409, NOT_READY: 409 }

/** The service's request handler over `runner`. */
function handler(runner) {
  return async (req, res) => {
    try {
      const events = req.url.match(/^\/runs\/([\w-]+)\/events$/)
      if (req.method === 'POST' && req.url === '/runs') {
        const body = JSON.parse(await read(req))
        const run = await runner.submit(body.model_id, body.inputs)
        return send(res, 201, { run_id: run.id, status: run.record.status })
      }
      if (req.method === 'GET' && events) {
        const run = await runner.run(events[1])
        res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive' })
        for await (const event of run.events()) {
          res.write(`id: ${event.id}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`)
        }
        return res.end()
      }
      send(res, 404, { error: `no route ${req.method} ${req.url}` })
    } catch (e) {
      if (e instanceof SyntaxError) return send(res, 400, { error: `invalid JSON: ${e.message}` })
      if (e instanceof ModelRunnerError) return send(res, STATUS[e.code] ?? 500, { error: e.message, code: e.code, field: e.field })
      send(res, 500, { error: String(e) })
    }
  }
}

function read(req) {
  return new Promise((resolve, reject) => {
    let data = ''
    req.on('data', (chunk) => (data += chunk)).on('end', () => resolve(data)).on('error', reject)
  })
}

function send(res, status, body) {
  res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body))
}

/** Opens a runner with 000's catalog and serves it on `port` (0: any free port). */
async function serve(port = 0, options = {}) {
  const runner = new Runner(options)
  await runner.installCatalog()
  const server = http.createServer(handler(runner))
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve))
  return { server, runner, url: `http://127.0.0.1:${server.address().port}` }
}

module.exports = { handler, serve }

if (require.main === module) {
  serve(Number(process.argv[2] || 3000), { path: process.argv[3] }).then(({ url }) => console.log(`listening on ${url}`))
}
