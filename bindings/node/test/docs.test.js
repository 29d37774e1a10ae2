'use strict'
// The quick tour in docs/node.md and the README's Node snippet run as written: each ```js block is saved
// inside the package (so `require('modelrunner')` resolves to this package) and run with node.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { execFileSync } = require('node:child_process')

const page = fs.readFileSync(path.join(__dirname, '../../../docs/node.md'), 'utf8')
const readme = fs.readFileSync(path.join(__dirname, '../../../README.md'), 'utf8')

/** Runs `source` as a file inside the package; returns what it printed. */
function run(source, name) {
  const file = path.join(__dirname, `.${name}.tmp.js`)
  fs.writeFileSync(file, source)
  try {
    return execFileSync(process.execPath, [file], { encoding: 'utf8', timeout: 300_000 })
  } finally {
    fs.rmSync(file, { force: true })
  }
}

test('the quick tour in docs/node.md runs', () => {
  const out = run(page.split('## Quick tour')[1].match(/```js\n([\s\S]*?)```/)[1], 'quick-tour')
  assert.match(out, /progress 100%/)
  assert.match(out, /revenue: \d+/)
  assert.match(out, /validation accuracy 0\.\d+/)
  assert.match(out, /test accuracy 0\.\d+/)
  assert.match(out, /a blank image reads as \d/)
  assert.match(out, /NOT_FOUND model not found: no_such_model/)
})

test("the README's Node snippet runs", () => {
  const out = run(readme.split('## Node')[1].match(/```js\n([\s\S]*?)```/)[1], 'readme')
  assert.match(out, /^succeeded 36 rows$/m)
})
