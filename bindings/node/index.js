'use strict'
// modelrunner for Node: the native module (built by `npm run build` from src/*.rs) plus what is plainer
// in JavaScript — the error classes the native side throws, and the async-iterator and callback forms
// of a run's events. Types: index.d.ts (generated).

/** Base of every modelrunner error: the core's stable `code` and, for bad input, the `field` it names. */
class ModelRunnerError extends Error {
  constructor(message) {
    super(message)
    this.name = new.target.name
    this.code = 'INTERNAL'
    this.field = null
  }
}
class NotFoundError extends ModelRunnerError {}
class ValidationError extends ModelRunnerError {}
class ConflictError extends ModelRunnerError {}
class NotReadyError extends ModelRunnerError {}
class CancelledError extends ModelRunnerError {}
class TimeoutError extends ModelRunnerError {}
class ShuttingDownError extends ModelRunnerError {}
class StorageError extends ModelRunnerError {}

// The native side builds its errors from these (src/errors.rs reads them from here). A second copy of
// the package in the same process uses the first one's classes, so `instanceof` holds across copies.
const registry = Symbol.for('modelrunner.errorClasses')
if (!globalThis[registry]) {
  const classes = {
    ModelRunnerError,
    NotFoundError,
    ValidationError,
    ConflictError,
    NotReadyError,
    CancelledError,
    TimeoutError,
    ShuttingDownError,
    StorageError,
  }
  Object.defineProperty(globalThis, registry, { value: Object.freeze(classes) })
}
const errors = globalThis[registry]

const native = require('./binding.js')

native.RunEvents.prototype[Symbol.asyncIterator] = function () {
  const stream = this
  return {
    async next() {
      const value = await stream.next()
      return value === null ? { value: undefined, done: true } : { value, done: false }
    },
    async return() {
      stream.close()
      return { value: undefined, done: true }
    },
    [Symbol.asyncIterator]() {
      return this
    },
  }
}

native.Run.prototype.onEvent = async function onEvent(callback) {
  if (typeof callback !== 'function') {
    const e = new errors.ValidationError('callback: must be a function')
    e.code = 'VALIDATION'
    e.field = 'callback'
    throw e
  }
  for await (const event of this.events()) {
    await callback(event)
  }
}

module.exports = { ...native, ...errors }
