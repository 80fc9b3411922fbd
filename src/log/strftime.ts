// The strftime(3) conversions that access logs use, in local time, as PHP-FPM's %{...}t writes
// them. Pure. An unknown conversion is refused when the format is compiled, not when a line is written.

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

function utcOffset(date: Date): string {
  const minutes = -date.getTimezoneOffset();
  const sign = minutes < 0 ? '-' : '+';
  const abs = Math.abs(minutes);
  return `${sign}${pad(Math.floor(abs / 60))}${pad(abs % 60)}`;
}

function dayOfYear(date: Date): number {
  const start = new Date(date.getFullYear(), 0, 1);
  return Math.round((new Date(date.getFullYear(), date.getMonth(), date.getDate()).getTime() - start.getTime()) / 86_400_000) + 1;
}

const CONVERSIONS: Record<string, (d: Date) => string> = {
  a: (d) => DAYS[d.getDay()]!.slice(0, 3),
  A: (d) => DAYS[d.getDay()]!,
  b: (d) => MONTHS[d.getMonth()]!.slice(0, 3),
  h: (d) => MONTHS[d.getMonth()]!.slice(0, 3),
  B: (d) => MONTHS[d.getMonth()]!,
  d: (d) => pad(d.getDate()),
  e: (d) => String(d.getDate()).padStart(2, ' '),
  H: (d) => pad(d.getHours()),
  I: (d) => pad(d.getHours() % 12 || 12),
  j: (d) => pad(dayOfYear(d), 3),
  m: (d) => pad(d.getMonth() + 1),
  M: (d) => pad(d.getMinutes()),
  p: (d) => (d.getHours() < 12 ? 'AM' : 'PM'),
  S: (d) => pad(d.getSeconds()),
  s: (d) => String(Math.floor(d.getTime() / 1000)),
  y: (d) => pad(d.getFullYear() % 100),
  Y: (d) => String(d.getFullYear()),
  z: utcOffset,
  F: (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`,
  T: (d) => `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`,
  R: (d) => `${pad(d.getHours())}:${pad(d.getMinutes())}`,
  '%': () => '%',
};

export type TimeFormatter = (date: Date) => string;

/** Compiles a strftime(3) format; throws a TypeError naming the conversion it does not know. */
export function compileStrftime(format: string): TimeFormatter {
  const parts: (string | ((d: Date) => string))[] = [];
  let literal = '';
  for (let i = 0; i < format.length; i++) {
    const ch = format[i]!;
    if (ch !== '%') {
      literal += ch;
      continue;
    }
    const conversion = format[++i];
    const convert = conversion === undefined ? undefined : CONVERSIONS[conversion];
    if (!convert) {
      const known = Object.keys(CONVERSIONS).filter((c) => c !== '%').map((c) => `%${c}`).join(' ');
      throw new TypeError(`unknown time conversion %${conversion ?? ''} in "${format}" (known: ${known} %%)`);
    }
    if (literal) parts.push(literal);
    literal = '';
    parts.push(convert);
  }
  if (literal) parts.push(literal);
  return (date) => {
    let out = '';
    for (const part of parts) out += typeof part === 'string' ? part : part(date);
    return out;
  };
}

/** PHP-FPM's default for %t and %T, as Apache's common log format writes the time. */
export const DEFAULT_TIME_FORMAT = '%d/%b/%Y:%H:%M:%S %z';
