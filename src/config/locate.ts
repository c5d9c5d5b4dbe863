/**
 * Turns the paths a user passes (files or directories) into the list of TOML files to
 * read, then reads and parses each one. Missing paths raise CONFIG_NOT_FOUND at once;
 * syntax errors become issues, so the syntax of every file is reported together.
 */

import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parse, TomlError, type TomlTableWithoutBigInt } from 'smol-toml';

import { CascadeError } from '../shared/errors.js';
import type { ConfigIssue, SourceText } from './issues.js';
import { indexKeyLines } from './lines.js';

export interface ConfigFileRef {
  /** Path as the user gave it, or joined to the directory the user gave. */
  displayPath: string;
  absolutePath: string;
}

export interface ParsedConfigFile extends SourceText {
  absolutePath: string;
  data: TomlTableWithoutBigInt;
}

/**
 * Lists the TOML files named by `paths`: a file stands for itself and a directory for
 * every `*.toml` directly inside it, in name order. A file named twice is read once.
 */
export function locateConfigFiles(paths: readonly string[], cwd: string): ConfigFileRef[] {
  if (paths.length === 0) {
    throw new CascadeError('CONFIG_NOT_FOUND', 'No configuration file was given; pass the servers and models TOML files, or a directory that contains them.');
  }
  const missing = paths.filter((userPath) => statOrNull(path.resolve(cwd, userPath)) === null);
  if (missing.length > 0) throw notFoundError(missing, cwd);

  const refs = paths.flatMap((userPath) => expandPath(userPath, cwd));
  return dedupeByAbsolutePath(refs);
}

function expandPath(userPath: string, cwd: string): ConfigFileRef[] {
  const absolutePath = path.resolve(cwd, userPath);
  if (statOrNull(absolutePath)?.isDirectory() !== true) return [{ displayPath: userPath, absolutePath }];

  const names = readdirSync(absolutePath)
    .filter((name) => name.endsWith('.toml') && statOrNull(path.join(absolutePath, name))?.isFile() === true)
    .sort();
  if (names.length === 0) {
    throw new CascadeError('CONFIG_NOT_FOUND', `The directory ${userPath} (${absolutePath}) contains no *.toml file; put the servers and models files in it or pass the files themselves.`, { path: absolutePath });
  }
  return names.map((name) => ({ displayPath: path.join(userPath, name), absolutePath: path.join(absolutePath, name) }));
}

function dedupeByAbsolutePath(refs: ConfigFileRef[]): ConfigFileRef[] {
  const seen = new Set<string>();
  return refs.filter((ref) => {
    if (seen.has(ref.absolutePath)) return false;
    seen.add(ref.absolutePath);
    return true;
  });
}

function notFoundError(missing: readonly string[], cwd: string): CascadeError {
  const list = missing
    .map((userPath) => {
      const absolutePath = path.resolve(cwd, userPath);
      return absolutePath === userPath ? userPath : `${userPath} (${absolutePath})`;
    })
    .join(', ');
  const noun = missing.length === 1 ? 'file does' : 'files do';
  return new CascadeError('CONFIG_NOT_FOUND', `Configuration ${noun} not exist: ${list}. Check the path, or pass a directory that contains the *.toml files.`, {
    paths: missing.map((userPath) => path.resolve(cwd, userPath)),
  });
}

function statOrNull(absolutePath: string): ReturnType<typeof statSync> | null {
  try {
    return statSync(absolutePath);
  } catch {
    return null;
  }
}

export type ReadResult = { file: ParsedConfigFile; issue: null } | { file: null; issue: ConfigIssue };

/** Reads and parses one file; a read or syntax error becomes an issue with its line. */
export function readConfigFile(ref: ConfigFileRef): ReadResult {
  let text: string;
  try {
    text = readFileSync(ref.absolutePath, 'utf8');
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return { file: null, issue: { file: ref.displayPath, line: null, key: null, message: `cannot be read (${reason}); check its permissions` } };
  }
  return parseConfigText(ref, text);
}

/** Parses the text of one file; a syntax error becomes an issue with its line. */
export function parseConfigText(ref: ConfigFileRef, text: string): ReadResult {
  try {
    const data = parse(text, { integersAsBigInt: false });
    const lines = indexKeyLines(text);
    const file = { ...ref, directory: path.dirname(ref.absolutePath), lines, data };
    return { file, issue: null };
  } catch (error) {
    if (!(error instanceof TomlError)) throw error;
    return { file: null, issue: syntaxIssue(ref, error) };
  }
}

function syntaxIssue(ref: ConfigFileRef, error: TomlError): ConfigIssue {
  // smol-toml's message is "Invalid TOML document: <reason>" followed by a code excerpt.
  const firstLine = error.message.split('\n')[0] ?? error.message;
  const reason = firstLine.replace(/^Invalid TOML document:\s*/, '');
  return {
    file: ref.displayPath,
    line: error.line,
    key: null,
    message: `invalid TOML at column ${error.column}: ${reason}`,
  };
}
