// The POSIX model and the durability oracle live with the crashtest engine
// (cli/crashtest/fs-model.ts), which the command and the model test share.
export * from '../../cli/crashtest/fs-model.js';
