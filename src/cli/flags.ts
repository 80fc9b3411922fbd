// fcgi-pm's flags, one per parameter of the table (src/params/table.ts) that a user may set: its name
// in kebab-case, the table's aliases and short name, and its placeholder. Pure: unit-tested.

import { type ConfigurableName, isConfigurable, PARAMETER_LIST, type Section } from '../params';

export interface ParameterFlag {
  /** The parameter, with Perl's name: `n_processes`. */
  param: ConfigurableName;
  /** Its flag in kebab-case, without dashes: `n-processes`. */
  name: string;
  /** Other long names for it, without dashes. */
  aliases: readonly string[];
  /** A one-letter flag, if it has one. */
  short: string | undefined;
  /** A switch takes no value (and has a --no- form). */
  isSwitch: boolean;
  /** What --help writes for its value: `SECONDS`. */
  placeholder: string;
  section: Section;
  description: string;
}

/** A switch's --no- form for one of its names (`log-timestamps` -> `no-log-timestamps`); none for a name that already says no. */
export function negatedName(flag: ParameterFlag, name: string = flag.name): string | undefined {
  return flag.isSwitch && !name.startsWith('no-') ? `no-${name}` : undefined;
}

/** `n_processes` -> `n-processes`. */
export function kebabCase(param: string): string {
  return param.replace(/_/g, '-');
}

/** One flag per parameter a user may set, in the table's order. */
export function parameterFlags(): ParameterFlag[] {
  return PARAMETER_LIST.flatMap(({ name, ...p }) => (isConfigurable(name) ? [{ ...p, name }] : [])).map((p) => ({
    param: p.name,
    name: kebabCase(p.name),
    aliases: p.aliases ?? [],
    short: p.short,
    isSwitch: p.type.isSwitch,
    placeholder: p.placeholder ?? p.type.placeholder,
    section: p.section,
    description: withDefault(p.doc, p.defaultText ?? (typeof p.default === 'boolean' ? undefined : p.default)),
  }));
}

function withDefault(doc: string, defaultValue: unknown): string {
  return defaultValue === undefined ? doc : `${doc} (default ${String(defaultValue)})`;
}

/** Why a parameter cannot be set in fcgi-pm. */
export function notConfigurableBecause(param: string): string | undefined {
  return PARAMETER_LIST.find((p) => p.name === param)?.notConfigurable;
}
