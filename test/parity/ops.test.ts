// Ops and their gradients against PyTorch (Python) on identical inputs: every op the layers use.
import { describeOpParity } from './op-parity.js'

describeOpParity('cpu')
