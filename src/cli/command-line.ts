// fcgi-pm's command line: `fcgi-pm [options] [--] app.js [app args]`. Pure (no I/O): every rule that
// refuses bad input is here, so fcgi-pm fails with one line and exit 2 before it forks or binds.

import { parseArgs } from 'node:util';
import { type GivenParams, laterParams, likelyMeant, validateParams } from '../params';
import { kebabCase, negatedName, type ParameterFlag, parameterFlags } from './flags';

export class UsageError extends Error {}

export interface RunCommand {
  action: 'run' | 'check';
  /** `--config FILE`, as given. */
  configFile: string | undefined;
  /** The parameters the flags set, validated, by parameter name; the last flag given for one wins. */
  flagParams: GivenParams;
  /** The app, as given (resolved against the working directory later). */
  app: string;
  /** The app's own arguments. */
  args: string[];
}

export type Command = { action: 'help' } | { action: 'version' } | RunCommand;

/** The options that are not parameters. A parameter's flag must not take one of these names. */
const META_OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
  config: { type: 'string' },
  'check-config': { type: 'boolean' },
} as const;

type OptionSpec = { type: 'boolean' | 'string'; short?: string };

/**
 * parseArgs's option table: the meta options, then every parameter flag and its aliases. A switch
 * also gets `--no-<name>`, so a flag can turn off what a config file turns on (`--no-log-timestamps`);
 * `negated` names those. A switch whose name already says no (`--no-signals`) gets none.
 */
export function optionTable(flags: readonly ParameterFlag[]): {
  options: Record<string, OptionSpec>;
  paramOf: Map<string, ParameterFlag>;
  negated: Set<string>;
} {
  const options: Record<string, OptionSpec> = { ...META_OPTIONS };
  const paramOf = new Map<string, ParameterFlag>();
  const negated = new Set<string>();
  const add = (name: string, spec: OptionSpec, flag: ParameterFlag) => {
    if (name in options) throw new Error(`fcgi-pm: the flag --${name} of ${flag.param} is taken`);
    options[name] = spec;
    paramOf.set(name, flag);
  };
  for (const flag of flags) {
    for (const name of [flag.name, ...flag.aliases]) {
      const type = flag.isSwitch ? 'boolean' : 'string';
      add(name, name === flag.name && flag.short ? { type, short: flag.short } : { type }, flag);
      const negation = negatedName(flag, name);
      if (negation) {
        add(negation, { type: 'boolean' }, flag);
        negated.add(negation);
      }
    }
  }
  return { options, paramOf, negated };
}

/** Parses fcgi-pm's command line; throws UsageError with a one-line message. */
export function parseCommandLine(argv: readonly string[], flags: readonly ParameterFlag[] = parameterFlags()): Command {
  const { options, paramOf, negated } = optionTable(flags);
  const split = splitAtApp(argv, options);
  let tokens: ReturnType<typeof parseArgs>['tokens'];
  let values: Record<string, unknown>;
  try {
    ({ tokens, values } = parseArgs({ args: split.options, options, strict: true, allowPositionals: false, tokens: true }));
  } catch (err) {
    throw new UsageError(describeParseError(err as Error & { code?: string }, (name) => suggestFlag(name, paramOf)));
  }
  if (values.help) return { action: 'help' };
  if (values.version) return { action: 'version' };

  const flagParams: GivenParams = {};
  for (const token of tokens ?? []) {
    if (token.kind !== 'option') continue;
    const flag = paramOf.get(token.name);
    if (!flag) continue;
    const given = flag.isSwitch ? !negated.has(token.name) : token.value;
    try {
      Object.assign(flagParams, laterParams(flagParams, validateParams({ [flag.param]: given })));
    } catch (err) {
      throw new UsageError(`${token.rawName}: ${(err as Error).message}`);
    }
  }
  const configFile = values.config as string | undefined;
  if (configFile === '') throw new UsageError('--config needs a file name');
  const [app, ...args] = split.app;
  if (app === undefined || app === '') throw new UsageError('no app given: fcgi-pm [options] [--] app.js [app args]');
  return { action: values['check-config'] ? 'check' : 'run', configFile, flagParams, app, args };
}

/**
 * Options end at `--` or at the first word that is not an option (the app); what follows is the
 * app's, so its own flags need no `--`.
 */
function splitAtApp(argv: readonly string[], options: Record<string, OptionSpec>): { options: string[]; app: string[] } {
  const takesValue = (arg: string): boolean => {
    const spec = arg.startsWith('--')
      ? options[arg.slice(2)]
      : Object.values(options).find((o) => o.short !== undefined && arg === `-${o.short}`);
    return spec?.type === 'string';
  };
  const before: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') return { options: before, app: argv.slice(i + 1) };
    if (!arg.startsWith('-') || arg === '-') return { options: before, app: argv.slice(i) };
    if (!arg.includes('=') && takesValue(arg) && i + 1 < argv.length) {
      // `-n 4`: the next word is the value, even `-1` (parseArgs would take it for an option, and the
      // validator's "must not be negative" is the clearer error). Joined so parseArgs sees one word.
      const value = argv[++i]!;
      before.push(arg.startsWith('--') ? `${arg}=${value}` : `${arg}${value}`);
    } else {
      before.push(arg);
    }
  }
  return { options: before, app: [] };
}

/** parseArgs's error as one line; `suggest` names the option an unknown one most likely means. */
export function describeParseError(err: Error & { code?: string }, suggest: (name: string) => string | undefined): string {
  const option = /'(-[^' ,]+)/.exec(err.message)?.[1];
  switch (err.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION': {
      const name = option ?? err.message;
      const meant = suggest(name.replace(/^-+/, ''));
      return `unknown option ${name}${meant ? ` (did you mean --${meant}?)` : ''}`;
    }
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return /does not take an argument/.test(err.message) ? `${option} takes no value` : `${option ?? 'an option'} needs a value`;
    default:
      return err.message.split('\n')[0]!;
  }
}

/** The flag that an unknown one most likely means: `--workers` -> `n-processes`, `--die-timout` -> `die-timeout`. */
function suggestFlag(name: string, paramOf: Map<string, ParameterFlag>): string | undefined {
  const param = likelyMeant(name);
  if (!param) return undefined;
  const flag = paramOf.get(kebabCase(param));
  return flag?.name;
}
