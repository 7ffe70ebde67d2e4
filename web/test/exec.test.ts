import { describe, expect, it } from 'vitest';
import { splitArgs } from '../src/exec';

describe('the command line of Execute', () => {
  it('splits words as a shell would, without expanding anything', () => {
    expect(splitArgs('build/examples/dash_doa ws://127.0.0.1:5555 10')).toEqual(['build/examples/dash_doa', 'ws://127.0.0.1:5555', '10']);
    expect(splitArgs(`sh -c 'echo $HOME; ls | wc -l'`)).toEqual(['sh', '-c', 'echo $HOME; ls | wc -l']);
    expect(splitArgs('echo "a b" c\\ d "" \'\'')).toEqual(['echo', 'a b', 'c d', '', '']);
    expect(splitArgs('echo "say \\"hi\\""')).toEqual(['echo', 'say "hi"']);
    expect(splitArgs('  ')).toEqual([]);
    expect(() => splitArgs("echo 'open")).toThrow(/unclosed/);
  });
});
