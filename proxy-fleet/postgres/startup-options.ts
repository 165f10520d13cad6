/**
 * The `options` startup parameter (libpq's PGOPTIONS): command-line switches for the server,
 * separated by spaces, with `\` escaping a space or a backslash (protocol docs, "StartupMessage").
 * Warden reads its own setting from it, `-c warden.justification=…`, and removes it so the
 * server never sees it.
 */
const SETTING = 'warden.justification';

export function takeJustification(parameters: Readonly<Record<string, string>>): { parameters: Record<string, string>; justification?: string } {
  const options = parameters.options;
  if (options === undefined) return { parameters: { ...parameters } };
  const words = splitOptions(options);
  const kept: string[] = [];
  let justification: string | undefined;
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    const attached = word.startsWith('-c') && word.length > 2 ? word.slice(2) : word.startsWith('--') ? word.slice(2) : undefined;
    const setting = word === '-c' ? words[i + 1] : attached;
    if (setting?.startsWith(`${SETTING}=`)) {
      justification = setting.slice(SETTING.length + 1);
      if (word === '-c') i++;
      continue;
    }
    kept.push(word);
  }
  const rest = { ...parameters };
  if (kept.length > 0) rest.options = kept.map((word) => word.replace(/[\\ ]/g, (c) => `\\${c}`)).join(' ');
  else delete rest.options;
  return { parameters: rest, ...(justification ? { justification } : {}) };
}

function splitOptions(options: string): string[] {
  const words: string[] = [];
  let current = '';
  let escaped = false;
  for (const char of options) {
    if (escaped) {
      current += char;
      escaped = false;
    } else if (char === '\\') escaped = true;
    else if (/\s/.test(char)) {
      if (current) words.push(current);
      current = '';
    } else current += char;
  }
  if (current) words.push(current);
  return words;
}
