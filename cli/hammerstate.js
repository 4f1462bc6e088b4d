#!/usr/bin/env node
// Entry point of the `hammerstate` command: registers the TypeScript loader
// (tsx) so the CLI runs straight from the sources after `npm ci`, no build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('./main.ts');
process.exitCode = await main(process.argv);
