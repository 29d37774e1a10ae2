'use strict'
// A Node process on the PostgreSQL database a running `modelrunner-http` serves: it submits, the
// server's worker executes, and Node follows the run live to its end.
const test = require('node:test')
const assert = require('node:assert/strict')
const { spawn, execFileSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const readline = require('node:readline')

const { Runner } = require('modelrunner')

const admin = process.env.MODELRUNNER_TEST_POSTGRES
const shim = process.env.MODELRUNNER_HTTP_BIN
const required = process.env.MODELRUNNER_REQUIRE_POSTGRES === '1'
const missing = !admin || !shim
if (missing && required) throw new Error('MODELRUNNER_TEST_POSTGRES and MODELRUNNER_HTTP_BIN must be set')

const psql = (sql) => execFileSync('psql', [admin, '-q', '-v', 'ON_ERROR_STOP=1', '-c', sql])

test('a Node process follows a run the server executes', { skip: missing && 'needs MODELRUNNER_TEST_POSTGRES and MODELRUNNER_HTTP_BIN' }, async () => {
  const name = `mr_node_${process.pid}_${Date.now()}`
  psql(`CREATE DATABASE ${name}`)
  const url = `${admin.slice(0, admin.lastIndexOf('/'))}/${name}`
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'modelrunner-node-pg-'))
  const server = spawn(shim, ['--db', url, '--workers', '1', '--data-dir', path.join(tmp, 'server'), '--listen', '127.0.0.1:0', '--listen-flask', '127.0.0.1:0'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  try {
    const lines = readline.createInterface({ input: server.stderr })
    for await (const line of lines) {
      if (line.includes(' on http://')) break
    }
    lines.on('line', () => {}) // keeps the pipe drained
    const runner = new Runner({ path: url, workers: 0, dataDir: path.join(tmp, 'node') })
    try {
      assert.ok((await runner.models()).some((m) => m.id === 'simulator'), 'the catalog the server installed')
      const run = await runner.submit('simulator', { trials: 1000, region: 'EU', year: 2025 })
      assert.equal(run.record.status, 'queued')
      const events = []
      for await (const event of run.events()) events.push(event)
      const states = events.filter((e) => e.type === 'state').map((e) => e.status)
      assert.equal(states[0], 'queued')
      assert.ok(states.includes('running'), states.join())
      assert.equal(states.at(-1), 'succeeded')
      const ids = events.map((e) => e.id)
      assert.deepEqual(ids, [...ids].sort((a, b) => a - b), 'events arrive in commit order')
      const done = await run.refresh()
      assert.equal(done.status, 'succeeded')
      assert.ok(typeof done.worker === 'string' && done.worker.length > 0, JSON.stringify(done))
      assert.equal((await run.results()).rows[0].kpi, 'revenue')
    } finally {
      await runner.close()
    }
  } finally {
    server.kill('SIGTERM')
    await new Promise((resolve) => server.once('exit', resolve))
    psql(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
    fs.rmSync(tmp, { recursive: true, force: true })
  }
})
