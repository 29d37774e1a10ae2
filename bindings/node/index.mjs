// ES module entry: the same objects as the CommonJS entry (index.js).
import { createRequire } from 'node:module'

const modelrunner = createRequire(import.meta.url)('./index.js')

export const {
  Runner,
  Run,
  RunEvents,
  ModelRunnerError,
  NotFoundError,
  ValidationError,
  ConflictError,
  NotReadyError,
  CancelledError,
  TimeoutError,
  ShuttingDownError,
  StorageError,
} = modelrunner
export default modelrunner
