import { describe, expect, it } from 'vitest';
import { describeScript, parseTraceback } from '../src/editor/traceback';

describe('traceback', () => {
  it('marks the innermost frame of the script, skipping library frames, with the last line as the message', () => {
    const err = `hello
Traceback (most recent call last):
  File "/tmp/rill-script-Ab12/spectrum.py", line 12, in <module>
    main()
  File "/tmp/rill-script-Ab12/spectrum.py", line 5, in main
    np.fft.rfft(x, n=-1)
  File "/usr/lib/python3/dist-packages/numpy/fft/_pocketfft.py", line 409, in rfft
    output = _raw_fft(a, n, axis, True, True, inv_norm)
ValueError: Invalid number of FFT data points (-1) specified.
`;
    expect(parseTraceback(err, 'spectrum.py')).toEqual({ line: 5, lines: [12, 5], message: 'ValueError: Invalid number of FFT data points (-1) specified.' });
    // Another script's name: nothing of ours to mark.
    expect(parseTraceback(err, 'other.py')).toBeNull();
    expect(parseTraceback('just output\n', 'spectrum.py')).toBeNull();
  });

  it('marks a syntax error, which has no traceback header', () => {
    const err = `  File "/tmp/rill-script-x/editor.py", line 3
    x = (
        ^
SyntaxError: '(' was never closed
`;
    expect(parseTraceback(err, 'editor.py')).toEqual({ line: 3, lines: [3], message: "SyntaxError: '(' was never closed" });
  });

  it('takes the last traceback when there are several, and a name only as a whole file name', () => {
    const one = 'Traceback (most recent call last):\n  File "/d/a.py", line 2, in <module>\nKeyError: 1\n';
    const two = 'Traceback (most recent call last):\n  File "/d/a.py", line 7, in <module>\nNameError: x\n';
    expect(parseTraceback(one + two, 'a.py')?.line).toBe(7);
    expect(parseTraceback(two, 'xa.py')).toBeNull();
  });

  it("describes a script by its docstring's first line, else its first comment", () => {
    expect(describeScript('"""Input levels: a meter.\n\nMore."""\nimport x\n')).toBe('Input levels: a meter.');
    expect(describeScript("#!/usr/bin/env python3\n'''Spectrum.'''\n")).toBe('Spectrum.');
    expect(describeScript('# Plays a tone\nimport x\n')).toBe('Plays a tone');
    expect(describeScript('import x\n')).toBe('');
  });
});
