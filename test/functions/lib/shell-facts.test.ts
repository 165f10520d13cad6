import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { MAX_COMMAND_BYTES, MAX_NESTED_DEPTH, shellFacts, type ShellFacts, type ShellFactsResult } from '../../../functions/lib/shell-facts.js';

interface Expect {
  programsInclude?: string[];
  programsExclude?: string[];
  sudo?: boolean;
  nestedShell?: boolean;
  dynamicNonEmpty?: boolean;
  parseError?: boolean;
  redirectionsInclude?: string[];
}
interface Entry {
  name: string;
  command: string;
  expect: Expect;
}

const EXPECT_KEYS = ['programsInclude', 'programsExclude', 'sudo', 'nestedShell', 'dynamicNonEmpty', 'parseError', 'redirectionsInclude'];
const corpus = JSON.parse(readFileSync(new URL('../../fixtures/shell-bypass-corpus.json', import.meta.url), 'utf8')) as Entry[];

/** Every way `result` disagrees with `expect`; empty when it agrees. */
function disagreements(expect: Expect, result: ShellFactsResult): string[] {
  const out: string[] = [];
  if (expect.parseError === true) {
    if (result.ok) out.push('expected a parse error, got facts');
    return out;
  }
  if (!result.ok) return [`expected facts, got error: ${result.error}`];
  const f = result.facts;
  if (expect.parseError === false && !result.ok) out.push('expected no parse error');
  for (const p of expect.programsInclude ?? []) if (!f.programs.includes(p)) out.push(`programs lack ${p}: ${JSON.stringify(f.programs)}`);
  for (const p of expect.programsExclude ?? []) if (f.programs.includes(p)) out.push(`programs include ${p}`);
  if (expect.sudo !== undefined && f.sudo !== expect.sudo) out.push(`sudo is ${f.sudo}`);
  if (expect.nestedShell !== undefined && f.nestedShell !== expect.nestedShell) out.push(`nestedShell is ${f.nestedShell}`);
  if (expect.dynamicNonEmpty !== undefined && f.dynamic.length > 0 !== expect.dynamicNonEmpty) out.push(`dynamic is ${JSON.stringify(f.dynamic)}`);
  for (const r of expect.redirectionsInclude ?? []) if (!f.usesRedirectionToFile.includes(r)) out.push(`redirections lack ${r}: ${JSON.stringify(f.usesRedirectionToFile)}`);
  return out;
}

function facts(command: string): ShellFacts {
  const result = shellFacts(command);
  assert.ok(result.ok, result.ok ? '' : `${command}: ${result.error}`);
  return result.facts;
}

