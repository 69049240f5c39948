// What the component sees of the process (mapped over preview2-shim's `wasi:cli` interfaces at
// transpile time), as host-harness gives it: an empty environment and no arguments, and its
// stdout sent to stderr, because the host's stdout carries the Airbyte protocol only.
import { stderr as shimStderr } from '@bytecodealliance/preview2-shim/cli';

export const environment = {
  getEnvironment: () => [],
  getArguments: () => [],
  initialCwd: () => undefined,
};

export const stdout = {
  getStdout: () => shimStderr.getStderr(),
};
