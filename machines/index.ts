/**
 * `hammerstate/machines`: the pure XState machines (no I/O, nothing of the
 * running system), their flags, and the tools that read a machine object:
 * coverage of what a run took (coverage.ts) and diagrams (`hammerstate/machines/diagram`).
 */
export {
  type Ambiguity,
  type CoverageReport,
  coverageLabel,
  formatCoverage,
  MachineCoverage,
  type StepObservation,
  type TransitionCoverage,
} from './coverage.js';
export {
  type FlushGroupContext,
  type FlushGroupEvent,
  type FlushGroupInput,
  flushGroupMachine,
} from './flush-group.js';
export { type FlusherContext, type FlusherEvent, flusherMachine } from './flusher.js';
export {
  type InodeContext,
  type InodeEmitted,
  type InodeEvent,
  type InodeInput,
  inodeMachine,
} from './inode.js';
export { flagNames, InodeFlag, type InodeFlagName, MODMASK, MODMASK_NOXDIRTY } from './inode-flags.js';