/** Quotes a string for a POSIX shell. */
function q(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

describe('shell bypass corpus', () => {
  it('is well formed: at least 35 entries, unique names, only known expectations, each with one', () => {
    assert.ok(corpus.length >= 35, `only ${corpus.length} entries`);
    assert.equal(new Set(corpus.map((e) => e.name)).size, corpus.length);
    for (const entry of corpus) {
      assert.equal(typeof entry.command, 'string', entry.name);
      const keys = Object.keys(entry.expect);
      assert.ok(keys.length > 0, `${entry.name} expects nothing`);
      for (const key of keys) assert.ok(EXPECT_KEYS.includes(key), `${entry.name}: unknown expectation ${key}`);
    }
  });

  for (const entry of corpus) {
    it(entry.name, () => {
      assert.deepEqual(disagreements(entry.expect, shellFacts(entry.command)), [], JSON.stringify(entry.command));
    });
  }

  it('can fail: every expectation of every entry, turned around, is caught', () => {
    for (const entry of corpus) {
      const result = shellFacts(entry.command);
      const programs = result.ok ? result.facts.programs : [];
      for (const key of Object.keys(entry.expect) as (keyof Expect)[]) {
        const wrong: Expect = { ...entry.expect };
        if (key === 'programsInclude') wrong.programsInclude = [...(entry.expect.programsInclude ?? []), 'no-such-program'];
        else if (key === 'redirectionsInclude') wrong.redirectionsInclude = [...(entry.expect.redirectionsInclude ?? []), '/no/such/file'];
        else if (key === 'programsExclude') {
          if (programs.length === 0) continue;
          wrong.programsExclude = [programs[0]!];
        } else wrong[key] = !entry.expect[key];
        if (key === 'parseError' && wrong.parseError === false) {
          // expecting facts from an unparsable command must fail
          assert.notDeepEqual(disagreements({ programsInclude: [] }, result), [], entry.name);
          continue;
        }
        assert.notDeepEqual(disagreements(wrong, result), [], `${entry.name}: turning ${key} around went unnoticed`);
      }
    }
  });
});

describe('shellFacts', () => {
  it('reports every command of pipelines and lists, with their arguments, in order', () => {
    assert.deepEqual(facts('ls -la /var/log | grep error && tail -n 50 app.log'), {
      commands: [
        { program: 'ls', args: ['-la', '/var/log'], env: {}, via: [] },
        { program: 'grep', args: ['error'], env: {}, via: [] },
        { program: 'tail', args: ['-n', '50', 'app.log'], env: {}, via: [] },
      ],
      programs: ['grep', 'ls', 'tail'],
      pipelines: 1,
      usesSubstitution: false,
      usesRedirectionToFile: [],
      sudo: false,
      nestedShell: false,
      envPrefixes: [],
      dynamic: [],
    });
  });

  it('counts pipelines, not pipes', () => {
    assert.equal(facts('a | b | c; d |& e; f').pipelines, 2);
    assert.equal(facts('a && b || c').pipelines, 0);
    assert.equal(facts('echo $(a | b) | c').pipelines, 2);
  });

  it('orders a command before what it wraps and before its substitutions', () => {
    assert.deepEqual(
      facts('a $(b) | sudo c `d`').commands.map((c) => [c.program, c.via]),
      [
        ['a', []],
        ['b', []],
        ['sudo', []],
        ['c', ['sudo']],
        ['d', []],
      ],
    );
  });

  it('unwraps sudo, skipping its options and taking its assignments', () => {
    const f = facts('sudo -u root -- rm -rf /');
    assert.deepEqual(f.commands[1], { program: 'rm', args: ['-rf', '/'], env: {}, via: ['sudo'] });
    assert.equal(f.sudo, true);
    const g = facts('sudo -nEu admin -g wheel --chdir=/ --prompt x HOME=/root rm /x');
    assert.deepEqual(g.commands[1], { program: 'rm', args: ['/x'], env: { HOME: '/root' }, via: ['sudo'] });
    assert.deepEqual(g.envPrefixes, ['HOME']);
    assert.deepEqual(g.dynamic, []);
    assert.deepEqual(facts('sudo --us root rm').commands[1]?.program, 'rm', 'long options may be abbreviated');
  });

  it('does not invent a command for sudo modes that run none', () => {
    assert.deepEqual(facts('sudo -l').programs, ['sudo']);
    assert.deepEqual(facts('sudo -e /etc/hosts').programs, ['sudo']);
    assert.deepEqual(facts('sudo -V').commands.length, 1);
  });

  it('reports options it does not know as dynamic instead of guessing', () => {
    assert.deepEqual(facts('sudo --bogus rm x').dynamic, ['unrecognized option --bogus for sudo']);
    assert.deepEqual(facts('timeout -Z 5 rm x').dynamic, ['unrecognized option -Z for timeout']);
  });

  it('follows sh -c and bash -c recursively, recording the wrappers outermost first', () => {
    const f = facts(`sudo sh -c 'bash -c "rm -rf /"'`);
    assert.deepEqual(
      f.commands.map((c) => [c.program, c.via]),
      [
        ['sudo', []],
        ['sh', ['sudo']],
        ['bash', ['sudo', 'sh -c']],
        ['rm', ['sudo', 'sh -c', 'bash -c']],
      ],
    );
    assert.equal(f.nestedShell, true);
    assert.deepEqual(f.dynamic, []);
    assert.deepEqual(facts(`bash -o pipefail -ec 'rm x' name arg`).commands[1]?.via, ['bash -c']);
  });

  it(`follows nested scripts down to ${MAX_NESTED_DEPTH} levels and reports deeper ones`, () => {
    const nest = (levels: number) => {
      let command = 'rm -rf /';
      for (let i = 0; i < levels; i++) command = `sh -c ${q(command)}`;
      return command;
    };
    const deepest = facts(nest(MAX_NESTED_DEPTH));
    assert.deepEqual(deepest.commands.at(-1), { program: 'rm', args: ['-rf', '/'], env: {}, via: Array(MAX_NESTED_DEPTH).fill('sh -c') });
    assert.deepEqual(deepest.dynamic, []);
    const tooDeep = facts(nest(MAX_NESTED_DEPTH + 1));
    assert.ok(!tooDeep.programs.includes('rm'));
    assert.deepEqual(tooDeep.dynamic, [`scripts nested deeper than ${MAX_NESTED_DEPTH} levels`]);
  });

  it('reports a non-literal sh -c script as dynamic', () => {
    assert.deepEqual(facts('sh -c "$X"').dynamic, ['sh -c with a non-literal script', 'program is a variable ($X)']);
    assert.deepEqual(facts(`sh -c 'echo "x'`).dynamic, ['sh -c script does not parse: 1:6: reached EOF without closing quote "']);
  });

  it('removes quotes and backslashes the way the shell does', () => {
    for (const word of [`r''m`, `"r"m`, `\\rm`, `$'\\x72m'`, `$'\\162\\155'`, `$'\\u0072m'`, `'r'"m"`, `r\\\nm`]) {
      assert.deepEqual(facts(`${word} -rf /`).commands[0], { program: 'rm', args: ['-rf', '/'], env: {}, via: [] }, word);
    }
    assert.deepEqual(facts(`echo 'a b' "c d" e\\ f "a\\$b \\q \\"x\\"" 'it'\\''s'`).commands[0]?.args, ['a b', 'c d', 'e f', 'a$b \\q "x"', "it's"]);
  });

  it("decodes $'…' escapes and stops at a NUL like bash", () => {
    assert.deepEqual(facts(`echo $'a\\tb\\x41\\101\\cA\\e\\'' $'ab\\x00cd' $'\\u00e9'`).commands[0]?.args, ["a\tbAA\x01\x1b'", 'ab', 'é']);
  });

  it('keeps expansions unevaluated, as their source text', () => {
    const f = facts('echo $HOME "$USER/x" ${X:-y} $((1+2)) ~/bin');
    assert.deepEqual(f.commands[0]?.args, ['$HOME', '$USER/x', '${X:-y}', '$((1+2))', '~/bin']);
    assert.deepEqual(f.dynamic, []);
    assert.equal(f.usesSubstitution, false);
  });

  it('reports a program name that is not a literal, with the reason', () => {
    assert.deepEqual(facts('$CMD args').dynamic, ['program is a variable ($CMD)']);
    assert.deepEqual(facts('$CMD args').programs, ['$CMD']);
    assert.deepEqual(facts('"$(echo rm)" x').dynamic, ['program comes from a command substitution ($(echo rm))']);
    assert.deepEqual(facts('$((1+2)) x').dynamic, ['program comes from an arithmetic expansion ($((1+2)))']);
    assert.deepEqual(facts('/???/r? x').dynamic, ['program is a glob pattern (/???/r?)']);
    assert.deepEqual(facts('ls *.log [ab].txt').dynamic, [], 'globs in arguments are fine');
    assert.deepEqual(facts('[ -f x ]').programs, ['[']);
  });

  it('does brace expansion, but not of quoted or escaped braces', () => {
    assert.deepEqual(facts('echo {a,b}{1,2} {1..3} {01..03} {a..e..2} {3..1} x{,y}').commands[0]?.args, [
      'a1', 'a2', 'b1', 'b2', '1', '2', '3', '01', '02', '03', 'a', 'c', 'e', '3', '2', '1', 'x', 'xy',
    ]);
    assert.deepEqual(facts(`echo \\{a,b\\} '{a,b}' "{a,b}" {a} {} {a,\\,b}`).commands[0]?.args, ['{a,b}', '{a,b}', '{a,b}', '{a}', '{}', 'a', ',b']);
    assert.deepEqual(facts('{rm,-rf,/}').commands[0], { program: 'rm', args: ['-rf', '/'], env: {}, via: [] });
    assert.deepEqual(facts('echo {1..5000}').commands[0]?.args, ['{1..5000}'], 'too large: kept as written');
    assert.deepEqual(facts('{1..5000}').dynamic, ['program is a brace expansion too large to list ({1..5000})']);
  });

  it('records env prefixes, env assignments and env -i/-u', () => {
    const f = facts('A=1 B="x y" env -u A -i C=3 cmd arg');
    assert.deepEqual(f.commands, [
      { program: 'env', args: ['-u', 'A', '-i', 'C=3', 'cmd', 'arg'], env: { A: '1', B: 'x y' }, via: [] },
      { program: 'cmd', args: ['arg'], env: { C: '3' }, via: ['env'] },
    ]);
    assert.deepEqual(f.envPrefixes, ['A', 'B', 'C']);
    assert.deepEqual(facts('A=1 env B=2 cmd').commands[1]?.env, { A: '1', B: '2' });
    assert.deepEqual(facts('X=1').commands, [], 'a plain assignment runs nothing');
    assert.deepEqual(facts('X=1').envPrefixes, []);
    const sub = facts('FOO="$(id)" cmd');
    assert.deepEqual(sub.commands.map((c) => [c.program, c.env]), [
      ['cmd', { FOO: '$(id)' }],
      ['id', {}],
    ]);
  });

  it('reports variables that change what runs', () => {
    assert.deepEqual(facts('PATH=/tmp:$PATH ls').dynamic, ['sets PATH, which changes what runs']);
    assert.deepEqual(facts('PATH=/tmp; ls').dynamic, ['sets PATH, which changes what runs']);
    assert.deepEqual(facts('export LD_PRELOAD=/tmp/x.so').dynamic, ['sets LD_PRELOAD, which changes what runs']);
    assert.deepEqual(facts(`env 'BASH_FUNC_ls%%=() { rm -rf /; }' bash -c ls`).dynamic, ['sets BASH_FUNC_ls%%, which changes what runs']);
    assert.deepEqual(facts('export LANG=C; ls').dynamic, []);
    assert.deepEqual(facts('export LANG=C').commands[0], { program: 'export', args: ['LANG=C'], env: {}, via: [] });
  });

  it('records files written by redirections, not descriptors or reads', () => {
    const f = facts('cmd > a 2> b >> c 2>&1 >&2 &> d < in <> rw 3>&- >& e >| f &>> g <<< here');
    assert.deepEqual(f.usesRedirectionToFile, ['a', 'b', 'c', 'd', 'rw', 'e', 'f', 'g']);
    assert.deepEqual(f.dynamic, []);
    assert.deepEqual(facts('echo x > "$F"').dynamic, ['redirection target is not a literal ($F)']);
    assert.deepEqual(facts('exec 3>/etc/cron.d/x').usesRedirectionToFile, ['/etc/cron.d/x']);
  });

  it('notices command and process substitutions', () => {
    assert.equal(facts('ls').usesSubstitution, false);
    assert.equal(facts('echo $(x)').usesSubstitution, true);
    assert.equal(facts('echo `x`').usesSubstitution, true);
    assert.equal(facts('cat <(x)').usesSubstitution, true);
    assert.equal(facts('echo $((1+2)) ${x}').usesSubstitution, false);
  });

  it('reports commands in every branch, loop, case arm, function body and test', () => {
    const f = facts('if a; then b; elif c; then d; else e; fi; while f; do g; done; for i in $(h); do j; done; case x in y) k;; esac; l() { m; }; [[ -f $(n) ]]; (( $(o) )); time p; coproc q; ! r &');
    assert.deepEqual(f.programs, ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'j', 'k', 'm', 'n', 'o', 'p', 'q', 'r']);
    assert.deepEqual(f.dynamic, ['defines shell function l']);
  });

  it('unwraps xargs, with replacement strings filled in at run time', () => {
    assert.deepEqual(facts('xargs -0 -n1 rm -f').commands[1], { program: 'rm', args: ['-f'], env: {}, via: ['xargs'] });
    assert.deepEqual(facts('xargs').commands[1]?.program, 'echo');
    const mv = facts('xargs -I % mv % /tmp');
    assert.deepEqual(mv.commands[1], { program: 'mv', args: ['%', '/tmp'], env: {}, via: ['xargs'] });
    assert.deepEqual(mv.dynamic, []);
    assert.deepEqual(facts('xargs -I % % x').dynamic, ['program is filled in at run time by xargs (%)']);
  });

  it('unwraps find -exec/-execdir/-ok, up to ; or {} +', () => {
    const f = facts('find . -exec rm {} \\; -execdir chmod 600 {} + -print');
    assert.deepEqual(
      f.commands.slice(1).map((c) => [c.program, c.args, c.via]),
      [
        ['rm', ['{}'], ['find -exec']],
        ['chmod', ['600', '{}'], ['find -execdir']],
      ],
    );
    assert.deepEqual(facts('find . -name x -print').programs, ['find']);
    assert.deepEqual(facts('find . -exec {} \\;').dynamic, ['program is filled in at run time by find ({})']);
  });

  it('unwraps the other wrappers', () => {
    const via = (command: string) => facts(command).commands.map((c) => `${c.program}<${c.via.join(',')}>`);
    assert.deepEqual(via('nohup nice -n 10 timeout -s KILL 5 rm x'), ['nohup<>', 'nice<nohup>', 'timeout<nohup,nice>', 'rm<nohup,nice,timeout>']);
    assert.deepEqual(via('nice -5 stdbuf -oL setsid -f ionice -c3 time -p exec -a x command -p builtin rm'), [
      'nice<>',
      'stdbuf<nice>',
      'setsid<nice,stdbuf>',
      'ionice<nice,stdbuf,setsid>',
      'time<nice,stdbuf,setsid,ionice>',
      'exec<nice,stdbuf,setsid,ionice,time>',
      'command<nice,stdbuf,setsid,ionice,time,exec>',
      'builtin<nice,stdbuf,setsid,ionice,time,exec,command>',
      'rm<nice,stdbuf,setsid,ionice,time,exec,command,builtin>',
    ]);
    assert.deepEqual(via('doas -u root rm x'), ['doas<>', 'rm<doas>']);
    assert.deepEqual(via('busybox sh -c "rm x"'), ['busybox<>', 'sh<busybox>', 'rm<busybox,sh -c>']);
    assert.deepEqual(via('chroot /srv/jail /bin/rm x'), ['chroot<>', '/bin/rm<chroot>']);
    assert.deepEqual(via('command -v rm'), ['command<>']);
    assert.deepEqual(via(`watch -n 1 'rm x'`), ['watch<>', 'rm<watch>']);
    assert.deepEqual(via('watch -x rm x'), ['watch<>', 'rm<watch>']);
    assert.deepEqual(via(`su - root -c 'rm x'`), ['su<>', 'rm<su -c>']);
    assert.deepEqual(via('runuser -u app -- rm x'), ['runuser<>', 'rm<runuser>']);
    assert.deepEqual(via('pkexec --user root rm x'), ['pkexec<>', 'rm<pkexec>']);
    assert.deepEqual(via(`trap 'rm x' EXIT`), ['trap<>', 'rm<trap>']);
    assert.deepEqual(via(`env -S 'rm -rf' /`), ['env<>', 'rm<env -S>']);
    assert.deepEqual(facts(`env -S 'rm -rf' /`).commands[1]?.args, ['-rf', '/']);
  });

  it('reports code it cannot see', () => {
    assert.deepEqual(facts(`eval 'rm x'`).dynamic, ['eval']);
    assert.deepEqual(facts(`eval 'rm x'`).commands[1]?.via, ['eval']);
    assert.deepEqual(facts('source ./env.sh').dynamic, ['source/. of a file (./env.sh)']);
    assert.deepEqual(facts('. ./env.sh').dynamic, ['source/. of a file (./env.sh)']);
    assert.deepEqual(facts('bash script.sh').dynamic, ['bash runs a script file (script.sh)']);
    assert.deepEqual(facts('curl x | sh').dynamic, ['sh reads commands from stdin']);
    assert.deepEqual(facts('bash < x.sh').dynamic, ['bash reads its script from a file (x.sh)']);
    assert.deepEqual(facts("alias ls='rm -rf /'").dynamic, ['alias definition (ls=rm -rf /)']);
    assert.deepEqual(facts('hash -p /tmp/x ls').dynamic, ['hash -p changes which file a command name runs']);
    assert.deepEqual(facts('perl -ne print x').dynamic, ['perl runs inline code (-ne)']);
    assert.deepEqual(facts('sudo -i').dynamic, ['sudo -i starts a shell reading commands from stdin']);
    assert.deepEqual(facts('su').dynamic, ['su starts a shell reading commands from stdin']);
  });

  it('parses a heredoc fed to a shell, honouring quoting and <<-', () => {
    const quoted = facts("sh <<'EOF'\nrm $x\nEOF");
    assert.deepEqual(quoted.commands[1], { program: 'rm', args: ['$x'], env: {}, via: ['sh stdin'] });
    assert.deepEqual(quoted.dynamic, ['sh reads its script from a heredoc']);
    const tabs = facts('bash <<-EOF\n\tshred -u /x\n\tEOF');
    assert.deepEqual(tabs.commands[1], { program: 'shred', args: ['-u', '/x'], env: {}, via: ['bash stdin'] });
    assert.deepEqual(facts("bash <<< 'rm x'").commands[1]?.via, ['bash stdin']);
    assert.deepEqual(facts('cat <<EOF\nrm x\nEOF').programs, ['cat'], 'a heredoc fed to a non-shell is data');
  });

  it('returns the parser message for a command that does not parse', () => {
    assert.deepEqual(shellFacts('echo "unterminated'), { ok: false, error: '1:6: reached EOF without closing quote "' });
    assert.deepEqual(shellFacts('ls &&'), { ok: false, error: '1:4: && must be followed by a statement' });
    assert.equal(shellFacts('echo $(').ok, false);
  });

  it('refuses NUL bytes and oversized command lines', () => {
    assert.deepEqual(shellFacts('ls\0rm -rf /'), { ok: false, error: 'command line contains a NUL byte' });
    assert.deepEqual(shellFacts(`echo ${'a'.repeat(MAX_COMMAND_BYTES)}`), { ok: false, error: `command line is longer than ${MAX_COMMAND_BYTES} bytes` });
    assert.equal(shellFacts(`echo ${'a'.repeat(1000)}`).ok, true);
  });

  it('handles non-ASCII text and byte offsets', () => {
    const f = facts(`echo héllo $X "ü$Y" > "/tmp/wörld" && printf '%s' "ß"`);
    assert.deepEqual(f.commands[0]?.args, ['héllo', '$X', 'ü$Y']);
    assert.deepEqual(f.commands[1]?.args, ['%s', 'ß']);
    assert.deepEqual(f.usesRedirectionToFile, ['/tmp/wörld']);
  });

  it('lists unique basenames, sorted', () => {
    assert.deepEqual(facts('/usr/bin/rm a; rm b; ./rm c; /bin/ls').programs, ['ls', 'rm']);
    assert.deepEqual(facts('/usr/bin/rm a').commands[0]?.program, '/usr/bin/rm');
  });

  it('prints the p50 of a typical command line', () => {
    const line = 'ls -la /var/log | grep error && tail -n 50 app.log';
    for (let i = 0; i < 300; i++) shellFacts(line);
    const times: number[] = [];
    for (let i = 0; i < 2000; i++) {
      const start = process.hrtime.bigint();
      shellFacts(line);
      times.push(Number(process.hrtime.bigint() - start) / 1000);
    }
    times.sort((a, b) => a - b);
    console.log(`shellFacts p50 over 2000 calls: ${times[1000]!.toFixed(1)} µs (p99 ${times[1980]!.toFixed(1)} µs)`);
    assert.equal(times.length, 2000);
  });
});
