// Where a Python traceback points in the editor's script. The server runs
// the script from a file of the name the page gave (e.g. spectrum.py), in a
// private directory; a traceback names it with that directory:
//
//   Traceback (most recent call last):
//     File "/tmp/rill-script-Ab12/spectrum.py", line 12, in <module>
//       main()
//     File "/tmp/rill-script-Ab12/spectrum.py", line 5, in main
//       1 / 0
//   ZeroDivisionError: division by zero
//
// The line to mark is the innermost frame in the script (5 here: where it
// failed, in the user's code; frames inside libraries are skipped), and the
// message is the traceback's last line. A SyntaxError has one frame and no
// "in <function>".

export interface ScriptError {
  /** 1-based line in the script. */
  line: number;
  /** Every line of the script the traceback names, outermost first. */
  lines: number[];
  /** "ZeroDivisionError: division by zero". */
  message: string;
}

const FRAME = /File "([^"]+)", line (\d+)/g;

/** The error in `stderr` (all the script wrote there) pointing into the
 * script `name`, or null when it names no line of it. */
export function parseTraceback(stderr: string, name: string): ScriptError | null {
  const start = stderr.lastIndexOf('Traceback (most recent call last):');
  const syntax = stderr.search(/^\s*File "[^"]+", line \d+\s*$/m);
  const text = start >= 0 ? stderr.slice(start) : syntax >= 0 ? stderr.slice(syntax) : '';
  if (!text) return null;
  const lines: number[] = [];
  for (const m of text.matchAll(FRAME)) {
    const file = m[1];
    if (file === name || file.endsWith(`/${name}`)) lines.push(Number(m[2]));
  }
  if (!lines.length) return null;
  const rest = text
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => l && !l.startsWith(' ') && !l.startsWith('Traceback'));
  const message = rest.length ? rest[rest.length - 1] : '';
  return { line: lines[lines.length - 1], lines, message };
}

/** The first line of a script's docstring or leading comment: its
 * description in the examples list. */
export function describeScript(code: string): string {
  const body = code.replace(/^#!.*\n/, '').replace(/^#.*coding[:=].*\n/, '');
  const doc = /^\s*(?:[rRuU]?)("""|''')\s*([\s\S]*?)\1/.exec(body);
  if (doc) return doc[2].trim().split('\n')[0].trim();
  const comment = /^\s*#\s*(.+)/.exec(body);
  return comment ? comment[1].trim() : '';
}
