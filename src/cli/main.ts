#!/usr/bin/env node
import { Command } from 'commander';
import { isCascadeError, describeError } from '../shared/errors.js';
import { registerConfigCommand } from './config-command.js';
import { registerCoordinatorCommand } from './coordinator-command.js';
import { registerEngineCommand } from './engine-command.js';
import { registerInspectCommand } from './inspect-command.js';
import { registerUpCommand } from './up-command.js';

const program = new Command();
program.name('cascade').description('Serve a two-tier cascade of image classifiers across a fleet of servers').version('0.1.0');
registerUpCommand(program);
registerCoordinatorCommand(program);
registerEngineCommand(program);
registerConfigCommand(program);
registerInspectCommand(program);

program.parseAsync(process.argv).catch((error: unknown) => {
  const code = isCascadeError(error) ? `${error.code}: ` : '';
  process.stderr.write(`cascade: ${code}${describeError(error)}\n`);
  process.exit(1);
});
